/**
 * What a node-postgres failure means to the caller: every error a driver call throws is
 * mapped to a coded {@link StorageError} (no raw pg error escapes), with `retryable` set
 * where trying again can succeed.
 */
import { isWebhookError, StorageError, type WebhookError } from '../../errors.js';

/** SQLSTATEs of a lost or refused connection (class 08, and the server shutting down or full). */
const connectionSqlStates = new Set(['57P01', '57P02', '57P03', '53300']);
const connectionErrnos = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
// node-postgres raises these as plain Errors without a code (a socket closed under a
// query, a pool that could not connect in time, a client reused after its connection
// failed), so the message is all there is to recognize them by.
const connectionMessages = /Connection terminated|Connection ended|connection error|not queryable|timeout exceeded when trying to connect|Client was closed/i;

/** SQLSTATEs of a schema or table that does not exist: the webhook tables were never created (or were dropped). */
export function isMissingTable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '42P01' || code === '3F000';
}

/**
 * Maps anything a driver call threw to a coded error; our own coded errors pass through
 * unchanged. Internal; exported for the unit tests.
 */
export function toStorageError(error: unknown, operation: string): WebhookError {
  if (isWebhookError(error)) return error;
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const where = `PostgreSQL storage: ${operation}`;
  if (typeof code === 'string') {
    if (code === '40001' || code === '40P01' || code === '55P03') {
      return new StorageError('STORAGE_BUSY', `${where} lost a race with another transaction (SQLSTATE ${code}); try again`, {
        cause: error,
        retryable: true,
      });
    }
    if (code === '23505') {
      return new StorageError('STORAGE_CONFLICT', `${where}: a row with the same key exists (SQLSTATE 23505)`, { cause: error });
    }
    if (code === '23503') {
      // A row it refers to was deleted meanwhile (a subscription deleted during a publish): the
      // statement rolled back whole, and running it again sees the deletion.
      return new StorageError('STORAGE_CONFLICT', `${where}: a referenced row was deleted meanwhile (SQLSTATE 23503)`, {
        cause: error,
        retryable: true,
      });
    }
    if (code === '42P05' || code === '26000') {
      // A named statement prepared on another server connection than the one the query got:
      // a pooler in transaction mode that does not carry prepared statements.
      return new StorageError(
        'STORAGE_FAILED',
        `${where}: a prepared statement ${code === '42P05' ? 'exists already' : 'is missing'} on this connection (SQLSTATE ${code}); behind a pooler in transaction mode (PgBouncer before 1.21, or without max_prepared_statements) set \`preparedStatements: false\``,
        { cause: error },
      );
    }
    if (isMissingTable(error)) {
      return new StorageError('STORAGE_NOT_MIGRATED', `${where}: the webhook tables do not exist; call \`storage.migrate()\` first`, {
        cause: error,
      });
    }
    // 08P01 (protocol violation) is in the connection class but is a client bug: retrying cannot help.
    if ((code.startsWith('08') && code !== '08P01') || connectionSqlStates.has(code) || connectionErrnos.has(code)) {
      return new StorageError('STORAGE_UNAVAILABLE', `${where}: the database is unreachable (${code})`, { cause: error, retryable: true });
    }
  }
  if (/Cannot use a pool after calling end/i.test(message)) {
    return new StorageError('STORAGE_CLOSED', `${where}: the pool has been ended`, { cause: error });
  }
  if (connectionMessages.test(message)) {
    return new StorageError('STORAGE_UNAVAILABLE', `${where}: the connection was lost`, { cause: error, retryable: true });
  }
  return new StorageError('STORAGE_FAILED', `${where} failed${typeof code === 'string' ? ` (SQLSTATE ${code})` : ''}`, { cause: error });
}

/** Whether the connection under a failed call is gone (its client must be destroyed, not returned to the pool). */
export function isConnectionLoss(error: unknown): boolean {
  return toStorageError(error, '').code === 'STORAGE_UNAVAILABLE';
}
