/**
 * SQL of retention (`purgeRetention`): the oldest final deliveries of one status past their
 * cutoff, from deliveries_final_at (migration 0010), the oldest events left without a
 * delivery, from events_published_at, and the oldest test attempts of one kind (ok or
 * failed) past their cutoff, from test_attempts_started (migration 0012). Removing
 * deliveries and events reuses purge-tenant.ts's deletes by id.
 */
import { retentionStatuses, type RetentionStatus } from '../../shared/retention.js';
import { sqlList, type SqliteTables } from './tables.js';

const finalStatuses = sqlList(retentionStatuses.map(({ status }) => status));

/**
 * True for a row of `table` (a delivery) that is its ordering key's head, of a subscription
 * not soft-deleted: with status dead, it blocks the key (blocksKey of shared/ordering.ts).
 */
export function blocksItsKey(t: SqliteTables, table: string): string {
  return `(${table}.ordering_key IS NOT NULL AND EXISTS (SELECT 1 FROM ${t.orderingKeys} AS k
           WHERE k.subscription_id = ${table}.subscription_id AND k.ordering_key = ${table}.ordering_key AND k.head_seq = ${table}.ordering_seq)
         AND NOT EXISTS (SELECT 1 FROM ${t.subscriptions} AS s WHERE s.id = ${table}.subscription_id AND s.deleted_at IS NOT NULL))`;
}

export function retentionSql(t: SqliteTables) {
  const D = t.deliveries;
  const E = t.events;
  // The IN term is the index's own WHERE, repeated so that SQLite proves the partial index
  // usable; INDEXED BY makes a schema that lost it fail loudly rather than scan the log.
  // A cancelled row may still be under a lease (its attempt in flight): it stays until the
  // attempt settles or the lease expires. Delivered and dead rows hold no lease.
  const testAttemptsPast = (ok: 0 | 1): string =>
    `SELECT id, started_at AS finalAt FROM ${t.testAttempts} INDEXED BY ${t.testAttemptsStartedIndex}
       WHERE ok = ${ok} AND started_at < @before
       ORDER BY started_at, id LIMIT @limit`;
  // A dead delivery that is its ordering key's head blocks the key: it stays, the operator's
  // handle on it (storage/shared/ordering.ts); one seek into the key's record per dead row
  // of a key, none for an unordered row.
  const finalPast = (status: RetentionStatus): string =>
    `SELECT id, updated_at AS finalAt FROM ${D} INDEXED BY ${t.finalAtIndex}
       WHERE status IN (${finalStatuses}) AND status = '${status}' AND updated_at < @before
         AND NOT (lease_token IS NOT NULL AND lease_expires_at > @now)${status === 'dead' ? `
         AND NOT ${blocksItsKey(t, D)}` : ''}
       ORDER BY updated_at LIMIT @limit`;
  return {
    finalPast: Object.fromEntries(retentionStatuses.map(({ status }) => [status, finalPast(status)])) as Record<RetentionStatus, string>,
    // Events are walked oldest first and each one's deliveries probed through
    // deliveries_event_subscription (event_id leads it). Those that still have a delivery
    // are walked past on every batch: as many as old events whose deliveries are kept.
    eventsPast: `SELECT id FROM ${E} INDEXED BY ${t.eventPublishedIndex}
       WHERE published_at < @before AND NOT EXISTS (SELECT 1 FROM ${D} AS d WHERE d.event_id = ${E}.id)
       ORDER BY published_at LIMIT @limit`,
    // One statement per kind, `ok` written literally so that the index's leading column is
    // an equality and the rest of it the order; INDEXED BY as above.
    testAttemptsPast: {
      ok: testAttemptsPast(1),
      failed: testAttemptsPast(0),
    },
    deleteTestAttempts: `DELETE FROM ${t.testAttempts} WHERE id IN (SELECT value FROM json_each(?))`,
  };
}
