/**
 * `@bookkeeper/webhooks/postgres`: the PostgreSQL storage on node-postgres (pg 8),
 * for hosts that run several Bookkeeper instances on one database.
 *
 * pg is an optional peer dependency. This module only imports its types; the driver
 * is loaded at run time, and only when the adapter must create a pool itself
 * (`connectionString`). A host that hands in its own `pool` never makes us load it.
 */
import type { Client, Pool } from 'pg';
import { z } from 'zod';
import { checkArgumentCount } from '../../check-argument-count.js';
import { ConfigError } from '../../errors.js';
import { parseFactoryOptions } from '../shared/factory-options.js';
import { assertOneConnectionSource } from '../shared/one-connection-source.js';
import { latestSchemaVersion, migrationSet, type MigrationPhase } from './migrations/index.js';
import { migrationScript } from './migration-script.js';
import { loadPg, type PgModule } from './driver.js';
import { PostgresStorage } from './postgres-storage.js';

export { PostgresStorage, type PostgresQueryable, type PostgresStorageSettings } from './postgres-storage.js';
export type { PostgresMigrateOptions, PostgresMigrationPlan, PostgresMigrationStep } from './migrate.js';
export type { MigrationPhase } from './migrations/index.js';

/** Options shared by both ways of creating the PostgreSQL storage. */
export interface PostgresStorageCommonOptions {
  /**
   * The schema the webhook tables live in, created by `migrate()` if missing, so they
   * sit in the same database as the ledger without mixing with its tables. Lower-case
   * letters, digits and `_`, starting with a letter or `_`, at most 63 characters, not
   * starting with `pg_`. Give each independent webhooks installation its own schema.
   * @defaultValue `'webhooks'`
   */
  schema?: string;
  /**
   * The LISTEN/NOTIFY channel on which publishes wake the dispatchers. The payload is
   * the schema name, so installations in different schemas may share a channel.
   * Same identifier rules as `schema`.
   * @defaultValue `'bookkeeper_webhooks'`
   */
  notifyChannel?: string;
  /**
   * A connection string that reaches PostgreSQL directly, bypassing a pooler, for the one
   * connection that LISTENs for wake-ups (it takes every setting from this URL). Behind
   * PgBouncer in transaction mode (or any pooler that hands a session's server connection to
   * others between transactions) LISTEN through the pooler succeeds and then hears nothing:
   * wake-ups are lost and new deliveries wait for the dispatcher's poll interval. Everything
   * else still goes through the pool.
   * @defaultValue the pool's own settings (`connectionString`, or the handed-in pool's)
   * @example `'postgres://webhooks@db-primary.internal:5432/bookkeeper'`
   */
  listenConnectionString?: string;
  /**
   * Whether statements are sent as named prepared statements, parsed and planned once per
   * connection. `false` sends each one unnamed (parsed on every call; it costs the planning
   * of the claim, settle and publish statements on each call, see bench/README), which any
   * pooler carries: PgBouncer in transaction mode before 1.21, or 1.21+ without
   * `max_prepared_statements`, fails named statements once a second server connection is
   * used. The host's `tx` client always gets plain text.
   * @defaultValue `true`
   */
  preparedStatements?: boolean;
  /**
   * Where the reads an operator or a consumer looks at go: the delivery log
   * (`deliveries.list`, `get`, `attempts`, `sentBody`), `events.get`, `list` and `iterate`,
   * `webhooks.metrics()` and the OpenTelemetry backlog gauges — and so the dashboard's pages,
   * which read through them. A node-postgres `Pool` on a read replica (the host's; never
   * ended by the adapter) or its connection string (the adapter creates a pool of
   * `poolSize` connections, 10 with a handed-in `pool`, and ends it on `close()`).
   *
   * Never used for claims, settles, publishes, subscriptions, redeliver, replay, expunge,
   * `drain()` or the event feed (`createEventFeedHandler`, whose cursor must not move past
   * events a replica has not received yet): they read and write the primary.
   *
   * Staleness: a replica answers as of its last replayed commit, so those reads may lag the
   * primary by the replication delay — a delivery just published may be missing from
   * `deliveries.list`, one just sent may still show `pending`, and the backlog figures trail
   * by as much. Nothing is lost or sent twice because of it; a page refreshed later catches up.
   * @defaultValue the pool (every read on the primary)
   */
  readPool?: Pool | string;
}

