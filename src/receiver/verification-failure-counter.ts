/**
 * Counting refused webhooks by error code (DESIGN §7, "signature verification
 * failure count"): an `onVerificationFailure` hook and an OpenTelemetry counter.
 *
 * `@opentelemetry/api` is never imported here. A consumer who has it passes a
 * `Meter` (`metrics.getMeter('erp')`), which {@link ReceiverMeter} describes
 * structurally: the receiver entry stays free of the package, runs without it
 * installed, and bundles for edge runtimes. A dynamic `import('@opentelemetry/api')`
 * was the alternative; bundlers resolve it at build time (and fail where it is
 * absent), and a hidden lookup of the global provider would be surprising.
 */
import { describeValue, ConfigError, isWebhookError, type SignatureVerificationError, type SignatureVerificationErrorCode } from '../errors.js';

/** The name of the counter of refused webhooks; its one attribute is `code`. */
export const SIGNATURE_VERIFICATION_FAILURES_METRIC = 'webhooks.signature_verification_failures';

/** The part of an OpenTelemetry `Counter` the receiver uses. */
export interface ReceiverCounter {
  add(value: number, attributes?: Record<string, string>): void;
}

/**
 * The part of an OpenTelemetry `Meter` (from `@opentelemetry/api` 1.x) the receiver
 * uses: pass `metrics.getMeter('your-app')`. It is a no-op until an SDK is registered.
 */
export interface ReceiverMeter {
  createCounter(name: string, options?: { description?: string; unit?: string }): ReceiverCounter;
}

/**
 * Called once per request refused by verification, with the error's code
 * (`WEBHOOK_NO_MATCHING_SIGNATURE`, `WEBHOOK_TIMESTAMP_TOO_OLD`, …). Its own errors are ignored.
 */
export type VerificationFailureHook = (code: SignatureVerificationErrorCode, error: SignatureVerificationError) => void;

/** The options every receiver adapter takes for counting failures. */
export interface VerificationFailureOptions {
  /** Called with the code of every verification failure, e.g. to increment your own metric. */
  onVerificationFailure?: VerificationFailureHook;
  /**
   * An OpenTelemetry meter: each verification failure adds 1 to the counter
   * `webhooks.signature_verification_failures` with the attribute `code`.
   *
   * @example
   * ```ts
   * import { metrics } from '@opentelemetry/api';
   * createNodeHandler({ secrets, onEvent, meter: metrics.getMeter('erp') });
   * ```
   */
  meter?: ReceiverMeter;
}

/**
 * The code of a verification failure, or `undefined` for any other error
 * (an oversize body, a misconfiguration, a failing handler).
 *
 * @internal
 */
export function verificationFailureCode(error: unknown): SignatureVerificationErrorCode | undefined {
  if (!isWebhookError(error) || !error.code.startsWith('WEBHOOK_')) return undefined;
  return error.code as SignatureVerificationErrorCode;
}

/**
 * Validates the hook and the meter, creates the counter once, and returns the
 * function that records one failure.
 *
 * @internal Shared by every adapter.
 * @throws ConfigError `CONFIG_INVALID` for a hook that is not a function or a meter without `createCounter`.
 */
export function createFailureRecorder(options: VerificationFailureOptions): (error: unknown) => void {
  const { onVerificationFailure, meter } = options;
  if (onVerificationFailure !== undefined && typeof onVerificationFailure !== 'function') {
    throw new ConfigError('CONFIG_INVALID', `Expected \`onVerificationFailure\` to be a function, got ${describeValue(onVerificationFailure)}`, {
      field: 'onVerificationFailure',
    });
  }
  if (meter !== undefined && (typeof meter !== 'object' || meter === null || typeof meter.createCounter !== 'function')) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`meter\` to be an OpenTelemetry Meter, got ${describeValue(meter)}`, { field: 'meter' });
  }
  const counter = meter?.createCounter(SIGNATURE_VERIFICATION_FAILURES_METRIC, {
    description: 'Received webhooks refused by verification, by error code',
    unit: '{request}',
  });
  if (onVerificationFailure === undefined && counter === undefined) return () => undefined;
  return (error) => {
    const code = verificationFailureCode(error);
    if (code === undefined) return;
    try {
      counter?.add(1, { code });
    } catch {
      // A broken metrics pipeline must not turn a 401 into a 500.
    }
    try {
      onVerificationFailure?.(code, error as SignatureVerificationError);
    } catch {
      // Same for a throwing hook.
    }
  };
}
