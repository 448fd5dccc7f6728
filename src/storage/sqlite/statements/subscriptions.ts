/**
 * SQL of the subscription registry: the record, its filters (one row per filter, the
 * fan-out's lookup), its status with what that does to its open deliveries, its soft
 * delete with the deliveries it cancels, and its deletion.
 */
import { sqlList, type SqliteTables } from './tables.js';

export function subscriptionsSql(t: SqliteTables) {
  const S = t.subscriptions;
  const F = t.filters;
  const D = t.deliveries;
  return {
    insertSubscription: `INSERT INTO ${S} (id, tenant_id, all_tenants, url, event_types, payload_filter, transform, ordering_on_dead, event_versions, secrets,
         headers, description, metadata, status, disabled_reason, disabled_at, retry, flow_control, tls, failing_since, deleted_at, created_at, updated_at)
       VALUES (@id, @tenant_id, @all_tenants, @url, @event_types, @payload_filter, @transform, @ordering_on_dead, @event_versions, @secrets,
         @headers, @description, @metadata, @status, @disabled_reason, @disabled_at, @retry, @flow_control, @tls, @failing_since, @deleted_at, @created_at, @updated_at)`,
    // A tenant's subscriptions, counted against tenantLimits.maxSubscriptions (soft-deleted
    // ones do not count): the entries of subscriptions_tenant for it and their rows, under the
    // write lock the create holds.
    countTenantSubscriptions: `SELECT COUNT(*) FROM ${S} WHERE tenant_id = ? AND deleted_at IS NULL`,
    updateSubscription: `UPDATE ${S} SET url = @url, event_types = @event_types, payload_filter = @payload_filter, transform = @transform, ordering_on_dead = @ordering_on_dead, event_versions = @event_versions, secrets = @secrets, headers = @headers,
         description = @description, metadata = @metadata, retry = @retry, flow_control = @flow_control, tls = @tls,
         updated_at = @updated_at
       WHERE id = @id`,
    getSubscription: `SELECT * FROM ${S} WHERE id = ?`,
    // A filter under the subscription's tenant scope (see migration 0007): tenant_key is
    // idempotencyScope(tenant_id), all_tenants the subscription's own.
    insertFilter: `INSERT OR IGNORE INTO ${F} (filter, tenant_key, all_tenants, subscription_id) VALUES (?, ?, ?, ?)`,
    deleteFilters: `DELETE FROM ${F} WHERE subscription_id = ?`,
    setSubscriptionStatus: `UPDATE ${S} SET status = @status, disabled_reason = @disabled_reason, disabled_at = @disabled_at,
         updated_at = @updated_at
       WHERE id = @id`,
    // The fields of softDeletedFields() (storage/shared/change-log.ts).
    softDeleteSubscription: `UPDATE ${S} SET status = @status, disabled_reason = @disabled_reason, disabled_at = @disabled_at,
         deleted_at = @deleted_at, updated_at = @updated_at
       WHERE id = @id`,
    // What a status change does to the open deliveries of status `from` (see
    // storage/shared/open-deliveries.ts), one statement per `from`: the status is written
    // literally so that the partial index of that status serves the update. Held rows
    // keep their lease token: a worker still posting one can settle it. A resumed row
    // still under a live lease stays unclaimable until that lease expires (the claim
    // checks it), so enabling cannot double-send it.
    updateOpenDeliveries: (from: 'pending' | 'held') =>
      `UPDATE ${D} SET status = @status, next_attempt_at = @next_attempt_at, due_at = @next_attempt_at, updated_at = @updated_at
       WHERE subscription_id = @id AND status = ${sqlList([from])}`,
    // A soft delete's cancel of the open deliveries of status `from` (one of
    // cancellableStatuses), one statement per status written literally, as above, so that
    // the partial index of that status serves it. The lease stays: an attempt in flight
    // still settles (see settle-batch.ts).
    cancelSubscriptionDeliveries: (from: string) =>
      `UPDATE ${D} SET status = 'cancelled', next_attempt_at = NULL, due_at = NULL, last_error = @last_error, updated_at = @now
       WHERE subscription_id = @id AND status = ${sqlList([from])}`,
    deleteSubscriptionAttempts: `DELETE FROM ${t.attempts} WHERE delivery_id IN (SELECT id FROM ${D} WHERE subscription_id = ?)`,
    deleteSubscriptionDeliveries: `DELETE FROM ${D} WHERE subscription_id = ?`,
    deleteSubscription: `DELETE FROM ${S} WHERE id = ?`,
  };
}

/** SQL of the change log (migration 0008): its records are written beside the change, read by id or a subscription's page. */
export function changesSql(t: SqliteTables) {
  const C = t.changes;
  return {
    // The primary key refuses a reused id, which rolls the change back with it. The sequence is
    // the next of the subscription's log, read in the same write transaction (SQLite has one
    // writer at a time), through subscription_changes_subscription.
    insertChange: `INSERT INTO ${C} (id, subscription_id, sequence, tenant_id, action, origin, actor, reason, changes, at)
       VALUES (@id, @subscription_id, (SELECT COALESCE(MAX(sequence), 0) + 1 FROM ${C} WHERE subscription_id = @subscription_id),
               @tenant_id, @action, @origin, @actor, @reason, @changes, @at)`,
    getChange: `SELECT * FROM ${C} WHERE id = ?`,
    // A page in sequence order, through subscription_changes_subscription; one row more than the
    // page to know whether another follows. @after is 0 for the first page (sequences start at 1).
    listChanges: `SELECT * FROM ${C} WHERE subscription_id = @subscription_id AND sequence > @after ORDER BY sequence LIMIT @limit`,
    deleteSubscriptionChanges: `DELETE FROM ${C} WHERE subscription_id = ?`,
  };
}

/**
 * A page of `listSubscriptions`: its SQL and named parameters. With a tenant filter the
 * (tenant_id, id) index serves it in id order, `null` (the platform's) alike. Soft-deleted
 * subscriptions are left out unless `includeDeleted`.
 */
export function listSubscriptionsQuery(
  t: SqliteTables,
  query: { limit: number; afterId?: string; status?: string; tenantId?: string | null; includeDeleted?: boolean },
): { sql: string; params: Record<string, unknown> } {
  const params: Record<string, unknown> = { limit: query.limit + 1 };
  const where: string[] = [];
  if (query.includeDeleted !== true) where.push('deleted_at IS NULL');
  if (query.tenantId === null) {
    where.push('tenant_id IS NULL');
  } else if (query.tenantId !== undefined) {
    params.tenantId = query.tenantId;
    where.push('tenant_id = @tenantId');
  }
  if (query.afterId !== undefined) {
    params.cursor = query.afterId;
    where.push('id > @cursor');
  }
  if (query.status !== undefined) {
    params.status = query.status;
    where.push('status = @status');
  }
  return {
    sql: `SELECT * FROM ${t.subscriptions} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY id LIMIT @limit`,
    params,
  };
}
