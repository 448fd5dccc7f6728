/**
 * The backlog suite's stored log, written straight into each storage: `delivered` events,
 * each with one delivered delivery and its one attempt, all past retention, then `pending`
 * events with one pending delivery each, due now. Publishing ten million events one by
 * one would take hours at a durable storage's commit rate; the operations timed over the
 * log (claim, stats, the delivery log's pages, retention) do not depend on how it was made.
 *
 * SQLite and PostgreSQL get bulk SQL in the adapters' own schema (src/storage/<adapter>/
 * migrations): every column the adapter reads, written as a settle would have left it, and
 * every index in place. SQLite's `delivery_counts` is kept by the migrations' triggers,
 * which fire on these inserts as on any other. The memory storage is filled through its
 * adapter (enqueue, claim, settle), whose records it alone knows how to lay out.
 *
 * Ids on SQL storages: the adapter's shape (`dlv_` + 26 sortable characters), numbered in
 * order of creation, so that the log pages newest first by id as it would.
 */
import { createId } from '../src/ids.js';
import type { EnqueueInput, StorageAdapter } from '../src/storage/storage-adapter.js';
import { eventType, paddingFor, paymentData } from './payload.js';

export interface LogPlan {
  /** The one subscription every delivery goes to. */
  subscriptionId: string;
  /** Events with one delivered delivery and one attempt each, all older than {@link retentionAgeMs}. */
  delivered: number;
  /** Events with one pending delivery each, due at `now`. */
  pending: number;
  /** Epoch ms: the fill's present. */
  now: number;
}

export interface LogLayout {
  /** The id of the delivered delivery in the middle of the log: a cursor there pages deep. */
  middleDeliveryId: string;
}

/** How old the oldest delivered delivery is, more or less: the history is a month old. */
export const retentionAgeMs = 30 * 24 * 3600_000;

/** Epoch ms at which the history's `index`-th event (0-based) was published; ms apart, in order. */
function publishedAt(plan: LogPlan, index: number): number {
  return plan.now - retentionAgeMs - plan.delivered + index;
}

/** The attempt starts this long after its event was published, and lasts as long again. */
const attemptDelayMs = 5;

/** A bulk-filled row's id: `number` (1-based, in creation order) in the adapter's id shape. */
function bulkId(prefix: 'evt' | 'dlv' | 'att', number: number): string {
  return `${prefix}_${String(number).padStart(26, '0')}`;
}

/** One 1 KB envelope, shared by the bulk-filled events: what these operations read of it is its size. */
export function bulkPayload(): string {
  return JSON.stringify({ id: bulkId('evt', 0), type: eventType, timestamp: new Date(0).toISOString(), data: paymentData(0, paddingFor()) });
}

/** Rows per transaction of the SQL fills: large enough that commits do not count, small enough to keep the WAL in bounds. */
const bulkChunkRows = 200_000;

/** Consecutive [first, last] ranges (1-based, inclusive) of at most {@link bulkChunkRows}, from `first` on, `count` in all. */
function* chunks(first: number, count: number): Generator<[number, number]> {
  for (let from = first; from < first + count; from += bulkChunkRows) yield [from, Math.min(first + count, from + bulkChunkRows) - 1];
}

/** The middle delivered delivery of a bulk-filled log. */
function bulkLayout(plan: LogPlan): LogLayout {
  return { middleDeliveryId: bulkId('dlv', Math.max(1, Math.ceil(plan.delivered / 2))) };
}

/** An event as publish makes it (a fresh 1 KB payload), published at `timestamp`. */
function enqueueInput(n: number, timestamp: number): EnqueueInput {
  const id = createId('evt', timestamp);
  const payload = JSON.stringify({ id, type: eventType, timestamp: new Date(timestamp).toISOString(), data: paymentData(n, paddingFor()) });
  return { event: { id, type: eventType, timestamp, payload, idempotencyKey: null, tenantId: null }, now: timestamp };
}

/** Deliveries claimed and settled at once by the memory fill. */
const memoryBatch = 1000;

/**
 * The log through the adapter: each batch of events enqueued at its publication time, then
 * claimed and settled delivered with one attempt; then the pending events, at `now`.
 */
