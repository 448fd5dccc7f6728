/**
 * `@bookkeeper/webhooks/sqlite`: the SQLite storage on better-sqlite3, the embedded
 * durable default.
 *
 * better-sqlite3 is an optional peer dependency. This module only imports its
 * types; the driver is loaded at run time, and only when the adapter must open a
 * file itself (`filename`). A host that hands in its own `database` never makes
 * us load it.
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { checkArgumentCount } from '../../check-argument-count.js';
import { parseFactoryOptions } from '../shared/factory-options.js';
import { assertOneConnectionSource } from '../shared/one-connection-source.js';
import { loadBetterSqlite3 } from './driver.js';
import { toStorageError } from './driver-errors.js';
import { SqliteStorage } from './sqlite-storage.js';

export { SqliteStorage, type SqliteStorageSettings } from './sqlite-storage.js';

/**
 * SQLite's `synchronous` level. With WAL, `NORMAL` never corrupts the database; a
 * power loss (not a process crash) may lose the last transactions committed before
 * it. `FULL` syncs the WAL on every commit and loses nothing, at the cost of an
 * fsync per transaction. `OFF` leaves syncing to the OS; `EXTRA` also syncs the
 * directory.
 */
export type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';

/** Options shared by both ways of creating the SQLite storage. */
export interface SqliteStorageCommonOptions {
  /**
   * The `synchronous` pragma. WAL + `NORMAL` loses at most the last transactions on
   * a power loss and never corrupts the database; choose `FULL` to lose nothing.
   * With a handed-in `database`, applied only when given (the host's setting stays).
   * @defaultValue `'NORMAL'` (when the adapter opens `filename`)
   */
  synchronous?: SqliteSynchronous;
  /**
   * How long a statement waits for another connection's write lock before failing
   * with `STORAGE_BUSY`. With a handed-in `database`, applied only when given.
   * @defaultValue `5000` (when the adapter opens `filename`)
   */
  busyTimeoutMs?: number;
  /**
   * Prefix of every table and index, so they live beside the host's own tables.
   * Letters, digits and `_`, starting with a letter or `_`, at most 40 characters.
   * @defaultValue `'webhook_'`
   */
  tablePrefix?: string;
  /**
   * How often the adapter checkpoints the WAL itself (`PRAGMA wal_checkpoint(PASSIVE)`),
   * so that copying the log into the database file, and the fsyncs that go with it,
   * happen neither inside the commit of whichever `publish()` or settle crosses SQLite's
   * automatic threshold nor on the event loop: the checkpoint runs on a worker thread
   * with a connection of its own to the file (started at the first tick, never keeping
   * the process alive; if better-sqlite3 cannot be loaded there, on the main thread
   * between calls). Durability does not change: a commit is in the WAL whether or not a
   * checkpoint followed. `false`: leave checkpoints to SQLite's automatic ones alone.
   * With a handed-in `database`, runs only when given. Nothing to do for a database in
   * memory.
   * @defaultValue `1000` (when the adapter opens `filename`); off with a handed-in `database`
   */
  checkpointIntervalMs?: number | false;
  /**
   * The WAL size at which a commit checkpoints anyway: SQLite's `wal_autocheckpoint`,
   * given in bytes (rounded down to whole pages). It bounds the WAL when the timer of
   * `checkpointIntervalMs` cannot run — a loop of awaited publishes that never yields to
   * the event loop's timers — or cannot keep up; it is the only checkpoint when the timer
   * is off. `0` turns SQLite's automatic checkpoint off (the WAL then grows until something
   * checkpoints it). With a handed-in `database`, applied only when given.
   * @defaultValue 64 MiB while the adapter's timer checkpoints a file it opened; otherwise
   * SQLite's own (1000 pages, about 4 MB)
   */
  walAutocheckpointBytes?: number;
}

/** The adapter opens (and on `close()` closes) this database file, in WAL mode. */
export interface SqliteStorageFileOptions extends SqliteStorageCommonOptions {
  /** Path of the database file (created if missing); without U+0000. */
  filename: string;
  database?: never;
}

/**
 * The adapter works on the host's own better-sqlite3 connection (needed for the
 * transactional outbox: `enqueueSync`/`publishSync` inside `db.transaction`). It
 * does not close it and does not change its journal mode; switch it to WAL yourself
 * (`db.pragma('journal_mode = WAL')`) for concurrent readers.
 */
export interface SqliteStorageDatabaseOptions extends SqliteStorageCommonOptions {
  /** An open better-sqlite3 `Database`. */
  database: Database.Database;
  filename?: never;
}

/** Options of {@link createSqliteStorage}: exactly one of `filename` or `database`. */
export type SqliteStorageOptions = SqliteStorageFileOptions | SqliteStorageDatabaseOptions;

const optionKeys = [
  'filename',
  'database',
  'synchronous',
  'busyTimeoutMs',
  'tablePrefix',
  'checkpointIntervalMs',
  'walAutocheckpointBytes',
] as const;

