/**
 * The retry schedule: one pure function, the only place where the delay before the
 * next attempt is computed. Storage adapters never compute backoff (in SQL or
 * otherwise), so every backend retries alike.
 */
import { describeValue } from '../errors.js';

/** Context handed to a custom retry function. */
export interface RetryContext {
  /** The attempt that just failed, 1-based. */
  attempt: number;
  /** HTTP status of that attempt, if a response came. */
  statusCode: number | null;
  /** How it failed without a usable response, if it did. */
  errorClass: string | null;
}

/**
 * A retry policy after normalisation:
 * - `schedule`: fixed waits after the 1st, 2nd, … failure (attempts = delays + 1);
 * - `exponential`: `initialDelayMs · factor^(n-1)`, capped at `maxDelayMs`, `maxAttempts` in all;
 * - `custom`: a function returning the wait in ms, or `null` to give up.
 * `jitter` is a fraction f: each wait is drawn uniformly from [d·(1−f), d·(1+f)].
 */
export type RetryPolicy =
  | { kind: 'schedule'; delaysMs: readonly number[]; jitter: number }
  | {
      kind: 'exponential';
      initialDelayMs: number;
      factor: number;
      maxDelayMs: number;
      maxAttempts: number;
      jitter: number;
    }
  | { kind: 'custom'; delayMs: (context: RetryContext) => number | null };

/**
 * The Standard Webhooks schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h,
 * 10 h, 14 h, 20 h and 24 h after each failure — 10 attempts over ~3 days.
 */
export const standardWebhooksDelaysMs: readonly number[] = Object.freeze([
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  14 * 3_600_000,
  20 * 3_600_000,
  24 * 3_600_000,
]);

/**
 * The default policy, when `retry` is not given: the Standard Webhooks schedule with 10 %
 * jitter. Also the schedule an attempt falls back to when a `retry` function fails (see
 * {@link guardRetryPolicy}).
 */
export const defaultRetryPolicy: RetryPolicy = Object.freeze({ kind: 'schedule', delaysMs: standardWebhooksDelaysMs, jitter: 0.1 });

/**
 * The longest wait a policy may ask for: 365 days. A policy given as data is refused beyond
 * it; what a `retry` function returns is capped to it.
 */
export const maxRetryDelayMs = 365 * 24 * 3_600_000;

/**
 * The wait in ms before the attempt that follows failed attempt number `context.attempt`,
 * or `null` when the policy has no attempts left (the delivery is dead).
 * `random` returns a number in [0, 1) and is only used for jitter.
 *
 * Always a whole number of milliseconds (a storage keeps due times as integers): a fraction —
 * an exponential policy with `factor: 1.5` and no jitter, a function's `1500 * 1.5` — is
 * rounded. A custom function's wait is capped to {@link maxRetryDelayMs}; anything but `null`
 * or a finite number ≥ 0 from it gives up (`null`) here, and a throw goes through: the
 * dispatcher never hands this a bare function (see {@link guardRetryPolicy}).
 */
export function computeBackoff(policy: RetryPolicy, context: RetryContext, random: () => number): number | null {
  let base: number;
  let jitter: number;
  switch (policy.kind) {
    case 'schedule': {
      const delay = policy.delaysMs[context.attempt - 1];
      if (delay === undefined) return null;
      base = delay;
      jitter = policy.jitter;
      break;
    }
    case 'exponential': {
      if (context.attempt >= policy.maxAttempts) return null;
      // 0 · factor^n stays 0 when factor^n overflows to Infinity (which would make NaN).
      base = policy.initialDelayMs === 0 ? 0 : Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (context.attempt - 1));
      jitter = policy.jitter;
      break;
    }
    case 'custom': {
      const delay: unknown = policy.delayMs(context);
      if (delay === null) return null;
      // A custom function is the host's code: refuse nonsense rather than retry in a hot loop.
      if (!isRetryDelay(delay)) return null;
      return Math.min(Math.round(delay), maxRetryDelayMs);
    }
  }
  if (jitter === 0) return Math.round(base);
  return Math.max(0, Math.round(base * (1 - jitter + 2 * jitter * random())));
}

/** A wait a retry function may return: a finite number ≥ 0. */
function isRetryDelay(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** A `retry` function that failed, as {@link guardRetryPolicy} reports it. */
export interface RetryFunctionFailure {
  /** For the log: `threw`, or `returned <the value described>` (e.g. `returned a Promise`, `returned NaN`). */
  problem: string;
  /** What it threw; `undefined` when it returned. */
  error: unknown;
}

/**
 * The policy the dispatcher reads: a `custom` one whose function always answers a wait or
 * `null`; any other policy as it is.
 *
 * A `retry` function is the host's code, typed `(context) => delayMs | null`. Should it throw,
 * or return anything but `null` or a finite number ≥ 0 — a promise (an `async` function: it is
 * not awaited, and its rejection is not left unhandled), a string, `NaN`, `Infinity`, a negative
 * number, `undefined` — `report` is told, and this attempt is retried on the default schedule
 * instead ({@link defaultRetryPolicy}: its wait after this attempt number, jittered; `null`,
 * dead, once its 10 attempts are spent). So a bug in the host's function neither kills a
 * delivery after its first failure nor retries it in a hot loop, and nothing escapes the
 * attempt.
 */
export function guardRetryPolicy(policy: RetryPolicy, random: () => number, report: (failure: RetryFunctionFailure) => void): RetryPolicy {
  if (policy.kind !== 'custom') return policy;
  const hostFunction = policy.delayMs;
  return {
    kind: 'custom',
    delayMs: (context) => {
      let delay: unknown;
      try {
        delay = hostFunction(context);
      } catch (error) {
        report({ problem: 'threw', error });
        return computeBackoff(defaultRetryPolicy, context, random);
      }
      if (delay === null || isRetryDelay(delay)) return delay;
      if (typeof (delay as { then?: unknown } | undefined)?.then === 'function') {
        // Not awaited: were it to reject, the rejection must not crash the host as unhandled.
        Promise.resolve(delay).catch(() => undefined);
      }
      report({ problem: `returned ${describeValue(delay)}`, error: undefined });
      return computeBackoff(defaultRetryPolicy, context, random);
    },
  };
}
