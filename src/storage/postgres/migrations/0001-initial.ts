/**
 * Migration 0001: the initial schema of the PostgreSQL storage.
 *
 * Append-only: once released, this text never changes; a later change to the
 * schema is a new numbered module. `{{schema}}` is replaced by the validated,
 * double-quoted schema name (default `"webhooks"`), so the tables live in their
 * own schema beside the host's ledger.
 *
 * Conventions, and why:
 * - Times are `bigint` epoch milliseconds, like the storage contract. Schedules
 *   (`next_attempt_at`, `created_at`, …) come from the caller's injected clock;
 *   `lease_expires_at` alone comes from the database's clock (see postgres-storage.ts).
 * - Ids are `text COLLATE "C"`: they are time-sortable ULIDs (src/ids.ts), and the
 *   byte-order collation makes `ORDER BY id` agree with JavaScript's `<` whatever
 *   the database's default locale, and keeps comparisons cheap.
 * - Structured fields are `jsonb`, so an operator can query them
 *   (`metadata->>'tenant'`); `payload` is `text`, the exact bytes every attempt posts.
 * - Children reference their parents `ON DELETE CASCADE` from the subscription down,
 *   so deleting a subscription is one statement; events are never cascaded (purge
 *   removes only events no delivery points at).
 */
/** The statements of migration 0001, with `{{schema}}` where the quoted schema name goes. */
export const sql = /* sql */ `
CREATE TABLE {{schema}}.subscriptions (
  id              text COLLATE "C" NOT NULL PRIMARY KEY,
  url             text   NOT NULL,
  -- The filters as given (order and all); fan-out reads subscription_event_types.
  event_types     jsonb  NOT NULL,
  -- Array of { value, createdAt, expiresAt }. Each value is an opaque string (a
  -- whsec_… secret or a sealed form), so encryption at rest needs no schema change.
  secrets         jsonb  NOT NULL,
  headers         jsonb  NOT NULL,
  description     text,
  metadata        jsonb  NOT NULL,
  status          text   NOT NULL CHECK (status IN ('active', 'disabled')),
  disabled_reason text,
  disabled_at     bigint,
  retry           jsonb,
  -- Per-subscription flow control (concurrency cap, rate, burst), overriding the defaults.
  flow_control    jsonb,
  -- Epoch ms of the first failed attempt since the last success; NULL while healthy.
  -- Written by settle only when it changes, so a healthy subscription's row is not
  -- rewritten by every batch.
  failing_since   bigint,
  created_at      bigint NOT NULL,
  updated_at      bigint NOT NULL
);

-- One row per (filter, subscription): publish looks up the handful of filters that
-- can match a type ('*', the type, each 'prefix.*') through the primary key, so
-- fan-out costs O(matching subscriptions), not O(subscriptions).
CREATE TABLE {{schema}}.subscription_event_types (
  filter          text COLLATE "C" NOT NULL,
  subscription_id text COLLATE "C" NOT NULL REFERENCES {{schema}}.subscriptions (id) ON DELETE CASCADE,
  PRIMARY KEY (filter, subscription_id)
);
CREATE INDEX subscription_event_types_subscription
  ON {{schema}}.subscription_event_types (subscription_id);

CREATE TABLE {{schema}}.events (
  id              text COLLATE "C" NOT NULL PRIMARY KEY,
  type            text   NOT NULL,
  published_at    bigint NOT NULL,
  payload         text   NOT NULL,
  -- UNIQUE: the idempotency of publish. NULLs never conflict, so events without a key are free.
  idempotency_key text UNIQUE
);
-- Replay windows and purge.
CREATE INDEX events_published_at ON {{schema}}.events (published_at);

CREATE TABLE {{schema}}.deliveries (
  id               text COLLATE "C" NOT NULL PRIMARY KEY,
  event_id         text COLLATE "C" NOT NULL REFERENCES {{schema}}.events (id),
  event_type       text   NOT NULL,
  subscription_id  text COLLATE "C" NOT NULL REFERENCES {{schema}}.subscriptions (id) ON DELETE CASCADE,
  status           text   NOT NULL CHECK (status IN ('pending', 'held', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  bigint,
  last_attempt_at  bigint,
  last_status_code integer,
  last_error       text,
  delivered_at     bigint,
  lease_token      text,
  -- Epoch ms by the DATABASE clock: clock skew between hosts cannot shorten a lease.
  lease_expires_at bigint,
  created_at       bigint NOT NULL,
  updated_at       bigint NOT NULL,
  -- next_attempt_at is set exactly on pending rows (the contract says so); the claim
  -- index below relies on it.
  CONSTRAINT deliveries_next_attempt_iff_pending CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
)
-- Room on each page for HOT updates: a claim changes no indexed column (only the lease
-- columns), so where its page has room PostgreSQL writes the new row version beside the
-- old one and adds no entry to any of the seven indexes. Measured on a claim of 25 rows:
-- ~5 KB of WAL instead of ~21 KB, and half the execution time. The claim is half the
-- writes a delivery costs; settling (which moves the row out of the due index) cannot be HOT.
WITH (fillfactor = 70);
-- The claim index: partial, so it holds only pending rows (next_attempt_at IS NOT NULL,
-- by the CHECK above), in the order they fall due. A claim reads it from the head and
-- stops after \`limit\` claimable rows: O(limit + rows in flight) however large the
-- backlog (delivered and dead history is not in it at all). Rows under a live lease keep
-- their place at the head — moving them would make the claim's update touch this index
-- and lose HOT — so a claim steps over the deliveries in flight, at most the sum of the
-- dispatchers' concurrency (plus, until their leases expire, those of a crashed one).
-- The predicate is next_attempt_at IS NOT NULL rather than status = 'pending' on
-- purpose: a claim then needs no status clause (\`next_attempt_at <= x\` implies it), and
-- the planner's row estimate is not the product of two perfectly correlated selectivities
-- (status = 'pending' times next_attempt_at <= x), which made it prefer reading every
-- pending row and sorting them over reading this index in order up to the limit.
CREATE INDEX deliveries_due
  ON {{schema}}.deliveries (next_attempt_at, id) WHERE next_attempt_at IS NOT NULL;
-- The same order per subscription: a claim that must skip some subscriptions (the
-- dispatcher's flow control) takes the head of each other subscription from here
-- instead of walking over the skipped ones' backlog in deliveries_due.
CREATE INDEX deliveries_subscription_due
  ON {{schema}}.deliveries (subscription_id, next_attempt_at, id) WHERE next_attempt_at IS NOT NULL;
-- One delivery per event and subscription; also the per-event lookup (replay, purge).
CREATE UNIQUE INDEX deliveries_event_subscription
  ON {{schema}}.deliveries (event_id, subscription_id);
-- The delivery log by subscription and by status, newest first (ids are time-sortable);
-- the first also serves the cascade when a subscription is deleted.
CREATE INDEX deliveries_subscription ON {{schema}}.deliveries (subscription_id, id);
CREATE INDEX deliveries_status ON {{schema}}.deliveries (status, id);
-- stats(): the age of the oldest pending delivery without a scan.
CREATE INDEX deliveries_pending_created
  ON {{schema}}.deliveries (created_at) WHERE next_attempt_at IS NOT NULL;

CREATE TABLE {{schema}}.attempts (
  id                text COLLATE "C" NOT NULL PRIMARY KEY,
  delivery_id       text COLLATE "C" NOT NULL REFERENCES {{schema}}.deliveries (id) ON DELETE CASCADE,
  attempt_number    integer NOT NULL,
  started_at        bigint  NOT NULL,
  -- Fractional: the dispatcher measures with performance.now().
  duration_ms       double precision NOT NULL,
  status_code       integer,
  error_class       text,
  error_message     text,
  response_snippet  text,
  outcome           text    NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead', 'disable')),
  next_attempt_at   bigint
);
-- listAttempts (oldest first) and the cascade from deliveries.
CREATE INDEX attempts_delivery ON {{schema}}.attempts (delivery_id, started_at, id);
`;
