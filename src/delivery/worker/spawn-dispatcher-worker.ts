/**
 * Finds a worker thread's entry and starts it, from wherever this module runs — the
 * dispatcher's (`dispatcher-worker`, `dispatcher: { thread: 'worker' }`) or the storage
 * thread's (`storage-worker`, `dispatcher: { storageThread: 'worker' }`):
 *
 * - the ESM build (`dist/*.js`) or the CJS build (`dist/*.cjs`): the entry is
 *   `<name>.js` / `.cjs`, beside this module or one folder up (tsup puts the
 *   entry at the root of dist/, and this code in the main entry or in a chunk beside it).
 *   In the CJS build `import.meta` does not exist; `__filename` does (see peer-require.ts);
 * - the sources (`.ts`, under vitest or tsx): the entry is `<name>.ts` beside
 *   this file, loaded through tsx's loader, registered in the thread before the import:
 *   Node 20 does not apply `--import` from a worker's `execArgv`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WorkerStartData } from './worker-messages.js';
import type { StorageWorkerData } from './storage-thread-messages.js';

/**
 * Registers tsx in the thread, then imports the TypeScript entry (a CommonJS script: `eval`).
 * An eval'd worker leaves `__filename` ('[worker eval]') on the global object, where the
 * modules' `typeof __filename` checks would take it for a CommonJS build's: it goes first.
 */
const sourceBootstrap = /* js */ `
const { workerData } = require('node:worker_threads');
delete globalThis.__filename;
delete globalThis.__dirname;
import(workerData.loader).then(({ register }) => {
  register();
  return import(workerData.entry);
});
`;

function ownPath(): string {
  return typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);
}

/**
 * The ESM file of tsx's `tsx/esm/api` (its `register()`), found from `from`: `require.resolve`
 * would give its CommonJS twin, whose `register()` cannot find its loader from a thread.
 */
function tsxRegisterUrl(from: string): string {
  const manifestPath = createRequire(from).resolve('tsx/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(manifestPath), manifest.exports['./esm/api']!.import.default)).href;
}

/**
 * The host's Node options, as a worker inherits them by default (`--enable-source-maps`, an
 * instrumentation's `--import`), but `--input-type`: it describes the host's `-e` script,
 * and a thread refuses to start with it.
 */
function inheritedExecArgv(): string[] {
  const kept: string[] = [];
  for (let index = 0; index < process.execArgv.length; index++) {
    const arg = process.execArgv[index]!;
    if (arg === '--input-type') index += 1;
    else if (!arg.startsWith('--input-type=')) kept.push(arg);
  }
  return kept;
}

/** Starts the dispatcher's worker thread with its data. */
export function spawnDispatcherWorker(data: WorkerStartData): Worker {
  return spawnEntry('dispatcher-worker', data);
}

/** Starts the dispatcher's storage thread with its data. */
export function spawnStorageWorker(data: StorageWorkerData): Worker {
  return spawnEntry('storage-worker', data);
}

function spawnEntry(entryName: string, data: object): Worker {
  const self = ownPath();
  const extension = extname(self);
  if (extension === '.ts' || extension === '.mts') {
    const entry = join(dirname(self), `${entryName}${extension}`);
    return new Worker(sourceBootstrap, {
      eval: true,
      execArgv: inheritedExecArgv(),
      workerData: { ...data, entry: pathToFileURL(entry).href, loader: tsxRegisterUrl(self) },
    });
  }
  const name = `${entryName}${extension}`;
  const found = [join(dirname(self), name), join(dirname(self), '..', name)].find((candidate) => existsSync(candidate));
  if (found === undefined) throw new Error(`@bookkeeper/webhooks: the worker thread's entry (${name}) is missing beside ${self}`);
  return new Worker(found, { workerData: data, execArgv: inheritedExecArgv() });
}
