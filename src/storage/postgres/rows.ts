/**
 * The rows the adapter's statements return, and their mapping to and from the storage
 * contract's records. node-postgres hands bigint columns over as strings (or numbers or
 * BigInt, if the host changed the type parser) and jsonb parsed (or as text): the mappers
 * accept each.
 */
import { inLoggedOrder, type NewChangeRecord } from '../shared/change-log.js';
import type { requeuedFields } from '../shared/redelivery.js';
import type {
  AttemptRecord,
  ClaimedDelivery,
  DeliveryRecord,
  DeliveryStatus,
  EventRecord,
  FieldChange,
  OrderingOnDead,
  SubscriptionChangeAction,
  SubscriptionChangeRecord,
  SubscriptionRecord,
  SubscriptionStatus,
  TestAttemptRecord,
} from '../storage-adapter.js';

export type IntLike = string | number | bigint;

export interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  subscription_id: string;
  tenant_id: string | null;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: IntLike | null;
  last_attempt_at: IntLike | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: IntLike | null;
  lease_expires_at: IntLike | null;
  created_at: IntLike;
  updated_at: IntLike;
  /** Its event's ordering key, and its number among its subscription's deliveries of it (migration 0011). */
  ordering_key: string | null;
  ordering_seq: IntLike | null;
}

export interface SubscriptionRow {
  id: string;
  tenant_id: string | null;
  all_tenants: boolean;
  url: string;
  event_types: unknown;
  /** The payload filter's text, kept as given (migration 0009). */
  payload_filter: string | null;
  /** The transform's name, kept as given (migration 0010). */
  transform: string | null;
  /** 'block' or 'skip' (migration 0011). */
  ordering_on_dead: OrderingOnDead;
  /** The version pins' text, kept as given (migration 0012). */
  event_versions: string | null;
  secrets: unknown;
  headers: unknown;
  description: string | null;
  metadata: unknown;
  status: SubscriptionStatus;
  disabled_reason: string | null;
  disabled_at: IntLike | null;
  retry: unknown;
  flow_control: unknown;
  /** The TLS identity (jsonb), its key sealed by the core (migration 0013). */
  tls: unknown;
  failing_since: IntLike | null;
  deleted_at: IntLike | null;
  created_at: IntLike;
  updated_at: IntLike;
}

export interface EventRow {
  id: string;
  type: string;
  published_at: IntLike;
  payload: string;
  idempotency_key: string | null;
  tenant_id: string | null;
  expunged_at: IntLike | null;
  /** Migration 0011. */
  ordering_key: string | null;
}

/** A row of subscription_changes. */
export interface ChangeRow {
  id: string;
  subscription_id: string;
  sequence: IntLike;
  tenant_id: string | null;
  action: SubscriptionChangeAction;
  origin: SubscriptionChangeRecord['origin'];
  actor: string | null;
  reason: string | null;
  changes: unknown;
  at: IntLike;
}

/** A claimed delivery with its history, its event (`e_`) and its subscription (`s_`), joined. */
export interface ClaimRow extends DeliveryRow {
  lease_token: string;
  history_attempts: number;
  first_failed_at: IntLike | null;
  recovered_at: IntLike | null;
  e_type: string;
  e_published_at: IntLike;
  e_payload: string;
  e_idempotency_key: string | null;
  e_tenant_id: string | null;
  e_expunged_at: IntLike | null;
  e_ordering_key: string | null;
  s_tenant_id: string | null;
  s_all_tenants: boolean;
  s_url: string;
  s_event_types: unknown;
  s_payload_filter: string | null;
  s_transform: string | null;
  s_ordering_on_dead: OrderingOnDead;
  s_event_versions: string | null;
  s_secrets: unknown;
  s_headers: unknown;
  s_description: string | null;
  s_metadata: unknown;
  s_status: SubscriptionStatus;
  s_disabled_reason: string | null;
  s_disabled_at: IntLike | null;
  s_retry: unknown;
  s_flow_control: unknown;
  s_tls: unknown;
  s_failing_since: IntLike | null;
  s_deleted_at: IntLike | null;
  s_created_at: IntLike;
  s_updated_at: IntLike;
}

