import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import {
  verifyWebhook,
  verifyWebhookAsync,
  verifyWebhookSignature,
  verifyWebhookSignatureAsync,
  type VerifiedWebhookMessage,
  type VerifyWebhookOptions,
  type WebhookMessage,
} from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';
import vectors from '../fixtures/standard-webhooks-vectors.json' with { type: 'json' };

type Outcome = { verified: unknown } | { code: string };

async function outcomeOf(run: () => unknown): Promise<Outcome> {
  try {
    return { verified: await run() };
  } catch (error) {
    if (isWebhookError(error)) return { code: error.code };
    throw error;
  }
}

type Verify = (message: WebhookMessage, options: VerifyWebhookOptions) => VerifiedWebhookMessage | Promise<VerifiedWebhookMessage>;

const verifiers: { name: string; verify: Verify }[] = [
  { name: 'verifyWebhookSignature (sync)', verify: verifyWebhookSignature },
  { name: 'verifyWebhookSignatureAsync', verify: verifyWebhookSignatureAsync },
];

type Vector = (typeof vectors.vectors)[number];
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const headersOf = (vector: Vector, signature = vector.signature): Record<string, string> => ({
  'webhook-id': vector.id,
  'webhook-timestamp': String(vector.timestamp),
  'webhook-signature': signature,
});
const at = (vector: Vector, offsetMs = 0): VerifyWebhookOptions => ({ secrets: vector.secret, now: new Date(vector.timestamp * 1000 + offsetMs) });
const verifiedVector = (vector: Vector): Outcome => ({ verified: { id: vector.id, timestamp: vector.timestamp, body: vector.payload } });

// The body of the spec's own example message (standard-webhooks spec, "Payload structure"): an envelope
// with `type`, but also bodies no Bookkeeper sender makes, which a Standard Webhooks sender may.
const specExample = '{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485","type":"contact","name":"Some Name"}}';
const foreignBodies: [name: string, body: string][] = [
  ['the spec example envelope', specExample],
  ['an object without type', '{"event_type":"ping","data":{"success":true}}'],
  ['a JSON array', '[1,2,3]'],
  ['plain text', 'payment 42 settled'],
  ['an empty body', ''],
  ['text with a byte-order mark', '\uFEFF{"a":1}'],
  ['text outside the BMP', '{"note":"€ 🧾"}'],
];

const secret = generateSecret();
const nowSeconds = 1_750_000_000;
const now = new Date(nowSeconds * 1000);

