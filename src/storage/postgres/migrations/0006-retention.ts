/**
 * Migration 0006: the final deliveries by (status, updated_at), for retention
 * (`purgeRetention`): each batch locks the oldest delivered, dead and cancelled rows past
 * their cutoff from the head of this index, where deliveries_status (status, id) would
 * have it read every final row of the status to find the old ones (ids follow creation,
 * not the time a delivery became final). A final row's updated_at is when it became final.
 *
 * Partial: pending and held rows, which the dispatcher rewrites on every attempt, cost no
 * entry, and a claim's update of a pending row stays HOT. The statements repeat the
 * predicate, so that a generic plan proves the index usable with the status a parameter.
 *
 * The events' retention walks events_published_at (0001) from its head. Built inside the
 * migration's transaction, like the indexes of 0003: writes to the deliveries wait for the
 * build, which reads the table once.
 *
 * Append-only, like 0001–0005: once released, this text never changes.
 */
export const sql = /* sql */ `
CREATE INDEX deliveries_final_at
  ON {{schema}}.deliveries (status, updated_at) WHERE status IN ('delivered', 'dead', 'cancelled');
`;
