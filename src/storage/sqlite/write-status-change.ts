/**
 * Writing a subscription's status change (decided by storage/shared/subscription-changes.ts)
 * with what it does to the subscription's open deliveries (storage/shared/open-deliveries.ts):
 * used by `setSubscriptionStatus` and by a settle whose receiver answered 410 Gone. On enable,
 * a held delivery of an ordering key that is behind its key's head goes on waiting, pending
 * with no due time (dueOnEnable, storage/shared/ordering.ts).
 */
import { openDeliveryUpdate } from '../shared/open-deliveries.js';
import { dueOnEnable } from '../shared/ordering.js';
import type { SubscriptionStatusChange } from '../shared/subscription-changes.js';
import { openDeliveryParams, subscriptionStatusParams } from './rows.js';
import type { Statements } from './statements/prepared-statements.js';

/** Runs in the caller's transaction. */
export function writeStatusChange(s: Statements, id: string, change: SubscriptionStatusChange, now: number): void {
  s.setSubscriptionStatus.run(subscriptionStatusParams(id, change.fields));
  const update = openDeliveryUpdate(change.deliveries, now);
  // Read before the resume moves them out of deliveries_subscription_held.
  const waiting =
    update.from === 'held'
      ? s.heldOrdered
          .all(id)
          .filter((row) => !dueOnEnable({ orderingSequence: row.ordering_seq }, row.head_seq))
          .map((row) => row.row_id)
      : [];
  s.updateOpenDeliveries[update.from].run(openDeliveryParams(id, update.fields));
  if (waiting.length > 0) s.setWaiting.run(JSON.stringify(waiting));
}
