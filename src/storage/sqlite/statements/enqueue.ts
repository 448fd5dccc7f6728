/**
 * SQL of publishing: the event (deduplicated by its idempotency key within its tenant) and
 * its fan-out to the active subscriptions whose filters match its type and that receive its
 * tenant.
 */
import type { SqliteTables } from './tables.js';

export function enqueueSql(t: SqliteTables) {
  const E = t.events;
  const F = t.filters;
  const S = t.subscriptions;
  return {
    // The unique index on (idempotency scope, key) decides (migration 0007; the conflict
    // target names it); under BEGIN IMMEDIATE a concurrent publish with the same key in the
    // same tenant waits for us and then finds our row.
    insertEvent: `INSERT INTO ${E} (id, type, published_at, payload, idempotency_key, tenant_id) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (ifnull(tenant_id, ''), idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
    getEvent: `SELECT * FROM ${E} WHERE id = ?`,
    // The first event of a key in a scope (idempotencyScope), through that unique index.
    getEventByKey: `SELECT * FROM ${E} WHERE ifnull(tenant_id, '') = ? AND idempotency_key = ?`,
    // Fan-out, by the rule of receivesTenant (storage/shared/tenancy.ts): the subscriptions
    // of the event's own scope (@scope, idempotencyScope of its tenant: '' for a tenantless
    // event) through the (filter, tenant_key, subscription_id) primary key, and the
    // all-tenant consumers through their partial index, whatever the event's tenant; each
    // for the candidate filters (see candidateFilters). INDEXED BY: the primary key also
    // starts with the filter, and a seek on the filter alone there would walk every
    // tenant's subscriptions of it. CROSS JOIN keeps the filters outer: with statistics the
    // planner would otherwise walk the subscriptions and probe each one's filters. UNION
    // also makes one row of a subscription with several matching filters (`payment.*` and
    // `payment.succeeded`): one delivery each.
    matchingSubscriptions: `SELECT f.subscription_id, s.tenant_id, s.all_tenants
       FROM ${F} f CROSS JOIN ${S} s ON s.id = f.subscription_id
       WHERE f.filter IN (SELECT value FROM json_each(@filters)) AND f.tenant_key = @scope AND s.status = 'active'
       UNION
       SELECT f.subscription_id, s.tenant_id, s.all_tenants
       FROM ${F} f INDEXED BY ${t.allTenantsFilterIndex} CROSS JOIN ${S} s ON s.id = f.subscription_id
       WHERE f.filter IN (SELECT value FROM json_each(@filters)) AND f.all_tenants = 1 AND s.status = 'active'
       ORDER BY 1`,
    // One statement for the whole fan-out: [deliveryId, subscriptionId, tenantId] triples as JSON.
    insertDeliveries: `INSERT INTO ${t.deliveries} (id, event_id, event_type, subscription_id, tenant_id, status, attempts,
         next_attempt_at, due_at, created_at, updated_at)
       SELECT j.value ->> 0, @event_id, @event_type, j.value ->> 1, j.value ->> 2, @status, 0, @next, @next, @now, @now
       FROM json_each(@deliveries) j`,
  };
}
