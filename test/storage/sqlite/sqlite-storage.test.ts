/**
 * What is particular to the SQLite storage (the shared behaviour is in
 * test/conformance/sqlite.test.ts): pragmas, migrations, the transactional outbox on
 * the host's handle, the claim's query plan, error mapping, ownership of the handle,
 * options, and the fan-out's lookup of the event-type filter rule. Its properties (delivery
 * counts, claims by either plan, settling in batches, the filter rule in the fan-out) are in
 * test/property/sqlite-*.test.ts.
 */
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isWebhookError, StorageError } from '../../../src/errors.js';
import { createWebhooks } from '../../../src/index.js';
import { createId } from '../../../src/ids.js';
import { createSqliteStorage, type SqliteStorage } from '../../../src/storage/sqlite/index.js';
import { latestSchemaVersion, migrations, renderMigration } from '../../../src/storage/sqlite/migrations/index.js';
import { loadBetterSqlite3 } from '../../../src/storage/sqlite/driver.js';
import { currentProcessIdentity } from '../../../src/storage/sqlite/process-liveness.js';
import { WalCheckpointer } from '../../../src/storage/sqlite/wal-checkpointer.js';
import { CANCELLED_BY_DELETE, CANCELLED_BY_EXPUNGE, type EnqueueInput, type StorageAdapter, type SubscriptionRecord } from '../../../src/storage/storage-adapter.js';
import { claimedFixture, closeTracked, LATER, migratedOnHandle, openRaw, renumberDeliveries, track } from '../../support/sqlite-fixtures.js';
import { enqueueInput, NOW, subscription } from '../../support/storage-records.js';
import { rejectionOf, thrownBy } from '../../support/rejections.js';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bookkeeper-webhooks-sqlite-unit-'));
});

afterEach(async () => {
  vi.useRealTimers();
  await closeTracked();
  await rm(directory, { recursive: true, force: true });
});

function file(name = 'webhooks.db'): string {
  return join(directory, name);
}

function count(db: Database.Database, table: string): number {
  return db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;
}



describe('pragmas', () => {
  it('opens a file in WAL mode with synchronous NORMAL, a 5 s busy timeout and foreign keys on by default', async () => {
    const storage = track(createSqliteStorage({ filename: file() }));
    const db = storage.database;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    // 64 MiB of 4 KiB pages: SQLite's own checkpoint is only the fallback of the adapter's timer.
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(16_384);
  });

  it('applies the configured synchronous level and busy timeout', async () => {
    const storage = track(createSqliteStorage({ filename: file(), synchronous: 'FULL', busyTimeoutMs: 250 }));
    expect(storage.database.pragma('synchronous', { simple: true })).toBe(2);
    expect(storage.database.pragma('busy_timeout', { simple: true })).toBe(250);
    const extra = track(createSqliteStorage({ filename: file(), synchronous: 'EXTRA' }));
    expect(extra.database.pragma('synchronous', { simple: true })).toBe(3);
  });

  it("leaves a handed-in connection's journal mode, synchronous level and auto-checkpoint alone unless told", async () => {
    const db = openRaw(file());
    db.pragma('synchronous = FULL');
    db.pragma('wal_autocheckpoint = 500');
    track(createSqliteStorage({ database: db }));
    expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(500);
    track(createSqliteStorage({ database: db, synchronous: 'NORMAL', busyTimeoutMs: 100, walAutocheckpointBytes: 1024 * 1024 }));
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(100);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(256);
  });

  it("keeps SQLite's own auto-checkpoint when the timer is off, and sets it in bytes when given (0: off, under a page: one page)", async () => {
    const pragma = (options: Partial<Parameters<typeof createSqliteStorage>[0]>) =>
      track(createSqliteStorage({ filename: file(), ...options } as never)).database.pragma('wal_autocheckpoint', { simple: true });
    expect(pragma({ checkpointIntervalMs: false })).toBe(1000);
    expect(pragma({ checkpointIntervalMs: false, walAutocheckpointBytes: 8 * 1024 * 1024 })).toBe(2048);
    expect(pragma({ walAutocheckpointBytes: 0 })).toBe(0);
    expect(pragma({ walAutocheckpointBytes: 100 })).toBe(1);
  });
});

/** A file database migrated by hand up to `version` (as older code left it), with one active subscription row. */
function databaseAtVersion(version: number): { db: Database.Database; sub: SubscriptionRecord } {
  const db = openRaw(file());
  db.exec('CREATE TABLE webhook_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  for (const migration of migrations.slice(0, version)) {
    db.exec(renderMigration(migration, 'webhook_'));
    db.prepare('INSERT INTO webhook_migrations VALUES (?, ?, 0)').run(migration.version, migration.name);
  }
  const sub = subscription();
  db.prepare(
    `INSERT INTO webhook_subscriptions (id, url, event_types, secrets, headers, description, metadata, status,
       disabled_reason, disabled_at, retry, created_at, updated_at)
     VALUES (?, ?, '["*"]', ?, '{}', NULL, '{}', 'active', NULL, NULL, NULL, ?, ?)`,
  ).run(sub.id, sub.url, JSON.stringify(sub.secrets), NOW, NOW);
  return { db, sub };
}

