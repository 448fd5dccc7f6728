/** Statements of `stats` (counts from one snapshot) and `purge` (retention of the log). */
import { dbNowMs, type Tables } from './sql-parts.js';

export function statsPurgeStatements(t: Tables) {
  return {
    // One statement, so the counts come from one snapshot. `pending` and `leased` in one
    // pass over the due index (pending rows only; a lease is live by the database clock);
    // `oldest` is the head of the pending_created partial index. statsOf: the same for
    // one subscription, through the (subscription_id, id) index.
    stats: statsSql(t.deliveries, ''),
    statsOf: statsSql(t.deliveries, 'AND subscription_id = $1'),
    // A final row's updated_at is when it became final: a delivery created long ago that
    // finished recently is recent log. Deleting the deliveries cascades to their attempts
    // (counted first, from the same snapshot); events go once no delivery is left — the
    // deliveries deleted by this very statement are still in its snapshot, hence `gone`.
    purge: `
      WITH gone AS (
        DELETE FROM ${t.deliveries} WHERE status IN ('delivered', 'dead') AND updated_at < $1::bigint
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

function statsSql(deliveries: string, filter: string): string {
  return `
      SELECT p.pending, p.leased,
        (SELECT count(*) FROM ${deliveries} WHERE status = 'held' ${filter}) AS held,
        (SELECT count(*) FROM ${deliveries} WHERE status = 'dead' ${filter}) AS dead,
        (SELECT count(*) FROM ${deliveries} WHERE status = 'delivered' ${filter}) AS delivered,
        (SELECT created_at FROM ${deliveries} WHERE next_attempt_at IS NOT NULL ${filter} ORDER BY created_at LIMIT 1) AS oldest
      FROM (SELECT count(*) AS pending,
              count(*) FILTER (WHERE lease_token IS NOT NULL AND lease_expires_at > ${dbNowMs}) AS leased
            FROM ${deliveries} WHERE next_attempt_at IS NOT NULL ${filter}) AS p`;
}
