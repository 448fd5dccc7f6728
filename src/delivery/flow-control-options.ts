/**
 * The flow-control options: what the host sets for every subscription (`flowControl`,
 * `circuitBreaker`) and what a subscription stores to override it, each with its zod
 * schema, which holds the defaults. `FlowControl` runs on the resolved forms.
 */
import { z } from 'zod';

/** Flow-control defaults for every subscription. */
export interface FlowControlOptions {
  /**
   * Posts in flight to one subscription at once, so that one slow receiver cannot hold
   * every slot of `concurrency`.
   *
   * Unset, it is a fair share that gives way: half of `concurrency` (at least 1) while
   * another subscription has deliveries waiting, and every slot while a subscription is the
   * only one with work, so a single endpoint gets the dispatcher's whole throughput; when
   * another subscription's deliveries come, each slot that frees goes to them first, until
   * the busy one is back within its half. Set (here, or a subscription's own
   * `flowControl.maxInFlight`), it is a hard cap, kept even when the subscription is alone:
   * for a receiver that must never see more at once.
   * @defaultValue half of `concurrency` (at least 1), every slot when alone (see above)
   */
  maxInFlightPerSubscription?: number;
  /**
   * Sustained posts per second to one subscription; `null` for no limit.
   * @defaultValue null
   */
  ratePerSecond?: number | null;
  /**
   * Posts allowed at once above the sustained rate.
   * @defaultValue 10
   */
  burst?: number;
}

/** Circuit-breaker settings. */
export interface CircuitBreakerOptions {
  /**
   * Consecutive failed attempts to one subscription that open the breaker.
   * @defaultValue 10
   */
  failureThreshold?: number;
  /**
   * How long an open breaker holds deliveries before one probe; doubles after each failed probe.
   * @defaultValue 30000
   */
  cooldownMs?: number;
  /**
   * The longest cool-down: at least `cooldownMs`, or a failed probe would shorten it.
   * @defaultValue 600000 (10 minutes), or `cooldownMs` when that is longer
   */
  maxCooldownMs?: number;
}

/** Flow-control defaults after parsing. */
export type ResolvedFlowControlOptions = Readonly<
  Required<FlowControlOptions> & {
    /**
     * What a subscription without a cap of its own may have in flight while no other
     * subscription's deliveries wait: `concurrency` when `maxInFlightPerSubscription` was
     * left unset (its default is a share that gives way), `null` when it was set (a hard cap).
     */
    maxInFlightWhenAlone: number | null;
  }
>;

/** The circuit breaker after parsing, or `false` for none. */
export type ResolvedCircuitBreakerOptions = Readonly<Required<CircuitBreakerOptions>> | false;

const maxInFlight = z.int().min(1).max(10_000);
/** A sustained rate of posts per second: the bounds of every rate limit (a subscription's, a tenant's). */
export const rateLimitSchema = z.number().positive().max(1_000_000);
/** Posts allowed at once above a sustained rate: the bounds of every burst. */
export const burstSchema = z.int().min(1).max(1_000_000);
const ratePerSecond = rateLimitSchema.nullable();
const burst = burstSchema;
const cooldownMs = z.number().int().min(0).max(365 * 24 * 3_600_000);
const defaultMaxCooldownMs = 600_000;

/**
 * The global `flowControl` option. `maxInFlightPerSubscription` stays unset here: its
 * default depends on `concurrency`, which the options parser applies.
 */
export const flowControlOptionsSchema = z
  .strictObject({
    maxInFlightPerSubscription: maxInFlight.optional(),
    ratePerSecond: ratePerSecond.default(null),
    burst: burst.default(10),
  })
  .prefault({});

/**
 * The `circuitBreaker` option: `false`, or settings with their defaults. `maxCooldownMs`
 * below `cooldownMs` is refused (the cool-down doubles after a failed probe: capped below
 * where it started, it would shrink instead); left unset, it is 10 minutes, or `cooldownMs`
 * when that is longer, so that a long `cooldownMs` alone is taken as it is.
 */
export const circuitBreakerOptionsSchema = z
  .union([
    z.literal(false),
    z.strictObject({
      failureThreshold: z.int().min(1).max(1_000_000).default(10),
      cooldownMs: cooldownMs.default(30_000),
      maxCooldownMs: cooldownMs.optional(),
    }),
  ])
  .superRefine((breaker, context) => {
    if (breaker !== false && breaker.maxCooldownMs !== undefined && breaker.maxCooldownMs < breaker.cooldownMs) {
      context.addIssue({
        code: 'custom',
        path: ['maxCooldownMs'],
        message: `at least \`circuitBreaker.cooldownMs\` (${breaker.cooldownMs}): the cool-down doubles after each failed probe up to this, and would shrink below it`,
      });
    }
  })
  .transform((breaker): ResolvedCircuitBreakerOptions =>
    breaker === false ? false : { ...breaker, maxCooldownMs: breaker.maxCooldownMs ?? Math.max(defaultMaxCooldownMs, breaker.cooldownMs) },
  )
  .prefault({});

/** A subscription's `flowControl`: stored as given, each field overriding the global default. */
export const storedFlowControlSchema = z.strictObject({
  maxInFlight: maxInFlight.optional(),
  ratePerSecond: ratePerSecond.optional(),
  burst: burst.optional(),
});
