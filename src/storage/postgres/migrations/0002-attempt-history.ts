/**
 * Migration 0002: a delivery's history across redeliveries.
 *
 * `attempts` counts the attempts of the current cycle (a redelivery restarts it, and with
 * it the retry schedule); the attempt log and the retry success rate need the whole
 * count, the first failure and the first success after one (see
 * storage/shared/delivery-history.ts), which no redelivery resets. None of the three is
 * indexed, so the settle that writes them stays a HOT update.
 *
 * Append-only, like 0001: once released, this text never changes.
 */
export const sql = /* sql */ `
-- Attempts recorded across every cycle: the next attempt's number is this + 1.
ALTER TABLE {{schema}}.deliveries ADD COLUMN history_attempts integer NOT NULL DEFAULT 0;
-- Epoch ms at which the first failed attempt started; NULL while none has failed.
ALTER TABLE {{schema}}.deliveries ADD COLUMN first_failed_at bigint;
-- Epoch ms at which the first successful attempt after a failed one started.
ALTER TABLE {{schema}}.deliveries ADD COLUMN recovered_at bigint;

-- What the log already holds (one pass over the attempts, at migration time).
UPDATE {{schema}}.deliveries AS d SET
  history_attempts = h.n,
  first_failed_at = h.first_failed_at,
  recovered_at = (SELECT min(a.started_at) FROM {{schema}}.attempts AS a
                  WHERE a.delivery_id = d.id AND a.outcome = 'delivered' AND a.started_at >= h.first_failed_at)
FROM (SELECT a.delivery_id, count(*)::integer AS n,
        min(a.started_at) FILTER (WHERE a.outcome <> 'delivered') AS first_failed_at
      FROM {{schema}}.attempts AS a GROUP BY a.delivery_id) AS h
WHERE d.id = h.delivery_id;
`;
