/**
 * Migration 0004: the subscription change log, soft delete and erasure.
 *
 * - `subscriptions.deleted_at`: a soft-deleted subscription stays (disabled for good) with
 *   its deliveries, attempts and change log.
 * - `events.expunged_at`: an expunged event keeps its id, type, times and tenant; its
 *   payload becomes ''.
 * - the delivery status `cancelled`, with `deliveries.cancelled_at`.
 * - `subscription_changes`: the change log, written in the transaction of each change.
 *
 * Existing rows are neither deleted, expunged nor cancelled: every new column is NULL
 * (added without a default, so no table is rewritten).
 *
 * Append-only, like 0001: once released, this text never changes.
 */
export const sql = /* sql */ `
-- Epoch ms of the soft delete; NULL while the subscription is not deleted.
ALTER TABLE {{schema}}.subscriptions ADD COLUMN deleted_at bigint;
-- The subscription limit per tenant counts the subscriptions not deleted: an index-only
-- count of those, however many the tenant has deleted.
CREATE INDEX subscriptions_tenant_live ON {{schema}}.subscriptions (tenant_id) WHERE deleted_at IS NULL;

-- Epoch ms at which the event's content was erased; NULL while it is kept.
ALTER TABLE {{schema}}.events ADD COLUMN expunged_at bigint;

-- 'cancelled': final for good (its subscription deleted or its event expunged while it
-- was open). The new constraint accepts every value the old one did, so every row stored
-- satisfies it: NOT VALID spares the migration a scan of the whole delivery log under the
-- ACCESS EXCLUSIVE lock that dropping the old one takes. New and updated rows are checked
-- all the same. Cancelled rows have no next_attempt_at (deliveries_next_attempt_iff_pending),
-- so they are in none of the due indexes.
ALTER TABLE {{schema}}.deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE {{schema}}.deliveries ADD CONSTRAINT deliveries_status_check
  CHECK (status IN ('pending', 'held', 'delivered', 'dead', 'cancelled')) NOT VALID;
-- Epoch ms at which it was cancelled; never cleared (a cancelled delivery is never
-- requeued). A cancelled delivery keeps its lease, so an attempt in flight still settles;
-- the settle statement knows such a delivery by this column, which its RETURNING sees
-- (it sees only the row's new values, and a delivered one is no longer 'cancelled').
ALTER TABLE {{schema}}.deliveries ADD COLUMN cancelled_at bigint;
-- A tenant's removal asks whether one of its deliveries is in flight: a cancelled one may
-- be, while the attempt it was cancelled under has not settled. deliveries_tenant_open
-- holds the open ones, this the cancelled ones. Not narrowed to those with a lease: a
-- column of an index's predicate counts as indexed, and a claim, which writes the lease
-- columns, would no longer be a HOT update.
CREATE INDEX deliveries_tenant_cancelled
  ON {{schema}}.deliveries (tenant_id) WHERE tenant_id IS NOT NULL AND status = 'cancelled';

-- The change log: append-only, one row per change of a subscription, in the transaction
-- of the change. It goes with its subscription (hard delete, a tenant's removal: ON DELETE
-- CASCADE), never with purge. tenant_id is the subscription's, fixed at creation.
CREATE TABLE {{schema}}.subscription_changes (
  id              text COLLATE "C" NOT NULL PRIMARY KEY,
  subscription_id text COLLATE "C" NOT NULL REFERENCES {{schema}}.subscriptions (id) ON DELETE CASCADE,
  -- Its place in the subscription's log (1, 2, …), given under the subscription's row lock.
  sequence        integer NOT NULL,
  tenant_id       text COLLATE "C",
  action          text   NOT NULL CHECK (action IN ('created', 'updated', 'secret_rotated', 'secrets_resealed', 'disabled', 'enabled', 'deleted')),
  origin          text   NOT NULL CHECK (origin IN ('api', 'dispatcher')),
  actor           text,
  reason          text,
  -- { field: { before, after } }, redacted (storage/shared/change-log.ts).
  changes         jsonb  NOT NULL,
  at              bigint NOT NULL
);
-- A subscription's log in sequence order, its next number, and the cascade; unique, so a
-- change numbered twice fails rather than being logged out of order.
CREATE UNIQUE INDEX subscription_changes_subscription ON {{schema}}.subscription_changes (subscription_id, sequence);
`;
