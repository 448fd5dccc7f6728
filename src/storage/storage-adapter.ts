/**
 * The storage contract: one interface that memory, SQLite and PostgreSQL implement,
 * and that one conformance suite (test/conformance/) checks unchanged on each.
 *
 * It speaks in intents — enqueue with fan-out, claim due deliveries under a lease,
 * settle fenced by the lease token, query the log — never in SQL. Backoff is not
 * computed here: the dispatcher decides the outcome of an attempt (with the one
 * pure backoff function) and the storage records it, so every backend behaves alike.
 *
 * Time: every call that depends on time takes `now` (epoch milliseconds) from the
 * caller's injected clock. An adapter whose database has a clock of its own may use
 * it for lease expiry instead (PostgreSQL does, so that clock skew between hosts
 * cannot shorten a lease); it says so with `capabilities.databaseClock`.
 */

import type { Logger } from '../logger.js';

/**
 * How a read may be served. The core marks the reads an operator or a consumer looks at
 * (the delivery log, the event list, the backlog figures) with `mayLag`; every other read
 * — the ones that decide what to write next, or must see a write just made — goes without.
 */
export interface ReadOptions {
  /**
   * The answer may lag the latest commits a little: an adapter with a read replica may
   * serve it there. Absent or false: it sees every write committed before the call.
   */
  readonly mayLag?: boolean;
}

/** What {@link StorageAdapter.subscribeWake} may report through. */
export interface WakeOptions {
  /** Where the adapter says that wake-ups do not work (polling alone then finds new work). */
  readonly logger?: Logger;
}

/** A retry policy as data: what a subscription can store to override the global policy. */
export type StoredRetryPolicy =
  | {
      /** The wait after the 1st, 2nd, … failed attempt; attempts = length + 1. */
      delaysMs: number[];
      /** Fraction of each delay to spread at random, ±; 0 = exact. */
      jitter?: number;
    }
  | {
      initialDelayMs: number;
      factor?: number;
      maxDelayMs?: number;
      maxAttempts: number;
      jitter?: number;
    };

/** A signing secret of a subscription. Several are active during a rotation. */
export interface SecretRecord {
  /**
   * The secret as stored: a `whsec_…` string, or an opaque sealed form when
   * secrets are encrypted at rest. The storage never interprets it.
   */
  value: string;
  /** Epoch ms at which it was created. */
  createdAt: number;
  /** Epoch ms after which it no longer signs; `null` = no expiry. */
  expiresAt: number | null;
}

export type SubscriptionStatus = 'active' | 'disabled';

/** A subscription's policy for a dead delivery of an ordering key: see {@link SubscriptionRecord.orderingOnDead}. */
export type OrderingOnDead = 'block' | 'skip';

/** Flow-control settings of a subscription; each field overrides the global default. */
export interface StoredFlowControl {
  /** Posts in flight to this subscription at once. */
  maxInFlight?: number;
  /** Sustained posts per second; `null` for no limit. */
  ratePerSecond?: number | null;
  /** Posts allowed at once above the sustained rate. */
  burst?: number;
}

/**
 * A subscription's TLS client identity (mutual TLS) and trust settings, as the storage keeps
 * them: PEM text the core validated, the private key sealed with the secrets key like the
 * signing secrets (opaque to the storage).
 */
export interface StoredTlsIdentity {
  /** The client certificate (PEM), and any intermediates after it; `null`: none (a CA or server name only). */
  clientCertificate: string | null;
  /** Its private key (PEM), sealed at rest when `security.secretsKey` is set; `null` exactly when `clientCertificate` is. */
  clientKey: string | null;
  /** The CA certificates (PEM) the endpoint's certificate must chain to, instead of the public roots; `null`: the public roots. */
  ca: string | null;
  /** The name sent as SNI and checked against the endpoint's certificate, instead of the URL's host; `null`: the URL's host. */
  serverName: string | null;
}

