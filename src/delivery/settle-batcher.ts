/**
 * The settle batcher: collects the attempts the dispatcher has made and writes their
 * settlements to storage in batches, because a settle per delivery would make a durable
 * storage pay one commit per webhook. A batch is whatever finished in the same turn of
 * the event loop (and while the previous batch was being written), up to
 * {@link maxSettleBatch}, or fewer when the storage asks for short write transactions
 * (`writeBatchLimit`).
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
  /** Called when a flush ends: the batcher may be idle now. */
  onFlushed: () => void;
}

export class SettleBatcher {
  private readonly queue: CompletedAttempt[] = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;

  constructor(private readonly options: SettleBatcherOptions) {}

  /** Attempts not yet written. */
  get pending(): number {
    return this.queue.length;
  }

  /** True when every attempt added is written (or dropped) and no write is under way. */
  get isIdle(): boolean {
    return this.queue.length === 0 && this.flushing === null;
  }

  /** Queues an attempt's settlement for the next batch. */
  add(attempt: CompletedAttempt): void {
    this.queue.push(attempt);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.flushing !== null) return;
    this.scheduled = true;
    // setImmediate lets every post that completes in this turn join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = this.flush().finally(() => {
        this.flushing = null;
        if (this.queue.length > 0) this.schedule();
        this.options.onFlushed();
      });
    });
  }

  private async flush(): Promise<void> {
    const { storage, clock, logger } = this.options;
    // Set once a refused batch's pause ended with the dispatcher stopping: the next refusal drops.
    let lastTry = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, Math.min(maxSettleBatch, storage.writeBatchLimit?.('settle') ?? maxSettleBatch));
      let results: SettleResult[];
      try {
        results = await storage.settle(
          batch.map((item) => item.settlement),
          clock.now(),
        );
      } catch (error) {
        this.queue.unshift(...batch);
        if (lastTry) {
          logger.warn({ err: error, count: this.queue.length }, 'webhooks: stopped with unsettled attempts; their leases will expire');
          this.queue.length = 0;
          return;
        }
        logger.error({ err: error, count: batch.length }, 'webhooks: settling attempts failed; will retry');
        await new Promise<void>((resolve) => clock.setTimeout(resolve, Math.min(1000, this.options.pollIntervalMs)));
        if (!this.options.abandon()) return;
        // Stopping, nothing in flight: one more write before the attempts are given up, since
        // the storage may be back by now (a storage thread that a stop starts again at once).
        lastTry = true;
        continue;
      }
      await this.options.onSettled(batch, results);
    }
  }
}
