/**
 * SQL of settling a batch of attempts: the fence of the whole batch in one read, then
 * per settlement its attempt row and its delivery, and each subscription's
 * `failing_since` once at the end.
 */
import type { SqliteTables } from './tables.js';

export function settleSql(t: SqliteTables) {
  const D = t.deliveries;
  return {
    // The fence of a whole settle batch in one read: a settlement applies only while its
    // token is still the row's token. Pending and held rows can carry one (a row held
    // while in flight keeps it), and so can cancelled ones (cancelled while in flight: the
    // status read here is what tells the settle). Input: a JSON array of [deliveryId,
    // leaseToken]; a row comes back for each pair that holds, with the pair's index (j.key)
    // and everything the settle needs: the rowid to write by, the fields of the record it
    // returns, and the subscription's status and failing_since as they were before the batch.
    settleFence: `SELECT j.key AS item, d.rowid AS row_id, d.event_id, d.event_type, d.subscription_id, d.tenant_id, d.attempts,
         d.created_at, d.status, d.last_error, d.ordering_key, d.ordering_seq, s.status AS subscription_status, s.failing_since,
         s.ordering_on_dead, d.history_attempts, d.first_failed_at, d.recovered_at
       FROM json_each(?) AS j
       CROSS JOIN ${D} AS d ON d.id = j.value ->> 0 AND d.lease_token = j.value ->> 1
       CROSS JOIN ${t.subscriptions} AS s ON s.id = d.subscription_id`,
    setFailingSince: `UPDATE ${t.subscriptions} SET failing_since = ? WHERE id = ?`,
    // One row per statement, positional: measured faster than one multi-row statement
    // from a JSON array or a VALUES list (UPDATE … FROM materializes its join first, and
    // binding beats re-parsing JSON), and the per-statement cost is small once nothing
    // is returned. The fence has run under the same write lock, so the update goes by rowid.
    insertAttempt: `INSERT INTO ${t.attempts} (id, delivery_id, attempt_number, started_at, duration_ms, status_code, error_class,
         error_message, response_snippet, outcome, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    settleDelivery: `UPDATE ${D} SET status = ?, attempts = attempts + 1, next_attempt_at = ?, due_at = ?,
         last_attempt_at = ?, last_status_code = ?, last_error = ?, delivered_at = ?,
         lease_token = NULL, lease_expires_at = NULL, updated_at = ?,
         history_attempts = ?, first_failed_at = ?, recovered_at = ?
       WHERE rowid = ?`,
  };
}
