/**
 * HMAC-SHA256 of `prefix + body`, base64: the one MAC Standard Webhooks uses,
 * shared by the signer and the synchronous verifier.
 *
 * Built from node:crypto's one-shot `hash()` (RFC 2104: SHA256((K ^ opad) ||
 * SHA256((K ^ ipad) || message))) over a reused scratch buffer, because
 * `createHmac` costs more to set up than SHA-256 costs to run here: on Node 20
 * (OpenSSL 3) creating the Hmac object takes ~2 µs of the ~3.8 µs a 1 KB
 * message costs in all; the two one-shot hashes do the same work in ~2.5 µs
 * (measured in one process, 1.5× at the median). `createHmac` remains the path
 * for a message that does not fit the scratch buffer, and for a runtime whose
 * node:crypto has no `hash()` or one that fails a known-answer test on first use.
 *
 * Runtime-neutral: the caller hands in its crypto module, and strings are
 * encoded with `TextEncoder`, so the receiver entry keeps no `node:` import.
 */

interface NodeHmac {
  update(data: string | Uint8Array): NodeHmac;
  digest(encoding: 'base64'): string;
}

type OneShotHash = (algorithm: 'sha256', data: Uint8Array, outputEncoding: 'binary' | 'base64') => string;

/** The parts of node:crypto this module uses. */
export interface HmacCrypto {
  createHmac(algorithm: 'sha256', key: Uint8Array): NodeHmac;
  /** Node ≥ 20.12; absent in some runtimes, which then take the `createHmac` path. */
  hash?: OneShotHash | undefined;
}

/** SHA-256's block size, bytes: the length of each padded key. */
const BLOCK_BYTES = 64;
const DIGEST_BYTES = 32;
/**
 * The largest `prefix + body` hashed in the scratch buffer, bytes. Larger messages
 * take `createHmac`, where hashing dominates the set-up cost anyway; the buffer
 * stays at this size for the life of the process.
 */
export const SCRATCH_MESSAGE_BYTES = 64 * 1024;

interface PaddedKey {
  readonly inner: Uint8Array;
  readonly outer: Uint8Array;
}

// Keyed by the key's own bytes, which the callers cache (`keyBytes`, `createSigningKeys`).
const paddedKeys = new WeakMap<Uint8Array, PaddedKey>();
const encoder = new TextEncoder();
// [K ^ ipad | message]: the message is encoded straight after the pad, then hashed in one call.
const scratch = new Uint8Array(BLOCK_BYTES + SCRATCH_MESSAGE_BYTES);
const scratchMessage = scratch.subarray(BLOCK_BYTES);
// [K ^ opad | inner digest].
const outerScratch = new Uint8Array(BLOCK_BYTES + DIGEST_BYTES);

/**
 * `base64(HMAC-SHA256(key, prefix + body))`, with `prefix` and a string `body`
 * encoded as UTF-8 (a lone surrogate as U+FFFD, as `Hmac.update` does) and a
 * `Uint8Array` body hashed byte for byte.
 *
 * Synchronous and not re-entrant by construction: nothing runs between filling
 * the scratch buffer and hashing it.
 */
export function hmacSha256Base64(crypto: HmacCrypto, key: Uint8Array, prefix: string, body: string | Uint8Array): string {
  const hash = crypto === checkedCrypto ? checkedHash : checkHash(crypto);
  if (hash !== null) {
    const mac = oneShotHmac(hash, key, prefix, body);
    if (mac !== null) return mac;
  }
  // Bytes are fed as they are, never decoded and re-encoded: bytes that are not valid
  // UTF-8 would otherwise be signed differently from what is sent.
  return crypto.createHmac('sha256', key).update(prefix).update(body).digest('base64');
}

