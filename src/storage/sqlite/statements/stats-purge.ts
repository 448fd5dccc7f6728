/**
 * SQL of the counts (for drain, metrics and the operator) and of purging the finished
 * part of the log.
 */
import { blocksItsKey } from './retention.js';
import { sqlList, type SqliteTables } from './tables.js';

// What purge removes once old enough (PurgeInput): the final statuses.
const finalStatuses = sqlList(['delivered', 'dead', 'cancelled']);
// deliveries_leased's WHERE term (0011), repeated so that SQLite may use the partial index.
const leasedTerm = `status = 'pending' AND lease_expires_at IS NOT NULL`;

export function statsPurgeSql(t: SqliteTables) {
  const C = t.counts;
  const D = t.deliveries;
  const A = t.attempts;
  const E = t.events;
  const S = t.subscriptions;
  return {
    // One statement, so the counts come from one snapshot. The counts by status come from
    // the table the triggers keep (one row per subscription and status), not from walking
    // the rows: the delivery log can hold millions. `leased` reads deliveries_leased (0011):
    // the live leases, off the tail of an index of the leased pending rows alone. `oldest`
    // is the head of pending_created.
    stats: `SELECT
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'pending') AS pending,
         (SELECT COUNT(*) FROM ${D} INDEXED BY ${t.leasedIndex}
            WHERE ${leasedTerm} AND lease_expires_at > @now) AS leased,
         (SELECT COUNT(*) FROM ${D} INDEXED BY ${t.dueIndex} WHERE status = 'pending' AND due_at IS NULL) AS waiting,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'held') AS held,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'dead') AS dead,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'delivered') AS delivered,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'cancelled') AS cancelled,
         (SELECT created_at FROM ${D} INDEXED BY ${t.pendingCreatedIndex}
            WHERE status = 'pending' ORDER BY created_at LIMIT 1) AS oldest`,
    // `waiting` (pending, no due time: behind its ordering key's head) is the head of
    // deliveries_due, where NULLs sort first: O(the waiting rows), none without ordering.
    // Of one subscription: its counts by status through the counts' primary key; leased
    // from deliveries_leased (every live lease, kept if the subscription's), the oldest
    // from deliveries_subscription_due (its pending rows).
    subscriptionStats: `SELECT
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'pending') AS pending,
         (SELECT COUNT(*) FROM ${D} INDEXED BY ${t.leasedIndex}
            WHERE ${leasedTerm} AND lease_expires_at > @now AND subscription_id = @id) AS leased,
         (SELECT COUNT(*) FROM ${D} INDEXED BY ${t.subscriptionDueIndex}
            WHERE subscription_id = @id AND status = 'pending' AND due_at IS NULL) AS waiting,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'held') AS held,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'dead') AS dead,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'delivered') AS delivered,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'cancelled') AS cancelled,
         (SELECT MIN(created_at) FROM ${D} INDEXED BY ${t.subscriptionDueIndex}
            WHERE subscription_id = @id AND status = 'pending') AS oldest`,
    // Of one tenant's subscriptions (@tenant; NULL: the platform's), or of one of them with
    // @id: a delivery's tenant is its subscription's (deliveryTenantId), so these are the
    // counts of the deliveries whose tenant_id is @tenant. The subscriptions come from
    // subscriptions_tenant (IS: NULL matches the platform's), then as subscriptionStats
    // for each: O(the tenant's subscriptions + its pending rows). CROSS JOIN keeps the
    // subscriptions outer (the planner would otherwise walk every pending entry). `leased`
    // walks the live leases (deliveries_leased) and keeps the tenant's: a delivery's
    // tenant_id is its subscription's.
    tenantStats: `WITH subs AS (SELECT id FROM ${S} WHERE tenant_id IS @tenant AND (@id IS NULL OR id = @id))
       SELECT
         (SELECT COALESCE(SUM(c.n), 0) FROM subs JOIN ${C} c ON c.subscription_id = subs.id AND c.status = 'pending') AS pending,
         (SELECT COUNT(*) FROM ${D} INDEXED BY ${t.leasedIndex}
            WHERE ${leasedTerm} AND lease_expires_at > @now AND tenant_id IS @tenant AND (@id IS NULL OR subscription_id = @id)) AS leased,
         (SELECT COUNT(*) FROM subs CROSS JOIN ${D} d INDEXED BY ${t.subscriptionDueIndex}
            ON d.subscription_id = subs.id AND d.status = 'pending' AND d.due_at IS NULL) AS waiting,
         (SELECT COALESCE(SUM(c.n), 0) FROM subs JOIN ${C} c ON c.subscription_id = subs.id AND c.status = 'held') AS held,
         (SELECT COALESCE(SUM(c.n), 0) FROM subs JOIN ${C} c ON c.subscription_id = subs.id AND c.status = 'dead') AS dead,
         (SELECT COALESCE(SUM(c.n), 0) FROM subs JOIN ${C} c ON c.subscription_id = subs.id AND c.status = 'delivered') AS delivered,
         (SELECT COALESCE(SUM(c.n), 0) FROM subs JOIN ${C} c ON c.subscription_id = subs.id AND c.status = 'cancelled') AS cancelled,
         (SELECT MIN(d.created_at) FROM subs CROSS JOIN ${D} d INDEXED BY ${t.subscriptionDueIndex}
            ON d.subscription_id = subs.id AND d.status = 'pending') AS oldest`,
    // A final row's updated_at is when it became final: a delivery created long ago
    // that finished recently is recent log. Walks the (status, id) index of final rows. A
    // dead row that blocks its ordering key stays (storage/shared/ordering.ts).
    purgeAttempts: `DELETE FROM ${A} WHERE delivery_id IN (
         SELECT id FROM ${D} WHERE status IN (${finalStatuses}) AND updated_at < ? AND NOT (status = 'dead' AND ${blocksItsKey(t, D)}))`,
    purgeDeliveries: `DELETE FROM ${D} WHERE status IN (${finalStatuses}) AND updated_at < ? AND NOT (status = 'dead' AND ${blocksItsKey(t, D)})`,
    purgeEvents: `DELETE FROM ${E} WHERE published_at < ? AND NOT EXISTS (SELECT 1 FROM ${D} d WHERE d.event_id = ${E}.id)`,
    // Both kinds (ok and failed), through the (ok, started_at, id) index.
    purgeTestAttempts: `DELETE FROM ${t.testAttempts} WHERE ok IN (0, 1) AND started_at < ?`,
  };
}
