/**
 * Property test of `hmacSha256Base64` (the scratch-buffer HMAC behind signing): it agrees
 * with node:crypto's own `createHmac` on arbitrary keys, prefixes and bodies.
 */
import fc from 'fast-check';
import * as nodeCrypto from 'node:crypto';
import { describe, it } from 'vitest';
import { hmacSha256Base64 } from '../../src/signing/hmac-sha256.js';
import { propertyRuns } from '../support/property-runs.js';

/** The reference: node:crypto's own HMAC over the same bytes. */
function reference(key: Uint8Array, prefix: string, body: string | Uint8Array): string {
  return nodeCrypto.createHmac('sha256', key).update(prefix).update(body).digest('base64');
}

describe('hmacSha256Base64', () => {
  it('agrees with createHmac on arbitrary keys, prefixes and bodies', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 160 }),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.oneof(fc.string({ unit: 'binary', maxLength: 600 }), fc.uint8Array({ maxLength: 600 })),
        (key, prefix, body) => hmacSha256Base64(nodeCrypto, key, prefix, body) === reference(key, prefix, body),
      ),
      { numRuns: propertyRuns(500) },
    );
  });
});
