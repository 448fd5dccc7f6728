/**
 * `webhooks.events` beside the catalog: published events as stored — read one back, list
 * them oldest first (for one subscription: signed as they were, or would be, sent to it),
 * or erase the content of some (`expunge`: a GDPR request about one counterparty, a
 * departing customer's payloads), keeping ids, types, times, statuses and change logs so
 * the delivery record stays whole. An expunged event is never sent again, nor signed.
 */
import { z } from 'zod';
import type { Clock } from './clock.js';
import { eventTypeName, storableId, timeSchema } from './delivery-log.js';
import { checkArgumentCount } from './check-argument-count.js';
import { ConfigError, ConflictError, StorageError, ValidationError, describeValue } from './errors.js';
import type { EventCatalog } from './events/catalog.js';
import type { PayloadCodec } from './payload-codec.js';
import { matchingEventTypes } from './registry/event-type-filter.js';
import type { SecretCodec } from './registry/secret-codec.js';
import { activeSecrets } from './registry/subscription-registry.js';
import { createSigningKeys, signatureHeader, wipeSigningKeys } from './signing/sign-webhook.js';
import { requireId } from './storable-text.js';
import { encodeCursor } from './storage/shared/cursor.js';
import { receivesTenant } from './storage/shared/tenancy.js';
import type { EventQuery, EventRecord, Page, ReadOptions, StorageAdapter, SubscriptionRecord } from './storage/storage-adapter.js';
import { tenantFilterSchema } from './tenant-id.js';
import { parseInput } from './throw-validation.js';

/** A published event as stored. Times are epoch ms. */
export interface StoredEvent {
  id: string;
  type: string;
  /** Publication time (the envelope's `timestamp`). */
  timestamp: number;
  /** The tenant it was published for; `null` without one. */
  tenantId: string | null;
  idempotencyKey: string | null;
  /** Its ordering key (`publish(…, { orderingKey })`, README "Ordering"); `null`: unordered. */
  orderingKey: string | null;
  /** The envelope's `metadata` (`publish(…, { metadata })`); `null` when it has none, and once expunged. */
  metadata: Record<string, string> | null;
  /** The envelope's `data`; `null` once expunged. */
  data: unknown;
  /** When its content was erased; `null` while it is kept. */
  expungedAt: number | null;
}

/**
 * The Standard Webhooks headers of a listed event, signed when it was listed. A type, not an
 * interface, so that it passes as the `headers` of `verifyWebhook` as it is.
 */
export type SignedEventHeaders = {
  /** The event id: the same as on every push of it, so a receiver's dedupe sees one event. */
  'webhook-id': string;
  /** When it was signed (unix seconds): the time of the `list` call, not of publication. */
  'webhook-timestamp': string;
  /** `v1,<base64>` per secret the subscription signs with now (several during a rotation). */
  'webhook-signature': string;
};

/** An event as `events.list` and `events.iterate` give it. */
export interface ListedEvent extends StoredEvent {
  /**
   * With `subscriptionId`: the exact body the event was (or would be) sent to that
   * subscription with — the payload as published, opened when sealed at rest, or, for a
   * subscription with a `transform` or version pins, the envelope it gets (in its pinned
   * version, as its transform makes it: the downgrades and the transform run again — keep
   * them pure, and this is what the deliveries stored). `null`
   * without `subscriptionId`, and for an expunged event (a tombstone: only its id, type,
   * times and tenant remain).
   */
  body: string | null;
  /**
   * With `subscriptionId`: `webhook-id`, `webhook-timestamp` and `webhook-signature` over
   * `body`, signed now with the subscription's current secrets, so the consumer verifies it
   * as a pushed webhook. `null` whenever `body` is.
   */
  headers: SignedEventHeaders | null;
  /**
   * With `subscriptionId`: true for an event of its types and tenant that its payload
   * `filter` (as it reads now) leaves out — listed, without its content (`data`, `metadata`,
   * `body` and `headers` are `null`), so that paging moves past it; it is never sent to that
   * subscription. False otherwise.
   */
  filteredOut: boolean;
}

/** A filter for `events.list` and `events.iterate`. Every condition given must hold. */
export interface ListEventsQuery {
  /**
   * Only what this subscription receives — events of its tenant (every tenant's for an
   * all-tenant consumer), of the catalog types its filters match — each with the body it is
   * sent with and headers signed with its current secrets; what its payload `filter` leaves
   * out comes without content, `filteredOut: true`. A `tenantId` or `types` beyond that is
   * refused (`SUBSCRIPTION_SCOPE_EXCEEDED`), never widened.
   */
  subscriptionId?: string;
  /** This tenant's events; `null`: those published without a tenant. */
  tenantId?: string | null;
  /** Only these types (exact names, e.g. `payment.succeeded`; at least one). */
  types?: readonly string[];
  /** Published at or after (Date or epoch ms). */
  since?: Date | number;
  /** Published before (Date or epoch ms). */
  until?: Date | number;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
  /** @defaultValue 100 (at most 1000) */
  limit?: number;
}

