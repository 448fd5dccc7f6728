/**
 * What is particular to the PostgreSQL storage (the shared behaviour is in
 * test/conformance/postgres.test.ts): migrations and the hand-applied SQL, the claim's
 * query plan, the fan-out beyond the pre-generated ids, error mapping and in-place retries,
 * the transactional outbox on the host's client, LISTEN/NOTIFY wake-ups and their
 * recovery, ownership of the pool, and options. On a real PostgreSQL, in a schema of
 * this file's own. The event-type filter rule in its fan-out and replay is a property, in
 * test/property/postgres-event-type-filter.test.ts.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createWebhooks } from '../../../src/create-webhooks.js';
import { isWebhookError, StorageError } from '../../../src/errors.js';
import { createId } from '../../../src/ids.js';
import { createPostgresStorage, getMigrationSql, type PostgresStorage } from '../../../src/storage/postgres/index.js';
import { latestSchemaVersion, migrations } from '../../../src/storage/postgres/migrations/index.js';
import { loadPg } from '../../../src/storage/postgres/driver.js';
import { toStorageError } from '../../../src/storage/postgres/driver-errors.js';
import { postgresStatements } from '../../../src/storage/postgres/statements/index.js';
import { admin, cleanups, migrated, schemaAtVersion, schemaName, storageOn, url, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { dropSchema } from '../../support/postgres.js';
import { findNode, planNodes, type PlanNode } from '../../support/postgres-plans.js';
import { enqueueInput, NOW, subscription } from '../../support/storage-records.js';
import { rejectionOf, thrownBy } from '../../support/rejections.js';

usePostgresDatabase();

/** The test URL with an application_name, to find (and terminate) exactly these connections. */
function urlNamed(applicationName: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('application_name', applicationName);
  return parsed.toString();
}

async function count(schema: string, table: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".${table}`);
  return Number(rows[0]!.n);
}



