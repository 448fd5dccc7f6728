/**
 * Migration 0004: deliveries counted by subscription and status, kept by triggers.
 *
 * Until 0003, `stats()` counted rows: `delivered` and `dead` walked every final row of the
 * delivery log, ~60 ns each, on the host's event loop (better-sqlite3 is synchronous).
 * With ten million delivered rows kept until purge, each `metrics()` call or collection
 * of the OpenTelemetry backlog gauges blocked the process for over half a second. The
 * counts now live in a table of one row per (subscription, status), which triggers on the
 * deliveries table keep exact in the same transaction as every write — enqueue, settle,
 * hold and resume, replay, redeliver, purge and deletion alike, and a host transaction's
 * rollback undoes them with the rows. `stats()` reads them in O(subscriptions); what it
 * still reads from indexes is `leased` (live leases, a walk of the pending entries) and
 * the oldest pending delivery (the head of an index).
 *
 * Append-only, like 0001–0003: once released, this text never changes.
 */
export const sql = /* sql */ `
CREATE TABLE {{prefix}}delivery_counts (
  subscription_id TEXT    NOT NULL,
  status          TEXT    NOT NULL,
  n               INTEGER NOT NULL,
  PRIMARY KEY (subscription_id, status)
) WITHOUT ROWID;

-- The counts of what is stored already (one walk, at migration time).
INSERT INTO {{prefix}}delivery_counts (subscription_id, status, n)
  SELECT subscription_id, status, COUNT(*) FROM {{prefix}}deliveries GROUP BY subscription_id, status;

CREATE TRIGGER {{prefix}}deliveries_counted_insert AFTER INSERT ON {{prefix}}deliveries BEGIN
  INSERT INTO {{prefix}}delivery_counts (subscription_id, status, n) VALUES (NEW.subscription_id, NEW.status, 1)
    ON CONFLICT (subscription_id, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER {{prefix}}deliveries_counted_delete AFTER DELETE ON {{prefix}}deliveries BEGIN
  UPDATE {{prefix}}delivery_counts SET n = n - 1 WHERE subscription_id = OLD.subscription_id AND status = OLD.status;
END;

-- A settle writes status on every row; only a change moves a count.
CREATE TRIGGER {{prefix}}deliveries_counted_status AFTER UPDATE OF status, subscription_id ON {{prefix}}deliveries
  WHEN OLD.status IS NOT NEW.status OR OLD.subscription_id IS NOT NEW.subscription_id BEGIN
  UPDATE {{prefix}}delivery_counts SET n = n - 1 WHERE subscription_id = OLD.subscription_id AND status = OLD.status;
  INSERT INTO {{prefix}}delivery_counts (subscription_id, status, n) VALUES (NEW.subscription_id, NEW.status, 1)
    ON CONFLICT (subscription_id, status) DO UPDATE SET n = n + 1;
END;

-- A deleted subscription has no deliveries left (they go first); its rows of zeros go with it.
CREATE TRIGGER {{prefix}}subscriptions_counted_delete AFTER DELETE ON {{prefix}}subscriptions BEGIN
  DELETE FROM {{prefix}}delivery_counts WHERE subscription_id = OLD.id;
END;
`;
