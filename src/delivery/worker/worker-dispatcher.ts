/**
 * The host's side of a dispatcher that runs in a worker thread (`createWebhooks({
 * dispatcher: { thread: 'worker' } })`): the same surface as the in-thread dispatcher
 * (delivery-dispatcher.ts), over messages (worker-messages.ts).
 *
 * Lifetime. `start()` starts a worker and resolves once its dispatcher runs (its storage
 * opened, wake-ups subscribed); a worker that cannot start makes `start()` reject. `stop()`
 * asks the worker to stop — it waits for its posts in flight and their settles, closes its
 * transport and storage — and resolves once the thread has exited: no worker outlives
 * `stop()` or `close()`.
 *
 * Crashes. A worker that throws or exits while it should run is logged, announced on the
 * bus (`dispatcher:crashed`) and started again after `restartDelayMs`, doubled after each
 * crash in a row (capped), back to `restartDelayMs` after a healthy run (crash-restarts.ts).
 * The deliveries it had claimed keep their leases until they expire; then a claim takes
 * them again (at-least-once). A `stop()` during the wait cancels the restart.
 *
 * The worker is referenced while it runs, as the in-thread dispatcher's timers are: a
 * process that only dispatches must not exit while it has work scheduled.
 */
import type { Worker } from 'node:worker_threads';
import type { EventBus } from '../../events/event-bus.js';
import type { Logger } from '../../logger.js';
import type { CircuitStatus, DeliveryMetrics } from '../../metrics/delivery-metrics.js';
import type { StorageRecipe } from '../../storage/shared/worker-recipe.js';
import type { DeliveryDispatcher, SubscriptionChangeNotice } from '../delivery-dispatcher.js';
import type { DispatcherSettings } from '../dispatcher-settings.js';
import { spawnDispatcherWorker } from './spawn-dispatcher-worker.js';
import { ThreadRuns, type ThreadRun } from './thread-runs.js';
import { fromWire } from './wire-values.js';
import type { ReportEntry, ToWorker, WorkerReport } from './worker-messages.js';


/** The names of the events `bus` has listeners for, sorted. */
function listenedEvents(bus: EventBus): string[] {
  return bus
    .eventNames()
    .filter((name): name is string => typeof name === 'string')
    .sort();
}

/** What a subscription's breaker reads when no worker runs to ask (none has posted to it since). */
const idleCircuit: CircuitStatus = Object.freeze({ state: 'closed', openUntil: null, inFlight: 0 });

export interface WorkerDispatcherOptions {
  settings: DispatcherSettings;
  recipe: StorageRecipe;
  bus: EventBus;
  metrics: DeliveryMetrics;
  logger: Logger;
  restartDelayMs: number;
}

export class WorkerDispatcher implements DeliveryDispatcher {
  readonly #options: WorkerDispatcherOptions;
  readonly #threads: ThreadRuns<WorkerReport>;
  #inFlight = 0;
  #stopping: Promise<void> | null = null;
  #wakeQueued = false;
  #nextRequest = 1;
  /** Requests waiting for the worker's answer; a worker's exit answers them as if idle. */
  readonly #idleRequests = new Map<number, () => void>();
  readonly #circuitRequests = new Map<number, (status: CircuitStatus) => void>();

  /** The events the host's bus had listeners for when the worker was last told. */
  #listening: string[];

  constructor(options: WorkerDispatcherOptions) {
    this.#options = options;
    this.#threads = new ThreadRuns<WorkerReport>({
      bus: options.bus,
      logger: options.logger,
      restartDelayMs: options.restartDelayMs,
      thread: 'the dispatcher worker',
      spawn: () => spawnDispatcherWorker({ settings: options.settings, recipe: options.recipe, listening: this.#listening }),
      onMessage: (run, report) => this.#apply(run, report),
      onExited: () => this.#exited(),
    });
    this.#listening = listenedEvents(options.bus);
    options.bus.watchListeners(() => this.#listenersChanged());
  }

  /** Tells the worker, when the set of events listened to changed (not for each listener added). */
  #listenersChanged(): void {
    const names = listenedEvents(this.#options.bus);
    if (names.length === this.#listening.length && names.every((name, index) => name === this.#listening[index])) return;
    this.#listening = names;
    const run = this.#threads.current;
    if (run !== null) this.#post(run, { kind: 'listening', names });
  }

  /** As the worker last reported: posts in flight, attempts not yet settled, deliveries claimed ahead. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** @internal A restart is scheduled after a crash (for tests). */
  get restartScheduled(): boolean {
    return this.#threads.restartScheduled;
  }

  /** @internal The running worker thread, for tests of crashes; `null` when none runs. */
  get worker(): Worker | null {
    return this.#threads.current?.worker ?? null;
  }

  async start(): Promise<void> {
    if (this.#stopping !== null) await this.#stopping;
    await this.#threads.start();
  }

  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    if (!this.#threads.running) return Promise.resolve();
    this.#stopping = this.#finishStop(this.#threads.stop()).finally(() => {
      this.#stopping = null;
    });
    return this.#stopping;
  }

  async #finishStop(run: ThreadRun | null): Promise<void> {
    if (run === null) return;
    run.closing = true;
    this.#post(run, { kind: 'stop' });
    await run.exited;
  }

