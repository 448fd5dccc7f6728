/**
 * Migration 0012: the subscriptions' test log — one row per signed test request sent to an
 * endpoint outside the retry machinery (`subscriptions.sendTest`, a verified URL change).
 *
 * No foreign key, as the change log of 0008: a hard delete or a tenant's removal takes a
 * subscription's rows explicitly, whether or not the connection enforces foreign keys, and
 * the insert itself checks that the subscription is there. Two indexes:
 * - (subscription_id, id): a subscription's page, newest first, and its removal;
 * - (ok, started_at, id): retention, which takes the oldest ok rows by the delivered cutoff and
 *   the oldest failed ones by the dead cutoff, each from the head of its part of the index.
 *
 * Append-only, like 0001–0011: once released, this text never changes.
 */
export const sql = /* sql */ `
CREATE TABLE {{prefix}}test_attempts (
  id               TEXT    NOT NULL PRIMARY KEY,
  subscription_id  TEXT    NOT NULL,
  tenant_id        TEXT,
  type             TEXT    NOT NULL,
  reason           TEXT    NOT NULL CHECK (reason IN ('test', 'url_change')),
  actor            TEXT,
  url              TEXT    NOT NULL,
  started_at       INTEGER NOT NULL,
  -- Fractional: measured with performance.now().
  duration_ms      REAL    NOT NULL,
  status_code      INTEGER,
  ok               INTEGER NOT NULL CHECK (ok IN (0, 1)),
  error_class      TEXT,
  error            TEXT,
  response_snippet TEXT
);
CREATE INDEX {{prefix}}test_attempts_subscription ON {{prefix}}test_attempts (subscription_id, id);
CREATE INDEX {{prefix}}test_attempts_started ON {{prefix}}test_attempts (ok, started_at, id);
`;
