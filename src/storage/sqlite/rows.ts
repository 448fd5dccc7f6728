/**
 * The rows the SQLite statements return, column by column, and the mappers between them
 * and the storage contract's records (JSON columns parsed and serialized here).
 */
import type { NewChangeRecord } from '../shared/change-log.js';
import type {
  AttemptRecord,
  DeliveryHistory,
  DeliveryRecord,
  DeliveryStatus,
  EventRecord,
  OrderingOnDead,
  SubscriptionChangeRecord,
  SubscriptionRecord,
  SubscriptionStatus,
  TestAttemptRecord,
} from '../storage-adapter.js';
import type { OpenDeliveryUpdate } from '../shared/open-deliveries.js';
import type { requeuedFields } from '../shared/redelivery.js';

export interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  subscription_id: string;
  tenant_id: string | null;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number | null;
  /** Its event's ordering key; NULL: unordered (migration 0015). */
  ordering_key: string | null;
  /** Its number among its subscription's deliveries of the key; NULL: unordered. */
  ordering_seq: number | null;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: number | null;
  lease_expires_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface SubscriptionRow {
  id: string;
  tenant_id: string | null;
  /** 0 or 1. */
  all_tenants: number;
  url: string;
  event_types: string;
  /** The payload filter's text, kept as given (migration 0013). */
  payload_filter: string | null;
  /** The transform's name, kept as given (migration 0014). */
  transform: string | null;
  /** What a dead delivery of an ordering key does to the ones behind it (migration 0015). */
  ordering_on_dead: OrderingOnDead;
  /** The version pins' text, kept as given (migration 0016). */
  event_versions: string | null;
  secrets: string;
  headers: string;
  description: string | null;
  metadata: string;
  status: SubscriptionStatus;
  disabled_reason: string | null;
  disabled_at: number | null;
  retry: string | null;
  flow_control: string | null;
  /** The TLS identity as JSON, its key sealed by the core (migration 0017). */
  tls: string | null;
  failing_since: number | null;
  deleted_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface EventRow {
  id: string;
  type: string;
  published_at: number;
  payload: string;
  idempotency_key: string | null;
  tenant_id: string | null;
  /** NULL: unordered (migration 0015). */
  ordering_key: string | null;
  expunged_at: number | null;
}

export interface ChangeRow {
  id: string;
  subscription_id: string;
  sequence: number;
  tenant_id: string | null;
  action: SubscriptionChangeRecord['action'];
  origin: SubscriptionChangeRecord['origin'];
  actor: string | null;
  reason: string | null;
  /** JSON of `changes`. */
  changes: string;
  at: number;
}

export interface TestAttemptRow {
  id: string;
  subscription_id: string;
  tenant_id: string | null;
  type: string;
  reason: TestAttemptRecord['reason'];
  actor: string | null;
  url: string;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  /** 0 or 1. */
  ok: number;
  error_class: TestAttemptRecord['errorClass'];
  error: string | null;
  response_snippet: string | null;
}

export interface AttemptRow {
  id: string;
  delivery_id: string;
  attempt_number: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error_class: AttemptRecord['errorClass'];
  error_message: string | null;
  response_snippet: string | null;
  outcome: AttemptRecord['outcome'];
  next_attempt_at: number | null;
}

/** A delivery's log so far, as its row keeps it. */
export interface HistoryColumns {
  history_attempts: number;
  first_failed_at: number | null;
  recovered_at: number | null;
}

/**
 * A row of `claimedRows`: what a claim hands out of the delivery and its event. The
 * delivery's status, lease and updated_at are what the claim itself wrote.
 */
export interface ClaimedRow extends HistoryColumns {
  id: string;
  event_id: string;
  event_type: string;
  subscription_id: string;
  tenant_id: string | null;
  attempts: number;
  next_attempt_at: number | null;
  /** The delivery's, which is its event's. */
  ordering_key: string | null;
  ordering_seq: number | null;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: number | null;
  created_at: number;
  updated_at: number;
  published_at: number;
  payload: string;
  idempotency_key: string | null;
  event_tenant_id: string | null;
}

/**
 * A row of `settleFence`: a settlement of the batch (`item`, its index) whose token
 * holds, with what the settle needs of its delivery and, as before the batch, of the
 * delivery's subscription.
 */
export interface FenceRow extends HistoryColumns {
  item: number;
  row_id: number;
  event_id: string;
  event_type: string;
  subscription_id: string;
  tenant_id: string | null;
  attempts: number;
  created_at: number;
  /** `cancelled` when the delivery was cancelled while its attempt was in flight. */
  status: DeliveryStatus;
  /** What a delivery that stays cancelled keeps (settledLastError). */
  last_error: string | null;
  ordering_key: string | null;
  ordering_seq: number | null;
  subscription_status: SubscriptionStatus;
  failing_since: number | null;
  /** Whether a dead head lets its key move on (passesOnDeath). */
  ordering_on_dead: OrderingOnDead;
}

/** A row of `probeDelivery`: what `redeliver` decides on. */
export interface ProbeRow {
  status: DeliveryStatus;
  next_attempt_at: number | null;
  ordering_key: string | null;
  lease_token: string | null;
  lease_expires_at: number | null;
  subscription_status: SubscriptionStatus;
  subscription_deleted_at: number | null;
  event_expunged_at: number | null;
}

/** A row of `replayCandidates`: an event of the window and the subscription's delivery of it, if any. */
export interface ReplayCandidateRow {
  event_id: string;
  event_type: string;
  /** The event's tenant: replay takes it only when the subscription receives it. */
  event_tenant_id: string | null;
  /** Non-null: the event was expunged, and is never sent again. */
  expunged_at: number | null;
  /** The event's ordering key: a delivery created of it takes the key's next number. */
  ordering_key: string | null;
  delivery_row_id: number | null;
  status: DeliveryStatus | null;
}

/** A row of `replayCandidateEvents`: a {@link ReplayCandidateRow} with the rest of its event, for a payload filter. */
export interface ReplayCandidateEventRow extends ReplayCandidateRow {
  published_at: number;
  payload: string;
  idempotency_key: string | null;
}

/** A row of the fan-out's lookups: a receiving subscription, its payload filter, its transform and its version pins. */
export interface FanOutRow {
  subscription_id: string;
  payload_filter: string | null;
  transform: string | null;
  event_versions: string | null;
}

/** A row of `orderedOfEvents` (an ordered delivery of an event a tenant's removal deletes). */
export interface OrderedOpenRow {
  subscription_id: string;
  ordering_key: string;
  ordering_seq: number;
}

/** A row of `orderedOpenOfEvents` (an ordered open delivery of an event being expunged), with its lease's end (`NULL`: none). */
export interface OrderedCancelledRow extends OrderedOpenRow {
  lease_expires_at: number | null;
}

/** A row of `heldOrdered`: a held ordered delivery and its key's head (NULL: no key record). */
export interface HeldOrderedRow {
  row_id: number;
  ordering_seq: number;
  head_seq: number | null;
}

/** A row of `listBlockedKeys`: the dead head of a key and how many wait behind it. */
export interface BlockedKeyRow extends DeliveryRow {
  waiting: number;
}

export interface InstanceRow {
  id: string;
  host: string;
  pid: number;
  started_ticks: string | null;
}

export interface StatsRow {
  pending: number;
  leased: number;
  waiting: number;
  held: number;
  dead: number;
  delivered: number;
  cancelled: number;
  oldest: number | null;
}

export function toDelivery(row: DeliveryRow): DeliveryRecord {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    subscriptionId: row.subscription_id,
    tenantId: row.tenant_id,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    orderingKey: row.ordering_key,
    orderingSequence: row.ordering_seq,
    lastAttemptAt: row.last_attempt_at,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: row.delivered_at,
    leaseExpiresAt: row.lease_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toSubscription(row: SubscriptionRow): SubscriptionRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    allTenants: row.all_tenants === 1,
    url: row.url,
    eventTypes: JSON.parse(row.event_types) as string[],
    filter: row.payload_filter,
    transform: row.transform,
    orderingOnDead: row.ordering_on_dead,
    versions: row.event_versions,
    secrets: JSON.parse(row.secrets) as SubscriptionRecord['secrets'],
    headers: JSON.parse(row.headers) as Record<string, string>,
    description: row.description,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    status: row.status,
    disabledReason: row.disabled_reason,
    disabledAt: row.disabled_at,
    retry: row.retry === null ? null : (JSON.parse(row.retry) as SubscriptionRecord['retry']),
    flowControl: row.flow_control === null ? null : (JSON.parse(row.flow_control) as SubscriptionRecord['flowControl']),
    tls: row.tls === null || row.tls === undefined ? null : (JSON.parse(row.tls) as SubscriptionRecord['tls']),
    failingSince: row.failing_since,
    deletedAt: row.deleted_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toEvent(row: EventRow): EventRecord {
  return {
    id: row.id,
    type: row.type,
    timestamp: row.published_at,
    payload: row.payload,
    idempotencyKey: row.idempotency_key,
    tenantId: row.tenant_id,
    orderingKey: row.ordering_key,
    expungedAt: row.expunged_at,
  };
}

/** The stored event of a {@link ReplayCandidateEventRow}, as a payload filter's callback gets it. */
export function toCandidateEvent(row: ReplayCandidateEventRow): EventRecord {
  return {
    id: row.event_id,
    type: row.event_type,
    timestamp: row.published_at,
    payload: row.payload,
    idempotencyKey: row.idempotency_key,
    tenantId: row.event_tenant_id,
    orderingKey: row.ordering_key,
    expungedAt: row.expunged_at,
  };
}

export function toChange(row: ChangeRow): SubscriptionChangeRecord {
  return {
    id: row.id,
    subscriptionId: row.subscription_id,
    sequence: row.sequence,
    tenantId: row.tenant_id,
    action: row.action,
    origin: row.origin,
    actor: row.actor,
    reason: row.reason,
    changes: JSON.parse(row.changes) as SubscriptionChangeRecord['changes'],
    at: row.at,
  };
}

/** The named parameters of `insertChange` (the statement numbers the record). */
export function changeParams(record: NewChangeRecord): Record<string, unknown> {
  return {
    id: record.id,
    subscription_id: record.subscriptionId,
    tenant_id: record.tenantId,
    action: record.action,
    origin: record.origin,
    actor: record.actor,
    reason: record.reason,
    changes: JSON.stringify(record.changes),
    at: record.at,
  };
}

export function toAttempt(row: AttemptRow): AttemptRecord {
  return {
    id: row.id,
    deliveryId: row.delivery_id,
    attemptNumber: row.attempt_number,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    statusCode: row.status_code,
    errorClass: row.error_class,
    errorMessage: row.error_message,
    responseSnippet: row.response_snippet,
    outcome: row.outcome,
    nextAttemptAt: row.next_attempt_at,
  };
}

export function toTestAttempt(row: TestAttemptRow): TestAttemptRecord {
  return {
    id: row.id,
    subscriptionId: row.subscription_id,
    tenantId: row.tenant_id,
    type: row.type,
    reason: row.reason,
    actor: row.actor,
    url: row.url,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    statusCode: row.status_code,
    ok: row.ok === 1,
    errorClass: row.error_class,
    error: row.error,
    responseSnippet: row.response_snippet,
  };
}

/** The named parameters of `insertTestAttempt`. */
export function testAttemptParams(record: TestAttemptRecord): Record<string, unknown> {
  return {
    id: record.id,
    subscription_id: record.subscriptionId,
    tenant_id: record.tenantId,
    type: record.type,
    reason: record.reason,
    actor: record.actor,
    url: record.url,
    started_at: record.startedAt,
    duration_ms: record.durationMs,
    status_code: record.statusCode,
    ok: record.ok ? 1 : 0,
    error_class: record.errorClass,
    error: record.error,
    response_snippet: record.responseSnippet,
  };
}

export function toHistory(row: HistoryColumns): DeliveryHistory {
  return { attempts: row.history_attempts, firstFailedAt: row.first_failed_at, recoveredAt: row.recovered_at };
}

/** The delivery a claim leased, as the claim left it: under `leaseExpiresAt`, its `updatedAt` as it was (a lease is no change). */
export function toClaimedDelivery(row: ClaimedRow, leaseExpiresAt: number): DeliveryRecord {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    subscriptionId: row.subscription_id,
    tenantId: row.tenant_id,
    status: 'pending',
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    orderingKey: row.ordering_key,
    orderingSequence: row.ordering_seq,
    lastAttemptAt: row.last_attempt_at,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: row.delivered_at,
    leaseExpiresAt,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toClaimedEvent(row: ClaimedRow): EventRecord {
  return {
    id: row.event_id,
    type: row.event_type,
    timestamp: row.published_at,
    payload: row.payload,
    idempotencyKey: row.idempotency_key,
    tenantId: row.event_tenant_id,
    orderingKey: row.ordering_key,
    // Never expunged: an expunge cancels the pending deliveries of its events in the same
    // transaction, and nothing makes a delivery of an expunged event pending again
    // (redeliverVerdict, replayable), so a claimed row's event has its payload.
    expungedAt: null,
  };
}

/**
 * The named parameters of `insertSubscription` and `updateSubscription` (which leaves the
 * tenant fields as they are: fixed at creation).
 */
export function subscriptionParams(record: SubscriptionRecord): Record<string, unknown> {
  return {
    id: record.id,
    tenant_id: record.tenantId ?? null,
    all_tenants: record.allTenants === true ? 1 : 0,
    url: record.url,
    event_types: JSON.stringify(record.eventTypes),
    payload_filter: record.filter ?? null,
    transform: record.transform ?? null,
    ordering_on_dead: record.orderingOnDead ?? 'block',
    event_versions: record.versions ?? null,
    secrets: JSON.stringify(record.secrets),
    headers: JSON.stringify(record.headers),
    description: record.description,
    metadata: JSON.stringify(record.metadata),
    status: record.status,
    disabled_reason: record.disabledReason,
    disabled_at: record.disabledAt,
    retry: record.retry === null || record.retry === undefined ? null : JSON.stringify(record.retry),
    flow_control: record.flowControl === null || record.flowControl === undefined ? null : JSON.stringify(record.flowControl),
    tls: record.tls === null || record.tls === undefined ? null : JSON.stringify(record.tls),
    failing_since: record.failingSince ?? null,
    deleted_at: record.deletedAt ?? null,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

/** The named parameters of `setSubscriptionStatus`. */
export function subscriptionStatusParams(
  id: string,
  fields: Pick<SubscriptionRecord, 'status' | 'disabledReason' | 'disabledAt' | 'updatedAt'>,
): Record<string, unknown> {
  return { id, status: fields.status, disabled_reason: fields.disabledReason, disabled_at: fields.disabledAt, updated_at: fields.updatedAt };
}

/** The named parameters of `updateOpenDeliveries`, from `openDeliveryUpdate` (storage/shared/open-deliveries.ts). */
export function openDeliveryParams(id: string, fields: OpenDeliveryUpdate['fields']): Record<string, unknown> {
  return { id, status: fields.status, next_attempt_at: fields.nextAttemptAt, updated_at: fields.updatedAt };
}

/** The named parameters of the requeue statements (requeue.ts), from {@link requeuedFields}. */
export function requeuedParams(fields: ReturnType<typeof requeuedFields>): Record<string, unknown> {
  return {
    status: fields.status,
    attempts: fields.attempts,
    next_attempt_at: fields.nextAttemptAt,
    delivered_at: fields.deliveredAt,
    lease_token: fields.leaseToken,
    lease_expires_at: fields.leaseExpiresAt,
    updated_at: fields.updatedAt,
  };
}
