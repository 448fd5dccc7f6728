/**
 * What is particular to retention on the PostgreSQL storage (the shared rules are in the
 * conformance suite, test/conformance/retention.ts): one purger per schema across
 * instances, by a transaction-level advisory lock that a batch tries and never waits for;
 * and the plans of its reads, by index. On a real PostgreSQL, in schemas of this file's own.
 */
import { describe, expect, it } from 'vitest';
import { postgresStatements } from '../../../src/storage/postgres/statements/index.js';
import type { PurgeRetentionInput } from '../../../src/storage/storage-adapter.js';
import { admin, migrated, storageOn, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { findNode, planNodes, planOf } from '../../support/postgres-plans.js';
import { NOW, publish, subscription } from '../../support/storage-records.js';

usePostgresDatabase();

/** A batch that removes every event published before NOW + 1 (none has a delivery: no subscription). */
const eventsBatch = (limit: number): PurgeRetentionInput => ({ deliveredBefore: null, deadBefore: null, eventsBefore: NOW + 1, limit, now: NOW });

describe('retention on PostgreSQL', () => {
  it('lets one instance purge a schema at a time: while another holds the batch lock, a batch answers zeros without waiting', async () => {
    const first = await migrated();
    const second = storageOn({ schema: first.schema });
    const other = await migrated();
    for (let i = 0; i < 3; i++) {
      await publish(first, NOW);
      await publish(other, NOW);
    }
    const holder = await admin.connect();
    try {
      await holder.query('BEGIN');
      // The lock a batch of `first`'s schema takes: another instance in the middle of one.
      const { rows } = await holder.query<{ locked: boolean }>(postgresStatements(first.schema).tryRetentionLock, [first.schema]);
      expect(rows[0]!.locked).toBe(true);

      expect(await first.purgeRetention(eventsBatch(10))).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 0, more: false, skipped: true });
      expect(await second.purgeRetention(eventsBatch(10))).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 0, more: false, skipped: true });
      expect((await first.listEvents({ limit: 10 })).items).toHaveLength(3);
      // Another schema has a lock of its own.
      expect(await other.purgeRetention(eventsBatch(10))).toEqual({ deliveries: 0, attempts: 0, events: 3, testAttempts: 0, more: false });
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    // The lock ends with the holder's transaction.
    expect(await second.purgeRetention(eventsBatch(2))).toEqual({ deliveries: 0, attempts: 0, events: 2, testAttempts: 0, more: true });
    expect(await first.purgeRetention(eventsBatch(2))).toEqual({ deliveries: 0, attempts: 0, events: 1, testAttempts: 0, more: false });
  });

  it('removes each row once when instances purge at the same moment: the ones that miss the lock get zeros', async () => {
    const storages = [await migrated()];
    for (let i = 0; i < 3; i++) storages.push(storageOn({ schema: storages[0]!.schema }));
    for (let i = 0; i < 20; i++) await publish(storages[0]!, NOW);
    const results = await Promise.all(storages.map((storage) => storage.purgeRetention(eventsBatch(20))));
    const removed = results.map((result) => result.events);
    // Whoever took the lock took everything; the rest found it held (or nothing left).
    expect(removed.reduce((sum, n) => sum + n, 0)).toBe(20);
    expect(removed.filter((n) => n !== 0)).toEqual([20]);
    for (const result of results) expect(result.more).toBe(false);
  });

  it('reads the old final deliveries and the old events by index, probing each event\'s deliveries rather than hashing the table', async () => {
    const storage = await migrated();
    const s = `"${storage.schema}"`;
    await storage.createSubscription(subscription({ id: 'sub_plan' }));
    await publish(storage, NOW);
    // 5,000 events, each with a delivered delivery, as copies of the one published: enough
    // for the planner to prefer a hash anti-join over the deliveries if it were allowed one.
    await admin.query(
      `INSERT INTO ${s}.events (id, type, published_at, payload, idempotency_key, tenant_id)
       SELECT 'evt_plan' || g, 'payment.succeeded', ${NOW} + g, '{}', NULL, NULL FROM generate_series(1, 5000) AS g`,
    );
    const { rows } = await admin.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'deliveries' ORDER BY ordinal_position`,
      [storage.schema],
    );
    const copied: Record<string, string> = {
      id: `'dlv_plan' || g`,
      event_id: `'evt_plan' || g`,
      status: `'delivered'`,
      next_attempt_at: 'NULL',
      delivered_at: `${NOW} + g`,
      updated_at: `${NOW} + g`,
    };
    const columns = rows.map((row) => row.column_name);
    await admin.query(
      `INSERT INTO ${s}.deliveries (${columns.join(', ')})
       SELECT ${columns.map((column) => copied[column] ?? `d.${column}`).join(', ')}
       FROM generate_series(1, 5000) AS g, (SELECT * FROM ${s}.deliveries LIMIT 1) AS d`,
    );
    await admin.query(`ANALYZE ${s}.events; ANALYZE ${s}.deliveries`);
    const sql = postgresStatements(storage.schema);

    const finalPast = await planOf(sql.finalPast, ['delivered', NOW + 2500, 501]);
    expect(findNode(finalPast, (node) => node['Relation Name'] === 'deliveries')?.['Index Name']).toBe('deliveries_final_at');

    for (const [text, values] of [
      [sql.lockEventsPast, [NOW + 2500, 501]],
      [sql.purgeEventsById, [['evt_plan1', 'evt_plan2']]],
    ] as const) {
      const plan = await planOf(text, [...values]);
      const deliveriesRead = planNodes(plan).filter((node) => node['Relation Name'] === 'deliveries');
      expect(deliveriesRead.map((node) => [node['Node Type'], node['Index Name']])).toEqual([['Index Only Scan', 'deliveries_event_subscription']]);
      expect(findNode(plan, (node) => node['Node Type'].includes('Anti Join'))).toBeUndefined();
    }
    const eventsPast = await planOf(sql.lockEventsPast, [NOW + 2500, 501]);
    expect(findNode(eventsPast, (node) => node['Relation Name'] === 'events')?.['Index Name']).toBe('events_published_at');
  });
});
