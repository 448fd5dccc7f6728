/**
 * How many runs a fast-check property makes: its full count in CI, a short one on a
 * developer's machine, so `npm test` stays quick locally and CI still searches as widely.
 *
 * - `PROPERTY_RUNS=full`, or `CI` set (and not `false`/`0`): the full count.
 * - `PROPERTY_RUNS=<n>`: `n` runs, at most the full count (one number for every property
 *   would otherwise turn a 40-run PostgreSQL property into a 25,000-run one).
 * - Neither: {@link SHORT_RUNS}, at most the full count.
 */

/** Runs per property when neither `PROPERTY_RUNS` nor `CI` asks for more. */
export const SHORT_RUNS = 100;

/** The run count for a property whose CI count is `full`. */
export function propertyRuns(full: number, env: NodeJS.ProcessEnv = process.env): number {
  if (!Number.isInteger(full) || full < 1) throw new Error(`Expected the full run count to be a positive integer, got ${full}`);
  const asked = env.PROPERTY_RUNS;
  if (asked !== undefined && asked !== '') {
    if (asked === 'full') return full;
    if (!/^[1-9][0-9]*$/.test(asked)) throw new Error(`Expected PROPERTY_RUNS to be "full" or a positive integer, got "${asked}"`);
    return Math.min(Number(asked), full);
  }
  const ci = env.CI;
  if (ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0') return full;
  return Math.min(SHORT_RUNS, full);
}
