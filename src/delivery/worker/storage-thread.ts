/**
 * The host's side of the dispatcher's storage thread (`createWebhooks({ dispatcher: {
 * storageThread: 'worker' } })`): the dispatcher claims, signs, posts and settles on the
 * host's thread as in-thread, but its storage work — the claims, settles, lease releases and
 * next-due reads, with their statements, transactions and row decoding — runs in a
 * `node:worker_threads` Worker on a connection of its own (storage-worker.ts). On SQLite that
 * work is synchronous and most of a delivery's CPU (the claim and the settle, ~55 % of an
 * in-thread dispatcher's time measured with the bench's profile): in a thread of its own it
 * runs beside the posting instead of between them.
 *
 * {@link StorageThreadDispatcher} wraps the in-thread dispatcher: `start()` starts the thread
 * and resolves once its storage answers, then starts the dispatcher; `stop()` stops the
 * dispatcher (posts in flight and their settles), then closes the thread's storage and waits
 * for the thread to exit. Everything else (`publish`, the subscriptions, the delivery log,
 * wake-ups, lifecycle events, metrics) stays on the host, unchanged.
 *
 * Crashes. A thread that throws or exits while it should run fails the calls waiting on it
 * (`STORAGE_UNAVAILABLE`, retryable: the dispatcher retries a claim after its poll interval
 * and keeps a settle batch to write again), is logged, announced on the bus
 * (`dispatcher:crashed`) and started again after `restartDelayMs`, doubled after each crash
 * in a row, as the dispatcher's worker is. Calls made meanwhile fail the same way. Leases
 * claimed through the dead thread stay the dispatcher's: its settles carry their tokens to
 * the new thread's connection, which fences them as any connection would. A claim the thread
 * committed but never answered leaves its deliveries leased until the lease expires (then
 * they are claimed again); a settle it committed but never answered is written again and
 * refused as a lost lease, the delivery settled already.
 */
import type { Worker } from 'node:worker_threads';
import { StorageError } from '../../errors.js';
import type { EventBus } from '../../events/event-bus.js';
import type { Logger } from '../../logger.js';
import type { CircuitStatus } from '../../metrics/delivery-metrics.js';
import type { StorageRecipe } from '../../storage/shared/worker-recipe.js';
import type { DeliveryDispatcher, SubscriptionChangeNotice } from '../delivery-dispatcher.js';
import type { DispatchStorage } from '../dispatch-storage.js';
import { spawnStorageWorker } from './spawn-dispatcher-worker.js';
import { ThreadRuns, type ThreadRun } from './thread-runs.js';
import type { FromStorageWorker, StorageBatchLimits, StorageThreadMethod, ToStorageWorker } from './storage-thread-messages.js';
import { fromWire } from './wire-values.js';

export interface StorageThreadOptions {
  recipe: StorageRecipe;
  bus: EventBus;
  logger: Logger;
  restartDelayMs: number;
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: Error): void;
  /** Settled with the answer: what `stop()` waits on. */
  answered: Promise<unknown>;
}

const noLimits: StorageBatchLimits = Object.freeze({ claimDue: null, settle: null });

/** The storage thread: its lifecycle, and the calls made through it. */
export class StorageThread {
  readonly #threads: ThreadRuns<FromStorageWorker>;
  #nextCall = 1;
  readonly #pending = new Map<number, PendingCall>();
  /** The thread connection's batch limits, as its last answer gave them. */
  #limits: StorageBatchLimits = noLimits;
  /** A stop is starting a crashed thread at once (recover()): calls wait for it. */
  #recovering = false;