describe.each(verifiers)('$name', ({ verify }) => {
  describe('on the published Standard Webhooks vectors, whose payloads are no Bookkeeper envelope', () => {
    it.each(vectors.vectors)('returns vector $id with its timestamp in seconds and its body as sent', async (vector) => {
      expect(await outcomeOf(() => verify({ body: vector.payload, headers: headersOf(vector) }, at(vector)))).toEqual(verifiedVector(vector));
    });

    it.each(vectors.vectors)('returns vector $id from a Uint8Array body as the same string', async (vector) => {
      expect(await outcomeOf(() => verify({ body: bytes(vector.payload), headers: new Headers(headersOf(vector)) }, at(vector)))).toEqual(
        verifiedVector(vector),
      );
    });

    it.each(vectors.vectors)('returns vector $id with the decoys around its signature', async (vector) => {
      for (const signature of [
        [...vectors.multiSignatureDecoys, vector.signature].join(' '),
        [vector.signature, ...vectors.multiSignatureDecoys].join(' '),
      ]) {
        expect(await outcomeOf(() => verify({ body: vector.payload, headers: headersOf(vector, signature) }, at(vector)))).toEqual(verifiedVector(vector));
      }
    });

    it.each(vectors.vectors)('refuses vector $id with the decoys alone', async (vector) => {
      const headers = headersOf(vector, vectors.multiSignatureDecoys.join(' '));
      expect(await outcomeOf(() => verify({ body: vector.payload, headers }, at(vector)))).toEqual({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    });

    it.each(vectors.vectors)('refuses vector $id with its payload changed', async (vector) => {
      expect(await outcomeOf(() => verify({ body: `${vector.payload} `, headers: headersOf(vector) }, at(vector)))).toEqual({
        code: 'WEBHOOK_NO_MATCHING_SIGNATURE',
      });
    });

    it.each(vectors.mustFail.signatures)('refuses the malformed signature %j', async (signature) => {
      const vector = vectors.vectors[0]!;
      expect(await outcomeOf(() => verify({ body: vector.payload, headers: headersOf(vector, signature) }, at(vector)))).toEqual({
        code: 'WEBHOOK_INVALID_SIGNATURE',
      });
    });

    it.each(vectors.mustFail.timestamps)('refuses the timestamp %j', async (timestamp) => {
      const vector = vectors.vectors[0]!;
      const headers = { ...headersOf(vector), 'webhook-timestamp': timestamp };
      expect(await outcomeOf(() => verify({ body: vector.payload, headers }, at(vector)))).toEqual({ code: 'WEBHOOK_INVALID_TIMESTAMP' });
    });

    it.each(vectors.vectors)('refuses vector $id 300 s and 1 ms after, and 300 s and 1 ms before, its timestamp', async (vector) => {
      const message = { body: vector.payload, headers: headersOf(vector) };
      expect(await outcomeOf(() => verify(message, at(vector, 300_001)))).toEqual({ code: 'WEBHOOK_TIMESTAMP_TOO_OLD' });
      expect(await outcomeOf(() => verify(message, at(vector, -300_001)))).toEqual({ code: 'WEBHOOK_TIMESTAMP_TOO_NEW' });
      expect(await outcomeOf(() => verify(message, at(vector, 300_000)))).toEqual(verifiedVector(vector));
    });
  });

  it.each(foreignBodies)('returns %s as sent, signed by this library', async (_name, body) => {
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(nowSeconds), 'webhook-signature': signWebhook({ id: 'msg_1', timestamp: nowSeconds, body, secrets: secret }) };
    const expected = { verified: { id: 'msg_1', timestamp: nowSeconds, body } };
    expect(await outcomeOf(() => verify({ body, headers }, { secrets: secret, now }))).toEqual(expected);
    expect(await outcomeOf(() => verify({ body: bytes(body), headers }, { secrets: secret, now }))).toEqual(expected);
  });

  it.each(foreignBodies)('returns %s as sent, signed by the standardwebhooks package', async (_name, body) => {
    const headers = { 'webhook-id': 'msg_peer', 'webhook-timestamp': String(nowSeconds), 'webhook-signature': new Webhook(secret).sign('msg_peer', now, body) };
    expect(await outcomeOf(() => verify({ body, headers }, { secrets: secret, now }))).toEqual({ verified: { id: 'msg_peer', timestamp: nowSeconds, body } });
  });

  it('refuses signed bytes that are not UTF-8 with WEBHOOK_INVALID_PAYLOAD', async () => {
    const body = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]);
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(nowSeconds), 'webhook-signature': signWebhook({ id: 'msg_1', timestamp: nowSeconds, body, secrets: secret }) };
    expect(await outcomeOf(() => verify({ body, headers }, { secrets: secret, now }))).toEqual({ code: 'WEBHOOK_INVALID_PAYLOAD' });
  });

  it('refuses bad options and input with the same codes as verifyWebhook', async () => {
    const vector = vectors.vectors[0]!;
    const message = { body: vector.payload, headers: headersOf(vector) };
    expect(await outcomeOf(() => verify(message, { secrets: [] }))).toEqual({ code: 'SECRET_INVALID' });
    expect(await outcomeOf(() => verify(message, { ...at(vector), tolerance: 600 } as VerifyWebhookOptions))).toEqual({ code: 'CONFIG_INVALID' });
    expect(await outcomeOf(() => verify({ body: JSON.parse(vector.payload) as string, headers: message.headers }, at(vector)))).toEqual({ code: 'INPUT_INVALID' });
  });
});

describe('verifyWebhook on top of verifyWebhookSignature', () => {
  it.each(vectors.vectors)('refuses vector $id, whose signature verifies, as no event envelope', async (vector) => {
    const message = { body: vector.payload, headers: headersOf(vector) };
    expect(await outcomeOf(() => verifyWebhookSignature(message, at(vector)))).toEqual(verifiedVector(vector));
    expect(await outcomeOf(() => verifyWebhook(message, at(vector)))).toEqual({ code: 'WEBHOOK_INVALID_PAYLOAD' });
    expect(await outcomeOf(() => verifyWebhookAsync(message, at(vector)))).toEqual({ code: 'WEBHOOK_INVALID_PAYLOAD' });
  });

  it('returns the spec example as an event, with the body verifyWebhookSignature returns', async () => {
    const headers = { 'webhook-id': 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', 'webhook-timestamp': String(nowSeconds), 'webhook-signature': new Webhook(secret).sign('msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', now, specExample) };
    const message = { body: bytes(specExample), headers };
    const { body } = verifyWebhookSignature(message, { secrets: secret, now });
    const parsed = JSON.parse(body) as { type: string; timestamp: string; data: unknown };
    expect(verifyWebhook(message, { secrets: secret, now })).toEqual({ id: headers['webhook-id'], ...parsed });
    expect(await verifyWebhookAsync(message, { secrets: secret, now })).toEqual({ id: headers['webhook-id'], ...parsed });
  });

  it('verifyWebhookSignatureAsync rejects rather than throwing synchronously', async () => {
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = verifyWebhookSignatureAsync({ body: '', headers: {} }, { secrets: [] });
    }).not.toThrow();
    expect(await outcomeOf(() => promise)).toEqual({ code: 'SECRET_INVALID' });
  });
});
