/**
 * Migration 0003: tenants. A subscription, an event and a delivery may belong to a tenant
 * (the host's organisation); fan-out, replay and idempotency follow the rules of
 * storage/shared/tenancy.ts.
 *
 * Existing rows become tenantless (`tenant_id` NULL, `all_tenants` false, `tenant_key`
 * '') and behave as they did: a tenantless event reaches exactly the subscriptions it
 * reached before, and every idempotency key stays unique in the tenantless scope. Every
 * column is added with a constant default or none, so no table is rewritten; the indexes
 * are built once, inside the migration's transaction and advisory lock (see
 * ../migrate.ts), so a second migrator waits and then finds nothing left to do.
 *
 * Tenant ids are `text COLLATE "C"` like the ids: compared byte for byte, whatever the
 * database's locale, and cheap to compare.
 *
 * Append-only, like 0001: once released, this text never changes.
 */
export const sql = /* sql */ `
-- The owner (NULL: the platform's own subscription) and the all-tenant opt-in, both fixed
-- at creation; all_tenants only with tenant_id NULL.
ALTER TABLE {{schema}}.subscriptions ADD COLUMN tenant_id text COLLATE "C";
ALTER TABLE {{schema}}.subscriptions ADD COLUMN all_tenants boolean NOT NULL DEFAULT false;
ALTER TABLE {{schema}}.subscriptions
  ADD CONSTRAINT subscriptions_all_tenants_tenantless CHECK (NOT all_tenants OR tenant_id IS NULL);
-- listSubscriptions by tenant in id order (NULL: the platform's), the per-tenant count of
-- the subscription limit, and a tenant's removal.
CREATE INDEX subscriptions_tenant ON {{schema}}.subscriptions (tenant_id, id);

-- The fan-out index gets the subscription's tenant scope in its key, so that a publish
-- reads the filter rows of its own tenant only: tenant_key is idempotencyScope(tenant_id)
-- ('' for the platform's subscriptions; a tenant id is never empty), all_tenants the
-- subscription's opt-in. Both are copies of the subscription's fixed fields.
ALTER TABLE {{schema}}.subscription_event_types ADD COLUMN tenant_key text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE {{schema}}.subscription_event_types ADD COLUMN all_tenants boolean NOT NULL DEFAULT false;
ALTER TABLE {{schema}}.subscription_event_types DROP CONSTRAINT subscription_event_types_pkey;
ALTER TABLE {{schema}}.subscription_event_types
  ADD CONSTRAINT subscription_event_types_pkey PRIMARY KEY (filter, tenant_key, subscription_id);
-- The all-tenant consumers' rows, which every publish reads whatever its tenant: a few
-- rows, in an index of their own.
CREATE INDEX subscription_event_types_all_tenants
  ON {{schema}}.subscription_event_types (filter, subscription_id) WHERE all_tenants;

-- The tenant an event was published for (NULL: without one).
ALTER TABLE {{schema}}.events ADD COLUMN tenant_id text COLLATE "C";
-- Idempotency per tenant: the key is unique within idempotencyScope(tenant_id), the
-- expression the publish statement's ON CONFLICT names. Partial: an event without a key
-- costs no entry. The keys stored so far are all in the tenantless scope, where they were
-- unique already.
ALTER TABLE {{schema}}.events DROP CONSTRAINT events_idempotency_key_key;
CREATE UNIQUE INDEX events_idempotency
  ON {{schema}}.events ((COALESCE(tenant_id, '')), idempotency_key) WHERE idempotency_key IS NOT NULL;
-- A tenant's removal takes its events by this; tenantless events are not in it.
CREATE INDEX events_tenant ON {{schema}}.events (tenant_id, id) WHERE tenant_id IS NOT NULL;

-- Its subscription's tenant (deliveryTenantId): NULL for a platform subscription's delivery.
ALTER TABLE {{schema}}.deliveries ADD COLUMN tenant_id text COLLATE "C";
-- The delivery log and stats by tenant (NULL: the platform's) in id order, and a tenant's
-- removal. tenant_id is never updated, so a claim (which changes no indexed column) stays HOT.
CREATE INDEX deliveries_tenant ON {{schema}}.deliveries (tenant_id, id);
-- A tenant's open deliveries (the only ones a lease can be on): a tenant's removal asks
-- whether one is in flight before each batch, by this, not by walking its whole log.
-- Neither tenant_id nor status changes when a delivery is leased, so the claim stays HOT;
-- tenantless deliveries are not in it.
CREATE INDEX deliveries_tenant_open
  ON {{schema}}.deliveries (tenant_id) WHERE tenant_id IS NOT NULL AND status IN ('pending', 'held');
`;
