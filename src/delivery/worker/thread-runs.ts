/**
 * The life of a worker thread that must keep running while its owner runs — the
 * dispatcher's worker (worker-dispatcher.ts) and its storage thread (storage-thread.ts):
 * started by `start()`, which resolves once the thread says it is ready; asked to end by its
 * owner's stop; and, if it throws or exits meanwhile, announced and started again
 * (crash-restarts.ts). One {@link ThreadRun} per thread started, from its start to its exit.
 *
 * A thread that cannot get ready on a first start makes `start()` reject and is not
 * restarted (a bad configuration must reach the caller, not loop); on a restart it counts as
 * a crash, and its exit schedules the next try.
 */
import type { Worker } from 'node:worker_threads';
import { CrashRestarts, type CrashRestartsOptions } from './crash-restarts.js';

/** One thread, from its start to its exit. */
export interface ThreadRun {
  readonly worker: Worker;
  /** Started by `start()` (not a restart). */
  readonly initial: boolean;
  /** Set once the thread said it is ready (epoch ms). */
  readyAt: number | null;
  /** Asked to end, or failed to start: its exit is no crash. */
  closing: boolean;
  /** What it threw or reported, if anything (its exit follows). */
  error: Error | null;
  readonly exited: Promise<void>;
}

export interface ThreadRunsOptions<M> extends CrashRestartsOptions {
  /** Starts a new thread. */
  spawn(): Worker;
  /** A message of the thread's (only while it is the current run or exiting). */
  onMessage(run: ThreadRun, message: M): void;
  /** The run has exited, as the current run: what waited on it is settled here, before any restart. */
  onExited(run: ThreadRun, error: Error): void;
}

export class ThreadRuns<M> {
  readonly #options: ThreadRunsOptions<M>;
  readonly #restarts: CrashRestarts;
  readonly #ready = new WeakMap<ThreadRun, { resolve: () => void; reject: (error: Error) => void }>();
  readonly #readied = new WeakMap<ThreadRun, Promise<void>>();
  #run: ThreadRun | null = null;
  #running = false;
  /** The first start under way: a `start()` made meanwhile shares its outcome rather than resolve before the thread is ready. */
  #starting: Promise<void> | null = null;

  constructor(options: ThreadRunsOptions<M>) {
    this.#options = options;
    this.#restarts = new CrashRestarts(options);
  }

  /** The thread running now (or starting, or exiting); `null` when none does. */
  get current(): ThreadRun | null {
    return this.#run;
  }

  /** Between `start()` and the owner's stop: a thread should run, and a crashed one is restarted. */
  get running(): boolean {
    return this.#running;
  }

  /** A restart is scheduled after a crash. */
  get restartScheduled(): boolean {
    return this.#restarts.scheduled;
  }

  /** Starts a thread unless running; resolves once it is ready, rejects if it fails or exits first. */
  start(): Promise<void> {
    if (this.#starting !== null) return this.#starting;
    if (this.#running) return Promise.resolve();
    this.#running = true;
    const starting = this.#spawn(true).then(
      () => {
        this.#starting = null;
      },
      (error: unknown) => {
        this.#starting = null;
        this.#running = false;
        throw error;
      },
    );
    this.#starting = starting;
    return starting;
  }

  /**
   * The owner stops: nothing is restarted from now on. Returns the run to end (the owner asks
   * it to close, sets `closing`, and awaits `exited`), or `null` when none runs.
   */
  stop(): ThreadRun | null {
    this.#running = false;
    this.#restarts.cancel();
    return this.#run;
  }

  /**
   * Resolves once a thread is ready: at once when one is; after its start when one is starting
   * (a restart scheduled after a crash is started now, without its delay). Rejects when none
   * runs, or when the one starting exits first.
   */
  async whenReady(): Promise<void> {
    this.#restarts.hurry();
    const run = this.#run;
    if (run === null) throw new Error(`${this.#options.thread} is not running`);
    if (run.readyAt === null) await this.#readied.get(run);
  }

  /** The thread said it is ready (`error` null), or that it cannot start (it is ended). */
  ready(run: ThreadRun, error: Error | null): void {
    if (error === null) {
      run.readyAt = Date.now();
      this.#ready.get(run)?.resolve();
      return;
    }
    run.error = error;
    if (run.initial) run.closing = true;
    void run.worker.terminate();
  }

  #spawn(initial: boolean): Promise<void> {
    const worker = this.#options.spawn();
    let exited!: () => void;
    const run: ThreadRun = { worker, initial, readyAt: null, closing: false, error: null, exited: new Promise((resolve) => (exited = resolve)) };
    const readied = new Promise<void>((resolve, reject) => this.#ready.set(run, { resolve, reject }));
    // Awaited by start() or whenReady() when at all: a restart nobody waits for must not reject unhandled.
    readied.catch(() => undefined);
    this.#readied.set(run, readied);
    this.#run = run;
    worker.on('message', (message: M) => this.#options.onMessage(run, message));
    worker.on('error', (error) => {
      run.error ??= error;
    });
    worker.on('exit', (code) => {
      exited();
      this.#exited(run, code);
    });
    return readied;
  }

  #exited(run: ThreadRun, code: number): void {
    if (this.#run !== run) return;
    this.#run = null;
    const { thread } = this.#options;
    const error = run.error ?? new Error(`${thread[0]!.toUpperCase()}${thread.slice(1)} exited with code ${code}`);
    if (run.readyAt === null) this.#ready.get(run)?.reject(error);
    this.#options.onExited(run, error);
    if (run.closing || !this.#running || (run.initial && run.readyAt === null)) return;
    this.#restarts.crashed(error, run.readyAt, () => {
      if (!this.#running) return;
      // A restart that fails is a crash like any other: its exit schedules the next one.
      this.#spawn(false).catch(() => undefined);
    });
  }
}
