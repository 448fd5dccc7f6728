/**
 * Several Bookkeeper instances on one PostgreSQL: three dispatcher PROCESSES
 * (test/support/postgres-dispatcher-worker.ts) share one schema while this process
 * publishes 10,000 events to two loopback receivers that count every request by
 * `webhook-id`.
 *
 * - all alive: every event delivered, none twice;
 * - one instance SIGKILLed mid-run: every event delivered, duplicates no more than
 *   what it had posted without a confirmed settle, re-sent only after its leases
 *   expired (database clock);
 * - every worker connection terminated (pg_terminate_backend) twice while 5,000
 *   events are worked: the dispatchers recover and finish.
 *
 * Bounded everywhere: every wait has a deadline; loopback only.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWebhooks } from '../../src/create-webhooks.js';
import { createPostgresStorage } from '../../src/storage/postgres/index.js';
import { killDispatcherProcesses, sleep, startDispatcherProcess, until, type DispatcherProcess } from '../support/dispatcher-processes.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from '../support/postgres.js';

const EVENTS = 10_000;
const WORKERS = 3;
const CONCURRENCY = 24;
/** Short, so a killed instance's leases are taken over within the test; above HTTP_TIMEOUT_MS. */
const LEASE_MS = 3_000;
/**
 * Where nothing is killed, a long HTTP timeout and lease: on a loaded machine a post that
 * times out while its request did arrive is rightly sent again (at-least-once), and that
 * duplicate is not what the exactly-once test is about.
 */
const SAFE_HTTP_TIMEOUT_MS = 10_000;
const SAFE_LEASE_MS = 30_000;
const HTTP_TIMEOUT_MS = 2_000;
/** Each receiver answers after this long, so every worker always has posts in flight. */
const RECEIVER_DELAY_MS = 2;
/** Events per publishing transaction, and transactions at once, in this process. */
const PUBLISH_BATCH = 50;
const PUBLISH_TRANSACTIONS = 6;
/** About 20 s on a quiet 2-core machine; the margin is for a loaded one. */
const SCENARIO_TIMEOUT_MS = 90_000;

interface Received {
  worker: string;
  at: number;
}

/** A loopback receiver that records every request by webhook-id (and sender), answering 204. */
class CountingReceiver {
  readonly seen = new Map<string, Received[]>();
  url = '';
  private readonly server: Server = createServer((request, response) => {
    const id = String(request.headers['webhook-id']);
    const worker = String(request.headers['x-worker']);
    request.resume();
    request.on('end', () => {
      // Counted on arrival of the whole request, before answering: a worker killed
      // while waiting for the answer has still delivered it once.
      this.record(id, worker);
      setTimeout(() => response.writeHead(204).end(), RECEIVER_DELAY_MS);
    });
  });

  static async start(): Promise<CountingReceiver> {
    const receiver = new CountingReceiver();
    receiver.server.keepAliveTimeout = 10_000;
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    const address = receiver.server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    receiver.url = `http://127.0.0.1:${address.port}/hooks`;
    return receiver;
  }

  private record(id: string, worker: string): void {
    const list = this.seen.get(id);
    if (list === undefined) this.seen.set(id, [{ worker, at: Date.now() }]);
    else list.push({ worker, at: Date.now() });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let url: string;
let directory: string;
const receivers: CountingReceiver[] = [];
const workers: DispatcherProcess[] = [];
const schemas: string[] = [];
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  url = testDatabaseUrl();
  directory = await mkdtemp(join(tmpdir(), 'bookkeeper-webhooks-multi-'));
});

afterEach(async () => {
  await killDispatcherProcesses(workers.splice(0));
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  for (const receiver of receivers.splice(0)) await receiver.close();
});

afterAll(async () => {
  for (const schema of schemas) await dropSchema(url, schema);
  await rm(directory, { recursive: true, force: true });
});

/** A worker's connection string: the application_name lets the test find (and terminate) exactly its connections. */
function workerUrl(applicationName: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('application_name', applicationName);
  return parsed.toString();
}

async function startWorker(
  id: string,
  schema: string,
  applicationName: string,
  timing: { leaseMs: number; httpTimeoutMs: number },
  unsettledFile?: string,
): Promise<DispatcherProcess> {
  const worker = await startDispatcherProcess({
    id,
    databaseUrl: workerUrl(applicationName),
    schema,
    concurrency: CONCURRENCY,
    leaseMs: timing.leaseMs,
    httpTimeoutMs: timing.httpTimeoutMs,
    pollMs: 250,
    ...(unsettledFile === undefined ? {} : { unsettledFile }),
  });
  workers.push(worker);
  return worker;
}

async function stopWorker(worker: DispatcherProcess): Promise<void> {
  worker.child.kill('SIGTERM');
  await Promise.race([worker.exited, sleep(10_000)]);
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  await worker.exited;
}

