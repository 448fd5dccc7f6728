/**
 * Replaying a subscription's window of events: which events it may receive is decided by
 * receivesTenant (storage/shared/tenancy.ts) from the subscription's own tenant, which may be
 * sent again at all (never an expunged event, nothing to a soft-deleted subscription) and
 * which deliveries to requeue and which to create by storage/shared/redelivery.ts, and, for a
 * subscription with a payload filter, which of those the core's callback accepts
 * (storage/shared/payload-filters.ts), and, for one with a transform or pins, the payload of each
 * delivery it creates (storage/shared/delivery-payloads.ts); this module reads the window and
 * writes the result. A delivery created of an ordered event takes its key's next number, in
 * event order (ordering-keys.ts): due at once when it is the key's head, waiting otherwise; a
 * requeued dead one is due at once, as redeliver makes it (storage/shared/ordering.ts).
 */
import type { ReplayInput, SubscriptionRecord } from '../storage-adapter.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import { rendersPayloads, replayCreatesNothing, replayPayload } from '../shared/delivery-payloads.js';
import { replayAccepts, replayRefusesAll } from '../shared/payload-filters.js';
import { queuedStatus, replayable, replayAction, requeuedFields } from '../shared/redelivery.js';
import { deliveryTenantId, receivesTenant } from '../shared/tenancy.js';
import { appendDelivery } from './ordering-keys.js';
import { requeuedParams, toCandidateEvent, type ReplayCandidateEventRow, type ReplayCandidateRow } from './rows.js';
import type { Statements } from './statements/prepared-statements.js';

/**
 * Runs in the caller's transaction, for the stored `subscription` of `input.subscriptionId`.
 * @returns how many deliveries are (or, with `dryRun`, would be) queued.
 */
export function replayWindow(s: Statements, input: ReplayInput, subscription: SubscriptionRecord): number {
  const filter = subscription.filter;
  if (replayRefusesAll(input, filter)) return 0;
  const window = {
    subscription_id: input.subscriptionId,
    since: input.since,
    until: input.until ?? null,
    event_types: JSON.stringify(input.eventTypes),
  };
  // Rendering and nothing to render with, only requeues (which keep their payloads).
  const creates = !replayCreatesNothing(input, subscription);
  // Rendered for each delivery created (never in a dry run, which creates nothing).
  const renders = rendersPayloads(subscription) && creates && input.dryRun !== true;
  // With a payload filter or a render the rows carry their payloads: walked one at a time,
  // so that only the verdicts and the rendered payloads are kept, never the window's payloads
  // all at once (the writes come after the walk, when the statement is done).
  const withEvents = filter !== null || renders;
  const candidates: Iterable<ReplayCandidateRow> = withEvents ? s.replayCandidateEvents.iterate(window) : s.replayCandidates.all(window);
  const create: Array<{ event_id: string; event_type: string; ordering_key: string | null; payload?: string }> = [];
  const requeue: number[] = [];
  for (const row of candidates) {
    if (!receivesTenant(subscription, row.event_tenant_id)) continue;
    if (!replayable({ expungedAt: row.expunged_at }, subscription)) continue;
    const action = replayAction(row.status);
    if (action === 'skip' || (action === 'create' && !creates)) continue;
    if (filter !== null && !replayAccepts(input, filter, toCandidateEvent(row as ReplayCandidateEventRow))) continue;
    if (action === 'requeue') requeue.push(row.delivery_row_id!);
    // A row with its payload is not kept: only what the insert needs of it.
    else if (renders) {
      const payload = replayPayload(input, subscription, toCandidateEvent(row as ReplayCandidateEventRow));
      const created = { event_id: row.event_id, event_type: row.event_type, ordering_key: row.ordering_key };
      create.push(typeof payload === 'string' ? { ...created, payload } : created);
    } else create.push(withEvents ? { event_id: row.event_id, event_type: row.event_type, ordering_key: row.ordering_key } : row);
  }
  if (input.dryRun === true) return create.length + requeue.length;
  const fields = requeuedParams(requeuedFields(queuedStatus(subscription.status === 'active'), input.now));
  if (requeue.length > 0) s.requeueDeliveries.run({ ...fields, row_ids: JSON.stringify(requeue) });
  const unordered = create.filter((row) => row.ordering_key === null);
  const ordered = unordered.length === create.length ? [] : create.filter((row) => row.ordering_key !== null);
  const inserted = {
    status: fields.status,
    attempts: fields.attempts,
    updated_at: fields.updated_at,
    subscription_id: input.subscriptionId,
    tenant_id: deliveryTenantId(subscription),
  };
  if (unordered.length > 0) {
    s.insertReplayDeliveries.run({
      ...inserted,
      next_attempt_at: fields.next_attempt_at,
      // [id, eventId, eventType, payload?]: without a fourth element the delivery sends its event's payload.
      rows: JSON.stringify(
        unordered.map((row) =>
          row.payload === undefined ? [newDeliveryId(input.now), row.event_id, row.event_type] : [newDeliveryId(input.now), row.event_id, row.event_type, row.payload],
        ),
      ),
    });
  }
  if (ordered.length > 0) {
    // In the window's order (published_at, id): the key's numbers follow the events'. Due at
    // once only the key's head, and only while the subscription is active (else held).
    const rows = ordered.map((row) => {
      const append = appendDelivery(s, input.subscriptionId, row.ordering_key!);
      const next = append.isHead ? fields.next_attempt_at : null;
      return [newDeliveryId(input.now), row.event_id, row.event_type, row.payload ?? null, row.ordering_key, append.sequence, next];
    });
    s.insertOrderedReplayDeliveries.run({ ...inserted, rows: JSON.stringify(rows) });
  }
  return create.length + requeue.length;
}