/** A settled delivery, with the place of its settlement in the batch. */
export interface SettledRow extends DeliveryRow {
  ord: IntLike;
  kind: string;
  started_at: IntLike;
  /** The attempt's error class: a neutral one leaves failing_since as it is. */
  error_class: string | null;
  /** The subscription's failing_since as the statement found it (before this batch). */
  failing_before: IntLike | null;
  /** The subscription's policy for a dead delivery of an ordering key. */
  ordering_on_dead: OrderingOnDead;
}

/** The answer of the enqueue statement: the event (created or found) and what the fan-out did. */
export interface EnqueueRow {
  /** The deliveries this run inserts, or would have inserted had it fit and had nothing been pending. */
  target_count: IntLike;
  /**
   * JSON `[[subscriptionId, filter, subscription], …]` of the targets whose payload filter is
   * to be asked or whose payload is to be rendered (`subscription`: the whole row, for a
   * target with a transform; else `null`); `null` when none.
   */
  pending: unknown;
  id: string | null;
  type: string | null;
  published_at: IntLike | null;
  payload: string | null;
  idempotency_key: string | null;
  tenant_id: string | null;
  expunged_at: IntLike | null;
  ordering_key: string | null;
  delivery_count: IntLike;
}

export interface AttemptRow {
  id: string;
  delivery_id: string;
  attempt_number: number;
  started_at: IntLike;
  duration_ms: number | string;
  status_code: number | null;
  error_class: AttemptRecord['errorClass'];
  error_message: string | null;
  response_snippet: string | null;
  outcome: AttemptRecord['outcome'];
  next_attempt_at: IntLike | null;
}

/**
 * What `redeliver` needs to judge a delivery: its status, its subscription's status and
 * soft delete, its event's erasure, and whether its lease is live by the database clock.
 */
export interface RedeliverProbeRow {
  status: DeliveryStatus;
  subscription_status: SubscriptionStatus;
  subscription_deleted: boolean;
  event_expunged: boolean;
  leased: boolean;
}

/** A dead delivery blocking its key, with the number of deliveries waiting behind it. */
export interface BlockedKeyRow extends DeliveryRow {
  waiting: IntLike;
}

export interface NextDueRow {
  due: IntLike | null;
  lease: IntLike | null;
  db_now: IntLike;
}

export interface StatsRow {
  pending: IntLike;
  leased: IntLike;
  waiting: IntLike;
  held: IntLike;
  dead: IntLike;
  delivered: IntLike;
  cancelled: IntLike;
  oldest: IntLike | null;
}

/** What one step of a tenant's removal took (`events` only from the events step). */
export interface PurgeTenantRow {
  deliveries: IntLike;
  attempts: IntLike;
  events?: IntLike;
  /** From the events step: JSON [[subscription id, ordering key, number], …] of the keyed deliveries removed, or `null`. */
  keyed?: unknown;
}

/** Whether anything of a tenant is left, per kind. */
export interface TenantLeftRow {
  deliveries: boolean;
  subscriptions: boolean;
  events: boolean;
}

export interface PurgeRow {
  deliveries: IntLike;
  attempts: IntLike;
  events: IntLike;
  test_attempts: IntLike;
}

// Epoch ms and counts fit a double exactly, whatever type the parser gave them.
export function int(value: IntLike): number {
  return typeof value === 'number' ? value : Number(value);
}

export function intOrNull(value: IntLike | null | undefined): number | null {
  return value === null || value === undefined ? null : int(value);
}

function json<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/** A value as JSON text for a jsonb parameter; `null` and `undefined` as SQL NULL. */
export function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/**
 * PostgreSQL text cannot hold U+0000; a receiver's response body may. The attempt log
 * keeps the text with the NUL shown as U+FFFD rather than failing the whole settle.
 */
export function pgText(value: string | null): string | null {
  return value === null || !value.includes('\u0000') ? value : value.replaceAll('\u0000', '\uFFFD');
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
    nextAttemptAt: intOrNull(row.next_attempt_at),
    lastAttemptAt: intOrNull(row.last_attempt_at),
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: intOrNull(row.delivered_at),
    leaseExpiresAt: intOrNull(row.lease_expires_at),
    createdAt: int(row.created_at),
    updatedAt: int(row.updated_at),
    orderingKey: row.ordering_key,
    orderingSequence: intOrNull(row.ordering_seq),
  };
}

