/**
 * Migration 0007: deliveries counted by subscription and status in sharded counter rows,
 * kept by triggers, so that `stats()` reads O(subscriptions × shards) rows however long
 * the delivery log; and a table of the deliveries in flight, for its `leased`.
 *
 * Why triggers. Deliveries are inserted, change status or go in a dozen statements
 * (publish, claim's parking, settle, hold and resume, replay, redeliver, soft delete,
 * expunge, purge, retention, a tenant's removal) and in the cascade of a subscription's
 * hard delete. Triggers on the deliveries table keep the counts exact on every one of them,
 * in the same transaction as the write: a rolled-back host transaction rolls its counts
 * back with its rows. They are statement-level, with transition tables: a settle of a
 * batch changes its counts once per (subscription, status) it moves, not once per row, and
 * a claim, which moves no status, changes none.
 *
 * Why shards. One counter row per (subscription, status) would be locked by every settle
 * of the subscription until its commit, serialising the dispatchers of every instance (and
 * a host transaction that publishes would hold the subscription's `pending` row until the
 * host commits). A (subscription, status) has instead a row per shard, summed on read, and
 * a statement adds its deltas to the rows of its backend's own shard, `pg_backend_pid() %
 * 16`: two backends of different shards never wait for each other, whatever they write.
 * Two of the same shard (one chance in 16 for a pair) wait as two writers of one row do:
 * for a settle or a publish, until the other's commit; behind a host transaction that
 * published, until the host commits — only for writes of the same subscriptions. A row may
 * go negative (a delivery counted into one shard leaves from another). Taking any free row
 * instead (`FOR UPDATE SKIP LOCKED`) would spare even those waits, but cost every write a
 * row lock and a search; measured with pgbench, four clients publishing to the same five
 * subscriptions, about 30% fewer publishes per second than the own shard's upsert.
 *
 * Deadlocks. A statement upserts its rows in (subscription, status) order, so two
 * statements cannot deadlock on them; two multi-statement transactions of backends of the
 * same shard can, through rows they took in opposite order in different statements
 * (PostgreSQL then aborts one; the storage answers STORAGE_BUSY, retryable).
 *
 * A subscription's counter rows go with it (a trigger on the subscriptions table; the
 * deliveries its cascade deletes are not counted out, in whichever order the two fire); a
 * TRUNCATE of the deliveries empties the counts.
 *
 * The existing rows are counted once, at migration time, after the deliveries table is
 * locked against writes (SHARE ROW EXCLUSIVE, which CREATE TRIGGER takes anyway): a write
 * of an instance still running older code either committed before the count or waits for
 * the migration's commit and fires the triggers.
 *
 * `leased`: the same triggers keep `delivery_leases`, one row per pending delivery that
 * carries a lease token (its lease's expiry, subscription and tenant): the deliveries in
 * flight, plus those a crashed dispatcher left until a claim takes them over, whatever the
 * backlog. An index on the deliveries' lease columns would serve as well, but the claim
 * writes those columns, and an index on them would end its HOT updates (see 0001): every
 * lease would add an entry to each of the deliveries' indexes. A row here costs the claim
 * one insert into a small table, and the settle its delete.
 *
 * Append-only, like 0001–0006: once released, this text never changes.
 */
/** Counter rows per (subscription, status) at most: a backend's own is `pg_backend_pid() % SHARDS`. */
const SHARDS = 16;

/**
 * The statement that adds the deltas of one statement on the deliveries to the counter rows
 * of the backend's shard. `rows` selects (subscription_id, status, tenant_id, n) from the
 * trigger's transition tables: +1 per row the statement left, -1 per row it found. Summed by
 * (subscription, status) and upserted in that order (see Deadlocks); a (subscription,
 * status) whose rows only changed otherwise (a claim) nets 0 and is not written.
 */
function countDeltasSql(rows: string): string {
  return `INSERT INTO {{schema}}.delivery_counts AS c (subscription_id, status, shard, tenant_id, n)
  SELECT r.subscription_id, r.status, pg_backend_pid() % ${SHARDS}, min(r.tenant_id), sum(r.n)
  FROM (${rows}) AS r
  GROUP BY r.subscription_id, r.status
  HAVING sum(r.n) <> 0
  ORDER BY r.subscription_id, r.status
  ON CONFLICT (subscription_id, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;`;
}

