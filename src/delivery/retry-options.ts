/**
 * The retry options: the zod schemas of a retry policy as the caller gives it (globally,
 * or per subscription, where it is stored as given) and the one place where its
 * defaults are filled in to make the {@link RetryPolicy} that `computeBackoff` reads.
 */
import { z } from 'zod';
import type { StoredRetryPolicy } from '../storage/storage-adapter.js';
import { maxRetryDelayMs, standardWebhooksDelaysMs, type RetryContext, type RetryPolicy } from './backoff.js';

/**
 * A retry policy:
 * - `{ delaysMs }` — a fixed schedule: the wait after the 1st, 2nd, … failed attempt
 *   (attempts = `delaysMs.length + 1`);
 * - `{ initialDelayMs, factor, maxDelayMs, maxAttempts }` — exponential, capped;
 * - a function `(context) => delayMs | null` (`null` gives up) — global policy only,
 *   since a subscription's policy is stored as data. It must answer synchronously with
 *   `null` or a finite number ≥ 0 (rounded to whole ms, capped at 365 days); should it throw
 *   or return anything else (a promise, a string, `NaN`, a negative number), the dispatcher
 *   logs it at `error` and retries that attempt on the default schedule (`guardRetryPolicy`
 *   in backoff.ts).
 * `jitter` (0–1) spreads each wait uniformly by ±that fraction.
 */
export type RetryOptions = StoredRetryPolicy | ((context: RetryContext) => number | null);

const delayMs = z.number().int().min(0).max(maxRetryDelayMs);
const jitter = z.number().min(0).max(1);

const scheduleFields = {
  delaysMs: z.array(delayMs).max(100),
  jitter: jitter.optional(),
};

const exponentialFields = {
  initialDelayMs: delayMs,
  factor: z.number().min(1).max(100).optional(),
  maxDelayMs: delayMs.optional(),
  maxAttempts: z.int().min(1).max(1000),
  jitter: jitter.optional(),
};

/** A retry policy given as data: validated, and stored as given (a subscription's `retry`). */
export const storedRetryPolicySchema = z.union([z.strictObject(scheduleFields), z.strictObject(exponentialFields)]);

/** A policy given as data, with its defaults filled in, as the backoff reads it. */
const retryPolicySchema = z.union([
  z.strictObject({ ...scheduleFields, jitter: jitter.default(0) }).transform(
    (policy): RetryPolicy => Object.freeze({ kind: 'schedule', delaysMs: Object.freeze([...policy.delaysMs]), jitter: policy.jitter }),
  ),
  z
    .strictObject({
      ...exponentialFields,
      factor: exponentialFields.factor.unwrap().default(2),
      maxDelayMs: delayMs.default(24 * 3_600_000),
      jitter: jitter.default(0.2),
    })
    .transform((policy): RetryPolicy => Object.freeze({ kind: 'exponential', ...policy })),
]);

/**
 * The global `retry` option: a policy as data or a function; when absent, the Standard
 * Webhooks schedule (10 attempts over ~3 days) with 10 % jitter.
 */
export const retryOptionsSchema = z
  .union([
    retryPolicySchema,
    z
      .custom<(context: RetryContext) => number | null>((value) => typeof value === 'function', { message: 'a function (context) => delayMs | null' })
      .transform((delayMs): RetryPolicy => Object.freeze({ kind: 'custom', delayMs })),
  ])
  .prefault({ delaysMs: [...standardWebhooksDelaysMs], jitter: 0.1 });

/** A subscription's stored policy with its defaults filled in (it was validated when stored). */
export function normalizeStoredRetryPolicy(policy: StoredRetryPolicy): RetryPolicy {
  return retryPolicySchema.parse(policy);
}
