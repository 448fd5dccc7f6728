/**
 * The rows the retention section works on, written fast per storage:
 * - a history of final rows past every default retention cutoff — delivered deliveries with
 *   1–3 attempts each (2 on average: the last delivered, those before it retried) and their
 *   1 KB events — by `INSERT … SELECT` over a series on PostgreSQL and SQLite, through the
 *   storage's own enqueue, claim and settle on memory (no SQL to write it with);
 * - a backlog of pending deliveries for a dispatch trial, with ids of its own per trial.
 *
 * Every row belongs to the one subscription the trial made, in the adapter's schema
 * (src/storage/<adapter>/migrations); ids keep the adapters' shape (prefix and a sortable body).
 */
import type pg from 'pg';
import type Database from 'better-sqlite3';
import { createId } from '../src/ids.js';
import type { StorageAdapter } from '../src/storage/storage-adapter.js';
import { enqueueInputs } from './payload.js';
import type { BenchStorageInstance } from './storages.js';

/** What the history holds, for the rates' denominators. */
export interface FinalHistory {
  deliveries: number;
  attempts: number;
  events: number;
}

/** Attempts of the n-th history delivery (1-based, across top-ups): 1, 2, 3, 1, 2, 3, … */
function attemptsOf(n: number): number {
  return 1 + ((n - 1) % 3);
}

function historyTotals(offset: number, deliveries: number): FinalHistory {
  let attempts = 0;
  for (let n = offset + 1; n <= offset + deliveries; n++) attempts += attemptsOf(n);
  return { deliveries, attempts, events: deliveries };
}

interface SqlHistory {
  /** Events of the history: published at $2, payload $3. */
  events: string;
  /** Deliveries: event type $2, subscription $3, delivered at $4 + n ms. */
  deliveries: string;
  /** Attempts: the delivered one last, the ones before it retried. */
  attempts: string;
}

/** The statements on PostgreSQL (numbers $1 + 1 to $1 + $2, by generate_series). */
function postgresHistory(schema: string): SqlHistory {
  const s = `"${schema}"`;
  return {
    events: `INSERT INTO ${s}.events (id, type, published_at, payload)
      SELECT 'evt_0' || lpad(g::text, 25, '0'), $3, $4::bigint, $5 FROM generate_series($1::int + 1, $1::int + $2::int) g`,
    deliveries: `INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, status, attempts, history_attempts,
        last_attempt_at, last_status_code, delivered_at, created_at, updated_at)
      SELECT 'dlv_0' || lpad(g::text, 25, '0'), 'evt_0' || lpad(g::text, 25, '0'), $3, $4, 'delivered', 1 + (g - 1) % 3, 1 + (g - 1) % 3,
        $5::bigint + g, 200, $5::bigint + g, $5::bigint + g - 1000, $5::bigint + g
      FROM generate_series($1::int + 1, $1::int + $2::int) g`,
    attempts: `INSERT INTO ${s}.attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code, outcome, next_attempt_at)
      SELECT 'att_0' || lpad(g::text, 23, '0') || '_' || k, 'dlv_0' || lpad(g::text, 25, '0'), k, $3::bigint + g - 3 + k, 1.5,
        CASE WHEN k = 1 + (g - 1) % 3 THEN 200 ELSE 503 END,
        CASE WHEN k = 1 + (g - 1) % 3 THEN 'delivered' ELSE 'retry' END,
        CASE WHEN k = 1 + (g - 1) % 3 THEN NULL ELSE $3::bigint + g - 2 + k END
      FROM generate_series($1::int + 1, $1::int + $2::int) g CROSS JOIN LATERAL generate_series(1, 1 + (g - 1) % 3) k`,
  };
}

