/**
 * Migration 0014: payloads per endpoint. A subscription's `transform` — the name of the host
 * transform its deliveries' payloads are rendered with, or NULL to send the event's payload;
 * the storage keeps it as given and never interprets it — and a delivery's own `payload`,
 * what the transform rendered at fan-out (sealed by the core), or NULL when it sends its
 * event's. Stored once at fan-out, so every retry sends the same bytes and the log shows what
 * the endpoint got.
 *
 * Two nullable columns, added in place: SQLite writes no row for them (each existing
 * subscription reads NULL and each existing delivery sends its event's payload, as before),
 * and no index: the fan-out reads `transform` from the subscription row it visits anyway, and
 * a claim reads `payload` from the delivery row it leased.
 *
 * Append-only, like 0001–0013: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{prefix}}subscriptions ADD COLUMN transform TEXT;
ALTER TABLE {{prefix}}deliveries ADD COLUMN payload TEXT;
`;