/** A subscription as the storage keeps it. */
export interface SubscriptionRecord {
  id: string;
  /**
   * The tenant (the host's organisation id) it belongs to: it receives only that tenant's
   * events. `null`: a subscription of the platform itself, which receives tenantless events
   * (and, with `allTenants`, every tenant's). Fixed at creation (see storage/shared/tenancy.ts).
   */
  tenantId: string | null;
  /**
   * A platform-internal consumer that receives the matching events of every tenant, and the
   * tenantless ones: an explicit opt-in, only with `tenantId` `null`. Fixed at creation.
   */
  allTenants: boolean;
  url: string;
  /** Filters: exact types, `prefix.*`, or `*`. */
  eventTypes: string[];
  /**
   * The subscription's payload filter: its canonical JSON text as the core validated it
   * (routing/payload-filter.ts); `null`: every event of its types. The storage keeps it as
   * given and never interprets it.
   */
  filter: string | null;
  /**
   * The name of the host transform (`createWebhooks({ transforms })`) its deliveries' payloads
   * are rendered with; `null`: they send the event's payload. The storage keeps it as given
   * and never interprets it.
   */
  transform: string | null;
  /**
   * What a dead delivery of an ordering key does to the deliveries of the key behind it
   * (storage/shared/ordering.ts): `block` holds the key until an operator redelivers or
   * skips it; `skip` moves on to the next.
   */
  orderingOnDead: OrderingOnDead;
  /**
   * Its version pins: the canonical JSON text of versioned event type → version, as the core
   * validated it (routing/version-pins.ts); `null`: no pins. The storage keeps it as given and
   * never interprets it; a subscription with pins has its deliveries' payloads rendered as one
   * with a transform has (storage/shared/delivery-payloads.ts).
   */
  versions: string | null;
  secrets: SecretRecord[];
  /** Extra request headers sent with every delivery. */
  headers: Record<string, string>;
  description: string | null;
  metadata: Record<string, unknown>;
  status: SubscriptionStatus;
  disabledReason: string | null;
  disabledAt: number | null;
  retry: StoredRetryPolicy | null;
  flowControl: StoredFlowControl | null;
  /** Its TLS client identity and trust settings; `null`: none (the public roots, no client certificate). */
  tls: StoredTlsIdentity | null;
  /**
   * Epoch ms of the first failed attempt since the last successful one; `null` while the
   * endpoint is healthy. Maintained by `settle`; drives auto-disable after sustained failure.
   */
  failingSince: number | null;
  /**
   * Epoch ms of its soft delete (`softDeleteSubscription`); `null` while it is not deleted. A
   * deleted subscription is `disabled` for good: it gets no new delivery, its open ones are
   * `cancelled`, and its deliveries, attempts and change log stay readable.
   */
  deletedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** The fields of a subscription that `updateSubscription` may change. */
export type SubscriptionPatch = Partial<
  Pick<
    SubscriptionRecord,
    | 'url'
    | 'eventTypes'
    | 'filter'
    | 'transform'
    | 'orderingOnDead'
    | 'versions'
    | 'secrets'
    | 'headers'
    | 'description'
    | 'metadata'
    | 'retry'
    | 'flowControl'
    | 'tls'
  >
>;

/** A published event. `payload` is the exact JSON body every attempt sends. */
export interface EventRecord {
  id: string;
  type: string;
  /** Epoch ms of publication (the envelope's `timestamp`). */
  timestamp: number;
  /** The serialized envelope `{ id, type, timestamp, data }`, byte for byte what is posted. */
  payload: string;
  /** Unique per tenant: the same key in two tenants is two events. */
  idempotencyKey: string | null;
  /** The tenant it was published for; `null` when published without one. */
  tenantId: string | null;
  /**
   * The ordering key it was published with (also in its envelope); `null`: unordered. Its
   * deliveries take it, each with a sequence number of its subscription's key.
   */
  orderingKey: string | null;
  /**
   * Epoch ms at which its content was erased (`expungeEvents`); `null` while it is kept. An
   * expunged event's `payload` is the empty string: its id, type, times and tenant stay.
   */
  expungedAt: number | null;
}

/** An event as `enqueue` takes it: new, so never expunged; without `orderingKey`, unordered. */
export type NewEventRecord = Omit<EventRecord, 'expungedAt' | 'orderingKey'> & { orderingKey?: string | null };

/**
 * `pending`: waiting for its next attempt (due now, scheduled for a retry, or under a lease);
 * `held`: its subscription is disabled — kept, not dropped, resumes on enable;
 * `delivered` and `dead`: final until redelivered;
 * `cancelled`: final for good — its subscription was deleted or its event expunged while it
 * was open (`lastError` says which: {@link CANCELLED_BY_DELETE} or {@link CANCELLED_BY_EXPUNGE}).
 */
export type DeliveryStatus = 'pending' | 'held' | 'delivered' | 'dead' | 'cancelled';

/** The `lastError` of a delivery cancelled because its subscription was deleted. */
export const CANCELLED_BY_DELETE = 'cancelled: its subscription was deleted';
/** The `lastError` of a delivery cancelled because its event was expunged. */
export const CANCELLED_BY_EXPUNGE = 'cancelled: its event was expunged';

export interface DeliveryRecord {
  id: string;
  eventId: string;
  eventType: string;
  subscriptionId: string;
  /**
   * Its subscription's tenant (for a tenant's subscription, the event's tenant too); `null`
   * for a platform subscription's delivery, an all-tenant consumer's included. What
   * tenant-scoped reads (`listDeliveries`, `stats`) filter on.
   */
  tenantId: string | null;
  status: DeliveryStatus;
  /**
   * Attempts made in the current cycle (reset by redeliver and replay): drives the backoff
   * and the retry policy's attempt limit. The delivery's whole count, which numbers the
   * attempt log, is in {@link DeliveryHistory}.
   */
  attempts: number;
  /**
   * Epoch ms of the next attempt when pending; `null` otherwise, and for a pending delivery
   * that waits behind the head of its ordering key (storage/shared/ordering.ts).
   */
  nextAttemptAt: number | null;
  /** Its event's ordering key; `null`: unordered. */
  orderingKey: string | null;
  /**
   * Its number among its subscription's deliveries of the key (1, 2, 3, … in publish order,
   * sent as `webhook-sequence`); `null`: unordered.
   */
  orderingSequence: number | null;
  lastAttemptAt: number | null;
  lastStatusCode: number | null;
  lastError: string | null;
  /** Epoch ms at which a 2xx was received. */
  deliveredAt: number | null;
  /** Epoch ms until which a worker holds it; `null` when not claimed. */
  leaseExpiresAt: number | null;
  createdAt: number;
  /**
   * Epoch ms of its last change: a settle, a release of its lease, a hold or resume, a
   * cancel, a redeliver or replay. A claim does not move it (a lease is the dispatcher's
   * bookkeeping, and on PostgreSQL writing it would cost every lease an entry in each index:
   * see the claim statement). A final delivery's `updatedAt` is when it became final, what
   * retention counts from.
   */
  updatedAt: number;
}

/** How an attempt failed, when it did not get an HTTP response (or got a bad one). */
export type AttemptErrorClass =
  | 'http'
  | 'timeout'
  | 'connect'
  | 'dns'
  | 'tls'
  | 'ssrf'
  | 'network'
  /**
   * The egress proxy (`http.proxy`) failed: refused or timed out the connection, or answered
   * the `CONNECT` with other than 200 (407, 502, …). Retried, but not counted against the
   * endpoint: it moves neither the circuit breaker nor `failingSince` (auto-disable).
   */
  | 'proxy'
  /** The attempt could not be made: the subscription's secret does not open with the configured keys. */
  | 'config';

export type AttemptOutcome = 'delivered' | 'retry' | 'dead' | 'disable';

/** One HTTP attempt of a delivery, as recorded in the log. */
export interface AttemptRecord {
  id: string;
  deliveryId: string;
  /** 1-based across the delivery's whole log: a redelivery goes on counting (1, 2, 3, …). */
  attemptNumber: number;
  /** Epoch ms at which the request started. */
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  errorClass: AttemptErrorClass | null;
  errorMessage: string | null;
  /** The start of the response body, capped. */
  responseSnippet: string | null;
  outcome: AttemptOutcome;
  /** For `retry`: when the next attempt is due. */
  nextAttemptAt: number | null;
}

/** Why a test request was sent: `sendTest` (`test`), or the check of a verified URL change (`url_change`). */
export type TestAttemptReason = 'test' | 'url_change';

/**
 * One signed test request sent to a subscription's endpoint, outside the retry machinery
 * (`subscriptions.sendTest`, a verified URL change), as its test log keeps it. No delivery
 * and no stored event: an event's expunge does not touch it. It goes with its subscription
 * (hard delete, a tenant's removal) and with retention: an ok one by `deliveredBefore`, a
 * failed one by `deadBefore`.
 */
export interface TestAttemptRecord {
  /** The request's `webhook-id` (and its envelope's `id`): `msg_…`, time-sortable. */
  id: string;
  subscriptionId: string;
  /** The subscription's tenant; `null` for a platform subscription. */
  tenantId: string | null;
  /** The event type sent: `webhook.test`, or the catalog type whose example was sent. */
  type: string;
  reason: TestAttemptReason;
  /** Who sent it, as the host names them; `null` when not given. */
  actor: string | null;
  /** Where it was posted (for a URL change: the new URL). */
  url: string;
  /** Epoch ms at which the request started. */
  startedAt: number;
  durationMs: number;
  /** The answer's status; `null` when none came. */
  statusCode: number | null;
  /** A 2xx came within the timeout. */
  ok: boolean;
  /** How it failed (`http` for a non-2xx answer); `null` when ok. */
  errorClass: AttemptErrorClass | null;
  /** `HTTP <status>`, or the failure class and the transport's message; `null` when ok. */
  error: string | null;
  /** The start of the response body, by the rule and limit of a delivery attempt's (`http.responseSnippetBytes`). */
  responseSnippet: string | null;
}

/** A page of one subscription's test log, newest first. */
export interface TestAttemptQuery {
  subscriptionId: string;
  limit: number;
  /** Opaque, from a previous page; an unreadable one throws `ValidationError` `CURSOR_INVALID`. */
  cursor?: string;
}

/** A page of results: `nextCursor` is `null` on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface EnqueueInput {
  event: NewEventRecord;
  /** Epoch ms: the deliveries' creation and due time (the adapter makes their ids, see storage/shared/delivery-ids.ts). */
  now: number;
  /**
   * The host's own transaction handle (a `pg` client inside BEGIN, a better-sqlite3
   * database inside `db.transaction`). Adapters that do not support it reject it with
   * `TX_UNSUPPORTED`.
   */
  tx?: unknown;
  /**
   * Asked once per matching active subscription that has a filter, with its text and the
   * subscription's id (for the core's messages), inside the enqueue's transaction (the core
   * evaluates it on the event's envelope): false → no delivery for that subscription. Absent:
   * such a subscription gets no delivery.
   */
  matchesFilter?: (filter: string, subscriptionId: string) => boolean;
  /**
   * Asked once per subscription that receives the event (after its filter accepted it) and
   * has a `transform` or version pins (`versions`), inside the enqueue's transaction, with the
   * stored subscription record: the text it returns is stored as that delivery's payload (the
   * core seals it as it seals event payloads); `null`: the delivery sends its event's payload
   * (a subscription pinned to the version the event is in). Absent: such a subscription gets
   * no delivery (nothing is sent unrendered). What it throws rejects the enqueue, nothing
   * stored. Subscriptions with neither are never asked about.
   */
  render?: (subscription: SubscriptionRecord) => string | null;
}