/** Polls `condition` every 20 ms for at most `timeoutMs`. */
async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, onEachTry?: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    if (onEachTry) await onEachTry();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('migrations', () => {
  it('records the applied migration in <schema>.migrations, and running migrate again changes nothing', async () => {
    const schema = schemaName();
    const storage = await migrated({ schema });
    const { rows } = await admin.query(`SELECT version, name FROM "${schema}".migrations ORDER BY version`);
    expect(rows).toEqual([
      { version: 1, name: '0001-initial' },
      { version: 2, name: '0002-attempt-history' },
      { version: 3, name: '0003-tenants' },
      { version: 4, name: '0004-change-log-erasure' },
      { version: 5, name: '0005-tenantless-events' },
      { version: 6, name: '0006-retention' },
      { version: 7, name: '0007-delivery-counts' },
      { version: 8, name: '0008-test-attempts' },
      { version: 9, name: '0009-payload-filter' },
      { version: 10, name: '0010-delivery-payloads' },
      { version: 11, name: '0011-ordering' },
      { version: 12, name: '0012-event-versions' },
      { version: 13, name: '0013-client-tls' },
      { version: 14, name: '0014-migration-phases' },
      { version: 15, name: '0015-deliveries-fillfactor' },
    ]);
    expect(latestSchemaVersion).toBe(15);
    // 0015: half of each page of the deliveries left for the claim's HOT leases.
    const { rows: options } = await admin.query(`SELECT reloptions FROM pg_class WHERE oid = '"${schema}".deliveries'::regclass`);
    expect(options).toEqual([{ reloptions: ['fillfactor=50'] }]);
    const { rows: phases } = await admin.query(`SELECT version FROM "${schema}".migrations WHERE phase = 'contract'`);
    expect(phases).toEqual([{ version: 3 }]);
    expect(await storage.migrate()).toEqual({ phase: 'expand', dryRun: false, steps: [], pending: [] });
    await storage.migrate({ phase: 'contract' });
    expect(await count(schema, 'migrations')).toBe(15);
  });

  it('lets several adapters migrate a fresh schema at once: the advisory lock lets one apply it, the others find it done', async () => {
    const schema = schemaName();
    const storages = [storageOn({ schema }), storageOn({ schema }), storageOn({ schema })];
    await Promise.all(storages.map((storage) => storage.migrate()));
    expect(await count(schema, 'migrations')).toBe(migrations.length);
    const sub = await storages[0]!.createSubscription(subscription());
    expect(await storages[2]!.getSubscription(sub.id)).toEqual(sub);
  });

  it('refuses a schema with a newer contract step recorded with STORAGE_SCHEMA_TOO_NEW, in migrate and in any call', async () => {
    const schema = schemaName();
    await migrated({ schema });
    await admin.query(`INSERT INTO "${schema}".migrations (version, name, phase) VALUES (98, '0098-future-column', 'expand'), (99, '0099-future', 'contract')`);
    const fresh = storageOn({ schema });
    expect(await rejectionOf(fresh.migrate())).toMatchObject({ name: 'StorageError', code: 'STORAGE_SCHEMA_TOO_NEW' });
    expect(await rejectionOf(fresh.getSubscription('sub_x'))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_NEW' });
    expect(await rejectionOf(fresh.claimDue({ limit: 1, leaseMs: 1000, now: NOW }))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_NEW' });
  });

  it('answers STORAGE_NOT_MIGRATED, never a raw "relation does not exist", on a schema never migrated', async () => {
    const storage = storageOn();
    for (const call of [
      () => storage.getSubscription('sub_x'),
      () => storage.createSubscription(subscription()),
      () => storage.enqueue(enqueueInput()),
      () => storage.claimDue({ limit: 10, leaseMs: 1000, now: NOW }),
      () => storage.stats(NOW),
    ]) {
      const error = await rejectionOf(call());
      expect(isWebhookError(error)).toBe(true);
      expect(error).toMatchObject({ code: 'STORAGE_NOT_MIGRATED' });
    }
    await storage.migrate();
    expect(await storage.getSubscription('sub_x')).toBeNull();
  });

  it('answers STORAGE_NOT_MIGRATED when the schema is dropped under a running adapter', async () => {
    const schema = schemaName();
    const storage = await migrated({ schema });
    await dropSchema(url, schema);
    expect(await rejectionOf(storage.getSubscription('sub_x'))).toMatchObject({ code: 'STORAGE_NOT_MIGRATED' });
  });

  it('applies getMigrationSql() cleanly as one psql-style script, after which migrate() has nothing to do', async () => {
    const schema = schemaName();
    const script = getMigrationSql({ schema });
    expect(script).toContain('BEGIN;');
    expect(script).toContain('COMMIT;');
    // No parameters: node-postgres sends it with the simple-query protocol, several
    // statements in one string, as psql -f does.
    await admin.query(script);
    expect((await admin.query(`SELECT version FROM "${schema}".migrations ORDER BY version`)).rows).toEqual([
      { version: 1 },
      { version: 2 },
      { version: 3 },
      { version: 4 },
      { version: 5 },
      { version: 6 },
      { version: 7 },
      { version: 8 },
      { version: 9 },
      { version: 10 },
      { version: 11 },
      { version: 12 },
      { version: 13 },
      { version: 14 },
      { version: 15 },
    ]);
    const storage = storageOn({ schema });
    expect((await storage.migrate({ phase: 'contract' })).steps).toEqual([]);
    expect(await count(schema, 'migrations')).toBe(15);
    const sub = await storage.createSubscription(subscription());
    expect(await storage.getSubscription(sub.id)).toEqual(sub);
    // Re-applying the same script fails at its first step (its CREATE TABLEs exist) and changes nothing.
    expect(await rejectionOf(admin.query(script))).toMatchObject({ code: '42P07' });
    expect(await count(schema, 'migrations')).toBe(15);
  });

  it('emits only the migrations after fromVersion, and refuses a bad schema name or version', () => {
    const upToDate = getMigrationSql({ schema: 'ledger_webhooks', fromVersion: latestSchemaVersion });
    expect(upToDate).not.toContain('CREATE TABLE "ledger_webhooks".deliveries');
    expect(getMigrationSql()).toContain('CREATE TABLE "webhooks".deliveries');
    for (const options of [{ schema: 'Webhooks' }, { schema: 'pg_hooks' }, { schema: 'a-b' }, { fromVersion: -1 }, { fromVersion: 99 }, { extra: 1 }]) {
      expect(thrownBy(() => getMigrationSql(options as never))).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
    }
  });

  it('upgrades a version-1 schema with its delivery log: migration 0002 reads the history from the attempts already recorded', async () => {
    const schema = await schemaAtVersion(1);
    const s = `"${schema}"`;
    // Two deliveries as version 1 left them: the first failed, then died; the second failed, then was delivered.
    await admin.query(
      `INSERT INTO ${s}.subscriptions (id, url, event_types, secrets, headers, metadata, status, created_at, updated_at)
       VALUES ('sub_1', 'https://x.example.com', '["*"]', '[]', '{}', '{}', 'active', ${NOW}, ${NOW});
       INSERT INTO ${s}.subscription_event_types (filter, subscription_id) VALUES ('*', 'sub_1');
       INSERT INTO ${s}.events (id, type, published_at, payload)
       VALUES ('evt_1', 'payment.succeeded', ${NOW}, '{}'), ('evt_2', 'payment.succeeded', ${NOW}, '{}');
       INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES ('dlv_1', 'evt_1', 'payment.succeeded', 'sub_1', 'dead', 2, NULL, ${NOW}, ${NOW + 20}),
              ('dlv_2', 'evt_2', 'payment.succeeded', 'sub_1', 'delivered', 2, NULL, ${NOW}, ${NOW + 40});
       INSERT INTO ${s}.attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code, outcome)
       VALUES ('att_1', 'dlv_1', 1, ${NOW + 10}, 5, 500, 'retry'), ('att_2', 'dlv_1', 2, ${NOW + 20}, 5, 500, 'dead'),
              ('att_3', 'dlv_2', 1, ${NOW + 30}, 5, 500, 'retry'), ('att_4', 'dlv_2', 2, ${NOW + 40}, 5, 200, 'delivered');`,
    );

    const after = storageOn({ schema });
    await after.migrate({ phase: 'contract' });
    for (const id of ['dlv_1', 'dlv_2']) expect(await after.redeliver(id, NOW + 200)).toMatchObject({ status: 'pending' });
    const claimed = await after.claimDue({ limit: 10, leaseMs: 60_000, now: NOW + 200 });
    expect(Object.fromEntries(claimed.map((c) => [c.delivery.eventId, c.history]))).toEqual({
      evt_1: { attempts: 2, firstFailedAt: NOW + 10, recoveredAt: null },
      evt_2: { attempts: 2, firstFailedAt: NOW + 30, recoveredAt: NOW + 40 },
    });
  });

  it('keeps two schemas in one database apart', async () => {
    const a = await migrated();
    const b = await migrated();
    const sub = await a.createSubscription(subscription());
    expect(await b.getSubscription(sub.id)).toBeNull();
    await a.enqueue(enqueueInput());
    expect((await b.stats(NOW)).pending).toBe(0);
    expect((await a.stats(NOW)).pending).toBe(1);
  });
});

describe('query plans', () => {
  it('claims through the partial index deliveries_due with a row lock that skips locked rows, not a scan of the backlog', async () => {
    const schema = schemaName();
    await migrated({ schema });
    const s = `"${schema}"`;
    // 50,000 deliveries, 10 % pending: a log with history, as a running system has.
    await admin.query(
      `INSERT INTO ${s}.subscriptions (id, url, event_types, secrets, headers, metadata, status, created_at, updated_at)
       VALUES ('sub_1', 'https://x.example.com', '["*"]', '[]', '{}', '{}', 'active', 0, 0)`,
    );
    await admin.query(
      `INSERT INTO ${s}.events (id, type, published_at, payload)
       SELECT 'evt_' || lpad(g::text, 8, '0'), 'payment.succeeded', ${NOW}, '{}' FROM generate_series(1, 50000) AS g`,
    );
    await admin.query(
      `INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, created_at, updated_at)
       SELECT 'dlv_' || lpad(g::text, 8, '0'), 'evt_' || lpad(g::text, 8, '0'), 'payment.succeeded', 'sub_1',
         CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'delivered' END, 0,
         CASE WHEN g % 10 = 0 THEN ${NOW} + g END, ${NOW}, ${NOW}
       FROM generate_series(1, 50000) AS g`,
    );
    const { claim } = postgresStatements(schema);
    const dueScan = async (): Promise<PlanNode> => {
      const { rows } = await admin.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${claim}`, [NOW + 100_000, 50, 60_000]);
      const root = (rows[0]!['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan;
      const due = findNode(root, (node) => node['Subplan Name'] === 'CTE due');
      expect(due).toBeDefined();
      return due!;
    };
    // Fresh from a burst of inserts (never ANALYZEd, as right after a deploy), then with statistics.
    for (const moment of ['before ANALYZE', 'after ANALYZE']) {
      if (moment === 'after ANALYZE') await admin.query(`ANALYZE ${s}.deliveries; ANALYZE ${s}.events; ANALYZE ${s}.subscriptions`);
      const due = await dueScan();
      // Limit over LockRows (FOR UPDATE SKIP LOCKED) over the partial index read in order:
      // no Sort (which would mean reading every pending row first) and no other access to deliveries.
      expect(due['Node Type'], moment).toBe('Limit');
      expect(due.Plans?.[0]?.['Node Type'], moment).toBe('LockRows');
      const below = planNodes(due);
      expect(below.filter((node) => node['Node Type'] === 'Sort'), moment).toEqual([]);
      expect(
        below.filter((node) => node['Relation Name'] === 'deliveries').map((node) => [node['Node Type'], node['Index Name']]),
        moment,
      ).toEqual([['Index Scan', 'deliveries_due']]);
    }
    // And it runs: the 50 oldest due pending rows, in due order.
    const storage = storageOn({ schema });
    const claimed = await storage.claimDue({ limit: 50, leaseMs: 60_000, now: NOW + 100_000 });
    expect(claimed.map((c) => c.delivery.id)).toEqual(Array.from({ length: 50 }, (_, i) => `dlv_${String((i + 1) * 10).padStart(8, '0')}`));
  });
});

describe('claims and the two clocks', () => {
  it.each([
    ['plain', (schema: string) => [postgresStatements(schema).claim, [NOW + 1_000, 5, 60_000]] as const],
    ['skipping subscriptions and tenants', (schema: string) => [postgresStatements(schema).claimExcluding, [NOW + 1_000, 5, 60_000, ['sub_other'], ['t_other']]] as const],
  ])('leases with heap-only (HOT) updates: a claim writes no index entry (%s claim)', async (_, statement) => {
    const schema = schemaName();
    const storage = await migrated({ schema });
    await storage.createSubscription(subscription());
    for (let i = 0; i < 40; i++) await storage.enqueue(enqueueInput());
    const [sql, values] = statement(schema);
    const client = await admin.connect();
    try {
      await client.query('BEGIN');
      // A second after the publishes: a lease that also wrote updated_at would change it.
      const { rows } = await client.query(sql, [...values]);
      const { rows: counts } = await client.query<{ updated: string; hot: string }>(
        `SELECT pg_stat_get_xact_tuples_updated(c.oid) AS updated, pg_stat_get_xact_tuples_hot_updated(c.oid) AS hot
         FROM pg_class AS c WHERE c.oid = '"${schema}".deliveries'::regclass`,
      );
      await client.query('ROLLBACK');
      // A lease writes only the lease columns, which no index covers, so on a page with room
      // (the table's fillfactor leaves some) every lease is a HOT update. Had it changed a
      // column of any index (updated_at is in the partial deliveries_final_at), none would be.
      expect(rows).toHaveLength(5);
      expect(counts[0]).toEqual({ updated: '5', hot: '5' });
    } finally {
      client.release();
    }
  });

  it('steps over the deliveries in flight (they keep their place at the head of the due index)', async () => {
    const storage = await migrated();
    await storage.createSubscription(subscription());
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const { event } = await storage.enqueue({ ...enqueueInput(), now: NOW + i });
      ids.push((await storage.listDeliveries({ eventId: event.id, limit: 1 })).items[0]!.id);
    }
    const inFlight = await storage.claimDue({ limit: 15, leaseMs: 60_000, now: NOW + 100 });
    expect(inFlight.map((c) => c.delivery.id)).toEqual(ids.slice(0, 15));
    const next = await storage.claimDue({ limit: 20, leaseMs: 60_000, now: NOW + 100 });
    expect(next.map((c) => c.delivery.id)).toEqual(ids.slice(15, 35));
  });

  it('takes lease expiry from the database clock and reports it in the caller clock, whatever the skew', async () => {
    const storage = await migrated();
    await storage.createSubscription(subscription());
    await storage.enqueue(enqueueInput());
    // The caller's clock is years behind the database's (NOW is in 2023).
    const [claimed] = await storage.claimDue({ limit: 1, leaseMs: 60_000, now: NOW });
    const { rows } = await admin.query<{ db_now: string }>(`SELECT floor(extract(epoch FROM now()) * 1000)::bigint AS db_now`);
    const dbNow = Number(rows[0]!.db_now);
    // The lease runs 60 s on the database clock, not from the caller's `now`.
    expect(claimed!.delivery.leaseExpiresAt! - dbNow).toBeGreaterThan(55_000);
    expect(claimed!.delivery.leaseExpiresAt! - dbNow).toBeLessThanOrEqual(60_000);
    // …and nextDueAt says when it becomes claimable in the caller's terms: about now + 60 s.
    const due = await storage.nextDueAt(NOW);
    expect(due! - NOW).toBeGreaterThan(55_000);
    expect(due! - NOW).toBeLessThanOrEqual(60_000);
    // A caller whose clock runs far AHEAD cannot take the lease over early.
    expect(await storage.claimDue({ limit: 1, leaseMs: 60_000, now: dbNow + 3_600_000 })).toEqual([]);
  });

  it('holds, instead of sending, a pending delivery whose subscription was disabled by a racing transaction', async () => {
    const schema = schemaName();
    const storage = await migrated({ schema });
    const sub = await storage.createSubscription(subscription());
    const other = await storage.createSubscription(subscription({ id: createId('sub', NOW) }));
    const result = await storage.enqueue(enqueueInput());
    expect(result.deliveryCount).toBe(2);
    // What a publish that read the subscription as active, committing after a concurrent
    // disable, leaves behind: a pending delivery of a disabled subscription.
    await admin.query(`UPDATE "${schema}".subscriptions SET status = 'disabled' WHERE id = $1`, [sub.id]);
    const claimed = await storage.claimDue({ limit: 10, leaseMs: 60_000, now: NOW });
    expect(claimed.map((c) => c.subscription.id)).toEqual([other.id]);
    const [stray] = (await storage.listDeliveries({ subscriptionId: sub.id, limit: 10 })).items;
    expect(stray).toMatchObject({ status: 'held', nextAttemptAt: null });
    await storage.setSubscriptionStatus(sub.id, { status: 'active' }, NOW + 1);
    expect((await storage.claimDue({ limit: 10, leaseMs: 60_000, now: NOW + 1 })).map((c) => c.delivery.id)).toEqual([stray!.id]);
  });
});

describe('flow control and failure tracking', () => {
  it("skips an excluded subscription's backlog without walking over it", async () => {
    const schema = schemaName();
    const storage = await migrated({ schema });
    const s = `"${schema}"`;
    const busy = await storage.createSubscription(subscription());
    const other = await storage.createSubscription(subscription({ id: createId('sub', NOW) }));
    // 3,000 due deliveries of the excluded subscription, all older than the other's 10.
    await admin.query(
      `INSERT INTO ${s}.events (id, type, published_at, payload)
       SELECT 'evt_' || lpad(g::text, 8, '0'), 'payment.succeeded', ${NOW}, '{}' FROM generate_series(1, 3010) AS g`,
    );
    await admin.query(
      `INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, created_at, updated_at)
       SELECT 'dlv_' || lpad(g::text, 8, '0'), 'evt_' || lpad(g::text, 8, '0'), 'payment.succeeded',
         CASE WHEN g <= 3000 THEN $1 ELSE $2 END, 'pending', 0, ${NOW} + g, ${NOW}, ${NOW}
       FROM generate_series(1, 3010) AS g`,
      [busy.id, other.id],
    );
    await admin.query(`ANALYZE ${s}.deliveries`);
    const client = await admin.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${postgresStatements(schema).claimExcluding}`,
        [NOW + 10_000, 5, 60_000, [busy.id], []],
      );
      await client.query('ROLLBACK');
      const root = (rows[0]!['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan;
      const reads = planNodes(root).filter((node) => node['Relation Name'] === 'deliveries' && node['Node Type'] !== 'ModifyTable');
      // No read of deliveries returned more than the window at the head of the due order
      // (16 × limit): nothing like the 3,000-row backlog.
      expect(Math.max(...reads.map((node) => (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1)))).toBeLessThanOrEqual(80);
    } finally {
      client.release();
    }
    const claimed = await storage.claimDue({ limit: 5, leaseMs: 60_000, now: NOW + 10_000, excludeSubscriptionIds: [busy.id] });
    expect(claimed.map((c) => c.delivery.id)).toEqual(['dlv_00003001', 'dlv_00003002', 'dlv_00003003', 'dlv_00003004', 'dlv_00003005']);
  });

  const attemptAt = (startedAt: number) => ({
    id: createId('att', startedAt),
    startedAt,
    durationMs: 1,
    statusCode: 500,
    errorClass: 'http' as const,
    errorMessage: 'HTTP 500',
    responseSnippet: null,
  });

  it("keeps failingSince as the batch's settlements leave it, in order, and writes the row only when it changes", async () => {
    const schema = schemaName();
    const storage = await migrated({ schema });
    const sub = await storage.createSubscription(subscription());
    for (let i = 0; i < 5; i++) await storage.enqueue(enqueueInput());
    const claimed = await storage.claimDue({ limit: 5, leaseMs: 60_000, now: NOW });
    const settle = (index: number, outcome: Parameters<PostgresStorage['settle']>[0][number]['outcome'], startedAt: number) => ({
      deliveryId: claimed[index]!.delivery.id,
      leaseToken: claimed[index]!.leaseToken,
      attempt: attemptAt(startedAt),
      outcome,
    });
    const results = await storage.settle(
      [
        settle(0, { kind: 'retry', nextAttemptAt: NOW + 1000 }, NOW + 1),
        settle(1, { kind: 'dead' }, NOW + 2),
        settle(2, { kind: 'delivered' }, NOW + 3),
        settle(3, { kind: 'retry', nextAttemptAt: NOW + 1000 }, NOW + 4),
      ],
      NOW + 10,
    );
    expect(results.map((r) => (r.ok ? r.failingSince : 'lost'))).toEqual([NOW + 1, NOW + 1, null, NOW + 4]);
    expect(await storage.getSubscription(sub.id)).toMatchObject({ failingSince: NOW + 4, updatedAt: sub.updatedAt });
    // Another failure leaves it be (no write); a success clears it.
    const [again] = await storage.settle([settle(4, { kind: 'retry', nextAttemptAt: NOW + 1000 }, NOW + 20)], NOW + 20);
    expect(again).toMatchObject({ ok: true, failingSince: NOW + 4 });
    const [retried] = await storage.claimDue({ limit: 1, leaseMs: 60_000, now: NOW + 1000 });
    const [cleared] = await storage.settle(
      [{ deliveryId: retried!.delivery.id, leaseToken: retried!.leaseToken, attempt: { ...attemptAt(NOW + 1001), statusCode: 200 }, outcome: { kind: 'delivered' } }],
      NOW + 1001,
    );
    expect(cleared).toMatchObject({ ok: true, failingSince: null });
    expect((await storage.getSubscription(sub.id))!.failingSince).toBeNull();
  });

  it('stores flowControl, patches it, and skips excluded subscriptions when claiming', async () => {
    const storage = await migrated();
    const slow = await storage.createSubscription(subscription({ flowControl: { maxInFlight: 2, ratePerSecond: 5, burst: 1 } }));
    const fast = await storage.createSubscription(subscription({ id: createId('sub', NOW) }));
    expect((await storage.getSubscription(slow.id))!.flowControl).toEqual({ maxInFlight: 2, ratePerSecond: 5, burst: 1 });
    const patched = await storage.updateSubscription(slow.id, { flowControl: { ratePerSecond: null } }, NOW + 1);
    expect(patched!.flowControl).toEqual({ ratePerSecond: null });
    for (let i = 0; i < 3; i++) await storage.enqueue(enqueueInput());
    const claimed = await storage.claimDue({ limit: 10, leaseMs: 60_000, now: NOW, excludeSubscriptionIds: [slow.id] });
    expect(claimed.map((c) => c.subscription.id)).toEqual([fast.id, fast.id, fast.id]);
    expect(await storage.stats(NOW, { subscriptionId: slow.id })).toMatchObject({ pending: 3, leased: 0 });
    expect(await storage.stats(NOW, { subscriptionId: fast.id })).toMatchObject({ pending: 3, leased: 3 });
    expect((await storage.listDeliveries({ status: ['pending', 'dead'], limit: 10 })).items).toHaveLength(6);
    expect((await storage.listDeliveries({ status: ['held', 'dead'], limit: 10 })).items).toHaveLength(0);
  });
});

describe('the event-type filter rule in the fan-out, and replay by the matched types', () => {
  it('fans out to more subscriptions than the pre-generated ids in one publish, atomically', async () => {
    const storage = await migrated();
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await storage.createSubscription(subscription({ id: createId('sub', NOW) }))).id);
    const result = await storage.enqueue(enqueueInput());
    expect(result).toMatchObject({ created: true, deliveryCount: 40 });
    const listed = await storage.listDeliveries({ eventId: result.event.id, limit: 100 });
    expect(listed.items.map((d) => d.subscriptionId).sort()).toEqual(ids.sort());
  });
});

