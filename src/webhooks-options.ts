/**
 * The options of `createWebhooks`: the hand-written public interface (with TSDoc), the
 * zod schema that parses it once into a frozen resolved object, and the checks that span
 * several options. Each component's options and defaults live beside it (`http-options`,
 * `retry-options`, `flow-control-options` in `delivery/`); the ones that belong to the
 * factory itself are here. Unknown keys fail loudly: a typo such as `concurency: 10` is
 * a `ConfigError`, not a silently ignored setting.
 */
import { z } from 'zod';
import type { Clock } from './clock.js';
import { systemClock, wholeMsClock } from './clock.js';
import type { RetryPolicy } from './delivery/backoff.js';
import {
  burstSchema,
  circuitBreakerOptionsSchema,
  flowControlOptionsSchema,
  rateLimitSchema,
  type CircuitBreakerOptions,
  type FlowControlOptions,
  type ResolvedCircuitBreakerOptions,
  type ResolvedFlowControlOptions,
} from './delivery/flow-control-options.js';
import { httpOptionsSchema, type HttpOptions } from './delivery/http-options.js';
import { resolveProxyOption, type ResolvedProxy } from './delivery/proxy-options.js';
import { retryOptionsSchema, type RetryOptions } from './delivery/retry-options.js';
import { isValidAllowedHost } from './delivery/ssrf-guard.js';
import type { Transport } from './delivery/transport.js';
import { ENVIRONMENT_NAME_RULE, isEnvironmentName } from './signing/environment-name.js';
import { ConfigError } from './errors.js';
import { isEventCatalog, type EventCatalog } from './events/catalog.js';
import type { Logger } from './logger.js';
import type { PayloadTransform, PayloadTransforms } from './routing/payload-transforms.js';
import { guardedLogger, silentLogger } from './logger.js';
import type { MeterLike } from './metrics/otel-metrics.js';
import type { SecretsKey } from './registry/secret-codec.js';
import { defaultSensitiveHeaders, sensitiveHeaderPattern } from './registry/sensitive-headers.js';
import { retentionOptionsSchema, type ResolvedRetentionOptions, type RetentionOptions } from './retention/retention-options.js';
import type { StorageAdapter } from './storage/storage-adapter.js';
import { parseConfig } from './parse-config.js';

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
  /**
   * Encrypts event payloads at rest, for hosts whose storage is not otherwise encrypted
   * (AES-256-GCM, each bound to its event id, so a payload copied onto another event does
   * not open): a base64 key of 32 bytes, or a list `[{ id, key }]` — the first seals new
   * events, all open (key rotation; payloads stored before keep the key that sealed them).
   * Receivers get the same bytes and signatures as without it. Payloads stored before it
   * was set are sent as they are; an instance without the key that sealed a payload fails
   * its attempts with error class `config`. It may be the same key as `secretsKey`.
   * @defaultValue none: payloads are stored as they are sent
   */
  payloadKey?: string | SecretsKey[];
  /**
   * The subscription headers whose values are credentials: sealed at rest with
   * `secretsKey` (stored as they are without one), shown as `"[redacted]"` by every read
   * and readable only through `subscriptions.getHeaders(id)`. Header names, or `*` followed
   * by the end of a name (`*-token` matches `X-Api-Token`), compared without regard to case;
   * `'all'` for every header.
   * @defaultValue ['authorization', 'cookie', 'proxy-authorization', '*-token', '*-key']
   * @example ['authorization', '*-key', 'x-erp-session']
   */
  sensitiveHeaders?: string[] | 'all';
  /**
   * Every URL change (`subscriptions.update(id, { url })`) first sends the new endpoint a
   * signed `webhook.test` request and is made only when it answers 2xx (otherwise
   * `SUBSCRIPTION_URL_UNVERIFIED`): an endpoint cannot be pointed at a server that does not
   * hold its secret. A call can still choose with `update`'s `verifyUrl`.
   * @defaultValue false
   */
  verifyUrlChanges?: boolean;
}

