/**
 * Running one synchronous unit of work on the database, retrying it in place while
 * SQLite answers SQLITE_BUSY without having waited (a checkpoint or WAL recovery in
 * another connection): the busy timeout covers waiting for another writer, these
 * retries the rest.
 *
 * The first attempt runs outside p-retry, which is entered only on a retryable failure:
 * its set-up on every call costs more than some of the statements it wraps (figure in
 * bench/README.md).
 */
import pRetry from 'p-retry';

const busyRetry = { retries: 3, factor: 2, minTimeout: 10, maxTimeout: 100, randomize: true } as const;

/**
 * @param run the unit of work; throws a coded error.
 * @param retryable whether a failure of `run` may be retried.
 */
export function retryWhileBusy<T>(run: () => T, retryable: (error: unknown) => boolean): Promise<T> {
  let first: unknown;
  try {
    return Promise.resolve(run());
  } catch (error) {
    if (!retryable(error)) return Promise.reject(error);
    first = error;
  }
  // p-retry counts the failure above as its first attempt and backs off from there, so
  // the attempts and delays are the ones `busyRetry` describes.
  return pRetry(
    (attempt) => {
      if (attempt === 1) throw first;
      return run();
    },
    { ...busyRetry, shouldRetry: ({ error }) => retryable(error) },
  );
}