  wake(): void {
    if (!this.#threads.running || this.#wakeQueued) return;
    // One message per turn: a loop of publishes wakes the worker once.
    this.#wakeQueued = true;
    setImmediate(() => {
      this.#wakeQueued = false;
      const run = this.#threads.current;
      if (run !== null && !run.closing) this.#post(run, { kind: 'wake' });
    });
  }

  forgetSubscription(subscriptionId: string): void {
    const run = this.#threads.current;
    if (run !== null) this.#post(run, { kind: 'forget', subscriptionId });
  }

  subscriptionChanged(notice: SubscriptionChangeNotice): void {
    // No worker runs: nothing is claimed ahead, and a worker started later begins with fresh flow control.
    const run = this.#threads.current;
    if (run !== null) this.#post(run, { kind: 'changed', notice });
  }

  eventsExpunged(eventIds: readonly string[]): void {
    // No worker runs: nothing is claimed ahead.
    const run = this.#threads.current;
    if (run !== null) this.#post(run, { kind: 'expunged', eventIds });
  }

  retireTls(tlsId: string): void {
    // No worker runs: it has no pools. A worker started later opens only identities still in use.
    const run = this.#threads.current;
    if (run !== null) this.#post(run, { kind: 'retire-tls', tlsId });
  }

  circuit(subscriptionId: string): Promise<CircuitStatus> {
    const run = this.#threads.current;
    if (run === null || run.readyAt === null) return Promise.resolve({ ...idleCircuit });
    const request = this.#nextRequest++;
    return new Promise((resolve) => {
      this.#circuitRequests.set(request, resolve);
      this.#post(run, { kind: 'circuit', request, subscriptionId });
    });
  }

  /** Resolves once the worker is idle and everything it did before has reached the host. */
  whenIdle(): Promise<void> {
    const run = this.#threads.current;
    if (run === null || run.readyAt === null) return Promise.resolve();
    const request = this.#nextRequest++;
    return new Promise((resolve) => {
      this.#idleRequests.set(request, resolve);
      this.#post(run, { kind: 'when-idle', request });
    });
  }

  #post(run: ThreadRun, message: ToWorker): void {
    try {
      run.worker.postMessage(message);
    } catch {
      // The thread is exiting: its exit settles what waits on it.
    }
  }

  #apply(run: ThreadRun, report: WorkerReport): void {
    for (const entry of report.entries) this.#applyEntry(run, entry);
    if (this.#threads.current === run) this.#inFlight = report.inFlight;
  }

  #applyEntry(run: ThreadRun, entry: ReportEntry): void {
    const { bus, metrics, logger } = this.#options;
    switch (entry[0]) {
      case 'event':
        bus.safeEmit(entry[1] as 'delivery:succeeded', fromWire(entry[2]) as never);
        return;
      case 'attempt':
        metrics.recordAttempt(entry[1], entry[2], entry[3], entry[4], entry[5], entry[6]);
        return;
      case 'lease-lost':
        metrics.recordLeaseLost(entry[1]);
        return;
      case 'log':
        logger[entry[1]](fromWire(entry[2]) as Record<string, unknown>, entry[3]);
        return;
      case 'started':
        // An error: it could not open its storage or start its dispatcher.
        this.#threads.ready(run, entry[1] === null ? null : (fromWire(entry[1]) as Error));
        return;
      case 'stopped':
        // Everything is closed in the thread: end it now rather than wait for its loop to empty.
        void run.worker.terminate();
        return;
      case 'idle':
        this.#idleRequests.get(entry[1])?.();
        this.#idleRequests.delete(entry[1]);
        return;
      case 'circuit':
        this.#circuitRequests.get(entry[1])?.(entry[2]);
        this.#circuitRequests.delete(entry[1]);
        return;
    }
  }

  /** The worker exited: a dead worker is idle, and its breakers are gone with it. */
  #exited(): void {
    this.#inFlight = 0;
    for (const resolve of this.#idleRequests.values()) resolve();
    this.#idleRequests.clear();
    for (const resolve of this.#circuitRequests.values()) resolve({ ...idleCircuit });
    this.#circuitRequests.clear();
  }
}
