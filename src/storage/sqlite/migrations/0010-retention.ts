/**
 * Migration 0010: the final deliveries by (status, updated_at), for retention
 * (`purgeRetention`): each batch takes the oldest delivered, dead and cancelled rows past
 * their cutoff from the head of this index, where deliveries_status (status, id) would
 * have it walk every final row of the status to find the old ones (ids follow creation,
 * not the time a delivery became final). A final row's updated_at is when it became final.
 *
 * Partial: pending and held rows, the ones the dispatcher rewrites on every attempt, cost
 * no entry. A statement uses it by repeating its WHERE term (SQLite proves a partial index
 * usable only from the same term).
 *
 * The events' retention walks events_published_at (0007) from its head.
 *
 * Append-only, like 0001–0009: once released, this text never changes.
 */
export const sql = /* sql */ `
CREATE INDEX {{prefix}}deliveries_final_at
  ON {{prefix}}deliveries (status, updated_at) WHERE status IN ('delivered', 'dead', 'cancelled');
`;