/** The HMAC from two one-shot hashes, or `null` when the message does not fit the scratch buffer. */
function oneShotHmac(hash: OneShotHash, key: Uint8Array, prefix: string, body: string | Uint8Array): string | null {
  const length = encodeMessage(prefix, body);
  if (length === -1) return null;
  const padded = padKey(hash, key);
  scratch.set(padded.inner, 0);
  const innerDigest = hash('sha256', scratch.subarray(0, BLOCK_BYTES + length), 'binary');
  outerScratch.set(padded.outer, 0);
  for (let i = 0; i < DIGEST_BYTES; i++) outerScratch[BLOCK_BYTES + i] = innerDigest.charCodeAt(i);
  return hash('sha256', outerScratch, 'base64');
}

// The last crypto module seen and its `hash()` if it passed the known-answer test (one
// module per process in practice; a different one is tested again).
let checkedCrypto: HmacCrypto | undefined;
let checkedHash: OneShotHash | null = null;

/**
 * `crypto.hash` if it computes RFC 4231's test cases 2 and 6 (a short key, and one longer
 * than the block) through {@link oneShotHmac}; otherwise `null`. Runtimes other than Node
 * ship their own node:crypto: one whose `hash()` reads its arguments differently must cost
 * speed, not signatures.
 */
function checkHash(crypto: HmacCrypto): OneShotHash | null {
  const hash = crypto.hash;
  let usable: OneShotHash | null = null;
  if (typeof hash === 'function') {
    try {
      const jefe = oneShotHmac(hash, encoder.encode('Jefe'), 'what do ya want ', 'for nothing?');
      const long = oneShotHmac(hash, new Uint8Array(131).fill(0xaa), 'Test Using Larger Than Block-Size Key - ', 'Hash Key First');
      if (jefe === 'W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=' && long === 'YOQxWR7gtn8Niiaqy/W3f44LxiE3KMUUBUYEDw7jf1Q=') usable = hash;
    } catch {
      // A hash() that throws on these arguments is not used.
    }
  }
  checkedCrypto = crypto;
  checkedHash = usable;
  return usable;
}

/** Writes `prefix + body` after the pad; its length in bytes, or -1 when it does not fit. */
function encodeMessage(prefix: string, body: string | Uint8Array): number {
  const head = encoder.encodeInto(prefix, scratchMessage);
  if (head.read !== prefix.length) return -1;
  const offset = head.written;
  if (typeof body === 'string') {
    const tail = encoder.encodeInto(body, scratchMessage.subarray(offset));
    return tail.read === body.length ? offset + tail.written : -1;
  }
  if (body.length > SCRATCH_MESSAGE_BYTES - offset) return -1;
  scratchMessage.set(body, offset);
  return offset + body.length;
}

function padKey(hash: OneShotHash, key: Uint8Array): PaddedKey {
  let padded = paddedKeys.get(key);
  if (padded === undefined) {
    // RFC 2104 §2: a key longer than the block is replaced by its hash.
    const bytes = key.length > BLOCK_BYTES ? latin1Bytes(hash('sha256', key, 'binary')) : key;
    const inner = new Uint8Array(BLOCK_BYTES).fill(0x36);
    const outer = new Uint8Array(BLOCK_BYTES).fill(0x5c);
    for (let i = 0; i < bytes.length; i++) {
      inner[i]! ^= bytes[i]!;
      outer[i]! ^= bytes[i]!;
    }
    padded = { inner, outer };
    paddedKeys.set(key, padded);
  }
  return padded;
}

/**
 * Drops the padded form of `key` kept for it, overwriting it, and clears the pads left in
 * the scratch buffers by the last MAC (whoever's key it was): for an owner that is done
 * with a key, so that none of its material stays in this module.
 *
 * @internal Used by `wipeSigningKeys`.
 */
export function forgetPaddedKey(key: Uint8Array): void {
  const padded = paddedKeys.get(key);
  if (padded !== undefined) {
    padded.inner.fill(0);
    padded.outer.fill(0);
    paddedKeys.delete(key);
  }
  scratch.fill(0, 0, BLOCK_BYTES);
  outerScratch.fill(0, 0, BLOCK_BYTES);
}

function latin1Bytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
