/**
 * What `redeliver` and `replay` may do with a delivery, decided once for every adapter.
 * A redelivered or replayed delivery starts a fresh attempt cycle (its attempt log and
 * history go on: see delivery-history.ts).
 */
import type { DeliveryRecord, DeliveryStatus, EventRecord } from '../storage-adapter.js';

/** The verdict on a `redeliver` of an existing delivery. */
export type RedeliverVerdict = 'requeue' | 'expunged' | 'deleted' | 'in_flight' | 'held';

/** What `redeliver` needs to know of the delivery's event and subscription beside its status. */
export interface RedeliverContext {
  subscriptionActive: boolean;
  /** Its subscription is soft-deleted (`deletedAt` set). */
  subscriptionDeleted: boolean;
  /** Its event is expunged (`expungedAt` set). */
  eventExpunged: boolean;
  /** Whether its lease is unexpired, by the adapter's clock (PostgreSQL's is the database's). */
  leaseLive: boolean;
}

/**
 * An expunged event is never sent again, nor anything to a deleted subscription (checked in
 * that order). A delivery of a disabled subscription (held, or any status while it is
 * disabled) stays where it is: enabling the subscription resumes it. One under a live lease
 * is being attempted (`in_flight`). Anything else — delivered, dead, pending and waiting, or
 * under an expired lease, which is taken over — is requeued.
 */
export function redeliverVerdict(status: DeliveryStatus, context: RedeliverContext): RedeliverVerdict {
  const { subscriptionActive, leaseLive } = context;
  if (context.eventExpunged) return 'expunged';
  if (context.subscriptionDeleted) return 'deleted';
  if (status === 'held' || !subscriptionActive) return 'held';
  if (status === 'pending' && leaseLive) return 'in_flight';
  return 'requeue';
}

/** The fields a requeued delivery takes (by `redeliver`, or by `replay` with `status` from {@link queuedStatus}). */
export function requeuedFields(
  status: 'pending' | 'held',
  now: number,
): Pick<DeliveryRecord, 'status' | 'attempts' | 'nextAttemptAt' | 'deliveredAt' | 'leaseExpiresAt' | 'updatedAt'> & { leaseToken: null } {
  return { status, attempts: 0, nextAttemptAt: status === 'pending' ? now : null, deliveredAt: null, leaseExpiresAt: null, leaseToken: null, updatedAt: now };
}

/** Work queued for a subscription is pending while it is active, held while it is disabled (it goes out on enable). */
export function queuedStatus(subscriptionActive: boolean): 'pending' | 'held' {
  return subscriptionActive ? 'pending' : 'held';
}

/**
 * What `replay` does with an event of its window that the subscription's filters match,
 * given the status of the subscription's delivery of it (`null`: it has none): a missing
 * delivery is created, a dead one requeued; delivered, pending, held and cancelled ones are
 * left alone. An expunged event is skipped before this is asked (see `replayable`).
 */
export function replayAction(existing: DeliveryStatus | null): 'create' | 'requeue' | 'skip' {
  if (existing === null) return 'create';
  return replayRequeues.includes(existing) ? 'requeue' : 'skip';
}

/**
 * The order in which `replay` creates the deliveries of its window, and so numbers those of
 * an ordering key (storage/shared/ordering.ts): by event time, then id — the SQL storages'
 * `ORDER BY published_at, id`. Not by id alone: ids keep one process's publish order even
 * when its clock steps back, event times do not, and every storage must number alike.
 */
export function compareReplayOrder(a: Pick<EventRecord, 'timestamp' | 'id'>, b: Pick<EventRecord, 'timestamp' | 'id'>): number {
  return a.timestamp - b.timestamp || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The statuses `replay` requeues (for a SQL `IN (…)` list). */
export const replayRequeues: readonly DeliveryStatus[] = Object.freeze(['dead']);

/** Whether `replay` may send an event again at all: never an expunged one, never to a soft-deleted subscription. */
export function replayable(event: { expungedAt: number | null }, subscription: { deletedAt: number | null }): boolean {
  return event.expungedAt === null && subscription.deletedAt === null;
}