/**
 * Limits that apply to each tenant (a subscription's `tenantId`), the same for every
 * tenant. Subscriptions and deliveries without a tenant are never counted or limited.
 */
export interface TenantLimitsOptions {
  /**
   * Subscriptions one tenant may have: `subscriptions.create` refuses one more with the
   * `ConflictError` `TENANT_SUBSCRIPTION_LIMIT`.
   * @defaultValue no limit
   */
  maxSubscriptions?: number;
  /**
   * Sustained posts per second across all of one tenant's endpoints together (a token
   * bucket per tenant refilling up to `burst`), on top of each subscription's own
   * `flowControl`. A delivery counts for its subscription's tenant; deliveries to
   * subscriptions without a tenant (all-tenant consumers included) are never held by it.
   * A tenant out of tokens waits, unfailed: its deliveries stay in storage until a token
   * is there. Enforced per process, like `flowControl`: N instances on one database let a
   * tenant post up to N times the rate.
   * @defaultValue no limit
   */
  ratePerSecond?: number;
  /**
   * Posts one tenant may start at once above `ratePerSecond` (after a quiet spell). Only
   * with `ratePerSecond`.
   * @defaultValue 10
   */
  burst?: number;
}

/** `tenantLimits` after parsing: `null` where there is no limit. */
export interface ResolvedTenantLimits {
  readonly maxSubscriptions: number | null;
  readonly ratePerSecond: number | null;
  readonly burst: number;
}

/** Where the dispatcher runs (`createWebhooks({ dispatcher })`). */
export interface DispatcherOptions {
  /**
   * `main`: on the host's event loop. `worker`: claiming, signing, posting and settling run
   * in a `node:worker_threads` Worker with its own storage connection (SQLite: its own
   * better-sqlite3 handle on the same file; PostgreSQL: its own pool with the same
   * connection settings), so a burst of deliveries does not take the host's event loop.
   * `publish`, the subscriptions, the delivery log, `metrics()`, retention and `migrate()`
   * stay on the host's thread; lifecycle events, metrics and log lines reach the host's bus,
   * `metrics()` and logger as they do in-thread. Refused (`DISPATCHER_WORKER_UNSUPPORTED`)
   * with the memory storage, a storage the worker cannot open again from data, a custom
   * `transport`, `clock` or `random`, or a `retry` function.
   * @defaultValue 'main'
   */
  thread?: 'main' | 'worker';
  /**
   * With `thread: 'main'`: where the dispatcher's storage work runs — its claims, settles,
   * lease releases and next-due reads. `main`: on the host's event loop, with the dispatcher.
   * `worker`: in a `node:worker_threads` Worker with a storage connection of its own (as
   * `thread: 'worker'` opens one), while signing and posting stay on the host's thread: on
   * SQLite, whose statements are synchronous and most of a delivery's CPU, the two run side
   * by side. Refused (`DISPATCHER_WORKER_UNSUPPORTED`) with the memory storage or a storage
   * that cannot be opened again from data; unset with `thread: 'worker'` (that worker makes
   * its storage calls itself).
   * @defaultValue 'main'
   */
  storageThread?: 'main' | 'worker';
  /**
   * With `thread: 'worker'` or `storageThread: 'worker'`: the wait before a crashed worker
   * is started again, doubled after each crash in a row up to 30 s (or this value, if
   * larger), and back to this after the worker has run for 30 s without crashing.
   * @defaultValue 1000
   */
  restartDelayMs?: number;
}

/** `dispatcher` after parsing. */
export type ResolvedDispatcherOptions =
  | { readonly thread: 'main'; readonly storageThread: 'main'; readonly restartDelayMs: null }
  | { readonly thread: 'main'; readonly storageThread: 'worker'; readonly restartDelayMs: number }
  | { readonly thread: 'worker'; readonly storageThread: null; readonly restartDelayMs: number };

const defaultRestartDelayMs = 1000;

