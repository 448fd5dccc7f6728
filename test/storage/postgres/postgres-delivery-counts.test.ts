/**
 * What is particular to the PostgreSQL storage's delivery counts (migration 0007; their
 * agreement with a recount is test/property/postgres-delivery-counts.test.ts): backends of
 * different shards writing the counts of one subscription do not wait for each other, a host
 * transaction's included, and one of the same shard waits only for the same subscription;
 * `stats()` reads counters, not the delivery log; the counts of an installation with data
 * are taken at migration. On a real PostgreSQL, in schemas of this file's own.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import type { PostgresStorage } from '../../../src/storage/postgres/index.js';
import { statsSql, tablesOf } from '../../../src/storage/postgres/statements/index.js';
import { admin, cleanups, migrated, schemaAtVersion, storageOn, url, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { planNodes, planOf, rowsRead, type PlanNode } from '../../support/postgres-plans.js';
import { rejectionOf } from '../../support/rejections.js';
import { NOW, publish, subscription } from '../../support/storage-records.js';

usePostgresDatabase();

const SHARDS = 16;

/** The URL with a lock_timeout for every session: a statement that would wait on a row lock fails fast (55P03). */
function withLockTimeout(ms: number): string {
  const separator = url.includes('?') ? '&' : '?';
  return `${url}${separator}options=${encodeURIComponent(`-c lock_timeout=${ms}`)}`;
}

async function shardOf(queryable: pg.Pool | pg.PoolClient): Promise<number> {
  const { rows } = await queryable.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0]!.pid % SHARDS;
}

/** An admin connection whose backend's shard passes `wanted` (bounded: a few hundred fresh connections). */
async function clientIn(wanted: (shard: number) => boolean): Promise<pg.PoolClient> {
  for (let i = 0; i < 300; i++) {
    const client = await admin.connect();
    if (wanted(await shardOf(client))) {
      cleanups.push(async () => client.release(true));
      return client;
    }
    // Ended, not returned to the pool: the next connection is a fresh backend.
    client.release(true);
  }
  throw new Error('no backend of the wanted shard in 300 connections');
}

/** A storage on a pool of one connection (so one backend) outside the shards `taken`, with a lock_timeout. */
async function storageOutside(schema: string, taken: readonly number[]): Promise<{ storage: PostgresStorage; shard: number }> {
  for (let i = 0; i < 40; i++) {
    const storage = storageOn({ schema, connectionString: withLockTimeout(200), poolSize: 1 });
    const shard = await shardOf(storage.pool);
    if (!taken.includes(shard)) return { storage, shard };
    await storage.close();
  }
  throw new Error(`no backend outside shards ${taken.join(', ')} in 40 pools`);
}

async function counterRows(schema: string): Promise<Array<{ subscription_id: string; status: string; shard: number; n: string }>> {
  const { rows } = await admin.query(`SELECT subscription_id, status, shard, n FROM "${schema}".delivery_counts ORDER BY 1, 2, 3`);
  return rows;
}

function delivered(claimed: Awaited<ReturnType<PostgresStorage['claimDue']>>[number], now: number) {
  return {
    deliveryId: claimed.delivery.id,
    leaseToken: claimed.leaseToken,
    attempt: { id: createId('att', now), startedAt: now, durationMs: 5, statusCode: 200, errorClass: null, errorMessage: null, responseSnippet: null },
    outcome: { kind: 'delivered' as const },
  };
}

