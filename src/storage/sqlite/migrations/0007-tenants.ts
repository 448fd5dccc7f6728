/**
 * Migration 0007: tenants. A subscription, an event and a delivery may belong to a tenant
 * (the host's organisation); the rules are in storage/shared/tenancy.ts. Every row stored
 * before this migration becomes tenantless (tenant_id NULL, all_tenants 0) and behaves
 * exactly as it did: its subscriptions receive the tenantless events, its idempotency keys
 * stay unique among the tenantless events.
 *
 * Two tables are rebuilt, because SQLite cannot change a key in place:
 * - the filters, whose primary key takes the tenant scope, so that fan-out looks up
 *   (filter, tenant) and never walks other tenants' subscriptions;
 * - the events, whose column-level UNIQUE on idempotency_key (an index that cannot be
 *   dropped) becomes unique per tenant scope. The deliveries reference the events, so the
 *   rows go out to a temporary table and come back into the new one under deferred foreign
 *   keys: dropping the old table counts its deliveries as violations, and putting each
 *   event back clears its own, so the commit checks that none was lost. (Renaming a copy
 *   into place would leave those violations counted; turning foreign keys off is not
 *   possible inside the migration's transaction.)
 *
 * Append-only, like 0001–0006: once released, this text never changes.
 */
export const sql = /* sql */ `
-- The tenant a subscription belongs to (NULL: the platform's own), and the explicit opt-in of
-- a platform consumer to every tenant's events. Both fixed at creation.
ALTER TABLE {{prefix}}subscriptions ADD COLUMN tenant_id TEXT;
ALTER TABLE {{prefix}}subscriptions ADD COLUMN all_tenants INTEGER NOT NULL DEFAULT 0 CHECK (all_tenants IN (0, 1));
-- A tenant's subscriptions in id order: its list, its count against the per-tenant limit,
-- its removal, and the subscriptions a claim excludes with the tenant. NULLs included: the
-- platform's list reads the same index.
CREATE INDEX {{prefix}}subscriptions_tenant ON {{prefix}}subscriptions (tenant_id, id);

-- One row per (filter, tenant scope, subscription). tenant_key is the subscription's scope as
-- idempotencyScope() writes it ('' for a platform subscription, all-tenant consumers
-- included): fan-out seeks (filter, the event's scope) through the primary key, and the
-- all-tenant consumers, whatever the event's tenant, through their own partial index.
CREATE TABLE {{prefix}}subscription_event_types_0007 (
  filter          TEXT    NOT NULL,
  tenant_key      TEXT    NOT NULL,
  all_tenants     INTEGER NOT NULL CHECK (all_tenants IN (0, 1)),
  subscription_id TEXT    NOT NULL REFERENCES {{prefix}}subscriptions (id),
  PRIMARY KEY (filter, tenant_key, subscription_id)
) WITHOUT ROWID;
INSERT INTO {{prefix}}subscription_event_types_0007 (filter, tenant_key, all_tenants, subscription_id)
  SELECT filter, '', 0, subscription_id FROM {{prefix}}subscription_event_types;
DROP TABLE {{prefix}}subscription_event_types;
ALTER TABLE {{prefix}}subscription_event_types_0007 RENAME TO {{prefix}}subscription_event_types;
CREATE INDEX {{prefix}}subscription_event_types_subscription
  ON {{prefix}}subscription_event_types (subscription_id);
CREATE INDEX {{prefix}}subscription_event_types_all_tenants
  ON {{prefix}}subscription_event_types (filter, subscription_id) WHERE all_tenants = 1;

-- The events, rebuilt (see the header). SQLite turns the deferral off when the transaction
-- ends; turning it off here would also forget what the rebuild counted, unchecked.
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE {{prefix}}events_0006 AS
  SELECT id, type, published_at, payload, idempotency_key FROM {{prefix}}events ORDER BY rowid;
DROP TABLE {{prefix}}events;
CREATE TABLE {{prefix}}events (
  id              TEXT    NOT NULL PRIMARY KEY,
  type            TEXT    NOT NULL,
  published_at    INTEGER NOT NULL,
  payload         TEXT    NOT NULL,
  idempotency_key TEXT,
  -- The tenant it was published for; NULL when published without one.
  tenant_id       TEXT
);
INSERT INTO {{prefix}}events (id, type, published_at, payload, idempotency_key)
  SELECT id, type, published_at, payload, idempotency_key FROM temp.{{prefix}}events_0006 ORDER BY rowid;
DROP TABLE temp.{{prefix}}events_0006;
-- Replay windows and purge.
CREATE INDEX {{prefix}}events_published_at ON {{prefix}}events (published_at);
-- An idempotency key is unique within its tenant scope: idempotencyScope() is the tenant id,
-- or '' for a tenantless event, so that a NULL tenant (distinct from every other NULL in a
-- unique index) cannot let a tenantless key in twice.
CREATE UNIQUE INDEX {{prefix}}events_idempotency
  ON {{prefix}}events (ifnull(tenant_id, ''), idempotency_key) WHERE idempotency_key IS NOT NULL;
-- A tenant's events, for its removal.
CREATE INDEX {{prefix}}events_tenant ON {{prefix}}events (tenant_id, id) WHERE tenant_id IS NOT NULL;

-- Its subscription's tenant (deliveryTenantId()): what tenant-scoped reads filter on.
ALTER TABLE {{prefix}}deliveries ADD COLUMN tenant_id TEXT;
-- A tenant's deliveries newest first (its delivery log; the platform's, NULL, alike) and its
-- removal in batches.
CREATE INDEX {{prefix}}deliveries_tenant ON {{prefix}}deliveries (tenant_id, id);
`;
