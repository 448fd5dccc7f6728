/**
 * The dispatcher's storage thread (`createWebhooks({ dispatcher: { storageThread: 'worker' } })`):
 * an entry of its own in the build, started by storage-thread.ts. It opens a connection of
 * its own to the host's storage from the adapter's recipe (SQLite: a second better-sqlite3
 * handle on the file, sharing the write lock as the dispatcher worker's does; PostgreSQL: a
 * pool of its own) and runs the dispatcher's claims, settles, lease releases and next-due
 * reads on it, one call per message, answering each with its result and the connection's
 * batch limits (storage-thread-messages.ts).
 *
 * Results cross by structured clone as they are: the storage's records are plain data. An
 * error crosses as a wire error and is rebuilt on the host with its class and `code`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { StorageAdapter } from '../../storage/storage-adapter.js';
import { openRecipeStorage, type RecipeStorage } from './open-recipe-storage.js';
import type { FromStorageWorker, StorageBatchLimits, StorageCall, StorageWorkerData, ToStorageWorker } from './storage-thread-messages.js';
import { toWire } from './wire-values.js';

const port = parentPort;
if (port === null) throw new Error('@bookkeeper/webhooks: storage-worker runs only as a worker thread');

const { recipe } = workerData as StorageWorkerData;
let opened: RecipeStorage | null = null;

function limits(storage: StorageAdapter | undefined): StorageBatchLimits {
  return { claimDue: storage?.writeBatchLimit?.('claimDue') ?? null, settle: storage?.writeBatchLimit?.('settle') ?? null };
}

function send(message: FromStorageWorker): void {
  port!.postMessage(message);
}

/** The call on the thread's storage; the arguments are the host's, as they came. */
function run(storage: StorageAdapter, call: StorageCall): Promise<unknown> {
  const args = call.args as never[];
  switch (call.method) {
    case 'claimDue':
      return storage.claimDue(args[0]!);
    case 'settle':
      return storage.settle(args[0]!, args[1]!);
    case 'nextDueAt':
      return storage.nextDueAt(args[0]!);
    case 'releaseLeases':
      return storage.releaseLeases(args[0]!, args[1]!);
  }
}

function answer(call: StorageCall): void {
  const storage = opened?.storage;
  const failed = (error: unknown) => send({ kind: 'result', id: call.id, ok: false, error: toWire(error), limits: limits(storage) });
  if (storage === undefined) {
    failed(new Error('the storage thread has no storage open'));
    return;
  }
  let result: Promise<unknown>;
  try {
    result = run(storage, call);
  } catch (error) {
    failed(error);
    return;
  }
  result.then((value) => {
    try {
      send({ kind: 'result', id: call.id, ok: true, value, limits: limits(storage) });
    } catch (error) {
      // Not clonable: never the storage's plain records, but said rather than lost.
      failed(error);
    }
  }, failed);
}

async function open(): Promise<void> {
  try {
    opened = openRecipeStorage(recipe);
    // A first read: a storage that cannot answer (file gone, schema not migrated) is said now.
    await opened.storage.nextDueAt(Date.now());
    send({ kind: 'ready', error: null, limits: limits(opened.storage) });
  } catch (error) {
    send({ kind: 'ready', error: toWire(error), limits: limits(undefined) });
  }
}

port.on('message', (message: ToStorageWorker) => {
  if (message.kind === 'call') {
    answer(message);
    return;
  }
  const closing = opened;
  opened = null;
  void (closing?.close() ?? Promise.resolve())
    .catch(() => undefined)
    .then(() => send({ kind: 'closed' }));
});

void open();