export interface EnqueueResult {
  /** The stored event: the first one when the idempotency key was seen before. */
  event: EventRecord;
  /** False when the idempotency key matched an existing event (nothing new stored). */
  created: boolean;
  /** Deliveries created by this call (0 when `created` is false). */
  deliveryCount: number;
}

export interface ClaimInput {
  limit: number;
  leaseMs: number;
  now: number;
  /**
   * Claim nothing for these subscriptions (the dispatcher's flow control: at their
   * concurrency cap, out of rate tokens, or behind an open circuit breaker).
   */
  excludeSubscriptionIds?: readonly string[];
  /**
   * Claim nothing of these tenants' subscriptions (deliveries whose `tenantId` is one of
   * them): the dispatcher's per-tenant rate limit. Deliveries with `tenantId` `null` are
   * never excluded by it.
   */
  excludeTenantIds?: readonly string[];
}

/**
 * What a delivery's log holds across every cycle (a redelivery starts a new cycle of the
 * retry schedule but not a new log). Kept by `settle` with the one rule of
 * storage/shared/delivery-history.ts, never reset.
 */
export interface DeliveryHistory {
  /** Attempts recorded, every cycle counted: the next attempt is number `attempts + 1`. */
  attempts: number;
  /** Epoch ms at which its first failed attempt started; `null` while none has failed. */
  firstFailedAt: number | null;
  /** Epoch ms at which its first successful attempt after a failed one started; `null` until then. */
  recoveredAt: number | null;
}

/** A delivery claimed under a lease, with everything needed to sign and send it. */
export interface ClaimedDelivery {
  delivery: DeliveryRecord;
  /** Its log so far, for the attempt's number and the retry success rate. */
  history: DeliveryHistory;
  /**
   * Its event, with `payload` the delivery's own when it has one (rendered by a transform at
   * fan-out, see {@link EnqueueInput.render}) — the storage substitutes it — so the
   * dispatcher signs and sends `event.payload` unchanged, whichever it is.
   */
  event: EventRecord;
  subscription: SubscriptionRecord;
  /** Fencing token: settle succeeds only while it is still the delivery's token. */
  leaseToken: string;
}

