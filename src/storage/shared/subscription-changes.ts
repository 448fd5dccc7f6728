/**
 * How a subscription record changes, decided once for every adapter: a patch, and a
 * status change with what it does to the subscription's open deliveries. The adapter
 * reads the record, asks here, and writes what comes back (in one transaction).
 */
import type { SubscriptionPatch, SubscriptionRecord, SubscriptionStatus } from '../storage-adapter.js';

/** The fields of a patch, in a fixed order. */
export const patchFields = Object.freeze([
  'url',
  'eventTypes',
  'filter',
  'transform',
  'versions',
  'orderingOnDead',
  'secrets',
  'headers',
  'description',
  'metadata',
  'retry',
  'flowControl',
  'tls',
] as const satisfies ReadonlyArray<keyof SubscriptionPatch>);

/**
 * The record after `patch`: each field present replaces the stored one whole (an absent or
 * `undefined` field keeps it), and `updatedAt` becomes `now`. Returns a new record; the
 * caller's objects are not shared with it.
 */
export function applySubscriptionPatch(record: SubscriptionRecord, patch: SubscriptionPatch, now: number): SubscriptionRecord {
  const next: SubscriptionRecord = structuredClone(record);
  for (const field of patchFields) {
    const value = patch[field];
    if (value !== undefined) (next as unknown as Record<string, unknown>)[field] = structuredClone(value);
  }
  next.updatedAt = now;
  return next;
}

/** What a status change does to the subscription's open deliveries. */
export type OpenDeliveriesChange =
  /** Disabled: its pending deliveries become held, no longer due (a leased one keeps its lease: its attempt may still settle). */
  | 'hold'
  /** Enabled: its held deliveries become pending, due at once. */
  | 'resume';

export interface SubscriptionStatusChange {
  /** The subscription's fields after the change. */
  fields: Pick<SubscriptionRecord, 'status' | 'disabledReason' | 'disabledAt' | 'updatedAt'>;
  deliveries: OpenDeliveriesChange;
}

/**
 * The change that setting `status` makes, or `null` when the subscription is in that status
 * already: disabling a disabled subscription keeps the reason and time of the first disable
 * (the evidence of why it stopped), and enabling an active one changes nothing.
 */
export function subscriptionStatusChange(
  current: Pick<SubscriptionRecord, 'status'>,
  change: { status: SubscriptionStatus; reason?: string | null },
  now: number,
): SubscriptionStatusChange | null {
  if (current.status === change.status) return null;
  return change.status === 'disabled'
    ? { fields: { status: 'disabled', disabledReason: change.reason ?? null, disabledAt: now, updatedAt: now }, deliveries: 'hold' }
    : { fields: { status: 'active', disabledReason: null, disabledAt: null, updatedAt: now }, deliveries: 'resume' };
}
