/**
 * The PostgreSQL storage adapter (node-postgres): for hosts that run several
 * Bookkeeper instances on one database. Every instance runs a dispatcher against
 * the same tables; PostgreSQL is the coordinator.
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
 * Serialization failures and deadlocks are retried in place (p-retry), never
 * inside the host's transaction, whose fate is the host's.
 */
import { candidateFilters } from '../../registry/event-type-filter.js';
import { createHash } from 'node:crypto';
import { peerRequire } from '../../peer-require.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import pRetry from 'p-retry';
import type { Client, Pool, PoolClient } from 'pg';
import {
  ConfigError,
  StorageError,
  ValidationError,
  isWebhookError,
  type StorageErrorCode,
  type WebhookError,
} from '../../errors.js';
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
import {
  latestSchemaVersion,
  migrationLockSql,
  migrations,
  migrationsTableSql,
  quoteIdentifier,
  renderMigration,
} from './migrations/index.js';

/** The node-postgres module, as far as this adapter uses it. */
export interface PgModule {
  Pool: new (config: Record<string, unknown>) => Pool;
  Client: new (config: Record<string, unknown>) => Client;
}

/** Anything with node-postgres's `query(text, values)`: a `pg` client, pool, or an ORM's transaction client. */
export interface PostgresQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount?: number | null }>;
}

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
}

// 40001/40P01 are retried in place a few times: another transaction won a race and
// the next try usually succeeds at once. Short, jittered, bounded.
const busyRetry = { retries: 4, factor: 2, minTimeout: 10, maxTimeout: 200, randomize: true } as const;

/** Error codes an operation may retry in place by default. */
const retryBusyOnly: ReadonlySet<StorageErrorCode> = new Set(['STORAGE_BUSY']);
/**
 * For operations whose repetition is harmless (reads, fenced writes, claims: a claim
 * that committed but whose answer was lost leaves leases that simply expire), a
 * dropped connection is retried too: the pool hands out a fresh one.
 */
const retryBusyOrUnavailable: ReadonlySet<StorageErrorCode> = new Set(['STORAGE_BUSY', 'STORAGE_UNAVAILABLE']);

/** Pre-generated delivery ids per enqueue beyond the last fan-out seen for the type. */
const fanOutSlack = 16;
const fanOutHintLimit = 1000;

// Wake-up connection: jittered exponential backoff between reconnects.
const listenMinDelayMs = 100;
const listenMaxDelayMs = 10_000;

/**
 * The database clock in epoch ms. `now()` is the transaction's start: STABLE, so the
 * planner can use it as an index bound, and one value for a whole statement (a claim
 * stamps all its leases alike). A lease so measured is shorter than `leaseMs` only
 * by the statement's own duration.
 */
const dbNowMs = '(floor(extract(epoch FROM now()) * 1000))::bigint';

type IntLike = string | number | bigint;

interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  subscription_id: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: IntLike | null;
  last_attempt_at: IntLike | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: IntLike | null;
  lease_expires_at: IntLike | null;
  created_at: IntLike;
  updated_at: IntLike;
}

interface SubscriptionRow {
  id: string;
  url: string;
  event_types: unknown;
  secrets: unknown;
  headers: unknown;
  description: string | null;
  metadata: unknown;
  status: SubscriptionStatus;
  disabled_reason: string | null;
  disabled_at: IntLike | null;
  retry: unknown;
  flow_control: unknown;
  failing_since: IntLike | null;
  created_at: IntLike;
  updated_at: IntLike;
}

interface EventRow {
  id: string;
  type: string;
  published_at: IntLike;
  payload: string;
  idempotency_key: string | null;
}

interface ClaimRow extends DeliveryRow {
  lease_token: string;
  history_attempts: number;
  first_failed_at: IntLike | null;
  recovered_at: IntLike | null;
  e_type: string;
  e_published_at: IntLike;
  e_payload: string;
  e_idempotency_key: string | null;
  s_url: string;
  s_event_types: unknown;
  s_secrets: unknown;
  s_headers: unknown;
  s_description: string | null;
  s_metadata: unknown;
  s_status: SubscriptionStatus;
  s_disabled_reason: string | null;
  s_disabled_at: IntLike | null;
  s_retry: unknown;
  s_flow_control: unknown;
  s_failing_since: IntLike | null;
  s_created_at: IntLike;
  s_updated_at: IntLike;
}

interface SettledRow extends DeliveryRow {
  ord: IntLike;
  kind: string;
  started_at: IntLike;
  /** The subscription's failing_since as the statement found it (before this batch). */
  failing_before: IntLike | null;
}

interface EnqueueRow {
  target_count: IntLike;
  id: string | null;
  type: string | null;
  published_at: IntLike | null;
  payload: string | null;
  idempotency_key: string | null;
  delivery_count: IntLike;
}

interface AttemptRow {
  id: string;
  delivery_id: string;
  attempt_number: number;
  started_at: IntLike;
  duration_ms: number | string;
  status_code: number | null;
  error_class: AttemptRecord['errorClass'];
  error_message: string | null;
  response_snippet: string | null;
  outcome: AttemptRecord['outcome'];
  next_attempt_at: IntLike | null;
}

interface RedeliverRow extends Partial<DeliveryRow> {
  probe_status: DeliveryStatus;
  subscription_status: SubscriptionStatus;
  leased: boolean;
}

interface NextDueRow {
  due: IntLike | null;
  lease: IntLike | null;
  db_now: IntLike;
}

interface StatsRow {
  pending: IntLike;
  leased: IntLike;
  held: IntLike;
  dead: IntLike;
  delivered: IntLike;
  oldest: IntLike | null;
}

interface PurgeRow {
  deliveries: IntLike;
  attempts: IntLike;
  events: IntLike;
}

// node-postgres returns bigint columns as strings unless the host changed the type
// parser (to numbers or BigInt); epoch ms and counts fit a double exactly either way.
function int(value: IntLike): number {
  return typeof value === 'number' ? value : Number(value);
}

function intOrNull(value: IntLike | null | undefined): number | null {
  return value === null || value === undefined ? null : int(value);
}

// jsonb arrives parsed with the default type parser, as text if the host replaced it.
function json<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

// PostgreSQL text cannot hold U+0000; a receiver's response body may. The attempt log
// keeps the text with the NUL shown as U+FFFD rather than failing the whole settle.
function pgText(value: string | null): string | null {
  return value === null || !value.includes('\u0000') ? value : value.replaceAll('\u0000', '\uFFFD');
}



/**
 * Loads node-postgres. Internal (not part of the `./postgres` entry); `load` is a
 * seam for tests, which pass a stand-in `require`.
 *
 * @throws ConfigError `CONFIG_INVALID` when pg is not installed or is not node-postgres 8.
 */
export function loadPg(load: (id: string) => unknown = peerRequire()): PgModule {
  let loaded: unknown;
  try {
    loaded = load('pg');
  } catch (error) {
    const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
    const missing = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
    throw new ConfigError(
      'CONFIG_INVALID',
      missing
        ? 'createPostgresStorage({ connectionString }) needs the pg driver: run `npm install pg`'
        : 'pg is installed but did not load; reinstall it with `npm install pg`',
      { cause: error },
    );
  }
  const candidate = (loaded as { default?: unknown } | null)?.default ?? loaded;
  const module = candidate as Partial<PgModule> | null;
  if (typeof module?.Pool !== 'function' || typeof module.Client !== 'function') {
    throw new ConfigError('CONFIG_INVALID', 'pg did not export Pool and Client; install pg 8.x (`npm install pg@8`)');
  }
  return module as PgModule;
}

/** SQLSTATEs of a lost or refused connection (class 08, and the server shutting down or full). */
const connectionSqlStates = new Set(['57P01', '57P02', '57P03', '53300']);
const connectionErrnos = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
// node-postgres raises these as plain Errors without a code (a socket closed under a
// query, a pool that could not connect in time, a client reused after its connection
// failed), so the message is all there is to recognize them by.
const connectionMessages = /Connection terminated|Connection ended|connection error|not queryable|timeout exceeded when trying to connect|Client was closed/i;

/**
 * Maps anything a driver call threw to a coded error; no raw pg error escapes. Our own
 * coded errors pass through unchanged. Internal; exported for the unit tests.
 */
