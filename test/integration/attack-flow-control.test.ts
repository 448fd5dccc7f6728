/**
 * Flow control, the circuit breaker and signing secrets attacked the way a careless host
 * or operator would, over real loopback HTTP on the injected clock: a rate, a URL or a status
 * changed while the dispatcher holds what it decided under the old record (a rate hold, an
 * open breaker, deliveries claimed ahead), rotations that race or pile up past what a
 * receiver reads, and what every signature sent during a rotation verifies against.
 */
import { describe, expect, it } from 'vitest';
import type { CompletedAttempt } from '../../src/delivery/attempt-delivery.js';
import { DeliveryLifecycle } from '../../src/delivery/delivery-lifecycle.js';
import { createEventBus } from '../../src/events/event-bus.js';
import { DeliveryMetrics } from '../../src/metrics/delivery-metrics.js';
import type { SettleOutcome, SettleResult, SubscriptionRecord } from '../../src/storage/storage-adapter.js';
import { createMemoryStorage, createWebhooks, type StorageAdapter, type BookkeeperEvents, type WebhooksOptions } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/verify-webhook.js';
import { registerCleanups } from '../support/cleanups.js';
import { openStorage } from '../support/every-storage.js';
import { recordingLogger } from '../support/recording-logger.js';
import { FakeClock, flush } from '../support/fake-clock.js';
import { countBusEvents, pollUntil } from '../support/bus-counter.js';
import { LoopbackReceiver, type Responder } from '../support/loopback-receiver.js';
import { messageOf, schemesOf } from '../support/verifying-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

const cleanups = registerCleanups();

async function receiver(responder?: Responder) {
  const server = await LoopbackReceiver.start(responder);
  cleanups.push(() => server.close());
  return server;
}

function setup(options: WebhooksOptions<BookkeeperEvents> = {}, clock = new FakeClock()) {
  const webhooks = createWebhooks({ security: { allowPrivateNetworks: true }, clock, pollIntervalMs: 60_000, meter: false, ...options });
  cleanups.push(() => webhooks.close());
  return { webhooks, clock };
}

const count = countBusEvents;

/** Polls `condition` on the wall clock (posts are real I/O). */
const until = (condition: () => boolean | Promise<boolean>, timeoutMs = 5_000) => pollUntil(condition, timeoutMs);

/** Settles what the I/O under way does, on the wall clock, without moving the injected one. */
async function settle(ms = 300): Promise<void> {
  await flush(10);
  await new Promise((resolve) => setTimeout(resolve, ms));
  await flush(10);
}

