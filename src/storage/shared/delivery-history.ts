/**
 * The rule every adapter applies to a delivery's {@link DeliveryHistory} when it records
 * an attempt: the count goes on across redeliveries, the first failure and the first
 * success after a failure are kept. The memory and SQLite adapters call this function;
 * the PostgreSQL settle statement states the same rule in SQL (the conformance suite
 * holds the three to it).
 */
import type { AttemptOutcome, DeliveryHistory } from '../storage-adapter.js';

/** The history of a delivery that has no attempt yet. */
export const emptyDeliveryHistory: Readonly<DeliveryHistory> = Object.freeze({ attempts: 0, firstFailedAt: null, recoveredAt: null });

/**
 * The history after one more attempt, of outcome `outcome`, started at `startedAt`.
 * Anything but `delivered` is a failed attempt (`disable` too: the receiver answered 410).
 */
export function recordAttemptInHistory(history: DeliveryHistory, outcome: AttemptOutcome, startedAt: number): DeliveryHistory {
  const failed = outcome !== 'delivered';
  return {
    attempts: history.attempts + 1,
    firstFailedAt: failed ? (history.firstFailedAt ?? startedAt) : history.firstFailedAt,
    recoveredAt: !failed && history.firstFailedAt !== null ? (history.recoveredAt ?? startedAt) : history.recoveredAt,
  };
}
