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
    // Each record takes the next sequence of its subscription's log (several of one subscription
    // in their order here). Every caller holds the subscription's row lock from an earlier
    // statement of its transaction, so this statement's snapshot has every change committed
    // before: the numbers follow the order the changes took effect, on every host.
    insertChanges: `
      INSERT INTO ${t.changes} (id, subscription_id, sequence, tenant_id, action, origin, actor, reason, changes, at)
      SELECT c.id, c.subscription_id,
             (SELECT COALESCE(MAX(l.sequence), 0) FROM ${t.changes} AS l WHERE l.subscription_id = c.subscription_id)
               + row_number() OVER (PARTITION BY c.subscription_id ORDER BY c.ord),
             c.tenant_id, c.action, c.origin, c.actor, c.reason, c.changes::jsonb, c.at
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[])
        WITH ORDINALITY AS c(id, subscription_id, tenant_id, action, origin, actor, reason, changes, at, ord)`,
    getChange: `SELECT ${changeColumns('c')} FROM ${t.changes} AS c WHERE c.id = $1`,
  };
}

/**
 * A page of one subscription's change log in sequence order, after the decoded cursor
 * `afterSequence`, through subscription_changes_subscription (subscription_id, sequence).
 */
export function listChangesSql(t: Tables, query: { subscriptionId: string; limit: number; afterSequence?: number }): { text: string; values: unknown[] } {
  const where = new Conditions();
  where.add(query.subscriptionId, (p) => `c.subscription_id = ${p}`);
  where.add(query.afterSequence, (p) => `c.sequence > ${p}`);
  // One row more than the page: it says whether there is a next one.
  const limit = where.placeholder(query.limit + 1);
  return { text: `SELECT ${changeColumns('c')} FROM ${t.changes} AS c ${where.sql()} ORDER BY c.sequence LIMIT ${limit}`, values: where.values };
}