export interface AttemptInput {
  id: string;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  errorClass: AttemptErrorClass | null;
  errorMessage: string | null;
  responseSnippet: string | null;
}

export type SettleOutcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; nextAttemptAt: number }
  | { kind: 'dead' }
  /** The receiver said the endpoint is gone: disable the subscription, hold this delivery. */
  | { kind: 'disable'; reason: string };

export interface Settlement {
  deliveryId: string;
  leaseToken: string;
  attempt: AttemptInput;
  outcome: SettleOutcome;
  /**
   * The delivery's ordering key as its claim returned it (`ClaimedDelivery.delivery.orderingKey`;
   * `null`: unordered), which the dispatcher passes on. A hint only: a storage may use it to
   * take a batch in which a key's head may pass straight to the path that moves heads
   * (PostgreSQL: one statement fewer), and must settle exactly as without it when it is
   * missing or wrong — a delivery's key is the stored one.
   */
  orderingKey?: string | null;
}

export type SettleResult =
  | {
      ok: true;
      delivery: DeliveryRecord;
      /** True when this settle disabled the subscription (it was active before). */
      subscriptionDisabled: boolean;
      /** The subscription's `failingSince` after this settle. */
      failingSince: number | null;
    }
  /** The lease token is stale (the lease expired and another worker took it): nothing changed. */
  | { ok: false; deliveryId: string; code: 'STORAGE_LEASE_LOST' };

export interface SubscriptionQuery {
  limit: number;
  /** Opaque, from a previous page. */
  cursor?: string;
  status?: SubscriptionStatus;
  /** This tenant's subscriptions; `null`: the platform's (tenantless, all-tenant consumers included). */
  tenantId?: string | null;
  /** Soft-deleted ones too; by default they are left out. */
  includeDeleted?: boolean;
}

/** A query of the events: newest first (ids descending), or oldest first with `order: 'asc'`. */
export interface EventQuery {
  /** This tenant's events; `null`: those published without a tenant. */
  tenantId?: string | null;
  /** Only events of these types (exact names; an empty list matches none). */
  types?: readonly string[];
  /** Only events published (`timestamp`) at or after this epoch ms. */
  since?: number;
  /** Only events published before this epoch ms. */
  until?: number;
  /**
   * `desc` (the default): newest first, for the operator; `asc`: oldest first, for a consumer
   * walking forward from where it stopped (the event feed). A cursor belongs to its order:
   * one from the other order is refused (`CURSOR_INVALID`; cursor lists `events` and `feed`).
   */
  order?: 'asc' | 'desc';
  limit: number;
  /** Opaque, from a previous page; an unreadable one throws `ValidationError` `CURSOR_INVALID`. */
  cursor?: string;
}

/** What `expungeEvents` did. */
export interface ExpungeResult {
  /** Events whose content was erased by this call (already expunged or unknown ones are not counted). */
  events: number;
  /** Their open deliveries (pending, leased or not, and held) that became `cancelled`. */
  cancelled: number;
  /** Their attempts whose response snippet was erased (those that had one). */
  snippets: number;
}

/** What a change of a subscription was (see storage/shared/change-log.ts). */
export type SubscriptionChangeAction = 'created' | 'updated' | 'secret_rotated' | 'secrets_resealed' | 'disabled' | 'enabled' | 'deleted';

/**
 * One field's change in a change record, redacted: secrets appear as their times only
 * (`[{ createdAt, expiresAt }]`), sensitive header values as `"[redacted]"`. `before` is
 * `null` in a `created` record.
 */
export interface FieldChange {
  before: unknown;
  after: unknown;
}

/**
 * One entry of a subscription's change log: append-only, written in the same transaction as
 * the change it records (so a change rolled back leaves no entry). Built by
 * storage/shared/change-log.ts from the record before and after, never by hand.
 */
export interface SubscriptionChangeRecord {
  /** `chg_…`, made by the caller (see {@link ChangeAudit}). */
  id: string;
  subscriptionId: string;
  /**
   * Its place in the subscription's log: 1 for the creation, then one more per change, in the
   * order the changes took effect (made by the adapter inside the change's transaction, after
   * the subscription's row is locked — never from a clock, which two hosts do not share).
   */
  sequence: number;
  /** The subscription's tenant (a tenant's removal removes its change log). */
  tenantId: string | null;
  action: SubscriptionChangeAction;
  /** `api`: a call of the subscriptions API; `dispatcher`: the library itself (an endpoint disabled by a 410 or by sustained failure). */
  origin: 'api' | 'dispatcher';
  /** Who made the change, as the host names them (a user id, an email, a service); `null` when not given. */
  actor: string | null;
  reason: string | null;
  /** The fields that changed, by name; a `created` record has every logged field. */
  changes: Record<string, FieldChange>;
  /** Epoch ms. */
  at: number;
}

/**
 * The record of a change that a mutation writes with it: the caller names it, the adapter
 * fills in the diff (from the record it read and wrote in its transaction) with
 * storage/shared/change-log.ts's `changeRecord`.
 */
export interface ChangeAudit {
  /** The change record's id (`chg_…`, made by the caller). */
  id: string;
  action: SubscriptionChangeAction;
  actor: string | null;
  reason: string | null;
  /** Who makes it: a call of the API (the default), or the dispatcher (an auto-disable after sustained failure). */
  origin?: 'api' | 'dispatcher';
  /** Which header names are sensitive (their values are logged as `"[redacted]"`). */
  isSensitiveHeader: (name: string) => boolean;
}

/** A page of one subscription's change log, in `sequence` order. */
export interface SubscriptionChangeQuery {
  subscriptionId: string;
  limit: number;
  /** Opaque, from a previous page; an unreadable one throws `ValidationError` `CURSOR_INVALID`. */
  cursor?: string;
}

