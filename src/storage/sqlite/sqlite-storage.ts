/**
 * The SQLite storage adapter (better-sqlite3): the embedded durable default. This file
 * holds the adapter's transactions and the contract's methods. The SQL is in
 * statements/, the rows and their mapping in rows.ts; each larger unit of work has a
 * module named after it (claim-due, settle-batch, enqueue-event, replay-window,
 * purge-tenant-batch, instances, write-status-change), as have busy retries
 * (retry-while-busy) and error mapping (driver-errors).
 *
 * Concurrency model. better-sqlite3 is synchronous, so within one process every
 * statement runs to completion before another starts; across processes (or a
 * second connection to the same file) SQLite allows one writer at a time. Every
 * read-modify-write here runs under `BEGIN IMMEDIATE`, which takes the write lock
 * up front: two claimers on two connections serialize on it and the second sees
 * the first one's leases, so a delivery is never handed out twice while its
 * lease holds. (A DEFERRED transaction would take the lock only at its first
 * write and could fail with SQLITE_BUSY on the upgrade without waiting.)
 *
 * Inside a host's own transaction (`db.inTransaction`, the transactional outbox),
 * better-sqlite3 turns our transaction into a SAVEPOINT, so the host's rollback
 * removes what we wrote and our failure does not abort the host's transaction.
 */
import type Database from 'better-sqlite3';
import { ConfigError, StorageError } from '../../errors.js';
import { CANCELLED_BY_DELETE, CANCELLED_BY_EXPUNGE } from '../storage-adapter.js';
import type {
  AttemptRecord,
  BlockedKey,
  BlockedKeyQuery,
  ChangeAudit,
  ClaimInput,
  ClaimedDelivery,
  DeliveryQuery,
  DeliveryRecord,
  EnqueueInput,
  EnqueueResult,
  EventQuery,
  EventRecord,
  ExpungeResult,
  Page,
  PurgeInput,
  PurgeResult,
  PurgeRetentionInput,
  PurgeRetentionResult,
  PurgeTenantInput,
  PurgeTenantResult,
  ReplayInput,
  ReplayResult,
  SettleResult,
  Settlement,
  StorageAdapter,
  StorageCapabilities,
  StorageStats,
  SubscriptionChangeQuery,
  SubscriptionChangeRecord,
  SubscriptionPatch,
  SubscriptionQuery,
  SubscriptionRecord,
  SubscriptionStatus,
  TestAttemptQuery,
  TestAttemptRecord,
} from '../storage-adapter.js';
import { changeRecord, softDeletedFields } from '../shared/change-log.js';
import { decodeCursor, decodeSequenceCursor, encodeCursor, encodeSequenceCursor, type CursorList } from '../shared/cursor.js';
import { assertExpungeIds } from '../shared/expunge-ids.js';
import { HostCallbackFailure, thrownByHostCallback } from '../shared/host-callbacks.js';
import { blocksKey, dueAfterCancelledHead, isWaiting } from '../shared/ordering.js';
import { redeliverVerdict, requeuedFields } from '../shared/redelivery.js';
import { assertSchemaCurrent, assertSchemaNotTooNew } from '../shared/schema-version.js';
import { applySubscriptionPatch, subscriptionStatusChange } from '../shared/subscription-changes.js';
import { idempotencyScope, tenantLimitReached } from '../shared/tenancy.js';
import { retryWhileBusy } from './retry-while-busy.js';
import { claimDue } from './claim-due.js';
import { toStorageError } from './driver-errors.js';
import { enqueueEvent } from './enqueue-event.js';
import { leaseToken, registerInstance } from './instances.js';
import { latestSchemaVersion, migrations, renderMigration } from './migrations/index.js';
import { passHead } from './ordering-keys.js';
import { checkPurgeInput, checkPurgeRetentionInput } from '../shared/retention.js';
import { purgeRetentionBatch } from './purge-retention-batch.js';
import { purgeTenantBatch } from './purge-tenant-batch.js';
import { replayWindow } from './replay-window.js';
import {
  changeParams,
  requeuedParams,
  subscriptionParams,
  testAttemptParams,
  toAttempt,
  toChange,
  toDelivery,
  toEvent,
  toSubscription,
  toTestAttempt,
  type DeliveryRow,
  type EventRow,
  type SubscriptionRow,
} from './rows.js';
import { settleBatch } from './settle-batch.js';
import { listDeliveriesQuery } from './statements/delivery-log.js';
import { listEventsQuery } from './statements/events.js';
import { prepareStatements, type Statement, type Statements } from './statements/prepared-statements.js';
import { schemaSql } from './statements/schema.js';
import { listSubscriptionsQuery } from './statements/subscriptions.js';
import { sqliteTables, type SqliteTables } from './statements/tables.js';
import { writeStatusChange } from './write-status-change.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import { sharedWalBound, WriteLockSharing, type BatchedWrite, type SharingSettings } from './write-lock-sharing.js';
import type { WorkerRecipeResult } from '../shared/worker-recipe.js';
import { resolve as resolvePath } from 'node:path';

type SqliteDatabase = Database.Database;

/** How the shared rules name this database in messages. */
const where = 'SQLite storage';

/**
 * The operations that only read: with a shared write lock they take none and need not wait
 * for the gap after this connection's last write (write-lock-sharing.ts).
 */
const readOperations: ReadonlySet<string> = new Set([
  'getSubscription',
  'listSubscriptions',
  'listSubscriptionChanges',
  'getSubscriptionChange',
  'getEvent',
  'listEvents',
  'nextDueAt',
  'getDelivery',
  'listDeliveries',
  'listAttempts',
  'getDeliveryPayload',
  'listBlockedKeys',
  'listTestAttempts',
  'stats',
]);

