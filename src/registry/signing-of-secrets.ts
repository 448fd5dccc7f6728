/**
 * What a subscription's reads show of its signing keys without showing a secret: the scheme
 * its newest secret signs with (`v1` or `v1a`) and the `whpk_…` public key of every active
 * `v1a` secret key — public keys are not secret, and a receiver needs them.
 *
 * A sealed secret is opened to learn its scheme and public key; what it yields (never the
 * secret) is cached by the stored text, which changes with every seal, so a read of the
 * same subscription does not open it again.
 */
import type { SecretRecord } from '../storage/storage-adapter.js';
import { encodeBase64 } from '../signing/secret.js';
import { PUBLIC_KEY_PREFIX, decodeSecretKey, schemeOfSecret, type SigningScheme } from '../signing/signing-key.js';
import type { SecretCodec } from './secret-codec.js';

/** The signing side of a subscription, as its reads show it. */
export interface SubscriptionSigning {
  /**
   * The scheme its newest secret signs with: `v1` (HMAC-SHA256, a `whsec_…` secret shared
   * with the receiver) or `v1a` (Ed25519: the receiver verifies with a `whpk_…` public key).
   * `null` when that secret does not open with `security.secretsKey`.
   */
  signing: SigningScheme | null;
  /**
   * The `whpk_…` public keys of its active `v1a` secret keys, newest first: during a
   * rotation's overlap, the new one and the previous one. Empty for a `v1` subscription.
   */
  publicKeys: string[];
}

/** Reads the signing side of a subscription's active secrets (newest first). */
export type SigningReader = (secrets: readonly SecretRecord[], subscriptionId: string) => SubscriptionSigning;

interface Seen {
  scheme: SigningScheme;
  publicKey: string | null;
}

// Far above the secrets of the subscriptions one page of a list shows.
const CACHE_SIZE = 4096;

/**
 * A reader that opens secrets with `codec` (once per stored value).
 *
 * @param codec - the instance's secret codec.
 */
export function createSigningReader(codec: SecretCodec): SigningReader {
  const seen = new Map<string, Seen>();
  function read(stored: string, subscriptionId: string): Seen | null {
    // With its subscription: a sealed secret opens only under the id it was sealed for.
    const cacheKey = `${subscriptionId}\n${stored}`;
    let found = seen.get(cacheKey);
    if (found === undefined) {
      let secret: string;
      try {
        secret = codec.open(stored, subscriptionId);
      } catch {
        // A read is not the place to fail on a key problem: the dispatcher reports it.
        return null;
      }
      const scheme = schemeOfSecret(secret);
      let publicKey: string | null = null;
      if (scheme === 'v1a') {
        try {
          publicKey = PUBLIC_KEY_PREFIX + encodeBase64(decodeSecretKey(secret).publicKey);
        } catch {
          publicKey = null;
        }
      }
      found = { scheme, publicKey };
      if (seen.size >= CACHE_SIZE) seen.delete(seen.keys().next().value!);
      seen.set(cacheKey, found);
    }
    return found;
  }
  return (secrets, subscriptionId) => {
    const publicKeys: string[] = [];
    let signing: SigningScheme | null = null;
    for (let i = 0; i < secrets.length; i++) {
      const found = read(secrets[i]!.value, subscriptionId);
      if (i === 0) signing = found === null ? null : found.scheme;
      if (found?.publicKey != null) publicKeys.push(found.publicKey);
    }
    return { signing, publicKeys };
  };
}
