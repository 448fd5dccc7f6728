/**
 * The dispatcher worker's SQLite connection sharing the write lock with the host's
 * connections to the same file (src/storage/sqlite/write-lock-sharing.ts): no sleep in
 * SQLite's busy handler, its own looks for a taken lock within its budget, and a gap after
 * each of its write transactions. Real files, a second real connection holding the lock;
 * time is injected (no wall-clock waits).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openRecipeStorage } from '../../../src/delivery/worker/open-recipe-storage.js';
import { createSqliteStorage, type SqliteStorage } from '../../../src/storage/sqlite/index.js';
import { firstBatch, gapAfterHoldMs, targetHoldMs, WriteLockSharing } from '../../../src/storage/sqlite/write-lock-sharing.js';
import { closeTracked, openRaw, track } from '../../support/sqlite-fixtures.js';
import { publish, NOW, subscription } from '../../support/storage-records.js';
import { rejectionOf } from '../../support/rejections.js';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bookkeeper-webhooks-sqlite-lock-'));
});

afterEach(async () => {
  await closeTracked();
  await rm(directory, { recursive: true, force: true });
});

/** A migrated file with one due delivery, and a second connection (the host's) to it. */
async function sharedFile(): Promise<{ filename: string; host: ReturnType<typeof openRaw> }> {
  const filename = join(directory, 'webhooks.db');
  const setup = track(createSqliteStorage({ filename }));
  await setup.migrate();
  await setup.createSubscription(subscription({ id: 'sub_a' }));
  await publish(setup, NOW);
  return { filename, host: track(openRaw(filename)) };
}

/** Injected time: `sleep` advances it, and runs `onSleep` (what the host does meanwhile). */
function fakeTime(onSleep: (ms: number) => void = () => undefined) {
  const time = { now: 0, sleeps: [] as number[] };
  return {
    time,
    now: () => time.now,
    sleep: async (ms: number) => {
      time.sleeps.push(ms);
      time.now += Math.max(ms, 0.1);
      onSleep(ms);
    },
  };
}

async function sharingStorage(filename: string, waitMs: number, time: { now: () => number; sleep: (ms: number) => Promise<void> }): Promise<SqliteStorage> {
  const storage = track(createSqliteStorage({ filename }));
  await storage.migrate();
  storage.shareWriteLock(waitMs, time);
  return storage;
}

