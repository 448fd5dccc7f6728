/**
 * A redelivery starts a new cycle of the retry schedule, not a new attempt log: attempt
 * numbers, lifecycle events and the retry success rate count across it, on every storage
 * the dispatcher runs on (memory, and SQLite on a real file).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createWebhooks, type LifecycleEvents } from '../../src/index.js';
import { createMemoryStorage } from '../../src/storage/memory/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { registerCleanups } from '../support/cleanups.js';
import { samplePayment } from '../support/sample-payment.js';

const dir = mkdtempSync(join(tmpdir(), 'webhooks-redelivery-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cleanups = registerCleanups();

const payment = (n: number) => samplePayment(n, 100 + n);

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const storages: Array<[string, () => StorageAdapter]> = [
  ['memory', () => createMemoryStorage()],
  ['sqlite', () => createSqliteStorage({ filename: join(dir, `${Math.random().toString(36).slice(2)}.db`) })],
];

describe.each(storages)('attempts across a redelivery (%s)', (_name, makeStorage) => {
  it('numbers attempts on across redeliveries, retries a redelivered delivery on a fresh schedule, and counts every delivery that succeeded after a failure in the retry success rate', async () => {
    // Six deliveries, each failing first. Two succeed on their retry; four are dead after
    // their two attempts and are redelivered: two of them succeed at once, two fail once
    // more (a fresh cycle retries them instead of declaring them dead) and then succeed.
    const requestsById = new Map<string, number>();
    const ids: string[] = [];
    const server = await LoopbackReceiver.start((request) => {
      const id = String(request.headers['webhook-id']);
      const n = (requestsById.get(id) ?? 0) + 1;
      requestsById.set(id, n);
      const index = ids.indexOf(id);
      const failures = index < 2 ? 1 : index < 4 ? 2 : 3;
      return n <= failures ? { status: 500, body: 'down' } : undefined;
    });
    cleanups.push(() => server.close());
    const clock = new FakeClock();
    const storage = makeStorage();
    await storage.migrate();
    const webhooks = createWebhooks({
      storage,
      security: { allowPrivateNetworks: true },
      clock,
      pollIntervalMs: 60_000,
      retry: { delaysMs: [1_000] },
    });
    cleanups.push(() => webhooks.close());
    const failed: Array<LifecycleEvents['delivery:failed']> = [];
    const succeeded: Array<LifecycleEvents['delivery:succeeded']> = [];
    webhooks.bus.on('delivery:failed', (event) => failed.push(event));
    webhooks.bus.on('delivery:succeeded', (event) => succeeded.push(event));
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });

    // Published before start, so that `ids` is known before the first request arrives.
    for (let n = 0; n < 6; n++) ids.push((await webhooks.publish('payment.succeeded', payment(n))).id);
    await webhooks.start();
    await waitUntil(() => failed.length === 6);
    await clock.advance(1_000);
    await waitUntil(() => failed.length === 10 && succeeded.length === 2);
    await webhooks.drain({ timeoutMs: 5_000 });

    const dead = (await webhooks.deliveries.list({ status: 'dead' })).items;
    expect(dead.map((d) => d.eventId).sort()).toEqual(ids.slice(2).sort());
    for (const delivery of dead) expect(await webhooks.deliveries.redeliver(delivery.id)).toMatchObject({ status: 'pending' });
    await waitUntil(() => succeeded.length === 4 && failed.length === 12);
    // The two that failed again are retried on the schedule's first delay, not dead.
    const again = failed.slice(10);
    for (const event of again) expect(event).toMatchObject({ attempt: 3, nextAttemptAt: clock.now() + 1_000 });
    await clock.advance(1_000);
    await waitUntil(() => succeeded.length === 6);
    await webhooks.drain({ timeoutMs: 5_000 });

    const attemptNumbers = async (eventId: string) => {
      const [delivery] = (await webhooks.deliveries.list()).items.filter((d) => d.eventId === eventId);
      return (await webhooks.deliveries.attempts(delivery!.id)).map((a) => [a.attemptNumber, a.outcome]);
    };
    expect(await attemptNumbers(ids[0]!)).toEqual([
      [1, 'retry'],
      [2, 'delivered'],
    ]);
    expect(await attemptNumbers(ids[2]!)).toEqual([
      [1, 'retry'],
      [2, 'dead'],
      [3, 'delivered'],
    ]);
    expect(await attemptNumbers(ids[5]!)).toEqual([
      [1, 'retry'],
      [2, 'dead'],
      [3, 'retry'],
      [4, 'delivered'],
    ]);
    expect(Object.fromEntries(succeeded.map((event) => [event.eventId, event.attempt]))).toEqual({
      [ids[0]!]: 2,
      [ids[1]!]: 2,
      [ids[2]!]: 3,
      [ids[3]!]: 3,
      [ids[4]!]: 4,
      [ids[5]!]: 4,
    });

    const metrics = await webhooks.metrics();
    expect(metrics.deliveriesWithFailedAttempt).toBe(6);
    expect(metrics.deliveriesSucceededAfterRetry).toBe(6);
    expect(metrics.retrySuccessRate).toBe(1);
    expect(metrics.backlog).toMatchObject({ pending: 0, dead: 0, delivered: 6 });
  });
});
