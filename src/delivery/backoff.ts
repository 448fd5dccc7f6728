/**
 * The retry schedule: one pure function, the only place where the delay before the
 * next attempt is computed. Storage adapters never compute backoff (in SQL or
 * otherwise), so every backend retries alike.
 */

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
 * The wait in ms before the attempt that follows failed attempt number `context.attempt`,
 * or `null` when the policy has no attempts left (the delivery is dead).
 * `random` returns a number in [0, 1) and is only used for jitter.
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
      base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (context.attempt - 1));
      jitter = policy.jitter;
      break;
    }
    case 'custom': {
      const delay = policy.delayMs(context);
      if (delay === null) return null;
      // A custom function is the host's code: refuse nonsense rather than retry in a hot loop.
      if (!Number.isFinite(delay) || delay < 0) return null;
      return delay;
    }
  }
  if (jitter === 0) return base;
  return Math.max(0, Math.round(base * (1 - jitter + 2 * jitter * random())));
}
