/**
 * The SQL of the receiver's inbox, for PostgreSQL and SQLite, built by pure functions:
 * the table name rule, the migration (`inboxMigrationSql`), the insert-if-absent of a
 * `webhook-id` and the retention delete.
 *
 * The inbox runs on the consumer's own client (pg, better-sqlite3, Kysely, Knex, …), not
 * on a driver of ours, so this SQL lives beside the receiver rather than under
 * `src/storage/`. Every statement is one statement (better-sqlite3 prepares one at a time);
 * PostgreSQL placeholders run `$1`, `$2`, … in order, each used once, so a client that
 * speaks `?` (Knex) can rewrite them in place.
 */
import { checkArgumentCount } from '../check-argument-count.js';
import { ConfigError, describeValue } from '../errors.js';

/** The SQL dialects the inbox speaks. */
export type SqlInboxDialect = 'postgres' | 'sqlite';

/** The default table of the inbox. */
export const DEFAULT_INBOX_TABLE = 'webhook_inbox';

/** Ids deleted per statement by a purge: short statements, so a purge never holds the table long. */
export const INBOX_PURGE_BATCH = 1000;

const dialects: readonly SqlInboxDialect[] = ['postgres', 'sqlite'];

// Lower case only: the name is always quoted (so a reserved word such as `order` works), and a
// quoted mixed-case name on PostgreSQL could then only be found again by quoting it too.
// 48 characters leave room for the index name within PostgreSQL's 63.
const identifierPart = /^[a-z_][a-z0-9_]{0,47}$/;

/** A validated table name, quoted for SQL, with the names derived from it. @internal */
export interface InboxTable {
  /** As given, e.g. `erp.webhook_inbox`. */
  readonly name: string;
  /** Quoted, schema included: `"erp"."webhook_inbox"`. */
  readonly quoted: string;
  /** The table alone, quoted: `"webhook_inbox"`. */
  readonly quotedTable: string;
  /** The schema (PostgreSQL) or attached database (SQLite), quoted, if the name has one. */
  readonly quotedSchema: string | undefined;
  /** The retention index, quoted, unqualified: `"webhook_inbox_processed_at_idx"`. */
  readonly quotedIndex: string;
}

/**
 * Validates the dialect.
 *
 * @throws ConfigError `CONFIG_INVALID` unless `'postgres'` or `'sqlite'`.
 * @internal
 */
export function resolveInboxDialect(dialect: unknown): SqlInboxDialect {
  if (!dialects.includes(dialect as SqlInboxDialect)) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`dialect\` to be 'postgres' or 'sqlite', got ${describeValue(dialect)}`, { field: 'dialect' });
  }
  return dialect as SqlInboxDialect;
}

/**
 * Validates the table name: one or two parts (`table`, or `schema.table` — on SQLite the
 * schema is an attached database), each a lower-case identifier of at most 48 characters.
 * Anything else (quotes, spaces, semicolons, a third part) is refused, so a name read from
 * configuration cannot smuggle SQL into the statements that embed it.
 *
 * @throws ConfigError `CONFIG_INVALID` (field `table`).
 * @internal
 */
export function resolveInboxTable(table: unknown, dialect: SqlInboxDialect): InboxTable {
  const name = table === undefined ? DEFAULT_INBOX_TABLE : table;
  const parts = typeof name === 'string' ? name.split('.') : [];
  if (typeof name !== 'string' || parts.length > 2 || !parts.every((part) => identifierPart.test(part))) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `Expected \`table\` to be a table name such as "webhook_inbox" or "erp.webhook_inbox" (lower-case letters, digits and _, not starting with a digit, at most 48 characters a part), got ${describeValue(table)}`,
      { field: 'table' },
    );
  }
  const tableName = parts.at(-1)!;
  if (dialect === 'sqlite' && tableName.startsWith('sqlite_')) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`table\` not to begin with "sqlite_", which SQLite reserves for itself, got ${describeValue(table)}`, {
      field: 'table',
    });
  }
  const quotedSchema = parts.length === 2 ? `"${parts[0]}"` : undefined;
  const quotedTable = `"${tableName}"`;
  return {
    name,
    quoted: quotedSchema === undefined ? quotedTable : `${quotedSchema}.${quotedTable}`,
    quotedTable,
    quotedSchema,
    quotedIndex: `"${tableName}_processed_at_idx"`,
  };
}

/** The statements that create the table and its retention index, each safe to run again. @internal */
export function inboxMigrationStatements(dialect: SqlInboxDialect, table: InboxTable): string[] {
  if (dialect === 'postgres') {
    return [
      `CREATE TABLE IF NOT EXISTS ${table.quoted} (\n` +
        '  id text PRIMARY KEY,\n' +
        '  event_type text,\n' +
        '  processed_at timestamptz NOT NULL\n' +
        ')',
      // PostgreSQL puts an index in its table's schema: its name takes no schema.
      `CREATE INDEX IF NOT EXISTS ${table.quotedIndex} ON ${table.quoted} (processed_at)`,
    ];
  }
  return [
    // NOT NULL spelt out: a SQLite TEXT PRIMARY KEY would otherwise take NULLs.
    `CREATE TABLE IF NOT EXISTS ${table.quoted} (\n` +
      '  id TEXT PRIMARY KEY NOT NULL,\n' +
      '  event_type TEXT,\n' +
      '  processed_at INTEGER NOT NULL\n' +
      ')',
    // SQLite names the attached database on the index, and never on the table it indexes.
    `CREATE INDEX IF NOT EXISTS ${table.quotedSchema === undefined ? '' : `${table.quotedSchema}.`}${table.quotedIndex} ON ${table.quotedTable} (processed_at)`,
  ];
}

