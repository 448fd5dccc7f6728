/**
 * Sharing SQLite's one write lock with writers on other threads of the same process: the
 * connection of the dispatcher's worker thread (`dispatcher: { thread: 'worker' }`) beside
 * the host's own connections to the same file (its ledger, its publishes).
 *
 * Why. SQLite has no queue for its write lock: a connection that finds it taken runs its
 * busy handler, which (busy_timeout, better-sqlite3's `timeout`) SLEEPS in growing steps —
 * 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms — and tries again. A writer that takes the
 * lock back to back (the worker's claims and settles during a burst) is almost always
 * holding it when the sleeper looks again, so the sleeper's waits grow to tens or hundreds
 * of ms; better-sqlite3 sleeps synchronously, on the host's event loop. Measured with two
 * threads on one file (a 400/s insert loop against claim-and-settle-like transactions of
 * ~2.5 ms back to back): 46 inserts in 4 s, the longest waiting 3.4 s; with a gap after each
 * transaction as long as it held the lock, ~1,100 inserts, p99 8.6 ms.
 *
 * So the connection that shares:
 * - leaves a gap after each of its write transactions, longer than it held the lock
 *   ({@link gapAfterHoldMs}): a writer that started waiting during the hold has waited no
 *   longer than the hold, so its next look comes within that gap, and it gets the lock then.
 *   Only while others write to the file (another connection committed, or held the lock
 *   when we wanted it, within the last {@link pacingWindowMs}): alone on the file, the
 *   dispatcher writes back to back as on the main thread;
 * - keeps each write transaction short while others write: claims and settles are cut into
 *   batches sized to hold the lock about {@link targetHoldMs} (see {@link firstBatch}), so
 *   that a writer that found the lock taken finds it free at its busy handler's first look,
 *   1 ms later, instead of sleeping on through steps that grow (measured in the host-impact
 *   bench: a settle of a few hundred deliveries, batched while the worker waited out a gap,
 *   held the lock 15–30 ms, and the host's inserts behind it waited as long);
 * - never sleeps in SQLite's busy handler (its busy timeout is 0): when the lock is taken it
 *   looks again after a turn of its own event loop, then every millisecond, until its
 *   budget (the host connection's busy timeout) is spent. The host's writes hold the lock
 *   for a fraction of a millisecond, so it gets in at once instead of after a sleep that
 *   grows each time;
 * - checkpoints early while others write ({@link sharedWalBound}), and at its own bound
 *   once alone.
 */
import type Database from 'better-sqlite3';

/**
 * The gap after a write transaction that held the lock `holdMs`: see the module's header. A
 * writer that came during a hold of up to 1 ms looks again at most 1 ms after the hold ended
 * (the busy handler's first step): {@link minGapMs} covers it. One that came during a longer
 * hold is further into its growing steps, and the gap grows with the hold beyond 1 ms.
 */
export function gapAfterHoldMs(holdMs: number): number {
  return Math.min(maxGapMs, minGapMs + gapPerHeldMs * Math.max(0, holdMs - 1));
}

/** The busy handler's first step (1 ms), and a margin for a sleeper woken late by a loaded machine. */
const minGapMs = 1.25;
const gapPerHeldMs = 1.5;
/** A hold longer than this (a rare, large transaction) is not worth a longer pause of the dispatcher. */
const maxGapMs = 50;
/** How long after another connection last wrote the gaps are still left. */
const pacingWindowMs = 1000;
/** After these many looks on the next turn of the event loop, look every millisecond. */
const quickLooks = 3;
/**
 * How long a write transaction should hold the lock while others write: the busy handler's
 * first step (1 ms), so that a writer that came during the hold looks again after it, inside
 * the gap that follows. It is a trade: longer holds raise the dispatch rate and the host's
 * waits with it (in quick host-impact runs with an earlier sizing, a 2 ms target gave the
 * host a p99 2.3× idle and 0.75 ms 0.7×, at a quarter of the 2 ms target's rate).
 */
export const targetHoldMs = 1;
/**
 * The batch size, per kind, follows the holds it gives: it starts at {@link firstBatch}, grows
 * by {@link batchStep} after a full batch that held the lock less than the target, and shrinks
 * by {@link batchCut} after one that held it more than half as long again. Not a cost per item
 * measured and divided: a transaction also pays a fixed cost (its commit), and a hold the
 * thread was preempted in is long whatever its size, so small batches would measure dear and
 * shrink further. It never goes under {@link minBatch}.
 */
export const firstBatch = 16;
const minBatch = 4;
const maxBatch = 500;
const batchStep = 2;
const batchCut = 0.7;

/** The write transactions whose size the connection chooses: the dispatcher's claims and settles. */
export type BatchedWrite = 'claim' | 'settle';

export interface WriteLockSharingOptions {
  /** How long a unit of work keeps looking for the lock before it fails with the busy error. */
  waitMs: number;
  /**
   * Whether another connection committed to the file since the last call (SQLite's
   * `PRAGMA data_version`); asked after each write transaction.
   */
  othersWrote: () => boolean;
  /** Monotonic ms. */
  now?: () => number;
  /** Waits `ms` (0: a turn of the event loop). */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Told when the connection starts sharing (another connection wrote within the last
   * {@link pacingWindowMs}: gaps and short batches from now on) and when it is alone on the
   * file again (`false`), before the write transaction that finds it.
   */
  onSharing?: (sharing: boolean) => void;
}

const defaultSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    if (ms <= 0) setImmediate(resolve);
    else setTimeout(resolve, ms);
  });

