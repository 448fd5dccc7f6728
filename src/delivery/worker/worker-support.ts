/**
 * Whether the dispatcher can run in a worker thread with the options given: the thread
 * rebuilds every part from data, so a part that is code or lives in the host's heap cannot
 * follow it. Refused at `createWebhooks`, with the option that blocks it named.
 */
import { systemClock } from '../../clock.js';
import { ConfigError } from '../../errors.js';
import { hasWorkerRecipe, type StorageRecipe } from '../../storage/shared/worker-recipe.js';
import type { StorageAdapter } from '../../storage/storage-adapter.js';
import type { ResolvedWebhooksOptions } from '../../webhooks-options.js';

type WorkerOption = "dispatcher.thread: 'worker'" | "dispatcher.storageThread: 'worker'";

function refuse(field: string, why: string, option: WorkerOption = "dispatcher.thread: 'worker'"): never {
  throw new ConfigError('DISPATCHER_WORKER_UNSUPPORTED', `\`${option}\` cannot be used with ${why}`, { field });
}

/**
 * The storage's recipe for the worker, after checking every option the worker must
 * rebuild. `given`: the options as the caller passed them (the default clock or random, left
 * out or handed in as `systemClock` and `Math.random`, is fine; another is the host's code).
 *
 * @throws ConfigError `DISPATCHER_WORKER_UNSUPPORTED` naming the option that blocks it.
 */
export function workerRecipeFor(given: { transport?: unknown; clock?: unknown; random?: unknown }, resolved: ResolvedWebhooksOptions, storage: StorageAdapter | undefined): StorageRecipe {
  if (given.transport !== undefined) {
    refuse('transport', 'a custom `transport`: the worker posts through its own undici transport (with the same `http` settings); remove `transport`, or keep the dispatcher on the main thread');
  }
  // The wall clock and Math.random handed in are what the worker uses: only the host's own code is refused.
  if (given.clock !== undefined && given.clock !== systemClock) {
    refuse('clock', "a custom `clock`: it is the host's code and cannot run in the worker thread; remove `clock`, or keep the dispatcher on the main thread");
  }
  if (given.random !== undefined && given.random !== Math.random) {
    refuse('random', "a custom `random`: it is the host's code and cannot run in the worker thread; remove `random`, or keep the dispatcher on the main thread");
  }
  if (resolved.retry.kind === 'custom') {
    refuse('retry', 'a `retry` function: give the policy as data (`{ delaysMs }` or `{ initialDelayMs, factor, maxDelayMs, maxAttempts }`), or keep the dispatcher on the main thread');
  }
  return storageRecipeFor(storage, "dispatcher.thread: 'worker'");
}

/**
 * The storage's recipe for a thread that opens a connection of its own to it (the
 * dispatcher's worker, or its storage thread): refused for a storage that cannot be opened
 * again from data, with `option` named.
 *
 * @throws ConfigError `DISPATCHER_WORKER_UNSUPPORTED` (`field: 'storage'`).
 */
export function storageRecipeFor(storage: StorageAdapter | undefined, option: WorkerOption): StorageRecipe {
  if (storage === undefined || !hasWorkerRecipe(storage)) {
    const which = storage === undefined ? 'the memory storage (the default)' : `the \`storage\` ${JSON.stringify(storage.name)}`;
    refuse('storage', `${which}: a worker thread needs a storage it can open again on its own connection; use createSqliteStorage({ filename }) or createPostgresStorage({ connectionString })`, option);
  }
  const result = storage.workerRecipe();
  if ('refused' in result) refuse('storage', `this \`storage\`: ${result.refused}`, option);
  return result.recipe;
}
