/**
 * The options of `createWebhooks`: the hand-written public interface (with TSDoc)
 * and the zod schema that parses it once into a frozen resolved object. Defaults
 * live here and nowhere else. Unknown keys fail loudly: a typo such as
 * `concurency: 10` is a `ConfigError`, not a silently ignored setting.
 */
import { z } from 'zod';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { standardWebhooksDelaysMs, type RetryContext, type RetryPolicy } from './delivery/backoff.js';
import type { Transport } from './delivery/transport.js';
import { describeIssues } from './describe-issues.js';
import { ConfigError, ValidationError, type ValidationErrorCode } from './errors.js';
import type { EventCatalog } from './events/catalog.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import type { StorageAdapter, StoredRetryPolicy } from './storage/storage-adapter.js';
import { isValidAllowedHost } from './delivery/ssrf-guard.js';
import type { SecretsKey } from './registry/secret-codec.js';
import type { MeterLike } from './metrics/otel-metrics.js';

/**
 * A retry policy:
 * - `{ delaysMs }` — a fixed schedule: the wait after the 1st, 2nd, … failed attempt
 *   (attempts = `delaysMs.length + 1`);
 * - `{ initialDelayMs, factor, maxDelayMs, maxAttempts }` — exponential, capped;
 * - a function `(context) => delayMs | null` (`null` gives up) — global policy only,
 *   since a subscription's policy is stored as data.
 * `jitter` (0–1) spreads each wait uniformly by ±that fraction.
 */
export type RetryOptions =
  | StoredRetryPolicy
  | ((context: RetryContext) => number | null);

/** HTTP settings of the dispatcher. */
export interface HttpOptions {
  /**
   * The whole request (connect, send, response headers and body) must finish within this;
   * past it the attempt fails with error class `timeout`.
   * @defaultValue 15000
   */
  timeoutMs?: number;
  /**
   * Response bytes read at most; the rest is discarded (the first 1 KiB is kept in the attempt log).
   * @defaultValue 65536
   */
  maxResponseBytes?: number;
  /**
   * Upper bound on a receiver's `Retry-After` (429/503).
   * @defaultValue 3600000 (1 hour)
   */
  maxRetryAfterMs?: number;
  /**
   * The `user-agent` header.
   * @defaultValue "Bookkeeper-Webhooks/1"
   */
  userAgent?: string;
}

/** Flow-control defaults for every subscription. */
export interface FlowControlOptions {
  /**
   * Posts in flight to one subscription at once, so that one slow receiver cannot hold
   * every slot of `concurrency`.
   * @defaultValue half of `concurrency` (at least 1)
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
   * The longest cool-down.
   * @defaultValue 600000 (10 minutes)
   */
  maxCooldownMs?: number;
}

/** Security settings. */
export interface SecurityOptions {
  /**
   * Allow loopback, private, link-local, CGNAT and metadata addresses. Off by default
   * (SSRF guard); turn on for tests and for a host that posts to its own network.
   * @defaultValue false
   */
  allowPrivateNetworks?: boolean;
  /**
   * Refuse `http:` subscription URLs.
   * @defaultValue false
   */
  requireHttps?: boolean;
  /**
   * Internal endpoints the host trusts despite the SSRF guard: hostnames
   * (`erp.internal`), wildcard names (`*.corp.example`), IP addresses or CIDR ranges
   * (`10.20.0.0/16`).
   * @defaultValue []
   */
  allowedHosts?: string[];
  /**
   * Encrypts subscription secrets at rest (AES-256-GCM): a base64 key of 32 bytes, or
   * a list `[{ id, key }]` — the first seals, all open (key rotation; then
   * `subscriptions.resealSecrets()`). Without it secrets are stored as they are and
   * `start()` logs a warning.
   */
  secretsKey?: string | SecretsKey[];
}

