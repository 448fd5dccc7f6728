/**
 * What is particular to delivery payloads on the SQLite storage (the shared behaviour is in
 * test/conformance/delivery-payloads.ts): the render asked inside the host's transaction —
 * by enqueueSync in better-sqlite3's db.transaction — the rendered payloads committing with
 * the host's writes, a throwing render undoing only our savepoint; and migration 0014 on a
 * database of the version before.
 */
import type Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import { createSqliteStorage } from '../../../src/storage/sqlite/index.js';
import { migrations, renderMigration } from '../../../src/storage/sqlite/migrations/index.js';
import type { EnqueueInput, SubscriptionRecord } from '../../../src/storage/storage-adapter.js';
import { acceptFilter, enqueueAsker } from '../../support/filter-callbacks.js';
import { closeTracked, migratedOnHandle, openRaw, track } from '../../support/sqlite-fixtures.js';
import { NOW, subscription } from '../../support/storage-records.js';
import { rejectionOf, thrownBy } from '../../support/rejections.js';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bookkeeper-webhooks-sqlite-payloads-'));
});

afterEach(async () => {
  await closeTracked();
  await rm(directory, { recursive: true, force: true });
});

function count(db: Database.Database, table: string): number {
  return db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;
}

function input(type: string, extra: Partial<EnqueueInput> = {}): EnqueueInput {
  const id = createId('evt', NOW);
  return { event: { id, type, timestamp: NOW, payload: JSON.stringify({ id, type, data: {} }), idempotencyKey: null, tenantId: null }, now: NOW, ...extra };
}

const rendered = (subscription: SubscriptionRecord): string => `{"thin":${JSON.stringify(subscription.transform)},"to":${JSON.stringify(subscription.id)}}`;

async function ledgerStorage() {
  const db = openRaw(join(directory, 'webhooks.db'));
  db.exec('CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount_minor INTEGER NOT NULL)');
  const storage = await migratedOnHandle(db);
  const plain = await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
  const thin = await storage.createSubscription(subscription({ transform: 'thin', filter: acceptFilter('payment.succeeded') }));
  return { db, storage, plain, thin };
}

describe('a render inside the host transaction', () => {
  it('is asked by enqueueSync inside db.transaction, after the filter, and the rendered payloads commit with the host\'s writes', async () => {
    const { db, storage, plain, thin } = await ledgerStorage();
    const refused = await storage.createSubscription(subscription({ transform: 'thin', filter: acceptFilter('payment.refunded') }));
    const asked: string[] = [];
    const filters = enqueueAsker('payment.succeeded');
    const published = input('payment.succeeded', {
      tx: db,
      matchesFilter: (filter) => {
        asked.push(`filter ${filter}`);
        return filters.matchesFilter(filter);
      },
      render: (subscription) => {
        asked.push(`render ${subscription.id}`);
        expect(db.inTransaction).toBe(true);
        return rendered(subscription);
      },
    });
    const result = db.transaction(() => {
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(125_000);
      return storage.enqueueSync(published);
    })();
    expect(result).toMatchObject({ created: true, deliveryCount: 2 });
    expect(asked.indexOf(`filter ${thin.filter}`)).toBeLessThan(asked.indexOf(`render ${thin.id}`));
    expect(asked).toContain(`filter ${refused.filter}`);
    expect(asked.filter((q) => q.startsWith('render'))).toEqual([`render ${thin.id}`]);
    const payloads = db.prepare('SELECT subscription_id, payload FROM webhook_deliveries WHERE event_id = ? ORDER BY subscription_id').all(published.event.id);
    expect(payloads).toEqual(
      [
        { subscription_id: plain.id, payload: null },
        { subscription_id: thin.id, payload: rendered(thin) },
      ].sort((a, b) => a.subscription_id.localeCompare(b.subscription_id)),
    );
    expect(Object.fromEntries((await storage.claimDue({ limit: 10, leaseMs: 60_000, now: NOW })).map((c) => [c.subscription.id, c.event.payload]))).toEqual({
      [plain.id]: published.event.payload,
      [thin.id]: rendered(thin),
    });
    expect(count(db, 'ledger')).toBe(1);
  });

  it('throws what the render threw from enqueueSync, undoing only our savepoint: the host commits its own writes, no event', async () => {
    const { db, storage } = await ledgerStorage();
    const thrown = new Error('the transform could not render the payload');
    const published = input('payment.succeeded', {
      tx: db,
      matchesFilter: () => true,
      render: () => {
        throw thrown;
      },
    });
    db.transaction(() => {
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(1);
      expect(thrownBy(() => storage.enqueueSync(published))).toBe(thrown);
      db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(2);
    })();
    expect(count(db, 'ledger')).toBe(2);
    expect(count(db, 'webhook_events')).toBe(0);
    expect(count(db, 'webhook_deliveries')).toBe(0);
    // Outside a host transaction, and through the async enqueue, alike.
    expect(thrownBy(() => storage.enqueueSync({ ...published, tx: undefined }))).toBe(thrown);
    expect(await rejectionOf(storage.enqueue({ ...published, tx: undefined }))).toBe(thrown);
    expect(await storage.getEvent(published.event.id)).toBeNull();
  });
});

describe('migration 0014: delivery payloads', () => {
  it('upgrades a version-13 database: its subscriptions have no transform and its deliveries send their events\' payloads', async () => {
    const db = openRaw(join(directory, 'webhooks.db'));
    db.exec('CREATE TABLE webhook_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const migration of migrations.slice(0, 13)) {
      db.exec(renderMigration(migration, 'webhook_'));
      db.prepare('INSERT INTO webhook_migrations VALUES (?, ?, 0)').run(migration.version, migration.name);
    }
    const storage = track(createSqliteStorage({ database: db }));
    // Written through the storage at version 13 would need its code: the rows go in as that version's SQL has them.
    db.exec(
      `INSERT INTO webhook_subscriptions (id, url, event_types, secrets, headers, metadata, status, created_at, updated_at)
       VALUES ('sub_pay', 'https://erp.example.com', '["payment.*"]', '[]', '{}', '{}', 'active', ${NOW}, ${NOW});
       INSERT INTO webhook_subscription_event_types (filter, tenant_key, all_tenants, subscription_id) VALUES ('payment.*', '', 0, 'sub_pay');`,
    );
    const before = db.prepare('SELECT rowid AS row_id, * FROM webhook_subscriptions').all();
    expect(await rejectionOf(storage.getSubscription('sub_pay'))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_OLD' });
    await storage.migrate();

    expect(db.prepare('SELECT rowid AS row_id, * FROM webhook_subscriptions').all()).toEqual(
      before.map((row) => ({ ...(row as object), transform: null, ordering_on_dead: 'block', event_versions: null, tls: null })),
    );
    expect(await storage.getSubscription('sub_pay')).toMatchObject({ transform: null, filter: null });
    const result = await storage.enqueue(input('payment.succeeded'));
    expect(result).toMatchObject({ created: true, deliveryCount: 1 });
    const [claimed] = await storage.claimDue({ limit: 10, leaseMs: 60_000, now: NOW });
    expect(claimed!.event.payload).toBe(result.event.payload);
    expect(await storage.getDeliveryPayload(claimed!.delivery.id)).toBeNull();
  });
});