/** Which events `expunge` erases: all that match every given condition. */
export interface ExpungeSelector {
  /** This tenant's events; `null`: those published without a tenant. */
  tenantId?: string | null;
  /** Events published before this time (Date or epoch ms). */
  before?: Date | number;
  /**
   * Events whose content matches, e.g. `(event) => event.data.counterparty?.id === 'cus_1'`
   * for a request about one counterparty. Called with each candidate not yet expunged,
   * newest first, a page of 500 at a time; it must return a boolean, synchronously (`true`:
   * erase it).
   *
   * Each page is judged whole before any of it is erased. A filter that throws, or returns
   * anything but a boolean — a promise (an `async` filter, whose promise would count as
   * `true` and erase everything), a string, `undefined`, … — stops the erasure at that page:
   * nothing of it is erased, the pages before it are (what the filter said `true` of), and
   * the call rejects with what the filter threw, or with `ValidationError` `INPUT_INVALID`
   * (field `filter`) naming the event and the value, and how many events earlier pages
   * erased. Run it again once fixed to go on: expunging is idempotent.
   */
  filter?: (event: StoredEvent) => boolean;
}

/** What `expunge` did. */
export interface ExpungeSummary {
  /** Events whose content was erased now (already expunged ones are not counted). */
  expunged: number;
  /** Their open deliveries (pending or held) that were cancelled: they will not be sent. */
  cancelled: number;
  /** Response snippets erased from their attempts. */
  snippets: number;
}

/** The stored events, beside the catalog in `webhooks.events`. */
export interface StoredEvents {
  /** The event, expunged ones included (with `data` `null`), or `null` when there is none with this id. */
  get(id: string): Promise<StoredEvent | null>;
  /**
   * A page of events, oldest first, expunged ones included as tombstones. With
   * `subscriptionId`, only what that subscription receives, each with its body and fresh
   * signed headers (see {@link ListedEvent}): a consumer that missed events catches up
   * from here (`createEventFeedHandler` serves it over HTTP).
   *
   * @throws ValidationError `INPUT_INVALID` for a malformed query, `SUBSCRIPTION_NOT_FOUND`,
   *   `SUBSCRIPTION_SCOPE_EXCEEDED` for a `tenantId` or `types` beyond the subscription's,
   *   `CURSOR_INVALID`; ConflictError `SUBSCRIPTION_DELETED`.
   */
  list(query?: ListEventsQuery): Promise<Page<ListedEvent>>;
  /**
   * Every event `list` would give, page after page (`limit` is the page size), oldest first.
   * The query is checked at once; the subscription and the cursor when the first page is read.
   */
  iterate(query?: ListEventsQuery): AsyncIterableIterator<ListedEvent>;
  /**
   * Erases the content of one event (by id) or of every event a selector matches: the
   * payload, and the response snippets of its attempts, are replaced by a tombstone;
   * ids, types, times, statuses and change logs stay. Its open deliveries are cancelled;
   * `deliveries.redeliver` of it is refused with `EVENT_EXPUNGED` and `replay` skips it.
   * A selector needs at least one condition (erasing every event is
   * `expunge({ filter: () => true })`, said on purpose). An unknown id is refused
   * (`EVENT_NOT_FOUND`); an expunged one changes nothing.
   */
  expunge(target: string | ExpungeSelector): Promise<ExpungeSummary>;
}

/** What the stored events need of the instance. */
export interface StoredEventsDeps {
  storage: StorageAdapter;
  clock: Clock;
  /** Opens stored payloads (`security.payloadKey`). */
  payloads: PayloadCodec;
  /** The catalog: a subscription lists the types of it that its filters match, as `replay` sends them. */
  catalog: EventCatalog;
  /** Opens subscription secrets (`security.secretsKey`) to sign listed events. */
  secrets: SecretCodec;
  /** Evaluates a subscription's payload filter on a stored event (routing/filter-callbacks.ts): what it leaves out is not listed for it. */
  matchesFilter: (filter: string, event: EventRecord, subscriptionId: string) => boolean;
  /** The envelope a subscription with a transform or version pins gets for a stored event (routing/payload-transforms.ts); `null`: the event's own. */
  transformedBody: (subscription: SubscriptionRecord, event: EventRecord) => string | null;
  /** Told the ids of events just expunged: the dispatcher gives back what it claimed ahead of them, unsent. */
  expunged: (eventIds: readonly string[]) => void;
}

