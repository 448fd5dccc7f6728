import { describe, expect, it } from 'vitest';
import { createWebhooks, type BookkeeperEvents, type LifecycleEvents, type Webhooks, type WebhooksOptions } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { createMemoryStorage } from '../../src/storage/memory/index.js';
import { Webhook } from 'standardwebhooks';
import { FakeClock, flush } from '../support/fake-clock.js';
import { LoopbackReceiver, type Responder } from '../support/loopback-receiver.js';
import { registerCleanups } from '../support/cleanups.js';
import { recordingLogger } from '../support/recording-logger.js';
import { samplePayment } from '../support/sample-payment.js';

const payment = (n = 1) => samplePayment(n);

const cleanups = registerCleanups();

async function setup(options: WebhooksOptions<BookkeeperEvents> = {}, clockStart?: number) {
  const clock = new FakeClock(clockStart);
  const webhooks = createWebhooks({ security: { allowPrivateNetworks: true }, clock, pollIntervalMs: 60_000, ...options });
  cleanups.push(() => webhooks.close());
  return { clock, webhooks };
}

async function receiver(responder?: Responder) {
  const server = await LoopbackReceiver.start(responder);
  cleanups.push(() => server.close());
  return server;
}

/** Resolves with the payload of the next `delivery:*` event of the given name. */
function next<K extends keyof LifecycleEvents>(webhooks: Webhooks, name: K): Promise<LifecycleEvents[K]> {
  return new Promise((resolve) => webhooks.bus.once(name, resolve as never));
}

/** A receiver that holds every request until `release()`, then answers each 204. */
async function heldReceiver() {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const server = await receiver((_request, _index, res) => {
    void gate.then(() => res.writeHead(204).end());
    return 'hang';
  });
  return { server, release: () => open() };
}

