/**
 * Statements on published events beside the publish itself: page them, and expunge them —
 * the content erased, the open deliveries cancelled, the receivers' answers dropped — in
 * one transaction, one statement per step.
 */
import type { EventQuery } from '../../storage-adapter.js';
import { cancelOpenSql, Conditions, dbNowMs, eventColumns, type Tables } from './sql-parts.js';

export function eventStatements(t: Tables) {
  const cancel = cancelOpenSql('d', '$2', '$3');
  return {
    // The first step of an expunge: the events of $1 not yet expunged lose their payload
    // (expunged at $2). Their rows stay locked to the end of the transaction, so a
    // concurrent expunge of the same ids waits, then finds them expunged and skips them,
    // and a replay or redeliver of them (which lock their events FOR SHARE) waits too. Their
    // deliveries' own payloads (rendered by a transform) are erased with them, in the same
    // statement, through deliveries_event_subscription: no round trip more.
    eraseEvents: `
      WITH erased AS (
        UPDATE ${t.events} AS e SET payload = '', expunged_at = $2::bigint
        WHERE e.id = ANY ($1::text[]) AND e.expunged_at IS NULL
        RETURNING e.id
      ), payloads AS (
        UPDATE ${t.deliveries} AS d SET payload = ''
        FROM erased WHERE d.event_id = erased.id AND d.payload IS NOT NULL
      )
      SELECT erased.id FROM erased`,
    // Their open deliveries ($1: the events erased) are cancelled, lastError $2
    // (CANCELLED_BY_EXPUNGE), at $3, through deliveries_event_subscription. A delivery
    // being settled meanwhile is waited for, then judged on the version its settle wrote.
    // Each returned with its ordering key: a cancelled head lets its key move on — when its
    // lease runs out, if it has a live one (its attempt may be in flight): what is left of
    // it, by the database's clock, which gave it.
    cancelEventDeliveries: `
      UPDATE ${t.deliveries} AS d SET ${cancel.set}
      WHERE d.event_id = ANY ($1::text[]) AND ${cancel.open}
      RETURNING d.subscription_id, d.ordering_key, d.ordering_seq,
        CASE WHEN d.lease_token IS NOT NULL AND d.lease_expires_at > ${dbNowMs} THEN d.lease_expires_at - ${dbNowMs} END AS lease_left_ms`,
    // The last step, a statement of its own: its snapshot is taken after the cancel waited
    // for any settle of these deliveries in progress, so an attempt such a settle recorded
    // is seen and loses its snippet too. (A settle from here on finds its delivery
    // cancelled and keeps no snippet: see the settle statement.)
    eraseSnippets: `
      UPDATE ${t.attempts} AS a SET response_snippet = NULL
      WHERE a.delivery_id IN (SELECT d.id FROM ${t.deliveries} AS d WHERE d.event_id = ANY ($1::text[]))
        AND a.response_snippet IS NOT NULL`,
  };
}

/**
 * A page of events in its order (ids descending, or ascending for `asc`), after the previous
 * page's last id `lastId`: of one tenant through events_tenant (tenant_id, id), of the
 * tenantless events through events_tenantless (id), else by the primary key, read either way;
 * the types (one array parameter) and `since`/`until` on the publication time filter the rows
 * walked.
 */
export function listEventsSql(t: Tables, query: EventQuery & { lastId?: string }): { text: string; values: unknown[] } {
  const ascending = query.order === 'asc';
  const where = new Conditions();
  where.addTenant('e.tenant_id', query.tenantId);
  where.add(query.types, (p) => `e.type = ANY (${p}::text[])`);
  where.add(query.since, (p) => `e.published_at >= ${p}::bigint`);
  where.add(query.until, (p) => `e.published_at < ${p}::bigint`);
  where.add(query.lastId, (p) => (ascending ? `e.id > ${p}` : `e.id < ${p}`));
  // One row more than the page: it says whether there is a next one.
  const limit = where.placeholder(query.limit + 1);
  return {
    text: `SELECT ${eventColumns('e')} FROM ${t.events} AS e ${where.sql()} ORDER BY e.id ${ascending ? 'ASC' : 'DESC'} LIMIT ${limit}`,
    values: where.values,
  };
}
