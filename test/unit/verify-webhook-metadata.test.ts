/**
 * The envelope's `metadata` on the receiving side: every verifier returns it, as signed, when
 * the envelope has it, and has no such key when it has none; a `metadata` that is not an
 * object of strings makes the envelope malformed (`WEBHOOK_INVALID_PAYLOAD`), as a non-string
 * `type` does; a tampered one fails on its signature.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  createWebhookReceiver,
  verifyWebRequest,
  verifyWebhook,
  verifyWebhookAsync,
  type VerifyWebhookOptions,
  type WebhookEvent,
  type WebhookMessage,
} from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';
import { outcomeOf } from '../support/outcome.js';

const secret = generateSecret();
const nowSeconds = 1_750_000_000;
const now = new Date(nowSeconds * 1000);
const id = 'evt_01JXYZ0000000000000000000B';
const timestamp = '2025-06-15T15:06:40.000Z';
const data = { amountMinor: 1250, currency: 'EUR' };

/** A signed message whose envelope has `metadata` (or none). */
function message(metadata: unknown): WebhookMessage {
  const body = JSON.stringify(metadata === undefined ? { id, type: 'payment.succeeded', timestamp, data } : { id, type: 'payment.succeeded', timestamp, metadata, data });
  return { body, headers: { 'webhook-id': id, 'webhook-timestamp': String(nowSeconds), 'webhook-signature': signWebhook({ id, timestamp: nowSeconds, body, secrets: secret }) } };
}

function toRequest({ body, headers }: WebhookMessage): Request {
  return new Request('https://consumer.example.com/webhooks', { method: 'POST', body: body as string, headers: headers as Record<string, string> });
}

type Verify = (message: WebhookMessage, options: VerifyWebhookOptions) => Promise<unknown>;

const verifiers: Array<[string, Verify]> = [
  ['verifyWebhook', async (m, o) => verifyWebhook(m, o)],
  ['verifyWebhookAsync', (m, o) => verifyWebhookAsync(m, o)],
  ['verifyWebRequest', (m, o) => verifyWebRequest(toRequest(m), o)],
  // A receiver takes no `now`: the fixed timestamp passes a wide tolerance instead.
  [
    'createWebhookReceiver',
    async (m, { now: _now, ...o }) => (await createWebhookReceiver({ ...o, toleranceSeconds: 1e9, logger: false, onEvent: () => undefined }).receive(m)).event,
  ],
];

describe.each(verifiers)('%s', (_name, verify) => {
  it('returns the signed metadata, keys in the order sent', async () => {
    const outcome = (await outcomeOf(() => verify(message({ region: 'eu', source: 'pos', empty: '' }), { secrets: secret, now }))) as { event: WebhookEvent };
    expect(outcome).toEqual({ event: { id, type: 'payment.succeeded', timestamp, metadata: { region: 'eu', source: 'pos', empty: '' }, data } });
    expect(Object.keys(outcome.event.metadata!)).toEqual(['region', 'source', 'empty']);
  });

  it('has no metadata key for an envelope without one', async () => {
    const outcome = (await outcomeOf(() => verify(message(undefined), { secrets: secret, now }))) as { event: WebhookEvent };
    expect(outcome).toEqual({ event: { id, type: 'payment.succeeded', timestamp, data } });
    expect(Object.keys(outcome.event)).not.toContain('metadata');
  });

  it('takes keys and values of a sender with other rules: the shape is what is checked', async () => {
    const metadata = { 'a.b': 'x'.repeat(600), 'ключ': 'значение' };
    expect(await outcomeOf(() => verify(message(metadata), { secrets: secret, now }))).toMatchObject({ event: { metadata } });
  });

  it.each([
    ['null', null],
    ['a string', 'eu'],
    ['an array', ['eu']],
    ['a number value', { region: 1 }],
    ['a null value', { region: null }],
    ['an object value', { region: { code: 'eu' } }],
  ])('refuses an envelope whose metadata is %s with WEBHOOK_INVALID_PAYLOAD', async (_case, metadata) => {
    expect(await outcomeOf(() => verify(message(metadata), { secrets: secret, now }))).toEqual({ code: 'WEBHOOK_INVALID_PAYLOAD' });
  });

  it('checks the signature first: tampered metadata fails on its signature', async () => {
    const signed = message({ region: 'eu' });
    const tampered = { ...signed, body: (signed.body as string).replace('"region":"eu"', '"region":"us"') };
    expect(await outcomeOf(() => verify(tampered, { secrets: secret, now }))).toEqual({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
  });
});

it('types metadata as optional strings on a verified event', () => {
  expectTypeOf<WebhookEvent['metadata']>().toEqualTypeOf<Record<string, string> | undefined>();
});
