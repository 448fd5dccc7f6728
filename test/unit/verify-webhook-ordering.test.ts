/**
 * The ordering key and sequence on the receiving side: every verifier returns the signed
 * envelope's `orderingKey` with the unsigned `webhook-sequence` header's number beside it
 * (`null` without the header), and neither key for an event without an ordering key. A
 * malformed or repeated-and-different sequence, or one on an event without a key, is
 * `WEBHOOK_SEQUENCE_INVALID`; an `orderingKey` that is not a non-empty string makes the
 * envelope malformed (`WEBHOOK_INVALID_PAYLOAD`); a tampered key fails on its signature.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  createWebhookReceiver,
  verifyWebRequest,
  verifyWebhook,
  verifyWebhookAsync,
  type VerifyWebhookOptions,
  type WebhookEvent,
  type WebhookHeaders,
  type WebhookMessage,
} from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';
import { outcomeOf } from '../support/outcome.js';

const secret = generateSecret();
const nowSeconds = 1_750_000_000;
const now = new Date(nowSeconds * 1000);
const id = 'evt_01JXYZ0000000000000000000C';
const timestamp = '2025-06-15T15:06:40.000Z';
const data = { paymentId: 'pay_1', amountMinor: 1250, currency: 'EUR' };

/** A signed message whose envelope has `orderingKey` (unless `undefined`), with extra headers. */
function message(orderingKey: unknown, headers: Record<string, string | string[]> = {}): WebhookMessage {
  const body = JSON.stringify(orderingKey === undefined ? { id, type: 'payment.succeeded', timestamp, data } : { id, type: 'payment.succeeded', timestamp, orderingKey, data });
  return {
    body,
    headers: { 'webhook-id': id, 'webhook-timestamp': String(nowSeconds), 'webhook-signature': signWebhook({ id, timestamp: nowSeconds, body, secrets: secret }), ...headers },
  };
}

/** The same message with its headers as a Fetch `Headers` (a repeated header appended, as Fetch joins it). */
function withFetchHeaders({ body, headers }: WebhookMessage): WebhookMessage {
  const fetchHeaders = new Headers();
  for (const [name, value] of Object.entries(headers as Record<string, string | string[]>)) {
    for (const one of [value].flat()) fetchHeaders.append(name, one);
  }
  return { body, headers: fetchHeaders as WebhookHeaders };
}

function toRequest({ body, headers }: WebhookMessage): Request {
  return new Request('https://consumer.example.com/webhooks', { method: 'POST', body: body as string, headers: withFetchHeaders({ body, headers }).headers as Headers });
}

type Verify = (message: WebhookMessage, options: VerifyWebhookOptions) => Promise<unknown>;

const verifiers: Array<[string, Verify]> = [
  ['verifyWebhook', async (m, o) => verifyWebhook(m, o)],
  ['verifyWebhook with Fetch Headers', async (m, o) => verifyWebhook(withFetchHeaders(m), o)],
  ['verifyWebhookAsync', (m, o) => verifyWebhookAsync(m, o)],
  ['verifyWebRequest', (m, o) => verifyWebRequest(toRequest(m), o)],
  // A receiver takes no `now`: the fixed timestamp passes a wide tolerance instead.
  [
    'createWebhookReceiver',
    async (m, { now: _now, ...o }) => (await createWebhookReceiver({ ...o, toleranceSeconds: 1e9, logger: false, onEvent: () => undefined }).receive(m)).event,
  ],
];

const verifyOptions = { secrets: secret, now };

