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
import { quoteLiteral } from '../migrations/index.js';
import { eventColumns, literalList, receivesTenantSql, subscriptionColumns, type Tables } from './sql-parts.js';

/**
 * How long enable({ replayMissed })'s last replay waits for the events table (SQLSTATE 55P03,
 * STORAGE_BUSY, retried by the runner): publishes queue behind the wait, so it stays short.
 */
export const enableLockTimeoutMs = 500;

export function replayStatements(t: Tables, schema: string) {
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
    // Replays of one subscription ($1) that create deliveries run one after the other, under
    // this transaction-level lock, taken before they look for the missing ones: each then
    // sees what the one before created, so none numbers a delivery of an ordering key that
    // its insert then drops as a duplicate (a number that would never be sent, and, were it
    // the key's head, would hold the key for ever). Publishes never wait for it.
    // enable({ replayMissed })'s last replay (ReplayInput.activate): the events table in SHARE
    // mode, which waits for the publishes being written (ROW EXCLUSIVE until they commit) and
    // holds new ones until the enable commits. Bounded by its own lock_timeout. A utility
    // statement: run without parameters (not prepared).
    lockEventsForEnable: `SET LOCAL lock_timeout = '${enableLockTimeoutMs}ms'; LOCK TABLE ${t.events} IN SHARE MODE`,
    lockReplay: `SELECT pg_advisory_xact_lock(hashtextextended(${quoteLiteral(`@bookkeeper/webhooks:${schema}:replay:`)} || $1::text, 0))`,
    // The deliveries take their subscription's tenant (deliveryTenantId), and their payloads
    // from $8 when the core rendered them (aligned with $1, NULL or empty: each sends its
    // event's, unnest pads it with NULL). ON CONFLICT: kept as a guard; under lockReplay no
    // other writer creates a delivery of an existing event.
    // The deliveries of an event with an ordering key are appended to the subscription's key
    // in the order given (event order), as a publish appends (appendToKey of
    // shared/ordering.ts): `keyed` upserts each key once, in key order, by the count of its
    // new deliveries, and the k-th of n new ones takes last_seq - n + k; the one numbered at
    // the key's head is due at once (or held), the others wait (next_attempt_at NULL).
    insertReplayDeliveries: `
      WITH r AS (
        SELECT r.id, r.event_id, r.event_type, r.payload, r.ord, e.ordering_key
        FROM unnest($1::text[], $2::text[], $3::text[], $8::text[]) WITH ORDINALITY AS r(id, event_id, event_type, payload, ord)
        JOIN ${t.events} AS e ON e.id = r.event_id
      ), keyed AS (
        INSERT INTO ${t.orderingKeys} AS k (subscription_id, ordering_key, last_seq, head_seq)
        SELECT $4::text, r.ordering_key, count(*), 1 FROM r
        WHERE r.ordering_key IS NOT NULL
        GROUP BY r.ordering_key
        ORDER BY r.ordering_key
        ON CONFLICT (subscription_id, ordering_key) DO UPDATE SET last_seq = k.last_seq + EXCLUDED.last_seq
        RETURNING k.ordering_key, k.last_seq, k.head_seq
      ), numbered AS (
        SELECT r.*, k.head_seq,
          k.last_seq - count(*) OVER (PARTITION BY r.ordering_key) + row_number() OVER (PARTITION BY r.ordering_key ORDER BY r.ord) AS seq
        FROM r LEFT JOIN keyed AS k ON k.ordering_key = r.ordering_key
      )
      INSERT INTO ${t.deliveries} (id, event_id, event_type, subscription_id, tenant_id, status, attempts,
        next_attempt_at, created_at, updated_at, payload, ordering_key, ordering_seq)
      SELECT n.id, n.event_id, n.event_type, s.id, s.tenant_id, $5::text, 0,
        CASE WHEN n.seq IS NULL OR n.seq = n.head_seq THEN $6::bigint END, $7::bigint, $7::bigint, n.payload, n.ordering_key, n.seq
      FROM numbered AS n
      JOIN ${t.subscriptions} AS s ON s.id = $4
      ORDER BY n.ord
      ON CONFLICT (event_id, subscription_id) DO NOTHING`,
  };
}
