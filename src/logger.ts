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
