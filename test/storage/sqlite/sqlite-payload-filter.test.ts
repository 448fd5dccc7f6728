/**
 * What is particular to payload filters on the SQLite storage (the shared behaviour is in
 * test/conformance/payload-filter.ts): the filter asked inside the host's transaction — with
 * enqueueSync in better-sqlite3's db.transaction and with the async enqueue in one the host
 * began by hand — a throwing callback undoing only our savepoint; a filtered replay over a
 * window of many events; and migration 0013 on a database of the version before.
 */
import type Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import { createSqliteStorage } from '../../../src/storage/sqlite/index.js';
import { migrations, renderMigration } from '../../../src/storage/sqlite/migrations/index.js';
import type { EnqueueInput } from '../../../src/storage/storage-adapter.js';
import { acceptFilter, enqueueAsker, FilterEvaluationError, replayAsker } from '../../support/filter-callbacks.js';
import { closeTracked, migratedOnHandle, openRaw, track } from '../../support/sqlite-fixtures.js';
import { NOW, subscription } from '../../support/storage-records.js';
import { rejectionOf, thrownBy } from '../../support/rejections.js';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bookkeeper-webhooks-sqlite-filter-'));
});

afterEach(async () => {
  await closeTracked();
  await rm(directory, { recursive: true, force: true });
});

function count(db: Database.Database, table: string): number {
  return db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;
}

function input(type: string, matchesFilter: ((filter: string) => boolean) | undefined, extra: Partial<EnqueueInput> = {}): EnqueueInput {
  const id = createId('evt', NOW);
  return {
    event: { id, type, timestamp: NOW, payload: JSON.stringify({ id, type, data: {} }), idempotencyKey: null, tenantId: null },
    now: NOW,
    ...(matchesFilter === undefined ? {} : { matchesFilter }),
    ...extra,
  };
}

async function ledgerStorage() {
  const db = openRaw(join(directory, 'webhooks.db'));
  db.exec('CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount_minor INTEGER NOT NULL)');
  const storage = await migratedOnHandle(db);
  const plain = await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
  const filtered = await storage.createSubscription(subscription({ filter: acceptFilter('payment.succeeded') }));
  return { db, storage, plain, filtered };
}

describe('a payload filter inside the host transaction', () => {
  it('is asked by enqueueSync inside db.transaction, and the event commits with the accepted deliveries', async () => {
    const { db, storage, plain, filtered } = await ledgerStorage();
    const refused = await storage.createSubscription(subscription({ filter: acceptFilter('payment.refunded') }));
    const asker = enqueueAsker('payment.succeeded');
    const published = input('payment.succeeded', asker.matchesFilter, { tx: db });
    const result = db.transaction(() => {
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(125_000);
      return storage.enqueueSync(published);
    })();
    expect(result).toMatchObject({ created: true, deliveryCount: 2 });
    expect(asker.asked.sort()).toEqual([filtered.filter!, refused.filter!].sort());
    const targets = (await storage.listDeliveries({ eventId: published.event.id, limit: 10 })).items.map((d) => d.subscriptionId).sort();
    expect(targets).toEqual([plain.id, filtered.id].sort());
    expect(count(db, 'ledger')).toBe(1);
  });

  it('throws what the callback threw from enqueueSync, undoing only our savepoint: the host commits its own writes, no event', async () => {
    const { db, storage } = await ledgerStorage();
    const thrown = new FilterEvaluationError();
    const published = input(
      'payment.succeeded',
      () => {
        throw thrown;
      },
      { tx: db },
    );
    db.transaction(() => {
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(1);
      expect(thrownBy(() => storage.enqueueSync(published))).toBe(thrown);
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(2);
    })();
    expect(count(db, 'ledger')).toBe(2);
    expect(count(db, 'webhook_events')).toBe(0);
    expect(count(db, 'webhook_deliveries')).toBe(0);
    // Outside a host transaction alike.
    expect(thrownBy(() => storage.enqueueSync({ ...published, tx: undefined }))).toBe(thrown);
    expect(await storage.getEvent(published.event.id)).toBeNull();
  });

  it('rejects the async enqueue in a transaction the host began by hand with what the callback threw, and the host carries on', async () => {
    const { db, storage } = await ledgerStorage();
    const thrown = new FilterEvaluationError();
    db.exec('BEGIN');
    db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(1);
    const failed = input(
      'payment.succeeded',
      () => {
        throw thrown;
      },
      { tx: db },
    );
    expect(await rejectionOf(storage.enqueue(failed))).toBe(thrown);
    expect(db.inTransaction).toBe(true);
    const accepted = input('payment.succeeded', () => true, { tx: db });
    expect(await storage.enqueue(accepted)).toMatchObject({ created: true, deliveryCount: 2 });
    db.exec('COMMIT');
    expect(count(db, 'ledger')).toBe(1);
    expect(await storage.getEvent(failed.event.id)).toBeNull();
    expect(await storage.getEvent(accepted.event.id)).toMatchObject({ id: accepted.event.id });
    expect(count(db, 'webhook_deliveries')).toBe(2);
  });
});

