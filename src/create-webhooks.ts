/**
 * `createWebhooks()`: composes the event bus, the subscription registry, the signer
 * and the dispatcher over one storage adapter — the whole sending side.
 */
import { z } from 'zod';
import { Dispatcher } from './delivery/dispatcher.js';
import { createAddressGuard } from './delivery/ssrf-guard.js';
import { FlowControl } from './delivery/flow-control.js';
import { createSecretCodec, normalizeSecretsKeys } from './registry/secret-codec.js';
import { createUndiciTransport } from './delivery/undici-transport.js';
import { checkArgumentCount } from './check-argument-count.js';
import { ConfigError, ConflictError, StateError, ValidationError, describeValue } from './errors.js';
import { bookkeeperEvents, type BookkeeperEvents } from './events/bookkeeper-events.js';
import { eventDataCheck, type EventDataCheck } from './events/event-data-check.js';
import { compiledSchema, type EventCatalog, type EventDataOf, type EventInputOf, type EventTypeOf } from './events/catalog.js';
import { EventBus, type PublishedEvent } from './events/event-bus.js';
import { createId } from './ids.js';
import type { JsonValueProblem } from './json-value-problem.js';
import { isStorableText, requireId, storableTextMessage } from './storable-text.js';
import { DeliveryMetrics, type MetricsSnapshot } from './metrics/delivery-metrics.js';
import { OtelDeliveryMetrics, globalMeter } from './metrics/otel-metrics.js';
import { createSubscriptionRegistry, type SubscriptionRegistry } from './registry/subscription-registry.js';
import { createMemoryStorage } from './storage/memory/index.js';
import type {
  AttemptRecord,
  DeliveryRecord,
  DeliveryStatus,
  EnqueueInput,
  EnqueueResult,
  EventRecord,
  Page,
  StorageStats,
} from './storage/storage-adapter.js';
import { throwValidation } from './throw-validation.js';
import { resolveWebhooksOptions, type WebhooksOptions } from './webhooks-options.js';

/** Options of `publish`. */
export interface PublishOptions {
  /** Publishing again with the same key returns the first event and sends nothing new. */
  idempotencyKey?: string;
  /**
   * The host's transaction (a `pg` client inside BEGIN; the better-sqlite3 database
   * for `publishSync`): the event and its deliveries commit or roll back with it.
   * With `tx`, the business event is not emitted on the bus (the commit is the host's).
   */
  tx?: unknown;
}

/** What `publish` resolves to. */
export interface PublishResult<TType extends string = string, TData = unknown> extends PublishedEvent<TType, TData> {
  /** False when the idempotency key was seen before: this is the first event, nothing new was stored. */
  created: boolean;
  /** Deliveries created (one per matching active subscription). */
  deliveryCount: number;
}

/** A filter for `deliveries.list`. */
export interface ListDeliveriesQuery {
  subscriptionId?: string;
  eventId?: string;
  /** One status or several. */
  status?: DeliveryStatus | DeliveryStatus[];
  /** Created at or after (Date or epoch ms). */
  since?: Date | number;
  /** Created before (Date or epoch ms). */
  until?: Date | number;
  /** @defaultValue 100 (at most 1000) */
  limit?: number;
  cursor?: string;
}

/** The input of `deliveries.replay`. */
export interface ReplayOptions {
  subscriptionId: string;
  since: Date | number;
  until?: Date | number;
  /** Count what would be re-sent, change nothing. */
  dryRun?: boolean;
}

/** The `webhooks.deliveries` API: the delivery log. Times are epoch ms. */
export interface DeliveryLog {
  list(query?: ListDeliveriesQuery): Promise<Page<DeliveryRecord>>;
  /** What is not delivered: pending (due, scheduled, in flight), held and dead — newest first. */
  undelivered(query?: Omit<ListDeliveriesQuery, 'status'>): Promise<Page<DeliveryRecord>>;
  get(id: string): Promise<DeliveryRecord | null>;
  /** Attempts of a delivery, oldest first. */
  attempts(deliveryId: string): Promise<AttemptRecord[]>;
  /** Sends a delivery again now (a dead or delivered one, or a pending one ahead of its schedule), with a fresh attempt cycle. */
  redeliver(id: string): Promise<DeliveryRecord>;
  /** Re-sends to a subscription every event of the window it did not get (dead or missing deliveries). */
  replay(options: ReplayOptions): Promise<{ count: number }>;
}

