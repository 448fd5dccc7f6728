/**
 * Migration 0008: the change log of subscriptions, soft delete and erasure (see
 * storage/shared/change-log.ts). Every row stored before it reads as it did: no subscription
 * is deleted, no event expunged, no delivery cancelled, and no change is logged.
 *
 * The deliveries table is rebuilt, because its status column carries a CHECK that does not
 * admit `cancelled` and SQLite cannot change a constraint in place (editing the schema text
 * through `writable_schema` is refused on a connection in defensive mode, which better-sqlite3
 * turns on). The rows go out to a temporary table and come back with their rowids under
 * deferred foreign keys, as the events did in 0007: dropping the table counts its attempts as
 * violations, putting each delivery back clears its own, and the commit checks that none was
 * lost. Its indexes and the triggers of 0004 go with the old table and are made again as they
 * were; the counts they keep stay right, since the rows come back unchanged and no trigger
 * fires while the table is dropped or refilled. The rebuild reads and writes the delivery log
 * twice: on a large log the upgrade takes as long as copying it.
 *
 * Append-only, like 0001–0007: once released, this text never changes.
 */
export const sql = /* sql */ `
-- Epoch ms of the soft delete; NULL while the subscription is not deleted.
ALTER TABLE {{prefix}}subscriptions ADD COLUMN deleted_at INTEGER;
-- Epoch ms at which the event's payload was erased (payload ''); NULL while it is kept.
ALTER TABLE {{prefix}}events ADD COLUMN expunged_at INTEGER;

-- The change log: append-only, written in the transaction of the change it records. No
-- foreign key: the log of a soft-deleted subscription stays, and a hard delete or a tenant's
-- removal takes its rows explicitly, whether or not the connection enforces foreign keys.
CREATE TABLE {{prefix}}subscription_changes (
  id              TEXT    NOT NULL PRIMARY KEY,
  subscription_id TEXT    NOT NULL,
  -- Its place in the subscription's log (1, 2, …), given in the change's write transaction.
  sequence        INTEGER NOT NULL,
  tenant_id       TEXT,
  action          TEXT    NOT NULL,
  origin          TEXT    NOT NULL,
  actor           TEXT,
  reason          TEXT,
  -- JSON object: field name -> { before, after }, redacted.
  changes         TEXT    NOT NULL,
  at              INTEGER NOT NULL
);
-- One subscription's log in sequence order (its page, the next number), and its removal.
CREATE UNIQUE INDEX {{prefix}}subscription_changes_subscription
  ON {{prefix}}subscription_changes (subscription_id, sequence);

-- The deliveries, rebuilt to admit 'cancelled' (see the header). SQLite turns the deferral
-- off when the transaction ends.
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE {{prefix}}deliveries_0007 AS
  SELECT rowid AS row_id, id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, last_attempt_at,
    last_status_code, last_error, delivered_at, lease_token, lease_expires_at, due_at, created_at, updated_at,
    history_attempts, first_failed_at, recovered_at, tenant_id
  FROM {{prefix}}deliveries;
DROP TABLE {{prefix}}deliveries;
CREATE TABLE {{prefix}}deliveries (
  id               TEXT    NOT NULL PRIMARY KEY,
  event_id         TEXT    NOT NULL REFERENCES {{prefix}}events (id),
  event_type       TEXT    NOT NULL,
  subscription_id  TEXT    NOT NULL REFERENCES {{prefix}}subscriptions (id),
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'held', 'delivered', 'dead', 'cancelled')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER,
  last_attempt_at  INTEGER,
  last_status_code INTEGER,
  last_error       TEXT,
  delivered_at     INTEGER,
  -- A lease (token and expiry) is kept by a hold and by a cancel: the attempt in flight
  -- still settles.
  lease_token      TEXT,
  lease_expires_at INTEGER,
  -- When a pending row is due (its lease, if any, is in lease_expires_at); NULL otherwise.
  due_at           INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  history_attempts INTEGER NOT NULL DEFAULT 0,
  first_failed_at  INTEGER,
  recovered_at     INTEGER,
  tenant_id        TEXT
);
INSERT INTO {{prefix}}deliveries (rowid, id, event_id, event_type, subscription_id, status, attempts, next_attempt_at,
    last_attempt_at, last_status_code, last_error, delivered_at, lease_token, lease_expires_at, due_at, created_at, updated_at,
    history_attempts, first_failed_at, recovered_at, tenant_id)
  SELECT row_id, id, event_id, event_type, subscription_id, status, attempts, next_attempt_at,
    last_attempt_at, last_status_code, last_error, delivered_at, lease_token, lease_expires_at, due_at, created_at, updated_at,
    history_attempts, first_failed_at, recovered_at, tenant_id
  FROM temp.{{prefix}}deliveries_0007 ORDER BY row_id;
DROP TABLE temp.{{prefix}}deliveries_0007;

-- The indexes as 0001–0007 left them (the reasons are there).
CREATE INDEX {{prefix}}deliveries_due
  ON {{prefix}}deliveries (due_at, id, subscription_id, lease_expires_at) WHERE status = 'pending';
CREATE UNIQUE INDEX {{prefix}}deliveries_event_subscription
  ON {{prefix}}deliveries (event_id, subscription_id);
CREATE INDEX {{prefix}}deliveries_subscription ON {{prefix}}deliveries (subscription_id, id);
CREATE INDEX {{prefix}}deliveries_status ON {{prefix}}deliveries (status, id);
CREATE INDEX {{prefix}}deliveries_pending_created
  ON {{prefix}}deliveries (created_at) WHERE status = 'pending';
CREATE INDEX {{prefix}}deliveries_subscription_due
  ON {{prefix}}deliveries (subscription_id, due_at, id, created_at, lease_expires_at) WHERE status = 'pending';
CREATE INDEX {{prefix}}deliveries_subscription_held
  ON {{prefix}}deliveries (subscription_id) WHERE status = 'held';
CREATE INDEX {{prefix}}deliveries_tenant ON {{prefix}}deliveries (tenant_id, id);
-- Cancelled rows still under a lease (an attempt was in flight when they were cancelled),
-- by tenant: a tenant's removal waits for them, and a gone instance's leases are given back
-- from here. Few: a settle or a release takes a row out.
CREATE INDEX {{prefix}}deliveries_cancelled_leased
  ON {{prefix}}deliveries (tenant_id, lease_expires_at) WHERE status = 'cancelled' AND lease_token IS NOT NULL;

-- The triggers of 0004, as they were.
CREATE TRIGGER {{prefix}}deliveries_counted_insert AFTER INSERT ON {{prefix}}deliveries BEGIN
  INSERT INTO {{prefix}}delivery_counts (subscription_id, status, n) VALUES (NEW.subscription_id, NEW.status, 1)
    ON CONFLICT (subscription_id, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER {{prefix}}deliveries_counted_delete AFTER DELETE ON {{prefix}}deliveries BEGIN
  UPDATE {{prefix}}delivery_counts SET n = n - 1 WHERE subscription_id = OLD.subscription_id AND status = OLD.status;
END;

CREATE TRIGGER {{prefix}}deliveries_counted_status AFTER UPDATE OF status, subscription_id ON {{prefix}}deliveries
  WHEN OLD.status IS NOT NEW.status OR OLD.subscription_id IS NOT NEW.subscription_id BEGIN
  UPDATE {{prefix}}delivery_counts SET n = n - 1 WHERE subscription_id = OLD.subscription_id AND status = OLD.status;
  INSERT INTO {{prefix}}delivery_counts (subscription_id, status, n) VALUES (NEW.subscription_id, NEW.status, 1)
    ON CONFLICT (subscription_id, status) DO UPDATE SET n = n + 1;
END;
`;
