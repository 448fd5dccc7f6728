/**
 * Migration 0015: more room on each page of the deliveries for the claim's HOT updates,
 * fillfactor 70 (0001) → 50.
 *
 * A claim writes only a delivery's lease columns, which no index covers, so where the
 * row's page has room PostgreSQL writes the leased version beside the old one and adds no
 * entry to any of the deliveries' indexes (a dozen since 0011). A claim takes rows that
 * were inserted together, so it leases most rows of each page it touches: at 70 % a page
 * has room for about a third of its rows' new versions, and the rest of the claim wrote a
 * new version elsewhere and an entry in every index. At 50 %, about four of five leases
 * are HOT. Measured on a storage alone (claims and settles of 100 over 20,000 deliveries,
 * PostgreSQL 15, the server's CPU read from /proc): HOT leases 7,210 → 16,320 of 20,000,
 * the claim's server CPU ~45 → ~27 µs a delivery; dispatch to a loopback receiver, three
 * alternating pairs, 9,525–10,013 → 10,175–10,501 deliveries/s. The table is no larger
 * for it while deliveries come and go: after those 20,000 were claimed and settled, the
 * heap was 9.6 MiB at 50 % against 11.0 MiB at 70 % (the settle's versions and the
 * leases' fit on the pages they came from instead of new ones); only a rewrite of a
 * settled log (VACUUM FULL) packs it looser, 8.4 MiB against 6.2.
 *
 * `SET (fillfactor)` rewrites nothing: pages filled from now on keep the room. It takes a
 * SHARE UPDATE EXCLUSIVE lock, which no publish, claim or settle waits for. An expand
 * step: older code's statements run and mean what they meant.
 *
 * Append-only, like 0001–0014: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{schema}}.deliveries SET (fillfactor = 50);
`;