/** The `dispatcher` option; `restartDelayMs` only goes with a worker (an option must not be ignored). */
const dispatcherOptionsSchema = z
  .strictObject({
    thread: z.enum(['main', 'worker']).default('main'),
    storageThread: z.enum(['main', 'worker']).optional(),
    restartDelayMs: z.int().min(1).max(3_600_000).optional(),
  })
  .refine((options) => options.storageThread === undefined || options.thread === 'main', {
    path: ['storageThread'],
    message: "unset with `dispatcher.thread: 'worker'` (that worker makes its storage calls itself, on its own connection)",
  })
  .refine((options) => options.restartDelayMs === undefined || options.thread === 'worker' || options.storageThread === 'worker', {
    path: ['restartDelayMs'],
    message: "unset without `dispatcher.thread: 'worker'` or `dispatcher.storageThread: 'worker'` (an in-thread dispatcher has no worker to restart)",
  })
  .transform(
    (options): ResolvedDispatcherOptions =>
      Object.freeze(
        options.thread === 'worker'
          ? { thread: 'worker', storageThread: null, restartDelayMs: options.restartDelayMs ?? defaultRestartDelayMs }
          : options.storageThread === 'worker'
            ? { thread: 'main', storageThread: 'worker', restartDelayMs: options.restartDelayMs ?? defaultRestartDelayMs }
            : { thread: 'main', storageThread: 'main', restartDelayMs: null },
      ),
  )
  .prefault({});

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
  /**
   * Adds a `tenant` attribute (the event's tenant id; none for events published without a
   * tenant) to the OpenTelemetry instruments recorded per attempt: `webhooks.delivery.attempts`,
   * `webhooks.deliveries.completed`, `webhooks.delivery.latency` and `webhooks.leases.lost`.
   * Each tenant becomes a time series of its own in each of them: turn it on only when the
   * number of tenants suits the metrics backend (a few hundred, not tens of thousands).
   * @defaultValue false
   */
  metricsTenantAttribute?: boolean;
  /** Limits per tenant; none by default. */
  tenantLimits?: TenantLimitsOptions;
  /**
   * How long delivered and dead deliveries and events are kept: a background task of the
   * started instance removes what is past it, in small batches (on PostgreSQL, one
   * instance at a time). Pending and held deliveries are never removed. `false` keeps
   * everything: no task runs.
   * @defaultValue `{ deliveredMs: 30 days, deadMs: 90 days, eventsMs: 90 days, intervalMs: 60000, batchSize: 500 }`
   */
  retention?: RetentionOptions | false;
  /**
   * The environment this instance publishes for, so that a consumer can refuse events of
   * another one (a sandbox's events at a production endpoint), as Stripe's `livemode`: a
   * lower-case token of 1 to 32 characters, a letter first, then letters, digits, `-` or `_`.
   * Every event published by the instance carries it in its envelope, as
   * `"environment": "test"` between `timestamp` and `data` (covered by the signature; the
   * receivers' `environment` option checks it), and every delivery in the
   * `bookkeeper-environment` header (not signed: for routing and logs only). Stored with
   * the event at publish: retries, redeliveries and replays send what was published.
   * Without it (the default) the envelope has no `environment` key and no header is sent:
   * the bytes are those of `{ id, type, timestamp, data }`.
   * @defaultValue none
   * @example "live"
   */
  environment?: string;
  /** Where the dispatcher runs: on the host's event loop (the default) or in a worker thread. */
  dispatcher?: DispatcherOptions;
  /**
   * Payload transforms by name (1–64 letters, digits, `_`, `-`, `.`): a subscription that
   * names one (`transform: 'thin'`) gets, as its envelope's `data`, what the transform returns
   * for each event — computed once at publish, stored with the delivery, sent on every retry.
   * Register the same names on every instance that publishes.
   * @defaultValue none
   */
  transforms?: Record<string, PayloadTransform>;
}

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

const defaultTenantBurst = 10;

