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
import { Worker, type WorkerOptions } from 'node:worker_threads';
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
 * The host's Node options for a thread (`--enable-source-maps`, an instrumentation's
 * `--import`): `undefined` — Node's own inheritance — unless they hold `--input-type`, which
 * describes the host's `-e` script and makes a thread refuse to start. Given explicitly, the
 * list is checked by Node, which refuses (ERR_WORKER_INVALID_EXEC_ARGV) the options of the
 * process or of V8 that its own inheritance leaves out (`--max-old-space-size`,
 * `--expose-gc`, `--stack-size`, `--title`): a host started with one could never start a
 * thread. So the list is only given when it must be, and {@link newWorker} drops those.
 */
function inheritedExecArgv(): string[] | undefined {
  const isInputType = (arg: string) => arg === '--input-type' || arg.startsWith('--input-type=');
  if (!process.execArgv.some(isInputType)) return undefined;
  const kept: string[] = [];
  for (let index = 0; index < process.execArgv.length; index++) {
    const arg = process.execArgv[index]!;
    if (arg === '--input-type') index += 1;
    else if (!isInputType(arg)) kept.push(arg);
  }
  return kept;
}

/**
 * `new Worker(…)` with the host's options; the ones Node refuses for a thread (it names
 * them in ERR_WORKER_INVALID_EXEC_ARGV: "…flags: --max-old-space-size=512, --expose-gc")
 * are left out, as Node's own inheritance leaves them out, and the thread started again.
 */
function newWorker(filename: string, options: WorkerOptions): Worker {
  const execArgv = inheritedExecArgv();
  try {
    return new Worker(filename, { ...options, ...(execArgv === undefined ? {} : { execArgv }) });
  } catch (error) {
    if (execArgv === undefined || (error as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
    const refused = new Set((/flags: (.*)$/.exec((error as Error).message)?.[1] ?? '').split(', '));
    const kept = execArgv.filter((arg) => !refused.has(arg));
    // Nothing named that we could drop: the error stands.
    if (kept.length === execArgv.length) throw error;
    return new Worker(filename, { ...options, execArgv: kept });
  }
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
    return newWorker(sourceBootstrap, {
      eval: true,
      workerData: { ...data, entry: pathToFileURL(entry).href, loader: tsxRegisterUrl(self) },
    });
  }
  const name = `${entryName}${extension}`;
  const found = [join(dirname(self), name), join(dirname(self), '..', name)].find((candidate) => existsSync(candidate));
  if (found === undefined) throw new Error(`@bookkeeper/webhooks: the worker thread's entry (${name}) is missing beside ${self}`);
  return newWorker(found, { workerData: data });
}
