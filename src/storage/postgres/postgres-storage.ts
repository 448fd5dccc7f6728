/**
 * The PostgreSQL storage adapter (node-postgres): for hosts that run several
 * Bookkeeper instances on one database. Every instance runs a dispatcher against
 * the same tables; PostgreSQL is the coordinator. This file is the adapter: each
 * method runs statements from ./statements and applies the rules of ../shared; how a
 * statement runs (names, retries, transactions) is ./statement-runner.ts.
 *
 * Round trips. The dispatcher's hot path is one statement per claim batch and one
 * per settle batch (data-modifying CTEs; a batch travels as array parameters),
 * and `enqueue` is one statement for the event and its fan-out. A version with two
 * round trips per delivery was measured at ~1,300 deliveries/s whatever the number
 * of processes; batching is what lifts it.
 *
 * Clocks. The contract takes `now` from the caller's injected clock, and every
 * schedule stays in that clock: `next_attempt_at`, `created_at`, `updated_at`,
 * `delivered_at`, replay windows, purge cutoffs. Leases alone are measured by the
 * DATABASE clock (`now()`, the transaction's start): `lease_expires_at` is written
 * as `now() + leaseMs` and compared with `now()`, so a host whose clock runs ahead
 * cannot take over a lease early, and `capabilities.databaseClock` is true. The two
 * never meet in one comparison: a delivery is claimable when it is due by the
 * caller's clock (`next_attempt_at <= now`) and not under a lease by the database's
 * (`lease_expires_at IS NULL OR lease_expires_at <= now()`). Only `nextDueAt`
 * crosses over, translating a live lease into the caller's clock as `now` plus the
 * time the lease has left, so the dispatcher's timer is right whatever the skew.
 *
 * Transactions. Statements run in READ COMMITTED. Multi-statement work runs on a
 * pool client between BEGIN and COMMIT; with the host's `tx` (the transactional
 * outbox) the statement runs on the host's client and we neither BEGIN nor COMMIT.
 */
import { randomUUID } from 'node:crypto';
import type { Client, Pool, PoolClient } from 'pg';
import { ConfigError, StorageError, type StorageErrorCode } from '../../errors.js';
import { candidateFilters } from '../../registry/event-type-filter.js';
import { changeRecord, dispatcherDisableRecord, softDeletedFields, type NewChangeRecord } from '../shared/change-log.js';
import { decodeCursor, decodeSequenceCursor, encodeCursor, encodeSequenceCursor, type CursorList } from '../shared/cursor.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import { blocksKey, isKeyHead, passesOnDeath } from '../shared/ordering.js';
import { enqueuePayload, rendersPayloads, replayCreatesNothing, replayPayload } from '../shared/delivery-payloads.js';
import { assertExpungeIds } from '../shared/expunge-ids.js';
import { enqueueAccepts, replayAccepts, replayRefusesAll } from '../shared/payload-filters.js';
import { queuedStatus, redeliverVerdict, requeuedFields } from '../shared/redelivery.js';
import { applySubscriptionPatch, subscriptionStatusChange, type SubscriptionStatusChange } from '../shared/subscription-changes.js';
import { idempotencyScope, tenantLimitReached } from '../shared/tenancy.js';
import {
  CANCELLED_BY_DELETE,
  CANCELLED_BY_EXPUNGE,
  type AttemptRecord,
  type BlockedKey,
  type BlockedKeyQuery,
  type ChangeAudit,
  type ClaimInput,
  type ClaimedDelivery,
  type DeliveryQuery,
  type DeliveryRecord,
  type EnqueueInput,
  type EnqueueResult,
  type EventQuery,
  type EventRecord,
  type ExpungeResult,
  type Page,
  type PurgeInput,
  type PurgeResult,
  type PurgeRetentionInput,
  type PurgeRetentionResult,
  type PurgeTenantInput,
  type PurgeTenantResult,
  type ReadOptions,
  type ReplayInput,
  type ReplayResult,
  type SettleResult,
  type Settlement,
  type StorageAdapter,
  type StorageCapabilities,
  type StorageStats,
  type SubscriptionChangeQuery,
  type SubscriptionChangeRecord,
  type SubscriptionPatch,
  type SubscriptionQuery,
  type SubscriptionRecord,
  type SubscriptionStatus,
  type TestAttemptQuery,
  type TestAttemptRecord,
  type WakeOptions,
} from '../storage-adapter.js';
import { isPlainData, type WorkerRecipeResult } from '../shared/worker-recipe.js';
import type { PostgresQueryable } from './driver.js';
import { toStorageError } from './driver-errors.js';
import { FanOutIds } from './fan-out-ids.js';
import { migrateSchema, parseMigrateOptions, readApplied, type MigrationSleep, type PostgresMigrateOptions, type PostgresMigrationPlan } from './migrate.js';
import { migrationSet, type MigrationSet } from './migrations/index.js';
import { assertSchemaCompatible } from './schema-compatibility.js';
import { advancePassedHeads, keyedOf, keyOf, lockKeys, type CancelledRow, type PassingDelivery } from './ordering-heads.js';
import {
  changeValues,
  int,
  intOrNull,
  patchedValues,
  pendingTargets,
  pgText,
  requeuedValues,
  jsonOrNull,
  subscriptionValues,
  testAttemptValues,
  toAttempt,
  toChange,
  toClaimed,
  toDelivery,
  toEvent,
  toSubscription,
  toTestAttempt,
  type AttemptRow,
  type BlockedKeyRow,
  type ChangeRow,
  type ClaimRow,
  type DeliveryRow,
  type EnqueueRow,
  type EventRow,
  type IntLike,
  type NextDueRow,
  type PurgeRow,
  type RedeliverProbeRow,
  type ReplayCandidateRow,
  type SettledRow,
  type StatsRow,
  type SubscriptionRow,
  type TestAttemptRow,
} from './rows.js';
import { checkPurgeInput, checkPurgeRetentionInput } from '../shared/retention.js';
import { purgeRetentionBatch } from './purge-retention-batch.js';
import { purgeTenantBatch } from './purge-tenant-batch.js';
import { firstDisables, settleResults, settleValues } from './settle-batch.js';
import { writeStatusChanges } from './status-changes.js';
import { retryBusyOrUnavailable, retryNothing, StatementRunner } from './statement-runner.js';
import {
  listChangesSql,
  listDeliveriesSql,
  listEventsSql,
  listSubscriptionsSql,
  postgresStatements,
  statsSql,
  tablesOf,
  type Statements,
  type Tables,
} from './statements/index.js';
import { headPassingKinds } from './statements/settle.js';
import { WakeListener } from './wake-listener.js';
import { WakeNotifier } from './wake-notifier.js';

export type { PostgresQueryable } from './driver.js';

/** What {@link PostgresStorage} needs; built and validated by `createPostgresStorage`. */
export interface PostgresStorageSettings {
  /** The pool every statement runs on (the host's, when handed in). */
  readonly pool: Pool;
  /** True when the adapter created the pool (from `connectionString`) and so ends it. */
  readonly ownsPool: boolean;
  /** Validated schema name (an unquoted lower-case identifier). */
  readonly schema: string;
  /** Validated LISTEN/NOTIFY channel. */
  readonly notifyChannel: string;
  /**
   * Makes a new, unconnected client for LISTEN, outside the pool's working set;
   * `null` when there is no way to (wake-ups are then off; polling still works).
   */
  readonly createListenClient: (() => Client) | null;
  /**
   * Where the reads that may lag go (`ReadOptions.mayLag`: the delivery log, the event list,
   * the backlog figures); absent: the pool.
   */
  readonly readPool?: Pool;
  /** True when the adapter created `readPool` (from a connection string) and so ends it. */
  readonly ownsReadPool?: boolean;
  /** False: every statement goes unnamed, for a pooler that cannot carry prepared statements. */
  readonly preparedStatements?: boolean;
  /** The direct connection the listener uses instead of the pool's settings; for a worker's recipe. */
  readonly listenConnectionString?: string;
  /**
   * How a worker thread makes a pool of its own to the same database (see
   * {@link PostgresStorage.workerRecipe}): the adapter's connection string and pool size, or
   * a handed-in pool's settings; absent: it cannot.
   */
  readonly connectionSettings?: { readonly connectionString: string; readonly poolSize: number } | { readonly poolOptions: unknown };
  /**
   * @internal The steps and compatibility declaration of the release this storage is (tests
   * simulate two releases with it); absent: this code's own.
   */
  readonly migrationSet?: MigrationSet;
  /** @internal How `migrate()` waits before trying a lock-timed-out step again; absent: a timer. */
  readonly migrationSleep?: MigrationSleep;
}

