/**
 * Property test of the signer and the verify core on arbitrary string bodies: what is
 * signed is the UTF-8 of `${id}.${timestamp}.${body}`, lone surrogates included.
 */
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';
import { resolveVerifyOptions, verifySignature } from '../../src/signing/verify-signature.js';
import vectors from '../fixtures/standard-webhooks-vectors.json' with { type: 'json' };
import { propertyRuns } from '../support/property-runs.js';

const secret = vectors.vectors[0]!.secret;

describe('the signed content of a string body', () => {
  it('is the UTF-8 of `${id}.${timestamp}.${body}` for any string, lone surrogates included, when signing and verifying', () => {
    const key = decodeSecret(secret);
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string()), (body) => {
        const expected = 'v1,' + createHmac('sha256', key).update(`msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.${body}`).digest('base64');
        expect(signWebhook({ id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body, secrets: secret })).toBe(expected);
        const headers = { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': expected };
        expect(verifySignature({ body, headers }, resolveVerifyOptions({ secrets: secret, now: new Date(1614265330_000) })).id).toBe(
          'msg_p5jXN8AQM9LWM0D4loKWxJek',
        );
      }),
      { numRuns: propertyRuns(2000) },
    );
  });
});