async function postgresFill(pool: pg.Pool, schema: string, offset: number, count: number, type: string, subscriptionId: string, finalAt: number, payload: string): Promise<void> {
  const sql = postgresHistory(schema);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(sql.events, [offset, count, type, finalAt - 1000, payload]);
    await client.query(sql.deliveries, [offset, count, type, subscriptionId, finalAt]);
    await client.query(sql.attempts, [offset, count, finalAt]);
    await client.query('COMMIT');
    // What autovacuum would have gathered on a host's database (the test database runs without it).
    await client.query(`ANALYZE "${schema}".events, "${schema}".deliveries, "${schema}".attempts`);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** SQLite has no generate_series outside its shell: a recursive series instead. */
const sqliteSeries = 'WITH RECURSIVE s(g) AS (SELECT @offset + 1 UNION ALL SELECT g + 1 FROM s WHERE g < @offset + @count)';

function sqliteFill(database: Database.Database, offset: number, count: number, type: string, subscriptionId: string, finalAt: number, payload: string): void {
  const pad = (width: number) => `substr('${'0'.repeat(width)}' || g, -${width})`;
  const series = { offset, count };
  database.transaction(() => {
    database
      .prepare(`INSERT INTO webhook_events (id, type, published_at, payload) ${sqliteSeries} SELECT 'evt_0' || ${pad(25)}, @type, @publishedAt, @payload FROM s`)
      .run({ ...series, type, publishedAt: finalAt - 1000, payload });
    database
      .prepare(
        `INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, status, attempts, history_attempts,
           last_attempt_at, last_status_code, delivered_at, created_at, updated_at)
         ${sqliteSeries} SELECT 'dlv_0' || ${pad(25)}, 'evt_0' || ${pad(25)}, @type, @subscriptionId, 'delivered', 1 + (g - 1) % 3, 1 + (g - 1) % 3,
           @finalAt + g, 200, @finalAt + g, @finalAt + g - 1000, @finalAt + g FROM s`,
      )
      .run({ ...series, type, subscriptionId, finalAt });
    database
      .prepare(
        `INSERT INTO webhook_attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code, outcome, next_attempt_at)
         ${sqliteSeries}, k(n) AS (VALUES (1), (2), (3))
         SELECT 'att_0' || ${pad(23)} || '_' || n, 'dlv_0' || ${pad(25)}, n, @finalAt + g - 3 + n, 1,
           CASE WHEN n = 1 + (g - 1) % 3 THEN 200 ELSE 503 END,
           CASE WHEN n = 1 + (g - 1) % 3 THEN 'delivered' ELSE 'retry' END,
           CASE WHEN n = 1 + (g - 1) % 3 THEN NULL ELSE @finalAt + g - 2 + n END
         FROM s JOIN k ON n <= 1 + (g - 1) % 3`,
      )
      .run({ ...series, finalAt });
  })();
  database.exec('ANALYZE');
}

/** The memory storage's history, made the way the dispatcher makes it: claim and settle, at `finalAt`. */
async function memoryFill(storage: StorageAdapter, offset: number, count: number, finalAt: number): Promise<void> {
  const inputs = [...enqueueInputs(count)].map((input) => ({ event: { ...input.event, timestamp: finalAt - 1000 }, now: finalAt - 1000 }));
  for (const input of inputs) await storage.enqueue(input);
  const attemptsById = new Map<string, number>();
  for (let round = 1; round <= 3; round++) {
    const claimed = await storage.claimDue({ limit: count, leaseMs: 60_000, now: finalAt });
    const settlements = claimed.map((c) => {
      const n = offset + attemptsById.size + 1;
      const wanted = attemptsById.get(c.delivery.id) ?? attemptsOf(n);
      attemptsById.set(c.delivery.id, wanted);
      const last = round >= wanted;
      return {
        deliveryId: c.delivery.id,
        leaseToken: c.leaseToken,
        outcome: last ? { kind: 'delivered' as const } : { kind: 'retry' as const, nextAttemptAt: finalAt },
        attempt: { id: createId('att', finalAt), startedAt: finalAt, durationMs: 1.5, statusCode: last ? 200 : 503, errorClass: null, errorMessage: null, responseSnippet: null },
      };
    });
    if (settlements.length > 0) await storage.settle(settlements, finalAt);
  }
}

/**
 * Writes `count` delivered deliveries that became final at about `finalAt`, their attempts
 * and their events, to `subscriptionId`, numbered after the `offset` written before (a
 * top-up); returns what was written.
 */
export async function fillFinalHistory(
  kind: string,
  instance: BenchStorageInstance,
  offset: number,
  count: number,
  subscriptionId: string,
  type: string,
  finalAt: number,
): Promise<FinalHistory> {
  const payload = [...enqueueInputs(1)][0]!.event.payload;
  const storage = instance.storage as StorageAdapter & { pool?: pg.Pool; schema?: string; database?: Database.Database };
  if (kind === 'postgres') await postgresFill(storage.pool!, storage.schema!, offset, count, type, subscriptionId, finalAt, payload);
  else if (kind === 'sqlite') sqliteFill(storage.database!, offset, count, type, subscriptionId, finalAt, payload);
  else if (kind === 'memory') await memoryFill(instance.storage, offset, count, finalAt);
  else throw new Error(`the retention section has no history fill for storage "${kind}"`);
  return historyTotals(offset, count);
}

/**
 * Writes `count` pending deliveries due now, with their 1 KB events, to the trial's one
 * subscription. PostgreSQL in two `INSERT … SELECT` statements with ids prefixed by
 * `trial` (the bench's bulk fill numbers every backlog from 1, and these trials share one
 * schema); the other storages through their own fast path.
 */
export async function fillPending(kind: string, instance: BenchStorageInstance, count: number, subscriptionId: string, trial: number): Promise<void> {
  if (kind !== 'postgres') return instance.fill(enqueueInputs(count));
  const { event, now } = [...enqueueInputs(1)][0]!;
  const storage = instance.storage as StorageAdapter & { pool: pg.Pool; schema: string };
  const s = `"${storage.schema}"`;
  const id = (prefix: string) => `'${prefix}_1' || lpad($5::text, 6, '0') || lpad(g::text, 19, '0')`;
  const client = await storage.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO ${s}.events (id, type, published_at, payload) SELECT ${id('evt')}, $2, $3::bigint, $4 FROM generate_series(1, $1::int) g`,
      [count, event.type, now, event.payload, trial],
    );
    await client.query(
      `INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, created_at, updated_at)
       SELECT ${id('dlv')}, ${id('evt')}, $2, $3, 'pending', 0, $4::bigint, $4::bigint, $4::bigint FROM generate_series(1, $1::int) g`,
      [count, event.type, subscriptionId, now, trial],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
