/**
 * `createSqlInbox`: exactly-once processing on the receiving side, in the consumer's own
 * transaction.
 *
 * A dedupe store beside the consumer's database leaves two gaps: a crash after the
 * consumer's commit and before the id is marked processed books the event again once the
 * claim's lease lapses, and a redelivery after the dedupe window is booked again. The
 * inbox closes both by writing the `webhook-id` into a table of the consumer's database,
 * on the consumer's transaction, before the handler's writes: the id and the writes commit
 * together or roll back together, so "processed" and "booked" can never disagree.
 *
 * The id goes in first, by an insert-if-absent. A copy of the event that arrives while
 * the first is still uncommitted waits on its row (PostgreSQL's unique index, SQLite's
 * single writer) and then finds it: a duplicate. Had the first rolled back, the second
 * inserts and processes.
 */
import { checkArgumentCount } from '../check-argument-count.js';
import { ConfigError, ValidationError, closestName, describeValue } from '../errors.js';
import { isStorableText } from '../storable-text.js';
import { toInboxStorageError } from './inbox-query-errors.js';
import {
  INBOX_PURGE_BATCH,
  inboxMigrateStatements,
  inboxTimeValue,
  insertInboxIdSql,
  purgeInboxSql,
  resolveInboxDialect,
  resolveInboxTable,
  type SqlInboxDialect,
} from './inbox-statements.js';

/**
 * What a query function returns: the rows (better-sqlite3, Knex on SQLite), or an object
 * holding them (`{ rows }`: pg, Kysely, Knex on PostgreSQL).
 */
export type SqlQueryResult = readonly unknown[] | { readonly rows: readonly unknown[] };

/**
 * Runs one statement with positional values (`$1, $2, …` on PostgreSQL, `?` on SQLite) and
 * returns its rows, or a promise of them. Every statement the inbox sends is one statement;
 * those it reads rows from end with `RETURNING`.
 */
export type SqlQuery = (text: string, values: unknown[]) => SqlQueryResult | PromiseLike<SqlQueryResult>;

/** A database client: a {@link SqlQuery} function, or an object with such a `query` method (a pg client or pool). */
export type SqlClient = SqlQuery | { query(text: string, values: unknown[]): SqlQueryResult | PromiseLike<SqlQueryResult> };

/** What the inbox needs of an event: its `webhook-id`, and its type when it has one. */
export interface InboxEvent {
  /** The `webhook-id` (the same on every retry and redelivery). */
  readonly id: string;
  /** Recorded beside the id, for whoever reads the table. */
  readonly type?: string;
}

/**
 * What {@link SqlInbox.handle} did:
 * - `processed`: the id was new; the handler ran and `result` is what it returned. Both
 *   are in your transaction: they count once you commit it.
 * - `duplicate`: the id was recorded by a committed transaction; the handler did not run.
 */
export type InboxReceipt<TResult> = { outcome: 'processed'; result: TResult } | { outcome: 'duplicate' };

/** Options of {@link createSqlInbox}. */
export interface SqlInboxOptions {
  /**
   * Where `migrate()` and `purge()` run, outside any transaction of yours: a query function,
   * or a pg pool or client. Events are recorded on the transaction you pass to `handle`.
   */
  query: SqlClient;
  /** The database: `'postgres'` or `'sqlite'`. */
  dialect: SqlInboxDialect;
  /**
   * The table of received ids: a lower-case identifier, optionally schema-qualified
   * (`erp.webhook_inbox`; on SQLite, an attached database). Always quoted in the SQL.
   * @defaultValue 'webhook_inbox'
   */
  table?: string;
  /**
   * The source of time (epoch milliseconds) for `processed_at`, for tests.
   * @defaultValue the wall clock
   */
  clock?: { now(): number };
}

/** Options of {@link SqlInbox.purge}. */
export interface InboxPurgeOptions {
  /** Ids recorded before this moment are deleted. */
  olderThan: Date;
}

