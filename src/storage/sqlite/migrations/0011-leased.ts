/**
 * Migration 0011: the leased pending deliveries by lease expiry, for `stats().leased`.
 *
 * Until 0010, `leased` was counted by walking every pending entry of deliveries_due (the
 * lease expiry is in it) and keeping those whose lease was live: ~180 ms on the host's
 * event loop with a million pending deliveries, at every `metrics()` call and every
 * collection of the backlog gauges. This partial index holds only the pending rows under a
 * lease — what is in flight, plus leases a crashed process left to expire — so `leased`
 * reads the live ones off its tail, whatever the backlog. A claim and a settle each write
 * one entry of it (the lease columns they change are already in deliveries_due).
 *
 * A statement uses it by repeating its WHERE term (SQLite proves a partial index usable
 * only from the same term).
 *
 * Append-only, like 0001–0010: once released, this text never changes.
 */
export const sql = /* sql */ `
CREATE INDEX {{prefix}}deliveries_leased
  ON {{prefix}}deliveries (lease_expires_at) WHERE status = 'pending' AND lease_expires_at IS NOT NULL;
`;