describe('a flow-control change made while the dispatcher holds a subscription back', () => {
  it('applies a raised rate at once, not after the old rate would have given its next token', async () => {
    const server = await receiver();
    const { webhooks, clock } = setup();
    // One post every 1,000 s: a rate typed as 0.001 where 1 per ms was meant.
    const subscription = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'], flowControl: { ratePerSecond: 0.001, burst: 1 } });
    await webhooks.start();
    for (let n = 0; n < 3; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await server.waitFor(1);
    await clock.advance(1_000);
    await settle(100);
    expect(server.requests).toHaveLength(1);

    await webhooks.subscriptions.update(subscription.id, { flowControl: { ratePerSecond: 100, burst: 10 } });
    // At 100 a second the next tokens come within 10 ms each (the bucket was nearly empty).
    for (let step = 0; step < 4 && server.requests.length < 3; step++) {
      await clock.advance(10);
      await settle(50);
    }
    expect(server.requests).toHaveLength(3);
    await webhooks.drain({ timeoutMs: 5_000 });
  });

  it('lets a rate limit removed by update go at once', async () => {
    const server = await receiver();
    const { webhooks } = setup();
    const subscription = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'], flowControl: { ratePerSecond: 0.001, burst: 1 } });
    await webhooks.start();
    for (let n = 0; n < 4; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await server.waitFor(1);
    await settle(100);
    await webhooks.subscriptions.update(subscription.id, { flowControl: null });
    // No time passes on the injected clock: nothing holds it any more.
    await until(() => server.requests.length === 4);
    await webhooks.drain({ timeoutMs: 5_000 });
  });
});

describe('a rate-limited backlog', () => {
  /** A real memory storage that counts the leases it hands out and takes back. */
  function countingStorage() {
    const inner = createMemoryStorage();
    const counts = { claims: 0, leased: 0, released: 0 };
    const storage = new Proxy(inner, {
      get(target, key, receiverOfGet) {
        if (key === 'claimDue') {
          return async (query: Parameters<StorageAdapter['claimDue']>[0]) => {
            counts.claims += 1;
            const claimed = await inner.claimDue(query);
            counts.leased += claimed.length;
            return claimed;
          };
        }
        if (key === 'releaseLeases') {
          return async (leases: Parameters<StorageAdapter['releaseLeases']>[0], now: number) => {
            counts.released += leases.length;
            return inner.releaseLeases(leases, now);
          };
        }
        const value: unknown = Reflect.get(target, key, receiverOfGet);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    return { storage, counts };
  }

  it('is leased once per delivery, not leased and given back at every token, and keeps to its rate', async () => {
    const server = await receiver();
    const { storage, counts } = countingStorage();
    const { webhooks, clock } = setup({ storage });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'], flowControl: { ratePerSecond: 50, burst: 1 } });
    for (let n = 0; n < 100; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await webhooks.start();
    for (let step = 0; step < 150 && server.requests.length < 100; step++) {
      await clock.advance(20);
      await settle(5);
    }
    expect(server.requests).toHaveLength(100);
    // Before: 5,050 leases and 4,950 releases for these 100 posts.
    expect(counts).toMatchObject({ leased: 100, released: 0 });
    await webhooks.drain({ timeoutMs: 5_000 });
    const starts = (await Promise.all((await webhooks.deliveries.list({ limit: 100 })).items.map((delivery) => webhooks.deliveries.attempts(delivery.id))))
      .map((attempts) => attempts[0]!.startedAt)
      .sort((a, b) => a - b);
    for (let n = 1; n < starts.length; n++) expect(starts[n]! - starts[n - 1]!).toBeGreaterThanOrEqual(20);
  });
});

describe('the circuit breaker after the endpoint changed', () => {
  const breaking = {
    circuitBreaker: { failureThreshold: 2, cooldownMs: 600_000 },
    retry: { delaysMs: [100, 100, 100, 100] },
    flowControl: { maxInFlightPerSubscription: 1 },
  } satisfies WebhooksOptions<BookkeeperEvents>;

  it('does not hold a new URL for the cool-down the old one earned', async () => {
    const broken = await receiver(() => ({ status: 500 }));
    const fixed = await receiver();
    const { webhooks, clock } = setup(breaking);
    const failed = count(webhooks, 'delivery:failed');
    const subscription = await webhooks.subscriptions.create({ url: broken.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    for (let n = 0; n < 2; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await until(() => failed.value === 2);
    expect((await webhooks.metrics({ subscriptionId: subscription.id })).circuit).toMatchObject({ state: 'open' });

    await webhooks.subscriptions.update(subscription.id, { url: fixed.url });
    expect((await webhooks.metrics({ subscriptionId: subscription.id })).circuit).toMatchObject({ state: 'closed', openUntil: null });
    // The retries come due (100 ms), far inside the 10-minute cool-down.
    await clock.advance(100);
    await until(() => fixed.requests.length === 2);
    expect(broken.requests).toHaveLength(2);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(2);
  });

  it('does not hold a new URL for the cool-down with the dispatcher in a worker thread either (SQLite, wall clock)', async () => {
    const broken = await receiver(() => ({ status: 500 }));
    const fixed = await receiver();
    const { storage, cleanup } = await openStorage.sqlite('attack-flow-control');
    cleanups.push(cleanup);
    await storage.migrate();
    const webhooks = createWebhooks({
      storage,
      meter: false,
      security: { allowPrivateNetworks: true },
      dispatcher: { thread: 'worker' },
      // Ten minutes of cool-down on the wall clock: the test ends long before, or fails.
      circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 },
      retry: { delaysMs: [50, 50, 50] },
    });
    cleanups.push(() => webhooks.close());
    const failed = count(webhooks, 'delivery:failed');
    const subscription = await webhooks.subscriptions.create({ url: broken.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await until(() => failed.value === 1, 10_000);
    await until(async () => (await webhooks.metrics({ subscriptionId: subscription.id })).circuit?.state === 'open');
    await webhooks.subscriptions.update(subscription.id, { url: fixed.url });
    await until(() => fixed.requests.length === 1, 10_000);
    expect(broken.requests).toHaveLength(1);
  });

  it('keeps the breaker open across an update that does not touch the URL', async () => {
    const broken = await receiver(() => ({ status: 500 }));
    const { webhooks, clock } = setup(breaking);
    const failed = count(webhooks, 'delivery:failed');
    const subscription = await webhooks.subscriptions.create({ url: broken.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    for (let n = 0; n < 2; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await until(() => failed.value === 2);
    await webhooks.subscriptions.update(subscription.id, { description: 'still broken' });
    await clock.advance(100);
    await settle(200);
    expect(broken.requests).toHaveLength(2);
    expect((await webhooks.metrics({ subscriptionId: subscription.id })).circuit).toMatchObject({ state: 'open' });
  });

  it('sends at once what an enable resumes, without waiting out the cool-down of the breaker that opened before the disable', async () => {
    let healthy = false;
    const server = await receiver(() => (healthy ? undefined : { status: 500 }));
    const { webhooks, clock } = setup(breaking);
    const failed = count(webhooks, 'delivery:failed');
    const subscription = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    for (let n = 0; n < 2; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await until(() => failed.value === 2);
    await webhooks.subscriptions.disable(subscription.id, { reason: 'ERP down for maintenance' });
    await clock.advance(1_000);

    // The operator has the ERP fixed and says so.
    healthy = true;
    await webhooks.subscriptions.enable(subscription.id);
    await until(() => server.requests.length === 4);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(2);
  });
});

describe('deliveries claimed ahead when their subscription changes', () => {
  /** One post in flight that hangs until released, one delivery claimed ahead (a `concurrency` of 1), one in storage. */
  async function oneHangingTwoBuffered(options: WebhooksOptions<BookkeeperEvents> = {}) {
    const answers: Array<() => void> = [];
    const old = await receiver((_request, _index, res) => {
      answers.push(() => res.writeHead(204).end());
      return 'hang';
    });
    const { webhooks, clock } = setup({ concurrency: 1, ...options });
    const subscription = await webhooks.subscriptions.create({ url: old.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    for (let n = 0; n < 3; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await old.waitFor(1);
    await settle(100);
    expect((await webhooks.metrics()).backlog.leased).toBe(2);
    return { webhooks, clock, subscription, old, answer: () => answers.shift()!() };
  }

  it('posts them to the new URL once an update of the URL has returned', async () => {
    const fresh = await receiver();
    const { webhooks, subscription, old, answer } = await oneHangingTwoBuffered();
    await webhooks.subscriptions.update(subscription.id, { url: fresh.url });
    answer();
    await until(() => fresh.requests.length === 2);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(old.requests).toHaveLength(1);
    expect(fresh.requests).toHaveLength(2);
  });

  it('posts to the new URL what a claim under way during the update brings back with the old record', async () => {
    const old = await receiver();
    const fresh = await receiver();
    const inner = createMemoryStorage();
    let gate: { reached: () => void; open: Promise<void> } | null = null;
    const storage = new Proxy(inner, {
      get(target, key, receiverOfGet) {
        if (key === 'claimDue') {
          return async (query: Parameters<StorageAdapter['claimDue']>[0]) => {
            // The claim reads (and leases) now, and returns only once the test lets it.
            const claimed = await inner.claimDue(query);
            const held = gate;
            if (held !== null && claimed.length > 0) {
              gate = null;
              held.reached();
              await held.open;
            }
            return claimed;
          };
        }
        const value: unknown = Reflect.get(target, key, receiverOfGet);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { webhooks } = setup({ storage });
    const subscription = await webhooks.subscriptions.create({ url: old.url, eventTypes: ['payment.*'] });
    let open!: () => void;
    const reached = new Promise<void>((resolve) => {
      gate = { reached: resolve, open: new Promise<void>((release) => (open = release)) };
    });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await reached;
    await webhooks.subscriptions.update(subscription.id, { url: fresh.url });
    open();
    await until(() => fresh.requests.length === 1);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(old.requests).toHaveLength(0);
  });

  it('posts none of them once disable() has returned: they are held with the rest', async () => {
    const { webhooks, subscription, old, answer } = await oneHangingTwoBuffered();
    await webhooks.subscriptions.disable(subscription.id, { reason: 'maintenance' });
    answer();
    await settle(300);
    expect(old.requests).toHaveLength(1);
    expect((await webhooks.deliveries.list({ status: 'held' })).items).toHaveLength(2);
  });

  it('posts none of them once delete() has returned: they are cancelled', async () => {
    const { webhooks, subscription, old, answer } = await oneHangingTwoBuffered();
    await webhooks.subscriptions.delete(subscription.id);
    answer();
    await settle(300);
    expect(old.requests).toHaveLength(1);
    expect((await webhooks.deliveries.list({ status: 'cancelled' })).items.length).toBeGreaterThanOrEqual(2);
  });

  it('signs them with the new secret only once a rotation with no overlap has returned', async () => {
    const { webhooks, clock, subscription, old, answer } = await oneHangingTwoBuffered();
    const rotated = await webhooks.subscriptions.rotateSecret(subscription.id, { overlapMs: 0 });
    for (let n = 2; n <= 3; n++) {
      answer();
      await old.waitFor(n);
    }
    answer();
    await webhooks.drain({ timeoutMs: 5_000 });
    const now = new Date(clock.now());
    for (const request of old.requests.slice(1)) {
      expect(schemesOf(request)).toEqual(['v1']);
      expect(verifyWebhook(messageOf(request), { secrets: rotated.secret, now })).toMatchObject({ type: 'payment.succeeded' });
    }
  });
});

describe('rotating secrets', () => {
  it('keeps both secrets of two rotations made at once: each caller holds a secret that signs', async () => {
    const server = await receiver();
    const { webhooks, clock } = setup();
    const subscription = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const [a, b] = await Promise.all([
      webhooks.subscriptions.rotateSecret(subscription.id, { overlapMs: 60_000 }),
      webhooks.subscriptions.rotateSecret(subscription.id, { overlapMs: 60_000 }),
    ]);
    const stored = await webhooks.subscriptions.getSecrets(subscription.id);
    const signing = [stored.secret, ...stored.previous.map((old) => old.secret)];
    expect(signing).toHaveLength(3);
    expect(signing).toEqual(expect.arrayContaining([subscription.secret, a.secret, b.secret]));

    await webhooks.start();
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.drain({ timeoutMs: 5_000 });
    const now = new Date(clock.now());
    for (const secret of [subscription.secret, a.secret, b.secret]) {
      expect(verifyWebhook(messageOf(server.requests[0]!), { secrets: secret, now })).toMatchObject({ type: 'payment.succeeded' });
    }
  });

  for (const signing of ['v1', 'v1a'] as const) {
    it(`signs with at most 8 ${signing} keys, every one of which a receiver verifies, and refuses a 9th with INPUT_INVALID, storing nothing`, async () => {
      const server = await receiver();
      const { webhooks, clock } = setup();
      const subscription = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'], signing });
      const receivers = [subscription.publicKey ?? subscription.secret];
      for (let n = 1; n < 8; n++) {
        await clock.advance(1_000);
        const rotated = await webhooks.subscriptions.rotateSecret(subscription.id, { overlapMs: 3_600_000 });
        receivers.push(rotated.publicKey ?? rotated.secret);
      }
      const before = await webhooks.subscriptions.getSecrets(subscription.id);
      const changes = (await webhooks.subscriptions.history(subscription.id)).items.length;
      await expect(webhooks.subscriptions.rotateSecret(subscription.id, { overlapMs: 3_600_000 })).rejects.toMatchObject({ code: 'INPUT_INVALID', field: 'overlapMs' });
      expect(await webhooks.subscriptions.getSecrets(subscription.id)).toEqual(before);
      expect((await webhooks.subscriptions.history(subscription.id)).items).toHaveLength(changes);

      // Every receiver, however far behind, verifies what is sent: the oldest key's signature is the 8th entry.
      await webhooks.start();
      await webhooks.publish('payment.succeeded', samplePayment(1));
      await webhooks.drain({ timeoutMs: 5_000 });
      const request = server.requests[0]!;
      expect(schemesOf(request)).toEqual(Array.from({ length: 8 }, () => signing));
      const now = new Date(clock.now());
      for (const key of receivers) expect(verifyWebhook(messageOf(request), { secrets: key, now })).toMatchObject({ type: 'payment.succeeded' });

      // An emergency rotation (no overlap) is always possible: it ends the others now.
      const emergency = await webhooks.subscriptions.rotateSecret(subscription.id, { overlapMs: 0 });
      expect((await webhooks.subscriptions.getSecrets(subscription.id)).previous).toEqual([]);
      expect(emergency.secretsCreatedAt).toEqual({ newest: clock.now(), oldestActive: clock.now() });
      // And once the first overlaps have ended, rotating with one is again.
      await clock.advance(3_600_000);
      await expect(webhooks.subscriptions.rotateSecret(subscription.id)).resolves.toMatchObject({ id: subscription.id });
    });
  }
});

describe('flow-control settings a careless host passes', () => {
  for (const flowControl of [
    { ratePerSecond: 0 },
    { ratePerSecond: -1 },
    { ratePerSecond: Number.NaN },
    { ratePerSecond: Number.POSITIVE_INFINITY },
    { burst: 0 },
    { burst: 0.5 },
    { maxInFlight: 0 },
    { maxInFlight: 1.5 },
  ]) {
    it(`refuses ${JSON.stringify(flowControl, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? String(value) : value))} with INPUT_INVALID at create and update, storing nothing`, async () => {
      const { webhooks } = setup();
      await expect(webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['payment.*'], flowControl })).rejects.toMatchObject({ code: 'INPUT_INVALID' });
      expect((await webhooks.subscriptions.list()).items).toEqual([]);
      const subscription = await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['payment.*'] });
      await expect(webhooks.subscriptions.update(subscription.id, { flowControl })).rejects.toMatchObject({ code: 'INPUT_INVALID' });
      expect((await webhooks.subscriptions.get(subscription.id))!.flowControl).toBeNull();
    });
  }
});

describe('the circuit breaker on a clock set back', () => {
  it('never holds an open breaker longer than its cool-down from now, however far the clock went back', async () => {
    const { FlowControl } = await import('../../src/delivery/flow-control.js');
    let now = Date.UTC(2026, 10, 26, 12, 0, 0);
    const clock = { now: () => now, setTimeout: () => 0, clearTimeout: () => undefined };
    const flow = new FlowControl(clock, { maxInFlightPerSubscription: 1, ratePerSecond: null, burst: 10, maxInFlightWhenAlone: null }, { failureThreshold: 1, cooldownMs: 30_000, maxCooldownMs: 600_000 });
    flow.start('sub_1');
    flow.finish('sub_1', true);
    expect(flow.status('sub_1')).toMatchObject({ breaker: 'open', openUntil: now + 30_000 });
    // NTP steps the host's clock back an hour.
    now -= 3_600_000;
    expect(flow.status('sub_1')).toMatchObject({ breaker: 'open', openUntil: now + 30_000 });
    expect(flow.check('sub_1')).toBe('held');
    expect(flow.blocked().nextUnblockAt).toBe(now + 30_000);
    now += 30_000;
    expect(flow.check('sub_1')).toBe('ok');
    expect(flow.status('sub_1')).toMatchObject({ breaker: 'half-open' });
  });
});

describe('auto-disable against a success', () => {
  const DAY = 86_400_000;

  /** A subscription failing since `DAY + 1` ms ago (past a one-day autoDisableAfterMs), on a real memory storage, and the lifecycle that settles its attempts. */
  async function failingForADay() {
    const storage = createMemoryStorage();
    const clock = new FakeClock();
    const { webhooks } = setup({ storage, autoDisableAfterMs: DAY }, clock);
    const subscription = await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['payment.*'] });
    const record = (await storage.getSubscription(subscription.id))!;
    const lifecycle = new DeliveryLifecycle({
      storage,
      bus: createEventBus(),
      metrics: new DeliveryMetrics(),
      clock,
      logger: recordingLogger().logger,
      autoDisableAfterMs: DAY,
      leaseMs: 60_000,
      timeoutMs: 15_000,
    });
    const since = clock.now() - DAY - 1;
    const attempt = (outcome: SettleOutcome, statusCode: number): CompletedAttempt => ({
      claimed: {
        delivery: { id: 'dlv_1', attempts: 3 } as CompletedAttempt['claimed']['delivery'],
        history: { attempts: 3, firstFailedAt: since, recoveredAt: null },
        event: { id: 'evt_1', type: 'payment.succeeded', timestamp: since, tenantId: null } as CompletedAttempt['claimed']['event'],
        subscription: record as SubscriptionRecord,
        leaseToken: 'lease_1',
      },
      settlement: {
        deliveryId: 'dlv_1',
        leaseToken: 'lease_1',
        outcome,
        attempt: { id: 'att_1', startedAt: clock.now(), durationMs: 5, statusCode, errorClass: statusCode >= 300 ? 'http' : null, errorMessage: null, responseSnippet: null },
      },
    });
    const result = (status: 'pending' | 'delivered', failingSince: number | null): SettleResult => ({
      ok: true,
      delivery: { id: 'dlv_1', status } as Extract<SettleResult, { ok: true }>['delivery'],
      subscriptionDisabled: false,
      failingSince,
    });
    const failure = attempt({ kind: 'retry', nextAttemptAt: clock.now() + 60_000 }, 500);
    const success = attempt({ kind: 'delivered' }, 204);
    return { webhooks, lifecycle, subscription, since, failure, success, result };
  }

  it('does not disable an endpoint whose last attempt of the settled batch succeeded', async () => {
    const { webhooks, lifecycle, subscription, since, failure, success, result } = await failingForADay();
    await lifecycle.settled([failure, success], [result('pending', since), result('delivered', null)]);
    expect((await webhooks.subscriptions.get(subscription.id))!.status).toBe('active');
  });

  it('does not disable an endpoint whose failure was cleared by a success settled since (another batch, another instance)', async () => {
    const { webhooks, lifecycle, subscription, since, failure, result } = await failingForADay();
    // The stored subscription shows no failure: a success settled after this batch's failure.
    expect((await webhooks.subscriptions.get(subscription.id))!.failingSince).toBeNull();
    await lifecycle.settled([failure], [result('pending', since)]);
    expect((await webhooks.subscriptions.get(subscription.id))!.status).toBe('active');
  });
});

describe('secrets kept out of everything but create, rotateSecret and getSecrets', () => {
  it('never shows a secret, old or new, v1 or v1a, in a log line, a bus event, metrics, a read, the change log, the attempt log or an error', async () => {
    let fail = true;
    const server = await receiver(() => (fail ? { status: 500, body: 'try again' } : undefined));
    const { logger, lines } = recordingLogger();
    const { webhooks, clock } = setup({ logger, retry: { delaysMs: [1_000], jitter: 0 } });
    const seen: unknown[] = [];
    for (const name of ['delivery:succeeded', 'delivery:failed', 'delivery:dead', 'subscription:created', 'subscription:updated', 'subscription:secret-rotated', 'subscription:tested', 'subscription:disabled', 'subscription:enabled'] as const) {
      webhooks.bus.on(name, (event: unknown) => seen.push(event));
    }
    const hmac = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const ed = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'], signing: 'v1a' });
    const hmacNext = await webhooks.subscriptions.rotateSecret(hmac.id, { overlapMs: 60_000 });
    const edNext = await webhooks.subscriptions.rotateSecret(ed.id, { overlapMs: 60_000 });
    const moved = await webhooks.subscriptions.rotateSecret(hmac.id, { signing: 'v1a', overlapMs: 60_000 });
    const secrets = [hmac.secret, ed.secret, hmacNext.secret, edNext.secret, moved.secret];
    const errors: unknown[] = [];
    for (const secret of secrets) {
      // Malformed on purpose: a character too many, or one changed.
      for (const bad of [`${secret}A`, secret.slice(0, -3) + (secret.at(-3) === 'A' ? 'B' : 'A') + secret.slice(-2)]) {
        const error = await webhooks.subscriptions.rotateSecret(ed.id, { secret: bad }).catch((caught: unknown) => caught);
        if (error instanceof Error) errors.push({ message: error.message, cause: (error as Error & { cause?: unknown }).cause });
      }
    }
    expect(errors.length).toBeGreaterThan(0);
    await webhooks.start();
    const failed = count(webhooks, 'delivery:failed');
    await webhooks.publish('payment.succeeded', samplePayment(1));
    // Both failures settled (retries due in 1 s) before the clock moves.
    await until(() => failed.value === 2);
    fail = false;
    await clock.advance(1_000);
    await webhooks.drain({ timeoutMs: 5_000 });
    await webhooks.subscriptions.sendTest(hmac.id);

    const reads = await Promise.all([
      webhooks.metrics(),
      webhooks.metrics({ subscriptionId: hmac.id }),
      webhooks.subscriptions.list(),
      webhooks.subscriptions.history(hmac.id),
      webhooks.subscriptions.history(ed.id),
      webhooks.subscriptions.testAttempts(hmac.id),
      webhooks.deliveries.list(),
      ...(await webhooks.deliveries.list()).items.map((delivery) => webhooks.deliveries.attempts(delivery.id)),
    ]);
    const everything = JSON.stringify({ lines, seen, errors, reads }, (_key, value: unknown) => (value instanceof Error ? { message: value.message, stack: value.stack } : value));
    expect(lines.length).toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(5);
    for (const secret of secrets) {
      const body = secret.slice(secret.indexOf('_') + 1);
      // Any 16 characters of it would be a leak; the first and last 16 stand for all.
      expect(everything).not.toContain(body.slice(0, 16));
      expect(everything).not.toContain(body.slice(-18, -2));
    }
  });
});
