/**
 * The retention task through the public API on every storage, over real loopback HTTP and
 * on a fake clock: delivered and dead deliveries and their events go once their retention
 * has elapsed, as do ok and failed test requests of the test log, pending and held ones stay, `retention: false` keeps everything, `stop()`
 * ends the task, and a failed batch is logged and retried at the next run.
 */
import { describe, expect, it } from 'vitest';
import { bookkeeperEvents, createWebhooks, type StorageAdapter, type Webhooks } from '../../src/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock, flush } from '../support/fake-clock.js';
import { recordingLogger } from '../support/recording-logger.js';
import { noRetentionRun } from '../../src/retention/retention-task.js';

const { examples } = bookkeeperEvents;
const dayMs = 86_400_000;
const hourMs = 3_600_000;

describe.each(storageKinds)('retention on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'retention');

  /** Answers 500 on /fail, 204 elsewhere. */
  function failOnFailPath(): void {
    env.server.responder = (request) => (request.url.endsWith('/fail') ? { status: 500 } : undefined);
  }

  /** Waits until the retention run at the clock's time has ended and the next one is scheduled. */
  async function runEnded(webhooks: Webhooks, clock: FakeClock): Promise<void> {
    await expect.poll(async () => (await webhooks.metrics()).retention.lastRunAt).toBe(clock.now());
    await flush();
  }

  /** Moves the clock on by `ms`, to the next run, and waits until it has ended. */
  async function nextRun(webhooks: Webhooks, clock: FakeClock, ms: number): Promise<void> {
    await clock.advance(ms);
    await runEnded(webhooks, clock);
  }

  /**
   * Publishes one event per kind of delivery, starts the instance and waits until each has
   * its first attempt: one delivered, one dead, one pending (its retry a year away), one held.
   */
  async function oneOfEach(webhooks: Webhooks) {
    failOnFailPath();
    const delivered = await webhooks.subscriptions.create({ url: `${env.server.url}/ok`, eventTypes: ['payment.succeeded'] });
    const dead = await webhooks.subscriptions.create({ url: `${env.server.url}/fail`, eventTypes: ['payment.failed'], retry: { delaysMs: [] } });
    const pending = await webhooks.subscriptions.create({ url: `${env.server.url}/fail`, eventTypes: ['refund.initiated'], retry: { delaysMs: [365 * dayMs] } });
    const held = await webhooks.subscriptions.create({ url: `${env.server.url}/ok`, eventTypes: ['invoice.created'] });
    const events = {
      delivered: await webhooks.publish('payment.succeeded', examples['payment.succeeded']),
      dead: await webhooks.publish('payment.failed', examples['payment.failed']),
      pending: await webhooks.publish('refund.initiated', examples['refund.initiated']),
      held: await webhooks.publish('invoice.created', examples['invoice.created']),
    };
    // Disabled before the dispatcher starts: its delivery is held.
    await webhooks.subscriptions.disable(held.id);
    await webhooks.start();
    await env.server.waitFor(3);
    const statusOf = async (subscriptionId: string) => {
      const [d] = (await webhooks.deliveries.list({ subscriptionId })).items;
      return d === undefined ? 'gone' : `${d.status}/${d.attempts}`;
    };
    await expect.poll(() => statusOf(delivered.id)).toBe('delivered/1');
    await expect.poll(() => statusOf(dead.id)).toBe('dead/1');
    await expect.poll(() => statusOf(pending.id)).toBe('pending/1');
    expect(await statusOf(held.id)).toBe('held/0');
    return { subs: { delivered, dead, pending, held }, events, statusOf };
  }

  it('removes delivered and dead deliveries with their attempts and events, and ok and failed test requests, once their retention elapsed, and keeps pending and held ones', async () => {
    const clock = new FakeClock();
    const webhooks = env.instance({
      clock,
      pollIntervalMs: hourMs,
      retention: { deliveredMs: dayMs, deadMs: 2 * dayMs, eventsMs: dayMs, intervalMs: 12 * hourMs },
    });
    const { subs, events, statusOf } = await oneOfEach(webhooks);
    expect(await webhooks.subscriptions.sendTest(subs.delivered.id)).toMatchObject({ ok: true, recorded: true });
    expect(await webhooks.subscriptions.sendTest(subs.dead.id)).toMatchObject({ ok: false, recorded: true });
    const testsOf = async (subscriptionId: string) => (await webhooks.subscriptions.testAttempts(subscriptionId)).items.length;
    await runEnded(webhooks, clock);
    const deliveredId = (await webhooks.deliveries.list({ subscriptionId: subs.delivered.id })).items[0]!.id;

    // A day after it was delivered: not yet past it.
    await nextRun(webhooks, clock, 12 * hourMs);
    await nextRun(webhooks, clock, 12 * hourMs);
    expect(await statusOf(subs.delivered.id)).toBe('delivered/1');
    expect((await webhooks.metrics()).retention).toMatchObject({ deliveriesPurged: 0, eventsPurged: 0, lastError: null });

    expect([await testsOf(subs.delivered.id), await testsOf(subs.dead.id)]).toEqual([1, 1]);
    await nextRun(webhooks, clock, 12 * hourMs);
    expect(await statusOf(subs.delivered.id)).toBe('gone');
    // The ok test goes by the delivered retention, the failed one is kept as long as dead deliveries.
    expect([await testsOf(subs.delivered.id), await testsOf(subs.dead.id)]).toEqual([0, 1]);
    expect(await webhooks.events.get(events.delivered.id)).toBeNull();
    await expect(webhooks.deliveries.attempts(deliveredId)).rejects.toMatchObject({ code: 'DELIVERY_NOT_FOUND' });
    // Dead ones are kept longer; the event goes with its last delivery.
    expect(await statusOf(subs.dead.id)).toBe('dead/1');
    expect(await webhooks.events.get(events.dead.id)).not.toBeNull();

    await nextRun(webhooks, clock, 12 * hourMs);
    expect(await statusOf(subs.dead.id)).toBe('dead/1');
    await nextRun(webhooks, clock, 12 * hourMs);
    expect(await statusOf(subs.dead.id)).toBe('gone');
    expect(await testsOf(subs.dead.id)).toBe(0);
    expect(await webhooks.events.get(events.dead.id)).toBeNull();

    await nextRun(webhooks, clock, 30 * dayMs);
    expect(await statusOf(subs.pending.id)).toBe('pending/1');
    expect(await statusOf(subs.held.id)).toBe('held/0');
    expect(await webhooks.events.get(events.pending.id)).not.toBeNull();
    expect(await webhooks.events.get(events.held.id)).not.toBeNull();
    expect((await webhooks.metrics()).retention).toEqual({
      deliveriesPurged: 2,
      attemptsPurged: 2,
      eventsPurged: 2,
      testAttemptsPurged: 2,
      lastRunAt: clock.now(),
      lastError: null,
      caughtUpAt: clock.now(),
      lagMs: 0,
    });
    expect((await webhooks.metrics()).backlog).toMatchObject({ pending: 1, held: 1, delivered: 0, dead: 0 });
  });

  it('keeps everything with retention: false', async () => {
    const clock = new FakeClock();
    const webhooks = env.instance({ clock, pollIntervalMs: hourMs, retention: false });
    const { subs, events, statusOf } = await oneOfEach(webhooks);
    // Past every default retention.
    await clock.advance(100 * dayMs);
    expect(await statusOf(subs.delivered.id)).toBe('delivered/1');
    expect(await statusOf(subs.dead.id)).toBe('dead/1');
    for (const event of Object.values(events)) expect(await webhooks.events.get(event.id)).not.toBeNull();
    expect((await webhooks.metrics()).retention).toEqual(noRetentionRun);
  });

  it('runs only while started: stop() ends the task, start() runs it again at once', async () => {
    const clock = new FakeClock();
    const webhooks = env.instance({ clock, pollIntervalMs: hourMs, retention: { deliveredMs: dayMs, intervalMs: hourMs } });
    const { subs, statusOf } = await oneOfEach(webhooks);
    await runEnded(webhooks, clock);
    await webhooks.stop();
    const stoppedAt = clock.now();

    await clock.advance(2 * dayMs);
    expect(await statusOf(subs.delivered.id)).toBe('delivered/1');
    expect((await webhooks.metrics()).retention.lastRunAt).toBe(stoppedAt);

    await webhooks.start();
    await runEnded(webhooks, clock);
    expect(await statusOf(subs.delivered.id)).toBe('gone');
  });

  it('logs a failed batch and purges at the next run; the dispatcher goes on', async () => {
    const clock = new FakeClock();
    const { logger, errors } = recordingLogger();
    let armed = false;
    let failures = 0;
    // The test's storage as it is, but for the first retention batch once armed, which fails.
    const flaky = new Proxy(env.opened.storage, {
      get(target, property) {
        if (property === 'purgeRetention') {
          return (input: Parameters<StorageAdapter['purgeRetention']>[0]) => {
            if (armed) {
              armed = false;
              failures += 1;
              return Promise.reject(new Error('disk on fire'));
            }
            return target.purgeRetention(input);
          };
        }
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const webhooks = createWebhooks({
      storage: flaky,
      clock,
      logger,
      meter: false,
      pollIntervalMs: hourMs,
      security: { allowPrivateNetworks: true },
      retention: { deliveredMs: dayMs, intervalMs: dayMs },
    });
    try {
      const { subs, statusOf } = await oneOfEach(webhooks);
      await runEnded(webhooks, clock);
      await nextRun(webhooks, clock, dayMs);
      expect(await statusOf(subs.delivered.id)).toBe('delivered/1');

      armed = true;
      await nextRun(webhooks, clock, dayMs);
      expect(failures).toBe(1);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toContain('retention');
      expect(errors[0]!.fields.err).toMatchObject({ message: 'disk on fire' });
      expect(await statusOf(subs.delivered.id)).toBe('delivered/1');
      expect((await webhooks.metrics()).retention).toMatchObject({ deliveriesPurged: 0, lastError: 'disk on fire' });

      // The dispatcher goes on.
      await webhooks.publish('payment.succeeded', examples['payment.succeeded']);
      await env.server.waitFor(4);

      const [, old] = (await webhooks.deliveries.list({ subscriptionId: subs.delivered.id })).items;
      await nextRun(webhooks, clock, dayMs);
      expect(await webhooks.deliveries.get(old!.id)).toBeNull();
      expect((await webhooks.metrics()).retention).toMatchObject({ deliveriesPurged: 1, lastError: null });
      expect(failures).toBe(1);
    } finally {
      await webhooks.stop();
    }
  });
});
