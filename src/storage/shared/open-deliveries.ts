/**
 * What a subscription's status change does to each of its open deliveries, decided once
 * for every adapter: which status it applies to and the fields such a delivery takes. The
 * change itself (`hold` or `resume`) comes from `subscriptionStatusChange` (subscription-changes.ts).
 */
import type { DeliveryRecord } from '../storage-adapter.js';
import type { OpenDeliveriesChange } from './subscription-changes.js';

export interface OpenDeliveryUpdate {
  /** The status of the deliveries the change applies to; the others stay as they are. */
  from: 'pending' | 'held';
  fields: Pick<DeliveryRecord, 'status' | 'nextAttemptAt' | 'updatedAt'>;
}

/**
 * `hold`: a pending delivery becomes held and no longer due (a leased one keeps its lease:
 * its attempt may still settle). `resume`: a held delivery becomes pending, due at `now`.
 */
export function openDeliveryUpdate(change: OpenDeliveriesChange, now: number): OpenDeliveryUpdate {
  return change === 'hold'
    ? { from: 'pending', fields: { status: 'held', nextAttemptAt: null, updatedAt: now } }
    : { from: 'held', fields: { status: 'pending', nextAttemptAt: now, updatedAt: now } };
}