/** What {@link SqliteStorage} needs; built and validated by `createSqliteStorage`. */
export interface SqliteStorageSettings {
  /** An open better-sqlite3 connection, pragmas already applied. */
  readonly database: SqliteDatabase;
  /** True when the adapter opened the database (from `filename`) and so closes it. */
  readonly ownsDatabase: boolean;
  /** Validated identifier prefix of every table and index. */
  readonly tablePrefix: string;
  /**
   * Run `PRAGMA wal_checkpoint(PASSIVE)` this often, on a worker thread with a connection
   * of its own (see wal-checkpointer.ts); `false` (the default here) for never:
   * checkpoints are then SQLite's automatic ones, inside commits. Ignored in memory.
   */
  readonly checkpointIntervalMs?: number | false;
}

/**
 * The {@link StorageAdapter} on SQLite through better-sqlite3. Build it with
 * `createSqliteStorage()` from `@bookkeeper/webhooks/sqlite`.
 *
 * Beyond the contract it offers {@link SqliteStorage.enqueueSync} for a
 * transactional outbox on the host's own better-sqlite3 handle.
 */
export class SqliteStorage implements StorageAdapter {
  /** `'sqlite'`. */
  readonly name = 'sqlite';
  /** Takes the host's better-sqlite3 handle as `tx`; lease times come from the caller's `now`. */
  readonly capabilities: StorageCapabilities = Object.freeze({ transactions: true, databaseClock: false });
  /** The better-sqlite3 connection the adapter works on (the host's, when handed in). */
  readonly database: SqliteDatabase;

  readonly #ownsDatabase: boolean;
  readonly #prefix: string;
  readonly #tables: SqliteTables;
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  readonly #listStatements = new Map<string, Statement>();
  #statements: Statements | undefined;
  /** Checkpoints the WAL of a file database on a worker thread; `null` when off or in memory. */
  readonly #checkpointer: WalCheckpointer | null = null;
  #closed = false;
  /** This adapter's row in `<prefix>instances`, registered at its first claim; the prefix of its lease tokens. */
  #instanceId: string | null = null;
  /** Set by {@link SqliteStorage.shareWriteLock} (the dispatcher worker's connection); `null`: SQLite's busy handler waits. */
  #sharing: WriteLockSharing | null = null;

  /** Use `createSqliteStorage()`; this constructor trusts its (validated) settings. */
  constructor(settings: SqliteStorageSettings) {
    this.database = settings.database;
    this.#ownsDatabase = settings.ownsDatabase;
    this.#prefix = settings.tablePrefix;
    this.#tables = sqliteTables(settings.tablePrefix);
    // One transaction wrapper for every unit of work; better-sqlite3 nests it as a
    // SAVEPOINT when the connection is already inside a transaction.
    this.#transaction = this.database.transaction((fn: () => unknown) => fn());
    const inMemory = this.database.memory || this.database.name === '';
    if (settings.checkpointIntervalMs !== undefined && settings.checkpointIntervalMs !== false && !inMemory) {
      this.#checkpointer = new WalCheckpointer({ database: this.database, intervalMs: settings.checkpointIntervalMs });
    }
  }

  /** The WAL checkpointer (see wal-checkpointer.ts), for tests and diagnosis; `null` when off. */
  get checkpointer(): WalCheckpointer | null {
    return this.#checkpointer;
  }

