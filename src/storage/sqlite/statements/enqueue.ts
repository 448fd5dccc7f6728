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
    // Fan-out follows receivesTenant (storage/shared/tenancy.ts) in two lookups, each of the
    // active subscriptions with one of the candidate filters (see candidateFilters), DISTINCT
    // because one subscription may hold several (`payment.*` and `payment.succeeded`) and
    // gets one delivery. First, those of the event's own scope (idempotencyScope of its
    // tenant), through the (filter, tenant_key, subscription_id) primary key: a tenant's
    // subscriptions for its event; for a tenantless event ('') the platform's, all-tenant
    // consumers included (their scope is ''). CROSS JOIN keeps the filters outer: with
    // statistics the planner would otherwise walk the subscriptions and probe each one's
    // filters. Each with its payload filter, its transform and its version pins, read from the
    // row the status check visits anyway: the publish asks the core about those that have one
    // (enqueue-event.ts).
    scopeSubscriptions: `SELECT DISTINCT f.subscription_id, s.payload_filter, s.transform, s.event_versions FROM ${F} f CROSS JOIN ${S} s ON s.id = f.subscription_id
       WHERE f.filter IN (SELECT value FROM json_each(?)) AND f.tenant_key = ? AND s.status = 'active'
       ORDER BY f.subscription_id`,
    // Then, for a tenant's event only, the all-tenant consumers, through their partial index
    // (INDEXED BY: a seek on the filter alone in the primary key would walk every tenant's
    // subscriptions of it). A tenantless event needs no second lookup, which keeps it at one.
    allTenantConsumers: `SELECT DISTINCT f.subscription_id, s.payload_filter, s.transform, s.event_versions
       FROM ${F} f INDEXED BY ${t.allTenantsFilterIndex} CROSS JOIN ${S} s ON s.id = f.subscription_id
       WHERE f.filter IN (SELECT value FROM json_each(?)) AND f.all_tenants = 1 AND s.status = 'active'
       ORDER BY f.subscription_id`,
    // One statement for the whole fan-out: [deliveryId, subscriptionId, tenantId, payload?]
    // as JSON; a delivery without a fourth element (NULL) sends its event's payload.
    insertDeliveries: `INSERT INTO ${t.deliveries} (id, event_id, event_type, subscription_id, tenant_id, status, attempts,
         next_attempt_at, due_at, created_at, updated_at, payload)
       SELECT j.value ->> 0, @event_id, @event_type, j.value ->> 1, j.value ->> 2, @status, 0, @next, @next, @now, @now, j.value ->> 3
       FROM json_each(@deliveries) j`,
  };
}