export async function fillThroughAdapter(storage: StorageAdapter, plan: LogPlan): Promise<LogLayout> {
  let middleDeliveryId: string | null = null;
  for (let first = 0; first < plan.delivered; first += memoryBatch) {
    const size = Math.min(memoryBatch, plan.delivered - first);
    for (let i = first; i < first + size; i++) await storage.enqueue(enqueueInput(i, publishedAt(plan, i)));
    const settledAt = publishedAt(plan, first + size - 1) + 2 * attemptDelayMs;
    const claimed = await storage.claimDue({ limit: size, leaseMs: 60_000, now: settledAt });
    if (claimed.length !== size) throw new Error(`the memory fill claimed ${claimed.length} of ${size} deliveries`);
    const middle = Math.ceil(plan.delivered / 2) - 1 - first;
    if (middle >= 0 && middle < size) middleDeliveryId = claimed[middle]!.delivery.id;
    await storage.settle(
      claimed.map((c) => ({
        deliveryId: c.delivery.id,
        leaseToken: c.leaseToken,
        attempt: {
          id: createId('att', settledAt),
          startedAt: settledAt - attemptDelayMs,
          durationMs: attemptDelayMs,
          statusCode: 200,
          errorClass: null,
          errorMessage: null,
          responseSnippet: null,
        },
        outcome: { kind: 'delivered' as const },
      })),
      settledAt,
    );
  }
  for (let i = 0; i < plan.pending; i++) await storage.enqueue(enqueueInput(plan.delivered + i, plan.now));
  if (middleDeliveryId === null) throw new Error('the memory fill made no delivered delivery');
  return { middleDeliveryId };
}

/** The SQL fills' statements, by dialect: each writes one chunk of rows `first..last` (1-based numbers). */
interface BulkSql {
  /** Events `first..last`: `@start + n` for the history, `@now` for the pending ones. */
  events: string;
  deliveredDeliveries: string;
  attempts: string;
  pendingDeliveries: string;
}

/** A SQLite numbered-rows source (a recursive CTE) and its id expression. */
const sqliteRows = 'WITH RECURSIVE g(n) AS (SELECT @first UNION ALL SELECT n + 1 FROM g WHERE n < @last)';
const sqliteId = (prefix: string): string => `'${prefix}_' || printf('%026d', n)`;

/** SQLite, in the columns of migrations 0001–0010 (`t` is the adapter's prefixed table names). */
export function sqliteBulkSql(t: { events: string; deliveries: string; attempts: string }): BulkSql {
  const deliveryColumns =
    'id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error, ' +
    'delivered_at, lease_token, lease_expires_at, due_at, created_at, updated_at, history_attempts, first_failed_at, recovered_at, tenant_id';
  return {
    events: `${sqliteRows} INSERT INTO ${t.events} (id, type, published_at, payload, idempotency_key, tenant_id, expunged_at)
      SELECT ${sqliteId('evt')}, @type, CASE WHEN n <= @delivered THEN @start + n ELSE @now END, @payload, NULL, NULL, NULL FROM g`,
    // As settle leaves a delivery delivered by its first attempt.
    deliveredDeliveries: `${sqliteRows} INSERT INTO ${t.deliveries} (${deliveryColumns})
      SELECT ${sqliteId('dlv')}, ${sqliteId('evt')}, @type, @subscriptionId, 'delivered', 1, NULL, @start + n + @delay, 200, NULL,
        @start + n + 2 * @delay, NULL, NULL, NULL, @start + n, @start + n + 2 * @delay, 1, NULL, NULL, NULL FROM g`,
    attempts: `${sqliteRows} INSERT INTO ${t.attempts} (id, delivery_id, attempt_number, started_at, duration_ms, status_code, error_class,
        error_message, response_snippet, outcome, next_attempt_at)
      SELECT ${sqliteId('att')}, ${sqliteId('dlv')}, 1, @start + n + @delay, @delay, 200, NULL, NULL, NULL, 'delivered', NULL FROM g`,
    // As enqueue leaves a fresh delivery: due at once, no attempt yet.
    pendingDeliveries: `${sqliteRows} INSERT INTO ${t.deliveries} (${deliveryColumns})
      SELECT ${sqliteId('dlv')}, ${sqliteId('evt')}, @type, @subscriptionId, 'pending', 0, @now, NULL, NULL, NULL,
        NULL, NULL, NULL, @now, @now, @now, 0, NULL, NULL, NULL FROM g`,
  };
}

