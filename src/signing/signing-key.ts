/**
 * Standard Webhooks `v1a` keys (Ed25519), in the form Svix defines: a secret key `whsk_` +
 * base64 of the 32-byte seed followed by the 32-byte public key (64 bytes), and a public
 * key `whpk_` + base64 of the 32-byte public key. Decoding only: deriving a public key
 * from a seed takes Ed25519 itself (the sender's `sign-webhook.ts`).
 *
 * Runtime-neutral (the `./receiver` entry decodes public keys with it).
 */
import { ConfigError, describeValue } from '../errors.js';
import { SECRET_PREFIX, decodeBase64 } from './secret.js';

/** The prefix of a `v1a` secret key (Ed25519 seed + public key). */
export const SECRET_KEY_PREFIX = 'whsk_';
/** The prefix of a `v1a` public key. */
export const PUBLIC_KEY_PREFIX = 'whpk_';

/** Bytes in an Ed25519 seed and in an Ed25519 public key. */
export const ED25519_KEY_BYTES = 32;
/** Bytes in an Ed25519 signature. */
export const ED25519_SIGNATURE_BYTES = 64;

/**
 * The Standard Webhooks signature schemes: `v1` (HMAC-SHA256 with a shared `whsec_…`
 * secret) and `v1a` (Ed25519: the sender holds a `whsk_…` secret key, the receiver only
 * the `whpk_…` public key).
 */
export type SigningScheme = 'v1' | 'v1a';

/** The scheme a signing secret is for, from its prefix: `whsk_…` is `v1a`, anything else `v1`. */
export function schemeOfSecret(secret: string): SigningScheme {
  return secret.startsWith(SECRET_KEY_PREFIX) ? 'v1a' : 'v1';
}

/** A decoded `whsk_…` secret key: its two halves, as given (not yet checked against each other). */
export interface DecodedSecretKey {
  readonly seed: Uint8Array<ArrayBuffer>;
  readonly publicKey: Uint8Array<ArrayBuffer>;
}

/**
 * The halves of a `whsk_…` secret key.
 *
 * @param field - the option name used in the error.
 * @throws ConfigError `SECRET_INVALID` for anything but `whsk_` + base64 of 64 bytes (a
 *   `whpk_…` public key among them: it cannot sign). The message never contains the key.
 */
export function decodeSecretKey(secretKey: string, field = 'secret'): DecodedSecretKey {
  if (typeof secretKey !== 'string' || !secretKey.startsWith(SECRET_KEY_PREFIX)) {
    const got = typeof secretKey === 'string' && secretKey.startsWith(PUBLIC_KEY_PREFIX)
      ? 'a `whpk_…` public key, which verifies but cannot sign'
      : typeof secretKey === 'string' ? `a string of ${secretKey.length} characters that does not start with \`${SECRET_KEY_PREFIX}\`` : describeValue(secretKey);
    throw new ConfigError('SECRET_INVALID', `Expected \`${field}\` to be a \`${SECRET_KEY_PREFIX}…\` secret key, got ${got}`, { field });
  }
  const bytes = decodeBase64(secretKey.slice(SECRET_KEY_PREFIX.length)) as Uint8Array<ArrayBuffer> | undefined;
  if (bytes === undefined || bytes.length !== 2 * ED25519_KEY_BYTES) {
    throw new ConfigError(
      'SECRET_INVALID',
      `Expected \`${field}\` to be \`${SECRET_KEY_PREFIX}\` followed by base64 of ${2 * ED25519_KEY_BYTES} bytes (the Ed25519 seed, then its public key), got ${
        bytes === undefined ? 'text that is not valid base64' : `${bytes.length} bytes`
      } (its value is not shown: it is a credential)`,
      { field },
    );
  }
  return { seed: bytes.subarray(0, ED25519_KEY_BYTES), publicKey: bytes.subarray(ED25519_KEY_BYTES) };
}

/**
 * The 32 bytes of a `whpk_…` public key.
 *
 * @param field - the option name used in the error.
 * @throws ConfigError `SECRET_INVALID` for anything but `whpk_` + base64 of 32 bytes. A
 *   `whsk_…` secret key is refused with a message that asks for its public key: a consumer
 *   holds only that.
 */
export function decodePublicKey(publicKey: string, field = 'secrets'): Uint8Array<ArrayBuffer> {
  if (typeof publicKey !== 'string' || !publicKey.startsWith(PUBLIC_KEY_PREFIX)) {
    throw new ConfigError('SECRET_INVALID', `Expected \`${field}\` to be a \`${PUBLIC_KEY_PREFIX}…\` public key, got ${describeValue(publicKey)}`, { field });
  }
  const bytes = decodeBase64(publicKey.slice(PUBLIC_KEY_PREFIX.length)) as Uint8Array<ArrayBuffer> | undefined;
  if (bytes === undefined || bytes.length !== ED25519_KEY_BYTES) {
    throw new ConfigError(
      'SECRET_INVALID',
      `Expected \`${field}\` to be \`${PUBLIC_KEY_PREFIX}\` followed by base64 of ${ED25519_KEY_BYTES} bytes (an Ed25519 public key), got ${
        bytes === undefined ? `a string of ${publicKey.length} characters that is not valid base64` : `${bytes.length} bytes`
      }`,
      { field },
    );
  }
  return bytes;
}

/**
 * The error for a `whsk_…` secret key handed to a verifier: a receiver verifies `v1a` with
 * the public key alone, and should hold nothing that can sign.
 */
export function secretKeyGivenToVerifier(field: string): ConfigError {
  return new ConfigError(
    'SECRET_INVALID',
    `Expected \`${field}\` to be a \`${SECRET_PREFIX}…\` secret or a \`${PUBLIC_KEY_PREFIX}…\` public key, got a \`${SECRET_KEY_PREFIX}…\` secret key: verify v1a with its public key (\`publicKey\` from subscriptions.create()); the secret key stays with the sender`,
    { field },
  );
}

// Decoded public keys by their text, bounded like the secrets' cache in secret.ts.
const PUBLIC_KEY_CACHE_SIZE = 64;
const publicKeyCache = new Map<string, Uint8Array<ArrayBuffer>>();

/**
 * The bytes of a `whpk_…` public key, decoded once and cached.
 *
 * @internal Shared by the verifiers.
 * @throws ConfigError `SECRET_INVALID`.
 */
export function publicKeyBytes(publicKey: string, field = 'secrets'): Uint8Array<ArrayBuffer> {
  let key = publicKeyCache.get(publicKey);
  if (key === undefined) {
    key = decodePublicKey(publicKey, field);
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_SIZE) publicKeyCache.delete(publicKeyCache.keys().next().value!);
    publicKeyCache.set(publicKey, key);
  }
  return key;
}
