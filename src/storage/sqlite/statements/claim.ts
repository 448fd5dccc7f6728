/**
 * SQL of claiming: leasing the due deliveries (three plans, chosen by the adapter from
 * what is excluded), reading what was leased with its event, and the next due time.
 */
import type { SqliteTables } from './tables.js';

export function claimSql(t: SqliteTables) {
  const S = t.subscriptions;
  const D = t.deliveries;
  return {
    // The claim. Runs under BEGIN IMMEDIATE (the write lock), so no other connection
    // can claim between our read of the due rows and our lease update. The inner
    // SELECT walks the partial index deliveries_due (status = 'pending', by due_at, id)
    // and stops after `limit` rows: O(limit + leased) however many rows are pending. A
    // lease leaves the row where it is (migration 0003): the rows under a live lease at
    // the head are stepped over on the index entry alone (lease_expires_at is in it),
    // and leasing rewrites the entries in place instead of moving them.
    // INDEXED BY: without it the planner prefers the (status, id) index for the
    // equality on status, then sorts every pending row (measured with EXPLAIN QUERY
    // PLAN); with it, a schema change that made the index unusable fails loudly
    // instead of turning the claim into a scan. Rows are picked by rowid, which every
    // index entry carries, so the update seeks the table directly rather than through
    // the id index first.
    // The token is one random value per claim call, bound by the caller: a settle is
    // fenced by (id, token), and every claim of a row draws a fresh one, so a stale
    // holder is refused exactly as with a token per row, without a randomblob() per
    // row. RETURNING gives only the rowids; `claimedRows` reads what the dispatcher
    // needs with the event in one join (each value handed to JavaScript costs ~0.1 µs
    // in the driver: returning every column here and the event apart was 25% slower).
    claim: `UPDATE ${D} SET lease_token = @token, lease_expires_at = @expires
       WHERE rowid IN (
         SELECT d.rowid FROM ${D} AS d INDEXED BY ${t.dueIndex}
         WHERE d.status = 'pending' AND d.due_at <= @now
           AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= @now)
           AND EXISTS (SELECT 1 FROM ${S} s WHERE s.id = d.subscription_id AND s.status = 'active')
         ORDER BY d.due_at, d.id
         LIMIT @limit)
       RETURNING rowid`,
    // The claim with excluded subscriptions whose due backlog is small (see claimDue):
    // the same walk, stepping over their rows. subscription_id is in deliveries_due, so
    // both checks on it read the index entry, not the row.
    claimWalkingExcluded: `UPDATE ${D} SET lease_token = @token, lease_expires_at = @expires
       WHERE rowid IN (
         SELECT d.rowid FROM ${D} AS d INDEXED BY ${t.dueIndex}
         WHERE d.status = 'pending' AND d.due_at <= @now
           AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= @now)
           AND d.subscription_id NOT IN (SELECT value FROM json_each(@excluded))
           AND EXISTS (SELECT 1 FROM ${S} s WHERE s.id = d.subscription_id AND s.status = 'active')
         ORDER BY d.due_at, d.id
         LIMIT @limit)
       RETURNING rowid`,
    // The claim with excluded subscriptions whose due backlog is large: per subscription,
    // never touching the excluded ones' rows. For each active, not excluded subscription,
    // its due rows up to its `limit`-th (the correlated cutoff is an index range bound,
    // computed once per subscription) through deliveries_subscription_due; of those, the
    // first `limit` in (due_at, id) order. Ties at the cutoff may add a few rows to the
    // sort, never change the result: O(S · (log n + limit)) for S active subscriptions,
    // whatever the excluded backlog.
    claimPerSubscription: `UPDATE ${D} SET lease_token = @token, lease_expires_at = @expires
       WHERE rowid IN (
         SELECT d.rowid FROM ${S} AS s
         JOIN ${D} AS d INDEXED BY ${t.subscriptionDueIndex}
           ON d.subscription_id = s.id AND d.status = 'pending'
          AND d.due_at <= COALESCE(
                (SELECT x.due_at FROM ${D} AS x INDEXED BY ${t.subscriptionDueIndex}
                 WHERE x.subscription_id = s.id AND x.status = 'pending' AND x.due_at <= @now
                   AND (x.lease_expires_at IS NULL OR x.lease_expires_at <= @now)
                 ORDER BY x.due_at, x.id LIMIT 1 OFFSET @limit - 1),
                @now)
          AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= @now)
         WHERE s.status = 'active' AND s.id NOT IN (SELECT value FROM json_each(@excluded))
         ORDER BY d.due_at, d.id
         LIMIT @limit)
       RETURNING rowid`,
    // How many due rows the excluded subscriptions hold, counted no further than @cap:
    // what the walk would at most step over. Reads deliveries_subscription_due only.
    excludedDueRows: `SELECT COUNT(*) FROM (
         SELECT 1 FROM ${D} AS d INDEXED BY ${t.subscriptionDueIndex}
         WHERE d.subscription_id IN (SELECT value FROM json_each(@excluded))
           AND d.status = 'pending' AND d.due_at <= @now
         LIMIT @cap)`,
    activeSubscriptions: `SELECT COUNT(*) FROM ${S} WHERE status = 'active'`,
    // The subscriptions of the tenants a claim excludes (a JSON array of tenant ids), read
    // from subscriptions_tenant alone: a delivery's tenant is its subscription's
    // (deliveryTenantId), so excluding a tenant is excluding these.
    tenantSubscriptionIds: `SELECT id FROM ${S} WHERE tenant_id IN (SELECT value FROM json_each(?))`,
    // The rows a claim just leased (a JSON array of rowids), with their events: rowid
    // seeks, and the event through its primary key. status, lease_token and
    // lease_expires_at are what the claim just wrote (and selected on), so they are not
    // read back. Unordered: an ORDER BY here would copy every payload through a sorter,
    // so claimDue sorts the few rows itself. The payload is the delivery's own when it has
    // one (rendered by its subscription's transform), else its event's: what is sent.
    claimedRows: `SELECT d.id, d.event_id, d.event_type, d.subscription_id, d.tenant_id, d.attempts, d.next_attempt_at,
         d.ordering_key, d.ordering_seq,
         d.last_attempt_at, d.last_status_code, d.last_error, d.delivered_at, d.created_at, d.updated_at,
         e.published_at, COALESCE(d.payload, e.payload) AS payload, e.idempotency_key, e.tenant_id AS event_tenant_id,
         d.history_attempts, d.first_failed_at, d.recovered_at
       FROM json_each(?) AS j
       CROSS JOIN ${D} AS d ON d.rowid = j.value
       CROSS JOIN ${t.events} AS e ON e.id = d.event_id`,
    // The earliest time a pending row becomes claimable: its due_at, or its lease expiry
    // while a live lease holds it. The first row in due order that no live lease holds
    // bounds the answer (every row after it is due no sooner); before it are only rows
    // under live leases, whose expiries may come sooner. Both walks read deliveries_due
    // alone and step over at most the leased rows at its head. Both are ranges bounded
    // above, which start past the NULL due times at the index's head: a delivery waiting
    // behind its ordering key's head (migration 0015) is never due and is not walked.
    nextDue: `SELECT MIN(CASE WHEN d.lease_expires_at > @now THEN d.lease_expires_at ELSE d.due_at END)
       FROM ${D} AS d INDEXED BY ${t.dueIndex}
       WHERE d.status = 'pending'
         AND d.due_at <= COALESCE(
               (SELECT f.due_at FROM ${D} AS f INDEXED BY ${t.dueIndex}
                WHERE f.status = 'pending' AND f.due_at <= 9007199254740991
                  AND (f.lease_expires_at IS NULL OR f.lease_expires_at <= @now)
                  AND EXISTS (SELECT 1 FROM ${S} s WHERE s.id = f.subscription_id AND s.status = 'active')
                ORDER BY f.due_at, f.id LIMIT 1),
               9007199254740991)
         AND EXISTS (SELECT 1 FROM ${S} s WHERE s.id = d.subscription_id AND s.status = 'active')`,
  };
}
