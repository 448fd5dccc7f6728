/**
 * The event envelope's JSON, byte for byte `JSON.stringify({ id, type, version?, timestamp,
 * environment?, orderingKey?, metadata?, data })` — `version` for an event type with versions
 * (the version its `data` is in), `environment` for an instance with one, `orderingKey` and
 * `metadata` for an event published with them — written around the data's own JSON: it beats
 * stringifying the whole envelope in the publish bench (the figure is in bench/README,
 * "Publish: two kept tricks").
 */

/**
 * The envelope's text after the timestamp's value and before the metadata or the data: made
 * once per instance. Without an environment the envelope has no such key at all, so hosts
 * that do not set the option send the same bytes as before it existed.
 */
export function envelopeEnvironmentJson(environment: string | null): string {
  // An environment name is a lower-case token (`isEnvironmentName`): no escaping needed.
  return environment === null ? '"' : `","environment":"${environment}"`;
}

/**
 * The envelope's text between the id and the timestamp: made once per event type (and
 * version). Without a version (a type without versions) the envelope has no such key, so its
 * bytes are those of an envelope that never had it.
 */
export function envelopeTypeJson(type: string, version: number | null = null): string {
  return version === null ? `","type":${JSON.stringify(type)},"timestamp":"` : `","type":${JSON.stringify(type)},"version":${version},"timestamp":"`;
}

/**
 * The envelope `{ id, type, version?, timestamp, environment?, orderingKey?, metadata?, data }`.
 * The id (`createId`: a prefix and Crockford base32) and the ISO timestamp need no escaping;
 * `typeJson` is `envelopeTypeJson(type, version)`, `environmentJson` is `envelopeEnvironmentJson(environment)`.
 * `orderingKey` is the event's ordering key, `null` for none; `metadata` is the validated
 * metadata (string values, keys in the order given), `null` for none: an absent one leaves no
 * key, so the bytes of an event without them are those of an envelope that never had them.
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
  orderingKey: string | null,
  metadata: Readonly<Record<string, string>> | null,
  data: unknown,
  version: number | null = null,
): string {
  if (typeof data === 'object' && data !== null && typeof (data as { toJSON?: unknown }).toJSON === 'function') {
    return JSON.stringify({
      id,
      type,
      ...(version === null ? {} : { version }),
      timestamp,
      ...(environment === null ? {} : { environment }),
      ...(orderingKey === null ? {} : { orderingKey }),
      ...(metadata === null ? {} : { metadata }),
      data,
    });
  }
  let head = orderingKey === null ? environmentJson : `${environmentJson},"orderingKey":${JSON.stringify(orderingKey)}`;
  if (metadata !== null) head = `${head},"metadata":${JSON.stringify(metadata)}`;
  const dataJson = JSON.stringify(data) as string | undefined;
  // Like JSON.stringify, an envelope whose data has no JSON form (undefined) has no `data` key.
  if (dataJson === undefined) return `{"id":"${id}${typeJson}${timestamp}${head}}`;
  return `{"id":"${id}${typeJson}${timestamp}${head},"data":${dataJson}}`;
}
