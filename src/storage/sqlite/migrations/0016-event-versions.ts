/**
 * Migration 0016: event versions. A subscription's `event_versions` — its version pins, the
 * canonical JSON text of versioned event type → version the core validated, or NULL for no
 * pins; the storage keeps it as given and never interprets it. A subscription with pins has
 * its deliveries' payloads rendered by the core at fan-out, as one with a transform has, into
 * the deliveries' `payload` column of 0014.
 *
 * One nullable column, added in place: SQLite writes no row for it (each existing
 * subscription reads NULL: no pins, its deliveries send their events' payloads, as before),
 * and no index: the fan-out reads it from the subscription row it visits anyway.
 *
 * Numbered 0016, after a gap: 0015 belongs to per-key ordering, built beside it. Append-only,
 * like 0001–0014: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{prefix}}subscriptions ADD COLUMN event_versions TEXT;
`;