describe('the worker connection sharing the write lock', () => {
  it("opens the worker's connection from a recipe with a busy timeout of 0 (it never sleeps in SQLite's busy handler)", async () => {
    const { filename } = await sharedFile();
    const opened = openRecipeStorage({ kind: 'sqlite', filename, tablePrefix: 'webhook_', synchronous: 'NORMAL', busyTimeoutMs: 5000, walAutocheckpointBytes: 64 * 1024 * 1024 });
    try {
      const storage = opened.storage as SqliteStorage;
      expect(storage.database.pragma('busy_timeout', { simple: true })).toBe(0);
      // Alone on the file, its commits checkpoint at the host connection's bound (64 MiB: 16,384 pages of 4 KiB).
      expect(storage.database.pragma('wal_autocheckpoint', { simple: true })).toBe(16_384);
      // It still claims, through its own looks for the lock.
      expect(await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW })).toHaveLength(1);
    } finally {
      await opened.close();
    }
  });

  it("keeps SQLite's automatic checkpoint off in the worker when the host's connection has it off", async () => {
    const { filename } = await sharedFile();
    const opened = openRecipeStorage({ kind: 'sqlite', filename, tablePrefix: 'webhook_', synchronous: 'FULL', busyTimeoutMs: 100, walAutocheckpointBytes: 0 });
    try {
      expect((opened.storage as SqliteStorage).database.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    } finally {
      await opened.close();
    }
  });

  it('looks for a lock the host holds again on the next turn, and claims once the host committed', async () => {
    const { filename, host } = await sharedFile();
    const { time, now, sleep } = fakeTime(() => {
      if (time.sleeps.length === 2) host.exec('COMMIT');
    });
    const storage = await sharingStorage(filename, 5000, { now, sleep });
    time.sleeps.length = 0;
    host.exec('BEGIN IMMEDIATE');
    const claimed = await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW });
    expect(claimed).toHaveLength(1);
    // Two looks on the next turns of the event loop, not SQLite's growing sleeps.
    expect(time.sleeps).toEqual([0, 0]);
  });

  it('fails with STORAGE_BUSY once its budget is spent while the host keeps the lock', async () => {
    const { filename, host } = await sharedFile();
    const { time, now, sleep } = fakeTime();
    const storage = await sharingStorage(filename, 20, { now, sleep });
    time.sleeps.length = 0;
    const start = time.now;
    host.exec('BEGIN IMMEDIATE');
    expect(await rejectionOf(storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW }))).toMatchObject({ code: 'STORAGE_BUSY' });
    // After the quick looks, one a millisecond, until the 20 ms are spent.
    expect(time.sleeps.slice(0, 4)).toEqual([0, 0, 0, 1]);
    expect(time.now - start).toBeGreaterThanOrEqual(20);
    host.exec('ROLLBACK');
  });

  it('refuses a wait that is not a whole number of milliseconds ≥ 0', async () => {
    const { filename } = await sharedFile();
    const storage = track(createSqliteStorage({ filename }));
    for (const waitMs of [-1, 1.5, Number.NaN]) {
      let thrown: unknown;
      try {
        storage.shareWriteLock(waitMs);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code: 'CONFIG_INVALID' });
    }
    expect(storage.database.pragma('busy_timeout', { simple: true })).toBe(5000);
  });

  it('leaves a gap after each write transaction, longer than the transaction held the lock', async () => {
    const { time, now, sleep } = fakeTime();
    const sharing = new WriteLockSharing({ waitMs: 5000, now, sleep, othersWrote: () => true });
    expect(
      sharing.write(() => {
        time.now += 4;
        return 'written';
      }),
    ).toBe('written');
    expect(await sharing.run(() => 'next', () => false)).toBe('next');
    expect(time.sleeps).toEqual([gapAfterHoldMs(4)]);
    expect(gapAfterHoldMs(4)).toBeGreaterThan(4);
    // Nothing held since: no gap.
    await sharing.run(() => 'again', () => false);
    expect(time.sleeps).toHaveLength(1);
  });

  it('leaves no gap while no other connection writes to the file, and gaps once the host committed', async () => {
    const { filename, host } = await sharedFile();
    const { time, now, sleep } = fakeTime();
    const storage = await sharingStorage(filename, 5000, { now, sleep });
    time.sleeps.length = 0;
    await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW });
    await storage.releaseLeases([], NOW);
    await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW + 1 });
    expect(time.sleeps).toEqual([]);
    host.exec("CREATE TABLE ledger_lines (id INTEGER PRIMARY KEY); INSERT INTO ledger_lines DEFAULT VALUES");
    // The write after the host's commit sees it, and leaves the gap before the next one.
    await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW + 2 });
    expect(time.sleeps).toEqual([]);
    await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW + 3 });
    expect(time.sleeps).toHaveLength(1);
    expect(time.sleeps[0]).toBeGreaterThanOrEqual(1);
  });

  it('checkpoints at 1 MiB from the write that finds another connection wrote, and at its own bound once alone again', async () => {
    const { filename, host } = await sharedFile();
    const { time, now, sleep } = fakeTime();
    const storage = track(createSqliteStorage({ filename, walAutocheckpointBytes: 64 * 1024 * 1024 }));
    await storage.migrate();
    storage.shareWriteLock(5000, { walAutocheckpointBytesWhileShared: 1024 * 1024, now, sleep });
    const bound = () => storage.database.pragma('wal_autocheckpoint', { simple: true });
    await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW });
    expect(bound()).toBe(16_384);
    host.exec('CREATE TABLE ledger_lines (id INTEGER PRIMARY KEY); INSERT INTO ledger_lines DEFAULT VALUES');
    await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW + 1 });
    // 1 MiB in pages of 4 KiB, below a host connection's default of 1,000 pages.
    expect(bound()).toBe(256);
    // Still shared within a second of the host's last commit.
    time.now += 900;
    await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW + 2 });
    expect(bound()).toBe(256);
    // A second with no other writer: the next write is alone, and checkpoints at the connection's own bound.
    time.now += 1100;
    await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW + 3 });
    expect(bound()).toBe(16_384);
  });

  it('starts sharing at a lock the host holds, before any write of its own', async () => {
    const { filename, host } = await sharedFile();
    const { now, sleep } = fakeTime(() => {
      if (host.inTransaction) host.exec('COMMIT');
    });
    const storage = track(createSqliteStorage({ filename, walAutocheckpointBytes: 8 * 1024 * 1024 }));
    storage.shareWriteLock(5000, { walAutocheckpointBytesWhileShared: 1024 * 1024, now, sleep });
    host.exec('BEGIN IMMEDIATE');
    expect(await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW })).toHaveLength(1);
    expect(storage.database.pragma('wal_autocheckpoint', { simple: true })).toBe(256);
  });

  it("keeps a connection's automatic checkpoint off (0) while it shares the file", async () => {
    const { filename, host } = await sharedFile();
    const { now, sleep } = fakeTime();
    const storage = track(createSqliteStorage({ filename, walAutocheckpointBytes: 0 }));
    storage.shareWriteLock(5000, { walAutocheckpointBytesWhileShared: 1024 * 1024, now, sleep });
    host.exec('CREATE TABLE ledger_lines (id INTEGER PRIMARY KEY); INSERT INTO ledger_lines DEFAULT VALUES');
    await storage.claimDue({ limit: 10, leaseMs: 30_000, now: NOW });
    // Shared now: claims are cut into batches.
    expect(storage.writeBatchLimit('claimDue')).toBe(firstBatch);
    expect(storage.database.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
  });

  it('refuses a WAL bound while shared that is not a whole number of bytes ≥ 1', async () => {
    const { filename } = await sharedFile();
    const storage = track(createSqliteStorage({ filename }));
    for (const bytes of [0, -1, 1.5, Number.NaN]) {
      let thrown: unknown;
      try {
        storage.shareWriteLock(5000, { walAutocheckpointBytesWhileShared: bytes });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining(`got ${String(bytes)}`) });
    }
    expect(storage.database.pragma('busy_timeout', { simple: true })).toBe(5000);
  });

  it('keeps two units of work that waited for the same gap apart: the second waits for the gap the first opened', async () => {
    const { time, now, sleep } = fakeTime();
    const sharing = new WriteLockSharing({ waitMs: 5000, now, sleep, othersWrote: () => true });
    const hold = (ms: number) => () =>
      sharing.write(() => {
        const start = time.now;
        time.now += ms;
        return start;
      });
    await sharing.run(hold(2), () => false);
    const afterFirst = time.now;
    // A claim and a settle both wait for the gap after that write.
    const starts = await Promise.all([sharing.run(hold(2), () => false), sharing.run(hold(2), () => false)]);
    const [first, second] = starts.sort((a, b) => a - b) as [number, number];
    expect(first).toBeGreaterThanOrEqual(afterFirst + gapAfterHoldMs(2));
    // The other began only after the first one's own hold and the gap after it.
    expect(second).toBeGreaterThanOrEqual(first + 2 + gapAfterHoldMs(2));
  });

  it('waits for a gap opened by its own other work while it looked for the lock the host held', async () => {
    const { time, now, sleep } = fakeTime();
    const sharing = new WriteLockSharing({ waitMs: 5000, now, sleep, othersWrote: () => true });
    let hostHolds = true;
    let otherWroteAt = Number.NaN;
    const busy = new Error('busy');
    // The first look finds the host's lock; meanwhile another unit of work of this connection writes.
    const waiting = sharing.run(
      () => {
        if (hostHolds) {
          hostHolds = false;
          void Promise.resolve().then(() => {
            otherWroteAt = time.now;
            sharing.write(() => (time.now += 3));
          });
          throw busy;
        }
        return time.now;
      },
      (error) => error === busy,
    );
    const startedAt = await waiting;
    expect(startedAt).toBeGreaterThanOrEqual(otherWroteAt + 3 + gapAfterHoldMs(3));
  });

  it('reads do not wait for the gap: they take no write lock', async () => {
    const { time, now, sleep } = fakeTime();
    const sharing = new WriteLockSharing({ waitMs: 5000, now, sleep, othersWrote: () => true });
    sharing.write(() => (time.now += 4));
    expect(await sharing.run(() => 'read', () => false, false)).toBe('read');
    expect(time.sleeps).toEqual([]);
  });

  it('cuts claims and settles into batches that follow the holds they give, while others write; no limit alone', async () => {
    const { time, now, sleep } = fakeTime();
    let others = false;
    const sharing = new WriteLockSharing({ waitMs: 5000, now, sleep, othersWrote: () => others });
    const settle = (items: number, holdMs: number) => sharing.write(() => (time.now += holdMs), { kind: 'settle', items: () => items });
    expect(sharing.batchLimit('settle')).toBeNull();
    settle(50, 5);
    expect(sharing.batchLimit('settle')).toBeNull();
    others = true;
    settle(50, 5);
    // Others write now: a first batch of its own size.
    expect(sharing.batchLimit('settle')).toBe(firstBatch);
    settle(firstBatch, 5);
    // Smaller after a long hold.
    expect(sharing.batchLimit('settle')).toBe(Math.floor(firstBatch * 0.7));
    const cut = Math.floor(firstBatch * 0.7);
    // A full batch under the target grows it by a step; a batch that was not full tells nothing.
    settle(cut, targetHoldMs / 2);
    expect(sharing.batchLimit('settle')).toBe(cut + 2);
    settle(3, targetHoldMs / 2);
    expect(sharing.batchLimit('settle')).toBe(cut + 2);
    // A hold a little over the target leaves it; a hold much longer (a preempted thread) cuts it, never under 4.
    settle(cut + 2, targetHoldMs * 1.2);
    expect(sharing.batchLimit('settle')).toBe(cut + 2);
    for (let n = 0; n < 10; n++) settle(20, 50);
    expect(sharing.batchLimit('settle')).toBe(4);
    // Claims are sized on their own.
    expect(sharing.batchLimit('claim')).toBe(firstBatch);
    // Once nobody else has written for a while, no limit again.
    others = false;
    time.now += 5_000;
    expect(sharing.batchLimit('settle')).toBeNull();
    expect(sharing.batchLimit('claim')).toBeNull();
  });

  it('leaves no gap after a write that failed to take the lock', async () => {
    const { time, now, sleep } = fakeTime();
    const sharing = new WriteLockSharing({ waitMs: 5000, now, sleep, othersWrote: () => true });
    expect(() =>
      sharing.write(() => {
        throw new Error('busy');
      }),
    ).toThrow('busy');
    await sharing.run(() => 'next', () => false);
    expect(time.sleeps).toEqual([]);
  });

  it('gaps grow with the hold, from the busy handler\'s first step, and are capped', () => {
    expect(gapAfterHoldMs(0)).toBeGreaterThanOrEqual(1);
    expect(gapAfterHoldMs(10)).toBeGreaterThan(gapAfterHoldMs(2));
    expect(gapAfterHoldMs(10_000)).toBe(gapAfterHoldMs(100_000));
  });
});
