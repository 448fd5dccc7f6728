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
import { sql as migrationPhases } from './0014-migration-phases.js';
import { sql as deliveriesFillfactor } from './0015-deliveries-fillfactor.js';

/**
 * What a step does to code of older releases that still runs against the schema:
 * - `expand` adds (tables, nullable or defaulted columns, indexes, wider constraints,
 *   triggers that keep derived rows): every statement of the previous release still runs
 *   and means what it meant. `start()` applies these during a rolling deploy.
 * - `contract` removes or narrows what older code names (a column, a constraint an
 *   `ON CONFLICT` relies on, a table): applied only by an explicit
 *   `migrate({ phase: 'contract' })`, once no instance of an older release runs.
 * A step that does both is a contract step. An expand step never depends on an unapplied
 * contract step: the steps apply in order, and an expand run stops at the first contract one.
 */
export type MigrationPhase = 'expand' | 'contract';

/** One schema step of the PostgreSQL storage. */
export interface PostgresMigration {
  /** Consecutive from 1; recorded in `<schema>.migrations`. */
  readonly version: number;
  readonly name: string;
  readonly phase: MigrationPhase;
  /**
   * The statements, with `{{schema}}` where the quoted schema name goes: one string run in
   * the step's transaction; with `transaction: false`, a list run one by one, each on its
   * own (`CREATE INDEX CONCURRENTLY` refuses a transaction block), every one idempotent
   * (`IF NOT EXISTS`), because a crash between the statements and the record of the step
   * runs them again.
   */
  readonly sql: string | readonly string[];
  /** False for a step that cannot run in a transaction. @defaultValue true */
  readonly transaction?: boolean;
  /** `lock_timeout` of the step's statements. @defaultValue {@link defaultLockTimeoutMs} */
  readonly lockTimeoutMs?: number;
  /** `statement_timeout` of the step's statements; 0: none. @defaultValue 0 */
  readonly statementTimeoutMs?: number;
}

/**
 * What a release knows of its schema: its steps, and the oldest schema it runs on. Code runs
 * on a schema where every step up to `minSchema` is applied, whatever newer expand steps a
 * newer release applied on top; a newer contract step, which it cannot know, stops it.
 */
export interface MigrationSet {
  readonly steps: readonly PostgresMigration[];
  /** The version of the last step this code needs applied. Steps after it (contract ones) may still be pending. */
  readonly minSchema: number;
}

/**
 * How long a step's statement waits for a table lock before it gives up (and the step is
 * retried after a pause): an `ALTER TABLE` waiting behind a long transaction holds up every
 * publish and claim queued behind it, so it must not wait long.
 */
export const defaultLockTimeoutMs = 5_000;

/** The step from which the version table records each step's phase. */
export const phasesRecordedFrom = 14;

/**
 * Every migration this code knows, oldest first. 0003 is the one contract step: it dropped
 * `events_idempotency_key_key`, the constraint the publish statement of the code before it
 * named in `ON CONFLICT`. The others add: their columns are nullable or defaulted, their
 * constraints accept every row older code writes (0004 and 0011 swap a CHECK for a wider one).
 */
export const migrations: readonly PostgresMigration[] = Object.freeze([
  { version: 1, name: '0001-initial', phase: 'expand', sql: initial },
  { version: 2, name: '0002-attempt-history', phase: 'expand', sql: attemptHistory },
  { version: 3, name: '0003-tenants', phase: 'contract', sql: tenants },
  { version: 4, name: '0004-change-log-erasure', phase: 'expand', sql: changeLogErasure },
  { version: 5, name: '0005-tenantless-events', phase: 'expand', sql: tenantlessEvents },
  { version: 6, name: '0006-retention', phase: 'expand', sql: retention },
  { version: 7, name: '0007-delivery-counts', phase: 'expand', sql: deliveryCounts },
  { version: 8, name: '0008-test-attempts', phase: 'expand', sql: testAttempts },
  { version: 9, name: '0009-payload-filter', phase: 'expand', sql: payloadFilter },
  { version: 10, name: '0010-delivery-payloads', phase: 'expand', sql: deliveryPayloads },
  { version: 11, name: '0011-ordering', phase: 'expand', sql: ordering },
  { version: 12, name: '0012-event-versions', phase: 'expand', sql: eventVersions },
  { version: 13, name: '0013-client-tls', phase: 'expand', sql: clientTls },
  { version: 14, name: '0014-migration-phases', phase: 'expand', sql: migrationPhases },
  { version: 15, name: '0015-deliveries-fillfactor', phase: 'expand', sql: deliveriesFillfactor },
] satisfies PostgresMigration[]);

/** The schema version this code expects: the last migration's. */
export const latestSchemaVersion: number = migrations[migrations.length - 1]?.version ?? 0;

/** This release's steps and the oldest schema it runs on: all of them. */
export const migrationSet: MigrationSet = Object.freeze({ steps: migrations, minSchema: latestSchemaVersion });

/** A schema name as an SQL identifier: double-quoted (the name is validated, so it holds no quote). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The SQL of a transactional migration for a schema (already validated as an identifier); a non-transactional one's statements joined. */
export function renderMigration(migration: PostgresMigration, schema: string): string {
  return renderStatements(migration, schema).join(';\n');
}

/** The statements of a migration for a schema: one string for a transactional step, one per statement otherwise. */
export function renderStatements(migration: PostgresMigration, schema: string): string[] {
  const texts = typeof migration.sql === 'string' ? [migration.sql] : migration.sql;
  return texts.map((text) => text.replaceAll('{{schema}}', quoteIdentifier(schema)));
}

/**
 * The table that records applied migrations. Created with IF NOT EXISTS, outside
 * the numbered migrations, because reading it is how `migrate()` learns where it is.
 *
 * The schema is created only when it is missing: `CREATE SCHEMA IF NOT EXISTS` checks the
 * CREATE right on the database before it looks for the schema, so it would refuse a role
 * that owns a schema its DBA made for it (`CREATE SCHEMA webhooks AUTHORIZATION app`) but
 * may create nothing else in the database.
 */
export function migrationsTableSql(schema: string): string {
  const s = quoteIdentifier(schema);
  return (
    `DO $$ BEGIN IF to_regnamespace(${quoteLiteral(s)}) IS NULL THEN CREATE SCHEMA ${s}; END IF; END $$;\n` +
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
  return `SELECT pg_advisory_xact_lock(${migrationLockKey(schema)});\n`;
}

/**
 * The same key, as a session-level lock: held by `migrate()` across its steps, which commit
 * one by one (and around a step that runs outside a transaction). The two kinds share one
 * lock space, so a session holder and a transaction holder of the key exclude each other.
 */
export function migrationSessionLockSql(schema: string, unlock = false): string {
  return `SELECT ${unlock ? 'pg_advisory_unlock' : 'pg_advisory_lock'}(${migrationLockKey(schema)});\n`;
}

function migrationLockKey(schema: string): string {
  return `hashtextextended('@bookkeeper/webhooks:' || ${quoteLiteral(schema)}, 0)`;
}

/** A string as an SQL literal (for the validated schema name in hand-applied SQL). */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
