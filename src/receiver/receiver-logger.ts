/**
 * The receiver's logger: where the errors nobody else sees go. A failure answered
 * 500 carries only a generic code to the sender, and the sender retries it for days;
 * without a log line the consumer's own bug would go unnoticed.
 */
import { ConfigError, describeValue } from '../errors.js';

/**
 * What the receiver logs to: pino's signature (`error(fields, message)`), so the
 * host's pino or bunyan logger plugs in, as with the main entry's `logger`.
 */
export interface ReceiverLogger {
  /** Called with `{ err, webhookId?, eventType? }` and a sentence saying what failed and what was answered. */
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * The default receiver logger: `console.error(message, fields)`. Unlike the sender,
 * which is silent by default, the receiver speaks up: a handler error it swallowed
 * would be retried by the sender for days without a trace.
 */
export const consoleReceiverLogger: ReceiverLogger = Object.freeze({
  error(fields: Record<string, unknown>, message: string): void {
    // eslint-disable-next-line no-console -- the receiver's documented default logger
    console.error(message, fields);
  },
});

/**
 * Validates the `logger` option.
 *
 * @internal Shared by every adapter.
 * @returns the logger, the console one by default, or `undefined` for `false`.
 * @throws ConfigError `CONFIG_INVALID` unless `false` or an object with an `error` function.
 */
export function resolveReceiverLogger(logger: ReceiverLogger | false | undefined): ReceiverLogger | undefined {
  if (logger === undefined) return consoleReceiverLogger;
  if (logger === false) return undefined;
  if (typeof logger !== 'object' || logger === null || typeof logger.error !== 'function') {
    throw new ConfigError('CONFIG_INVALID', `Expected \`logger\` to be an object with an \`error(fields, message)\` method, or false, got ${describeValue(logger)}`, {
      field: 'logger',
    });
  }
  return logger;
}
