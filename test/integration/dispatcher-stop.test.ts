import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createUndiciTransport, createWebhooks, type Webhooks } from '../../src/index.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { createMemoryStorage } from '../../src/storage/memory/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver, type Responder } from '../support/loopback-receiver.js';
import { registerCleanups } from '../support/cleanups.js';
import { samplePayment } from '../support/sample-payment.js';

const dir = mkdtempSync(join(tmpdir(), 'webhooks-stop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const payment = (n = 1) => samplePayment(n);

const cleanups = registerCleanups();

const storages: Array<[string, () => StorageAdapter]> = [
  ['memory', () => createMemoryStorage()],
  ['SQLite', () => createSqliteStorage({ filename: join(dir, `stop-${Math.random().toString(36).slice(2)}.db`) })],
];

async function receiver(responder?: Responder) {
  const server = await LoopbackReceiver.start(responder);
  cleanups.push(() => server.close());
  return server;
}

/** `promise`'s outcome, or `'timed out'` after `ms` of wall clock. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A backlog of `count` deliveries to a receiver that answers each after a few ms, so posts are in flight at any moment. */
async function backlog(storage: StorageAdapter, count: number) {
  const server = await receiver((_request, _index, res) => {
    setTimeout(() => res.writeHead(204).end(), 5);
    return 'hang';
  });
  await storage.migrate();
  const clock = new FakeClock();
  const webhooks = createWebhooks({ storage, clock, security: { allowPrivateNetworks: true }, pollIntervalMs: 60_000 });
  cleanups.push(() => webhooks.close());
  await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
  for (let n = 0; n < count; n++) await webhooks.publish('payment.succeeded', payment(n));
  return { webhooks, clock, server };
}

const preludes: Array<[string, (webhooks: Webhooks) => Promise<unknown>]> = [
  ['metrics()', (webhooks) => webhooks.metrics()],
  ['subscriptions.list()', (webhooks) => webhooks.subscriptions.list()],
  ['deliveries.list()', (webhooks) => webhooks.deliveries.list()],
];

describe.each(storages)('stop() over a backlog (%s)', (_name, makeStorage) => {
  it.each(preludes)('resolves after start() and %s, giving back every claimed-ahead delivery', async (_prelude, prelude) => {
    const storage = makeStorage();
    const { webhooks, clock } = await backlog(storage, 300);
    await webhooks.start();
    await prelude(webhooks);
    expect(await within(webhooks.stop(), 5_000)).toBeUndefined();
    // Nothing is left under a lease: what was not delivered is pending and claimable right away.
    const { backlog: after } = await webhooks.metrics();
    expect(after.leased).toBe(0);
    expect(after.pending + after.delivered).toBe(300);
    expect(after.pending).toBeGreaterThan(0);
    const claimable = await storage.claimDue({ limit: 1000, leaseMs: 60_000, now: clock.now() });
    expect(claimable).toHaveLength(after.pending);
  });
});

describe('close() while a stop() is under way', () => {
  it('waits for the post in flight and its settle before closing the storage (a transport of the host, which close() leaves open)', async () => {
    const filename = join(dir, 'stop-then-close.db');
    const storage = createSqliteStorage({ filename });
    await storage.migrate();
    const answers: Array<() => void> = [];
    const server = await receiver((_request, _index, res) => {
      answers.push(() => res.writeHead(204).end());
      return 'hang';
    });
    const transport = createUndiciTransport();
    cleanups.push(() => transport.close());
    const webhooks = createWebhooks({ storage, transport, clock: new FakeClock(), security: { allowPrivateNetworks: true }, pollIntervalMs: 60_000 });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const published = await webhooks.publish('payment.succeeded', payment(1));
    await webhooks.start();
    await server.waitFor(1);
    const stopping = webhooks.stop();
    const closing = webhooks.close();
    let closed = false;
    void closing.then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false);
    answers[0]!();
    expect(await within(Promise.all([stopping, closing]), 5_000)).not.toBe('timed out');
    const reopened = createSqliteStorage({ filename });
    cleanups.push(() => reopened.close());
    const { items } = await reopened.listDeliveries({ limit: 10, eventId: published.id });
    expect(items).toMatchObject([{ status: 'delivered', attempts: 1, leaseExpiresAt: null }]);
  });
});
