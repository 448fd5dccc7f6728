/**
 * `verifyWebhookSignatureAsync`: Standard Webhooks verification of any signed body
 * on Web Crypto, for every runtime (edge workers, Deno, Bun, browsers, Node).
 * `verifyWebhookAsync` and the Web Crypto adapters are built on it.
 */
import { encodeBase64, keyBytes } from '../signing/secret.js';
import { publicKeyBytes } from '../signing/signing-key.js';
import {
  matchesAny,
  noMatchingSignature,
  readSignedMessage,
  resolveVerifyOptions,
  signedContent,
  verifiedMessage,
  type ResolvedVerifyOptions,
  type SignedMessage,
  type VerifiedWebhookMessage,
  type VerifyWebhookSignatureOptions,
  type WebhookMessage,
} from '../signing/verify-signature.js';

// Imported keys by their text (a `whsec_…` secret, a `whpk_…` public key: never the same text),
// bounded like the core's decoded-key cache. The promise is cached so that concurrent first
// requests import once.
const CRYPTO_KEY_CACHE_SIZE = 64;
const cryptoKeys = new Map<string, Promise<CryptoKey>>();

function cachedKey(text: string, load: () => Promise<CryptoKey>): Promise<CryptoKey> {
  let key = cryptoKeys.get(text);
  if (key === undefined) {
    key = load();
    key.catch(() => cryptoKeys.delete(text));
    if (cryptoKeys.size >= CRYPTO_KEY_CACHE_SIZE) cryptoKeys.delete(cryptoKeys.keys().next().value!);
    cryptoKeys.set(text, key);
  }
  return key;
}

const cryptoKey = (secret: string): Promise<CryptoKey> =>
  cachedKey(secret, () => globalThis.crypto.subtle.importKey('raw', keyBytes(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']));

const publicCryptoKey = (publicKey: string): Promise<CryptoKey> =>
  cachedKey(publicKey, () => globalThis.crypto.subtle.importKey('raw', publicKeyBytes(publicKey), { name: 'Ed25519' }, false, ['verify']));

/**
 * Verifies a message's headers, timestamp and signature on Web Crypto, without
 * reading the body: the async twin of the core's `verifySignature`.
 *
 * @internal Shared by the Web Crypto verifiers and adapters.
 * @returns the signed message, once one presented `v1` signature matches one secret or one
 *   presented `v1a` signature verifies with one public key (Web Crypto's Ed25519).
 * @throws SignatureVerificationError with the code of the failed check.
 */
export async function verifySignatureAsync(message: WebhookMessage, options: ResolvedVerifyOptions): Promise<SignedMessage> {
  const signed = readSignedMessage(message, options);
  const content = signedContent(signed);
  if (signed.signatures.length > 0) {
    for (const secret of options.secrets) {
      const mac = await globalThis.crypto.subtle.sign('HMAC', await cryptoKey(secret), content);
      if (matchesAny(encodeBase64(new Uint8Array(mac)), signed.signatures)) return signed;
    }
  }
  if (signed.ed25519Signatures.length > 0) {
    for (const publicKey of options.publicKeys) {
      const key = await publicCryptoKey(publicKey);
      for (const signature of signed.ed25519Signatures) if (await globalThis.crypto.subtle.verify('Ed25519', key, signature, content)) return signed;
    }
  }
  throw noMatchingSignature();
}

/**
 * Verifies a Standard Webhooks message on Web Crypto and resolves to it without
 * reading its body. Same arguments, result and error codes as
 * `verifyWebhookSignature`; runs in every runtime with `crypto.subtle`. Every
 * failure is a rejection, never a synchronous throw.
 *
 * @param message - `{ body, headers }`: the raw body and the request headers.
 * @param options - `{ secrets, toleranceSeconds?, now? }`.
 * @returns `{ id, timestamp, body }`: `timestamp` in unix seconds, `body` the raw body as a string.
 * @throws SignatureVerificationError, ConfigError, ValidationError as `verifyWebhookSignature`.
 *
 * @example
 * ```ts
 * const { id, body } = await verifyWebhookSignatureAsync(
 *   { body: await request.text(), headers: request.headers },
 *   { secrets: env.PARTNER_SECRET },
 * );
 * ```
 */
export async function verifyWebhookSignatureAsync(message: WebhookMessage, options: VerifyWebhookSignatureOptions): Promise<VerifiedWebhookMessage> {
  return verifiedMessage(await verifySignatureAsync(message, resolveVerifyOptions(options)));
}
