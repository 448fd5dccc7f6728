/**
 * SQL of sending again: `redeliver` (one delivery, after a look at its state) and
 * `replay` (a subscription's window of events: the deliveries to requeue and the
 * missing ones to create). Which deliveries qualify, and the fields they take, come
 * from storage/shared/redelivery.ts.
 */
import { replayRequeues } from '../../shared/redelivery.js';
import { deliveryColumns } from './delivery-log.js';
import { sqlList, type SqliteTables } from './tables.js';

// The fields of requeuedFields(), bound by name (see requeuedParams in rows.ts); due_at
// follows next_attempt_at, as for any unleased row.
const requeuedSet = `status = @status, attempts = @attempts, next_attempt_at = @next_attempt_at, due_at = @next_attempt_at,
         delivered_at = @delivered_at, lease_token = @lease_token, lease_expires_at = @lease_expires_at, updated_at = @updated_at`;

export function requeueSql(t: SqliteTables) {
  const D = t.deliveries;
  const E = t.events;
  const candidates = (eventColumns: string) => `SELECT e.id AS event_id, e.type AS event_type, e.tenant_id AS event_tenant_id,
         e.expunged_at, e.ordering_key, ${eventColumns}d.rowid AS delivery_row_id, d.status
       FROM ${E} e
       LEFT JOIN ${D} d ON d.event_id = e.id AND d.subscription_id = @subscription_id
       WHERE e.published_at >= @since AND (@until IS NULL OR e.published_at < @until)
         AND e.type IN (SELECT value FROM json_each(@event_types))
         AND (d.id IS NULL OR d.status IN (${sqlList(replayRequeues)}))
       ORDER BY e.published_at, e.id`;
  return {
    probeDelivery: `SELECT d.status, d.next_attempt_at, d.ordering_key, d.lease_token, d.lease_expires_at, s.status AS subscription_status,
         s.deleted_at AS subscription_deleted_at, e.expunged_at AS event_expunged_at
       FROM ${D} d JOIN ${t.subscriptions} s ON s.id = d.subscription_id JOIN ${E} e ON e.id = d.event_id
       WHERE d.id = ?`,
    requeueDelivery: `UPDATE ${D} SET ${requeuedSet}
       WHERE id = @id
       RETURNING ${deliveryColumns}`,
    // The window's events of the matched types that the subscription has no delivery of,
    // or one that replay requeues: through the published_at index, each event's delivery
    // by the unique (event_id, subscription_id) index. With each event's tenant and erasure:
    // which of them the subscription receives and may be sent again is decided by
    // receivesTenant and replayable (replay-window.ts).
    replayCandidates: candidates(''),
    // The same with the rest of each event, payload included, for a subscription with a
    // payload filter: the core's callback decides on the stored event (replay-window.ts).
    // Its own statement, so that a replay without a filter never reads a payload.
    replayCandidateEvents: candidates('e.published_at, e.payload, e.idempotency_key, '),
    // A JSON array of rowids.
    requeueDeliveries: `UPDATE ${D} SET ${requeuedSet}
       WHERE rowid IN (SELECT value FROM json_each(@row_ids))`,
    // A JSON array of [deliveryId, eventId, eventType].
    insertReplayDeliveries: `INSERT INTO ${D} (id, event_id, event_type, subscription_id, tenant_id, status, attempts,
         next_attempt_at, due_at, created_at, updated_at, payload)
       SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, @subscription_id, @tenant_id, @status, @attempts, @next_attempt_at,
         @next_attempt_at, @updated_at, @updated_at, j.value ->> 3
       FROM json_each(@rows) j`,
  };
}
