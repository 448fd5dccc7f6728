/**
 * Statements of `purgeTenant`: one bounded batch of a tenant's removal, in one
 * transaction, in the order of shared/tenancy.ts's `tenantPurgeSteps` — its deliveries,
 * then its subscriptions, then its events with what deliveries other consumers still hold
 * of them. Every read is by the tenant's indexes (migration 0003), never a table scan.
 */
import { dbNowMs, type Tables } from './sql-parts.js';

export function purgeTenantStatements(t: Tables) {
  const { deliveries: D, subscriptions: S, events: E, attempts: A } = t;
  return {
    // Whether one of the tenant's deliveries ($1) is under a live lease, by the database
    // clock, as the claim measures leases. A lease is only ever on an open delivery
    // (pending, or held while its attempt may still settle) or on a cancelled one (whose
    // attempt may still settle), so this reads the tenant's open deliveries in
    // deliveries_tenant_open and its cancelled ones in deliveries_tenant_cancelled, not its
    // whole log, before each batch.
    tenantInFlight: `
      SELECT EXISTS (
        SELECT 1 FROM ${D} AS d
        WHERE d.tenant_id = $1 AND d.status IN ('pending', 'held') AND d.lease_expires_at > ${dbNowMs}
      ) OR EXISTS (
        SELECT 1 FROM ${D} AS d
        WHERE d.tenant_id = $1 AND d.status = 'cancelled' AND d.lease_expires_at > ${dbNowMs}
      ) AS in_flight`,
    // What is left of the tenant, by three index probes: each step goes on only when the
    // kinds before it are gone, and the batch is the last (`done`) when nothing is left.
    tenantLeft: `
      SELECT EXISTS (SELECT 1 FROM ${D} WHERE tenant_id = $1) AS deliveries,
        EXISTS (SELECT 1 FROM ${S} WHERE tenant_id = $1) AS subscriptions,
        EXISTS (SELECT 1 FROM ${E} WHERE tenant_id = $1) AS events`,
    // Up to $2 of the tenant's deliveries with their attempts (ON DELETE CASCADE, counted
    // from the same snapshot), through deliveries_tenant. Unless $3 (force), a row under a
    // live lease is left: FOR UPDATE waits for a claim in progress and re-checks the lease
    // on the row it committed, so a delivery leased since the in-flight check is not taken.
    purgeTenantDeliveries: `
      WITH batch AS (
        SELECT d.id FROM ${D} AS d
        WHERE d.tenant_id = $1 AND ($3::boolean OR d.lease_expires_at IS NULL OR d.lease_expires_at <= ${dbNowMs})
        ORDER BY d.id
        LIMIT $2
        FOR UPDATE
      ), gone AS (
        DELETE FROM ${D} AS d USING batch WHERE d.id = batch.id
        RETURNING d.id
      )
      SELECT (SELECT count(*) FROM gone) AS deliveries,
        (SELECT count(*) FROM ${A} AS a WHERE a.delivery_id IN (SELECT id FROM gone)) AS attempts`,
    // Up to $2 of the tenant's subscriptions, locked: from here no publish can add a
    // delivery to them (its foreign key check waits for the lock, then fails and is retried).
    lockTenantSubscriptions: `SELECT id FROM ${S} WHERE tenant_id = $1 ORDER BY id LIMIT $2 FOR UPDATE`,
    // The locked subscriptions ($1) with their filter rows and change logs (ON DELETE
    // CASCADE), soft-deleted ones too, but one that a publish gave a
    // delivery after the deliveries step stays for the next batch: this statement's
    // snapshot, taken after the lock, sees every such delivery, so the delete never
    // cascades to a delivery (which the deliveries step takes, lease rule and all).
    purgeTenantSubscriptions: `
      DELETE FROM ${S} AS s
      WHERE s.id = ANY ($1::text[]) AND NOT EXISTS (SELECT 1 FROM ${D} AS d WHERE d.subscription_id = s.id)
      RETURNING s.id`,
    // Up to $2 of the tenant's events, through events_tenant, locked: from here no replay
    // can add a delivery of them.
    lockTenantEvents: `SELECT id FROM ${E} WHERE tenant_id = $1 ORDER BY id LIMIT $2 FOR UPDATE`,
    // The locked events ($1) with every delivery they still have (an all-tenant consumer's,
    // tenant_id NULL) and its attempts, by deliveries_event_subscription. Their keyed
    // deliveries come back (`keyed`: [subscription id, key, number] each): a removed head of
    // a consumer's key lets the key move on, its key locked before (lockKeysOfEvents).
    purgeTenantEvents: `
      WITH gone_deliveries AS (
        DELETE FROM ${D} WHERE event_id = ANY ($1::text[])
        RETURNING id, subscription_id, ordering_key, ordering_seq
      ), gone_events AS (
        DELETE FROM ${E} WHERE id = ANY ($1::text[])
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM gone_events) AS events,
        (SELECT count(*) FROM gone_deliveries) AS deliveries,
        (SELECT json_agg(json_build_array(g.subscription_id, g.ordering_key, g.ordering_seq)) FROM gone_deliveries AS g
         WHERE g.ordering_key IS NOT NULL) AS keyed,
        (SELECT count(*) FROM ${A} AS a WHERE a.delivery_id IN (SELECT id FROM gone_deliveries)) AS attempts`,
  };
}
