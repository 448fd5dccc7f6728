/**
 * `readPool`: which reads go to the replica and which stay on the primary. There is no
 * replica here: a second pool to the same database stands in for one, and both pools count
 * the statements they are given, so each operation is asserted by where it went.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createWebhooks, type Webhooks } from '../../../src/create-webhooks.js';
import { createDashboard } from '../../../src/dashboard/index.js';
import { createEventFeedHandler } from '../../../src/feed/create-event-feed-handler.js';
import { createPostgresStorage } from '../../../src/storage/postgres/index.js';
import { LoopbackReceiver } from '../../support/loopback-receiver.js';
import { cleanups, schemaName, url, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { samplePayment } from '../../support/sample-payment.js';

usePostgresDatabase();

/** A pool whose uses are counted: each `query` (a statement on its own) and each `connect` (a transaction's client). */
function countedPool(): { pool: pg.Pool; calls: () => number } {
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  pool.on('error', () => undefined);
  cleanups.push(() => pool.end());
  let calls = 0;
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    calls += 1;
    return query(...args);
  }) as typeof pool.query;
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  pool.connect = ((...args: unknown[]) => {
    calls += 1;
    return connect(...args);
  }) as typeof pool.connect;
  return { pool, calls: () => calls };
}

interface Setup {
  webhooks: Webhooks;
  subscriptionId: string;
  eventId: string;
  deliveryId: string;
  /** The statements each pool got while `fn` ran. */
  during: (fn: () => Promise<unknown>) => Promise<{ primary: number; replica: number }>;
}

async function setup(): Promise<Setup> {
  const primary = countedPool();
  const replica = countedPool();
  const receiver = await LoopbackReceiver.start();
  cleanups.push(() => receiver.close());
  const storage = createPostgresStorage({ pool: primary.pool, readPool: replica.pool, schema: schemaName() });
  const webhooks = createWebhooks({ storage, security: { allowPrivateNetworks: true } });
  cleanups.push(() => webhooks.close());
  await webhooks.start();
  const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
  const event = await webhooks.publish('payment.succeeded', samplePayment());
  await webhooks.drain({ timeoutMs: 10_000 });
  await webhooks.stop();
  const [delivery] = (await webhooks.deliveries.list({ subscriptionId: subscription.id })).items;
  return {
    webhooks,
    subscriptionId: subscription.id,
    eventId: event.id,
    deliveryId: delivery!.id,
    async during(fn) {
      const before = { primary: primary.calls(), replica: replica.calls() };
      await fn();
      return { primary: primary.calls() - before.primary, replica: replica.calls() - before.replica };
    },
  };
}

describe('readPool', () => {
  it('serves the delivery log, the event list and the backlog figures from the read pool, and nothing of them from the primary', async () => {
    const { webhooks, eventId, deliveryId, during } = await setup();
    const reads: Array<[string, () => Promise<unknown>]> = [
      ['deliveries.list', () => webhooks.deliveries.list()],
      ['deliveries.undelivered', () => webhooks.deliveries.undelivered()],
      ['deliveries.get', () => webhooks.deliveries.get(deliveryId)],
      ['deliveries.attempts', () => webhooks.deliveries.attempts(deliveryId)],
      ['deliveries.sentBody', () => webhooks.deliveries.sentBody(deliveryId)],
      ['events.get', () => webhooks.events.get(eventId)],
      ['events.list', () => webhooks.events.list()],
      ['events.iterate', async () => {
        for await (const event of webhooks.events.iterate()) void event;
      }],
      ['metrics', () => webhooks.metrics()],
    ];
    for (const [name, read] of reads) {
      const counts = await during(read);
      expect({ name, primary: counts.primary, replica: counts.replica > 0 }).toEqual({ name, primary: 0, replica: true });
    }
  });

  it('keeps publishes, claims, settles, subscriptions, redeliver, replay, expunge, drain and the event feed on the primary', async () => {
    const { webhooks, subscriptionId, eventId, deliveryId, during } = await setup();
    const feed = createEventFeedHandler(webhooks, { authenticate: () => ({ subscriptionId }) });
    const writesAndFreshReads: Array<[string, () => Promise<unknown>]> = [
      ['subscriptions.create', () => webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['refund.*'] })],
      ['subscriptions.get', () => webhooks.subscriptions.get(subscriptionId)],
      ['subscriptions.list', () => webhooks.subscriptions.list()],
      ['publish', () => webhooks.publish('payment.succeeded', samplePayment(2))],
      // A dispatcher's claims and settles, and drain's own backlog reads.
      ['start, dispatch, drain', async () => {
        await webhooks.start();
        await webhooks.drain({ timeoutMs: 10_000 });
        await webhooks.stop();
      }],
      ['deliveries.redeliver', () => webhooks.deliveries.redeliver(deliveryId)],
      ['deliveries.replay', () => webhooks.deliveries.replay({ subscriptionId, since: new Date(0), dryRun: true })],
      ['deliveries.blockedKeys', () => webhooks.deliveries.blockedKeys({ subscriptionId })],
      ['the event feed', async () => {
        const response = await feed(new Request('http://feed.test/events'));
        expect(response.status).toBe(200);
      }],
      ['events.expunge', () => webhooks.events.expunge(eventId)],
    ];
    for (const [name, operation] of writesAndFreshReads) {
      const counts = await during(operation);
      expect({ name, primary: counts.primary > 0, replica: counts.replica }).toEqual({ name, primary: true, replica: 0 });
    }
  });

  it("serves the dashboard's delivery pages and overview from the read pool through the instance", async () => {
    const { webhooks, deliveryId, during } = await setup();
    const dashboard = createDashboard(webhooks, { basePath: '/admin/webhooks', authorize: () => ({ actor: 'ops:alice' }) });
    for (const path of ['/deliveries', `/deliveries/${deliveryId}`, '/']) {
      const counts = await during(async () => {
        const response = await dashboard.fetch(new Request(`http://dashboard.test/admin/webhooks${path}`));
        expect(response.status).toBe(200);
      });
      expect({ path, replica: counts.replica > 0 }).toEqual({ path, replica: true });
    }
  });

  it('creates a pool from a connection string, ends it on close(), and leaves a handed-in read pool open', async () => {
    const schema = schemaName();
    const owning = createPostgresStorage({ connectionString: url, readPool: url, schema });
    await owning.migrate();
    expect(await owning.stats(0, {}, { mayLag: true })).toMatchObject({ pending: 0 });
    await owning.close();
    const replica = countedPool();
    const borrowing = createPostgresStorage({ connectionString: url, readPool: replica.pool, schema });
    expect(await borrowing.stats(0, {}, { mayLag: true })).toMatchObject({ pending: 0 });
    await borrowing.close();
    expect(replica.pool.ended).toBe(false);
    expect((await replica.pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});