const selectorSchema = z
  .strictObject({
    tenantId: tenantFilterSchema.optional(),
    before: timeSchema.optional(),
    filter: z.custom<(event: StoredEvent) => boolean>((value) => typeof value === 'function', { message: 'a function (event) => boolean' }).optional(),
  })
  .refine((selector) => selector.tenantId !== undefined || selector.before !== undefined || selector.filter !== undefined, {
    message: 'at least one of tenantId, before or filter (to erase every event, pass filter: () => true)',
  });

/** Parses {@link ListEventsQuery} (a type test keeps the two in step). @internal */
export const listEventsQuerySchema = z.strictObject({
  subscriptionId: storableId.optional(),
  tenantId: tenantFilterSchema.optional(),
  types: z.array(eventTypeName).min(1).max(1000).readonly().optional(),
  since: timeSchema.optional(),
  until: timeSchema.optional(),
  cursor: z.string().min(1).max(1000).optional(),
  limit: z.int().min(1).max(1000).default(100),
});
type ParsedListQuery = z.output<typeof listEventsQuerySchema>;

/** Events read per page, and erased per storage call, while a selector is walked. */
const PAGE = 500;

/**
 * `get`, `list` and `iterate` are a consumer's or an operator's view: a read replica may
 * serve them. `expunge` selects on the primary (an erasure must see every event), and so
 * does the event feed (see {@link listOnPrimary}).
 */
const logRead: ReadOptions = { mayLag: true };

/**
 * Each `events.list` → the same list on the primary, for the event feed. Keyed by the
 * function: `webhooks.events` copies it onto the catalog (create-webhooks.ts).
 */
const primaryLists = new WeakMap<object, (query?: ListEventsQuery) => Promise<Page<ListedEvent>>>();

/**
 * `events.list` read on the primary, never a replica: the event feed moves its cursor past
 * events older than its `settleMs`, and a replica lagging longer than that would make it
 * move past events it has not seen yet, for good.
 *
 * @internal Used by the event feed.
 */
export function listOnPrimary(events: Pick<StoredEvents, 'list'>, query?: ListEventsQuery): Promise<Page<ListedEvent>> {
  return primaryLists.get(events.list)?.(query) ?? events.list(query);
}

/**
 * The cursor of the feed page after the event `eventId`, whether or not the storage saw more
 * then: what a consumer keeps to come back for what is published later. The storage's own
 * cursor for oldest-first pages (storage/shared/cursor.ts, list `feed`), made above it.
 *
 * @internal Used by the event feed.
 */
export function feedCursorAfter(eventId: string): string {
  return encodeCursor('feed', eventId);
}

function scopeExceeded(field: 'tenantId' | 'types', message: string): ValidationError {
  return new ValidationError('SUBSCRIPTION_SCOPE_EXCEEDED', message, { field });
}

/**
 * The storage query for what `subscription` receives, narrowed by the caller's `tenantId`
 * and `types` — refused when they reach beyond it. The tenant rule is the fan-out's
 * (`receivesTenant`); the types are the catalog's that its filters match, as `replay` has them.
 */
function subscriptionScope(subscription: SubscriptionRecord, catalogTypes: readonly string[], query: ParsedListQuery): Pick<EventQuery, 'tenantId' | 'types'> {
  let tenantId: string | null | undefined;
  if (query.tenantId !== undefined) {
    if (!receivesTenant(subscription, query.tenantId)) {
      throw scopeExceeded(
        'tenantId',
        `Expected \`tenantId\` to be one subscription ${subscription.id} receives (${subscription.tenantId === null ? 'null: it has no tenant' : describeValue(subscription.tenantId)}), got ${describeValue(query.tenantId)}`,
      );
    }
    tenantId = query.tenantId;
  } else if (!subscription.allTenants) {
    tenantId = subscription.tenantId;
  }
  const receives = matchingEventTypes(catalogTypes, subscription.eventTypes);
  let types = receives;
  if (query.types !== undefined) {
    const outside = query.types.filter((type) => !receives.includes(type));
    if (outside.length > 0) {
      throw scopeExceeded('types', `Expected \`types\` among those subscription ${subscription.id} receives (${receives.join(', ')}), got ${outside.map((type) => JSON.stringify(type)).join(', ')}`);
    }
    types = [...new Set(query.types)];
  }
  return { ...(tenantId === undefined ? {} : { tenantId }), types };
}