export interface DeliveryQuery {
  subscriptionId?: string;
  /** Deliveries of this tenant's subscriptions; `null`: of the platform's (tenantless) subscriptions. */
  tenantId?: string | null;
  eventId?: string;
  /** One status, or several (e.g. `['pending', 'held', 'dead']`: what is undelivered). */
  status?: DeliveryStatus | readonly DeliveryStatus[];
  /** Only deliveries of these exact event types; an empty list matches nothing. */
  eventTypes?: readonly string[];
  /** Only deliveries created at or after this epoch ms. */
  since?: number;
  /** Only deliveries created before this epoch ms. */
  until?: number;
  limit: number;
  cursor?: string;
}

/**
 * A replay re-sends only events the subscription may receive: those of its own tenant (or,
 * for an all-tenant consumer, of any tenant), by the rule of storage/shared/tenancy.ts —
 * the adapter reads the subscription's tenant itself; the caller cannot widen it.
 */
export interface ReplayInput {
  subscriptionId: string;
  /** Epoch ms: events published at or after. */
  since: number;
  /** Epoch ms: events published before; default: no bound. */
  until?: number;
  /**
   * The event types the subscription's filters match, from the catalog (the core applies
   * the matching rule of registry/event-type-filter.ts; the adapter only looks them up).
   */
  eventTypes: readonly string[];
  now: number;
  /** Count only; change nothing. */
  dryRun?: boolean;
  /**
   * Asked, when the subscription (as read inside the replay's transaction) has a filter, for
   * each event of the window that would be created or requeued: false → left out (neither
   * created nor requeued, nor counted, dryRun included). Absent: nothing is replayed to a
   * subscription with a filter. The EventRecord handed over is the stored one (payload as
   * stored; the core opens it).
   */
  matchesFilter?: (filter: string, event: EventRecord) => boolean;
  /**
   * Asked, when the subscription (as read inside the replay's transaction) has a `transform`
   * or version pins, for each delivery the replay creates (after `matchesFilter` accepted its
   * event), with the stored subscription record and the stored event: the text it returns is
   * stored as that delivery's payload; `null`: it sends its event's. Requeued deliveries keep the payload they have (every retry sends the
   * same bytes) and are never asked about. Absent: a replay creates nothing for a
   * subscription with a transform or pins (its requeues still happen). What it throws rejects the
   * replay, nothing changed. Not asked with `dryRun`.
   */
  render?: (subscription: SubscriptionRecord, event: EventRecord) => string | null;
  /**
   * `enable({ replayMissed })`'s last step: in the replay's transaction, after what it queues,
   * the subscription is enabled as `setSubscriptionStatus(id, { status: 'active' }, now,
   * activate)` enables it (held deliveries pending, due at `now`; the change record written;
   * one already active or soft-deleted left as it is). No publish may fall between the two:
   * an event published before the enable is in the window or waited for (on PostgreSQL the
   * transaction first takes the events table in SHARE mode, which waits for the publishes
   * being written and holds new ones until it commits), one published after it fans out to
   * the subscription as active — so a key's events keep their publish order. Not with `dryRun`.
   */
  activate?: ChangeAudit;
}

/** What {@link StorageAdapter.replay} did. */
export interface ReplayResult {
  /** How many deliveries are (or, with `dryRun`, would be) queued. */
  count: number;
  /** With `activate`: the subscription as it is after the transaction (`null`: not found). */
  subscription?: SubscriptionRecord | null;
}

/** A key held by a dead delivery (its subscription's `orderingOnDead` is `block`): see {@link StorageAdapter.listBlockedKeys}. */
export interface BlockedKey {
  subscriptionId: string;
  orderingKey: string;
  /** The dead delivery at the key's head. */
  delivery: DeliveryRecord;
  /** Deliveries of the key waiting behind it (pending or held). */
  waiting: number;
}

/** A page of one subscription's blocked keys, oldest blocking delivery first (delivery ids ascending). */
export interface BlockedKeyQuery {
  subscriptionId: string;
  limit: number;
  /** Opaque, from a previous page; an unreadable one throws `ValidationError` `CURSOR_INVALID`. */
  cursor?: string;
}

/** Counts for drain, metrics and the operator. */
export interface StorageStats {
  /** Pending deliveries of active subscriptions: due, scheduled or leased. */
  pending: number;
  /** Of `pending`, those under an unexpired lease. */
  leased: number;
  /**
   * Of `pending`, those waiting behind the head of their ordering key (no due time: see
   * storage/shared/ordering.ts). `pending - waiting` is the work that can go out without an
   * operator: what `drain` waits for (a key blocked by a dead delivery does not hold it).
   */
  waiting: number;
  held: number;
  dead: number;
  delivered: number;
  cancelled: number;
  /** Epoch ms of the oldest pending delivery's creation; `null` when none. */
  oldestPendingCreatedAt: number | null;
}

/** One batch of a tenant's removal (`tenants.delete`): see {@link StorageAdapter.purgeTenant}. */
export interface PurgeTenantInput {
  tenantId: string;
  /** At most this many rows of each kind (deliveries, subscriptions, events) in this batch. */
  limit: number;
  /** Epoch ms: leases expiring after it are in flight (an adapter with `databaseClock` uses its own). */
  now: number;
  /** Remove deliveries in flight too (their attempts will not be recorded). */
  force: boolean;
}

export interface PurgeTenantResult {
  subscriptions: number;
  events: number;
  deliveries: number;
  attempts: number;
  /** True when nothing of the tenant remains: its last batch. */
  done: boolean;
}

export interface PurgeInput {
  /**
   * Remove delivered/dead/cancelled deliveries, their attempts, fully finished events and
   * test attempts (the subscriptions' test logs) older than this epoch ms.
   */
  olderThan: number;
}

