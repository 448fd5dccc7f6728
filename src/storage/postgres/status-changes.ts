/**
 * Writing subscription status changes decided by shared/subscription-changes.ts — by
 * `setSubscriptionStatus`, and by a settle batch's `disable` outcomes — with what each
 * does to its subscription's open deliveries (hold or resume; a resumed delivery of an
 * ordering key waits behind its key's head: shared/ordering.ts), inside the caller's
 * transaction, after it locked the subscriptions' rows.
 */
import type { PoolClient } from 'pg';
import { openDeliveryUpdate } from '../shared/open-deliveries.js';
import type { OpenDeliveriesChange, SubscriptionStatusChange } from '../shared/subscription-changes.js';
import type { DeliveryRow, SubscriptionRow } from './rows.js';
import type { StatementRunner } from './statement-runner.js';
import type { Statements } from './statements/index.js';

/** @returns the subscriptions as written, and the deliveries the changes held. */
export async function writeStatusChanges(
  runner: StatementRunner,
  sql: Statements,
  client: PoolClient,
  changes: ReadonlyMap<string, SubscriptionStatusChange>,
  now: number,
): Promise<{ subscriptions: SubscriptionRow[]; held: DeliveryRow[] }> {
  if (changes.size === 0) return { subscriptions: [], held: [] };
  const entries = [...changes];
  const subscriptions = await runner.query<SubscriptionRow>(client, sql.writeStatus, [
    entries.map(([id]) => id),
    entries.map(([, change]) => change.fields.status),
    entries.map(([, change]) => change.fields.disabledReason),
    entries.map(([, change]) => change.fields.disabledAt),
    entries.map(([, change]) => change.fields.updatedAt),
  ]);
  const toHold = entries.filter(([, change]) => change.deliveries === 'hold').map(([id]) => id);
  const toResume = entries.filter(([, change]) => change.deliveries === 'resume').map(([id]) => id);
  const update = (text: string, ids: string[], change: OpenDeliveriesChange): Promise<DeliveryRow[]> => {
    const { from, fields } = openDeliveryUpdate(change, now);
    return runner.query<DeliveryRow>(client, text, [ids, from, fields.status, fields.nextAttemptAt, fields.updatedAt]);
  };
  const held = toHold.length === 0 ? [] : await update(sql.updateOpenDeliveries, toHold, 'hold');
  if (toResume.length > 0) {
    // The keys of the held deliveries first, then (a later statement, a later snapshot) the
    // resume reads their heads: a head a settle moved meanwhile is seen (statements/ordering.ts).
    await runner.query(client, sql.lockKeysOfHeld, [toResume]);
    await update(sql.resumeOpenDeliveries, toResume, 'resume');
  }
  return { subscriptions, held };
}
