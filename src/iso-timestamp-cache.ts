/**
 * ISO-8601 strings of epoch milliseconds, one `toISOString()` per millisecond: publishes of
 * the same millisecond share the string, which pays in the publish bench (the figure is in
 * bench/README, "Publish: two kept tricks").
 */

/** A function from epoch ms to its ISO string that remembers the last millisecond it made. */
export function createIsoTimestampCache(): (epochMs: number) => string {
  let lastMs = Number.NaN;
  let last = '';
  return (epochMs) => {
    if (epochMs !== lastMs) {
      last = new Date(epochMs).toISOString();
      lastMs = epochMs;
    }
    return last;
  };
}
