/**
 * The event envelope's JSON, byte for byte `JSON.stringify({ id, type, timestamp, data })`
 * (or `{ id, type, timestamp, environment, data }` for an instance with an `environment`),
 * written around the data's own JSON: it beats stringifying the whole envelope in the
 * publish bench (the figure is in bench/README, "Publish: two kept tricks").
 */

/**
 * The envelope's text after the timestamp's value and before the data: made once per
 * instance. Without an environment the envelope has no such key at all, so hosts that do
 * not set the option send the same bytes as before it existed.
 */
export function envelopeEnvironmentJson(environment: string | null): string {
  // An environment name is a lower-case token (`isEnvironmentName`): no escaping needed.
  return environment === null ? '"' : `","environment":"${environment}"`;
}

/** The envelope's text between the id and the timestamp: made once per event type. */
export function envelopeTypeJson(type: string): string {
  return `","type":${JSON.stringify(type)},"timestamp":"`;
}

/**
 * The envelope `{ id, type, timestamp, environment?, data }`. The id (`createId`: a prefix
 * and Crockford base32) and the ISO timestamp need no escaping; `typeJson` is
 * `envelopeTypeJson(type)`, `environmentJson` is `envelopeEnvironmentJson(environment)`.
 * Data with a `toJSON` method takes the whole envelope through `JSON.stringify`, because
 * `toJSON` is told the key it is serialised under.
 */
export function envelopeJson(
  id: string,
  type: string,
  typeJson: string,
  timestamp: string,
  environment: string | null,
  environmentJson: string,
  data: unknown,
): string {
  if (typeof data === 'object' && data !== null && typeof (data as { toJSON?: unknown }).toJSON === 'function') {
    return JSON.stringify(environment === null ? { id, type, timestamp, data } : { id, type, timestamp, environment, data });
  }
  const dataJson = JSON.stringify(data) as string | undefined;
  // Like JSON.stringify, an envelope whose data has no JSON form (undefined) has no `data` key.
  if (dataJson === undefined) return `{"id":"${id}${typeJson}${timestamp}${environmentJson}}`;
  return `{"id":"${id}${typeJson}${timestamp}${environmentJson},"data":${dataJson}}`;
}
