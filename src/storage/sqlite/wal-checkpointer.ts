/**
 * WAL checkpoints of the SQLite storage, off the event loop.
 *
 * With the WAL, a commit appends its pages to the log, and a checkpoint copies them
 * into the database file (with `synchronous` NORMAL or above, fsyncing the log before
 * and the file after). SQLite runs one inside whichever commit takes the log past
 * `wal_autocheckpoint` pages, and that commit pays for it: it sets publish's p99 (the
 * figures, with a timer of our own and without, are in bench/README.md). On the main
 * thread a timer's checkpoint still stops the event loop for as long as the copy and
 * its fsyncs take, which is what `publish.sqlite.max` measures while dispatching.
 *
 * So the checkpoint runs on a worker thread, on a connection of its own to the same
 * file. `PRAGMA wal_checkpoint(PASSIVE)` never waits for readers or writers and takes
 * no lock the main connection needs to commit: it copies what no reader still needs,
 * and whatever is left is taken by the next tick. The checkpointing connection gets
 * the main connection's `synchronous` level, which decides the checkpoint's fsyncs.
 * Durability does not change: a commit is in the WAL (and survives a crash of the
 * process) whether or not a checkpoint followed it; with NORMAL, a power loss may lose
 * commits whose log pages were not yet synced, and a checkpoint every interval bounds
 * that window in time.
 *
 * The worker is started at the storage's first write or the timer's first tick (a
 * storage opened for a moment never starts one), checkpoints on an interval of its own,
 * is unref'ed (it never keeps the process alive), and loads better-sqlite3 from the
 * file our own `require` resolves. When it cannot (the driver is not resolvable from
 * here, or the worker fails), checkpoints fall back to the main thread: slower, never
 * skipped.
 */
import type Database from 'better-sqlite3';
import { resolve as resolvePath } from 'node:path';
import { Worker } from 'node:worker_threads';
import { peerRequire } from '../../peer-require.js';

/**
 * The worker, as a CommonJS script (`eval`): no file of its own to ship or find. It
 * keeps its own interval: the main thread's timers do not fire while a host awaits
 * publishes in a loop that never yields to them (microtasks only), and the WAL would
 * then grow to the automatic checkpoint's threshold inside some commit after all.
 */
const workerSource = /* js */ `
const { parentPort, workerData } = require('node:worker_threads');
let db = null;
const checkpoint = () => {
  try {
    if (db === null) {
      const Driver = require(workerData.driver);
      db = new (typeof Driver === 'function' ? Driver : Driver.default)(workerData.filename, { fileMustExist: true, timeout: 0 });
      db.pragma('synchronous = ' + workerData.synchronous);
    }
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, log: result.log, checkpointed: result.checkpointed });
  } catch (error) {
    parentPort.postMessage({ ok: false, message: String(error && error.message) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'close') return;
  clearInterval(timer);
  try { if (db !== null) db.close(); } catch {}
  db = null;
  parentPort.close();
});
`;

/** What the worker reports after each checkpoint. */
type WorkerReply = { ok: true; log: number; checkpointed: number } | { ok: false; message: string };

/** Options of {@link WalCheckpointer}. */
export interface WalCheckpointerOptions {
  /** The main connection; the checkpointer opens its own to the same file. */
  database: Database.Database;
  intervalMs: number;
  /**
   * Path of the better-sqlite3 module for the worker; `null` runs checkpoints on the
   * main thread. Default: resolved by our own `require`.
   */
  driverPath?: string | null;
}

function resolveDriver(): string | null {
  try {
    return peerRequire().resolve('better-sqlite3');
  } catch {
    return null;
  }
}

