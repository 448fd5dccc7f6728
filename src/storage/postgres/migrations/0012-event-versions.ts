/**
 * Migration 0012: event versions. A subscription's `event_versions` — its version pins, the
 * canonical JSON text of versioned event type → version the core validated, or NULL for no
 * pins; the storage keeps it as given and never interprets it. A subscription with pins has
 * its deliveries' payloads rendered by the core at fan-out, as one with a transform has, into
 * the deliveries' `payload` column of 0010.
 *
 * One nullable column without a default: PostgreSQL records it in the catalog only, without
 * rewriting the table, so the ACCESS EXCLUSIVE lock of the ALTER is held for an instant.
 * Existing subscriptions read NULL (no pins), as before. No index: the publish reads it from
 * the subscription row it visits anyway.
 *
 * Numbered 0012, after a gap: 0011 belongs to per-key ordering, built beside it. Append-only,
 * like 0001–0010: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{schema}}.subscriptions ADD COLUMN event_versions text;
`;
