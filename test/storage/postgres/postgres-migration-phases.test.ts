/**
 * Zero-downtime upgrades on PostgreSQL: migration steps in expand and contract phases, one
 * transaction per step, lock timeouts retried, steps outside a transaction, the advisory lock,
 * dry runs, the hand-applied script through psql, and a rolling upgrade and rollback between
 * two simulated releases (the released steps plus fixture steps of their own), publishing and
 * dispatching throughout. On a real PostgreSQL, in schemas of this file's own.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createWebhooks, type Webhooks } from '../../../src/create-webhooks.js';
import { getMigrationSql, PostgresStorage } from '../../../src/storage/postgres/index.js';
import { migrationScript } from '../../../src/storage/postgres/migration-script.js';
import { migrations, migrationSessionLockSql, type MigrationSet, type PostgresMigration } from '../../../src/storage/postgres/migrations/index.js';
import { LoopbackReceiver } from '../../support/loopback-receiver.js';
import { admin, cleanups, schemaName, url, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { rejectionOf, thrownBy } from '../../support/rejections.js';
import { samplePayment } from '../../support/sample-payment.js';

usePostgresDatabase();

const run = promisify(execFile);

/** A storage of a simulated release: its own pool, the given steps and compatibility declaration. */
function releaseStorage(schema: string, set: MigrationSet, sleep?: (ms: number) => Promise<void>): PostgresStorage {
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  pool.on('error', () => undefined);
  const storage = new PostgresStorage({
    pool,
    ownsPool: true,
    schema,
    notifyChannel: 'bookkeeper_webhooks',
    createListenClient: () => new pg.Client({ connectionString: url }),
    migrationSet: set,
    ...(sleep === undefined ? {} : { migrationSleep: sleep }),
  });
  cleanups.push(() => storage.close());
  return storage;
}

function step(version: number, name: string, phase: 'expand' | 'contract', sql: string | string[], extra: Partial<PostgresMigration> = {}): PostgresMigration {
  return { version, name: `${String(version).padStart(4, '0')}-${name}`, phase, sql, ...extra };
}

/** The released steps plus `extra`; the code needs everything up to `minSchema`. */
function release(extra: PostgresMigration[], minSchema: number): MigrationSet {
  return { steps: [...migrations, ...extra], minSchema };
}

const released = migrations.length;

async function appliedVersions(schema: string): Promise<Array<{ version: number; phase: string }>> {
  const { rows } = await admin.query<{ version: number; phase: string }>(`SELECT version, phase FROM "${schema}".migrations ORDER BY version`);
  return rows;
}

async function columnExists(schema: string, table: string, column: string): Promise<boolean> {
  const { rows } = await admin.query(
    'SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3',
    [schema, table, column],
  );
  return rows.length === 1;
}