const expectations: Record<(typeof optionKeys)[number], string> = {
  filename: 'a non-empty path string without U+0000 (the driver would cut the path there and open another file)',
  database: 'an open better-sqlite3 Database',
  synchronous: "one of 'OFF', 'NORMAL', 'FULL', 'EXTRA'",
  busyTimeoutMs: 'an integer number of milliseconds ≥ 0',
  tablePrefix: 'an identifier prefix (letters, digits, _; not starting with a digit; ≤ 40 characters)',
  checkpointIntervalMs: 'an integer number of milliseconds ≥ 1, or false',
  walAutocheckpointBytes: 'an integer number of bytes ≥ 0',
};

/**
 * The WAL bound while the adapter's timer checkpoints a file it opened. It must exceed what
 * one interval writes, or the fallback fires between ticks: dispatching ~5,000 deliveries/s
 * wrote ~36 MB of log a second here. A publish writes ~60 KB of log (a page each for its
 * event, its delivery and their indexes), so in a loop that starves the timer the fallback
 * runs once per ~1,100 publishes and takes ~50 ms (against ~4.5 ms once per ~65 publishes
 * at SQLite's default of 1,000 pages, which put every 99th-percentile publish at ~4.5 ms).
 */
const defaultWalAutocheckpointBytes = 64 * 1024 * 1024;
const defaultCheckpointIntervalMs = 1000;

function isDatabaseHandle(value: unknown): value is Database.Database {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<'prepare' | 'transaction' | 'pragma' | 'exec', unknown>> & { open?: unknown };
  return (
    typeof candidate.prepare === 'function' &&
    typeof candidate.transaction === 'function' &&
    typeof candidate.pragma === 'function' &&
    typeof candidate.exec === 'function' &&
    candidate.open === true
  );
}

// The one home of the defaults. `synchronous` and `busyTimeoutMs` defaults apply to
// a file the adapter opens; a handed-in connection keeps the host's settings unless
// the option is given (we must not quietly weaken a ledger's `synchronous = FULL`).
const optionsSchema = z.strictObject({
  // No U+0000: better-sqlite3 hands the path to SQLite as a C string, which ends there, so
  // 'a\u0000b' would open (and create) ./a.
  filename: z
    .string()
    .min(1)
    .refine((filename) => !filename.includes('\u0000'))
    .optional(),
  database: z.custom<Database.Database>(isDatabaseHandle).optional(),
  synchronous: z.enum(['OFF', 'NORMAL', 'FULL', 'EXTRA']).default('NORMAL'),
  busyTimeoutMs: z.number().int().min(0).max(2_147_483_647).default(5000),
  tablePrefix: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,39}$/)
    .default('webhook_'),
  // Defaults depend on who owns the handle: resolved in resolveOptions.
  checkpointIntervalMs: z.union([z.number().int().min(1).max(2_147_483_647), z.literal(false)]).optional(),
  walAutocheckpointBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

// The hand-written options and the schema must name the same keys.
type SchemaKeys = keyof z.input<typeof optionsSchema>;
type OptionKeys = keyof SqliteStorageFileOptions | keyof SqliteStorageDatabaseOptions;
const sameKeys: [SchemaKeys] extends [OptionKeys] ? ([OptionKeys] extends [SchemaKeys] ? true : never) : never = true;
void sameKeys;

/** The options after validation and defaults; frozen. */
interface ResolvedSqliteOptions {
  readonly source: { readonly filename: string } | { readonly database: Database.Database };
  /** `undefined`: leave the connection's own setting alone. */
  readonly synchronous: SqliteSynchronous | undefined;
  readonly busyTimeoutMs: number | undefined;
  readonly tablePrefix: string;
  readonly checkpointIntervalMs: number | false;
  /** `undefined`: leave the connection's own `wal_autocheckpoint` alone. */
  readonly walAutocheckpointBytes: number | undefined;
}

function resolveOptions(options: unknown): ResolvedSqliteOptions {
  const parsed = parseFactoryOptions(optionsSchema, options, 'createSqliteStorage', optionKeys, expectations);
  const given = options as Record<string, unknown>;
  assertOneConnectionSource('createSqliteStorage', ['filename', parsed.filename], ['database', parsed.database]);
  const owns = parsed.filename !== undefined;
  // On a handed-in connection, nothing runs and no pragma changes unless asked for.
  const checkpointIntervalMs = parsed.checkpointIntervalMs ?? (owns ? defaultCheckpointIntervalMs : false);
  return Object.freeze({
    source: parsed.filename !== undefined ? { filename: parsed.filename } : { database: parsed.database! },
    synchronous: owns || given.synchronous !== undefined ? parsed.synchronous : undefined,
    busyTimeoutMs: owns || given.busyTimeoutMs !== undefined ? parsed.busyTimeoutMs : undefined,
    tablePrefix: parsed.tablePrefix,
    checkpointIntervalMs,
    walAutocheckpointBytes:
      parsed.walAutocheckpointBytes ?? (owns && checkpointIntervalMs !== false ? defaultWalAutocheckpointBytes : undefined),
  });
}

