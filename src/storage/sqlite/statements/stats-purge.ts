/**
 * SQL of the counts (for drain, metrics and the operator) and of purging the finished
 * part of the log.
 */
import type { SqliteTables } from './tables.js';

export function statsPurgeSql(t: SqliteTables) {
  const C = t.counts;
  const D = t.deliveries;
  const A = t.attempts;
  const E = t.events;
  return {
    // One statement, so the counts come from one snapshot. The counts by status come from
    // the table the triggers keep (one row per subscription and status), not from walking
    // the rows: the delivery log can hold millions. `leased` reads the due index alone
    // (lease_expires_at is in it): a walk of the pending entries. `oldest` is the head of
    // pending_created.
    stats: `SELECT
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'pending') AS pending,
         (SELECT COUNT(*) FROM ${D} INDEXED BY ${t.dueIndex}
            WHERE status = 'pending' AND lease_expires_at > @now) AS leased,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'held') AS held,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'dead') AS dead,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'delivered') AS delivered,
         (SELECT created_at FROM ${D} INDEXED BY ${t.pendingCreatedIndex}
            WHERE status = 'pending' ORDER BY created_at LIMIT 1) AS oldest`,
    // Of one subscription: its counts by status through the counts' primary key; leased
    // and the oldest from deliveries_subscription_due (its pending rows only).
    subscriptionStats: `SELECT
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'pending') AS pending,
         (SELECT COUNT(*) FROM ${D} INDEXED BY ${t.subscriptionDueIndex}
            WHERE subscription_id = @id AND status = 'pending' AND lease_expires_at > @now) AS leased,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'held') AS held,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'dead') AS dead,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'delivered') AS delivered,
         (SELECT MIN(created_at) FROM ${D} INDEXED BY ${t.subscriptionDueIndex}
            WHERE subscription_id = @id AND status = 'pending') AS oldest`,
    // A final row's updated_at is when it became final: a delivery created long ago
    // that finished recently is recent log. Walks the (status, id) index of final rows.
    purgeAttempts: `DELETE FROM ${A} WHERE delivery_id IN (
         SELECT id FROM ${D} WHERE status IN ('delivered', 'dead') AND updated_at < ?)`,
    purgeDeliveries: `DELETE FROM ${D} WHERE status IN ('delivered', 'dead') AND updated_at < ?`,
    purgeEvents: `DELETE FROM ${E} WHERE published_at < ? AND NOT EXISTS (SELECT 1 FROM ${D} d WHERE d.event_id = ${E}.id)`,
  };
}
