/**
 * `migrate()` of the PostgreSQL storage: brings a schema to the version this code knows,
 * with no DDL at all when it is current already.
 */
import { assertSchemaNotTooNew } from '../shared/schema-version.js';
import { latestSchemaVersion, migrationLockSql, migrations, migrationsTableSql, renderMigration } from './migrations/index.js';
import { retryBusyOrUnavailable, type StatementRunner } from './statement-runner.js';

/**
 * A database already current is recognized with one read and no DDL (so an application
 * role without CREATE rights can start against a schema its DBA migrated). Otherwise it
 * works in one transaction under `pg_advisory_xact_lock` on a key of the schema: two
 * instances migrating at once serialize, and the second finds nothing left to do.
 *
 * @param recordMigrationSql the statement recording an applied migration (version, name).
 * @throws StorageError `STORAGE_SCHEMA_TOO_NEW` when the database was migrated by newer code.
 */
export async function migrateSchema(runner: StatementRunner, schema: string, recordMigrationSql: string): Promise<void> {
  await runner.run(
    'migrate',
    async () => {
      const current = await runner.readSchemaVersion(runner.pool);
      if (current !== null) assertSchemaNotTooNew(runner.where, current, latestSchemaVersion);
      if (current === latestSchemaVersion) return;
      await runner.transaction(async (client) => {
        await client.query(migrationLockSql(schema));
        await client.query(migrationsTableSql(schema));
        const version = (await runner.readSchemaVersion(client)) ?? 0;
        assertSchemaNotTooNew(runner.where, version, latestSchemaVersion);
        for (const migration of migrations) {
          if (migration.version <= version) continue;
          await client.query(renderMigration(migration, schema));
          await runner.execute(client, recordMigrationSql, [migration.version, migration.name]);
        }
      });
    },
    { needsSchema: false, retry: retryBusyOrUnavailable },
  );
  runner.markCurrent();
}