describe('delivery over loopback HTTP', () => {
  it('posts the Standard Webhooks envelope with the three headers, verifiable by the receiver helper and the standardwebhooks package', async () => {
    const server = await receiver();
    const { webhooks, clock } = await setup({}, Date.now());
    const { secret } = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    const published = await webhooks.publish('payment.succeeded', payment());
    await server.waitFor(1);
    const [request] = server.requests;
    expect(request!.method).toBe('POST');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['webhook-id']).toBe(published.id);
    expect(request!.headers['webhook-timestamp']).toBe(String(Math.floor(clock.now() / 1000)));
    const event = verifyWebhook({ body: request!.body, headers: request!.headers as Record<string, string> }, { secrets: secret, now: new Date(clock.now()) });
    expect(event).toEqual({ id: published.id, type: 'payment.succeeded', timestamp: published.timestamp, data: payment() });
    // The peer checks the timestamp against the wall clock, which is why this test's fake clock starts at the real time.
    const verified = new Webhook(secret).verify(request!.body.toString(), {
      'webhook-id': request!.headers['webhook-id'] as string,
      'webhook-timestamp': request!.headers['webhook-timestamp'] as string,
      'webhook-signature': request!.headers['webhook-signature'] as string,
    });
    expect(verified).toEqual({ id: published.id, type: 'payment.succeeded', timestamp: published.timestamp, data: payment() });
    await webhooks.drain({ timeoutMs: 5_000 });
    const [delivery] = (await webhooks.deliveries.list()).items;
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, eventId: published.id });
  });

  it("stamps each event with its own millisecond's ISO time in the result and in the stored envelope", async () => {
    const storage = createMemoryStorage();
    const { webhooks, clock } = await setup({ storage }, Date.UTC(2026, 10, 26, 12, 0, 0, 998));
    const stamps: Array<{ expected: string; published: string; stored: string }> = [];
    for (const step of [0, 0, 1, 1, 0, 1_000]) {
      await clock.advance(step);
      const published = await webhooks.publish('payment.succeeded', payment());
      const stored = JSON.parse((await storage.getEvent(published.id))!.payload) as { timestamp: string };
      stamps.push({ expected: new Date(clock.now()).toISOString(), published: published.timestamp, stored: stored.timestamp });
    }
    for (const stamp of stamps) expect(stamp).toEqual({ expected: stamp.expected, published: stamp.expected, stored: stamp.expected });
    expect(stamps.map((s) => s.expected)).toEqual([
      '2026-11-26T12:00:00.998Z',
      '2026-11-26T12:00:00.998Z',
      '2026-11-26T12:00:00.999Z',
      '2026-11-26T12:00:01.000Z',
      '2026-11-26T12:00:01.000Z',
      '2026-11-26T12:00:02.000Z',
    ]);
  });

  it('retries at the scheduled times under an injected clock, with the same webhook-id and a fresh timestamp and signature', async () => {
    const server = await receiver((_request, index) => (index < 2 ? { status: 500, body: 'down' } : undefined));
    const { webhooks, clock } = await setup({ retry: { delaysMs: [5_000, 300_000] } });
    const { secret } = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    const t0 = clock.now();
    const firstFailure = next(webhooks, 'delivery:failed');
    const published = await webhooks.publish('payment.succeeded', payment());
    await server.waitFor(1);
    expect(await firstFailure).toMatchObject({ attempt: 1, statusCode: 500, nextAttemptAt: t0 + 5_000 });

    await clock.advance(4_999);
    expect(server.requests).toHaveLength(1);
    const secondFailure = next(webhooks, 'delivery:failed');
    await clock.advance(1);
    await server.waitFor(2);
    expect(await secondFailure).toMatchObject({ attempt: 2, nextAttemptAt: t0 + 5_000 + 300_000 });

    await clock.advance(299_999);
    expect(server.requests).toHaveLength(2);
    const success = next(webhooks, 'delivery:succeeded');
    await clock.advance(1);
    await server.waitFor(3);
    expect(await success).toMatchObject({ attempt: 3, statusCode: 204 });

    const ids = server.requests.map((request) => request.headers['webhook-id']);
    expect(new Set(ids)).toEqual(new Set([published.id]));
    const timestamps = server.requests.map((request) => Number(request.headers['webhook-timestamp']));
    expect(timestamps).toEqual([t0, t0 + 5_000, t0 + 305_000].map((ms) => Math.floor(ms / 1000)));
    const signatures = server.requests.map((request) => request.headers['webhook-signature']);
    expect(new Set(signatures).size).toBe(3);
    for (const [index, request] of server.requests.entries()) {
      expect(() =>
        verifyWebhook({ body: request.body, headers: request.headers as Record<string, string> }, { secrets: secret, now: new Date(timestamps[index]! * 1000) }),
      ).not.toThrow();
    }
    const [delivery] = (await webhooks.deliveries.list()).items;
    const attempts = await webhooks.deliveries.attempts(delivery!.id);
    expect(attempts.map((attempt) => [attempt.attemptNumber, attempt.startedAt, attempt.statusCode, attempt.outcome])).toEqual([
      [1, t0, 500, 'retry'],
      [2, t0 + 5_000, 500, 'retry'],
      [3, t0 + 305_000, 204, 'delivered'],
    ]);
    expect(attempts[0]).toMatchObject({ errorClass: 'http', responseSnippet: 'down', nextAttemptAt: t0 + 5_000 });
    const metrics = await webhooks.metrics();
    expect(metrics.retrySuccessRate).toBe(1);
    expect(metrics.attemptsByOutcome).toEqual({ delivered: 1, retry: 2, dead: 0, disable: 0 });
  });

  it('marks a delivery dead after the last attempt and emits delivery:dead', async () => {
    const server = await receiver(() => ({ status: 503 }));
    const { webhooks, clock } = await setup({ retry: { delaysMs: [1_000] } });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['*'] });
    await webhooks.start();
    const failed = next(webhooks, 'delivery:failed');
    const dead = next(webhooks, 'delivery:dead');
    await webhooks.publish('refund.initiated', { refundId: 'ref_1', paymentId: 'pay_1', amount: { amount: 500, currency: 'USD' }, reason: 'duplicate', occurredAt: '2026-11-26T12:00:00Z' });
    await failed;
    await clock.advance(1_000);
    await server.waitFor(2);
    expect(await dead).toMatchObject({ attempt: 2, statusCode: 503, errorClass: 'http' });
    const [delivery] = (await webhooks.deliveries.list({ status: 'dead' })).items;
    expect(delivery).toMatchObject({ status: 'dead', attempts: 2 });
    await webhooks.drain({ timeoutMs: 5_000 });
    expect((await webhooks.metrics()).deliveriesDead).toBe(1);
  });

  it.each([
    [undefined, 'Acme Ltd: payment pay_1 booked'],
    [9, 'Acme Ltd:'],
    [0, null],
  ])('keeps http.responseSnippetBytes = %s bytes of what the receiver answered in the attempt log', async (bytes, snippet) => {
    const server = await receiver(() => ({ status: 500, body: 'Acme Ltd: payment pay_1 booked' }));
    const { webhooks } = await setup({ retry: { delaysMs: [] }, ...(bytes === undefined ? {} : { http: { responseSnippetBytes: bytes } }) });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['*'] });
    await webhooks.start();
    const dead = next(webhooks, 'delivery:dead');
    await webhooks.publish('payment.succeeded', payment());
    await dead;
    const [delivery] = (await webhooks.deliveries.list({ status: 'dead' })).items;
    expect((await webhooks.deliveries.attempts(delivery!.id)).map((attempt) => [attempt.statusCode, attempt.responseSnippet])).toEqual([[500, snippet]]);
  });

  it('disables the subscription on 410 Gone, holds its deliveries and stops fanning out to it', async () => {
    const server = await receiver(() => ({ status: 410 }));
    const { webhooks } = await setup();
    const subscription = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    const disabled = next(webhooks, 'subscription:disabled');
    await webhooks.publish('payment.succeeded', payment(1));
    expect(await disabled).toMatchObject({ subscriptionId: subscription.id, reason: expect.stringContaining('410') });
    expect(await webhooks.subscriptions.get(subscription.id)).toMatchObject({ status: 'disabled' });
    const held = await webhooks.deliveries.list({ subscriptionId: subscription.id });
    expect(held.items.map((delivery) => delivery.status)).toEqual(['held']);
    const later = await webhooks.publish('payment.succeeded', payment(2));
    expect(later.deliveryCount).toBe(0);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(server.requests).toHaveLength(1);
  });

  it('honours Retry-After on 429 and 503, clamped to http.maxRetryAfterMs', async () => {
    const server = await receiver((_request, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '120' } } : index === 1 ? { status: 503, headers: { 'retry-after': '999999' } } : undefined,
    );
    const { webhooks, clock } = await setup({ retry: { delaysMs: [5_000, 5_000] }, http: { maxRetryAfterMs: 600_000 } });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    const t0 = clock.now();
    const first = next(webhooks, 'delivery:failed');
    await webhooks.publish('payment.succeeded', payment());
    expect(await first).toMatchObject({ statusCode: 429, nextAttemptAt: t0 + 120_000 });
    await clock.advance(119_999);
    expect(server.requests).toHaveLength(1);
    const second = next(webhooks, 'delivery:failed');
    await clock.advance(1);
    expect(await second).toMatchObject({ statusCode: 503, nextAttemptAt: t0 + 120_000 + 600_000 });
    const success = next(webhooks, 'delivery:succeeded');
    await clock.advance(600_000);
    expect(await success).toMatchObject({ attempt: 3 });
  });

  it('records a receiver that hangs past the timeout as a timeout attempt and keeps dispatching', async () => {
    const server = await receiver((request) => (JSON.parse(request.body.toString()).data.paymentId === 'pay_1' ? 'hang' : undefined));
    const { webhooks } = await setup({ http: { timeoutMs: 200 }, leaseMs: 5_000, retry: { delaysMs: [] } });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    const dead = next(webhooks, 'delivery:dead');
    await webhooks.publish('payment.succeeded', payment(1));
    await webhooks.publish('payment.succeeded', payment(2));
    expect(await dead).toMatchObject({ errorClass: 'timeout', statusCode: null });
    await webhooks.drain({ timeoutMs: 5_000 });
    const statuses = (await webhooks.deliveries.list()).items.map((delivery) => delivery.status).sort();
    expect(statuses).toEqual(['dead', 'delivered']);
  });

  it('does not follow redirects: a 302 is a failed attempt and the target never hears from us', async () => {
    const target = await receiver();
    const server = await receiver(() => ({ status: 302, headers: { location: target.url } }));
    const { webhooks } = await setup({ retry: { delaysMs: [] } });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    const dead = next(webhooks, 'delivery:dead');
    await webhooks.publish('payment.succeeded', payment());
    expect(await dead).toMatchObject({ statusCode: 302, errorClass: 'http' });
    expect(target.requests).toHaveLength(0);
  });

  it('records a refused connection as a connect attempt', async () => {
    const server = await receiver();
    const url = server.url;
    await server.close();
    cleanups.pop();
    const { webhooks } = await setup({ retry: { delaysMs: [] } });
    await webhooks.subscriptions.create({ url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    const dead = next(webhooks, 'delivery:dead');
    await webhooks.publish('payment.succeeded', payment());
    expect(await dead).toMatchObject({ errorClass: 'connect', statusCode: null });
  });

  it('uses a subscription retry policy over the global one', async () => {
    const server = await receiver(() => ({ status: 500 }));
    const { webhooks, clock } = await setup({ retry: { delaysMs: [1_000, 1_000, 1_000] } });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'], retry: { delaysMs: [42_000] } });
    await webhooks.start();
    const t0 = clock.now();
    const failed = next(webhooks, 'delivery:failed');
    await webhooks.publish('payment.succeeded', payment());
    expect(await failed).toMatchObject({ nextAttemptAt: t0 + 42_000 });
    const dead = next(webhooks, 'delivery:dead');
    await clock.advance(42_000);
    expect(await dead).toMatchObject({ attempt: 2 });
  });

  it('signs with both secrets during a rotation overlap and with the new one only afterwards', async () => {
    const server = await receiver();
    const { webhooks, clock } = await setup();
    const created = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    const rotated = await webhooks.subscriptions.rotateSecret(created.id, { overlapMs: 60_000 });
    expect(rotated.secret).not.toBe(created.secret);
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment(1));
    await server.waitFor(1);
    const during = server.requests[0]!;
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const secret of [created.secret, rotated.secret]) {
      expect(() => verifyWebhook({ body: during.body, headers: during.headers as Record<string, string> }, { secrets: secret, now: new Date(clock.now()) })).not.toThrow();
    }
    await clock.advance(60_001);
    await webhooks.publish('payment.succeeded', payment(2));
    await server.waitFor(2);
    const after = server.requests[1]!;
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => verifyWebhook({ body: after.body, headers: after.headers as Record<string, string> }, { secrets: rotated.secret, now: new Date(clock.now()) })).not.toThrow();
    expect(() => verifyWebhook({ body: after.body, headers: after.headers as Record<string, string> }, { secrets: created.secret, now: new Date(clock.now()) })).toThrow(
      expect.objectContaining({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' }),
    );
  });

  it('redelivers a dead delivery on request with a fresh attempt cycle and the same webhook-id', async () => {
    let healthy = false;
    const server = await receiver(() => (healthy ? undefined : { status: 500 }));
    const { webhooks } = await setup({ retry: { delaysMs: [] } });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    const dead = next(webhooks, 'delivery:dead');
    const published = await webhooks.publish('payment.succeeded', payment());
    const { deliveryId } = await dead;
    healthy = true;
    const succeeded = next(webhooks, 'delivery:succeeded');
    const redelivered = await webhooks.deliveries.redeliver(deliveryId);
    expect(redelivered).toMatchObject({ status: 'pending', attempts: 0 });
    // A fresh cycle of the schedule (attempts 0), not a fresh log: the attempt after the dead one is the 2nd.
    expect(await succeeded).toMatchObject({ deliveryId, attempt: 2 });
    expect(server.requests.map((request) => request.headers['webhook-id'])).toEqual([published.id, published.id]);
    expect((await webhooks.deliveries.attempts(deliveryId)).map((attempt) => attempt.outcome)).toEqual(['dead', 'delivered']);
  });

  it('sends custom headers and fans out one delivery per matching subscription', async () => {
    const erp = await receiver();
    const crm = await receiver();
    const { webhooks } = await setup();
    await webhooks.subscriptions.create({ url: erp.url, eventTypes: ['payment.*'], headers: { 'x-tenant': 'acme' } });
    await webhooks.subscriptions.create({ url: crm.url, eventTypes: ['refund.succeeded'] });
    await webhooks.start();
    const { method: _method, ...failed } = payment();
    const published = await webhooks.publish('payment.failed', { ...failed, failureCode: 'card_declined' });
    expect(published.deliveryCount).toBe(1);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(erp.requests).toHaveLength(1);
    expect(erp.requests[0]!.headers['x-tenant']).toBe('acme');
    expect(crm.requests).toHaveLength(0);
  });

  it('returns the first event for a repeated idempotency key and sends it once', async () => {
    const server = await receiver();
    const { webhooks } = await setup();
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    const first = await webhooks.publish('payment.succeeded', payment(1), { idempotencyKey: 'ledger-42' });
    const again = await webhooks.publish('payment.succeeded', payment(2), { idempotencyKey: 'ledger-42' });
    expect(again).toMatchObject({ id: first.id, created: false, deliveryCount: 0, data: payment(1) });
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(server.requests).toHaveLength(1);
  });

  it('stops gracefully: waits for the post in flight, then claims nothing more', async () => {
    const { server, release } = await heldReceiver();
    const { webhooks } = await setup();
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment(1));
    await server.waitFor(1);
    let stopped = false;
    const stopping = webhooks.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect((await webhooks.deliveries.list()).items[0]).toMatchObject({ status: 'delivered' });
    await webhooks.publish('payment.succeeded', payment(2));
    await flush();
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    ['throws', () => {
      throw new Error('retry-fn-boom');
    }, 'threw'],
    ['returns a promise', async () => 10, 'returned a Promise'],
    ['returns NaN', () => Number.NaN, 'returned NaN'],
    ['returns a string', () => '10', 'returned "10"'],
    ['returns a negative number', () => -5, 'returned -5'],
  ])(
    'settles an attempt whose global retry function %s on the default schedule, logged at error, with nothing unhandled and no slot or lease held',
    async (_what, retry, problem) => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      cleanups.push(async () => void process.off('unhandledRejection', onUnhandled));
      const server = await receiver(() => ({ status: 500, body: 'down' }));
      const { logger, errors } = recordingLogger();
      // random() = 0.5: the default schedule's 10 % jitter at its middle, so its waits are exact.
      const { webhooks, clock } = await setup({ retry: retry as never, logger, random: () => 0.5 });
      await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
      await webhooks.start();
      const t0 = clock.now();
      const settled = Promise.race([next(webhooks, 'delivery:failed'), next(webhooks, 'delivery:dead')]);
      await webhooks.publish('payment.succeeded', payment());
      await server.waitFor(1);
      // Bounded on the wall clock only so that a broken build fails here rather than hangs: the waits asserted are the fake clock's.
      const outcome = await Promise.race([settled, new Promise((resolve) => setTimeout(() => resolve('never settled'), 2_000))]);
      expect(outcome).toMatchObject({ attempt: 1, statusCode: 500, nextAttemptAt: t0 + 5_000 });
      // Nothing in flight: drain sees the retry scheduled 5 s (fake clock) ahead, and says so at once.
      await expect(webhooks.drain({ timeoutMs: 0 })).rejects.toMatchObject({ code: 'DRAIN_TIMEOUT' });
      const [delivery] = (await webhooks.deliveries.list()).items;
      expect(delivery).toMatchObject({ status: 'pending', attempts: 1, nextAttemptAt: t0 + 5_000, lastError: 'HTTP 500' });
      expect((await webhooks.metrics()).inFlight).toBe(0);
      expect(errors.map((line) => line.message)).toEqual([expect.stringContaining(`the \`retry\` function ${problem}`)]);
      expect(errors[0]!.fields).toMatchObject({ deliveryId: delivery!.id, attempt: 1 });
      expect(JSON.stringify(errors[0]!.message)).not.toContain('whsec_');
      // The next attempt goes at the default schedule's time, on the injected clock.
      await clock.advance(4_999);
      expect(server.requests).toHaveLength(1);
      await clock.advance(1);
      await server.waitFor(2);
      await webhooks.stop();
      expect(unhandled).toEqual([]);
    },
    10_000,
  );

  it('drain times out with DRAIN_TIMEOUT at its deadline while a post is in flight, and the post goes on', async () => {
    const { server, release } = await heldReceiver();
    const { webhooks } = await setup();
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment());
    await server.waitFor(1);
    // drain's timeout is on the wall clock (it is an observer, not a schedule). The bound only
    // turns a drain that waits for the post into a failure here rather than a hang.
    const bound = setTimeout(release, 3_000);
    const started = Date.now();
    const outcome = await webhooks.drain({ timeoutMs: 50 }).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    clearTimeout(bound);
    expect(outcome).toMatchObject({ name: 'StateError', code: 'DRAIN_TIMEOUT', message: expect.stringContaining('1 delivery is still in flight') });
    expect(Date.now() - started).toBeLessThan(1_500);
    // Nothing else changed: the post is still under way, and settles when the receiver answers.
    expect((await webhooks.metrics()).inFlight).toBe(1);
    release();
    await webhooks.drain({ timeoutMs: 5_000 });
    expect((await webhooks.deliveries.list()).items[0]).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(server.requests).toHaveLength(1);
  });

  it('drain times out with DRAIN_TIMEOUT while a retry is scheduled in the future', async () => {
    const server = await receiver(() => ({ status: 500 }));
    const { webhooks } = await setup({ retry: { delaysMs: [60_000] } });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    const failed = next(webhooks, 'delivery:failed');
    await webhooks.publish('payment.succeeded', payment());
    await failed;
    await expect(webhooks.drain({ timeoutMs: 50 })).rejects.toMatchObject({ code: 'DRAIN_TIMEOUT' });
  });
});