/** Options of `createWebhooks`. */
export interface WebhooksOptions<TCatalog extends EventCatalog = EventCatalog> {
  /** The event catalog (`defineEvents(...)`); default: `bookkeeperEvents`. */
  events?: TCatalog;
  /** Where subscriptions, events, deliveries and attempts live. @defaultValue `createMemoryStorage()` */
  storage?: StorageAdapter;
  /** The global retry policy. @defaultValue the Standard Webhooks schedule (10 attempts over ~3 days), jitter 0.1 */
  retry?: RetryOptions;
  http?: HttpOptions;
  security?: SecurityOptions;
  /**
   * Posts in flight at once, across all subscriptions.
   * @defaultValue 50
   */
  concurrency?: number;
  /**
   * How long a claimed delivery stays claimed before another worker may take it.
   * Must exceed `http.timeoutMs` by at least 1000 ms: a lease covers the request and
   * the settle that records it, or a slow receiver gets duplicates.
   * @defaultValue 60000
   */
  leaseMs?: number;
  /**
   * How often the dispatcher looks for due work when nothing woke it (other processes
   * publishing into the same database, a lost notification).
   * @defaultValue 1000
   */
  pollIntervalMs?: number;
  /**
   * Largest serialized event (the JSON body) `publish` accepts.
   * @defaultValue 262144 (256 KiB)
   */
  maxPayloadBytes?: number;
  /** The HTTP transport. @defaultValue `createUndiciTransport()` */
  transport?: Transport;
  /** Time source for schedules and leases. @defaultValue the wall clock */
  clock?: Clock;
  /** Randomness for jitter, in [0, 1). @defaultValue `Math.random` */
  random?: () => number;
  /** Where the library logs (pino-compatible). @defaultValue silent */
  logger?: Logger;
  /** Global flow-control defaults; a subscription's `flowControl` overrides them. */
  flowControl?: FlowControlOptions;
  /**
   * The per-subscription circuit breaker, or `false` for none. Deliveries wait while it
   * is open; the breaker never fails them.
   */
  circuitBreaker?: CircuitBreakerOptions | false;
  /**
   * Disable a subscription whose every attempt has failed for this long (emitting
   * `subscription:disabled`; its deliveries are held), or `false` never to.
   * @defaultValue 432000000 (5 days, as Svix)
   */
  autoDisableAfterMs?: number | false;
  /**
   * An OpenTelemetry meter for the delivery metrics (`metrics.getMeter('bookkeeper')`),
   * or `false` for none. @defaultValue the global meter of `@opentelemetry/api` when it
   * is installed (a no-op until an SDK is registered), else none
   */
  meter?: MeterLike | false;
}

const nonNegativeMs = z.number().int().min(0).max(365 * 24 * 3_600_000);
const jitter = z.number().min(0).max(1);

/** The schema of a subscription's flow-control settings. */
export const storedFlowControlSchema = z.strictObject({
  maxInFlight: z.int().min(1).max(10_000).optional(),
  ratePerSecond: z.number().positive().max(1_000_000).nullable().optional(),
  burst: z.int().min(1).max(1_000_000).optional(),
});

/** The schema of a retry policy stored as data (global or per subscription). */
export const storedRetryPolicySchema = z.union([
  z.strictObject({ delaysMs: z.array(nonNegativeMs).max(100), jitter: jitter.optional() }),
  z.strictObject({
    initialDelayMs: nonNegativeMs,
    factor: z.number().min(1).max(100).optional(),
    maxDelayMs: nonNegativeMs.optional(),
    maxAttempts: z.int().min(1).max(1000),
    jitter: jitter.optional(),
  }),
]);

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';

const clockSchema = z.custom<Clock>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    isFunction((value as Clock).now) &&
    isFunction((value as Clock).setTimeout) &&
    isFunction((value as Clock).clearTimeout),
  { message: 'a clock with now(), setTimeout() and clearTimeout()' },
);

const loggerSchema = z.custom<Logger>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    ['debug', 'info', 'warn', 'error'].every((level) => isFunction((value as Record<string, unknown>)[level])),
  { message: 'a logger with debug(), info(), warn() and error()' },
);

