/**
 * `generateSigningKeyPair`: a new Standard Webhooks `v1a` key pair (Ed25519), in Svix's
 * form. The sender's side only: node:crypto.
 */
import { generateKeyPairSync } from 'node:crypto';
import { encodeBase64 } from './secret.js';
import { ED25519_KEY_BYTES, PUBLIC_KEY_PREFIX, SECRET_KEY_PREFIX } from './signing-key.js';

/** A `v1a` key pair: the secret key signs (keep it on the sender), the public key verifies (give it to the receiver). */
export interface SigningKeyPair {
  /** `whsk_` + base64 of the 32-byte Ed25519 seed followed by the 32-byte public key. */
  secretKey: string;
  /** `whpk_` + base64 of the 32-byte Ed25519 public key: not a secret. */
  publicKey: string;
}

/**
 * A new Ed25519 key pair for Standard Webhooks `v1a` signatures, from the runtime's CSPRNG.
 * Pass `secretKey` to `subscriptions.create({ secret })` (or let `signing: 'v1a'` make one),
 * and `publicKey` to the receiver's `secrets`.
 *
 * @example
 * ```ts
 * const { secretKey, publicKey } = generateSigningKeyPair();
 * // secretKey: 'whsk_…' (88 base64 characters), publicKey: 'whpk_…' (44)
 * ```
 */
export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const both = new Uint8Array(2 * ED25519_KEY_BYTES);
  both.set(seed, 0);
  both.set(raw, ED25519_KEY_BYTES);
  const pair = { secretKey: SECRET_KEY_PREFIX + encodeBase64(both), publicKey: PUBLIC_KEY_PREFIX + encodeBase64(raw) };
  seed.fill(0);
  both.fill(0);
  return pair;
}
