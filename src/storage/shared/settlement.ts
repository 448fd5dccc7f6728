/**
 * What settling an attempt does, decided once for every adapter: the status the delivery
 * takes given its outcome and its subscription's state, when it is due next, and how the
 * subscription's `failingSince` moves. Memory and SQLite call these functions; PostgreSQL,
 * which settles a whole batch in one statement, builds its CASE expressions from the same
 * tables (`settledStatusRules`, `failingSinceRules`). The conformance suite holds all three
 * to them.
 */
import type { AttemptErrorClass, DeliveryStatus, SettleOutcome } from '../storage-adapter.js';

export type OutcomeKind = SettleOutcome['kind'];

/** Every outcome kind, in a fixed order (for adapters that enumerate the rules). */
export const outcomeKinds: readonly OutcomeKind[] = Object.freeze(['delivered', 'retry', 'dead', 'disable']);

/**
 * The status a settled delivery takes. `delivered` and `dead` are final. A `retry` waits
 * pending — unless its subscription was disabled while the attempt was in flight: then it is
 * held, and resumes on enable. A `disable` (the receiver answered 410 Gone) disables the
 * subscription and holds the delivery.
 */
export function settledStatus(kind: OutcomeKind, subscriptionActive: boolean): DeliveryStatus {
  switch (kind) {
    case 'delivered':
      return 'delivered';
    case 'dead':
      return 'dead';
    case 'retry':
      return subscriptionActive ? 'pending' : 'held';
    case 'disable':
      return 'held';
  }
}

/** {@link settledStatus} as a table: one row per outcome and subscription state. */
export const settledStatusRules: ReadonlyArray<{ kind: OutcomeKind; subscriptionActive: boolean; status: DeliveryStatus }> = Object.freeze(
  outcomeKinds.flatMap((kind) => [true, false].map((subscriptionActive) => ({ kind, subscriptionActive, status: settledStatus(kind, subscriptionActive) }))),
);

/** The fields of the delivery that the outcome decides, beside the attempt's own record. */
export interface SettledFields {
  status: DeliveryStatus;
  /** When the next attempt is due: the retry's time while pending, otherwise `null`. */
  nextAttemptAt: number | null;
  /** `now` for a delivered one, otherwise `null`. */
  deliveredAt: number | null;
}

/**
 * The status a delivery takes when it was `cancelled` while its attempt was in flight (its
 * subscription soft-deleted or its event expunged): it stays cancelled, unless that attempt
 * delivered it — the receiver has it, and the log says so.
 */
export function settledStatusOfCancelled(kind: OutcomeKind): 'delivered' | 'cancelled' {
  return kind === 'delivered' ? 'delivered' : 'cancelled';
}

/**
 * Whether the attempt keeps its response snippet: not when its delivery was cancelled
 * meanwhile (an expunged event's erasure covers what its receivers answered; a deleted
 * subscription's receiver content is not kept either).
 */
export function keepsResponseSnippet(cancelled: boolean): boolean {
  return !cancelled;
}

/**
 * The `lastError` a settled delivery takes: its attempt's error message — unless it stays
 * `cancelled`, whose `lastError` goes on saying why it was cancelled (the contract's
 * `DeliveryStatus`: `CANCELLED_BY_DELETE` or `CANCELLED_BY_EXPUNGE`); the attempt's own
 * error is in its record.
 */
export function settledLastError(status: DeliveryStatus, attemptError: string | null, current: string | null): string | null {
  return status === 'cancelled' ? current : attemptError;
}

/**
 * @param cancelled the delivery is `cancelled` as the settle finds it (see {@link settledStatusOfCancelled}).
 */
export function settledFields(outcome: SettleOutcome, subscriptionActive: boolean, now: number, cancelled = false): SettledFields {
  const status = cancelled ? settledStatusOfCancelled(outcome.kind) : settledStatus(outcome.kind, subscriptionActive);
  return {
    status,
    nextAttemptAt: status === 'pending' && outcome.kind === 'retry' ? outcome.nextAttemptAt : null,
    deliveredAt: status === 'delivered' ? now : null,
  };
}

/**
 * How an outcome moves the subscription's `failingSince` (the start of its current run of
 * failures, which drives auto-disable): a success `clear`s it; a failed attempt that will be
 * retried or has given up `start`s it at the attempt's start when it is clear; a `disable`
 * `keep`s it (the subscription is disabled by the receiver's own word, not by a run of failures).
 */
export const failingSinceRules: Readonly<Record<OutcomeKind, 'clear' | 'start' | 'keep'>> = Object.freeze({
  delivered: 'clear',
  retry: 'start',
  dead: 'start',
  disable: 'keep',
});

/**
 * The error classes of failed attempts that say nothing of the endpoint, so they `keep`
 * `failingSince` whatever the outcome and move neither its circuit breaker nor its
 * auto-disable: `proxy`, a failure of the host's own egress proxy, and `config`, the
 * sender's own configuration (a secret, a sealed header, a payload or a TLS key that does not
 * open; a failure inside the library). An endpoint must not be auto-disabled because the
 * sender's proxy is down or its `security.secretsKey` is wrong: the attempts are recorded
 * and retried on the schedule all the same.
 */
export const failingSinceNeutralClasses: readonly AttemptErrorClass[] = Object.freeze(['proxy', 'config']);

/** `failingSince` after one settlement; a batch applies this in its order. */
export function failingSinceAfter(current: number | null, kind: OutcomeKind, startedAt: number, errorClass: AttemptErrorClass | null): number | null {
  if (errorClass !== null && failingSinceNeutralClasses.includes(errorClass)) return current;
  switch (failingSinceRules[kind]) {
    case 'clear':
      return null;
    case 'start':
      return current ?? startedAt;
    case 'keep':
      return current;
  }
}

/** The outcome kinds whose rule is `rule` (for a SQL `IN (…)` list). */
export function outcomeKindsWhere(rule: 'clear' | 'start' | 'keep'): OutcomeKind[] {
  return outcomeKinds.filter((kind) => failingSinceRules[kind] === rule);
}