/**
 * How long the start-up check of wake-ups waits, by default, for the notification it sent
 * itself: one round trip through the pool and one on the LISTEN connection, on a database
 * that may be busy starting every instance at once.
 */
const wakeCheckTimeoutMs = 5_000;

/** The candidates of a filtered replay read at once: bounds the payloads held in memory. */
const replayFilterBatch = 500;

/** The cursor list of listBlockedKeys: blocking delivery ids ascending. */
const blockedKeysCursor: CursorList = 'blocked';

/**
 * How long a transaction holding ordering keys waits for any further lock before it gives up
 * and is retried (see `yieldLockWaits` in statements/ordering.ts).
 */
const keyHolderLockTimeout = '200ms';

/** A publish retries a 23503 too: a matching subscription deleted meanwhile rolled the statement back whole. */
const retryEnqueue: ReadonlySet<StorageErrorCode> = new Set(['STORAGE_BUSY', 'STORAGE_CONFLICT']);

/**
 * `purge` retries a 23503 too: a replay that gave an old event without deliveries a new one
 * while the purge waited for the event's row lock (a lock only, so the purge's DELETE goes
 * ahead on its older snapshot) fails the foreign key check at the end of the statement, and
 * the whole statement rolls back. Run again, it sees the new delivery and keeps the event.
 */
const retryPurge: ReadonlySet<StorageErrorCode> = new Set(['STORAGE_BUSY', 'STORAGE_CONFLICT']);

/** The settle's rows, and the batch ordinals whose `disable` disabled its subscription. */
/** What the core answered during one publish's rounds (see #enqueueOn), kept across a retry in place. */
interface PublishAnswers {
  /** Subscription id → whether it receives: its filter's verdict, false too when nothing rendered its payload. */
  verdicts: Map<string, boolean>;
  /** Subscription id → its delivery's rendered payload; `null`: the core left it on its event's payload. */
  payloads: Map<string, string | null>;
}

interface SettledBatch {
  rows: SettledRow[];
  disabledBy: Set<number>;
}

/**
 * The {@link StorageAdapter} on PostgreSQL through node-postgres. Build it with
 * `createPostgresStorage()` from `@bookkeeper/webhooks/postgres`.
 *
 * Lease times come from the database clock (`capabilities.databaseClock`); `enqueue`
 * takes the host's client in `tx` for a transactional outbox
 * (`capabilities.transactions`); `subscribeWake` listens for other instances'
 * publishes with LISTEN/NOTIFY.
 */
export class PostgresStorage implements StorageAdapter {
  /** `'postgres'`. */
  readonly name = 'postgres';
  /** Takes the host's client as `tx`; lease expiry is measured by the database clock. */
  readonly capabilities: StorageCapabilities = Object.freeze({ transactions: true, databaseClock: true });
  /** The pool the adapter works on (the host's, when handed in). */
  readonly pool: Pool;
  /** The schema the tables live in. */
  readonly schema: string;

  readonly #ownsPool: boolean;
  readonly #channel: string;
  readonly #createListenClient: (() => Client) | null;
  readonly #tables: Tables;
  readonly #sql: Statements;
  readonly #runner: StatementRunner;
  readonly #listeners = new Set<WakeListener>();
  readonly #fanOutIds = new FanOutIds();
  readonly #notifier: WakeNotifier;
  readonly #connectionSettings: PostgresStorageSettings['connectionSettings'];
  readonly #migrationSet: MigrationSet;
  readonly #migrationSleep: MigrationSleep;
  readonly #readPool: Pool;
  readonly #ownsReadPool: boolean;
  readonly #preparedStatements: boolean;
  readonly #listenConnectionString: string | undefined;
  #wakeCheckTimeoutMs = wakeCheckTimeoutMs;

  /** Use `createPostgresStorage()`; this constructor trusts its (validated) settings. */
  constructor(settings: PostgresStorageSettings) {
    this.pool = settings.pool;
    this.#ownsPool = settings.ownsPool;
    this.schema = settings.schema;
    this.#channel = settings.notifyChannel;
    this.#createListenClient = settings.createListenClient;
    this.#connectionSettings = settings.connectionSettings;
    this.#tables = tablesOf(settings.schema);
    this.#sql = postgresStatements(settings.schema);
    this.#migrationSet = settings.migrationSet ?? migrationSet;
    this.#migrationSleep = settings.migrationSleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#readPool = settings.readPool ?? settings.pool;
    this.#ownsReadPool = settings.ownsReadPool === true;
    this.#preparedStatements = settings.preparedStatements !== false;
    this.#listenConnectionString = settings.listenConnectionString;
    this.#runner = new StatementRunner(
      settings.pool,
      settings.schema,
      async (pool) => assertSchemaCompatible(this.#runner.where, await readApplied({ runner: this.#runner, statements: this.#sql }, pool), this.#migrationSet),
      { readPool: this.#readPool, preparedStatements: this.#preparedStatements },
    );
    this.#notifier = new WakeNotifier(
      () => this.#runner.execute(this.pool, this.#sql.notify, [this.#channel, this.schema]),
      () => this.#runner.closed,
    );
  }

