/**
 * `publish` and `publishSync`: validate an event against the catalog, serialise its
 * envelope, hand it to the storage with its fan-out, and announce it on the bus. All
 * the work before the storage is synchronous, so that the storage sees the host's
 * transaction in the same tick it was handed over.
 */
import { z } from 'zod';
import { checkArgumentCount } from './check-argument-count.js';
import type { Clock } from './clock.js';
import { ConfigError, StateError, ValidationError, describeValue } from './errors.js';
import { compiledSchema, eventTypeVersions, type EventCatalog, type EventDataOf, type EventInputOf, type EventTypeOf } from './events/catalog.js';
import type { EventBus, PublishedEvent } from './events/event-bus.js';
import { eventDataCheck, type EventDataCheck } from './events/event-data-check.js';
import { envelopeEnvironmentJson, envelopeJson, envelopeTypeJson } from './envelope-json.js';
import { eventMetadataOrNull, eventMetadataSchema, refuseMetadataProtoKey } from './event-metadata.js';
import { createId } from './ids.js';
import { createIsoTimestampCache } from './iso-timestamp-cache.js';
import type { JsonValueProblem } from './json-value-problem.js';
import type { PayloadCodec } from './payload-codec.js';
import { publishedEventFilter } from './routing/filter-callbacks.js';
import type { TransformRenderer } from './routing/payload-transforms.js';
import { isStorableText, storableTextMessage } from './storable-text.js';
import { orderingKeySchema } from './ordering-key.js';
import { tenantIdSchema } from './tenant-id.js';
import type { EnqueueInput, EnqueueResult, EventRecord, NewEventRecord, StorageAdapter } from './storage/storage-adapter.js';
import { parseInput, throwValidation, unreadableInput } from './throw-validation.js';

/** Options of `publish`. */
export interface PublishOptions {
  /**
   * Publishing again with the same key (in the same tenant) returns the first event and
   * sends nothing new. Its `data` is `null` once the event was expunged; read back from a
   * payload sealed with a key this instance lacks, the publish fails with `PAYLOAD_KEY_INVALID`.
   * 1 to 255 characters of well-formed Unicode (no lone surrogate) without U+0000, so that
   * every storage tells the same keys apart.
   */
  idempotencyKey?: string;
  /**
   * The tenant (organisation) the event belongs to: it goes only to that tenant's
   * subscriptions (and to all-tenant consumers). Without it, only to subscriptions without a
   * tenant. Stored with the event; not in the envelope (see `http.tenantHeader`).
   */
  tenantId?: string;
  /**
   * Strings the host attaches to the event for routing and context (`{ region: 'eu' }`), sent
   * in the envelope beside `data` and signed with it; payload filters read them as
   * `metadata.<key>`. At most 20 keys of 1 to 40 letters, digits, `_` or `-` (no `.`), each
   * value a string of at most 500 characters of well-formed Unicode (no lone surrogate) without
   * U+0000. `{}` is the same as none: the envelope then has no `metadata` key.
   * @example `{ metadata: { region: 'eu', source: 'pos' } }`
   */
  metadata?: Record<string, string>;
  /**
   * Deliveries of events with the same key go to each subscription strictly in publish
   * order: the next is not sent until the one before is delivered, or has ended as the
   * subscription's `ordering.onDead` says (README "Ordering"). Keys are independent of each
   * other. 1 to 200 characters, no control characters; sent in the envelope (`orderingKey`),
   * signed, and each delivery carries its number of the key in `webhook-sequence`.
   * @example `{ orderingKey: payment.accountId }`
   */
  orderingKey?: string;
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
  /** Deliveries created (one per matching active subscription of the event's tenant, and per all-tenant consumer, whose payload filter, if any, matches). */
  deliveryCount: number;
}

/** The publishing half of a webhooks instance. */
export interface Publisher<TCatalog extends EventCatalog> {
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
}

/** What the publisher needs of the instance around it. */
export interface PublisherDeps<TCatalog extends EventCatalog> {
  catalog: TCatalog;
  storage: StorageAdapter;
  bus: EventBus;
  clock: Clock;
  /** Largest serialized envelope accepted, in bytes. */
  maxPayloadBytes: number;
  /** The instance's `environment`, written into every envelope; `null`: none (no such key). */
  environment: string | null;
  /** Seals each payload before the storage sees it (`security.payloadKey`), and opens a stored one read back. */
  payloadCodec: PayloadCodec;
  /** True once the instance is closed: publishing then fails with `WEBHOOKS_STOPPED`. */
  /** Renders the payload of a delivery to a subscription with a transform or version pins (routing/payload-transforms.ts). */
  transforms: TransformRenderer;
  isClosed: () => boolean;
  /** Tells the dispatcher that deliveries were created. */
  wake: () => void;
}

