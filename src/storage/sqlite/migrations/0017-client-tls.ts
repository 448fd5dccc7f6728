/**
 * Migration 0017: a subscription's TLS client identity and trust settings (`tls`): the
 * client certificate, its private key — sealed by the core with the secrets key like the
 * signing secrets, opaque here —, the CA certificates and the server name, as one JSON text
 * the storage keeps as given; NULL for none.
 *
 * One nullable column, added in place: SQLite writes no row for it (each existing
 * subscription reads NULL: no client certificate, the public roots, as before), and no
 * index: the claim reads it from the subscription row it visits anyway.
 *
 * Append-only, like 0001–0016: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{prefix}}subscriptions ADD COLUMN tls TEXT;
`;
