/**
 * The storages the bench runs against, discovered at start-up: add an entry to
 * {@link storageEntries} and every suite picks it up without being rewritten.
 *
 * - memory: always;
 * - sqlite: a fresh file in a temporary folder (WAL, the adapter's defaults), removed after;
 * - postgres: when `src/storage/postgres/index.ts` exists and a database answers at
 *   `BENCH_DATABASE_URL ?? TEST_DATABASE_URL ?? postgres://postgres@127.0.0.1:5432/test`;
 *   each instance gets a fresh schema, dropped after.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { createMemoryStorage } from '../src/storage/memory/index.js';
import type { EnqueueInput, StorageAdapter } from '../src/storage/storage-adapter.js';
import { createSqliteStorage } from '../src/storage/sqlite/index.js';
import { sqliteTables } from '../src/storage/sqlite/statements/tables.js';
import { bulkParameters, bulkPayload, fillInBulk, fillThroughAdapter, positional, postgresBulkSql, sqliteBulkSql, type LogLayout, type LogPlan } from './log-fill.js';

/** A storage instance made for one trial, and how to dispose of it. */
export interface BenchStorageInstance {
  storage: StorageAdapter;
  /**
   * Fills the storage fast (bypassing `publish`), for backlog trials. Events with an
   * `orderingKey` keep it: each key's deliveries are numbered in the order of the inputs.
   */
  fill(inputs: Iterable<EnqueueInput>): Promise<void>;
  /** Writes the backlog suite's log (bench/log-fill.ts) as fast as this storage takes it. */
  fillLog(plan: LogPlan): Promise<LogLayout>;
  /** Closes the storage and removes what it left (file, schema). Idempotent. */
  dispose(): Promise<void>;
  /** On-disk or in-database size of what is stored, bytes; `null` when not applicable. */
  storedBytes(): Promise<number | null>;
  /**
   * Gathers the planner's statistics after a bulk change, as autovacuum would on a host's
   * database (the test database runs without it); absent where there is no planner to inform.
   */
  analyze?(): Promise<void>;
}

export interface StorageEntry {
  name: string;
  /**
   * How much of a suite's nominal size this storage runs (1 = all of it): a durable
   * storage pays a commit per publish, and the full bench must stay under 10 minutes.
   */
  sizeFactor: number;
  /** Largest stored log (delivered deliveries) the backlog suite tries, in the full and in the quick run. */
  maxBacklog: { full: number; quick: number };
  /** `null` when usable here; otherwise why it is skipped. */
  probe(): Promise<string | null>;
  /** A fresh, migrated, empty storage. */
  create(): Promise<BenchStorageInstance>;
}

const memory: StorageEntry = {
  name: 'memory',
  sizeFactor: 1,
  maxBacklog: { full: 1_000_000, quick: 50_000 },
  probe: async () => null,
  async create() {
    const storage = createMemoryStorage();
    await storage.migrate();
    let disposed = false;
    return {
      storage,
      async fill(inputs) {
        // The memory storage's enqueue is synchronous inside: awaiting one at a time costs a microtask each.
        for (const input of inputs) await storage.enqueue(input);
      },
      fillLog: (plan) => fillThroughAdapter(storage, plan),
      async dispose() {
        if (disposed) return;
        disposed = true;
        await storage.close();
      },
      storedBytes: async () => null,
    };
  },
};

