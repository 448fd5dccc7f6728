/**
 * Migration 0011: per-key ordering (the rule set is storage/shared/ordering.ts).
 *
 * - `events.ordering_key`: the key an event was published with; NULL: unordered.
 * - `subscriptions.ordering_on_dead`: what a dead delivery of a key does to the key ('block'
 *   holds it until an operator acts, 'skip' moves on); 'block' for every existing one.
 * - `deliveries.ordering_key`, `deliveries.ordering_seq`: the delivery's key (its event's)
 *   and its number among its subscription's deliveries of the key, 1, 2, 3, … in publish order.
 * - `ordering_keys`: one row per (subscription, key) ever used, `last_seq` the number last
 *   given and `head_seq` the number of the one delivery of the key that may be attempted
 *   (`last_seq + 1` when the key is idle). This row's lock is what serialises the writers
 *   of a key across instances: a publish appends by upserting it, and whoever moves the
 *   head (a settle, a skip, an expunge) locks it before reading the key's deliveries (see
 *   postgres-storage.ts). It goes with its subscription (ON DELETE CASCADE: a hard delete, a
 *   tenant's removal). It is never removed while its subscription lives, so a number is
 *   never given twice.
 *
 * A delivery waiting behind its key's head is pending without a next attempt: the CHECK
 * that tied `next_attempt_at` to the pending status exactly is replaced by one that lets a
 * keyed pending delivery have none. Every claim, `nextDueAt` and due index read
 * `next_attempt_at`, so a waiting delivery is in none of them.
 *
 * Cheap on a big table: the new columns are nullable, or take a constant default, which
 * PostgreSQL records in the catalog without rewriting the table; the new CHECKs accept every
 * row stored (no keyed rows exist yet, and 'block' is the default), so NOT VALID spares a
 * scan under the ACCESS EXCLUSIVE lock of the ALTER. The partial indexes on the keyed
 * deliveries are built inside the migration's transaction, like those of 0003 and 0006:
 * writes to the deliveries wait for the build, which reads the table once and holds no
 * entry for an unordered delivery, and so is deliveries_waiting (see below), which holds the
 * waiting rows alone. A claim's update (lease columns only) stays HOT.
 *
 * Append-only, like 0001–0010: once released, this text never changes.
 */
export const sql = /* sql */ `
ALTER TABLE {{schema}}.events ADD COLUMN ordering_key text COLLATE "C";

ALTER TABLE {{schema}}.subscriptions ADD COLUMN ordering_on_dead text NOT NULL DEFAULT 'block';
ALTER TABLE {{schema}}.subscriptions ADD CONSTRAINT subscriptions_ordering_on_dead_check
  CHECK (ordering_on_dead IN ('block', 'skip')) NOT VALID;

ALTER TABLE {{schema}}.deliveries ADD COLUMN ordering_key text COLLATE "C";
ALTER TABLE {{schema}}.deliveries ADD COLUMN ordering_seq bigint;
-- next_attempt_at only on pending rows (the due indexes hold pending rows alone), and on
-- every pending row but a keyed one waiting behind its key's head.
ALTER TABLE {{schema}}.deliveries DROP CONSTRAINT deliveries_next_attempt_iff_pending;
ALTER TABLE {{schema}}.deliveries ADD CONSTRAINT deliveries_next_attempt_pending
  CHECK (CASE WHEN status = 'pending' THEN next_attempt_at IS NOT NULL OR ordering_seq IS NOT NULL
         ELSE next_attempt_at IS NULL END) NOT VALID;
ALTER TABLE {{schema}}.deliveries ADD CONSTRAINT deliveries_ordering_key_seq
  CHECK ((ordering_key IS NULL) = (ordering_seq IS NULL)) NOT VALID;
-- A key's deliveries in their order: the head's successor when the head passes, the count of
-- those waiting behind a blocked key. Partial: an unordered delivery costs no entry.
CREATE INDEX deliveries_ordering
  ON {{schema}}.deliveries (subscription_id, ordering_key, ordering_seq) WHERE ordering_key IS NOT NULL;

-- stats().waiting: the deliveries waiting behind their keys' heads, counted by subscription
-- or tenant without reading the delivery log. Partial: it holds the waiting rows alone; a
-- claim (lease columns only) changes none of its columns.
CREATE INDEX deliveries_waiting
  ON {{schema}}.deliveries (subscription_id, tenant_id) WHERE status = 'pending' AND next_attempt_at IS NULL;

CREATE TABLE {{schema}}.ordering_keys (
  subscription_id text COLLATE "C" NOT NULL REFERENCES {{schema}}.subscriptions (id) ON DELETE CASCADE,
  ordering_key    text COLLATE "C" NOT NULL,
  last_seq        bigint NOT NULL,
  head_seq        bigint NOT NULL,
  PRIMARY KEY (subscription_id, ordering_key)
);
`;
