/**
 * The retention task: while the instance is started, it removes what is past retention
 * (`storage.purgeRetention`, one bounded batch per call) in runs `intervalMs` apart on the
 * injected clock. A run takes batches until the storage has nothing more past retention,
 * or until it has used its budget — {@link runBudgetMs} of the process's time in batches,
 * measured with `performance.now()` (the budget bounds the time taken from the host's event
 * loop, which the injected clock does not measure), or {@link maxBatchesPerRun} batches —
 * and leaves the rest for the next run.
 *
 * The task takes at most about a twentieth of the process's time, inside a run as between
 * runs: after each batch that leaves rows past retention it waits {@link batchPauseFactor}
 * times that batch's own time before the next. A batch on SQLite holds the event loop for
 * its whole transaction (~9–14 ms for 500 deliveries with their attempts and events), so a
 * run of back-to-back batches stalled a dispatch burst for its whole budget. Bench section
 * `retention` (trials of 20,000 deliveries, SQLite): back to back, 0.81–0.87× the dispatch
 * rate without retention, 0.06–0.07× with runs 10 ms apart; paced at a twentieth,
 * 0.95–0.96× and 0.87–0.93× (at a tenth, 0.82× in trials of 5,000). That still removed
 * ~13,000 rows a second on SQLite while behind, 56× what 10 M attempts a day bring; with the
 * batch sizing below, ~5,900 (25×), dispatch beside it 0.97× and 0.98×.
 *
 * Each batch is also sized to hold the event loop about {@link targetBatchHoldMs} (see
 * {@link nextBatchLimit}): `batchSize` deliveries where a batch costs the loop little
 * (PostgreSQL sends statements and waits), ~100–200 on SQLite, where 500 held it 8–12 ms
 * and stalled a host's requests that long every ~200 ms while behind. At the same twentieth
 * of the loop, shorter stalls hold each request they catch for less.
 *
 * A run that stopped on its budget with rows still past retention is behind: the next one
 * comes after the same pause, at least {@link minCatchUpPauseMs} and at most `intervalMs`,
 * instead of `intervalMs`. A failed batch is logged and ends the run; the next run tries
 * again after `intervalMs`. Nothing here touches the dispatcher.
 */