/** An inbox of received webhook ids in the consumer's database, made by {@link createSqlInbox}. */
export interface SqlInbox {
  /** The dialect given. */
  readonly dialect: SqlInboxDialect;
  /** The table, as given (or the default). */
  readonly table: string;
  /**
   * Creates the table and its retention index if they are not there (safe to run on every
   * start, from several instances at once). To run the SQL with your own migration tool
   * instead, take it from `inboxMigrationSql({ dialect, table })`.
   *
   * @throws StorageError with the driver's error as `cause`.
   */
  migrate(): Promise<void>;
  /**
   * Records `event.id` on `tx`, your open transaction, and runs `handler(tx)` unless the id
   * was already recorded. Run your writes in `handler` on the same `tx`, and commit after:
   * the id and the writes commit together, or roll back together (a handler that throws,
   * a crash before the commit), and the event can be processed again.
   *
   * Commit and rollback are yours; so is running the transaction again after a
   * `retryable` error. A copy of the event arriving while this one is uncommitted waits
   * on its row, then is a `duplicate` (or, had this one rolled back, is processed).
   *
   * @param event - the verified event (`{ id, type? }`).
   * @param tx - the client of your open transaction (a pg `PoolClient` inside `BEGIN`), or
   *   a query function bound to it (Kysely, Knex, Drizzle, better-sqlite3). Never a pool:
   *   its queries would run outside your transaction.
   * @param handler - your processing, given `tx` back; its result is the receipt's `result`.
   * @returns `{ outcome: 'processed', result }` or `{ outcome: 'duplicate' }`.
   * @throws ValidationError `INPUT_INVALID` for a bad event, `tx` or handler (a pg pool as `tx` included);
   *   ConfigError `CONFIG_INVALID` when `tx` returns something other than the rows;
   *   StorageError when recording fails (`STORAGE_NOT_MIGRATED`; `STORAGE_BUSY`, `retryable`,
   *   when the transaction lost a race: roll back and run it again); whatever `handler` throws.
   */
  handle<TTx extends SqlClient, TResult>(event: InboxEvent, tx: TTx, handler: (tx: TTx) => TResult | PromiseLike<TResult>): Promise<InboxReceipt<TResult>>;
  /**
   * {@link SqlInbox.handle} for a synchronous client (better-sqlite3) inside a synchronous
   * transaction (`db.transaction(fn)`, which cannot await): the query and the handler must
   * both return without a promise.
   *
   * @throws ConfigError `TX_UNSUPPORTED` when the query or the handler returns a promise (throw
   *   inside `db.transaction` rolls it back); otherwise as {@link SqlInbox.handle}.
   */
  handleSync<TTx extends SqlClient, TResult>(event: InboxEvent, tx: TTx, handler: (tx: TTx) => TResult): InboxReceipt<TResult>;
  /**
   * Deletes the ids recorded before `olderThan`, in batches of 1000, and returns how many.
   * A redelivery of a purged id is processed again: keep more than the sender's retry
   * schedule (3 days by default) and the window in which its operator may redeliver.
   *
   * @throws ValidationError `INPUT_INVALID` unless `{ olderThan: Date }`; StorageError.
   */
  purge(options: InboxPurgeOptions): Promise<number>;
}

const optionKeys = ['query', 'dialect', 'table', 'clock'];

/**
 * Creates an inbox over your database client. See {@link SqlInbox.handle}.
 *
 * @example
 * ```ts
 * const inbox = createSqlInbox({ dialect: 'postgres', query: pool });
 * await inbox.migrate();
 *
 * // in onEvent:
 * const client = await pool.connect();
 * try {
 *   await client.query('BEGIN');
 *   await inbox.handle(event, client, (tx) => tx.query('INSERT INTO ledger (payment_id) VALUES ($1)', [event.data.paymentId]));
 *   await client.query('COMMIT');
 * } catch (error) {
 *   await client.query('ROLLBACK');
 *   throw error;
 * } finally {
 *   client.release();
 * }
 * ```
 * @throws ConfigError `CONFIG_INVALID` for a missing or bad option, an unknown key, or a
 *   table name that is not a plain (optionally schema-qualified) lower-case identifier.
 */
