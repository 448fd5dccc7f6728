/**
 * `createWebhooks()`: the wiring of the sending side. It parses the options once, builds
 * the event bus, the subscription registry, the publisher, the delivery log and the
 * dispatcher over one storage adapter, and runs the instance's lifecycle (start, stop,
 * close, drain) and its metrics.
 */
import { z } from 'zod';
import { createDeliveryLog, storableId, type DeliveryLog } from './delivery-log.js';
import { changeNotice, type DeliveryDispatcher } from './delivery/delivery-dispatcher.js';
import { Dispatcher } from './delivery/dispatcher.js';
import { dispatcherOptions, pickDispatcherSettings, securityParts } from './delivery/dispatcher-settings.js';
import { createUndiciTransport } from './delivery/undici-transport.js';
import { tlsIdentityId } from './delivery/tls-identity.js';
import { WorkerDispatcher } from './delivery/worker/worker-dispatcher.js';
import { storageRecipeFor, workerRecipeFor } from './delivery/worker/worker-support.js';
import { StorageThread, StorageThreadDispatcher } from './delivery/worker/storage-thread.js';
import { checkArgumentCount } from './check-argument-count.js';
import { ConfigError, StateError, ValidationError, describeValue } from './errors.js';
import { bookkeeperEvents, type BookkeeperEvents } from './events/bookkeeper-events.js';
import type { EventCatalog } from './events/catalog.js';
import { EventBus } from './events/event-bus.js';
import { DeliveryMetrics, type MetricsSnapshot } from './metrics/delivery-metrics.js';
import { OtelDeliveryMetrics, globalMeter } from './metrics/otel-metrics.js';
import { createPublisher, type Publisher } from './publish.js';
import { sensitiveHeaderMatcher } from './registry/sensitive-headers.js';
import { createEndpointVerifier } from './registry/endpoint-verification.js';
import { recordTestAttempt } from './registry/record-test-attempt.js';
import { sendTestRequest, type TestRequestDeps } from './registry/send-test-request.js';
import { secretsCreatedAt } from './registry/secrets-created-at.js';
import { announceChange } from './registry/announce-change.js';
import { createSigningReader } from './registry/signing-of-secrets.js';
import { createSubscriptionRegistry, toRedactedSubscription, type SubscriptionRegistry } from './registry/subscription-registry.js';
import { storedEventFilter } from './routing/filter-callbacks.js';
import { createTransformRenderer } from './routing/payload-transforms.js';
import { RetentionTask } from './retention/retention-task.js';
import { createMemoryStorage } from './storage/memory/index.js';
import type { EventRecord, StorageStats, StoredTlsIdentity, SubscriptionRecord, TestAttemptRecord } from './storage/storage-adapter.js';
import { tenantFilterSchema } from './tenant-id.js';
import { createStoredEvents, type StoredEvents } from './stored-events.js';
import { createTenants, type Tenants } from './tenants.js';
import { parseInput } from './throw-validation.js';
import { resolveWebhooksOptions, type WebhooksOptions } from './webhooks-options.js';

/** Options of `drain`. */
export interface DrainOptions {
  /**
   * Give up after this long (wall clock) with `DRAIN_TIMEOUT` — also while posts are in
   * flight: drain stops waiting at the deadline, the posts go on and settle as they would.
   * @defaultValue 30000
   */
  timeoutMs?: number;
}

