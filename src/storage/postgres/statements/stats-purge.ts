/**
 * Statements of `stats` (counts from one snapshot, built per query: of everything, of a
 * subscription, of a tenant) and `purge` (retention of the log).
 */
import { Conditions, dbNowMs, type Tables } from './sql-parts.js';

export function statsPurgeStatements(t: Tables) {
  return {
    // Delivered, dead and cancelled deliveries are final. A final row's updated_at is when it became final: a delivery created long ago that
    // finished recently is recent log. Deleting the deliveries cascades to their attempts
    // (counted first, from the same snapshot); events go once no delivery is left — the
    // deliveries deleted by this very statement are still in its snapshot, hence `gone`.
    purge: `
      WITH gone AS (
        DELETE FROM ${t.deliveries} WHERE status IN ('delivered', 'dead', 'cancelled') AND updated_at < $1::bigint
        RETURNING id
      ), gone_events AS (
        DELETE FROM ${t.events} AS e
        WHERE e.published_at < $1::bigint
          AND NOT EXISTS (SELECT 1 FROM ${t.deliveries} AS d
                          WHERE d.event_id = e.id AND NOT EXISTS (SELECT 1 FROM gone AS g WHERE g.id = d.id))
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM gone) AS deliveries,
        (SELECT count(*) FROM ${t.attempts} AS a WHERE a.delivery_id IN (SELECT id FROM gone)) AS attempts,
        (SELECT count(*) FROM gone_events) AS events`,
  };
}

/**
 * The counts of `stats`, in one statement, so they come from one snapshot. Of everything:
 * `pending` and `leased` in one pass over the due index (pending rows only; a lease is
 * live by the database clock), `oldest` the head of the pending_created partial index. Of
 * one subscription through the (subscription_id, id) index; of one tenant (the platform's
 * with `null`: a delivery's tenant is its subscription's, deliveryTenantId) through
 * (tenant_id, id); both, their intersection.
 */
export function statsSql(
  t: Tables,
  query: { subscriptionId?: string; tenantId?: string | null },
): { text: string; values: unknown[] } {
  const where = new Conditions();
  where.add(query.subscriptionId, (p) => `subscription_id = ${p}`);
  where.addTenant('tenant_id', query.tenantId);
  return { text: countsSql(t.deliveries, where.sql('AND')), values: where.values };
}

function countsSql(deliveries: string, filter: string): string {
  return `
      SELECT p.pending, p.leased,
        (SELECT count(*) FROM ${deliveries} WHERE status = 'held' ${filter}) AS held,
        (SELECT count(*) FROM ${deliveries} WHERE status = 'dead' ${filter}) AS dead,
        (SELECT count(*) FROM ${deliveries} WHERE status = 'delivered' ${filter}) AS delivered,
        (SELECT count(*) FROM ${deliveries} WHERE status = 'cancelled' ${filter}) AS cancelled,
        (SELECT created_at FROM ${deliveries} WHERE next_attempt_at IS NOT NULL ${filter} ORDER BY created_at LIMIT 1) AS oldest
      FROM (SELECT count(*) AS pending,
              count(*) FILTER (WHERE lease_token IS NOT NULL AND lease_expires_at > ${dbNowMs}) AS leased
            FROM ${deliveries} WHERE next_attempt_at IS NOT NULL ${filter}) AS p`;
}
