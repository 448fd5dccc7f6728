import { builtinModules } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { Webhook } from 'standardwebhooks';
import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  verifyWebhook,
  verifyWebhookAsync,
  type VerifyWebhookOptions,
  type WebhookEvent,
  type WebhookMessage,
} from '../../src/receiver/index.js';
import { verifySignatureAsync } from '../../src/receiver/verify-webhook-signature-async.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';
import { resolveVerifyOptions, verifySignature } from '../../src/signing/verify-signature.js';
import vectors from '../fixtures/standard-webhooks-vectors.json' with { type: 'json' };
import { outcomeOf, type Outcome } from '../support/outcome.js';


type Verify = (message: WebhookMessage, options: VerifyWebhookOptions) => unknown;

const verifiers: { name: string; verify: Verify }[] = [
  { name: 'verifyWebhook (sync)', verify: (message, options) => verifyWebhook(message, options) },
  { name: 'verifyWebhookAsync', verify: (message, options) => verifyWebhookAsync(message, options) },
];

// Signature-level verification, for the published vectors whose payloads are not event envelopes.
const signatureVerifiers: { name: string; verify: Verify }[] = [
  { name: 'sync', verify: (message, options) => verifySignature(message, resolveVerifyOptions(options)).id },
  { name: 'async', verify: async (message, options) => (await verifySignatureAsync(message, resolveVerifyOptions(options))).id },
];

const secret = generateSecret();
const otherSecret = generateSecret();
const nowSeconds = 1_750_000_000;
const now = new Date(nowSeconds * 1000);
const id = 'evt_01JXYZ0000000000000000000A';
const envelope = { id, type: 'payment.succeeded', timestamp: '2025-06-15T15:06:40.000Z', data: { amountMinor: 1250, currency: 'EUR' } };
const body = JSON.stringify(envelope);
const expectedEvent = { id, type: envelope.type, timestamp: envelope.timestamp, data: envelope.data };
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

interface SignedParts {
  id?: string;
  timestampSeconds?: number;
  body?: string | Uint8Array;
  secrets?: string | string[];
}

function signedHeaders(parts: SignedParts = {}): Record<string, string> {
  const msgId = parts.id ?? id;
  const timestampSeconds = parts.timestampSeconds ?? nowSeconds;
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook({ id: msgId, timestamp: timestampSeconds, body: parts.body ?? body, secrets: parts.secrets ?? secret }),
  };
}

const valid = signedHeaders();
const validSignature = valid['webhook-signature']!;

function withHeaders(headers: Record<string, string | string[] | undefined>): () => WebhookMessage {
  return () => ({ body, headers: { ...valid, ...headers } });
}

interface Case {
  name: string;
  message: () => WebhookMessage;
  options?: Partial<VerifyWebhookOptions> & Record<string, unknown>;
  expected: Outcome;
}

const ok: Outcome = { event: expectedEvent };
const code = (value: string): Outcome => ({ code: value });

