/**
 * One attempt, without the dispatcher's loop: what is posted (headers, signature, body)
 * and, for each way a receiver or transport can answer, the settlement it yields.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { attemptDelivery, type AttemptOptions } from '../../src/delivery/attempt-delivery.js';
import type { RetryContext, RetryPolicy } from '../../src/delivery/backoff.js';
import type { SubscriptionSigningKeys } from '../../src/delivery/signing-key-cache.js';
import type { Transport, TransportRequest, TransportResult } from '../../src/delivery/transport.js';
import { createPayloadCodec, plainPayloadCodec } from '../../src/payload-codec.js';
import { createSigningKeys, signWebhook } from '../../src/signing/sign-webhook.js';
import { generateSecret } from '../../src/signing/secret.js';
import type { ClaimedDelivery, Settlement, SubscriptionRecord } from '../../src/storage/storage-adapter.js';
import { FakeClock } from '../support/fake-clock.js';
import { recordingLogger } from '../support/recording-logger.js';
import { subscriptionAt } from '../support/storage-records.js';

const START = Date.UTC(2026, 10, 26, 12, 0, 0, 250);
const HOUR = 3_600_000;
const secret = generateSecret();
const signing = { keys: createSigningKeys([secret]), keysError: null };
const payload = JSON.stringify({ id: 'evt_1', type: 'payment.succeeded', timestamp: '2026-11-26T11:59:00.000Z', data: { amount: 1230 } });
// Two attempts in all: one wait of 10 s, no jitter, so every outcome is exact.
const policy: RetryPolicy = { kind: 'schedule', delaysMs: [10_000], jitter: 0 };

/** A transport that answers every post with `answer` after `tookMs` on the fake clock, keeping what it was sent. */
class FakeTransport implements Transport {
  readonly sent: TransportRequest[] = [];
  constructor(
    private readonly clock: FakeClock,
    private readonly answer: TransportResult | Error,
    private readonly tookMs = 40,
  ) {}
  async send(request: TransportRequest): Promise<TransportResult> {
    this.sent.push(request);
    await this.clock.advance(this.tookMs);
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }
  async close(): Promise<void> {}
}

function claimedDelivery(attemptsSoFar = 0, subscription: Partial<SubscriptionRecord> = {}, eventTenantId: string | null = null): ClaimedDelivery {
  return {
    delivery: {
      id: 'dlv_1',
      eventId: 'evt_1',
      eventType: 'payment.succeeded',
      subscriptionId: 'sub_1',
      tenantId: null,
      status: 'pending',
      attempts: attemptsSoFar,
      nextAttemptAt: START,
      orderingKey: null,
      orderingSequence: null,
      lastAttemptAt: null,
      lastStatusCode: null,
      lastError: null,
      deliveredAt: null,
      leaseExpiresAt: START + 60_000,
      createdAt: START - 60_000,
      updatedAt: START - 60_000,
    },
    history: { attempts: attemptsSoFar, firstFailedAt: null, recoveredAt: null },
    event: { id: 'evt_1', type: 'payment.succeeded', timestamp: START - 60_000, payload, idempotencyKey: null, tenantId: eventTenantId, orderingKey: null, expungedAt: null },
    subscription: subscriptionAt(START - HOUR, { id: 'sub_1', secrets: [{ value: secret, createdAt: START - HOUR, expiresAt: null }], ...subscription }),
    leaseToken: 'lease_1',
  };
}

/** Attempts `claimed` with the keys given and its stored headers as the cache opens them (none sealed here). */
function attempt(claimed: ClaimedDelivery, options: AttemptOptions, keys: Pick<SubscriptionSigningKeys, 'keys' | 'keysError'> = signing, headersError: string | null = null): Promise<Settlement> {
  const headers = headersError === null ? claimed.subscription.headers : null;
  return attemptDelivery(claimed, { ...keys, headers, headersError, tls: null, tlsError: null }, options);
}

function setup(answer: TransportResult | Error, tookMs?: number, tenantHeader: string | null = null) {
  const clock = new FakeClock(START);
  const transport = new FakeTransport(clock, answer, tookMs);
  const log = recordingLogger();
  const options: AttemptOptions = {
    logger: log.logger,
    proxy: null,
    transport,
    clock,
    random: () => {
      throw new Error('random must not be consulted without jitter');
    },
    retry: policy,
    guard: null,
    timeoutMs: 15_000,
    maxResponseBytes: 64 * 1024,
    responseSnippetBytes: 1024,
    maxRetryAfterMs: HOUR,
    userAgent: 'bookkeeper-webhooks/test',
    tenantHeader,
    environment: null,
    payloadCodec: plainPayloadCodec,
  };
  return { clock, transport, options, log };
}

