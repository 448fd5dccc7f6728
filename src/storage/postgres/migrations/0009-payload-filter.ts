/**
 * Migration 0009: a subscription's payload filter — its canonical JSON text as the core
 * validated it, or NULL for every event of its types. text, not jsonb: the storage keeps it
 * as given and never reads into it (jsonb would reorder its keys and drop duplicates); the
 * publish and the replay hand it to the core's callback, which decides.
 *
 * A nullable column without a default: PostgreSQL records it in the catalog only, without
 * rewriting the table, so the ACCESS EXCLUSIVE lock of the ALTER is held for an instant.
 * Every existing subscription reads NULL and receives what it received before. No index: the
 * publish finds subscriptions by their event-type filters and reads this column from the row
 * it visits anyway.
 *
 * Append-only, like 0001–0008: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{schema}}.subscriptions ADD COLUMN payload_filter text;
`;
