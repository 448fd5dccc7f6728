/**
 * The inbox on a real PostgreSQL, a schema per test: the id and the consumer's writes
 * commit or roll back together; a concurrent copy of an event waits on the first one's
 * uncommitted row and then sees it; a kill -9 before the commit books nothing, after it once.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqlInbox, inboxMigrationSql, type InboxReceipt, type SqlInbox } from '../../src/receiver/index.js';
import { killWorker, runningWorkers, startInboxWorker, workerExit } from '../support/inbox-crash.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from '../support/postgres.js';

const url = testDatabaseUrl();
const pool = new pg.Pool({ connectionString: url, max: 12 });
pool.on('error', () => undefined);
afterAll(() => pool.end());

let schema: string;
let inbox: SqlInbox;
const clients: pg.PoolClient[] = [];

beforeEach(async () => {
  schema = randomSchemaName('inbox');
  await pool.query(`CREATE SCHEMA "${schema}"`);
  await pool.query(`CREATE TABLE "${schema}".ledger (event_id text NOT NULL, amount_minor bigint NOT NULL)`);
  inbox = createSqlInbox({ dialect: 'postgres', query: pool, table: `${schema}.webhook_inbox` });
  await inbox.migrate();
});

afterEach(async () => {
  for (const child of runningWorkers) await killWorker(child);
  for (const client of clients.splice(0)) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
  await dropSchema(url, schema);
});

async function connect(): Promise<pg.PoolClient> {
  const client = await pool.connect();
  clients.push(client);
  return client;
}

async function count(table: 'ledger' | 'webhook_inbox', eventId?: string): Promise<number> {
  const column = table === 'ledger' ? 'event_id' : 'id';
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM "${schema}".${table}${eventId === undefined ? '' : ` WHERE ${column} = $1`}`,
    eventId === undefined ? [] : [eventId],
  );
  return rows[0]!.n;
}

/** Books one event in a transaction of its own on a client of the pool, the way a consumer would. */
async function book(id: string, fail?: Error): Promise<InboxReceipt<string>> {
  const client = await connect();
  await client.query('BEGIN');
  try {
    const receipt = await inbox.handle({ id, type: 'payment.succeeded' }, client, async (tx) => {
      await tx.query(`INSERT INTO "${schema}".ledger (event_id, amount_minor) VALUES ($1, $2)`, [id, 4_200]);
      if (fail) throw fail;
      return 'booked';
    });
    await client.query('COMMIT');
    return receipt;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** Resolves once the backend `pid` is waiting for a lock (polled, no fixed sleep). */
async function waitingOnLock(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await pool.query<{ waiting: boolean }>("SELECT wait_event_type = 'Lock' AS waiting FROM pg_stat_activity WHERE pid = $1", [pid]);
    if (rows[0]?.waiting) return;
    if (Date.now() > deadline) throw new Error(`backend ${pid} never waited on a lock`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function backendPid(client: pg.PoolClient): Promise<number> {
  return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
}

/**
 * Starts two copies of one event on two transactions: the first records the id and
 * stops inside its handler; the second is started once the first's row exists, and is
 * known to be waiting on that row before the function returns.
 */
async function twoCopiesAtOnce(id: string, secondIsolation = '') {
  const first = await connect();
  const second = await connect();
  const inFirstHandler = deferred();
  const releaseFirst = deferred();
  let secondHandlerRan = false;
  await first.query('BEGIN');
  const firstReceipt = inbox.handle({ id }, first, async (tx) => {
    await tx.query(`INSERT INTO "${schema}".ledger (event_id, amount_minor) VALUES ($1, 1)`, [id]);
    inFirstHandler.resolve();
    await releaseFirst.promise;
    return 'first';
  });
  await inFirstHandler.promise;
  await second.query(`BEGIN ${secondIsolation}`);
  // Takes the snapshot now, before the first commits (REPEATABLE READ keeps it).
  await second.query('SELECT 1');
  const secondPid = await backendPid(second);
  let secondSettled = false;
  const secondReceipt = inbox
    .handle({ id }, second, async (tx) => {
      secondHandlerRan = true;
      await tx.query(`INSERT INTO "${schema}".ledger (event_id, amount_minor) VALUES ($1, 2)`, [id]);
      return 'second';
    })
    .finally(() => (secondSettled = true));
  secondReceipt.catch(() => undefined);
  await waitingOnLock(secondPid);
  expect(secondSettled).toBe(false);
  releaseFirst.resolve();
  expect(await firstReceipt).toEqual({ outcome: 'processed', result: 'first' });
  return { first, second, secondReceipt, secondHandlerRan: () => secondHandlerRan };
}

describe('createSqlInbox on PostgreSQL', () => {
  it('runs the handler for a new id and skips it for a duplicate: one ledger row, one inbox row with its type', async () => {
    expect(await book('evt_1')).toEqual({ outcome: 'processed', result: 'booked' });
    expect(await book('evt_1')).toEqual({ outcome: 'duplicate' });
    expect(await book('evt_2')).toEqual({ outcome: 'processed', result: 'booked' });
    expect(await count('ledger', 'evt_1')).toBe(1);
    const { rows } = await pool.query(`SELECT id, event_type FROM "${schema}".webhook_inbox ORDER BY id`);
    expect(rows).toEqual([
      { id: 'evt_1', event_type: 'payment.succeeded' },
      { id: 'evt_2', event_type: 'payment.succeeded' },
    ]);
  });

  it('rolls back the id with the writes when the handler throws, so the retry processes the event', async () => {
    const failure = new Error('ledger check failed');
    await expect(book('evt_1', failure)).rejects.toBe(failure);
    expect({ ledger: await count('ledger'), inbox: await count('webhook_inbox') }).toEqual({ ledger: 0, inbox: 0 });
    expect(await book('evt_1')).toEqual({ outcome: 'processed', result: 'booked' });
    expect({ ledger: await count('ledger'), inbox: await count('webhook_inbox') }).toEqual({ ledger: 1, inbox: 1 });
  });

  it('makes a concurrent copy of an event wait on the uncommitted first, then skips it as a duplicate once the first commits', async () => {
    const { first, second, secondReceipt, secondHandlerRan } = await twoCopiesAtOnce('evt_race');
    await first.query('COMMIT');
    expect(await secondReceipt).toEqual({ outcome: 'duplicate' });
    await second.query('COMMIT');
    expect(secondHandlerRan()).toBe(false);
    expect(await pool.query(`SELECT amount_minor::int AS amount FROM "${schema}".ledger`).then((result) => result.rows)).toEqual([{ amount: 1 }]);
  });

  it('processes the concurrent copy when the first rolls back', async () => {
    const { first, second, secondReceipt, secondHandlerRan } = await twoCopiesAtOnce('evt_race');
    await first.query('ROLLBACK');
    expect(await secondReceipt).toEqual({ outcome: 'processed', result: 'second' });
    await second.query('COMMIT');
    expect(secondHandlerRan()).toBe(true);
    expect(await pool.query(`SELECT amount_minor::int AS amount FROM "${schema}".ledger`).then((result) => result.rows)).toEqual([{ amount: 2 }]);
    expect(await count('webhook_inbox')).toBe(1);
  });

  it('fails a REPEATABLE READ copy that waited on a commit after its snapshot with STORAGE_BUSY (retryable); run again, it is a duplicate', async () => {
    const { first, second, secondReceipt, secondHandlerRan } = await twoCopiesAtOnce('evt_race', 'ISOLATION LEVEL REPEATABLE READ');
    await first.query('COMMIT');
    const error = await secondReceipt.catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'StorageError', code: 'STORAGE_BUSY', retryable: true });
    expect((error as Error).cause).toMatchObject({ code: '40001' });
    await second.query('ROLLBACK');
    expect(secondHandlerRan()).toBe(false);
    await second.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    expect(await inbox.handle({ id: 'evt_race' }, second, () => 'second')).toEqual({ outcome: 'duplicate' });
    await second.query('COMMIT');
    expect(await count('ledger')).toBe(1);
  });

  it('refuses a pool as the transaction with INPUT_INVALID, before writing anything', async () => {
    const error = await inbox.handle({ id: 'evt_1' }, pool, () => 'never').catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'ValidationError', code: 'INPUT_INVALID', field: 'tx' });
    expect(await count('webhook_inbox')).toBe(0);
  });

  it('migrates from several instances at once, and again: one table, one index, the same as the SQL for a migration tool', async () => {
    const table = `${schema}.concurrent_inbox`;
    const instances = Array.from({ length: 8 }, () => createSqlInbox({ dialect: 'postgres', query: (text, values) => pool.query(text, values), table }));
    await Promise.all(instances.map((instance) => instance.migrate()));
    await instances[0]!.migrate();
    const shape = async (tableName: string) =>
      (
        await pool.query(
          `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
          [schema, tableName],
        )
      ).rows;
    const indexes = async (tableName: string) =>
      (await pool.query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname`, [schema, tableName])).rows;
    expect(await indexes('concurrent_inbox')).toEqual([{ indexname: 'concurrent_inbox_pkey' }, { indexname: 'concurrent_inbox_processed_at_idx' }]);

    await pool.query(inboxMigrationSql({ dialect: 'postgres', table: `${schema}.tool_inbox` }));
    await pool.query(inboxMigrationSql({ dialect: 'postgres', table: `${schema}.tool_inbox` }));
    expect(await shape('tool_inbox')).toEqual(await shape('concurrent_inbox'));
    expect(await indexes('tool_inbox')).toEqual([{ indexname: 'tool_inbox_pkey' }, { indexname: 'tool_inbox_processed_at_idx' }]);
  });

  it('purges ids recorded before olderThan, in batches, and a purged id is processed again', async () => {
    let nowMs = Date.parse('2026-01-01T00:00:00Z');
    const clocked = createSqlInbox({ dialect: 'postgres', query: pool, table: `${schema}.webhook_inbox`, clock: { now: () => nowMs } });
    const client = await connect();
    await client.query('BEGIN');
    for (let n = 0; n < 2_100; n++) await clocked.handle({ id: `evt_old_${n}` }, client, () => undefined);
    await client.query('COMMIT');
    nowMs += 31 * 24 * 3_600_000;
    await client.query('BEGIN');
    await clocked.handle({ id: 'evt_new' }, client, () => undefined);
    await client.query('COMMIT');
    const olderThan = new Date(nowMs - 30 * 24 * 3_600_000);
    expect(await clocked.purge({ olderThan })).toBe(2_100);
    expect((await pool.query(`SELECT id FROM "${schema}".webhook_inbox`)).rows).toEqual([{ id: 'evt_new' }]);
    expect(await clocked.purge({ olderThan })).toBe(0);
    expect(await book('evt_old_7')).toMatchObject({ outcome: 'processed' });
  });

  it('says STORAGE_NOT_MIGRATED for a table that does not exist', async () => {
    const missing = createSqlInbox({ dialect: 'postgres', query: pool, table: `${schema}.never_migrated` });
    const client = await connect();
    await client.query('BEGIN');
    const error = await missing.handle({ id: 'evt_1' }, client, () => undefined).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'StorageError', code: 'STORAGE_NOT_MIGRATED', retryable: false });
    expect((error as Error).cause).toMatchObject({ code: '42P01' });
    await expect(missing.purge({ olderThan: new Date() })).rejects.toMatchObject({ code: 'STORAGE_NOT_MIGRATED' });
  });
});

