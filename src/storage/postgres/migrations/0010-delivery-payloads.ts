/**
 * Migration 0010: payloads per endpoint. A subscription's `transform` — the name of the host
 * transform its deliveries' payloads are rendered with, or NULL to send the event's payload;
 * the storage keeps it as given and never interprets it — and a delivery's own `payload`,
 * what the transform rendered at fan-out (sealed by the core), or NULL when it sends its
 * event's. Stored once at fan-out, so every retry sends the same bytes and the log shows what
 * the endpoint got.
 *
 * Two nullable columns without a default: PostgreSQL records them in the catalog only,
 * without rewriting either table, so the ACCESS EXCLUSIVE lock of each ALTER is held for an
 * instant. Existing subscriptions read NULL and existing deliveries send their events'
 * payloads, as before. No index: the publish reads `transform` from the subscription row it
 * visits anyway, and a claim reads `payload` from the delivery row it leases.
 *
 * Append-only, like 0001–0009: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{schema}}.subscriptions ADD COLUMN transform text;
ALTER TABLE {{schema}}.deliveries ADD COLUMN payload text;
`;
