/**
 * What follows a worker thread's crash, for the dispatcher's worker (worker-dispatcher.ts)
 * and its storage thread (storage-thread.ts): the crash logged at `error` and announced on
 * the bus (`dispatcher:crashed`), and a new thread started after `restartDelayMs`, doubled
 * after each crash in a row (capped at {@link maxRestartDelayMs}, or `restartDelayMs` if
 * larger), back to `restartDelayMs` once a thread has run {@link healthyRunMs} without one.
 */
import type { EventBus } from '../../events/event-bus.js';
import type { Logger } from '../../logger.js';

/** A thread that ran this long without crashing resets the restart delay. */
export const healthyRunMs = 30_000;
/** The restart delay doubles up to this (or `restartDelayMs`, if larger). */
export const maxRestartDelayMs = 30_000;

export interface CrashRestartsOptions {
  bus: EventBus;
  logger: Logger;
  restartDelayMs: number;
  /** The thread, as the log lines name it: "the dispatcher worker". */
  thread: string;
}

export class CrashRestarts {
  readonly #options: CrashRestartsOptions;
  #delayMs: number;
  #timer: NodeJS.Timeout | null = null;
  /** What the scheduled restart runs (`null`: none is scheduled). */
  #restart: (() => void) | null = null;

  constructor(options: CrashRestartsOptions) {
    this.#options = options;
    this.#delayMs = options.restartDelayMs;
  }

  /** A restart is scheduled. */
  get scheduled(): boolean {
    return this.#timer !== null;
  }

  /**
   * Logs and announces the crash of a thread that ran since `readyAt` (epoch ms; `null`: it
   * never got ready), and calls `restart` after the delay. `restart` may throw when no thread
   * can be made at all: that is logged, and nothing more is tried until the next start.
   */
  crashed(error: Error, readyAt: number | null, restart: () => void): void {
    const { bus, logger, restartDelayMs, thread } = this.#options;
    if (readyAt !== null && Date.now() - readyAt >= healthyRunMs) this.#delayMs = restartDelayMs;
    const restartInMs = this.#delayMs;
    this.#delayMs = Math.min(this.#delayMs * 2, Math.max(maxRestartDelayMs, restartDelayMs));
    // Scheduled before the crash is announced: a listener that stops the instance (its
    // natural reaction) cancels it, rather than leave a timer that holds the process open.
    const restartNow = () => {
      this.cancel();
      try {
        restart();
      } catch (spawnError) {
        logger.error({ err: spawnError }, `webhooks: ${thread} could not be started again; deliveries wait for the next start()`);
      }
    };
    this.#restart = restartNow;
    this.#timer = setTimeout(restartNow, restartInMs);
    logger.error({ err: error, restartInMs }, `webhooks: ${thread} crashed; it is started again after the delay`);
    bus.safeEmit('dispatcher:crashed', { error, restartInMs });
  }

  /** Runs a scheduled restart now rather than after its delay (nothing when none is scheduled). */
  hurry(): void {
    this.#restart?.();
  }

  /** Cancels a scheduled restart (a stop). */
  cancel(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#restart = null;
  }
}
