/**
 * A `whsk_…` secret key as a node:crypto private key, checked whole: its second half must
 * be the public key of its first (a key pasted from two places, or corrupted, would sign
 * with one key and tell receivers another). The sender's side only: node:crypto.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { decodeSecretKey, type DecodedSecretKey } from './signing-key.js';

// PKCS #8 (RFC 8410) of an Ed25519 private key, up to the 32 seed bytes that follow it.
const PKCS8_SEED_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/** A private key made from its seed, and the public key derived from it (raw bytes). */
export interface Ed25519PrivateKey {
  readonly privateKey: KeyObject;
  readonly publicKey: Uint8Array;
}

/**
 * The private key of a `whsk_…` secret key, after checking that its second half is the
 * public key of its seed.
 *
 * @param field - the option name used in the error.
 * @throws ConfigError `SECRET_INVALID` for a malformed key or halves that do not belong
 *   together. The message never contains the key.
 */
export function ed25519PrivateKey(secretKey: string, field = 'secret'): Ed25519PrivateKey {
  return privateKeyOf(decodeSecretKey(secretKey, field), field);
}

/** {@link ed25519PrivateKey} of halves already decoded. @throws ConfigError `SECRET_INVALID`. */
export function privateKeyOf(decoded: DecodedSecretKey, field: string): Ed25519PrivateKey {
  const der = new Uint8Array(PKCS8_SEED_PREFIX.length + decoded.seed.length);
  der.set(PKCS8_SEED_PREFIX, 0);
  der.set(decoded.seed, PKCS8_SEED_PREFIX.length);
  const privateKey = createPrivateKey({ key: Buffer.from(der.buffer), format: 'der', type: 'pkcs8' });
  der.fill(0);
  const derived = Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url');
  if (!derived.equals(decoded.publicKey)) {
    throw new ConfigError(
      'SECRET_INVALID',
      `Expected \`${field}\` to be a whole \`whsk_…\` secret key, got one whose second half is not the public key of its first (two keys pasted together, or a corrupted one): use the secret key exactly as generateSigningKeyPair() made it`,
      { field },
    );
  }
  return { privateKey, publicKey: new Uint8Array(derived) };
}