const response = (statusCode: number, body = '', retryAfter: string | null = null): TransportResult => ({ kind: 'response', statusCode, retryAfter, body });

describe('attemptDelivery', () => {
  it('posts the payload signed for this attempt, with the subscription headers beside the library’s own', async () => {
    const { transport, options } = setup(response(204));
    const claimed = claimedDelivery(0, { headers: { 'x-tenant': 'acme', 'Webhook-Signature': 'forged', 'content-type': 'text/plain' } });
    await attempt(claimed, options);
    expect(transport.sent).toHaveLength(1);
    const [request] = transport.sent;
    const timestamp = Math.floor(START / 1000);
    expect(request!.url).toBe('https://erp.example.com/hooks');
    expect(request!.body).toBe(payload);
    expect(request!.headers).toEqual({
      'x-tenant': 'acme',
      'content-type': 'application/json',
      'user-agent': 'bookkeeper-webhooks/test',
      'webhook-id': 'evt_1',
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook({ id: 'evt_1', timestamp, body: payload, secrets: secret }),
    });
    expect(request).toMatchObject({ timeoutMs: 15_000, maxResponseBytes: 64 * 1024, guard: null });
  });

  it('sends the number of an ordered delivery in webhook-sequence, and no such header for an unordered one', async () => {
    const { transport, options } = setup({ kind: 'response', statusCode: 204, retryAfter: null, body: '' });
    const plain = claimedDelivery();
    const ordered = { ...plain, delivery: { ...plain.delivery, orderingKey: 'acct_1', orderingSequence: 7 } };
    await attempt(plain, options);
    await attempt(ordered, options);
    expect(transport.sent.map((request) => request.headers['webhook-sequence'])).toEqual([undefined, '7']);
  });

  it('names the claimed delivery’s ordering key in its settlement (Settlement.orderingKey), null for an unordered one', async () => {
    const { options } = setup({ kind: 'response', statusCode: 204, retryAfter: null, body: '' });
    const plain = claimedDelivery();
    const ordered = { ...plain, delivery: { ...plain.delivery, orderingKey: 'acct_1', orderingSequence: 7 } };
    expect((await attempt(plain, options)).orderingKey).toBeNull();
    expect((await attempt(ordered, options)).orderingKey).toBe('acct_1');
  });

  describe('with security.payloadKey', () => {
    const payloadCodec = createPayloadCodec([{ id: 'k1', key: randomBytes(32).toString('base64') }]);
    const sealedClaim = (sealed: string) => {
      const claimed = claimedDelivery();
      return { ...claimed, event: { ...claimed.event, payload: sealed } };
    };

    it('opens the stored payload and posts and signs the payload as published, byte for byte', async () => {
      const { transport, options } = setup(response(204));
      const sealed = payloadCodec.seal(payload, 'evt_1');
      expect(sealed).not.toContain('amount');
      await attempt(sealedClaim(sealed), { ...options, payloadCodec });
      const timestamp = Math.floor(START / 1000);
      expect(transport.sent[0]!.body).toBe(payload);
      expect(transport.sent[0]!.headers['webhook-signature']).toBe(signWebhook({ id: 'evt_1', timestamp, body: payload, secrets: secret }));
    });

    it('posts nothing when the stored payload does not open, and settles a config failure naming the event, not the payload', async () => {
      const { transport, options } = setup(response(200));
      const otherKey = createPayloadCodec([{ id: 'k2', key: randomBytes(32).toString('base64') }]);
      for (const [stored, codec] of [
        [otherKey.seal(payload, 'evt_1'), payloadCodec],
        [payloadCodec.seal(payload, 'evt_2'), payloadCodec],
        [payloadCodec.seal(payload, 'evt_1'), plainPayloadCodec],
      ] as const) {
        const settlement = await attempt(sealedClaim(stored), { ...options, payloadCodec: codec });
        expect(settlement.outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 10_000 });
        expect(settlement.attempt).toMatchObject({ statusCode: null, errorClass: 'config', errorMessage: expect.stringContaining('evt_1') });
        expect(settlement.attempt.errorMessage).not.toContain('amount');
      }
      expect(transport.sent).toHaveLength(0);
    });
  });

  describe('with a tenant header configured', () => {
    const timestamp = Math.floor(START / 1000);
    const signature = signWebhook({ id: 'evt_1', timestamp, body: payload, secrets: secret });

    it('sends the event\'s tenant in it, the body and its signature as without it', async () => {
      const { transport, options } = setup(response(204), undefined, 'x-tenant-id');
      await attempt(claimedDelivery(0, { tenantId: 'org_1' }, 'org_1'), options);
      const [request] = transport.sent;
      expect(request!.headers['x-tenant-id']).toBe('org_1');
      expect(request!.body).toBe(payload);
      expect(request!.headers['webhook-signature']).toBe(signature);
    });

    it('sends it for the event\'s tenant to an all-tenant consumer, whose subscription has none', async () => {
      const { transport, options } = setup(response(204), undefined, 'x-tenant-id');
      await attempt(claimedDelivery(0, { tenantId: null, allTenants: true }, 'org_2'), options);
      expect(transport.sent[0]!.headers['x-tenant-id']).toBe('org_2');
    });

    it('sends none for an event without a tenant', async () => {
      const { transport, options } = setup(response(204), undefined, 'x-tenant-id');
      await attempt(claimedDelivery(), options);
      expect(Object.keys(transport.sent[0]!.headers)).not.toContain('x-tenant-id');
      expect(transport.sent[0]!.headers['webhook-signature']).toBe(signature);
    });

    it('never sends a subscription\'s own header of that name, in any case, for an event with a tenant or without', async () => {
      const { transport, options } = setup(response(204), undefined, 'x-tenant-id');
      const spoofing = { tenantId: 'org_1', headers: { 'X-Tenant-Id': 'org_2', 'x-other': 'kept' } };
      await attempt(claimedDelivery(0, spoofing, 'org_1'), options);
      await attempt(claimedDelivery(0, { headers: { 'X-Tenant-Id': 'org_2' } }), options);
      expect(transport.sent[0]!.headers).toMatchObject({ 'x-tenant-id': 'org_1', 'x-other': 'kept' });
      expect(Object.keys(transport.sent[0]!.headers)).not.toContain('X-Tenant-Id');
      expect(Object.keys(transport.sent[1]!.headers).map((name) => name.toLowerCase())).not.toContain('x-tenant-id');
    });
  });

  it('sends no tenant header without one configured, even for an event with a tenant', async () => {
    const { transport, options } = setup(response(204));
    await attempt(claimedDelivery(0, { tenantId: 'org_1' }, 'org_1'), options);
    expect(Object.values(transport.sent[0]!.headers)).not.toContain('org_1');
  });

  it('settles a 2xx as delivered, fenced by the lease token, with the attempt timed from its start', async () => {
    const { options } = setup(response(200, 'ok'));
    const settlement = await attempt(claimedDelivery(), options);
    expect(settlement).toEqual({
      deliveryId: 'dlv_1',
      leaseToken: 'lease_1',
      outcome: { kind: 'delivered' },
      orderingKey: null,
      attempt: {
        id: expect.stringMatching(/^att_/),
        startedAt: START,
        durationMs: expect.any(Number),
        statusCode: 200,
        errorClass: null,
        errorMessage: null,
        responseSnippet: 'ok',
      },
    });
  });

  it('settles a 410 as disabling the subscription', async () => {
    const { options } = setup(response(410, 'gone'));
    const settlement = await attempt(claimedDelivery(), options);
    expect(settlement.outcome).toEqual({ kind: 'disable', reason: 'the endpoint answered 410 Gone' });
    expect(settlement.attempt).toMatchObject({ statusCode: 410, errorClass: 'http', errorMessage: 'HTTP 410 Gone', responseSnippet: 'gone' });
  });

  it('settles a 500 as a retry on the schedule, counted from the end of the attempt', async () => {
    const { options } = setup(response(500), 40);
    const settlement = await attempt(claimedDelivery(), options);
    expect(settlement.outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 40 + 10_000 });
    expect(settlement.attempt).toMatchObject({ statusCode: 500, errorClass: 'http', errorMessage: 'HTTP 500', responseSnippet: null });
  });

  it('settles a 503 with Retry-After as a retry at that time, clamped to maxRetryAfterMs', async () => {
    const { options } = setup(response(503, '', '120'), 0);
    expect((await attempt(claimedDelivery(), options)).outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 120_000 });
    const clamped = setup(response(429, '', String(48 * 3600)), 0);
    expect((await attempt(claimedDelivery(), clamped.options)).outcome).toEqual({ kind: 'retry', nextAttemptAt: START + HOUR });
  });

  it('settles the last attempt the policy allows as dead', async () => {
    const { options } = setup(response(502));
    const settlement = await attempt(claimedDelivery(1), options);
    expect(settlement.outcome).toEqual({ kind: 'dead' });
    expect(settlement.attempt).toMatchObject({ statusCode: 502, errorClass: 'http' });
  });

  it('retries on the subscription’s own policy as stored, rather than the global one', async () => {
    const { options } = setup(response(500), 0);
    const own = claimedDelivery(0, { retry: { delaysMs: [1_000, 2_000] } });
    expect((await attempt(own, options)).outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 1_000 });
    const second = claimedDelivery(1, { retry: { delaysMs: [1_000, 2_000] } });
    expect((await attempt(second, options)).outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 2_000 });
    const changed = claimedDelivery(1, { retry: { delaysMs: [1_000] } });
    expect((await attempt(changed, options)).outcome).toEqual({ kind: 'dead' });
  });

  it('settles a transport failure as a retry with its error class and no status', async () => {
    const { options } = setup({ kind: 'error', errorClass: 'timeout', message: 'no answer within 15000 ms' }, 0);
    const settlement = await attempt(claimedDelivery(), options);
    expect(settlement.outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 10_000 });
    expect(settlement.attempt).toMatchObject({ statusCode: null, errorClass: 'timeout', errorMessage: 'no answer within 15000 ms', responseSnippet: null });
  });

  it('settles a transport that throws as a network failure', async () => {
    const { options } = setup(new Error('socket hang up'), 0);
    const settlement = await attempt(claimedDelivery(1), options);
    expect(settlement.outcome).toEqual({ kind: 'dead' });
    expect(settlement.attempt).toMatchObject({ statusCode: null, errorClass: 'network', errorMessage: 'socket hang up' });
  });

  it('posts nothing when the subscription has no usable keys, and settles a config failure', async () => {
    const { transport, options } = setup(response(200));
    const settlement = await attempt(claimedDelivery(), options, { keys: null, keysError: 'the secret does not open with security.secretsKey' });
    expect(transport.sent).toHaveLength(0);
    expect(settlement.outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 10_000 });
    expect(settlement.attempt).toMatchObject({ errorClass: 'config', errorMessage: 'the secret does not open with security.secretsKey' });
  });

  it('posts nothing when a sealed header value does not open, and settles a config failure naming the header', async () => {
    const { transport, options } = setup(response(200));
    const message = 'The sealed value of header "Authorization" of subscription sub_1 does not open with `security.secretsKey`';
    const settlement = await attempt(claimedDelivery(0, { headers: { Authorization: 'enc:v1:k1:iv:sealed' } }), options, signing, message);
    expect(transport.sent).toHaveLength(0);
    expect(settlement.outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 10_000 });
    expect(settlement.attempt).toMatchObject({ errorClass: 'config', errorMessage: message });
  });

  it('sends the header values the cache opened, not the stored sealed form', async () => {
    const { transport, options } = setup(response(204));
    const claimed = claimedDelivery(0, { headers: { Authorization: 'enc:v1:k1:iv:sealed' } });
    await attemptDelivery(claimed, { ...signing, headers: { Authorization: 'Bearer opened' }, headersError: null, tls: null, tlsError: null }, options);
    expect(transport.sent[0]!.headers).toMatchObject({ Authorization: 'Bearer opened' });
    expect(JSON.stringify(transport.sent[0]!.headers)).not.toContain('enc:v1:');
  });

  it('keeps only the start of a long response body, cut at a character boundary', async () => {
    // 'a' then two-byte characters: the byte limit (1024 by default) falls inside one of them.
    const { options } = setup(response(500, 'a' + 'é'.repeat(1024)), 0);
    const settlement = await attempt(claimedDelivery(), options);
    expect(settlement.attempt.responseSnippet).toBe('a' + 'é'.repeat(511));
  });

  it.each([
    [0, null],
    [5, 'a' + 'é'.repeat(2)],
    [16_384, 'a' + 'é'.repeat(1_000)],
  ])('keeps %i bytes of the response body with responseSnippetBytes set so', async (bytes, snippet) => {
    const { options } = setup(response(503, 'a' + 'é'.repeat(1_000)), 0);
    const settlement = await attempt(claimedDelivery(), { ...options, responseSnippetBytes: bytes });
    expect(settlement.attempt.responseSnippet).toBe(snippet);
    expect(settlement.attempt.statusCode).toBe(503);
  });

  describe('with a retry function that fails (the host’s bug)', () => {
    // random() = 0.5 puts the default schedule's 10 % jitter at its middle: its exact waits.
    const halfway = () => 0.5;

    it.each([
      ['throws', () => {
        throw new Error('retry-fn-boom');
      }, 'threw'],
      ['returns a promise (an async function)', async () => 10, 'returned a Promise'],
      ['returns a promise that rejects', () => Promise.reject(new Error('late boom')), 'returned a Promise'],
      ['returns NaN', () => Number.NaN, 'returned NaN'],
      ['returns Infinity', () => Number.POSITIVE_INFINITY, 'returned Infinity'],
      ['returns a numeric string', () => '10', 'returned "10"'],
      ['returns a negative number', () => -5, 'returned -5'],
      ['returns undefined', () => undefined, 'returned undefined'],
    ])('when it %s, logs it at error and takes the wait from the default schedule', async (_what, retryFunction, problem) => {
      const { options, log } = setup(response(500), 40);
      const settlement = await attempt(claimedDelivery(0), {
        ...options,
        random: halfway,
        retry: { kind: 'custom', delayMs: retryFunction as never },
      });
      // The first wait of the Standard Webhooks schedule (5 s), counted from the end of the attempt.
      expect(settlement.outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 40 + 5_000 });
      expect(settlement.attempt).toMatchObject({ statusCode: 500, errorClass: 'http', errorMessage: 'HTTP 500' });
      expect(log.errors).toHaveLength(1);
      expect(log.errors[0]!.message).toContain(`the \`retry\` function ${problem}`);
      expect(log.errors[0]!.message).toContain('default schedule');
      expect(log.errors[0]!.fields).toMatchObject({ deliveryId: 'dlv_1', subscriptionId: 'sub_1', attempt: 1 });
      // A promise it returned is not awaited, and its rejection is not left unhandled (vitest fails the run on one).
      await new Promise((resolve) => setImmediate(resolve));
    });

    it('gives up once the default schedule is spent (10 attempts), never retrying in a hot loop', async () => {
      const { options, log } = setup(response(500), 0);
      const throwing = () => {
        throw new Error('retry-fn-boom');
      };
      const tenth = await attempt(claimedDelivery(9), { ...options, random: halfway, retry: { kind: 'custom', delayMs: throwing } });
      expect(tenth.outcome).toEqual({ kind: 'dead' });
      const ninth = await attempt(claimedDelivery(8), { ...options, random: halfway, retry: { kind: 'custom', delayMs: throwing } });
      expect(ninth.outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 24 * HOUR });
      expect(log.errors).toHaveLength(2);
    });

    it('keeps a valid answer as it is, rounded to whole milliseconds and capped at 365 days, without a log line', async () => {
      const { options, log } = setup(response(500), 0);
      const withFunction = (delayMs: (context: RetryContext) => number | null) => ({ ...options, retry: { kind: 'custom', delayMs } as RetryPolicy });
      expect((await attempt(claimedDelivery(0), withFunction(() => 1_500.5))).outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 1_501 });
      expect((await attempt(claimedDelivery(0), withFunction(() => 1e300))).outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 365 * 24 * HOUR });
      expect((await attempt(claimedDelivery(0), withFunction(() => null))).outcome).toEqual({ kind: 'dead' });
      expect(log.errors).toEqual([]);
    });
  });

  it('settles an attempt that fails inside the library (a stored policy that no longer parses) as a failed config attempt, logged, retried on the default schedule', async () => {
    const { transport, options, log } = setup(response(500), 0);
    const corrupt = claimedDelivery(0, { retry: { delaysMs: 'soon' } as never });
    const settlement = await attempt(corrupt, { ...options, random: () => 0.5 });
    expect(transport.sent).toHaveLength(1);
    expect(settlement.outcome).toEqual({ kind: 'retry', nextAttemptAt: START + 5_000 });
    expect(settlement.attempt).toMatchObject({ statusCode: null, errorClass: 'config', errorMessage: expect.stringContaining('the attempt failed inside the library') });
    expect(log.errors).toHaveLength(1);
    expect(log.errors[0]).toMatchObject({ fields: { deliveryId: 'dlv_1', subscriptionId: 'sub_1', attempt: 1 }, message: expect.stringContaining('failed inside the library') });
  });
});