describe('migrations', () => {
  it('records the applied migration, and running migrate again changes nothing', async () => {
    const storage = track(createSqliteStorage({ filename: file() }));
    await storage.migrate();
    const db = storage.database;
    const recorded = db.prepare('SELECT version, name FROM webhook_migrations').all();
    expect(recorded).toEqual([
      { version: 1, name: '0001-initial' },
      { version: 2, name: '0002-flow-control' },
      { version: 3, name: '0003-leases-in-place' },
      { version: 4, name: '0004-delivery-counts' },
      { version: 5, name: '0005-attempt-history' },
      { version: 6, name: '0006-instances' },
      { version: 7, name: '0007-tenants' },
      { version: 8, name: '0008-change-log' },
      { version: 9, name: '0009-tenantless-events' },
      { version: 10, name: '0010-retention' },
      { version: 11, name: '0011-leased' },
      { version: 12, name: '0012-test-attempts' },
      { version: 13, name: '0013-payload-filter' },
      { version: 14, name: '0014-delivery-payloads' },
      { version: 15, name: '0015-ordering' },
      { version: 16, name: '0016-event-versions' },
      { version: 17, name: '0017-client-tls' },
    ]);
    const schema = db.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY name').all();
    expect(schema.map((o) => (o as { name: string }).name)).toEqual(
      expect.arrayContaining(['webhook_subscriptions', 'webhook_subscription_event_types', 'webhook_events', 'webhook_deliveries', 'webhook_attempts', 'webhook_test_attempts']),
    );
    await storage.migrate();
    expect(db.prepare('SELECT version, name FROM webhook_migrations').all()).toEqual(recorded);
    expect(db.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY name').all()).toEqual(schema);
  });

  it('refuses a database migrated by newer code with STORAGE_SCHEMA_TOO_NEW, in migrate and in any call', async () => {
    const storage = track(createSqliteStorage({ filename: file() }));
    await storage.migrate();
    storage.database
      .prepare('INSERT INTO webhook_migrations (version, name, applied_at) VALUES (?, ?, 0)')
      .run(latestSchemaVersion + 1, 'from-the-future');
    expect(await rejectionOf(storage.migrate())).toMatchObject({ name: 'StorageError', code: 'STORAGE_SCHEMA_TOO_NEW' });
    const later = track(createSqliteStorage({ filename: file() }));
    expect(await rejectionOf(later.getSubscription('sub_x'))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_NEW' });
  });

  it('answers STORAGE_NOT_MIGRATED before migrate on an empty database, from async and sync calls alike', async () => {
    const storage = track(createSqliteStorage({ filename: file() }));
    expect(await rejectionOf(storage.getSubscription('sub_x'))).toMatchObject({ code: 'STORAGE_NOT_MIGRATED' });
    expect(await rejectionOf(storage.claimDue({ limit: 1, leaseMs: 1000, now: NOW }))).toMatchObject({ code: 'STORAGE_NOT_MIGRATED' });
    expect(thrownBy(() => storage.enqueueSync(enqueueInput()))).toMatchObject({ code: 'STORAGE_NOT_MIGRATED' });
    await storage.migrate();
    expect(await storage.getSubscription('sub_x')).toBeNull();
  });

  it('lets a second connection work on a file another connection migrated, without migrating itself', async () => {
    const first = track(createSqliteStorage({ filename: file() }));
    await first.migrate();
    const sub = await first.createSubscription(subscription());
    const second = track(createSqliteStorage({ filename: file() }));
    expect(await second.getSubscription(sub.id)).toEqual(sub);
  });

  it('keeps two table prefixes apart in one database', async () => {
    const db = openRaw(file());
    const a = track(createSqliteStorage({ database: db, tablePrefix: 'acme_wh_' }));
    const b = track(createSqliteStorage({ database: db }));
    await a.migrate();
    await b.migrate();
    const sub = await a.createSubscription(subscription());
    expect(await b.getSubscription(sub.id)).toBeNull();
    expect(count(db, 'acme_wh_subscriptions')).toBe(1);
    expect(count(db, 'webhook_subscriptions')).toBe(0);
    expect(count(db, 'acme_wh_migrations')).toBe(migrations.length);
  });

  it('upgrades a version-1 database in place: its subscriptions read no flow control and no failure, its backlog stays claimable', async () => {
    // The schema as 0001 left it, with a subscription and a pending delivery in it.
    const { db, sub } = databaseAtVersion(1);
    db.exec(`INSERT INTO webhook_events (id, type, published_at, payload) VALUES ('evt_1', 'payment.succeeded', ${NOW}, '{}')`);
    db.exec(
      `INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, due_at, created_at, updated_at)
       VALUES ('dlv_1', 'evt_1', 'payment.succeeded', '${sub.id}', 'pending', 0, ${NOW}, ${NOW}, ${NOW}, ${NOW})`,
    );

    const storage = track(createSqliteStorage({ database: db }));
    expect(await rejectionOf(storage.getSubscription(sub.id))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_OLD' });
    await storage.migrate();
    expect(await storage.getSubscription(sub.id)).toEqual(sub);
    const claimed = await storage.claimDue({ limit: 10, leaseMs: 1000, now: NOW, excludeSubscriptionIds: ['sub_other'] });
    expect(claimed.map((c) => c.delivery.id)).toEqual(['dlv_1']);
    expect(claimed[0]!.subscription).toMatchObject({ flowControl: null, failingSince: null });
  });

  it('upgrades a version-4 database with its delivery log: the history is read from the attempts already recorded', async () => {
    const { db, sub } = databaseAtVersion(4);
    for (const n of [1, 2, 3]) {
      db.exec(`INSERT INTO webhook_events (id, type, published_at, payload) VALUES ('evt_${n}', 'payment.succeeded', ${NOW}, '{}')`);
    }
    // dlv_1: failed twice and is dead; dlv_2: failed, then delivered; dlv_3: never attempted.
    const deliveries = [
      ['dlv_1', 'dead', 2, NOW + 20],
      ['dlv_2', 'delivered', 2, NOW + 40],
      ['dlv_3', 'pending', 0, null],
    ] as const;
    for (const [id, status, attempts, last] of deliveries) {
      db.exec(
        `INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, due_at,
           last_attempt_at, created_at, updated_at)
         VALUES ('${id}', 'evt_${id.slice(4)}', 'payment.succeeded', '${sub.id}', '${status}', ${attempts}, ${status === 'pending' ? NOW : 'NULL'},
           ${status === 'pending' ? NOW : 'NULL'}, ${last ?? 'NULL'}, ${NOW}, ${NOW})`,
      );
    }
    const log = [
      ['att_1', 'dlv_1', 1, NOW + 10, 'retry'],
      ['att_2', 'dlv_1', 2, NOW + 20, 'dead'],
      ['att_3', 'dlv_2', 1, NOW + 30, 'retry'],
      ['att_4', 'dlv_2', 2, NOW + 40, 'delivered'],
    ] as const;
    for (const [id, delivery, number, startedAt, outcome] of log) {
      db.exec(
        `INSERT INTO webhook_attempts (id, delivery_id, attempt_number, started_at, duration_ms, outcome)
         VALUES ('${id}', '${delivery}', ${number}, ${startedAt}, 5, '${outcome}')`,
      );
    }

    const storage = track(createSqliteStorage({ database: db }));
    await storage.migrate();
    for (const id of ['dlv_1', 'dlv_2']) await storage.redeliver(id, NOW + 100);
    const claimed = await storage.claimDue({ limit: 10, leaseMs: 1000, now: NOW + 100 });
    expect(Object.fromEntries(claimed.map((c) => [c.delivery.id, c.history]))).toEqual({
      dlv_1: { attempts: 2, firstFailedAt: NOW + 10, recoveredAt: null },
      dlv_2: { attempts: 2, firstFailedAt: NOW + 30, recoveredAt: NOW + 40 },
      dlv_3: { attempts: 0, firstFailedAt: null, recoveredAt: null },
    });
  });
});

describe('leases in place (migration 0003)', () => {
  /** A migrated in-memory storage with one subscription and `count` pending deliveries due at NOW - count + i. */
  async function backlog(count: number) {
    const storage = await migratedOnHandle(openRaw(':memory:'));
    await storage.createSubscription(subscription({ id: 'sub_a' }));
    for (let i = 0; i < count; i++) {
      await storage.enqueue({
        event: { id: `evt_${i}`, type: 'payment.succeeded', timestamp: NOW, payload: '{}', idempotencyKey: null, tenantId: null },
        now: NOW - count + i,
      });
    }
    renumberDeliveries(storage);
    return storage;
  }
  const dueOf = (storage: SqliteStorage, id: string) =>
    storage.database.prepare('SELECT due_at, lease_expires_at FROM webhook_deliveries WHERE id = ?').get(id);

  it('leaves a claimed row at its due time and steps over live leases at the head of the due index', async () => {
    const storage = await backlog(6);
    const first = await storage.claimDue({ limit: 2, leaseMs: 30_000, now: NOW });
    expect(first.map((c) => c.delivery.id)).toEqual(['dlv_0000', 'dlv_0001']);
    expect(dueOf(storage, 'dlv_0000')).toEqual({ due_at: NOW - 6, lease_expires_at: NOW + 30_000 });
    // The leased rows still head the index; the next claim takes the rows behind them.
    const second = await storage.claimDue({ limit: 3, leaseMs: 30_000, now: NOW + 1 });
    expect(second.map((c) => c.delivery.id)).toEqual(['dlv_0002', 'dlv_0003', 'dlv_0004']);
    expect((await storage.stats(NOW + 1)).leased).toBe(5);
    expect((await storage.stats(NOW + 1, { subscriptionId: 'sub_a' })).leased).toBe(5);
    // Only dlv_0005 is free: it is due now.
    expect(await storage.nextDueAt(NOW + 1)).toBe(NOW - 1);
    expect((await storage.claimDue({ limit: 5, leaseMs: 30_000, now: NOW + 1 })).map((c) => c.delivery.id)).toEqual(['dlv_0005']);
    // Everything is leased: the next claimable time is the earliest lease expiry.
    expect(await storage.nextDueAt(NOW + 2)).toBe(NOW + 30_000);
    expect(await storage.claimDue({ limit: 5, leaseMs: 30_000, now: NOW + 29_999 })).toEqual([]);
    // Expired, the first leases give their rows back in due order.
    const again = await storage.claimDue({ limit: 1, leaseMs: 30_000, now: NOW + 30_000 });
    expect(again.map((c) => c.delivery.id)).toEqual(['dlv_0000']);
    expect(again[0]!.leaseToken).not.toBe(first[0]!.leaseToken);
  });

  it('answers nextDueAt with a lease expiry that comes before the first free row is due', async () => {
    const storage = await backlog(2);
    // dlv_0001 is due in the future; dlv_0000 is leased until NOW + 500.
    storage.database.prepare('UPDATE webhook_deliveries SET due_at = ?, next_attempt_at = ? WHERE id = ?').run(NOW + 10_000, NOW + 10_000, 'dlv_0001');
    await storage.claimDue({ limit: 1, leaseMs: 500, now: NOW });
    expect(await storage.nextDueAt(NOW)).toBe(NOW + 500);
    expect(await storage.nextDueAt(NOW + 500)).toBe(NOW - 2);
  });

  it('upgrades a version-2 database in place: a row leased under 0002 gets its due time back and keeps its lease', async () => {
    const { db, sub } = databaseAtVersion(2);
    db.exec(`INSERT INTO webhook_events (id, type, published_at, payload) VALUES ('evt_1', 't', ${NOW}, '{}'), ('evt_2', 't', ${NOW}, '{}')`);
    // dlv_1 leased as 0002 leased (due_at = the lease expiry), dlv_2 free and due after it.
    db.exec(
      `INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, due_at,
         lease_token, lease_expires_at, created_at, updated_at)
       VALUES ('dlv_1', 'evt_1', 't', '${sub.id}', 'pending', 0, ${NOW - 10}, ${NOW + 5000}, 'tok', ${NOW + 5000}, ${NOW}, ${NOW}),
              ('dlv_2', 'evt_2', 't', '${sub.id}', 'pending', 0, ${NOW - 5}, ${NOW - 5}, NULL, NULL, ${NOW}, ${NOW})`,
    );
    const storage = track(createSqliteStorage({ database: db }));
    expect(await rejectionOf(storage.getSubscription(sub.id))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_OLD' });
    await storage.migrate();
    expect(db.prepare("SELECT due_at, lease_token FROM webhook_deliveries WHERE id = 'dlv_1'").get()).toEqual({ due_at: NOW - 10, lease_token: 'tok' });
    expect((await storage.claimDue({ limit: 5, leaseMs: 10_000, now: NOW })).map((c) => c.delivery.id)).toEqual(['dlv_2']);
    // The old holder can still settle; once its lease is over, the row is first in line.
    expect((await storage.claimDue({ limit: 5, leaseMs: 1000, now: NOW + 5000 })).map((c) => c.delivery.id)).toEqual(['dlv_1']);
  });
});

describe('delivery counts (migration 0004)', () => {
  it('upgrades a version-3 database in place, counting the rows it already holds', async () => {
    const { db, sub } = databaseAtVersion(3);
    db.exec(`INSERT INTO webhook_events (id, type, published_at, payload) VALUES ('evt_1', 't', ${NOW}, '{}'), ('evt_2', 't', ${NOW}, '{}'), ('evt_3', 't', ${NOW}, '{}')`);
    db.exec(
      `INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, due_at, created_at, updated_at)
       VALUES ('dlv_1', 'evt_1', 't', '${sub.id}', 'pending', 0, ${NOW}, ${NOW}, ${NOW}, ${NOW}),
              ('dlv_2', 'evt_2', 't', '${sub.id}', 'delivered', 1, NULL, NULL, ${NOW}, ${NOW}),
              ('dlv_3', 'evt_3', 't', '${sub.id}', 'dead', 5, NULL, NULL, ${NOW}, ${NOW})`,
    );
    const storage = track(createSqliteStorage({ database: db }));
    expect(await rejectionOf(storage.stats(NOW))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_OLD' });
    await storage.migrate();
    const expected = { pending: 1, leased: 0, waiting: 0, held: 0, dead: 1, delivered: 1, cancelled: 0, oldestPendingCreatedAt: NOW };
    expect(await storage.stats(NOW)).toEqual(expected);
    expect(await storage.stats(NOW, { subscriptionId: sub.id })).toEqual(expected);
    // And from there the triggers keep them.
    const [claimed] = await storage.claimDue({ limit: 1, leaseMs: 1000, now: NOW });
    await storage.settle(
      [
        {
          deliveryId: claimed!.delivery.id,
          leaseToken: claimed!.leaseToken,
          attempt: { id: 'att_1', startedAt: NOW, durationMs: 3, statusCode: 200, errorClass: null, errorMessage: null, responseSnippet: null },
          outcome: { kind: 'delivered' },
        },
      ],
      NOW,
    );
    expect(await storage.stats(NOW)).toEqual({ ...expected, pending: 0, delivered: 2, oldestPendingCreatedAt: null });
  });
});

describe('tenants (migration 0007)', () => {
  /** An event of `type` published at NOW, for `tenantId` (null: without one), with an optional idempotency key. */
  function tenantEvent(tenantId: string | null, idempotencyKey: string | null = null, type = 'payment.succeeded'): EnqueueInput {
    const input = enqueueInput(type);
    return { ...input, event: { ...input.event, tenantId, idempotencyKey } };
  }

  /**
   * A database at version 6 (as 0006 left it) holding a platform subscription to every type
   * with its filter row, two events (one under the idempotency key `order-1`), a pending
   * delivery of the first, and a dead delivery of the second with its attempt.
   */
  function filledAtVersion6(): { db: Database.Database; sub: SubscriptionRecord } {
    const { db, sub } = databaseAtVersion(6);
    db.exec(`INSERT INTO webhook_subscription_event_types (filter, subscription_id) VALUES ('*', '${sub.id}')`);
    db.exec(
      `INSERT INTO webhook_events (id, type, published_at, payload, idempotency_key)
       VALUES ('evt_1', 'payment.succeeded', ${NOW}, '{"n":1}', 'order-1'), ('evt_2', 'payment.failed', ${NOW + 1}, '{"n":2}', NULL)`,
    );
    db.exec(
      `INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, due_at,
         last_attempt_at, history_attempts, first_failed_at, created_at, updated_at)
       VALUES ('dlv_1', 'evt_1', 'payment.succeeded', '${sub.id}', 'pending', 0, ${NOW}, ${NOW}, NULL, 0, NULL, ${NOW}, ${NOW}),
              ('dlv_2', 'evt_2', 'payment.failed', '${sub.id}', 'dead', 1, NULL, NULL, ${NOW + 5}, 1, ${NOW + 5}, ${NOW}, ${NOW + 5})`,
    );
    db.exec(
      `INSERT INTO webhook_attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code, outcome)
       VALUES ('att_1', 'dlv_2', 1, ${NOW + 5}, 7, 500, 'dead')`,
    );
    return { db, sub };
  }

  it('upgrades a version-6 database in place: every row is tenantless and reads as before', async () => {
    const { db, sub } = filledAtVersion6();
    const storage = track(createSqliteStorage({ database: db }));
    expect(await rejectionOf(storage.getSubscription(sub.id))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_OLD' });
    await storage.migrate();

    expect(await storage.getSubscription(sub.id)).toEqual({ ...sub, tenantId: null, allTenants: false });
    expect(await storage.getEvent('evt_1')).toEqual({
      id: 'evt_1',
      type: 'payment.succeeded',
      timestamp: NOW,
      payload: '{"n":1}',
      idempotencyKey: 'order-1',
      tenantId: null,
      orderingKey: null,
      expungedAt: null,
    });
    expect((await storage.listDeliveries({ limit: 10 })).items.map((d) => [d.id, d.tenantId])).toEqual([
      ['dlv_2', null],
      ['dlv_1', null],
    ]);
    expect(await storage.listAttempts('dlv_2')).toMatchObject([{ id: 'att_1', attemptNumber: 1, outcome: 'dead' }]);
    // The platform's reads are what every read was.
    expect((await storage.listSubscriptions({ limit: 10, tenantId: null })).items.map((s) => s.id)).toEqual([sub.id]);
    expect((await storage.listDeliveries({ limit: 10, tenantId: null })).items.map((d) => d.id)).toEqual(['dlv_2', 'dlv_1']);
    expect(await storage.stats(NOW, { tenantId: null })).toEqual(await storage.stats(NOW));
    expect(await storage.stats(NOW)).toEqual({ pending: 1, leased: 0, waiting: 0, held: 0, dead: 1, delivered: 0, cancelled: 0, oldestPendingCreatedAt: NOW });
    // Nothing of it belongs to a tenant.
    expect((await storage.listSubscriptions({ limit: 10, tenantId: 'acme' })).items).toEqual([]);
    expect((await storage.listDeliveries({ limit: 10, tenantId: 'acme' })).items).toEqual([]);
    expect(db.pragma('foreign_key_check')).toEqual([]);
  });

  it('keeps an upgraded subscription receiving tenantless events only, and an old idempotency key deduplicating in the tenantless scope only', async () => {
    const { db, sub } = filledAtVersion6();
    const storage = track(createSqliteStorage({ database: db }));
    await storage.migrate();

    // Fan-out to the old subscription, through its migrated filter row.
    const tenantless = await storage.enqueue(tenantEvent(null));
    expect(tenantless).toMatchObject({ created: true, deliveryCount: 1 });
    const [fanned] = (await storage.listDeliveries({ eventId: tenantless.event.id, limit: 10 })).items;
    expect(fanned).toMatchObject({ subscriptionId: sub.id, tenantId: null, status: 'pending' });
    // A tenant's event is not the platform subscription's.
    expect(await storage.enqueue(tenantEvent('acme'))).toMatchObject({ created: true, deliveryCount: 0 });

    // The key stored before the upgrade still deduplicates a tenantless publish …
    const again = await storage.enqueue(tenantEvent(null, 'order-1'));
    expect(again).toMatchObject({ created: false, deliveryCount: 0 });
    expect(again.event).toEqual(await storage.getEvent('evt_1'));
    // … and is a new event in a tenant, once per tenant.
    const inAcme = await storage.enqueue(tenantEvent('acme', 'order-1'));
    expect(inAcme).toMatchObject({ created: true, event: { idempotencyKey: 'order-1', tenantId: 'acme' } });
    expect(await storage.enqueue(tenantEvent('acme', 'order-1'))).toMatchObject({ created: false, event: { id: inAcme.event.id } });
    expect(await storage.enqueue(tenantEvent('globex', 'order-1'))).toMatchObject({ created: true, event: { tenantId: 'globex' } });

    // Its backlog is claimed and its log replayed as before.
    const claimed = await storage.claimDue({ limit: 10, leaseMs: 1000, now: NOW });
    expect(claimed.map((c) => [c.delivery.id, c.delivery.tenantId, c.event.tenantId]).sort()).toEqual(
      [
        ['dlv_1', null, null],
        [fanned!.id, null, null],
      ].sort(),
    );
    const replayed = await storage.replay({ subscriptionId: sub.id, since: NOW, eventTypes: ['payment.failed'], now: NOW + 10 });
    expect(replayed).toEqual({ count: 1 });
    expect(await storage.getDelivery('dlv_2')).toMatchObject({ status: 'pending', attempts: 0, tenantId: null });
  });

  it('upgrades with foreign keys off, and inside a transaction the host began by hand, where they cannot be turned off', async () => {
    const { db: off, sub: first } = filledAtVersion6();
    off.pragma('foreign_keys = OFF');
    const storage = track(createSqliteStorage({ database: off }));
    await storage.migrate();
    expect(await storage.getDelivery('dlv_1')).toMatchObject({ eventId: 'evt_1', subscriptionId: first.id, tenantId: null });
    off.close();
    await rm(file(), { force: true });

    const { db } = filledAtVersion6();
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const inHost = track(createSqliteStorage({ database: db }));
    db.exec('BEGIN');
    await inHost.migrate();
    db.exec('COMMIT');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(await inHost.getEvent('evt_2')).toMatchObject({ id: 'evt_2', tenantId: null });
    // The deliveries still hold their events: deleting one that has deliveries is refused.
    expect(() => db.prepare("DELETE FROM webhook_events WHERE id = 'evt_1'").run()).toThrow(/FOREIGN KEY/);
  });

  it('replaces the idempotency key\'s unique column by a unique index per tenant scope', async () => {
    const { db } = filledAtVersion6();
    await migratedOnHandle(db);
    const unique = (db.pragma('index_list(webhook_events)') as Array<{ name: string; unique: number; origin: string }>).filter((i) => i.unique === 1);
    // The primary key's, and the per-scope index on (ifnull(tenant_id, ''), idempotency_key): no UNIQUE on the key alone.
    expect(unique.map((i) => [i.name, i.origin]).sort()).toEqual([
      ['sqlite_autoindex_webhook_events_1', 'pk'],
      ['webhook_events_idempotency', 'c'],
    ]);
  });

  it('publishes for a tenant with enqueueSync inside the host transaction, to its subscriptions and all-tenant consumers only', async () => {
    const db = openRaw(file());
    const storage = await migratedOnHandle(db);
    const acme = await storage.createSubscription(subscription({ id: 'sub_acme', tenantId: 'acme' }));
    const audit = await storage.createSubscription(subscription({ id: 'sub_audit', allTenants: true }));
    await storage.createSubscription(subscription({ id: 'sub_globex', tenantId: 'globex' }));
    await storage.createSubscription(subscription({ id: 'sub_platform' }));
    const input = { ...tenantEvent('acme'), tx: db };
    const result = db.transaction(() => storage.enqueueSync(input))();
    expect(result).toMatchObject({ created: true, deliveryCount: 2, event: { tenantId: 'acme' } });
    const deliveries = (await storage.listDeliveries({ eventId: input.event.id, limit: 10 })).items;
    expect(deliveries.map((d) => [d.subscriptionId, d.tenantId]).sort()).toEqual([
      [acme.id, 'acme'],
      [audit.id, null],
    ]);
  });
});

describe('change log, soft delete and erasure (migration 0008)', () => {
  /**
   * A database at version 7 (as 0007 left it) holding a platform subscription and a tenant's
   * one with their filter rows, three events (one of the tenant, one under an idempotency
   * key), and deliveries in every status 0007 knew: pending under a lease, held, delivered
   * and dead, the last two with attempts that kept a response snippet.
   */
  function filledAtVersion7(): { db: Database.Database; sub: SubscriptionRecord } {
    const { db, sub } = databaseAtVersion(7);
    db.exec(
      `INSERT INTO webhook_subscriptions (id, tenant_id, url, event_types, secrets, headers, metadata, status, disabled_reason,
         disabled_at, created_at, updated_at)
       VALUES ('sub_acme', 'acme', 'https://acme.example.com/hooks', '["payment.*"]', '[]', '{}', '{}', 'disabled', 'operator',
         ${NOW + 1}, ${NOW}, ${NOW + 1})`,
    );
    db.exec(
      `INSERT INTO webhook_subscription_event_types (filter, tenant_key, all_tenants, subscription_id)
       VALUES ('*', '', 0, '${sub.id}'), ('payment.*', 'acme', 0, 'sub_acme')`,
    );
    db.exec(
      `INSERT INTO webhook_events (id, type, published_at, payload, idempotency_key, tenant_id)
       VALUES ('evt_1', 'payment.succeeded', ${NOW}, '{"n":1}', 'order-1', NULL),
              ('evt_2', 'payment.failed', ${NOW + 1}, '{"n":2}', NULL, NULL),
              ('evt_3', 'payment.succeeded', ${NOW + 2}, '{"n":3}', NULL, 'acme')`,
    );
    db.exec(
      `INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, tenant_id, status, attempts, next_attempt_at, due_at,
         last_attempt_at, last_status_code, last_error, delivered_at, lease_token, lease_expires_at, history_attempts, first_failed_at,
         recovered_at, created_at, updated_at)
       VALUES ('dlv_1', 'evt_1', 'payment.succeeded', '${sub.id}', NULL, 'pending', 0, ${NOW}, ${NOW}, NULL, NULL, NULL, NULL,
                 'gone.token', ${NOW + 30_000}, 0, NULL, NULL, ${NOW}, ${NOW}),
              ('dlv_2', 'evt_2', 'payment.failed', '${sub.id}', NULL, 'dead', 1, NULL, NULL, ${NOW + 5}, 500, 'HTTP 500', NULL,
                 NULL, NULL, 1, ${NOW + 5}, NULL, ${NOW}, ${NOW + 5}),
              ('dlv_3', 'evt_3', 'payment.succeeded', '${sub.id}', NULL, 'delivered', 2, NULL, NULL, ${NOW + 9}, 200, NULL, ${NOW + 9},
                 NULL, NULL, 2, ${NOW + 6}, ${NOW + 9}, ${NOW}, ${NOW + 9}),
              ('dlv_4', 'evt_3', 'payment.succeeded', 'sub_acme', 'acme', 'held', 0, NULL, NULL, NULL, NULL, NULL, NULL,
                 NULL, NULL, 0, NULL, NULL, ${NOW + 2}, ${NOW + 2})`,
    );
    db.exec(
      `INSERT INTO webhook_attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code, error_class, error_message,
         response_snippet, outcome, next_attempt_at)
       VALUES ('att_1', 'dlv_2', 1, ${NOW + 5}, 7, 500, 'http', 'HTTP 500', 'oops', 'dead', NULL),
              ('att_2', 'dlv_3', 1, ${NOW + 6}, 4, 503, 'http', 'HTTP 503', 'busy', 'retry', ${NOW + 9}),
              ('att_3', 'dlv_3', 2, ${NOW + 9}, 3, 200, NULL, NULL, '{"ok":true}', 'delivered', NULL)`,
    );
    return { db, sub };
  }

  /** Every row of `table` as stored, rowid included, in rowid order. */
  function rowsOf(db: Database.Database, table: string): unknown[] {
    return db.prepare(`SELECT rowid AS row_id, * FROM ${table} ORDER BY rowid`).all();
  }

  /** The indexes and triggers of the deliveries table, by name, their SQL with runs of white space as one space. */
  function deliveriesSchema(db: Database.Database): Record<string, string> {
    const rows = db
      .prepare("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'webhook_deliveries' AND type IN ('index', 'trigger') AND sql IS NOT NULL")
      .all() as Array<{ name: string; sql: string }>;
    return Object.fromEntries(rows.map((row) => [row.name, row.sql.replace(/\s+/g, ' ')]));
  }

  it('upgrades a version-7 database in place: every row stays as stored, no subscription is deleted, no event expunged, no change logged', async () => {
    const { db, sub } = filledAtVersion7();
    const before = {
      subscriptions: rowsOf(db, 'webhook_subscriptions'),
      filters: db.prepare('SELECT * FROM webhook_subscription_event_types ORDER BY subscription_id, filter').all(),
      events: rowsOf(db, 'webhook_events'),
      deliveries: rowsOf(db, 'webhook_deliveries'),
      attempts: rowsOf(db, 'webhook_attempts'),
      counts: db.prepare('SELECT * FROM webhook_delivery_counts ORDER BY subscription_id, status').all(),
      schema: deliveriesSchema(db),
    };
    const storage = track(createSqliteStorage({ database: db }));
    expect(await rejectionOf(storage.getSubscription(sub.id))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_OLD' });
    await storage.migrate();

    // The new columns are NULL on every old row (ordering_on_dead its default, 'block');
    // everything else is as it was, rowids included.
    const withNull = (rows: unknown[], column: string) => rows.map((row) => ({ ...(row as object), [column]: null }));
    const subscriptions = withNull(withNull(withNull(withNull(withNull(before.subscriptions, 'deleted_at'), 'payload_filter'), 'transform'), 'event_versions'), 'tls');
    expect(rowsOf(db, 'webhook_subscriptions')).toEqual(subscriptions.map((row) => ({ ...row, ordering_on_dead: 'block' })));
    expect(rowsOf(db, 'webhook_events')).toEqual(withNull(withNull(before.events, 'expunged_at'), 'ordering_key'));
    expect(rowsOf(db, 'webhook_deliveries')).toEqual(withNull(withNull(withNull(before.deliveries, 'payload'), 'ordering_key'), 'ordering_seq'));
    expect(db.prepare('SELECT * FROM webhook_subscription_event_types ORDER BY subscription_id, filter').all()).toEqual(before.filters);
    expect(rowsOf(db, 'webhook_attempts')).toEqual(before.attempts);
    expect(db.prepare('SELECT * FROM webhook_delivery_counts ORDER BY subscription_id, status').all()).toEqual(before.counts);
    expect(count(db, 'webhook_subscription_changes')).toBe(0);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    // The rebuilt deliveries table has its indexes and count triggers as they were, one more
    // (0008), retention's (0010), the leased one (0011) and ordering's two (0015).
    expect(deliveriesSchema(db)).toEqual({
      ...before.schema,
      webhook_deliveries_cancelled_leased:
        "CREATE INDEX webhook_deliveries_cancelled_leased ON webhook_deliveries (tenant_id, lease_expires_at) WHERE status = 'cancelled' AND lease_token IS NOT NULL",
      webhook_deliveries_final_at:
        "CREATE INDEX webhook_deliveries_final_at ON webhook_deliveries (status, updated_at) WHERE status IN ('delivered', 'dead', 'cancelled')",
      webhook_deliveries_leased:
        "CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (lease_expires_at) WHERE status = 'pending' AND lease_expires_at IS NOT NULL",
      webhook_deliveries_ordering:
        'CREATE INDEX webhook_deliveries_ordering ON webhook_deliveries (subscription_id, ordering_key, ordering_seq) WHERE ordering_key IS NOT NULL',
      webhook_deliveries_ordering_dead:
        "CREATE INDEX webhook_deliveries_ordering_dead ON webhook_deliveries (subscription_id, id) WHERE status = 'dead' AND ordering_key IS NOT NULL",
    });

    // Read through the contract: nothing deleted, expunged or cancelled.
    expect(await storage.getSubscription(sub.id)).toEqual({ ...sub, tenantId: null, allTenants: false, deletedAt: null });
    expect(await storage.getSubscription('sub_acme')).toMatchObject({ status: 'disabled', disabledReason: 'operator', deletedAt: null });
    expect((await storage.listSubscriptions({ limit: 10 })).items.map((s) => s.id).sort()).toEqual([sub.id, 'sub_acme'].sort());
    expect((await storage.listEvents({ limit: 10 })).items.map((e) => [e.id, e.payload, e.expungedAt])).toEqual([
      ['evt_3', '{"n":3}', null],
      ['evt_2', '{"n":2}', null],
      ['evt_1', '{"n":1}', null],
    ]);
    expect(await storage.getDelivery('dlv_1')).toMatchObject({ status: 'pending', leaseExpiresAt: NOW + 30_000 });
    expect(await storage.listAttempts('dlv_3')).toMatchObject([{ responseSnippet: 'busy' }, { responseSnippet: '{"ok":true}' }]);
    expect(await storage.stats(NOW)).toEqual({ pending: 1, leased: 1, waiting: 0, held: 1, dead: 1, delivered: 1, cancelled: 0, oldestPendingCreatedAt: NOW });
    expect(await storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 10 })).toEqual({ items: [], nextCursor: null });
    // The lease taken under 0007 still fences: its holder settles it.
    const [settled] = await storage.settle(
      [
        {
          deliveryId: 'dlv_1',
          leaseToken: 'gone.token',
          attempt: { id: 'att_4', startedAt: NOW + 10, durationMs: 2, statusCode: 200, errorClass: null, errorMessage: null, responseSnippet: 'ok' },
          outcome: { kind: 'delivered' },
        },
      ],
      NOW + 12,
    );
    expect(settled).toMatchObject({ ok: true, delivery: { status: 'delivered', deliveredAt: NOW + 12 } });
  });

  it("admits 'cancelled' on the upgraded deliveries, and still refuses a status the contract does not know", async () => {
    const { db, sub } = filledAtVersion7();
    const storage = await migratedOnHandle(db);
    // The open deliveries of a deleted subscription (the pending one still under its lease) and of an expunged event.
    expect(await storage.softDeleteSubscription(sub.id, NOW + 20)).toMatchObject({ cancelled: 1, subscription: { deletedAt: NOW + 20 } });
    expect(await storage.expungeEvents(['evt_3', 'evt_2'], NOW + 21)).toEqual({ events: 2, cancelled: 1, snippets: 3 });
    expect(await storage.getDelivery('dlv_1')).toMatchObject({ status: 'cancelled', lastError: CANCELLED_BY_DELETE, leaseExpiresAt: NOW + 30_000 });
    expect(await storage.getDelivery('dlv_4')).toMatchObject({ status: 'cancelled', lastError: CANCELLED_BY_EXPUNGE });
    expect(await storage.stats(NOW + 21)).toEqual({ pending: 0, leased: 0, waiting: 0, held: 0, dead: 1, delivered: 1, cancelled: 2, oldestPendingCreatedAt: null });
    expect(db.prepare("SELECT subscription_id, n FROM webhook_delivery_counts WHERE status = 'cancelled' ORDER BY subscription_id").all()).toEqual([
      { subscription_id: sub.id, n: 1 },
      { subscription_id: 'sub_acme', n: 1 },
    ]);
    expect(() => db.prepare("UPDATE webhook_deliveries SET status = 'lost' WHERE id = 'dlv_2'").run()).toThrow(/CHECK constraint/);
  });

  it('upgrades with foreign keys off, and inside a transaction the host began by hand with them on', async () => {
    const { db: off } = filledAtVersion7();
    off.pragma('foreign_keys = OFF');
    const storage = await migratedOnHandle(off);
    expect(await storage.listAttempts('dlv_2')).toMatchObject([{ id: 'att_1' }]);
    off.close();
    await rm(file(), { force: true });

    const { db } = filledAtVersion7();
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const inHost = track(createSqliteStorage({ database: db }));
    db.exec('BEGIN');
    await inHost.migrate();
    db.exec('COMMIT');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(count(db, 'webhook_deliveries')).toBe(4);
    // The attempts still hold their deliveries: deleting one that has attempts is refused.
    expect(() => db.prepare("DELETE FROM webhook_deliveries WHERE id = 'dlv_2'").run()).toThrow(/FOREIGN KEY/);
  });

  it("drops a deleted subscription's filter rows, so that fan-out no longer looks at it, and keeps them for a disabled one", async () => {
    const storage = await migratedOnHandle(openRaw(':memory:'));
    const db = storage.database;
    const deleted = await storage.createSubscription(subscription({ id: 'sub_deleted', eventTypes: ['payment.*', 'invoice.paid'] }));
    const disabled = await storage.createSubscription(subscription({ id: 'sub_disabled', eventTypes: ['payment.*'] }));
    await storage.setSubscriptionStatus(disabled.id, { status: 'disabled', reason: 'operator' }, NOW);
    await storage.softDeleteSubscription(deleted.id, NOW);
    const filters = (id: string) => db.prepare('SELECT filter FROM webhook_subscription_event_types WHERE subscription_id = ? ORDER BY filter').pluck().all(id);
    expect(filters(deleted.id)).toEqual([]);
    expect(filters(disabled.id)).toEqual(['payment.*']);
    // Its record still names them, and a hard delete still removes it.
    expect(await storage.getSubscription(deleted.id)).toMatchObject({ eventTypes: ['payment.*', 'invoice.paid'], deletedAt: NOW });
    expect(await storage.enqueue(enqueueInput('payment.succeeded'))).toMatchObject({ deliveryCount: 0 });
    expect(await storage.deleteSubscription(deleted.id)).toBe(true);
  });

  it('waits for a delivery cancelled while in flight before removing its tenant, and takes its lease back from a holder proven gone', async () => {
    expect(currentProcessIdentity().host).not.toBeNull();
    const holder = track(createSqliteStorage({ filename: file() }));
    await holder.migrate();
    const sub = await holder.createSubscription(subscription({ tenantId: 'acme' }));
    const input = enqueueInput();
    await holder.enqueue({ ...input, event: { ...input.event, tenantId: 'acme' } });
    const [claimed] = await holder.claimDue({ limit: 1, leaseMs: 60_000, now: NOW });
    expect(await holder.softDeleteSubscription(sub.id, NOW + 1)).toMatchObject({ cancelled: 1 });
    expect(await holder.purgeTenant({ tenantId: 'acme', limit: 10, now: NOW + 2, force: false })).toBe('in_flight');

    // The holder's row now names a process started at another time: the pid was reused, the holder is gone.
    holder.database.prepare('UPDATE webhook_instances SET started_ticks = CAST(started_ticks + 1 AS TEXT)').run();
    const restarted = track(createSqliteStorage({ filename: file() }));
    expect(await restarted.claimDue({ limit: 1, leaseMs: 60_000, now: NOW + 3 })).toEqual([]);
    expect(await restarted.getDelivery(claimed!.delivery.id)).toMatchObject({ status: 'cancelled', lastError: CANCELLED_BY_DELETE, leaseExpiresAt: null });
    expect(await restarted.purgeTenant({ tenantId: 'acme', limit: 10, now: NOW + 4, force: false })).toMatchObject({ subscriptions: 1, deliveries: 1, done: true });
  });
});

describe('the tenantless events in id order (migration 0009)', () => {
  it('upgrades a version-8 database holding events: the tenantless ones read oldest first through the new index, the rest as before', async () => {
    const { db } = databaseAtVersion(8);
    db.exec(
      `INSERT INTO webhook_events (id, type, published_at, payload, idempotency_key, tenant_id, expunged_at)
       VALUES ('evt_4', 'payment.succeeded', ${NOW + 3}, '{"n":4}', NULL, NULL, NULL),
              ('evt_1', 'payment.succeeded', ${NOW}, '{"n":1}', 'order-1', NULL, NULL),
              ('evt_3', 'invoice.paid', ${NOW + 2}, '', NULL, NULL, ${NOW + 5}),
              ('evt_2', 'payment.succeeded', ${NOW + 1}, '{"n":2}', NULL, 'acme', NULL)`,
    );
    const before = db.prepare('SELECT rowid AS row_id, * FROM webhook_events ORDER BY rowid').all();
    const storage = track(createSqliteStorage({ database: db }));
    expect(await rejectionOf(storage.listEvents({ limit: 10 }))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_OLD' });
    await storage.migrate();

    expect(db.prepare('SELECT rowid AS row_id, * FROM webhook_events ORDER BY rowid').all()).toEqual(before.map((row) => ({ ...(row as object), ordering_key: null })));
    const ids = async (query: Parameters<typeof storage.listEvents>[0]) => (await storage.listEvents(query)).items.map((e) => e.id);
    expect(await ids({ tenantId: null, order: 'asc', limit: 10 })).toEqual(['evt_1', 'evt_3', 'evt_4']);
    expect(await ids({ tenantId: null, types: ['payment.succeeded'], order: 'asc', limit: 10 })).toEqual(['evt_1', 'evt_4']);
    expect(await ids({ tenantId: null, limit: 10 })).toEqual(['evt_4', 'evt_3', 'evt_1']);
    expect(await ids({ tenantId: 'acme', order: 'asc', limit: 10 })).toEqual(['evt_2']);
    expect(await ids({ order: 'asc', limit: 10 })).toEqual(['evt_1', 'evt_2', 'evt_3', 'evt_4']);
    const tenantless = db.prepare("EXPLAIN QUERY PLAN SELECT * FROM webhook_events WHERE tenant_id IS NULL AND id > 'evt_1' ORDER BY id LIMIT 10").all();
    expect((tenantless as Array<{ detail: string }>).map((row) => row.detail)).toEqual(['SEARCH webhook_events USING INDEX webhook_events_tenantless (id>?)']);
  });
});

describe('transactional outbox on the host handle', () => {
  function ledger(db: Database.Database): void {
    db.exec('CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount_minor INTEGER NOT NULL)');
  }

  it('rolls the event and its deliveries back with the host transaction when the host throws after enqueueSync', async () => {
    const db = openRaw(file());
    ledger(db);
    const storage = await migratedOnHandle(db);
    await storage.createSubscription(subscription());
    const write = db.transaction(() => {
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(1250);
      const result = storage.enqueueSync(enqueueInput('payment.succeeded', { tx: db }));
      expect(result).toMatchObject({ created: true, deliveryCount: 1 });
      throw new Error('ledger check failed');
    });
    expect(() => write()).toThrow('ledger check failed');
    expect(count(db, 'ledger')).toBe(0);
    expect(count(db, 'webhook_events')).toBe(0);
    expect(count(db, 'webhook_deliveries')).toBe(0);
  });

  it('commits the event and its deliveries with the host transaction', async () => {
    const db = openRaw(file());
    ledger(db);
    const storage = await migratedOnHandle(db);
    await storage.createSubscription(subscription());
    await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    const input = enqueueInput('payment.succeeded', { tx: db });
    db.transaction(() => {
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(1250);
      storage.enqueueSync(input);
    })();
    expect(count(db, 'ledger')).toBe(1);
    expect(await storage.getEvent(input.event.id)).toEqual({ ...input.event, orderingKey: null, expungedAt: null });
    expect(count(db, 'webhook_deliveries')).toBe(2);
    expect(await storage.claimDue({ limit: 10, leaseMs: 1000, now: NOW })).toHaveLength(2);
  });

  it('joins a transaction the host began by hand with the async enqueue and tx, and rolls back with it', async () => {
    const db = openRaw(file());
    const storage = await migratedOnHandle(db);
    await storage.createSubscription(subscription());
    db.exec('BEGIN');
    await storage.enqueue(enqueueInput('payment.succeeded', { tx: db }));
    expect(db.inTransaction).toBe(true);
    expect(count(db, 'webhook_deliveries')).toBe(1);
    db.exec('ROLLBACK');
    expect(count(db, 'webhook_events')).toBe(0);
    expect(count(db, 'webhook_deliveries')).toBe(0);
  });

  it('fails inside the host transaction through a savepoint, leaving the host free to carry on and commit', async () => {
    const db = openRaw(file());
    ledger(db);
    const storage = await migratedOnHandle(db);
    await storage.createSubscription(subscription());
    const first = enqueueInput();
    await storage.enqueue(first);
    db.transaction(() => {
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(1);
      // The same event id again: a constraint failure inside our savepoint.
      const error = thrownBy(() => storage.enqueueSync({ ...enqueueInput(), event: { ...enqueueInput().event, id: first.event.id }, tx: db }));
      expect(error).toMatchObject({ code: 'STORAGE_CONFLICT' });
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(2);
    })();
    expect(count(db, 'ledger')).toBe(2);
    expect(count(db, 'webhook_events')).toBe(1);
  });

  it('refuses a tx that is not its own database handle with TX_UNSUPPORTED, storing nothing', async () => {
    const db = openRaw(file());
    const storage = await migratedOnHandle(db);
    const other = openRaw(file('other.db'));
    expect(thrownBy(() => storage.enqueueSync(enqueueInput('payment.succeeded', { tx: other })))).toMatchObject({
      name: 'ConfigError',
      code: 'TX_UNSUPPORTED',
    });
    expect(await rejectionOf(storage.enqueue(enqueueInput('payment.succeeded', { tx: {} })))).toMatchObject({ code: 'TX_UNSUPPORTED' });
    expect(count(db, 'webhook_events')).toBe(0);
  });

  describe('publish() with `tx` inside better-sqlite3 db.transaction (which cannot await)', () => {
    const payment = {
      paymentId: 'pay_1',
      customerId: 'cus_1',
      amount: { amount: 1250, currency: 'EUR' },
      method: 'card' as const,
      occurredAt: '2026-11-26T12:00:00.000Z',
    };

    async function outbox() {
      const db = openRaw(file());
      ledger(db);
      const storage = await migratedOnHandle(db);
      const webhooks = createWebhooks({ storage, security: { allowPrivateNetworks: true } });
      track(webhooks);
      await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['payment.*'] });
      return { db, webhooks };
    }

    it('rejects an awaited publish with TX_UNSUPPORTED that points to publishSync, and stores nothing', async () => {
      const { db, webhooks } = await outbox();
      let published: Promise<unknown> | undefined;
      const write = db.transaction(async () => {
        db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(1250);
        published = webhooks.publish('payment.succeeded', payment, { tx: db });
        // The host's own await; caught here only so that the test leaves no unhandled rejection.
        await published.catch(() => undefined);
      });
      // better-sqlite3's own refusal of a promise, thrown to the caller of the transaction.
      expect(() => write()).toThrow(TypeError);
      const error = await rejectionOf(published!);
      expect(error).toMatchObject({ name: 'ConfigError', code: 'TX_UNSUPPORTED', field: 'tx' });
      // The item is about what the message tells the developer to do.
      expect((error as Error).message).toContain('publishSync');
      expect(count(db, 'ledger')).toBe(0);
      expect(count(db, 'webhook_events')).toBe(0);
      expect(count(db, 'webhook_deliveries')).toBe(0);
    });

    it('refuses a publish that comes after an await, when the host transaction is already rolled back, instead of committing the event alone', async () => {
      const { db, webhooks } = await outbox();
      let published: Promise<unknown> | undefined;
      const write = db.transaction(async () => {
        db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(1250);
        await Promise.resolve();
        published = webhooks.publish('payment.succeeded', payment, { tx: db });
        await published.catch(() => undefined);
      });
      expect(() => write()).toThrow(TypeError);
      await vi.waitFor(() => expect(published).toBeDefined());
      expect(await rejectionOf(published!)).toMatchObject({ name: 'ConfigError', code: 'TX_UNSUPPORTED', field: 'tx' });
      expect(count(db, 'ledger')).toBe(0);
      expect(count(db, 'webhook_events')).toBe(0);
      expect(count(db, 'webhook_deliveries')).toBe(0);
    });

    it('still commits with publishSync inside db.transaction, and with an awaited publish in a transaction begun by hand', async () => {
      const { db, webhooks } = await outbox();
      db.transaction(() => {
        db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(1250);
        webhooks.publishSync('payment.succeeded', payment, { tx: db });
      })();
      db.exec('BEGIN');
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(1300);
      await webhooks.publish('payment.succeeded', { ...payment, paymentId: 'pay_2' }, { tx: db });
      db.exec('COMMIT');
      expect(count(db, 'ledger')).toBe(2);
      expect(count(db, 'webhook_events')).toBe(2);
      expect(count(db, 'webhook_deliveries')).toBe(2);
    });
  });

  it('says it takes the host transaction and measures leases with the caller clock', () => {
    const storage = track(createSqliteStorage({ database: openRaw(file()) }));
    expect(storage.capabilities).toEqual({ transactions: true, databaseClock: false });
  });
});

describe('query plans', () => {
  /**
   * Captures the SQL the adapter runs (expanded with its parameters) on a handed-in connection;
   * `run` may empty `sql` to keep only what follows.
   */
  async function capture(
    run: (storage: SqliteStorage, db: Database.Database, sql: string[]) => Promise<unknown>,
  ): Promise<{ sql: string[]; db: Database.Database }> {
    const sql: string[] = [];
    const db = openRaw(file(), { verbose: (message) => sql.push(String(message)) });
    const storage = await migratedOnHandle(db);
    await run(storage, db, sql);
    return { sql, db };
  }

  function plan(db: Database.Database, sql: string): string[] {
    return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((row) => row.detail);
  }

  it('claims through the partial due index, in index order, with no scan or sort of pending rows, even after ANALYZE', async () => {
    const { sql, db } = await capture(async (storage, handle) => {
      const sub = await storage.createSubscription(subscription());
      // A backlog: 20,000 pending rows (plus 2,000 under live leases at the head).
      handle.exec(`
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
        INSERT INTO webhook_events (id, type, published_at, payload)
        SELECT printf('evt_%08d', i), 'payment.succeeded', ${NOW}, '{}' FROM n`);
      handle.exec(`
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
        INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at,
          due_at, lease_token, lease_expires_at, created_at, updated_at)
        SELECT printf('dlv_%08d', i), printf('evt_%08d', i), 'payment.succeeded', '${sub.id}', 'pending', 0, ${NOW} - 20000 + i,
          CASE WHEN i <= 2000 THEN ${NOW + 60_000} ELSE ${NOW} - 20000 + i END,
          CASE WHEN i <= 2000 THEN 'held-by-another-worker' END,
          CASE WHEN i <= 2000 THEN ${NOW + 60_000} END, ${NOW}, ${NOW}
        FROM n`);
      handle.exec('ANALYZE');
      const claimed = await storage.claimDue({ limit: 10, leaseMs: 1000, now: NOW });
      // The rows under a live lease are not handed out; the oldest due unleased ones are.
      expect(claimed.map((c) => c.delivery.id)).toEqual(Array.from({ length: 10 }, (_, i) => `dlv_${String(2001 + i).padStart(8, '0')}`));
    });
    const claim = sql.find((s) => /^\s*UPDATE webhook_deliveries SET lease_token/.test(s));
    expect(claim).toBeDefined();
    const details = plan(db, claim!);
    expect(details).toContain('SEARCH d USING COVERING INDEX webhook_deliveries_due (due_at<?)');
    expect(details.some((d) => d.includes('TEMP B-TREE'))).toBe(false);
    expect(details.some((d) => /^SCAN (d|webhook_deliveries)\b/.test(d))).toBe(false);
  });

  /** Inserts `count` pending deliveries of one subscription, due from `firstDueAt` on, one ms apart. */
  function insertBacklog(db: Database.Database, subscriptionId: string, tag: string, count: number, firstDueAt: number): void {
    db.exec(`
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
      INSERT INTO webhook_events (id, type, published_at, payload)
      SELECT printf('evt_${tag}%08d', i), 'payment.succeeded', ${NOW}, '{}' FROM n`);
    db.exec(`
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
      INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at,
        due_at, created_at, updated_at)
      SELECT printf('dlv_${tag}%08d', i), printf('evt_${tag}%08d', i), 'payment.succeeded', '${subscriptionId}', 'pending', 0,
        ${firstDueAt} + i - 1, ${firstDueAt} + i - 1, ${NOW}, ${NOW}
      FROM n`);
  }

  const claimStatement = (sql: string[]): string => {
    const claims = sql.filter((s) => /^\s*UPDATE webhook_deliveries SET lease_token/.test(s));
    expect(claims.length).toBeGreaterThan(0);
    return claims[claims.length - 1]!;
  };

  it('claims past a 5,000-row due backlog of an excluded subscription per subscription, never stepping over its rows', async () => {
    const { sql, db } = await capture(async (storage, handle) => {
      const slow = await storage.createSubscription(subscription({ id: 'sub_slow' }));
      const a = await storage.createSubscription(subscription({ id: 'sub_a' }));
      const b = await storage.createSubscription(subscription({ id: 'sub_b' }));
      // The slow receiver's 5,000 due deliveries come before everything else.
      insertBacklog(handle, slow.id, 's', 5000, NOW - 100_000);
      insertBacklog(handle, a.id, 'a', 300, NOW - 50_000);
      insertBacklog(handle, b.id, 'b', 300, NOW - 50_000 + 2);
      handle.exec('ANALYZE');
      const claimed = await storage.claimDue({ limit: 6, leaseMs: 1000, now: NOW, excludeSubscriptionIds: [slow.id] });
      // a's and b's interleave by due time, ties broken by id.
      expect(claimed.map((c) => c.delivery.id)).toEqual([
        'dlv_a00000001',
        'dlv_a00000002',
        'dlv_a00000003',
        'dlv_b00000001',
        'dlv_a00000004',
        'dlv_b00000002',
      ]);
    });
    const details = plan(db, claimStatement(sql));
    expect(details).toContain('SEARCH d USING COVERING INDEX webhook_deliveries_subscription_due (subscription_id=? AND due_at<?)');
    expect(details.some((d) => d.includes('webhook_deliveries_due '))).toBe(false);
    expect(details.some((d) => /^SCAN (d|webhook_deliveries)\b/.test(d))).toBe(false);
    // Deciding between the plans counts the excluded rows no further than the budget, on their own index range.
    const probe = plan(db, sql.find((s) => s.includes('SELECT COUNT(*) FROM (') && s.includes('LIMIT'))!);
    expect(probe).toContain('SEARCH d USING COVERING INDEX webhook_deliveries_subscription_due (subscription_id=? AND due_at<?)');
  });

  it('counts the active subscriptions for the plan only once the excluded due rows reach the walk budget, and then once per 10 s', async () => {
    const countsActive = (statement: string) => /SELECT COUNT\(\*\) FROM webhook_subscriptions WHERE status = 'active'/.test(statement);
    const { sql } = await capture(async (storage, handle, captured) => {
      const few = await storage.createSubscription(subscription({ id: 'sub_few' }));
      const many = await storage.createSubscription(subscription({ id: 'sub_many' }));
      const a = await storage.createSubscription(subscription({ id: 'sub_a' }));
      insertBacklog(handle, few.id, 'f', 20, NOW - 100_000);
      insertBacklog(handle, many.id, 'm', 300, NOW - 100_000);
      insertBacklog(handle, a.id, 'a', 50, NOW - 50_000);
      captured.length = 0;
      // 20 excluded due rows: the walk wins whatever the number of subscriptions.
      const past = await storage.claimDue({ limit: 2, leaseMs: 1000, now: NOW, excludeSubscriptionIds: [few.id] });
      expect(past.map((c) => c.delivery.id)).toEqual(['dlv_m00000001', 'dlv_m00000002']);
      expect(captured.filter(countsActive)).toHaveLength(0);
      // 300: the count decides, taken once, then again once 10 s have passed on the caller's clock.
      for (const now of [NOW, NOW + 1, NOW + 9_999, NOW + 10_000]) {
        const claimed = await storage.claimDue({ limit: 1, leaseMs: 1, now, excludeSubscriptionIds: [many.id] });
        expect(claimed.map((c) => c.subscription.id)).toEqual([few.id]);
      }
    });
    expect(sql.filter(countsActive)).toHaveLength(2);
  });

  it('walks the due index past an excluded subscription that has only a few due rows', async () => {
    const { sql, db } = await capture(async (storage, handle) => {
      const slow = await storage.createSubscription(subscription({ id: 'sub_slow' }));
      const a = await storage.createSubscription(subscription({ id: 'sub_a' }));
      insertBacklog(handle, slow.id, 's', 20, NOW - 100_000);
      insertBacklog(handle, a.id, 'a', 20, NOW - 50_000);
      const claimed = await storage.claimDue({ limit: 3, leaseMs: 1000, now: NOW, excludeSubscriptionIds: [slow.id] });
      expect(claimed.map((c) => c.delivery.id)).toEqual(['dlv_a00000001', 'dlv_a00000002', 'dlv_a00000003']);
    });
    const details = plan(db, claimStatement(sql));
    expect(details).toContain('SEARCH d USING COVERING INDEX webhook_deliveries_due (due_at<?)');
    expect(details.some((d) => d.includes('TEMP B-TREE'))).toBe(false);
  });

  it('answers nextDueAt and the oldest pending age from the heads of partial indexes', async () => {
    const { sql, db } = await capture(async (storage) => {
      await storage.nextDueAt(NOW);
      await storage.stats(NOW);
    });
    const nextDue = sql.find((s) => s.includes('THEN d.lease_expires_at ELSE d.due_at'))!;
    // The first row no live lease holds (a walk of the index head, past the NULL due times of
    // deliveries waiting behind their ordering key's head), then the rows due up to it.
    expect(plan(db, nextDue)).toContain('SEARCH f USING COVERING INDEX webhook_deliveries_due (due_at<?)');
    expect(plan(db, nextDue)).toContain('SEARCH d USING COVERING INDEX webhook_deliveries_due (due_at<?)');
    expect(plan(db, nextDue).some((d) => d.includes('TEMP B-TREE'))).toBe(false);
    const leased = plan(db, sql.find((s) => s.includes('AS leased') && s.includes('AS pending'))!);
    expect(leased).toContain('SEARCH webhook_deliveries USING COVERING INDEX webhook_deliveries_leased (lease_expires_at>?)');
    const stats = plan(db, sql.find((s) => s.includes('AS pending'))!);
    expect(stats).toContain('SCAN webhook_deliveries USING COVERING INDEX webhook_deliveries_pending_created');
    expect(stats.some((d) => d.includes('TEMP B-TREE'))).toBe(false);
  });

  it('counts by status from the counts table, live leases from the leased index (0011), walking no pending entries', async () => {
    const { sql, db } = await capture(async (storage) => {
      await storage.stats(NOW);
      await storage.stats(NOW, { subscriptionId: 'sub_a' });
      await storage.stats(NOW, { tenantId: 't1' });
    });
    const all = plan(db, sql.find((s) => s.includes('AS delivered') && !s.includes('subscription_id =') && !s.includes('tenant_id IS'))!);
    // pending, held, dead, delivered, cancelled: the counts table; leased: the tail of the leased index; waiting: the
    // NULL head of the due index; oldest: the head of pending_created.
    expect(all.filter((d) => d.includes('webhook_delivery_counts'))).toHaveLength(5);
    expect(all.filter((d) => /webhook_deliveries\b/.test(d))).toEqual([
      'SEARCH webhook_deliveries USING COVERING INDEX webhook_deliveries_leased (lease_expires_at>?)',
      'SEARCH webhook_deliveries USING COVERING INDEX webhook_deliveries_due (due_at=?)',
      'SCAN webhook_deliveries USING COVERING INDEX webhook_deliveries_pending_created',
    ]);
    const one = plan(db, sql.find((s) => s.includes('AS delivered') && s.includes("subscription_id = 'sub_a'") && !s.includes('tenant_id IS'))!);
    expect(one.filter((d) => d.includes('webhook_delivery_counts'))).toEqual(
      Array(5).fill('SEARCH webhook_delivery_counts USING PRIMARY KEY (subscription_id=? AND status=?)'),
    );
    expect(one.filter((d) => /webhook_deliveries\b/.test(d))).toEqual([
      'SEARCH webhook_deliveries USING INDEX webhook_deliveries_leased (lease_expires_at>?)',
      expect.stringContaining('webhook_deliveries_subscription_due (subscription_id=? AND due_at=?)'),
      expect.stringContaining('webhook_deliveries_subscription_due (subscription_id=?)'),
    ]);
    const tenant = plan(db, sql.find((s) => s.includes('AS delivered') && s.includes("tenant_id IS 't1'"))!);
    expect(tenant).toContain('SEARCH webhook_deliveries USING INDEX webhook_deliveries_leased (lease_expires_at>?)');
    expect(scans(tenant)).toEqual([]);
  });

  it("holds and resumes a subscription's open deliveries through the partial index of their status, not a walk of its log", async () => {
    const { sql, db } = await capture(async (storage) => {
      const sub = await storage.createSubscription(subscription());
      await storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'operator' }, NOW);
      await storage.setSubscriptionStatus(sub.id, { status: 'active' }, NOW);
    });
    const updates = sql.filter((s) => /^\s*UPDATE webhook_deliveries SET status =/.test(s));
    expect(updates).toHaveLength(2);
    expect(plan(db, updates[0]!)).toEqual(['SEARCH webhook_deliveries USING COVERING INDEX webhook_deliveries_subscription_due (subscription_id=?)']);
    expect(plan(db, updates[1]!)).toEqual(['SEARCH webhook_deliveries USING COVERING INDEX webhook_deliveries_subscription_held (subscription_id=?)']);
  });

  /** The plan's steps that walk a whole table or index (json_each's rows and constant rows aside). */
  const scans = (details: string[]): string[] => details.filter((d) => /^SCAN /.test(d) && !/VIRTUAL TABLE|CONSTANT ROW|\(subquery-/.test(d));

  /**
   * 40 tenants with 5 subscriptions each (`payment.*`, `invoice.paid`), an all-tenant consumer
   * and a platform subscription, with ANALYZE's statistics.
   */
  async function tenantsOf(storage: SqliteStorage, db: Database.Database): Promise<void> {
    for (let i = 0; i < 200; i++) {
      await storage.createSubscription(subscription({ id: `sub_${String(i).padStart(3, '0')}`, tenantId: `t${i % 40}`, eventTypes: ['payment.*', 'invoice.paid'] }));
    }
    await storage.createSubscription(subscription({ id: 'sub_audit', allTenants: true, eventTypes: ['*'] }));
    await storage.createSubscription(subscription({ id: 'sub_platform', eventTypes: ['payment.succeeded'] }));
    db.exec('ANALYZE');
  }

  function eventOf(tenantId: string | null, id: string): EnqueueInput {
    return { event: { id, type: 'payment.succeeded', timestamp: NOW, payload: '{}', idempotencyKey: null, tenantId }, now: NOW };
  }

  it("cancels a deleted subscription's open deliveries through the partial index of each status, and an expunged event's through the event index, scanning nothing", async () => {
    const { sql, db } = await capture(async (storage, handle, captured) => {
      const sub = await storage.createSubscription(subscription({ id: 'sub_a' }));
      await storage.createSubscription(subscription({ id: 'sub_b' }));
      for (let i = 0; i < 20; i++) await storage.enqueue(eventOf(null, `evt_${String(i).padStart(2, '0')}`));
      // A delivered log, so that the statistics show the open deliveries as the small part they are.
      handle.exec(`
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
        INSERT INTO webhook_events (id, type, published_at, payload) SELECT printf('evt_o%08d', i), 'payment.succeeded', ${NOW}, '{}' FROM n`);
      handle.exec(`
        INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, status, attempts, created_at, updated_at)
        SELECT 'dlv_o' || substr(id, 6), id, type, 'sub_b', 'delivered', 1, ${NOW}, ${NOW} FROM webhook_events WHERE id LIKE 'evt_o%'`);
      handle.exec('ANALYZE');
      captured.length = 0;
      expect(await storage.softDeleteSubscription(sub.id, NOW)).toMatchObject({ cancelled: 20 });
      expect(await storage.expungeEvents(['evt_00', 'evt_01'], NOW)).toMatchObject({ events: 2, cancelled: 2 });
    });
    const cancels = sql.filter((s) => /^\s*UPDATE webhook_deliveries SET status = 'cancelled'/.test(s));
    expect(cancels).toHaveLength(3);
    expect(plan(db, cancels[0]!)).toEqual(['SEARCH webhook_deliveries USING COVERING INDEX webhook_deliveries_subscription_due (subscription_id=?)']);
    expect(plan(db, cancels[1]!)).toEqual(['SEARCH webhook_deliveries USING COVERING INDEX webhook_deliveries_subscription_held (subscription_id=?)']);
    expect(plan(db, cancels[2]!)).toContain('SEARCH d USING INDEX webhook_deliveries_event_subscription (event_id=?)');
    expect(scans(plan(db, cancels[2]!))).toEqual([]);
    const expunge = [...new Set(sql.filter((s) => /^\s*(SELECT|UPDATE)/.test(s) && /webhook_events|webhook_attempts|json_each/.test(s)))];
    expect(expunge.some((s) => s.startsWith('UPDATE webhook_attempts SET response_snippet = NULL'))).toBe(true);
    for (const statement of expunge) expect({ statement, scans: scans(plan(db, statement)) }).toEqual({ statement, scans: [] });
  });

  it("reads a subscription's change log, a tenant's events and a tenant's count toward its limit through their indexes", async () => {
    const { sql, db } = await capture(async (storage, handle, captured) => {
      await tenantsOf(storage, handle);
      const audit = { actor: 'ops@acme.example', reason: null, isSensitiveHeader: () => false };
      for (let i = 0; i < 5; i++) {
        await storage.updateSubscription('sub_007', { description: `d${i}` }, NOW + i, { id: createId('chg', NOW + i), action: 'updated', ...audit });
      }
      for (let i = 0; i < 20; i++) await storage.enqueue(eventOf(`t${i % 4}`, `evt_${String(i).padStart(2, '0')}`));
      handle.exec('ANALYZE');
      captured.length = 0;
      const page = await storage.listSubscriptionChanges({ subscriptionId: 'sub_007', limit: 2 });
      await storage.listSubscriptionChanges({ subscriptionId: 'sub_007', limit: 2, cursor: page.nextCursor! });
      expect((await storage.listEvents({ tenantId: 't2', limit: 3 })).items).toHaveLength(3);
      await storage.createSubscription(subscription({ id: 'sub_new', tenantId: 't2' }), { maxPerTenant: 10 });
    });
    const changes = [...new Set(sql.filter((s) => s.includes('FROM webhook_subscription_changes')))];
    expect(changes).toHaveLength(2);
    for (const s of changes) expect(plan(db, s)).toEqual(['SEARCH webhook_subscription_changes USING INDEX webhook_subscription_changes_subscription (subscription_id=? AND sequence>?)']);
    const events = sql.find((s) => s.startsWith('SELECT * FROM webhook_events') && s.includes('ORDER BY id DESC'))!;
    expect(plan(db, events)).toEqual(['SEARCH webhook_events USING INDEX webhook_events_tenant (tenant_id=?)']);
    const limit = sql.find((s) => s.startsWith('SELECT COUNT(*) FROM webhook_subscriptions WHERE tenant_id ='))!;
    expect(plan(db, limit)).toEqual(['SEARCH webhook_subscriptions USING INDEX webhook_subscriptions_tenant (tenant_id=?)']);
  });

  it("reads the event feed oldest first by types through an index in id order, never sorting: a tenant's by events_tenant, the tenantless by events_tenantless, every event by the primary key", async () => {
    const { sql, db } = await capture(async (storage, handle, captured) => {
      // 8,000 events over 40 tenants, one in 20 tenantless, of three types, one ms apart.
      handle.exec(`
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000)
        INSERT INTO webhook_events (id, type, published_at, payload, tenant_id)
        SELECT printf('evt_%08d', i), CASE i % 3 WHEN 0 THEN 'payment.succeeded' WHEN 1 THEN 'invoice.paid' ELSE 'refund.created' END,
          ${NOW} + i, '{}', CASE WHEN i % 20 = 0 THEN NULL ELSE 't' || (i % 40) END FROM n`);
      handle.exec('ANALYZE');
      captured.length = 0;
      const types = ['payment.succeeded', 'invoice.paid'];
      for (const tenantId of ['t3', null, undefined]) {
        const scope = tenantId === undefined ? {} : { tenantId };
        const first = await storage.listEvents({ ...scope, types, order: 'asc', limit: 50 });
        expect(first.items).toHaveLength(50);
        const next = await storage.listEvents({ ...scope, types, order: 'asc', limit: 50, cursor: first.nextCursor! });
        expect(next.items[0]!.id > first.items[49]!.id).toBe(true);
        await storage.listEvents({ ...scope, types, order: 'asc', limit: 50, since: NOW + 4000 });
      }
      await storage.listEvents({ tenantId: null, limit: 50 });
    });
    const feedReads = [...new Set(sql.filter((s) => s.startsWith('SELECT * FROM webhook_events')))];
    expect(feedReads).toHaveLength(10);
    const readOf = (s: string) => plan(db, s).filter((d) => d.includes('webhook_events'));
    const read = (test: (s: string) => boolean) => readOf(feedReads.find(test)!);
    const ascending = (s: string) => s.includes('ORDER BY id ASC') && !s.includes('published_at');
    expect(read((s) => ascending(s) && s.includes("tenant_id = 't3'") && !s.includes('id >'))).toEqual([
      'SEARCH webhook_events USING INDEX webhook_events_tenant (tenant_id=?)',
    ]);
    expect(read((s) => ascending(s) && s.includes("tenant_id = 't3'") && s.includes('id >'))).toEqual([
      'SEARCH webhook_events USING INDEX webhook_events_tenant (tenant_id=? AND id>?)',
    ]);
    expect(read((s) => s.includes("tenant_id = 't3'") && s.includes('published_at >='))).toEqual([
      'SEARCH webhook_events USING INDEX webhook_events_tenant (tenant_id=?)',
    ]);
    expect(read((s) => ascending(s) && s.includes('tenant_id IS NULL') && !s.includes('id >'))).toEqual([
      'SCAN webhook_events USING INDEX webhook_events_tenantless',
    ]);
    expect(read((s) => ascending(s) && s.includes('tenant_id IS NULL') && s.includes('id >'))).toEqual([
      'SEARCH webhook_events USING INDEX webhook_events_tenantless (id>?)',
    ]);
    expect(read((s) => ascending(s) && !s.includes('tenant_id') && s.includes('id >'))).toEqual([
      'SEARCH webhook_events USING INDEX sqlite_autoindex_webhook_events_1 (id>?)',
    ]);
    // The operator's newest-first list of the tenantless events reads the same index backwards.
    expect(read((s) => s.includes('ORDER BY id DESC'))).toEqual(['SCAN webhook_events USING INDEX webhook_events_tenantless']);
    // None sorts (whichever way the planner reads the all-tenant window, which is a cost
    // question), and none scoped to a tenant or to the tenantless reads another's events.
    for (const s of feedReads) {
      const scoped = s.includes('tenant_id');
      if (scoped || !s.includes('published_at')) expect(plan(db, s).some((d) => d.includes('TEMP B-TREE')), s).toBe(false);
      if (scoped) expect(readOf(s).some((d) => d.includes('sqlite_autoindex_webhook_events_1') || /^SCAN webhook_events$/.test(d)), s).toBe(false);
    }
  });

  it("fans out by (filter, the event's tenant) through the primary key and to all-tenant consumers through their index, scanning nothing, even after ANALYZE", async () => {
    const { sql, db } = await capture(async (storage, handle) => {
      await tenantsOf(storage, handle);
      expect(await storage.enqueue(eventOf('t7', 'evt_t7'))).toMatchObject({ deliveryCount: 6 });
      expect(await storage.enqueue(eventOf(null, 'evt_platform'))).toMatchObject({ deliveryCount: 2 });
    });
    const fanOut = sql.filter((s) => s.includes('SELECT DISTINCT f.subscription_id'));
    // The tenant's event: its scope, then the all-tenant consumers; the tenantless event: its scope alone.
    expect(fanOut).toHaveLength(3);
    const [scope, consumers] = fanOut.map((s) => plan(db, s));
    expect(scope).toContain('SEARCH f USING PRIMARY KEY (filter=? AND tenant_key=?)');
    expect(consumers).toContain('SEARCH f USING COVERING INDEX webhook_subscription_event_types_all_tenants (filter=?)');
    for (const details of [scope!, consumers!]) {
      expect(details).toContain('SEARCH s USING INDEX sqlite_autoindex_webhook_subscriptions_1 (id=?)');
      expect(scans(details)).toEqual([]);
    }
  });

  it("removes a tenant through its indexes: no statement of purgeTenant scans a table or an index, the in-flight check included", async () => {
    const { sql, db } = await capture(async (storage, handle, captured) => {
      await tenantsOf(storage, handle);
      // Another tenant's log, so that the statistics show the tenant removed as the small part it is.
      handle.exec(`
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
        INSERT INTO webhook_events (id, type, published_at, payload, tenant_id)
        SELECT printf('evt_o%08d', i), 'payment.succeeded', ${NOW}, '{}', 't39' FROM n`);
      handle.exec(`
        INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, tenant_id, status, attempts, created_at, updated_at)
        SELECT 'dlv_o' || substr(id, 6), id, type, 'sub_039', 't39', 'delivered', 1, ${NOW}, ${NOW} FROM webhook_events WHERE tenant_id = 't39'`);
      handle.exec(`
        INSERT INTO webhook_attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code, outcome)
        SELECT 'att_o' || substr(id, 6), id, 1, ${NOW}, 5, 200, 'delivered' FROM webhook_deliveries WHERE tenant_id = 't39'`);
      for (let i = 0; i < 30; i++) await storage.enqueue(eventOf(`t${i % 3}`, `evt_${String(i).padStart(2, '0')}`));
      const [leased] = await storage.claimDue({ limit: 1, leaseMs: 60_000, now: NOW });
      await storage.settle(
        [
          {
            deliveryId: leased!.delivery.id,
            leaseToken: leased!.leaseToken,
            attempt: { id: 'att_1', startedAt: NOW, durationMs: 3, statusCode: 500, errorClass: 'http', errorMessage: null, responseSnippet: null },
            outcome: { kind: 'dead' },
          },
        ],
        NOW,
      );
      handle.exec('ANALYZE');
      captured.length = 0;
      const batches = [];
      for (;;) {
        const batch = await storage.purgeTenant({ tenantId: 't1', limit: 4, now: NOW, force: false });
        expect(batch).not.toBe('in_flight');
        batches.push(batch);
        if (batch !== 'in_flight' && batch.done) break;
      }
      // Every step ran: its 50 deliveries (5 subscriptions × 10 events), 5 subscriptions, 10 events and the audit consumer's 10.
      expect(batches.length).toBeGreaterThan(3);
    });
    const statements = [...new Set(sql.filter((s) => /^\s*(SELECT|DELETE)/.test(s)))];
    expect(statements.some((s) => s.includes('lease_expires_at > '))).toBe(true);
    expect(statements.some((s) => s.startsWith('DELETE FROM webhook_events'))).toBe(true);
    for (const statement of statements) expect({ statement, scans: scans(plan(db, statement)) }).toEqual({ statement, scans: [] });
  });

  it("reads a tenant's subscriptions, deliveries and counts, and excludes it from a claim, through the tenant indexes", async () => {
    const { sql, db } = await capture(async (storage, handle, captured) => {
      await tenantsOf(storage, handle);
      for (let i = 0; i < 20; i++) await storage.enqueue(eventOf(`t${i % 4}`, `evt_${String(i).padStart(2, '0')}`));
      handle.exec('ANALYZE');
      captured.length = 0;
      for (const tenantId of ['t2', null]) {
        await storage.listSubscriptions({ limit: 10, tenantId });
        await storage.listDeliveries({ limit: 10, tenantId });
        await storage.stats(NOW, { tenantId });
      }
      await storage.claimDue({ limit: 5, leaseMs: 1000, now: NOW, excludeTenantIds: ['t2', 't3'] });
    });
    const statements = [...new Set(sql.filter((s) => /^\s*(SELECT|WITH|UPDATE)/.test(s)))];
    const subscriptionsOf = statements.filter((s) => s.includes('FROM webhook_subscriptions') && s.includes('ORDER BY id LIMIT'));
    expect(subscriptionsOf).toHaveLength(2);
    for (const s of subscriptionsOf) expect(plan(db, s)).toEqual(['SEARCH webhook_subscriptions USING INDEX webhook_subscriptions_tenant (tenant_id=?)']);
    const deliveriesOf = statements.filter((s) => s.includes('FROM webhook_deliveries') && s.includes('ORDER BY id DESC'));
    expect(deliveriesOf).toHaveLength(2);
    for (const s of deliveriesOf) expect(plan(db, s)).toEqual(['SEARCH webhook_deliveries USING INDEX webhook_deliveries_tenant (tenant_id=?)']);
    const countsOf = statements.filter((s) => s.startsWith('WITH subs AS'));
    expect(countsOf).toHaveLength(2);
    for (const s of countsOf) {
      const details = plan(db, s);
      expect(scans(details)).toEqual([]);
      // Seven counts from the tenant's subscriptions (waiting among them); leased from the live leases alone (0011).
      expect(details.filter((d) => d.includes('webhook_subscriptions_tenant (tenant_id=?)'))).toHaveLength(7);
      expect(details).toContain('SEARCH webhook_deliveries USING INDEX webhook_deliveries_leased (lease_expires_at>?)');
    }
    const excluded = statements.find((s) => s.startsWith('SELECT id FROM webhook_subscriptions WHERE tenant_id IN'))!;
    expect(plan(db, excluded)).toContain('SEARCH webhook_subscriptions USING COVERING INDEX webhook_subscriptions_tenant (tenant_id=?)');
  });

  it("claims past a 5,000-row due backlog of an excluded tenant per subscription, never stepping over its rows", async () => {
    const { sql, db } = await capture(async (storage, handle) => {
      const slow = await storage.createSubscription(subscription({ id: 'sub_slow', tenantId: 'slow-co' }));
      const a = await storage.createSubscription(subscription({ id: 'sub_a', tenantId: 'acme' }));
      const b = await storage.createSubscription(subscription({ id: 'sub_b' }));
      insertBacklog(handle, slow.id, 's', 5000, NOW - 100_000);
      insertBacklog(handle, a.id, 'a', 300, NOW - 50_000);
      insertBacklog(handle, b.id, 'b', 300, NOW - 50_000 + 2);
      handle.prepare("UPDATE webhook_deliveries SET tenant_id = (SELECT tenant_id FROM webhook_subscriptions s WHERE s.id = subscription_id)").run();
      handle.exec('ANALYZE');
      const claimed = await storage.claimDue({ limit: 4, leaseMs: 1000, now: NOW, excludeTenantIds: ['slow-co', 'unknown-co'] });
      expect(claimed.map((c) => [c.delivery.id, c.delivery.tenantId])).toEqual([
        ['dlv_a00000001', 'acme'],
        ['dlv_a00000002', 'acme'],
        ['dlv_a00000003', 'acme'],
        ['dlv_b00000001', null],
      ]);
    });
    const details = plan(db, claimStatement(sql));
    expect(details).toContain('SEARCH d USING COVERING INDEX webhook_deliveries_subscription_due (subscription_id=? AND due_at<?)');
    expect(details.some((d) => d.includes('webhook_deliveries_due '))).toBe(false);
    expect(scans(details).filter((d) => /\b(d|webhook_deliveries)\b/.test(d))).toEqual([]);
  });
});

describe('settling in batches', () => {
  it('answers STORAGE_LEASE_LOST to a second settlement of one delivery in the same batch, recording one attempt', async () => {
    const { storage, tokens } = await claimedFixture(1, null, false);
    const [deliveryId, leaseToken] = [...tokens][0]!;
    const attempt = (id: string) => ({ id, startedAt: NOW, durationMs: 1, statusCode: 200, errorClass: null, errorMessage: null, responseSnippet: null });
    const results = await storage.settle(
      [
        { deliveryId, leaseToken, attempt: attempt('att_1'), outcome: { kind: 'delivered' } },
        { deliveryId, leaseToken, attempt: attempt('att_2'), outcome: { kind: 'delivered' } },
      ],
      LATER,
    );
    expect(results.map((r) => r.ok)).toEqual([true, false]);
    expect((await storage.listAttempts(deliveryId)).map((a) => a.id)).toEqual(['att_1']);
  });

  it('hands out claimed records equal to the stored rows, with one fresh token per claim', async () => {
    const { storage, tokens } = await claimedFixture(3, null, false);
    expect(new Set(tokens.values()).size).toBe(1);
    // A retry gives the rows a history (last attempt, status code, error) for the next claim to read back.
    await storage.settle(
      [...tokens].map(([deliveryId, leaseToken], i) => ({
        deliveryId,
        leaseToken,
        attempt: { id: `att_${i}`, startedAt: NOW + i, durationMs: 3, statusCode: 503, errorClass: 'http', errorMessage: 'HTTP 503', responseSnippet: null },
        outcome: { kind: 'retry', nextAttemptAt: LATER - i },
      })),
      NOW + 100,
    );
    const claimed = await storage.claimDue({ limit: 100, leaseMs: 5000, now: LATER });
    expect(claimed.map((c) => c.delivery.nextAttemptAt)).toEqual([...claimed.map((c) => c.delivery.nextAttemptAt!)].sort((a, b) => a - b));
    for (const c of claimed) {
      expect(c.delivery).toEqual(await storage.getDelivery(c.delivery.id));
      expect(c.event).toEqual(await storage.getEvent(c.event.id));
      expect(c.subscription).toEqual(await storage.getSubscription(c.subscription.id));
      expect(c.leaseToken).not.toBe(tokens.get(c.delivery.id));
    }
    expect(new Set(claimed.map((c) => c.leaseToken)).size).toBe(1);
  });

  it('claims, settles, releases and publishes on statements prepared once, never on the way', async () => {
    const storage = await migratedOnHandle(openRaw(':memory:'));
    await storage.createSubscription(subscription());
    const cycle = async (): Promise<void> => {
      await storage.enqueue(enqueueInput());
      await storage.enqueue(enqueueInput());
      const [first, second] = await storage.claimDue({ limit: 10, leaseMs: 1000, now: NOW });
      await storage.settle(
        [{ deliveryId: first!.delivery.id, leaseToken: first!.leaseToken, attempt: { id: createId('att', NOW), startedAt: NOW, durationMs: 1, statusCode: 200, errorClass: null, errorMessage: null, responseSnippet: null }, outcome: { kind: 'delivered' } }],
        NOW,
      );
      await storage.releaseLeases([{ deliveryId: second!.delivery.id, leaseToken: second!.leaseToken }], NOW);
      await storage.nextDueAt(NOW);
    };
    await cycle();
    const prepare = vi.spyOn(storage.database, 'prepare');
    await cycle();
    expect(prepare).not.toHaveBeenCalled();
  });
});

describe('WAL checkpoints', () => {
  /** Bytes of `name` in the test directory, 0 when it does not exist. */
  const size = (name: string): number => (existsSync(file(name)) ? statSync(file(name)).size : 0);

  async function publishSome(storage: SqliteStorage, events: number): Promise<void> {
    for (let i = 0; i < events; i++) await storage.enqueue(enqueueInput());
  }

  async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('condition not reached in time');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('checkpoints on its timer, between calls: the database file takes the new pages and the log starts over', async () => {
    // SQLite's own checkpoint off, so that only the timer can move the log.
    const storage = track(createSqliteStorage({ filename: file(), checkpointIntervalMs: 20, walAutocheckpointBytes: 0 }));
    await storage.migrate();
    await storage.createSubscription(subscription());
    await until(() => size('webhooks.db') > 0);
    const before = size('webhooks.db');
    await publishSome(storage, 50);
    const log = size('webhooks.db-wal');
    // Two whole checkpoints after the writes: at least one began after the last of them.
    const whole = storage.checkpointer!.completedWhole;
    await until(() => size('webhooks.db') > before && storage.checkpointer!.completedWhole >= whole + 2);
    // The log was wholly checkpointed, so the next writes start again at its head.
    await publishSome(storage, 50);
    expect(size('webhooks.db-wal')).toBeLessThan(log * 1.5);
  });

  it('checkpoints on a worker thread with a connection of its own, never through the main connection', async () => {
    const storage = track(createSqliteStorage({ filename: file(), checkpointIntervalMs: 20, walAutocheckpointBytes: 0 }));
    await storage.migrate();
    const prepare = vi.spyOn(storage.database, 'prepare');
    const before = size('webhooks.db');
    await publishSome(storage, 50);
    await until(() => storage.checkpointer!.completed >= 2 && size('webhooks.db') > before);
    expect(storage.checkpointer!.offThread).toBe(true);
    expect(storage.checkpointer!.lastError).toBeNull();
    expect(prepare.mock.calls.filter(([sql]) => String(sql).includes('wal_checkpoint'))).toEqual([]);
    // close() stops the worker first, so the main connection is the last and removes the log.
    await storage.close();
    expect(existsSync(file('webhooks.db-wal'))).toBe(false);
  });

  it("keeps checkpointing while the host awaits publishes in a loop that never lets the main thread's timers run", async () => {
    const storage = track(createSqliteStorage({ filename: file(), checkpointIntervalMs: 10, walAutocheckpointBytes: 0 }));
    await storage.migrate();
    await storage.createSubscription(subscription());
    const before = size('webhooks.db');
    const deadline = Date.now() + 5_000;
    // Awaited enqueues resolve as microtasks: no timer of this thread fires until the loop ends.
    while (size('webhooks.db') === before && Date.now() < deadline) await publishSome(storage, 20);
    expect(size('webhooks.db')).toBeGreaterThan(before);
  });

  it('falls back to checkpointing on the main thread when the worker cannot load the driver', async () => {
    const db = openRaw(file());
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    const storage = await migratedOnHandle(db);
    const checkpointer = new WalCheckpointer({ database: db, intervalMs: 20, driverPath: file('no-such-driver.js') });
    track({ close: () => checkpointer.stop() });
    const before = size('webhooks.db');
    await publishSome(storage, 50);
    await until(() => checkpointer.offThread === false && checkpointer.completed >= 1 && size('webhooks.db') > before);
    expect(checkpointer.lastError).toContain('no-such-driver');
  });

  it('checkpoints on the main thread when told to (no driver path), skipping ticks inside the host transaction', async () => {
    const db = openRaw(file());
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    const storage = await migratedOnHandle(db);
    const checkpointer = new WalCheckpointer({ database: db, intervalMs: 10, driverPath: null });
    track({ close: () => checkpointer.stop() });
    expect(checkpointer.offThread).toBe(false);
    db.exec('BEGIN');
    await publishSome(storage, 5);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(checkpointer.completed).toBe(0);
    db.exec('COMMIT');
    await until(() => checkpointer.completed >= 1);
  });

  it('leaves the log growing without the timer and with SQLite checkpoints off (what the timer is measured against)', async () => {
    const storage = track(createSqliteStorage({ filename: file(), checkpointIntervalMs: false, walAutocheckpointBytes: 0 }));
    await storage.migrate();
    await storage.createSubscription(subscription());
    const before = size('webhooks.db');
    await publishSome(storage, 50);
    const log = size('webhooks.db-wal');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await publishSome(storage, 50);
    expect(size('webhooks.db')).toBe(before);
    expect(size('webhooks.db-wal')).toBeGreaterThan(log * 1.5);
  });

  it('runs one timer per file it opens, and stops it on close()', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const storage = createSqliteStorage({ filename: file() });
    expect(vi.getTimerCount()).toBe(1);
    await storage.close();
    expect(vi.getTimerCount()).toBe(0);
    track(createSqliteStorage({ filename: file(), checkpointIntervalMs: false }));
    // An in-memory database has no log to checkpoint.
    track(createSqliteStorage({ filename: ':memory:' }));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('runs no timer on a handed-in connection unless asked, and stops it once the host closes its handle', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const db = new Database(file());
    track(createSqliteStorage({ database: db }));
    expect(vi.getTimerCount()).toBe(0);
    // Nothing to checkpoint in memory, even when asked.
    track(createSqliteStorage({ database: new Database(':memory:'), checkpointIntervalMs: 1000 }));
    expect(vi.getTimerCount()).toBe(0);
    track(createSqliteStorage({ database: db, checkpointIntervalMs: 1000 }));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1000);
    db.close();
    vi.advanceTimersByTime(1000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("ticks past the host's open transaction without throwing or disturbing it, and the host commits as usual", async () => {
    const db = openRaw(file());
    db.pragma('journal_mode = WAL');
    const storage = track(createSqliteStorage({ database: db, checkpointIntervalMs: 5 }));
    await storage.migrate();
    db.exec('CREATE TABLE ledger (amount INTEGER)');
    db.exec('BEGIN');
    db.exec('INSERT INTO ledger VALUES (100)');
    storage.enqueueSync(enqueueInput('payment.succeeded', { tx: db }));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(db.inTransaction).toBe(true);
    db.exec('COMMIT');
    expect(db.prepare('SELECT COUNT(*) FROM ledger').pluck().get()).toBe(1);
    expect(count(db, 'webhook_events')).toBe(1);
  });

  it('never keeps the process alive: a script that opens a storage and does not close it exits', async () => {
    const root = join(import.meta.dirname, '..', '..', '..');
    const script = file('open-and-leave.mts');
    writeFileSync(
      script,
      `import { createSqliteStorage } from ${JSON.stringify(join(root, 'src', 'storage', 'sqlite', 'index.ts'))};
       const storage = createSqliteStorage({ filename: ${JSON.stringify(file())}, checkpointIntervalMs: 10 });
       await storage.migrate();
       // Wait for the worker thread to have checkpointed: it is running when the script ends.
       while (storage.checkpointer.completed < 1) await new Promise((resolve) => setTimeout(resolve, 5));
       console.log('migrated', storage.checkpointer.offThread);`,
    );
    const output = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', script], { cwd: root, timeout: 30_000 }, (error, stdout) =>
        error === null ? resolve(stdout) : reject(error),
      );
    });
    expect(output).toContain('migrated true');
  }, 40_000);
});

describe('the event-type filter rule in SQL', () => {
  it("replays the event types the core matched, whatever the subscription's filters say", async () => {
    const db = openRaw(':memory:');
    const storage = await migratedOnHandle(db);
    const sub = await storage.createSubscription(subscription({ eventTypes: ['*'] }));
    for (const type of ['payment.succeeded', 'refund.initiated', 'payment.failed']) await storage.enqueue(enqueueInput(type));
    db.prepare('DELETE FROM webhook_deliveries').run();
    const replayed = await storage.replay({ subscriptionId: sub.id, since: NOW, now: NOW, eventTypes: ['payment.succeeded', 'payment.failed'] });
    expect(replayed.count).toBe(2);
    const page = await storage.listDeliveries({ subscriptionId: sub.id, limit: 10 });
    expect(page.items.map((d) => d.eventType).sort()).toEqual(['payment.failed', 'payment.succeeded']);
    expect((await storage.replay({ subscriptionId: sub.id, since: NOW, now: NOW, eventTypes: [] })).count).toBe(0);
  });
});

describe('driver errors', () => {
  it('maps a database locked by another connection, with busy timeout 0, to a retryable STORAGE_BUSY', async () => {
    const storage = track(createSqliteStorage({ filename: file(), busyTimeoutMs: 0 }));
    await storage.migrate();
    const other = openRaw(file());
    other.exec('BEGIN IMMEDIATE');
    const error = await rejectionOf(storage.createSubscription(subscription()));
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'STORAGE_BUSY', retryable: true });
    expect((error as StorageError).cause).toMatchObject({ code: 'SQLITE_BUSY' });
    other.exec('ROLLBACK');
  });

  it('retries SQLITE_BUSY in place, so a lock released meanwhile does not surface', async () => {
    const storage = track(createSqliteStorage({ filename: file(), busyTimeoutMs: 0 }));
    await storage.migrate();
    const other = openRaw(file());
    other.exec('BEGIN IMMEDIATE');
    // Released before the first retry (≥ 10 ms later) runs.
    setTimeout(() => other.exec('ROLLBACK'), 0);
    const sub = await storage.createSubscription(subscription());
    expect(await storage.getSubscription(sub.id)).toEqual(sub);
  });

  it('maps a constraint failure to STORAGE_CONFLICT', async () => {
    const storage = track(createSqliteStorage({ filename: file() }));
    await storage.migrate();
    const sub = await storage.createSubscription(subscription());
    expect(await rejectionOf(storage.createSubscription(sub))).toMatchObject({ code: 'STORAGE_CONFLICT', retryable: false });
  });

  it('maps any other driver failure to STORAGE_FAILED with the driver error as cause', async () => {
    const db = openRaw(file());
    const storage = await migratedOnHandle(db);
    await storage.getEvent('evt_x');
    db.exec('DROP TABLE webhook_attempts');
    const error = await rejectionOf(storage.listAttempts('dlv_x'));
    expect(error).toMatchObject({ name: 'StorageError', code: 'STORAGE_FAILED', retryable: false });
    expect((error as StorageError).cause).toMatchObject({ code: 'SQLITE_ERROR' });
  });

  /** Every method of the contract, with harmless arguments. */
  function everyCall(storage: SqliteStorage): Array<[string, () => Promise<unknown>]> {
    return [
      ['migrate', () => storage.migrate()],
      ['createSubscription', () => storage.createSubscription(subscription())],
      ['getSubscription', () => storage.getSubscription('sub_x')],
      ['listSubscriptions', () => storage.listSubscriptions({ limit: 10 })],
      ['updateSubscription', () => storage.updateSubscription('sub_x', { url: 'https://x.example.com' }, NOW)],
      ['setSubscriptionStatus', () => storage.setSubscriptionStatus('sub_x', { status: 'disabled' }, NOW)],
      ['softDeleteSubscription', () => storage.softDeleteSubscription('sub_x', NOW)],
      ['deleteSubscription', () => storage.deleteSubscription('sub_x')],
      ['listSubscriptionChanges', () => storage.listSubscriptionChanges({ subscriptionId: 'sub_x', limit: 10 })],
      ['getSubscriptionChange', () => storage.getSubscriptionChange('chg_x')],
      ['enqueue', () => storage.enqueue(enqueueInput())],
      ['enqueueSync', async () => storage.enqueueSync(enqueueInput())],
      ['getEvent', () => storage.getEvent('evt_x')],
      ['listEvents', () => storage.listEvents({ limit: 10 })],
      ['expungeEvents', () => storage.expungeEvents(['evt_x'], NOW)],
      ['claimDue', () => storage.claimDue({ limit: 10, leaseMs: 1000, now: NOW })],
      ['settle', () => storage.settle([{ deliveryId: 'dlv_x', leaseToken: 't', attempt: { id: 'att_x', startedAt: NOW, durationMs: 1, statusCode: 200, errorClass: null, errorMessage: null, responseSnippet: null }, outcome: { kind: 'delivered' } }], NOW)],
      ['releaseLeases', () => storage.releaseLeases([{ deliveryId: 'dlv_x', leaseToken: 't' }], NOW)],
      ['nextDueAt', () => storage.nextDueAt(NOW)],
      ['getDelivery', () => storage.getDelivery('dlv_x')],
      ['listDeliveries', () => storage.listDeliveries({ limit: 10 })],
      ['listAttempts', () => storage.listAttempts('dlv_x')],
      ['redeliver', () => storage.redeliver('dlv_x', NOW)],
      ['replay', () => storage.replay({ subscriptionId: 'sub_x', since: 0, now: NOW, eventTypes: ['payment.succeeded'] })],
      ['stats', () => storage.stats(NOW)],
      ['purge', () => storage.purge({ olderThan: NOW })],
      ['purgeTenant', () => storage.purgeTenant({ tenantId: 'acme', limit: 10, now: NOW, force: false })],
    ];
  }

  it('answers STORAGE_CLOSED from every method once the host closed its handle, never a raw driver error', async () => {
    const db = openRaw(file());
    const storage = await migratedOnHandle(db);
    db.close();
    for (const [name, call] of everyCall(storage)) {
      const error = await rejectionOf(call());
      expect(isWebhookError(error), name).toBe(true);
      expect(error, name).toMatchObject({ code: 'STORAGE_CLOSED' });
    }
  });

  it('answers STORAGE_CLOSED from every method after close()', async () => {
    const storage = track(createSqliteStorage({ filename: file() }));
    await storage.migrate();
    await storage.close();
    for (const [name, call] of everyCall(storage)) {
      expect(await rejectionOf(call()), name).toMatchObject({ code: 'STORAGE_CLOSED' });
    }
  });

  it('answers STORAGE_NOT_MIGRATED (a coded error, never a "no such table") from every data method of an unmigrated store', async () => {
    const storage = track(createSqliteStorage({ filename: file() }));
    for (const [name, call] of everyCall(storage).filter(([name]) => name !== 'migrate')) {
      expect(await rejectionOf(call()), name).toMatchObject({ code: 'STORAGE_NOT_MIGRATED' });
    }
  });

  it('maps a file that cannot be opened to a StorageError', () => {
    const error = thrownBy(() => createSqliteStorage({ filename: join(directory, 'missing-dir', 'x.db') }));
    expect(isWebhookError(error)).toBe(true);
    expect(error).toMatchObject({ name: 'StorageError', code: 'STORAGE_FAILED' });
  });

  it('maps a file that is no SQLite database to STORAGE_FAILED naming SQLITE_NOTADB, not to STORAGE_CLOSED', () => {
    const path = file();
    writeFileSync(path, '{"not":"a database"}\n');
    const error = thrownBy(() => createSqliteStorage({ filename: path }));
    expect(error).toMatchObject({ name: 'StorageError', code: 'STORAGE_FAILED' });
    expect((error as Error).message).toContain('SQLITE_NOTADB');
  });
});