/** The statements of migration 0007, with `{{schema}}` where the quoted schema name goes. */
export const sql = /* sql */ `
LOCK TABLE {{schema}}.deliveries IN SHARE ROW EXCLUSIVE MODE;

-- Partial counts: the count of a (subscription, status) is the sum of its rows' n (see the
-- header). tenant_id is
-- the deliveries' (their subscription's, fixed at creation), for the counts of a tenant.
CREATE TABLE {{schema}}.delivery_counts (
  subscription_id text COLLATE "C" NOT NULL,
  status          text     NOT NULL,
  shard           smallint NOT NULL,
  tenant_id       text COLLATE "C",
  n               bigint   NOT NULL,
  PRIMARY KEY (subscription_id, status, shard)
);
-- The counts of a tenant (NULL: the platform's).
CREATE INDEX delivery_counts_tenant ON {{schema}}.delivery_counts (tenant_id);

-- The pending deliveries that carry a lease token (see the header): stats() counts those whose
-- lease is live by the database clock.
CREATE TABLE {{schema}}.delivery_leases (
  delivery_id     text COLLATE "C" NOT NULL PRIMARY KEY,
  subscription_id text COLLATE "C" NOT NULL,
  tenant_id       text COLLATE "C",
  expires_at      bigint NOT NULL
);

-- The deliveries' triggers: one statement adds a statement's deltas to the counts, another
-- keeps delivery_leases.
CREATE FUNCTION {{schema}}.count_inserted_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  ${countDeltasSql('SELECT r.subscription_id, r.status, r.tenant_id, 1 AS n FROM new_rows AS r')}
  INSERT INTO {{schema}}.delivery_leases (delivery_id, subscription_id, tenant_id, expires_at)
  SELECT r.id, r.subscription_id, r.tenant_id, r.lease_expires_at FROM new_rows AS r
  WHERE r.status = 'pending' AND r.lease_token IS NOT NULL;
  RETURN NULL;
END
$$;

-- The deliveries of a subscription being deleted are not counted out: its counter rows go
-- with it (uncount_deleted_subscriptions), before or after the cascade reaches here.
CREATE FUNCTION {{schema}}.count_deleted_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  ${countDeltasSql(`SELECT r.subscription_id, r.status, r.tenant_id, -1 AS n FROM old_rows AS r
      WHERE EXISTS (SELECT 1 FROM {{schema}}.subscriptions AS s WHERE s.id = r.subscription_id)`)}
  DELETE FROM {{schema}}.delivery_leases AS l USING old_rows AS r WHERE l.delivery_id = r.id;
  RETURN NULL;
END
$$;

CREATE FUNCTION {{schema}}.count_updated_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  ${countDeltasSql(`SELECT r.subscription_id, r.status, r.tenant_id, 1 AS n FROM new_rows AS r
      UNION ALL
      SELECT r.subscription_id, r.status, r.tenant_id, -1 AS n FROM old_rows AS r`)}
  -- A row that is no longer a pending one with a lease token leaves delivery_leases (a
  -- probe of its small primary key); one that is (a claim, a resume under a live lease)
  -- enters it, or has its expiry brought up to date.
  DELETE FROM {{schema}}.delivery_leases AS l USING new_rows AS r
  WHERE l.delivery_id = r.id AND NOT (r.status = 'pending' AND r.lease_token IS NOT NULL);
  INSERT INTO {{schema}}.delivery_leases AS l (delivery_id, subscription_id, tenant_id, expires_at)
  SELECT r.id, r.subscription_id, r.tenant_id, r.lease_expires_at FROM new_rows AS r
  WHERE r.status = 'pending' AND r.lease_token IS NOT NULL
  ON CONFLICT (delivery_id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE l.expires_at <> EXCLUDED.expires_at;
  RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_counted_insert AFTER INSERT ON {{schema}}.deliveries
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.count_inserted_deliveries();
CREATE TRIGGER deliveries_counted_update AFTER UPDATE ON {{schema}}.deliveries
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.count_updated_deliveries();
CREATE TRIGGER deliveries_counted_delete AFTER DELETE ON {{schema}}.deliveries
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.count_deleted_deliveries();

CREATE FUNCTION {{schema}}.uncount_truncated_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM {{schema}}.delivery_counts;
  DELETE FROM {{schema}}.delivery_leases;
  RETURN NULL;
END
$$;
CREATE TRIGGER deliveries_counted_truncate AFTER TRUNCATE ON {{schema}}.deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.uncount_truncated_deliveries();

-- A deleted subscription's counter rows go with it.
CREATE FUNCTION {{schema}}.uncount_deleted_subscriptions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM {{schema}}.delivery_counts WHERE subscription_id IN (SELECT r.id FROM old_rows AS r);
  RETURN NULL;
END
$$;
CREATE TRIGGER subscriptions_uncounted_delete AFTER DELETE ON {{schema}}.subscriptions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.uncount_deleted_subscriptions();

-- What the log holds already: its counts in shard 0, its leases.
INSERT INTO {{schema}}.delivery_counts (subscription_id, status, shard, tenant_id, n)
SELECT d.subscription_id, d.status, 0, d.tenant_id, count(*)
FROM {{schema}}.deliveries AS d GROUP BY d.subscription_id, d.status, d.tenant_id;
INSERT INTO {{schema}}.delivery_leases (delivery_id, subscription_id, tenant_id, expires_at)
SELECT d.id, d.subscription_id, d.tenant_id, d.lease_expires_at FROM {{schema}}.deliveries AS d
WHERE d.status = 'pending' AND d.lease_token IS NOT NULL;
`;