export interface PurgeResult {
  events: number;
  deliveries: number;
  attempts: number;
  /** Test attempts that started before `olderThan`, whatever came of them. */
  testAttempts: number;
}

/** One bounded batch of retention: see {@link StorageAdapter.purgeRetention}. */
export interface PurgeRetentionInput {
  /**
   * Epoch ms: delivered deliveries that became delivered before it go, and ok test attempts
   * that started before it; `null` keeps both.
   */
  deliveredBefore: number | null;
  /**
   * Epoch ms: dead and cancelled deliveries that became so (`updatedAt`) before it go, and
   * failed test attempts that started before it; `null` keeps both.
   */
  deadBefore: number | null;
  /** Epoch ms: events published before it go once no delivery of theirs is left; `null` keeps every event. */
  eventsBefore: number | null;
  /** At most this many deliveries, this many events and this many test attempts in this batch. */
  limit: number;
  /** Epoch ms: leases expiring after it are in flight (an adapter with `databaseClock` uses its own). */
  now: number;
}

/** What one batch of retention removed. */
export interface PurgeRetentionResult {
  deliveries: number;
  attempts: number;
  events: number;
  /** Records of the subscriptions' test logs. */
  testAttempts: number;
  /** True when another batch would find something to remove. */
  more: boolean;
  /** Another instance holds the purge of this storage (PostgreSQL's retention lock): this batch looked at nothing. */
  skipped?: true;
}

/** What an adapter can do beyond the contract. */
export interface StorageCapabilities {
  /** `enqueue` accepts the host's transaction in `tx`. */
  transactions: boolean;
  /** Lease expiry is measured by the database's clock rather than `now`. */
  databaseClock: boolean;
}

/** The pluggable storage behind subscriptions, events, deliveries and attempts. */
export interface StorageAdapter {
  readonly name: string;
  readonly capabilities: StorageCapabilities;

  /**
   * Creates or upgrades the schema; idempotent and safe when two run at once. Called without
   * arguments by `start()`: on PostgreSQL that applies the additive (expand) steps only. What
   * it resolves to is the adapter's own (PostgreSQL: the plan it applied).
   */
  migrate(): Promise<unknown>;
  /** Releases connections the adapter opened itself (not a pool or database handed to it). */
  close(): Promise<void>;

  /**
   * Stores a new subscription. With `limits.maxPerTenant` and a `tenantId`, refuses (throws
   * `ConflictError` `TENANT_SUBSCRIPTION_LIMIT`, from storage/shared/tenancy.ts) when the
   * tenant already has that many (soft-deleted ones do not count) — decided atomically, so
   * that two creates racing for the last place cannot both win. With `audit`, writes its
   * `created` change record in the same transaction.
   */
  createSubscription(record: SubscriptionRecord, limits?: { maxPerTenant?: number }, audit?: ChangeAudit): Promise<SubscriptionRecord>;
  /** The subscription, soft-deleted ones included (with `deletedAt`), or `null`. */
  getSubscription(id: string): Promise<SubscriptionRecord | null>;
  /**
   * Oldest first (ids ascending); `cursor` is opaque, from a previous page. `tenantId`: only
   * that tenant's; `null`: only the platform's (tenantless, all-tenant consumers included).
   * Soft-deleted ones only with `includeDeleted`.
   */
  listSubscriptions(query: SubscriptionQuery): Promise<Page<SubscriptionRecord>>;
  /**
   * Applies the patch (storage/shared/subscription-changes.ts) and, with `audit`, writes its
   * change record in the same transaction (even when no logged field changed: a reseal is
   * recorded). Returns `null` when no such subscription exists; a soft-deleted one is
   * returned as it is, unchanged and with nothing logged.
   */
  updateSubscription(id: string, patch: SubscriptionPatch, now: number, audit?: ChangeAudit): Promise<SubscriptionRecord | null>;
  /**
   * Disables (`status: 'disabled'`, its pending deliveries become `held`) or enables
   * (`'active'`, its held deliveries become pending, due at `now`), by the rule of
   * storage/shared/subscription-changes.ts: a subscription already in that status is left
   * as it is (a second disable keeps the first reason and time), and nothing is logged.
   * With `audit`, a change writes its change record in the same transaction. Returns
   * `null` when no such subscription exists; a soft-deleted one is returned as it is.
   */
  setSubscriptionStatus(
    id: string,
    change: { status: SubscriptionStatus; reason?: string | null },
    now: number,
    audit?: ChangeAudit,
  ): Promise<SubscriptionRecord | null>;
  /**
   * Soft delete, by storage/shared/change-log.ts's `softDeletedFields`: the subscription
   * becomes disabled for good with `deletedAt` = `now`; its pending deliveries (leased or
   * not) and held ones become `cancelled` ({@link CANCELLED_BY_DELETE}; a lease is kept, so
   * an attempt in flight still settles — see `settle`); with `audit`, its `deleted` change
   * record is written — all in one transaction. Deliveries, attempts and the change log
   * stay. Returns `null` when no such subscription exists; one deleted before is returned
   * as it is with `cancelled: 0`, nothing written.
   */
  softDeleteSubscription(id: string, now: number, audit?: ChangeAudit): Promise<{ subscription: SubscriptionRecord; cancelled: number } | null>;
  /**
   * Hard delete: removes the subscription (soft-deleted or not) with its deliveries, their
   * attempts, its change log and its test log; false when it did not exist.
   */
  deleteSubscription(id: string): Promise<boolean>;
  /**
   * One subscription's change log in `sequence` order (the order the changes took effect);
   * an unknown subscription gives an empty page. Cursors: storage/shared/cursor.ts's
   * `encodeSequenceCursor`/`decodeSequenceCursor`.
   */
  listSubscriptionChanges(query: SubscriptionChangeQuery): Promise<Page<SubscriptionChangeRecord>>;
  /** One change record by its id, or `null`. */
  getSubscriptionChange(id: string): Promise<SubscriptionChangeRecord | null>;