/** The adapter creates (and on `close()` ends) its own pool. */
export interface PostgresStorageConnectionOptions extends PostgresStorageCommonOptions {
  /** A libpq-style URL, e.g. `postgres://user:password@db.internal:5432/bookkeeper`. */
  connectionString: string;
  /**
   * Connections in the adapter's pool. The wake-up listener uses one more, outside it.
   * @defaultValue `10`
   */
  poolSize?: number;
  pool?: never;
}

/**
 * The adapter works on the host's own pool and never ends it. The wake-up listener
 * opens one extra connection with the pool's settings (outside its working set), or
 * with `listenConnectionString` when given.
 * Attach a `pool.on('error', …)` listener yourself: an idle client that loses its
 * connection emits an error that would otherwise crash the process.
 */
export interface PostgresStoragePoolOptions extends PostgresStorageCommonOptions {
  /** A node-postgres `Pool`. */
  pool: Pool;
  connectionString?: never;
  poolSize?: never;
}

/** Options of {@link createPostgresStorage}: exactly one of `connectionString` or `pool`. */
export type PostgresStorageOptions = PostgresStorageConnectionOptions | PostgresStoragePoolOptions;

/** Options of {@link getMigrationSql}. */
export interface PostgresMigrationSqlOptions {
  /** @defaultValue `'webhooks'` — the same rules as the storage's `schema` option. */
  schema?: string;
  /**
   * Emit only the migrations after this schema version (the highest `version` in
   * `<schema>.migrations`), to upgrade a database migrated before.
   * @defaultValue `0` (everything)
   */
  fromVersion?: number;
  /**
   * As in `storage.migrate({ phase })`: `'expand'` stops before the first contract step
   * (an empty schema, `fromVersion` 0, gets every step); `'contract'` emits every step.
   * @defaultValue `'expand'`
   */
  phase?: MigrationPhase;
}

const optionKeys = ['connectionString', 'pool', 'poolSize', 'schema', 'notifyChannel', 'listenConnectionString', 'preparedStatements', 'readPool'] as const;
const migrationSqlKeys = ['schema', 'fromVersion', 'phase'] as const;

const identifierRule = 'a lower-case identifier (letters, digits, _; not starting with a digit or pg_; ≤ 63 characters)';
const expectations: Record<(typeof optionKeys)[number] | 'fromVersion' | 'phase', string> = {
  connectionString: 'a non-empty postgres:// connection string',
  pool: 'a node-postgres Pool',
  poolSize: 'an integer from 1 to 1000',
  schema: identifierRule,
  notifyChannel: identifierRule,
  listenConnectionString: 'a non-empty postgres:// connection string that reaches PostgreSQL directly',
  preparedStatements: 'a boolean',
  readPool: 'a node-postgres Pool or a non-empty postgres:// connection string (of a read replica)',
  fromVersion: `an integer from 0 to ${latestSchemaVersion}`,
  phase: "'expand' or 'contract'",
};

function isPool(value: unknown): value is Pool {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<'query' | 'connect' | 'end' | 'on', unknown>>;
  return (
    typeof candidate.query === 'function' &&
    typeof candidate.connect === 'function' &&
    typeof candidate.end === 'function' &&
    typeof candidate.on === 'function'
  );
}

// Identifiers are spliced into SQL (quoted), so they are held to a strict shape:
// lower-case, because PostgreSQL folds unquoted names, and a DBA typing
// `SET search_path TO Webhooks` means `webhooks`; no `pg_` prefix, which is reserved.
const identifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/)
  .refine((name) => !name.startsWith('pg_'));

// The one home of the defaults.
const optionsSchema = z.strictObject({
  connectionString: z.string().min(1).optional(),
  pool: z.custom<Pool>(isPool).optional(),
  poolSize: z.int().min(1).max(1000).optional(),
  schema: identifier.default('webhooks'),
  notifyChannel: identifier.default('bookkeeper_webhooks'),
  listenConnectionString: z.string().min(1).optional(),
  preparedStatements: z.boolean().default(true),
  readPool: z.union([z.custom<Pool>(isPool), z.string().min(1)]).optional(),
});

const migrationSqlSchema = z.strictObject({
  schema: identifier.default('webhooks'),
  fromVersion: z.int().min(0).max(latestSchemaVersion).default(0),
  phase: z.enum(['expand', 'contract']).default('expand'),
});