const postgresRows = 'FROM generate_series(@first::bigint, @last::bigint) AS n';
const postgresId = (prefix: string): string => `'${prefix}_' || lpad(n::text, 26, '0')`;

/** PostgreSQL, in the columns of migrations 0001–0006 (`schema` quoted by the caller); named parameters as {@link positional} reads them. */
export function postgresBulkSql(schema: string): BulkSql {
  const deliveryColumns =
    'id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error, ' +
    'delivered_at, lease_token, lease_expires_at, created_at, updated_at, history_attempts, first_failed_at, recovered_at, tenant_id, cancelled_at';
  const at = (offset: string): string => `@start::bigint + n${offset}`;
  return {
    events: `INSERT INTO ${schema}.events (id, type, published_at, payload, idempotency_key, tenant_id, expunged_at)
      SELECT ${postgresId('evt')}, @type::text, CASE WHEN n <= @delivered::bigint THEN ${at('')} ELSE @now::bigint END, @payload::text, NULL, NULL, NULL
      ${postgresRows}`,
    deliveredDeliveries: `INSERT INTO ${schema}.deliveries (${deliveryColumns})
      SELECT ${postgresId('dlv')}, ${postgresId('evt')}, @type::text, @subscriptionId::text, 'delivered', 1, NULL, ${at(' + @delay::bigint')}, 200, NULL,
        ${at(' + 2 * @delay::bigint')}, NULL, NULL, ${at('')}, ${at(' + 2 * @delay::bigint')}, 1, NULL, NULL, NULL, NULL ${postgresRows}`,
    attempts: `INSERT INTO ${schema}.attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code, error_class,
        error_message, response_snippet, outcome, next_attempt_at)
      SELECT ${postgresId('att')}, ${postgresId('dlv')}, 1, ${at(' + @delay::bigint')}, @delay::bigint, 200, NULL, NULL, NULL, 'delivered', NULL
      ${postgresRows}`,
    pendingDeliveries: `INSERT INTO ${schema}.deliveries (${deliveryColumns})
      SELECT ${postgresId('dlv')}, ${postgresId('evt')}, @type::text, @subscriptionId::text, 'pending', 0, @now::bigint, NULL, NULL, NULL,
        NULL, NULL, NULL, @now::bigint, @now::bigint, 0, NULL, NULL, NULL, NULL ${postgresRows}`,
  };
}

/** A statement with `@name` parameters as PostgreSQL takes it: `$1…` and the values in that order. */
export function positional(sql: string, parameters: Record<string, unknown>): { text: string; values: unknown[] } {
  const names: string[] = [];
  const text = sql.replace(/@(\w+)/g, (_, name: string) => {
    if (!(name in parameters)) throw new Error(`no value for @${name}`);
    if (!names.includes(name)) names.push(name);
    return `$${names.indexOf(name) + 1}`;
  });
  return { text, values: names.map((name) => parameters[name]) };
}

/** Runs one statement of {@link BulkSql} over rows `first..last`, in a transaction of its chunk. */
export type BulkRunner = (statements: ReadonlyArray<keyof BulkSql>, first: number, last: number) => Promise<void>;

/** The log in chunks of {@link bulkChunkRows}: the history (events, deliveries, attempts), then the pending deliveries' events and rows. */
export async function fillInBulk(plan: LogPlan, run: BulkRunner): Promise<LogLayout> {
  for (const [first, last] of chunks(1, plan.delivered)) await run(['events', 'deliveredDeliveries', 'attempts'], first, last);
  for (const [first, last] of chunks(plan.delivered + 1, plan.pending)) await run(['events', 'pendingDeliveries'], first, last);
  return bulkLayout(plan);
}

/** The parameters the statements of one chunk read, by name. */
export function bulkParameters(plan: LogPlan, first: number, last: number, payload: string) {
  return {
    first,
    last,
    type: eventType,
    subscriptionId: plan.subscriptionId,
    // History row n (1-based) is published at start + n, attempted `delay` later, for as long.
    start: publishedAt(plan, -1),
    delay: attemptDelayMs,
    now: plan.now,
    delivered: plan.delivered,
    payload,
  };
}
