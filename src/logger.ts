/**
 * The logger seam: pino's signature (`logger.warn({ ...fields }, 'message')`), so a
 * pino, bunyan or console-backed adapter plugs in. Silent by default: a library
 * does not write to the host's stdout. Secrets are never passed to it.
 */

type LogMethod = (fields: Record<string, unknown>, message: string) => void;

export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

const noop: LogMethod = () => undefined;

/** The default logger: says nothing. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/**
 * `logger` as the library calls it: a method that throws, or returns a promise that rejects,
 * is passed over. A log line is how the library reports a failure it handles (a settle the
 * storage refused, a crashed worker thread); a host logger that fails there (a closed
 * destination, a serializer that throws on a field) must not turn that handled failure into
 * an unhandled rejection that ends the process, or a dispatch into a crash. Nothing is left
 * to tell of the logger's own failure. The host's methods are called on the host's object,
 * so a logger that reads `this` (pino) works as given.
 */
export function guardedLogger(logger: Logger): Logger {
  // The silent logger as given, or as a schema's default copied it: nothing to guard.
  if (logger.debug === noop && logger.info === noop && logger.warn === noop && logger.error === noop) return silentLogger;
  const guard =
    (level: keyof Logger): LogMethod =>
    (fields, message) => {
      try {
        const result: unknown = logger[level](fields, message);
        if (typeof result === 'object' && result !== null && typeof (result as PromiseLike<unknown>).then === 'function') {
          (result as PromiseLike<unknown>).then(undefined, () => undefined);
        }
      } catch {
        // The logger failed: there is no other channel to report it on.
      }
    };
  return Object.freeze({ debug: guard('debug'), info: guard('info'), warn: guard('warn'), error: guard('error') });
}
