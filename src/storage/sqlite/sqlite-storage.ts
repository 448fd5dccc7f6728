/**
 * The SQLite storage adapter (better-sqlite3): the embedded durable default.
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
import { candidateFilters } from '../../registry/event-type-filter.js';
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { peerRequire } from '../../peer-require.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import { currentProcessIdentity, isProvenGone } from './process-liveness.js';
import pRetry from 'p-retry';
import { ConfigError, StorageError, ValidationError, isWebhookError, type WebhookError } from '../../errors.js';
import type {
  AttemptRecord,
  ClaimInput,
  ClaimedDelivery,
  DeliveryQuery,
  DeliveryRecord,
  DeliveryStatus,
  EnqueueInput,
  EnqueueResult,
  EventRecord,
  Page,
  PurgeInput,
  PurgeResult,
  ReplayInput,
  SettleResult,
  Settlement,
  StorageAdapter,
  StorageCapabilities,
  StorageStats,
  SubscriptionPatch,
  SubscriptionRecord,
  SubscriptionStatus,
} from '../storage-adapter.js';
import { recordAttemptInHistory } from '../shared/delivery-history.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import { latestSchemaVersion, migrations, renderMigration } from './migrations/index.js';

type SqliteDatabase = Database.Database;
type Statement<Row = unknown> = Database.Statement<unknown[], Row>;

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

// SQLITE_BUSY is retried in place a few times on top of the busy timeout: the timeout
// covers waiting for another writer, these retries cover the cases where SQLite
// returns BUSY without waiting (a checkpoint or WAL recovery in another connection).
const busyRetry = { retries: 3, factor: 2, minTimeout: 10, maxTimeout: 100, randomize: true } as const;

// A claim with exclusions walks deliveries_due while the excluded subscriptions hold
// fewer due rows than this, and otherwise selects per subscription (see claimDue): the
// measured break-even, ~16 stepped rows against one subscription's seeks.
const walkBudgetRows = 256;
const walkBudgetRowsPerSubscription = 16;

const deliveryColumns =
  'id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, last_attempt_at, ' +
  'last_status_code, last_error, delivered_at, lease_expires_at, created_at, updated_at';

interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  subscription_id: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: number | null;
  lease_expires_at: number | null;
  created_at: number;
  updated_at: number;
}

/**
 * A row of `claimedRows`: id, event_id, event_type, subscription_id, attempts,
 * next_attempt_at, last_attempt_at, last_status_code, last_error, delivered_at,
 * created_at, then the event's published_at, payload, idempotency_key, then the
 * delivery's history_attempts, first_failed_at, recovered_at.
 */
type ClaimedTuple = [
  string,
  string,
  string,
  string,
  number,
  number | null,
  number | null,
  number | null,
  string | null,
  number | null,
  number,
  number,
  string,
  string | null,
  number,
  number | null,
  number | null,
];

/**
 * A row of `settleFence`: the index of the settlement in the batch, rowid, event_id,
 * event_type, subscription_id, attempts, created_at, then the subscription's status
 * and failing_since, then the delivery's history_attempts, first_failed_at, recovered_at.
 */
type FenceTuple = [
  number,
  number,
  string,
  string,
  string,
  number,
  number,
  SubscriptionStatus,
  number | null,
  number,
  number | null,
  number | null,
];

/** What a settle batch knows of one subscription as its settlements apply in order. */
interface SettlingSubscription {
  status: SubscriptionStatus;
  failingSince: number | null;
  /** The stored value before the batch: written back once, at the end, if it changed. */
  readonly storedFailingSince: number | null;
}

interface SubscriptionRow {
  id: string;
  url: string;
  event_types: string;
  secrets: string;
  headers: string;
  description: string | null;
  metadata: string;
  status: SubscriptionStatus;
  disabled_reason: string | null;
  disabled_at: number | null;
  retry: string | null;
  flow_control: string | null;
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

interface EventRow {
  id: string;
  type: string;
  published_at: number;
  payload: string;
  idempotency_key: string | null;
}

interface AttemptRow {
  id: string;
  delivery_id: string;
  attempt_number: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error_class: AttemptRecord['errorClass'];
  error_message: string | null;
  response_snippet: string | null;
  outcome: AttemptRecord['outcome'];
  next_attempt_at: number | null;
}

interface ProbeRow {
  status: DeliveryStatus;
  lease_token: string | null;
  lease_expires_at: number | null;
  subscription_status: SubscriptionStatus;
}

interface StatsRow {
  pending: number;
  leased: number;
  held: number;
  dead: number;
  delivered: number;
  oldest: number | null;
}


/**
 * The same rule as `matchesEventType`, in SQL, for a filter column `f` and a type
 * expression `t`: `*`; or ending in `.*` and `t` starts with the filter minus its
 * `*` (compared with substr, never LIKE: `_` is a wildcard in LIKE and LIKE folds case);
 * or equal.
 */
function filterMatchesSql(f: string, t: string): string {
  return (
    `(${f} = '*' OR ${f} = ${t} OR ` +
    `(substr(${f}, -2) = '.*' AND substr(${t}, 1, length(${f}) - 1) = substr(${f}, 1, length(${f}) - 1)))`
  );
}


/**
 * Loads better-sqlite3's constructor. Internal (not part of the
 * `./sqlite` entry); `load` is a seam for tests, which pass a stand-in `require`.
 *
 * @throws ConfigError `CONFIG_INVALID` when the driver is not installed or does not load.
 */
export function loadBetterSqlite3(load: (id: string) => unknown = peerRequire()): typeof Database {
  let loaded: unknown;
  try {
    loaded = load('better-sqlite3');
  } catch (error) {
    const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
    const missing = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
    throw new ConfigError(
      'CONFIG_INVALID',
      missing
        ? 'createSqliteStorage({ filename }) needs the better-sqlite3 driver: run `npm install better-sqlite3`'
        : 'better-sqlite3 is installed but did not load (a native build for another Node version?): run `npm rebuild better-sqlite3`',
      { cause: error },
    );
  }
  // A CJS module seen through an ESM-interop wrapper carries it on `default`.
  const constructor = typeof loaded === 'function' ? loaded : (loaded as { default?: unknown } | null)?.default;
  if (typeof constructor !== 'function') {
    throw new ConfigError('CONFIG_INVALID', 'better-sqlite3 did not export a Database constructor; install better-sqlite3 12.x');
  }
  return constructor as typeof Database;
}

/**
 * Maps anything a driver call threw to a coded error; no raw better-sqlite3 error
 * escapes. Our own coded errors pass through unchanged.
 */
export function toStorageError(error: unknown, operation: string, databaseOpen: boolean): WebhookError {
  if (isWebhookError(error)) return error;
  // better-sqlite3 throws a TypeError ("The database connection is not open") on a closed handle.
  if (!databaseOpen) {
    return new StorageError('STORAGE_CLOSED', `SQLite storage: the database is closed (${operation})`, { cause: error });
  }
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string') {
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      return new StorageError('STORAGE_BUSY', `SQLite storage: the database is locked by another connection (${operation}, ${code})`, {
        cause: error,
        retryable: true,
      });
    }
    if (code.startsWith('SQLITE_CONSTRAINT')) {
      return new StorageError('STORAGE_CONFLICT', `SQLite storage: a constraint failed (${operation}, ${code})`, { cause: error });
    }
  }
  return new StorageError('STORAGE_FAILED', `SQLite storage: ${operation} failed${typeof code === 'string' ? ` (${code})` : ''}`, {
    cause: error,
  });
}

