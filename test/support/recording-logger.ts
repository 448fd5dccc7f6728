import type { Logger } from '../../src/logger.js';

/** One call of a {@link Logger} method. */
export interface LoggedLine {
  fields: Record<string, unknown>;
  message: string;
}

/** A logger that keeps its warnings and errors, and every line of every level in `lines`, to assert what was logged. */
export function recordingLogger(): { logger: Logger; warnings: LoggedLine[]; errors: LoggedLine[]; lines: Array<LoggedLine & { level: keyof Logger }> } {
  const warnings: LoggedLine[] = [];
  const errors: LoggedLine[] = [];
  const lines: Array<LoggedLine & { level: keyof Logger }> = [];
  const record = (level: keyof Logger, kept?: LoggedLine[]) => (fields: Record<string, unknown>, message: string) => {
    lines.push({ level, fields, message });
    kept?.push({ fields, message });
  };
  const logger: Logger = {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn', warnings),
    error: record('error', errors),
  };
  return { logger, warnings, errors, lines };
}
