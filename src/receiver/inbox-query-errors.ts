/**
 * What a failed inbox statement means to the consumer: whatever its client threw (pg,
 * better-sqlite3, or the same wrapped by Kysely, Knex or Drizzle) becomes a coded
 * {@link StorageError}, with `retryable` set where running the consumer's transaction
 * again can succeed. The driver's error stays as `cause`.
 *
 * The receiver entry loads no driver and no storage adapter, so the codes are read here
 * from the error objects alone: PostgreSQL's SQLSTATE, SQLite's result code.
 */
import { isWebhookError, StorageError, type WebhookError } from '../errors.js';
import type { SqlInboxDialect } from './inbox-statements.js';

// Serialization failure, deadlock, lock not available: the transaction lost a race and may
// be run again. A REPEATABLE READ or SERIALIZABLE transaction meets 40001 when a copy of the
// same event committed after its snapshot was taken: run again, it sees a duplicate.
const postgresRaceStates = new Set(['40001', '40P01', '55P03']);
// A schema or table that does not exist.
const postgresMissingStates = new Set(['42P01', '3F000']);
// Shutting down, or out of connections (class 08 is matched by prefix).
const postgresConnectionStates = new Set(['57P01', '57P02', '57P03', '53300']);
const connectionErrnos = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// node-postgres reports a lost socket as a plain Error without a code.
const connectionMessages = /Connection terminated|Connection ended|connection error|not queryable|Client was closed/i;

/**
 * The driver's code of an error, looked for down its `cause` chain: Drizzle and some query
 * builders wrap the driver's error rather than pass it on.
 */
function driverCode(error: unknown): { code: string | undefined; message: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string') return { code, message: typeof message === 'string' ? message : '' };
    current = (current as { cause?: unknown }).cause;
  }
  return { code: undefined, message: error instanceof Error ? error.message : String(error) };
}

/**
 * Maps what an inbox statement threw to a coded error; our own coded errors pass through.
 *
 * @param operation - what was being done, for the message (`record webhook evt_…`).
 * @internal Exported for the unit tests.
 */
export function toInboxStorageError(error: unknown, dialect: SqlInboxDialect, operation: string): WebhookError {
  if (isWebhookError(error)) return error;
  const { code, message } = driverCode(error);
  const where = `webhook inbox (${dialect}): ${operation}`;
  if (dialect === 'postgres') {
    if (code !== undefined && postgresRaceStates.has(code)) {
      return new StorageError('STORAGE_BUSY', `${where} lost a race with another transaction (SQLSTATE ${code}); run the transaction again`, {
        cause: error,
        retryable: true,
      });
    }
    if (code !== undefined && postgresMissingStates.has(code)) {
      return new StorageError('STORAGE_NOT_MIGRATED', `${where}: the inbox table does not exist; run \`inbox.migrate()\` or apply \`inboxMigrationSql()\``, {
        cause: error,
      });
    }
    if (
      code !== undefined &&
      ((code.startsWith('08') && code !== '08P01') || postgresConnectionStates.has(code) || connectionErrnos.has(code))
    ) {
      return new StorageError('STORAGE_UNAVAILABLE', `${where}: the database is unreachable (${code})`, { cause: error, retryable: true });
    }
    if (code === undefined && connectionMessages.test(message)) {
      return new StorageError('STORAGE_UNAVAILABLE', `${where}: the connection was lost`, { cause: error, retryable: true });
    }
    if (code === '25P02') {
      return new StorageError('STORAGE_FAILED', `${where}: the transaction had already failed (SQLSTATE 25P02); roll it back`, { cause: error });
    }
    return new StorageError('STORAGE_FAILED', `${where} failed${code === undefined ? '' : ` (SQLSTATE ${code})`}`, { cause: error });
  }
  if (code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))) {
    return new StorageError('STORAGE_BUSY', `${where}: the database is locked by another connection (${code}); run the transaction again`, {
      cause: error,
      retryable: true,
    });
  }
  // SQLite reports a missing table as a generic SQLITE_ERROR: its message is all there is.
  if (/no such table/i.test(message)) {
    return new StorageError('STORAGE_NOT_MIGRATED', `${where}: the inbox table does not exist; run \`inbox.migrate()\` or apply \`inboxMigrationSql()\``, {
      cause: error,
    });
  }
  return new StorageError('STORAGE_FAILED', `${where} failed${code === undefined ? '' : ` (${code})`}`, { cause: error });
}
