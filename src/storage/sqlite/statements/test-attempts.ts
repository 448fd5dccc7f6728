/**
 * SQL of the subscriptions' test log (migration 0012): a record appended while its
 * subscription is there, a subscription's page newest first, and its removal with the
 * subscription.
 */
import type { SqliteTables } from './tables.js';

export function testAttemptsSql(t: SqliteTables) {
  const T = t.testAttempts;
  const columns = 'id, subscription_id, tenant_id, type, reason, actor, url, started_at, duration_ms, status_code, ok, error_class, error, response_snippet';
  return {
    // Nothing is stored for a subscription that is gone (hard-deleted while the request was
    // in flight): one statement, under the write lock, so no delete can come between the
    // check and the insert. The primary key refuses a reused id.
    insertTestAttempt: `INSERT INTO ${T} (${columns})
       SELECT @id, @subscription_id, @tenant_id, @type, @reason, @actor, @url, @started_at, @duration_ms, @status_code, @ok,
              @error_class, @error, @response_snippet
       WHERE EXISTS (SELECT 1 FROM ${t.subscriptions} WHERE id = @subscription_id)`,
    // A page newest first through test_attempts_subscription, one row more than the page to
    // know whether another follows: the first page, and the ones after a cursor.
    listTestAttempts: `SELECT ${columns} FROM ${T} WHERE subscription_id = @subscription_id ORDER BY id DESC LIMIT @limit`,
    listTestAttemptsBefore: `SELECT ${columns} FROM ${T} WHERE subscription_id = @subscription_id AND id < @before ORDER BY id DESC LIMIT @limit`,
    deleteSubscriptionTestAttempts: `DELETE FROM ${T} WHERE subscription_id = ?`,
    // A tenant's removal: the test logs of the subscriptions named by a JSON array of ids.
    deleteTestAttemptsOfSubscriptions: `DELETE FROM ${T} WHERE subscription_id IN (SELECT value FROM json_each(?))`,
  };
}