describe('ownership of the connection', () => {
  it('does not close a handed-in database on close()', async () => {
    const db = openRaw(file());
    const storage = await migratedOnHandle(db);
    await storage.close();
    expect(db.open).toBe(true);
    expect(db.prepare('SELECT COUNT(*) FROM webhook_migrations').pluck().get()).toBe(migrations.length);
  });

  it('closes the database it opened from a filename, once, however often close() is called', async () => {
    const storage = createSqliteStorage({ filename: file() });
    await storage.migrate();
    await storage.close();
    expect(storage.database.open).toBe(false);
    await storage.close();
  });
});

describe('options', () => {
  it.each([
    ['an unknown key', { filename: 'x.db', journalMode: 'WAL' }, 'journalMode'],
    ['neither filename nor database', {}, 'filename'],
    ['both filename and database', { filename: 'x.db', database: new Database(':memory:') }, 'database'],
    ['a synchronous level SQLite lacks', { filename: 'x.db', synchronous: 'SOMETIMES' }, 'synchronous'],
    ['a negative busy timeout', { filename: 'x.db', busyTimeoutMs: -1 }, 'busyTimeoutMs'],
    ['a fractional busy timeout', { filename: 'x.db', busyTimeoutMs: 1.5 }, 'busyTimeoutMs'],
    ['a table prefix that is not an identifier', { filename: 'x.db', tablePrefix: 'web-hook; DROP TABLE x;' }, 'tablePrefix'],
    ['an empty filename', { filename: '' }, 'filename'],
    ['a database that is not a better-sqlite3 handle', { database: { prepare: 1 } }, 'database'],
    ['a checkpoint interval of 0', { filename: 'x.db', checkpointIntervalMs: 0 }, 'checkpointIntervalMs'],
    ['a checkpoint interval of true', { filename: 'x.db', checkpointIntervalMs: true }, 'checkpointIntervalMs'],
    ['a negative WAL size', { filename: 'x.db', walAutocheckpointBytes: -1 }, 'walAutocheckpointBytes'],
  ])('refuses %s with CONFIG_INVALID naming the field', (_label, options, field) => {
    const error = thrownBy(() => createSqliteStorage(options as never));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', field });
  });

  it('refuses a filename with U+0000 with CONFIG_INVALID, opening no file (the driver would cut the path there)', () => {
    const error = thrownBy(() => createSqliteStorage({ filename: join(directory, 'a\u0000b') }));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', field: 'filename' });
    expect((error as Error).message).toContain('Expected `filename` to be a non-empty path string without U+0000');
    expect(existsSync(join(directory, 'a'))).toBe(false);
  });

  it('refuses options that are not an object', () => {
    expect(thrownBy(() => createSqliteStorage(undefined as never))).toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('refuses a closed handed-in database', () => {
    const db = new Database(':memory:');
    db.close();
    expect(thrownBy(() => createSqliteStorage({ database: db }))).toMatchObject({ code: 'CONFIG_INVALID', field: 'database' });
  });

  it('says to install better-sqlite3 when the driver is missing', () => {
    const missing = Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: 'MODULE_NOT_FOUND' });
    const error = thrownBy(() =>
      loadBetterSqlite3(() => {
        throw missing;
      }),
    );
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', cause: missing });
    expect((error as Error).message).toContain('npm install better-sqlite3');
  });

  it('refuses a driver that loads but fails, or exports no constructor, with CONFIG_INVALID', () => {
    const broken = Object.assign(new Error('was compiled against a different Node.js version'), { code: 'ERR_DLOPEN_FAILED' });
    expect(
      thrownBy(() =>
        loadBetterSqlite3(() => {
          throw broken;
        }),
      ),
    ).toMatchObject({ code: 'CONFIG_INVALID', cause: broken });
    expect(thrownBy(() => loadBetterSqlite3(() => ({})))).toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('loads the installed driver, also through an ESM-interop default export', () => {
    expect(loadBetterSqlite3()).toBe(Database);
    expect(loadBetterSqlite3(() => ({ default: Database }))).toBe(Database);
  });
});

describe('cursors', () => {
  it('refuses a subscription cursor on the delivery list', async () => {
    const storage: StorageAdapter = track(createSqliteStorage({ database: openRaw(file()) }));
    await storage.migrate();
    for (let i = 0; i < 2; i++) await storage.createSubscription(subscription({ id: createId('sub', NOW + i) }));
    const page = await storage.listSubscriptions({ limit: 1 });
    expect(page.nextCursor).not.toBeNull();
    expect(await rejectionOf(storage.listDeliveries({ limit: 1, cursor: page.nextCursor! }))).toMatchObject({
      name: 'ValidationError',
      code: 'CURSOR_INVALID',
    });
  });
});