describe('driver errors', () => {
  const pgError = (code: string, message = `error ${code}`) => Object.assign(new Error(message), { code });

  it('maps each kind of pg error to its coded StorageError, never letting the raw one through', () => {
    const cases: Array<[unknown, string, boolean]> = [
      [pgError('40001', 'could not serialize access'), 'STORAGE_BUSY', true],
      [pgError('40P01', 'deadlock detected'), 'STORAGE_BUSY', true],
      [pgError('23505', 'duplicate key value'), 'STORAGE_CONFLICT', false],
      [pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'), 'STORAGE_UNAVAILABLE', true],
      [pgError('57P01', 'terminating connection due to administrator command'), 'STORAGE_UNAVAILABLE', true],
      [pgError('08006', 'connection failure'), 'STORAGE_UNAVAILABLE', true],
      [new Error('Connection terminated unexpectedly'), 'STORAGE_UNAVAILABLE', true],
      [new Error('Cannot use a pool after calling end on the pool'), 'STORAGE_CLOSED', false],
      [pgError('42P01', 'relation "webhooks.deliveries" does not exist'), 'STORAGE_NOT_MIGRATED', false],
      [pgError('22P02', 'invalid input syntax'), 'STORAGE_FAILED', false],
      [pgError('08P01', 'bind message supplies 4 parameters'), 'STORAGE_FAILED', false],
      ['not even an Error', 'STORAGE_FAILED', false],
    ];
    for (const [raw, code, retryable] of cases) {
      const mapped = toStorageError(raw, 'test');
      expect(mapped).toBeInstanceOf(StorageError);
      expect(mapped).toMatchObject({ code, retryable, cause: raw });
    }
    const own = new StorageError('STORAGE_LEASE_LOST', 'x');
    expect(toStorageError(own, 'test')).toBe(own);
  });

  it('maps a duplicate subscription id to STORAGE_CONFLICT', async () => {
    const storage = await migrated();
    const record = subscription();
    await storage.createSubscription(record);
    const error = await rejectionOf(storage.createSubscription(record));
    expect(error).toMatchObject({ name: 'StorageError', code: 'STORAGE_CONFLICT', retryable: false });
    expect((error as StorageError).cause).toMatchObject({ code: '23505' });
  });

  it('retries a serialization failure or deadlock in place, so the caller never sees it', async () => {
    const schema = schemaName();
    await migrated({ schema });
    const real = new pg.Pool({ connectionString: url, max: 2 });
    cleanups.push(() => real.end());
    let failures = 2;
    let calls = 0;
    // A pool that answers the first two claims with 40001 and 40P01, as a racing transaction would.
    const flaky = {
      query: (query: string | { text: string }, values?: unknown[]) => {
        const text = typeof query === 'string' ? query : query.text;
        if (text.includes('FOR UPDATE OF d SKIP LOCKED')) {
          calls += 1;
          if (failures > 0) {
            failures -= 1;
            return Promise.reject(pgError(failures === 1 ? '40001' : '40P01'));
          }
        }
        return real.query(query as never, values);
      },
      connect: () => real.connect(),
      end: async () => undefined,
      on: () => flaky,
    };
    const storage = createPostgresStorage({ pool: flaky as never, schema });
    cleanups.push(() => storage.close());
    await storage.createSubscription(subscription());
    await storage.enqueue(enqueueInput());
    const claimed = await storage.claimDue({ limit: 10, leaseMs: 60_000, now: NOW });
    expect(claimed).toHaveLength(1);
    expect(calls).toBe(3);
  });

  it('does not retry inside the host transaction: the host owns it, and a failed statement has aborted it', async () => {
    const storage = await migrated();
    await storage.createSubscription(subscription());
    let calls = 0;
    const tx = {
      query: () => {
        calls += 1;
        return Promise.reject(pgError('40001'));
      },
    };
    const error = await rejectionOf(storage.enqueue(enqueueInput('payment.succeeded', { tx })));
    expect(error).toMatchObject({ code: 'STORAGE_BUSY', retryable: true });
    expect(calls).toBe(1);
  });

  it('answers a retryable STORAGE_UNAVAILABLE when the database cannot be reached', async () => {
    const storage = storageOn({ connectionString: 'postgres://postgres@127.0.0.1:1/test' });
    const error = await rejectionOf(storage.getSubscription('sub_x'));
    expect(error).toMatchObject({ name: 'StorageError', code: 'STORAGE_UNAVAILABLE', retryable: true });
    expect(await rejectionOf(storage.migrate())).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
  });

  it('keeps its own pool working after pg_terminate_backend of all its connections', async () => {
    const name = `wh_unit_${createId('t').slice(-10).toLowerCase()}`;
    const storage = await migrated({ connectionString: urlNamed(name), poolSize: 3 });
    await Promise.all([storage.stats(NOW), storage.stats(NOW), storage.stats(NOW)]);
    const { rows } = await admin.query(
      `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1`,
      [name],
    );
    expect(rows.length).toBeGreaterThan(0);
    // The idle clients' errors are absorbed by the pool's listener (no crash), and the
    // next calls get fresh connections (a read retries in place if it drew a dead one).
    await new Promise((resolve) => setTimeout(resolve, 50));
    await storage.createSubscription(subscription());
    expect((await storage.listSubscriptions({ limit: 10 })).items).toHaveLength(1);
  });

  it('answers STORAGE_CLOSED from every method after close(), and closing twice is fine', async () => {
    const storage = await migrated();
    await storage.close();
    await storage.close();
    for (const call of [
      () => storage.getSubscription('sub_x'),
      () => storage.enqueue(enqueueInput()),
      () => storage.claimDue({ limit: 1, leaseMs: 1000, now: NOW }),
      () => storage.migrate(),
      () => storage.subscribeWake(() => undefined),
    ]) {
      expect(await rejectionOf(call())).toMatchObject({ name: 'StorageError', code: 'STORAGE_CLOSED' });
    }
  });
});

describe('the transactional outbox on the host client', () => {
  const payment = {
    paymentId: 'pay_1',
    customerId: 'cus_1',
    amount: { amount: 12_30, currency: 'EUR' },
    method: 'card' as const,
    occurredAt: '2026-11-26T12:00:00.000Z',
  };

  async function outbox() {
    const schema = schemaName();
    const pool = new pg.Pool({ connectionString: url, max: 3 });
    pool.on('error', () => undefined);
    cleanups.push(() => pool.end());
    const storage = createPostgresStorage({ pool, schema });
    const webhooks = createWebhooks({ storage, security: { allowPrivateNetworks: true } });
    cleanups.push(() => webhooks.close());
    await storage.migrate();
    await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['payment.*'] });
    await pool.query(`CREATE TABLE "${schema}".ledger (id text PRIMARY KEY, amount_minor bigint NOT NULL)`);
    return { schema, pool, storage, webhooks };
  }

  it('leaves no event and no delivery when the host rolls its transaction back', async () => {
    const { schema, pool, webhooks } = await outbox();
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO "${schema}".ledger VALUES ('entry_1', 1230)`);
      const published = await webhooks.publish('payment.succeeded', payment, { tx: client });
      expect(published).toMatchObject({ created: true, deliveryCount: 1 });
      // Inside the transaction the host's client sees its outbox rows; nobody else does yet.
      expect(Number((await client.query(`SELECT count(*) AS n FROM "${schema}".deliveries`)).rows[0].n)).toBe(1);
      expect(await count(schema, 'deliveries')).toBe(0);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await count(schema, 'ledger')).toBe(0);
    expect(await count(schema, 'events')).toBe(0);
    expect(await count(schema, 'deliveries')).toBe(0);
  });

  it('stores the event and its delivery when the host commits, and only then wakes the other instances', async () => {
    const { schema, pool, webhooks } = await outbox();
    const other = storageOn({ schema });
    let woken = 0;
    await other.subscribeWake(() => {
      woken += 1;
    });
    const client = await pool.connect();
    let eventId: string;
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO "${schema}".ledger VALUES ('entry_2', 1230)`);
      eventId = (await webhooks.publish('payment.succeeded', payment, { tx: client })).id;
      // NOTIFY rides the host's transaction: nothing is announced before the commit.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(woken).toBe(0);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await eventually(() => woken > 0);
    expect(await count(schema, 'ledger')).toBe(1);
    expect((await webhooks.deliveries.list({ eventId })).items).toMatchObject([{ status: 'pending', eventId }]);
  });

  it('refuses a tx without query(text, values) with TX_UNSUPPORTED, storing nothing', async () => {
    const { schema, storage } = await outbox();
    const error = await rejectionOf(storage.enqueue(enqueueInput('payment.succeeded', { tx: { execute: () => undefined } })));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'TX_UNSUPPORTED', field: 'tx' });
    expect(await count(schema, 'events')).toBe(0);
  });

  it('says it takes the host transaction and measures leases with the database clock', async () => {
    const storage = storageOn();
    expect(storage.capabilities).toEqual({ transactions: true, databaseClock: true });
    expect(storage.name).toBe('postgres');
  });
});