/** The `tenantLimits` option, resolved with `null` for each absent limit. */
const tenantLimitsSchema = z
  .strictObject({
    maxSubscriptions: z.int().min(1).max(1_000_000).optional(),
    ratePerSecond: rateLimitSchema.optional(),
    burst: burstSchema.optional(),
  })
  .refine((limits) => limits.burst === undefined || limits.ratePerSecond !== undefined, {
    path: ['burst'],
    message: 'unset without `tenantLimits.ratePerSecond` (a burst without a rate limits nothing)',
  })
  .transform(
    (limits): ResolvedTenantLimits => ({
      maxSubscriptions: limits.maxSubscriptions ?? null,
      ratePerSecond: limits.ratePerSecond ?? null,
      burst: limits.burst ?? defaultTenantBurst,
    }),
  )
  .prefault({});

/**
 * `security.secretsKey` and `security.payloadKey`: their shape. The keys themselves (32 bytes
 * of base64, the ids' characters) are checked by the codecs that use them.
 */
const encryptionKeysSchema = z.union([
  z.string().min(1),
  z.array(z.strictObject({ id: z.string().min(1).max(64), key: z.string().min(1) })).min(1).max(100),
]);

/** The schema of {@link WebhooksOptions}; a type test keeps the two in step. */
export const webhooksOptionsSchema = z.strictObject({
  events: z.custom<EventCatalog>(isEventCatalog, { message: 'a catalog made by defineEvents()' }).optional(),
  storage: z.custom<StorageAdapter>(
    (value) => typeof value === 'object' && value !== null && isFunction((value as StorageAdapter).claimDue),
    { message: 'a storage adapter (createMemoryStorage(), createSqliteStorage(), createPostgresStorage())' },
  ).optional(),
  retry: retryOptionsSchema,
  http: httpOptionsSchema,
  security: z
    .strictObject({
      allowPrivateNetworks: z.boolean().default(false),
      requireHttps: z.boolean().default(false),
      allowedHosts: z
        .array(z.string().max(255).refine(isValidAllowedHost, 'a hostname, *.wildcard name, IP address or CIDR range'))
        .max(1000)
        .default([]),
      secretsKey: encryptionKeysSchema.optional(),
      payloadKey: encryptionKeysSchema.optional(),
      sensitiveHeaders: z
        .union([
          z.literal('all'),
          z
            .array(z.string().max(256).regex(sensitiveHeaderPattern, 'a header name, or * followed by the end of a name (*-token)'))
            .max(100)
            .transform((patterns) => Object.freeze(patterns.map((pattern) => pattern.toLowerCase()))),
        ])
        .default(() => defaultSensitiveHeaders as string[]),
      verifyUrlChanges: z.boolean().default(false),
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
  clock: clockSchema.transform(wholeMsClock).default(systemClock),
  random: z.custom<() => number>(isFunction, { message: 'a function returning a number in [0, 1)' }).default(() => Math.random),
  logger: loggerSchema.default(silentLogger).transform(guardedLogger),
  flowControl: flowControlOptionsSchema,
  circuitBreaker: circuitBreakerOptionsSchema,
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
  metricsTenantAttribute: z.boolean().default(false),
  tenantLimits: tenantLimitsSchema,
  retention: retentionOptionsSchema,
  environment: z.string().refine(isEnvironmentName, ENVIRONMENT_NAME_RULE).optional(),
  transforms: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a name of 1 to 64 letters, digits, `_`, `-` or `.`'),
      z.custom<PayloadTransform>(isFunction, { message: 'a function (event, subscription) => data' }),
    )
    .default({}),
  dispatcher: dispatcherOptionsSchema,
});

/** The options after parsing: every default filled in, frozen. */
export interface ResolvedWebhooksOptions {
  readonly events?: EventCatalog;
  readonly storage?: StorageAdapter;
  readonly retry: RetryPolicy;
  readonly http: Readonly<Required<Omit<HttpOptions, 'proxy'>> & { proxy: ResolvedProxy | null }>;
  readonly security: Readonly<
    Omit<Required<SecurityOptions>, 'secretsKey' | 'payloadKey' | 'sensitiveHeaders'> &
      Pick<SecurityOptions, 'secretsKey' | 'payloadKey'> & { sensitiveHeaders: readonly string[] | 'all' }
  >;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly pollIntervalMs: number;
  readonly maxPayloadBytes: number;
  readonly transport?: Transport;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly meter?: MeterLike | false;
  readonly flowControl: ResolvedFlowControlOptions;
  readonly circuitBreaker: ResolvedCircuitBreakerOptions;
  readonly autoDisableAfterMs: number | false;
  readonly metricsTenantAttribute: boolean;
  readonly tenantLimits: ResolvedTenantLimits;
  /** `false`: no retention task. */
  readonly retention: ResolvedRetentionOptions | false;
  /** The `environment` option; `null`: none (no envelope field, no header). */
  readonly environment: string | null;
  readonly dispatcher: ResolvedDispatcherOptions;
  /** The `transforms` option; `{}`: none. */
  readonly transforms: PayloadTransforms;
}

/**
 * How much longer than `http.timeoutMs` a lease must be. The dispatcher splits this slack
 * in two: a delivery claimed ahead may wait half of it for a slot, and the other half is
 * left after the request's deadline for the settle (a storage commit) — so at least 500 ms.
 */
export const minLeaseSlackMs = 1000;

/**
 * Refuses an own `__proto__` key of `transforms` (from `JSON.parse`, say), which zod's record
 * drops unseen: no subscription could name the transform the host meant to register.
 * @throws ConfigError `CONFIG_INVALID` on `transforms.__proto__`.
 */
function refuseTransformsProtoKey(options: unknown): void {
  const transforms: unknown = typeof options === 'object' && options !== null ? (options as { transforms?: unknown }).transforms : undefined;
  if (typeof transforms === 'object' && transforms !== null && Object.hasOwn(transforms, '__proto__')) {
    throw new ConfigError(
      'CONFIG_INVALID',
      'Expected each key of `transforms` to be a name other than `__proto__` (which an object copy drops, so no subscription could name it), got "__proto__"',
      { field: 'transforms.__proto__' },
    );
  }
}

/** Parses and freezes `createWebhooks` options; throws `ConfigError` on anything wrong. */
export function resolveWebhooksOptions(options: unknown): ResolvedWebhooksOptions {
  const value = parseConfig(webhooksOptionsSchema, options);
  refuseTransformsProtoKey(options);
  if (value.leaseMs < value.http.timeoutMs + minLeaseSlackMs) {
    throw new ConfigError(
      'CONFIG_LEASE_TOO_SHORT',
      `Expected \`leaseMs\` to be at least \`http.timeoutMs\` + ${minLeaseSlackMs} (${value.http.timeoutMs + minLeaseSlackMs}), got ${value.leaseMs}: a lease must outlive the request it covers and the settle that records it, or a slow receiver gets duplicates`,
      { field: 'leaseMs' },
    );
  }
  // The one default that depends on another option.
  const capSet = value.flowControl.maxInFlightPerSubscription !== undefined;
  const flowControl = Object.freeze({
    ...value.flowControl,
    maxInFlightPerSubscription: value.flowControl.maxInFlightPerSubscription ?? Math.max(1, Math.floor(value.concurrency / 2)),
    // Left unset, the cap is a share that gives way: a subscription alone with work may use every slot.
    maxInFlightWhenAlone: capSet ? null : value.concurrency,
  });
  return Object.freeze({
    ...value,
    flowControl,
    circuitBreaker: value.circuitBreaker === false ? false : Object.freeze(value.circuitBreaker),
    http: Object.freeze({ ...value.http, proxy: resolveProxyOption(value.http.proxy) }),
    security: Object.freeze(value.security),
    tenantLimits: Object.freeze(value.tenantLimits),
    retention: value.retention,
    environment: value.environment ?? null,
    transforms: Object.freeze({ ...value.transforms }),
  });
}
