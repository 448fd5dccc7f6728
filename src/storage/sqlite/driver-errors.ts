/**
 * What better-sqlite3 throws, mapped to the storage's coded errors: no raw driver error
 * escapes the adapter.
 */
import { isWebhookError, StorageError, type WebhookError } from '../../errors.js';

/**
 * Maps anything a driver call threw to a coded error. Our own coded errors pass through
 * unchanged.
 *
 * @param operation what was being done, for the message.
 * @param databaseOpen whether the connection is still open (a closed one is `STORAGE_CLOSED`).
 */
export function toStorageError(error: unknown, operation: string, databaseOpen: boolean): WebhookError {
  if (isWebhookError(error)) return error;
  // better-sqlite3 throws a TypeError ("The database connection is not open") on a closed handle.
  if (!databaseOpen) {
    return new StorageError('STORAGE_CLOSED', `SQLite storage: the database is closed (${operation})`, { cause: error });
  }
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string') {
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      return new StorageError('STORAGE_BUSY', `SQLite storage: the database is locked by another connection (${operation}, ${code})`, {
        cause: error,
        retryable: true,
      });
    }
    if (code.startsWith('SQLITE_CONSTRAINT')) {
      return new StorageError('STORAGE_CONFLICT', `SQLite storage: a constraint failed (${operation}, ${code})`, { cause: error });
    }
  }
  return new StorageError('STORAGE_FAILED', `SQLite storage: ${operation} failed${typeof code === 'string' ? ` (${code})` : ''}`, {
    cause: error,
  });
}
