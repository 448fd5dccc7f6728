/**
 * Migration 0015: per-key ordering (storage/shared/ordering.ts). An event's `ordering_key`
 * (NULL: unordered); a subscription's `ordering_on_dead` ('block' or 'skip'), what a dead
 * delivery of a key does to the ones behind it; a delivery's `ordering_key` (its event's) and
 * `ordering_seq`, its number among its subscription's deliveries of the key; and the state of
 * each key of each subscription in `ordering_keys`: the number last given (`last_seq`) and the
 * number of the key's head (`head_seq`), the one delivery of the key that may be attempted.
 *
 * A delivery waiting behind its key's head is `pending` with `next_attempt_at` and `due_at`
 * NULL: a NULL sorts before every time in deliveries_due and deliveries_subscription_due, and
 * the claims' range `due_at <= now` starts past the NULL entries, so a waiting delivery costs
 * a claim nothing (no new term in the claim, no change to its indexes).
 *
 * deliveries_ordering serves the moves of a key's head (its next waiting delivery, after the
 * head's number) and the count of a blocked key's waiting deliveries; deliveries_ordering_dead
 * lists a subscription's blocked keys oldest first without walking its idle keys (a key per
 * payment id makes many of those). Both are partial: an unordered delivery has no entry in
 * either, so publishing and settling one writes nothing more than before.
 *
 * Nullable and defaulted columns only, added in place: SQLite writes no row for them (each
 * existing event and delivery reads NULL, unordered; each subscription 'block'). The two
 * partial indexes read the deliveries once to be built and hold no entry for an existing row.
 *
 * Append-only, like 0001–0014: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{prefix}}events ADD COLUMN ordering_key TEXT;
ALTER TABLE {{prefix}}subscriptions ADD COLUMN ordering_on_dead TEXT NOT NULL DEFAULT 'block'
  CHECK (ordering_on_dead IN ('block', 'skip'));
ALTER TABLE {{prefix}}deliveries ADD COLUMN ordering_key TEXT;
ALTER TABLE {{prefix}}deliveries ADD COLUMN ordering_seq INTEGER;

CREATE INDEX {{prefix}}deliveries_ordering
  ON {{prefix}}deliveries (subscription_id, ordering_key, ordering_seq) WHERE ordering_key IS NOT NULL;
CREATE INDEX {{prefix}}deliveries_ordering_dead
  ON {{prefix}}deliveries (subscription_id, id) WHERE status = 'dead' AND ordering_key IS NOT NULL;

CREATE TABLE {{prefix}}ordering_keys (
  subscription_id TEXT    NOT NULL REFERENCES {{prefix}}subscriptions (id),
  ordering_key    TEXT    NOT NULL,
  last_seq        INTEGER NOT NULL,
  head_seq        INTEGER NOT NULL,
  PRIMARY KEY (subscription_id, ordering_key)
) WITHOUT ROWID;
`;
