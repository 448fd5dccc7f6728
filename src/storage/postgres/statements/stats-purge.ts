/**
 * Statements of `stats` (counts from one snapshot, built per query: of everything, of a
 * subscription, of a tenant) and `purge` (retention of the log).
 */
import type { DeliveryStatus } from '../../storage-adapter.js';
import { quoteLiteral } from '../migrations/index.js';
import { Conditions, dbNowMs, notBlockingSql, type Tables } from './sql-parts.js';

export function statsPurgeStatements(t: Tables) {
  return {
    // Delivered, dead and cancelled deliveries are final. A final row's updated_at is when it became final: a delivery created long ago that
    // finished recently is recent log. Deleting the deliveries cascades to their attempts
    // (counted first, from the same snapshot); events go once no delivery is left — the
    // deliveries deleted by this very statement are still in its snapshot, hence `gone`. Test
    // attempts go by when they started, both kinds (ok IN …: through the (ok, started_at, id) index).
    // A dead delivery that blocks its ordering key stays (notBlockingSql).
    purge: `
      WITH gone AS (
        DELETE FROM ${t.deliveries} AS d
        WHERE d.status IN ('delivered', 'dead', 'cancelled') AND d.updated_at < $1::bigint AND ${notBlockingSql('d', t)}
        RETURNING d.id
      ), gone_events AS (
        DELETE FROM ${t.events} AS e
        WHERE e.published_at < $1::bigint
          AND NOT EXISTS (SELECT 1 FROM ${t.deliveries} AS d
                          WHERE d.event_id = e.id AND NOT EXISTS (SELECT 1 FROM gone AS g WHERE g.id = d.id))
        RETURNING 1
      ), gone_tests AS (
        DELETE FROM ${t.testAttempts} WHERE ok IN (true, false) AND started_at < $1::bigint
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM gone) AS deliveries,
        (SELECT count(*) FROM ${t.attempts} AS a WHERE a.delivery_id IN (SELECT id FROM gone)) AS attempts,
        (SELECT count(*) FROM gone_events) AS events,
        (SELECT count(*) FROM gone_tests) AS test_attempts`,
  };
}

/**
 * The counts of `stats`, in one statement, so they come from one snapshot: the statuses
 * summed from the counter rows of migration 0007 (O(subscriptions × shards), never the
 * delivery log), `leased` from delivery_leases, the pending deliveries with a lease token
 * (those in flight; a lease is live by the database clock), `waiting` the pending ones
 * behind their ordering keys' heads from deliveries_waiting (migration 0011), `oldest` the head of the
 * pending_created partial index. Of
 * one subscription, of one tenant (the platform's with `null`: a delivery's tenant is its
 * subscription's, deliveryTenantId, which the counter and lease rows carry), or both: the
 * three tables have the same columns for the filter.
 */
export function statsSql(
  t: Tables,
  query: { subscriptionId?: string; tenantId?: string | null },
): { text: string; values: unknown[] } {
  const where = new Conditions();
  where.add(query.subscriptionId, (p) => `subscription_id = ${p}`);
  where.addTenant('tenant_id', query.tenantId);
  return { text: countsSql(t, where), values: where.values };
}

function countsSql(t: Tables, where: Conditions): string {
  const sum = (status: DeliveryStatus): string => `COALESCE(sum(c.n) FILTER (WHERE c.status = ${quoteLiteral(status)}), 0)::bigint AS ${status}`;
  const filter = where.sql('AND');
  return `
      SELECT ${sum('pending')}, ${sum('held')}, ${sum('dead')}, ${sum('delivered')}, ${sum('cancelled')},
        (SELECT count(*) FROM ${t.leases} WHERE expires_at > ${dbNowMs} ${filter}) AS leased,
        (SELECT count(*) FROM ${t.deliveries} WHERE status = 'pending' AND next_attempt_at IS NULL ${filter}) AS waiting,
        (SELECT created_at FROM ${t.deliveries} WHERE next_attempt_at IS NOT NULL ${filter} ORDER BY created_at LIMIT 1) AS oldest
      FROM ${t.counts} AS c ${where.sql('WHERE')}`;
}