describe('LISTEN/NOTIFY wake-ups', () => {
  it('wakes a listener when another pool publishes, and again after its connection was terminated', async () => {
    const schema = schemaName();
    const name = `wh_listen_${createId('t').slice(-10).toLowerCase()}`;
    const listening = await migrated({ schema, connectionString: urlNamed(name) });
    const publisher = storageOn({ schema });
    await publisher.createSubscription(subscription());
    let woken = 0;
    const unsubscribe = await listening.subscribeWake(() => {
      woken += 1;
    });
    const listenerPid = async (): Promise<number | undefined> => {
      const { rows } = await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'`,
        [name],
      );
      return rows[0]?.pid;
    };
    const first = await listenerPid();
    expect(first).toBeDefined();

    await publisher.enqueue(enqueueInput());
    await eventually(() => woken >= 1);

    // Kill the listening connection; the listener reconnects with backoff and wakes once
    // on its own (a notification may have been missed), and hears publishes again.
    await admin.query('SELECT pg_terminate_backend($1)', [first]);
    await eventually(async () => {
      const pid = await listenerPid();
      return pid !== undefined && pid !== first;
    });
    const before = woken;
    await eventually(() => woken > before, 10_000, async () => {
      await publisher.enqueue(enqueueInput());
    });

    await unsubscribe();
    await eventually(async () => (await listenerPid()) === undefined);
  });

  it('does not wake for publishes into another schema on the same channel, nor for events with no delivery', async () => {
    const schema = schemaName();
    const listening = await migrated({ schema });
    const elsewhere = await migrated();
    await elsewhere.createSubscription(subscription());
    let woken = 0;
    await listening.subscribeWake(() => {
      woken += 1;
    });
    await elsewhere.enqueue(enqueueInput());
    const sameSchema = storageOn({ schema });
    await sameSchema.enqueue(enqueueInput());
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(woken).toBe(0);
  });
});

