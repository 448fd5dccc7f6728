/**
 * `webhooks.deliveries`: the delivery log — listing and reading deliveries and their
 * attempts, and sending them again (`redeliver` one, `replay` a window). Inputs are
 * parsed here; the storage answers.
 */
import { z } from 'zod';
import type { Clock } from './clock.js';
import { checkArgumentCount } from './check-argument-count.js';
import { ConflictError, ValidationError, describeValue } from './errors.js';
import type { EventCatalog } from './events/catalog.js';
import { eventTypeFilterKind, matchingEventTypes } from './registry/event-type-filter.js';
import { isStorableText, requireId, storableTextMessage } from './storable-text.js';
import type { PayloadCodec } from './payload-codec.js';
import type { AttemptRecord, BlockedKey, DeliveryRecord, DeliveryStatus, EventRecord, Page, ReadOptions, StorageAdapter, SubscriptionRecord } from './storage/storage-adapter.js';
import { tenantFilterSchema } from './tenant-id.js';
import { parseInput, unreadableInput } from './throw-validation.js';

/** A filter for `deliveries.list`. */
export interface ListDeliveriesQuery {
  subscriptionId?: string;
  /**
   * Deliveries of this tenant's subscriptions (never a platform consumer's delivery of the
   * tenant's events); `null`: of the platform's subscriptions (without a tenant).
   */
  tenantId?: string | null;
  eventId?: string;
  /** One status or several. */
  status?: DeliveryStatus | DeliveryStatus[];
  /**
   * Deliveries of this event type, or of any of these (1 to 100): exact names such as
   * `payment.succeeded`, no wildcard.
   */
  eventType?: string | string[];
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

/** The query of `deliveries.blockedKeys`. */
export interface BlockedKeysQuery {
  subscriptionId: string;
  /** @defaultValue 100 (at most 1000) */
  limit?: number;
  cursor?: string;
}

/** The `webhooks.deliveries` API: the delivery log. Times are epoch ms. */
export interface DeliveryLog {
  list(query?: ListDeliveriesQuery): Promise<Page<DeliveryRecord>>;
  /** What is not delivered and may still be: pending (due, scheduled, in flight), held and dead — newest first (cancelled ones are final). */
  undelivered(query?: Omit<ListDeliveriesQuery, 'status'>): Promise<Page<DeliveryRecord>>;
  get(id: string): Promise<DeliveryRecord | null>;
  /** Attempts of a delivery, oldest first. */
  attempts(deliveryId: string): Promise<AttemptRecord[]>;
  /**
   * The envelope a delivery sends when it has its own — its subscription's `transform` made
   * it at publish — as the endpoint gets it (opened when sealed at rest); `null` when it
   * sends its event's (`events.get`), or once its event was expunged. An unknown id is
   * refused (`DELIVERY_NOT_FOUND`), as by `attempts`: `null` would say it sends its event's.
   */
  sentBody(id: string): Promise<string | null>;
  /**
   * Sends a delivery again now (a dead or delivered one, or a pending one ahead of its
   * schedule), with a fresh attempt cycle. Rejects with a `ConflictError`:
   * `DELIVERY_IN_FLIGHT` while an attempt of it is under way, `SUBSCRIPTION_DISABLED` while
   * its subscription is disabled, and for good `EVENT_EXPUNGED` (its content was erased) or
   * `SUBSCRIPTION_DELETED`.
   */
  redeliver(id: string): Promise<DeliveryRecord>;
  /**
   * Re-sends to a subscription every event of the window it did not get (dead or missing
   * deliveries) — of its own tenant only (every tenant's for an all-tenant consumer).
   * Expunged events are never sent again, and with a payload `filter` only the events it
   * matches (as it reads now) are; a deleted subscription is refused
   * (`SUBSCRIPTION_DELETED`).
   */
  replay(options: ReplayOptions): Promise<{ count: number }>;
  /**
   * The ordering keys of a subscription that a dead delivery blocks (its policy is
   * `ordering: { onDead: 'block' }`), oldest blocking delivery first: each with that delivery
   * and how many deliveries of the key wait behind it. `redeliver` or `skip` the delivery to
   * unblock its key. Unknown subscription: `SUBSCRIPTION_NOT_FOUND`.
   */
  blockedKeys(query: BlockedKeysQuery): Promise<Page<BlockedKey>>;
  /**
   * Lets a blocked ordering key move on past its dead delivery, which stays dead (returned
   * as it is): the next delivery of the key is sent at once. `DELIVERY_NOT_FOUND`; a
   * `ConflictError` `DELIVERY_NOT_BLOCKING` when the delivery does not block its key
   * (unordered, not dead, or already passed).
   */
  skip(id: string): Promise<DeliveryRecord>;
}

/** What the delivery log needs of the instance around it. */
export interface DeliveryLogDeps {
  storage: StorageAdapter;
  /** The catalog: `replay` re-sends the types of it that the subscription's filters match. */
  catalog: EventCatalog;
  clock: Clock;
  /** Tells the dispatcher that deliveries became due. */
  wake: () => void;
  /** Evaluates a subscription's payload filter on a stored event (routing/filter-callbacks.ts): `replay` applies it. */
  replayFilter: (filter: string, event: EventRecord, subscriptionId: string) => boolean;
  /** Renders a replayed delivery's payload for its subscription's version pins and transform (routing/payload-transforms.ts); `null`: the event's own. */
  replayRender: (subscription: SubscriptionRecord, event: EventRecord) => string | null;
  /** Opens a delivery's own payload (`security.payloadKey`). */
  payloadCodec: PayloadCodec;
}

/** An id given to a query: text a storage can hold. */
export const storableId = z.string().min(1).max(255).refine(isStorableText, storableTextMessage);
/** A time given to a query: a Date or epoch ms, read as epoch ms. */
export const timeSchema = z.union([z.date(), z.int().min(0).describe('epoch milliseconds (an integer ≥ 0)')]).transform((value) => (value instanceof Date ? value.getTime() : value));
/** An exact event type given to a query (a wildcard filter is refused). */
export const eventTypeName = z
  .string()
  .max(255)
  .refine((type) => eventTypeFilterKind(type) === 'exact', 'an exact event type name, e.g. "payment.succeeded" (no wildcard)');
const deliveryStatus = z.enum(['pending', 'held', 'delivered', 'dead', 'cancelled']);
const listDeliveriesSchema = z.strictObject({
  subscriptionId: storableId.optional(),
  tenantId: tenantFilterSchema.optional(),
  eventId: storableId.optional(),
  status: z.union([deliveryStatus, z.array(deliveryStatus).min(1).max(5)]).optional(),
  eventType: z.union([eventTypeName, z.array(eventTypeName).min(1).max(100)]).optional(),
  since: timeSchema.optional(),
  until: timeSchema.optional(),
  limit: z.int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(1000).optional(),
});
const blockedKeysSchema = z.strictObject({
  subscriptionId: storableId,
  limit: z.int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(1000).optional(),
});
const replaySchema = z.strictObject({
  subscriptionId: storableId,
  since: timeSchema,
  until: timeSchema.optional(),
  dryRun: z.boolean().optional(),
});

/**
 * The log's reads (list, get, sentBody, attempts) are what an operator looks at: they may be
 * served by a read replica. redeliver, replay, blockedKeys and skip read and write on the primary.
 */
const logRead: ReadOptions = { mayLag: true };

/** Creates the delivery log over a storage. */
export function createDeliveryLog(deps: DeliveryLogDeps): DeliveryLog {
  const { storage, catalog, clock } = deps;

  async function list(query: ListDeliveriesQuery = {}): Promise<Page<DeliveryRecord>> {
    checkArgumentCount(arguments.length, 1, 'deliveries.list(query?)', 'call');
    const { eventType, ...rest } = parseInput('INPUT_INVALID', listDeliveriesSchema, query);
    return storage.listDeliveries(eventType === undefined ? rest : { ...rest, eventTypes: typeof eventType === 'string' ? [eventType] : eventType }, logRead);
  }

  return {
    list,

    async undelivered(query = {}) {
      checkArgumentCount(arguments.length, 1, 'deliveries.undelivered(query?)', 'call');
      let copy: ListDeliveriesQuery;
      try {
        if (typeof query === 'object' && query !== null && 'status' in query) {
          throw new ValidationError('INPUT_INVALID', 'Expected no `status` in `undelivered()`: it lists pending, held and dead', { field: 'status' });
        }
        // Each key read once, here: what the list parses is what was checked.
        copy = { ...query };
      } catch (error) {
        throw error instanceof ValidationError ? error : unreadableInput('INPUT_INVALID', error);
      }
      return list({ ...copy, status: ['pending', 'held', 'dead'] });
    },

    async get(id) {
      checkArgumentCount(arguments.length, 1, 'deliveries.get(id)', 'call');
      return storage.getDelivery(requireId(id, 'id'), logRead);
    },

    async sentBody(id) {
      checkArgumentCount(arguments.length, 1, 'deliveries.sentBody(id)', 'call');
      const deliveryId = requireId(id, 'id');
      const delivery = await storage.getDelivery(deliveryId, logRead);
      if (delivery === null) throw new ValidationError('DELIVERY_NOT_FOUND', `No delivery with id ${describeValue(deliveryId)}`, { field: 'id' });
      const payload = await storage.getDeliveryPayload(delivery.id, logRead);
      // An expunged event's deliveries keep no content either ('').
      return payload === null || payload === '' ? null : deps.payloadCodec.open(payload, delivery.eventId);
    },

    async attempts(deliveryId) {
      checkArgumentCount(arguments.length, 1, 'deliveries.attempts(deliveryId)', 'call');
      const id = requireId(deliveryId, 'deliveryId');
      const delivery = await storage.getDelivery(id, logRead);
      if (delivery === null) throw new ValidationError('DELIVERY_NOT_FOUND', `No delivery with id ${describeValue(id)}`, { field: 'deliveryId' });
      return storage.listAttempts(id, logRead);
    },

    async redeliver(id) {
      checkArgumentCount(arguments.length, 1, 'deliveries.redeliver(id)', 'call');
      const deliveryId = requireId(id, 'id');
      const result = await storage.redeliver(deliveryId, clock.now());
      if (result === 'not_found') throw new ValidationError('DELIVERY_NOT_FOUND', `No delivery with id ${describeValue(deliveryId)}`, { field: 'id' });
      if (result === 'in_flight') {
        throw new ConflictError('DELIVERY_IN_FLIGHT', `Delivery ${deliveryId} is being attempted right now; try again when it settles`, { field: 'id' });
      }
      if (result === 'held') {
        throw new ConflictError('SUBSCRIPTION_DISABLED', `Delivery ${deliveryId} is held: its subscription is disabled; enable it first`, { field: 'id' });
      }
      if (result === 'expunged') {
        throw new ConflictError('EVENT_EXPUNGED', `Delivery ${deliveryId} cannot be sent again: its event's content was expunged`, { field: 'id' });
      }
      if (result === 'deleted') {
        throw new ConflictError('SUBSCRIPTION_DELETED', `Delivery ${deliveryId} cannot be sent again: its subscription was deleted`, { field: 'id' });
      }
      deps.wake();
      return result;
    },

    async replay(replayOptions) {
      checkArgumentCount(arguments.length, 1, 'deliveries.replay(options)', 'call');
      const parsed = { data: parseInput('INPUT_INVALID', replaySchema, replayOptions) };
      const subscription = await storage.getSubscription(parsed.data.subscriptionId);
      if (subscription === null) {
        throw new ValidationError('SUBSCRIPTION_NOT_FOUND', `No subscription with id ${describeValue(parsed.data.subscriptionId)}`, {
          field: 'subscriptionId',
        });
      }
      if (subscription.deletedAt !== null) {
        throw new ConflictError('SUBSCRIPTION_DELETED', `Expected a subscription that is not deleted to replay to, got ${subscription.id}`, { field: 'subscriptionId' });
      }
      const result = await storage.replay({
        ...parsed.data,
        eventTypes: matchingEventTypes(catalog.types, subscription.eventTypes),
        matchesFilter: (filter, event) => deps.replayFilter(filter, event, subscription.id),
        render: deps.replayRender,
        now: clock.now(),
      });
      if (!parsed.data.dryRun && result.count > 0) deps.wake();
      return result;
    },

    async blockedKeys(query) {
      checkArgumentCount(arguments.length, 1, 'deliveries.blockedKeys(query)', 'call');
      const parsed = { data: parseInput('INPUT_INVALID', blockedKeysSchema, query) };
      if ((await storage.getSubscription(parsed.data.subscriptionId)) === null) {
        throw new ValidationError('SUBSCRIPTION_NOT_FOUND', `No subscription with id ${describeValue(parsed.data.subscriptionId)}`, { field: 'subscriptionId' });
      }
      return storage.listBlockedKeys(parsed.data);
    },

    async skip(id) {
      checkArgumentCount(arguments.length, 1, 'deliveries.skip(id)', 'call');
      const deliveryId = requireId(id, 'id');
      const result = await storage.skipDelivery(deliveryId, clock.now());
      if (result === 'not_found') throw new ValidationError('DELIVERY_NOT_FOUND', `No delivery with id ${describeValue(deliveryId)}`, { field: 'id' });
      if (result === 'not_blocking') {
        throw new ConflictError(
          'DELIVERY_NOT_BLOCKING',
          `Expected a dead delivery that blocks its ordering key, got ${deliveryId}, which does not (unordered, not dead, or its key moved on already)`,
          { field: 'id' },
        );
      }
      deps.wake();
      return result;
    },
  };
}
