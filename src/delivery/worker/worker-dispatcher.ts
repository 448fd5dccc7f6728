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
import type { DeliveryDispatcher } from '../delivery-dispatcher.js';
import type { DispatcherSettings } from '../dispatcher-settings.js';
import { CrashRestarts } from './crash-restarts.js';
import { spawnDispatcherWorker } from './spawn-dispatcher-worker.js';
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

/** One worker thread, from its start to its exit. */
interface WorkerRun {
  readonly worker: Worker;
  /** Started by `start()` (not a restart): if it fails before it runs, `start()` rejects and nothing restarts. */
  readonly initial: boolean;
  /** Settled by the worker's `started`, or by its exit before it. */
  readonly starting: { resolve: () => void; reject: (error: Error) => void };
  /** Set once its dispatcher runs (epoch ms). */
  startedAt: number | null;
  /** Asked to stop: its exit is no crash. */
  stopping: boolean;
  /** What it threw, if it did (its exit follows). */
  error: Error | null;
  readonly exited: Promise<void>;
}

export class WorkerDispatcher implements DeliveryDispatcher {
  readonly #options: WorkerDispatcherOptions;
  #run: WorkerRun | null = null;
  #running = false;
  #inFlight = 0;
  #stopping: Promise<void> | null = null;
  readonly #restarts: CrashRestarts;
  #wakeQueued = false;
  #nextRequest = 1;
  /** Requests waiting for the worker's answer; a worker's exit answers them as if idle. */
  readonly #idleRequests = new Map<number, () => void>();
  readonly #circuitRequests = new Map<number, (status: CircuitStatus) => void>();

  /** The events the host's bus had listeners for when the worker was last told. */
  #listening: string[];

