/**
 * Statements of retention (`purgeRetention`): one bounded batch in one transaction, by one
 * instance of a schema at a time — the rest of the batch runs only once
 * `tryRetentionLock` answered true. Deliveries with their attempts, events, then the
 * subscriptions' test attempts.
 */
import { retentionStatuses } from '../../shared/retention.js';
import { dbNowMs, notBlockingSql, type Tables } from './sql-parts.js';

const finalStatuses = retentionStatuses.map(({ status }) => `'${status}'`).join(', ');

export function retentionStatements(t: Tables) {
  const { deliveries: D, events: E, attempts: A } = t;
  return {
    // Transaction-level, so that it ends with the batch whatever happens to the client.
    // Keyed like the migration lock (migrations/index.ts) with a text of its own: one
    // purger per schema, while the dispatchers and other schemas go on. Try, not wait:
    // another instance purging now leaves nothing for this one to do.
    tryRetentionLock: `SELECT pg_try_advisory_xact_lock(hashtextextended('@bookkeeper/webhooks:retention:' || $1::text, 0)) AS locked`,
    // Up to $3 rows of status $1 that became final before $2, oldest first, through
    // deliveries_final_at (migration 0006; the IN term is its predicate, so that a generic
    // plan can use it). A cancelled row under a live lease (its attempt in flight; leases
    // by the database clock, as the claim measures them) stays. SKIP LOCKED: a row a
    // redeliver or settle holds is left for a later batch; the lock re-checks the row's
    // status and time on its committed version, so a row requeued meanwhile is not taken.
    // A dead delivery that blocks its ordering key stays (notBlockingSql): the operator's
    // handle on the key.
    finalPast: `
      SELECT d.id, d.updated_at AS final_at FROM ${D} AS d
      WHERE d.status IN (${finalStatuses}) AND d.status = $1 AND d.updated_at < $2::bigint
        AND (d.lease_token IS NULL OR d.lease_expires_at <= ${dbNowMs}) AND ${notBlockingSql('d', t)}
      ORDER BY d.updated_at
      LIMIT $3
      FOR UPDATE SKIP LOCKED`,
    // The locked deliveries $1 with their attempts (ON DELETE CASCADE, counted from the
    // same snapshot).
    purgeDeliveriesById: `
      WITH gone AS (
        DELETE FROM ${D} AS d WHERE d.id = ANY ($1::text[])
        RETURNING d.id
      )
      SELECT (SELECT count(*) FROM gone) AS deliveries,
        (SELECT count(*) FROM ${A} AS a WHERE a.delivery_id IN (SELECT id FROM gone)) AS attempts`,
    // Up to $2 events published before $1 without a delivery (those of this batch's
    // deletes included), oldest first through events_published_at, each probed in
    // deliveries_event_subscription. OFFSET 0 keeps the probe a per-event subplan: as an
    // anti-join, the planner (expecting few old events to have a delivery) hashes the whole
    // deliveries table instead. Old events whose deliveries are kept are read past on every
    // batch. Locked so that no replay can give one a delivery from here (its foreign key
    // check waits for the lock, then fails and is retried).
    lockEventsPast: `
      SELECT e.id FROM ${E} AS e
      WHERE e.published_at < $1::bigint AND NOT EXISTS (SELECT 1 FROM ${D} AS d WHERE d.event_id = e.id OFFSET 0)
      ORDER BY e.published_at
      LIMIT $2
      FOR UPDATE SKIP LOCKED`,
    // The locked events $1 that still have no delivery: this statement's snapshot, taken
    // after the lock, sees a delivery a replay committed before it. OFFSET 0: a probe per
    // event, as above.
    purgeEventsById: `
      DELETE FROM ${E} AS e
      WHERE e.id = ANY ($1::text[]) AND NOT EXISTS (SELECT 1 FROM ${D} AS d WHERE d.event_id = e.id OFFSET 0)
      RETURNING e.id`,
    // Up to $3 test attempts of one kind ($1: ok or not) that started before $2, oldest
    // first, through test_attempts_started (migration 0008). SKIP LOCKED, as above: no other
    // writer locks them but another purge, which the retention lock keeps out.
    testAttemptsPast: `
      SELECT id, started_at AS final_at FROM ${t.testAttempts}
      WHERE ok = $1::boolean AND started_at < $2::bigint
      ORDER BY started_at, id
      LIMIT $3
      FOR UPDATE SKIP LOCKED`,
    purgeTestAttemptsById: `DELETE FROM ${t.testAttempts} WHERE id = ANY ($1::text[]) RETURNING id`,
  };
}