export function createSqlInbox(options: SqlInboxOptions): SqlInbox {
  checkArgumentCount(arguments.length, 1, 'createSqlInbox(options)', 'factory');
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('CONFIG_INVALID', `Expected options { query, dialect, table?, clock? }, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!optionKeys.includes(key)) {
      const guess = closestName(key, optionKeys);
      throw new ConfigError(
        'CONFIG_INVALID',
        `Unknown option \`${key}\`${guess === undefined ? '' : ` (did you mean \`${guess}\`?)`}; expected one of: ${optionKeys.join(', ')}`,
        { field: key },
      );
    }
  }
  const dialect = resolveInboxDialect(options.dialect);
  const table = resolveInboxTable(options.table, dialect);
  const query = clientQuery(options.query, (got) => new ConfigError('CONFIG_INVALID', `Expected \`query\` to be a query function (text, values) => rows, or a pg pool or client, got ${got}`, { field: 'query' }));
  const clock = options.clock ?? { now: () => Date.now() };
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
    throw new ConfigError('CONFIG_INVALID', `Expected \`clock\` to be { now(): number }, got ${describeValue(clock)}`, { field: 'clock' });
  }
  const insertSql = insertInboxIdSql(dialect, table);
  const purgeSql = purgeInboxSql(dialect, table);

  function insertValues(event: InboxEvent): unknown[] {
    if (typeof event !== 'object' || event === null) {
      throw new ValidationError('INPUT_INVALID', `Expected \`event\` to be a verified event { id, type }, got ${describeValue(event)}`, { field: 'event' });
    }
    const { id, type } = event;
    // PostgreSQL text refuses U+0000: better a coded refusal here than a driver error mid-transaction.
    // And no driver can write a lone surrogate: pg and better-sqlite3 put U+FFFD in its place, so
    // two ids differing in one were one row (the second event dropped as a duplicate).
    if (typeof id !== 'string' || id.length === 0 || !isStorableText(id)) {
      throw new ValidationError('INPUT_INVALID', `Expected \`event.id\` to be the webhook-id, a non-empty string of well-formed Unicode without U+0000, got ${describeValue(id)}`, {
        field: 'event.id',
      });
    }
    if (type !== undefined && (typeof type !== 'string' || !isStorableText(type))) {
      throw new ValidationError('INPUT_INVALID', `Expected \`event.type\` to be a string of well-formed Unicode without U+0000, or absent, got ${describeValue(type)}`, { field: 'event.type' });
    }
    return [id, type ?? null, inboxTimeValue(dialect, clock.now())];
  }

  function transactionQuery(tx: unknown): SqlQuery {
    if (isPool(tx)) {
      throw new ValidationError(
        'INPUT_INVALID',
        'Expected `tx` to be the client of your open transaction, got a pg Pool: each pool query may run on another connection, outside your transaction, so the id would commit even when your writes roll back. Pass the PoolClient you ran BEGIN on',
        { field: 'tx' },
      );
    }
    return clientQuery(
      tx,
      (got) =>
        new ValidationError('INPUT_INVALID', `Expected \`tx\` to be your open transaction: its client (with query(text, values)) or a query function, got ${got}`, {
          field: 'tx',
        }),
    );
  }

  function requireHandler(handler: unknown): void {
    if (typeof handler !== 'function') {
      throw new ValidationError('INPUT_INVALID', `Expected \`handler\` to be a function, got ${describeValue(handler)}`, { field: 'handler' });
    }
  }

  function recordedNow(result: unknown, id: string): boolean {
    const rows = rowsOf(result, 'tx');
    if (rows.length === 0) return false;
    if (rows.length === 1 && (rows[0] as { id?: unknown } | null)?.id === id) return true;
    // Read as "inserted", a wrong answer would process copies; read as "duplicate", it would drop events.
    throw new ConfigError(
      'CONFIG_INVALID',
      `Expected the inbox's INSERT … RETURNING id to give no row or the row { id: ${JSON.stringify(id)} }, got ${rows.length} row(s): does \`tx\` return the rows of the statement it ran?`,
      { field: 'tx' },
    );
  }

  return {
    dialect,
    table: table.name,
    async migrate() {
      checkArgumentCount(arguments.length, 0, 'inbox.migrate()', 'call');
      for (const statement of inboxMigrateStatements(dialect, table)) {
        try {
          await query(statement, []);
        } catch (error) {
          throw toInboxStorageError(error, dialect, `migrate ${table.name}`);
        }
      }
    },
    async handle(event, tx, handler) {
      checkArgumentCount(arguments.length, 3, 'inbox.handle(event, tx, handler)', 'call');
      const values = insertValues(event);
      const run = transactionQuery(tx);
      requireHandler(handler);
      let result: unknown;
      try {
        result = await run(insertSql, values);
      } catch (error) {
        throw toInboxStorageError(error, dialect, `record webhook ${event.id}`);
      }
      if (!recordedNow(result, event.id)) return { outcome: 'duplicate' };
      return { outcome: 'processed', result: await handler(tx) };
    },
    handleSync(event, tx, handler) {
      checkArgumentCount(arguments.length, 3, 'inbox.handleSync(event, tx, handler)', 'call');
      const values = insertValues(event);
      const run = transactionQuery(tx);
      requireHandler(handler);
      let result: unknown;
      try {
        result = run(insertSql, values);
      } catch (error) {
        throw toInboxStorageError(error, dialect, `record webhook ${event.id}`);
      }
      if (isThenable(result)) {
        ignoreRejection(result);
        throw new ConfigError('TX_UNSUPPORTED', 'inbox.handleSync needs a synchronous client such as better-sqlite3, and `tx` answered with a promise: use `await inbox.handle(…)`', {
          field: 'tx',
        });
      }
      if (!recordedNow(result, event.id)) return { outcome: 'duplicate' };
      const value = handler(tx);
      if (isThenable(value)) {
        ignoreRejection(value);
        // Thrown inside db.transaction(fn), this rolls the id back with the writes made so far.
        throw new ConfigError(
          'TX_UNSUPPORTED',
          'inbox.handleSync needs a synchronous handler, and this one returned a promise: what it writes after an await would land outside the transaction. Use `await inbox.handle(…)`',
          { field: 'handler' },
        );
      }
      return { outcome: 'processed', result: value };
    },
    async purge(purgeOptions) {
      checkArgumentCount(arguments.length, 1, 'inbox.purge({ olderThan })', 'call');
      const olderThan = (purgeOptions as { olderThan?: unknown } | null | undefined)?.olderThan;
      if (typeof purgeOptions !== 'object' || purgeOptions === null || !(olderThan instanceof Date) || Number.isNaN(olderThan.getTime())) {
        throw new ValidationError('INPUT_INVALID', `Expected \`{ olderThan: Date }\`, got ${describeValue(olderThan ?? purgeOptions)}`, { field: 'olderThan' });
      }
      for (const key of Object.keys(purgeOptions)) {
        if (key !== 'olderThan') throw new ValidationError('INPUT_INVALID', `Unknown option \`${key}\`; expected: olderThan`, { field: key });
      }
      const before = inboxTimeValue(dialect, olderThan.getTime());
      let deleted = 0;
      for (;;) {
        let result: unknown;
        try {
          result = await query(purgeSql, [before]);
        } catch (error) {
          throw toInboxStorageError(error, dialect, `purge ${table.name}`);
        }
        const count = rowsOf(result, 'query').length;
        deleted += count;
        if (count < INBOX_PURGE_BATCH) return deleted;
      }
    },
  };
}