/** Checkpoints the WAL of one file database every `intervalMs`, on a worker thread. */
export class WalCheckpointer {
  readonly #database: Database.Database;
  readonly #filename: string;
  readonly #driverPath: string | null;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #worker: Worker | null = null;
  /** Set once the worker failed: checkpoints run on the main thread from then on. */
  #inThread = false;
  #inThreadStatement: Database.Statement | undefined;
  #stopped = false;
  /** The last worker failure (for diagnosis and tests); `null` while none. */
  lastError: string | null = null;
  /** Checkpoints completed (on either thread), for tests and diagnosis. */
  completed = 0;
  /** Of those, the ones that copied the whole log (so the next write starts it over). */
  completedWhole = 0;

  constructor(options: WalCheckpointerOptions) {
    this.#database = options.database;
    // Absolute: a later chdir must not point the worker at another file.
    this.#filename = resolvePath(options.database.name);
    this.#driverPath = options.driverPath === undefined ? resolveDriver() : options.driverPath;
    this.#intervalMs = options.intervalMs;
    this.#inThread = this.#driverPath === null;
    // Unref'ed: an idle storage must not keep the process alive.
    this.#timer = setInterval(() => this.#tick(), options.intervalMs).unref();
  }

  /** True when checkpoints run on a worker thread (started or still to start). */
  get offThread(): boolean {
    return !this.#inThread;
  }

  #tick(): void {
    if (this.#stopped) return;
    if (!this.#database.open) {
      // The host closed its handle: nothing left to checkpoint, ever.
      void this.stop();
      return;
    }
    if (this.#inThread) {
      this.#checkpointInThread();
      return;
    }
    this.start();
  }

  /**
   * Starts the worker if it is not running yet (the storage calls this on its first
   * write, the timer on its first tick). Cheap when running.
   */
  start(): void {
    if (this.#worker !== null || this.#inThread || this.#stopped) return;
    this.#startWorker();
  }

  #startWorker(): Worker | null {
    let worker: Worker;
    try {
      const synchronous = this.#database.pragma('synchronous', { simple: true }) as number;
      worker = new Worker(workerSource, {
        eval: true,
        workerData: { driver: this.#driverPath, filename: this.#filename, synchronous, intervalMs: this.#intervalMs },
        // The worker only runs a pragma: keep its heap small.
        resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
      });
    } catch (error) {
      this.#fallBack(error instanceof Error ? error.message : String(error));
      return null;
    }
    worker.on('message', (reply: WorkerReply) => {
      if (reply.ok) {
        this.#count(reply.log, reply.checkpointed);
        return;
      }
      // A busy file (another checkpoint, a recovery) is retried at the worker's next interval; a
      // driver that does not load is not.
      this.lastError = reply.message;
      if (!/busy|locked/i.test(reply.message)) this.#fallBack(reply.message);
    });
    worker.on('error', (error) => this.#fallBack(error.message));
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = null;
    });
    // After the listeners: attaching a 'message' listener refs the port again.
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #fallBack(message: string): void {
    this.lastError = message;
    this.#inThread = true;
    const worker = this.#worker;
    this.#worker = null;
    if (worker !== null) void worker.terminate();
  }

  #count(log: number, checkpointed: number): void {
    this.completed += 1;
    if (log === checkpointed) this.completedWhole += 1;
  }

  /** The main-thread checkpoint: between calls, never inside one. */
  #checkpointInThread(): void {
    const db = this.#database;
    // Inside the host's own transaction a checkpoint would fail: the next tick tries again.
    if (db.inTransaction) return;
    try {
      this.#inThreadStatement ??= db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
      const result = this.#inThreadStatement.get() as { log: number; checkpointed: number };
      this.#count(result.log, result.checkpointed);
    } catch {
      // A failed checkpoint loses nothing (the pages stay in the WAL); the next tick, or
      // SQLite's automatic checkpoint at `wal_autocheckpoint` pages, tries again.
    }
  }

  /** Stops the timer and the worker (closing its connection first). Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    const worker = this.#worker;
    this.#worker = null;
    if (worker === null) return;
    // Closing its connection lets the main one be the last, which removes the WAL on close.
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('close');
    const timer = setTimeout(() => void worker.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