/** A webhooks instance: what `createWebhooks` returns. */
export interface Webhooks<TCatalog extends EventCatalog = BookkeeperEvents> extends Publisher<TCatalog> {
  /** The event catalog (`schemas`, `types`, `has`), with the stored events: `get` one, `list`/`iterate` them, `expunge` content. */
  readonly events: TCatalog & StoredEvents;
  readonly bus: EventBus<TCatalog>;
  readonly subscriptions: SubscriptionRegistry<TCatalog>;
  readonly deliveries: DeliveryLog;
  /** Tenants as a whole: `delete` removes a departing customer's records. */
  readonly tenants: Tenants;
  /** Starts the dispatcher and the retention task (runs `storage.migrate()` first). */
  start(): Promise<void>;
  /**
   * Stops claiming, waits for posts in flight and their settles, and stops the retention
   * task (after its batch in progress). The storage stays open.
   */
  stop(): Promise<void>;
  /** `stop()`, then closes the transport (if the instance made it) and the storage. */
  close(): Promise<void>;
  /**
   * Resolves when no delivery is pending (due, scheduled for a retry, or under a lease)
   * and none is in flight; held deliveries (disabled subscriptions) do not count. Rejects
   * with `StateError` `DRAIN_TIMEOUT` once `timeoutMs` has passed, whatever it was waiting
   * for (posts in flight go on).
   */
  drain(options?: DrainOptions): Promise<void>;
  /**
   * A snapshot of delivery metrics (this process) and the backlog (every process); with
   * `subscriptionId`, the backlog of that subscription, the age of its oldest active secret
   * and this process's circuit breaker for it (an unknown id: `SUBSCRIPTION_NOT_FOUND`; a
   * deleted subscription's figures are still given); with `tenantId`, of that tenant's
   * subscriptions (`null`: of the platform's, without a tenant).
   */
  metrics(options?: { subscriptionId?: string; tenantId?: string | null }): Promise<MetricsSnapshot>;
}

const drainSchema = z.strictObject({ timeoutMs: z.int().min(0).max(30 * 24 * 3_600_000).default(30_000) });
const metricsSchema = z.strictObject({ subscriptionId: storableId.optional(), tenantId: tenantFilterSchema.optional() });

/**
 * Creates a webhooks instance.
 *
 * @example
 * ```ts
 * const webhooks = createWebhooks({ storage: createSqliteStorage({ filename: 'webhooks.db' }) });
 * await webhooks.start();
 * await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
 * await webhooks.publish('payment.succeeded', { paymentId: 'pay_1', … });
 * ```
 */
