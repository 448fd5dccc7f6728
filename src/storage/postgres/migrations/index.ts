/**
 * The migrations of the PostgreSQL storage, in order. Append-only: add a new module
 * with the next number; never edit or reorder a released one. The SQL is compiled
 * into the build as strings, so nothing is read from disk at run time.
 */
import { sql as initial } from './0001-initial.js';
import { sql as attemptHistory } from './0002-attempt-history.js';
import { sql as tenants } from './0003-tenants.js';
import { sql as changeLogErasure } from './0004-change-log-erasure.js';
import { sql as tenantlessEvents } from './0005-tenantless-events.js';
import { sql as retention } from './0006-retention.js';
import { sql as deliveryCounts } from './0007-delivery-counts.js';
import { sql as testAttempts } from './0008-test-attempts.js';
import { sql as payloadFilter } from './0009-payload-filter.js';
import { sql as deliveryPayloads } from './0010-delivery-payloads.js';
import { sql as ordering } from './0011-ordering.js';
import { sql as eventVersions } from './0012-event-versions.js';
import { sql as clientTls } from './0013-client-tls.js';
import type { Migration } from '../../shared/schema-version.js';

/** Every migration this code knows, oldest first. */
export const migrations: readonly Migration[] = Object.freeze([
  { version: 1, name: '0001-initial', sql: initial },
  { version: 2, name: '0002-attempt-history', sql: attemptHistory },
  { version: 3, name: '0003-tenants', sql: tenants },
  { version: 4, name: '0004-change-log-erasure', sql: changeLogErasure },
  { version: 5, name: '0005-tenantless-events', sql: tenantlessEvents },
  { version: 6, name: '0006-retention', sql: retention },
  { version: 7, name: '0007-delivery-counts', sql: deliveryCounts },
  { version: 8, name: '0008-test-attempts', sql: testAttempts },
  { version: 9, name: '0009-payload-filter', sql: payloadFilter },
  { version: 10, name: '0010-delivery-payloads', sql: deliveryPayloads },
  { version: 11, name: '0011-ordering', sql: ordering },
  { version: 12, name: '0012-event-versions', sql: eventVersions },
  { version: 13, name: '0013-client-tls', sql: clientTls },
]);

/** The schema version this code expects: the last migration's. */
export const latestSchemaVersion: number = migrations[migrations.length - 1]?.version ?? 0;

/** A schema name as an SQL identifier: double-quoted (the name is validated, so it holds no quote). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The SQL of a migration for a schema (already validated as an identifier). */
export function renderMigration(migration: Migration, schema: string): string {
  return migration.sql.replaceAll('{{schema}}', quoteIdentifier(schema));
}

/**
 * The table that records applied migrations. Created with IF NOT EXISTS, outside
 * the numbered migrations, because reading it is how `migrate()` learns where it is.
 */
export function migrationsTableSql(schema: string): string {
  const s = quoteIdentifier(schema);
  return (
    `CREATE SCHEMA IF NOT EXISTS ${s};\n` +
    `CREATE TABLE IF NOT EXISTS ${s}.migrations (\n` +
    `  version    integer     NOT NULL PRIMARY KEY,\n` +
    `  name       text        NOT NULL,\n` +
    `  applied_at timestamptz NOT NULL DEFAULT now()\n` +
    `);\n`
  );
}

/**
 * The key of the transaction-level advisory lock that serializes migrations of one
 * schema: `hashtextextended` of a text unique to the library and the schema, so two
 * schemas in one database migrate independently and no other advisory-lock user of
 * the host is likely to collide with it.
 */
export function migrationLockSql(schema: string): string {
  return `SELECT pg_advisory_xact_lock(hashtextextended('@bookkeeper/webhooks:' || ${quoteLiteral(schema)}, 0));\n`;
}

/** A string as an SQL literal (for the validated schema name in hand-applied SQL). */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