export function toStorageError(error: unknown, operation: string): WebhookError {
  if (isWebhookError(error)) return error;
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const where = `PostgreSQL storage: ${operation}`;
  if (typeof code === 'string') {
    if (code === '40001' || code === '40P01' || code === '55P03') {
      return new StorageError('STORAGE_BUSY', `${where} lost a race with another transaction (SQLSTATE ${code}); try again`, {
        cause: error,
        retryable: true,
      });
    }
    if (code === '23505') {
      return new StorageError('STORAGE_CONFLICT', `${where}: a row with the same key exists (SQLSTATE 23505)`, { cause: error });
    }
    if (code === '23503') {
      // A row it refers to was deleted meanwhile (a subscription deleted during a publish): the
      // statement rolled back whole, and running it again sees the deletion.
      return new StorageError('STORAGE_CONFLICT', `${where}: a referenced row was deleted meanwhile (SQLSTATE 23503)`, {
        cause: error,
        retryable: true,
      });
    }
    if (code === '42P01' || code === '3F000') {
      return new StorageError('STORAGE_NOT_MIGRATED', `${where}: the webhook tables do not exist; call \`storage.migrate()\` first`, {
        cause: error,
      });
    }
    // 08P01 (protocol violation) is in the connection class but is a client bug: retrying cannot help.
    if ((code.startsWith('08') && code !== '08P01') || connectionSqlStates.has(code) || connectionErrnos.has(code)) {
      return new StorageError('STORAGE_UNAVAILABLE', `${where}: the database is unreachable (${code})`, { cause: error, retryable: true });
    }
  }
  if (/Cannot use a pool after calling end/i.test(message)) {
    return new StorageError('STORAGE_CLOSED', `${where}: the pool has been ended`, { cause: error });
  }
  if (connectionMessages.test(message)) {
    return new StorageError('STORAGE_UNAVAILABLE', `${where}: the connection was lost`, { cause: error, retryable: true });
  }
  return new StorageError('STORAGE_FAILED', `${where} failed${typeof code === 'string' ? ` (SQLSTATE ${code})` : ''}`, { cause: error });
}

function isConnectionLoss(error: unknown): boolean {
  return toStorageError(error, '').code === 'STORAGE_UNAVAILABLE';
}

const deliveryColumnNames = [
  'id',
  'event_id',
  'event_type',
  'subscription_id',
  'status',
  'attempts',
  'next_attempt_at',
  'last_attempt_at',
  'last_status_code',
  'last_error',
  'delivered_at',
  'lease_expires_at',
  'created_at',
  'updated_at',
] as const;

function deliveryColumns(alias: string): string {
  return deliveryColumnNames.map((column) => `${alias}.${column}`).join(', ');
}

const subscriptionColumnNames = [
  'id',
  'url',
  'event_types',
  'secrets',
  'headers',
  'description',
  'metadata',
  'status',
  'disabled_reason',
  'disabled_at',
  'retry',
  'flow_control',
  'failing_since',
  'created_at',
  'updated_at',
] as const;

function subscriptionColumns(alias: string): string {
  return subscriptionColumnNames.map((column) => `${alias}.${column}`).join(', ');
}

function toDelivery(row: DeliveryRow): DeliveryRecord {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    subscriptionId: row.subscription_id,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: intOrNull(row.next_attempt_at),
    lastAttemptAt: intOrNull(row.last_attempt_at),
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: intOrNull(row.delivered_at),
    leaseExpiresAt: intOrNull(row.lease_expires_at),
    createdAt: int(row.created_at),
    updatedAt: int(row.updated_at),
  };
}

function toSubscription(row: SubscriptionRow): SubscriptionRecord {
  return {
    id: row.id,
    url: row.url,
    eventTypes: json<string[]>(row.event_types),
    secrets: json<SubscriptionRecord['secrets']>(row.secrets),
    headers: json<Record<string, string>>(row.headers),
    description: row.description,
    metadata: json<Record<string, unknown>>(row.metadata),
    status: row.status,
    disabledReason: row.disabled_reason,
    disabledAt: intOrNull(row.disabled_at),
    retry: row.retry === null ? null : json<SubscriptionRecord['retry']>(row.retry),
    flowControl: row.flow_control === null ? null : json<SubscriptionRecord['flowControl']>(row.flow_control),
    failingSince: intOrNull(row.failing_since),
    createdAt: int(row.created_at),
    updatedAt: int(row.updated_at),
  };
}

function toEvent(row: EventRow): EventRecord {
  return {
    id: row.id,
    type: row.type,
    timestamp: int(row.published_at),
    payload: row.payload,
    idempotencyKey: row.idempotency_key,
  };
}

function toAttempt(row: AttemptRow): AttemptRecord {
  return {
    id: row.id,
    deliveryId: row.delivery_id,
    attemptNumber: row.attempt_number,
    startedAt: int(row.started_at),
    durationMs: Number(row.duration_ms),
    statusCode: row.status_code,
    errorClass: row.error_class,
    errorMessage: row.error_message,
    responseSnippet: row.response_snippet,
    outcome: row.outcome,
    nextAttemptAt: intOrNull(row.next_attempt_at),
  };
}

function toClaimed(row: ClaimRow): ClaimedDelivery {
  return {
    delivery: toDelivery(row),
    history: { attempts: row.history_attempts, firstFailedAt: intOrNull(row.first_failed_at), recoveredAt: intOrNull(row.recovered_at) },
    event: {
      id: row.event_id,
      type: row.e_type,
      timestamp: int(row.e_published_at),
      payload: row.e_payload,
      idempotencyKey: row.e_idempotency_key,
    },
    subscription: toSubscription({
      id: row.subscription_id,
      url: row.s_url,
      event_types: row.s_event_types,
      secrets: row.s_secrets,
      headers: row.s_headers,
      description: row.s_description,
      metadata: row.s_metadata,
      status: row.s_status,
      disabled_reason: row.s_disabled_reason,
      disabled_at: row.s_disabled_at,
      retry: row.s_retry,
      flow_control: row.s_flow_control,
      failing_since: row.s_failing_since,
      created_at: row.s_created_at,
      updated_at: row.s_updated_at,
    }),
    leaseToken: row.lease_token,
  };
}