/**
 * `PRAGMA journal_mode = WAL`, tried again for up to `busyTimeoutMs` while SQLite answers
 * SQLITE_BUSY. Processes opening a new file at once each hold the shared lock of their read of
 * its header and need the exclusive one to switch it; SQLite answers all but one of them
 * SQLITE_BUSY at once instead of calling the busy handler, which could deadlock there. The
 * factory is synchronous, so it pauses as SQLite's own busy handler does: blocking, briefly.
 */
function switchToWal(database: Database.Database, busyTimeoutMs: number): unknown {
  const deadline = Date.now() + busyTimeoutMs;
  for (let pauseMs = 1; ; pauseMs = Math.min(pauseMs * 2, 50)) {
    try {
      return database.pragma('journal_mode = WAL', { simple: true });
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs);
    }
  }
}

/**
 * Creates the SQLite storage adapter. Call `await storage.migrate()` before use.
 *
 * With `filename`, the adapter opens the file in WAL mode with the given
 * `synchronous` level and busy timeout, checkpoints the WAL on a timer of its own
 * (see `checkpointIntervalMs`), and closes it on `close()`. With `database`, it works
 * on the host's connection (and can then take part in the host's transactions: see
 * {@link SqliteStorage.enqueueSync}), changes none of its settings unless an option
 * asks, and `close()` leaves it open.
 *
 * @example
 * ```ts
 * import { createSqliteStorage } from '@bookkeeper/webhooks/sqlite';
 * const storage = createSqliteStorage({ filename: './webhooks.db' });
 * await storage.migrate();
 * ```
 *
 * @throws ConfigError `CONFIG_INVALID` for wrong or unknown options (every option goes in the
 *   one object: a second argument is refused), or a missing driver.
 * @throws StorageError when the file cannot be opened or configured.
 */
export function createSqliteStorage(options: SqliteStorageOptions): SqliteStorage {
  checkArgumentCount(arguments.length, 1, 'createSqliteStorage(options)', 'factory');
  const resolved = resolveOptions(options);
  let database: Database.Database;
  let owns: boolean;
  if ('filename' in resolved.source) {
    const Driver = loadBetterSqlite3();
    try {
      database = new Driver(resolved.source.filename, { timeout: resolved.busyTimeoutMs });
    } catch (error) {
      throw toStorageError(error, `open ${resolved.source.filename}`, true);
    }
    owns = true;
  } else {
    database = resolved.source.database;
    owns = false;
  }
  let checkpointIntervalMs = resolved.checkpointIntervalMs;
  try {
    if (resolved.busyTimeoutMs !== undefined) database.pragma(`busy_timeout = ${resolved.busyTimeoutMs}`);
    if (owns) {
      // WAL: readers never block the writer nor the writer them, and a commit is one
      // append to the log. An in-memory database answers 'memory' and stays so, and has
      // no log to checkpoint.
      const mode = switchToWal(database, resolved.busyTimeoutMs ?? 0);
      if (mode !== 'wal') checkpointIntervalMs = false;
      // Our own file: enforce the schema's foreign keys. (A host's connection keeps its setting;
      // the adapter deletes children before parents, so it is correct either way.)
      database.pragma('foreign_keys = ON');
      // Our own file: space a write frees inside a page is zeroed (FAST: no I/O more than the
      // write's own). SQLite otherwise leaves a rewritten or moved row's old bytes in the
      // page's free area, where an erased payload (events.expunge) would stay readable in
      // the file, even from the copies a page split made long before the erasure.
      // expungeEvents turns it fully on (freed pages zeroed too) for its own transaction.
      database.pragma('secure_delete = FAST');
    }
    if (resolved.synchronous !== undefined) database.pragma(`synchronous = ${resolved.synchronous}`);
    if (resolved.walAutocheckpointBytes !== undefined) {
      const pageBytes = database.pragma('page_size', { simple: true }) as number;
      const pages = Math.floor(resolved.walAutocheckpointBytes / pageBytes);
      // A positive size smaller than a page still means "checkpoint", not "never" (0).
      database.pragma(`wal_autocheckpoint = ${resolved.walAutocheckpointBytes > 0 ? Math.max(1, pages) : 0}`);
    }
  } catch (error) {
    // Whether it was open when the pragma failed (a file that is no database: SQLITE_NOTADB), not after we closed it.
    const open = database.open;
    if (owns && open) database.close();
    throw toStorageError(error, 'configure', open);
  }
  return new SqliteStorage({ database, ownsDatabase: owns, tablePrefix: resolved.tablePrefix, checkpointIntervalMs });
}
