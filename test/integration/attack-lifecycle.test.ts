/**
 * Storage set-up and lifecycle as a stranger deploying the library meets them: processes
 * starting together on a fresh database, a process killed in the middle of its migration, a
 * database that is not ours or that the role may not change, an instance started again after
 * a failed start, stopped and closed in every order, and two instances on one SQLite file.
 * Real SQLite files in a temporary directory, a real PostgreSQL, real child processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWebhooks, type Webhooks } from '../../src/index.js';
import { createPostgresStorage, getMigrationSql } from '../../src/storage/postgres/index.js';
import { migrations as postgresMigrations, migrationsTableSql, renderMigration } from '../../src/storage/postgres/migrations/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { migrations as sqliteMigrations } from '../../src/storage/sqlite/migrations/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { dropSchema, freePort, randomSchemaName, testDatabaseUrl } from '../support/postgres.js';
import { rejectionOf, thrownBy } from '../support/rejections.js';
import { samplePayment } from '../support/sample-payment.js';

const root = join(import.meta.dirname, '..', '..');
const workerScript = join(root, 'test', 'support', 'attack-lifecycle-worker.ts');
const directory = mkdtempSync(join(tmpdir(), 'webhooks-attack-lifecycle-'));
let url: string;
let admin: pg.Pool;
const schemas: string[] = [];
const roles: string[] = [];
const children = new Set<ChildProcess>();
const cleanups = registerCleanups();

beforeAll(() => {
  url = testDatabaseUrl();
  admin = new pg.Pool({ connectionString: url, max: 3 });
  admin.on('error', () => undefined);
});

afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

afterAll(async () => {
  for (const schema of schemas) await dropSchema(url, schema);
  for (const role of roles) {
    await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
  }
  await admin.end();
  rmSync(directory, { recursive: true, force: true });
});

let files = 0;
function freshFile(): string {
  return join(directory, `attack-${files++}.db`);
}

function freshSchema(): string {
  const schema = randomSchemaName('life');
  schemas.push(schema);
  return schema;
}

/** A child running the worker; `lines` collects what it prints, `exited` resolves on its exit. */
function spawnWorker(args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<void>; waitForLine: (text: string) => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', workerScript, ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const lines: string[] = [];
  const stderr: string[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (chunk: Buffer) => void stderr.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitForLine = async (text: string): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!lines.includes(text)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`worker ${args.join(' ')} did not print ${text}: ${lines.join('\n')}\n${stderr.join('')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, lines, exited, waitForLine };
}

/** Starts `count` workers with `args`, lets them all go at once, and answers what each printed last. */
async function startTogether(count: number, args: string[]): Promise<unknown[]> {
  const workers = Array.from({ length: count }, () => spawnWorker(['start', ...args]));
  await Promise.all(workers.map((worker) => worker.waitForLine('ready')));
  for (const worker of workers) worker.child.stdin!.write('go\n');
  await Promise.all(workers.map((worker) => worker.exited));
  return workers.map((worker) => JSON.parse(worker.lines.at(-1) ?? 'null') as unknown);
}

/** Kills a worker stopped in its migration (SIGKILL) and waits for the exit. */
async function killAt(worker: ReturnType<typeof spawnWorker>): Promise<void> {
  await worker.waitForLine('hanging');
  worker.child.kill('SIGKILL');
  await worker.exited;
  expect(worker.child.signalCode).toBe('SIGKILL');
}

/** What a SQLite file holds of ours: every object with its SQL, and the recorded migrations. */
function sqliteShape(file: string): { objects: unknown[]; recorded: unknown[] | null } {
  const db = new Database(file, { readonly: true });
  try {
    const objects = db.prepare("SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'webhook%' ORDER BY name").all();
    const recorded = objects.length === 0 ? null : db.prepare('SELECT version, name FROM webhook_migrations ORDER BY version').all();
    return { objects, recorded };
  } finally {
    db.close();
  }
}

/** What a PostgreSQL schema holds, with its name replaced, so that two schemas compare. */
async function postgresShape(schema: string): Promise<string> {
  const read = async (text: string) => (await admin.query(text, [schema])).rows;
  const shape = {
    columns: await read(
      'SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = $1 ORDER BY 1, 2',
    ),
    indexes: await read('SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1'),
    constraints: await read(
      'SELECT conrelid::regclass::text AS relation, conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE connamespace = $1::regnamespace ORDER BY 1, 2',
    ),
    triggers: await read(
      'SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal ORDER BY 1, 2',
    ),
    functions: await read('SELECT proname, prosrc FROM pg_proc WHERE pronamespace = $1::regnamespace ORDER BY 1'),
    options: await read("SELECT relname, reloptions FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r' ORDER BY 1"),
    recorded: (await admin.query(`SELECT version, name, phase FROM "${schema}".migrations ORDER BY version`)).rows,
  };
  return JSON.stringify(shape).replaceAll(schema, '<schema>');
}

async function recordedSteps(schema: string): Promise<number[]> {
  const { rows } = await admin.query<{ version: number }>(`SELECT version FROM "${schema}".migrations ORDER BY version`);
  return rows.map((row) => row.version);
}

async function tablesOf(schema: string): Promise<string[]> {
  const { rows } = await admin.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema]);
  return rows.map((row) => row.table_name);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('several processes starting at once on a fresh storage', () => {
  it('six processes start() together on one fresh SQLite file: every one starts, and the file holds each migration once', { timeout: 60_000 }, async () => {
    const file = freshFile();
    const results = await startTogether(6, ['sqlite', file]);
    expect(results).toHaveLength(6);
    expect(results.filter((result) => (result as { ok?: unknown }).ok !== true)).toEqual([]);
    const reference = freshFile();
    await createSqliteStorage({ filename: reference }).migrate();
    expect(sqliteShape(file)).toEqual(sqliteShape(reference));
    expect(sqliteShape(file).recorded).toHaveLength(sqliteMigrations.length);
  });

  it('six processes start() together on one fresh PostgreSQL schema: every one starts, and each step is applied and recorded once', { timeout: 60_000 }, async () => {
    const schema = freshSchema();
    const results = await startTogether(6, ['postgres', url, schema]);
    expect(results).toHaveLength(6);
    expect(results.filter((result) => (result as { ok?: unknown }).ok !== true)).toEqual([]);
    expect(await recordedSteps(schema)).toEqual(range(1, postgresMigrations.length));
    const reference = freshSchema();
    const storage = createPostgresStorage({ connectionString: url, schema: reference, poolSize: 1 });
    cleanups.push(() => storage.close());
    await storage.migrate();
    expect(await postgresShape(schema)).toEqual(await postgresShape(reference));
  });

  it("SQLite: a process that opens a file while the host's connection writes to it in rollback-journal mode waits to switch it to WAL, instead of failing with STORAGE_BUSY", { timeout: 60_000 }, async () => {
    const file = freshFile();
    const host = spawnWorker(['hold', 'sqlite', file]);
    await host.waitForLine('holding');
    const starter = spawnWorker(['start', 'sqlite', file]);
    await starter.waitForLine('ready');
    starter.child.stdin!.write('go\n');
    // SQLite answers the switch SQLITE_BUSY at once, without its busy handler: give a failing start time to say so.
    const deadline = Date.now() + 500;
    while (starter.lines.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    host.child.stdin!.write('go\n');
    await host.waitForLine('committed');
    await starter.exited;
    expect(JSON.parse(starter.lines.at(-1)!)).toEqual({ ok: true });
    const db = new Database(file, { readonly: true });
    cleanups.push(async () => void db.close());
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT COUNT(*) FROM ledger').pluck().get()).toBe(1);
  });

  it("PostgreSQL: a start() during another process's contract migration waits for it, instead of taking the schema half-way for an old one", async () => {
    // A schema at version 2 (an early build), which only a contract migration brings up to date.
    const schema = freshSchema();
    const early = postgresMigrations.filter((migration) => migration.version <= 2);
    await admin.query(
      ['BEGIN;', migrationsTableSql(schema), ...early.map((m) => `${renderMigration(m, schema)};\nINSERT INTO "${schema}".migrations (version, name) VALUES (${m.version}, '${m.name}');`), 'COMMIT;'].join('\n'),
    );
    // The operator's contract migration, held just before step 0003 (under the migration lock).
    const other = spawnWorker(['pause', 'postgres', url, schema, '3', 'contract']);
    await other.waitForLine('hanging');
    const webhooks = createWebhooks({ storage: createPostgresStorage({ connectionString: url, schema, poolSize: 2 }), meter: false });
    cleanups.push(() => webhooks.close());
    const starting = webhooks.start();
    const startedTooSoon = starting.then(() => {
      throw new Error('start() resolved while the other migration was still under way');
    });
    // It waits on the migration lock of the schema, which the other process holds.
    const waiting = async () => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { rows } = await admin.query(
          "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)",
          [`@bookkeeper/webhooks:${schema}`],
        );
        if (rows.length > 0) return;
        if (Date.now() > deadline) throw new Error('start() never waited for the migration lock');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await Promise.race([waiting(), startedTooSoon]);
    other.child.stdin!.write('go\n');
    await starting;
    await other.waitForLine('migrated');
    expect(await recordedSteps(schema)).toEqual(range(1, postgresMigrations.length));
  });
});

describe('a process killed in the middle of its migration', () => {
  it('SQLite: leaves no table of ours at all (the migration is one transaction); a restart migrates the file to what a clean run makes', { timeout: 60_000 }, async () => {
    const file = freshFile();
    const host = new Database(file);
    host.exec('CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL); INSERT INTO ledger (amount) VALUES (100)');
    host.close();
    await killAt(spawnWorker(['hang', 'sqlite', file, '9']));
    // Nothing of ours, not even the version table: no version to misread.
    expect(sqliteShape(file)).toEqual({ objects: [], recorded: null });
    const storage = createSqliteStorage({ filename: file });
    cleanups.push(() => storage.close());
    expect(await rejectionOf(storage.getSubscription('sub_x'))).toMatchObject({ code: 'STORAGE_NOT_MIGRATED' });
    await storage.migrate();
    const reference = freshFile();
    await createSqliteStorage({ filename: reference }).migrate();
    expect(sqliteShape(file)).toEqual(sqliteShape(reference));
    expect(storage.database.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(storage.database.prepare('SELECT amount FROM ledger').pluck().all()).toEqual([100]);
  });

  it('PostgreSQL: leaves the steps before it applied and recorded and nothing of its own; a restart applies the rest, to what a clean run makes', { timeout: 60_000 }, async () => {
    const schema = freshSchema();
    await killAt(spawnWorker(['hang', 'postgres', url, schema, '8']));
    // The version says what is there: steps 1–7, and not the table step 8 creates.
    expect(await recordedSteps(schema)).toEqual(range(1, 7));
    expect((await admin.query('SELECT to_regclass($1) AS found', [`"${schema}".test_attempts`])).rows).toEqual([{ found: null }]);
    const storage = createPostgresStorage({ connectionString: url, schema, poolSize: 2 });
    cleanups.push(() => storage.close());
    expect(await rejectionOf(storage.getSubscription('sub_x'))).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_OLD' });
    // The dead process's session (and its advisory lock) goes with its connection: the restart waits for nothing.
    const plan = await storage.migrate();
    expect(plan.steps.map((step) => step.version)).toEqual(range(8, postgresMigrations.length));
    expect(await recordedSteps(schema)).toEqual(range(1, postgresMigrations.length));
    const reference = freshSchema();
    const clean = createPostgresStorage({ connectionString: url, schema: reference, poolSize: 1 });
    cleanups.push(() => clean.close());
    await clean.migrate();
    expect(await postgresShape(schema)).toEqual(await postgresShape(reference));
    expect(await storage.getSubscription('sub_x')).toBeNull();
  });

  it('PostgreSQL: killed before the contract step 0003 of a fresh schema, leaves nothing of its own, and a restart starts (not refused as an old schema)', { timeout: 60_000 }, async () => {
    const schema = freshSchema();
    await killAt(spawnWorker(['hang', 'postgres', url, schema, '3']));
    expect((await admin.query('SELECT to_regclass($1) AS found', [`"${schema}".migrations`])).rows).toEqual([{ found: null }]);
    const webhooks = createWebhooks({ storage: createPostgresStorage({ connectionString: url, schema, poolSize: 2 }), meter: false });
    cleanups.push(() => webhooks.close());
    await webhooks.start();
    expect(await recordedSteps(schema)).toEqual(range(1, postgresMigrations.length));
  });
});

/** `url` with another user or port (the test database trusts local connections). */
function urlWith(change: { user?: string; port?: number }): string {
  const target = new URL(url);
  if (change.user !== undefined) {
    target.username = change.user;
    target.password = '';
  }
  if (change.port !== undefined) target.port = String(change.port);
  return target.toString();
}

/** A login role of this file, without any right beyond what PUBLIC has; dropped after the file. */
async function freshRole(): Promise<string> {
  const role = `wh_life_${randomBytes(5).toString('hex')}`;
  roles.push(role);
  await admin.query(`CREATE ROLE ${role} LOGIN`);
  return role;
}

describe('a database that is not ours, or that we may not change', () => {
  it('PostgreSQL: refuses a schema that holds a table of the same name with a coded error, and leaves it as it found it (no version table)', async () => {
    const schema = freshSchema();
    await admin.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".subscriptions (id integer PRIMARY KEY, plan text); INSERT INTO "${schema}".subscriptions VALUES (1, 'gold')`);
    const storage = createPostgresStorage({ connectionString: url, schema, poolSize: 2 });
    cleanups.push(() => storage.close());
    expect(await rejectionOf(storage.migrate())).toMatchObject({ name: 'StorageError', code: 'STORAGE_FAILED' });
    expect(await tablesOf(schema)).toEqual(['subscriptions']);
    // Again, from where the first left it: the same refusal, still nothing of ours.
    expect(await rejectionOf(storage.migrate())).toMatchObject({ code: 'STORAGE_FAILED' });
    expect(await tablesOf(schema)).toEqual(['subscriptions']);
    expect((await admin.query(`SELECT id, plan FROM "${schema}".subscriptions`)).rows).toEqual([{ id: 1, plan: 'gold' }]);
  });

  it("PostgreSQL: refuses a schema whose `migrations` table is another tool's with a coded error, changing nothing", async () => {
    const schema = freshSchema();
    // TypeORM's default table name and shape.
    await admin.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".migrations (id serial PRIMARY KEY, timestamp bigint NOT NULL, name varchar NOT NULL); INSERT INTO "${schema}".migrations (timestamp, name) VALUES (1700000000000, 'Init1700000000000')`);
    const storage = createPostgresStorage({ connectionString: url, schema, poolSize: 2 });
    cleanups.push(() => storage.close());
    expect(await rejectionOf(storage.migrate())).toMatchObject({ name: 'StorageError', code: 'STORAGE_FAILED' });
    expect(await rejectionOf(storage.getSubscription('sub_x'))).toMatchObject({ code: 'STORAGE_FAILED' });
    expect(await tablesOf(schema)).toEqual(['migrations']);
    expect((await admin.query(`SELECT name FROM "${schema}".migrations`)).rows).toEqual([{ name: 'Init1700000000000' }]);
  });

  it('SQLite: refuses a file that holds a table of the same name with a coded error, leaving the file as it was; beside unrelated tables it migrates', async () => {
    const file = freshFile();
    const host = new Database(file);
    host.exec("CREATE TABLE webhook_subscriptions (id INTEGER PRIMARY KEY, plan TEXT); INSERT INTO webhook_subscriptions VALUES (1, 'gold')");
    const before = host.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY name').all();
    host.close();
    const storage = createSqliteStorage({ filename: file });
    cleanups.push(() => storage.close());
    expect(await rejectionOf(storage.migrate())).toMatchObject({ name: 'StorageError', code: 'STORAGE_FAILED' });
    expect(storage.database.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY name').all()).toEqual(before);
    expect(storage.database.prepare('SELECT id, plan FROM webhook_subscriptions').all()).toEqual([{ id: 1, plan: 'gold' }]);
    // Under another prefix the same file takes our tables beside the host's.
    const beside = createSqliteStorage({ filename: file, tablePrefix: 'hooks_' });
    cleanups.push(() => beside.close());
    await beside.migrate();
    expect(await beside.getSubscription('sub_x')).toBeNull();
    expect(storage.database.prepare('SELECT id, plan FROM webhook_subscriptions').all()).toEqual([{ id: 1, plan: 'gold' }]);
  });

  it('SQLite: refuses a file that is no database with a coded error and leaves its bytes alone', () => {
    const file = freshFile();
    const bytes = Buffer.from('{"ledger":[1,2,3]}\n'.repeat(300));
    writeFileSync(file, bytes);
    expect(thrownBy(() => createSqliteStorage({ filename: file }))).toMatchObject({ name: 'StorageError', code: 'STORAGE_FAILED' });
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('PostgreSQL: refuses schema names with a quote, upper case, non-ASCII letters, a newline or a semicolon with CONFIG_INVALID, before any connection', () => {
    for (const schema of ['we"bhooks', '"webhooks"', 'Webhooks', 'wébhooks', 'webhooks\n', 'webhooks;drop', 'webhooks ', 'ｗebhooks']) {
      expect(thrownBy(() => createPostgresStorage({ connectionString: url, schema })), JSON.stringify(schema)).toMatchObject({
        name: 'ConfigError',
        code: 'CONFIG_INVALID',
        field: 'schema',
      });
      expect(thrownBy(() => getMigrationSql({ schema })), JSON.stringify(schema)).toMatchObject({ code: 'CONFIG_INVALID', field: 'schema' });
    }
  });

  it('PostgreSQL: a role without CREATE on the database migrates the schema its DBA made for it, and is refused, creating nothing, where there is none', async () => {
    const role = await freshRole();
    expect((await admin.query('SELECT has_database_privilege($1, current_database(), $2) AS can', [role, 'CREATE'])).rows).toEqual([{ can: false }]);
    const missing = freshSchema();
    const refused = createPostgresStorage({ connectionString: urlWith({ user: role }), schema: missing, poolSize: 2 });
    cleanups.push(() => refused.close());
    expect(await rejectionOf(refused.migrate())).toMatchObject({ name: 'StorageError', code: 'STORAGE_FAILED' });
    expect((await admin.query('SELECT to_regnamespace($1) AS found', [missing])).rows).toEqual([{ found: null }]);
    // The usual set-up: `CREATE SCHEMA webhooks AUTHORIZATION app`, and nothing more.
    const schema = freshSchema();
    await admin.query(`CREATE SCHEMA "${schema}" AUTHORIZATION ${role}`);
    const webhooks = createWebhooks({ storage: createPostgresStorage({ connectionString: urlWith({ user: role }), schema, poolSize: 2 }), meter: false });
    cleanups.push(() => webhooks.close());
    await webhooks.start();
    expect(await recordedSteps(schema)).toEqual(range(1, postgresMigrations.length));
    await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    expect(await webhooks.publish('payment.succeeded', samplePayment())).toMatchObject({ created: true, deliveryCount: 1 });
  });

  it('PostgreSQL: a role with only USAGE and row rights starts on a schema its DBA migrated, running no DDL; without them it is refused with a coded error', async () => {
    const role = await freshRole();
    const schema = freshSchema();
    const dba = createPostgresStorage({ connectionString: url, schema, poolSize: 1 });
    cleanups.push(() => dba.close());
    await dba.migrate();
    await admin.query(`GRANT USAGE ON SCHEMA "${schema}" TO ${role}`);
    const refused = createPostgresStorage({ connectionString: urlWith({ user: role }), schema, poolSize: 2 });
    cleanups.push(() => refused.close());
    expect(await rejectionOf(refused.migrate())).toMatchObject({ name: 'StorageError', code: 'STORAGE_FAILED' });
    expect(await rejectionOf(refused.getSubscription('sub_x'))).toMatchObject({ code: 'STORAGE_FAILED' });
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO ${role}`);
    const webhooks = createWebhooks({ storage: createPostgresStorage({ connectionString: urlWith({ user: role }), schema, poolSize: 2 }), meter: false });
    cleanups.push(() => webhooks.close());
    await webhooks.start();
    await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    expect(await webhooks.publish('payment.succeeded', samplePayment())).toMatchObject({ created: true, deliveryCount: 1 });
    expect(await recordedSteps(schema)).toEqual(range(1, postgresMigrations.length));
  });
});

/** A TCP forwarder on `port` to the test database, started when asked: before, the port refuses connections. */
function forwarderTo(port: number): { listen: () => Promise<void>; close: () => Promise<void> } {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  return {
    listen: () =>
      new Promise<void>((resolve) => {
        server = createServer((socket) => {
          const upstream = createConnection(Number(target.port || 5432), target.hostname);
          for (const end of [socket, upstream]) {
            sockets.add(end);
            end.on('error', () => undefined);
            end.on('close', () => sockets.delete(end));
          }
          socket.pipe(upstream).pipe(socket);
        });
        server.listen(port, '127.0.0.1', () => resolve());
      }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      if (server !== null) await new Promise<void>((resolve) => server!.close(() => resolve()));
    },
  };
}

describe('the lifecycle of an instance', () => {
  it('starts on a later start() once the database it could not reach at the first is up (the failed migration is not kept)', async () => {
    const port = await freePort();
    const forwarder = forwarderTo(port);
    cleanups.push(() => forwarder.close());
    const schema = freshSchema();
    const webhooks = createWebhooks({ storage: createPostgresStorage({ connectionString: urlWith({ port }), schema, poolSize: 2 }), meter: false });
    cleanups.push(() => webhooks.close());
    expect(await rejectionOf(webhooks.start())).toMatchObject({ name: 'StorageError', code: 'STORAGE_UNAVAILABLE', retryable: true });
    await forwarder.listen();
    await webhooks.start();
    expect(await recordedSteps(schema)).toEqual(range(1, postgresMigrations.length));
    await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    expect(await webhooks.publish('payment.succeeded', samplePayment())).toMatchObject({ deliveryCount: 1 });
  });

  it('starts on a later start() once the SQLite write lock that made the first fail with STORAGE_BUSY is released', async () => {
    const file = freshFile();
    const host = new Database(file);
    cleanups.push(async () => void host.close());
    host.pragma('journal_mode = WAL');
    host.exec('CREATE TABLE ledger (id INTEGER PRIMARY KEY)');
    host.exec('BEGIN IMMEDIATE');
    const webhooks = createWebhooks({ storage: createSqliteStorage({ filename: file, busyTimeoutMs: 0 }), meter: false });
    cleanups.push(() => webhooks.close());
    expect(await rejectionOf(webhooks.start())).toMatchObject({ code: 'STORAGE_BUSY', retryable: true });
    host.exec('COMMIT');
    await webhooks.start();
    expect(await webhooks.subscriptions.list()).toMatchObject({ items: [] });
  });

  for (const kind of ['sqlite', 'postgres'] as const) {
    it(`${kind}: stop() and close() before start, twice, at once and after close resolve; every later call answers a coded error; nothing rejects unhandled`, async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      cleanups.push(async () => void process.off('unhandledRejection', onUnhandled));
      const storage = kind === 'sqlite' ? createSqliteStorage({ filename: freshFile() }) : createPostgresStorage({ connectionString: url, schema: freshSchema(), poolSize: 2 });
      const webhooks: Webhooks = createWebhooks({ storage, meter: false });
      cleanups.push(() => webhooks.close());
      await webhooks.stop();
      await webhooks.stop();
      await Promise.all([webhooks.stop(), webhooks.close(), webhooks.close(), webhooks.stop()]);
      await webhooks.close();
      await webhooks.stop();
      expect(await rejectionOf(webhooks.start())).toMatchObject({ name: 'StateError', code: 'WEBHOOKS_STOPPED' });
      expect(await rejectionOf(webhooks.publish('payment.succeeded', samplePayment()))).toMatchObject({ code: 'WEBHOOKS_STOPPED' });
      for (const call of [
        () => webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] }),
        () => webhooks.subscriptions.list(),
        () => webhooks.deliveries.list(),
        () => webhooks.events.list(),
        () => webhooks.metrics(),
        () => webhooks.drain({ timeoutMs: 1000 }),
      ]) {
        expect(await rejectionOf(call())).toMatchObject({ name: 'StorageError', code: 'STORAGE_CLOSED' });
      }
      // A start racing a close: the close wins, the start says so, the storage is closed.
      const other = createWebhooks({
        storage: kind === 'sqlite' ? createSqliteStorage({ filename: freshFile() }) : createPostgresStorage({ connectionString: url, schema: freshSchema(), poolSize: 2 }),
        meter: false,
      });
      const [started, closed] = await Promise.allSettled([other.start(), other.close()]);
      expect(closed.status).toBe('fulfilled');
      expect(started).toMatchObject({ status: 'rejected', reason: { code: 'WEBHOOKS_STOPPED' } });
      expect(await rejectionOf(other.subscriptions.list())).toMatchObject({ code: 'STORAGE_CLOSED' });
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    });
  }
});

describe('two instances on one SQLite file in one process', () => {
  it('both dispatch and every event is delivered once; closing one leaves the other delivering', async () => {
    const receiver = await LoopbackReceiver.start();
    cleanups.push(() => receiver.close());
    const file = freshFile();
    const open = () =>
      createWebhooks({ storage: createSqliteStorage({ filename: file }), security: { allowPrivateNetworks: true }, pollIntervalMs: 20, meter: false, retention: false });
    const first = open();
    const second = open();
    cleanups.push(() => first.close(), () => second.close());
    await Promise.all([first.start(), second.start()]);
    await first.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    const published = [];
    for (let i = 0; i < 60; i++) published.push((await (i % 2 === 0 ? first : second).publish('payment.succeeded', samplePayment(i))).id);
    await receiver.waitFor(60);
    await Promise.all([first.drain({ timeoutMs: 10_000 }), second.drain({ timeoutMs: 10_000 })]);
    const ids = receiver.requests.map((request) => request.headers['webhook-id']);
    expect(ids).toHaveLength(60);
    expect(new Set(ids)).toEqual(new Set(published));
    await first.close();
    const last = await second.publish('payment.succeeded', samplePayment(60));
    await receiver.waitFor(61);
    expect(receiver.requests[60]!.headers['webhook-id']).toBe(last.id);
  });
});
