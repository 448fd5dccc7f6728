/**
 * The schema-version rule of the durable adapters: code runs only against the schema
 * version it was written for; `migrate()` upgrades an older one; a newer one (migrated by
 * newer code) is refused rather than misread.
 */
import { StorageError } from '../../errors.js';

/** One schema step of a durable storage: its version (1, 2, …), a name for the record, and its SQL. */
export interface Migration {
  /** Consecutive from 1; recorded in the storage's migrations table. */
  readonly version: number;
  readonly name: string;
  /** The statements, with the adapter's placeholder where its schema or table prefix goes. */
  readonly sql: string;
}

/**
 * @param where how the adapter names the database in messages, e.g. `SQLite storage` or
 *   `PostgreSQL storage: schema "webhooks"`.
 * @throws StorageError `STORAGE_SCHEMA_TOO_NEW` when `version` is above `latest`.
 */
export function assertSchemaNotTooNew(where: string, version: number, latest: number): void {
  if (version > latest) {
    throw new StorageError(
      'STORAGE_SCHEMA_TOO_NEW',
      `${where} is at schema version ${version}, this code knows up to ${latest}; upgrade @bookkeeper/webhooks`,
    );
  }
}

/**
 * Before the first operation on a database.
 *
 * @param migrateHint what to call to create the tables, e.g. "`storage.migrate()`".
 * @throws StorageError `STORAGE_NOT_MIGRATED` (no tables: version 0 or none), `STORAGE_SCHEMA_TOO_NEW`,
 *   `STORAGE_SCHEMA_TOO_OLD`.
 */
export function assertSchemaCurrent(where: string, version: number | null, latest: number, migrateHint: string): void {
  if (version === null || version === 0) {
    throw new StorageError('STORAGE_NOT_MIGRATED', `${where} has no webhook tables yet; call ${migrateHint} first`);
  }
  assertSchemaNotTooNew(where, version, latest);
  if (version < latest) {
    throw new StorageError(
      'STORAGE_SCHEMA_TOO_OLD',
      `${where} is at schema version ${version}, this code needs ${latest}; call \`storage.migrate()\``,
    );
  }
}
