/**
 * Replaying a subscription's window of events: which events it may receive is decided by
 * receivesTenant (storage/shared/tenancy.ts) from the subscription's own tenant, which may be
 * sent again at all (never an expunged event, nothing to a soft-deleted subscription) and
 * which deliveries to requeue and which to create by storage/shared/redelivery.ts; this
 * module reads the window and writes the result.
 */
import type { ReplayInput, SubscriptionRecord } from '../storage-adapter.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import { queuedStatus, replayable, replayAction, requeuedFields } from '../shared/redelivery.js';
import { deliveryTenantId, receivesTenant } from '../shared/tenancy.js';
import { requeuedParams } from './rows.js';
import type { Statements } from './statements/prepared-statements.js';

/**
 * Runs in the caller's transaction, for the stored `subscription` of `input.subscriptionId`.
 * @returns how many deliveries are (or, with `dryRun`, would be) queued.
 */
export function replayWindow(s: Statements, input: ReplayInput, subscription: SubscriptionRecord): number {
  const candidates = s.replayCandidates.all({
    subscription_id: input.subscriptionId,
    since: input.since,
    until: input.until ?? null,
    event_types: JSON.stringify(input.eventTypes),
  });
  const create: Array<{ event_id: string; event_type: string }> = [];
  const requeue: number[] = [];
  for (const row of candidates) {
    if (!receivesTenant(subscription, row.event_tenant_id)) continue;
    if (!replayable({ expungedAt: row.expunged_at }, subscription)) continue;
    switch (replayAction(row.status)) {
      case 'create':
        create.push(row);
        break;
      case 'requeue':
        requeue.push(row.delivery_row_id!);
        break;
      case 'skip':
        break;
    }
  }
  if (input.dryRun === true) return create.length + requeue.length;
  const fields = requeuedParams(requeuedFields(queuedStatus(subscription.status === 'active'), input.now));
  if (requeue.length > 0) s.requeueDeliveries.run({ ...fields, row_ids: JSON.stringify(requeue) });
  if (create.length > 0) {
    s.insertReplayDeliveries.run({
      status: fields.status,
      attempts: fields.attempts,
      next_attempt_at: fields.next_attempt_at,
      updated_at: fields.updated_at,
      subscription_id: input.subscriptionId,
      tenant_id: deliveryTenantId(subscription),
      rows: JSON.stringify(create.map((row) => [newDeliveryId(input.now), row.event_id, row.event_type])),
    });
  }
  return create.length + requeue.length;
}