/**
 * The one statement `inbox.migrate()` runs. On PostgreSQL the statements go in a `DO` block
 * under a transaction-scoped advisory lock keyed by the table: two instances starting at
 * once would otherwise race their `CREATE TABLE IF NOT EXISTS` into a duplicate-key error
 * on the catalog, and one statement needs no connection of its own (a pool will do).
 * SQLite serializes writers itself: its statements run one by one.
 *
 * @internal
 */
export function inboxMigrateStatements(dialect: SqlInboxDialect, table: InboxTable): string[] {
  const statements = inboxMigrationStatements(dialect, table);
  if (dialect === 'sqlite') return statements;
  return [
    'DO $inbox$\nBEGIN\n' +
      `  PERFORM pg_advisory_xact_lock(hashtext('@bookkeeper/webhooks inbox'), hashtext('${table.name}'));\n` +
      statements.map((statement) => `  ${statement.replaceAll('\n', '\n  ')};\n`).join('') +
      'END\n$inbox$',
  ];
}

/**
 * Inserts the id unless it is there, returning it only when this statement inserted it.
 * `ON CONFLICT (id) DO NOTHING` on both dialects, rather than SQLite's `INSERT OR IGNORE`,
 * which would also swallow a NOT NULL failure and pass it off as a duplicate.
 * Values: id, event type (or null), processed at ({@link inboxTimeValue}).
 *
 * @internal
 */
export function insertInboxIdSql(dialect: SqlInboxDialect, table: InboxTable): string {
  const values = dialect === 'postgres' ? '$1, $2, $3' : '?, ?, ?';
  return `INSERT INTO ${table.quoted} (id, event_type, processed_at) VALUES (${values}) ON CONFLICT (id) DO NOTHING RETURNING id`;
}

/**
 * Deletes up to {@link INBOX_PURGE_BATCH} ids recorded before a time, returning them.
 * Value: the time ({@link inboxTimeValue}).
 *
 * @internal
 */
export function purgeInboxSql(dialect: SqlInboxDialect, table: InboxTable): string {
  const before = dialect === 'postgres' ? '$1' : '?';
  return (
    `DELETE FROM ${table.quoted} WHERE id IN ` +
    `(SELECT id FROM ${table.quoted} WHERE processed_at < ${before} ORDER BY processed_at LIMIT ${INBOX_PURGE_BATCH}) RETURNING id`
  );
}

/**
 * A time as the dialect's column holds it: ISO 8601 for a PostgreSQL `timestamptz` (every
 * client passes a string through), epoch milliseconds for a SQLite `INTEGER`.
 *
 * @internal
 */
export function inboxTimeValue(dialect: SqlInboxDialect, epochMs: number): string | number {
  return dialect === 'postgres' ? new Date(epochMs).toISOString() : epochMs;
}

/** Options of {@link inboxMigrationSql}. */
export interface InboxMigrationSqlOptions {
  /** The database the SQL is for. */
  dialect: SqlInboxDialect;
  /**
   * The table, as given to `createSqlInbox`.
   * @defaultValue 'webhook_inbox'
   */
  table?: string;
}

/**
 * The SQL that creates the inbox's table and its retention index, for a migration tool of
 * your own (Flyway, Prisma, Knex, drizzle-kit, …) instead of `inbox.migrate()`. Every
 * statement ends with `;` and is safe to run again (`IF NOT EXISTS`).
 *
 * @example
 * ```ts
 * writeFileSync('migrations/0042_webhook_inbox.sql', inboxMigrationSql({ dialect: 'postgres' }));
 * ```
 * @throws ConfigError `CONFIG_INVALID` for an unknown dialect or key, or a table name that is
 *   not a plain (optionally schema-qualified) lower-case identifier.
 */
export function inboxMigrationSql(options: InboxMigrationSqlOptions): string {
  checkArgumentCount(arguments.length, 1, 'inboxMigrationSql(options)', 'factory');
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('CONFIG_INVALID', `Expected options { dialect, table? }, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'dialect' && key !== 'table') {
      throw new ConfigError('CONFIG_INVALID', `Unknown option \`${key}\`; expected one of: dialect, table`, { field: key });
    }
  }
  const dialect = resolveInboxDialect(options.dialect);
  const table = resolveInboxTable(options.table, dialect);
  return inboxMigrationStatements(dialect, table)
    .map((statement) => `${statement};\n`)
    .join('');
}