describe('ownership of the pool', () => {
  it('leaves a handed-in pool open on close()', async () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    cleanups.push(() => pool.end());
    const storage = createPostgresStorage({ pool, schema: schemaName() });
    await storage.migrate();
    await storage.close();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('ends the pool it created on close()', async () => {
    const storage = await migrated();
    await storage.close();
    expect(storage.pool.ending || storage.pool.ended).toBe(true);
  });
});

describe('options', () => {
  it('refuses unknown, malformed or conflicting options with CONFIG_INVALID and the field at fault', () => {
    const pool = new pg.Pool({ connectionString: url });
    cleanups.push(() => pool.end());
    const cases: Array<[unknown, string]> = [
      [{ connectionString: url, poolsize: 3 }, 'poolsize'],
      [{ connectionString: url, schema: 'Webhooks' }, 'schema'],
      [{ connectionString: url, schema: 'pg_webhooks' }, 'schema'],
      [{ connectionString: url, schema: 'web-hooks' }, 'schema'],
      [{ connectionString: url, schema: 'x'.repeat(64) }, 'schema'],
      [{ connectionString: url, notifyChannel: 'Wake Up' }, 'notifyChannel'],
      [{ connectionString: url, poolSize: 0 }, 'poolSize'],
      [{ connectionString: '' }, 'connectionString'],
      [{ pool: {} }, 'pool'],
      [{ schema: 'webhooks' }, 'connectionString'],
      [{ connectionString: url, pool }, 'pool'],
      [{ pool, poolSize: 4 }, 'poolSize'],
    ];
    for (const [options, field] of cases) {
      expect(thrownBy(() => createPostgresStorage(options as never))).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', field });
    }
    expect(thrownBy(() => createPostgresStorage(null as never))).toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('says to install pg when the driver is missing', () => {
    const missing = Object.assign(new Error("Cannot find module 'pg'"), { code: 'MODULE_NOT_FOUND' });
    const error = thrownBy(() =>
      loadPg(() => {
        throw missing;
      }),
    );
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', cause: missing });
    expect((error as Error).message).toContain('npm install pg');
  });

  it('refuses a pg module without Pool and Client, and loads the installed one, also through an ESM default export', () => {
    expect(thrownBy(() => loadPg(() => ({})))).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(loadPg().Pool).toBe(pg.Pool);
    expect(loadPg(() => ({ default: pg })).Client).toBe(pg.Client);
  });
});