const optionsSchema = z.strictObject({
  events: z.custom<EventCatalog>(
    (value) => typeof value === 'object' && value !== null && isFunction((value as EventCatalog).has) && Array.isArray((value as EventCatalog).types),
    { message: 'a catalog made by defineEvents()' },
  ).optional(),
  storage: z.custom<StorageAdapter>(
    (value) => typeof value === 'object' && value !== null && isFunction((value as StorageAdapter).claimDue),
    { message: 'a storage adapter (createMemoryStorage(), createSqliteStorage(), createPostgresStorage())' },
  ).optional(),
  retry: z.union([storedRetryPolicySchema, z.custom<(context: RetryContext) => number | null>(isFunction, { message: 'a function (context) => delayMs | null' })]).optional(),
  http: z
    .strictObject({
      timeoutMs: z.int().min(1).max(3_600_000).default(15_000),
      maxResponseBytes: z.int().min(0).max(64 * 1024 * 1024).default(65_536),
      maxRetryAfterMs: nonNegativeMs.default(3_600_000),
      userAgent: z.string().min(1).max(200).regex(/^[\x20-\x7e]+$/).default('Bookkeeper-Webhooks/1'),
    })
    .prefault({}),
  security: z
    .strictObject({
      allowPrivateNetworks: z.boolean().default(false),
      requireHttps: z.boolean().default(false),
      allowedHosts: z
        .array(z.string().max(255).refine(isValidAllowedHost, 'a hostname, *.wildcard name, IP address or CIDR range'))
        .max(1000)
        .default([]),
      secretsKey: z
        .union([
          z.string().min(1),
          z.array(z.strictObject({ id: z.string().min(1).max(64), key: z.string().min(1) })).min(1).max(100),
        ])
        .optional(),
    })
    .prefault({}),
  concurrency: z.int().min(1).max(10_000).default(50),
  leaseMs: z.int().min(1).max(24 * 3_600_000).default(60_000),
  pollIntervalMs: z.int().min(1).max(3_600_000).default(1_000),
  maxPayloadBytes: z.int().min(1).max(64 * 1024 * 1024).default(262_144),
  transport: z.custom<Transport>(
    (value) => typeof value === 'object' && value !== null && isFunction((value as Transport).send) && isFunction((value as Transport).close),
    { message: 'a transport with send() and close()' },
  ).optional(),
  clock: clockSchema.default(systemClock),
  random: z.custom<() => number>(isFunction, { message: 'a function returning a number in [0, 1)' }).default(() => Math.random),
  logger: loggerSchema.default(silentLogger),
  flowControl: z
    .strictObject({
      maxInFlightPerSubscription: z.int().min(1).max(10_000).optional(),
      ratePerSecond: z.number().positive().max(1_000_000).nullable().default(null),
      burst: z.int().min(1).max(1_000_000).default(10),
    })
    .prefault({}),
  circuitBreaker: z
    .union([
      z.literal(false),
      z.strictObject({
        failureThreshold: z.int().min(1).max(1_000_000).default(10),
        cooldownMs: nonNegativeMs.default(30_000),
        maxCooldownMs: nonNegativeMs.default(600_000),
      }),
    ])
    .prefault({}),
  autoDisableAfterMs: z.union([z.literal(false), z.int().min(1).max(365 * 24 * 3_600_000)]).default(5 * 24 * 3_600_000),
  meter: z
    .union([
      z.literal(false),
      z.custom<MeterLike>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          ['createHistogram', 'createCounter', 'createObservableGauge'].every((method) => isFunction((value as Record<string, unknown>)[method])),
        { message: 'an OpenTelemetry Meter (metrics.getMeter(name))' },
      ),
    ])
    .optional(),
});

