/**
 * Statements of per-key ordering (the rules are storage/shared/ordering.ts): lock keys,
 * move a key's head past the delivery that held it, list the keys a dead delivery blocks.
 *
 * The one discipline every writer that moves a head follows, under READ COMMITTED: lock the
 * key's ordering_keys row FIRST, in a statement of its own, THEN read the key's deliveries in
 * a later statement. A publish appends to a key by upserting that row (statements/enqueue.ts)
 * and holds its lock to its commit, so a statement that starts after the lock was granted
 * has a snapshot in which every delivery of the key is committed. One statement that both
 * waited for the row and read the deliveries would read them from the snapshot taken before
 * it waited, miss the delivery of the publish it waited for, and leave it waiting for ever.
 *
 * Several keys are locked in (subscription id, key) order, the order a publish's upsert takes
 * its keys in (one key, subscription ids ascending), so lockers never deadlock on them.
 * Lock order across tables: a key's row before the key's deliveries (an expunge and a skip
 * lock the keys before they change deliveries). A settle holds its own leased rows before
 * it locks their keys; nobody holding a key waits for a leased head, except an expunge that
 * cancels that very head (PostgreSQL then aborts one of the two, STORAGE_BUSY, retried).
 */
import { deliveryColumns, type Tables } from './sql-parts.js';

/** The columns of a locked key row (`KeyRow`). */
const keyColumns = 'k.subscription_id, k.ordering_key, k.last_seq, k.head_seq';

export function orderingStatements(t: Tables) {
  const { deliveries: D, orderingKeys: K } = t;
  const lockWhere = (keys: string): string => `
      SELECT ${keyColumns} FROM ${K} AS k
      WHERE (k.subscription_id, k.ordering_key) IN (${keys})
      ORDER BY k.subscription_id, k.ordering_key
      FOR UPDATE OF k`;
  return {
    // The keys of the deliveries $1 (a settle batch's deliveries whose head may pass). A
    // delivery's subscription and key never change, so reading them from the snapshot is exact.
    lockKeysOfDeliveries: lockWhere(`
        SELECT d.subscription_id, d.ordering_key FROM ${D} AS d WHERE d.id = ANY ($1::text[]) AND d.ordering_key IS NOT NULL`),
    // The keys of the deliveries of the events $1 (an expunge, which locked its events
    // first, so no replay can give them a delivery meanwhile; a tenant's removal, likewise).
    lockKeysOfEvents: lockWhere(`
        SELECT d.subscription_id, d.ordering_key FROM ${D} AS d WHERE d.event_id = ANY ($1::text[]) AND d.ordering_key IS NOT NULL`),
    // The keys of the held deliveries of the subscriptions $1 (an enable, under their row
    // locks: the resume that follows reads each key's head after this).
    lockKeysOfHeld: lockWhere(`
        SELECT d.subscription_id, d.ordering_key FROM ${D} AS d
        WHERE d.subscription_id = ANY ($1::text[]) AND d.status = 'held' AND d.ordering_key IS NOT NULL`),
    // The keys ($1 subscription ids, $2 keys, aligned).
    lockKeys: lockWhere(`SELECT * FROM unnest($1::text[], $2::text[])`),
    // After a transaction locked its keys: every later lock wait of the transaction gives up
    // after $1 ms (SQLSTATE 55P03, STORAGE_BUSY, the transaction retried whole). A settle
    // holding a key then waits for a row of delivery_counts (migration 0007) only as long:
    // a host transaction publishing several keys holds that row (its backend's shard) from
    // its first publish to its commit and may be waiting for this very key, a deadlock
    // PostgreSQL would resolve after a second by aborting either side — the host's
    // transaction too. Giving up first, the settle is always the side that yields.
    yieldLockWaits: `SELECT set_config('lock_timeout', $1::text, true)`,
    // One delivery, locked, with the head of its key (read after the key was locked).
    lockDelivery: `SELECT ${deliveryColumns('d')} FROM ${D} AS d WHERE d.id = $1 FOR UPDATE`,
    // advanceHead of shared/ordering.ts for the keys ($1 subscription ids, $2 keys, $3 the
    // heads that passed, $5 when the next of each is due, aligned), locked by this
    // transaction in an earlier statement: the head moves to the lowest-numbered pending or
    // held delivery of the key above the old head (by deliveries_ordering, one descent per
    // key; a cancelled one is stepped over), which, if pending, becomes due at its $5 (the
    // time $4, or the end of the lease of a head an expunge cancelled: dueAfterCancelledHead);
    // with none, past last_seq (the key is idle). A held one stays held: enabling its
    // subscription makes it due (dueOnEnable).
    advanceHeads: `
      WITH passed AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $5::bigint[]) AS p(subscription_id, ordering_key, head_seq, due_at)
      ), next AS (
        SELECT p.subscription_id, p.ordering_key, n.id, n.ordering_seq, p.due_at
        FROM passed AS p
        LEFT JOIN LATERAL (
          SELECT d.id, d.ordering_seq FROM ${D} AS d
          WHERE d.subscription_id = p.subscription_id AND d.ordering_key = p.ordering_key AND d.ordering_key IS NOT NULL
            AND d.ordering_seq > p.head_seq AND d.status IN ('pending', 'held')
          ORDER BY d.ordering_seq
          LIMIT 1
        ) AS n ON true
      ), moved AS (
        UPDATE ${K} AS k SET head_seq = COALESCE(n.ordering_seq, k.last_seq + 1)
        FROM next AS n
        WHERE k.subscription_id = n.subscription_id AND k.ordering_key = n.ordering_key
        RETURNING k.subscription_id
      ), due AS (
        UPDATE ${D} AS d SET next_attempt_at = n.due_at, updated_at = $4::bigint
        FROM next AS n
        WHERE d.id = n.id AND d.status = 'pending' AND d.next_attempt_at IS NULL
        RETURNING d.id
      )
      SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM due) AS due`,
    // A page of the keys of subscription $1 that a dead delivery blocks (its key's head is
    // dead, the subscription not soft-deleted: blocksKey of shared/ordering.ts), blocking
    // delivery ids ascending after $2 ('' for the first page), at most $3 rows; each with the
    // number of pending or held deliveries waiting behind it.
    listBlockedKeys: `
      SELECT ${deliveryColumns('d')},
        (SELECT count(*) FROM ${D} AS w
         WHERE w.subscription_id = d.subscription_id AND w.ordering_key = d.ordering_key AND w.ordering_key IS NOT NULL
           AND w.ordering_seq > d.ordering_seq AND w.status IN ('pending', 'held')) AS waiting
      FROM ${D} AS d
      JOIN ${K} AS k ON k.subscription_id = d.subscription_id AND k.ordering_key = d.ordering_key AND k.head_seq = d.ordering_seq
      WHERE d.subscription_id = $1 AND d.status = 'dead' AND d.ordering_key IS NOT NULL AND d.id > $2::text
        AND NOT EXISTS (SELECT 1 FROM ${t.subscriptions} AS s WHERE s.id = $1 AND s.deleted_at IS NOT NULL)
      ORDER BY d.id
      LIMIT $3`,
  };
}
