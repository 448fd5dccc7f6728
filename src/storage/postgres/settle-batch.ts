/**
 * The JavaScript side of the settle statement: a batch of settlements as the statement's
 * array values, and each settlement's result from the rows it returned — failingSince by
 * shared/settlement.ts's `failingSinceAfter`, in batch order, as the statement applied it.
 */
import type { OutcomeKind } from '../shared/settlement.js';
import { failingSinceAfter } from '../shared/settlement.js';
import type { AttemptErrorClass, SettleResult, Settlement } from '../storage-adapter.js';
import { int, intOrNull, pgText, toDelivery, type SettledRow } from './rows.js';

/** The settle statement's values: the batch as parallel arrays, one per field, then `now`. */
export function settleValues(settlements: Settlement[], now: number): unknown[] {
  const column = <T>(pick: (settlement: Settlement) => T): T[] => settlements.map(pick);
  return [
    column((s) => s.deliveryId),
    column((s) => s.leaseToken),
    column((s) => s.outcome.kind),
    column((s) => (s.outcome.kind === 'retry' ? s.outcome.nextAttemptAt : null)),
    column((s) => (s.outcome.kind === 'disable' ? pgText(s.outcome.reason) : null)),
    column((s) => s.attempt.id),
    column((s) => s.attempt.startedAt),
    column((s) => s.attempt.durationMs),
    column((s) => s.attempt.statusCode),
    column((s) => s.attempt.errorClass),
    column((s) => pgText(s.attempt.errorMessage)),
    column((s) => pgText(s.attempt.responseSnippet)),
    now,
  ];
}

/** Of each subscription with an applied `disable` in the batch, the first one in batch order: the one that reports disabling it. */
export function firstDisables(rows: SettledRow[]): Map<string, SettledRow> {
  const first = new Map<string, SettledRow>();
  for (const row of [...rows].sort((a, b) => int(a.ord) - int(b.ord))) {
    if (row.kind === 'disable' && !first.has(row.subscription_id)) first.set(row.subscription_id, row);
  }
  return first;
}

/**
 * One result per settlement, in order: STORAGE_LEASE_LOST where no row came back (the
 * fence refused it).
 *
 * @param disabledBy the batch ordinals (from 1) whose `disable` disabled their subscription.
 */
export function settleResults(settlements: Settlement[], rows: SettledRow[], disabledBy: ReadonlySet<number>): SettleResult[] {
  const byOrdinal = new Map(rows.map((row) => [int(row.ord), row]));
  const failing = new Map<string, number | null>();
  return settlements.map((settlement, index): SettleResult => {
    const row = byOrdinal.get(index + 1);
    if (row === undefined) return { ok: false, deliveryId: settlement.deliveryId, code: 'STORAGE_LEASE_LOST' };
    const before = failing.has(row.subscription_id) ? failing.get(row.subscription_id)! : intOrNull(row.failing_before);
    const failingSince = failingSinceAfter(before, row.kind as OutcomeKind, int(row.started_at), row.error_class as AttemptErrorClass | null);
    failing.set(row.subscription_id, failingSince);
    return { ok: true, delivery: toDelivery(row), subscriptionDisabled: disabledBy.has(index + 1), failingSince };
  });
}