const sqlite: StorageEntry = {
  name: 'sqlite',
  sizeFactor: 0.5,
  maxBacklog: { full: 10_000_000, quick: 50_000 },
  probe: async () => null,
  async create() {
    const folder = await mkdtemp(join(tmpdir(), 'webhooks-bench-'));
    const filename = join(folder, 'webhooks.db');
    // Named, so that the log's bulk fill writes the tables this storage reads.
    const tablePrefix = 'webhook_';
    const storage = createSqliteStorage({ filename, tablePrefix });
    await storage.migrate();
    let disposed = false;
    return {
      storage,
      async fill(inputs) {
        // The host-transaction path (enqueueSync inside db.transaction), 5,000 events a
        // commit: a million single-commit publishes would take most of the time budget.
        const database = storage.database;
        const batch: EnqueueInput[] = [];
        const flush = database.transaction(() => {
          for (const input of batch) storage.enqueueSync({ ...input, tx: database });
        });
        for (const input of inputs) {
          batch.push(input);
          if (batch.length === 5000) {
            flush();
            batch.length = 0;
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
        if (batch.length > 0) flush();
      },
      async fillLog(plan) {
        const database = storage.database;
        const sql = sqliteBulkSql(sqliteTables(tablePrefix));
        const statements = Object.fromEntries(Object.entries(sql).map(([name, text]) => [name, database.prepare(text)]));
        const payload = bulkPayload();
        return fillInBulk(plan, async (names, first, last) => {
          const parameters = bulkParameters(plan, first, last, payload);
          database.transaction(() => {
            for (const name of names) statements[name]!.run(parameters);
          })();
        });
      },
      async dispose() {
        if (disposed) return;
        disposed = true;
        await storage.close();
        await rm(folder, { recursive: true, force: true });
      },
      async storedBytes() {
        const pages = storage.database.pragma('page_count', { simple: true }) as number;
        const size = storage.database.pragma('page_size', { simple: true }) as number;
        return pages * size;
      },
    };
  },
};

/** The PostgreSQL database the bench uses when the adapter exists. */
export const postgresUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const postgresModule = fileURLToPath(new URL('../src/storage/postgres/index.ts', import.meta.url));

interface PostgresModule {
  createPostgresStorage(options: { connectionString: string; schema: string }): StorageAdapter;
}

async function withClient<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}


/**
 * Writes N events and their pending deliveries (one per event, to the one subscription
 * the trial created) with two `INSERT … SELECT FROM generate_series` statements, in the
 * adapter's schema (src/storage/postgres/migrations). Ids keep the adapter's shape and
 * order (prefix + fixed-width sortable body), so claims walk the index as they would.
 */
async function fillPostgresInBulk(schema: string, first: EnqueueInput | undefined, rest: Iterator<EnqueueInput>): Promise<void> {
  let count = first === undefined ? 0 : 1;
  for (let next = rest.next(); next.done !== true; next = rest.next()) {
    if (next.value.event.orderingKey != null) throw new Error('a bulk-written backlog cannot mix events with and without an ordering key');
    count += 1;
  }
  if (first === undefined) return;
  const { event, now } = first;
  await withClient(async (client) => {
    const subscription = await client.query<{ id: string }>(`select id from "${schema}".subscriptions limit 1`);
    const subscriptionId = subscription.rows[0]?.id;
    if (subscriptionId === undefined) throw new Error('the backlog trial has no subscription');
    await client.query('begin');
    await client.query(
      `insert into "${schema}".events (id, type, published_at, payload)
       select 'evt_' || lpad(g::text, 26, '0'), $2, $3, $4 from generate_series(1, $1::int) g`,
      [count, event.type, event.timestamp, event.payload],
    );
    await client.query(
      `insert into "${schema}".deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, created_at, updated_at)
       select 'dlv_' || lpad(g::text, 26, '0'), 'evt_' || lpad(g::text, 26, '0'), $2, $3, 'pending', 0, $4, $4, $4 from generate_series(1, $1::int) g`,
      [count, event.type, subscriptionId, now],
    );
    await client.query('commit');
    await client.query(`analyze "${schema}".deliveries`);
  });
}

/** Keys filled side by side through the adapter (each key's events one after the other). */
const orderedFillLanes = 8;

/**
 * A backlog whose first event has an ordering key goes through the adapter's `enqueue`:
 * the key records and sequence numbers are the adapter's to write, which the bulk
 * statements know nothing of. Each key's events are enqueued one after the other, in input
 * order (so their numbers follow it), {@link orderedFillLanes} keys at a time; then the
 * planner's statistics, as after a bulk fill. Any other backlog is written in bulk.
 */
async function fillPostgres(storage: StorageAdapter, schema: string, inputs: Iterable<EnqueueInput>): Promise<void> {
  const iterator = inputs[Symbol.iterator]();
  const head = iterator.next();
  const first = head.done === true ? undefined : head.value;
  if (first?.event.orderingKey == null) return fillPostgresInBulk(schema, first, iterator);
  const byKey = new Map<string | null, EnqueueInput[]>([[first.event.orderingKey, [first]]]);
  for (let next = iterator.next(); next.done !== true; next = iterator.next()) {
    const key = next.value.event.orderingKey ?? null;
    const list = byKey.get(key);
    if (list === undefined) byKey.set(key, [next.value]);
    else list.push(next.value);
  }
  const keys = [...byKey.values()];
  let nextKey = 0;
  await Promise.all(
    Array.from({ length: Math.min(orderedFillLanes, keys.length) }, async () => {
      while (nextKey < keys.length) {
        for (const input of keys[nextKey++]!) await storage.enqueue(input);
      }
    }),
  );
  await withClient(async (client) => void (await client.query(`analyze "${schema}".events, "${schema}".deliveries`)));
}

/** The backlog suite's log by `INSERT … SELECT FROM generate_series`, a transaction per chunk, then {@link afterBulkLoad}. */
function fillPostgresLog(schema: string, plan: LogPlan): Promise<LogLayout> {
  return withClient(async (client) => {
    const sql = postgresBulkSql(`"${schema}"`);
    const payload = bulkPayload();
    const layout = await fillInBulk(plan, async (names, first, last) => {
      const parameters = bulkParameters(plan, first, last, payload);
      await client.query('begin');
      for (const name of names) {
        const { text, values } = positional(sql[name], parameters);
        await client.query(text, values);
      }
      await client.query('commit');
    });
    await afterBulkLoad(client, schema);
    return layout;
  });
}

/**
 * What a host's database does after a bulk load before it is read at its usual cost:
 * autovacuum (off on the test database) would vacuum the inserted tables, which sets
 * their visibility map for index-only scans, and gather the planner's statistics.
 */
async function afterBulkLoad(client: pg.Client, schema: string): Promise<void> {
  await client.query(`vacuum (analyze) "${schema}".events, "${schema}".deliveries, "${schema}".attempts`);
}

const postgres: StorageEntry = {
  name: 'postgres',
  sizeFactor: 0.1,
  maxBacklog: { full: 10_000_000, quick: 50_000 },
  async probe() {
    if (!existsSync(postgresModule)) return 'src/storage/postgres/index.ts does not exist yet';
    try {
      await withClient((client) => client.query('select 1'));
    } catch (error) {
      return `no database at ${postgresUrl.replace(/\/\/[^@/]*@/, '//…@')}: ${error instanceof Error ? error.message : String(error)}`;
    }
    const loaded = (await import(pathToFileURL(postgresModule).href)) as Partial<PostgresModule>;
    if (typeof loaded.createPostgresStorage !== 'function') return 'src/storage/postgres/index.ts exports no createPostgresStorage';
    return null;
  },
  async create() {
    const { createPostgresStorage } = (await import(pathToFileURL(postgresModule).href)) as PostgresModule;
    const schema = `webhooks_bench_${process.pid}_${Date.now().toString(36)}`;
    const dropSchema = () => withClient((client) => client.query(`drop schema if exists "${schema}" cascade`));
    const storage = createPostgresStorage({ connectionString: postgresUrl, schema });
    try {
      await storage.migrate();
    } catch (error) {
      await storage.close().catch(() => undefined);
      await dropSchema().catch(() => undefined);
      throw error;
    }
    let disposed = false;
    return {
      storage,
      // One publish per row would take ~10 minutes for a million at this machine's commit rate;
      // the backlog section measures claims, not publishes, so the rows are written in bulk.
      fill: (inputs) => fillPostgres(storage, schema, inputs),
      fillLog: (plan) => fillPostgresLog(schema, plan),
      analyze: () => withClient(async (client) => void (await client.query(`analyze "${schema}".subscriptions, "${schema}".subscription_event_types, "${schema}".events, "${schema}".deliveries`))),
      async dispose() {
        if (disposed) return;
        disposed = true;
        await storage.close().catch(() => undefined);
        await dropSchema();
      },
      storedBytes: () =>
        withClient(async (client) => {
          const result = await client.query<{ bytes: string | null }>(
            `select sum(pg_total_relation_size(c.oid))::text as bytes from pg_class c
             join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind = 'r'`,
            [schema],
          );
          return result.rows[0]?.bytes == null ? null : Number(result.rows[0].bytes);
        }),
    };
  },
};

/** Every storage the bench knows, in report order. */
export const storageEntries: readonly StorageEntry[] = [memory, sqlite, postgres];

export interface Discovery {
  available: StorageEntry[];
  skipped: Array<{ name: string; reason: string }>;
}

/** Probes every entry (optionally only the named ones). */
export async function discoverStorages(only?: readonly string[]): Promise<Discovery> {
  const discovery: Discovery = { available: [], skipped: [] };
  for (const entry of storageEntries) {
    if (only !== undefined && !only.includes(entry.name)) {
      discovery.skipped.push({ name: entry.name, reason: 'not selected (--storages)' });
      continue;
    }
    const reason = await entry.probe();
    if (reason === null) discovery.available.push(entry);
    else discovery.skipped.push({ name: entry.name, reason });
  }
  return discovery;
}

export function storageEntry(name: string): StorageEntry {
  const entry = storageEntries.find((candidate) => candidate.name === name);
  if (entry === undefined) throw new Error(`Unknown storage "${name}"; expected one of ${storageEntries.map((e) => e.name).join(', ')}`);
  return entry;
}
