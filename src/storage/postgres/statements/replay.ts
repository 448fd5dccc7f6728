/**
 * Statements of `replay`, run in one transaction: lock the subscription, then, over the
 * events of the window whose type is among those the core matched, which the
 * subscription may receive and which are not expunged (shared/redelivery.ts's
 * `replayable`), requeue the deliveries whose status is in `replayRequeues` and create the
 * missing ones. The window is on the event's publication time.
 */
import { replayRequeues } from '../../shared/redelivery.js';
import { literalList, receivesTenantSql, type Tables } from './sql-parts.js';

export function replayStatements(t: Tables) {
  // $1 subscription (its row joined as `s`), $2 since, $3 until (or NULL), $4 the matched
  // event types. The tenant rule (receivesTenant of shared/tenancy.ts) is read from the
  // subscription row itself, so no caller can widen a replay to another tenant's events.
  const replayable = (e: string, s: string): string =>
    `${e}.published_at >= $2::bigint AND ($3::bigint IS NULL OR ${e}.published_at < $3::bigint) ` +
    `AND ${e}.type = ANY ($4::text[]) AND ${receivesTenantSql(s, e)} AND ${e}.expunged_at IS NULL`;
  const requeues = literalList(replayRequeues);
  // The events of the window without a delivery for this subscription.
  const missing = `
      SELECT e.id, e.type FROM ${t.events} AS e JOIN ${t.subscriptions} AS s ON s.id = $1
      WHERE ${replayable('e', 's')}
        AND NOT EXISTS (SELECT 1 FROM ${t.deliveries} AS d WHERE d.event_id = e.id AND d.subscription_id = $1)
      ORDER BY e.published_at, e.id`;
  return {
    // FOR SHARE: the subscription cannot be enabled, disabled or deleted under the replay.
    lockSubscriptionShared: `SELECT status, deleted_at FROM ${t.subscriptions} WHERE id = $1 FOR SHARE`,
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
    // The deliveries take their subscription's tenant (deliveryTenantId). ON CONFLICT: a
    // publish racing the replay may have created the delivery meanwhile.
    insertReplayDeliveries: `
      INSERT INTO ${t.deliveries} (id, event_id, event_type, subscription_id, tenant_id, status, attempts,
        next_attempt_at, created_at, updated_at)
      SELECT r.id, r.event_id, r.event_type, s.id, s.tenant_id, $5::text, 0, $6::bigint, $7::bigint, $7::bigint
      FROM unnest($1::text[], $2::text[], $3::text[]) AS r(id, event_id, event_type)
      JOIN ${t.subscriptions} AS s ON s.id = $4
      ON CONFLICT (event_id, subscription_id) DO NOTHING`,
  };
}
