import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createWebhooks } from '../../src/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';

const root = join(import.meta.dirname, '..', '..');
const worker = join(root, 'test', 'support', 'sqlite-dispatcher-worker.ts');
const dir = mkdtempSync(join(tmpdir(), 'webhooks-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

function startWorker(
  filename: string,
  mode: 'publish' | 'dispatch',
  count = 0,
  timing: 'short' | 'default' = 'short',
): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', worker, filename, mode, String(count), timing], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
  });
  return { child, ready };
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every event id stored in the file (each has exactly one delivery: one subscription). */
async function storedEventIds(filename: string): Promise<string[]> {
  const storage = createSqliteStorage({ filename });
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.listDeliveries({ limit: 1000, ...(cursor ? { cursor } : {}) });
    ids.push(...page.items.map((delivery) => delivery.eventId));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  await storage.close();
  return ids;
}

async function leasedNow(filename: string): Promise<number> {
  const storage = createSqliteStorage({ filename });
  const stats = await storage.stats(Date.now());
  await storage.close();
  return stats.leased;
}

describe('crash safety on SQLite (SIGKILL mid-burst)', () => {
  const burst = 5_000;
  for (const killAfter of [50, 600, 1_500]) {
    it(`delivers every published event after a kill at ${killAfter} received, with duplicates no more than the leases held at the kill`, async () => {
      const filename = join(dir, `crash-${killAfter}.db`);
      const receiver = await LoopbackReceiver.start();
      try {
        const setup = createWebhooks({ storage: createSqliteStorage({ filename }), security: { allowPrivateNetworks: true } });
        await setup.start();
        await setup.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
        await setup.close();

        const first = startWorker(filename, 'publish', burst);
        await first.ready;
        await receiver.waitFor(killAfter);
        first.child.kill('SIGKILL');
        await once(first.child, 'exit');
        children.delete(first.child);
        // Measured straight after the kill: claimed by the dead process and not settled.
        const leasedAtKill = await leasedNow(filename);
        const receivedAtKill = receiver.requests.length;

        const second = startWorker(filename, 'dispatch');
        await second.ready;
        const published = await storedEventIds(filename);
        expect(published.length).toBeGreaterThan(0);
        // The first kill point lands while the worker is still publishing: events it had
        // stored are owed, the ones it never got to are not.
        if (killAfter === 50) expect(published.length).toBeLessThan(burst);
        // Done when nothing is pending any more: the dead worker's leases have expired and been taken over.
        const observer = createSqliteStorage({ filename });
        await waitUntil(async () => (await observer.stats(Date.now())).pending === 0, 30_000);
        await observer.close();
        second.child.kill('SIGTERM');
        await once(second.child, 'exit');
        children.delete(second.child);

        const received = receiver.requests.map((request) => String(request.headers['webhook-id']));
        const unique = new Set(received);
        for (const id of published) expect(unique.has(id)).toBe(true);
        expect(unique.size).toBe(published.length);
        const duplicates = received.length - unique.size;
        expect(duplicates).toBeLessThanOrEqual(leasedAtKill);
        expect(receivedAtKill).toBeGreaterThanOrEqual(killAfter);

        const storage = createSqliteStorage({ filename });
        const stats = await storage.stats(Date.now());
        await storage.close();
        expect(stats).toMatchObject({ pending: 0, dead: 0, delivered: published.length });
      } finally {
        await receiver.close();
      }
    }, 60_000);
  }
});

/** The lease tokens held now, by delivery id, and the instance rows, read from the file. */
async function leasesAndInstances(filename: string): Promise<{ leases: Record<string, string>; instances: number }> {
  const storage = createSqliteStorage({ filename });
  await storage.migrate();
  const rows = storage.database
    .prepare('SELECT id, lease_token FROM webhook_deliveries WHERE lease_token IS NOT NULL')
    .all() as Array<{ id: string; lease_token: string }>;
  const instances = storage.database.prepare('SELECT COUNT(*) FROM webhook_instances').pluck().get() as number;
  await storage.close();
  return { leases: Object.fromEntries(rows.map((row) => [row.id, row.lease_token])), instances };
}

describe('restart on SQLite with the default 60 s leases', () => {
  const inFlight = 3;

  /** A file with one subscription to `receiver`, and a worker (default timing) whose `inFlight` posts hang there. */
  async function workerWithPostsInFlight(name: string, receiver: LoopbackReceiver) {
    const filename = join(dir, name);
    const setup = createWebhooks({ storage: createSqliteStorage({ filename }), security: { allowPrivateNetworks: true } });
    await setup.start();
    await setup.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    await setup.close();
    const first = startWorker(filename, 'publish', inFlight, 'default');
    await first.ready;
    await receiver.waitFor(inFlight);
    const held = await leasesAndInstances(filename);
    expect(Object.keys(held.leases)).toHaveLength(inFlight);
    return { filename, first, held };
  }

  it('resends the posts a killed process had in flight within seconds, not after the lease, with the same webhook-ids; the log records only the attempts that finished', async () => {
    let answering = false;
    const receiver = await LoopbackReceiver.start(() => (answering ? undefined : 'hang'));
    try {
      const { filename, first } = await workerWithPostsInFlight('restart-reclaims.db', receiver);
      first.child.kill('SIGKILL');
      await once(first.child, 'exit');
      children.delete(first.child);
      const before = receiver.requests.map((request) => String(request.headers['webhook-id']));
      answering = true;

      const second = startWorker(filename, 'dispatch', 0, 'default');
      await second.ready;
      // Bounded far below the 60 s lease: only giving the dead process's leases back at once gets here.
      await waitUntil(() => receiver.requests.length >= 2 * inFlight, 10_000);
      const observer = createSqliteStorage({ filename });
      await waitUntil(async () => (await observer.stats(Date.now())).delivered === inFlight, 10_000);
      const { items } = await observer.listDeliveries({ limit: 10 });
      for (const delivery of items) {
        // The post that was in flight at the kill left no attempt: the first recorded is the resend.
        expect((await observer.listAttempts(delivery.id)).map((a) => [a.attemptNumber, a.outcome])).toEqual([[1, 'delivered']]);
      }
      await observer.close();
      const after = receiver.requests.slice(inFlight).map((request) => String(request.headers['webhook-id']));
      expect(new Set(after)).toEqual(new Set(before));
      expect((await leasesAndInstances(filename)).instances).toBe(1);
      second.child.kill('SIGTERM');
      await once(second.child, 'exit');
      children.delete(second.child);
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it("leaves a live process's leases alone when a second process starts on the same file", async () => {
    const receiver = await LoopbackReceiver.start(() => 'hang');
    try {
      const { filename, held } = await workerWithPostsInFlight('restart-live.db', receiver);
      expect(held.instances).toBe(1);
      const second = startWorker(filename, 'dispatch', 0, 'default');
      await second.ready;
      // Its first claim registers it, in the transaction that checks the other instance.
      await waitUntil(async () => (await leasesAndInstances(filename)).instances === 2, 10_000);
      // A few of its polls (every 100 ms) later, the first one's leases are as they were.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await leasesAndInstances(filename)).leases).toEqual(held.leases);
      expect(receiver.requests).toHaveLength(inFlight);
    } finally {
      await receiver.close();
    }
  }, 60_000);
});