export class WriteLockSharing {
  readonly #waitMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #othersWrote: () => boolean;
  readonly #onSharing: (sharing: boolean) => void;
  /** Until this time, gaps are left: another connection wrote shortly before. */
  #pacingUntil = Number.NEGATIVE_INFINITY;
  /** Whether {@link WriteLockSharingOptions.onSharing} was last told `true`. */
  #sharing = false;
  /** Before this time (on {@link #now}) this connection starts no unit of work: the gap after its last write. */
  #nextAt = 0;
  /** The batch size for each kind while others write. */
  readonly #batch = new Map<BatchedWrite, number>();

  constructor(options: WriteLockSharingOptions) {
    this.#waitMs = options.waitMs;
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? defaultSleep;
    this.#othersWrote = options.othersWrote;
    this.#onSharing = options.onSharing ?? (() => undefined);
  }

  /**
   * Runs a write transaction (synchronous) and opens the gap after it. `batch`: a claim or a
   * settle, and how many items it wrote (asked once it ran), whose hold feeds {@link batchLimit}.
   */
  write<T>(transaction: () => T, batch?: { kind: BatchedWrite; items: () => number }): T {
    const start = this.#now();
    this.#notice(start);
    // Sized by batchLimit only while others wrote: a batch of a connection alone says nothing of the sizes to keep.
    const sized = start < this.#pacingUntil;
    // A transaction that failed (the lock taken: it never held it) leaves no gap.
    const result = transaction();
    const end = this.#now();
    if (batch !== undefined && sized) this.#resize(batch.kind, batch.items(), end - start);
    if (this.#othersWrote()) this.#pacingUntil = end + pacingWindowMs;
    this.#notice(end);
    if (end < this.#pacingUntil) this.#nextAt = end + gapAfterHoldMs(end - start);
    return result;
  }

  /** Tells {@link WriteLockSharingOptions.onSharing} when sharing began or ended by `now`. */
  #notice(now: number): void {
    const sharing = now < this.#pacingUntil;
    if (sharing === this.#sharing) return;
    this.#sharing = sharing;
    this.#onSharing(sharing);
  }

  /**
   * The most items the next claim or settle should carry: the size that held the lock about
   * {@link targetHoldMs} so far, while others write to the file; no limit (`null`) while this
   * connection is alone on it.
   */
  batchLimit(kind: BatchedWrite): number | null {
    if (this.#now() >= this.#pacingUntil) return null;
    return this.#batch.get(kind) ?? firstBatch;
  }

  #resize(kind: BatchedWrite, items: number, holdMs: number): void {
    const size = this.#batch.get(kind) ?? firstBatch;
    if (holdMs > targetHoldMs * 1.5) this.#batch.set(kind, Math.max(minBatch, Math.floor(Math.min(size, items) * batchCut)));
    else if (holdMs < targetHoldMs && items >= size) this.#batch.set(kind, Math.min(maxBatch, size + batchStep));
  }

  /**
   * Runs `attempt` once the gap after the last write has passed, again while it fails with
   * an error `busy` accepts, until {@link WriteLockSharingOptions.waitMs} is spent. A read
   * (`writes` false) takes no write lock and does not wait for the gap.
   */
  async run<T>(attempt: () => T, busy: (error: unknown) => boolean, writes = true): Promise<T> {
    let deadline: number | null = null;
    for (let looks = 0; ; ) {
      if (writes) {
        // Looked at right before each attempt, in the same step: another unit of work of this
        // connection that waited too (a claim beside a settle) may have written meanwhile.
        const gap = this.#nextAt - this.#now();
        if (gap > 0) {
          await this.#sleep(gap);
          continue;
        }
      }
      deadline ??= this.#now() + this.#waitMs;
      try {
        return attempt();
      } catch (error) {
        if (!busy(error)) throw error;
        // Another connection holds the lock: it writes to this file.
        const now = this.#now();
        this.#pacingUntil = now + pacingWindowMs;
        this.#notice(now);
        if (now >= deadline) throw error;
      }
      await this.#sleep(looks < quickLooks ? 0 : 1);
      looks++;
    }
  }
}

/** What {@link SqliteStorage.shareWriteLock} takes beside its wait. */
export interface SharingSettings extends Pick<WriteLockSharingOptions, 'now' | 'sleep'> {
  walAutocheckpointBytesWhileShared?: number;
}

/**
 * The connection's `wal_autocheckpoint` while it shares the file, and back to its own when it
 * is alone: commits that checkpoint early keep the log under another connection's bound, so
 * that connection's commits (the host's ledger, on its event loop) do not copy this one's
 * pages; alone, early checkpoints would only copy the same hot pages again and again (measured
 * with the dispatcher's worker alone on its file: 1 MiB against the host's 64 MiB bound cost
 * ~10 % of its rate, 0.85× against 0.95× in-thread). `undefined` bytes: no change; a bound of
 * 0 (automatic checkpoints off) stays off.
 */
export function sharedWalBound(db: Database.Database, bytes: number | undefined): ((sharing: boolean) => void) | undefined {
  const own = db.pragma('wal_autocheckpoint', { simple: true }) as number;
  if (bytes === undefined || own === 0) return undefined;
  const shared = Math.min(own, Math.max(1, Math.floor(bytes / (db.pragma('page_size', { simple: true }) as number))));
  return (sharing) => {
    db.pragma(`wal_autocheckpoint = ${sharing ? shared : own}`);
  };
}
