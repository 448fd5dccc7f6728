/**
 * Migration 0002: flow control and failure tracking per subscription, and the indexes
 * that let a claim pass over excluded subscriptions without walking their backlog.
 *
 * Append-only, like 0001: once released, this text never changes.
 */
export const sql = /* sql */ `
-- JSON of { maxInFlight?, ratePerSecond?, burst? }, or NULL for the global defaults.
ALTER TABLE {{prefix}}subscriptions ADD COLUMN flow_control TEXT;
-- Epoch ms of the first failed attempt since the last successful one; NULL while healthy.
ALTER TABLE {{prefix}}subscriptions ADD COLUMN failing_since INTEGER;

-- The claim index again, with subscription_id at the end: the claim's checks on the
-- subscription (active, not excluded) then read the index entry instead of the row.
-- Same name, so the claim's INDEXED BY keeps naming it.
DROP INDEX {{prefix}}deliveries_due;
CREATE INDEX {{prefix}}deliveries_due
  ON {{prefix}}deliveries (due_at, id, subscription_id) WHERE status = 'pending';

-- Pending rows per subscription in claim order: a claim that excludes subscriptions with
-- a large backlog takes each other subscription's first due rows from here instead of
-- stepping over the excluded rows in deliveries_due. created_at rides along so that the
-- oldest pending delivery of one subscription is read from the index alone.
CREATE INDEX {{prefix}}deliveries_subscription_due
  ON {{prefix}}deliveries (subscription_id, due_at, id, created_at) WHERE status = 'pending';

-- Held rows per subscription (few: only a disabled subscription has any), for its stats.
CREATE INDEX {{prefix}}deliveries_subscription_held
  ON {{prefix}}deliveries (subscription_id) WHERE status = 'held';
`;
