/**
 * The retention task: while the instance is started, it removes what is past retention
 * (`storage.purgeRetention`, one bounded batch per call) in runs `intervalMs` apart on the
 * injected clock. A run takes batches until the storage has nothing more past retention,
 * or until it has used its budget — {@link runBudgetMs} of the process's time, measured with
 * `performance.now()` (the budget bounds the time taken from the host's event loop, which
 * the injected clock does not measure), or {@link maxBatchesPerRun} batches — and leaves the
 * rest for the next run. A run that stopped on its budget with rows still past retention is
 * behind: the next one comes after a catch-up pause instead of `intervalMs` — ten times the
 * run's own time, so the task takes at most about a tenth of the process's time while it
 * catches up, at least {@link minCatchUpPauseMs} and at most `intervalMs`. (At one run a
 * minute, ~100 ms each, it removed 3–9 M rows a day on this machine's storages: less than
 * the 20 M that 10 M attempts a day bring with their deliveries and events.) A failed batch
 * is logged and ends the run; the next run tries again after `intervalMs`. Nothing here
 * touches the dispatcher.
 */
import { performance } from 'node:perf_hooks';
import type { Clock, TimerHandle } from '../clock.js';
import { isWebhookError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { PurgeRetentionInput, PurgeRetentionResult, StorageAdapter } from '../storage/storage-adapter.js';
import type { ResolvedRetentionOptions } from './retention-options.js';

/** How long one run may keep taking batches, in ms of the process's time. */
export const runBudgetMs = 100;
/** How many batches one run may take, however fast they are. */
export const maxBatchesPerRun = 20;
/** The shortest pause between two runs while the task is behind. */
export const minCatchUpPauseMs = 250;
/** While behind, the pause is this many times the last run's own time. */
export const catchUpPauseFactor = 10;

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

  constructor(deps: RetentionTaskDeps) {
    this.#deps = deps;
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

  /** Stops the runs; resolves once a run in progress has ended (after its current batch). */
  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer !== null) {
      this.#deps.clock.clearTimeout(this.#timer);
      this.#timer = null;
    }
    await this.#run;
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
    const startedAt = performance.now();
    const now = clock.now();
    this.#firstRunAt ??= now;
    // Whether this run leaves nothing past retention; set at its end so the lag does not flicker while it runs.
    let caughtUp = false;
    let elsewhere = false;
    let failed = false;
    const input: Omit<PurgeRetentionInput, 'now'> = {
      deliveredBefore: before(now, options.deliveredMs),
      deadBefore: before(now, options.deadMs),
      eventsBefore: before(now, options.eventsMs),
      limit: options.batchSize,
    };
    try {
      for (let batch = 0; batch < maxBatchesPerRun && this.#started; batch++) {
        const result = await storage.purgeRetention({ ...input, now: clock.now() });
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
        if (performance.now() - startedAt >= runBudgetMs) break;
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
    const busyMs = performance.now() - startedAt;
    return Math.min(options.intervalMs, Math.max(minCatchUpPauseMs, Math.ceil(catchUpPauseFactor * busyMs)));
  }
}
