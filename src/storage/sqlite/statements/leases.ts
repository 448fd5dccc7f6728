/**
 * SQL of giving leases back: one lease (graceful stop), and every lease of an instance
 * proven gone, with the table of instances that names them.
 */
import type { SqliteTables } from './tables.js';

// A released row is due again at its original time, or now if that was later: it keeps
// its place in line. Held rows keep their (NULL) due time.
const releasedDueTimes = `next_attempt_at = CASE WHEN status = 'pending' THEN MIN(COALESCE(next_attempt_at, @now), @now) ELSE next_attempt_at END,
         due_at = CASE WHEN status = 'pending' THEN MIN(COALESCE(next_attempt_at, @now), @now) ELSE NULL END`;

export function leasesSql(t: SqliteTables) {
  const D = t.deliveries;
  const I = t.instances;
  return {
    releaseLease: `UPDATE ${D} SET lease_token = NULL, lease_expires_at = NULL,
         ${releasedDueTimes},
         updated_at = @now
       WHERE id = @id AND lease_token = @token`,
    insertInstance: `INSERT INTO ${I} (id, host, pid, started_ticks, created_at) VALUES (?, ?, ?, ?, ?)`,
    otherInstancesOnHost: `SELECT id, host, pid, started_ticks FROM ${I} WHERE host = ? AND id <> ?`,
    deleteInstance: `DELETE FROM ${I} WHERE id = ?`,
    // Every lease a gone instance holds (its tokens start with its id and a dot), given
    // back as releaseLease does. Its pending rows are found by walking the due index's
    // leased entries (lease_expires_at is in it; the token is read from the row only for
    // those), its held ones through the (status, id) index, its cancelled ones through
    // their partial index of leased rows.
    releaseInstanceLeases: `UPDATE ${D} SET lease_token = NULL, lease_expires_at = NULL,
         ${releasedDueTimes},
         updated_at = @now
       WHERE rowid IN (
         SELECT rowid FROM ${D} INDEXED BY ${t.dueIndex}
         WHERE status = 'pending' AND lease_expires_at IS NOT NULL AND substr(lease_token, 1, length(@prefix)) = @prefix
         UNION ALL
         SELECT rowid FROM ${D}
         WHERE status = 'held' AND lease_token IS NOT NULL AND substr(lease_token, 1, length(@prefix)) = @prefix
         UNION ALL
         SELECT rowid FROM ${D} INDEXED BY ${t.cancelledLeasedIndex}
         WHERE status = 'cancelled' AND lease_token IS NOT NULL AND substr(lease_token, 1, length(@prefix)) = @prefix)`,
  };
}