const payment = (n: number) => ({
  paymentId: `pay_${n}`,
  customerId: 'cus_1',
  amount: { amount: 1_230 + n, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00.000Z',
});

const refund = (n: number) => ({
  refundId: `ref_${n}`,
  paymentId: `pay_${n}`,
  amount: { amount: 100 + n, currency: 'EUR' },
  reason: 'requested_by_customer' as const,
  occurredAt: '2026-11-26T12:00:00.000Z',
});

/**
 * A schema, two receivers with a subscription each, three workers started, and the
 * publisher: this process's webhooks instance (it publishes; it does not dispatch).
 */
async function scenario(options: { leaseMs: number; httpTimeoutMs: number; events?: number; unsettledFileOf?: string }) {
  const events = options.events ?? EVENTS;
  const schema = randomSchemaName('multi');
  schemas.push(schema);
  const applicationName = `wh_it_${randomBytes(5).toString('hex')}`;
  const storage = createPostgresStorage({ connectionString: url, schema, poolSize: 16 });
  const publisher = createWebhooks({ storage, security: { allowPrivateNetworks: true } });
  closers.push(() => publisher.close());
  await storage.migrate();
  const payments = await CountingReceiver.start();
  const refunds = await CountingReceiver.start();
  receivers.push(payments, refunds);
  await publisher.subscriptions.create({ url: payments.url, eventTypes: ['payment.*'] });
  await publisher.subscriptions.create({ url: refunds.url, eventTypes: ['refund.*'] });
  const started = await Promise.all(
    Array.from({ length: WORKERS }, (_, index) =>
      startWorker(`w${index}`, schema, applicationName, options, index === 0 ? options.unsettledFileOf : undefined),
    ),
  );
  const published = new Set<string>();
  /**
   * Publishes the events through the transactional outbox — `publish(…, { tx })` on this
   * process's own clients, PUBLISH_BATCH events per transaction, PUBLISH_TRANSACTIONS
   * transactions at once — as a ledger writing in bulk would; each commit wakes the
   * workers (the NOTIFY rides it). `onProgress` runs between rounds.
   */
  const publishAll = async (onProgress?: () => Promise<void>) => {
    const publishBatch = async (first: number, last: number) => {
      const client = await storage.pool.connect();
      try {
        await client.query('BEGIN');
        const ids: string[] = [];
        for (let i = first; i < last; i++) {
          const result =
            i % 2 === 0
              ? await publisher.publish('payment.succeeded', payment(i), { tx: client })
              : await publisher.publish('refund.initiated', refund(i), { tx: client });
          ids.push(result.id);
        }
        await client.query('COMMIT');
        for (const id of ids) published.add(id);
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    };
    const perRound = PUBLISH_BATCH * PUBLISH_TRANSACTIONS;
    for (let n = 0; n < events; n += perRound) {
      const round = [];
      for (let first = n; first < Math.min(events, n + perRound); first += PUBLISH_BATCH) {
        round.push(publishBatch(first, Math.min(events, first + PUBLISH_BATCH, n + perRound)));
      }
      await Promise.all(round);
      if (onProgress) await onProgress();
    }
  };
  const delivered = () => payments.seen.size + refunds.seen.size;
  const requestsBy = (worker: string) =>
    [...payments.seen.values(), ...refunds.seen.values()].flat().filter((received) => received.worker === worker).length;
  const copiesOf = (id: string) => payments.seen.get(id) ?? refunds.seen.get(id) ?? [];
  const duplicatedIds = () =>
    [...payments.seen.entries(), ...refunds.seen.entries()].filter(([, list]) => list.length > 1).map(([id]) => id);
  const duplicates = () =>
    [...payments.seen.values(), ...refunds.seen.values()].filter((list) => list.length > 1);
  const finished = async (timeoutMs: number) => {
    await until(() => delivered() >= events, `${events} distinct deliveries (have ${delivered()})`, timeoutMs);
    await until(async () => (await storage.stats(Date.now())).pending === 0, 'no pending delivery', 10_000);
    // Every event reached its receiver, and only events we published arrived.
    for (const id of [...payments.seen.keys(), ...refunds.seen.keys()]) expect(published.has(id)).toBe(true);
    expect(published.size).toBe(events);
    expect(await storage.stats(Date.now())).toMatchObject({ pending: 0, leased: 0, held: 0, dead: 0, delivered: events });
  };
  return {
    schema,
    applicationName,
    storage,
    workers: started,
    publishAll,
    delivered,
    requestsBy,
    duplicates,
    duplicatedIds,
    copiesOf,
    finished,
    events,
  };
}

describe('several dispatcher processes on one PostgreSQL', () => {
  it('delivers each of 10,000 events exactly once with three instances sharing the work', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const run = await scenario({ leaseMs: SAFE_LEASE_MS, httpTimeoutMs: SAFE_HTTP_TIMEOUT_MS });
    await run.publishAll();
    await run.finished(40_000);
    // Should one be sent twice, say how: its copies and its recorded attempts.
    const explained = await Promise.all(
      run.duplicatedIds().map(async (eventId) => {
        const [delivery] = (await run.storage.listDeliveries({ eventId, limit: 1 })).items;
        const attempts = delivery === undefined ? [] : await run.storage.listAttempts(delivery.id);
        return { eventId, copies: run.copiesOf(eventId), attempts: attempts.map((a) => a.errorClass ?? a.statusCode) };
      }),
    );
    expect(explained).toEqual([]);
    // The work was shared: every instance delivered some of it.
    for (const worker of run.workers) expect(run.requestsBy(worker.id)).toBeGreaterThan(0);
    await Promise.all(run.workers.map(stopWorker));
  });

  it('delivers every event when one instance is SIGKILLed mid-run: duplicates only what it had in flight, re-sent after its leases expired', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const unsettledFile = join(directory, `unsettled-${randomBytes(4).toString('hex')}`);
    const run = await scenario({ leaseMs: LEASE_MS, httpTimeoutMs: HTTP_TIMEOUT_MS, unsettledFileOf: unsettledFile });
    const victim = run.workers[0]!;
    const readUnsettled = async () => Number((await readFile(unsettledFile, 'utf8')).trim());
    let killed = false;
    let unsettledAtKill = 0;
    // Kills the victim only at a moment it has posts unsettled: stopped first (SIGSTOP), so
    // that the count it last wrote cannot change between reading it and the kill; let go
    // again (SIGCONT) when it has none. (Reading, then killing, lost that race now and then:
    // the victim settled its last post in between.)
    const killWithPostsInFlight = async (): Promise<boolean> => {
      victim.child.kill('SIGSTOP');
      const unsettled = await readUnsettled().catch(() => 0);
      if (unsettled === 0) {
        victim.child.kill('SIGCONT');
        return false;
      }
      victim.child.kill('SIGKILL');
      await victim.exited;
      unsettledAtKill = unsettled;
      killed = true;
      return true;
    };
    await run.publishAll(async () => {
      // Kill once a third is delivered, at a moment the victim has posts unsettled.
      if (!killed && run.delivered() >= EVENTS / 3) await killWithPostsInFlight();
    });
    if (!killed) {
      // Publishing outran delivery: kill now, with the backlog still being worked.
      await until(killWithPostsInFlight, 'the victim to have posts in flight', 10_000);
    }
    expect(victim.child.signalCode).toBe('SIGKILL');
    expect(unsettledAtKill).toBeGreaterThan(0);

    await run.finished(40_000);
    const duplicates = run.duplicates();
    expect(duplicates.length).toBeLessThanOrEqual(unsettledAtKill);
    for (const copies of duplicates) {
      // Only the killed instance's unsettled posts are sent twice, each exactly twice:
      // first by the victim, then by a survivor once the lease expired by the database clock.
      expect(copies).toHaveLength(2);
      expect(copies[0]!.worker).toBe(victim.id);
      expect(copies[1]!.worker).not.toBe(victim.id);
      expect(copies[1]!.at - copies[0]!.at).toBeGreaterThanOrEqual(LEASE_MS - 1_000);
    }
    // The survivors took over everything the victim had claimed: nothing is left leased or pending.
    expect(run.requestsBy(victim.id)).toBeGreaterThan(0);
    await Promise.all(run.workers.slice(1).map(stopWorker));
  });

  it('recovers and finishes when every worker connection is terminated mid-run, twice', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    // The short lease: a claim whose answer died with its connection leaves leases that must expire.
    const run = await scenario({ leaseMs: LEASE_MS, httpTimeoutMs: HTTP_TIMEOUT_MS, events: EVENTS / 2 });
    const admin = new pg.Client({ connectionString: url });
    admin.on('error', () => undefined);
    await admin.connect();
    closers.push(() => admin.end());
    const terminations: number[] = [];
    const terminateWorkers = async () => {
      const { rows } = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
        [run.applicationName],
      );
      terminations.push(rows.length);
    };
    await run.publishAll(async () => {
      const done = run.delivered();
      if ((terminations.length === 0 && done >= run.events / 4) || (terminations.length === 1 && done >= run.events / 2)) {
        await terminateWorkers();
      }
    });
    while (terminations.length < 2) await terminateWorkers();
    // Each round hit the pools and the LISTEN connections of the three workers.
    expect(terminations.every((count) => count >= WORKERS)).toBe(true);
    await run.finished(40_000);
    // At-least-once holds; a settle lost with its connection is retried under the same
    // lease, so duplicates stay far below the posts in flight.
    expect(run.duplicates().length).toBeLessThanOrEqual(WORKERS * CONCURRENCY);
    await Promise.all(run.workers.map(stopWorker));
  });
});
