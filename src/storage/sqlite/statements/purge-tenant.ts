/**
 * SQL of removing a tenant in bounded batches (`purgeTenant`): whether one of its deliveries
 * is in flight, each step's next rows in the order of tenantPurgeSteps
 * (storage/shared/tenancy.ts) with what goes with them, and whether anything of it remains.
 * Every read goes through an index keyed by the tenant; none walks another tenant's rows.
 */
import type { SqliteTables } from './tables.js';

export function purgeTenantSql(t: SqliteTables) {
  const S = t.subscriptions;
  const D = t.deliveries;
  const E = t.events;
  const A = t.attempts;
  // Rows named by a JSON array of their ids.
  const named = 'SELECT value FROM json_each(?)';
  return {
    // A delivery of the tenant under a live lease. A delivery's tenant is its subscription's
    // (deliveryTenantId), and only pending and held rows carry a lease (a settle clears it),
    // so the tenant's subscriptions lead to them: their pending entries in
    // deliveries_subscription_due, which holds lease_expires_at (no row is read), and their
    // held rows (few: only a disabled subscription has any), and its cancelled rows still
    // under a lease (cancelled while in flight), from their own partial index by tenant. At
    // most the tenant's open deliveries are looked at, never its delivery log. CROSS JOIN
    // keeps the subscriptions outer (the planner would otherwise walk every pending entry).
    inFlight: `SELECT EXISTS (
           SELECT 1 FROM ${S} s CROSS JOIN ${D} d INDEXED BY ${t.subscriptionDueIndex}
             ON d.subscription_id = s.id AND d.status = 'pending' AND d.lease_expires_at > @now
           WHERE s.tenant_id = @tenant)
         OR EXISTS (
           SELECT 1 FROM ${S} s CROSS JOIN ${D} d INDEXED BY ${t.subscriptionHeldIndex}
             ON d.subscription_id = s.id AND d.status = 'held'
           WHERE s.tenant_id = @tenant AND d.lease_expires_at > @now)
         OR EXISTS (
           SELECT 1 FROM ${D} d INDEXED BY ${t.cancelledLeasedIndex}
           WHERE d.tenant_id = @tenant AND d.status = 'cancelled' AND d.lease_token IS NOT NULL AND d.lease_expires_at > @now)`,
    // Step 1: the tenant's next deliveries, through deliveries_tenant.
    tenantDeliveries: `SELECT id FROM ${D} WHERE tenant_id = ? ORDER BY id LIMIT ?`,
    deleteAttemptsOfDeliveries: `DELETE FROM ${A} WHERE delivery_id IN (${named})`,
    deleteDeliveries: `DELETE FROM ${D} WHERE id IN (${named})`,
    // Step 2: its next subscriptions (no delivery of them is left), through subscriptions_tenant.
    tenantSubscriptions: `SELECT id FROM ${S} WHERE tenant_id = ? ORDER BY id LIMIT ?`,
    deleteFiltersOfSubscriptions: `DELETE FROM ${t.filters} WHERE subscription_id IN (${named})`,
    // Their change logs (the tenant's), through subscription_changes_subscription.
    deleteChangesOfSubscriptions: `DELETE FROM ${t.changes} WHERE subscription_id IN (${named})`,
    deleteSubscriptions: `DELETE FROM ${S} WHERE id IN (${named})`,
    // Step 3: its next events, through events_tenant (INDEXED BY: the index is partial, and a
    // schema change that kept it from serving would fail here loudly rather than scan the
    // events), with what other consumers (all-tenant ones) still hold of them, found by the
    // (event_id, subscription_id) index: CROSS JOIN seeks it per event, where the planner
    // could otherwise walk the deliveries and probe the list.
    tenantEvents: `SELECT id FROM ${E} INDEXED BY ${t.eventTenantIndex} WHERE tenant_id = ? ORDER BY id LIMIT ?`,
    deliveriesOfEvents: `SELECT d.id FROM json_each(?) AS j CROSS JOIN ${D} AS d ON d.event_id = j.value`,
    deleteEvents: `DELETE FROM ${E} WHERE id IN (${named})`,
    // What remains of the tenant, one seek into each of its three indexes.
    hasDeliveries: `SELECT EXISTS (SELECT 1 FROM ${D} WHERE tenant_id = ?)`,
    hasSubscriptions: `SELECT EXISTS (SELECT 1 FROM ${S} WHERE tenant_id = ?)`,
    hasEvents: `SELECT EXISTS (SELECT 1 FROM ${E} INDEXED BY ${t.eventTenantIndex} WHERE tenant_id = ?)`,
  };
}
