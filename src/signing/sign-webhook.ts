/**
 * The sending side of Standard Webhooks 1.0: the `webhook-signature` header value,
 * `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>` per secret, space separated.
 *
 * Used only by the sender (Node), so `node:crypto` is imported statically here;
 * the runtime-neutral verifier lives in `verify-signature.ts`.
 */
import * as nodeCrypto from 'node:crypto';
import { ConfigError, ValidationError, describeValue } from '../errors.js';
import { forgetPaddedKey, hmacSha256Base64 } from './hmac-sha256.js';
import { decodeSecret, keyBytes } from './secret.js';

/** Input of {@link signWebhook}. */
export interface SignWebhookInput {
  /** The message id, sent as `webhook-id` (the event id: the same on every retry). */
  id: string;
  /** When this attempt is signed: unix seconds, or a `Date` (truncated to the second). */
  timestamp: number | Date;
  /** The exact body that will be sent; a `Uint8Array` is signed byte for byte. */
  body: string | Uint8Array;
  /** One `whsec_…` secret, or several during a rotation (one signature each). */
  secrets: string | readonly string[];
}

declare const signingKeysBrand: unique symbol;

/**
 * Secrets decoded once by {@link createSigningKeys}, for {@link signatureHeader}.
 * Opaque: its shape is not part of the API.
 */
export interface SigningKeys {
  readonly [signingKeysBrand]: true;
}

interface SigningKeysState {
  readonly keys: readonly Uint8Array[];
}

/**
 * Decodes and validates secrets once, for signing many requests with
 * {@link signatureHeader}.
 *
 * @param secrets - one or more `whsec_…` secrets (several during a rotation).
 * @throws ConfigError `SECRET_INVALID` for an empty list or a malformed secret.
 */
export function createSigningKeys(secrets: readonly string[]): SigningKeys {
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new ConfigError('SECRET_INVALID', `Expected \`secrets\` to be a non-empty array of \`whsec_…\` strings, got ${describeValue(secrets)}`, {
      field: 'secrets',
    });
  }
  const keys = secrets.map((secret, index) => decodeSecret(secret, `secrets[${index}]`));
  const state: SigningKeysState = { keys };
  return state as unknown as SigningKeys;
}

/**
 * Overwrites the decoded keys with zeros and drops what the HMAC derived from them, for
 * an owner that is done with them (a deleted subscription, a stopped dispatcher). The
 * keys sign nothing valid afterwards.
 *
 * @internal Used by the dispatcher's subscription cache.
 */
export function wipeSigningKeys(keys: SigningKeys): void {
  for (const key of (keys as unknown as SigningKeysState).keys) {
    forgetPaddedKey(key);
    key.fill(0);
  }
}

/**
 * The `webhook-signature` header value for one message, with keys from
 * {@link createSigningKeys}. The dispatcher's hot path: nothing is decoded or
 * validated again, so the arguments must already be valid.
 *
 * @param keys - from {@link createSigningKeys}.
 * @param id - the `webhook-id`.
 * @param timestampSeconds - the `webhook-timestamp`, whole unix seconds.
 * @param body - the exact body sent.
 */
export function signatureHeader(keys: SigningKeys, id: string, timestampSeconds: number, body: string | Uint8Array): string {
  const list = (keys as unknown as SigningKeysState).keys;
  if (list.length === 1) return sign(list[0]!, id, timestampSeconds, body);
  let header = '';
  for (let i = 0; i < list.length; i++) {
    if (i > 0) header += ' ';
    header += sign(list[i]!, id, timestampSeconds, body);
  }
  return header;
}

function sign(key: Uint8Array, id: string, timestampSeconds: number, body: string | Uint8Array): string {
  return 'v1,' + hmacSha256Base64(nodeCrypto, key, `${id}.${timestampSeconds}.`, body);
}

/**
 * Signs a webhook: the value of its `webhook-signature` header.
 *
 * @example
 * ```ts
 * const signature = signWebhook({
 *   id: 'evt_01J…',
 *   timestamp: new Date(),
 *   body: JSON.stringify(event),
 *   secrets: subscription.secret,
 * });
 * // 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4='
 * ```
 * @throws ValidationError `INPUT_INVALID` (with `field`) for a bad `id`, `timestamp` or `body`.
 * @throws ConfigError `SECRET_INVALID` for a missing or malformed secret.
 */
export function signWebhook(input: SignWebhookInput): string {
  if (typeof input !== 'object' || input === null) {
    throw new ValidationError('INPUT_INVALID', `Expected an object { id, timestamp, body, secrets }, got ${describeValue(input)}`);
  }
  const { id, timestamp, body, secrets } = input;
  if (typeof id !== 'string' || !isHeaderToken(id)) {
    throw new ValidationError('INPUT_INVALID', `Expected \`id\` to be a non-empty string of printable ASCII without spaces, got ${describeValue(id)}`, {
      field: 'id',
    });
  }
  const timestampSeconds = toUnixSeconds(timestamp);
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new ValidationError('INPUT_INVALID', `Expected \`body\` to be a string or a Uint8Array, got ${describeValue(body)}`, { field: 'body' });
  }
  // Keys come from the decoded-secret cache the verifier uses: a host signing with the
  // same secret again does not decode it again.
  if (typeof secrets === 'string') return sign(keyBytes(secrets, 'secrets'), id, timestampSeconds, body);
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new ConfigError('SECRET_INVALID', `Expected \`secrets\` to be a \`whsec_…\` string or a non-empty array of them, got ${describeValue(secrets)}`, {
      field: 'secrets',
    });
  }
  let header = '';
  for (let i = 0; i < secrets.length; i++) {
    if (i > 0) header += ' ';
    header += sign(keyBytes(secrets[i]!, `secrets[${i}]`), id, timestampSeconds, body);
  }
  return header;
}

function toUnixSeconds(timestamp: unknown): number {
  if (timestamp instanceof Date) {
    const ms = timestamp.getTime();
    if (Number.isFinite(ms) && ms >= 0) return Math.floor(ms / 1000);
  } else if (typeof timestamp === 'number' && Number.isSafeInteger(timestamp) && timestamp >= 0) {
    return timestamp;
  }
  throw new ValidationError(
    'INPUT_INVALID',
    `Expected \`timestamp\` to be whole unix seconds ≥ 0 or a valid Date, got ${describeValue(timestamp)}`,
    { field: 'timestamp' },
  );
}

// The id travels in a header: a space, a control or a non-ASCII character would be
// refused by the HTTP stack, folded by a proxy, or hashed differently by the receiver.
function isHeaderToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}
