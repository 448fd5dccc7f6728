/**
 * Statements of the subscriptions' change log: write change records (built by
 * shared/change-log.ts inside the transaction of the change they record), read one, and
 * page one subscription's log.
 */
import { changeColumns, Conditions, type Tables } from './sql-parts.js';

export function changeLogStatements(t: Tables) {
  return {
    // Any number of records as parallel arrays (see changeValues), `changes` as JSON text.
    // A reused id fails on the primary key (23505), and the change it records rolls back with it.
    insertChanges: `
      INSERT INTO ${t.changes} (id, subscription_id, tenant_id, action, origin, actor, reason, changes, at)
      SELECT c.id, c.subscription_id, c.tenant_id, c.action, c.origin, c.actor, c.reason, c.changes::jsonb, c.at
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[])
        AS c(id, subscription_id, tenant_id, action, origin, actor, reason, changes, at)`,
    getChange: `SELECT ${changeColumns('c')} FROM ${t.changes} AS c WHERE c.id = $1`,
  };
}

/**
 * A page of one subscription's change log, oldest first (ids ascending), after the decoded
 * cursor `afterId`, through subscription_changes_subscription (subscription_id, id).
 */
export function listChangesSql(t: Tables, query: { subscriptionId: string; limit: number; afterId?: string }): { text: string; values: unknown[] } {
  const where = new Conditions();
  where.add(query.subscriptionId, (p) => `c.subscription_id = ${p}`);
  where.add(query.afterId, (p) => `c.id > ${p}`);
  // One row more than the page: it says whether there is a next one.
  const limit = where.placeholder(query.limit + 1);
  return { text: `SELECT ${changeColumns('c')} FROM ${t.changes} AS c ${where.sql()} ORDER BY c.id LIMIT ${limit}`, values: where.values };
}
