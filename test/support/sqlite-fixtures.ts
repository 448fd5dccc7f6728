/**
 * What the SQLite storage tests (test/storage/sqlite/ and the SQLite properties in
 * test/property/) build on: raw handles and storages closed after each test, a storage
 * migrated on a handle, deliveries renumbered for naming, and a claimed batch to settle.
 */
import Database from 'better-sqlite3';
import { createSqliteStorage, type SqliteStorage } from '../../src/storage/sqlite/index.js';
import { NOW, subscription } from './storage-records.js';

const toClose: Array<{ close(): unknown }> = [];

/** Keeps `handle` to be closed by {@link closeTracked}. */
export function track<T extends { close(): unknown }>(handle: T): T {
  toClose.push(handle);
  return handle;
}

/**
 * Closes every handle tracked since the last call, the newest first (a storage before the
 * connection it was handed); the calling test file runs it after each test.
 */
export async function closeTracked(): Promise<void> {
  for (const handle of toClose.splice(0).reverse()) {
    try {
      await handle.close();
    } catch {
      // already closed by the test
    }
  }
}

/** A better-sqlite3 connection of the test's own, closed after it. */
export function openRaw(filename: string, options?: Database.Options): Database.Database {
  return track(new Database(filename, options));
}

/** A storage on a handed-in connection, migrated. */
export async function migratedOnHandle(db: Database.Database): Promise<SqliteStorage> {
  const storage = track(createSqliteStorage({ database: db }));
  await storage.migrate();
  return storage;
}

/**
 * Gives the deliveries made so far the ids dlv_0000, dlv_0001, … in insertion order (before any
 * attempt refers to them), so that a test can name them, and two storages filled alike compare equal.
 */
export function renumberDeliveries(storage: SqliteStorage): void {
  storage.database.prepare("UPDATE webhook_deliveries SET id = printf('dlv_%04d', rowid - (SELECT min(rowid) FROM webhook_deliveries))").run();
}

/** When the attempts of a {@link claimedFixture} batch are settled. */
export const LATER = NOW + 60_000;

/** A storage on its own in-memory handle with subscriptions a and b and `events` events fanned out to both, all claimed. */
export async function claimedFixture(events: number, failingSince: number | null, disableB: boolean) {
  const storage = await migratedOnHandle(openRaw(':memory:'));
  await storage.createSubscription(subscription({ id: 'sub_a', eventTypes: ['*'] }));
  await storage.createSubscription(subscription({ id: 'sub_b', eventTypes: ['payment.*'], failingSince }));
  for (let i = 0; i < events; i++) {
    const id = `evt_${String(i).padStart(4, '0')}`;
    await storage.enqueue({
      event: { id, type: 'payment.succeeded', timestamp: NOW, payload: JSON.stringify({ id }), idempotencyKey: null, tenantId: null },
      now: NOW,
    });
  }
  renumberDeliveries(storage);
  const claimed = await storage.claimDue({ limit: 1000, leaseMs: 30_000, now: NOW });
  // Disabled while the attempts were in flight: its rows are held and keep their tokens.
  if (disableB) await storage.setSubscriptionStatus('sub_b', { status: 'disabled', reason: 'operator' }, NOW);
  return { storage, tokens: new Map(claimed.map((c) => [c.delivery.id, c.leaseToken])) };
}
