/**
 * The retention rules, decided once for every adapter (`purgeRetention`):
 *
 * - **which deliveries** are past retention: a final one (delivered, dead, cancelled) whose
 *   status's cutoff is not `null` and that became final (`updatedAt`; for a delivered one,
 *   its `deliveredAt`) before it ({@link retentionCutoffs}); pending and held ones never;
 * - **which of them a batch takes**: the oldest across the statuses, at most `limit`; each
 *   adapter reads up to `limit + 1` of each status from its index, so that the one left over
 *   tells whether another batch has work ({@link oldestOfStatuses}).
 *
 * Events go once no delivery of theirs is left; the adapters check that in their own query.
 *
 * Test attempts (a subscription's test log) stand beside the deliveries: an ok one goes by the
 * delivered cutoff, a failed one by the dead cutoff, each by the time it started
 * ({@link testAttemptCutoffs}); a batch takes at most `limit` of them, the oldest of the two
 * kinds, chosen as the deliveries are ({@link oldestOfStatuses}).
 */
import type { PurgeRetentionInput } from '../storage-adapter.js';

/** The statuses retention removes, each with the input's cutoff that applies to it. */
export const retentionStatuses = Object.freeze([
  { status: 'delivered', cutoff: 'deliveredBefore' },
  { status: 'dead', cutoff: 'deadBefore' },
  { status: 'cancelled', cutoff: 'deadBefore' },
] as const);

export type RetentionStatus = (typeof retentionStatuses)[number]['status'];

/** The statuses whose deliveries may go in this batch, with the time they must have become final before. */
export function retentionCutoffs(input: PurgeRetentionInput): Array<{ status: RetentionStatus; before: number }> {
  const cutoffs: Array<{ status: RetentionStatus; before: number }> = [];
  for (const { status, cutoff } of retentionStatuses) {
    const before = input[cutoff];
    if (before !== null) cutoffs.push({ status, before });
  }
  return cutoffs;
}

/** A delivery past retention: its id and the time it became final. */
export interface RetentionCandidate {
  id: string;
  finalAt: number;
}

/**
 * The oldest `limit` of the candidates (each status's list holds up to `limit + 1`, oldest
 * first), and whether any is left over for another batch.
 */
export function oldestOfStatuses<C extends RetentionCandidate>(lists: readonly C[][], limit: number): { doomed: C[]; more: boolean } {
  const all = lists.flat().sort((a, b) => a.finalAt - b.finalAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { doomed: all.slice(0, limit), more: all.length > limit };
}


/** The kinds of test attempts retention removes, each with the input's cutoff that applies to it. */
export const testAttemptRetention = Object.freeze([
  { ok: true, cutoff: 'deliveredBefore' },
  { ok: false, cutoff: 'deadBefore' },
] as const);

/** The kinds of test attempts (ok or not) that may go in this batch, with the time they must have started before. */
export function testAttemptCutoffs(input: PurgeRetentionInput): Array<{ ok: boolean; before: number }> {
  const cutoffs: Array<{ ok: boolean; before: number }> = [];
  for (const { ok, cutoff } of testAttemptRetention) {
    const before = input[cutoff];
    if (before !== null) cutoffs.push({ ok, before });
  }
  return cutoffs;
}
