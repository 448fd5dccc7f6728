/**
 * The PostgreSQL storage tests' harness (test/storage/postgres/ and the PostgreSQL properties
 * in test/property/): the test database (see postgres.ts) and an admin pool for the whole
 * file, a schema of its own per storage, dropped after the file, clean-ups after each test,
 * and a schema at an older version, as a released version of the package left it.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createPostgresStorage, type PostgresStorage } from '../../src/storage/postgres/index.js';
import { migrationLockSql, migrations, migrationsTableSql, phasesRecordedFrom, quoteLiteral, renderMigration } from '../../src/storage/postgres/migrations/index.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from './postgres.js';

/** The test database's URL, set before the file's first test by {@link usePostgresDatabase}. */
export let url: string;
/** A pool of the test process for inspecting what the adapter wrote, open for the whole file. */
export let admin: pg.Pool;
const schemas: string[] = [];
/** What to close after the current test, run last first; a failing clean-up is ignored. */
export const cleanups: Array<() => Promise<unknown>> = [];

/** Registers the calling test file's hooks: the database before all, clean-ups after each test, dropped schemas after all. */
export function usePostgresDatabase(): void {
  beforeAll(() => {
    url = testDatabaseUrl();
    admin = new pg.Pool({ connectionString: url, max: 4 });
    admin.on('error', () => undefined);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  afterAll(async () => {
    for (const schema of schemas) await dropSchema(url, schema);
    await admin.end();
  });
}

/** A fresh schema name for this file, dropped after the file. */
export function schemaName(): string {
  const schema = randomSchemaName('unit');
  schemas.push(schema);
  return schema;
}

/** A storage on the test database, in a fresh schema unless given one, closed after the test. */
export function storageOn(options: { schema?: string; connectionString?: string; poolSize?: number } = {}): PostgresStorage {
  const storage = createPostgresStorage({
    connectionString: options.connectionString ?? url,
    schema: options.schema ?? schemaName(),
    poolSize: options.poolSize ?? 3,
  });
  cleanups.push(() => storage.close());
  return storage;
}

/** {@link storageOn}, migrated. */
export async function migrated(options: Parameters<typeof storageOn>[0] = {}): Promise<PostgresStorage> {
  const storage = storageOn(options);
  await storage.migrate();
  return storage;
}

/**
 * A fresh schema at `version`: the released migrations up to it applied as `migrate()`
 * applies them (one transaction, the advisory lock, each one recorded), none after it.
 */
export async function schemaAtVersion(version: number): Promise<string> {
  const schema = schemaName();
  const applied = migrations.filter((migration) => migration.version <= version);
  const script = [
    'BEGIN;',
    migrationLockSql(schema),
    migrationsTableSql(schema),
    ...applied.map(
      (migration) =>
        `${renderMigration(migration, schema)};\nINSERT INTO "${schema}".migrations (version, name${migration.version >= phasesRecordedFrom ? ', phase' : ''}) VALUES (${migration.version}, ${quoteLiteral(migration.name)}${migration.version >= phasesRecordedFrom ? `, ${quoteLiteral(migration.phase)}` : ''});`,
    ),
    'COMMIT;',
  ].join('\n');
  await admin.query(script);
  return schema;
}