  constructor(options: StorageThreadOptions) {
    this.#threads = new ThreadRuns<FromStorageWorker>({
      bus: options.bus,
      logger: options.logger,
      restartDelayMs: options.restartDelayMs,
      thread: "the dispatcher's storage thread",
      spawn: () => spawnStorageWorker({ recipe: options.recipe }),
      onMessage: (run, message) => this.#received(run, message),
      onExited: (_run, error) => this.#exited(error),
    });
  }

  /** @internal The running thread, for tests of crashes; `null` when none runs. */
  get worker(): Worker | null {
    return this.#threads.current?.worker ?? null;
  }

  /** @internal A restart is scheduled after a crash (for tests). */
  get restartScheduled(): boolean {
    return this.#threads.restartScheduled;
  }

  /** Starts the thread; resolves once its storage answered, rejects if it cannot. */
  start(): Promise<void> {
    return this.#threads.start();
  }

  /** Waits for the calls under way, closes the thread's storage and waits for the thread to exit. */
  async stop(): Promise<void> {
    if (!this.#threads.running) return;
    this.#threads.stop();
    // The calls under way (a claim, a settle of the last posts) finish first.
    await Promise.allSettled([...this.#pending.values()].map((call) => call.answered));
    const run = this.#threads.current;
    if (run === null) return;
    run.closing = true;
    this.#post(run, { kind: 'close' });
    await run.exited;
  }

  /** The dispatcher's view of `host`: its storage calls through this thread, the rest as they are. */
  storageFor(host: DispatchStorage): DispatchStorage {
    return {
      claimDue: (input) => this.#call('claimDue', [input]) as ReturnType<DispatchStorage['claimDue']>,
      settle: (settlements, now) => this.#call('settle', [settlements, now]) as ReturnType<DispatchStorage['settle']>,
      nextDueAt: (now) => this.#call('nextDueAt', [now]) as ReturnType<DispatchStorage['nextDueAt']>,
      releaseLeases: (leases, now) => this.#call('releaseLeases', [leases, now]) as Promise<void>,
      // The thread's connection is the one that writes: its limits (while it shares the write
      // lock with the host's connection, batches sized to hold it ~1 ms).
      writeBatchLimit: (operation) => this.#limits[operation],
      ...(host.subscribeWake === undefined ? {} : { subscribeWake: host.subscribeWake.bind(host) }),
      getSubscription: host.getSubscription.bind(host),
      getSubscriptionChange: host.getSubscriptionChange.bind(host),
      setSubscriptionStatus: host.setSubscriptionStatus.bind(host),
    };
  }

  /**
   * Starts at once a thread that waits to be started again after a crash, and resolves once a
   * thread is ready (or could not be made ready): a stop then settles the posts in flight
   * through it, rather than give their settles up and leave them to be sent again.
   */
  async recover(): Promise<void> {
    if (!this.#threads.running) return;
    this.#recovering = true;
    try {
      await this.#threads.whenReady().catch(() => undefined);
    } finally {
      this.#recovering = false;
    }
  }

  #call(method: StorageThreadMethod, args: unknown[]): Promise<unknown> {
    const run = this.#threads.current;
    if (this.#recovering && run !== null && run.readyAt === null && !run.closing) {
      // The thread a stop started at once: the posts' settles wait for it rather than fail
      // (and be given up by the stopping dispatcher); they fail if it exits first.
      return this.#threads.whenReady().then(
        () => this.#call(method, args),
        (error: unknown) => Promise.reject(this.#unavailable(error instanceof Error ? error : undefined)),
      );
    }
    if (run === null || run.readyAt === null || run.closing) return Promise.reject(this.#unavailable());
    const id = this.#nextCall++;
    let settle!: Pick<PendingCall, 'resolve' | 'reject'>;
    const answered = new Promise((resolve, reject) => (settle = { resolve, reject }));
    this.#pending.set(id, { ...settle, answered });
    this.#post(run, { kind: 'call', id, method, args });
    return answered;
  }

  #unavailable(cause?: Error): StorageError {
    const error = new StorageError(
      'STORAGE_UNAVAILABLE',
      this.#threads.running ? "The dispatcher's storage thread is not running (it crashed and is being started again)" : "The dispatcher's storage thread is stopped",
      { retryable: true },
    );
    if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, writable: true, configurable: true });
    return error;
  }

  #post(run: ThreadRun, message: ToStorageWorker): void {
    try {
      run.worker.postMessage(message);
    } catch (error) {
      // A call whose arguments cannot be copied fails alone; a thread that is exiting fails
      // every call with its exit.
      if (message.kind === 'call') {
        const call = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        call?.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  #received(run: ThreadRun, message: FromStorageWorker): void {
    switch (message.kind) {
      case 'result': {
        this.#limits = message.limits;
        const call = this.#pending.get(message.id);
        if (call === undefined) return;
        this.#pending.delete(message.id);
        if (message.ok) call.resolve(message.value);
        else call.reject(fromWire(message.error) as Error);
        return;
      }
      case 'ready':
        // An error: its storage could not open or answer.
        this.#limits = message.limits;
        this.#threads.ready(run, message.error === null ? null : (fromWire(message.error) as Error));
        return;
      case 'closed':
        // Its storage is closed: end the thread now rather than wait for its loop to empty.
        void run.worker.terminate();
        return;
    }
  }

  /** The thread exited: the calls waiting on it fail. */
  #exited(error: Error): void {
    this.#limits = noLimits;
    const unavailable = this.#unavailable(error);
    for (const call of this.#pending.values()) call.reject(unavailable);
    this.#pending.clear();
  }
}

/** The in-thread dispatcher with its storage calls in a {@link StorageThread}. */
export class StorageThreadDispatcher implements DeliveryDispatcher {
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(
    private readonly inner: DeliveryDispatcher,
    /** @internal Exposed for tests of crashes. */
    readonly thread: StorageThread,
  ) {}

  get inFlight(): number {
    return this.inner.inFlight;
  }

  /** Starts the thread, then the dispatcher; a stop under way finishes first. */
  start(): Promise<void> {
    this.#starting ??= (async () => {
      if (this.#stopping !== null) await this.#stopping;
      await this.thread.start();
      try {
        await this.inner.start();
      } catch (error) {
        await this.thread.stop();
        throw error;
      }
    })().finally(() => {
      this.#starting = null;
    });
    return this.#starting;
  }

  /** Stops the dispatcher (posts in flight, their settles), then the thread. Calls made meanwhile share it. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#starting !== null) await this.#starting.catch(() => undefined);
      // With posts in flight (or deliveries claimed ahead, whose leases go back), a crashed
      // thread's restart is not waited for: it starts now, and they settle through it.
      if (this.inner.inFlight > 0) await this.thread.recover();
      await this.inner.stop();
      await this.thread.stop();
    })().finally(() => {
      this.#stopping = null;
    });
    return this.#stopping;
  }

  wake(): void {
    this.inner.wake();
  }

  forgetSubscription(subscriptionId: string): void {
    this.inner.forgetSubscription(subscriptionId);
  }

  subscriptionChanged(notice: SubscriptionChangeNotice): void {
    this.inner.subscriptionChanged(notice);
  }

  eventsExpunged(eventIds: readonly string[]): void {
    this.inner.eventsExpunged(eventIds);
  }

  retireTls(tlsId: string): void {
    this.inner.retireTls(tlsId);
  }

  circuit(subscriptionId: string): CircuitStatus | Promise<CircuitStatus> {
    return this.inner.circuit(subscriptionId);
  }

  whenIdle(): Promise<void> {
    return this.inner.whenIdle();
  }
}
