/**
 * The memory storage's test log (`recordTestAttempt`, `listTestAttempts`): each
 * subscription's test attempts by id, for its page newest first, and every test attempt by
 * (outcome, start time), for retention's oldest first. A subscription's removal takes its log.
 */
import type { RetentionCandidate } from '../shared/retention.js';
import type { TestAttemptRecord } from '../storage-adapter.js';
import { insertById, lowerBound } from './sorted-by-id.js';

/** A test attempt past retention: its record, and the time that put it there (its start). */
export type TestAttemptCandidate = RetentionCandidate & { record: TestAttemptRecord };

/** Orders by start time, then id (the order retention takes them in). */
function startsEarlier(a: TestAttemptRecord, b: TestAttemptRecord): boolean {
  return a.startedAt < b.startedAt || (a.startedAt === b.startedAt && a.id < b.id);
}

/** Inserts in (startedAt, id) order: an append unless the clock went back. */
function insertByStart(sorted: TestAttemptRecord[], record: TestAttemptRecord): void {
  let lo = 0;
  let hi = sorted.length;
  if (hi === 0 || startsEarlier(sorted[hi - 1]!, record)) {
    sorted.push(record);
    return;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (startsEarlier(sorted[mid]!, record)) lo = mid + 1;
    else hi = mid;
  }
  sorted.splice(lo, 0, record);
}

export class TestAttemptLog {
  readonly #ids = new Set<string>();
  /** Each subscription's log, ids ascending. */
  readonly #bySubscription = new Map<string, TestAttemptRecord[]>();
  /** Every record by (startedAt, id), ok ones and failed ones apart: each kind has its cutoff. */
  readonly #byStart = { ok: [] as TestAttemptRecord[], failed: [] as TestAttemptRecord[] };

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** Stores a copy of `record` (its id must be new). */
  add(record: TestAttemptRecord): void {
    const stored = { ...record };
    this.#ids.add(stored.id);
    let log = this.#bySubscription.get(stored.subscriptionId);
    if (log === undefined) {
      log = [];
      this.#bySubscription.set(stored.subscriptionId, log);
    }
    insertById(log, stored);
    insertByStart(stored.ok ? this.#byStart.ok : this.#byStart.failed, stored);
  }

  /** Up to `limit` of the subscription's records below `beforeId` (all when `null`), newest first, as copies; `more` when some are left. */
  page(subscriptionId: string, beforeId: string | null, limit: number): { items: TestAttemptRecord[]; more: boolean } {
    const log = this.#bySubscription.get(subscriptionId) ?? [];
    const end = beforeId === null ? log.length : lowerBound(log, beforeId);
    const start = Math.max(0, end - limit);
    const items = log.slice(start, end).reverse().map((record) => ({ ...record }));
    return { items, more: start > 0 };
  }

  /** Removes a subscription's log; returns how many records went. */
  removeSubscription(subscriptionId: string): number {
    const log = this.#bySubscription.get(subscriptionId);
    if (log === undefined) return 0;
    this.#bySubscription.delete(subscriptionId);
    for (const record of log) this.#ids.delete(record.id);
    const gone = new Set(log);
    this.#byStart.ok = this.#byStart.ok.filter((record) => !gone.has(record));
    this.#byStart.failed = this.#byStart.failed.filter((record) => !gone.has(record));
    return log.length;
  }

  /** The oldest records of one kind that started before `before`, at most `limit`, oldest first. */
  startedBefore(ok: boolean, before: number, limit: number): TestAttemptCandidate[] {
    const found: TestAttemptCandidate[] = [];
    for (const record of ok ? this.#byStart.ok : this.#byStart.failed) {
      if (record.startedAt >= before || found.length === limit) break;
      found.push({ id: record.id, finalAt: record.startedAt, record });
    }
    return found;
  }

  /** Removes records (each the oldest of its kind, as {@link TestAttemptLog.startedBefore} gave them). */
  remove(records: readonly TestAttemptRecord[]): void {
    if (records.length === 0) return;
    const gone = new Set(records);
    const touched = new Set<string>();
    for (const record of records) {
      this.#ids.delete(record.id);
      touched.add(record.subscriptionId);
    }
    // The oldest of each kind lead their list: a prefix goes.
    for (const kind of ['ok', 'failed'] as const) {
      const list = this.#byStart[kind];
      let taken = 0;
      while (taken < list.length && gone.has(list[taken]!)) taken++;
      list.splice(0, taken);
    }
    for (const subscriptionId of touched) {
      const left = this.#bySubscription.get(subscriptionId)!.filter((record) => !gone.has(record));
      if (left.length === 0) this.#bySubscription.delete(subscriptionId);
      else this.#bySubscription.set(subscriptionId, left);
    }
  }
}
