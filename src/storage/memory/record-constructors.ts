/**
 * The events, deliveries and attempts the memory storage keeps, made by `new` of classes:
 * measured faster to store and smaller than the same object literals (figures in bench/README).
 */
import { emptyDeliveryHistory } from '../shared/delivery-history.js';
import { deliveryTenantId } from '../shared/tenancy.js';
import type { AttemptRecord, DeliveryHistory, DeliveryStatus, EventRecord, NewEventRecord, Settlement } from '../storage-adapter.js';
import type { DeliveryState, EventState, SubscriptionState } from './stored-records.js';

/**
 * An event and its live deliveries in one object: the record is the state itself, so a
 * stored event costs one object, not two. Its payload is held here only: every delivery
 * reaches it through {@link StoredDelivery.event}, and the copies handed out share the
 * (immutable) string, so an event fanned out to n subscriptions holds its payload once.
 */
class StoredEvent implements EventState, EventRecord {
  readonly id: string;
  readonly type: string;
  readonly timestamp: number;
  /** Emptied by an expunge, with {@link expungedAt} set. */
  payload: string;
  readonly idempotencyKey: string | null;
  readonly tenantId: string | null;
  readonly orderingKey: string | null;
  expungedAt: number | null = null;
  deliveries: DeliveryState[] = [];
  orphanQueued = false;
  constructor(e: NewEventRecord) {
    this.id = e.id;
    this.type = e.type;
    this.timestamp = e.timestamp;
    this.payload = e.payload;
    this.idempotencyKey = e.idempotencyKey ?? null;
    this.tenantId = e.tenantId ?? null;
    this.orderingKey = e.orderingKey ?? null;
  }
  /** The record is the state: reads copy its fields (record-copies.ts), never hand it out. */
  get record(): EventRecord {
    return this;
  }
}

class StoredDelivery implements DeliveryState {
  readonly id: string;
  status: DeliveryStatus;
  attempts = 0;
  nextAttemptAt: number | null;
  /** Set right after construction for a delivery of an ordered event (ordering-keys.ts). */
  orderingSequence: number | null = null;
  lastAttemptAt: number | null = null;
  lastStatusCode: number | null = null;
  lastError: string | null = null;
  deliveredAt: number | null = null;
  leaseExpiresAt: number | null = null;
  readonly createdAt: number;
  updatedAt: number;
  leaseToken: string | null = null;
  history: DeliveryHistory = emptyDeliveryHistory;
  claimStamp = 0;
  statusStamp = 0;
  removed = false;
  log: AttemptRecord[] | null = null;
  constructor(
    readonly event: EventState,
    readonly subscription: SubscriptionState,
    id: string,
    status: 'pending' | 'held',
    now: number,
  ) {
    this.id = id;
    this.status = status;
    this.nextAttemptAt = status === 'pending' ? now : null;
    this.createdAt = now;
    this.updatedAt = now;
  }
  // The fields its event and subscription fix for good, on the prototype rather than in
  // every stored delivery: four slots less each (a subscription's tenant is fixed at creation).
  get eventId(): string {
    return this.event.id;
  }
  get eventType(): string {
    return this.event.record.type;
  }
  get subscriptionId(): string {
    return this.subscription.id;
  }
  get orderingKey(): string | null {
    return this.event.record.orderingKey;
  }
  get tenantId(): string | null {
    return deliveryTenantId(this.subscription.record);
  }
}

class StoredAttempt implements AttemptRecord {
  readonly id: string;
  readonly deliveryId: string;
  readonly attemptNumber: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly statusCode: number | null;
  readonly errorClass: AttemptRecord['errorClass'];
  readonly errorMessage: string | null;
  /** Erased (`null`) when its event is expunged. */
  responseSnippet: string | null;
  readonly outcome: AttemptRecord['outcome'];
  readonly nextAttemptAt: number | null;
  constructor(deliveryId: string, attemptNumber: number, a: Settlement['attempt'], outcome: Settlement['outcome'], responseSnippet: string | null) {
    this.id = a.id;
    this.deliveryId = deliveryId;
    this.attemptNumber = attemptNumber;
    this.startedAt = a.startedAt;
    this.durationMs = a.durationMs;
    this.statusCode = a.statusCode;
    this.errorClass = a.errorClass;
    this.errorMessage = a.errorMessage;
    this.responseSnippet = responseSnippet;
    this.outcome = outcome.kind;
    this.nextAttemptAt = outcome.kind === 'retry' ? outcome.nextAttemptAt : null;
  }
}

/** The stored copy of a new event, with no delivery yet. */
export function storeEvent(e: NewEventRecord): EventState {
  return new StoredEvent(e);
}

/** A new delivery of `event` to `subscription`, never attempted, due at `now` when pending. */
export function storeDelivery(event: EventState, subscription: SubscriptionState, id: string, status: 'pending' | 'held', now: number): DeliveryState {
  return new StoredDelivery(event, subscription, id, status, now);
}

/** The record of attempt number `attemptNumber` of delivery `deliveryId`, keeping `responseSnippet` (the attempt's, or `null`). */
export function storeAttempt(
  deliveryId: string,
  attemptNumber: number,
  a: Settlement['attempt'],
  outcome: Settlement['outcome'],
  responseSnippet: string | null,
): AttemptRecord {
  return new StoredAttempt(deliveryId, attemptNumber, a, outcome, responseSnippet);
}
