/**
 * Writing a subscription's status change (decided by storage/shared/subscription-changes.ts)
 * with what it does to the subscription's open deliveries: used by `setSubscriptionStatus`
 * and by a settle whose receiver answered 410 Gone.
 */
import type { SubscriptionStatusChange } from '../shared/subscription-changes.js';
import { subscriptionStatusParams } from './rows.js';
import type { Statements } from './statements/prepared-statements.js';

export function writeStatusChange(s: Statements, id: string, change: SubscriptionStatusChange, now: number): void {
  s.setSubscriptionStatus.run(subscriptionStatusParams(id, change.fields));
  if (change.deliveries === 'hold') s.holdPending.run(now, id);
  else s.resumeHeld.run({ id, now });
}
