/**
 * Opens, in the dispatcher's worker thread, a connection of its own to the host's storage
 * from the adapter's recipe (storage/shared/worker-recipe.ts). It never migrates: the
 * host's `start()` did before starting the worker, and the adapter checks the schema
 * version at its first call.
 */
import type { StorageRecipe } from '../../storage/shared/worker-recipe.js';
import { loadPg } from '../../storage/postgres/driver.js';
import { createPostgresStorage } from '../../storage/postgres/index.js';
import { createSqliteStorage } from '../../storage/sqlite/index.js';
import type { StorageAdapter } from '../../storage/storage-adapter.js';

/** The worker's storage, and how to close it (with the pool the worker made, if it made one). */
export interface RecipeStorage {
  readonly storage: StorageAdapter;
  close(): Promise<void>;
}

/**
 * The WAL size at which the worker's own commits checkpoint while another connection writes
 * to the file: 1 MiB, below SQLite's default of ~4 MB (1,000 pages) that a host's own
 * connection (its ledger) most likely has. A burst writes the log at tens of MB/s; past a
 * connection's bound each of its commits runs a checkpoint, and a host connection's commit
 * would then copy the dispatcher's pages, with their fsyncs, on the host's event loop:
 * measured in the host-impact bench, the ledger's insert p99 went from ~0.2 ms idle to 13–30
 * ms. Checkpointing first, in the worker's commits (after its write lock is released, on the
 * worker's thread), keeps the log under the host's bound: 9–13 ms. Alone on the file, the
 * worker's commits checkpoint at the host connection's bound, as an in-thread dispatcher's
 * would (see storage/sqlite/write-lock-sharing.ts). A host that turned SQLite's automatic
 * checkpoint off (0) keeps it off.
 */
const sharedWalAutocheckpointBytes = 1024 * 1024;

export function openRecipeStorage(recipe: StorageRecipe): RecipeStorage {
  if (recipe.kind === 'sqlite') {
    const storage = createSqliteStorage({
      filename: recipe.filename,
      tablePrefix: recipe.tablePrefix,
      synchronous: recipe.synchronous,
      walAutocheckpointBytes: recipe.walAutocheckpointBytes,
      // The host's adapter checkpoints the file already.
      checkpointIntervalMs: false,
    });
    // Two threads now write to the file: the worker's writes leave the host's (its ledger's)
    // a way in, and wait for the lock as long as the host's connection would, without
    // sleeping in SQLite's busy handler (see storage/sqlite/write-lock-sharing.ts).
    storage.shareWriteLock(recipe.busyTimeoutMs, { walAutocheckpointBytesWhileShared: sharedWalAutocheckpointBytes });
    return { storage, close: () => storage.close() };
  }
  const { schema, notifyChannel, connection, preparedStatements, listenConnectionString } = recipe;
  // Behind a pooler, the worker's connections go the way the host's do.
  const common = { schema, notifyChannel, preparedStatements, ...(listenConnectionString === undefined ? {} : { listenConnectionString }) };
  if ('connectionString' in connection) {
    const storage = createPostgresStorage({ connectionString: connection.connectionString, poolSize: connection.poolSize, ...common });
    return { storage, close: () => storage.close() };
  }
  // The host handed in its pool: the worker makes one alike and ends it itself (the
  // adapter never ends a pool it was given).
  const pool = new (loadPg().Pool)(connection.poolOptions);
  // As createPostgresStorage does for its own pool: a dropped idle client must not end the thread.
  pool.on('error', () => undefined);
  const storage = createPostgresStorage({ pool, ...common });
  return {
    storage,
    async close() {
      await storage.close();
      await pool.end();
    },
  };
}