/** A client as a query function; `refuse` makes the error for anything else. */
function clientQuery(client: unknown, refuse: (got: string) => Error): SqlQuery {
  if (typeof client === 'function') return client as SqlQuery;
  if (typeof client === 'object' && client !== null && typeof (client as { query?: unknown }).query === 'function') {
    const target = client as { query: SqlQuery };
    return (text, values) => target.query(text, values);
  }
  throw refuse(describeValue(client));
}

/** A pg `Pool` (by the counters only a pool has), never right as a transaction. */
function isPool(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { connect?: unknown; totalCount?: unknown; idleCount?: unknown };
  return typeof candidate.connect === 'function' && typeof candidate.totalCount === 'number' && typeof candidate.idleCount === 'number';
}

function rowsOf(result: unknown, field: 'tx' | 'query'): readonly unknown[] {
  if (Array.isArray(result)) return result;
  const rows = typeof result === 'object' && result !== null ? (result as { rows?: unknown }).rows : undefined;
  if (Array.isArray(rows)) return rows;
  throw new ConfigError('CONFIG_INVALID', `Expected \`${field}\` to return the statement's rows, or { rows }, got ${describeValue(result)}`, { field });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function ignoreRejection(value: PromiseLike<unknown>): void {
  // The error that matters is the one thrown here; an unhandled rejection would crash the process.
  Promise.resolve(value).catch(() => undefined);
}
