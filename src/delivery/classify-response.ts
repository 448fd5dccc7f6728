/**
 * What an attempt's result means for the delivery (DESIGN §3): 2xx delivered; 410
 * disables the subscription; 429/503 with `Retry-After` retried at that time (clamped)
 * or on the policy's wait, whichever is later; anything else retried on the policy
 * until it runs out, then dead.
 */
import type { AttemptErrorClass, SettleOutcome } from '../storage/storage-adapter.js';
import { computeBackoff, type RetryPolicy } from './backoff.js';
import { parseRetryAfter } from './retry-after.js';
import type { TransportResult } from './transport.js';

export interface ClassifyContext {
  /** The attempt just made, 1-based within the delivery's cycle. */
  attempt: number;
  policy: RetryPolicy;
  now: number;
  random: () => number;
  /** Upper bound on a receiver's `Retry-After`. */
  maxRetryAfterMs: number;
}

export interface Classification {
  outcome: SettleOutcome;
  statusCode: number | null;
  errorClass: AttemptErrorClass | null;
  errorMessage: string | null;
}

/** Turns a transport result into the settle outcome and the attempt's error fields. */
export function classifyResponse(result: TransportResult, context: ClassifyContext): Classification {
  if (result.kind === 'error') {
    const delay = computeBackoff(
      context.policy,
      { attempt: context.attempt, statusCode: null, errorClass: result.errorClass },
      context.random,
    );
    return {
      outcome: delay === null ? { kind: 'dead' } : { kind: 'retry', nextAttemptAt: context.now + delay },
      statusCode: null,
      errorClass: result.errorClass,
      errorMessage: result.message,
    };
  }
  const { statusCode } = result;
  if (statusCode >= 200 && statusCode < 300) {
    return { outcome: { kind: 'delivered' }, statusCode, errorClass: null, errorMessage: null };
  }
  if (statusCode === 410) {
    return {
      outcome: { kind: 'disable', reason: 'the endpoint answered 410 Gone' },
      statusCode,
      errorClass: 'http',
      errorMessage: 'HTTP 410 Gone',
    };
  }
  const errorMessage = `HTTP ${statusCode}`;
  const delay = computeBackoff(context.policy, { attempt: context.attempt, statusCode, errorClass: 'http' }, context.random);
  if (delay === null) return { outcome: { kind: 'dead' }, statusCode, errorClass: 'http', errorMessage };
  let wait = delay;
  if (statusCode === 429 || statusCode === 503) {
    const retryAfter = parseRetryAfter(result.retryAfter, context.now);
    // The receiver knows its own load: never retry before it asks (RFC 9110: how long to
    // wait), within bounds, so that a hostile or buggy header cannot park a delivery for a
    // year. Nor before the schedule's wait: a load balancer answering `Retry-After: 0` during
    // a deploy would otherwise spend every attempt in seconds and leave the delivery dead.
    if (retryAfter !== null) wait = Math.max(delay, Math.min(retryAfter, context.maxRetryAfterMs));
  }
  return { outcome: { kind: 'retry', nextAttemptAt: context.now + wait }, statusCode, errorClass: 'http', errorMessage };
}
