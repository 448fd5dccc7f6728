/**
 * How a consumer signs its reads of the event feed (`createEventFeedHandler`, `pullMissed`):
 * Standard Webhooks turned around. The consumer signs each GET with its subscription's
 * secret exactly as the sender signs a webhook — `webhook-id` (a fresh nonce),
 * `webhook-timestamp` (unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
 * "id.timestamp.content">`) — where the signed content is the request line,
 * `<METHOD> <path>?<query>`, and names the subscription in a `bookkeeper-subscription` header.
 * The feed checks it with the verifier of received webhooks (same tolerance both ways, same
 * constant-time comparison) and refuses a nonce it has seen within the tolerance window.
 *
 * The host is not signed (a proxy in front of the feed may rewrite it); the path and the
 * query are, so a cursor, a page size or a type filter cannot be changed in transit.
 *
 * Runtime-neutral (Web Crypto, no `node:` import): `pullMissed` in the `./receiver` entry signs with it.
 */
import { encodeBase64, keyBytes } from './secret.js';

/** The request header that names the subscription whose secret signed a feed request. */
export const FEED_SUBSCRIPTION_HEADER = 'bookkeeper-subscription';

/**
 * The content a feed request's signature covers: the method in upper case, a space, then the
 * path and query of the URL as the WHATWG URL parser writes them (`GET /feed/events?after=…&limit=100`).
 * Both sides parse the URL, so percent-encoding is compared in one form.
 */
export function feedRequestContent(method: string, url: URL): string {
  return `${method.toUpperCase()} ${url.pathname}${url.search}`;
}

/** Input of {@link signFeedRequest}. */
export interface SignFeedRequestInput {
  /** The full URL requested, query included. */
  url: URL;
  /** @defaultValue 'GET' */
  method?: string;
  subscriptionId: string;
  /** The subscription's `whsec_…` secret. */
  secret: string;
  /** Unix seconds. */
  timestampSeconds: number;
  /** The nonce sent as `webhook-id`; unique per request. */
  id: string;
}

const encoder = new TextEncoder();

/**
 * The headers that authenticate one feed request, signed on Web Crypto.
 *
 * @throws ConfigError `SECRET_INVALID` for a malformed secret.
 * @internal Used by `pullMissed`; the feed's own tests sign with it too.
 */
export async function signFeedRequest(input: SignFeedRequestInput): Promise<Record<string, string>> {
  const { url, method = 'GET', subscriptionId, secret, timestampSeconds, id } = input;
  const key = await globalThis.crypto.subtle.importKey('raw', keyBytes(secret, 'secret'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await globalThis.crypto.subtle.sign('HMAC', key, encoder.encode(`${id}.${timestampSeconds}.${feedRequestContent(method, url)}`));
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${encodeBase64(new Uint8Array(mac))}`,
    [FEED_SUBSCRIPTION_HEADER]: subscriptionId,
  };
}