  /**
   * Appends a test request to its subscription's test log. Returns `false`, storing nothing,
   * when the subscription does not exist (hard-deleted while the request was in flight); a
   * soft-deleted one keeps its log. A `record.id` in the log already throws `StorageError`
   * `STORAGE_CONFLICT`.
   */
  recordTestAttempt(record: TestAttemptRecord): Promise<boolean>;
  /**
   * One subscription's test log, newest first (ids descending); an unknown subscription gives
   * an empty page. Cursors: storage/shared/cursor.ts's list `tests`.
   */
  listTestAttempts(query: TestAttemptQuery): Promise<Page<TestAttemptRecord>>;

  /**
   * Stores the event and one pending delivery (due at `now`) per matching active
   * subscription, atomically: a subscription matches when one of its filters matches the
   * type and it receives the event's tenant (its own tenant's events — tenantless for a
   * tenantless subscription — or every tenant's for an all-tenant consumer; the rule of
   * storage/shared/tenancy.ts), and, when it has a payload filter, `matchesFilter` accepts
   * the event (storage/shared/payload-filters.ts). Cost in proportion to the matching
   * subscriptions: looked up by (tenant, type), never by walking other tenants'
   * subscriptions. With an idempotency key seen before in the same tenant: returns the
   * first event and stores nothing. A `matchesFilter` that throws rejects the call with
   * what it threw, and nothing is stored. A receiving subscription with a `transform` gets
   * its delivery's own payload from `render` (storage/shared/delivery-payloads.ts), asked
   * after its filter accepted; without `render` it gets no delivery; a `render` that throws
   * rejects the call with what it threw, and nothing is stored.
   */
  enqueue(input: EnqueueInput): Promise<EnqueueResult>;
  /**
   * Optional: `enqueue` done synchronously, for a host whose transactions are synchronous
   * (better-sqlite3's `db.transaction(fn)`): called inside `fn`, the event and its
   * deliveries commit or roll back with the host's writes.
   */
  enqueueSync?(input: EnqueueInput): EnqueueResult;
  getEvent(id: string, read?: ReadOptions): Promise<EventRecord | null>;
  /** Events, newest first (ids descending), expunged ones included. */
  listEvents(query: EventQuery, read?: ReadOptions): Promise<Page<EventRecord>>;
  /**
   * Erases the content of these events, in one transaction: each one not yet expunged gets
   * `payload` `''` and `expungedAt` `now`, and so does each of its deliveries that has a
   * payload of its own (`''`, see `getDeliveryPayload`); its open deliveries (pending, leased or not, and
   * held) become `cancelled` ({@link CANCELLED_BY_EXPUNGE}; a lease is kept, see `settle`);
   * a cancelled head of an ordering key passes, its key's next due at `now` — or, when the
   * head is under a live lease (its attempt may be in flight), when that lease runs out
   * (storage/shared/ordering.ts `dueAfterCancelledHead`);
   * every attempt of its deliveries loses its `responseSnippet` (`null`). Ids, types, times,
   * statuses and the change logs stay. Unknown and already expunged ids are skipped
   * (idempotent). At most 1000 ids per call.
   */
  expungeEvents(ids: readonly string[], now: number): Promise<ExpungeResult>;

  /**
   * Claims up to `limit` due pending deliveries of active subscriptions (due time ≤ now,
   * no lease or an expired one), oldest due first, each under a fresh lease token,
   * skipping `excludeSubscriptionIds` (cheaply: a backlog of an excluded subscription
   * must not make every claim walk over it — e.g. claim per subscription in due order).
   * Two concurrent claimers never receive the same delivery while its lease holds.
   */
  claimDue(input: ClaimInput): Promise<ClaimedDelivery[]>;
  /**
   * Records the attempts and outcomes, each fenced by its lease token; a stale token
   * changes nothing and yields `{ ok: false, code: 'STORAGE_LEASE_LOST' }`. One result
   * per settlement, in order. A `retry` on a subscription disabled meanwhile holds
   * the delivery instead. A delivery cancelled while its attempt was in flight (its
   * subscription soft-deleted or its event expunged) records the attempt without its
   * response snippet and stays `cancelled` — unless the attempt delivered it. The rules:
   * storage/shared/settlement.ts. Maintains the subscription's `failingSince`: `delivered`
   * clears it; `retry` and `dead` set it to the attempt's `startedAt` when it was
   * `null` — but for an attempt of error class `proxy`, which leaves it as it is
   * (settlements of one batch apply in order). A `disable` that disables the
   * subscription writes its change record (origin `dispatcher`, by
   * storage/shared/change-log.ts's `dispatcherDisableRecord`) in the same transaction.
   */
  settle(settlements: Settlement[], now: number): Promise<SettleResult[]>;
  /**
   * Optional: the most deliveries the dispatcher's next `claimDue` (its `limit`) or `settle`
   * should carry, for an adapter that wants its write transactions short at the moment (the
   * SQLite adapter of a dispatcher in a worker thread, while the host writes to the same
   * file); `null` or absent: no limit beyond the dispatcher's own.
   */
  writeBatchLimit?(operation: 'claimDue' | 'settle'): number | null;
  /**
   * Optional: how many `settle` calls the dispatcher may have under way at once (absent: 1).
   * The dispatcher overlaps them only for batches whose outcomes are all `delivered` and that
   * settle an ordered delivery (settle-batcher.ts), so an adapter that answers more than 1
   * must take concurrent settles of distinct deliveries as it takes those of several
   * instances: PostgreSQL, whose settles lock only their own rows and keys.
   */
  writeConcurrency?(operation: 'settle'): number;
  /** Gives leases back (graceful stop): the deliveries are due again at once. */
  releaseLeases(leases: Array<{ deliveryId: string; leaseToken: string }>, now: number): Promise<void>;
  /** Earliest epoch ms at which a pending delivery of an active subscription becomes claimable; `null` if none. */
  nextDueAt(now: number): Promise<number | null>;

