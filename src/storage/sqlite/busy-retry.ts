/**
 * Running one synchronous unit of work on the database, retrying it in place while
 * SQLite answers SQLITE_BUSY without having waited (a checkpoint or WAL recovery in
 * another connection): the busy timeout covers waiting for another writer, these
 * retries the rest.
 */
import pRetry from 'p-retry';

const busyRetry = { retries: 3, factor: 2, minTimeout: 10, maxTimeout: 100, randomize: true } as const;

/**
 * @param run the unit of work; throws a coded error.
 * @param retryable whether a failure of `run` may be retried.
 */
export function retryWhileBusy<T>(run: () => T, retryable: (error: unknown) => boolean): Promise<T> {
  return pRetry(run, { ...busyRetry, shouldRetry: ({ error }) => retryable(error) });
}