/** Creates `webhooks.events`' stored-event calls. */
export function createStoredEvents(deps: StoredEventsDeps): StoredEvents {
  const { storage, clock, payloads, catalog, secrets } = deps;

  function toStoredEvent(record: EventRecord, body: string | null = record.expungedAt === null ? payloads.open(record.payload, record.id) : null): StoredEvent {
    const envelope = body === null ? null : (JSON.parse(body) as { metadata?: Record<string, string>; data?: unknown });
    return {
      id: record.id,
      type: record.type,
      timestamp: record.timestamp,
      tenantId: record.tenantId,
      idempotencyKey: record.idempotencyKey,
      orderingKey: record.orderingKey,
      metadata: envelope?.metadata ?? null,
      data: envelope?.data ?? null,
      expungedAt: record.expungedAt,
    };
  }

  /**
   * What the host's `filter` says of one event: a boolean, or the erasure stops (nothing of
   * the page being judged is erased yet). `erasedBefore`: what earlier pages erased, for the message.
   */
  function filterSelects(filter: (event: StoredEvent) => boolean, record: EventRecord, erasedBefore: number): boolean {
    let event: StoredEvent;
    try {
      event = toStoredEvent(record);
    } catch (error) {
      // Sealed with a key this instance lacks: the filter cannot judge it, and the erasure
      // stops here as for a filter that throws, saying how far it got.
      if (!(error instanceof ConfigError && error.code === 'PAYLOAD_KEY_INVALID')) throw error;
      throw new ConfigError('PAYLOAD_KEY_INVALID', `${error.message}: the \`filter\` cannot judge it${progress(erasedBefore)}`, { cause: error });
    }
    const verdict: unknown = filter(event);
    if (typeof verdict === 'boolean') return verdict;
    const thenable = typeof (verdict as { then?: unknown } | null | undefined)?.then === 'function';
    // Not awaited: were it to reject, the rejection must not crash the host as unhandled.
    if (thenable) Promise.resolve(verdict).catch(() => undefined);
    throw new ValidationError(
      'INPUT_INVALID',
      `Expected \`filter\` to return a boolean (true: erase the event), got ${describeValue(verdict)} for event ${record.id}` +
        (thenable ? ' (an async filter is not supported: a promise would count as true and erase every event; read what it needs first and pass a synchronous filter)' : '') +
        progress(erasedBefore),
      { field: 'filter' },
    );
  }

  /** How far an erasure stopped at a page got, for its error's message. */
  function progress(erasedBefore: number): string {
    return erasedBefore === 0
      ? '; nothing was expunged'
      : `; nothing of its page was expunged, and the ${erasedBefore} events erased from earlier pages stay erased (run it again once fixed to go on)`;
  }

  async function expungeSelected(selector: z.output<typeof selectorSchema>): Promise<ExpungeSummary> {
    const summary: ExpungeSummary = { expunged: 0, cancelled: 0, snippets: 0 };
    let cursor: string | undefined;
    do {
      const page = await storage.listEvents({
        limit: PAGE,
        ...(selector.tenantId === undefined ? {} : { tenantId: selector.tenantId }),
        ...(selector.before === undefined ? {} : { until: selector.before }),
        ...(cursor === undefined ? {} : { cursor }),
      });
      // The whole page is judged before any of it is erased (see ExpungeSelector.filter).
      const ids: string[] = [];
      for (const record of page.items) {
        if (record.expungedAt !== null) continue;
        if (selector.filter === undefined || filterSelects(selector.filter, record, summary.expunged)) ids.push(record.id);
      }
      if (ids.length > 0) {
        const result = await storage.expungeEvents(ids, clock.now());
        deps.expunged(ids);
        summary.expunged += result.events;
        summary.cancelled += result.cancelled;
        summary.snippets += result.snippets;
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return summary;
  }

  function parseListQuery(query: unknown): ParsedListQuery {
    return parseInput('INPUT_INVALID', listEventsQuerySchema, query ?? {});
  }

  async function listPage(query: ParsedListQuery, read: ReadOptions): Promise<Page<ListedEvent>> {
    const { subscriptionId, since, until, cursor, limit } = query;
    const window: EventQuery = {
      limit,
      order: 'asc',
      ...(since === undefined ? {} : { since }),
      ...(until === undefined ? {} : { until }),
      ...(cursor === undefined ? {} : { cursor }),
    };
    if (subscriptionId === undefined) {
      const page = await storage.listEvents(
        {
          ...window,
          ...(query.tenantId === undefined ? {} : { tenantId: query.tenantId }),
          ...(query.types === undefined ? {} : { types: query.types }),
        },
        read,
      );
      return { items: page.items.map((record) => ({ ...toStoredEvent(record), body: null, headers: null, filteredOut: false })), nextCursor: page.nextCursor };
    }
    const subscription = await storage.getSubscription(subscriptionId);
    if (subscription === null) throw new ValidationError('SUBSCRIPTION_NOT_FOUND', `No subscription with id ${describeValue(subscriptionId)}`, { field: 'subscriptionId' });
    if (subscription.deletedAt !== null) {
      throw new ConflictError('SUBSCRIPTION_DELETED', `Subscription ${subscriptionId} was deleted: it receives nothing, so nothing is listed for it`, { field: 'subscriptionId' });
    }
    const scope = subscriptionScope(subscription, catalog.types, query);
    const page = await storage.listEvents({ ...window, ...scope }, read);
    const allowed = new Set(scope.types);
    for (const record of page.items) {
      // Signed content leaves the process to a consumer: what the storage returned is held to
      // the query it was given, so a storage out of step with the contract cannot hand one
      // tenant another's events.
      if (!receivesTenant(subscription, record.tenantId) || (scope.tenantId !== undefined && record.tenantId !== scope.tenantId) || !allowed.has(record.type)) {
        throw new StorageError('STORAGE_FAILED', `listEvents returned event ${record.id} (${record.type}), which the query for subscription ${subscriptionId} excludes`);
      }
    }
    const now = clock.now();
    const signing = activeSecrets(subscription, now);
    if (signing.length === 0) throw new ConfigError('SECRET_INVALID', `Subscription ${subscriptionId} has no active secret to sign with`);
    const keys = createSigningKeys(signing.map((secret) => secrets.open(secret.value, subscription.id)));
    try {
      const timestamp = Math.floor(now / 1000);
      const items = page.items.map((record): ListedEvent => {
        if (record.expungedAt !== null) return { ...toStoredEvent(record, null), body: null, headers: null, filteredOut: false };
        // What the payload filter leaves out is not received: listed without its content, so
        // that a consumer paging through (the event feed) moves past it.
        if (subscription.filter !== null && !deps.matchesFilter(subscription.filter, record, subscription.id)) {
          return { ...toStoredEvent(record, null), body: null, headers: null, filteredOut: true };
        }
        // The event as stored, and what the subscription gets of it: in its pinned version, as its transform makes it.
        const opened = payloads.open(record.payload, record.id);
        const body = (subscription.transform === null && subscription.versions === null ? null : deps.transformedBody(subscription, record)) ?? opened;
        return {
          ...toStoredEvent(record, opened),
          body,
          headers: { 'webhook-id': record.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signatureHeader(keys, record.id, timestamp, body) },
          filteredOut: false,
        };
      });
      return { items, nextCursor: page.nextCursor };
    } finally {
      // Keys opened for one page go with it: nothing of a subscription's secrets stays behind.
      wipeSigningKeys(keys);
    }
  }

  async function* walk(query: ParsedListQuery): AsyncGenerator<ListedEvent> {
    let cursor = query.cursor;
    do {
      const page = await listPage({ ...query, ...(cursor === undefined ? {} : { cursor }) }, logRead);
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  const events: StoredEvents = {
    async get(id) {
      checkArgumentCount(arguments.length, 1, 'events.get(id)', 'call');
      const record = await storage.getEvent(requireId(id, 'id'), logRead);
      return record === null ? null : toStoredEvent(record);
    },

    async list(query = {}) {
      checkArgumentCount(arguments.length, 1, 'events.list(query?)', 'call');
      return listPage(parseListQuery(query), logRead);
    },

    iterate(query = {}) {
      checkArgumentCount(arguments.length, 1, 'events.iterate(query?)', 'call');
      return walk(parseListQuery(query));
    },

    async expunge(target) {
      checkArgumentCount(arguments.length, 1, 'events.expunge(idOrSelector)', 'call');
      if (typeof target === 'string') {
        const id = requireId(target, 'id');
        if ((await storage.getEvent(id)) === null) throw new ValidationError('EVENT_NOT_FOUND', `No event with id ${describeValue(id)}`, { field: 'id' });
        const result = await storage.expungeEvents([id], clock.now());
        deps.expunged([id]);
        return { expunged: result.events, cancelled: result.cancelled, snippets: result.snippets };
      }
      return expungeSelected(parseInput('INPUT_INVALID', selectorSchema, target));
    },
  };
  primaryLists.set(events.list, async (query = {}) => listPage(parseListQuery(query), {}));
  return events;
}