  getDelivery(id: string, read?: ReadOptions): Promise<DeliveryRecord | null>;
  /**
   * Newest first (ids descending: ids are time-sortable); `cursor` is opaque, from a
   * previous page. An unreadable cursor throws `ValidationError` `CURSOR_INVALID`.
   */
  listDeliveries(query: DeliveryQuery, read?: ReadOptions): Promise<Page<DeliveryRecord>>;
  /** Attempts of a delivery, oldest first. */
  listAttempts(deliveryId: string, read?: ReadOptions): Promise<AttemptRecord[]>;
  /**
   * The delivery's own payload as stored (sealed by the core, as rendered at fan-out by its
   * subscription's transform; `''` once its event is expunged), what every attempt of it
   * sends; `null` when it sends its event's payload, or is unknown. For the delivery log to
   * show what was sent.
   */
  getDeliveryPayload(id: string, read?: ReadOptions): Promise<string | null>;
  /**
   * Makes a delivery due again at `now` with a fresh attempt cycle (`attempts` 0; its
   * {@link DeliveryHistory} and attempt log go on; its own payload, if it has one, stays). Final ones
   * (delivered, dead) and waiting pending ones qualify; otherwise returns, checked in
   * this order: `'not_found'`, `'expunged'` (its event was expunged), `'deleted'` (its
   * subscription was soft-deleted), `'in_flight'` (under a lease) or `'held'`
   * (subscription disabled). A delivery waiting behind its ordering key's head gets its fresh
   * cycle and keeps waiting (storage/shared/ordering.ts); a dead head is due at once and
   * unblocks its key once delivered.
   */
  redeliver(id: string, now: number): Promise<DeliveryRecord | 'not_found' | 'expunged' | 'deleted' | 'in_flight' | 'held'>;
  /**
   * Re-sends to one subscription every event of the window that it did not get:
   * dead deliveries become pending again with a fresh attempt cycle (as `redeliver`),
   * matching events without a delivery get one. Delivered, pending and cancelled ones are
   * left alone, and expunged events are never sent again. A soft-deleted subscription
   * gets nothing (count 0). A subscription with a payload filter gets only the events its
   * `matchesFilter` accepts. For a subscription with a `transform`, each created delivery
   * gets its own payload from `render` (none created without it); a requeued one keeps the
   * payload it has. A `matchesFilter` or `render` that throws rejects the call with what it
   * threw, nothing changed. Returns how many (would) be queued; with `activate`, the
   * subscription enabled in the same transaction too.
   */
  replay(input: ReplayInput): Promise<ReplayResult>;
  /**
   * The keys of one subscription that a dead delivery blocks (its head is dead, and the
   * subscription is not soft-deleted: `blocksKey` of storage/shared/ordering.ts), each with
   * that delivery and how many wait behind it.
   */
  listBlockedKeys(query: BlockedKeyQuery): Promise<Page<BlockedKey>>;
  /**
   * Lets a key move on past its dead head: the delivery stays dead as it is (returned
   * unchanged), the key's head advances to the next waiting delivery, due at `now`.
   * `'not_found'`; `'not_blocking'` when it does not block its key (unordered, not dead,
   * already passed, or of a soft-deleted subscription).
   */
  skipDelivery(id: string, now: number): Promise<DeliveryRecord | 'not_found' | 'not_blocking'>;

  /**
   * Counts across every subscription; of one subscription with `subscriptionId`; of one
   * tenant's subscriptions with `tenantId` (`null`: the platform's); both: their intersection.
   */
  stats(now: number, query?: { subscriptionId?: string; tenantId?: string | null }, read?: ReadOptions): Promise<StorageStats>;
  purge(input: PurgeInput): Promise<PurgeResult>;
  /**
   * One bounded batch of retention, in one transaction: at most `limit` final deliveries
   * past their cutoff (delivered ones by the time they were delivered, dead and cancelled
   * ones by the time they became so, oldest first), each with its attempts; then at most
   * `limit` events published before `eventsBefore` that have no delivery left — an event
   * goes only with (or after) its last delivery. Pending and held deliveries are never
   * removed, whatever their age, nor a cancelled one whose attempt is in flight (under a
   * lease at `now`). Then at most `limit` test attempts past their cutoff (ok ones by
   * `deliveredBefore`, failed ones by `deadBefore`, by the time they started, oldest first:
   * storage/shared/retention.ts). A `null` cutoff keeps that kind. Subscriptions and change
   * logs stay.
   * Every read goes by an index, oldest first, never a walk of the whole log. An adapter
   * shared by several instances lets one purge at a time: the others get zeros with
   * `more: false` while it does.
   */
  purgeRetention(input: PurgeRetentionInput): Promise<PurgeRetentionResult>;
  /**
   * Removes one bounded batch of what a tenant owns, in one transaction, in this order:
   * its deliveries (`tenantId` = it) with their attempts; once none is left, its
   * subscriptions (soft-deleted ones too) with their change logs and test logs; once none is left, its events with whatever deliveries and attempts
   * they still have (an all-tenant consumer's). At most `limit` of the tenant's deliveries,
   * `limit` subscriptions and `limit` events per batch (the events' other deliveries go with
   * them); a batch may go on to the next kind once the earlier one is exhausted.
   * Unless `force`, returns `'in_flight'` and removes nothing when one of the tenant's
   * deliveries is under an unexpired lease. Idempotent: an unknown or removed tenant
   * gives zeros and `done`.
   */
  purgeTenant(input: PurgeTenantInput): Promise<PurgeTenantResult | 'in_flight'>;

  /**
   * Optional: calls `onWake` when another process enqueued work (LISTEN/NOTIFY).
   * Returns a function that stops listening. Polling remains the backstop.
   */
  subscribeWake?(onWake: () => void, options?: WakeOptions): Promise<() => Promise<void>>;
}
