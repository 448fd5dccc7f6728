/**
 * Writing a subscription's status change (decided by storage/shared/subscription-changes.ts)
 * with what it does to the subscription's open deliveries (storage/shared/open-deliveries.ts):
 * used by `setSubscriptionStatus` and by a settle whose receiver answered 410 Gone.
 */
import { openDeliveryUpdate } from '../shared/open-deliveries.js';
import type { SubscriptionStatusChange } from '../shared/subscription-changes.js';
import { openDeliveryParams, subscriptionStatusParams } from './rows.js';
import type { Statements } from './statements/prepared-statements.js';

/** Runs in the caller's transaction. */
export function writeStatusChange(s: Statements, id: string, change: SubscriptionStatusChange, now: number): void {
  s.setSubscriptionStatus.run(subscriptionStatusParams(id, change.fields));
  const update = openDeliveryUpdate(change.deliveries, now);
  s.updateOpenDeliveries[update.from].run(openDeliveryParams(id, update.fields));
}