const cases: Case[] = [
  // What verifies
  { name: 'a string body', message: () => ({ body, headers: valid }), expected: ok },
  { name: 'a Uint8Array body', message: () => ({ body: bytes(body), headers: valid }), expected: ok },
  { name: 'a Buffer body', message: () => ({ body: Buffer.from(body), headers: valid }), expected: ok },
  { name: 'a Headers instance', message: () => ({ body, headers: new Headers(valid) }), expected: ok },
  {
    name: 'header names in capitals in a plain object',
    message: () => ({
      body,
      headers: { 'Webhook-Id': valid['webhook-id'], 'WEBHOOK-TIMESTAMP': valid['webhook-timestamp'], 'Webhook-Signature': validSignature },
    }),
    expected: ok,
  },
  {
    name: 'header names in capitals in a Headers instance',
    message: () => ({ body, headers: new Headers({ 'WEBHOOK-ID': id, 'Webhook-Timestamp': String(nowSeconds), 'WebHook-Signature': validSignature }) }),
    expected: ok,
  },
  { name: 'a header repeated with the same value in an array', message: withHeaders({ 'webhook-id': [id, id] }), expected: ok },
  {
    name: 'a header repeated with the same value in a Headers instance',
    message: () => {
      const headers = new Headers(valid);
      headers.append('webhook-id', id);
      return { body, headers };
    },
    expected: ok,
  },
  { name: 'extra spaces between signature entries', message: withHeaders({ 'webhook-signature': `  ${validSignature}   ` }), expected: ok },
  { name: 'other headers around the webhook ones', message: () => ({ body, headers: { host: 'x', 'content-type': 'application/json', ...valid } }), expected: ok },
  // Rotation
  {
    name: 'a rotation header checked with the new secret only',
    message: () => ({ body, headers: signedHeaders({ secrets: [secret, otherSecret] }) }),
    options: { secrets: otherSecret },
    expected: ok,
  },
  {
    name: 'a rotation header checked with the old secret only',
    message: () => ({ body, headers: signedHeaders({ secrets: [secret, otherSecret] }) }),
    options: { secrets: [secret] },
    expected: ok,
  },
  {
    name: 'a header signed by the second of the receiver secrets',
    message: () => ({ body, headers: signedHeaders({ secrets: otherSecret }) }),
    options: { secrets: [secret, otherSecret] },
    expected: ok,
  },
  { name: 'a wrong secret', message: () => ({ body, headers: valid }), options: { secrets: otherSecret }, expected: code('WEBHOOK_NO_MATCHING_SIGNATURE') },
  // Tampering
  { name: 'a tampered body', message: () => ({ body: body.replace('1250', '9250'), headers: valid }), expected: code('WEBHOOK_NO_MATCHING_SIGNATURE') },
  { name: 'tampered body bytes', message: () => ({ body: bytes(body.replace('EUR', 'USD')), headers: valid }), expected: code('WEBHOOK_NO_MATCHING_SIGNATURE') },
  { name: 'a tampered id', message: withHeaders({ 'webhook-id': `${id}B` }), expected: code('WEBHOOK_NO_MATCHING_SIGNATURE') },
  { name: 'a tampered timestamp', message: withHeaders({ 'webhook-timestamp': String(nowSeconds + 1) }), expected: code('WEBHOOK_NO_MATCHING_SIGNATURE') },
  {
    name: 'a tampered signature',
    message: withHeaders({ 'webhook-signature': `v1,${validSignature[3] === 'A' ? 'B' : 'A'}${validSignature.slice(4)}` }),
    expected: code('WEBHOOK_NO_MATCHING_SIGNATURE'),
  },
  // Missing headers
  { name: 'no webhook-id', message: withHeaders({ 'webhook-id': undefined }), expected: code('WEBHOOK_MISSING_HEADER') },
  { name: 'an empty webhook-id', message: withHeaders({ 'webhook-id': '' }), expected: code('WEBHOOK_MISSING_HEADER') },
  { name: 'no webhook-timestamp', message: withHeaders({ 'webhook-timestamp': undefined }), expected: code('WEBHOOK_MISSING_HEADER') },
  { name: 'no webhook-signature', message: withHeaders({ 'webhook-signature': undefined }), expected: code('WEBHOOK_MISSING_HEADER') },
  { name: 'an empty array for webhook-signature', message: withHeaders({ 'webhook-signature': [] }), expected: code('WEBHOOK_MISSING_HEADER') },
  { name: 'no headers at all', message: () => ({ body, headers: {} }), expected: code('WEBHOOK_MISSING_HEADER') },
  // Tolerance, both ways
  {
    name: 'a timestamp 301 s old',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds - 301 }) }),
    expected: code('WEBHOOK_TIMESTAMP_TOO_OLD'),
  },
  { name: 'a timestamp exactly 300 s old', message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds - 300 }) }), expected: ok },
  {
    name: 'a timestamp 301 s ahead',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds + 301 }) }),
    expected: code('WEBHOOK_TIMESTAMP_TOO_NEW'),
  },
  { name: 'a timestamp exactly 300 s ahead', message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds + 300 }) }), expected: ok },
  {
    name: 'a timestamp 11 s old with a 10 s tolerance',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds - 11 }) }),
    options: { toleranceSeconds: 10 },
    expected: code('WEBHOOK_TIMESTAMP_TOO_OLD'),
  },
  {
    name: 'a timestamp 11 s ahead with a 10 s tolerance',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds + 11 }) }),
    options: { toleranceSeconds: 10 },
    expected: code('WEBHOOK_TIMESTAMP_TOO_NEW'),
  },
  { name: 'the current second with a zero tolerance', message: () => ({ body, headers: valid }), options: { toleranceSeconds: 0 }, expected: ok },
  {
    name: 'a clock 999 ms past the signed second with a zero tolerance',
    message: () => ({ body, headers: valid }),
    options: { toleranceSeconds: 0, now: new Date(nowSeconds * 1000 + 999) },
    expected: code('WEBHOOK_TIMESTAMP_TOO_OLD'),
  },
  // Tolerance in milliseconds: the header has whole seconds, the clock does not.
  {
    name: 'a timestamp 300 s and 1 ms old',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds - 300 }) }),
    options: { now: new Date(nowSeconds * 1000 + 1) },
    expected: code('WEBHOOK_TIMESTAMP_TOO_OLD'),
  },
  {
    name: 'a timestamp 300 s and 1 ms ahead',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds + 300 }) }),
    options: { now: new Date(nowSeconds * 1000 - 1) },
    expected: code('WEBHOOK_TIMESTAMP_TOO_NEW'),
  },
  {
    name: 'a timestamp 299.001 s old',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds - 299 }) }),
    options: { now: new Date(nowSeconds * 1000 + 1) },
    expected: ok,
  },
  {
    name: 'a timestamp 0.4 s ahead with a 0.5 s tolerance',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds + 1 }) }),
    options: { toleranceSeconds: 0.5, now: new Date(nowSeconds * 1000 + 600) },
    expected: ok,
  },
  {
    name: 'a timestamp 0.6 s ahead with a 0.5 s tolerance',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds + 1 }) }),
    options: { toleranceSeconds: 0.5, now: new Date(nowSeconds * 1000 + 400) },
    expected: code('WEBHOOK_TIMESTAMP_TOO_NEW'),
  },
  {
    name: 'a timestamp 299.999 s ahead',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds + 300 }) }),
    options: { now: new Date(nowSeconds * 1000 + 1) },
    expected: ok,
  },
  {
    name: 'a timestamp 1 s old with a zero tolerance',
    message: () => ({ body, headers: signedHeaders({ timestampSeconds: nowSeconds - 1 }) }),
    options: { toleranceSeconds: 0 },
    expected: code('WEBHOOK_TIMESTAMP_TOO_OLD'),
  },
  // Malformed timestamps
  ...['hello', ...vectors.mustFail.timestamps, '-1750000000', '1750000000.5', '+1750000000', ' 1750000000', '1.75e9', '0x10', '1234567890123'].map(
    (timestamp): Case => ({ name: `the timestamp ${JSON.stringify(timestamp)}`, message: withHeaders({ 'webhook-timestamp': timestamp }), expected: code('WEBHOOK_INVALID_TIMESTAMP') }),
  ),
  // The signature header
  {
    name: 'only a v2 signature',
    message: withHeaders({ 'webhook-signature': validSignature.replace('v1,', 'v2,') }),
    expected: code('WEBHOOK_INVALID_SIGNATURE'),
  },
  { name: 'a signature without its version', message: withHeaders({ 'webhook-signature': validSignature.slice(3) }), expected: code('WEBHOOK_INVALID_SIGNATURE') },
  { name: 'a v1 entry of 44 characters outside base64', message: withHeaders({ 'webhook-signature': `v1,${'!'.repeat(43)}=` }), expected: code('WEBHOOK_INVALID_SIGNATURE') },
  ...vectors.mustFail.signatures.map(
    (signature): Case => ({ name: `the signature ${JSON.stringify(signature)}`, message: withHeaders({ 'webhook-signature': signature }), expected: code('WEBHOOK_INVALID_SIGNATURE') }),
  ),
  ...vectors.mustFail.signatures.map(
    (signature): Case => ({ name: `a valid signature after ${JSON.stringify(signature)}`, message: withHeaders({ 'webhook-signature': `${signature} ${validSignature}` }), expected: ok }),
  ),
  { name: 'decoys before the valid signature', message: withHeaders({ 'webhook-signature': [...vectors.multiSignatureDecoys, validSignature].join(' ') }), expected: ok },
  { name: 'decoys after the valid signature', message: withHeaders({ 'webhook-signature': [validSignature, ...vectors.multiSignatureDecoys].join(' ') }), expected: ok },
  { name: 'decoys alone', message: withHeaders({ 'webhook-signature': vectors.multiSignatureDecoys.join(' ') }), expected: code('WEBHOOK_NO_MATCHING_SIGNATURE') },
  // A header given twice with different values
  { name: 'two different webhook-id values in an array', message: withHeaders({ 'webhook-id': [id, 'evt_other'] }), expected: code('WEBHOOK_MISSING_HEADER') },
  {
    name: 'two different webhook-timestamp values in an array',
    message: withHeaders({ 'webhook-timestamp': [String(nowSeconds), String(nowSeconds - 1)] }),
    expected: code('WEBHOOK_INVALID_TIMESTAMP'),
  },
  {
    name: 'two different webhook-signature values in an array',
    message: withHeaders({ 'webhook-signature': [validSignature, vectors.multiSignatureDecoys[0]!] }),
    expected: code('WEBHOOK_INVALID_SIGNATURE'),
  },
  {
    name: 'two spellings of webhook-id with different values',
    message: withHeaders({ 'Webhook-Id': 'evt_other' }),
    expected: code('WEBHOOK_MISSING_HEADER'),
  },
  {
    name: 'a webhook-signature joined by Node from two headers',
    message: withHeaders({ 'webhook-signature': `${validSignature}, ${vectors.multiSignatureDecoys[0]!}` }),
    expected: code('WEBHOOK_INVALID_SIGNATURE'),
  },
  {
    name: 'a webhook-signature appended twice to a Headers instance',
    message: () => {
      const headers = new Headers(valid);
      headers.append('webhook-signature', vectors.multiSignatureDecoys[0]!);
      return { body, headers };
    },
    expected: code('WEBHOOK_INVALID_SIGNATURE'),
  },
  // The payload, once the signature matched
  ...(
    [
      ['a body that is not JSON', 'payment succeeded'],
      ['a JSON array', '[{"type":"ping"}]'],
      ['a JSON string', '"ping"'],
      ['JSON null', 'null'],
      ['an object without type', '{"data":{}}'],
      ['a numeric type', '{"type":42}'],
      ['an empty type', '{"type":""}'],
      ['an empty body', ''],
    ] as const
  ).map(
    ([name, payload]): Case => ({ name, message: () => ({ body: payload, headers: signedHeaders({ body: payload }) }), expected: code('WEBHOOK_INVALID_PAYLOAD') }),
  ),
  {
    name: 'signed bytes that are not UTF-8',
    message: () => {
      const payload = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]);
      return { body: payload, headers: signedHeaders({ body: payload }) };
    },
    expected: code('WEBHOOK_INVALID_PAYLOAD'),
  },
  {
    name: 'a body without timestamp, which gets the header time',
    message: () => ({ body: '{"type":"ping","data":null}', headers: signedHeaders({ body: '{"type":"ping","data":null}' }) }),
    expected: { event: { id, type: 'ping', timestamp: now.toISOString(), data: null } },
  },
  // Present, the timestamp is the event's own time: one that is not a string is not replaced by the header's.
  ...(
    [
      ['a numeric timestamp (epoch milliseconds)', '{"type":"ping","timestamp":1750000000000,"data":null}'],
      ['a timestamp of 0', '{"type":"ping","timestamp":0,"data":null}'],
      ['an object timestamp', '{"type":"ping","timestamp":{"not":"a date"},"data":null}'],
      ['a null timestamp', '{"type":"ping","timestamp":null,"data":null}'],
    ] as const
  ).map(
    ([name, payload]): Case => ({ name, message: () => ({ body: payload, headers: signedHeaders({ body: payload }) }), expected: code('WEBHOOK_INVALID_PAYLOAD') }),
  ),
  {
    name: 'a timestamp string that is not a date, kept as sent',
    message: () => ({ body: '{"type":"ping","timestamp":"last tuesday","data":null}', headers: signedHeaders({ body: '{"type":"ping","timestamp":"last tuesday","data":null}' }) }),
    expected: { event: { id, type: 'ping', timestamp: 'last tuesday', data: null } },
  },
  // Options and input
  { name: 'an empty secret list', message: () => ({ body, headers: valid }), options: { secrets: [] }, expected: code('SECRET_INVALID') },
  { name: 'a malformed secret', message: () => ({ body, headers: valid }), options: { secrets: 'whsec_$$$' }, expected: code('SECRET_INVALID') },
  { name: 'a missing secrets option', message: () => ({ body, headers: valid }), options: { secrets: undefined }, expected: code('SECRET_INVALID') },
  ...[-1, Number.NaN, Number.POSITIVE_INFINITY, '300'].map(
    (toleranceSeconds): Case => ({
      name: `toleranceSeconds ${String(toleranceSeconds)}`,
      message: () => ({ body, headers: valid }),
      options: { toleranceSeconds: toleranceSeconds as number },
      expected: code('CONFIG_INVALID'),
    }),
  ),
  { name: 'an invalid now', message: () => ({ body, headers: valid }), options: { now: new Date(Number.NaN) }, expected: code('CONFIG_INVALID') },
  { name: 'an unknown option', message: () => ({ body, headers: valid }), options: { tolerance: 600 }, expected: code('CONFIG_INVALID') },
  {
    name: 'a body already parsed as JSON',
    message: () => ({ body: JSON.parse(body) as string, headers: valid }),
    expected: code('INPUT_INVALID'),
  },
  { name: 'null headers', message: () => ({ body, headers: null as unknown as Headers }), expected: code('INPUT_INVALID') },
];

