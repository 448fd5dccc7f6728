import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMemoryStorage,
  createWebhooks,
  type BookkeeperEvents,
  type LifecycleEvents,
  type StorageAdapter,
  type WebhooksOptions,
} from '../../src/index.js';
import type { Clock } from '../../src/clock.js';
import { sharedCapRecheckMs } from '../../src/delivery/dispatcher.js';
import { FakeClock, flush } from '../support/fake-clock.js';
import { countBusEvents, pollUntil } from '../support/bus-counter.js';
import { LoopbackReceiver, type Responder } from '../support/loopback-receiver.js';

const payment = (n: number) => ({
  paymentId: `pay_${n}`,
  customerId: 'cus_1',
  amount: { amount: 100 + n, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00Z',
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(responder?: Responder) {
  const server = await LoopbackReceiver.start(responder);
  cleanups.push(() => server.close());
  return server;
}

function setup(options: WebhooksOptions<BookkeeperEvents>, clock = new FakeClock()) {
  const webhooks = createWebhooks({ security: { allowPrivateNetworks: true }, clock, pollIntervalMs: 60_000, ...options });
  cleanups.push(() => webhooks.close());
  return { webhooks, clock };
}

const count = countBusEvents;

/** Polls `condition` on the wall clock (posts are real I/O). */
const until = (condition: () => boolean | Promise<boolean>, timeoutMs = 20_000) => pollUntil(condition, timeoutMs);

describe('flow control', () => {
  it('keeps a slow receiver to its cap while a fast one gets all its deliveries of a 10,000-event burst', async () => {
    const held: Array<() => void> = [];
    // The slow receiver answers only when the test lets it: "slow" without wall-clock waits.
    const slow = await receiver((_request, _index, res) => {
      held.push(() => res.writeHead(204).end());
      return 'hang';
    });
    const fast = await receiver();
    const { webhooks } = setup({ concurrency: 20, flowControl: { maxInFlightPerSubscription: 5 }, http: { timeoutMs: 60_000 }, leaseMs: 120_000 });
    const slowSubscription = await webhooks.subscriptions.create({ url: slow.url, eventTypes: ['payment.*'] });
    const fastSubscription = await webhooks.subscriptions.create({ url: fast.url, eventTypes: ['payment.*'] });
    // The whole burst is stored before dispatch starts: the slow receiver's deliveries are as old as the fast one's.
    for (let n = 0; n < 10_000; n++) await webhooks.publish('payment.succeeded', payment(n));
    const heapBefore = process.memoryUsage().heapUsed;
    await webhooks.start();

    await until(async () => (await webhooks.metrics({ subscriptionId: fastSubscription.id })).backlog.delivered === 10_000, 60_000);
    // The slow one never got more than its cap of requests in flight, and holds no more than that now.
    expect(slow.requests.length).toBe(5);
    expect(fast.requests.length).toBe(10_000);
    const slowBacklog = (await webhooks.metrics({ subscriptionId: slowSubscription.id })).backlog;
    expect(slowBacklog).toMatchObject({ delivered: 0, pending: 10_000 });
    // Memory stays bounded: 10,000 queued deliveries are data in storage, not requests held open.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024);

    // Release the slow receiver: it catches up, its cap still respected.
    slow.responder = () => undefined;
    for (const answer of held.splice(0)) answer();
    await webhooks.drain({ timeoutMs: 60_000 });
    expect(new Set(slow.requests.map((request) => request.headers['webhook-id'])).size).toBe(10_000);
  }, 120_000);

  describe('the default cap: a share that gives way', () => {
    /** A receiver that holds every request until the test answers it. */
    async function holding() {
      const held: Array<() => void> = [];
      const server = await receiver((_request, _index, res) => {
        held.push(() => res.writeHead(204).end());
        return 'hang';
      });
      return { server, held };
    }

    it('lets an endpoint alone with work use every slot of concurrency, not half of them', async () => {
      const { server, held } = await holding();
      const { webhooks } = setup({ concurrency: 10, http: { timeoutMs: 60_000 }, leaseMs: 120_000 });
      const only = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
      for (let n = 0; n < 30; n++) await webhooks.publish('payment.succeeded', payment(n));
      await webhooks.start();
      await server.waitFor(10);
      // Posts start in one pass over the claimed batch: by the time the tenth arrives, the dispatcher has decided.
      expect((await webhooks.metrics({ subscriptionId: only.id })).circuit?.inFlight).toBe(10);
      expect(server.requests).toHaveLength(10);
      server.responder = () => undefined;
      for (const answer of held.splice(0)) answer();
      await webhooks.drain({ timeoutMs: 30_000 });
      expect(new Set(server.requests.map((request) => request.headers['webhook-id'])).size).toBe(30);
    });

    it('lets an endpoint alone use every slot for a backlog smaller than one claim, without waiting for a post to finish', async () => {
      const { server, held } = await holding();
      const { webhooks } = setup({ concurrency: 10, http: { timeoutMs: 60_000 }, leaseMs: 120_000 });
      const only = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
      // 8: more than its half (5), fewer than the claim asks for (20): the one claim comes back short.
      for (let n = 0; n < 8; n++) await webhooks.publish('payment.succeeded', payment(n));
      await webhooks.start();
      await server.waitFor(8);
      expect((await webhooks.metrics({ subscriptionId: only.id })).circuit?.inFlight).toBe(8);
      server.responder = () => undefined;
      for (const answer of held.splice(0)) answer();
      await webhooks.drain({ timeoutMs: 30_000 });
      expect(new Set(server.requests.map((request) => request.headers['webhook-id'])).size).toBe(8);
    });

    it('gives the slots that free to another endpoint with work first, while the busy one is past its half', async () => {
      const busy = await holding();
      const other = await receiver();
      const { webhooks, clock } = setup({ concurrency: 10, http: { timeoutMs: 60_000 }, leaseMs: 120_000 });
      const busySubscription = await webhooks.subscriptions.create({ url: busy.server.url, eventTypes: ['payment.*'] });
      for (let n = 0; n < 30; n++) await webhooks.publish('payment.succeeded', payment(n));
      await webhooks.start();
      await busy.server.waitFor(10);
      expect((await webhooks.metrics({ subscriptionId: busySubscription.id })).circuit?.inFlight).toBe(10);

      // Another endpoint gets work, all of it newer than the busy one's backlog of 20 (and 20 more).
      const otherSubscription = await webhooks.subscriptions.create({ url: other.url, eventTypes: ['payment.*'] });
      for (let n = 30; n < 50; n++) await webhooks.publish('payment.succeeded', payment(n));
      // The publishes woke the dispatcher; the busy one's finding that no one else had work
      // lapses once sharedCapRecheckMs have passed since it was made.
      await clock.advance(sharedCapRecheckMs);
      // Five of the busy endpoint's posts finish: their slots go to the other endpoint, whose
      // 20 deliveries all arrive while the busy one still holds the other five. A dispatcher
      // that let the busy one keep every slot would hand them its older deliveries instead,
      // and the other endpoint would get nothing until the busy one's backlog was gone.
      for (const answer of busy.held.splice(0, 5)) answer();
      await until(async () => (await webhooks.metrics({ subscriptionId: otherSubscription.id })).backlog.delivered === 20);
      expect(new Set(other.requests.map((request) => request.headers['webhook-id'])).size).toBe(20);
      expect((await webhooks.metrics({ subscriptionId: busySubscription.id })).backlog.delivered).toBe(5);

      busy.server.responder = () => undefined;
      for (const answer of busy.held.splice(0)) answer();
      await webhooks.drain({ timeoutMs: 30_000 });
      expect(new Set(busy.server.requests.map((request) => request.headers['webhook-id'])).size).toBe(50);
    });

    it('keeps a cap that was set, globally or on the subscription, even for an endpoint alone', async () => {
      for (const { options, flowControl, cap } of [
        { options: { flowControl: { maxInFlightPerSubscription: 3 } }, flowControl: undefined, cap: 3 },
        { options: {}, flowControl: { maxInFlight: 2 }, cap: 2 },
      ]) {
        const { server, held } = await holding();
        const { webhooks } = setup({ concurrency: 10, http: { timeoutMs: 60_000 }, leaseMs: 120_000, ...options });
        const only = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'], ...(flowControl === undefined ? {} : { flowControl }) });
        for (let n = 0; n < 12; n++) await webhooks.publish('payment.succeeded', payment(n));
        await webhooks.start();
        await server.waitFor(cap);
        expect((await webhooks.metrics({ subscriptionId: only.id })).circuit?.inFlight).toBe(cap);
        // Each answer frees one slot, which the next delivery takes: never more than the cap at once.
        let answered = 0;
        while (answered < 12) {
          expect((await webhooks.metrics({ subscriptionId: only.id })).circuit?.inFlight).toBeLessThanOrEqual(cap);
          const answer = held.shift();
          if (answer === undefined) {
            await server.waitFor(answered + cap > 12 ? 12 : answered + cap);
            continue;
          }
          answer();
          answered++;
        }
        await webhooks.drain({ timeoutMs: 30_000 });
        expect(server.requests).toHaveLength(12);
        await webhooks.close();
      }
    });
  });

  it('rate-limits a subscription with a token bucket on the injected clock', async () => {
    const server = await receiver();
    const { webhooks, clock } = setup({});
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'], flowControl: { ratePerSecond: 2, burst: 1 } });
    await webhooks.start();
    for (let n = 0; n < 4; n++) await webhooks.publish('payment.succeeded', payment(n));
    await server.waitFor(1);
    await flush();
    expect(server.requests).toHaveLength(1);
    await clock.advance(499);
    expect(server.requests).toHaveLength(1);
    await clock.advance(1);
    await server.waitFor(2);
    await clock.advance(500);
    await server.waitFor(3);
    await clock.advance(500);
    await server.waitFor(4);
    await webhooks.drain({ timeoutMs: 5_000 });
    const starts = (await Promise.all((await webhooks.deliveries.list()).items.map((delivery) => webhooks.deliveries.attempts(delivery.id))))
      .map((attempts) => attempts[0]!.startedAt)
      .sort((a, b) => a - b);
    expect(starts.map((at) => at - starts[0]!)).toEqual([0, 500, 1_000, 1_500]);
  });

  it('opens the circuit breaker after consecutive failures: deliveries wait, unfailed, until one probe succeeds', async () => {
    let healthy = false;
    const server = await receiver(() => (healthy ? undefined : { status: 503 }));
    const { webhooks, clock } = setup({
      circuitBreaker: { failureThreshold: 3, cooldownMs: 10_000 },
      retry: { delaysMs: [100, 100, 100, 100, 100] },
      flowControl: { maxInFlightPerSubscription: 1 },
    });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const failed = count(webhooks, 'delivery:failed');
    const dead = count(webhooks, 'delivery:dead');
    await webhooks.start();
    for (let n = 0; n < 3; n++) await webhooks.publish('payment.succeeded', payment(n));
    await until(() => failed.value === 3);
    expect(server.requests).toHaveLength(3);

    // Open: the retries come due, but nothing is sent during the cool-down.
    await clock.advance(9_999);
    expect(server.requests).toHaveLength(3);
    const pending = await webhooks.deliveries.list({ status: 'pending' });
    expect(pending.items).toHaveLength(3);
    expect(dead.value).toBe(0);

    // Cool-down over: exactly one probe; it succeeds, the breaker closes, the rest follow.
    healthy = true;
    await clock.advance(1);
    await server.waitFor(4);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(server.requests).toHaveLength(6);
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(3);
  });

  it("reports this process's circuit in metrics({ subscriptionId }): open until the cool-down ends, half-open during the probe, closed once it succeeds", async () => {
    let answer: 'fail' | 'hold' | 'ok' = 'fail';
    const held: ServerResponse[] = [];
    const server = await receiver((_request, _index, res) => {
      if (answer === 'fail') return { status: 500 };
      if (answer === 'ok') return undefined;
      held.push(res);
      return 'hang';
    });
    const healthy = await receiver();
    const { webhooks, clock } = setup({
      circuitBreaker: { failureThreshold: 2, cooldownMs: 10_000 },
      retry: { delaysMs: [100, 100, 100] },
      flowControl: { maxInFlightPerSubscription: 1 },
    });
    const failing = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const other = await webhooks.subscriptions.create({ url: healthy.url, eventTypes: ['payment.*'] });
    const circuit = async (subscriptionId: string) => (await webhooks.metrics({ subscriptionId })).circuit;
    expect(await circuit(failing.id)).toEqual({ state: 'closed', openUntil: null, inFlight: 0 });
    const failed = count(webhooks, 'delivery:failed');
    await webhooks.start();
    for (let n = 0; n < 2; n++) await webhooks.publish('payment.succeeded', payment(n));
    await until(() => failed.value === 2);
    const openedAt = clock.now();

    expect(await circuit(failing.id)).toEqual({ state: 'open', openUntil: openedAt + 10_000, inFlight: 0 });
    expect((await webhooks.metrics()).circuit).toBeNull();
    expect((await webhooks.metrics({ tenantId: null })).circuit).toBeNull();
    await until(async () => (await webhooks.metrics({ subscriptionId: other.id })).backlog.delivered === 2);
    expect(await circuit(other.id)).toEqual({ state: 'closed', openUntil: null, inFlight: 0 });
    await clock.advance(9_999);
    expect(await circuit(failing.id)).toEqual({ state: 'open', openUntil: openedAt + 10_000, inFlight: 0 });
    expect(server.requests).toHaveLength(2);

    // Cool-down over: one probe goes out, and the circuit is half-open while it is in flight.
    answer = 'hold';
    await clock.advance(1);
    await server.waitFor(3);
    expect(await circuit(failing.id)).toEqual({ state: 'half-open', openUntil: null, inFlight: 1 });
    answer = 'ok';
    held[0]!.writeHead(204).end();
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(server.requests).toHaveLength(4);
    expect(await circuit(failing.id)).toEqual({ state: 'closed', openUntil: null, inFlight: 0 });
  });

  it('auto-disables a subscription failing continuously for autoDisableAfterMs, holds its deliveries, and re-enables with a preview and a replay of what it missed', async () => {
    let healthy = false;
    const server = await receiver(() => (healthy ? undefined : { status: 500 }));
    const { webhooks, clock } = setup({
      autoDisableAfterMs: 60_000,
      circuitBreaker: false,
      retry: { delaysMs: Array.from({ length: 20 }, () => 10_000) },
    });
    const subscription = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const disabled = new Promise<LifecycleEvents['subscription:disabled']>((resolve) => webhooks.bus.once('subscription:disabled', resolve));
    const failed = count(webhooks, 'delivery:failed');
    await webhooks.start();
    const t0 = clock.now();
    await webhooks.publish('payment.succeeded', payment(1));
    for (let step = 1; step <= 6; step++) {
      await until(() => failed.value === step);
      expect((await webhooks.subscriptions.get(subscription.id))!.failingSince).toBe(t0);
      await clock.advance(10_000);
    }
    await until(() => failed.value === 7);
    await expect(disabled).resolves.toMatchObject({ subscriptionId: subscription.id, reason: expect.stringContaining('every attempt has failed since') });
    expect(await webhooks.subscriptions.get(subscription.id)).toMatchObject({ status: 'disabled' });
    expect((await webhooks.deliveries.list()).items.map((delivery) => delivery.status)).toEqual(['held']);

    // While disabled: a new event does not fan out to it.
    const missed = await webhooks.publish('payment.succeeded', payment(2));
    expect(missed.deliveryCount).toBe(0);
    expect(await webhooks.subscriptions.previewEnable(subscription.id)).toEqual({ held: 1, missed: 1 });

    healthy = true;
    const enabled = await webhooks.subscriptions.enable(subscription.id, { replayMissed: true });
    expect(enabled).toMatchObject({ status: 'active', resumed: 1, replayed: 1 });
    await webhooks.drain({ timeoutMs: 5_000 });
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(2);
    expect((await webhooks.subscriptions.get(subscription.id))!.failingSince).toBeNull();
  });

  it('lists what is undelivered: pending, held and dead', async () => {
    const server = await receiver((request) => (request.body.toString().includes('pay_1"') ? { status: 500 } : { status: 410 }));
    const { webhooks } = setup({ retry: { delaysMs: [] } });
    const a = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment(1));
    await webhooks.drain({ timeoutMs: 5_000 });
    await webhooks.publish('payment.succeeded', payment(2));
    await webhooks.drain({ timeoutMs: 5_000 });
    const undelivered = await webhooks.deliveries.undelivered({ subscriptionId: a.id });
    expect(undelivered.items.map((delivery) => delivery.status).sort()).toEqual(['dead', 'held']);
  });
  describe('a delivery claimed ahead that waits for its subscription\'s slot', () => {
    /** The memory storage, recording which deliveries each claim took and each release gave back. */
    function recordingStorage(): { storage: StorageAdapter; claims: string[][]; releases: string[][] } {
      const storage = createMemoryStorage();
      const claims: string[][] = [];
      const releases: string[][] = [];
      const claimDue = storage.claimDue.bind(storage);
      const releaseLeases = storage.releaseLeases.bind(storage);
      storage.claimDue = async (query) => {
        const claimed = await claimDue(query);
        if (claimed.length > 0) claims.push(claimed.map((item) => item.delivery.id));
        return claimed;
      };
      storage.releaseLeases = async (leases, now) => {
        releases.push(leases.map((lease) => lease.deliveryId));
        return releaseLeases(leases, now);
      };
      return { storage, claims, releases };
    }

    /**
     * Two deliveries to one subscription capped at one in flight: both are claimed, the
     * second waits in the buffer while the receiver holds the first, and the injected
     * clock moves on by `waitMs` before the receiver answers.
     */
    async function run(waitMs: number) {
      const held: Array<() => void> = [];
      const server = await receiver((_request, index, res) => {
        if (index > 0) return undefined;
        held.push(() => res.writeHead(204).end());
        return 'hang';
      });
      const { storage, claims, releases } = recordingStorage();
      // Leases of 2 s over requests of at most 1 s: a delivery may wait (2,000 − 1,000) / 2 = 500 ms for a slot.
      const { webhooks, clock } = setup({ storage, concurrency: 2, flowControl: { maxInFlightPerSubscription: 1 }, http: { timeoutMs: 1_000 }, leaseMs: 2_000 });
      await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
      await webhooks.publish('payment.succeeded', payment(1));
      const second = await webhooks.publish('payment.succeeded', payment(2));
      await webhooks.start();
      await server.waitFor(1);
      expect(claims).toHaveLength(1);
      expect(claims[0]).toHaveLength(2);
      const secondDelivery = claims[0]![1]!;
      await clock.advance(waitMs);
      held.splice(0)[0]!();
      await webhooks.drain({ timeoutMs: 10_000 });
      expect(server.requests.map((request) => request.headers['webhook-id'])).toEqual([expect.any(String), second.id]);
      const delivery = await storage.getDelivery(secondDelivery);
      expect(delivery).toMatchObject({ status: 'delivered', attempts: 1 });
      return { claimsOfSecond: claims.filter((ids) => ids.includes(secondDelivery)).length, releases, secondDelivery };
    }

    it('goes back to storage once it has waited past half its lease\'s slack, and is sent once on a fresh claim', async () => {
      const { claimsOfSecond, releases, secondDelivery } = await run(600);
      expect(releases).toEqual([[secondDelivery]]);
      expect(claimsOfSecond).toBe(2);
    });

    it('goes back unsent from a claim that itself took longer than the lease (a stalled database), and is sent once from the next claim', async () => {
      const server = await receiver();
      const { storage, claims, releases } = recordingStorage();
      // The first claim "takes" 2.5 s of the injected clock, past the 2 s lease it was made
      // with: posted, its delivery would go out on a lease another worker may already hold.
      const fake = new FakeClock();
      let claimTime = 0;
      const clock: Clock = { now: () => fake.now() + claimTime, setTimeout: (callback, ms) => fake.setTimeout(callback, ms), clearTimeout: (handle) => fake.clearTimeout(handle) };
      const claimDue = storage.claimDue.bind(storage);
      storage.claimDue = async (query) => {
        const claimed = await claimDue(query);
        if (claims.length === 1) claimTime += 2_500;
        return claimed;
      };
      const { webhooks } = setup({ storage, clock, http: { timeoutMs: 1_000 }, leaseMs: 2_000 });
      await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
      await webhooks.publish('payment.succeeded', payment(1));
      await webhooks.start();
      await webhooks.drain({ timeoutMs: 10_000 });
      expect(server.requests).toHaveLength(1);
      expect(claims).toHaveLength(2);
      expect(releases).toEqual([claims[0]]);
      expect(claims[1]).toEqual(claims[0]);
    });

    it('is sent on the lease it was claimed with when it waited less', async () => {
      const { claimsOfSecond, releases } = await run(400);
      expect(releases).toEqual([]);
      expect(claimsOfSecond).toBe(1);
    });
  });
});