export function toSubscription(row: SubscriptionRow): SubscriptionRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    allTenants: row.all_tenants,
    url: row.url,
    eventTypes: json<string[]>(row.event_types),
    filter: row.payload_filter,
    transform: row.transform,
    orderingOnDead: row.ordering_on_dead,
    versions: row.event_versions,
    secrets: json<SubscriptionRecord['secrets']>(row.secrets),
    headers: json<Record<string, string>>(row.headers),
    description: row.description,
    metadata: json<Record<string, unknown>>(row.metadata),
    status: row.status,
    disabledReason: row.disabled_reason,
    disabledAt: intOrNull(row.disabled_at),
    retry: row.retry === null ? null : json<SubscriptionRecord['retry']>(row.retry),
    flowControl: row.flow_control === null ? null : json<SubscriptionRecord['flowControl']>(row.flow_control),
    tls: row.tls === null || row.tls === undefined ? null : json<SubscriptionRecord['tls']>(row.tls),
    failingSince: intOrNull(row.failing_since),
    deletedAt: intOrNull(row.deleted_at),
    createdAt: int(row.created_at),
    updatedAt: int(row.updated_at),
  };
}

/** A row of `replayFilterCandidates`: an event of the window, and whether the subscription's delivery of it is to be requeued (else created). */
export interface ReplayCandidateRow extends EventRow {
  requeue: boolean;
}

/** A target of the publish the core is to be asked about: its payload filter, if unasked, and its payload, if it has a transform or version pins. */
export interface PendingTarget {
  subscriptionId: string;
  filter: string | null;
  /** The stored record, for a target with a transform or pins; `null` without either. */
  subscription: SubscriptionRecord | null;
}

/** The targets of an {@link EnqueueRow} that the core is to be asked about. */
export function pendingTargets(row: EnqueueRow): PendingTarget[] {
  if (row.pending === null || row.pending === undefined) return [];
  return json<Array<[string, string | null, SubscriptionRow | null]>>(row.pending).map(([subscriptionId, filter, subscription]) => ({
    subscriptionId,
    filter,
    subscription: subscription === null ? null : toSubscription(subscription),
  }));
}

export function toEvent(row: EventRow): EventRecord {
  return {
    id: row.id,
    type: row.type,
    timestamp: int(row.published_at),
    payload: row.payload,
    idempotencyKey: row.idempotency_key,
    tenantId: row.tenant_id,
    orderingKey: row.ordering_key,
    expungedAt: intOrNull(row.expunged_at),
  };
}

export function toChange(row: ChangeRow): SubscriptionChangeRecord {
  return {
    id: row.id,
    subscriptionId: row.subscription_id,
    sequence: int(row.sequence),
    tenantId: row.tenant_id,
    action: row.action,
    origin: row.origin,
    actor: row.actor,
    reason: row.reason,
    changes: inLoggedOrder(json<Record<string, FieldChange>>(row.changes)),
    at: int(row.at),
  };
}

export interface TestAttemptRow {
  id: string;
  subscription_id: string;
  tenant_id: string | null;
  type: string;
  reason: TestAttemptRecord['reason'];
  actor: string | null;
  url: string;
  started_at: IntLike;
  duration_ms: number | string;
  status_code: number | null;
  ok: boolean;
  error_class: TestAttemptRecord['errorClass'];
  error: string | null;
  response_snippet: string | null;
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
    startedAt: int(row.started_at),
    durationMs: Number(row.duration_ms),
    statusCode: row.status_code,
    ok: row.ok,
    errorClass: row.error_class,
    error: row.error,
    responseSnippet: row.response_snippet,
  };
}

/**
 * The values of `insertTestAttempt`, $1 to $14. Its texts (a receiver's answer, a transport's
 * message, the host's actor) may hold NUL, which a PostgreSQL text cannot: see {@link pgText}.
 */
export function testAttemptValues(record: TestAttemptRecord): unknown[] {
  return [
    record.id,
    record.subscriptionId,
    record.tenantId,
    record.type,
    record.reason,
    pgText(record.actor),
    pgText(record.url),
    record.startedAt,
    record.durationMs,
    record.statusCode,
    record.ok,
    record.errorClass,
    pgText(record.error),
    pgText(record.responseSnippet),
  ];
}

export function toAttempt(row: AttemptRow): AttemptRecord {
  return {
    id: row.id,
    deliveryId: row.delivery_id,
    attemptNumber: row.attempt_number,
    startedAt: int(row.started_at),
    durationMs: Number(row.duration_ms),
    statusCode: row.status_code,
    errorClass: row.error_class,
    errorMessage: row.error_message,
    responseSnippet: row.response_snippet,
    outcome: row.outcome,
    nextAttemptAt: intOrNull(row.next_attempt_at),
  };
}

