/**
 * Statements of the delivery log: read a delivery and its attempts, page the deliveries,
 * and `redeliver` one (a probe under the row lock, then the requeue that
 * shared/redelivery.ts's verdict allows).
 */
import type { DeliveryQuery } from '../../storage-adapter.js';
import { Conditions, dbNowMs, deliveryColumns, dueOnEnableSql, type Tables } from './sql-parts.js';

export function deliveryLogStatements(t: Tables) {
  return {
    getDelivery: `SELECT ${deliveryColumns('d')} FROM ${t.deliveries} AS d WHERE d.id = $1`,
    // A delivery's own payload (NULL: it sends its event's), by the primary key.
    getDeliveryPayload: `SELECT d.payload FROM ${t.deliveries} AS d WHERE d.id = $1`,
    listAttempts: `
      SELECT id, delivery_id, attempt_number, started_at, duration_ms, status_code, error_class, error_message,
        response_snippet, outcome, next_attempt_at
      FROM ${t.attempts} WHERE delivery_id = $1 ORDER BY started_at, id`,
    // Before the probe, in a statement of its own: the delivery's event, FOR SHARE, so that
    // an expunge of it in progress is waited for (the probe then sees it expunged) and one
    // that starts later waits for the redeliver (its cancel then sees the requeued
    // delivery). Events before deliveries, the order an expunge locks them in.
    lockEventOfDelivery: `
      SELECT e.id FROM ${t.events} AS e
      WHERE e.id = (SELECT d.event_id FROM ${t.deliveries} AS d WHERE d.id = $1)
      FOR SHARE`,
    // FOR UPDATE: a claimer racing the redeliver waits, so the verdict and the change
    // agree; the lease is judged live by the database clock, which measures leases.
    redeliverProbe: `
      SELECT d.status, s.status AS subscription_status, s.deleted_at IS NOT NULL AS subscription_deleted,
        e.expunged_at IS NOT NULL AS event_expunged,
        (d.lease_token IS NOT NULL AND d.lease_expires_at > ${dbNowMs}) AS leased
      FROM ${t.deliveries} AS d
      JOIN ${t.subscriptions} AS s ON s.id = d.subscription_id
      JOIN ${t.events} AS e ON e.id = d.event_id
      WHERE d.id = $1
      FOR UPDATE OF d`,
    // The fields of requeuedFields(), but a delivery waiting behind its ordering key's head
    // keeps waiting (no next attempt): due only if unordered, the head or passed, as
    // dueOnEnable of shared/ordering.ts says. The head is read after the probe locked the
    // row: whoever moves the head onto this delivery makes it due by updating the row, so
    // waits for this transaction and then finds it pending.
    requeue: `
      UPDATE ${t.deliveries} AS d SET status = $2::text, attempts = $3::integer,
        next_attempt_at = CASE WHEN ${dueOnEnableSql('d', t)} THEN $4::bigint END,
        delivered_at = $5::bigint, lease_expires_at = $6::bigint, lease_token = $7::text, updated_at = $8::bigint
      WHERE d.id = $1
      RETURNING ${deliveryColumns('d')}`,
  };
}

/** A page of deliveries, newest first (ids descending), before the decoded cursor `beforeId`. */
export function listDeliveriesSql(t: Tables, query: DeliveryQuery & { beforeId?: string }): { text: string; values: unknown[] } {
  const where = new Conditions();
  where.add(query.subscriptionId, (p) => `d.subscription_id = ${p}`);
  // A delivery's tenant is its subscription's (deliveryTenantId): a tenant's list never
  // shows a delivery to a platform consumer.
  where.addTenant('d.tenant_id', query.tenantId);
  where.add(query.eventId, (p) => `d.event_id = ${p}`);
  if (typeof query.status === 'string') where.add(query.status, (p) => `d.status = ${p}`);
  else if (query.status !== undefined) where.add([...query.status], (p) => `d.status = ANY (${p}::text[])`);
  // One array parameter whatever the set. No index on event_type: the types filter the rows
  // of the id-ordered walk, enough for an operator narrowing a page by type.
  where.add(query.eventTypes, (p) => `d.event_type = ANY (${p}::text[])`);
  where.add(query.since, (p) => `d.created_at >= ${p}::bigint`);
  where.add(query.until, (p) => `d.created_at < ${p}::bigint`);
  where.add(query.beforeId, (p) => `d.id < ${p}`);
  // One row more than the page: it says whether there is a next one.
  const limit = where.placeholder(query.limit + 1);
  // The (subscription_id, id), (tenant_id, id) and (status, id) indexes serve these in id order.
  const text = `SELECT ${deliveryColumns('d')} FROM ${t.deliveries} AS d ${where.sql()} ORDER BY d.id DESC LIMIT ${limit}`;
  return { text, values: where.values };
}
