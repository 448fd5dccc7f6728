/**
 * The storage "recipe": what a dispatcher in a worker thread (`dispatcher: { thread:
 * 'worker' }`), or the dispatcher's storage thread (`dispatcher: { storageThread: 'worker' }`),
 * needs to open a connection of its own to the storage the host's adapter
 * works on, as data that crosses to the thread by structured clone. An adapter that can
 * be opened again offers `workerRecipe()`; one that cannot (the memory storage holds its
 * records in the host's heap) does not, and the option is refused.
 */
import type { SqliteSynchronous } from '../sqlite/index.js';

/** The same SQLite file, with the settings the host's connection has. */
export interface SqliteRecipe {
  readonly kind: 'sqlite';
  /** Absolute path of the database file. */
  readonly filename: string;
  readonly tablePrefix: string;
  readonly synchronous: SqliteSynchronous;
  readonly busyTimeoutMs: number;
  /** The host connection's `wal_autocheckpoint`, in bytes (`0`: off). */
  readonly walAutocheckpointBytes: number;
}

/** The same PostgreSQL database and schema, through a pool of the worker's own. */
export interface PostgresRecipe {
  readonly kind: 'postgres';
  /** How the worker makes its pool: the adapter's `connectionString` and `poolSize`, or a handed-in pool's settings. */
  readonly connection: { readonly connectionString: string; readonly poolSize: number } | { readonly poolOptions: Readonly<Record<string, unknown>> };
  readonly schema: string;
  readonly notifyChannel: string;
  /** The host adapter's `preparedStatements`. */
  readonly preparedStatements: boolean;
  /** The host adapter's `listenConnectionString`, when it has one. */
  readonly listenConnectionString?: string;
}

export type StorageRecipe = SqliteRecipe | PostgresRecipe;

/** A recipe, or why there is none (said to the developer in the refusal). */
export type WorkerRecipeResult = { readonly recipe: StorageRecipe } | { readonly refused: string };

/** A storage adapter that can say how to open it again. */
export interface RecipeSource {
  /** @internal How a worker thread opens this storage again, or why it cannot. */
  workerRecipe(): WorkerRecipeResult;
}

/** True when the adapter offers {@link RecipeSource.workerRecipe}. */
export function hasWorkerRecipe(storage: object): storage is RecipeSource {
  return typeof (storage as Partial<RecipeSource>).workerRecipe === 'function';
}

/**
 * Whether a value crosses to a worker thread unchanged by structured clone: no function,
 * symbol or class instance (a clone would drop its prototype), at any depth.
 */
export function isPlainData(value: unknown, depth = 0): boolean {
  if (depth > 16) return false;
  if (value === null || value === undefined) return true;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (Array.isArray(value)) return value.every((item) => isPlainData(item, depth + 1));
  if (ArrayBuffer.isView(value)) return true;
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype !== null && prototype !== Object.prototype) return false;
  return Object.values(value as Record<string, unknown>).every((item) => isPlainData(item, depth + 1));
}
