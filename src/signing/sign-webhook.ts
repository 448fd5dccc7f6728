/**
 * The sending side of Standard Webhooks 1.0: the `webhook-signature` header value, one
 * entry per secret, space separated — `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`
 * for a `whsec_…` secret, `v1a,<base64 Ed25519 signature of "id.timestamp.body">` for a
 * `whsk_…` secret key.
 *
 * Used only by the sender (Node), so `node:crypto` is imported statically here;
 * the runtime-neutral verifier lives in `verify-signature.ts`.
 */
import * as nodeCrypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ConfigError, ValidationError, describeValue } from '../errors.js';
import { ed25519PrivateKey } from './ed25519-private-key.js';
import { forgetPaddedKey, hmacSha256Base64 } from './hmac-sha256.js';
import { decodeSecret, keyBytes } from './secret.js';
import { PUBLIC_KEY_PREFIX, SECRET_KEY_PREFIX } from './signing-key.js';

/** Input of {@link signWebhook}. */
export interface SignWebhookInput {
  /** The message id, sent as `webhook-id` (the event id: the same on every retry). */
  id: string;
  /** When this attempt is signed: unix seconds, or a `Date` (truncated to the second). */
  timestamp: number | Date;
  /** The exact body that will be sent; a `Uint8Array` is signed byte for byte. */
  body: string | Uint8Array;
  /**
   * One secret, or several during a rotation (one signature each): a `whsec_…` secret signs
   * `v1` (HMAC-SHA256), a `whsk_…` secret key signs `v1a` (Ed25519).
   */
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

/** A decoded key: HMAC key bytes (`v1`), or an Ed25519 private key (`v1a`). */
type SigningKey = Uint8Array | KeyObject;

interface SigningKeysState {
  readonly keys: readonly SigningKey[];
}

/**
 * Decodes and validates secrets once, for signing many requests with
 * {@link signatureHeader}.
 *
 * @param secrets - one or more `whsec_…` secrets or `whsk_…` secret keys (several during a
 *   rotation, of either scheme during a move from `v1` to `v1a`), in header order.
 * @throws ConfigError `SECRET_INVALID` for an empty list or a malformed secret.
 */
export function createSigningKeys(secrets: readonly string[]): SigningKeys {
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new ConfigError('SECRET_INVALID', `Expected \`secrets\` to be a non-empty array of \`whsec_…\` or \`whsk_…\` strings, got ${describeValue(secrets)}`, {
      field: 'secrets',
    });
  }
  const keys = secrets.map((secret, index): SigningKey => {
    if (!isKeyPairText(secret)) return decodeSecret(secret, `secrets[${index}]`);
    return ed25519PrivateKey(secret, `secrets[${index}]`).privateKey;
  });
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
  // A KeyObject's material lives in OpenSSL and cannot be overwritten from here: it goes
  // with the last reference to it.
  for (const key of (keys as unknown as SigningKeysState).keys) {
    if (!(key instanceof Uint8Array)) continue;
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

function sign(key: SigningKey, id: string, timestampSeconds: number, body: string | Uint8Array): string {
  if (key instanceof Uint8Array) return 'v1,' + hmacSha256Base64(nodeCrypto, key, `${id}.${timestampSeconds}.`, body);
  return 'v1a,' + nodeCrypto.sign(null, signedContent(id, timestampSeconds, body), key).toString('base64');
}

/** `id.timestamp.body` as bytes: a string body as UTF-8, a `Uint8Array` byte for byte. */
function signedContent(id: string, timestampSeconds: number, body: string | Uint8Array): Buffer {
  if (typeof body === 'string') return Buffer.from(`${id}.${timestampSeconds}.${body}`);
  const prefix = Buffer.from(`${id}.${timestampSeconds}.`);
  return Buffer.concat([prefix, body]);
}

// Private keys by secret-key string for `signWebhook`, bounded like the HMAC keys' cache.
const PRIVATE_KEY_CACHE_SIZE = 64;
const privateKeys = new Map<string, KeyObject>();

/**
 * Whether a secret is `v1a` key text: a `whsk_…` secret key, or a `whpk_…` public key, which
 * {@link ed25519PrivateKey} refuses with its own message (it verifies, it cannot sign).
 */
function isKeyPairText(secret: unknown): secret is string {
  return typeof secret === 'string' && (secret.startsWith(SECRET_KEY_PREFIX) || secret.startsWith(PUBLIC_KEY_PREFIX));
}

/** The key `signWebhook` signs with for one secret: `whsk_…` as a cached private key, anything else as HMAC key bytes. */
function signingKey(secret: string, field: string): SigningKey {
  if (!isKeyPairText(secret)) return keyBytes(secret, field);
  let key = privateKeys.get(secret);
  if (key === undefined) {
    key = ed25519PrivateKey(secret, field).privateKey;
    if (privateKeys.size >= PRIVATE_KEY_CACHE_SIZE) privateKeys.delete(privateKeys.keys().next().value!);
    privateKeys.set(secret, key);
  }
  return key;
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
 * // 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4='; with a `whsk_…` key: 'v1a,hnO3f9T8…'
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
  if (typeof secrets === 'string') return sign(signingKey(secrets, 'secrets'), id, timestampSeconds, body);
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new ConfigError('SECRET_INVALID', `Expected \`secrets\` to be a \`whsec_…\` or \`whsk_…\` string or a non-empty array of them, got ${describeValue(secrets)}`, {
      field: 'secrets',
    });
  }
  let header = '';
  for (let i = 0; i < secrets.length; i++) {
    if (i > 0) header += ' ';
    header += sign(signingKey(secrets[i]!, `secrets[${i}]`), id, timestampSeconds, body);
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