export function toClaimed(row: ClaimRow): ClaimedDelivery {
  return {
    delivery: toDelivery(row),
    history: { attempts: row.history_attempts, firstFailedAt: intOrNull(row.first_failed_at), recoveredAt: intOrNull(row.recovered_at) },
    event: {
      id: row.event_id,
      type: row.e_type,
      timestamp: int(row.e_published_at),
      payload: row.e_payload,
      idempotencyKey: row.e_idempotency_key,
      tenantId: row.e_tenant_id,
      orderingKey: row.e_ordering_key,
      expungedAt: intOrNull(row.e_expunged_at),
    },
    subscription: toSubscription({
      id: row.subscription_id,
      tenant_id: row.s_tenant_id,
      all_tenants: row.s_all_tenants,
      url: row.s_url,
      event_types: row.s_event_types,
      payload_filter: row.s_payload_filter,
      transform: row.s_transform,
      ordering_on_dead: row.s_ordering_on_dead,
      event_versions: row.s_event_versions,
      secrets: row.s_secrets,
      headers: row.s_headers,
      description: row.s_description,
      metadata: row.s_metadata,
      status: row.s_status,
      disabled_reason: row.s_disabled_reason,
      disabled_at: row.s_disabled_at,
      retry: row.s_retry,
      flow_control: row.s_flow_control,
      tls: row.s_tls,
      failing_since: row.s_failing_since,
      deleted_at: row.s_deleted_at,
      created_at: row.s_created_at,
      updated_at: row.s_updated_at,
    }),
    leaseToken: row.lease_token,
  };
}

/** A subscription's columns as statement values, in the column order of the `createSubscription` statement ($1–$21; its version pins go in $24, its TLS identity in $25). */
export function subscriptionValues(record: SubscriptionRecord): unknown[] {
  return [
    record.id,
    record.tenantId,
    record.allTenants,
    record.url,
    JSON.stringify(record.eventTypes),
    record.filter ?? null,
    JSON.stringify(record.secrets),
    JSON.stringify(record.headers),
    record.description,
    JSON.stringify(record.metadata),
    record.status,
    record.disabledReason,
    record.disabledAt,
    jsonOrNull(record.retry),
    jsonOrNull(record.flowControl),
    record.failingSince ?? null,
    record.deletedAt ?? null,
    record.createdAt,
    record.updatedAt,
    record.transform ?? null,
    record.orderingOnDead,
  ];
}

/**
 * Change records as the values of the `insertChanges` statement: one array per column.
 * `changes` travels as JSON text, cast to jsonb by the statement.
 */
export function changeValues(records: readonly NewChangeRecord[]): unknown[] {
  const column = <T>(pick: (record: NewChangeRecord) => T): T[] => records.map(pick);
  return [
    column((r) => r.id),
    column((r) => r.subscriptionId),
    column((r) => r.tenantId),
    column((r) => r.action),
    column((r) => r.origin),
    column((r) => pgText(r.actor)),
    column((r) => pgText(r.reason)),
    column((r) => JSON.stringify(r.changes)),
    column((r) => r.at),
  ];
}

/** The fields a patch may change, as values of the `updateSubscription` statement. */
export function patchedValues(record: SubscriptionRecord): unknown[] {
  return [
    record.id,
    record.url,
    JSON.stringify(record.eventTypes),
    record.filter ?? null,
    JSON.stringify(record.secrets),
    JSON.stringify(record.headers),
    record.description,
    JSON.stringify(record.metadata),
    jsonOrNull(record.retry),
    jsonOrNull(record.flowControl),
    record.updatedAt,
    record.transform ?? null,
    record.orderingOnDead,
    record.versions ?? null,
    jsonOrNull(record.tls),
  ];
}

/** A requeue's fields (shared/redelivery.ts) as statement values, in the order the requeue statements take them. */
export function requeuedValues(fields: ReturnType<typeof requeuedFields>): unknown[] {
  const { status, attempts, nextAttemptAt, deliveredAt, leaseExpiresAt, leaseToken, updatedAt } = fields;
  return [status, attempts, nextAttemptAt, deliveredAt, leaseExpiresAt, leaseToken, updatedAt];
}