describe.each(verifiers)('%s', (_name, verify) => {
  it('returns the signed orderingKey and the number from webhook-sequence', async () => {
    expect(await outcomeOf(() => verify(message('pay_1', { 'webhook-sequence': '7' }), verifyOptions))).toEqual({
      event: { id, type: 'payment.succeeded', timestamp, orderingKey: 'pay_1', sequence: 7, data },
    });
  });

  it('takes the largest safe sequence number', async () => {
    expect(await outcomeOf(() => verify(message('pay_1', { 'webhook-sequence': String(Number.MAX_SAFE_INTEGER) }), verifyOptions))).toMatchObject({
      event: { sequence: Number.MAX_SAFE_INTEGER },
    });
  });

  it('gives sequence null for a keyed event without webhook-sequence (a forwarded or replayed copy)', async () => {
    const outcome = (await outcomeOf(() => verify(message('pay_1'), verifyOptions))) as { event: WebhookEvent };
    expect(outcome).toEqual({ event: { id, type: 'payment.succeeded', timestamp, orderingKey: 'pay_1', sequence: null, data } });
    expect(outcome.event.sequence).toBeNull();
  });

  it('has neither key for an event without an ordering key', async () => {
    const outcome = (await outcomeOf(() => verify(message(undefined), verifyOptions))) as { event: WebhookEvent };
    expect(outcome).toEqual({ event: { id, type: 'payment.succeeded', timestamp, data } });
    expect(Object.keys(outcome.event)).not.toContain('orderingKey');
    expect(Object.keys(outcome.event)).not.toContain('sequence');
  });

  it('accepts a repeated webhook-sequence whose copies are equal', async () => {
    expect(await outcomeOf(() => verify(message('pay_1', { 'webhook-sequence': ['5', '5'] }), verifyOptions))).toMatchObject({ event: { sequence: 5 } });
  });

  it.each([
    ['zero', '0'],
    ['negative', '-1'],
    ['with a leading zero', '07'],
    ['a fraction', '1.5'],
    ['in exponent form', '1e3'],
    ['hexadecimal', '0x10'],
    ['with a space inside', '5 6'],
    ['past the safe integers', '9007199254740992'],
    ['seventeen digits', '10000000000000000'],
    ['a word', 'five'],
    ['two numbers in one value', '5,6'],
  ])('refuses a webhook-sequence %s with WEBHOOK_SEQUENCE_INVALID', async (_case, sequence) => {
    expect(await outcomeOf(() => verify(message('pay_1', { 'webhook-sequence': sequence }), verifyOptions))).toEqual({ code: 'WEBHOOK_SEQUENCE_INVALID' });
  });

  it('refuses a webhook-sequence repeated with different values with WEBHOOK_SEQUENCE_INVALID', async () => {
    expect(await outcomeOf(() => verify(message('pay_1', { 'webhook-sequence': ['5', '6'] }), verifyOptions))).toEqual({ code: 'WEBHOOK_SEQUENCE_INVALID' });
  });

  it('refuses a webhook-sequence on an event without an ordering key with WEBHOOK_SEQUENCE_INVALID', async () => {
    expect(await outcomeOf(() => verify(message(undefined, { 'webhook-sequence': '1' }), verifyOptions))).toEqual({ code: 'WEBHOOK_SEQUENCE_INVALID' });
  });

  it('takes an empty webhook-sequence as no header', async () => {
    expect(await outcomeOf(() => verify(message(undefined, { 'webhook-sequence': '' }), verifyOptions))).toEqual({
      event: { id, type: 'payment.succeeded', timestamp, data },
    });
    expect(await outcomeOf(() => verify(message('pay_1', { 'webhook-sequence': '' }), verifyOptions))).toMatchObject({ event: { sequence: null } });
  });

  it.each([
    ['empty', ''],
    ['a number', 42],
    ['null', null],
    ['an object', { id: 'pay_1' }],
  ])('refuses an envelope whose orderingKey is %s with WEBHOOK_INVALID_PAYLOAD', async (_case, orderingKey) => {
    expect(await outcomeOf(() => verify(message(orderingKey, { 'webhook-sequence': '1' }), verifyOptions))).toEqual({ code: 'WEBHOOK_INVALID_PAYLOAD' });
  });

  it('takes a key of a sender with other rules: the shape is what is checked', async () => {
    const orderingKey = `account:${'é'.repeat(300)}`;
    expect(await outcomeOf(() => verify(message(orderingKey, { 'webhook-sequence': '1' }), verifyOptions))).toMatchObject({ event: { orderingKey } });
  });

  it('checks the signature first: a tampered orderingKey fails on its signature, a malformed sequence too', async () => {
    const signed = message('pay_1', { 'webhook-sequence': 'not-a-number' });
    const tampered = { ...signed, body: (signed.body as string).replace('"orderingKey":"pay_1"', '"orderingKey":"pay_2"') };
    expect(await outcomeOf(() => verify(tampered, verifyOptions))).toEqual({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
  });

  it('does not sign webhook-sequence: a changed number still verifies, and is what the event says', async () => {
    expect(await outcomeOf(() => verify(message('pay_1', { 'webhook-sequence': '9' }), verifyOptions))).toMatchObject({ event: { sequence: 9 } });
  });
});

// Fetch `Headers` (and Node's HTTP parser) strip the spaces around a value; a plain object keeps them.
it('refuses a webhook-sequence padded with a space in a plain header object', () => {
  expect(() => verifyWebhook(message('pay_1', { 'webhook-sequence': ' 5' }), verifyOptions)).toThrow(expect.objectContaining({ code: 'WEBHOOK_SEQUENCE_INVALID' }));
});

it('refuses two spellings of webhook-sequence with different values in a plain header object', () => {
  const signed = message('pay_1', { 'webhook-sequence': '5', 'Webhook-Sequence': '6' });
  expect(() => verifyWebhook(signed, verifyOptions)).toThrow(expect.objectContaining({ code: 'WEBHOOK_SEQUENCE_INVALID' }));
});

it('types orderingKey as an optional string and sequence as an optional number or null', () => {
  expectTypeOf<WebhookEvent['orderingKey']>().toEqualTypeOf<string | undefined>();
  expectTypeOf<WebhookEvent['sequence']>().toEqualTypeOf<number | null | undefined>();
});