/** Polls `condition` every 20 ms for at most `timeoutMs`. */
async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('migration steps', () => {
  it('applies each step in a transaction of its own: a failing second step leaves the first applied and recorded', async () => {
    const schema = schemaName();
    const set = release(
      [step(released + 1, 'add-note', 'expand', 'ALTER TABLE {{schema}}.deliveries ADD COLUMN note text;'), step(released + 2, 'broken', 'expand', 'ALTER TABLE {{schema}}.no_such_table ADD COLUMN x text;')],
      released + 2,
    );
    const storage = releaseStorage(schema, set);
    expect(await rejectionOf(storage.migrate())).toMatchObject({ name: 'StorageError' });
    expect((await appliedVersions(schema)).map((row) => row.version)).toEqual([...migrations.map((m) => m.version), released + 1]);
    expect(await columnExists(schema, 'deliveries', 'note')).toBe(true);
    expect((await appliedVersions(schema)).at(-1)).toEqual({ version: released + 1, phase: 'expand' });
  });

  it('gives up a step after its lock timeout, retries it after the injected pauses, then fails with STORAGE_MIGRATION_LOCKED naming it', async () => {
    const schema = schemaName();
    const base = releaseStorage(schema, release([], released));
    await base.migrate();
    const set = release([step(released + 1, 'add-note', 'expand', 'ALTER TABLE {{schema}}.deliveries ADD COLUMN note text;', { lockTimeoutMs: 100 })], released + 1);
    const holder = await admin.connect();
    try {
      // A long transaction that read the deliveries: its ACCESS SHARE lock blocks the ALTER.
      await holder.query('BEGIN');
      await holder.query(`SELECT count(*) FROM "${schema}".deliveries`);
      const pauses: number[] = [];
      const storage = releaseStorage(schema, set, async (ms) => void pauses.push(ms));
      const error = await rejectionOf(storage.migrate());
      expect(error).toMatchObject({ name: 'StorageError', code: 'STORAGE_MIGRATION_LOCKED', retryable: true });
      expect((error as Error).message).toContain(set.steps.at(-1)!.name);
      expect(pauses).toEqual([1_000, 2_000, 4_000]);
      expect(await columnExists(schema, 'deliveries', 'note')).toBe(false);
      expect(await appliedVersions(schema)).toHaveLength(released);

      // The holder commits during the first pause: the second try goes through.
      const next = releaseStorage(schema, set, async (ms) => {
        pauses.push(ms);
        await holder.query('COMMIT');
      });
      pauses.length = 0;
      expect((await next.migrate()).steps.map((s) => s.version)).toEqual([released + 1]);
      expect(pauses).toEqual([1_000]);
      expect(await columnExists(schema, 'deliveries', 'note')).toBe(true);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
    }
  });

  it('runs a transaction: false step outside a transaction (CREATE INDEX CONCURRENTLY), records it after, and reruns it harmlessly when the record was lost', async () => {
    const schema = schemaName();
    const concurrently = step(
      released + 1,
      'note-index',
      'expand',
      ['CREATE INDEX CONCURRENTLY IF NOT EXISTS deliveries_event_created ON {{schema}}.deliveries (event_id, created_at)'],
      { transaction: false },
    );
    const set = release([concurrently], released + 1);
    const storage = releaseStorage(schema, set);
    const plan = await storage.migrate();
    expect(plan.steps.at(-1)).toEqual({ version: released + 1, name: concurrently.name, phase: 'expand', transaction: false });
    const valid = async () =>
      (
        await admin.query(
          `SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relname = 'deliveries_event_created'`,
          [schema],
        )
      ).rows;
    expect(await valid()).toEqual([{ indisvalid: true }]);
    expect((await appliedVersions(schema)).at(-1)).toEqual({ version: released + 1, phase: 'expand' });

    // A crash between the index and its record: the next migrate() runs the step again.
    await admin.query(`DELETE FROM "${schema}".migrations WHERE version = ${released + 1}`);
    const again = releaseStorage(schema, set);
    expect((await again.migrate()).steps.map((s) => s.version)).toEqual([released + 1]);
    expect(await valid()).toEqual([{ indisvalid: true }]);
    expect(await appliedVersions(schema)).toHaveLength(released + 1);
  });

  it('serializes migrators on the advisory lock: one waits while another holds it, then applies', async () => {
    const schema = schemaName();
    const holder = await admin.connect();
    try {
      await holder.query(migrationSessionLockSql(schema));
      const storage = releaseStorage(schema, release([], released));
      let settled = false;
      const migrating = storage.migrate().finally(() => {
        settled = true;
      });
      // The migrator is waiting for the advisory lock, and has created nothing.
      await eventually(async () => {
        const { rows } = await admin.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`);
        return rows.length > 0;
      });
      expect(settled).toBe(false);
      expect((await admin.query('SELECT to_regclass($1) AS t', [`"${schema}".deliveries`])).rows).toEqual([{ t: null }]);
      await holder.query(migrationSessionLockSql(schema, true));
      expect((await migrating).steps).toHaveLength(released);
    } finally {
      holder.release();
    }
    // Two at once with a step outside a transaction: each step is applied and recorded once.
    const set = release(
      [step(released + 1, 'idx', 'expand', ['CREATE INDEX CONCURRENTLY IF NOT EXISTS deliveries_event_created ON {{schema}}.deliveries (event_id, created_at)'], { transaction: false })],
      released + 1,
    );
    const plans = await Promise.all([releaseStorage(schema, set).migrate(), releaseStorage(schema, set).migrate()]);
    expect(plans.map((plan) => plan.steps.length).sort()).toEqual([0, 1]);
    expect(await appliedVersions(schema)).toHaveLength(released + 1);
  });

  it('applies nothing on a dry run, and answers the steps it would apply and those it leaves pending', async () => {
    const schema = schemaName();
    const set = release(
      [step(released + 1, 'add-note', 'expand', 'ALTER TABLE {{schema}}.deliveries ADD COLUMN note text;'), step(released + 2, 'drop-note', 'contract', 'ALTER TABLE {{schema}}.deliveries DROP COLUMN note;')],
      released + 1,
    );
    const storage = releaseStorage(schema, set);
    const fresh = await storage.migrate({ dryRun: true });
    expect(fresh).toMatchObject({ phase: 'expand', dryRun: true, pending: [] });
    expect(fresh.steps).toHaveLength(released + 2);
    expect((await admin.query('SELECT to_regnamespace($1) AS n', [schema])).rows).toEqual([{ n: null }]);

    await releaseStorage(schema, release([], released)).migrate();
    const expand = await storage.migrate({ dryRun: true });
    expect(expand.steps.map((s) => s.name)).toEqual([set.steps[released]!.name]);
    expect(expand.pending.map((s) => s.name)).toEqual([set.steps[released + 1]!.name]);
    const contract = await storage.migrate({ phase: 'contract', dryRun: true });
    expect(contract.steps.map((s) => s.version)).toEqual([released + 1, released + 2]);
    expect(await appliedVersions(schema)).toHaveLength(released);
    expect(await columnExists(schema, 'deliveries', 'note')).toBe(false);
  });

  it('refuses wrong migrate() and getMigrationSql() options with CONFIG_INVALID', async () => {
    const storage = releaseStorage(schemaName(), release([], released));
    for (const options of [{ phase: 'all' }, { dryRun: 'yes' }, { force: true }]) {
      expect(await rejectionOf(storage.migrate(options as never))).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
    }
    expect(thrownBy(() => getMigrationSql({ phase: 'cleanup' as never }))).toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

describe('getMigrationSql', () => {
  it('emits a block per step with its lock timeout and record, and stops an expand script before a contract step', () => {
    const script = getMigrationSql({ schema: 'hooks' });
    expect(script.match(/^BEGIN;$/gm)).toHaveLength(released);
    expect(script.match(/^COMMIT;$/gm)).toHaveLength(released);
    expect(script.match(/^SET LOCAL lock_timeout = '5000ms';$/gm)).toHaveLength(released);
    expect(script).toContain(`INSERT INTO "hooks".migrations (version, name, phase) VALUES (14, '0014-migration-phases', 'expand');`);
    // From version 2, 0003 is a contract step: the expand script holds nothing, the contract one everything after 2.
    expect(getMigrationSql({ schema: 'hooks', fromVersion: 2 })).not.toContain('BEGIN;');
    expect(getMigrationSql({ schema: 'hooks', fromVersion: 2, phase: 'contract' }).match(/^BEGIN;$/gm)).toHaveLength(released - 2);
  });

  it('applied by psql, builds the same schema as migrate(), including a step outside a transaction', async () => {
    const set = release(
      [
        step(released + 1, 'add-note', 'expand', 'ALTER TABLE {{schema}}.deliveries ADD COLUMN note text;', { lockTimeoutMs: 2_000, statementTimeoutMs: 60_000 }),
        step(released + 2, 'note-index', 'expand', ['CREATE INDEX CONCURRENTLY IF NOT EXISTS deliveries_note ON {{schema}}.deliveries (note)'], { transaction: false }),
        step(released + 3, 'drop-payload-filter', 'contract', 'ALTER TABLE {{schema}}.subscriptions DROP COLUMN payload_filter;'),
      ],
      released + 2,
    );
    const viaPsql = schemaName();
    const viaMigrate = schemaName();
    const directory = await mkdtemp(join(tmpdir(), 'bookkeeper-webhooks-sql-'));
    try {
      const file = join(directory, 'webhooks.sql');
      await writeFile(file, migrationScript(viaPsql, set, 0, 'contract'));
      await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', file]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
    await releaseStorage(viaMigrate, set).migrate({ phase: 'contract' });

    const describeSchema = async (schema: string) => {
      const columns = await admin.query(
        `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
         WHERE table_schema = $1 ORDER BY table_name, column_name`,
        [schema],
      );
      // Definitions name the schema: each is compared with it replaced by S.
      const indexes = await admin.query(`SELECT indexname, replace(indexdef, $1, 'S') AS def FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname`, [schema]);
      const constraints = await admin.query(
        `SELECT c.conname, replace(pg_get_constraintdef(c.oid), $1, 'S') AS def, c.convalidated FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = $1 ORDER BY c.conname`,
        [schema],
      );
      const triggers = await admin.query(`SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND NOT t.tgisinternal ORDER BY tgname`, [schema]);
      const recorded = await admin.query(`SELECT version, name, phase FROM "${schema}".migrations ORDER BY version`);
      return { columns: columns.rows, indexes: indexes.rows, constraints: constraints.rows, triggers: triggers.rows, recorded: recorded.rows };
    };
    const a = await describeSchema(viaPsql);
    const b = await describeSchema(viaMigrate);
    expect(a.recorded).toHaveLength(released + 3);
    expect(a.indexes.some((row) => row.indexname === 'deliveries_note')).toBe(true);
    expect(a).toEqual(b);
  });
});

describe('a rolling upgrade and a rollback between two releases', () => {
  // Release N: the released steps and one of its own (a column only it reads, say). Release
  // N+1: N's steps, an expand step (a column), one outside a transaction (an index built
  // concurrently), and a contract step removing N's column.
  const legacy = step(released + 1, 'legacy-flag', 'expand', 'ALTER TABLE {{schema}}.deliveries ADD COLUMN legacy_flag boolean;');
  const releaseN = release([legacy], released + 1);
  const releaseN1 = release(
    [
      legacy,
      step(released + 2, 'region', 'expand', 'ALTER TABLE {{schema}}.deliveries ADD COLUMN region text;'),
      step(released + 3, 'region-index', 'expand', ['CREATE INDEX CONCURRENTLY IF NOT EXISTS deliveries_region ON {{schema}}.deliveries (region) WHERE region IS NOT NULL'], {
        transaction: false,
      }),
      step(released + 4, 'drop-legacy-flag', 'contract', 'ALTER TABLE {{schema}}.deliveries DROP COLUMN legacy_flag;'),
    ],
    released + 3,
  );

  it('keeps release N running while N+1 expands and runs, after a rollback, until the contract step; nothing published is lost', async () => {
    const schema = schemaName();
    const receiver = await LoopbackReceiver.start();
    cleanups.push(() => receiver.close());
    const instance = async (set: MigrationSet): Promise<Webhooks> => {
      const webhooks = createWebhooks({ storage: releaseStorage(schema, set), security: { allowPrivateNetworks: true } });
      cleanups.push(() => webhooks.close());
      await webhooks.start();
      return webhooks;
    };
    const published: string[] = [];
    let n = 0;
    const publishFrom = async (webhooks: Webhooks, count: number) => {
      for (let i = 0; i < count; i++) published.push((await webhooks.publish('payment.succeeded', samplePayment(++n))).id);
    };

    // Release N alone, on a fresh schema.
    const n1 = await instance(releaseN);
    await n1.subscriptions.create({ url: `${receiver.url}/hooks`, eventTypes: ['payment.*'] });
    await publishFrom(n1, 5);

    // N+1's expand steps, applied by its first instance's start() while N publishes and dispatches.
    const next = releaseStorage(schema, releaseN1);
    const plan = await next.migrate({ dryRun: true });
    expect(plan.steps.map((s) => s.version)).toEqual([released + 2, released + 3]);
    expect(plan.pending.map((s) => s.version)).toEqual([released + 4]);
    const publishing = publishFrom(n1, 10);
    const m1 = await instance(releaseN1);
    await publishing;
    expect((await appliedVersions(schema)).slice(released)).toEqual([
      { version: released + 1, phase: 'expand' },
      { version: released + 2, phase: 'expand' },
      { version: released + 3, phase: 'expand' },
    ]);
    // Both releases publish and dispatch; an instance of N restarted now starts.
    const n2 = await instance(releaseN);
    await Promise.all([publishFrom(n1, 5), publishFrom(m1, 5), publishFrom(n2, 5)]);

    // Rollback: N+1 stops; N carries on, and a fresh N instance starts on the expanded schema.
    await m1.close();
    const n3 = await instance(releaseN);
    await Promise.all([publishFrom(n1, 5), publishFrom(n3, 5)]);

    // N+1 again; once every N instance is stopped, the contract step.
    const m2 = await instance(releaseN1);
    await publishFrom(m2, 5);
    await Promise.all([n1.close(), n2.close(), n3.close()]);
    const contract = await releaseStorage(schema, releaseN1).migrate({ phase: 'contract' });
    expect(contract.steps.map((s) => s.version)).toEqual([released + 4]);
    expect(await columnExists(schema, 'deliveries', 'legacy_flag')).toBe(false);
    await publishFrom(m2, 5);

    // Now release N is refused: a contract step it cannot know was applied.
    const late = createWebhooks({ storage: releaseStorage(schema, releaseN), security: { allowPrivateNetworks: true } });
    cleanups.push(() => late.close());
    expect(await rejectionOf(late.start())).toMatchObject({ name: 'StorageError', code: 'STORAGE_SCHEMA_TOO_NEW' });

    await m2.drain({ timeoutMs: 20_000 });
    const received = new Set(receiver.requests.map((request) => String(request.headers['webhook-id'])));
    expect(published).toHaveLength(50);
    expect([...received].sort()).toEqual([...new Set(published)].sort());
    const statuses = await admin.query(`SELECT status, count(*)::int AS n FROM "${schema}".deliveries GROUP BY status`);
    expect(statuses.rows).toEqual([{ status: 'delivered', n: 50 }]);
  });
});
