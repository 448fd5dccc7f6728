/**
 * Migration 0008: the subscriptions' test log — one row per signed test request sent to an
 * endpoint outside the retry machinery (`subscriptions.sendTest`, a verified URL change).
 *
 * It goes with its subscription (hard delete, a tenant's removal: ON DELETE CASCADE, as the
 * change log of 0004), and with retention. Two indexes:
 * - (subscription_id, id): a subscription's page, newest first, and the cascade;
 * - (ok, started_at, id): retention, which locks the oldest ok rows by the delivered cutoff and
 *   the oldest failed ones by the dead cutoff, each from the head of its part of the index.
 *
 * A new table: nothing existing is rewritten or locked beyond the subscriptions' reference.
 *
 * Append-only, like 0001–0007: once released, this text never changes.
 */
export const sql = /* sql */ `
CREATE TABLE {{schema}}.test_attempts (
  id               text COLLATE "C" NOT NULL PRIMARY KEY,
  subscription_id  text COLLATE "C" NOT NULL REFERENCES {{schema}}.subscriptions (id) ON DELETE CASCADE,
  tenant_id        text COLLATE "C",
  type             text    NOT NULL,
  reason           text    NOT NULL CHECK (reason IN ('test', 'url_change')),
  actor            text,
  url              text    NOT NULL,
  started_at       bigint  NOT NULL,
  -- Fractional: measured with performance.now().
  duration_ms      double precision NOT NULL,
  status_code      integer,
  ok               boolean NOT NULL,
  error_class      text,
  error            text,
  response_snippet text
);
CREATE INDEX test_attempts_subscription ON {{schema}}.test_attempts (subscription_id, id);
CREATE INDEX test_attempts_started ON {{schema}}.test_attempts (ok, started_at, id);
`;
