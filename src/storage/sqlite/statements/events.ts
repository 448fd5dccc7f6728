/**
 * SQL of the events' own log: a page of `listEvents`, and the steps of `expungeEvents` (the
 * payloads erased, the open deliveries cancelled, the attempts' response snippets erased).
 */
import type { EventQuery } from '../../storage-adapter.js';
import { cancellableStatuses } from '../../shared/change-log.js';
import { sqlList, type SqliteTables } from './tables.js';

export function eventsSql(t: SqliteTables) {
  const E = t.events;
  const D = t.deliveries;
  // Rows named by a JSON array of event ids.
  const named = 'SELECT value FROM json_each(@ids)';
  return {
    // The events of the list not expunged yet, each once, through the primary key: the ones
    // this expunge erases. The later steps take only these, so that a second expunge of the
    // same ids changes and counts nothing.
    unexpungedEvents: `SELECT id FROM ${E} WHERE id IN (${named}) AND expunged_at IS NULL`,
    expungeEvents: `UPDATE ${E} SET payload = '', expunged_at = @now WHERE id IN (${named})`,
    // Their open deliveries, through the (event_id, subscription_id) index: CROSS JOIN seeks it
    // per event, where the planner, with statistics, would rather walk the deliveries and probe
    // the list. The lease stays: an attempt in flight still settles (see settle-batch.ts).
    cancelEventDeliveries: `UPDATE ${D} SET status = 'cancelled', next_attempt_at = NULL, due_at = NULL, last_error = @last_error,
         updated_at = @now
       WHERE rowid IN (
         SELECT d.rowid FROM json_each(@ids) AS j CROSS JOIN ${D} AS d ON d.event_id = j.value
         WHERE d.status IN (${sqlList(cancellableStatuses)}))`,
    // Their deliveries' own payloads (rendered by a transform), erased as the events' are,
    // through the same index.
    eraseDeliveryPayloads: `UPDATE ${D} SET payload = ''
       WHERE rowid IN (
         SELECT d.rowid FROM json_each(@ids) AS j CROSS JOIN ${D} AS d ON d.event_id = j.value
         WHERE d.payload IS NOT NULL)`,
    // Every attempt of their deliveries that kept a snippet: the deliveries by the same index,
    // their attempts by attempts_delivery.
    eraseSnippets: `UPDATE ${t.attempts} SET response_snippet = NULL
       WHERE response_snippet IS NOT NULL
         AND delivery_id IN (SELECT d.id FROM json_each(@ids) AS j CROSS JOIN ${D} AS d ON d.event_id = j.value)`,
  };
}

/**
 * A page of `listEvents` in its order (ids descending, or ascending for `asc`), after the
 * previous page's last id `lastId`: its SQL and named parameters. The primary key serves the
 * order; a tenant's events come from events_tenant (tenant_id, id), the tenantless ones from
 * events_tenantless (id), in the same order, read either way. The types are one JSON parameter,
 * a filter on the rows walked, so that every set of types reads the same prepared statement.
 * One row more than the page is asked for, to know whether another page follows.
 */
export function listEventsQuery(
  t: SqliteTables,
  query: Omit<EventQuery, 'cursor'> & { lastId?: string },
): { sql: string; params: Record<string, unknown> } {
  const ascending = query.order === 'asc';
  const params: Record<string, unknown> = { limit: query.limit + 1 };
  const where: string[] = [];
  if (query.tenantId === null) where.push('tenant_id IS NULL');
  else if (query.tenantId !== undefined) {
    params.tenantId = query.tenantId;
    where.push('tenant_id = @tenantId');
  }
  if (query.types !== undefined) {
    params.types = JSON.stringify(query.types);
    where.push('type IN (SELECT value FROM json_each(@types))');
  }
  if (query.since !== undefined) {
    params.since = query.since;
    where.push('published_at >= @since');
  }
  if (query.until !== undefined) {
    params.until = query.until;
    where.push('published_at < @until');
  }
  if (query.lastId !== undefined) {
    params.lastId = query.lastId;
    where.push(ascending ? 'id > @lastId' : 'id < @lastId');
  }
  return {
    sql: `SELECT * FROM ${t.events} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${ascending ? 'ASC' : 'DESC'} LIMIT @limit`,
    params,
  };
}
