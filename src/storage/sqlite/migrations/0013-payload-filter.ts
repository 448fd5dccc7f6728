/**
 * Migration 0013: a subscription's payload filter — its canonical JSON text as the core
 * validated it, or NULL for every event of its types. The storage keeps it as given and never
 * reads into it: the publish and the replay hand it to the core's callback, which decides.
 *
 * One nullable column, added in place: SQLite writes no row for it (each existing
 * subscription reads NULL, and receives what it received before), and no index, since the
 * fan-out finds subscriptions by their event-type filters and reads this column from the row
 * it visits anyway.
 *
 * Append-only, like 0001–0012: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{prefix}}subscriptions ADD COLUMN payload_filter TEXT;
`;