describe('a consumer killed with SIGKILL (PostgreSQL)', () => {
  it("between the handler's write and the commit books nothing; the redelivered event is booked once, and again is a duplicate", async () => {
    const { child, message } = await startInboxWorker(['postgres', url, schema, 'evt_crash', 'before-commit']);
    expect(message).toBe('written');
    // The worker is inside its transaction: its insert holds the inbox table, uncommitted.
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_locks WHERE relation = $1::regclass AND mode = 'RowExclusiveLock' AND granted",
      [`"${schema}".webhook_inbox`],
    );
    expect(rows[0]!.n).toBe(1);
    expect(await killWorker(child)).toBe('SIGKILL');
    expect({ ledger: await count('ledger'), inbox: await count('webhook_inbox') }).toEqual({ ledger: 0, inbox: 0 });

    const redelivered = await startInboxWorker(['postgres', url, schema, 'evt_crash', 'none']);
    expect(redelivered.message).toBe('done processed');
    expect(await workerExit(redelivered.child)).toBe(0);
    const again = await startInboxWorker(['postgres', url, schema, 'evt_crash', 'none']);
    expect(again.message).toBe('done duplicate');
    expect(await workerExit(again.child)).toBe(0);
    expect({ ledger: await count('ledger', 'evt_crash'), inbox: await count('webhook_inbox') }).toEqual({ ledger: 1, inbox: 1 });
  }, 60_000);

  it('after the commit books once: the redelivered event is a duplicate', async () => {
    const { child, message } = await startInboxWorker(['postgres', url, schema, 'evt_crash', 'after-commit']);
    expect(message).toBe('committed processed');
    expect(await killWorker(child)).toBe('SIGKILL');
    expect({ ledger: await count('ledger'), inbox: await count('webhook_inbox') }).toEqual({ ledger: 1, inbox: 1 });

    const redelivered = await startInboxWorker(['postgres', url, schema, 'evt_crash', 'none']);
    expect(redelivered.message).toBe('done duplicate');
    expect(await workerExit(redelivered.child)).toBe(0);
    expect({ ledger: await count('ledger', 'evt_crash'), inbox: await count('webhook_inbox') }).toEqual({ ledger: 1, inbox: 1 });
  }, 60_000);
});