/** Options of `drain`. */
export interface DrainOptions {
  /**
   * Give up after this long (wall clock) with `DRAIN_TIMEOUT`.
   * @defaultValue 30000
   */
  timeoutMs?: number;
}

/** A webhooks instance: what `createWebhooks` returns. */
export interface Webhooks<TCatalog extends EventCatalog = BookkeeperEvents> {
  readonly events: TCatalog;
  readonly bus: EventBus<TCatalog>;
  readonly subscriptions: SubscriptionRegistry<TCatalog>;
  readonly deliveries: DeliveryLog;
  /**
   * Validates `data` against the catalog, stores the event and one delivery per matching
   * active subscription atomically, and resolves once durable. Rejects with a coded
   * `ValidationError` (unknown type, invalid data, payload too large) and stores nothing.
   */
  publish<TType extends EventTypeOf<TCatalog>>(
    type: TType,
    data: EventInputOf<TCatalog, TType>,
    options?: PublishOptions,
  ): Promise<PublishResult<TType, EventDataOf<TCatalog, TType>>>;
  /**
   * `publish` done synchronously, for a storage with synchronous transactions (SQLite):
   * call it inside the host's `db.transaction(() => …)` with `{ tx: db }`, and the event
   * commits or rolls back with the ledger write. Throws instead of rejecting.
   */
  publishSync<TType extends EventTypeOf<TCatalog>>(
    type: TType,
    data: EventInputOf<TCatalog, TType>,
    options?: PublishOptions,
  ): PublishResult<TType, EventDataOf<TCatalog, TType>>;
  /** Starts the dispatcher (runs `storage.migrate()` first). */
  start(): Promise<void>;
  /** Stops claiming, waits for posts in flight and their settles. The storage stays open. */
  stop(): Promise<void>;
  /** `stop()`, then closes the transport (if the instance made it) and the storage. */
  close(): Promise<void>;
  /**
   * Resolves when no delivery is pending (due, scheduled for a retry, or under a lease)
   * and none is in flight; held deliveries (disabled subscriptions) do not count.
   */
  drain(options?: DrainOptions): Promise<void>;
  /**
   * A snapshot of delivery metrics (this process) and the backlog (every process); with
   * `subscriptionId`, the backlog of that subscription.
   */
  metrics(options?: { subscriptionId?: string }): Promise<MetricsSnapshot>;
}

const publishOptionsSchema = z.strictObject({
  idempotencyKey: z.string().min(1).max(255).refine(isStorableText, storableTextMessage).optional(),
  tx: z.unknown().optional(),
});
/** `publish(type, data)` without options: nothing to parse. */
const noPublishOptions: PublishOptions = Object.freeze({});
const drainSchema = z.strictObject({ timeoutMs: z.int().min(0).max(30 * 24 * 3_600_000).default(30_000) });
const storableId = z.string().min(1).max(255).refine(isStorableText, storableTextMessage);
const timeSchema = z.union([z.date(), z.int().min(0).describe('epoch milliseconds (an integer ≥ 0)')]).transform((value) => (value instanceof Date ? value.getTime() : value));
const deliveryStatus = z.enum(['pending', 'held', 'delivered', 'dead']);
const listDeliveriesSchema = z.strictObject({
  subscriptionId: storableId.optional(),
  eventId: storableId.optional(),
  status: z.union([deliveryStatus, z.array(deliveryStatus).min(1).max(4)]).optional(),
  since: timeSchema.optional(),
  until: timeSchema.optional(),
  limit: z.int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(1000).optional(),
});
const metricsSchema = z.strictObject({ subscriptionId: storableId.optional() });
const replaySchema = z.strictObject({
  subscriptionId: storableId,
  since: timeSchema,
  until: timeSchema.optional(),
  dryRun: z.boolean().optional(),
});

