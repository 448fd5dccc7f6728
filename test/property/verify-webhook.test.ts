/**
 * Property test of the receiver's two verifiers on arbitrary bodies and ids: each accepts
 * the signed request with the same event, and each refuses it once one byte of the body
 * is flipped.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, verifyWebhookAsync } from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';
import { propertyRuns } from '../support/property-runs.js';
import { outcomeOf } from '../support/outcome.js';


const secret = generateSecret();
const nowSeconds = 1_750_000_000;
const now = new Date(nowSeconds * 1000);
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function signedHeaders(id: string, body: string): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(nowSeconds),
    'webhook-signature': signWebhook({ id, timestamp: nowSeconds, body, secrets: secret }),
  };
}

describe('sync and async verification', () => {
  it('agree on arbitrary bodies and ids, signed and then tampered with', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', maxLength: 200 }),
        fc.stringMatching(/^[!-~]{1,40}$/),
        fc.nat({ max: 10_000 }),
        async (data, msgId, flipAt) => {
          const payload = JSON.stringify({ type: 'note.created', timestamp: now.toISOString(), data });
          const headers = signedHeaders(msgId, payload);
          const opts = { secrets: secret, now };
          const expected = { event: { id: msgId, type: 'note.created', timestamp: now.toISOString(), data } };
          expect(await outcomeOf(() => verifyWebhook({ body: payload, headers }, opts))).toEqual(expected);
          expect(await outcomeOf(() => verifyWebhookAsync({ body: bytes(payload), headers }, opts))).toEqual(expected);
          const tampered = bytes(payload);
          const at = flipAt % tampered.length;
          tampered[at] = tampered[at]! ^ 0x01;
          const noMatch = { code: 'WEBHOOK_NO_MATCHING_SIGNATURE' };
          expect(await outcomeOf(() => verifyWebhook({ body: tampered, headers }, opts))).toEqual(noMatch);
          expect(await outcomeOf(() => verifyWebhookAsync({ body: tampered, headers }, opts))).toEqual(noMatch);
        },
      ),
      { numRuns: propertyRuns(200) },
    );
  });
});
