/**
 * The settle batcher: collects the attempts the dispatcher has made and writes their
 * settlements to storage in batches, because a settle per delivery would make a durable
 * storage pay one commit per webhook. A batch is whatever finished in the same turn of
 * the event loop (and while the previous batch was being written), up to
 * {@link maxSettleBatch}, or fewer when the storage asks for short write transactions
 * (`writeBatchLimit`).
 *
 * One batch is written at a time, with one exception, for a storage that takes concurrent
 * writes (`writeConcurrency`, PostgreSQL): while a batch of deliveries that were all
 * delivered is written, the next such batch may be written beside it when it settles an
 * ordered delivery. A key's next delivery becomes due only once its head's settle commits,
 * so there the settle's latency is the key's pace (a keyed settle is a transaction of several
 * statements); unordered settles gate nothing and stay one at a time, in larger batches.
 * Only `delivered` outcomes overlap: they all clear the subscription's `failingSince`, so
 * their order does not matter, where a retry's or a death's sets it and must not commit
 * before a later delivery's clear (a batch is always the head of the queue: nothing is
 * written ahead of an older attempt).
 *
 * A batch the storage refuses is kept and written again after a pause; if the storage
 * stays down the leases expire and the deliveries are sent again (at-least-once, never
 * lost).
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { SettleResult } from '../storage/storage-adapter.js';
import type { DispatchStorage } from './dispatch-storage.js';
import type { CompletedAttempt } from './attempt-delivery.js';

/** Settles written in one storage call at most. */
export const maxSettleBatch = 500;

export interface SettleBatcherOptions {
  storage: DispatchStorage;
  clock: Clock;
  logger: Logger;
  /** Bounds the pause before a refused batch is written again (at most 1 s). */
  pollIntervalMs: number;
  /** Called with each batch written and the storage's result for each of its attempts, in order. */
  onSettled: (batch: readonly CompletedAttempt[], results: readonly SettleResult[]) => Promise<void>;
  /**
   * Asked after a refused batch's pause: `true` (the dispatcher is stopping and nothing is
   * in flight) makes that batch's next write the last: if it is refused too, every attempt
   * not yet written is dropped; their leases expire and the deliveries are retried.
   */
  abandon: () => boolean;
  /** Called when a write ends: the batcher may be idle now. */
  onFlushed: () => void;
}

/** A batch being written: whether another may be written beside it (all its outcomes `delivered`). */
interface Write {
  readonly overlaps: boolean;
}

export class SettleBatcher {
  private readonly queue: CompletedAttempt[] = [];
  private readonly writing = new Set<Write>();
  private scheduled = false;
  /** A refused batch's pause is under way: nothing is written until it ends. */
  private paused = false;
  /** A refused batch's pause ended with the dispatcher stopping: the next refusal drops everything. */
  private lastTry = false;
  /** The queue's head run of `delivered` attempts: its length, and how many of them are ordered. */
  private deliveredRun = 0;
  private orderedInRun = 0;

  constructor(private readonly options: SettleBatcherOptions) {}

  /** Attempts not yet written. */
  get pending(): number {
    return this.queue.length;
  }

  /** True when every attempt added is written (or dropped) and no write is under way. */
  get isIdle(): boolean {
    return this.queue.length === 0 && this.writing.size === 0 && !this.paused;
  }

  /** Queues an attempt's settlement for the next batch. */
  add(attempt: CompletedAttempt): void {
    this.queue.push(attempt);
    if (this.deliveredRun === this.queue.length - 1 && attempt.settlement.outcome.kind === 'delivered') {
      this.deliveredRun++;
      if (isOrdered(attempt)) this.orderedInRun++;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.paused || this.queue.length === 0 || !this.mayStart()) return;
    this.scheduled = true;
    // setImmediate lets every post that completes in this turn join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.startWrites();
    });
  }

  /** Whether a write may start now, by the rule in the module comment. */
  private mayStart(): boolean {
    if (this.writing.size === 0) return true;
    if (this.orderedInRun === 0) return false;
    const concurrency = this.options.storage.writeConcurrency?.('settle') ?? 1;
    if (this.writing.size >= concurrency) return false;
    for (const write of this.writing) if (!write.overlaps) return false;
    return true;
  }

  private startWrites(): void {
    while (!this.paused && this.queue.length > 0 && this.mayStart()) void this.write(this.takeBatch());
  }

  /**
   * The head of the queue, up to the batch size. Beside another write (mayStart said yes: the
   * head run of `delivered` attempts holds an ordered one), only that run.
   */
  private takeBatch(): CompletedAttempt[] {
    const { storage } = this.options;
    const size = Math.min(maxSettleBatch, storage.writeBatchLimit?.('settle') ?? maxSettleBatch);
    return this.take(this.writing.size === 0 ? size : Math.min(size, this.deliveredRun));
  }

  /** Takes `count` attempts from the head of the queue and measures the new head run. */
  private take(count: number): CompletedAttempt[] {
    const batch = this.queue.splice(0, count);
    this.measureRun();
    return batch;
  }

  private measureRun(): void {
    let run = 0;
    let ordered = 0;
    while (run < this.queue.length && this.queue[run]!.settlement.outcome.kind === 'delivered') {
      if (isOrdered(this.queue[run]!)) ordered++;
      run++;
    }
    this.deliveredRun = run;
    this.orderedInRun = ordered;
  }

  private async write(batch: CompletedAttempt[]): Promise<void> {
    const { storage, clock, logger } = this.options;
    const write: Write = { overlaps: batch.every((item) => item.settlement.outcome.kind === 'delivered') };
    this.writing.add(write);
    try {
      let results: SettleResult[];
      try {
        results = await storage.settle(
          batch.map((item) => item.settlement),
          clock.now(),
        );
      } catch (error) {
        this.queue.unshift(...batch);
        this.measureRun();
        if (this.lastTry) {
          logger.warn({ err: error, count: this.queue.length }, 'webhooks: stopped with unsettled attempts; their leases will expire');
          this.take(this.queue.length);
          return;
        }
        logger.error({ err: error, count: batch.length }, 'webhooks: settling attempts failed; will retry');
        await this.pause();
        return;
      }
      await this.options.onSettled(batch, results);
    } finally {
      this.writing.delete(write);
      if (this.isIdle) this.lastTry = false;
      // The next batch goes at once, as in one loop: what finished during this write is in it.
      this.startWrites();
      this.options.onFlushed();
    }
  }

  /** Waits out a refused batch's pause (no write starts meanwhile), then says whether the next write is the last try. */
  private async pause(): Promise<void> {
    if (this.paused) return;
    this.paused = true;
    try {
      await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, Math.min(1000, this.options.pollIntervalMs)));
    } finally {
      this.paused = false;
    }
    // Stopping, nothing in flight: one more write before the attempts are given up, since
    // the storage may be back by now (a storage thread that a stop starts again at once).
    if (this.options.abandon()) this.lastTry = true;
  }
}

/** An ordered delivery's attempt: the key's next delivery waits for its settle. */
function isOrdered(attempt: CompletedAttempt): boolean {
  return typeof attempt.settlement.orderingKey === 'string';
}