// The hand-written options and the schema must name the same keys.
type SchemaKeys = keyof z.input<typeof optionsSchema>;
type OptionKeys = keyof PostgresStorageConnectionOptions | keyof PostgresStoragePoolOptions;
const sameKeys: [SchemaKeys] extends [OptionKeys] ? ([OptionKeys] extends [SchemaKeys] ? true : never) : never = true;
void sameKeys;
type MigrationSchemaKeys = keyof z.input<typeof migrationSqlSchema>;
const sameMigrationKeys: [MigrationSchemaKeys] extends [keyof PostgresMigrationSqlOptions]
  ? [keyof PostgresMigrationSqlOptions] extends [MigrationSchemaKeys]
    ? true
    : never
  : never = true;
void sameMigrationKeys;

/** The options after validation and defaults; frozen. */
interface ResolvedPostgresOptions {
  readonly source: { readonly connectionString: string; readonly poolSize: number } | { readonly pool: Pool };
  readonly schema: string;
  readonly notifyChannel: string;
  readonly listenConnectionString: string | undefined;
  readonly preparedStatements: boolean;
  readonly readPool: Pool | string | undefined;
}

function resolveOptions(options: unknown): ResolvedPostgresOptions {
  const parsed = parseFactoryOptions(optionsSchema, options, 'createPostgresStorage', optionKeys, expectations);
  assertOneConnectionSource('createPostgresStorage', ['connectionString', parsed.connectionString], ['pool', parsed.pool]);
  if (parsed.pool !== undefined && parsed.poolSize !== undefined) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `Expected no \`poolSize\` with a handed-in \`pool\` (size it where you create it), got ${parsed.poolSize}`,
      { field: 'poolSize' },
    );
  }
  return Object.freeze({
    source:
      parsed.connectionString !== undefined
        ? { connectionString: parsed.connectionString, poolSize: parsed.poolSize ?? 10 }
        : { pool: parsed.pool! },
    schema: parsed.schema,
    notifyChannel: parsed.notifyChannel,
    listenConnectionString: parsed.listenConnectionString,
    preparedStatements: parsed.preparedStatements,
    readPool: parsed.readPool,
  });
}

/** What createPostgresStorage adds to the settings of either kind: the listener, the read pool, prepared statements. */
function commonSettings(resolved: ResolvedPostgresOptions, poolSize: number, loadClient: () => PgModule['Client']) {
  const { listenConnectionString, readPool } = resolved;
  let read: { readPool?: Pool; ownsReadPool?: boolean } = {};
  if (typeof readPool === 'string') {
    const pool = new (loadPg().Pool)({ connectionString: readPool, max: poolSize, keepAlive: true, application_name: 'bookkeeper-webhooks-read' });
    // As for the adapter's own pool: a dropped idle client must not crash the process.
    pool.on('error', () => undefined);
    read = { readPool: pool, ownsReadPool: true };
  } else if (readPool !== undefined) {
    read = { readPool };
  }
  return {
    schema: resolved.schema,
    notifyChannel: resolved.notifyChannel,
    preparedStatements: resolved.preparedStatements,
    ...read,
    ...(listenConnectionString === undefined
      ? {}
      : {
          listenConnectionString,
          createListenClient: () => {
            const Client = loadClient();
            return new Client({ connectionString: listenConnectionString, keepAlive: true, application_name: 'bookkeeper-webhooks-listen' });
          },
        }),
  };
}

/** What node-postgres's Pool keeps of its construction, used to open the LISTEN connection alike. */
interface PoolInternals {
  Client?: unknown;
  options?: unknown;
}

