/**
 * Webhook secrets: `whsec_` + base64 of random bytes, as Standard Webhooks 1.0
 * defines them, and the base64 codec the signing core shares.
 *
 * Runtime-neutral (the `./receiver` entry imports it): randomness comes from Web
 * Crypto's `getRandomValues`, base64 is done here in plain JS rather than with
 * `Buffer` or `atob`, whose leniency (whitespace, missing padding) differs per runtime.
 */
import { ConfigError, describeValue } from '../errors.js';

/** The prefix of a Standard Webhooks secret. */
export const SECRET_PREFIX = 'whsec_';

/** Random bytes in a generated secret; the spec asks for at least 24. */
const GENERATED_SECRET_BYTES = 32;

/**
 * The range of key bytes a subscription's secret may have: Standard Webhooks asks for 24
 * to 64. A longer HMAC-SHA256 key adds nothing (HMAC hashes it down to 32 bytes first), and
 * an unbounded one lets a caller make the library decode, store and cache megabytes.
 *
 * @internal Enforced by `subscriptions.create` and `rotateSecret`; verifiers stay lenient.
 */
export const SUBSCRIPTION_SECRET_BYTES = Object.freeze({ min: 24, max: 64 });

/**
 * The most secrets a subscription signs with at once: its newest, and the older ones still
 * in a rotation's overlap. Each puts one more signature in every request's header, and a
 * receiver checks at most `MAX_V1A_SIGNATURES` (8) `v1a` entries of it (verify-signature.ts):
 * past that, the key a receiver still holds would sign entries it never reads, and a header
 * of hundreds of entries would pass a receiver's header-size limit (16 KiB in Node).
 *
 * @internal Enforced by `rotateSecret`.
 */
export const MAX_ACTIVE_SECRETS = 8;

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const encodeTable: string[] = alphabet.split('');
// 255 marks a character outside the standard base64 alphabet.
const decodeTable = new Uint8Array(128).fill(255);
for (let i = 0; i < alphabet.length; i++) decodeTable[alphabet.charCodeAt(i)] = i;

/**
 * A new secret: `whsec_` + base64 of 32 bytes from the runtime's CSPRNG.
 *
 * @example
 * ```ts
 * const secret = generateSecret(); // 'whsec_3q2+7w…'
 * ```
 */
export function generateSecret(): string {
  const bytes = new Uint8Array(GENERATED_SECRET_BYTES);
  globalThis.crypto.getRandomValues(bytes);
  return SECRET_PREFIX + encodeBase64(bytes);
}

/**
 * The key bytes of a secret. Accepts `whsec_<base64>` or bare base64, as the
 * Standard Webhooks reference libraries do; padding may be omitted.
 *
 * @param secret - the secret string.
 * @param field - the option name used in the error, e.g. `"secrets[1]"`.
 * @throws ConfigError `SECRET_INVALID` for a non-string, an empty secret, bad base64
 *   or fewer than 1 key byte. The message never contains the secret itself.
 */
export function decodeSecret(secret: string, field = 'secret'): Uint8Array {
  if (typeof secret !== 'string') {
    throw new ConfigError('SECRET_INVALID', `Expected \`${field}\` to be a \`whsec_…\` string, got ${describeValue(secret)}`, { field });
  }
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const bytes = decodeBase64(encoded);
  if (bytes === undefined || bytes.length === 0) {
    // Only the length is described: the value is a credential.
    throw new ConfigError(
      'SECRET_INVALID',
      `Expected \`${field}\` to be \`whsec_\` followed by base64 of at least 1 byte (the secret subscriptions.create() returned), got ${
        bytes === undefined
          ? `a string of ${secret.length} characters that is not valid base64 (its value is not shown: it is a credential)`
          : `${secret.length === 0 ? 'an empty string' : 'a secret with no key bytes'}`
      }`,
      { field },
    );
  }
  return bytes;
}

/**
 * Standard base64 (with padding) of some bytes.
 *
 * @internal Shared by the signing core; not part of the public API.
 */
export function encodeBase64(bytes: Uint8Array): string {
  let out = '';
  const length = bytes.length;
  const whole = length - (length % 3);
  let i = 0;
  for (; i < whole; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += encodeTable[n >>> 18]! + encodeTable[(n >>> 12) & 63]! + encodeTable[(n >>> 6) & 63]! + encodeTable[n & 63]!;
  }
  if (length - whole === 1) {
    const n = bytes[i]! << 16;
    out += encodeTable[n >>> 18]! + encodeTable[(n >>> 12) & 63]! + '==';
  } else if (length - whole === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += encodeTable[n >>> 18]! + encodeTable[(n >>> 12) & 63]! + encodeTable[(n >>> 6) & 63]! + '=';
  }
  return out;
}

/**
 * Decodes standard base64; padding optional. `undefined` for anything else
 * (other characters, whitespace, misplaced `=`, an impossible length).
 *
 * @internal Shared by the signing core; not part of the public API.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  if (end > 0 && text.charCodeAt(end - 1) === 61) end--;
  const padding = text.length - end;
  // Padded input must be whole quads; unpadded input may not leave a lone sextet.
  if (padding > 0 && text.length % 4 !== 0) return undefined;
  if (end % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? decodeTable[c]! : 255;
    if (v === 255) return undefined;
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >>> bits) & 0xff;
    }
  }
  return out;
}

// Decoded keys by secret string. Bounded so that a host verifying for many tenants
// cannot grow it without limit; 64 covers every rotation of a sane deployment.
const KEY_CACHE_SIZE = 64;
// Typed over ArrayBuffer (what decodeSecret allocates) so Web Crypto accepts the bytes.
const keyCache = new Map<string, Uint8Array<ArrayBuffer>>();

/**
 * The key bytes of a secret, decoded once and cached.
 *
 * @internal Shared by the verifiers and `signWebhook`.
 * @throws ConfigError `SECRET_INVALID`.
 */
export function keyBytes(secret: string, field = 'secrets'): Uint8Array<ArrayBuffer> {
  let key = keyCache.get(secret);
  if (key === undefined) {
    key = decodeSecret(secret, field) as Uint8Array<ArrayBuffer>;
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(secret, key);
  }
  return key;
}