/**
 * `JSON.stringify({ id, type, timestamp, data })`, the same text, written around the data's
 * own JSON: the id (`createId`: a prefix and Crockford base32) and the ISO timestamp need no
 * escaping, and the type's JSON is made once per type (`afterId`). Serialising only the data
 * takes ~0.3 µs less of a 1 KB envelope's ~2.3. Data with a `toJSON` method takes the whole
 * envelope through `JSON.stringify`, because `toJSON` is told the key it is serialised under.
 */
function envelopeJson(id: string, type: string, afterId: string, timestamp: string, data: unknown): string {
  if (typeof data === 'object' && data !== null && typeof (data as { toJSON?: unknown }).toJSON === 'function') {
    return JSON.stringify({ id, type, timestamp, data });
  }
  const dataJson = JSON.stringify(data) as string | undefined;
  // Like JSON.stringify, an envelope whose data has no JSON form (undefined) has no `data` key.
  if (dataJson === undefined) return `{"id":"${id}${afterId}${timestamp}"}`;
  return `{"id":"${id}${afterId}${timestamp}","data":${dataJson}}`;
}

/** Refuses data that JSON would store changed (see `eventDataCheck`) with `EVENT_DATA_INVALID`. */
function checkEventData(check: EventDataCheck, input: unknown, output: unknown): void {
  let problem: JsonValueProblem | null;
  try {
    problem = check(input, output, 'data');
  } catch (cause) {
    // A throwing toJSON or getter, or nesting deeper than the stack.
    throw new ValidationError('EVENT_DATA_INVALID', `Expected \`data\` to serialize to JSON, got an error (${cause instanceof Error ? cause.message : String(cause)})`, {
      field: 'data',
      cause,
    });
  }
  if (problem !== null) {
    const field = ['data', ...problem.path].join('.');
    throw new ValidationError(
      'EVENT_DATA_INVALID',
      `Expected \`${field}\` to have a JSON form that reads back the same, got ${problem.found}`,
      { field },
    );
  }
}

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
  const catalog = (resolved.events ?? bookkeeperEvents) as unknown as TCatalog;
  const storage = resolved.storage ?? createMemoryStorage();
  const ownsTransport = resolved.transport === undefined;
  const transport = resolved.transport ?? createUndiciTransport({ connectionsPerOrigin: resolved.concurrency });
  const { clock, logger } = resolved;
  const bus = new EventBus<TCatalog>();
  bus.onListenerError = (error, eventName) => logger.error({ err: error, event: eventName }, 'webhooks: a bus listener threw');
  const metrics = new DeliveryMetrics();
  const newDeliveryId = (): string => createId('dlv', clock.now());
  const guard = resolved.security.allowPrivateNetworks ? null : createAddressGuard(resolved.security.allowedHosts);
  const codec = createSecretCodec(resolved.security.secretsKey === undefined ? [] : normalizeSecretsKeys(resolved.security.secretsKey));
  const dispatcher = new Dispatcher({
    storage,
    transport,
    bus: bus as unknown as EventBus,
    metrics,
    clock,
    random: resolved.random,
    logger,
    retry: resolved.retry,
    guard,
    codec,
    flow: new FlowControl(clock, resolved.flowControl, resolved.circuitBreaker),
    autoDisableAfterMs: resolved.autoDisableAfterMs,
    concurrency: resolved.concurrency,
    leaseMs: resolved.leaseMs,
    pollIntervalMs: resolved.pollIntervalMs,
    timeoutMs: resolved.http.timeoutMs,
    maxResponseBytes: resolved.http.maxResponseBytes,
    maxRetryAfterMs: resolved.http.maxRetryAfterMs,
    userAgent: resolved.http.userAgent,
  });
  const meter = resolved.meter === false ? null : (resolved.meter ?? globalMeter());
  if (meter !== null) {
    // The two backlog gauges are observed in the same collection: they share one read of
    // the storage while it is under way, instead of counting twice.
    let statsRead: Promise<{ stats: StorageStats; now: number }> | null = null;
    const readStats = async () => {
      const now = clock.now();
      return { stats: await storage.stats(now), now };
    };
    metrics.otel = new OtelDeliveryMetrics(meter, {
      retrySuccessRate: () => metrics.retrySuccessRate(),
      inFlight: () => dispatcher.inFlight,
      stats: () =>
        (statsRead ??= readStats().finally(() => {
          statsRead = null;
        })),
    });
  }
  const registry = createSubscriptionRegistry<TCatalog>({
    storage,
    catalog,
    clock,
    security: resolved.security,
    guard,
    codec,
    onChange: () => dispatcher.wake(),
    newDeliveryId,
  });
  const subscriptions: SubscriptionRegistry<TCatalog> = {
    ...registry,
    async delete(id) {
      await registry.delete(id);
      // The dispatcher keeps decoded signing keys per subscription: a deleted one's go now.
      dispatcher.forgetSubscription(id);
    },
  };
  let closed = false;
  let migrated: Promise<void> | null = null;

  // Event type → what publish needs of it, made on the first publish of the type: the schema
  // it validates with (compiled), the check of what the schema lets through that JSON would
  // change (null for a schema that cannot), and the envelope's text between the id and the
  // timestamp.
  const publishTypes = new Map<string, { schema: z.ZodType; check: EventDataCheck | null; afterId: string }>();
  let lastTimestampMs = Number.NaN;
  let lastTimestamp = '';

  /** Validates and serialises a publish: everything before storage, all synchronous. */
  function prepare(type: unknown, data: unknown, publishOptions: unknown): { input: EnqueueInput; data: unknown; timestamp: string } {
    if (closed) throw new StateError('WEBHOOKS_STOPPED', 'This webhooks instance is closed');
    if (typeof type !== 'string' || !catalog.has(type)) {
      throw new ValidationError(
        'EVENT_TYPE_UNKNOWN',
        `Expected an event type of the catalog (${catalog.types.join(', ')}), got ${describeValue(type)}`,
        { field: 'type' },
      );
    }
    let options: PublishOptions = noPublishOptions;
    if (publishOptions != null) {
      const parsedOptions = publishOptionsSchema.safeParse(publishOptions);
      if (!parsedOptions.success) throwValidation('INPUT_INVALID', parsedOptions.error, publishOptions, publishOptionsSchema, 'options');
      options = parsedOptions.data;
    }
    let publishType = publishTypes.get(type);
    if (publishType === undefined) {
      const schema = catalog.schemas[type]!;
      publishType = {
        schema: compiledSchema(schema),
        check: eventDataCheck(schema),
        afterId: `","type":${JSON.stringify(type)},"timestamp":"`,
      };
      publishTypes.set(type, publishType);
    }
    const parsed = publishType.schema.safeParse(data);
    if (!parsed.success) throwValidation('EVENT_DATA_INVALID', parsed.error, data, catalog.schemas[type]!, 'data');
    if (publishType.check !== null) checkEventData(publishType.check, data, parsed.data);
    const now = clock.now();
    const id = createId('evt', now);
    // Publishes of the same millisecond share the envelope's timestamp string.
    if (now !== lastTimestampMs) {
      lastTimestamp = new Date(now).toISOString();
      lastTimestampMs = now;
    }
    const timestamp = lastTimestamp;
    let payload: string;
    try {
      payload = envelopeJson(id, type, publishType.afterId, timestamp, parsed.data);
    } catch (cause) {
      // A schema that lets through what JSON cannot hold (a BigInt, a cycle, a throwing toJSON).
      throw new ValidationError(
        'EVENT_DATA_INVALID',
        `Expected \`data\` to serialize to JSON, got ${describeValue(parsed.data)} (${cause instanceof Error ? cause.message : String(cause)})`,
        { field: 'data', cause },
      );
    }
    // Byte length, not characters: the cap protects receivers and storage rows. Measured
    // on every payload, also for what it does to the string: the payload is a rope
    // of pieces, and reading its bytes flattens it in place while it is hot in cache. The
    // dispatcher encodes the payload again for every attempt; on a rope left as it came, the
    // first encode flattened it cold — 5–12 µs per 1 KB payload in the dispatch profile,
    // against under 1 µs here.
    const bytes = Buffer.byteLength(payload);
    if (bytes > resolved.maxPayloadBytes) {
      throw new ValidationError(
        'PAYLOAD_TOO_LARGE',
        `Expected the serialized event to be at most ${resolved.maxPayloadBytes} bytes, got ${bytes}`,
        { field: 'data' },
      );
    }
    const event: EventRecord = {
      id,
      type,
      timestamp: now,
      payload,
      idempotencyKey: options.idempotencyKey ?? null,
    };
    const input: EnqueueInput = { event, newDeliveryId, now };
    if (options.tx !== undefined) input.tx = options.tx;
    return { input, data: parsed.data, timestamp };
  }

  function finish(prepared: { input: EnqueueInput; data: unknown; timestamp: string }, result: EnqueueResult): PublishResult {
    const { event } = result;
    const data = result.created ? prepared.data : (JSON.parse(event.payload) as { data: unknown }).data;
    const published: PublishResult = {
      id: event.id,
      type: event.type,
      // The envelope's own timestamp string when this publish stored the event.
      timestamp: result.created ? prepared.timestamp : new Date(event.timestamp).toISOString(),
      data,
      idempotencyKey: event.idempotencyKey,
      created: result.created,
      deliveryCount: result.deliveryCount,
    };
    if (result.created && result.deliveryCount > 0) dispatcher.wake();
    return published;
  }

  function emitPublished(published: PublishResult): void {
    if (!published.created || bus.listenerCount(published.type as never) === 0) return;
    const { created: _created, deliveryCount: _count, ...event } = published;
    (bus as unknown as EventBus).safeEmit(event.type as never, event as never);
  }

  const webhooks: Webhooks<TCatalog> = {
    events: catalog,
    bus,
    subscriptions,

    publish(type, data, publishOptions) {
      // No `await` before enqueue: the validation runs synchronously so that the
      // storage sees the host's transaction in the same tick it was handed over.
      let prepared: ReturnType<typeof prepare>;
      try {
        checkArgumentCount(arguments.length, 3, 'publish(type, data, options?)', 'call');
        prepared = prepare(type, data, publishOptions);
      } catch (error) {
        return Promise.reject(error);
      }
      return storage.enqueue(prepared.input).then((result) => {
        const published = finish(prepared, result);
        if (prepared.input.tx === undefined) emitPublished(published);
        return published as never;
      });
    },

    publishSync(type, data, publishOptions) {
      checkArgumentCount(arguments.length, 3, 'publishSync(type, data, options?)', 'call');
      if (!storage.enqueueSync) {
        throw new ConfigError('TX_UNSUPPORTED', `Storage "${storage.name}" has no synchronous enqueue; use publish()`);
      }
      const prepared = prepare(type, data, publishOptions);
      const result = storage.enqueueSync(prepared.input);
      const published = finish(prepared, result);
      if (prepared.input.tx === undefined) emitPublished(published);
      return published as never;
    },

    deliveries: {
      async list(query = {}) {
        const parsed = listDeliveriesSchema.safeParse(query);
        if (!parsed.success) throwValidation('INPUT_INVALID', parsed.error, query, listDeliveriesSchema);
        return storage.listDeliveries(parsed.data);
      },
      async undelivered(query = {}) {
        if (typeof query === 'object' && query !== null && 'status' in query) {
          throw new ValidationError('INPUT_INVALID', 'Expected no `status` in `undelivered()`: it lists pending, held and dead', { field: 'status' });
        }
        return webhooks.deliveries.list({ ...query, status: ['pending', 'held', 'dead'] });
      },
      async get(id) {
        return storage.getDelivery(requireId(id, 'id'));
      },
      async attempts(deliveryId) {
        const id = requireId(deliveryId, 'deliveryId');
        const delivery = await storage.getDelivery(id);
        if (delivery === null) throw new ValidationError('DELIVERY_NOT_FOUND', `No delivery with id ${describeValue(id)}`, { field: 'deliveryId' });
        return storage.listAttempts(id);
      },
      async redeliver(id) {
        const deliveryId = requireId(id, 'id');
        const result = await storage.redeliver(deliveryId, clock.now());
        if (result === 'not_found') throw new ValidationError('DELIVERY_NOT_FOUND', `No delivery with id ${describeValue(deliveryId)}`, { field: 'id' });
        if (result === 'in_flight') {
          throw new ConflictError('DELIVERY_IN_FLIGHT', `Delivery ${deliveryId} is being attempted right now; try again when it settles`, { field: 'id' });
        }
        if (result === 'held') {
          throw new ValidationError('SUBSCRIPTION_DISABLED', `Delivery ${deliveryId} is held: its subscription is disabled; enable it first`, { field: 'id' });
        }
        dispatcher.wake();
        return result;
      },
      async replay(replayOptions) {
        const parsed = replaySchema.safeParse(replayOptions);
        if (!parsed.success) throwValidation('INPUT_INVALID', parsed.error, replayOptions, replaySchema);
        const subscription = await storage.getSubscription(parsed.data.subscriptionId);
        if (subscription === null) {
          throw new ValidationError('SUBSCRIPTION_NOT_FOUND', `No subscription with id ${describeValue(parsed.data.subscriptionId)}`, {
            field: 'subscriptionId',
          });
        }
        const result = await storage.replay({ ...parsed.data, now: clock.now(), newDeliveryId });
        if (!parsed.data.dryRun && result.count > 0) dispatcher.wake();
        return result;
      },
    },

    async start() {
      if (closed) throw new StateError('WEBHOOKS_STOPPED', 'This webhooks instance is closed');
      migrated ??= storage.migrate();
      await migrated;
      if (!codec.encrypts) {
        logger.warn({}, 'webhooks: security.secretsKey is not set; subscription secrets are stored unencrypted');
      }
      await dispatcher.start();
    },

    async stop() {
      await dispatcher.stop();
    },

    async close() {
      if (closed) return;
      closed = true;
      await dispatcher.stop();
      if (ownsTransport) await transport.close();
      await storage.close();
    },

    async drain(drainOptions = {}) {
      const parsed = drainSchema.safeParse(drainOptions);
      if (!parsed.success) throwValidation('INPUT_INVALID', parsed.error, drainOptions, drainSchema);
      const deadline = Date.now() + parsed.data.timeoutMs;
      // Polls the storage (other processes may hold leases) on the wall clock: drain is an
      // observer for scripts and tests, not a schedule, so it does not use the injected clock.
      for (;;) {
        await dispatcher.whenIdle();
        const stats = await storage.stats(clock.now());
        if (stats.pending === 0 && dispatcher.inFlight === 0) return;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new StateError(
            'DRAIN_TIMEOUT',
            `Expected the backlog to drain within ${parsed.data.timeoutMs} ms, but ${stats.pending} deliveries are still pending`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(left, 10)));
      }
    },

    async metrics(options = {}) {
      const parsed = metricsSchema.safeParse(options);
      if (!parsed.success) throwValidation('INPUT_INVALID', parsed.error, options, metricsSchema);
      const now = clock.now();
      const backlog = await storage.stats(now, parsed.data.subscriptionId === undefined ? undefined : { subscriptionId: parsed.data.subscriptionId });
      return metrics.snapshot(dispatcher.inFlight, backlog, now);
    },
  };
  return webhooks;
}
