/**
 * Migration 0013: a subscription's TLS client identity and trust settings (`tls`): the
 * client certificate, its private key — sealed by the core with the secrets key like the
 * signing secrets, opaque here —, the CA certificates and the server name, as jsonb the
 * storage keeps as given; NULL for none.
 *
 * One nullable column without a default: PostgreSQL records it in the catalog only, without
 * rewriting the table, so the ACCESS EXCLUSIVE lock of the ALTER is held for an instant.
 * Existing subscriptions read NULL (no client certificate, the public roots), as before.
 *
 * Append-only, like 0001–0012: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{schema}}.subscriptions ADD COLUMN tls jsonb;
`;
