/**
 * The event envelope's JSON, byte for byte `JSON.stringify({ id, type, timestamp, data })`,
 * written around the data's own JSON: it beats stringifying the whole envelope in the
 * publish bench (the figure is in bench/README, "Publish: two kept tricks").
 */

/** The envelope's text between the id and the timestamp: made once per event type. */
export function envelopeTypeJson(type: string): string {
  return `","type":${JSON.stringify(type)},"timestamp":"`;
}

/**
 * The envelope `{ id, type, timestamp, data }`. The id (`createId`: a prefix and Crockford
 * base32) and the ISO timestamp need no escaping; `typeJson` is `envelopeTypeJson(type)`.
 * Data with a `toJSON` method takes the whole envelope through `JSON.stringify`, because
 * `toJSON` is told the key it is serialised under.
 */
export function envelopeJson(id: string, type: string, typeJson: string, timestamp: string, data: unknown): string {
  if (typeof data === 'object' && data !== null && typeof (data as { toJSON?: unknown }).toJSON === 'function') {
    return JSON.stringify({ id, type, timestamp, data });
  }
  const dataJson = JSON.stringify(data) as string | undefined;
  // Like JSON.stringify, an envelope whose data has no JSON form (undefined) has no `data` key.
  if (dataJson === undefined) return `{"id":"${id}${typeJson}${timestamp}"}`;
  return `{"id":"${id}${typeJson}${timestamp}","data":${dataJson}}`;
}
