/**
 * How the adapter's statements run: on the pool, the read pool or a transaction's client,
 * under a name on our own connections (unless prepared statements are off, for a pooler
 * that cannot carry them), with the schema checked before the first call, driver
 * errors mapped to codes, and races and lost connections retried in place where
 * repeating is harmless. Never retried inside the host's transaction, whose fate is the
 * host's.
 */
import pRetry from 'p-retry';
import type { Pool, PoolClient } from 'pg';
import { StorageError, type StorageErrorCode } from '../../errors.js';
import { HostCallbackFailure, thrownByHostCallback } from '../shared/host-callbacks.js';
import type { PostgresQueryable } from './driver.js';
import { isConnectionLoss, toStorageError } from './driver-errors.js';
import { StatementNames } from './named-statements.js';

// 40001/40P01 are retried in place a few times: another transaction won a race and
// the next try usually succeeds at once. Short, jittered, bounded.
const busyRetry = { retries: 4, factor: 2, minTimeout: 10, maxTimeout: 200, randomize: true } as const;

/** Error codes an operation retries in place by default. */
export const retryBusyOnly: ReadonlySet<StorageErrorCode> = new Set(['STORAGE_BUSY']);
/**
 * For operations whose repetition is harmless (reads, fenced writes, claims: a claim
 * that committed but whose answer was lost leaves leases that simply expire), a
 * dropped connection is retried too: the pool hands out a fresh one.
 */
export const retryBusyOrUnavailable: ReadonlySet<StorageErrorCode> = new Set(['STORAGE_BUSY', 'STORAGE_UNAVAILABLE']);
/** Nothing: inside the host's transaction, a failed statement has aborted it. */
export const retryNothing: ReadonlySet<StorageErrorCode> = new Set();

export interface RunOptions {
  /** Check the schema version first (everything but migrate). */
  needsSchema?: boolean;
  /** Codes retried in place. */
  retry?: ReadonlySet<StorageErrorCode>;
}

export class StatementRunner {
  readonly pool: Pool;
  /** Where the reads that may lag go (the replica's pool); the primary's pool when there is none. */
  readonly readPool: Pool;
  /** How messages name the database: `PostgreSQL storage: schema "webhooks"`. */
  readonly where: string;
  readonly #assertSchema: (pool: Pool) => Promise<void>;
  /** `null`: every statement goes unnamed (`preparedStatements: false`). */
  readonly #names: StatementNames | null;
  /** Pool clients checked out by `transaction`: ours, so statements on them are named too. */
  readonly #ownClients = new WeakSet<object>();
  #ready: Promise<void> | null = null;
  #current = false;
  #closed = false;

  /** @param assertSchema throws the coded error when this code cannot run on the schema (see schema-compatibility.ts). */
  constructor(pool: Pool, schema: string, assertSchema: (pool: Pool) => Promise<void>, options: { readPool?: Pool; preparedStatements?: boolean } = {}) {
    this.pool = pool;
    this.readPool = options.readPool ?? pool;
    this.#names = options.preparedStatements === false ? null : new StatementNames();
    this.where = `PostgreSQL storage: schema "${schema}"`;
    this.#assertSchema = assertSchema;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** From now on every call answers STORAGE_CLOSED. */
  close(): void {
    this.#closed = true;
  }

  /** The schema is known current (migrate() just made it so): no check before the next calls. */
  markCurrent(): void {
    this.#current = true;
  }

  /**
   * Runs one operation: the schema check, the error mapping, the retries in place. What a
   * core callback threw (a payload filter, a render) is neither mapped nor retried: the
   * caller gets it as it was (shared/host-callbacks.ts).
   */
  async run<T>(operation: string, fn: () => Promise<T>, options: RunOptions = {}): Promise<T> {
    const retry = options.retry ?? retryBusyOnly;
    try {
      return await pRetry(
        async () => {
          if (this.#closed) throw new StorageError('STORAGE_CLOSED', `PostgreSQL storage: ${operation} after close()`);
          try {
            if (options.needsSchema !== false) await this.#ensureCurrent();
            return await fn();
          } catch (error) {
            if (error instanceof HostCallbackFailure) throw error;
            throw toStorageError(error, operation);
          }
        },
        {
          ...busyRetry,
          shouldRetry: ({ error }) => error instanceof StorageError && error.retryable && retry.has(error.code) && !this.#closed,
        },
      );
    } catch (error) {
      throw thrownByHostCallback(error);
    }
  }

  /** The rows of one statement on `on`. */
  async query<Row>(on: PostgresQueryable, text: string, values: unknown[]): Promise<Row[]> {
    return (await this.execute(on, text, values)).rows as Row[];
  }

  /** One statement on `on`, with its row count. */
  async execute(on: PostgresQueryable, text: string, values: unknown[]): Promise<{ rows: unknown[]; rowCount: number }> {
    // The host's `tx` client gets plain text: it may not be node-postgres at all. Unnamed,
    // a statement is parsed on each call but runs through any pooler (PgBouncer in
    // transaction mode before 1.21 hands a name's later calls to a connection without it).
    const named = this.#names !== null && (on === this.pool || on === this.readPool || this.#ownClients.has(on));
    const result = named ? await (on as Pool).query({ name: this.#names!.nameOf(text), text, values }) : await on.query(text, values);
    if (result === null || typeof result !== 'object' || !Array.isArray(result.rows)) {
      throw new StorageError('STORAGE_FAILED', 'PostgreSQL storage: the client answered without `rows`; pass a pg client as `tx`');
    }
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  }

  /** `fn` on a pool client between BEGIN and COMMIT (ROLLBACK when it throws). */
  async transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
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

  // Checked once, on the first call; a failure is not cached, so migrate() then a retry works.
  async #ensureCurrent(): Promise<void> {
    if (this.#current) return;
    this.#ready ??= (async () => {
      await this.#assertSchema(this.pool);
      this.#current = true;
    })().finally(() => {
      this.#ready = null;
    });
    await this.#ready;
  }
}
