import type { Logger } from '../../src/logger.js';

/** One call of a {@link Logger} method. */
export interface LoggedLine {
  fields: Record<string, unknown>;
  message: string;
}

/** A logger that keeps its warnings and errors, to assert what was logged. */
export function recordingLogger(): { logger: Logger; warnings: LoggedLine[]; errors: LoggedLine[] } {
  const warnings: LoggedLine[] = [];
  const errors: LoggedLine[] = [];
  const noop = () => undefined;
  const logger: Logger = {
    debug: noop,
    info: noop,
    warn: (fields, message) => warnings.push({ fields, message }),
    error: (fields, message) => errors.push({ fields, message }),
  };
  return { logger, warnings, errors };
}