describe.each(verifiers)('$name', ({ verify }) => {
  it.each(cases)('handles $name', async ({ message, options, expected }) => {
    expect(await outcomeOf(() => verify(message(), { secrets: secret, now, ...options } as VerifyWebhookOptions))).toEqual(expected);
  });
});

describe('sync and async verification', () => {
  it.each(cases)('agree on $name', async ({ message, options }) => {
    const opts = { secrets: secret, now, ...options } as VerifyWebhookOptions;
    const [sync, async] = [await outcomeOf(() => verifyWebhook(message(), opts)), await outcomeOf(() => verifyWebhookAsync(message(), opts))];
    expect(async).toEqual(sync);
  });
});

describe('the published Standard Webhooks vectors', () => {
  const vectorHeaders = (vector: (typeof vectors.vectors)[number], signature = vector.signature): Record<string, string> => ({
    'webhook-id': vector.id,
    'webhook-timestamp': String(vector.timestamp),
    'webhook-signature': signature,
  });
  const at = (vector: (typeof vectors.vectors)[number]) => ({ secrets: vector.secret, now: new Date(vector.timestamp * 1000) });

  describe.each(signatureVerifiers)('verified $name', ({ verify }) => {
    it.each(vectors.vectors)('accept vector $id at its own timestamp', async (vector) => {
      expect(await outcomeOf(() => verify({ body: vector.payload, headers: vectorHeaders(vector) }, at(vector)))).toEqual({ event: vector.id });
    });

    it('accept the vector with an 18-byte key', async () => {
      const vector = vectors.vectors.find((one) => one.secret === 'whsec_plJ3nmyCDGBKInavdOK15jsl')!;
      expect(await outcomeOf(() => verify({ body: bytes(vector.payload), headers: vectorHeaders(vector) }, at(vector)))).toEqual({ event: vector.id });
    });

    it.each(vectors.vectors)('accept vector $id with the decoys before and after its signature', async (vector) => {
      for (const signature of [
        [...vectors.multiSignatureDecoys, vector.signature].join(' '),
        [vector.signature, ...vectors.multiSignatureDecoys].join(' '),
      ]) {
        expect(await outcomeOf(() => verify({ body: vector.payload, headers: vectorHeaders(vector, signature) }, at(vector)))).toEqual({ event: vector.id });
      }
    });

    it.each(vectors.vectors)('refuse the decoys alone for vector $id', async (vector) => {
      const headers = vectorHeaders(vector, vectors.multiSignatureDecoys.join(' '));
      expect(await outcomeOf(() => verify({ body: vector.payload, headers }, at(vector)))).toEqual({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    });

    it.each(vectors.mustFail.signatures)('refuse the malformed signature %j', async (signature) => {
      const vector = vectors.vectors[0]!;
      expect(await outcomeOf(() => verify({ body: vector.payload, headers: vectorHeaders(vector, signature) }, at(vector)))).toEqual({
        code: 'WEBHOOK_INVALID_SIGNATURE',
      });
    });

    it.each(vectors.mustFail.timestamps)('refuse the timestamp %j', async (timestamp) => {
      const vector = vectors.vectors[0]!;
      const headers = { ...vectorHeaders(vector), 'webhook-timestamp': timestamp };
      expect(await outcomeOf(() => verify({ body: vector.payload, headers }, at(vector)))).toEqual({ code: 'WEBHOOK_INVALID_TIMESTAMP' });
    });

    it.each(vectors.vectors)('refuse vector $id ten minutes later', async (vector) => {
      const options = { secrets: vector.secret, now: new Date((vector.timestamp + 600) * 1000) };
      expect(await outcomeOf(() => verify({ body: vector.payload, headers: vectorHeaders(vector) }, options))).toEqual({ code: 'WEBHOOK_TIMESTAMP_TOO_OLD' });
    });
  });

  describe.each(verifiers)('through $name', ({ verify }) => {
    it.each(vectors.vectors)('pass the signature check of vector $id and refuse its payload, which is no event envelope', async (vector) => {
      expect(await outcomeOf(() => verify({ body: vector.payload, headers: vectorHeaders(vector) }, at(vector)))).toEqual({ code: 'WEBHOOK_INVALID_PAYLOAD' });
    });
  });
});

describe('interoperability with the standardwebhooks package', () => {
  const peerEnvelope = { type: 'refund.initiated', timestamp: '2025-06-15T15:06:40.000Z', data: { refundId: 'rf_1', amount: '12.50', currency: 'EUR' } };

  describe.each(verifiers)('$name', ({ verify }) => {
    it('verifies what the package signs, at an injected time', async () => {
      const date = new Date(1_700_000_000_000);
      const payload = JSON.stringify(peerEnvelope);
      const headers = { 'webhook-id': 'msg_peer', 'webhook-timestamp': '1700000000', 'webhook-signature': new Webhook(secret).sign('msg_peer', date, payload) };
      expect(await outcomeOf(() => verify({ body: payload, headers }, { secrets: secret, now: date }))).toEqual({ event: { id: 'msg_peer', ...peerEnvelope } });
    });

    it('verifies what the package signs from a Buffer, on the wall clock', async () => {
      const date = new Date();
      const payload = Buffer.from(JSON.stringify(peerEnvelope));
      const headers = new Headers({
        'webhook-id': 'msg_peer_now',
        'webhook-timestamp': String(Math.floor(date.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign('msg_peer_now', date, payload),
      });
      expect(await outcomeOf(() => verify({ body: payload, headers }, { secrets: secret }))).toEqual({ event: { id: 'msg_peer_now', ...peerEnvelope } });
    });

    it('verifies a package signature made with a bare base64 secret', async () => {
      const date = new Date(1_700_000_000_000);
      const bare = secret.slice('whsec_'.length);
      const payload = JSON.stringify(peerEnvelope);
      const headers = { 'webhook-id': 'msg_bare', 'webhook-timestamp': '1700000000', 'webhook-signature': new Webhook(bare).sign('msg_bare', date, payload) };
      expect(await outcomeOf(() => verify({ body: payload, headers }, { secrets: bare, now: date }))).toEqual({ event: { id: 'msg_bare', ...peerEnvelope } });
    });
  });
});

describe('verifyWebhookAsync', () => {
  it('rejects rather than throwing synchronously', async () => {
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = verifyWebhookAsync({ body, headers: {} }, { secrets: [] });
    }).not.toThrow();
    expect(await outcomeOf(() => promise)).toEqual({ code: 'SECRET_INVALID' });
  });
});

describe('verification with many secrets', () => {
  it('keeps verifying after more secrets than the key caches hold', async () => {
    for (let i = 0; i < 80; i++) verifyWebhook({ body, headers: valid }, { secrets: [generateSecret(), secret], now });
    for (let i = 0; i < 80; i++) await verifyWebhookAsync({ body, headers: valid }, { secrets: [generateSecret(), secret], now });
    expect(verifyWebhook({ body, headers: valid }, { secrets: secret, now })).toEqual(expectedEvent);
    expect(await verifyWebhookAsync({ body, headers: valid }, { secrets: secret, now })).toEqual(expectedEvent);
  });
});

describe('verifyWebhook typing', () => {
  it('returns the event type the caller names', () => {
    type PaymentSucceeded = WebhookEvent<'payment.succeeded', { amountMinor: number; currency: string }>;
    const event = verifyWebhook<PaymentSucceeded>({ body, headers: valid }, { secrets: secret, now });
    expectTypeOf(event.type).toEqualTypeOf<'payment.succeeded'>();
    expectTypeOf(event.data.amountMinor).toEqualTypeOf<number>();
    expectTypeOf(verifyWebhookAsync<PaymentSucceeded>).returns.resolves.toEqualTypeOf<PaymentSucceeded>();
    expect(event.data.amountMinor).toBe(1250);
  });
});

describe('verifyWebhook in a runtime without node:crypto', () => {
  it('throws CONFIG_INVALID, pointing to verifyWebhookAsync, which still works', async () => {
    const processWithBuiltins = process as { getBuiltinModule?: unknown };
    const original = processWithBuiltins.getBuiltinModule;
    vi.resetModules();
    processWithBuiltins.getBuiltinModule = undefined;
    try {
      // A fresh copy of the entry, so that no node:crypto is cached from earlier tests.
      const receiver = await import('../../src/receiver/index.js');
      expect(await outcomeOf(() => receiver.verifyWebhook({ body, headers: valid }, { secrets: secret, now }))).toEqual({ code: 'CONFIG_INVALID' });
      expect(await outcomeOf(() => receiver.verifyWebhookAsync({ body, headers: valid }, { secrets: secret, now }))).toEqual({ event: expectedEvent });
    } finally {
      processWithBuiltins.getBuiltinModule = original;
      vi.resetModules();
    }
  });
});

describe('the receiver entry', () => {
  const entry = fileURLToPath(new URL('../../src/receiver/index.ts', import.meta.url));
  // Runtime dependencies of the rest of the package, the frameworks the adapters serve,
  // and optional integrations: none may be loaded by the receiver entry itself.
  const forbiddenPackages = [
    'zod',
    'pg',
    'better-sqlite3',
    'undici',
    'ky',
    'p-retry',
    'eventemitter3',
    'express',
    'fastify',
    'hono',
    '@hono/node-server',
    '@opentelemetry/api',
    'redis',
    'ioredis',
  ];

  /** The inbox runs on the consumer's database: opt-in, budgeted on its own, and absent from a bundle that does not import it. */
  const inboxExports = ['createSqlInbox', 'inboxMigrationSql', 'DEFAULT_INBOX_TABLE'];

  /** Bundles the entry, or only the named exports of it (as an app importing just those would). */
  function bundle(minify: boolean, only?: readonly string[]) {
    return build({
      ...(only === undefined
        ? { entryPoints: [entry] }
        : { stdin: { contents: `export { ${only.join(', ')} } from ${JSON.stringify(entry)};`, resolveDir: dirname(entry), loader: 'ts' as const } }),
      bundle: true,
      write: false,
      platform: 'neutral',
      format: 'esm',
      minify,
      metafile: true,
      logLevel: 'silent',
      // Marked external so that an offending import shows up by name below instead of failing to resolve.
      external: ['node:*', ...builtinModules, ...forbiddenPackages.flatMap((name) => [name, `${name}/*`])],
    });
  }

  it('bundles for a neutral platform without any node: import, zod, storage driver, framework or optional integration', async () => {
    const result = await bundle(false);
    const inputs = Object.entries(result.metafile.inputs);
    const imports = inputs.flatMap(([, input]) => input.imports.map((imported) => imported.path));
    const isForbidden = (path: string): boolean =>
      path.startsWith('node:') || builtinModules.includes(path) || forbiddenPackages.some((name) => path === name || path.startsWith(`${name}/`));
    expect(imports.filter(isForbidden)).toEqual([]);
    expect(inputs.map(([path]) => path).filter((path) => path.includes('node_modules'))).toEqual([]);
    // The sender's signer imports node:crypto statically; the receiver must never reach it.
    expect(inputs.map(([path]) => path).filter((path) => path.includes('sign-webhook'))).toEqual([]);
    // The typed router names the zod catalog's types only: nothing of src/events/ may be loaded.
    expect(inputs.map(([path]) => path).filter((path) => path.includes('src/events/'))).toEqual([]);
    expect(inputs.map(([path]) => path).some((path) => path.endsWith('verify-signature.ts'))).toBe(true);
    expect(inputs.map(([path]) => path).some((path) => path.endsWith('express-middleware.ts'))).toBe(true);
  });

  // Measured: 23.8 kB minified and 8.4 kB gzipped with every adapter at first; 26.1 and 9.2
  // before pullMissed; 32.6 and 11.1 with it and the stale-event check (verifyWebhookAsync alone,
  // tree-shaken: 4.1 kB gzipped; a consumer carries only what it imports); 33.96 and 11.58 once
  // every verifier reads the ordering key and `webhook-sequence` (+1.0 kB, +0.3 kB gzipped, most
  // of it the coded refusals' messages); 36.2 and 12.2 with the router's `ordering` (its rule and
  // option checks ride with createWebhookRouter; the memory store alone is 0.85 kB gzipped); 38.76
  // and 13.0 once every verifier takes `whpk_…` keys and checks `v1a` (Ed25519) entries on
  // node:crypto and Web Crypto; 39.21 and 13.2 once a stale event passes the router's ordering
  // rule, a duplicate by number releases its id, pullMissed takes every receiver option and a
  // non-string envelope timestamp is refused; 39.29 and 13.3 once pullMissed bounds a page in
  // time and bytes, stops at a cursor it stood at before, and dedupes the pulls of a
  // subscription's feed in one store per process when given none; 40.11 and 13.57 once pullMissed
  // verifies a page as it arrives (a slow onEvent aged its last events past the tolerance) and
  // refuses credentials in feedUrl and headers fetch cannot send before any request. The svix
  // package adds ~1 MB.
  it('stays under 13.7 kB minified and gzipped with everything but the inbox: every verifier and adapter, pullMissed, the router, the dedupe store', async () => {
    const receiver = await import('../../src/receiver/index.js');
    const result = await bundle(true, Object.keys(receiver).filter((name) => !inboxExports.includes(name)));
    const output = result.outputFiles[0]!.contents;
    const gzippedBytes = gzipSync(output, { level: 9 }).byteLength;
    expect(output.byteLength).toBeLessThan(40_300);
    expect(gzippedBytes).toBeLessThan(13_700);
    const included = Object.entries(Object.values(result.metafile.outputs)[0]!.inputs).filter(([, input]) => input.bytesInOutput > 0);
    expect(included.map(([path]) => path).filter((path) => /inbox/.test(path))).toEqual([]);
  });

  // Measured when written: 11.4 kB minified, 4.2 kB gzipped, the error classes it shares with the rest included.
  it('keeps the inbox under 5 kB gzipped when imported alone', async () => {
    const result = await bundle(true, ['createSqlInbox', 'inboxMigrationSql']);
    const output = result.outputFiles[0]!.contents;
    expect(output.byteLength).toBeLessThan(13_000);
    expect(gzipSync(output, { level: 9 }).byteLength).toBeLessThan(5_000);
  });
});