  constructor(options: WorkerDispatcherOptions) {
    this.#options = options;
    this.#restarts = new CrashRestarts({ bus: options.bus, logger: options.logger, restartDelayMs: options.restartDelayMs, thread: 'the dispatcher worker' });
    this.#listening = listenedEvents(options.bus);
    options.bus.watchListeners(() => this.#listenersChanged());
  }

  /** Tells the worker, when the set of events listened to changed (not for each listener added). */
  #listenersChanged(): void {
    const names = listenedEvents(this.#options.bus);
    if (names.length === this.#listening.length && names.every((name, index) => name === this.#listening[index])) return;
    this.#listening = names;
    const run = this.#run;
    if (run !== null) this.#post(run, { kind: 'listening', names });
  }

  /** As the worker last reported: posts in flight, attempts not yet settled, deliveries claimed ahead. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** @internal A restart is scheduled after a crash (for tests). */
  get restartScheduled(): boolean {
    return this.#restarts.scheduled;
  }

  /** @internal The running worker thread, for tests of crashes; `null` when none runs. */
  get worker(): Worker | null {
    return this.#run?.worker ?? null;
  }

  async start(): Promise<void> {
    if (this.#stopping !== null) await this.#stopping;
    if (this.#running) return;
    this.#running = true;
    try {
      await this.#spawn(true);
    } catch (error) {
      this.#running = false;
      throw error;
    }
  }

  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    if (!this.#running) return Promise.resolve();
    this.#running = false;
    this.#restarts.cancel();
    this.#stopping = this.#finishStop().finally(() => {
      this.#stopping = null;
    });
    return this.#stopping;
  }

  async #finishStop(): Promise<void> {
    const run = this.#run;
    if (run === null) return;
    run.stopping = true;
    this.#post(run, { kind: 'stop' });
    await run.exited;
  }

  wake(): void {
    if (!this.#running || this.#wakeQueued) return;
    // One message per turn: a loop of publishes wakes the worker once.
    this.#wakeQueued = true;
    setImmediate(() => {
      this.#wakeQueued = false;
      const run = this.#run;
      if (run !== null && !run.stopping) this.#post(run, { kind: 'wake' });
    });
  }

  forgetSubscription(subscriptionId: string): void {
    const run = this.#run;
    if (run !== null) this.#post(run, { kind: 'forget', subscriptionId });
  }

  retireTls(tlsId: string): void {
    // No worker runs: it has no pools. A worker started later opens only identities still in use.
    const run = this.#run;
    if (run !== null) this.#post(run, { kind: 'retire-tls', tlsId });
  }

  circuit(subscriptionId: string): Promise<CircuitStatus> {
    const run = this.#run;
    if (run === null || run.startedAt === null) return Promise.resolve({ ...idleCircuit });
    const request = this.#nextRequest++;
    return new Promise((resolve) => {
      this.#circuitRequests.set(request, resolve);
      this.#post(run, { kind: 'circuit', request, subscriptionId });
    });
  }

  /** Resolves once the worker is idle and everything it did before has reached the host. */
  whenIdle(): Promise<void> {
    const run = this.#run;
    if (run === null || run.startedAt === null) return Promise.resolve();
    const request = this.#nextRequest++;
    return new Promise((resolve) => {
      this.#idleRequests.set(request, resolve);
      this.#post(run, { kind: 'when-idle', request });
    });
  }

  #post(run: WorkerRun, message: ToWorker): void {
    try {
      run.worker.postMessage(message);
    } catch {
      // The thread is exiting: its exit settles what waits on it.
    }
  }

  /** Starts a worker; resolves once its dispatcher runs, rejects if it fails or exits first. */
  #spawn(initial: boolean): Promise<void> {
    const { settings, recipe } = this.#options;
    const worker = spawnDispatcherWorker({ settings, recipe, listening: this.#listening });
    let exited!: () => void;
    let starting!: WorkerRun['starting'];
    const started = new Promise<void>((resolve, reject) => (starting = { resolve, reject }));
    const run: WorkerRun = { worker, initial, starting, startedAt: null, stopping: false, error: null, exited: new Promise((resolve) => (exited = resolve)) };
    this.#run = run;
    worker.on('message', (report: WorkerReport) => this.#apply(run, report));
    worker.on('error', (error) => {
      run.error ??= error;
    });
    worker.on('exit', (code) => {
      exited();
      this.#exited(run, code);
    });
    return started;
  }

  #apply(run: WorkerRun, report: WorkerReport): void {
    for (const entry of report.entries) this.#applyEntry(run, entry);
    if (this.#run === run) this.#inFlight = report.inFlight;
  }

  #applyEntry(run: WorkerRun, entry: ReportEntry): void {
    const { bus, metrics, logger } = this.#options;
    switch (entry[0]) {
      case 'event':
        bus.safeEmit(entry[1] as 'delivery:succeeded', fromWire(entry[2]) as never);
        return;
      case 'attempt':
        metrics.recordAttempt(entry[1], entry[2], entry[3], entry[4], entry[5]);
        return;
      case 'lease-lost':
        metrics.recordLeaseLost(entry[1]);
        return;
      case 'log':
        logger[entry[1]](fromWire(entry[2]) as Record<string, unknown>, entry[3]);
        return;
      case 'started':
        this.#started(run, entry[1] === null ? null : (fromWire(entry[1]) as Error));
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

  #started(run: WorkerRun, error: Error | null): void {
    if (error === null) {
      run.startedAt = Date.now();
      run.starting.resolve();
      return;
    }
    // It could not open its storage or start its dispatcher. A first start reports it to
    // start()'s caller; a restart counts it as a crash (its exit schedules the next try).
    run.error = error;
    if (run.initial) run.stopping = true;
    void run.worker.terminate();
  }

  #exited(run: WorkerRun, code: number): void {
    if (this.#run !== run) return;
    this.#run = null;
    this.#inFlight = 0;
    // A dead worker is idle, and its breakers are gone with it.
    for (const resolve of this.#idleRequests.values()) resolve();
    this.#idleRequests.clear();
    for (const resolve of this.#circuitRequests.values()) resolve({ ...idleCircuit });
    this.#circuitRequests.clear();
    const error = run.error ?? new Error(`The dispatcher worker exited with code ${code}`);
    if (run.startedAt === null) run.starting.reject(error);
    if (run.stopping || !this.#running || (run.initial && run.startedAt === null)) return;
    this.#crashed(run, error);
  }

  #crashed(run: WorkerRun, error: Error): void {
    this.#restarts.crashed(error, run.startedAt, () => {
      if (!this.#running) return;
      // A restart that fails is a crash like any other: its exit schedules the next one.
      this.#spawn(false).catch(() => undefined);
    });
  }
}