function toDelivery(row: DeliveryRow): DeliveryRecord {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    subscriptionId: row.subscription_id,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastAttemptAt: row.last_attempt_at,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: row.delivered_at,
    leaseExpiresAt: row.lease_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toSubscription(row: SubscriptionRow): SubscriptionRecord {
  return {
    id: row.id,
    url: row.url,
    eventTypes: JSON.parse(row.event_types) as string[],
    secrets: JSON.parse(row.secrets) as SubscriptionRecord['secrets'],
    headers: JSON.parse(row.headers) as Record<string, string>,
    description: row.description,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    status: row.status,
    disabledReason: row.disabled_reason,
    disabledAt: row.disabled_at,
    retry: row.retry === null ? null : (JSON.parse(row.retry) as SubscriptionRecord['retry']),
    flowControl: row.flow_control === null ? null : (JSON.parse(row.flow_control) as SubscriptionRecord['flowControl']),
    failingSince: row.failing_since,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toEvent(row: EventRow): EventRecord {
  return {
    id: row.id,
    type: row.type,
    timestamp: row.published_at,
    payload: row.payload,
    idempotencyKey: row.idempotency_key,
  };
}

function toAttempt(row: AttemptRow): AttemptRecord {
  return {
    id: row.id,
    deliveryId: row.delivery_id,
    attemptNumber: row.attempt_number,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    statusCode: row.status_code,
    errorClass: row.error_class,
    errorMessage: row.error_message,
    responseSnippet: row.response_snippet,
    outcome: row.outcome,
    nextAttemptAt: row.next_attempt_at,
  };
}

function subscriptionParams(record: SubscriptionRecord): Record<string, unknown> {
  return {
    id: record.id,
    url: record.url,
    event_types: JSON.stringify(record.eventTypes),
    secrets: JSON.stringify(record.secrets),
    headers: JSON.stringify(record.headers),
    description: record.description,
    metadata: JSON.stringify(record.metadata),
    status: record.status,
    disabled_reason: record.disabledReason,
    disabled_at: record.disabledAt,
    retry: record.retry === null || record.retry === undefined ? null : JSON.stringify(record.retry),
    flow_control: record.flowControl === null || record.flowControl === undefined ? null : JSON.stringify(record.flowControl),
    failing_since: record.failingSince ?? null,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

// Cursors are opaque to callers: a tag (so a subscription cursor is refused by the
// delivery list) and the last id of the page, base64url-encoded.
function encodeCursor(tag: string, id: string): string {
  return Buffer.from(`${tag}:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(tag: string, cursor: unknown): string {
  if (typeof cursor === 'string' && cursor.length > 0) {
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    // Re-encoding must give the cursor back: rejects strings that merely decode to something.
    if (text.startsWith(`${tag}:`) && text.length > tag.length + 1 && encodeCursor(tag, text.slice(tag.length + 1)) === cursor) {
      return text.slice(tag.length + 1);
    }
  }
  throw new ValidationError('CURSOR_INVALID', 'Expected `cursor` to be a cursor returned by a previous page of this list', {
    field: 'cursor',
  });
}

/** Every statement, prepared once when the schema is known to be current. */
function prepareStatements(db: SqliteDatabase, p: string) {
  const S = `${p}subscriptions`;
  const F = `${p}subscription_event_types`;
  const E = `${p}events`;
  const D = `${p}deliveries`;
  const A = `${p}attempts`;
  // Deliveries by (subscription, status), kept by triggers (migration 0004).
  const C = `${p}delivery_counts`;
  // The processes working on the file, named in their lease tokens (migration 0006).
  const I = `${p}instances`;
  const prepare = <Row = unknown>(sql: string): Statement<Row> => db.prepare<unknown[], Row>(sql);

  return {
    insertSubscription: prepare(
      `INSERT INTO ${S} (id, url, event_types, secrets, headers, description, metadata, status,
         disabled_reason, disabled_at, retry, flow_control, failing_since, created_at, updated_at)
       VALUES (@id, @url, @event_types, @secrets, @headers, @description, @metadata, @status,
         @disabled_reason, @disabled_at, @retry, @flow_control, @failing_since, @created_at, @updated_at)`,
    ),
    updateSubscription: prepare(
      `UPDATE ${S} SET url = @url, event_types = @event_types, secrets = @secrets, headers = @headers,
         description = @description, metadata = @metadata, retry = @retry, flow_control = @flow_control,
         updated_at = @updated_at
       WHERE id = @id`,
    ),
    getSubscription: prepare<SubscriptionRow>(`SELECT * FROM ${S} WHERE id = ?`),
    insertFilter: prepare(`INSERT OR IGNORE INTO ${F} (filter, subscription_id) VALUES (?, ?)`),
    deleteFilters: prepare(`DELETE FROM ${F} WHERE subscription_id = ?`),
    setSubscriptionStatus: prepare(
      `UPDATE ${S} SET status = @status, disabled_reason = @reason, disabled_at = @disabled_at, updated_at = @now
       WHERE id = @id`,
    ),
    // Only an active subscription is disabled, so the caller learns whether this call did it.
    disableActiveSubscription: prepare(
      `UPDATE ${S} SET status = 'disabled', disabled_reason = ?, disabled_at = ?, updated_at = ?
       WHERE id = ? AND status = 'active'`,
    ),
    // Held rows keep their lease token: a worker still posting one can settle it.
    holdPending: prepare(
      `UPDATE ${D} SET status = 'held', next_attempt_at = NULL, due_at = NULL, updated_at = ?
       WHERE subscription_id = ? AND status = 'pending'`,
    ),
    // Resumed rows are due at `now`, but a row still under a live lease stays
    // unclaimable until that lease expires (the claim checks it), so enabling cannot double-send it.
    resumeHeld: prepare(
      `UPDATE ${D} SET status = 'pending', next_attempt_at = @now, due_at = @now, updated_at = @now
       WHERE subscription_id = @id AND status = 'held'`,
    ),
    deleteSubscriptionAttempts: prepare(
      `DELETE FROM ${A} WHERE delivery_id IN (SELECT id FROM ${D} WHERE subscription_id = ?)`,
    ),
    deleteSubscriptionDeliveries: prepare(`DELETE FROM ${D} WHERE subscription_id = ?`),
    deleteSubscription: prepare(`DELETE FROM ${S} WHERE id = ?`),

    // The idempotency key's UNIQUE index decides; under BEGIN IMMEDIATE a concurrent
    // publish with the same key waits for us and then finds our row.
    insertEvent: prepare(
      `INSERT INTO ${E} (id, type, published_at, payload, idempotency_key) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (idempotency_key) DO NOTHING`,
    ),
    getEvent: prepare<EventRow>(`SELECT * FROM ${E} WHERE id = ?`),
    getEventByKey: prepare<EventRow>(`SELECT * FROM ${E} WHERE idempotency_key = ?`),
    // Fan-out: the candidate filters (see candidateFilters) are looked up through the
    // (filter, subscription_id) primary key; DISTINCT because one subscription may hold
    // several matching filters (`payment.*` and `payment.succeeded`) and gets one delivery.
    matchingSubscriptions: prepare<string>(
      `SELECT DISTINCT f.subscription_id FROM ${F} f JOIN ${S} s ON s.id = f.subscription_id
       WHERE f.filter IN (SELECT value FROM json_each(?)) AND s.status = 'active'
       ORDER BY f.subscription_id`,
    ).pluck(),
    // One statement for the whole fan-out: [deliveryId, subscriptionId] pairs as JSON.
    insertDeliveries: prepare(
      `INSERT INTO ${D} (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at,
         due_at, created_at, updated_at)
       SELECT j.value ->> 0, @event_id, @event_type, j.value ->> 1, @status, 0, @next, @next, @now, @now
       FROM json_each(@pairs) j`,
    ),

    // The claim. Runs under BEGIN IMMEDIATE (the write lock), so no other connection
    // can claim between our read of the due rows and our lease update. The inner
    // SELECT walks the partial index deliveries_due (status = 'pending', by due_at, id)
    // and stops after `limit` rows: O(limit + leased) however many rows are pending. A
    // lease leaves the row where it is (migration 0003): the rows under a live lease at
    // the head are stepped over on the index entry alone (lease_expires_at is in it),
    // and leasing rewrites the entries in place instead of moving them.
    // INDEXED BY: without it the planner prefers the (status, id) index for the
    // equality on status, then sorts every pending row (measured with EXPLAIN QUERY
    // PLAN); with it, a schema change that made the index unusable fails loudly
    // instead of turning the claim into a scan. Rows are picked by rowid, which every
    // index entry carries, so the update seeks the table directly rather than through
    // the id index first.
    // The token is one random value per claim call, bound by the caller: a settle is
    // fenced by (id, token), and every claim of a row draws a fresh one, so a stale
    // holder is refused exactly as with a token per row, without a randomblob() per
    // row. RETURNING gives only the rowids; `claimedRows` reads what the dispatcher
    // needs with the event in one join (each value handed to JavaScript costs ~0.1 µs
    // in the driver: returning every column here and the event apart was 25% slower).
    claim: prepare<number>(
      `UPDATE ${D} SET lease_token = @token, lease_expires_at = @expires, updated_at = @now
       WHERE rowid IN (
         SELECT d.rowid FROM ${D} AS d INDEXED BY ${p}deliveries_due
         WHERE d.status = 'pending' AND d.due_at <= @now
           AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= @now)
           AND EXISTS (SELECT 1 FROM ${S} s WHERE s.id = d.subscription_id AND s.status = 'active')
         ORDER BY d.due_at, d.id
         LIMIT @limit)
       RETURNING rowid`,
    ).pluck(),
    // The claim with excluded subscriptions whose due backlog is small (see claimDue):
    // the same walk, stepping over their rows. subscription_id is in deliveries_due, so
    // both checks on it read the index entry, not the row.
    claimWalkingExcluded: prepare<number>(
      `UPDATE ${D} SET lease_token = @token, lease_expires_at = @expires, updated_at = @now
       WHERE rowid IN (
         SELECT d.rowid FROM ${D} AS d INDEXED BY ${p}deliveries_due
         WHERE d.status = 'pending' AND d.due_at <= @now
           AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= @now)
           AND d.subscription_id NOT IN (SELECT value FROM json_each(@excluded))
           AND EXISTS (SELECT 1 FROM ${S} s WHERE s.id = d.subscription_id AND s.status = 'active')
         ORDER BY d.due_at, d.id
         LIMIT @limit)
       RETURNING rowid`,
    ).pluck(),
    // The claim with excluded subscriptions whose due backlog is large: per subscription,
    // never touching the excluded ones' rows. For each active, not excluded subscription,
    // its due rows up to its \`limit\`-th (the correlated cutoff is an index range bound,
    // computed once per subscription) through deliveries_subscription_due; of those, the
    // first \`limit\` in (due_at, id) order. Ties at the cutoff may add a few rows to the
    // sort, never change the result: O(S · (log n + limit)) for S active subscriptions,
    // whatever the excluded backlog.
    claimPerSubscription: prepare<number>(
      `UPDATE ${D} SET lease_token = @token, lease_expires_at = @expires, updated_at = @now
       WHERE rowid IN (
         SELECT d.rowid FROM ${S} AS s
         JOIN ${D} AS d INDEXED BY ${p}deliveries_subscription_due
           ON d.subscription_id = s.id AND d.status = 'pending'
          AND d.due_at <= COALESCE(
                (SELECT x.due_at FROM ${D} AS x INDEXED BY ${p}deliveries_subscription_due
                 WHERE x.subscription_id = s.id AND x.status = 'pending' AND x.due_at <= @now
                   AND (x.lease_expires_at IS NULL OR x.lease_expires_at <= @now)
                 ORDER BY x.due_at, x.id LIMIT 1 OFFSET @limit - 1),
                @now)
          AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= @now)
         WHERE s.status = 'active' AND s.id NOT IN (SELECT value FROM json_each(@excluded))
         ORDER BY d.due_at, d.id
         LIMIT @limit)
       RETURNING rowid`,
    ).pluck(),
    // How many due rows the excluded subscriptions hold, counted no further than @cap:
    // what the walk would at most step over. Reads deliveries_subscription_due only.
    excludedDueRows: prepare<number>(
      `SELECT COUNT(*) FROM (
         SELECT 1 FROM ${D} AS d INDEXED BY ${p}deliveries_subscription_due
         WHERE d.subscription_id IN (SELECT value FROM json_each(@excluded))
           AND d.status = 'pending' AND d.due_at <= @now
         LIMIT @cap)`,
    ).pluck(),
    activeSubscriptions: prepare<number>(`SELECT COUNT(*) FROM ${S} WHERE status = 'active'`).pluck(),
    // The rows a claim just leased (a JSON array of rowids), with their events: rowid
    // seeks, and the event through its primary key. Raw arrays, in the order of
    // ClaimedTuple. status, lease_token, lease_expires_at and updated_at are what the
    // claim just wrote, so they are not read back. Unordered: an ORDER BY here would
    // copy every payload through a sorter, so claimDue sorts the few rows itself.
    claimedRows: prepare<ClaimedTuple>(
      `SELECT d.id, d.event_id, d.event_type, d.subscription_id, d.attempts, d.next_attempt_at,
         d.last_attempt_at, d.last_status_code, d.last_error, d.delivered_at, d.created_at,
         e.published_at, e.payload, e.idempotency_key, d.history_attempts, d.first_failed_at, d.recovered_at
       FROM json_each(?) AS j
       CROSS JOIN ${D} AS d ON d.rowid = j.value
       CROSS JOIN ${E} AS e ON e.id = d.event_id`,
    ).raw(true),
    // The earliest time a pending row becomes claimable: its due_at, or its lease expiry
    // while a live lease holds it. The first row in due order that no live lease holds
    // bounds the answer (every row after it is due no sooner); before it are only rows
    // under live leases, whose expiries may come sooner. Both walks read deliveries_due
    // alone and step over at most the leased rows at its head.
    nextDue: prepare<number>(
      `SELECT MIN(CASE WHEN d.lease_expires_at > @now THEN d.lease_expires_at ELSE d.due_at END)
       FROM ${D} AS d INDEXED BY ${p}deliveries_due
       WHERE d.status = 'pending'
         AND d.due_at <= COALESCE(
               (SELECT f.due_at FROM ${D} AS f INDEXED BY ${p}deliveries_due
                WHERE f.status = 'pending' AND (f.lease_expires_at IS NULL OR f.lease_expires_at <= @now)
                  AND EXISTS (SELECT 1 FROM ${S} s WHERE s.id = f.subscription_id AND s.status = 'active')
                ORDER BY f.due_at, f.id LIMIT 1),
               9007199254740991)
         AND EXISTS (SELECT 1 FROM ${S} s WHERE s.id = d.subscription_id AND s.status = 'active')`,
    ).pluck(),

    // The fence of a whole settle batch in one read: a settlement applies only while its
    // token is still the row's token. Pending and held rows can carry one (a row held
    // while in flight keeps it). Input: a JSON array of [deliveryId, leaseToken]; a row
    // comes back for each pair that holds, with the pair's index (j.key) and everything
    // the settle needs: the rowid to write by, the fields of the record it returns,
    // and the subscription's status and failing_since as they were before the batch.
    // Raw arrays, in the order of FenceTuple.
    settleFence: prepare<FenceTuple>(
      `SELECT j.key, d.rowid, d.event_id, d.event_type, d.subscription_id, d.attempts, d.created_at,
         s.status, s.failing_since, d.history_attempts, d.first_failed_at, d.recovered_at
       FROM json_each(?) AS j
       CROSS JOIN ${D} AS d ON d.id = j.value ->> 0 AND d.lease_token = j.value ->> 1
       CROSS JOIN ${S} AS s ON s.id = d.subscription_id`,
    ).raw(true),
    setFailingSince: prepare(`UPDATE ${S} SET failing_since = ? WHERE id = ?`),
    // One row per statement, positional: measured faster than one multi-row statement
    // from a JSON array or a VALUES list (UPDATE … FROM materializes its join first, and
    // binding beats re-parsing JSON), and the per-statement cost is small once nothing
    // is returned. The fence has run under the same write lock, so the update goes by rowid.
    insertAttempt: prepare(
      `INSERT INTO ${A} (id, delivery_id, attempt_number, started_at, duration_ms, status_code, error_class,
         error_message, response_snippet, outcome, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    settleDelivery: prepare(
      `UPDATE ${D} SET status = ?, attempts = attempts + 1, next_attempt_at = ?, due_at = ?,
         last_attempt_at = ?, last_status_code = ?, last_error = ?, delivered_at = ?,
         lease_token = NULL, lease_expires_at = NULL, updated_at = ?,
         history_attempts = ?, first_failed_at = ?, recovered_at = ?
       WHERE rowid = ?`,
    ),
    insertInstance: prepare(`INSERT INTO ${I} (id, host, pid, started_ticks, created_at) VALUES (?, ?, ?, ?, ?)`),
    otherInstancesOnHost: prepare<{ id: string; host: string; pid: number; started_ticks: string | null }>(
      `SELECT id, host, pid, started_ticks FROM ${I} WHERE host = ? AND id <> ?`,
    ),
    deleteInstance: prepare(`DELETE FROM ${I} WHERE id = ?`),
    // Every lease a gone instance holds (its tokens start with its id and a dot), given
    // back as releaseLease does. Its pending rows are found by walking the due index's
    // leased entries (lease_expires_at is in it; the token is read from the row only for
    // those), its held ones through the (status, id) index.
    releaseInstanceLeases: prepare(
      `UPDATE ${D} SET lease_token = NULL, lease_expires_at = NULL,
         next_attempt_at = CASE WHEN status = 'pending' THEN MIN(COALESCE(next_attempt_at, @now), @now) ELSE next_attempt_at END,
         due_at = CASE WHEN status = 'pending' THEN MIN(COALESCE(next_attempt_at, @now), @now) ELSE NULL END,
         updated_at = @now
       WHERE rowid IN (
         SELECT rowid FROM ${D} INDEXED BY ${p}deliveries_due
         WHERE status = 'pending' AND lease_expires_at IS NOT NULL AND substr(lease_token, 1, length(@prefix)) = @prefix
         UNION ALL
         SELECT rowid FROM ${D}
         WHERE status = 'held' AND lease_token IS NOT NULL AND substr(lease_token, 1, length(@prefix)) = @prefix)`,
    ),
    // Releasing gives the row back its place in line: due at its original time (≤ now).
    releaseLease: prepare(
      `UPDATE ${D} SET lease_token = NULL, lease_expires_at = NULL,
         next_attempt_at = CASE WHEN status = 'pending' THEN MIN(COALESCE(next_attempt_at, @now), @now) ELSE next_attempt_at END,
         due_at = CASE WHEN status = 'pending' THEN MIN(COALESCE(next_attempt_at, @now), @now) ELSE NULL END,
         updated_at = @now
       WHERE id = @id AND lease_token = @token`,
    ),

    getDelivery: prepare<DeliveryRow>(`SELECT ${deliveryColumns} FROM ${D} WHERE id = ?`),
    listAttempts: prepare<AttemptRow>(`SELECT * FROM ${A} WHERE delivery_id = ? ORDER BY started_at, rowid`),
    probeDelivery: prepare<ProbeRow>(
      `SELECT d.status, d.lease_token, d.lease_expires_at, s.status AS subscription_status
       FROM ${D} d JOIN ${S} s ON s.id = d.subscription_id WHERE d.id = ?`,
    ),
    redeliver: prepare<DeliveryRow>(
      `UPDATE ${D} SET status = 'pending', attempts = 0, next_attempt_at = @now, due_at = @now,
         delivered_at = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = @now
       WHERE id = @id
       RETURNING ${deliveryColumns}`,
    ),

    // Replay: dead deliveries of the window's events, and matching events of the window
    // that have no delivery for this subscription (the unique (event_id, subscription_id)
    // index answers NOT EXISTS per event).
    replayCountDead: prepare<number>(
      `SELECT COUNT(*) FROM ${D} d JOIN ${E} e ON e.id = d.event_id
       WHERE d.subscription_id = @subscription_id AND d.status = 'dead'
         AND e.published_at >= @since AND (@until IS NULL OR e.published_at < @until)`,
    ).pluck(),
    replayReviveDead: prepare(
      `UPDATE ${D} SET status = @status, attempts = 0, next_attempt_at = @next, due_at = @next,
         delivered_at = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = @now
       WHERE subscription_id = @subscription_id AND status = 'dead'
         AND event_id IN (SELECT id FROM ${E}
                          WHERE published_at >= @since AND (@until IS NULL OR published_at < @until))`,
    ),
    replayMissing: prepare<{ id: string; type: string }>(
      `SELECT e.id, e.type FROM ${E} e
       WHERE e.published_at >= @since AND (@until IS NULL OR e.published_at < @until)
         AND NOT EXISTS (SELECT 1 FROM ${D} d WHERE d.event_id = e.id AND d.subscription_id = @subscription_id)
         AND EXISTS (SELECT 1 FROM ${F} f
                     WHERE f.subscription_id = @subscription_id AND ${filterMatchesSql('f.filter', 'e.type')})
       ORDER BY e.published_at, e.id`,
    ),
    insertReplayDeliveries: prepare(
      `INSERT INTO ${D} (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at,
         due_at, created_at, updated_at)
       SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, @subscription_id, @status, 0, @next, @next, @now, @now
       FROM json_each(@rows) j`,
    ),

    // One statement, so the counts come from one snapshot. The counts by status come from
    // the table the triggers keep (one row per subscription and status), not from walking
    // the rows: the delivery log can hold millions. `leased` reads the due index alone
    // (lease_expires_at is in it): a walk of the pending entries. `oldest` is the head of
    // pending_created.
    stats: prepare<StatsRow>(
      `SELECT
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'pending') AS pending,
         (SELECT COUNT(*) FROM ${D} INDEXED BY ${p}deliveries_due
            WHERE status = 'pending' AND lease_expires_at > @now) AS leased,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'held') AS held,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'dead') AS dead,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE status = 'delivered') AS delivered,
         (SELECT created_at FROM ${D} INDEXED BY ${p}deliveries_pending_created
            WHERE status = 'pending' ORDER BY created_at LIMIT 1) AS oldest`,
    ),
    // Of one subscription: its counts by status through the counts' primary key; leased
    // and the oldest from deliveries_subscription_due (its pending rows only).
    subscriptionStats: prepare<StatsRow>(
      `SELECT
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'pending') AS pending,
         (SELECT COUNT(*) FROM ${D} INDEXED BY ${p}deliveries_subscription_due
            WHERE subscription_id = @id AND status = 'pending' AND lease_expires_at > @now) AS leased,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'held') AS held,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'dead') AS dead,
         (SELECT COALESCE(SUM(n), 0) FROM ${C} WHERE subscription_id = @id AND status = 'delivered') AS delivered,
         (SELECT MIN(created_at) FROM ${D} INDEXED BY ${p}deliveries_subscription_due
            WHERE subscription_id = @id AND status = 'pending') AS oldest`,
    ),

    // A final row's updated_at is when it became final: a delivery created long ago
    // that finished recently is recent log. Walks the (status, id) index of final rows.
    purgeAttempts: prepare(
      `DELETE FROM ${A} WHERE delivery_id IN (
         SELECT id FROM ${D} WHERE status IN ('delivered', 'dead') AND updated_at < ?)`,
    ),
    purgeDeliveries: prepare(`DELETE FROM ${D} WHERE status IN ('delivered', 'dead') AND updated_at < ?`),
    purgeEvents: prepare(
      `DELETE FROM ${E} WHERE published_at < ? AND NOT EXISTS (SELECT 1 FROM ${D} d WHERE d.event_id = ${E}.id)`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

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
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  readonly #listStatements = new Map<string, Statement>();
  #statements: Statements | undefined;
  /** Checkpoints the WAL of a file database on a worker thread; `null` when off or in memory. */
  readonly #checkpointer: WalCheckpointer | null = null;
  #closed = false;
  /** This adapter's row in `<prefix>instances`, registered at its first claim; the prefix of its lease tokens. */
  #instanceId: string | null = null;

  /** Use `createSqliteStorage()`; this constructor trusts its (validated) settings. */
  constructor(settings: SqliteStorageSettings) {
    this.database = settings.database;
    this.#ownsDatabase = settings.ownsDatabase;
    this.#prefix = settings.tablePrefix;
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
   * Applies the migrations this code knows and the database lacks, under BEGIN
   * IMMEDIATE so that two processes migrating at once serialize on the write lock
   * and the second finds nothing left to do.
   *
   * @throws StorageError `STORAGE_SCHEMA_TOO_NEW` when the database was migrated by newer code.
   */
  async migrate(): Promise<void> {
    await this.#run('migrate', false, () => {
      const db = this.database;
      const table = `${this.#prefix}migrations`;
      this.#immediate(() => {
        db.exec(
          `CREATE TABLE IF NOT EXISTS ${table} (
             version    INTEGER NOT NULL PRIMARY KEY,
             name       TEXT    NOT NULL,
             applied_at INTEGER NOT NULL
           )`,
        );
        const current = db.prepare<unknown[], number>(`SELECT COALESCE(MAX(version), 0) FROM ${table}`).pluck().get() ?? 0;
        this.#assertNotTooNew(current);
        const record = db.prepare(`INSERT INTO ${table} (version, name, applied_at) VALUES (?, ?, ?)`);
        for (const migration of migrations) {
          if (migration.version <= current) continue;
          db.exec(renderMigration(migration, this.#prefix));
          // Wall-clock time: an audit field of the schema, not a delivery time.
          record.run(migration.version, migration.name, Date.now());
        }
      });
      this.#statements ??= prepareStatements(db, this.#prefix);
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

  /** Stores a subscription and its filters. @throws StorageError `STORAGE_CONFLICT` for an existing id. */
  async createSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord> {
    return this.#run('createSubscription', true, (s) =>
      this.#immediate(() => {
        s.insertSubscription.run(subscriptionParams(record));
        for (const filter of record.eventTypes) s.insertFilter.run(filter, record.id);
        return this.#readSubscription(s, record.id)!;
      }),
    );
  }

  /** The subscription, or `null`. */
  async getSubscription(id: string): Promise<SubscriptionRecord | null> {
    return this.#run('getSubscription', true, (s) => this.#readSubscription(s, id));
  }

  /** Oldest first (ids ascending), optionally of one status. */
  async listSubscriptions(query: { limit: number; cursor?: string; status?: SubscriptionStatus }): Promise<Page<SubscriptionRecord>> {
    return this.#run('listSubscriptions', true, () => {
      const params: Record<string, unknown> = { limit: query.limit + 1 };
      const where: string[] = [];
      if (query.cursor !== undefined) {
        params.cursor = decodeCursor('s', query.cursor);
        where.push('id > @cursor');
      }
      if (query.status !== undefined) {
        params.status = query.status;
        where.push('status = @status');
      }
      const statement = this.#listStatement<SubscriptionRow>(
        `SELECT * FROM ${this.#prefix}subscriptions ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY id LIMIT @limit`,
      );
      return this.#page(statement.all(params).map(toSubscription), query.limit, 's');
    });
  }

  /** Applies the patch (filters rewritten when `eventTypes` is in it); `null` when not found. */
  async updateSubscription(id: string, patch: SubscriptionPatch, now: number): Promise<SubscriptionRecord | null> {
    return this.#run('updateSubscription', true, (s) =>
      this.#immediate(() => {
        const current = this.#readSubscription(s, id);
        if (current === null) return null;
        const next: SubscriptionRecord = { ...current, updatedAt: now };
        if (patch.url !== undefined) next.url = patch.url;
        if (patch.eventTypes !== undefined) next.eventTypes = patch.eventTypes;
        if (patch.secrets !== undefined) next.secrets = patch.secrets;
        if (patch.headers !== undefined) next.headers = patch.headers;
        if (patch.description !== undefined) next.description = patch.description;
        if (patch.metadata !== undefined) next.metadata = patch.metadata;
        if (patch.retry !== undefined) next.retry = patch.retry;
        if (patch.flowControl !== undefined) next.flowControl = patch.flowControl;
        s.updateSubscription.run(subscriptionParams(next));
        if (patch.eventTypes !== undefined) {
          s.deleteFilters.run(id);
          for (const filter of patch.eventTypes) s.insertFilter.run(filter, id);
        }
        return this.#readSubscription(s, id);
      }),
    );
  }

  /** Disables (pending deliveries become held) or enables (held become pending, due at `now`). */
  async setSubscriptionStatus(
    id: string,
    change: { status: SubscriptionStatus; reason?: string | null },
    now: number,
  ): Promise<SubscriptionRecord | null> {
    return this.#run('setSubscriptionStatus', true, (s) =>
      this.#immediate(() => {
        const current = this.#readSubscription(s, id);
        if (current === null) return null;
        if (change.status === 'disabled') {
          const wasDisabled = current.status === 'disabled';
          s.setSubscriptionStatus.run({
            id,
            status: 'disabled',
            reason: change.reason === undefined && wasDisabled ? current.disabledReason : (change.reason ?? null),
            disabled_at: wasDisabled ? current.disabledAt : now,
            now,
          });
          s.holdPending.run(now, id);
        } else {
          s.setSubscriptionStatus.run({ id, status: 'active', reason: null, disabled_at: null, now });
          s.resumeHeld.run({ id, now });
        }
        return this.#readSubscription(s, id);
      }),
    );
  }

  /** Deletes the subscription, its filters, deliveries and their attempts (events stay). */
  async deleteSubscription(id: string): Promise<boolean> {
    return this.#run('deleteSubscription', true, (s) =>
      this.#immediate(() => {
        // Children first, so the schema's foreign keys hold whether or not the host enforces them.
        s.deleteSubscriptionAttempts.run(id);
        s.deleteSubscriptionDeliveries.run(id);
        s.deleteFilters.run(id);
        return s.deleteSubscription.run(id).changes > 0;
      }),
    );
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
    const result = await this.#run('enqueue', true, (s) => this.#enqueue(s, input));
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
    return this.#runSync('enqueueSync', true, (s) => this.#enqueue(s, input));
  }

  /** The event, or `null`. */
  async getEvent(id: string): Promise<EventRecord | null> {
    return this.#run('getEvent', true, (s) => {
      const row = s.getEvent.get(id);
      return row === undefined ? null : toEvent(row);
    });
  }

  /**
   * Leases up to `limit` due deliveries (see the `claim` statement for the lock and the
   * index), skipping `excludeSubscriptionIds`.
   *
   * With exclusions, one of two plans. Walking deliveries_due costs a step per excluded
   * due row ahead of the claimed ones; selecting per subscription through
   * deliveries_subscription_due costs a few seeks per active subscription, whatever the
   * excluded backlog. The excluded subscriptions' due rows are counted up to the
   * break-even (a bounded count on their own index range) and the cheaper plan runs.
   * Measured (better-sqlite3 12, SQLite 3.53): the inner SELECT steps ~0.15–0.2 µs per
   * excluded row and spends ~2–3 µs per subscription; a whole claimDue(10) behind a
   * 5,000-row excluded backlog took 2.4 ms walking against 0.9 ms per subscription with
   * 10 subscriptions (3.9 against 1.2 ms with 100; 0.7–0.8 ms with nothing excluded).
   */
  async claimDue(input: ClaimInput): Promise<ClaimedDelivery[]> {
    return this.#run('claimDue', true, (s) => {
      // Kept only once the transaction that registered it has committed.
      let registered: string | null = null;
      const claimed = this.#immediate(() => {
        if (input.limit <= 0) return [];
        const instanceId = this.#instanceId ?? (registered = this.#registerInstance(s, input.now));
        // The holder's id, then 72 random bits: a fencing token only has to differ from the
        // row's other leases. Short, because it is stored in the row until the settle (a
        // longer row splits more pages).
        const token = `${instanceId}.${randomBytes(9).toString('base64url')}`;
        const expires = input.now + input.leaseMs;
        const params = { now: input.now, expires, limit: input.limit, token };
        let rowids: number[];
        const excluded = input.excludeSubscriptionIds ?? [];
        if (excluded.length === 0) {
          rowids = s.claim.all(params);
        } else {
          const json = JSON.stringify(excluded);
          const cap = walkBudgetRows + walkBudgetRowsPerSubscription * (s.activeSubscriptions.get() ?? 0);
          const walk = (s.excludedDueRows.get({ excluded: json, now: input.now, cap }) ?? 0) < cap;
          rowids = (walk ? s.claimWalkingExcluded : s.claimPerSubscription).all({ ...params, excluded: json });
        }
        if (rowids.length === 0) return [];
        const rows = s.claimedRows.all(JSON.stringify(rowids));
        if (rows.length !== rowids.length) {
          // The foreign keys make this unreachable; refuse rather than hand out half a delivery.
          throw new StorageError('STORAGE_FAILED', 'SQLite storage: a claimed delivery lost its event');
        }
        // Hand them out oldest due first (next attempt time, then id).
        rows.sort((a, b) => (a[5] ?? 0) - (b[5] ?? 0) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        // One record per subscription in the batch, shared by its deliveries (as before).
        const subscriptions = new Map<string, SubscriptionRecord>();
        const claimed = new Array<ClaimedDelivery>(rows.length);
        for (let i = 0; i < rows.length; i++) {
          const row = rows[i]!;
          const subscriptionId = row[3];
          let subscription = subscriptions.get(subscriptionId);
          if (subscription === undefined) {
            const found = this.#readSubscription(s, subscriptionId);
            if (found === null) throw new StorageError('STORAGE_FAILED', `SQLite storage: delivery ${row[0]} lost its subscription`);
            subscription = found;
            subscriptions.set(subscriptionId, subscription);
          }
          claimed[i] = {
            delivery: {
              id: row[0],
              eventId: row[1],
              eventType: row[2],
              subscriptionId,
              status: 'pending',
              attempts: row[4],
              nextAttemptAt: row[5],
              lastAttemptAt: row[6],
              lastStatusCode: row[7],
              lastError: row[8],
              deliveredAt: row[9],
              leaseExpiresAt: expires,
              createdAt: row[10],
              updatedAt: input.now,
            },
            history: { attempts: row[14], firstFailedAt: row[15], recoveredAt: row[16] },
            event: { id: row[1], type: row[2], timestamp: row[11], payload: row[12], idempotencyKey: row[13] },
            subscription,
            leaseToken: token,
          };
        }
        return claimed;
      });
      if (registered !== null) this.#instanceId = registered;
      return claimed;
    });
  }

  /**
   * Records a batch of attempts and outcomes in ONE transaction (one commit for the
   * whole batch), each fenced by its lease token, with the effect of settling them
   * one by one in order (see `#settleBatch`).
   */
  async settle(settlements: Settlement[], now: number): Promise<SettleResult[]> {
    if (settlements.length === 0) return [];
    return this.#run('settle', true, (s) => this.#immediate(() => this.#settleBatch(s, settlements, now)));
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
      const params: Record<string, unknown> = { limit: query.limit + 1 };
      const where: string[] = [];
      const add = (key: keyof DeliveryQuery, clause: string): void => {
        if (query[key] === undefined) return;
        params[key] = query[key];
        where.push(clause);
      };
      add('subscriptionId', 'subscription_id = @subscriptionId');
      add('eventId', 'event_id = @eventId');
      if (query.status !== undefined) {
        // One placeholder per distinct status, sorted, so that a set of statuses always
        // reads the same prepared statement. An empty set matches nothing (`IN ()`).
        // The plan reads "SEARCH … (status=?) | USE TEMP B-TREE FOR ORDER BY", but SQLite
        // ends each status's walk of the (status, id) index once it cannot reach the page:
        // measured 0.1–0.3 ms a page over 200,000 rows (a UNION ALL per status, merged,
        // was no faster alone and 30 ms with a subscription filter).
        const statuses = typeof query.status === 'string' ? [query.status] : [...new Set(query.status)].sort();
        statuses.forEach((status, i) => (params[`status${i}`] = status));
        where.push(
          statuses.length === 1 ? 'status = @status0' : `status IN (${statuses.map((_, i) => `@status${i}`).join(', ')})`,
        );
      }
      add('since', 'created_at >= @since');
      add('until', 'created_at < @until');
      if (query.cursor !== undefined) {
        params.cursor = decodeCursor('d', query.cursor);
        where.push('id < @cursor');
      }
      // The (subscription_id, id) and (status, id) indexes serve these in id order.
      const statement = this.#listStatement<DeliveryRow>(
        `SELECT ${deliveryColumns} FROM ${this.#prefix}deliveries
         ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT @limit`,
      );
      return this.#page(statement.all(params).map(toDelivery), query.limit, 'd');
    });
  }

  /** The attempts of a delivery, oldest first. */
  async listAttempts(deliveryId: string): Promise<AttemptRecord[]> {
    return this.#run('listAttempts', true, (s) => s.listAttempts.all(deliveryId).map(toAttempt));
  }

  /** Makes a delivery due again at `now` with a fresh attempt cycle, unless leased or held. */
  async redeliver(id: string, now: number): Promise<DeliveryRecord | 'not_found' | 'in_flight' | 'held'> {
    return this.#run('redeliver', true, (s) =>
      this.#immediate(() => {
        const probe = s.probeDelivery.get(id);
        if (probe === undefined) return 'not_found' as const;
        if (probe.status === 'held' || probe.subscription_status !== 'active') return 'held' as const;
        if (probe.status === 'pending' && probe.lease_token !== null && (probe.lease_expires_at ?? 0) > now) {
          return 'in_flight' as const;
        }
        return toDelivery(s.redeliver.get({ id, now })!);
      }),
    );
  }

  /** Re-queues the window's dead deliveries and creates the missing ones for one subscription. */
  async replay(input: ReplayInput): Promise<{ count: number }> {
    return this.#run('replay', true, (s) =>
      this.#immediate(() => {
        const subscription = this.#readSubscription(s, input.subscriptionId);
        if (subscription === null) return { count: 0 };
        const window = { subscription_id: input.subscriptionId, since: input.since, until: input.until ?? null };
        const missing = s.replayMissing.all(window);
        if (input.dryRun === true) return { count: (s.replayCountDead.get(window) ?? 0) + missing.length };
        // A disabled subscription's deliveries are held, never pending: it resumes them on enable.
        const active = subscription.status === 'active';
        const queued = { status: active ? 'pending' : 'held', next: active ? input.now : null, now: input.now };
        const revived = s.replayReviveDead.run({ ...window, ...queued }).changes;
        if (missing.length > 0) {
          s.insertReplayDeliveries.run({
            subscription_id: input.subscriptionId,
            ...queued,
            rows: JSON.stringify(missing.map((event) => [newDeliveryId(input.now), event.id, event.type])),
          });
        }
        return { count: revived + missing.length };
      }),
    );
  }

  /** Counts by status, from one snapshot; of one subscription with `subscriptionId`. */
  async stats(now: number, query?: { subscriptionId?: string }): Promise<StorageStats> {
    return this.#run('stats', true, (s) => {
      const id = query?.subscriptionId;
      const row = id === undefined ? s.stats.get({ now })! : s.subscriptionStats.get({ id, now })!;
      return {
        pending: row.pending,
        leased: row.leased,
        held: row.held,
        dead: row.dead,
        delivered: row.delivered,
        oldestPendingCreatedAt: row.oldest,
      };
    });
  }

  /** Removes deliveries that became final before `olderThan`, their attempts, and older events left without deliveries. */
  async purge(input: PurgeInput): Promise<PurgeResult> {
    return this.#run('purge', true, (s) =>
      this.#immediate(() => {
        const attempts = s.purgeAttempts.run(input.olderThan).changes;
        const deliveries = s.purgeDeliveries.run(input.olderThan).changes;
        const events = s.purgeEvents.run(input.olderThan).changes;
        return { events, deliveries, attempts };
      }),
    );
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
    const { event } = input;
    return this.#immediate((): EnqueueResult => {
      const key = event.idempotencyKey ?? null;
      const inserted = s.insertEvent.run(event.id, event.type, event.timestamp, event.payload, key).changes;
      if (inserted === 0) {
        const first = s.getEventByKey.get(key);
        if (first === undefined) throw new StorageError('STORAGE_FAILED', 'SQLite storage: idempotency conflict without a stored event');
        return { event: toEvent(first), created: false, deliveryCount: 0 };
      }
      const subscriptionIds = s.matchingSubscriptions.all(JSON.stringify(candidateFilters(event.type)));
      if (subscriptionIds.length > 0) {
        s.insertDeliveries.run({
          event_id: event.id,
          event_type: event.type,
          status: 'pending',
          next: input.now,
          now: input.now,
          pairs: JSON.stringify(subscriptionIds.map((id) => [newDeliveryId(input.now), id])),
        });
      }
      return {
        event: { id: event.id, type: event.type, timestamp: event.timestamp, payload: event.payload, idempotencyKey: key },
        created: true,
        deliveryCount: subscriptionIds.length,
      };
    });
  }

  /**
   * Settles a batch with the effect of settling its items one by one, in order, in fewer
   * statements: one read fences the whole batch (`settleFence`), then each settlement
   * writes its attempt and its delivery, and each subscription's failing_since is written
   * once, at the end, if the batch changed it. Reading every fence up front is the same
   * as reading each just before its write, because nothing else writes meanwhile (we hold
   * the write lock) and what the batch itself changes is followed here: a delivery settled
   * earlier in the batch has lost its token (a second settlement of it is stale), a
   * `disable` turns its subscription's later retries into holds, and failing_since
   * evolves item by item. The result's record is computed from the fence row and what
   * this settle wrote, exactly the columns `settleDelivery` sets, so nothing is read back.
   */
  #settleBatch(s: Statements, settlements: Settlement[], now: number): SettleResult[] {
    this.#checkpointer?.start();
    const fences = new Array<FenceTuple | undefined>(settlements.length);
    for (const row of s.settleFence.all(JSON.stringify(settlements.map((x) => [x.deliveryId, x.leaseToken])))) {
      fences[row[0]] = row;
    }
    const subscriptions = new Map<string, SettlingSubscription>();
    const settled = new Set<string>();
    const results = new Array<SettleResult>(settlements.length);
    for (let i = 0; i < settlements.length; i++) {
      const settlement = settlements[i]!;
      const fence = fences[i];
      if (fence === undefined || settled.has(settlement.deliveryId)) {
        results[i] = { ok: false, deliveryId: settlement.deliveryId, code: 'STORAGE_LEASE_LOST' };
        continue;
      }
      settled.add(settlement.deliveryId);
      const [, rowid, eventId, eventType, subscriptionId, attempts, createdAt] = fence;
      let subscription = subscriptions.get(subscriptionId);
      if (subscription === undefined) {
        subscription = { status: fence[7], failingSince: fence[8], storedFailingSince: fence[8] };
        subscriptions.set(subscriptionId, subscription);
      }
      const { attempt, outcome } = settlement;
      let status: DeliveryStatus;
      let next: number | null = null;
      switch (outcome.kind) {
        case 'delivered':
          status = 'delivered';
          break;
        case 'dead':
          status = 'dead';
          break;
        case 'retry':
          // The subscription may have been disabled while this attempt was in flight.
          if (subscription.status === 'active') {
            status = 'pending';
            next = outcome.nextAttemptAt;
          } else {
            status = 'held';
          }
          break;
        case 'disable':
          status = 'held';
          break;
      }
      const deliveredAt = status === 'delivered' ? now : null;
      const history = recordAttemptInHistory(
        { attempts: fence[9], firstFailedAt: fence[10], recoveredAt: fence[11] },
        outcome.kind,
        attempt.startedAt,
      );
      s.insertAttempt.run(
        attempt.id,
        settlement.deliveryId,
        history.attempts,
        attempt.startedAt,
        attempt.durationMs,
        attempt.statusCode,
        attempt.errorClass,
        attempt.errorMessage,
        attempt.responseSnippet,
        outcome.kind,
        outcome.kind === 'retry' ? outcome.nextAttemptAt : null,
      );
      s.settleDelivery.run(
        status,
        next,
        next,
        attempt.startedAt,
        attempt.statusCode,
        attempt.errorMessage,
        deliveredAt,
        now,
        history.attempts,
        history.firstFailedAt,
        history.recoveredAt,
        rowid,
      );
      let subscriptionDisabled = false;
      switch (outcome.kind) {
        case 'disable':
          // Rare: written in place, after this batch's earlier settlements, so that a retry
          // settled before it (now pending) is held by it, as one by one.
          subscriptionDisabled = s.disableActiveSubscription.run(outcome.reason, now, now, subscriptionId).changes > 0;
          subscription.status = 'disabled';
          s.holdPending.run(now, subscriptionId);
          break;
        case 'delivered':
          subscription.failingSince = null;
          break;
        case 'retry':
        case 'dead':
          subscription.failingSince ??= attempt.startedAt;
          break;
      }
      results[i] = {
        ok: true,
        delivery: {
          id: settlement.deliveryId,
          eventId,
          eventType,
          subscriptionId,
          status,
          attempts: attempts + 1,
          nextAttemptAt: next,
          lastAttemptAt: attempt.startedAt,
          lastStatusCode: attempt.statusCode,
          lastError: attempt.errorMessage,
          deliveredAt,
          leaseExpiresAt: null,
          createdAt,
          updatedAt: now,
        },
        subscriptionDisabled,
        failingSince: subscription.failingSince,
      };
    }
    // The subscription row is written only when the value changed: a batch of successes
    // to a healthy endpoint rewrites nothing.
    for (const [id, subscription] of subscriptions) {
      if (subscription.failingSince !== subscription.storedFailingSince) s.setFailingSince.run(subscription.failingSince, id);
    }
    return results;
  }

  /**
   * Registers this adapter as a holder of leases and, in the same transaction, gives back
   * the leases of every instance on this host that is provably gone (a killed process the
   * restart replaces): due at once, attempts unchanged, instead of after `leaseMs`. Live
   * instances, and any that cannot be checked, keep theirs (see process-liveness.ts).
   */
  #registerInstance(s: Statements, now: number): string {
    const self = currentProcessIdentity();
    // 48 random bits, base64url (no dot): unique among the handful of rows of one file.
    const id = randomBytes(6).toString('base64url');
    if (self.host !== null) {
      for (const row of s.otherInstancesOnHost.all(self.host, id)) {
        if (!isProvenGone({ host: row.host, pid: row.pid, startedTicks: row.started_ticks }, self)) continue;
        s.releaseInstanceLeases.run({ prefix: `${row.id}.`, now });
        s.deleteInstance.run(row.id);
      }
    }
    s.insertInstance.run(id, self.host, self.pid, self.startedTicks, now);
    return id;
  }

  #readSubscription(s: Statements, id: string): SubscriptionRecord | null {
    const row = s.getSubscription.get(id);
    return row === undefined ? null : toSubscription(row);
  }

  #page<T extends { id: string }>(rows: T[], limit: number, tag: string): Page<T> {
    if (rows.length <= limit) return { items: rows, nextCursor: null };
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: last === undefined ? null : encodeCursor(tag, last.id) };
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

  #immediate<T>(fn: () => T): T {
    return this.#transaction.immediate(fn) as T;
  }

  #assertNotTooNew(version: number): void {
    if (version > latestSchemaVersion) {
      throw new StorageError(
        'STORAGE_SCHEMA_TOO_NEW',
        `SQLite storage: the database schema is at version ${version}, this code knows up to ${latestSchemaVersion}; upgrade @bookkeeper/webhooks`,
      );
    }
  }

  // Checked once, on the first call: every statement is prepared against the current schema.
  #ready(): Statements {
    if (this.#statements !== undefined) return this.#statements;
    const db = this.database;
    const table = `${this.#prefix}migrations`;
    const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).pluck().get(table) !== undefined;
    const version = exists ? (db.prepare<unknown[], number>(`SELECT COALESCE(MAX(version), 0) FROM ${table}`).pluck().get() ?? 0) : 0;
    if (version === 0) {
      throw new StorageError('STORAGE_NOT_MIGRATED', 'SQLite storage: the database has no webhook tables yet; call `storage.migrate()` first');
    }
    this.#assertNotTooNew(version);
    if (version < latestSchemaVersion) {
      throw new StorageError(
        'STORAGE_SCHEMA_TOO_OLD',
        `SQLite storage: the database schema is at version ${version}, this code needs ${latestSchemaVersion}; call \`storage.migrate()\``,
      );
    }
    this.#statements = prepareStatements(db, this.#prefix);
    return this.#statements;
  }

  #runSync<T>(operation: string, needsSchema: boolean, fn: (s: Statements) => T): T {
    if (this.#closed) throw new StorageError('STORAGE_CLOSED', `SQLite storage: ${operation} after close()`);
    try {
      return fn(needsSchema ? this.#ready() : (undefined as unknown as Statements));
    } catch (error) {
      throw toStorageError(error, operation, this.database.open);
    }
  }

  // The first attempt runs at once, outside p-retry: every call is one synchronous unit of
  // work that almost always succeeds, and p-retry's set-up (options copied and validated,
  // an async frame) cost more than some of the statements it wrapped. Only a retryable
  // failure enters p-retry, which counts it as its first attempt and backs off from there,
  // so the attempts and delays are the ones `busyRetry` describes.
  #run<T>(operation: string, needsSchema: boolean, fn: (s: Statements) => T): Promise<T> {
    let first: unknown;
    try {
      return Promise.resolve(this.#runSync(operation, needsSchema, fn));
    } catch (error) {
      if (!this.#retryable(error)) return Promise.reject(error);
      first = error;
    }
    return pRetry(
      (attempt) => {
        if (attempt === 1) throw first;
        return this.#runSync(operation, needsSchema, fn);
      },
      { ...busyRetry, shouldRetry: ({ error }) => this.#retryable(error) },
    );
  }

  // Inside the host's transaction a retry cannot help (the host holds the snapshot); surface it.
  #retryable(error: unknown): boolean {
    return error instanceof StorageError && error.code === 'STORAGE_BUSY' && !this.database.inTransaction && !this.#closed;
  }
}