const publishOptionsSchema = z.strictObject({
  idempotencyKey: z.string().min(1).max(255).refine(isStorableText, storableTextMessage).optional(),
  tenantId: tenantIdSchema.optional(),
  metadata: eventMetadataSchema.optional(),
  orderingKey: orderingKeySchema.optional(),
  tx: z.unknown().optional(),
});
/** `publish(type, data)` without options: nothing to parse. */
const noPublishOptions: PublishOptions = Object.freeze({});

/** What publish needs of an event type, made on its first publish. */
interface PublishType {
  /** The catalog's schema, compiled. */
  schema: z.ZodType;
  /** The check of what the schema lets through that JSON would change; `null` for a schema that cannot. */
  check: EventDataCheck | null;
  /** The envelope's text between the id and the timestamp. */
  typeJson: string;
  /** For a type with versions, its newest (what `data` is in, and the envelope says); `null` without. */
  version: number | null;
}

interface Prepared {
  input: EnqueueInput;
  data: unknown;
  /** The envelope's ISO timestamp. */
  timestamp: string;
  /** The envelope's metadata; `null`: none. */
  metadata: Readonly<Record<string, string>> | null;
  orderingKey: string | null;
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

/** Creates `publish` and `publishSync` over a storage. */
export function createPublisher<TCatalog extends EventCatalog>(deps: PublisherDeps<TCatalog>): Publisher<TCatalog> {
  const { catalog, storage, bus, clock, maxPayloadBytes, environment, payloadCodec } = deps;
  const environmentJson = envelopeEnvironmentJson(environment);
  const publishTypes = new Map<string, PublishType>();
  const isoTimestamp = createIsoTimestampCache();

  function publishTypeOf(type: string): PublishType {
    let publishType = publishTypes.get(type);
    if (publishType === undefined) {
      const schema = catalog.schemas[type]!;
      const version = eventTypeVersions(catalog, type)?.newest ?? null;
      publishType = {
        schema: compiledSchema(schema),
        check: eventDataCheck(schema),
        typeJson: envelopeTypeJson(type, version),
        version,
      };
      publishTypes.set(type, publishType);
    }
    return publishType;
  }

  /**
   * The `data` and `metadata` of an event stored earlier (an idempotent match): opened if
   * sealed; both `null` once expunged, its content erased.
   * @throws ConfigError `PAYLOAD_KEY_INVALID` when it is sealed with a key this instance lacks.
   */
  function storedEnvelope(event: EventRecord): { data: unknown; metadata: Record<string, string> | null } {
    if (event.expungedAt != null) return { data: null, metadata: null };
    const envelope = JSON.parse(payloadCodec.open(event.payload, event.id)) as { data: unknown; metadata?: Record<string, string> };
    return { data: envelope.data, metadata: envelope.metadata ?? null };
  }

  /** Validates and serialises a publish: everything before storage, all synchronous. */
  function prepare(type: unknown, data: unknown, publishOptions: unknown): Prepared {
    if (deps.isClosed()) throw new StateError('WEBHOOKS_STOPPED', 'This webhooks instance is closed');
    if (typeof type !== 'string' || !catalog.has(type)) {
      throw new ValidationError(
        'EVENT_TYPE_UNKNOWN',
        `Expected an event type of the catalog (${catalog.types.join(', ')}), got ${describeValue(type)}`,
        { field: 'type' },
      );
    }
    let options: PublishOptions = noPublishOptions;
    if (publishOptions != null) {
      // Each option read once, here: the metadata checked for a `__proto__` key is the one parsed.
      let given: unknown = publishOptions;
      try {
        if (typeof publishOptions === 'object' && !Array.isArray(publishOptions)) given = { ...publishOptions };
      } catch (cause) {
        throw unreadableInput('INPUT_INVALID', cause, 'options');
      }
      options = parseInput('INPUT_INVALID', publishOptionsSchema, given, 'options');
      refuseMetadataProtoKey((given as PublishOptions).metadata, 'options.metadata');
    }
    const publishType = publishTypeOf(type);
    let parsed: z.ZodSafeParseResult<unknown>;
    try {
      parsed = publishType.schema.safeParse(data);
    } catch (cause) {
      // A getter or a Proxy trap of the data threw while the schema read it.
      throw unreadableInput('EVENT_DATA_INVALID', cause, 'data');
    }
    if (!parsed.success) throwValidation('EVENT_DATA_INVALID', parsed.error, data, catalog.schemas[type]!, 'data');
    if (publishType.check !== null) checkEventData(publishType.check, data, parsed.data);
    const metadata = eventMetadataOrNull(options.metadata);
    const orderingKey = options.orderingKey ?? null;
    const now = clock.now();
    const id = createId('evt', now);
    const timestamp = isoTimestamp(now);
    let payload: string;
    try {
      payload = envelopeJson(id, type, publishType.typeJson, timestamp, environment, environmentJson, orderingKey, metadata, parsed.data, publishType.version);
    } catch (cause) {
      // A schema that lets through what JSON cannot hold (a BigInt, a cycle, a throwing toJSON).
      throw new ValidationError(
        'EVENT_DATA_INVALID',
        `Expected \`data\` to serialize to JSON, got ${describeValue(parsed.data)} (${cause instanceof Error ? cause.message : String(cause)})`,
        { field: 'data', cause },
      );
    }
    // Byte length of the whole envelope (metadata included), not characters: the cap protects receivers and storage rows. Reading
    // the bytes also flattens the payload (it is built in pieces) here, while it is hot in
    // cache, rather than cold at the dispatcher's first encode of it.
    const bytes = Buffer.byteLength(payload);
    if (bytes > maxPayloadBytes) {
      throw new ValidationError('PAYLOAD_TOO_LARGE', `Expected the serialized event to be at most ${maxPayloadBytes} bytes, got ${bytes}`, {
        field: 'data',
      });
    }
    const event: NewEventRecord = {
      id,
      type,
      timestamp: now,
      // The cap above is on what is sent; the sealed form stored is longer (base64, key id, iv, tag).
      payload: payloadCodec.seal(payload, id),
      idempotencyKey: options.idempotencyKey ?? null,
      tenantId: options.tenantId ?? null,
    };
    if (orderingKey !== null) event.orderingKey = orderingKey;
    const input: EnqueueInput = {
      event,
      now,
      matchesFilter: publishedEventFilter(type, timestamp, metadata, parsed.data),
      render:
        publishType.version === null
          ? (subscription) => deps.transforms.render(subscription, { id, type, timestamp, orderingKey, metadata, tenantId: event.tenantId, data: parsed.data })
          : (subscription) => deps.transforms.render(subscription, { id, type, version: publishType.version!, timestamp, orderingKey, metadata, tenantId: event.tenantId, data: parsed.data }),
    };
    if (options.tx !== undefined) input.tx = options.tx;
    return { input, data: parsed.data, timestamp, metadata, orderingKey };
  }

  function finish(prepared: Prepared, result: EnqueueResult): PublishResult {
    const { event } = result;
    const { data, metadata } = result.created ? { data: prepared.data, metadata: prepared.metadata } : storedEnvelope(event);
    const published: PublishResult = {
      id: event.id,
      type: event.type,
      // The envelope's own timestamp string when this publish stored the event.
      timestamp: result.created ? prepared.timestamp : new Date(event.timestamp).toISOString(),
      metadata,
      orderingKey: event.orderingKey,
      data,
      idempotencyKey: event.idempotencyKey,
      tenantId: event.tenantId,
      created: result.created,
      deliveryCount: result.deliveryCount,
    };
    if (result.created && result.deliveryCount > 0) deps.wake();
    // With a transaction the commit is the host's: the event is not announced before it.
    if (prepared.input.tx === undefined && published.created && bus.listenerCount(published.type as never) > 0) {
      const { created: _created, deliveryCount: _count, ...announced } = published;
      bus.safeEmit(announced.type as never, announced as never);
    }
    return published;
  }

  return {
    publish(type, data, publishOptions) {
      let prepared: Prepared;
      try {
        checkArgumentCount(arguments.length, 3, 'publish(type, data, options?)', 'call');
        prepared = prepare(type, data, publishOptions);
      } catch (error) {
        return Promise.reject(error);
      }
      return storage.enqueue(prepared.input).then((result) => finish(prepared, result) as never);
    },

    publishSync(type, data, publishOptions) {
      checkArgumentCount(arguments.length, 3, 'publishSync(type, data, options?)', 'call');
      if (!storage.enqueueSync) {
        throw new ConfigError('TX_UNSUPPORTED', `Storage "${storage.name}" has no synchronous enqueue; use publish()`);
      }
      const prepared = prepare(type, data, publishOptions);
      return finish(prepared, storage.enqueueSync(prepared.input)) as never;
    },
  };
}
