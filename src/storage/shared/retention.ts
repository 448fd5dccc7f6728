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
import { ValidationError, describeValue } from '../../errors.js';
import type { PurgeInput, PurgeRetentionInput } from '../storage-adapter.js';

/** Throws `INPUT_INVALID` naming `field` unless `value` is epoch ms: a safe integer (or `null` where `nullable`). */
function requireEpochMs(value: unknown, field: string, nullable: boolean): void {
  if (Number.isSafeInteger(value) || (nullable && value === null)) return;
  const got = value instanceof Date ? `a Date (${describeValue(value)}; pass its getTime())` : describeValue(value);
  throw new ValidationError('INPUT_INVALID', `Expected \`${field}\` to be epoch ms (an integer${nullable ? ' or null' : ''}), got ${got}`, { field });
}

/**
 * Checks `purge`'s input before any adapter reads it. A cutoff that is not epoch ms was read
 * three ways: SQLite compared its integers with a string (an ISO date) as smaller than any
 * text, and removed every final delivery, finished event and test request whatever its age;
 * memory removed nothing; PostgreSQL failed with `STORAGE_FAILED`.
 * @throws ValidationError `INPUT_INVALID` naming `olderThan`.
 */
export function checkPurgeInput(input: PurgeInput): void {
  if (typeof input !== 'object' || input === null) {
    throw new ValidationError('INPUT_INVALID', `Expected \`{ olderThan }\`, got ${describeValue(input)}`, { field: 'olderThan' });
  }
  requireEpochMs(input.olderThan, 'olderThan', false);
}

/**
 * Checks a retention batch's input before any adapter reads it, as the memory storage always
 * did for `limit`: the SQL storages answered a `limit` of 0 with an empty batch and `more:
 * false` (nothing past retention, as far as the caller could tell), and a fractional or NaN
 * `limit` or cutoff with `STORAGE_FAILED`.
 * @throws ValidationError `INPUT_INVALID` naming the field.
 */
export function checkPurgeRetentionInput(input: PurgeRetentionInput): void {
  if (typeof input !== 'object' || input === null) {
    throw new ValidationError('INPUT_INVALID', `Expected a retention batch's input, got ${describeValue(input)}`, { field: 'input' });
  }
  if (!Number.isSafeInteger(input.limit) || input.limit < 1) {
    throw new ValidationError('INPUT_INVALID', `Expected \`limit\` to be an integer ≥ 1, got ${describeValue(input.limit)}`, { field: 'limit' });
  }
  for (const field of ['deliveredBefore', 'deadBefore', 'eventsBefore'] as const) requireEpochMs(input[field], field, true);
  requireEpochMs(input.now, 'now', false);
}

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
