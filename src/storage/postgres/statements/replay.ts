/**
 * Statements of `replay`, run in one transaction: lock the subscription, then, over the
 * events of the window whose type is among those the core matched, which the
 * subscription may receive and which are not expunged (shared/redelivery.ts's
 * `replayable`), requeue the deliveries whose status is in `replayRequeues` and create the
 * missing ones. The window is on the event's publication time. A subscription with a
 * payload filter takes the window's candidates with their events instead, in batches, and
 * requeues and creates only for the events the core's callback accepted.
 */
import { replayRequeues } from '../../shared/redelivery.js';
import { eventColumns, literalList, receivesTenantSql, subscriptionColumns, type Tables } from './sql-parts.js';

export function replayStatements(t: Tables) {
  // $1 subscription (its row joined as `s`), $2 since, $3 until (or NULL), $4 the matched
  // event types. The tenant rule (receivesTenant of shared/tenancy.ts) is read from the
  // subscription row itself, so no caller can widen a replay to another tenant's events.
  const replayable = (e: string, s: string): string =>
    `${e}.published_at >= $2::bigint AND ($3::bigint IS NULL OR ${e}.published_at < $3::bigint) ` +
    `AND ${e}.type = ANY ($4::text[]) AND ${receivesTenantSql(s, e)} AND ${e}.expunged_at IS NULL`;
  const requeues = literalList(replayRequeues);
  const filteredCandidates = (lock: string): string => `
      SELECT ${eventColumns('e')}, d.id IS NOT NULL AS requeue
      FROM ${t.events} AS e JOIN ${t.subscriptions} AS s ON s.id = $1
      LEFT JOIN ${t.deliveries} AS d ON d.event_id = e.id AND d.subscription_id = $1
      WHERE ${replayable('e', 's')} AND (d.id IS NULL OR d.status IN (${requeues}))
        AND e.published_at >= $5::bigint AND (e.published_at, e.id) > ($5::bigint, $6::text)
      ORDER BY e.published_at, e.id
      LIMIT $7::integer
      ${lock}`;
  // The events of the window without a delivery for this subscription.
  const missing = `
      SELECT e.id, e.type FROM ${t.events} AS e JOIN ${t.subscriptions} AS s ON s.id = $1
      WHERE ${replayable('e', 's')}
        AND NOT EXISTS (SELECT 1 FROM ${t.deliveries} AS d WHERE d.event_id = e.id AND d.subscription_id = $1)
      ORDER BY e.published_at, e.id`;
  return {
    // FOR SHARE: the subscription cannot be enabled, disabled, deleted or given another
    // payload filter under the replay.
    // Whole: a render gets the subscription's record.
    lockSubscriptionShared: `SELECT ${subscriptionColumns('s')} FROM ${t.subscriptions} AS s WHERE s.id = $1 FOR SHARE`,
    replayCountRequeues: `
      SELECT count(*) AS n
      FROM ${t.deliveries} AS d
      JOIN ${t.events} AS e ON e.id = d.event_id
      JOIN ${t.subscriptions} AS s ON s.id = d.subscription_id
      WHERE d.subscription_id = $1 AND d.status IN (${requeues}) AND ${replayable('e', 's')}`,
    // The fields of requeuedFields(), from $5 on. The events of the deliveries it requeues
    // are locked FOR SHARE first (`locked`): an expunge of one in progress is waited for,
    // and the event, re-checked on its new version, is left out; one that starts later
    // waits for the replay, and its cancel then sees the requeued delivery.
    replayRequeue: `
      WITH locked AS (
        SELECT e.id
        FROM ${t.deliveries} AS d
        JOIN ${t.events} AS e ON e.id = d.event_id
        JOIN ${t.subscriptions} AS s ON s.id = $1
        WHERE d.subscription_id = $1 AND d.status IN (${requeues}) AND ${replayable('e', 's')}
        FOR SHARE OF e
      )
      UPDATE ${t.deliveries} AS d SET status = $5::text, attempts = $6::integer, next_attempt_at = $7::bigint,
        delivered_at = $8::bigint, lease_expires_at = $9::bigint, lease_token = $10::text, updated_at = $11::bigint
      WHERE d.subscription_id = $1 AND d.status IN (${requeues}) AND d.event_id IN (SELECT id FROM locked)`,
    // The events of the window without a delivery for this subscription, for a dry run.
    replayMissing: missing,
    // The same, locked FOR SHARE against an expunge, as replayRequeue locks its events.
    replayMissingLocked: `${missing}
      FOR SHARE OF e`,
    // For a subscription with a payload filter: the window's events that would be created
    // (`requeue` false: no delivery yet) or requeued (a delivery in replayRequeues), with
    // each whole event for the callback, one batch of at most $7 after the key ($5
    // published_at, $6 id; the first batch starts at (since, '')), in the order of
    // replayCandidates. Through events_published_at, each event's delivery by the unique
    // (event_id, subscription_id) index: the callback has to see every event of the window
    // anyway. Batches bound the payloads held at once. Locked FOR SHARE against an expunge,
    // as the statements above lock theirs (a dry run reads replayFilterCandidates instead);
    // published_at and id never change, so a row re-checked under the lock keeps its place.
    replayFilterCandidates: filteredCandidates(''),
    replayFilterCandidatesLocked: filteredCandidates('FOR SHARE OF e'),
    // The fields of requeuedFields() from $3 on, for the deliveries of the accepted events
    // $2 (locked by replayFilterCandidatesLocked in this transaction), still in replayRequeues.
    replayRequeueEvents: `
      UPDATE ${t.deliveries} AS d SET status = $3::text, attempts = $4::integer, next_attempt_at = $5::bigint,
        delivered_at = $6::bigint, lease_expires_at = $7::bigint, lease_token = $8::text, updated_at = $9::bigint
      WHERE d.subscription_id = $1 AND d.event_id = ANY ($2::text[]) AND d.status IN (${requeues})`,
    // The deliveries take their subscription's tenant (deliveryTenantId), and their payloads
    // from $8 when the core rendered them (aligned with $1, NULL or empty: each sends its
    // event's, unnest pads it with NULL). ON CONFLICT: a publish racing the replay may have
    // created the delivery meanwhile.
    insertReplayDeliveries: `
      INSERT INTO ${t.deliveries} (id, event_id, event_type, subscription_id, tenant_id, status, attempts,
        next_attempt_at, created_at, updated_at, payload)
      SELECT r.id, r.event_id, r.event_type, s.id, s.tenant_id, $5::text, 0, $6::bigint, $7::bigint, $7::bigint, r.payload
      FROM unnest($1::text[], $2::text[], $3::text[], $8::text[]) AS r(id, event_id, event_type, payload)
      JOIN ${t.subscriptions} AS s ON s.id = $4
      ON CONFLICT (event_id, subscription_id) DO NOTHING`,
  };
}