  /**
   * @internal How a dispatcher in a worker thread opens this database again: a pool of its
   * own from the same connection string and size, or from a handed-in pool's settings when
   * they are plain data (a password given as a function, a custom `Client` or stream
   * cannot cross to a thread: refused).
   */
  workerRecipe(): WorkerRecipeResult {
    const settings = this.#connectionSettings;
    // The worker claims, settles and listens: no read goes to a replica there.
    const base = {
      kind: 'postgres',
      schema: this.schema,
      notifyChannel: this.#channel,
      preparedStatements: this.#preparedStatements,
      ...(this.#listenConnectionString === undefined ? {} : { listenConnectionString: this.#listenConnectionString }),
    } as const;
    if (settings === undefined) return { refused: 'the PostgreSQL pool does not show its connection settings (not a node-postgres Pool)' };
    if ('connectionString' in settings) return { recipe: { ...base, connection: { connectionString: settings.connectionString, poolSize: settings.poolSize } } };
    if (typeof settings.poolOptions !== 'object' || settings.poolOptions === null) {
      return { refused: 'the handed-in PostgreSQL pool does not show its connection settings (not a node-postgres Pool)' };
    }
    // Every own field, the hidden ones too: node-postgres keeps `password` non-enumerable
    // (out of logs), and a clone of the enumerable ones alone would lose it.
    const given = settings.poolOptions as Record<string, unknown>;
    const options = Object.fromEntries(Object.getOwnPropertyNames(given).map((key) => [key, given[key]]));
    if (!isPlainData(options)) {
      return {
        refused:
          'the handed-in PostgreSQL pool has settings that cannot cross to a thread (a function, such as a password callback, or a class instance): create the storage from a connectionString instead',
      };
    }
    return { recipe: { ...base, connection: { poolOptions: options } } };
  }

  /**
   * @internal For tests: how long the start-up check of wake-ups waits for its own
   * notification before it warns (default 5 s).
   */
  setWakeCheckTimeout(timeoutMs: number): void {
    this.#wakeCheckTimeoutMs = timeoutMs;
  }

  /**
   * Applies the pending migration steps of a phase, each in a transaction of its own under
   * its lock timeout, and answers the plan (see ./migrate.ts). The default, `'expand'`, is
   * what `webhooks.start()` runs on every instance: additive steps only, so the instances of
   * the previous release keep running beside the new one (and the new release can be rolled
   * back). `{ phase: 'contract' }` applies the rest, once no instance of an older release runs.
   *
   * @example
   * ```ts
   * const plan = await storage.migrate({ phase: 'contract', dryRun: true });
   * console.log(plan.steps.map((step) => step.name));
   * ```
   *
   * @throws ConfigError `CONFIG_INVALID` for unknown or wrong options.
   * @throws StorageError `STORAGE_SCHEMA_TOO_NEW` past a newer release's contract step;
   *   `STORAGE_SCHEMA_TOO_OLD` when this code needs a contract step that only
   *   `{ phase: 'contract' }` applies; `STORAGE_MIGRATION_LOCKED` when a step kept hitting its lock timeout.
   */
  async migrate(options: PostgresMigrateOptions = {}): Promise<PostgresMigrationPlan> {
    const parsed = parseMigrateOptions(options);
    return migrateSchema(
      { runner: this.#runner, schema: this.schema, set: this.#migrationSet, statements: this.#sql, sleep: this.#migrationSleep },
      parsed,
    );
  }

  /**
   * Stops every wake-up listener and ends the pools the adapter created (from
   * `connectionString`, and `readPool` given as a connection string); a handed-in pool
   * stays open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#runner.closed) return;
    this.#runner.close();
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    await Promise.all(listeners.map((listener) => listener.stop()));
    // Each owned pool is ended whatever the other does; the first failure is reported.
    let failure: unknown = null;
    for (const pool of [...(this.#ownsPool ? [this.pool] : []), ...(this.#ownsReadPool ? [this.#readPool] : [])]) {
      try {
        await pool.end();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== null) throw toStorageError(failure, 'close');
  }

  /**
   * Stores a subscription and its filter rows, in one statement. With `maxPerTenant` and a
   * tenant, in one transaction under the tenant's advisory lock: the count of its
   * subscriptions not deleted and the insert, so that two creates racing for its last
   * place (on any instance) are decided one after the other. With `audit`, its `created`
   * change record in the same transaction.
   *
   * @throws StorageError `STORAGE_CONFLICT` for an existing id, or a change record id in the log already.
   * @throws ConflictError `TENANT_SUBSCRIPTION_LIMIT` when the tenant has `maxPerTenant` subscriptions already.
   */
  async createSubscription(record: SubscriptionRecord, limits: { maxPerTenant?: number } = {}, audit?: ChangeAudit): Promise<SubscriptionRecord> {
    const { tenantId } = record;
    const max = limits.maxPerTenant;
    const limited = tenantId !== null && max !== undefined;
    const values = [...subscriptionValues(record), record.eventTypes, idempotencyScope(tenantId), record.versions ?? null, jsonOrNull(record.tls)];
    const insert = async (on?: PoolClient): Promise<SubscriptionRecord> =>
      toSubscription((await this.#query<SubscriptionRow>(this.#sql.createSubscription, values, on))[0]!);
    if (!limited && audit === undefined) return this.#runner.run('createSubscription', () => insert());
    return this.#runner.run('createSubscription', () =>
      this.#runner.transaction(async (client) => {
        if (limited) {
          await this.#query(this.#sql.lockTenant, [tenantId], client);
          const [counted] = await this.#query<{ n: IntLike }>(this.#sql.countTenantSubscriptions, [tenantId], client);
          if (int(counted!.n) >= max) throw tenantLimitReached(tenantId, max);
        }
        const stored = await insert(client);
        if (audit !== undefined) await this.#insertChanges(client, [changeRecord(audit, null, stored, record.createdAt)]);
        return stored;
      }),
    );
  }

  /** The subscription (soft-deleted or not), or `null`. */
  async getSubscription(id: string): Promise<SubscriptionRecord | null> {
    return this.#runner.run(
      'getSubscription',
      async () => {
        const [row] = await this.#query<SubscriptionRow>(this.#sql.getSubscription, [id]);
        return row === undefined ? null : toSubscription(row);
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Oldest first (ids ascending), optionally of one status and of one tenant (`null`: the
   * platform's); soft-deleted ones only with `includeDeleted`.
   * @throws ValidationError `CURSOR_INVALID` for an unreadable cursor.
   */
  async listSubscriptions(query: SubscriptionQuery): Promise<Page<SubscriptionRecord>> {
    const afterId = query.cursor === undefined ? undefined : decodeCursor('subscriptions', query.cursor);
    const { limit, status, tenantId, includeDeleted } = query;
    const { text, values } = listSubscriptionsSql(this.#tables, { limit, afterId, status, tenantId, includeDeleted });
    return this.#runner.run(
      'listSubscriptions',
      async () => page((await this.#query<SubscriptionRow>(text, values)).map(toSubscription), query.limit, 'subscriptions'),
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Applies the patch (shared/subscription-changes.ts) to the locked row; the filter rows
   * are rewritten when `eventTypes` is in it; with `audit`, the change record. `null` when
   * not found; a soft-deleted subscription is returned as it is, nothing written.
   */
  async updateSubscription(id: string, patch: SubscriptionPatch, now: number, audit?: ChangeAudit): Promise<SubscriptionRecord | null> {
    return this.#runner.run('updateSubscription', () =>
      this.#runner.transaction(async (client) => {
        const [row] = await this.#query<SubscriptionRow>(this.#sql.lockSubscription, [id], client);
        if (row === undefined) return null;
        const current = toSubscription(row);
        if (current.deletedAt !== null) return current;
        const next = applySubscriptionPatch(current, patch, now);
        const [updated] = await this.#query<SubscriptionRow>(this.#sql.updateSubscription, patchedValues(next), client);
        if (patch.eventTypes !== undefined) {
          await this.#query(this.#sql.deleteFilters, [id], client);
          await this.#query(this.#sql.insertFilters, [id, next.eventTypes, idempotencyScope(next.tenantId), next.allTenants], client);
        }
        const stored = toSubscription(updated!);
        if (audit !== undefined) await this.#insertChanges(client, [changeRecord(audit, current, stored, now)]);
        return stored;
      }),
    );
  }

  /**
   * Disables (pending deliveries become held) or enables (held become pending, due at
   * `now`) by shared/subscription-changes.ts's rule, on the locked row: setting the
   * status a subscription has already changes nothing, and logs nothing. With `audit`, a
   * change writes its change record. A soft-deleted subscription is returned as it is.
   */
  async setSubscriptionStatus(
    id: string,
    change: { status: SubscriptionStatus; reason?: string | null },
    now: number,
    audit?: ChangeAudit,
  ): Promise<SubscriptionRecord | null> {
    return this.#runner.run('setSubscriptionStatus', () => this.#runner.transaction((client) => this.#setStatusOn(client, id, change, now, audit)));
  }

  /** `setSubscriptionStatus`'s work, on the locked row, in the caller's transaction. */
  async #setStatusOn(
    client: PoolClient,
    id: string,
    change: { status: SubscriptionStatus; reason?: string | null },
    now: number,
    audit: ChangeAudit | undefined,
  ): Promise<SubscriptionRecord | null> {
    const [row] = await this.#query<SubscriptionRow>(this.#sql.lockSubscription, [id], client);
    if (row === undefined) return null;
    const current = toSubscription(row);
    if (current.deletedAt !== null) return current;
    const statusChange = subscriptionStatusChange(current, change, now);
    if (statusChange === null) return current;
    const { subscriptions } = await writeStatusChanges(this.#runner, this.#sql, client, new Map([[id, statusChange]]), now);
    const stored = toSubscription(subscriptions[0]!);
    if (audit !== undefined) await this.#insertChanges(client, [changeRecord(audit, current, stored, now)]);
    return stored;
  }

  /**
   * Soft delete, in one transaction on the locked row: the fields of
   * shared/change-log.ts's `softDeletedFields`, its filter rows removed (it never receives
   * again), its open deliveries cancelled (CANCELLED_BY_DELETE, leases kept), and with
   * `audit` its `deleted` change record. `null` when not found; one deleted before is
   * returned as it is with `cancelled: 0`.
   */
  async softDeleteSubscription(
    id: string,
    now: number,
    audit?: ChangeAudit,
  ): Promise<{ subscription: SubscriptionRecord; cancelled: number } | null> {
    return this.#runner.run('softDeleteSubscription', () =>
      this.#runner.transaction(async (client) => {
        const [row] = await this.#query<SubscriptionRow>(this.#sql.lockSubscription, [id], client);
        if (row === undefined) return null;
        const current = toSubscription(row);
        const fields = softDeletedFields(current, now);
        if (fields === null) return { subscription: current, cancelled: 0 };
        const { status, disabledReason, disabledAt, deletedAt, updatedAt } = fields;
        const [updated] = await this.#query<SubscriptionRow>(
          this.#sql.softDelete,
          [id, status, disabledReason, disabledAt, deletedAt, updatedAt],
          client,
        );
        await this.#query(this.#sql.deleteFilters, [id], client);
        const { rowCount } = await this.#runner.execute(client, this.#sql.cancelSubscriptionDeliveries, [id, CANCELLED_BY_DELETE, now]);
        const subscription = toSubscription(updated!);
        if (audit !== undefined) await this.#insertChanges(client, [changeRecord(audit, current, subscription, now)]);
        return { subscription, cancelled: rowCount };
      }),
    );
  }

  /**
   * Deletes the subscription (soft-deleted or not) with its filters, deliveries and their
   * attempts, its change log and its test log (events stay).
   */
  async deleteSubscription(id: string): Promise<boolean> {
    return this.#runner.run('deleteSubscription', async () => (await this.#query(this.#sql.deleteSubscription, [id])).length > 0);
  }

  /**
   * One subscription's change log, oldest first (ids ascending); an unknown subscription
   * gives an empty page. @throws ValidationError `CURSOR_INVALID` for an unreadable cursor.
   */
  async listSubscriptionChanges(query: SubscriptionChangeQuery): Promise<Page<SubscriptionChangeRecord>> {
    const afterSequence = query.cursor === undefined ? undefined : decodeSequenceCursor(query.cursor);
    const { text, values } = listChangesSql(this.#tables, { subscriptionId: query.subscriptionId, limit: query.limit, ...(afterSequence === undefined ? {} : { afterSequence }) });
    return this.#runner.run(
      'listSubscriptionChanges',
      async () => {
        const rows = (await this.#query<ChangeRow>(text, values)).map(toChange);
        if (rows.length <= query.limit) return { items: rows, nextCursor: null };
        const items = rows.slice(0, query.limit);
        return { items, nextCursor: encodeSequenceCursor(items[items.length - 1]!.sequence) };
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /** One change record, or `null`. */
  async getSubscriptionChange(id: string): Promise<SubscriptionChangeRecord | null> {
    return this.#runner.run(
      'getSubscriptionChange',
      async () => {
        const [row] = await this.#query<ChangeRow>(this.#sql.getChange, [id]);
        return row === undefined ? null : toChange(row);
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Appends a test attempt to its subscription's test log, in one statement that reads the
   * subscription FOR KEY SHARE; `false` (nothing stored) when it is gone.
   *
   * @throws StorageError `STORAGE_CONFLICT` for an id in the log already.
   */
  async recordTestAttempt(record: TestAttemptRecord): Promise<boolean> {
    return this.#runner.run('recordTestAttempt', async () => (await this.#runner.execute(this.pool, this.#sql.insertTestAttempt, testAttemptValues(record))).rowCount > 0);
  }

  /** One subscription's test log, newest first. @throws ValidationError `CURSOR_INVALID` for an unreadable cursor. */
  async listTestAttempts(query: TestAttemptQuery): Promise<Page<TestAttemptRecord>> {
    const before = query.cursor === undefined ? undefined : decodeCursor('tests', query.cursor);
    const [text, values] =
      before === undefined
        ? [this.#sql.listTestAttempts, [query.subscriptionId, query.limit + 1]]
        : [this.#sql.listTestAttemptsBefore, [query.subscriptionId, before, query.limit + 1]];
    return this.#runner.run(
      'listTestAttempts',
      async () => page((await this.#query<TestAttemptRow>(text, values)).map(toTestAttempt), query.limit, 'tests'),
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Stores the event and one pending delivery per matching active subscription in one
   * statement — one round trip, atomic — then wakes the other instances with a NOTIFY
   * sent after the commit (not awaited; see the statement for why not inside it).
   *
   * With `tx` (a `pg` client inside the host's BEGIN, or any object with its
   * `query(text, values)`), the statement runs on that client inside the host's
   * transaction: the event, its deliveries and the NOTIFY (here inside the statement,
   * so it fires on the host's commit) commit or roll back with the host's writes. We
   * neither BEGIN nor COMMIT, and do not retry (the host owns the transaction; a failed
   * statement has aborted it).
   *
   * @throws ConfigError `TX_UNSUPPORTED` when `tx` has no `query(text, values)` function.
   */
  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    const tx = input.tx;
    // Kept across a retry in place: a payload filter is asked, and a payload rendered, once per publish.
    const answers: PublishAnswers = { verdicts: new Map(), payloads: new Map() };
    if (tx === undefined || tx === null) {
      return this.#runner.run('enqueue', () => this.#enqueueOn(this.pool, input, answers), { retry: retryEnqueue });
    }
    if (typeof (tx as { query?: unknown }).query !== 'function') {
      throw new ConfigError(
        'TX_UNSUPPORTED',
        'Expected `tx` to be a pg client inside the host transaction (an object with `query(text, values)`), got an object without `query`',
        { field: 'tx' },
      );
    }
    return this.#runner.run('enqueue', () => this.#enqueueOn(tx as PostgresQueryable, input, answers), { retry: retryNothing });
  }

  /** The event (expunged or not), or `null`. */
  async getEvent(id: string, read?: ReadOptions): Promise<EventRecord | null> {
    return this.#runner.run(
      'getEvent',
      async () => {
        const [row] = await this.#query<EventRow>(this.#sql.getEvent, [id], this.#readOn(read));
        return row === undefined ? null : toEvent(row);
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Events, newest first (ids descending) or oldest first for `order: 'asc'`, expunged ones
   * included, of one tenant (`null`: those published without one), some types and a
   * publication window.
   * @throws ValidationError `CURSOR_INVALID` for an unreadable cursor, or one of the other order.
   */
  async listEvents(query: EventQuery, read?: ReadOptions): Promise<Page<EventRecord>> {
    const list = query.order === 'asc' ? 'feed' : 'events';
    const lastId = query.cursor === undefined ? undefined : decodeCursor(list, query.cursor);
    // No type matches an empty list: nothing to read.
    if (query.types?.length === 0) return { items: [], nextCursor: null };
    const { text, values } = listEventsSql(this.#tables, { ...query, lastId });
    return this.#runner.run(
      'listEvents',
      async () => page((await this.#query<EventRow>(text, values, this.#readOn(read))).map(toEvent), query.limit, list),
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Erases the content of the events not yet expunged, in one transaction, one statement
   * per step (see statements/events.ts for why the steps are separate): their payloads,
   * then their open deliveries (cancelled, CANCELLED_BY_EXPUNGE, leases kept; a cancelled
   * head of an ordering key lets the key move on, its key locked first), then their
   * attempts' response snippets. Unknown and expunged ids are skipped.
   *
   * @throws ValidationError `INPUT_INVALID` for more than 1000 ids (shared/expunge-ids.ts).
   */
  async expungeEvents(ids: readonly string[], now: number): Promise<ExpungeResult> {
    assertExpungeIds(ids);
    if (ids.length === 0) return { events: 0, cancelled: 0, snippets: 0 };
    return this.#runner.run('expungeEvents', () =>
      this.#runner.transaction(async (client) => {
        const erased = (await this.#query<{ id: string }>(this.#sql.eraseEvents, [[...ids], now], client)).map((row) => row.id);
        if (erased.length === 0) return { events: 0, cancelled: 0, snippets: 0 };
        // The keys of their deliveries before the deliveries (statements/ordering.ts): a
        // cancelled head lets its key move on (shared/ordering.ts).
        const locked = await lockKeys(this.#runner, client, this.#sql.lockKeysOfEvents, [erased]);
        const cancelled = await this.#query<CancelledRow>(this.#sql.cancelEventDeliveries, [erased, CANCELLED_BY_EXPUNGE, now], client);
        if (locked.size > 0) await advancePassedHeads(this.#runner, this.#sql, client, locked, keyedOf(cancelled, now), now);
        const snippets = await this.#runner.execute(client, this.#sql.eraseSnippets, [erased]);
        return { events: erased.length, cancelled: cancelled.length, snippets: snippets.rowCount };
      }),
    );
  }

  /**
   * Leases up to `limit` due deliveries in one statement (see the `claim` statement for the
   * lock and the index), skipping the excluded subscriptions and tenants.
   */
  async claimDue(input: ClaimInput): Promise<ClaimedDelivery[]> {
    if (input.limit <= 0) return [];
    const subscriptions = input.excludeSubscriptionIds ?? [];
    const tenants = input.excludeTenantIds ?? [];
    const [text, values] =
      subscriptions.length === 0 && tenants.length === 0
        ? [this.#sql.claim, [input.now, input.limit, input.leaseMs]]
        : [this.#sql.claimExcluding, [input.now, input.limit, input.leaseMs, subscriptions, tenants]];
    return this.#runner.run('claimDue', async () => (await this.#query<ClaimRow>(text, values)).map(toClaimed), {
      retry: retryBusyOrUnavailable,
    });
  }

  /**
   * Two settles at once: a keyed settle is a transaction of several round trips, and the
   * next delivery of each key it passes waits for its commit (see `writeConcurrency` in the
   * storage contract for which batches the dispatcher overlaps). Concurrent settles of
   * distinct deliveries are what several instances already send; they lock their own rows
   * and keys.
   */
  writeConcurrency(): number {
    return 2;
  }

  /**
   * Records a batch of attempts and outcomes in one statement (one round trip, one
   * commit), each fenced by its lease token; a delivery cancelled while its attempt was in
   * flight is settled by the rules for it in the same statement. A batch with a `disable`
   * outcome disables those subscriptions in the same transaction, by the rule of
   * setSubscriptionStatus, with the change record of each one it disables.
   */
  async settle(settlements: Settlement[], now: number): Promise<SettleResult[]> {
    if (settlements.length === 0) return [];
    // Safe to repeat: a settle that committed but whose answer was lost finds its tokens
    // gone and changes nothing the second time.
    const retry = { retry: retryBusyOrUnavailable };
    if (settlements.some((settlement) => settlement.outcome.kind === 'disable')) {
      const { rows, disabledBy } = await this.#runner.run(
        'settle',
        () => this.#runner.transaction((client) => this.#settleDisabling(client, settlements, now)),
        retry,
      );
      return settleResults(settlements, rows, disabledBy);
    }
    // The dispatcher says a key's head may pass in this batch (Settlement.orderingKey): the
    // whole batch goes to the keyed transaction at once, rather than through the settle
    // statement, which would leave out that subscription's settlements, only to have them
    // settled there. A wrong hint costs time, never correctness: either path settles any
    // batch by the stored keys.
    if (settlements.some((settlement) => settlement.orderingKey != null && headPassingKinds.includes(settlement.outcome.kind))) {
      return settleResults(settlements, await this.#settleKeyedAlone(settlements, now), new Set());
    }
    const rows = await this.#runner.run('settle', () => this.#query<SettledRow>(this.#sql.settle, settleValues(settlements, now)), retry);
    // Left out by the statement: a lost lease, or a settlement of a subscription whose
    // batch lets an ordering key's head pass, settled now in a transaction of its own.
    const settled = new Set(rows.map((row) => int(row.ord)));
    const rest = settlements.flatMap((settlement, index) => (settled.has(index + 1) ? [] : [{ settlement, ord: index + 1 }]));
    if (rest.some(({ settlement }) => headPassingKinds.includes(settlement.outcome.kind))) {
      const keyed = await this.#settleKeyedAlone(rest.map(({ settlement }) => settlement), now);
      // Back to their places in the whole batch.
      for (const row of keyed) rows.push({ ...row, ord: rest[int(row.ord) - 1]!.ord });
    }
    return settleResults(settlements, rows, new Set());
  }

  /** Gives leases back in one statement; the rows are due again at once (at their original due time). */
  async releaseLeases(leases: Array<{ deliveryId: string; leaseToken: string }>, now: number): Promise<void> {
    if (leases.length === 0) return;
    const values = [leases.map((lease) => lease.deliveryId), leases.map((lease) => lease.leaseToken), now];
    await this.#runner.run('releaseLeases', () => this.#query(this.#sql.releaseLeases, values), { retry: retryBusyOrUnavailable });
  }

  /**
   * Earliest time, in the caller's clock, at which a pending delivery of an active
   * subscription becomes claimable; `null` if none. A delivery not under a lease is
   * due at its `next_attempt_at`; one under a live lease when the lease expires by the
   * database clock, translated into the caller's clock as `now` plus the time the
   * lease has left.
   */
  async nextDueAt(now: number): Promise<number | null> {
    return this.#runner.run(
      'nextDueAt',
      async () => {
        const [row] = await this.#query<NextDueRow>(this.#sql.nextDue, []);
        if (row === undefined) return null;
        const due = intOrNull(row.due);
        const lease = intOrNull(row.lease);
        const leaseDue = lease === null ? null : now + (lease - int(row.db_now));
        if (due === null) return leaseDue;
        return leaseDue === null ? due : Math.min(due, leaseDue);
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /** The delivery, or `null`. */
  async getDelivery(id: string, read?: ReadOptions): Promise<DeliveryRecord | null> {
    return this.#runner.run(
      'getDelivery',
      async () => {
        const [row] = await this.#query<DeliveryRow>(this.#sql.getDelivery, [id], this.#readOn(read));
        return row === undefined ? null : toDelivery(row);
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Newest first (ids descending), by the query's filters (`tenantId`: the deliveries of
   * that tenant's subscriptions). @throws ValidationError `CURSOR_INVALID` for an unreadable cursor.
   */
  async listDeliveries(query: DeliveryQuery, read?: ReadOptions): Promise<Page<DeliveryRecord>> {
    const beforeId = query.cursor === undefined ? undefined : decodeCursor('deliveries', query.cursor);
    const { text, values } = listDeliveriesSql(this.#tables, { ...query, beforeId });
    return this.#runner.run(
      'listDeliveries',
      async () => page((await this.#query<DeliveryRow>(text, values, this.#readOn(read))).map(toDelivery), query.limit, 'deliveries'),
      { retry: retryBusyOrUnavailable },
    );
  }

  /** The delivery's own payload as stored; `null` when it sends its event's, or is unknown. */
  async getDeliveryPayload(id: string, read?: ReadOptions): Promise<string | null> {
    return this.#runner.run(
      'getDeliveryPayload',
      async () => (await this.#query<{ payload: string | null }>(this.#sql.getDeliveryPayload, [id], this.#readOn(read)))[0]?.payload ?? null,
      { retry: retryBusyOrUnavailable },
    );
  }

  /** The attempts of a delivery, oldest first. */
  async listAttempts(deliveryId: string, read?: ReadOptions): Promise<AttemptRecord[]> {
    return this.#runner.run(
      'listAttempts',
      async () => (await this.#query<AttemptRow>(this.#sql.listAttempts, [deliveryId], this.#readOn(read))).map(toAttempt),
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Makes a delivery due again at `now` with a fresh attempt cycle, as
   * shared/redelivery.ts's verdict allows, judged on the locked row (its lease by the
   * database clock) and its event, locked against an expunge. A delivery waiting behind its
   * ordering key's head gets its fresh cycle and keeps waiting (see the `requeue` statement).
   */
  async redeliver(id: string, now: number): Promise<DeliveryRecord | 'not_found' | 'expunged' | 'deleted' | 'in_flight' | 'held'> {
    return this.#runner.run('redeliver', () =>
      this.#runner.transaction(async (client) => {
        await this.#query(this.#sql.lockEventOfDelivery, [id], client);
        const [probe] = await this.#query<RedeliverProbeRow>(this.#sql.redeliverProbe, [id], client);
        if (probe === undefined) return 'not_found' as const;
        const verdict = redeliverVerdict(probe.status, {
          subscriptionActive: probe.subscription_status === 'active',
          subscriptionDeleted: probe.subscription_deleted,
          eventExpunged: probe.event_expunged,
          leaseLive: probe.leased,
        });
        if (verdict !== 'requeue') return verdict;
        const [row] = await this.#query<DeliveryRow>(this.#sql.requeue, [id, ...requeuedValues(requeuedFields('pending', now))], client);
        return toDelivery(row!);
      }),
    );
  }

  /**
   * For one subscription, over the events of the window whose type is in
   * `input.eventTypes` and which are not expunged: requeues the deliveries `replay`
   * requeues and creates the missing ones (shared/redelivery.ts), in one transaction. A
   * soft-deleted subscription gets nothing.
   */
  async replay(input: ReplayInput): Promise<ReplayResult> {
    const activate = input.dryRun === true ? undefined : input.activate;
    return this.#runner.run('replay', () =>
      this.#runner.transaction(async (client) => {
        if (activate !== undefined) {
          // No publish between the replay and the enable: SHARE waits for the publishes being
          // written (each holds ROW EXCLUSIVE on the events until it commits), so the replay
          // sees their events, and holds new ones until the enable commits, so they see it
          // active. Bounded: a long transaction of the host's that published fails the wait
          // (STORAGE_BUSY, retried) rather than holding every publish behind it.
          await client.query(this.#sql.lockEventsForEnable);
        }
        const count = await this.#replayOn(client, input);
        if (activate === undefined) return { count };
        return { count, subscription: await this.#setStatusOn(client, input.subscriptionId, { status: 'active' }, input.now, activate) };
      }),
    );
  }

  /** `replay`'s work in the caller's transaction: how many are (or would be) queued. */
  async #replayOn(client: PoolClient, input: ReplayInput): Promise<number> {
    const [row] = await this.#query<SubscriptionRow>(this.#sql.lockSubscriptionShared, [input.subscriptionId], client);
    // replayable(): nothing is sent again to a soft-deleted subscription (the events'
    // side of the rule, never an expunged one, is in the statements).
    if (row === undefined || row.deleted_at !== null) return 0;
    const subscription = toSubscription(row);
    const filter = subscription.filter;
    if (replayRefusesAll(input, filter)) return 0;
    const window = [input.subscriptionId, input.since, input.until ?? null, [...input.eventTypes]];
    if (input.dryRun !== true) await this.#query(this.#sql.lockReplay, [input.subscriptionId], client);
    // Rendering and nothing to render with, only requeues (which keep their payloads).
    const creates = !replayCreatesNothing(input, subscription);
    const renders = rendersPayloads(subscription) && creates && input.dryRun !== true;
    if (filter !== null || renders) return await this.#replayWithEvents(client, input, subscription, window, creates);
    if (input.dryRun === true) {
      const missing = creates ? await this.#query<{ id: string }>(this.#sql.replayMissing, window, client) : [];
      const [requeues] = await this.#query<{ n: IntLike }>(this.#sql.replayCountRequeues, window, client);
      return int(requeues?.n ?? 0) + missing.length;
    }
    const missing = creates ? await this.#query<{ id: string; type: string }>(this.#sql.replayMissingLocked, window, client) : [];
    const fields = requeuedFields(queuedStatus(subscription.status === 'active'), input.now);
    // Created before the requeue: the keys they append to are locked before any delivery
    // (statements/ordering.ts); the requeue touches only dead deliveries, never these.
    let created = 0;
    if (missing.length > 0) {
      const inserted = await this.#runner.execute(client, this.#sql.insertReplayDeliveries, [
        missing.map(() => newDeliveryId(input.now)),
        missing.map((event) => event.id),
        missing.map((event) => event.type),
        input.subscriptionId,
        fields.status,
        fields.nextAttemptAt,
        input.now,
        [],
      ]);
      created = inserted.rowCount;
    }
    const requeued = await this.#runner.execute(client, this.#sql.replayRequeue, [...window, ...requeuedValues(fields)]);
    return requeued.rowCount + created;
  }

  /**
   * `replay` for a subscription with a payload filter or payloads to render (a transform or version pins), in its
   * transaction: the window's candidates read in batches with their events (locked against
   * an expunge unless a dry run), each one the filter accepts (or every one, without a
   * filter) requeued or created — created only when `creates`, with its rendered payload
   * when the subscription has a transform or pins — the rest left out.
   * @returns how many are (or, with `dryRun`, would be) queued.
   */
  async #replayWithEvents(client: PoolClient, input: ReplayInput, subscription: SubscriptionRecord, window: unknown[], creates: boolean): Promise<number> {
    const dryRun = input.dryRun === true;
    const { filter, status } = subscription;
    const renders = rendersPayloads(subscription) && !dryRun;
    const candidates = dryRun ? this.#sql.replayFilterCandidates : this.#sql.replayFilterCandidatesLocked;
    const requeue: string[] = [];
    const create: Array<{ id: string; type: string }> = [];
    const payloads: Array<string | null> = [];
    let after: [number, string] = [input.since, ''];
    for (;;) {
      const rows = await this.#query<ReplayCandidateRow>(candidates, [...window, ...after, replayFilterBatch], client);
      for (const row of rows) {
        if (!row.requeue && !creates) continue;
        const event = toEvent(row);
        if (!replayAccepts(input, filter, event)) continue;
        if (row.requeue) requeue.push(row.id);
        else {
          create.push({ id: row.id, type: row.type });
          if (renders) payloads.push(replayPayload(input, subscription, event) ?? null);
        }
      }
      if (rows.length < replayFilterBatch) break;
      const last = rows[rows.length - 1]!;
      after = [int(last.published_at), last.id];
    }
    if (dryRun) return requeue.length + create.length;
    const fields = requeuedFields(queuedStatus(status === 'active'), input.now);
    let count = 0;
    // Created before the requeue, as in replay().
    if (create.length > 0) {
      const inserted = await this.#runner.execute(client, this.#sql.insertReplayDeliveries, [
        create.map(() => newDeliveryId(input.now)),
        create.map((event) => event.id),
        create.map((event) => event.type),
        input.subscriptionId,
        fields.status,
        fields.nextAttemptAt,
        input.now,
        payloads,
      ]);
      count += inserted.rowCount;
    }
    if (requeue.length > 0) {
      count += (await this.#runner.execute(client, this.#sql.replayRequeueEvents, [input.subscriptionId, requeue, ...requeuedValues(fields)])).rowCount;
    }
    return count;
  }

  /**
   * The keys of one subscription that a dead delivery blocks, oldest blocking delivery first
   * (ids ascending), each with how many pending or held deliveries wait behind it.
   * @throws ValidationError `CURSOR_INVALID` for an unreadable cursor.
   */
  async listBlockedKeys(query: BlockedKeyQuery): Promise<Page<BlockedKey>> {
    const afterId = query.cursor === undefined ? '' : decodeCursor(blockedKeysCursor, query.cursor);
    return this.#runner.run(
      'listBlockedKeys',
      async () => {
        const rows = await this.#query<BlockedKeyRow>(this.#sql.listBlockedKeys, [query.subscriptionId, afterId, query.limit + 1]);
        const items = rows.slice(0, query.limit).map(
          (row): BlockedKey => ({ subscriptionId: row.subscription_id, orderingKey: row.ordering_key!, delivery: toDelivery(row), waiting: int(row.waiting) }),
        );
        const last = items[items.length - 1];
        return { items, nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor(blockedKeysCursor, last.delivery.id) : null };
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Lets a key move on past its dead head, in one transaction: the key's row locked first,
   * then the delivery (re-read under its lock: a redeliver that committed meanwhile made it
   * pending, and it no longer blocks), then the head advances (shared/ordering.ts). The
   * delivery is returned as it is. `'not_blocking'` when it does not block its key
   * (blocksKey: unordered, not dead, passed, or of a soft-deleted subscription).
   */
  async skipDelivery(id: string, now: number): Promise<DeliveryRecord | 'not_found' | 'not_blocking'> {
    return this.#runner.run('skipDelivery', () =>
      this.#runner.transaction(async (client) => {
        const [found] = await this.#query<DeliveryRow>(this.#sql.getDelivery, [id], client);
        if (found === undefined) return 'not_found' as const;
        if (found.ordering_key === null) return 'not_blocking' as const;
        const locked = await lockKeys(this.#runner, client, this.#sql.lockKeys, [[found.subscription_id], [found.ordering_key]]);
        const [row] = await this.#query<DeliveryRow>(this.#sql.lockDelivery, [id], client);
        if (row === undefined) return 'not_found' as const;
        const delivery = toDelivery(row);
        const state = locked.get(keyOf(delivery.subscriptionId, found.ordering_key));
        if (delivery.status !== 'dead' || state === undefined || !isKeyHead(delivery, state)) return 'not_blocking' as const;
        const [subscription] = await this.#query<SubscriptionRow>(this.#sql.getSubscription, [delivery.subscriptionId], client);
        if (subscription === undefined || !blocksKey(delivery, state, toSubscription(subscription))) return 'not_blocking' as const;
        const passing = { subscriptionId: delivery.subscriptionId, orderingKey: found.ordering_key, sequence: delivery.orderingSequence! };
        await advancePassedHeads(this.#runner, this.#sql, client, locked, [passing], now);
        return delivery;
      }),
    );
  }

  /**
   * Counts by status, from one snapshot, of every subscription, of one, of one tenant's
   * (`null`: the platform's), or of both; `leased` by the database clock.
   */
  async stats(_now: number, query: { subscriptionId?: string; tenantId?: string | null } = {}, read?: ReadOptions): Promise<StorageStats> {
    const { text, values } = statsSql(this.#tables, query);
    return this.#runner.run(
      'stats',
      async () => {
        const [row] = await this.#query<StatsRow>(text, values, this.#readOn(read));
        return {
          pending: int(row!.pending),
          leased: int(row!.leased),
          waiting: int(row!.waiting),
          held: int(row!.held),
          dead: int(row!.dead),
          delivered: int(row!.delivered),
          cancelled: int(row!.cancelled),
          oldestPendingCreatedAt: intOrNull(row!.oldest),
        };
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Removes deliveries that became final (delivered, dead, cancelled) before `olderThan`,
   * their attempts, and older events left without deliveries. Change logs and
   * soft-deleted subscriptions stay.
   */
  async purge(input: PurgeInput): Promise<PurgeResult> {
    checkPurgeInput(input);
    return this.#runner.run(
      'purge',
      async () => {
        const [row] = await this.#query<PurgeRow>(this.#sql.purge, [input.olderThan]);
        return { events: int(row!.events), deliveries: int(row!.deliveries), attempts: int(row!.attempts), testAttempts: int(row!.test_attempts) };
      },
      { retry: retryPurge },
    );
  }

  /**
   * One bounded batch of retention in one transaction (see ./purge-retention-batch.ts),
   * under a transaction-level advisory lock of the schema: while another instance holds it,
   * zeros with `more: false`. Leases by the database clock (`input.now` is not used).
   */
  async purgeRetention(input: PurgeRetentionInput): Promise<PurgeRetentionResult> {
    checkPurgeRetentionInput(input);
    return this.#runner.run('purgeRetention', () =>
      this.#runner.transaction((client) => purgeRetentionBatch(this.#runner, this.#sql, client, this.schema, input)),
    );
  }

  /**
   * Removes one batch of a tenant's rows in one transaction, kind after kind in the order
   * of `tenantPurgeSteps` (shared/tenancy.ts), at most `limit` rows of each (see
   * ./purge-tenant-batch.ts). Unless `force`, answers `'in_flight'` and removes nothing while
   * one of the tenant's deliveries is under a live lease, by the database clock (`input.now`
   * is not used).
   */
  async purgeTenant(input: PurgeTenantInput): Promise<PurgeTenantResult | 'in_flight'> {
    return this.#runner.run('purgeTenant', () =>
      this.#runner.transaction((client) => purgeTenantBatch(this.#runner, this.#sql, client, input)),
    );
  }

  /**
   * Calls `onWake` when an instance publishes into this schema: LISTEN on a dedicated
   * connection (outside the pool's working set, so a busy pool cannot starve it),
   * reconnecting with jittered backoff when it drops. Notifications are hints — the
   * dispatcher's polling stays the backstop, so a lost one delays, never loses.
   * Resolves once listening (or, if the database is unreachable now, while it keeps
   * trying in the background). Returns the function that stops listening.
   *
   * Once listening, it checks in the background that wake-ups arrive (see #checkWake) and
   * warns through `options.logger` when they do not: behind a pooler in transaction mode
   * without `listenConnectionString`, LISTEN succeeds and nothing is ever heard.
   */
  async subscribeWake(onWake: () => void, options: WakeOptions = {}): Promise<() => Promise<void>> {
    if (this.#runner.closed) throw new StorageError('STORAGE_CLOSED', 'PostgreSQL storage: subscribeWake after close()');
    if (this.#createListenClient === null) return async () => undefined;
    const listener = new WakeListener(this.#createListenClient, this.#channel, this.schema, onWake);
    this.#listeners.add(listener);
    await listener.start();
    if (options.logger !== undefined && listener.listening) void this.#checkWake(listener, options.logger);
    return async () => {
      this.#listeners.delete(listener);
      await listener.stop();
    };
  }

  /**
   * The publish statement, in rounds until one stores the event: a round stores nothing when
   * the delivery ids made ahead are too few, or when a target's payload filter has not been
   * asked or its transform's payload not rendered (see the statement). Then the pending
   * targets are asked about here — each one's filter first, then, if it receives and has a
   * transform, its render — between two statements, inside the host's transaction with `tx`,
   * or between two autocommitted statements of which only the last stores anything, so the
   * publish stays atomic either way; and the next round carries the answers (`verdicts`:
   * subscription id → receives, a transformed target nothing rendered for among the
   * refused; `payloads`: subscription id → rendered payload) and enough ids for the
   * deliveries it now knows of. A subscription whose filter or transform changes between
   * two rounds is served by the answer of the first, as if the publish came before the
   * update; one created meanwhile is asked in the next round.
   */
  async #enqueueOn(on: PostgresQueryable, input: EnqueueInput, answers: PublishAnswers): Promise<EnqueueResult> {
    const { verdicts, payloads } = answers;
    const { event } = input;
    const orderingKey = event.orderingKey ?? null;
    const filters = candidateFilters(event.type);
    // The key the fan-out index and the idempotency index scope by (shared/tenancy.ts).
    const scope = idempotencyScope(event.tenantId);
    let ids = this.#fanOutIds.idsFor(scope, event.type, input.now);
    // Bounded: each round learns the exact fan-out and asks about every pending target; only
    // subscriptions created (or given a filter or a transform) between two rounds can make a
    // third necessary.
    for (let round = 0; round < 5; round++) {
      const values = [event.id, event.type, event.timestamp, event.payload, event.idempotencyKey ?? null, filters, ids, input.now];
      // The NOTIFY inside the statement only in the host's transaction (see the statement).
      const notifying = [this.#channel, this.schema, on !== this.pool];
      const evaluated = [...verdicts.keys()];
      const accepted = evaluated.filter((id) => verdicts.get(id) === true);
      const rendered = [...payloads.keys()];
      const routed = [...values, ...notifying, event.tenantId, scope, evaluated, accepted, rendered, rendered.map((id) => payloads.get(id) ?? null)];
      // An unordered event keeps the publish statement it always had; a keyed one appends to its keys.
      const [row] =
        orderingKey === null
          ? await this.#query<EnqueueRow>(this.#sql.enqueue, routed, on)
          : await this.#query<EnqueueRow>(this.#sql.enqueueOrdered, [...routed, orderingKey], on);
      if (row === undefined) throw new StorageError('STORAGE_FAILED', 'PostgreSQL storage: enqueue returned no row');
      // The deliveries the run inserts (or would have): each target without a filter, and each the callback accepted.
      const targets = int(row.target_count);
      if (row.id === null) {
        let needed = targets;
        for (const { subscriptionId, filter, subscription } of pendingTargets(row)) {
          // Counted in `targets` already: one without a filter, or one accepted before.
          const counted = filter === null || verdicts.has(subscriptionId);
          let receives = verdicts.get(subscriptionId) ?? enqueueAccepts(input, filter, subscriptionId);
          if (receives && subscription !== null && !payloads.has(subscriptionId)) {
            const payload = enqueuePayload(input, subscription);
            if (payload !== undefined) payloads.set(subscriptionId, payload);
            // Nothing renders it: it gets no delivery (shared/delivery-payloads.ts).
            else receives = false;
          }
          verdicts.set(subscriptionId, receives);
          needed += (receives ? 1 : 0) - (counted ? 1 : 0);
        }
        if (needed > ids.length) ids = this.#fanOutIds.idsFor(scope, event.type, input.now, needed);
        continue;
      }
      const created = row.id === event.id;
      if (created) {
        this.#fanOutIds.remember(scope, event.type, targets);
        if (on === this.pool && int(row.delivery_count) > 0) this.#notifier.notifySoon();
      }
      return { event: toEvent(row as EventRow), created, deliveryCount: created ? int(row.delivery_count) : 0 };
    }
    throw new StorageError('STORAGE_BUSY', 'PostgreSQL storage: the fan-out kept growing while publishing; try again', { retryable: true });
  }

  /**
   * Sends a NOTIFY through the pool, as a publish does, with a payload of its own (other
   * instances' listeners ignore it: it is not the schema's) and waits a bounded time for it
   * on the LISTEN connection. It never fails the start: it says what it found.
   */
  async #checkWake(listener: WakeListener, logger: NonNullable<WakeOptions['logger']>): Promise<void> {
    const payload = `${this.schema}:check:${randomUUID()}`;
    const fields = { schema: this.schema, channel: this.#channel, timeoutMs: this.#wakeCheckTimeoutMs };
    try {
      const heard = await listener.probe(payload, () => this.#runner.execute(this.pool, this.#sql.notify, [this.#channel, payload]), this.#wakeCheckTimeoutMs);
      if (heard === true) logger.debug(fields, 'webhooks: PostgreSQL wake-ups (LISTEN/NOTIFY) work');
      if (heard === false) {
        logger.warn(
          fields,
          'webhooks: a NOTIFY sent through the pool did not reach the LISTEN connection: wake-ups do not work, and new deliveries wait for the poll interval (pollIntervalMs). Behind a pooler in transaction mode (PgBouncer), give createPostgresStorage a listenConnectionString that reaches PostgreSQL directly',
        );
      }
    } catch (error) {
      if (!this.#runner.closed) logger.warn({ ...fields, err: toStorageError(error, 'subscribeWake') }, 'webhooks: the check of PostgreSQL wake-ups could not send its NOTIFY');
    }
  }

  /**
   * The settle of a batch with `disable` outcomes: the settle statement, then each
   * subscription of a `disable` is disabled by subscriptionStatusChange's rule on its
   * locked row (one already disabled, a soft-deleted one included, is left as it is),
   * reason of its first `disable` in batch order — the one that reports disabling it —
   * and the change record of each disable (dispatcherDisableRecord) is written.
   */
  async #settleDisabling(client: PoolClient, settlements: Settlement[], now: number): Promise<SettledBatch> {
    const settled = await this.#settleKeyed(client, settlements, now);
    const firstDisable = firstDisables(settled);
    if (firstDisable.size === 0) return { rows: settled, disabledBy: new Set() };
    const subscriptionIds = [...firstDisable.keys()];
    const locked = (await this.#query<SubscriptionRow>(this.#sql.lockSubscriptions, [subscriptionIds], client)).map(toSubscription);
    const changes = new Map<string, SubscriptionStatusChange>();
    for (const subscription of locked) {
      const { outcome } = settlements[int(firstDisable.get(subscription.id)!.ord) - 1]!;
      const reason = outcome.kind === 'disable' ? pgText(outcome.reason) : null;
      const change = subscriptionStatusChange(subscription, { status: 'disabled', reason }, now);
      if (change !== null) changes.set(subscription.id, change);
    }
    const { subscriptions, held } = await writeStatusChanges(this.#runner, this.#sql, client, changes, now);
    const before = new Map(locked.map((subscription) => [subscription.id, subscription]));
    const records = subscriptions.map(toSubscription).map((after) => dispatcherDisableRecord(before.get(after.id)!, after, now));
    await this.#insertChanges(client, records);
    // A retry settled in this batch for a subscription the batch disabled is now held: report that.
    const heldById = new Map(held.map((row) => [row.id, row]));
    return {
      rows: settled.map((row) => {
        const heldRow = heldById.get(row.id);
        return heldRow === undefined ? row : { ...row, ...heldRow };
      }),
      disabledBy: new Set([...changes.keys()].map((id) => int(firstDisable.get(id)!.ord))),
    };
  }

  /**
   * The settle of a batch in which the head of an ordering key may pass, in the caller's
   * transaction: the keys of the deliveries settled `delivered` or `dead` are locked first
   * (statements/ordering.ts: a publish holds a key's lock until it commits), then the batch
   * is settled, then each key whose head was delivered, or died under `skip`
   * (passesOnDeath), moves on to its next waiting delivery, read after the lock.
   */
  async #settleKeyed(client: PoolClient, settlements: Settlement[], now: number): Promise<SettledRow[]> {
    const passingIds = settlements.filter((s) => headPassingKinds.includes(s.outcome.kind)).map((s) => s.deliveryId);
    const locked = await lockKeys(this.#runner, client, this.#sql.lockKeysOfDeliveries, [passingIds]);
    if (locked.size > 0) await this.#query(this.#sql.yieldLockWaits, [keyHolderLockTimeout], client);
    const rows = await this.#query<SettledRow>(this.#sql.settleKeyed, settleValues(settlements, now), client);
    if (locked.size === 0) return rows;
    const passing = rows.flatMap((row): PassingDelivery[] =>
      row.ordering_key !== null &&
      (row.status === 'delivered' || (row.status === 'dead' && passesOnDeath({ orderingOnDead: row.ordering_on_dead })))
        ? [{ subscriptionId: row.subscription_id, orderingKey: row.ordering_key, sequence: int(row.ordering_seq!) }]
        : [],
    );
    await advancePassedHeads(this.#runner, this.#sql, client, locked, passing, now);
    return rows;
  }

  /** {@link #settleKeyed} in a transaction of its own, retried whole when busy (safe: a committed settle finds its tokens gone). */
  #settleKeyedAlone(settlements: Settlement[], now: number): Promise<SettledRow[]> {
    return this.#runner.run('settle', () => this.#runner.transaction((client) => this.#settleKeyed(client, settlements, now)), {
      retry: retryBusyOrUnavailable,
    });
  }

  /** Writes change records inside the transaction of the change they record. */
  async #insertChanges(client: PoolClient, records: readonly NewChangeRecord[]): Promise<void> {
    if (records.length > 0) await this.#query(this.#sql.insertChanges, changeValues(records), client);
  }

  /** The read pool for a read that may lag, else the pool (see `readPool`). */
  #readOn(read: ReadOptions | undefined): Pool {
    return read?.mayLag === true ? this.#readPool : this.pool;
  }

  #query<Row>(text: string, values: unknown[], on: PostgresQueryable = this.pool): Promise<Row[]> {
    return this.#runner.query<Row>(on, text, values);
  }
}

function page<T extends { id: string }>(rows: T[], limit: number, list: CursorList): Page<T> {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: last === undefined ? null : encodeCursor(list, last.id) };
}
