/**
 * What `dispatcher: { thread: 'worker' }` refuses at `createWebhooks`: every part the
 * worker thread cannot rebuild from data, each named in a `DISPATCHER_WORKER_UNSUPPORTED`
 * error's `field`; what `dispatcher: { storageThread: 'worker' }` refuses (a storage it
 * cannot open again) and accepts (the host's code: the dispatcher stays on its thread); and
 * the `dispatcher` option itself, checked strictly.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStorage, createUndiciTransport, createWebhooks, type WebhooksOptions } from '../../src/index.js';
import { createPostgresStorage } from '../../src/storage/postgres/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { resolveWebhooksOptions } from '../../src/webhooks-options.js';
import { registerCleanups } from '../support/cleanups.js';
import { testDatabaseUrl } from '../support/postgres.js';
import { configErrorOf } from '../support/rejections.js';

const cleanups = registerCleanups();
const worker = { thread: 'worker' } as const;
let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'webhooks-worker-refusals-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

function fileStorage() {
  const storage = createSqliteStorage({ filename: join(directory, 'webhooks.db') });
  cleanups.push(() => storage.close());
  return storage;
}

function handedIn(journalMode: 'WAL' | 'DELETE') {
  const db = new Database(join(directory, 'host.db'));
  db.pragma(`journal_mode = ${journalMode}`);
  cleanups.push(async () => void db.close());
  return db;
}

/** The instance is made (nothing refused); it is closed after the test. */
function accepted(options: WebhooksOptions) {
  const webhooks = createWebhooks(options);
  cleanups.push(() => webhooks.close());
  return webhooks;
}

describe("dispatcher: { thread: 'worker' } refuses what the worker cannot rebuild", () => {
  it.each([
    ['the default memory storage', () => ({}) satisfies WebhooksOptions, 'storage'],
    ['a memory storage handed in', () => ({ storage: createMemoryStorage() }), 'storage'],
    ['a SQLite database in memory', () => ({ storage: createSqliteStorage({ filename: ':memory:' }) }), 'storage'],
    ['a handed-in SQLite database not in WAL mode', () => ({ storage: createSqliteStorage({ database: handedIn('DELETE') }) }), 'storage'],
    ['a custom transport', () => ({ storage: fileStorage(), transport: createUndiciTransport() }), 'transport'],
    ['a custom clock', () => ({ storage: fileStorage(), clock: { now: () => 0, setTimeout: () => 0, clearTimeout: () => undefined } }), 'clock'],
    ['a custom random', () => ({ storage: fileStorage(), random: () => 0.5 }), 'random'],
    ['a retry function', () => ({ storage: fileStorage(), retry: () => 1000 }), 'retry'],
  ] as Array<[string, () => WebhooksOptions, string]>)('refuses %s, naming the option', (_name, options, field) => {
    const error = configErrorOf(() => createWebhooks({ ...options(), dispatcher: worker }));
    expect(error).toMatchObject({ code: 'DISPATCHER_WORKER_UNSUPPORTED', field });
    expect(error.message).toContain(field === 'storage' ? 'storage' : `\`${field}\``);
  });

  it('refuses a handed-in PostgreSQL pool whose settings hold a function (a password callback)', async () => {
    const pool = new pg.Pool({ connectionString: testDatabaseUrl(), password: async () => 'secret' });
    cleanups.push(() => pool.end());
    const error = configErrorOf(() => createWebhooks({ storage: createPostgresStorage({ pool }), dispatcher: worker }));
    expect(error).toMatchObject({ code: 'DISPATCHER_WORKER_UNSUPPORTED', field: 'storage' });
  });

  it('accepts a SQLite file, a handed-in SQLite database in WAL mode, a PostgreSQL connection string and a handed-in pool of plain settings', async () => {
    const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
    cleanups.push(() => pool.end());
    expect(() => accepted({ storage: fileStorage(), dispatcher: worker })).not.toThrow();
    expect(() => accepted({ storage: createSqliteStorage({ database: handedIn('WAL') }), dispatcher: worker })).not.toThrow();
    expect(() => accepted({ storage: createPostgresStorage({ connectionString: testDatabaseUrl() }), dispatcher: worker })).not.toThrow();
    expect(() => accepted({ storage: createPostgresStorage({ pool }), dispatcher: worker, retry: { delaysMs: [1000] } })).not.toThrow();
  });
});

