/**
 * SQL of per-key ordering (storage/shared/ordering.ts, migration 0015): a key's state, read
 * and written in the write transaction of the operation that moves it (SQLite has one writer
 * at a time, so nothing else moves the key meanwhile); the ordered fan-out of a publish and of
 * a replay; the moves of a key's head; and the reads of the operator (blocked keys).
 */
import { cancellableStatuses } from '../../shared/change-log.js';
import { sqlList, type SqliteTables } from './tables.js';
import { deliveryColumns } from './delivery-log.js';

// The statuses a key's next head is chosen among: a waiting delivery is pending or held
// (a cancelled one is stepped over, a final one has passed).
const waitingStatuses = sqlList(['pending', 'held']);

export function orderingSql(t: SqliteTables) {
  const D = t.deliveries;
  const K = t.orderingKeys;
  return {
    // One key of one subscription, through the primary key.
    getOrderingKey: `SELECT last_seq AS lastSeq, head_seq AS headSeq FROM ${K} WHERE subscription_id = ? AND ordering_key = ?`,
    putOrderingKey: `INSERT INTO ${K} (subscription_id, ordering_key, last_seq, head_seq)
       VALUES (@subscription_id, @ordering_key, @last_seq, @head_seq)
       ON CONFLICT (subscription_id, ordering_key) DO UPDATE SET last_seq = excluded.last_seq, head_seq = excluded.head_seq`,
    // A key's head @seq passes (advanceHead of shared/ordering.ts, in one statement): the head
    // moves to the lowest number above it among the key's waiting deliveries (a range of
    // deliveries_ordering, stepping over the cancelled ones only), or, with none, past
    // last_seq (idle). Only when @seq is the head: a passed or unknown number matches no row,
    // and nothing is returned. Returns the key's new state.
    passKeyHead: `UPDATE ${K} SET head_seq = coalesce(
         (SELECT ordering_seq FROM ${D} INDEXED BY ${t.orderingIndex}
          WHERE subscription_id = @subscription_id AND ordering_key = @ordering_key AND ordering_seq > @seq
            AND status IN (${waitingStatuses})
          ORDER BY ordering_seq LIMIT 1),
         last_seq + 1)
       WHERE subscription_id = @subscription_id AND ordering_key = @ordering_key AND head_seq = @seq
       RETURNING last_seq AS lastSeq, head_seq AS headSeq`,
    // The key's new head, if pending, becomes due at @due (@now, or the end of the lease of a
    // head an expunge cancelled: dueAfterCancelledHead); a held one waits for its
    // subscription's enable, which finds it due: dueOnEnable.
    makeHeadDue: `UPDATE ${D} SET next_attempt_at = @due, due_at = @due, updated_at = @now
       WHERE subscription_id = @subscription_id AND ordering_key = @ordering_key AND ordering_seq = @seq AND status = 'pending'`,
    // An ordered event: the unordered one's statement with its key (enqueue.ts's insertEvent),
    // so that an unordered publish binds what it bound before.
    insertOrderedEvent: `INSERT INTO ${t.events} (id, type, published_at, payload, idempotency_key, tenant_id, ordering_key) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (ifnull(tenant_id, ''), idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
    // An ordered event's fan-out: [deliveryId, subscriptionId, tenantId, payload|null,
    // sequence, nextAttemptAt|null] as JSON; a NULL due time is a delivery that waits.
    insertOrderedDeliveries: `INSERT INTO ${D} (id, event_id, event_type, subscription_id, tenant_id, status, attempts,
         next_attempt_at, due_at, created_at, updated_at, payload, ordering_key, ordering_seq)
       SELECT j.value ->> 0, @event_id, @event_type, j.value ->> 1, j.value ->> 2, @status, 0, j.value ->> 5, j.value ->> 5,
         @now, @now, j.value ->> 3, @ordering_key, j.value ->> 4
       FROM json_each(@deliveries) j`,
    // The ordered deliveries a replay creates: [id, eventId, eventType, payload|null,
    // orderingKey, sequence, nextAttemptAt|null] as JSON.
    insertOrderedReplayDeliveries: `INSERT INTO ${D} (id, event_id, event_type, subscription_id, tenant_id, status, attempts,
         next_attempt_at, due_at, created_at, updated_at, payload, ordering_key, ordering_seq)
       SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, @subscription_id, @tenant_id, @status, @attempts, j.value ->> 6,
         j.value ->> 6, @updated_at, @updated_at, j.value ->> 3, j.value ->> 4, j.value ->> 5
       FROM json_each(@rows) j`,
    // The ordered open deliveries of the events an expunge cancels (a JSON array of event
    // ids), through the (event_id, subscription_id) index: each that was its key's head passes.
    // With its lease's end: a head under a live lease holds the next back until it runs out.
    orderedOpenOfEvents: `SELECT d.subscription_id, d.ordering_key, d.ordering_seq, d.lease_expires_at
       FROM json_each(?) AS j CROSS JOIN ${D} AS d ON d.event_id = j.value
       WHERE d.status IN (${sqlList(cancellableStatuses)}) AND d.ordering_key IS NOT NULL`,
    // The ordered deliveries of events a tenant's removal deletes (a JSON array of event ids):
    // an all-tenant consumer's among them may be the head of a key that other tenants' events
    // wait in, which then passes.
    orderedOfEvents: `SELECT d.subscription_id, d.ordering_key, d.ordering_seq
       FROM json_each(?) AS j CROSS JOIN ${D} AS d ON d.event_id = j.value
       WHERE d.ordering_key IS NOT NULL`,
    // A subscription's held ordered deliveries with their key's head, read before an enable
    // resumes them: those behind the head go on waiting (dueOnEnable).
    heldOrdered: `SELECT d.rowid AS row_id, d.ordering_seq, k.head_seq
       FROM ${D} AS d INDEXED BY ${t.subscriptionHeldIndex}
       LEFT JOIN ${K} AS k ON k.subscription_id = d.subscription_id AND k.ordering_key = d.ordering_key
       WHERE d.subscription_id = ? AND d.status = 'held' AND d.ordering_key IS NOT NULL`,
    // Resumed deliveries that wait behind their key's head (a JSON array of rowids).
    setWaiting: `UPDATE ${D} SET next_attempt_at = NULL, due_at = NULL WHERE rowid IN (SELECT value FROM json_each(?))`,
    // A page of a subscription's blocked keys, oldest blocking delivery first: its dead ordered
    // deliveries from deliveries_ordering_dead (in id order, after the cursor's), each kept when
    // it is its key's head (the key's state by its primary key) and the subscription is not
    // soft-deleted (blocksKey of shared/ordering.ts), with the key's deliveries waiting behind
    // it counted on deliveries_ordering. One row more than the page.
    listBlockedKeys: `SELECT ${deliveryColumns
      .split(', ')
      .map((column) => `d.${column}`)
      .join(', ')},
         (SELECT COUNT(*) FROM ${D} AS w INDEXED BY ${t.orderingIndex}
          WHERE w.subscription_id = d.subscription_id AND w.ordering_key = d.ordering_key AND w.ordering_seq > d.ordering_seq
            AND w.status IN (${waitingStatuses})) AS waiting
       FROM ${D} AS d INDEXED BY ${t.orderingDeadIndex}
       CROSS JOIN ${K} AS k ON k.subscription_id = d.subscription_id AND k.ordering_key = d.ordering_key
       WHERE d.subscription_id = @subscription_id AND d.status = 'dead' AND d.ordering_key IS NOT NULL AND d.id > @after
         AND k.head_seq = d.ordering_seq
         AND NOT EXISTS (SELECT 1 FROM ${t.subscriptions} AS s WHERE s.id = d.subscription_id AND s.deleted_at IS NOT NULL)
       ORDER BY d.id LIMIT @limit`,
    deleteSubscriptionKeys: `DELETE FROM ${K} WHERE subscription_id = ?`,
    deleteKeysOfSubscriptions: `DELETE FROM ${K} WHERE subscription_id IN (SELECT value FROM json_each(?))`,
  };
}