import { performance } from 'node:perf_hooks';
import type { Clock, TimerHandle } from '../clock.js';
import { isWebhookError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { PurgeRetentionInput, PurgeRetentionResult, StorageAdapter } from '../storage/storage-adapter.js';
import type { ResolvedRetentionOptions } from './retention-options.js';

/** How long one run may spend in batches, in ms of the process's time (its pauses not counted). */
export const runBudgetMs = 100;
/** How many batches one run may take, however fast they are. */
export const maxBatchesPerRun = 20;
/** The shortest pause between two runs while the task is behind. */
export const minCatchUpPauseMs = 250;
/** After a batch that leaves rows past retention, the task waits this many times the batch's own time: a twentieth of the process's time at most. */
export const batchPauseFactor = 19;

/**
 * How long a batch should hold the event loop, ms: the part of `purgeRetention` that runs
 * before it returns its promise — on SQLite the batch's whole transaction, on PostgreSQL
 * sending its statements (~0.05 ms), on memory the removal. The batch size follows it. A
 * SQLite batch of 500 deliveries with their attempts and events held 8–12 ms between pauses
 * (p99 15–20 ms), one of 10 still ~1.5 ms (its statements' fixed cost, on caches gone cold
 * in the pause). At 2 ms batches shrank to 10–25 and the task removed a fifth of the rows;
 * at 5 ms (batches of ~100–200 on SQLite), in a 10 s catch-up paired with batches of 500:
 * event-loop delay p99.9 6.4–7.1 ms against 13.0–14.9, 5,700–7,600 rows a second against
 * 8,400–10,400.
 */
export const targetBatchHoldMs = 5;
/** The fewest deliveries a batch asks for (or `batchSize`, when smaller). */
export const minBatchLimit = 10;

/**
 * The next batch's size after one of `limit` held the event loop `heldMs`: scaled toward
 * {@link targetBatchHoldMs} by at most half or double per batch (one slow batch — a WAL
 * checkpoint in its commit, a collection — does not send the size to its floor), and grown
 * only after a batch that left more behind (a short last batch says nothing of a full one's
 * cost) and held under half the target; never above `batchSize` or under
 * {@link minBatchLimit}. The first batch asks for `batchSize`.
 */
export function nextBatchLimit(limit: number, heldMs: number, leftMore: boolean, batchSize: number): number {
  const target = targetBatchHoldMs;
  let next = limit;
  if (heldMs > target) next = Math.max(Math.floor(limit / 2), Math.floor((limit * target) / heldMs));
  else if (leftMore && heldMs < target / 2) next = heldMs <= 0 ? limit * 2 : Math.min(limit * 2, Math.floor((limit * target) / heldMs));
  return Math.min(batchSize, Math.max(Math.min(minBatchLimit, batchSize), next));
}

/**
 * The pause after a batch that left rows past retention and took `batchMs` of the process's
 * time: {@link batchPauseFactor} times it inside a run; between runs (`endOfRun`) at least
 * {@link minCatchUpPauseMs} and at most `intervalMs`.
 */
export function pauseAfterBatchMs(batchMs: number, endOfRun: boolean, intervalMs: number): number {
  const pauseMs = Math.ceil(batchPauseFactor * batchMs);
  return endOfRun ? Math.min(intervalMs, Math.max(minCatchUpPauseMs, pauseMs)) : pauseMs;
}

/** What the retention task did in this process (`metrics().retention`). */
export interface RetentionFigures {
  deliveriesPurged: number;
  attemptsPurged: number;
  eventsPurged: number;
  /** Records of the subscriptions' test logs (`subscriptions.testAttempts`). */
  testAttemptsPurged: number;
  /** Epoch ms (the instance's clock) at which the last run ended, failed or not; `null` before the first. */
  lastRunAt: number | null;
  /** The last run's failure (a library error's `code`, else the error's message); `null` when it succeeded. */
  lastError: string | null;
  /** Epoch ms (the instance's clock) at which a batch last found nothing more past retention; `null` before that. */
  caughtUpAt: number | null;
  /**
   * Purge lag, ms: `0` when the last run left nothing past retention; otherwise how long the
   * task has been behind — since it last had nothing left ({@link caughtUpAt}), or since its
   * first run when it never had. `null` before the first run, and while another instance
   * holds the purge (PostgreSQL: that instance's figure is the lag).
   */
  lagMs: number | null;
}

/** The figures of a task that has not run (or of `retention: false`). */
export const noRetentionRun: Readonly<RetentionFigures> = Object.freeze({
  deliveriesPurged: 0,
  attemptsPurged: 0,
  eventsPurged: 0,
  testAttemptsPurged: 0,
  lastRunAt: null,
  lastError: null,
  caughtUpAt: null,
  lagMs: null,
});

export interface RetentionTaskDeps {
  storage: StorageAdapter;
  clock: Clock;
  logger: Logger;
  options: ResolvedRetentionOptions;
  /** Told what each batch removed (the OpenTelemetry counter). */
  onPurged?: (purged: PurgeRetentionResult) => void;
  /** The process's time in ms, which the budget and the pauses are measured in (default `performance.now`). */
  processNow?: () => number;
}

/** The cutoff `ms` before `now`; `null` keeps the kind. */
function before(now: number, ms: number | null): number | null {
  return ms === null ? null : now - ms;
}

/** Runs retention on a timer between `start()` and `stop()`. */
export class RetentionTask {
  readonly #deps: RetentionTaskDeps;
  #started = false;
  #timer: TimerHandle | null = null;
  #run: Promise<void> | null = null;
  readonly #figures: RetentionFigures = { ...noRetentionRun };
  /** The last run ended with nothing left past retention. */
  #caughtUp = false;
  /** The last run found another instance purging. */
  #elsewhere = false;
  #firstRunAt: number | null = null;
  /** The pause inside a run, while one is waited for: its timer and how to end it early (stop()). */
  #pause: { timer: TimerHandle; end: () => void } | null = null;
  readonly #processNow: () => number;
  /** The next batch's size (see nextBatchLimit), kept from run to run. */
  #batchLimit: number;

  constructor(deps: RetentionTaskDeps) {
    this.#deps = deps;
    this.#processNow = deps.processNow ?? (() => performance.now());
    this.#batchLimit = deps.options.batchSize;
  }

  /** A copy of the figures, the lag as of now. */
  get figures(): RetentionFigures {
    const behindSince = this.#figures.caughtUpAt ?? this.#firstRunAt;
    const lagMs = behindSince === null || this.#elsewhere ? null : this.#caughtUp ? 0 : Math.max(0, this.#deps.clock.now() - behindSince);
    return { ...this.#figures, lagMs };
  }

  /** Starts the runs: the first at once, the next ones `intervalMs` after each ends. Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    if (this.#run === null) this.#schedule(0);
  }

  /** Stops the runs; resolves once a run in progress has ended (after its current batch; a pause between batches ends at once). */
  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer !== null) {
      this.#deps.clock.clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#pause !== null) {
      this.#deps.clock.clearTimeout(this.#pause.timer);
      this.#pause.end();
    }
    await this.#run;
  }

  /** Waits `ms` on the clock, or until stop(). */
  #waitBetweenBatches(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        this.#pause = null;
        resolve();
      };
      this.#pause = { timer: this.#deps.clock.setTimeout(end, ms), end };
    });
  }

  #schedule(ms: number): void {
    this.#timer = this.#deps.clock.setTimeout(() => {
      this.#timer = null;
      let nextInMs = this.#deps.options.intervalMs;
      this.#run = this.#runBatches()
        .then((pauseMs) => {
          nextInMs = pauseMs;
        })
        .finally(() => {
          this.#run = null;
          if (this.#started) this.#schedule(nextInMs);
        });
    }, ms);
  }

  /** One run; resolves with the pause before the next. */
  async #runBatches(): Promise<number> {
    const { storage, clock, logger, options } = this.#deps;
    const figures = this.#figures;
    const now = clock.now();
    this.#firstRunAt ??= now;
    // Whether this run leaves nothing past retention; set at its end so the lag does not flicker while it runs.
    let caughtUp = false;
    let elsewhere = false;
    let failed = false;
    // The process's time spent in this run's batches, and the last batch's.
    let busyMs = 0;
    let batchMs = 0;
    const input: Omit<PurgeRetentionInput, 'now' | 'limit'> = {
      deliveredBefore: before(now, options.deliveredMs),
      deadBefore: before(now, options.deadMs),
      eventsBefore: before(now, options.eventsMs),
    };
    try {
      for (let batch = 0; this.#started; batch++) {
        const batchStart = this.#processNow();
        const purging = storage.purgeRetention({ ...input, limit: this.#batchLimit, now: clock.now() });
        // What the call held the event loop for before handing back its promise.
        const heldMs = this.#processNow() - batchStart;
        const result = await purging;
        batchMs = this.#processNow() - batchStart;
        busyMs += batchMs;
        this.#batchLimit = nextBatchLimit(this.#batchLimit, heldMs, result.more, options.batchSize);
        figures.deliveriesPurged += result.deliveries;
        figures.attemptsPurged += result.attempts;
        figures.eventsPurged += result.events;
        figures.testAttemptsPurged += result.testAttempts;
        this.#deps.onPurged?.(result);
        if (result.skipped === true) {
          // The lag is the purging instance's; should this one take over, its lag counts from then.
          elsewhere = true;
          this.#firstRunAt = null;
          figures.caughtUpAt = null;
          break;
        }
        if (!result.more) {
          caughtUp = true;
          figures.caughtUpAt = clock.now();
          break;
        }
        if (busyMs >= runBudgetMs || batch + 1 >= maxBatchesPerRun) break;
        await this.#waitBetweenBatches(pauseAfterBatchMs(batchMs, false, options.intervalMs));
      }
      figures.lastError = null;
    } catch (error) {
      failed = true;
      figures.lastError = isWebhookError(error) ? error.code : error instanceof Error ? error.message : String(error);
      logger.error({ err: error }, 'webhooks: a retention batch failed; the next run tries again');
    }
    this.#caughtUp = caughtUp;
    this.#elsewhere = elsewhere;
    figures.lastRunAt = clock.now();
    if (caughtUp || elsewhere || failed || !this.#started) return options.intervalMs;
    return pauseAfterBatchMs(batchMs, true, options.intervalMs);
  }
}
