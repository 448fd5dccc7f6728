/**
 * Statements on subscriptions: create, read, patch and delete them with their filter rows
 * (the fan-out index), and write a status change with what it does to their open
 * deliveries. What a patch or a status change is comes from shared/subscription-changes.ts;
 * these only store it.
 */
import { deliveryColumns, subscriptionColumns, type Tables } from './sql-parts.js';
import type { SubscriptionStatus } from '../../storage-adapter.js';

export function subscriptionStatements(t: Tables) {
  return {
    // One statement: the subscription and its filter rows.
    createSubscription: `
      WITH created AS (
        INSERT INTO ${t.subscriptions} (id, url, event_types, secrets, headers, description, metadata, status,
          disabled_reason, disabled_at, retry, flow_control, failing_since, created_at, updated_at)
        VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb, $6, $7::jsonb, $8, $9, $10::bigint, $11::jsonb, $12::jsonb,
          $13::bigint, $14::bigint, $15::bigint)
        RETURNING *
      ), filters AS (
        INSERT INTO ${t.filters} (filter, subscription_id)
        SELECT DISTINCT f.filter, created.id FROM created, unnest($16::text[]) AS f(filter)
      )
      SELECT ${subscriptionColumns('created')} FROM created`,
    getSubscription: `SELECT ${subscriptionColumns('s')} FROM ${t.subscriptions} AS s WHERE s.id = $1`,
    // A patch or a status change reads the row under this lock, applies the shared rule, and writes the result.
    lockSubscription: `SELECT ${subscriptionColumns('s')} FROM ${t.subscriptions} AS s WHERE s.id = $1 FOR UPDATE`,
    // Several at once (a settle batch's `disable` outcomes), in id order so that two batches lock alike.
    lockSubscriptions: `SELECT s.id, s.status FROM ${t.subscriptions} AS s WHERE s.id = ANY ($1::text[]) ORDER BY s.id FOR UPDATE`,
    updateSubscription: `
      UPDATE ${t.subscriptions} AS s SET url = $2, event_types = $3::jsonb, secrets = $4::jsonb, headers = $5::jsonb,
        description = $6, metadata = $7::jsonb, retry = $8::jsonb, flow_control = $9::jsonb, updated_at = $10::bigint
      WHERE s.id = $1
      RETURNING ${subscriptionColumns('s')}`,
    deleteFilters: `DELETE FROM ${t.filters} WHERE subscription_id = $1`,
    insertFilters: `
      INSERT INTO ${t.filters} (filter, subscription_id)
      SELECT DISTINCT f.filter, $1 FROM unnest($2::text[]) AS f(filter)`,
    // The fields of subscriptionStatusChange, for one or several subscriptions.
    writeStatus: `
      UPDATE ${t.subscriptions} AS s SET status = c.status, disabled_reason = c.reason, disabled_at = c.disabled_at,
        updated_at = c.updated_at
      FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS c(id, status, reason, disabled_at, updated_at)
      WHERE s.id = c.id
      RETURNING ${subscriptionColumns('s')}`,
    // A status change's effect on the subscriptions' open deliveries, as shared/open-deliveries.ts
    // decides it: those of status $2 take status $3, next attempt $4 and updated $5. Holding
    // leaves a lease in place, so a worker still posting the delivery can settle it; a resumed
    // delivery still under a live lease stays unclaimable until the lease expires.
    updateOpenDeliveries: `
      UPDATE ${t.deliveries} AS d SET status = $3::text, next_attempt_at = $4::bigint, updated_at = $5::bigint
      WHERE d.subscription_id = ANY ($1::text[]) AND d.status = $2::text
      RETURNING ${deliveryColumns('d')}`,
    // Filters, deliveries and their attempts go with it (ON DELETE CASCADE); events stay.
    deleteSubscription: `DELETE FROM ${t.subscriptions} WHERE id = $1 RETURNING id`,
  };
}

/** A page of subscriptions, oldest first (ids ascending), after the decoded cursor `afterId`. */
export function listSubscriptionsSql(
  t: Tables,
  query: { limit: number; afterId?: string; status?: SubscriptionStatus },
): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const where: string[] = [];
  if (query.afterId !== undefined) {
    values.push(query.afterId);
    where.push(`s.id > $${values.length}`);
  }
  if (query.status !== undefined) {
    values.push(query.status);
    where.push(`s.status = $${values.length}`);
  }
  // One row more than the page: it says whether there is a next one.
  values.push(query.limit + 1);
  const text =
    `SELECT ${subscriptionColumns('s')} FROM ${t.subscriptions} AS s ` +
    `${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY s.id LIMIT $${values.length}`;
  return { text, values };
}
