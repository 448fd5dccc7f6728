/**
 * Statements on subscriptions: create, read, patch, soft-delete and delete them with their
 * filter rows (the fan-out index), hold a tenant's place for the subscription limit, and
 * write a status change or a soft delete with what it does to their open deliveries. What
 * a patch, a status change or a soft delete is comes from shared/subscription-changes.ts
 * and shared/change-log.ts; these only store it.
 */
import { quoteLiteral } from '../migrations/index.js';
import { cancelOpenSql, Conditions, deliveryColumns, dueOnEnableSql, subscriptionColumns, type Tables } from './sql-parts.js';
import type { SubscriptionStatus } from '../../storage-adapter.js';

export function subscriptionStatements(t: Tables, schema: string) {
  const cancel = cancelOpenSql('d', '$2', '$3');
  return {
    // One statement: the subscription and its filter rows, keyed by its tenant scope ($23,
    // idempotencyScope of its tenant) and its all-tenant opt-in, as the fan-out reads them.
    // The payload filter ($6), the transform's name ($20) and the version pins ($24) are stored
    // as the text given; $21 is its orderingOnDead, $25 its TLS identity.
    createSubscription: `
      WITH created AS (
        INSERT INTO ${t.subscriptions} (id, tenant_id, all_tenants, url, event_types, payload_filter, secrets, headers,
          description, metadata, status, disabled_reason, disabled_at, retry, flow_control, failing_since, deleted_at,
          created_at, updated_at, transform, ordering_on_dead, event_versions, tls)
        VALUES ($1, $2, $3::boolean, $4, $5::jsonb, $6::text, $7::jsonb, $8::jsonb, $9, $10::jsonb, $11, $12, $13::bigint,
          $14::jsonb, $15::jsonb, $16::bigint, $17::bigint, $18::bigint, $19::bigint, $20::text, $21::text, $24::text, $25::jsonb)
        RETURNING *
      ), filters AS (
        INSERT INTO ${t.filters} (filter, subscription_id, tenant_key, all_tenants)
        SELECT DISTINCT f.filter, created.id, $23::text, created.all_tenants FROM created, unnest($22::text[]) AS f(filter)
      )
      SELECT ${subscriptionColumns('created')} FROM created`,
    // The subscription limit per tenant is decided under this transaction-level lock on a
    // key of the schema and the tenant ($1): two creates for one tenant count and insert one
    // after the other, so they cannot both take its last place. Creates for other tenants,
    // and a tenant's publishes, do not wait for it.
    lockTenant: `SELECT pg_advisory_xact_lock(hashtextextended(${quoteLiteral(`@bookkeeper/webhooks:${schema}:tenant:`)} || $1::text, 0))`,
    // Through subscriptions_tenant_live: an index-only count of the tenant's subscriptions
    // not deleted (soft-deleted ones do not count towards the limit).
    countTenantSubscriptions: `SELECT count(*) AS n FROM ${t.subscriptions} WHERE tenant_id = $1 AND deleted_at IS NULL`,
    getSubscription: `SELECT ${subscriptionColumns('s')} FROM ${t.subscriptions} AS s WHERE s.id = $1`,
    // A patch or a status change reads the row under this lock, applies the shared rule, and writes the result.
    lockSubscription: `SELECT ${subscriptionColumns('s')} FROM ${t.subscriptions} AS s WHERE s.id = $1 FOR UPDATE`,
    // Several at once (a settle batch's `disable` outcomes), in id order so that two batches
    // lock alike; whole, because a disable's change record diffs the record before and after.
    lockSubscriptions: `
      SELECT ${subscriptionColumns('s')} FROM ${t.subscriptions} AS s WHERE s.id = ANY ($1::text[]) ORDER BY s.id FOR UPDATE`,
    updateSubscription: `
      UPDATE ${t.subscriptions} AS s SET url = $2, event_types = $3::jsonb, payload_filter = $4::text, secrets = $5::jsonb,
        headers = $6::jsonb, description = $7, metadata = $8::jsonb, retry = $9::jsonb, flow_control = $10::jsonb,
        updated_at = $11::bigint, transform = $12::text, ordering_on_dead = $13::text, event_versions = $14::text,
        tls = $15::jsonb
      WHERE s.id = $1
      RETURNING ${subscriptionColumns('s')}`,
    deleteFilters: `DELETE FROM ${t.filters} WHERE subscription_id = $1`,
    // $3, $4: the subscription's tenant scope and all-tenant opt-in, as createSubscription writes them.
    insertFilters: `
      INSERT INTO ${t.filters} (filter, subscription_id, tenant_key, all_tenants)
      SELECT DISTINCT f.filter, $1, $3::text, $4::boolean FROM unnest($2::text[]) AS f(filter)`,
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
    // The fields of softDeletedFields(), on the row locked by lockSubscription. Its filter
    // rows go (deleteFilters, in the same transaction): a deleted subscription never
    // receives again, so publishes need not read past it.
    softDelete: `
      UPDATE ${t.subscriptions} AS s SET status = $2::text, disabled_reason = $3::text, disabled_at = $4::bigint,
        deleted_at = $5::bigint, updated_at = $6::bigint
      WHERE s.id = $1
      RETURNING ${subscriptionColumns('s')}`,
    // The resume of an enable ($1 subscriptions, $2 'held', $3 'pending', $4 now, $5 updated),
    // run after lockKeysOfHeld locked their keys: a held delivery becomes pending, due at $4
    // if dueOnEnable of shared/ordering.ts says so, else waiting behind its key's head.
    resumeOpenDeliveries: `
      UPDATE ${t.deliveries} AS d SET status = $3::text,
        next_attempt_at = CASE WHEN ${dueOnEnableSql('d', t)} THEN $4::bigint END, updated_at = $5::bigint
      WHERE d.subscription_id = ANY ($1::text[]) AND d.status = $2::text
      RETURNING ${deliveryColumns('d')}`,
    // A soft delete's effect on the subscription's ($1) open deliveries: cancelled, lastError
    // $2 (CANCELLED_BY_DELETE), at $3. A publish that read the subscription as active before
    // the delete committed may still add a pending one after this: the claim cancels it
    // (see the claim's `parked`).
    cancelSubscriptionDeliveries: `
      UPDATE ${t.deliveries} AS d SET ${cancel.set}
      WHERE d.subscription_id = $1 AND ${cancel.open}`,
    // Filters, deliveries and their attempts, and the change log go with it (ON DELETE
    // CASCADE); events stay.
    deleteSubscription: `DELETE FROM ${t.subscriptions} WHERE id = $1 RETURNING id`,
  };
}

/**
 * A page of subscriptions, oldest first (ids ascending), after the decoded cursor `afterId`;
 * of one tenant through subscriptions_tenant (tenant_id, id), the platform's with `null`;
 * soft-deleted ones only with `includeDeleted`.
 */
export function listSubscriptionsSql(
  t: Tables,
  query: { limit: number; afterId?: string; status?: SubscriptionStatus; tenantId?: string | null; includeDeleted?: boolean },
): { text: string; values: unknown[] } {
  const where = new Conditions();
  where.add(query.afterId, (p) => `s.id > ${p}`);
  where.add(query.status, (p) => `s.status = ${p}`);
  where.addTenant('s.tenant_id', query.tenantId);
  if (query.includeDeleted !== true) where.addClause('s.deleted_at IS NULL');
  // One row more than the page: it says whether there is a next one.
  const limit = where.placeholder(query.limit + 1);
  const text = `SELECT ${subscriptionColumns('s')} FROM ${t.subscriptions} AS s ${where.sql()} ORDER BY s.id LIMIT ${limit}`;
  return { text, values: where.values };
}