/** The options after parsing: every default filled in, frozen. */
export interface ResolvedWebhooksOptions {
  readonly events?: EventCatalog;
  readonly storage?: StorageAdapter;
  readonly retry: RetryPolicy;
  readonly http: Readonly<Required<HttpOptions>>;
  readonly security: Readonly<Omit<Required<SecurityOptions>, 'secretsKey'> & Pick<SecurityOptions, 'secretsKey'>>;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly pollIntervalMs: number;
  readonly maxPayloadBytes: number;
  readonly transport?: Transport;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly meter?: MeterLike | false;
  readonly flowControl: { readonly maxInFlightPerSubscription: number; readonly ratePerSecond: number | null; readonly burst: number };
  readonly circuitBreaker: { readonly failureThreshold: number; readonly cooldownMs: number; readonly maxCooldownMs: number } | false;
  readonly autoDisableAfterMs: number | false;
}

/** The default policy: the Standard Webhooks schedule with 10 % jitter. */
export const defaultRetryPolicy: RetryPolicy = Object.freeze({
  kind: 'schedule',
  delaysMs: standardWebhooksDelaysMs,
  jitter: 0.1,
});

/** Normalises a retry policy given as data. */
export function normalizeStoredRetryPolicy(policy: StoredRetryPolicy): RetryPolicy {
  if ('delaysMs' in policy) return { kind: 'schedule', delaysMs: Object.freeze([...policy.delaysMs]), jitter: policy.jitter ?? 0 };
  return {
    kind: 'exponential',
    initialDelayMs: policy.initialDelayMs,
    factor: policy.factor ?? 2,
    maxDelayMs: policy.maxDelayMs ?? 24 * 3_600_000,
    maxAttempts: policy.maxAttempts,
    jitter: policy.jitter ?? 0.2,
  };
}

/** Throws a `ValidationError` with `code` for a failed parse of `input` by `schema`, every issue described. */
export function throwValidation(code: ValidationErrorCode, error: z.ZodError, input: unknown, schema: z.ZodType, prefix = ''): never {
  const { message, field } = describeIssues(error, input, { schema, prefix });
  throw new ValidationError(code, message, { field, cause: error });
}

/**
 * How much longer than `http.timeoutMs` a lease must be. The dispatcher splits this slack
 * in two: a delivery claimed ahead may wait half of it for a slot, and the other half is
 * left after the request's deadline for the settle (a storage commit) — so at least 500 ms.
 */
export const minLeaseSlackMs = 1000;

/** Parses and freezes `createWebhooks` options; throws `ConfigError` on anything wrong. */
export function resolveWebhooksOptions(options: unknown): ResolvedWebhooksOptions {
  const parsed = optionsSchema.safeParse(options ?? {});
  if (!parsed.success) {
    const { message, field } = describeIssues(parsed.error, options, { schema: optionsSchema });
    throw new ConfigError('CONFIG_INVALID', message, { field, cause: parsed.error });
  }
  const value = parsed.data;
  if (value.leaseMs < value.http.timeoutMs + minLeaseSlackMs) {
    throw new ConfigError(
      'CONFIG_LEASE_TOO_SHORT',
      `Expected \`leaseMs\` to be at least \`http.timeoutMs\` + ${minLeaseSlackMs} (${value.http.timeoutMs + minLeaseSlackMs}), got ${value.leaseMs}: a lease must outlive the request it covers and the settle that records it, or a slow receiver gets duplicates`,
      { field: 'leaseMs' },
    );
  }
  const retry: RetryPolicy =
    value.retry === undefined
      ? defaultRetryPolicy
      : typeof value.retry === 'function'
        ? { kind: 'custom', delayMs: value.retry }
        : normalizeStoredRetryPolicy(value.retry);
  const flowControl = Object.freeze({
    ...value.flowControl,
    maxInFlightPerSubscription: value.flowControl.maxInFlightPerSubscription ?? Math.max(1, Math.floor(value.concurrency / 2)),
  });
  return Object.freeze({
    ...value,
    flowControl,
    circuitBreaker: value.circuitBreaker === false ? false : Object.freeze(value.circuitBreaker),
    retry,
    http: Object.freeze(value.http),
    security: Object.freeze(value.security),
  });
}