export function createWebhooks<TCatalog extends EventCatalog = BookkeeperEvents>(
  options: WebhooksOptions<TCatalog> = {},
): Webhooks<TCatalog> {
  checkArgumentCount(arguments.length, 1, 'createWebhooks(options?)', 'factory');
  const resolved = resolveWebhooksOptions(options);
  const threadOptions = resolved.dispatcher;
  // Refused before anything is made: nothing to close behind a refusal.
  const recipe = threadOptions.thread === 'worker' ? workerRecipeFor(options, resolved, resolved.storage) : null;
  const storageThreadRecipe =
    threadOptions.storageThread === 'worker' ? storageRecipeFor(resolved.storage, "dispatcher.storageThread: 'worker'") : null;
  const catalog = (resolved.events ?? bookkeeperEvents) as unknown as TCatalog;
  const storage = resolved.storage ?? createMemoryStorage();
  const ownsTransport = resolved.transport === undefined;
  if (resolved.http.proxy !== null && resolved.transport !== undefined && resolved.transport.capabilities?.proxy !== true) {
    throw new ConfigError('TRANSPORT_UNSUPPORTED', 'Expected a transport that can use a proxy for `http.proxy` (the default undici transport), got a custom `transport`: the proxy would be ignored', {
      field: 'http.proxy',
    });
  }
  const transport = resolved.transport ?? createUndiciTransport({ connectionsPerOrigin: resolved.concurrency });
  const { clock, logger } = resolved;
  const bus = new EventBus<TCatalog>();
  bus.onListenerError = (error, eventName) => logger.error({ err: error, event: eventName }, 'webhooks: a bus listener threw');
  const metrics = new DeliveryMetrics();
  const { guard, codec, payloadCodec } = securityParts(resolved.security);
  const inWorker = recipe !== null && threadOptions.thread === 'worker';
  const dispatcher: DeliveryDispatcher =
    inWorker
      ? new WorkerDispatcher({
          settings: pickDispatcherSettings(resolved),
          recipe,
          bus: bus as unknown as EventBus,
          metrics,
          logger,
          restartDelayMs: threadOptions.restartDelayMs,
        })
      : inThreadDispatcher();
  function inThreadDispatcher(): DeliveryDispatcher {
    const parts = { transport, bus: bus as unknown as EventBus, metrics, clock, random: resolved.random, logger, guard, codec, payloadCodec };
    if (storageThreadRecipe === null || threadOptions.restartDelayMs === null) return new Dispatcher(dispatcherOptions(resolved, { storage, ...parts }));
    const thread = new StorageThread({ recipe: storageThreadRecipe, bus: bus as unknown as EventBus, logger, restartDelayMs: threadOptions.restartDelayMs });
    return new StorageThreadDispatcher(new Dispatcher(dispatcherOptions(resolved, { storage: thread.storageFor(storage), ...parts })), thread);
  }
  const retention =
    resolved.retention === false
      ? null
      : new RetentionTask({ storage, clock, logger, options: resolved.retention, onPurged: (purged) => metrics.otel?.recordPurged(purged) });
  const meter = resolved.meter === false ? null : (resolved.meter ?? globalMeter());
  if (meter !== null) {
    // The two backlog gauges are observed in the same collection: they share one read of
    // the storage while it is under way, instead of counting twice.
    let statsRead: Promise<{ stats: StorageStats; now: number }> | null = null;
    const readStats = async () => {
      const now = clock.now();
      return { stats: await storage.stats(now, undefined, { mayLag: true }), now };
    };
    metrics.otel = new OtelDeliveryMetrics(
      meter,
      {
        retrySuccessRate: () => metrics.retrySuccessRate(),
        inFlight: () => dispatcher.inFlight,
        retentionLagMs: () => retention?.figures.lagMs ?? null,
        stats: () =>
          (statsRead ??= readStats().finally(() => {
            statsRead = null;
          })),
      },
      { tenantAttribute: resolved.metricsTenantAttribute },
    );
  }
  /**
   * A TLS identity no subscription uses any more (replaced, removed, its subscription or
   * tenant deleted): the pools opened for it close rather than idle out — the dispatcher's,
   * and the host's transport's (test requests) when the dispatcher posts through another (a
   * worker thread's).
   */
  const retireTls = (retired: StoredTlsIdentity): void => {
    const id = tlsIdentityId(retired);
    dispatcher.retireTls(id);
    if (inWorker) transport.retireTls?.(id);
  };
  // The signed test requests (URL verification, sendTest) go out as deliveries do, and go in the test log.
  const testRequests: TestRequestDeps = {
    transport,
    guard,
    codec,
    clock,
    timeoutMs: resolved.http.timeoutMs,
    maxResponseBytes: resolved.http.maxResponseBytes,
    responseSnippetBytes: resolved.http.responseSnippetBytes,
    userAgent: resolved.http.userAgent,
    environment: resolved.environment,
    proxy: resolved.http.proxy,
  };
  const replayFilter = storedEventFilter(payloadCodec);
  const isSensitiveHeader = sensitiveHeaderMatcher(resolved.security.sensitiveHeaders);
  const readSigning = createSigningReader(codec);
  const transforms = createTransformRenderer({
    catalog,
    transforms: resolved.transforms,
    environment: resolved.environment,
    maxPayloadBytes: resolved.maxPayloadBytes,
    payloadCodec,
    toSubscription: (record) => toRedactedSubscription(record, isSensitiveHeader, readSigning, clock.now()),
  });
  const replayRender = (subscription: SubscriptionRecord, event: EventRecord) => transforms.renderStored(subscription, event);
  const recordTest = (attempt: TestAttemptRecord) => recordTestAttempt(storage, logger, attempt);
  const registry = createSubscriptionRegistry<TCatalog>({
    storage,
    catalog,
    clock,
    security: resolved.security,
    guard,
    codec,
    readSigning,
    isSensitiveHeader,
    onChange: () => dispatcher.wake(),
    maxSubscriptionsPerTenant: resolved.tenantLimits.maxSubscriptions ?? undefined,
    tenantHeader: resolved.http.tenantHeader,
    announce: (change, hard) => {
      // The dispatcher first: what it claimed ahead for the subscription carries the record as it was.
      if (change.action !== 'created') dispatcher.subscriptionChanged(changeNotice(change));
      announceChange(bus as unknown as EventBus, change, hard);
    },
    verifyUrlChanges: resolved.security.verifyUrlChanges,
    verifyEndpoint: createEndpointVerifier(testRequests, recordTest),
    sendTestRequest: (record, options) => sendTestRequest(testRequests, record, record.url, 'test', options),
    recordTestAttempt: recordTest,
    announceTest: (event) => (bus as unknown as EventBus).safeEmit('subscription:tested', event),
    replayFilter,
    transformNames: transforms.names,
    replayRender,
    testData: (subscription, event) => transforms.testData(subscription, event),
    tlsSupported: transport.capabilities?.tls === true,
    onTlsRetired: retireTls,
  });
  const subscriptions: SubscriptionRegistry<TCatalog> = {
    ...registry,
    // Every argument is passed on, so that the registry's own checks see them all (an extra positional one is refused).
    async delete(...args: Parameters<SubscriptionRegistry<TCatalog>['delete']>) {
      await registry.delete(...args);
      // The dispatcher keeps decoded signing keys and opened headers per subscription: a deleted one's go now.
      dispatcher.forgetSubscription(args[0]);
    },
  };
  let closed = false;
  let closing: Promise<void> | null = null;
  let migrated: Promise<unknown> | null = null;
  /** The `start()` calls under way: a `stop()` or `close()` waits for them, then stops what they started. */
  const starts = new Set<Promise<void>>();
  /** Counts `stop()` and `close()` calls: a start that sees it change stops starting (the stop wins). */
  let stopRequests = 0;
  const publisher = createPublisher<TCatalog>({
    catalog,
    storage,
    bus: bus as unknown as EventBus,
    clock,
    maxPayloadBytes: resolved.maxPayloadBytes,
    environment: resolved.environment,
    payloadCodec,
    transforms,
    isClosed: () => closed,
    wake: () => dispatcher.wake(),
  });

  /** Stops the dispatcher and the retention task once the starts under way have finished (or failed). */
  async function stopAfterStarts(): Promise<void> {
    if (starts.size > 0) await Promise.all([...starts].map((starting) => starting.catch(() => undefined)));
    await Promise.all([dispatcher.stop(), retention?.stop()]);
  }

  /**
   * Whether the dispatcher went idle before `deadline` (wall clock): `whenIdle()` raced with a
   * timer, so that a post in flight cannot hold `drain` past its timeout. Idle already: true at
   * once (a settled promise beats a timer).
   */
  async function idleBefore(deadline: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
    });
    try {
      return await Promise.race([dispatcher.whenIdle().then(() => true as const), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  const webhooks: Webhooks<TCatalog> = {
    // The catalog stays what `events` was (its fields are read through the prototype), with the stored-event calls on top.
    events: Object.freeze(Object.assign(Object.create(catalog) as TCatalog, createStoredEvents({ storage, clock, payloads: payloadCodec, catalog, secrets: codec, matchesFilter: replayFilter, transformedBody: (subscription, event) => transforms.storedEnvelope(subscription, event), expunged: (ids) => dispatcher.eventsExpunged(ids) }))),
    bus,
    subscriptions,
    publish: publisher.publish,
    publishSync: publisher.publishSync,
    deliveries: createDeliveryLog({ storage, catalog, clock, wake: () => dispatcher.wake(), replayFilter, replayRender, payloadCodec }),
    tenants: createTenants({ storage, clock, forgetSubscription: (id) => dispatcher.forgetSubscription(id), retireTls }),

    async start() {
      checkArgumentCount(arguments.length, 0, 'start()', 'call');
      if (closed) throw new StateError('WEBHOOKS_STOPPED', 'This webhooks instance is closed');
      const stopsBefore = stopRequests;
      const starting = (async () => {
        // Shared by the starts under way; forgotten when it fails, so that a later start()
        // migrates again (the database was down, or busy, at the first) rather than
        // answering the same error for ever.
        migrated ??= storage.migrate().catch((error: unknown) => {
          migrated = null;
          throw error;
        });
        await migrated;
        // A close() or stop() made while migrating wins: nothing may start behind it (a
        // dispatcher's worker thread started now would outlive the stop, on a closed storage).
        if (closed) throw new StateError('WEBHOOKS_STOPPED', 'This webhooks instance was closed while it was starting');
        if (stopRequests !== stopsBefore) return;
        if (!codec.encrypts) {
          logger.warn({}, 'webhooks: security.secretsKey is not set; subscription secrets and sensitive header values are stored unencrypted');
        }
        await dispatcher.start();
        // The stop waits for this start, then stops the dispatcher: the retention task stays stopped.
        if (stopRequests !== stopsBefore) return;
        retention?.start();
      })();
      starts.add(starting);
      try {
        await starting;
      } finally {
        starts.delete(starting);
      }
    },

    async stop() {
      stopRequests++;
      await stopAfterStarts();
    },

    close() {
      // A second close() shares the first: it must not resolve while the dispatcher (or its
      // worker thread) still settles the posts in flight — a host exits once it resolves.
      closing ??= (async () => {
        closed = true;
        stopRequests++;
        await stopAfterStarts();
        if (ownsTransport) await transport.close();
        await storage.close();
      })();
      return closing;
    },

    async drain(drainOptions = {}) {
      checkArgumentCount(arguments.length, 1, 'drain(options?)', 'call');
      const { timeoutMs } = parseInput('INPUT_INVALID', drainSchema, drainOptions);
      const deadline = Date.now() + timeoutMs;
      const timedOut = (what: string) =>
        new StateError('DRAIN_TIMEOUT', `Expected the backlog to drain within ${timeoutMs} ms, but ${what}`);
      // What is in flight (posting, settling, claimed ahead) when the deadline passes: the wait
      // for it is given up, never the posts — they go on and settle as they would.
      const inFlightAtDeadline = () => {
        const inFlight = dispatcher.inFlight;
        return timedOut(`${inFlight} ${inFlight === 1 ? 'delivery is' : 'deliveries are'} still in flight (being posted, settled or claimed ahead)`);
      };
      // Polls the storage (other processes may hold leases) on the wall clock: drain is an
      // observer for scripts and tests, not a schedule, so it does not use the injected clock.
      for (;;) {
        if (!(await idleBefore(deadline))) throw inFlightAtDeadline();
        const stats = await storage.stats(clock.now());
        // Deliveries waiting behind their key's head go once it does; behind a dead one, not
        // without an operator: either way, what is left to wait for is the heads.
        if (stats.pending - stats.waiting === 0 && dispatcher.inFlight === 0) {
          // A dispatcher in a worker thread may have settled the last deliveries just now
          // and not yet reported them: once idle again, every announcement has arrived.
          if (!(await idleBefore(deadline))) throw inFlightAtDeadline();
          return;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          const pending = stats.pending - stats.waiting;
          throw timedOut(`${pending} ${pending === 1 ? 'delivery is' : 'deliveries are'} still pending`);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(left, 10)));
      }
    },

    async metrics(options = {}) {
      checkArgumentCount(arguments.length, 1, 'metrics(options?)', 'call');
      const { subscriptionId, tenantId } = parseInput('INPUT_INVALID', metricsSchema, options);
      // Read before the figures: an unknown id is refused, as by every call that names one,
      // rather than answered with zeros that look like an idle subscription.
      const subscription = subscriptionId === undefined ? null : await storage.getSubscription(subscriptionId);
      if (subscriptionId !== undefined && subscription === null) {
        throw new ValidationError('SUBSCRIPTION_NOT_FOUND', `No subscription with id ${describeValue(subscriptionId)}`, { field: 'subscriptionId' });
      }
      const now = clock.now();
      const scoped = subscriptionId !== undefined || tenantId !== undefined;
      // Figures to look at: a read replica may serve them. drain() reads the primary.
      const backlog = await storage.stats(
        now,
        scoped ? { ...(subscriptionId === undefined ? {} : { subscriptionId }), ...(tenantId === undefined ? {} : { tenantId }) } : undefined,
        { mayLag: true },
      );
      const purged = retention?.figures;
      if (subscriptionId === undefined || subscription === null) return metrics.snapshot(dispatcher.inFlight, backlog, now, null, purged);
      return metrics.snapshot(
        dispatcher.inFlight,
        backlog,
        now,
        {
          oldestActiveSecretCreatedAt: secretsCreatedAt(subscription.secrets, now).oldestActive,
          circuit: await dispatcher.circuit(subscriptionId),
        },
        purged,
      );
    },
  };
  dispatchers.set(webhooks, dispatcher);
  return webhooks;
}

/** Each instance's dispatcher, for {@link internalDispatcher}. */
const dispatchers = new WeakMap<object, DeliveryDispatcher>();

/** @internal An instance's dispatcher (in-thread or the host's side of a worker), for tests. */
export function internalDispatcher(webhooks: object): DeliveryDispatcher | undefined {
  return dispatchers.get(webhooks);
}