describe('the inbox example on PostgreSQL', () => {
  it('books each payment once in its own transaction, skips the redelivery, leaves the month-old event for review', async () => {
    const root = join(import.meta.dirname, '..', '..');
    // A schema of its own (the example creates its own ledger), where its unqualified tables land.
    const exampleSchema = randomSchemaName('inbox_example');
    await pool.query(`CREATE SCHEMA "${exampleSchema}"`);
    const databaseUrl = `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${exampleSchema}`)}`;
    let stdout: string;
    let inboxRows: unknown[];
    try {
      ({ stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'examples', 'inbox.ts')], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: databaseUrl },
        timeout: 60_000,
      }));
      inboxRows = (await pool.query(`SELECT id FROM "${exampleSchema}".webhook_inbox ORDER BY id`)).rows;
    } finally {
      await dropSchema(url, exampleSchema);
    }
    expect(stdout.trim().split('\n')).toEqual([
      'booked pay_1',
      'duplicate: evt_inbox_1 is booked already',
      'booked pay_2',
      expect.stringMatching(/^stale: evt_inbox_3 of .+ left for review$/),
      'ledger: pay_1, pay_2',
      'purged: 0',
    ]);
    expect(inboxRows).toEqual([{ id: 'evt_inbox_1' }, { id: 'evt_inbox_2' }]);
  }, 60_000);
});