describe('delivery counts on PostgreSQL', () => {
  it('lets backends of other shards settle and publish for a subscription while a host transaction that published for it is still open', async () => {
    // The first instance's backend (a pool of one) publishes and claims: its shard holds the first counter rows.
    const first = storageOn({ connectionString: withLockTimeout(200), poolSize: 1 });
    await first.migrate();
    const firstShard = await shardOf(first.pool);
    const sub = await first.createSubscription(subscription({ id: 'sub_shared' }));
    for (let i = 0; i < 2; i++) await publish(first, NOW + i);
    const claimed = await first.claimDue({ limit: 2, leaseMs: 60_000, now: NOW + 10 });
    expect(claimed).toHaveLength(2);

    // The host's transaction publishes for the subscription and stays open: it holds the
    // counter row of (sub_shared, pending) of its shard until it ends.
    const host = await clientIn((shard) => shard !== firstShard);
    const hostShard = await shardOf(host);
    await host.query('BEGIN');
    try {
      await publish(first, NOW + 20, { tx: host });
      // Another instance's backend, of another shard, settles one delivery of the subscription
      // (its pending count goes down, its delivered count up) and publishes for it. Any wait on
      // a row lock the host holds would fail after 200 ms (lock_timeout, STORAGE_BUSY).
      const { storage: second } = await storageOutside(first.schema, [firstShard, hostShard]);
      const [settled] = await second.settle([delivered(claimed[0]!, NOW + 30)], NOW + 30);
      expect(settled).toMatchObject({ ok: true });
      await publish(second, NOW + 40);
      // The first backend too: its shard's rows are its own.
      await first.settle([delivered(claimed[1]!, NOW + 50)], NOW + 50);
      await publish(first, NOW + 60);
      // What is committed, without the host's publish.
      expect(await second.stats(NOW + 70, { subscriptionId: sub.id })).toMatchObject({ pending: 2, delivered: 2, leased: 0 });
    } finally {
      await host.query('COMMIT');
    }
    expect(await first.stats(NOW + 80, { subscriptionId: sub.id })).toMatchObject({ pending: 3, delivered: 2 });
    // The writes spread over several rows of (sub_shared, pending), summed on read.
    const pendingRows = (await counterRows(first.schema)).filter((row) => row.status === 'pending');
    expect(pendingRows.length).toBeGreaterThan(1);
  });

  it('makes only a backend of the host transaction\'s shard wait for it, and only for the subscriptions the host published to', async () => {
    const storage = await migrated();
    const s = `"${storage.schema}"`;
    await storage.createSubscription(subscription({ id: 'sub_held', eventTypes: ['payment.succeeded'] }));
    await storage.createSubscription(subscription({ id: 'sub_free', eventTypes: ['refund.initiated'] }));
    const holder = await admin.connect();
    cleanups.push(async () => holder.release(true));
    const shard = await shardOf(holder);
    await holder.query('BEGIN');
    try {
      // Holds the row of (sub_held, pending) of its shard, as a host transaction's publish does.
      await publish(storage, NOW, { tx: holder });
      const sameShard = await clientIn((own) => own === shard);
      await sameShard.query(`SET lock_timeout = '200ms'`);
      const insert = (subscriptionId: string, n: number) =>
        sameShard.query(
          `INSERT INTO ${s}.events (id, type, published_at, payload) VALUES ('evt_${n}', 'payment.succeeded', ${NOW}, '{}');
           INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, status, next_attempt_at, created_at, updated_at)
           VALUES ('dlv_${n}', 'evt_${n}', 'payment.succeeded', '${subscriptionId}', 'pending', ${NOW}, ${NOW}, ${NOW})`,
        );
      expect(await rejectionOf(insert('sub_held', 1))).toMatchObject({ code: '55P03' });
      await insert('sub_free', 2);
    } finally {
      await holder.query('COMMIT');
    }
    expect(await storage.stats(NOW + 2)).toMatchObject({ pending: 2 });
  });

  it('reads the counter rows and the lease rows, and of the delivery log only the head of the oldest pending one', async () => {
    const storage = await migrated();
    const s = `"${storage.schema}"`;
    await storage.createSubscription(subscription({ id: 'sub_plan', tenantId: 't1' }));
    // 20,000 pending deliveries, as a bulk load of a backlog.
    await admin.query(
      `INSERT INTO ${s}.events (id, type, published_at, payload, tenant_id)
       SELECT 'evt_plan' || g, 'payment.succeeded', ${NOW}, '{}', 't1' FROM generate_series(1, 20000) AS g;
       INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, tenant_id, status, next_attempt_at, created_at, updated_at)
       SELECT 'dlv_plan' || g, 'evt_plan' || g, 'payment.succeeded', 'sub_plan', 't1', 'pending', ${NOW} + g, ${NOW} + g, ${NOW}
       FROM generate_series(1, 20000) AS g`,
    );
    await storage.claimDue({ limit: 5, leaseMs: 60_000, now: NOW + 10 });
    await admin.query(`ANALYZE ${s}.deliveries; ANALYZE ${s}.delivery_counts; ANALYZE ${s}.delivery_leases`);
    expect(await storage.stats(NOW + 10)).toMatchObject({ pending: 20_000, leased: 5, oldestPendingCreatedAt: NOW + 1 });

    const tables = tablesOf(storage.schema);
    const { text, values } = statsSql(tables, {});
    const plan = await planOf(text, values, true);
    const deliveriesRead = planNodes(plan).filter((node) => node['Relation Name'] === 'deliveries');
    // The oldest pending one, and the waiting ones (migration 0011: none here) by their partial index.
    expect(deliveriesRead.map((node) => node['Index Name']).sort()).toEqual(['deliveries_pending_created', 'deliveries_waiting']);
    for (const node of deliveriesRead) expect(node['Node Type']).toMatch(/^Index (Only )?Scan$/);
    expect(rowsRead(plan, 'deliveries')).toBe(1);
    expect(rowsRead(plan, 'delivery_leases')).toBe(5);
    expect(rowsRead(plan, 'delivery_counts')).toBeLessThanOrEqual(SHARDS);

    // Of a tenant, of the platform and of a subscription: the statuses from the counter rows,
    // `leased` from the lease rows; the deliveries are read for the oldest pending one, under
    // its LIMIT 1, and for the waiting ones through deliveries_waiting alone.
    for (const query of [{ tenantId: 't1' }, { subscriptionId: 'sub_plan' }, { tenantId: null }]) {
      const scoped = statsSql(tables, query);
      const scopedPlan = await planOf(scoped.text, scoped.values, true);
      const limited = planNodes(scopedPlan).filter((node) => node['Node Type'] === 'Limit').flatMap(planNodes);
      const reads = (nodes: PlanNode[]) => nodes.filter((node) => node['Relation Name'] === 'deliveries').length;
      expect(reads(planNodes(scopedPlan))).toBe(2);
      expect(reads(limited)).toBe(1);
      expect(planNodes(scopedPlan).filter((node) => node['Relation Name'] === 'deliveries' && node['Index Name'] === 'deliveries_waiting')).toHaveLength(1);
      expect(rowsRead(scopedPlan, 'delivery_counts')).toBeLessThanOrEqual(query.tenantId === null ? 0 : SHARDS);
      expect(rowsRead(scopedPlan, 'delivery_leases')).toBe(query.tenantId === null ? 0 : 5);
    }
  });

  it('counts the deliveries and the leases an installation already has when it migrates to version 7', async () => {
    const schema = await schemaAtVersion(6);
    const s = `"${schema}"`;
    await admin.query(
      `INSERT INTO ${s}.subscriptions (id, url, event_types, secrets, headers, metadata, status, tenant_id, created_at, updated_at)
       VALUES ('sub_1', 'https://x.example.com', '["*"]', '[]', '{}', '{}', 'active', 't1', ${NOW}, ${NOW}),
              ('sub_2', 'https://y.example.com', '["*"]', '[]', '{}', '{}', 'active', NULL, ${NOW}, ${NOW});
       INSERT INTO ${s}.events (id, type, published_at, payload) SELECT 'evt_' || g, 'payment.succeeded', ${NOW}, '{}' FROM generate_series(1, 6) AS g;
       INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, tenant_id, status, next_attempt_at, lease_token, lease_expires_at, created_at, updated_at)
       VALUES ('dlv_1', 'evt_1', 'payment.succeeded', 'sub_1', 't1', 'pending', ${NOW}, 'tok', (floor(extract(epoch FROM now()) * 1000))::bigint + 60000, ${NOW}, ${NOW}),
              ('dlv_2', 'evt_2', 'payment.succeeded', 'sub_1', 't1', 'pending', ${NOW}, NULL, NULL, ${NOW}, ${NOW}),
              ('dlv_3', 'evt_3', 'payment.succeeded', 'sub_1', 't1', 'delivered', NULL, NULL, NULL, ${NOW}, ${NOW}),
              ('dlv_4', 'evt_4', 'payment.succeeded', 'sub_2', NULL, 'dead', NULL, NULL, NULL, ${NOW}, ${NOW}),
              ('dlv_5', 'evt_5', 'payment.succeeded', 'sub_2', NULL, 'held', NULL, NULL, NULL, ${NOW}, ${NOW}),
              ('dlv_6', 'evt_6', 'payment.succeeded', 'sub_2', NULL, 'cancelled', NULL, NULL, NULL, ${NOW}, ${NOW});`,
    );
    const storage = storageOn({ schema });
    await storage.migrate();
    const none = { pending: 0, leased: 0, waiting: 0, held: 0, dead: 0, delivered: 0, cancelled: 0 };
    expect(await storage.stats(NOW)).toEqual({ ...none, pending: 2, leased: 1, held: 1, dead: 1, delivered: 1, cancelled: 1, oldestPendingCreatedAt: NOW });
    expect(await storage.stats(NOW, { tenantId: 't1' })).toEqual({ ...none, pending: 2, leased: 1, delivered: 1, oldestPendingCreatedAt: NOW });
    expect(await storage.stats(NOW, { tenantId: null })).toEqual({ ...none, held: 1, dead: 1, cancelled: 1, oldestPendingCreatedAt: null });
    // And keeps them from there on.
    await storage.createSubscription(subscription({ id: 'sub_3' }));
    await publish(storage, NOW + 1);
    expect(await storage.stats(NOW + 1)).toMatchObject({ pending: 3 });
  });
});
