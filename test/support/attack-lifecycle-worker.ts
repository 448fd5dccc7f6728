/**
 * A child process for test/integration/attack-lifecycle.test.ts: a stranger's process starting
 * on a storage, or one killed in the middle of its migration.
 *
 * - `start sqlite <file>` / `start postgres <url> <schema>`: says `ready`, waits for a line on
 *   stdin (so that every child starts at the same moment), then `createWebhooks().start()` and
 *   `close()`; prints one JSON line `{ ok }` or `{ ok: false, code }`.
 * - `hang sqlite <file> <version>` / `hang postgres <url> <schema> <version>`: `migrate()`,
 *   stopped for good just before migration `<version>` runs (the steps before it done, as
 *   `migrate()` would leave them); prints `hanging` there and waits to be killed.
 * - `pause postgres <url> <schema> <version> [expand|contract]`: the same, but a line on stdin
 *   lets the migration (of that phase) go on; prints `migrated` once it is done.
 * - `hold sqlite <file>`: a host's connection to a new file in its default (rollback journal)
 *   mode, inside a write transaction (BEGIN IMMEDIATE); prints `holding`, and commits when a
 *   line comes on stdin.
 */
import { writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createWebhooks } from '../../src/index.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { createPostgresStorage } from '../../src/storage/postgres/index.js';
import { migrations as postgresMigrations, renderStatements } from '../../src/storage/postgres/migrations/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { migrations as sqliteMigrations, renderMigration } from '../../src/storage/sqlite/migrations/index.js';

const [mode, kind, target, ...rest] = process.argv.slice(2);

function say(line: string): void {
  // Synchronous: the parent may kill this process right after reading it.
  writeSync(1, `${line}\n`);
}

/** Never returns, and never lets the event loop turn: the process is stuck where it stands. */
function blockForever(): never {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}

async function start(): Promise<void> {
  say('ready');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  let storage: StorageAdapter;
  try {
    storage = kind === 'sqlite' ? createSqliteStorage({ filename: target! }) : createPostgresStorage({ connectionString: target!, schema: rest[0]!, poolSize: 2 });
  } catch (error) {
    say(JSON.stringify({ ok: false, code: (error as { code?: unknown }).code ?? String(error), message: String((error as Error).message) }));
    return;
  }
  const webhooks = createWebhooks({ storage, meter: false, retention: false });
  try {
    await webhooks.start();
    say(JSON.stringify({ ok: true }));
  } catch (error) {
    say(JSON.stringify({ ok: false, code: (error as { code?: unknown }).code ?? String(error), message: String((error as Error).message) }));
  } finally {
    await webhooks.close();
  }
}

async function hangSqlite(file: string, version: number): Promise<void> {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  const stopAt = renderMigration(sqliteMigrations[version - 1]!, 'webhook_');
  const exec = db.exec.bind(db);
  db.exec = (sql: string) => {
    if (sql === stopAt) {
      say('hanging');
      blockForever();
    }
    return exec(sql);
  };
  await createSqliteStorage({ database: db }).migrate();
  say('migrated');
}

async function hangPostgres(url: string, schema: string, version: number, resumes: boolean, phase: 'expand' | 'contract'): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  const stopAt = renderStatements(postgresMigrations[version - 1]!, schema)[0];
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => Promise<pg.PoolClient> | undefined;
  // pool.query checks a client out with a callback: that form passes through untouched.
  pool.connect = ((...args: unknown[]) => (args.length > 0 ? connect(...args) : withStop())) as typeof pool.connect;
  const withStop = async () => {
    const client = (await connect())!;
    const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
    client.query = ((...args: unknown[]) => {
      if (args[0] === stopAt) {
        // Inside the step's transaction (BEGIN sent, its statement not): the steps before it are committed.
        say('hanging');
        if (resumes) return new Promise((resolve) => process.stdin.once('data', resolve)).then(() => query(...args));
        setInterval(() => undefined, 60_000);
        return new Promise(() => undefined);
      }
      return query(...args);
    }) as typeof client.query;
    return client;
  };
  const storage = createPostgresStorage({ pool, schema });
  await storage.migrate({ phase });
  await storage.close();
  await pool.end();
  say('migrated');
}

async function holdSqlite(file: string): Promise<void> {
  const db = new Database(file);
  db.exec('CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY)');
  db.exec('BEGIN IMMEDIATE');
  db.exec('INSERT INTO ledger DEFAULT VALUES');
  say('holding');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  db.exec('COMMIT');
  db.close();
  say('committed');
}

if (mode === 'start') await start();
else if (mode === 'hold' && kind === 'sqlite') await holdSqlite(target!);
else if (mode === 'hang' && kind === 'sqlite') await hangSqlite(target!, Number(rest[0]));
else if ((mode === 'hang' || mode === 'pause') && kind === 'postgres') await hangPostgres(target!, rest[0]!, Number(rest[1]), mode === 'pause', rest[2] === 'contract' ? 'contract' : 'expand');
else throw new Error(`attack-lifecycle-worker: unknown arguments ${process.argv.slice(2).join(' ')}`);
process.exit(0);