/**
 * Creates the PostgreSQL storage adapter. Call `await storage.migrate()` before use
 * (`createWebhooks().start()` does).
 *
 * With `connectionString`, the adapter creates a pool of `poolSize` connections and
 * ends it on `close()`. With `pool`, it works on the host's pool, which `close()`
 * leaves open. Either way `publish(type, data, { tx: client })` with the host's client
 * inside its own BEGIN … COMMIT stores the event and its deliveries in that
 * transaction (transactional outbox).
 *
 * @example
 * ```ts
 * import { createWebhooks } from '@bookkeeper/webhooks';
 * import { createPostgresStorage } from '@bookkeeper/webhooks/postgres';
 *
 * const webhooks = createWebhooks({
 *   storage: createPostgresStorage({ connectionString: process.env.DATABASE_URL!, schema: 'webhooks' }),
 * });
 * await webhooks.start(); // migrates, then dispatches; run it on every instance
 * ```
 *
 * Behind PgBouncer in transaction mode: `preparedStatements: false` (unless PgBouncer is
 * 1.21+ with `max_prepared_statements`), and `listenConnectionString` to PostgreSQL
 * directly, or wake-ups are lost (a warning says so at start).
 *
 * @throws ConfigError `CONFIG_INVALID` for wrong or unknown options (every option goes in the
 *   one object: a second argument is refused), or a missing pg driver.
 */
export function createPostgresStorage(options: PostgresStorageOptions): PostgresStorage {
  checkArgumentCount(arguments.length, 1, 'createPostgresStorage(options)', 'factory');
  const resolved = resolveOptions(options);
  if ('pool' in resolved.source) {
    const pool = resolved.source.pool;
    // node-postgres's Pool keeps its Client class and its settings: the LISTEN
    // connection is made the same way, without loading the driver ourselves.
    const internals = pool as unknown as PoolInternals;
    const ClientClass = internals.Client;
    const settings = internals.options;
    const createListenClient =
      typeof ClientClass === 'function' && typeof settings === 'object' && settings !== null
        ? () => new (ClientClass as new (config: unknown) => Client)({ ...settings })
        : null;
    return new PostgresStorage({
      pool,
      ownsPool: false,
      createListenClient,
      ...(settings === undefined ? {} : { connectionSettings: { poolOptions: settings } }),
      // The pool's own Client class when it shows one: no driver loaded for the listener.
      ...commonSettings(resolved, 10, () => (typeof ClientClass === 'function' ? (ClientClass as PgModule['Client']) : loadPg().Client)),
    });
  }
  const pg = loadPg();
  const { connectionString, poolSize } = resolved.source;
  // application_name marks our connections in pg_stat_activity; a value in the
  // connection string wins over it (node-postgres lets the URL override).
  const pool = new pg.Pool({ connectionString, max: poolSize, keepAlive: true, application_name: 'bookkeeper-webhooks' });
  // An idle client whose connection drops (a restart, pg_terminate_backend) emits
  // 'error' on the pool, which removes it; without a listener that would crash the
  // process. The next query simply gets a fresh connection.
  pool.on('error', () => undefined);
  return new PostgresStorage({
    pool,
    ownsPool: true,
    createListenClient: () =>
      new pg.Client({ connectionString, keepAlive: true, application_name: 'bookkeeper-webhooks-listen' }),
    connectionSettings: { connectionString, poolSize },
    ...commonSettings(resolved, poolSize, () => pg.Client),
  });
}

/**
 * The SQL that `migrate({ phase })` would run, for hosts that apply schema changes with their
 * own tool: a block per step, as `migrate()` runs it — a transactional step between BEGIN and
 * COMMIT under the same advisory lock, with its `lock_timeout` and `statement_timeout` set
 * LOCAL and its record in `<schema>.migrations` in the same transaction; a step that cannot run
 * in a transaction (`CREATE INDEX CONCURRENTLY`) outside one, under the session advisory lock,
 * its record after it. Feed it to `psql -v ON_ERROR_STOP=1 -f webhooks.sql`: the steps before
 * a failure stay applied; rerun from the recorded version. A storage started afterwards finds
 * the schema current and runs no DDL itself.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * import { getMigrationSql } from '@bookkeeper/webhooks/postgres';
 * // During the deploy of a release: its additive steps, from the recorded version 13.
 * writeFileSync('webhooks-expand.sql', getMigrationSql({ schema: 'webhooks', fromVersion: 13 }));
 * ```
 *
 * @throws ConfigError `CONFIG_INVALID` for an invalid schema name, version or phase.
 */
export function getMigrationSql(options: PostgresMigrationSqlOptions = {}): string {
  checkArgumentCount(arguments.length, 1, 'getMigrationSql(options?)', 'factory');
  const { schema, fromVersion, phase } = parseFactoryOptions(migrationSqlSchema, options, 'getMigrationSql', migrationSqlKeys, expectations);
  return migrationScript(schema, migrationSet, fromVersion, phase);
}
