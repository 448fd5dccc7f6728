/**
 * Migration 0001: the initial schema of the SQLite storage.
 *
 * Append-only: once released, this text never changes; a later change to the
 * schema is a new numbered module. `{{prefix}}` is replaced by the validated
 * `tablePrefix` (default `webhook_`), so the tables live beside the host's own.
 *
 * Conventions: times are INTEGER epoch milliseconds, ids are TEXT (time-sortable,
 * see src/ids.ts), structured fields are JSON TEXT.
 */
export const sql = /* sql */ `
CREATE TABLE {{prefix}}subscriptions (
  id              TEXT    NOT NULL PRIMARY KEY,
  url             TEXT    NOT NULL,
  -- The filters as given (order and all); fan-out reads {{prefix}}subscription_event_types.
  event_types     TEXT    NOT NULL,
  -- JSON array of { value, createdAt, expiresAt }. Each value is an opaque string
  -- (a whsec_… secret or a sealed form), so encryption at rest needs no schema change.
  secrets         TEXT    NOT NULL,
  headers         TEXT    NOT NULL,
  description     TEXT,
  metadata        TEXT    NOT NULL,
  status          TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
  disabled_reason TEXT,
  disabled_at     INTEGER,
  retry           TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);

-- One row per (filter, subscription): publish looks up the handful of filters that
-- can match a type ('*', the type, each 'prefix.*') through the primary key, so
-- fan-out costs O(matching subscriptions), not O(subscriptions).
CREATE TABLE {{prefix}}subscription_event_types (
  filter          TEXT    NOT NULL,
  subscription_id TEXT    NOT NULL REFERENCES {{prefix}}subscriptions (id),
  PRIMARY KEY (filter, subscription_id)
) WITHOUT ROWID;
CREATE INDEX {{prefix}}subscription_event_types_subscription
  ON {{prefix}}subscription_event_types (subscription_id);

CREATE TABLE {{prefix}}events (
  id              TEXT    NOT NULL PRIMARY KEY,
  type            TEXT    NOT NULL,
  published_at    INTEGER NOT NULL,
  payload         TEXT    NOT NULL,
  idempotency_key TEXT    UNIQUE
);
-- Replay windows and purge.
CREATE INDEX {{prefix}}events_published_at ON {{prefix}}events (published_at);

CREATE TABLE {{prefix}}deliveries (
  id               TEXT    NOT NULL PRIMARY KEY,
  event_id         TEXT    NOT NULL REFERENCES {{prefix}}events (id),
  event_type       TEXT    NOT NULL,
  subscription_id  TEXT    NOT NULL REFERENCES {{prefix}}subscriptions (id),
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'held', 'delivered', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER,
  last_attempt_at  INTEGER,
  last_status_code INTEGER,
  last_error       TEXT,
  delivered_at     INTEGER,
  lease_token      TEXT,
  lease_expires_at INTEGER,
  -- When the row next becomes claimable: next_attempt_at while unleased, the lease
  -- expiry while leased; NULL unless pending. Kept apart from next_attempt_at so
  -- that rows under a lease sit at their expiry in the due index below instead of
  -- at its head, where every claim would have to step over them.
  due_at           INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
-- The claim index: partial, so it holds only pending rows, ordered by claimability.
-- A claim reads the first \`limit\` entries with due_at <= now: O(limit) however large
-- the backlog. Queries must spell \`status = 'pending'\` literally for the planner to use it.
CREATE INDEX {{prefix}}deliveries_due
  ON {{prefix}}deliveries (due_at, id) WHERE status = 'pending';
-- One delivery per event and subscription; also the per-event lookup (replay, purge).
CREATE UNIQUE INDEX {{prefix}}deliveries_event_subscription
  ON {{prefix}}deliveries (event_id, subscription_id);
-- The delivery log by subscription and by status, newest first (ids are time-sortable).
CREATE INDEX {{prefix}}deliveries_subscription ON {{prefix}}deliveries (subscription_id, id);
CREATE INDEX {{prefix}}deliveries_status ON {{prefix}}deliveries (status, id);
-- stats(): the age of the oldest pending delivery without a scan.
CREATE INDEX {{prefix}}deliveries_pending_created
  ON {{prefix}}deliveries (created_at) WHERE status = 'pending';

CREATE TABLE {{prefix}}attempts (
  id                TEXT    NOT NULL PRIMARY KEY,
  delivery_id       TEXT    NOT NULL REFERENCES {{prefix}}deliveries (id),
  attempt_number    INTEGER NOT NULL,
  started_at        INTEGER NOT NULL,
  duration_ms       INTEGER NOT NULL,
  status_code       INTEGER,
  error_class       TEXT,
  error_message     TEXT,
  response_snippet  TEXT,
  outcome           TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead', 'disable')),
  next_attempt_at   INTEGER
);
CREATE INDEX {{prefix}}attempts_delivery ON {{prefix}}attempts (delivery_id, started_at);
`;