  /**
   * @internal How a dispatcher in a worker thread opens this database again: the same file
   * with the settings this connection has now (`synchronous`, busy timeout, WAL bound), so
   * that the worker's commits are exactly as durable as the host's. Refused for a database
   * in memory (another connection would open another database) and for a handed-in one not
   * in WAL mode (the worker's connection would switch the host's file to WAL).
   */
  workerRecipe(): WorkerRecipeResult {
    const db = this.database;
    if (db.memory || db.name === '' || db.name === ':memory:') {
      return { refused: 'the SQLite database is in memory: a worker thread cannot open it; give createSqliteStorage a file' };
    }
    if (!db.open) return { refused: 'the SQLite database is closed' };
    const mode = db.pragma('journal_mode', { simple: true }) as string;
    if (mode !== 'wal') {
      return {
        refused: `the handed-in SQLite database is in journal mode "${mode}": switch it to WAL first (db.pragma('journal_mode = WAL')), as a second connection needs`,
      };
    }
    const synchronousNames = ['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const;
    const pages = db.pragma('wal_autocheckpoint', { simple: true }) as number;
    const pageBytes = db.pragma('page_size', { simple: true }) as number;
    return {
      recipe: {
        kind: 'sqlite',
        filename: resolvePath(db.name),
        tablePrefix: this.#prefix,
        synchronous: synchronousNames[db.pragma('synchronous', { simple: true }) as number] ?? 'FULL',
        busyTimeoutMs: db.pragma('busy_timeout', { simple: true }) as number,
        walAutocheckpointBytes: pages * pageBytes,
      },
    };
  }

  /**
   * @internal For the connection of a dispatcher in a worker thread, beside the host's own
   * connections to the file: its write transactions leave the host's writers a gap, and it
   * looks for a taken lock again itself, for up to `waitMs`, instead of sleeping in SQLite's
   * busy handler (see write-lock-sharing.ts). Turns this connection's busy timeout to 0.
   * `walAutocheckpointBytesWhileShared`: the WAL size at which this connection's commits
   * checkpoint while others write to the file (never above its own `wal_autocheckpoint`,
   * which applies again once it is alone); `now`, `sleep`: seams for tests.
   */
  shareWriteLock(waitMs: number, options: SharingSettings = {}): void {
    if (!Number.isInteger(waitMs) || waitMs < 0) {
      throw new ConfigError('CONFIG_INVALID', `Expected shareWriteLock's waitMs to be an integer number of milliseconds ≥ 0, got ${String(waitMs)}`, { field: 'waitMs' });
    }
    const { walAutocheckpointBytesWhileShared: sharedBytes, ...time } = options;
    if (sharedBytes !== undefined && (!Number.isInteger(sharedBytes) || sharedBytes < 1)) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `Expected shareWriteLock's walAutocheckpointBytesWhileShared to be an integer number of bytes ≥ 1, got ${String(sharedBytes)}`,
        { field: 'walAutocheckpointBytesWhileShared' },
      );
    }
    const db = this.database;
    db.pragma('busy_timeout = 0');
    // Changes when another connection commits to the file (never for this one's own commits).
    const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    let seen = dataVersion.get();
    const othersWrote = (): boolean => {
      const now = dataVersion.get();
      const changed = now !== seen;
      seen = now;
      return changed;
    };
    this.#sharing = new WriteLockSharing({ waitMs, othersWrote, onSharing: sharedWalBound(db, sharedBytes), ...time });
  }

  /**
   * Applies the migrations this code knows and the database lacks, under BEGIN
   * IMMEDIATE so that two processes migrating at once serialize on the write lock
   * and the second finds nothing left to do.
   *
   * @throws StorageError `STORAGE_SCHEMA_TOO_NEW` when the database was migrated by newer code.
   */
  async migrate(): Promise<void> {
    await this.#run('migrate', false, () => {
      const db = this.database;
      const sql = schemaSql(this.#tables);
      this.#immediate(() => {
        db.exec(sql.createMigrationsTable);
        const current = db.prepare<unknown[], number>(sql.currentVersion).pluck().get() ?? 0;
        assertSchemaNotTooNew(where, current, latestSchemaVersion);
        const record = db.prepare(sql.recordMigration);
        for (const migration of migrations) {
          if (migration.version <= current) continue;
          db.exec(renderMigration(migration, this.#prefix));
          // Wall-clock time: an audit field of the schema, not a delivery time.
          record.run(migration.version, migration.name, Date.now());
        }
      });
      this.#statements ??= prepareStatements(db, this.#tables);
    });
  }

  /**
   * Stops the WAL checkpointer, and closes the database if the adapter opened it
   * (`filename`); a handed-in one stays open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#checkpointer?.stop();
    const statements = this.#statements;
    if (this.#instanceId !== null && statements !== undefined && this.database.open) {
      // Gone on purpose: nobody needs to prove it. Its leases were given back by stop(),
      // or expire; a failure here only leaves a row that the next start proves gone.
      try {
        statements.deleteInstance.run(this.#instanceId);
      } catch {
        // The file may be read-only or locked now; see above.
      }
    }
    this.#statements = undefined;
    this.#listStatements.clear();
    if (this.#ownsDatabase && this.database.open) {
      try {
        this.database.close();
      } catch (error) {
        throw toStorageError(error, 'close', this.database.open);
      }
    }
  }

  /**
   * Stores a subscription and its filters, and with `audit` its `created` change record. With
   * `limits.maxPerTenant`, the tenant's subscriptions (not soft-deleted) are counted and the
   * new one inserted in one write transaction, so that two creates (on any connection)
   * racing for the last place serialize on the write lock and the second sees the first.
   *
   * @throws ConflictError `TENANT_SUBSCRIPTION_LIMIT` when the tenant has `maxPerTenant` already.
   * @throws StorageError `STORAGE_CONFLICT` for an existing id, or a change id already logged
   *   (nothing is stored).
   */
  async createSubscription(record: SubscriptionRecord, limits?: { maxPerTenant?: number }, audit?: ChangeAudit): Promise<SubscriptionRecord> {
    return this.#run('createSubscription', true, (s) =>
      this.#immediate(() => {
        const max = limits?.maxPerTenant;
        if (record.tenantId !== null && max !== undefined && (s.countTenantSubscriptions.get(record.tenantId) ?? 0) >= max) {
          throw tenantLimitReached(record.tenantId, max);
        }
        s.insertSubscription.run(subscriptionParams(record));
        this.#insertFilters(s, record);
        const stored = this.#readSubscription(s, record.id)!;
        if (audit !== undefined) s.insertChange.run(changeParams(changeRecord(audit, null, stored, record.createdAt)));
        return stored;
      }),
    );
  }

  /** The subscription, soft-deleted ones included, or `null`. */
  async getSubscription(id: string): Promise<SubscriptionRecord | null> {
    return this.#run('getSubscription', true, (s) => this.#readSubscription(s, id));
  }

  /**
   * Oldest first (ids ascending), optionally of one status and of one tenant (`null`: the
   * platform's); soft-deleted ones only with `includeDeleted`.
   */
  async listSubscriptions(query: SubscriptionQuery): Promise<Page<SubscriptionRecord>> {
    return this.#run('listSubscriptions', true, () => {
      const afterId = query.cursor === undefined ? undefined : decodeCursor('subscriptions', query.cursor);
      const { sql, params } = listSubscriptionsQuery(this.#tables, {
        limit: query.limit,
        afterId,
        status: query.status,
        tenantId: query.tenantId,
        includeDeleted: query.includeDeleted,
      });
      const rows = this.#listStatement<SubscriptionRow>(sql).all(params);
      return this.#page(rows.map(toSubscription), query.limit, 'subscriptions');
    });
  }

  /**
   * Applies the patch (filters rewritten when `eventTypes` is in it) and, with `audit`, writes
   * its change record; `null` when not found. A soft-deleted subscription is returned as it is.
   *
   * @throws StorageError `STORAGE_CONFLICT` for a change id already logged (nothing is changed).
   */
  async updateSubscription(id: string, patch: SubscriptionPatch, now: number, audit?: ChangeAudit): Promise<SubscriptionRecord | null> {
    return this.#run('updateSubscription', true, (s) =>
      this.#immediate(() => {
        const current = this.#readSubscription(s, id);
        if (current === null || current.deletedAt !== null) return current;
        const next = applySubscriptionPatch(current, patch, now);
        s.updateSubscription.run(subscriptionParams(next));
        if (patch.eventTypes !== undefined) {
          s.deleteFilters.run(id);
          this.#insertFilters(s, next);
        }
        const after = this.#readSubscription(s, id)!;
        if (audit !== undefined) s.insertChange.run(changeParams(changeRecord(audit, current, after, now)));
        return after;
      }),
    );
  }

  /**
   * Disables (pending deliveries become held) or enables (held become pending, due at
   * `now`) and, with `audit`, writes the change record; a subscription already in that
   * status, or soft-deleted, is left as it is and nothing is logged.
   *
   * @throws StorageError `STORAGE_CONFLICT` for a change id already logged (nothing is changed).
   */
  async setSubscriptionStatus(
    id: string,
    change: { status: SubscriptionStatus; reason?: string | null },
    now: number,
    audit?: ChangeAudit,
  ): Promise<SubscriptionRecord | null> {
    return this.#run('setSubscriptionStatus', true, (s) => this.#immediate(() => this.#setStatusIn(s, id, change, now, audit)));
  }

  /** `setSubscriptionStatus`'s work, inside the caller's write transaction. */
  #setStatusIn(s: Statements, id: string, change: { status: SubscriptionStatus; reason?: string | null }, now: number, audit: ChangeAudit | undefined): SubscriptionRecord | null {
    const current = this.#readSubscription(s, id);
    if (current === null || current.deletedAt !== null) return current;
    const statusChange = subscriptionStatusChange(current, change, now);
    if (statusChange === null) return current;
    writeStatusChange(s, id, statusChange, now);
    const after = this.#readSubscription(s, id)!;
    if (audit !== undefined) s.insertChange.run(changeParams(changeRecord(audit, current, after, now)));
    return after;
  }

  /**
   * Soft delete, in one write transaction: the fields of `softDeletedFields`, its open
   * deliveries cancelled (their leases kept), its filters removed (it never matches an event
   * again, so fan-out need not look at it), and with `audit` its `deleted` change record.
   * One deleted before is returned as it is, nothing written.
   *
   * @throws StorageError `STORAGE_CONFLICT` for a change id already logged (nothing is changed).
   */
  async softDeleteSubscription(id: string, now: number, audit?: ChangeAudit): Promise<{ subscription: SubscriptionRecord; cancelled: number } | null> {
    return this.#run('softDeleteSubscription', true, (s) =>
      this.#immediate(() => {
        const current = this.#readSubscription(s, id);
        if (current === null) return null;
        const fields = softDeletedFields(current, now);
        if (fields === null) return { subscription: current, cancelled: 0 };
        s.softDeleteSubscription.run({
          id,
          status: fields.status,
          disabled_reason: fields.disabledReason,
          disabled_at: fields.disabledAt,
          deleted_at: fields.deletedAt,
          updated_at: fields.updatedAt,
        });
        let cancelled = 0;
        for (const statement of s.cancelSubscriptionDeliveries) {
          cancelled += statement.run({ id, last_error: CANCELLED_BY_DELETE, now }).changes;
        }
        s.deleteFilters.run(id);
        const after = this.#readSubscription(s, id)!;
        if (audit !== undefined) s.insertChange.run(changeParams(changeRecord(audit, current, after, now)));
        return { subscription: after, cancelled };
      }),
    );
  }

  /** Deletes the subscription (soft-deleted or not), its filters, deliveries, their attempts, its change log, its test log and its ordering keys (events stay). */
  async deleteSubscription(id: string): Promise<boolean> {
    return this.#run('deleteSubscription', true, (s) =>
      this.#immediate(() => {
        // Children first, so the schema's foreign keys hold whether or not the host enforces them.
        s.deleteSubscriptionAttempts.run(id);
        s.deleteSubscriptionDeliveries.run(id);
        s.deleteFilters.run(id);
        s.deleteSubscriptionChanges.run(id);
        s.deleteSubscriptionTestAttempts.run(id);
        s.deleteSubscriptionKeys.run(id);
        return s.deleteSubscription.run(id).changes > 0;
      }),
    );
  }

  /** One subscription's change log, oldest first. @throws ValidationError `CURSOR_INVALID` for an unreadable cursor. */
  async listSubscriptionChanges(query: SubscriptionChangeQuery): Promise<Page<SubscriptionChangeRecord>> {
    return this.#run('listSubscriptionChanges', true, (s) => {
      const after = query.cursor === undefined ? 0 : decodeSequenceCursor(query.cursor);
      const rows = s.listChanges.all({ subscription_id: query.subscriptionId, after, limit: query.limit + 1 });
      if (rows.length <= query.limit) return { items: rows.map(toChange), nextCursor: null };
      const items = rows.slice(0, query.limit).map(toChange);
      return { items, nextCursor: encodeSequenceCursor(items[items.length - 1]!.sequence) };
    });
  }

  /** One change record, or `null`. */
  async getSubscriptionChange(id: string): Promise<SubscriptionChangeRecord | null> {
    return this.#run('getSubscriptionChange', true, (s) => {
      const row = s.getChange.get(id);
      return row === undefined ? null : toChange(row);
    });
  }

  /**
   * Appends a test attempt to its subscription's test log, in one statement that checks the
   * subscription is there; `false` (nothing stored) when it is not.
   *
   * @throws StorageError `STORAGE_CONFLICT` for an id in the log already.
   */
  async recordTestAttempt(record: TestAttemptRecord): Promise<boolean> {
    return this.#run('recordTestAttempt', true, (s) => this.#immediate(() => s.insertTestAttempt.run(testAttemptParams(record)).changes > 0));
  }

  /** One subscription's test log, newest first. @throws ValidationError `CURSOR_INVALID` for an unreadable cursor. */
  async listTestAttempts(query: TestAttemptQuery): Promise<Page<TestAttemptRecord>> {
    return this.#run('listTestAttempts', true, (s) => {
      const params = { subscription_id: query.subscriptionId, limit: query.limit + 1 };
      const rows =
        query.cursor === undefined ? s.listTestAttempts.all(params) : s.listTestAttemptsBefore.all({ ...params, before: decodeCursor('tests', query.cursor) });
      return this.#page(rows.map(toTestAttempt), query.limit, 'tests');
    });
  }

  /**
   * Stores the event and its fan-out atomically. With `tx` (which must be this
   * adapter's own better-sqlite3 handle) inside the host's transaction, it joins that
   * transaction through a SAVEPOINT: a transaction the host began by hand (`BEGIN`).
   * Inside better-sqlite3's `db.transaction(fn)` use {@link SqliteStorage.enqueueSync}.
   *
   * @throws ConfigError `TX_UNSUPPORTED` when `tx` is not this adapter's database handle,
   * when no transaction is open on it, or when the host's transaction was rolled back
   * before this call resolved (an `async` function given to `db.transaction`): then
   * nothing of this event is stored.
   */
  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    let result: EnqueueResult;
    try {
      result = await this.#run('enqueue', true, (s) => this.#enqueue(s, input));
    } catch (error) {
      throw thrownByHostCallback(error);
    }
    if (input.tx === undefined || input.tx === null || !result.created) return result;
    // better-sqlite3 runs `db.transaction(fn)` synchronously: when fn is async (it awaited
    // this call), fn hands back a promise, and the wrapper rolls back and throws a TypeError
    // before any continuation runs — including this one. The event's row tells.
    const stored = this.#runSync('enqueue', true, (s) => s.getEvent.get(result.event.id) !== undefined);
    if (!stored) {
      throw new ConfigError(
        'TX_UNSUPPORTED',
        'Expected the host transaction of `tx` to be open until publish() resolved, got it rolled back first: ' +
          "better-sqlite3's db.transaction(fn) cannot await, so an async fn rolls back. Inside db.transaction(() => …), " +
          'call publishSync(type, data, { tx: db }) (storage.enqueueSync); nothing of this event was stored',
        { field: 'tx' },
      );
    }
    return result;
  }

  /**
   * `enqueue`, synchronously: for the transactional outbox on the host's own handle.
   *
   * @example
   * ```ts
   * db.transaction(() => {
   *   db.prepare('INSERT INTO ledger …').run(…);
   *   storage.enqueueSync({ event, now, tx: db });
   * })();
   * ```
   * A throw after it rolls back the event and its deliveries with the ledger write.
   *
   * @throws ConfigError `TX_UNSUPPORTED` when `tx` is not this adapter's database handle.
   */
  enqueueSync(input: EnqueueInput): EnqueueResult {
    try {
      return this.#runSync('enqueueSync', true, (s) => this.#enqueue(s, input));
    } catch (error) {
      throw thrownByHostCallback(error);
    }
  }

  /** The event, expunged or not, or `null`. */
  async getEvent(id: string): Promise<EventRecord | null> {
    return this.#run('getEvent', true, (s) => {
      const row = s.getEvent.get(id);
      return row === undefined ? null : toEvent(row);
    });
  }

  /**
   * Newest first (ids descending), or oldest first for `order: 'asc'`, expunged ones included.
   * @throws ValidationError `CURSOR_INVALID` for an unreadable cursor, or one of the other order.
   */
  async listEvents(query: EventQuery): Promise<Page<EventRecord>> {
    return this.#run('listEvents', true, () => {
      const list = query.order === 'asc' ? 'feed' : 'events';
      const lastId = query.cursor === undefined ? undefined : decodeCursor(list, query.cursor);
      // No type matches an empty list: nothing to walk.
      if (query.types?.length === 0) return { items: [], nextCursor: null };
      const { sql, params } = listEventsQuery(this.#tables, { ...query, lastId });
      const rows = this.#listStatement<EventRow>(sql).all(params);
      return this.#page(rows.map(toEvent), query.limit, list);
    });
  }

  /**
   * Erases the payloads of the events not expunged yet and their deliveries' own, cancels
   * their open deliveries (leases kept) and erases their attempts' response snippets, in one
   * write transaction. A cancelled head of an ordering key passes: its key's next waiting
   * delivery goes (cancelled ones are stepped over), once the head's lease runs out if it
   * has a live one (dueAfterCancelledHead of shared/ordering.ts).
   *
   * @throws ValidationError `INPUT_INVALID` for more than 1000 ids (storage/shared/expunge-ids.ts).
   */
  async expungeEvents(ids: readonly string[], now: number): Promise<ExpungeResult> {
    assertExpungeIds(ids);
    return this.#run('expungeEvents', true, (s) =>
      this.#scrubbing(() =>
        this.#immediate(() => {
          const fresh = s.unexpungedEvents.all({ ids: JSON.stringify(ids) });
          if (fresh.length === 0) return { events: 0, cancelled: 0, snippets: 0 };
          const json = JSON.stringify(fresh);
          const events = s.expungeEvents.run({ ids: json, now }).changes;
          s.eraseDeliveryPayloads.run({ ids: json });
          // Read before the cancel; their heads pass once all of them are cancelled.
          const ordered = s.orderedOpenOfEvents.all(json);
          const cancelled = s.cancelEventDeliveries.run({ ids: json, now, last_error: CANCELLED_BY_EXPUNGE }).changes;
          for (const row of ordered) {
            // An attempt of the head may be in flight (its lease is kept): the next waits for the lease.
            const dueAt = dueAfterCancelledHead({ leaseExpiresAt: row.lease_expires_at }, now);
            passHead(s, { subscriptionId: row.subscription_id, orderingKey: row.ordering_key, orderingSequence: row.ordering_seq }, now, dueAt);
          }
          const snippets = s.eraseSnippets.run({ ids: json }).changes;
          return { events, cancelled, snippets };
        }),
      ),
    );
  }

  /**
   * Runs `fn` (an erasure's transaction) with `secure_delete` fully on, then puts the
   * connection's setting back: the bytes its writes free — the payloads, the deliveries' own
   * payloads and the response snippets it erases, whole freed pages of a large payload
   * included — are overwritten with zeros rather than left in the file (and in the pages
   * the WAL carries to it). A connection the storage opened has FAST on besides (index.ts),
   * which also clears the older copies a page split leaves behind.
   */
  #scrubbing<T>(fn: () => T): T {
    const db = this.database;
    const before = db.pragma('secure_delete', { simple: true }) as number;
    if (before === 1) return fn();
    db.pragma('secure_delete = ON');
    try {
      return fn();
    } finally {
      db.pragma(`secure_delete = ${before === 2 ? 'FAST' : 'OFF'}`);
    }
  }

  /** Leases up to `limit` due deliveries, skipping `excludeSubscriptionIds` and `excludeTenantIds` (see claim-due.ts). */
  async claimDue(input: ClaimInput): Promise<ClaimedDelivery[]> {
    return this.#run('claimDue', true, (s) => {
      // Kept only once the transaction that registered it has committed.
      let registered: string | null = null;
      const claimed = this.#immediate(
        () => {
          if (input.limit <= 0) return [];
          const instanceId = this.#instanceId ?? (registered = registerInstance(s, input.now));
          return claimDue(s, input, leaseToken(instanceId), (id) => this.#readSubscription(s, id));
        },
        { kind: 'claim', items: (rows) => rows.length },
      );
      if (registered !== null) this.#instanceId = registered;
      return claimed;
    });
  }

  /**
   * Records a batch of attempts and outcomes in ONE transaction (one commit for the
   * whole batch), each fenced by its lease token, with the effect of settling them
   * one by one in order (see settle-batch.ts).
   */
  async settle(settlements: Settlement[], now: number): Promise<SettleResult[]> {
    if (settlements.length === 0) return [];
    return this.#run('settle', true, (s) =>
      this.#immediate(
        () => {
          // The first settle (or publish) starts the WAL checkpointer's worker; cheap once it runs.
          this.#checkpointer?.start();
          return settleBatch(s, settlements, now);
        },
        { kind: 'settle', items: () => settlements.length },
      ),
    );
  }

  /**
   * With {@link shareWriteLock}: the most deliveries the next claim or settle should carry,
   * so that its transaction holds the write lock briefly while the host writes to the file
   * (see write-lock-sharing.ts); `null` (no limit) otherwise.
   */
  writeBatchLimit(operation: 'claimDue' | 'settle'): number | null {
    return this.#sharing?.batchLimit(operation === 'claimDue' ? 'claim' : 'settle') ?? null;
  }

  /** Gives leases back; the rows are due again at once (at their original due time). */
  async releaseLeases(leases: Array<{ deliveryId: string; leaseToken: string }>, now: number): Promise<void> {
    if (leases.length === 0) return;
    await this.#run('releaseLeases', true, (s) =>
      this.#immediate(() => {
        for (const lease of leases) s.releaseLease.run({ id: lease.deliveryId, token: lease.leaseToken, now });
      }),
    );
  }

  /** Earliest claimable time of a pending delivery, a lease counted (read at the head of the due index); `null` if none. */
  async nextDueAt(now: number): Promise<number | null> {
    return this.#run('nextDueAt', true, (s) => s.nextDue.get({ now }) ?? null);
  }

  /** The delivery, or `null`. */
  async getDelivery(id: string): Promise<DeliveryRecord | null> {
    return this.#run('getDelivery', true, (s) => {
      const row = s.getDelivery.get(id);
      return row === undefined ? null : toDelivery(row);
    });
  }

  /** Newest first (ids descending). @throws ValidationError `CURSOR_INVALID` for an unreadable cursor. */
  async listDeliveries(query: DeliveryQuery): Promise<Page<DeliveryRecord>> {
    return this.#run('listDeliveries', true, () => {
      const beforeId = query.cursor === undefined ? undefined : decodeCursor('deliveries', query.cursor);
      const { sql, params } = listDeliveriesQuery(this.#tables, { ...query, beforeId });
      const rows = this.#listStatement<DeliveryRow>(sql).all(params);
      return this.#page(rows.map(toDelivery), query.limit, 'deliveries');
    });
  }

  /** The attempts of a delivery, oldest first. */
  async listAttempts(deliveryId: string): Promise<AttemptRecord[]> {
    return this.#run('listAttempts', true, (s) => s.listAttempts.all(deliveryId).map(toAttempt));
  }

  /** The delivery's own payload as stored; `null` when it sends its event's, or is unknown. */
  async getDeliveryPayload(id: string): Promise<string | null> {
    return this.#run('getDeliveryPayload', true, (s) => s.getDeliveryPayload.get(id) ?? null);
  }

  /**
   * Makes a delivery due again at `now` with a fresh attempt cycle, unless its event is
   * expunged, its subscription deleted, or it is leased or held. One waiting behind its
   * ordering key's head gets its fresh cycle and goes on waiting (no due time).
   */
  async redeliver(id: string, now: number): Promise<DeliveryRecord | 'not_found' | 'expunged' | 'deleted' | 'in_flight' | 'held'> {
    return this.#run('redeliver', true, (s) =>
      this.#immediate(() => {
        const probe = s.probeDelivery.get(id);
        if (probe === undefined) return 'not_found' as const;
        const verdict = redeliverVerdict(probe.status, {
          subscriptionActive: probe.subscription_status === 'active',
          subscriptionDeleted: probe.subscription_deleted_at !== null,
          eventExpunged: probe.event_expunged_at !== null,
          leaseLive: probe.lease_token !== null && (probe.lease_expires_at ?? 0) > now,
        });
        if (verdict !== 'requeue') return verdict;
        const fields = requeuedParams(requeuedFields('pending', now));
        if (isWaiting({ status: probe.status, nextAttemptAt: probe.next_attempt_at, orderingKey: probe.ordering_key })) fields.next_attempt_at = null;
        return toDelivery(s.requeueDelivery.get({ id, ...fields })!);
      }),
    );
  }

  /**
   * Re-queues the window's dead deliveries and creates the missing ones for one subscription;
   * with `activate`, enables it in the same write transaction (no other connection can
   * publish in between: the write lock is held from the replay to the enable).
   */
  async replay(input: ReplayInput): Promise<ReplayResult> {
    try {
      return await this.#run('replay', true, (s) =>
        this.#immediate(() => {
          const subscription = this.#readSubscription(s, input.subscriptionId);
          const count = subscription === null ? 0 : replayWindow(s, input, subscription);
          if (input.activate === undefined || input.dryRun === true) return { count };
          return { count, subscription: this.#setStatusIn(s, input.subscriptionId, { status: 'active' }, input.now, input.activate) };
        }),
      );
    } catch (error) {
      throw thrownByHostCallback(error);
    }
  }

  /**
   * A page of one subscription's keys whose head is dead (storage/shared/ordering.ts), oldest
   * blocking delivery first, each with how many of the key's deliveries wait behind it.
   * @throws ValidationError `CURSOR_INVALID` for an unreadable cursor.
   */
  async listBlockedKeys(query: BlockedKeyQuery): Promise<Page<BlockedKey>> {
    return this.#run('listBlockedKeys', true, (s) => {
      // Paged by the blocking delivery's id (cursor kind `blocked`).
      const after = query.cursor === undefined ? '' : decodeCursor('blocked', query.cursor);
      const rows = s.listBlockedKeys.all({ subscription_id: query.subscriptionId, after, limit: query.limit + 1 });
      const items = rows.slice(0, query.limit).map((row) => ({
        subscriptionId: row.subscription_id,
        orderingKey: row.ordering_key!,
        delivery: toDelivery(row),
        waiting: row.waiting,
      }));
      const last = items[items.length - 1];
      return { items, nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor('blocked', last.delivery.id) : null };
    });
  }

  /**
   * Lets a key move on past its dead head, in one write transaction: the delivery stays as it
   * is; the key's next waiting delivery becomes its head, due at `now`. `'not_blocking'` for a
   * delivery that does not block its key (blocksKey: unordered, not dead, passed, or of a
   * soft-deleted subscription).
   */
  async skipDelivery(id: string, now: number): Promise<DeliveryRecord | 'not_found' | 'not_blocking'> {
    return this.#run('skipDelivery', true, (s) =>
      this.#immediate(() => {
        const row = s.getDelivery.get(id);
        if (row === undefined) return 'not_found' as const;
        const delivery = toDelivery(row);
        const state = delivery.orderingKey === null ? undefined : s.getOrderingKey.get(delivery.subscriptionId, delivery.orderingKey);
        const subscription = this.#readSubscription(s, delivery.subscriptionId);
        if (state === undefined || subscription === null || !blocksKey(delivery, state, subscription)) return 'not_blocking' as const;
        passHead(s, delivery, now);
        return delivery;
      }),
    );
  }

  /**
   * Counts by status, from one snapshot; of one subscription with `subscriptionId`, of one
   * tenant's subscriptions with `tenantId` (`null`: the platform's), of their intersection
   * with both.
   */
  async stats(now: number, query?: { subscriptionId?: string; tenantId?: string | null }): Promise<StorageStats> {
    return this.#run('stats', true, (s) => {
      const id = query?.subscriptionId;
      const tenant = query?.tenantId;
      const row =
        tenant !== undefined
          ? s.tenantStats.get({ tenant, id: id ?? null, now })!
          : id === undefined
            ? s.stats.get({ now })!
            : s.subscriptionStats.get({ id, now })!;
      return {
        pending: row.pending,
        leased: row.leased,
        waiting: row.waiting,
        held: row.held,
        dead: row.dead,
        delivered: row.delivered,
        cancelled: row.cancelled,
        oldestPendingCreatedAt: row.oldest,
      };
    });
  }

  /**
   * Removes deliveries that became final (delivered, dead, cancelled) before `olderThan`, their
   * attempts, and older events left without deliveries. Change logs and soft-deleted
   * subscriptions stay.
   */
  async purge(input: PurgeInput): Promise<PurgeResult> {
    checkPurgeInput(input);
    return this.#run('purge', true, (s) =>
      this.#immediate(() => {
        const attempts = s.purgeAttempts.run(input.olderThan).changes;
        const deliveries = s.purgeDeliveries.run(input.olderThan).changes;
        const events = s.purgeEvents.run(input.olderThan).changes;
        const testAttempts = s.purgeTestAttempts.run(input.olderThan).changes;
        return { events, deliveries, attempts, testAttempts };
      }),
    );
  }

  /**
   * One bounded batch of retention in one write transaction (see purge-retention-batch.ts):
   * one process writes to the file at a time, so two instances never purge at once.
   */
  async purgeRetention(input: PurgeRetentionInput): Promise<PurgeRetentionResult> {
    checkPurgeRetentionInput(input);
    return this.#run('purgeRetention', true, (s) => this.#immediate(() => purgeRetentionBatch(s, input)));
  }

  /**
   * Removes one bounded batch of a tenant's deliveries, subscriptions and events, in one
   * write transaction (see purge-tenant-batch.ts); `'in_flight'` unless `force` while one of
   * its deliveries is under a live lease at `now`.
   */
  async purgeTenant(input: PurgeTenantInput): Promise<PurgeTenantResult | 'in_flight'> {
    return this.#run('purgeTenant', true, (s) => this.#immediate(() => purgeTenantBatch(s, input)));
  }

  #enqueue(s: Statements, input: EnqueueInput): EnqueueResult {
    // The first publish (or settle) starts the WAL checkpointer's worker; cheap once it runs.
    this.#checkpointer?.start();
    if (input.tx !== undefined && input.tx !== null && input.tx !== this.database) {
      throw new ConfigError(
        'TX_UNSUPPORTED',
        'Expected `tx` to be the better-sqlite3 Database this storage was created with (the host transaction runs on that handle), got another object',
        { field: 'tx' },
      );
    }
    // Without an open transaction the event would commit on its own, apart from the host's
    // writes: what happens when an async fn given to db.transaction awaited something before
    // publishing (better-sqlite3 had rolled back the host's writes by then).
    if (input.tx === this.database && !this.database.inTransaction) {
      throw new ConfigError(
        'TX_UNSUPPORTED',
        'Expected `tx` to have an open transaction, got none: inside db.transaction(() => …) call ' +
          'publishSync(type, data, { tx: db }) (storage.enqueueSync), synchronously; an async fn given to ' +
          "better-sqlite3's db.transaction is rolled back at its first await",
        { field: 'tx' },
      );
    }
    return this.#immediate(() => enqueueEvent(s, input));
  }

  // Each filter under the subscription's tenant scope: the key fan-out looks up (migration 0007).
  #insertFilters(s: Statements, record: SubscriptionRecord): void {
    const tenantKey = idempotencyScope(record.tenantId);
    const allTenants = record.allTenants ? 1 : 0;
    for (const filter of record.eventTypes) s.insertFilter.run(filter, tenantKey, allTenants, record.id);
  }

  #readSubscription(s: Statements, id: string): SubscriptionRecord | null {
    const row = s.getSubscription.get(id);
    return row === undefined ? null : toSubscription(row);
  }

  #page<T extends { id: string }>(rows: T[], limit: number, list: CursorList): Page<T> {
    if (rows.length <= limit) return { items: rows, nextCursor: null };
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: last === undefined ? null : encodeCursor(list, last.id) };
  }

  // List queries vary with their filters; each shape is prepared once and kept.
  #listStatement<Row>(sql: string): Statement<Row> {
    let statement = this.#listStatements.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare(sql);
      this.#listStatements.set(sql, statement);
    }
    return statement as Statement<Row>;
  }

  /** `batch`: a claim or a settle, whose hold per item sizes the next ones while the write lock is shared. */
  #immediate<T>(fn: () => T, batch?: { kind: BatchedWrite; items: (result: T) => number }): T {
    const sharing = this.#sharing;
    if (sharing === null) return this.#transaction.immediate(fn) as T;
    let result!: T;
    sharing.write(
      () => (result = this.#transaction.immediate(fn) as T),
      batch === undefined ? undefined : { kind: batch.kind, items: () => batch.items(result) },
    );
    return result;
  }

  // Checked once, on the first call: every statement is prepared against the current schema.
  #ready(): Statements {
    if (this.#statements !== undefined) return this.#statements;
    const db = this.database;
    const sql = schemaSql(this.#tables);
    const exists = db.prepare(sql.migrationsTableExists).get() !== undefined;
    const version = exists ? (db.prepare<unknown[], number>(sql.currentVersion).pluck().get() ?? 0) : null;
    assertSchemaCurrent(where, version, latestSchemaVersion, '`storage.migrate()`');
    this.#statements = prepareStatements(db, this.#tables);
    return this.#statements;
  }

  #runSync<T>(operation: string, needsSchema: boolean, fn: (s: Statements) => T): T {
    if (this.#closed) throw new StorageError('STORAGE_CLOSED', `SQLite storage: ${operation} after close()`);
    try {
      return fn(needsSchema ? this.#ready() : (undefined as unknown as Statements));
    } catch (error) {
      // Carried as it is, neither mapped nor retried, to enqueue's and replay's boundary,
      // which unwrap it (shared/host-callbacks.ts).
      if (error instanceof HostCallbackFailure) throw error;
      throw toStorageError(error, operation, this.database.open);
    }
  }

  #run<T>(operation: string, needsSchema: boolean, fn: (s: Statements) => T): Promise<T> {
    const run = () => this.#runSync(operation, needsSchema, fn);
    // Inside the host's transaction a retry cannot help (the host holds the snapshot); surface it.
    const retryable = (error: unknown) => error instanceof StorageError && error.code === 'STORAGE_BUSY' && !this.database.inTransaction && !this.#closed;
    return this.#sharing === null ? retryWhileBusy(run, retryable) : this.#sharing.run(run, retryable, !readOperations.has(operation));
  }
}