describe('a filtered replay', () => {
  it("walks a window of many events, asking about each once in the window's order, and queues only the accepted", async () => {
    const storage = track(createSqliteStorage({ filename: join(directory, 'webhooks.db') }));
    await storage.migrate();
    const sub = await storage.createSubscription(subscription({ eventTypes: ['payment.*'], filter: acceptFilter('payment.even') }));
    const db = storage.database;
    // 1,203 events, seven to a millisecond, ids not in publication order; the even ones of the type the filter accepts.
    db.exec(
      `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1203)
       INSERT INTO webhook_events (id, type, published_at, payload)
       SELECT 'evt_' || printf('%05d', (n * 7919) % 1203), CASE WHEN n % 2 = 0 THEN 'payment.even' ELSE 'payment.odd' END,
         ${NOW} + n / 7, '{"n":' || n || '}'
       FROM g`,
    );
    const expectedOrder = db.prepare('SELECT id FROM webhook_events ORDER BY published_at, id').pluck().all() as string[];
    const replay = { subscriptionId: sub.id, eventTypes: ['payment.even', 'payment.odd'], since: NOW, now: NOW + 10_000 };
    const dry = replayAsker();
    expect(await storage.replay({ ...replay, dryRun: true, matchesFilter: dry.matchesFilter })).toEqual({ count: 601 });
    expect(dry.asked.map((a) => a.event.id)).toEqual(expectedOrder);
    expect(count(db, 'webhook_deliveries')).toBe(0);
    const real = replayAsker();
    expect(await storage.replay({ ...replay, matchesFilter: real.matchesFilter })).toEqual({ count: 601 });
    expect(real.asked.map((a) => a.event.id)).toEqual(expectedOrder);
    expect(real.asked.every((a) => a.filter === sub.filter && a.event.payload.startsWith('{"n":') && a.event.expungedAt === null)).toBe(true);
    expect(db.prepare('SELECT DISTINCT event_type FROM webhook_deliveries').pluck().all()).toEqual(['payment.even']);
    expect(count(db, 'webhook_deliveries')).toBe(601);
  });
});

describe('migration 0013: payload filters', () => {
  it('upgrades a version-12 database: its subscriptions read no filter and receive every event of their types, unasked', async () => {
    const db = openRaw(join(directory, 'webhooks.db'));
    db.exec('CREATE TABLE webhook_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const migration of migrations.slice(0, 12)) {
      db.exec(renderMigration(migration, 'webhook_'));
      db.prepare('INSERT INTO webhook_migrations VALUES (?, ?, 0)').run(migration.version, migration.name);
    }
    db.exec(
      `INSERT INTO webhook_subscriptions (id, url, event_types, secrets, headers, metadata, status, created_at, updated_at)
       VALUES ('sub_pay', 'https://erp.example.com', '["payment.*"]', '[]', '{}', '{}', 'active', ${NOW}, ${NOW});
       INSERT INTO webhook_subscription_event_types (filter, tenant_key, all_tenants, subscription_id) VALUES ('payment.*', '', 0, 'sub_pay');`,
    );
    const before = db.prepare('SELECT rowid AS row_id, * FROM webhook_subscriptions').all();
    const storage = track(createSqliteStorage({ database: db }));
    expect(await rejectionOf(storage.getSubscription('sub_pay'))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_OLD' });
    await storage.migrate();

    expect(db.prepare('SELECT rowid AS row_id, * FROM webhook_subscriptions').all()).toEqual(
      before.map((row) => ({ ...(row as object), payload_filter: null, transform: null, ordering_on_dead: 'block', event_versions: null, tls: null })),
    );
    expect(await storage.getSubscription('sub_pay')).toMatchObject({ filter: null, eventTypes: ['payment.*'] });
    const asker = enqueueAsker('payment.succeeded');
    expect(await storage.enqueue(input('payment.succeeded', asker.matchesFilter))).toMatchObject({ created: true, deliveryCount: 1 });
    expect(asker.asked).toEqual([]);
    await storage.updateSubscription('sub_pay', { filter: acceptFilter('payment.refunded') }, NOW + 1);
    expect(await storage.enqueue(input('payment.succeeded', asker.matchesFilter))).toMatchObject({ created: true, deliveryCount: 0 });
    expect(asker.asked).toEqual([acceptFilter('payment.refunded')]);
  });
});
