/**
 * Migration 0006: the processes that work on the file, so that a restart can take back
 * the leases of one that died at once instead of waiting them out.
 *
 * Each adapter registers a row at its first claim and draws every lease token as
 * `<instance id>.<random>`, so a lease names its holder. A later instance on the same host
 * that proves a holder gone (its pid is dead, or now belongs to a process started at
 * another time: see process-liveness.ts) gives that holder's leases back in one
 * transaction, due at once with their attempts unchanged, and drops its row. A holder that
 * is alive, or on another host, or that cannot be checked keeps its leases until they expire.
 *
 * Append-only, like 0001–0005: once released, this text never changes.
 */
export const sql = /* sql */ `
CREATE TABLE {{prefix}}instances (
  id            TEXT    NOT NULL PRIMARY KEY,
  -- Hostname, boot id and pid namespace: where the pid below means something. NULL where
  -- the process could not tell (no /proc): such a holder is never proven gone.
  host          TEXT,
  pid           INTEGER NOT NULL,
  -- Field 22 of /proc/<pid>/stat (clock ticks since boot): tells a reused pid apart.
  started_ticks TEXT,
  created_at    INTEGER NOT NULL
);
CREATE INDEX {{prefix}}instances_host ON {{prefix}}instances (host);
`;