function subscriptionValues(record: SubscriptionRecord): unknown[] {
  return [
    record.id,
    record.url,
    JSON.stringify(record.eventTypes),
    JSON.stringify(record.secrets),
    JSON.stringify(record.headers),
    record.description,
    JSON.stringify(record.metadata),
    record.status,
    record.disabledReason,
    record.disabledAt,
    record.retry === null || record.retry === undefined ? null : JSON.stringify(record.retry),
    record.flowControl === null || record.flowControl === undefined ? null : JSON.stringify(record.flowControl),
    record.failingSince ?? null,
    record.createdAt,
    record.updatedAt,
  ];
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

/**
 * Every fixed statement of the adapter, for one schema. Internal; exported so the
 * unit tests can EXPLAIN the claim.
 *
 * @internal
 */
export function postgresStatements(schema: string) {
  const q = quoteIdentifier(schema);
  const S = `${q}.subscriptions`;
  const F = `${q}.subscription_event_types`;
  const E = `${q}.events`;
  const D = `${q}.deliveries`;
  const A = `${q}.attempts`;
  const M = `${q}.migrations`;

  return {
    schemaVersion: `SELECT COALESCE(max(version), 0) AS version FROM ${M}`,

    // One statement: the subscription and its filter rows (the fan-out index).
    createSubscription: `
      WITH created AS (
        INSERT INTO ${S} (id, url, event_types, secrets, headers, description, metadata, status,
          disabled_reason, disabled_at, retry, flow_control, failing_since, created_at, updated_at)
        VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb, $6, $7::jsonb, $8, $9, $10::bigint, $11::jsonb, $12::jsonb,
          $13::bigint, $14::bigint, $15::bigint)
        RETURNING *
      ), filters AS (
        INSERT INTO ${F} (filter, subscription_id)
        SELECT DISTINCT f.filter, created.id FROM created, unnest($16::text[]) AS f(filter)
      )
      SELECT ${subscriptionColumns('created')} FROM created`,
    getSubscription: `SELECT ${subscriptionColumns('s')} FROM ${S} AS s WHERE s.id = $1`,
    lockSubscription: `SELECT ${subscriptionColumns('s')} FROM ${S} AS s WHERE s.id = $1 FOR UPDATE`,
    updateSubscription: `
      UPDATE ${S} AS s SET url = $2, event_types = $3::jsonb, secrets = $4::jsonb, headers = $5::jsonb,
        description = $6, metadata = $7::jsonb, retry = $8::jsonb, flow_control = $10::jsonb, updated_at = $9::bigint
      WHERE s.id = $1
      RETURNING ${subscriptionColumns('s')}`,
    deleteFilters: `DELETE FROM ${F} WHERE subscription_id = $1`,
    insertFilters: `
      INSERT INTO ${F} (filter, subscription_id)
      SELECT DISTINCT f.filter, $1 FROM unnest($2::text[]) AS f(filter)`,
    // Disable holds the pending deliveries, enable resumes the held ones, in the same
    // statement. Held rows keep their lease, so a worker still posting one can settle
    // it, and a resumed row still under a live lease stays unclaimable until the lease
    // expires: enabling cannot double-send it.
    // `disabled_reason`: a given reason wins; none given keeps the reason of a
    // subscription that was already disabled.
    setSubscriptionStatus: `
      WITH sub AS (
        UPDATE ${S} AS s SET
          status = $2::text,
          disabled_reason = CASE WHEN $2::text = 'active' THEN NULL WHEN $4::boolean THEN $3::text
                                 WHEN s.status = 'disabled' THEN s.disabled_reason END,
          disabled_at = CASE WHEN $2::text = 'active' THEN NULL WHEN s.status = 'disabled' THEN s.disabled_at
                             ELSE $5::bigint END,
          updated_at = $5::bigint
        WHERE s.id = $1
        RETURNING ${subscriptionColumns('s')}
      ), moved AS (
        UPDATE ${D} AS d SET
          status = CASE WHEN $2::text = 'disabled' THEN 'held' ELSE 'pending' END,
          next_attempt_at = CASE WHEN $2::text = 'disabled' THEN NULL ELSE $5::bigint END,
          updated_at = $5::bigint
        FROM sub
        WHERE d.subscription_id = sub.id AND d.status = CASE WHEN $2::text = 'disabled' THEN 'pending' ELSE 'held' END
      )
      SELECT * FROM sub`,
    // Filters, deliveries and their attempts go with it (ON DELETE CASCADE); events stay.
    deleteSubscription: `DELETE FROM ${S} WHERE id = $1 RETURNING id`,

    // Publish, in one statement:
    // - targets: the candidate filters (see candidateFilters) looked up through the
    //   (filter, subscription_id) primary key; DISTINCT because one subscription may hold
    //   several matching filters (`payment.*` and `payment.succeeded`) and gets one delivery;
    // - the delivery ids come pre-generated in $7 (the contract has the caller mint them),
    //   as many as the fan-out was last time plus slack; if the fan-out is larger, nothing
    //   is inserted, `target_count` says how many are needed, and the caller runs the
    //   statement again with enough ids. Atomic either way.
    // - the idempotency key's UNIQUE index decides between concurrent publishes. DO UPDATE
    //   (a no-op write) rather than DO NOTHING: under READ COMMITTED a publish that waited
    //   for a concurrent one with the same key cannot SEE that row in its own snapshot,
    //   but ON CONFLICT DO UPDATE locks and RETURNS the committed row, so the caller gets
    //   the first event in the same round trip. `id = $1` tells created from found.
    // - pg_notify ($11 true: inside the host's transaction) fires at the host's COMMIT,
    //   never for a rollback. Outside a host transaction we pass false and notify after
    //   the commit instead (see #notifySoon): a NOTIFY inside a writing transaction makes
    //   PostgreSQL serialize its commit, WAL flush included, behind every other notifying
    //   commit (PreCommit_Notify takes a database-wide lock). Measured here with pgbench,
    //   16 clients, the same one-row insert: 14,000 commits/s without, 725/s with.
    enqueue: `
      WITH targets AS (
        SELECT DISTINCT f.subscription_id
        FROM ${F} AS f JOIN ${S} AS s ON s.id = f.subscription_id
        WHERE f.filter = ANY ($6::text[]) AND s.status = 'active'
      ), numbered AS (
        SELECT t.subscription_id, row_number() OVER (ORDER BY t.subscription_id) AS n FROM targets AS t
      ), fit AS (
        SELECT count(*) AS target_count FROM targets
      ), upserted AS (
        INSERT INTO ${E} AS e (id, type, published_at, payload, idempotency_key)
        SELECT $1::text, $2::text, $3::bigint, $4::text, $5::text FROM fit
        WHERE fit.target_count <= cardinality($7::text[])
        ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
        RETURNING e.id, e.type, e.published_at, e.payload, e.idempotency_key
      ), fanned AS (
        INSERT INTO ${D} (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at,
          created_at, updated_at)
        SELECT ($7::text[])[n.n::integer], u.id, u.type, n.subscription_id, 'pending', 0,
          $8::bigint, $8::bigint, $8::bigint
        FROM upserted AS u CROSS JOIN numbered AS n
        WHERE u.id = $1::text
        RETURNING 1
      ), woken AS (
        SELECT pg_notify($9::text, $10::text) FROM (SELECT 1 FROM fanned LIMIT 1) AS any_delivery
        WHERE $11::boolean
      )
      SELECT fit.target_count, u.id, u.type, u.published_at, u.payload, u.idempotency_key,
        (SELECT count(*) FROM fanned) AS delivery_count,
        (SELECT count(*) FROM woken) AS notified
      FROM fit LEFT JOIN upserted AS u ON true`,
    // A lone NOTIFY: a transaction that writes nothing commits without a WAL flush and
    // without holding up anyone's commit.
    notify: `SELECT pg_notify($1::text, $2::text)`,
    getEvent: `SELECT id, type, published_at, payload, idempotency_key FROM ${E} WHERE id = $1`,

    // The claim, one round trip for the whole batch.
    // - due: reads the partial index deliveries_due (pending rows in due order) from the
    //   head: due by the caller's clock, and not under a live lease by the database's.
    //   It stops after $2 claimable rows, stepping over the rows in flight: O(limit +
    //   in flight) however large the backlog. The scan reads deliveries alone, on
    //   purpose: no `status = 'pending'` clause (next_attempt_at is set exactly on
    //   pending rows, a CHECK) and no join, so that even on a table never ANALYZEd the
    //   planner has no cheaper-looking plan than reading this index in order up to the
    //   limit (with a join to subscriptions it chose to fetch every delivery of the
    //   subscription and sort them).
    // - FOR UPDATE SKIP LOCKED: concurrent claimers lock disjoint rows and never wait for
    //   each other. A row another claimer leased and committed after our snapshot is
    //   re-checked on its new version (READ COMMITTED's recheck) and dropped: its lease
    //   is live. So a delivery is never handed out twice while its lease holds.
    // - leased: rows of active subscriptions get a fresh random token (the fence) and a
    //   lease expiring by the database clock. No indexed column changes, so the update
    //   is HOT (see the fillfactor in the migration).
    // - parked: a pending row of a disabled subscription (a publish that read the
    //   subscription as active just before a concurrent disable committed) is held here,
    //   as the disable would have done, instead of being sent or stepped over forever.
    // - the final SELECT joins the event and the subscription, so the dispatcher has all
    //   it needs to sign and post, ordered oldest due first.
    claim: claimSql(D, S, E, `
      WITH due AS (
        SELECT d.id, d.next_attempt_at, d.subscription_id
        FROM ${D} AS d
        WHERE d.next_attempt_at <= $1::bigint
          AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ${dbNowMs})
        ORDER BY d.next_attempt_at, d.id
        LIMIT $2
        FOR UPDATE OF d SKIP LOCKED`),
    // The claim when some subscriptions must be skipped ($4): `candidates` takes the due
    // head of each other active subscription from deliveries_subscription_due (a few index
    // reads per subscription), so a skipped subscription's backlog — however long — is
    // never walked over; `due` then locks the oldest of them as above. Candidates are not
    // locked, so a claimer racing on the same ones may get fewer rows than it asked for
    // (never a row twice); four times the limit leaves room for that.
    claimExcluding: claimSql(D, S, E, `
      WITH candidates AS (
        SELECT x.id
        FROM ${S} AS s
        CROSS JOIN LATERAL (
          SELECT d.id, d.next_attempt_at FROM ${D} AS d
          WHERE d.subscription_id = s.id AND d.next_attempt_at <= $1::bigint
            AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ${dbNowMs})
          ORDER BY d.next_attempt_at, d.id
          LIMIT $2 * 4
        ) AS x
        WHERE s.status = 'active' AND s.id <> ALL ($4::text[])
        ORDER BY x.next_attempt_at, x.id
        LIMIT $2 * 4
      ), due AS (
        SELECT d.id, d.next_attempt_at, d.subscription_id
        FROM ${D} AS d
        WHERE d.id IN (SELECT id FROM candidates)
          AND d.next_attempt_at <= $1::bigint
          AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ${dbNowMs})
        ORDER BY d.next_attempt_at, d.id
        LIMIT $2
        FOR UPDATE OF d SKIP LOCKED`),

    // The settle, one round trip for the whole batch; the batch arrives as parallel
    // arrays (one per field), unnested WITH ORDINALITY so each result finds its place.
    // - input: DISTINCT ON (id, token) makes a repeated settlement apply once (the
    //   repeat then finds the token gone: STORAGE_LEASE_LOST), as a sequential loop would.
    // - settled: the UPDATE is the fence: `d.lease_token = i.token` under the row lock.
    //   If another worker re-claimed the row and committed meanwhile, READ COMMITTED
    //   re-checks the condition on the new version, the token differs, nothing changes.
    //   A retry stays pending only while the delivery is pending and its subscription
    //   active; `d.status` is read from the locked row, so a disable that committed
    //   after our snapshot (it turned the row held) is seen.
    // - history (the rule of storage/shared/delivery-history.ts): history_attempts counts
    //   on across redeliveries; any outcome but 'delivered' is a failed attempt, and sets
    //   first_failed_at once; the first 'delivered' after one sets recovered_at once.
    // - recorded: the attempts, numbered from the settled row's new history count.
    // - failing: the subscriptions' failing_since, as the settlements of the batch leave
    //   it in order: `delivered` clears it, `retry` and `dead` set it when it is clear.
    //   So the value after the batch is the first failure after the batch's last
    //   success, or — with no success — the stored value, else the batch's first
    //   failure. The row is written only when that changes it: a healthy subscription
    //   (or one failing for a while) costs no write and no row lock on subscriptions.
    // A `disable` outcome (410 Gone) is applied by settle() in a second and third
    // statement of the same transaction: one statement cannot update a row twice.
    settle: `
      WITH input AS (
        SELECT DISTINCT ON (i.id, i.token) i.*
        FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[],
                    $8::float8[], $9::integer[], $10::text[], $11::text[], $12::text[])
             WITH ORDINALITY AS i(id, token, kind, next_at, reason, attempt_id, started_at, duration_ms,
                                  status_code, error_class, error_message, snippet, ord)
        ORDER BY i.id, i.token, i.ord
      ), settled AS (
        UPDATE ${D} AS d SET
          status = CASE
            WHEN i.kind IN ('delivered', 'dead') THEN i.kind
            WHEN i.kind = 'retry' AND d.status = 'pending' AND s.status = 'active' THEN 'pending'
            ELSE 'held' END,
          attempts = d.attempts + 1,
          history_attempts = d.history_attempts + 1,
          first_failed_at = CASE WHEN i.kind <> 'delivered' THEN COALESCE(d.first_failed_at, i.started_at) ELSE d.first_failed_at END,
          recovered_at = CASE WHEN i.kind = 'delivered' AND d.first_failed_at IS NOT NULL
            THEN COALESCE(d.recovered_at, i.started_at) ELSE d.recovered_at END,
          next_attempt_at = CASE WHEN i.kind = 'retry' AND d.status = 'pending' AND s.status = 'active' THEN i.next_at END,
          last_attempt_at = i.started_at,
          last_status_code = i.status_code,
          last_error = i.error_message,
          delivered_at = CASE WHEN i.kind = 'delivered' THEN $13::bigint END,
          lease_token = NULL,
          lease_expires_at = NULL,
          updated_at = $13::bigint
        FROM input AS i, ${S} AS s
        WHERE d.id = i.id AND d.lease_token = i.token AND s.id = d.subscription_id
        RETURNING ${deliveryColumns('d')}, d.history_attempts, i.ord, i.kind, i.started_at, s.failing_since AS failing_before
      ), recorded AS (
        INSERT INTO ${A} (id, delivery_id, attempt_number, started_at, duration_ms, status_code, error_class,
          error_message, response_snippet, outcome, next_attempt_at)
        SELECT i.attempt_id, st.id, st.history_attempts, i.started_at, i.duration_ms, i.status_code, i.error_class,
          i.error_message, i.snippet, i.kind, CASE WHEN i.kind = 'retry' THEN i.next_at END
        FROM settled AS st JOIN input AS i ON i.ord = st.ord
      ), marked AS (
        SELECT st.subscription_id, st.ord, st.kind, st.started_at,
          max(st.ord) FILTER (WHERE st.kind = 'delivered') OVER (PARTITION BY st.subscription_id) AS last_success
        FROM settled AS st
      ), outcome AS (
        SELECT m.subscription_id, bool_or(m.last_success IS NOT NULL) AS succeeded,
          (array_agg(m.started_at ORDER BY m.ord)
             FILTER (WHERE m.kind IN ('retry', 'dead') AND m.ord > COALESCE(m.last_success, 0)))[1] AS first_failure
        FROM marked AS m
        GROUP BY m.subscription_id
      ), failing AS (
        -- Computed from the locked row (s), so a concurrent batch's write is built upon.
        UPDATE ${S} AS s
        SET failing_since = CASE WHEN o.succeeded THEN o.first_failure ELSE COALESCE(s.failing_since, o.first_failure) END
        FROM outcome AS o
        WHERE s.id = o.subscription_id
          AND s.failing_since IS DISTINCT FROM
              (CASE WHEN o.succeeded THEN o.first_failure ELSE COALESCE(s.failing_since, o.first_failure) END)
      )
      SELECT * FROM settled`,
    // With `disable` outcomes, after the settle and in its transaction: the subscriptions
    // still active are disabled (the RETURNING says which this call disabled, exactly,
    // under the row lock), then their pending deliveries are held — including a retry
    // the first statement left pending.
    disableSubscriptions: `
      UPDATE ${S} AS s SET status = 'disabled', disabled_reason = r.reason, disabled_at = $3::bigint, updated_at = $3::bigint
      FROM unnest($1::text[], $2::text[]) AS r(id, reason)
      WHERE s.id = r.id AND s.status = 'active'
      RETURNING s.id`,
    holdPending: `
      UPDATE ${D} AS d SET status = 'held', next_attempt_at = NULL, updated_at = $2::bigint
      WHERE d.subscription_id = ANY ($1::text[]) AND d.status = 'pending'
      RETURNING ${deliveryColumns('d')}`,
    // Releasing gives the row back its place in line: due at its original time (≤ now).
    releaseLeases: `
      UPDATE ${D} AS d SET
        lease_token = NULL,
        lease_expires_at = NULL,
        next_attempt_at = CASE WHEN d.status = 'pending' THEN LEAST(d.next_attempt_at, $3::bigint) END,
        updated_at = $3::bigint
      FROM unnest($1::text[], $2::text[]) AS r(id, token)
      WHERE d.id = r.id AND d.lease_token = r.token`,
    // When the next delivery becomes claimable (see nextDueAt for the clocks), from the
    // head of the due index: `due` is the first pending row not under a live lease (the
    // min() is answered by reading the index in order and stopping at the first match);
    // `lease` is the earliest expiry among the rows in flight ahead of it. No join, for
    // the plan's sake as in the claim: pending rows belong to active subscriptions (a
    // stray one is parked by the next claim).
    nextDue: `
      WITH first AS (
        SELECT min(d.next_attempt_at) AS due FROM ${D} AS d
        WHERE d.next_attempt_at IS NOT NULL AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ${dbNowMs})
      )
      SELECT first.due,
        (SELECT min(d.lease_expires_at) FROM ${D} AS d
         WHERE d.next_attempt_at <= COALESCE(first.due, 9223372036854775807) AND d.lease_expires_at > ${dbNowMs}) AS lease,
        ${dbNowMs} AS db_now
      FROM first`,

    getDelivery: `SELECT ${deliveryColumns('d')} FROM ${D} AS d WHERE d.id = $1`,
    listAttempts: `
      SELECT id, delivery_id, attempt_number, started_at, duration_ms, status_code, error_class, error_message,
        response_snippet, outcome, next_attempt_at
      FROM ${A} WHERE delivery_id = $1 ORDER BY started_at, id`,
    // One statement: the probe locks the row (FOR UPDATE), so the verdict and the
    // change agree even with a claimer racing; 'in_flight' is judged by the database clock.
    redeliver: `
      WITH probe AS (
        SELECT d.id, d.status, s.status AS subscription_status,
          (d.lease_token IS NOT NULL AND d.lease_expires_at > ${dbNowMs}) AS leased
        FROM ${D} AS d JOIN ${S} AS s ON s.id = d.subscription_id
        WHERE d.id = $1
        FOR UPDATE OF d
      ), redelivered AS (
        UPDATE ${D} AS d SET status = 'pending', attempts = 0, next_attempt_at = $2::bigint,
          delivered_at = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $2::bigint
        FROM probe AS p
        WHERE d.id = p.id AND p.status <> 'held' AND p.subscription_status = 'active'
          AND NOT (p.status = 'pending' AND p.leased)
        RETURNING ${deliveryColumns('d')}
      )
      SELECT p.status AS probe_status, p.subscription_status, p.leased, ${deliveryColumns('r')}
      FROM probe AS p LEFT JOIN redelivered AS r ON true`,

    // Replay, inside one transaction. The window is on the event's publication time.
    lockSubscriptionShared: `SELECT status FROM ${S} WHERE id = $1 FOR SHARE`,
    replayCountDead: `
      SELECT count(*) AS n FROM ${D} AS d JOIN ${E} AS e ON e.id = d.event_id
      WHERE d.subscription_id = $1 AND d.status = 'dead'
        AND e.published_at >= $2::bigint AND ($3::bigint IS NULL OR e.published_at < $3::bigint)`,
    replayReviveDead: `
      UPDATE ${D} AS d SET status = $4::text, attempts = 0, next_attempt_at = $5::bigint,
        delivered_at = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $6::bigint
      WHERE d.subscription_id = $1 AND d.status = 'dead'
        AND d.event_id IN (SELECT e.id FROM ${E} AS e
                           WHERE e.published_at >= $2::bigint AND ($3::bigint IS NULL OR e.published_at < $3::bigint))`,
    // Matching events of the window without a delivery for this subscription. The filter
    // rule of matchesEventType in SQL: '*'; or ending in '.*' and the type starts with the
    // filter minus its '*' (starts_with, never LIKE: '_' is a LIKE wildcard); or equal.
    replayMissing: `
      SELECT e.id, e.type FROM ${E} AS e
      WHERE e.published_at >= $2::bigint AND ($3::bigint IS NULL OR e.published_at < $3::bigint)
        AND NOT EXISTS (SELECT 1 FROM ${D} AS d WHERE d.event_id = e.id AND d.subscription_id = $1)
        AND EXISTS (SELECT 1 FROM ${F} AS f
                    WHERE f.subscription_id = $1
                      AND (f.filter = '*' OR f.filter = e.type
                           OR (right(f.filter, 2) = '.*' AND starts_with(e.type, left(f.filter, -1)))))
      ORDER BY e.published_at, e.id`,
    // ON CONFLICT: a publish racing the replay may have created the delivery meanwhile.
    insertReplayDeliveries: `
      INSERT INTO ${D} (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at,
        created_at, updated_at)
      SELECT r.id, r.event_id, r.event_type, $4, $5::text, 0, $6::bigint, $7::bigint, $7::bigint
      FROM unnest($1::text[], $2::text[], $3::text[]) AS r(id, event_id, event_type)
      ON CONFLICT (event_id, subscription_id) DO NOTHING`,

    // One statement, so the counts come from one snapshot. `pending` and `leased` in one
    // pass over the due index (pending rows only; a lease is live by the database clock);
    // `oldest` is the head of the pending_created partial index. statsOf: the same for
    // one subscription, through the (subscription_id, id) index.
    stats: statsSql(D, dbNowMs, ''),
    statsOf: statsSql(D, dbNowMs, 'AND subscription_id = $1'),

    // A final row's updated_at is when it became final: a delivery created long ago that
    // finished recently is recent log. Deleting the deliveries cascades to their attempts
    // (counted first, from the same snapshot); events go once no delivery is left — the
    // deliveries deleted by this very statement are still in its snapshot, hence `gone`.
    purge: `
      WITH gone AS (
        DELETE FROM ${D} WHERE status IN ('delivered', 'dead') AND updated_at < $1::bigint
        RETURNING id
      ), gone_events AS (
        DELETE FROM ${E} AS e
        WHERE e.published_at < $1::bigint
          AND NOT EXISTS (SELECT 1 FROM ${D} AS d
                          WHERE d.event_id = e.id AND NOT EXISTS (SELECT 1 FROM gone AS g WHERE g.id = d.id))
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM gone) AS deliveries,
        (SELECT count(*) FROM ${A} AS a WHERE a.delivery_id IN (SELECT id FROM gone)) AS attempts,
        (SELECT count(*) FROM gone_events) AS events`,
  };
}

type Statements = ReturnType<typeof postgresStatements>;

/** A claim: its `due` CTE (which rows), then the lease, the parking and the joined result. */
function claimSql(D: string, S: string, E: string, due: string): string {
  return `${due}
      ), leased AS (
        UPDATE ${D} AS d SET
          lease_token = gen_random_uuid()::text,
          lease_expires_at = ${dbNowMs} + $3::bigint,
          updated_at = $1::bigint
        FROM due JOIN ${S} AS s ON s.id = due.subscription_id
        WHERE d.id = due.id AND s.status = 'active'
        RETURNING ${deliveryColumns('d')}, d.lease_token, d.history_attempts, d.first_failed_at, d.recovered_at
      ), parked AS (
        UPDATE ${D} AS d SET status = 'held', next_attempt_at = NULL, updated_at = $1::bigint
        FROM due JOIN ${S} AS s ON s.id = due.subscription_id
        WHERE d.id = due.id AND s.status <> 'active'
      )
      SELECT l.*,
        e.type AS e_type, e.published_at AS e_published_at, e.payload AS e_payload, e.idempotency_key AS e_idempotency_key,
        s.url AS s_url, s.event_types AS s_event_types, s.secrets AS s_secrets, s.headers AS s_headers,
        s.description AS s_description, s.metadata AS s_metadata, s.status AS s_status,
        s.disabled_reason AS s_disabled_reason, s.disabled_at AS s_disabled_at, s.retry AS s_retry,
        s.flow_control AS s_flow_control, s.failing_since AS s_failing_since,
        s.created_at AS s_created_at, s.updated_at AS s_updated_at
      FROM leased AS l
      JOIN due ON due.id = l.id
      JOIN ${E} AS e ON e.id = l.event_id
      JOIN ${S} AS s ON s.id = l.subscription_id
      ORDER BY due.next_attempt_at, due.id`;
}

function statsSql(deliveries: string, dbNow: string, filter: string): string {
  return `
      SELECT p.pending, p.leased,
        (SELECT count(*) FROM ${deliveries} WHERE status = 'held' ${filter}) AS held,
        (SELECT count(*) FROM ${deliveries} WHERE status = 'dead' ${filter}) AS dead,
        (SELECT count(*) FROM ${deliveries} WHERE status = 'delivered' ${filter}) AS delivered,
        (SELECT created_at FROM ${deliveries} WHERE next_attempt_at IS NOT NULL ${filter} ORDER BY created_at LIMIT 1) AS oldest
      FROM (SELECT count(*) AS pending,
              count(*) FILTER (WHERE lease_token IS NOT NULL AND lease_expires_at > ${dbNow}) AS leased
            FROM ${deliveries} WHERE next_attempt_at IS NOT NULL ${filter}) AS p`;
}

interface RunOptions {
  /** Check the schema version first (everything but migrate). */
  needsSchema?: boolean;
  /** Codes retried in place; none inside a host transaction. */
  retry?: ReadonlySet<StorageErrorCode>;
}

/**
 * Keeps one LISTEN connection open, reconnecting with jittered exponential backoff
 * when it drops, and calls `onWake` for every notification of our schema (coalesced
 * to one call per turn of the event loop) and once after every reconnect (a
 * notification sent while we were away is lost, so look for work).
 */
class WakeListener {
  readonly #createClient: () => Client;
  readonly #channel: string;
  readonly #payload: string;
  readonly #onWake: () => void;
  #client: Client | null = null;
  #stopped = false;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #wakeScheduled = false;

  constructor(createClient: () => Client, channel: string, payload: string, onWake: () => void) {
    this.#createClient = createClient;
    this.#channel = channel;
    this.#payload = payload;
    this.#onWake = onWake;
  }

  /** Connects once; if that fails, keeps trying in the background (polling covers the gap). */
  async start(): Promise<void> {
    await this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    if (client === null) return;
    try {
      await client.query(`UNLISTEN ${quoteIdentifier(this.#channel)}`);
    } catch {
      // The connection may already be gone; ending it is all that is left to do.
    }
    await client.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    this.#timer = null;
    if (this.#stopped) return;
    let client: Client;
    try {
      client = this.#createClient();
    } catch {
      this.#retryLater();
      return;
    }
    // Listeners first: an 'error' without a listener would crash the host process.
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => {
      if (message.channel === this.#channel && (message.payload ?? '') === this.#payload) this.#wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdentifier(this.#channel)}`);
    } catch {
      await client.end().catch(() => undefined);
      this.#retryLater();
      return;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    if (this.#failures > 0) this.#wake();
    this.#failures = 0;
  }

  #lost(client: Client): void {
    if (client !== this.#client) return;
    this.#client = null;
    void client.end().catch(() => undefined);
    this.#retryLater();
  }

  #retryLater(): void {
    if (this.#stopped || this.#timer !== null) return;
    const ceiling = Math.min(listenMaxDelayMs, listenMinDelayMs * 2 ** this.#failures);
    this.#failures += 1;
    // Full jitter on the upper half: instances that lost the database together do not
    // reconnect in lockstep.
    const delayMs = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#timer = setTimeout(() => void this.#connect(), delayMs);
    this.#timer.unref?.();
  }

  #wake(): void {
    if (this.#wakeScheduled || this.#stopped) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      if (!this.#stopped) this.#onWake();
    });
  }
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
  readonly #sql: Statements;
  readonly #listeners = new Set<WakeListener>();
  /** Last fan-out size per event type: how many delivery ids to pre-generate. */
  readonly #fanOutHints = new Map<string, number>();
  /** Statement text → prepared-statement name (see #query). */
  readonly #statementNames = new Map<string, string>();
  /** Pool clients checked out by #transaction: ours, so statements on them are named too. */
  readonly #ownClients = new WeakSet<object>();
  /** State of the post-commit NOTIFY (see #notifySoon). */
  #notifying: 'idle' | 'sending' | 'again' = 'idle';
  #ready: Promise<void> | null = null;
  #readyDone = false;
  #closed = false;

  /** Use `createPostgresStorage()`; this constructor trusts its (validated) settings. */
  constructor(settings: PostgresStorageSettings) {
    this.pool = settings.pool;
    this.#ownsPool = settings.ownsPool;
    this.schema = settings.schema;
    this.#channel = settings.notifyChannel;
    this.#createListenClient = settings.createListenClient;
    this.#sql = postgresStatements(settings.schema);
  }

  /**
   * Applies the migrations this code knows and the database lacks. A database already
   * current is recognized with one read and no DDL (so an application role without
   * CREATE rights can start against a schema its DBA migrated). Otherwise it works in
   * one transaction under `pg_advisory_xact_lock` on a key of the schema: two instances
   * migrating at once serialize, and the second finds nothing left to do.
   *
   * @throws StorageError `STORAGE_SCHEMA_TOO_NEW` when the database was migrated by newer code.
   */
  async migrate(): Promise<void> {
    await this.#run(
      'migrate',
      async () => {
        const current = await this.#readSchemaVersion(this.pool);
        if (current !== null) this.#assertNotTooNew(current);
        if (current === latestSchemaVersion) return;
        await this.#transaction(async (client) => {
          await client.query(migrationLockSql(this.schema));
          await client.query(migrationsTableSql(this.schema));
          const version = (await this.#readSchemaVersion(client)) ?? 0;
          this.#assertNotTooNew(version);
          for (const migration of migrations) {
            if (migration.version <= version) continue;
            await client.query(renderMigration(migration, this.schema));
            await client.query(`INSERT INTO ${quoteIdentifier(this.schema)}.migrations (version, name) VALUES ($1, $2)`, [
              migration.version,
              migration.name,
            ]);
          }
        });
      },
      { needsSchema: false, retry: retryBusyOrUnavailable },
    );
    this.#readyDone = true;
  }

  /**
   * Stops every wake-up listener and ends the pool if the adapter created it (from
   * `connectionString`); a handed-in pool stays open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    await Promise.all(listeners.map((listener) => listener.stop()));
    if (this.#ownsPool) {
      try {
        await this.pool.end();
      } catch (error) {
        throw toStorageError(error, 'close');
      }
    }
  }

  /** Stores a subscription and its filter rows. @throws StorageError `STORAGE_CONFLICT` for an existing id. */
  async createSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord> {
    return this.#run('createSubscription', async () => {
      const rows = await this.#query<SubscriptionRow>(this.pool, this.#sql.createSubscription, [
        ...subscriptionValues(record),
        record.eventTypes,
      ]);
      return toSubscription(rows[0]!);
    });
  }

  /** The subscription, or `null`. */
  async getSubscription(id: string): Promise<SubscriptionRecord | null> {
    return this.#run(
      'getSubscription',
      async () => {
        const [row] = await this.#query<SubscriptionRow>(this.pool, this.#sql.getSubscription, [id]);
        return row === undefined ? null : toSubscription(row);
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /** Oldest first (ids ascending), optionally of one status. */
  async listSubscriptions(query: { limit: number; cursor?: string; status?: SubscriptionStatus }): Promise<Page<SubscriptionRecord>> {
    const values: unknown[] = [];
    const where: string[] = [];
    if (query.cursor !== undefined) {
      values.push(decodeCursor('s', query.cursor));
      where.push(`s.id > $${values.length}`);
    }
    if (query.status !== undefined) {
      values.push(query.status);
      where.push(`s.status = $${values.length}`);
    }
    values.push(query.limit + 1);
    const text =
      `SELECT ${subscriptionColumns('s')} FROM ${quoteIdentifier(this.schema)}.subscriptions AS s ` +
      `${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY s.id LIMIT $${values.length}`;
    return this.#run(
      'listSubscriptions',
      async () => this.#page((await this.#query<SubscriptionRow>(this.pool, text, values)).map(toSubscription), query.limit, 's'),
      { retry: retryBusyOrUnavailable },
    );
  }

  /** Applies the patch (filters rewritten when `eventTypes` is in it); `null` when not found. */
  async updateSubscription(id: string, patch: SubscriptionPatch, now: number): Promise<SubscriptionRecord | null> {
    return this.#run('updateSubscription', () =>
      this.#transaction(async (client) => {
        const [row] = await this.#query<SubscriptionRow>(client, this.#sql.lockSubscription, [id]);
        if (row === undefined) return null;
        const next: SubscriptionRecord = { ...toSubscription(row), updatedAt: now };
        if (patch.url !== undefined) next.url = patch.url;
        if (patch.eventTypes !== undefined) next.eventTypes = patch.eventTypes;
        if (patch.secrets !== undefined) next.secrets = patch.secrets;
        if (patch.headers !== undefined) next.headers = patch.headers;
        if (patch.description !== undefined) next.description = patch.description;
        if (patch.metadata !== undefined) next.metadata = patch.metadata;
        if (patch.retry !== undefined) next.retry = patch.retry;
        if (patch.flowControl !== undefined) next.flowControl = patch.flowControl;
        const [updated] = await this.#query<SubscriptionRow>(client, this.#sql.updateSubscription, [
          id,
          next.url,
          JSON.stringify(next.eventTypes),
          JSON.stringify(next.secrets),
          JSON.stringify(next.headers),
          next.description,
          JSON.stringify(next.metadata),
          next.retry === null || next.retry === undefined ? null : JSON.stringify(next.retry),
          now,
          next.flowControl === null || next.flowControl === undefined ? null : JSON.stringify(next.flowControl),
        ]);
        if (patch.eventTypes !== undefined) {
          await client.query(this.#sql.deleteFilters, [id]);
          await client.query(this.#sql.insertFilters, [id, patch.eventTypes]);
        }
        return toSubscription(updated!);
      }),
    );
  }

  /** Disables (pending deliveries become held) or enables (held become pending, due at `now`). */
  async setSubscriptionStatus(
    id: string,
    change: { status: SubscriptionStatus; reason?: string | null },
    now: number,
  ): Promise<SubscriptionRecord | null> {
    return this.#run('setSubscriptionStatus', async () => {
      const [row] = await this.#query<SubscriptionRow>(this.pool, this.#sql.setSubscriptionStatus, [
        id,
        change.status,
        change.reason ?? null,
        change.reason !== undefined,
        now,
      ]);
      return row === undefined ? null : toSubscription(row);
    });
  }

  /** Deletes the subscription with its filters, deliveries and their attempts (events stay). */
  async deleteSubscription(id: string): Promise<boolean> {
    return this.#run('deleteSubscription', async () => {
      return (await this.#query<{ id: string }>(this.pool, this.#sql.deleteSubscription, [id])).length > 0;
    });
  }

  /**
   * Stores the event and one pending delivery per matching active subscription in one
   * statement — one round trip, atomic — then wakes the other instances with a NOTIFY
   * sent after the commit (not awaited; see the statement for why not inside it).
   *
   * With `tx` (a `pg` client inside the host's BEGIN, or any object with its
   * `query(text, values)`), the statement runs on that client inside the host's
   * transaction: the event, its deliveries and the NOTIFY (here inside the statement,
   * so it fires on the host's commit) commit or roll back with the host's writes. We neither BEGIN nor COMMIT, and do not retry (the host owns the
   * transaction; a failed statement has aborted it).
   *
   * @throws ConfigError `TX_UNSUPPORTED` when `tx` has no `query(text, values)` function.
   */
  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    const tx = input.tx;
    if (tx === undefined || tx === null) {
      return this.#run('enqueue', () => this.#enqueueOn(this.pool, input), {
        // A 23503 means a matching subscription was deleted during the publish: the
        // statement rolled back whole, so running it again is safe.
        retry: new Set<StorageErrorCode>(['STORAGE_BUSY', 'STORAGE_CONFLICT']),
      });
    }
    if (typeof (tx as { query?: unknown }).query !== 'function') {
      throw new ConfigError(
        'TX_UNSUPPORTED',
        'Expected `tx` to be a pg client inside the host transaction (an object with `query(text, values)`), got an object without `query`',
        { field: 'tx' },
      );
    }
    return this.#run('enqueue', () => this.#enqueueOn(tx as PostgresQueryable, input), { retry: new Set() });
  }

  /** The event, or `null`. */
  async getEvent(id: string): Promise<EventRecord | null> {
    return this.#run(
      'getEvent',
      async () => {
        const [row] = await this.#query<EventRow>(this.pool, this.#sql.getEvent, [id]);
        return row === undefined ? null : toEvent(row);
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /** Leases up to `limit` due deliveries in one statement (see the `claim` statement for the lock and the index). */
  async claimDue(input: ClaimInput): Promise<ClaimedDelivery[]> {
    if (input.limit <= 0) return [];
    const excluded = input.excludeSubscriptionIds ?? [];
    return this.#run(
      'claimDue',
      async () =>
        (
          await (excluded.length === 0
            ? this.#query<ClaimRow>(this.pool, this.#sql.claim, [input.now, input.limit, input.leaseMs])
            : this.#query<ClaimRow>(this.pool, this.#sql.claimExcluding, [input.now, input.limit, input.leaseMs, excluded]))
        ).map(toClaimed),
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Records a batch of attempts and outcomes in one statement (one round trip, one
   * commit), each fenced by its lease token. A batch with a `disable` outcome runs a
   * second statement in the same transaction to hold the subscription's other pending
   * deliveries.
   */
  async settle(settlements: Settlement[], now: number): Promise<SettleResult[]> {
    if (settlements.length === 0) return [];
    const n = settlements.length;
    const columns = {
      ids: new Array<string>(n),
      tokens: new Array<string>(n),
      kinds: new Array<string>(n),
      nextAt: new Array<number | null>(n),
      reasons: new Array<string | null>(n),
      attemptIds: new Array<string>(n),
      startedAt: new Array<number>(n),
      durationMs: new Array<number>(n),
      statusCodes: new Array<number | null>(n),
      errorClasses: new Array<string | null>(n),
      errorMessages: new Array<string | null>(n),
      snippets: new Array<string | null>(n),
    };
    for (let i = 0; i < n; i++) {
      const { deliveryId, leaseToken, attempt, outcome } = settlements[i]!;
      columns.ids[i] = deliveryId;
      columns.tokens[i] = leaseToken;
      columns.kinds[i] = outcome.kind;
      columns.nextAt[i] = outcome.kind === 'retry' ? outcome.nextAttemptAt : null;
      columns.reasons[i] = outcome.kind === 'disable' ? pgText(outcome.reason) : null;
      columns.attemptIds[i] = attempt.id;
      columns.startedAt[i] = attempt.startedAt;
      columns.durationMs[i] = attempt.durationMs;
      columns.statusCodes[i] = attempt.statusCode;
      columns.errorClasses[i] = attempt.errorClass;
      columns.errorMessages[i] = pgText(attempt.errorMessage);
      columns.snippets[i] = pgText(attempt.responseSnippet);
    }
    const disables = columns.kinds.includes('disable');
    const values = [
      columns.ids,
      columns.tokens,
      columns.kinds,
      columns.nextAt,
      columns.reasons,
      columns.attemptIds,
      columns.startedAt,
      columns.durationMs,
      columns.statusCodes,
      columns.errorClasses,
      columns.errorMessages,
      columns.snippets,
      now,
    ];
    const { rows, disabledBy } = await this.#run(
      'settle',
      () =>
        disables
          ? this.#transaction(async (client) => {
              const settled = await this.#query<SettledRow>(client, this.#sql.settle, values);
              // The first applied `disable` of each subscription, in batch order, is the one
              // that reports disabling it (if this call did).
              const firstDisable = new Map<string, SettledRow>();
              for (const row of [...settled].sort((a, b) => int(a.ord) - int(b.ord))) {
                if (row.kind === 'disable' && !firstDisable.has(row.subscription_id)) firstDisable.set(row.subscription_id, row);
              }
              if (firstDisable.size === 0) return { rows: settled, disabledBy: new Set<number>() };
              const subscriptions = [...firstDisable.keys()];
              const disabled = await this.#query<{ id: string }>(client, this.#sql.disableSubscriptions, [
                subscriptions,
                subscriptions.map((id) => columns.reasons[int(firstDisable.get(id)!.ord) - 1] ?? null),
                now,
              ]);
              const held = new Map(
                (await this.#query<DeliveryRow>(client, this.#sql.holdPending, [subscriptions, now])).map((row) => [row.id, row]),
              );
              // A retry settled in this batch for a subscription the batch disabled is now held: report that.
              return {
                rows: settled.map((row) => {
                  const heldRow = held.get(row.id);
                  return heldRow === undefined ? row : { ...row, ...heldRow };
                }),
                disabledBy: new Set(disabled.map((row) => int(firstDisable.get(row.id)!.ord))),
              };
            })
          : this.#query<SettledRow>(this.pool, this.#sql.settle, values).then((settled) => ({ rows: settled, disabledBy: new Set<number>() })),
      // Safe to repeat: a settle that committed but whose answer was lost finds its
      // tokens gone and changes nothing the second time.
      { retry: retryBusyOrUnavailable },
    );
    const byOrdinal = new Map<number, SettledRow>();
    for (const row of rows) byOrdinal.set(int(row.ord), row);
    // failingSince as each settlement leaves it, in batch order (the statement wrote the
    // final value with the same rule).
    const failing = new Map<string, number | null>();
    return settlements.map((settlement, index): SettleResult => {
      const row = byOrdinal.get(index + 1);
      if (row === undefined) return { ok: false, deliveryId: settlement.deliveryId, code: 'STORAGE_LEASE_LOST' };
      let failingSince = failing.has(row.subscription_id) ? failing.get(row.subscription_id)! : intOrNull(row.failing_before);
      if (row.kind === 'delivered') failingSince = null;
      else if (row.kind === 'retry' || row.kind === 'dead') failingSince ??= int(row.started_at);
      failing.set(row.subscription_id, failingSince);
      return { ok: true, delivery: toDelivery(row), subscriptionDisabled: disabledBy.has(index + 1), failingSince };
    });
  }

  /** Gives leases back in one statement; the rows are due again at once (at their original due time). */
  async releaseLeases(leases: Array<{ deliveryId: string; leaseToken: string }>, now: number): Promise<void> {
    if (leases.length === 0) return;
    await this.#run(
      'releaseLeases',
      () =>
        this.#query(this.pool, this.#sql.releaseLeases, [
          leases.map((lease) => lease.deliveryId),
          leases.map((lease) => lease.leaseToken),
          now,
        ]),
      { retry: retryBusyOrUnavailable },
    );
  }

  /**
   * Earliest time, in the caller's clock, at which a pending delivery of an active
   * subscription becomes claimable; `null` if none. A delivery not under a lease is
   * due at its `next_attempt_at`; one under a live lease when the lease expires by the
   * database clock, translated into the caller's clock as `now` plus the time the
   * lease has left.
   */
  async nextDueAt(now: number): Promise<number | null> {
    return this.#run(
      'nextDueAt',
      async () => {
        const [row] = await this.#query<NextDueRow>(this.pool, this.#sql.nextDue, []);
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
  async getDelivery(id: string): Promise<DeliveryRecord | null> {
    return this.#run(
      'getDelivery',
      async () => {
        const [row] = await this.#query<DeliveryRow>(this.pool, this.#sql.getDelivery, [id]);
        return row === undefined ? null : toDelivery(row);
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /** Newest first (ids descending). @throws ValidationError `CURSOR_INVALID` for an unreadable cursor. */
  async listDeliveries(query: DeliveryQuery): Promise<Page<DeliveryRecord>> {
    const values: unknown[] = [];
    const where: string[] = [];
    const add = (value: unknown, clause: (placeholder: string) => string): void => {
      if (value === undefined) return;
      values.push(value);
      where.push(clause(`$${values.length}`));
    };
    add(query.subscriptionId, (p) => `d.subscription_id = ${p}`);
    add(query.eventId, (p) => `d.event_id = ${p}`);
    if (typeof query.status === 'string') add(query.status, (p) => `d.status = ${p}`);
    else if (query.status !== undefined) add([...query.status], (p) => `d.status = ANY (${p}::text[])`);
    add(query.since, (p) => `d.created_at >= ${p}::bigint`);
    add(query.until, (p) => `d.created_at < ${p}::bigint`);
    if (query.cursor !== undefined) add(decodeCursor('d', query.cursor), (p) => `d.id < ${p}`);
    values.push(query.limit + 1);
    // The (subscription_id, id) and (status, id) indexes serve these in id order.
    const text =
      `SELECT ${deliveryColumns('d')} FROM ${quoteIdentifier(this.schema)}.deliveries AS d ` +
      `${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY d.id DESC LIMIT $${values.length}`;
    return this.#run(
      'listDeliveries',
      async () => this.#page((await this.#query<DeliveryRow>(this.pool, text, values)).map(toDelivery), query.limit, 'd'),
      { retry: retryBusyOrUnavailable },
    );
  }

  /** The attempts of a delivery, oldest first. */
  async listAttempts(deliveryId: string): Promise<AttemptRecord[]> {
    return this.#run(
      'listAttempts',
      async () => (await this.#query<AttemptRow>(this.pool, this.#sql.listAttempts, [deliveryId])).map(toAttempt),
      { retry: retryBusyOrUnavailable },
    );
  }

  /** Makes a delivery due again at `now` with a fresh attempt cycle, unless leased (by the database clock) or held. */
  async redeliver(id: string, now: number): Promise<DeliveryRecord | 'not_found' | 'in_flight' | 'held'> {
    return this.#run('redeliver', async () => {
      const [row] = await this.#query<RedeliverRow>(this.pool, this.#sql.redeliver, [id, now]);
      if (row === undefined) return 'not_found' as const;
      if (row.id !== null && row.id !== undefined) return toDelivery(row as DeliveryRow);
      if (row.probe_status === 'held' || row.subscription_status !== 'active') return 'held' as const;
      return 'in_flight' as const;
    });
  }

  /** Re-queues the window's dead deliveries and creates the missing ones for one subscription, in one transaction. */
  async replay(input: ReplayInput): Promise<{ count: number }> {
    return this.#run('replay', () =>
      this.#transaction(async (client) => {
        // FOR SHARE: the subscription cannot be enabled, disabled or deleted under us.
        const [subscription] = await this.#query<{ status: SubscriptionStatus }>(client, this.#sql.lockSubscriptionShared, [
          input.subscriptionId,
        ]);
        if (subscription === undefined) return { count: 0 };
        const window = [input.subscriptionId, input.since, input.until ?? null];
        const missing = await this.#query<{ id: string; type: string }>(client, this.#sql.replayMissing, window);
        if (input.dryRun === true) {
          const [dead] = await this.#query<{ n: IntLike }>(client, this.#sql.replayCountDead, window);
          return { count: int(dead?.n ?? 0) + missing.length };
        }
        // A disabled subscription's deliveries are held, never pending: it resumes them on enable.
        const active = subscription.status === 'active';
        const status = active ? 'pending' : 'held';
        const next = active ? input.now : null;
        const revived = await client.query(this.#sql.replayReviveDead, [...window, status, next, input.now]);
        let inserted = 0;
        if (missing.length > 0) {
          const result = await client.query(this.#sql.insertReplayDeliveries, [
            missing.map(() => newDeliveryId(input.now)),
            missing.map((event) => event.id),
            missing.map((event) => event.type),
            input.subscriptionId,
            status,
            next,
            input.now,
          ]);
          inserted = result.rowCount ?? 0;
        }
        return { count: (revived.rowCount ?? 0) + inserted };
      }),
    );
  }

  /** Counts by status, from one snapshot, of every subscription or of one; `leased` by the database clock. */
  async stats(_now: number, query: { subscriptionId?: string } = {}): Promise<StorageStats> {
    return this.#run(
      'stats',
      async () => {
        const [row] =
          query.subscriptionId === undefined
            ? await this.#query<StatsRow>(this.pool, this.#sql.stats, [])
            : await this.#query<StatsRow>(this.pool, this.#sql.statsOf, [query.subscriptionId]);
        return {
          pending: int(row!.pending),
          leased: int(row!.leased),
          held: int(row!.held),
          dead: int(row!.dead),
          delivered: int(row!.delivered),
          oldestPendingCreatedAt: intOrNull(row!.oldest),
        };
      },
      { retry: retryBusyOrUnavailable },
    );
  }

  /** Removes deliveries that became final before `olderThan`, their attempts, and older events left without deliveries. */
  async purge(input: PurgeInput): Promise<PurgeResult> {
    return this.#run('purge', async () => {
      const [row] = await this.#query<PurgeRow>(this.pool, this.#sql.purge, [input.olderThan]);
      return { events: int(row!.events), deliveries: int(row!.deliveries), attempts: int(row!.attempts) };
    });
  }

  /**
   * Calls `onWake` when an instance publishes into this schema: LISTEN on a dedicated
   * connection (outside the pool's working set, so a busy pool cannot starve it),
   * reconnecting with jittered backoff when it drops. Notifications are hints — the
   * dispatcher's polling stays the backstop, so a lost one delays, never loses.
   * Resolves once listening (or, if the database is unreachable now, while it keeps
   * trying in the background). Returns the function that stops listening.
   */
  async subscribeWake(onWake: () => void): Promise<() => Promise<void>> {
    if (this.#closed) throw new StorageError('STORAGE_CLOSED', 'PostgreSQL storage: subscribeWake after close()');
    if (this.#createListenClient === null) return async () => undefined;
    const listener = new WakeListener(this.#createListenClient, this.#channel, this.schema, onWake);
    this.#listeners.add(listener);
    await listener.start();
    return async () => {
      this.#listeners.delete(listener);
      await listener.stop();
    };
  }

  async #enqueueOn(on: PostgresQueryable, input: EnqueueInput): Promise<EnqueueResult> {
    const { event } = input;
    const filters = candidateFilters(event.type);
    let idCount = (this.#fanOutHints.get(event.type) ?? 0) + fanOutSlack;
    // Bounded: each round learns the exact fan-out; only subscriptions created between
    // two rounds can make a third necessary.
    for (let round = 0; round < 5; round++) {
      const ids = Array.from({ length: idCount }, () => newDeliveryId(input.now));
      const [row] = await this.#query<EnqueueRow>(on, this.#sql.enqueue, [
        event.id,
        event.type,
        event.timestamp,
        event.payload,
        event.idempotencyKey ?? null,
        filters,
        ids,
        input.now,
        this.#channel,
        this.schema,
        on !== this.pool,
      ]);
      if (row === undefined) throw new StorageError('STORAGE_FAILED', 'PostgreSQL storage: enqueue returned no row');
      const targets = int(row.target_count);
      if (row.id === null) {
        idCount = targets + fanOutSlack;
        continue;
      }
      const created = row.id === event.id;
      if (created) {
        if (this.#fanOutHints.size >= fanOutHintLimit) this.#fanOutHints.clear();
        this.#fanOutHints.set(event.type, targets);
        if (on === this.pool && int(row.delivery_count) > 0) this.#notifySoon();
      }
      return {
        event: toEvent(row as EventRow),
        created,
        deliveryCount: created ? int(row.delivery_count) : 0,
      };
    }
    throw new StorageError('STORAGE_BUSY', 'PostgreSQL storage: the fan-out kept growing while publishing; try again', {
      retryable: true,
    });
  }

  /**
   * Wakes the other instances after a publish committed: one lone NOTIFY at a time per
   * adapter, and publishes that commit while it is under way are covered by one more
   * after it. Not awaited by `enqueue` — the publish is durable already, and a lost
   * notification only delays delivery until the next poll.
   */
  #notifySoon(): void {
    if (this.#notifying !== 'idle') {
      this.#notifying = 'again';
      return;
    }
    this.#notifying = 'sending';
    void (async () => {
      for (;;) {
        try {
          await this.#query(this.pool, this.#sql.notify, [this.#channel, this.schema]);
        } catch {
          // Polling is the backstop: a lost wake-up delays, never loses.
        }
        if (this.#notifying !== 'again' || this.#closed) break;
        this.#notifying = 'sending';
      }
      this.#notifying = 'idle';
    })();
  }

  async #query<Row>(on: PostgresQueryable, text: string, values: unknown[]): Promise<Row[]> {
    // On our own connections the fixed statements are named, so PostgreSQL parses and
    // plans each once per connection instead of on every call (the claim, settle and
    // enqueue CTEs cost more to plan than to run). The host's `tx` client gets plain
    // text: it may not be node-postgres at all.
    const result =
      on === this.pool || this.#ownClients.has(on)
        ? await (on as Pool).query({ name: this.#statementName(text), text, values })
        : await on.query(text, values);
    if (result === null || typeof result !== 'object' || !Array.isArray(result.rows)) {
      throw new StorageError('STORAGE_FAILED', 'PostgreSQL storage: the client answered without `rows`; pass a pg client as `tx`');
    }
    return result.rows as Row[];
  }

  #statementName(text: string): string {
    let name = this.#statementNames.get(text);
    if (name === undefined) {
      // Named after the text itself: two adapters (two schemas, or two copies of this
      // package) sharing a host pool can never give one name two different texts.
      name = `bookkeeper_webhooks_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
      this.#statementNames.set(text, name);
    }
    return name;
  }

  async #readSchemaVersion(on: PostgresQueryable): Promise<number | null> {
    try {
      const [row] = await this.#query<{ version: IntLike }>(on, this.#sql.schemaVersion, []);
      return int(row?.version ?? 0);
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (code === '42P01' || code === '3F000') return null;
      throw error;
    }
  }

  #assertNotTooNew(version: number): void {
    if (version > latestSchemaVersion) {
      throw new StorageError(
        'STORAGE_SCHEMA_TOO_NEW',
        `PostgreSQL storage: schema "${this.schema}" is at version ${version}, this code knows up to ${latestSchemaVersion}; upgrade @bookkeeper/webhooks`,
      );
    }
  }

  // Checked once, on the first call; a failure is not cached, so migrate() then a retry works.
  async #ensureReady(): Promise<void> {
    if (this.#readyDone) return;
    this.#ready ??= (async () => {
      const version = await this.#readSchemaVersion(this.pool);
      if (version === null || version === 0) {
        throw new StorageError(
          'STORAGE_NOT_MIGRATED',
          `PostgreSQL storage: schema "${this.schema}" has no webhook tables yet; call \`storage.migrate()\` first (or apply getMigrationSql())`,
        );
      }
      this.#assertNotTooNew(version);
      if (version < latestSchemaVersion) {
        throw new StorageError(
          'STORAGE_SCHEMA_TOO_OLD',
          `PostgreSQL storage: schema "${this.schema}" is at version ${version}, this code needs ${latestSchemaVersion}; call \`storage.migrate()\``,
        );
      }
      this.#readyDone = true;
    })().finally(() => {
      this.#ready = null;
    });
    await this.#ready;
  }

  async #transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    this.#ownClients.add(client);
    let destroy: Error | boolean = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (isConnectionLoss(error)) {
        destroy = error instanceof Error ? error : true;
      } else {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          destroy = rollbackError instanceof Error ? rollbackError : true;
        }
      }
      throw error;
    } finally {
      // A client whose connection broke is destroyed, not returned to the pool.
      client.release(destroy === false ? undefined : destroy);
    }
  }

  #page<T extends { id: string }>(rows: T[], limit: number, tag: string): Page<T> {
    if (rows.length <= limit) return { items: rows, nextCursor: null };
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: last === undefined ? null : encodeCursor(tag, last.id) };
  }

  async #run<T>(operation: string, fn: () => Promise<T>, options: RunOptions = {}): Promise<T> {
    const retry = options.retry ?? retryBusyOnly;
    return pRetry(
      async () => {
        if (this.#closed) throw new StorageError('STORAGE_CLOSED', `PostgreSQL storage: ${operation} after close()`);
        try {
          if (options.needsSchema !== false) await this.#ensureReady();
          return await fn();
        } catch (error) {
          throw toStorageError(error, operation);
        }
      },
      {
        ...busyRetry,
        shouldRetry: ({ error }) =>
          error instanceof StorageError && error.retryable && retry.has(error.code) && !this.#closed,
      },
    );
  }
}
