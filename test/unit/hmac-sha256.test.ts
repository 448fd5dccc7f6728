import * as nodeCrypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SCRATCH_MESSAGE_BYTES, hmacSha256Base64, type HmacCrypto } from '../../src/signing/hmac-sha256.js';

/** The reference: node:crypto's own HMAC over the same bytes. */
function reference(key: Uint8Array, prefix: string, body: string | Uint8Array): string {
  return nodeCrypto.createHmac('sha256', key).update(prefix).update(body).digest('base64');
}

type HashFn = NonNullable<HmacCrypto['hash']>;

/**
 * node:crypto with both paths counted, to tell which one a message took. The first call
 * with a new crypto module runs the known-answer test of its `hash()`; a warm-up call
 * takes it out of the counts.
 */
function counting(hash: HashFn = nodeCrypto.hash): HmacCrypto & { hmacCalls: number; hashCalls: number } {
  const counted = {
    hmacCalls: 0,
    hashCalls: 0,
    createHmac(algorithm: 'sha256', key: Uint8Array) {
      counted.hmacCalls++;
      return nodeCrypto.createHmac(algorithm, key);
    },
    hash(algorithm: 'sha256', data: Uint8Array, outputEncoding: 'binary' | 'base64') {
      counted.hashCalls++;
      return hash(algorithm, data, outputEncoding);
    },
  };
  hmacSha256Base64(counted, key32, 'warm-up.', '');
  counted.hmacCalls = 0;
  counted.hashCalls = 0;
  return counted;
}

const key32 = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);