describe("dispatcher: { storageThread: 'worker' } refuses a storage it cannot open again, and nothing else", () => {
  const storageThread = { storageThread: 'worker' } as const;

  it.each([
    ['the default memory storage', () => ({}) satisfies WebhooksOptions],
    ['a memory storage handed in', () => ({ storage: createMemoryStorage() })],
    ['a SQLite database in memory', () => ({ storage: createSqliteStorage({ filename: ':memory:' }) })],
    ['a handed-in SQLite database not in WAL mode', () => ({ storage: createSqliteStorage({ database: handedIn('DELETE') }) })],
  ] as Array<[string, () => WebhooksOptions]>)('refuses %s, naming the storage and the option', (_name, options) => {
    const error = configErrorOf(() => createWebhooks({ ...options(), dispatcher: storageThread }));
    expect(error).toMatchObject({ code: 'DISPATCHER_WORKER_UNSUPPORTED', field: 'storage' });
    expect(error.message).toContain("`dispatcher.storageThread: 'worker'` cannot be used with");
  });

  it('accepts a custom transport, clock, random and retry function: the dispatcher that runs them stays on the host', () => {
    expect(() =>
      accepted({
        storage: fileStorage(),
        dispatcher: { storageThread: 'worker', restartDelayMs: 50 },
        transport: createUndiciTransport(),
        clock: { now: () => 0, setTimeout: () => 0, clearTimeout: () => undefined },
        random: () => 0.5,
        retry: () => 1000,
      }),
    ).not.toThrow();
    expect(() => accepted({ storage: createPostgresStorage({ connectionString: testDatabaseUrl() }), dispatcher: storageThread })).not.toThrow();
  });
});

describe("the storages' recipes for the worker", () => {
  it("gives a handed-in SQLite database's file and the settings its connection has, so the worker's commits are as durable", () => {
    const db = handedIn('WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 1234');
    expect(createSqliteStorage({ database: db, tablePrefix: 'hooks_' }).workerRecipe()).toEqual({
      recipe: {
        kind: 'sqlite',
        filename: join(directory, 'host.db'),
        tablePrefix: 'hooks_',
        synchronous: 'FULL',
        busyTimeoutMs: 1234,
        walAutocheckpointBytes: expect.any(Number),
      },
    });
  });

  it("gives a handed-in pool's settings with the password node-postgres hides from enumeration", async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://someone@db.invalid/ledger', password: 'hidden', max: 3 });
    cleanups.push(() => pool.end());
    expect(createPostgresStorage({ pool, schema: 'hooks' }).workerRecipe()).toMatchObject({
      recipe: { kind: 'postgres', schema: 'hooks', notifyChannel: 'bookkeeper_webhooks', connection: { poolOptions: { password: 'hidden', max: 3 } } },
    });
  });
});

describe('the dispatcher option', () => {
  it.each([
    ['an unknown key', { thread: 'worker', restartDelay: 10 }, 'dispatcher.restartDelay'],
    ['an unknown thread', { thread: 'process' }, 'dispatcher.thread'],
    ['a restartDelayMs of 0', { thread: 'worker', restartDelayMs: 0 }, 'dispatcher.restartDelayMs'],
    ['a fractional restartDelayMs', { thread: 'worker', restartDelayMs: 1.5 }, 'dispatcher.restartDelayMs'],
    ['a restartDelayMs without a worker', { thread: 'main', restartDelayMs: 100 }, 'dispatcher.restartDelayMs'],
    ['a restartDelayMs with the storage on the main thread', { storageThread: 'main', restartDelayMs: 100 }, 'dispatcher.restartDelayMs'],
    ['an unknown storageThread', { storageThread: 'process' }, 'dispatcher.storageThread'],
    ["a storageThread with thread: 'worker'", { thread: 'worker', storageThread: 'worker' }, 'dispatcher.storageThread'],
    ["storageThread: 'main' with thread: 'worker'", { thread: 'worker', storageThread: 'main' }, 'dispatcher.storageThread'],
    ['a string', 'worker', 'dispatcher'],
  ])('refuses %s with CONFIG_INVALID', (_name, dispatcher, field) => {
    const error = configErrorOf(() => createWebhooks({ storage: fileStorage(), dispatcher: dispatcher as never }));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field });
  });

  it('resolves to the main thread by default, and to a restart delay of 1000 ms with a worker unless given', () => {
    expect(resolveWebhooksOptions({}).dispatcher).toEqual({ thread: 'main', storageThread: 'main', restartDelayMs: null });
    expect(resolveWebhooksOptions({ dispatcher: { storageThread: 'main' } }).dispatcher).toEqual({ thread: 'main', storageThread: 'main', restartDelayMs: null });
    expect(resolveWebhooksOptions({ dispatcher: { thread: 'worker' } }).dispatcher).toEqual({ thread: 'worker', storageThread: null, restartDelayMs: 1000 });
    expect(resolveWebhooksOptions({ dispatcher: { thread: 'worker', restartDelayMs: 250 } }).dispatcher).toEqual({ thread: 'worker', storageThread: null, restartDelayMs: 250 });
    expect(resolveWebhooksOptions({ dispatcher: { storageThread: 'worker' } }).dispatcher).toEqual({ thread: 'main', storageThread: 'worker', restartDelayMs: 1000 });
    expect(resolveWebhooksOptions({ dispatcher: { thread: 'main', storageThread: 'worker', restartDelayMs: 30 } }).dispatcher).toEqual({
      thread: 'main',
      storageThread: 'worker',
      restartDelayMs: 30,
    });
  });

  it("keeps the dispatcher on the host's thread by default and with thread: 'main', whatever the storage", () => {
    expect(() => accepted({})).not.toThrow();
    expect(() => accepted({ dispatcher: { thread: 'main' }, clock: { now: () => 0, setTimeout: () => 0, clearTimeout: () => undefined } })).not.toThrow();
  });
});
