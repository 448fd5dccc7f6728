/**
 * Statements of the subscriptions' test log (migration 0008): append a record while its
 * subscription is there, and page one subscription's log newest first. A hard delete and a
 * tenant's removal take the log with the subscription (ON DELETE CASCADE).
 */
import type { Tables } from './sql-parts.js';

const columns = 'id, subscription_id, tenant_id, type, reason, actor, url, started_at, duration_ms, status_code, ok, error_class, error, response_snippet';

export function testAttemptStatements(t: Tables) {
  return {
    // Inserted only while the subscription row is there, read FOR KEY SHARE: a hard delete
    // in progress is waited for, and once it commits the row is gone and nothing is inserted
    // (no foreign key violation to retry). A subscription deleted after this statement takes
    // the record with it (the cascade). The primary key refuses a reused id (23505).
    insertTestAttempt: `
      INSERT INTO ${t.testAttempts} (${columns})
      SELECT $1, s.id, $3, $4, $5, $6, $7, $8::bigint, $9::double precision, $10::integer, $11::boolean, $12, $13, $14
      FROM ${t.subscriptions} AS s
      WHERE s.id = $2
      FOR KEY SHARE OF s`,
    // A page newest first through test_attempts_subscription, one row more than the page to
    // know whether another follows: the first page, and the ones after a cursor ($2).
    listTestAttempts: `SELECT ${columns} FROM ${t.testAttempts} WHERE subscription_id = $1 ORDER BY id DESC LIMIT $2`,
    listTestAttemptsBefore: `SELECT ${columns} FROM ${t.testAttempts} WHERE subscription_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
  };
}
