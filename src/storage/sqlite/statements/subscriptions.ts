/**
 * SQL of the subscription registry: the record, its filters (one row per filter, the
 * fan-out's lookup), its status with what that does to its open deliveries, and its
 * deletion.
 */
import { sqlList, type SqliteTables } from './tables.js';

export function subscriptionsSql(t: SqliteTables) {
  const S = t.subscriptions;
  const F = t.filters;
  const D = t.deliveries;
  return {
    insertSubscription: `INSERT INTO ${S} (id, tenant_id, all_tenants, url, event_types, secrets, headers, description, metadata,
         status, disabled_reason, disabled_at, retry, flow_control, failing_since, created_at, updated_at)
       VALUES (@id, @tenant_id, @all_tenants, @url, @event_types, @secrets, @headers, @description, @metadata,
         @status, @disabled_reason, @disabled_at, @retry, @flow_control, @failing_since, @created_at, @updated_at)`,
    // A tenant's subscriptions, counted against tenantLimits.maxSubscriptions: the entries of
    // subscriptions_tenant for it, under the write lock the create holds.
    countTenantSubscriptions: `SELECT COUNT(*) FROM ${S} WHERE tenant_id = ?`,
    updateSubscription: `UPDATE ${S} SET url = @url, event_types = @event_types, secrets = @secrets, headers = @headers,
         description = @description, metadata = @metadata, retry = @retry, flow_control = @flow_control,
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
    // What a status change does to the open deliveries of status `from` (see
    // storage/shared/open-deliveries.ts), one statement per `from`: the status is written
    // literally so that the partial index of that status serves the update. Held rows
    // keep their lease token: a worker still posting one can settle it. A resumed row
    // still under a live lease stays unclaimable until that lease expires (the claim
    // checks it), so enabling cannot double-send it.
    updateOpenDeliveries: (from: 'pending' | 'held') =>
      `UPDATE ${D} SET status = @status, next_attempt_at = @next_attempt_at, due_at = @next_attempt_at, updated_at = @updated_at
       WHERE subscription_id = @id AND status = ${sqlList([from])}`,
    deleteSubscriptionAttempts: `DELETE FROM ${t.attempts} WHERE delivery_id IN (SELECT id FROM ${D} WHERE subscription_id = ?)`,
    deleteSubscriptionDeliveries: `DELETE FROM ${D} WHERE subscription_id = ?`,
    deleteSubscription: `DELETE FROM ${S} WHERE id = ?`,
  };
}

/**
 * A page of `listSubscriptions`: its SQL and named parameters. With a tenant filter the
 * (tenant_id, id) index serves it in id order, `null` (the platform's) alike.
 */
export function listSubscriptionsQuery(
  t: SqliteTables,
  query: { limit: number; afterId?: string; status?: string; tenantId?: string | null },
): { sql: string; params: Record<string, unknown> } {
  const params: Record<string, unknown> = { limit: query.limit + 1 };
  const where: string[] = [];
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
