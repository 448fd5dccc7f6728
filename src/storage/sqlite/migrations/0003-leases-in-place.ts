/**
 * Migration 0003: a lease no longer moves its row in the due indexes.
 *
 * Until 0002, a claim set `due_at` to the lease expiry, so that a leased row sat at
 * its expiry in `deliveries_due` instead of at its head. That moved every claimed row
 * twice in each of the two due indexes (out of the head and into the tail at the claim,
 * out of the tail at the settle), and deleting from the head of a B-tree rebalances it:
 * a claim of a dozen rows wrote ~16 pages to the WAL, mostly index pages (measured with
 * the frames a claim appended). Now `due_at` stays the time the row is due and the lease
 * expiry rides in both indexes: a claim rewrites the entries where they are (same key
 * order, same page), and the claim steps over the rows under a live lease at the head by
 * reading the index alone — at most the deliveries in flight.
 *
 * Append-only, like 0001 and 0002: once released, this text never changes.
 */
export const sql = /* sql */ `
-- Rows leased under 0002 carry their lease expiry in due_at: give them back their due time.
UPDATE {{prefix}}deliveries SET due_at = next_attempt_at
  WHERE status = 'pending' AND lease_token IS NOT NULL AND next_attempt_at IS NOT NULL;

DROP INDEX {{prefix}}deliveries_due;
CREATE INDEX {{prefix}}deliveries_due
  ON {{prefix}}deliveries (due_at, id, subscription_id, lease_expires_at) WHERE status = 'pending';

DROP INDEX {{prefix}}deliveries_subscription_due;
CREATE INDEX {{prefix}}deliveries_subscription_due
  ON {{prefix}}deliveries (subscription_id, due_at, id, created_at, lease_expires_at) WHERE status = 'pending';
`;
