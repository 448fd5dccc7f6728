/**
 * Migration 0005: a delivery's history across redeliveries.
 *
 * `attempts` counts the attempts of the current cycle (a redelivery restarts it, and with
 * it the retry schedule); the attempt log and the retry success rate need the whole
 * count, the first failure and the first success after one (see
 * storage/shared/delivery-history.ts), which no redelivery resets.
 *
 * Append-only, like 0001–0004: once released, this text never changes.
 */
export const sql = /* sql */ `
-- Attempts recorded across every cycle: the next attempt's number is this + 1.
ALTER TABLE {{prefix}}deliveries ADD COLUMN history_attempts INTEGER NOT NULL DEFAULT 0;
-- Epoch ms at which the first failed attempt started; NULL while none has failed.
ALTER TABLE {{prefix}}deliveries ADD COLUMN first_failed_at INTEGER;
-- Epoch ms at which the first successful attempt after a failed one started.
ALTER TABLE {{prefix}}deliveries ADD COLUMN recovered_at INTEGER;

-- What the log already holds (one pass, at migration time, through attempts_delivery).
UPDATE {{prefix}}deliveries SET
  history_attempts = (SELECT COUNT(*) FROM {{prefix}}attempts a WHERE a.delivery_id = {{prefix}}deliveries.id),
  first_failed_at = (SELECT MIN(a.started_at) FROM {{prefix}}attempts a
                     WHERE a.delivery_id = {{prefix}}deliveries.id AND a.outcome <> 'delivered')
WHERE last_attempt_at IS NOT NULL;
UPDATE {{prefix}}deliveries SET
  recovered_at = (SELECT MIN(a.started_at) FROM {{prefix}}attempts a
                  WHERE a.delivery_id = {{prefix}}deliveries.id AND a.outcome = 'delivered'
                    AND a.started_at >= {{prefix}}deliveries.first_failed_at)
WHERE first_failed_at IS NOT NULL;
`;