describe('hmacSha256Base64', () => {
  it('matches createHmac on the RFC 4231 test case 2 ("Jefe")', () => {
    const key = new TextEncoder().encode('Jefe');
    // RFC 4231 §4.3: HMAC-SHA-256 = 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843
    const expected = Buffer.from('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843', 'hex').toString('base64');
    expect(hmacSha256Base64(nodeCrypto, key, 'what do ya want ', 'for nothing?')).toBe(expected);
  });

  it('hashes a key longer than the 64-byte block first, as RFC 2104 says (RFC 4231 test case 6)', () => {
    const key = new Uint8Array(131).fill(0xaa);
    const expected = Buffer.from('60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54', 'hex').toString('base64');
    expect(hmacSha256Base64(nodeCrypto, key, 'Test Using Larger Than Block-Size Key - ', 'Hash Key First')).toBe(expected);
  });

  it('matches createHmac for keys of every length around the block size', () => {
    for (const length of [1, 16, 24, 32, 63, 64, 65, 100, 128]) {
      const key = Uint8Array.from({ length }, (_, i) => (i * 13 + length) & 0xff);
      expect(hmacSha256Base64(nodeCrypto, key, 'msg_1.1700000000.', '{"a":1}'), `key of ${length} bytes`).toBe(reference(key, 'msg_1.1700000000.', '{"a":1}'));
    }
  });

  it('encodes strings as createHmac does: multi-byte characters, pairs, and lone surrogates as U+FFFD', () => {
    for (const body of ['', 'plain', 'é€𝄞', '\uD800', 'a\uDC00b', 'end\uD83D', '\uD83D\uDE00\uD800\uDC00', 'ü'.repeat(1000)]) {
      expect(hmacSha256Base64(nodeCrypto, key32, 'msg_é.1.', body), JSON.stringify(body)).toBe(reference(key32, 'msg_é.1.', body));
    }
  });

  it('hashes a byte body byte for byte, invalid UTF-8 included', () => {
    const body = Uint8Array.from([0xff, 0xfe, 0xc3, 0x28, 0x00, 0x80, 0x7b, 0x7d]);
    expect(hmacSha256Base64(nodeCrypto, key32, 'msg_1.2.', body)).toBe(reference(key32, 'msg_1.2.', body));
  });

  it('keeps each key apart when calls alternate between keys', () => {
    const other = Uint8Array.from({ length: 24 }, (_, i) => 255 - i);
    for (let i = 0; i < 4; i++) {
      expect(hmacSha256Base64(nodeCrypto, key32, `m${i}.`, 'x')).toBe(reference(key32, `m${i}.`, 'x'));
      expect(hmacSha256Base64(nodeCrypto, other, `m${i}.`, 'x')).toBe(reference(other, `m${i}.`, 'x'));
    }
  });

  it('hashes a message that fits the scratch buffer with two one-shot hashes, no Hmac object', () => {
    const crypto = counting();
    const prefix = 'msg_1.1700000000.';
    const body = 'a'.repeat(SCRATCH_MESSAGE_BYTES - prefix.length);
    expect(hmacSha256Base64(crypto, key32, prefix, body)).toBe(reference(key32, prefix, body));
    expect(crypto.hmacCalls).toBe(0);
    expect(crypto.hashCalls).toBe(2);
  });

  it('falls back to createHmac for a message one byte over the scratch buffer, string or bytes', () => {
    const prefix = 'msg_1.1700000000.';
    for (const body of ['a'.repeat(SCRATCH_MESSAGE_BYTES - prefix.length + 1), new Uint8Array(SCRATCH_MESSAGE_BYTES - prefix.length + 1).fill(7)]) {
      const crypto = counting();
      expect(hmacSha256Base64(crypto, key32, prefix, body)).toBe(reference(key32, prefix, body));
      expect(crypto.hmacCalls).toBe(1);
      expect(crypto.hashCalls).toBe(0);
    }
  });

  it('falls back when a multi-byte character would straddle the end of the scratch buffer', () => {
    const prefix = 'p.';
    // Fits in UTF-16 units, not in UTF-8 bytes: the last € (3 bytes) does not fit.
    const body = 'a'.repeat(SCRATCH_MESSAGE_BYTES - prefix.length - 2) + '€';
    const crypto = counting();
    expect(hmacSha256Base64(crypto, key32, prefix, body)).toBe(reference(key32, prefix, body));
    expect(crypto.hmacCalls).toBe(1);
  });

  it('leaves no trace of a large message in the next small one', () => {
    const big = 'b'.repeat(SCRATCH_MESSAGE_BYTES - 10);
    hmacSha256Base64(nodeCrypto, key32, 'x.', big);
    expect(hmacSha256Base64(nodeCrypto, key32, 'x.', 'small')).toBe(reference(key32, 'x.', 'small'));
  });

  it('does not use a hash() that fails the known-answer test: one that ignores where a subarray starts', () => {
    // A plausible bug in another runtime's node:crypto: hashing the view's whole buffer.
    const wholeBuffer: HashFn = (algorithm, data, outputEncoding) =>
      nodeCrypto.hash(algorithm, new Uint8Array(data.buffer), outputEncoding);
    const crypto = counting(wholeBuffer);
    expect(hmacSha256Base64(crypto, key32, 'msg_1.1.', 'body')).toBe(reference(key32, 'msg_1.1.', 'body'));
    expect(crypto.hmacCalls).toBe(1);
    expect(crypto.hashCalls).toBe(0);
  });

  it('does not use a hash() that throws on a typed array or on the binary encoding', () => {
    const crypto = counting(() => {
      throw new TypeError('unsupported');
    });
    expect(hmacSha256Base64(crypto, key32, 'msg_1.1.', 'body')).toBe(reference(key32, 'msg_1.1.', 'body'));
    expect(crypto.hmacCalls).toBe(1);
  });

  it('uses createHmac alone in a runtime whose node:crypto has no hash()', () => {
    const crypto = counting();
    const withoutHash: HmacCrypto = { createHmac: crypto.createHmac };
    expect(hmacSha256Base64(withoutHash, key32, 'msg_1.1.', 'body')).toBe(reference(key32, 'msg_1.1.', 'body'));
    expect(crypto.hmacCalls).toBe(1);
  });
});
