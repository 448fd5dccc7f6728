/**
 * Dispatcher processes on PostgreSQL for the multi-process tests: each a child running
 * test/support/postgres-dispatcher-worker.ts against one schema, started and awaited until it
 * says it is ready, and what waits for a condition with a deadline. The tests kill them
 * (SIGKILL, SIGTERM) and read their stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const workerScript = fileURLToPath(new URL('./postgres-dispatcher-worker.ts', import.meta.url));

/** A dispatcher process: its id (sent as the worker's name at the receiver), the child, its stderr, its exit. */
export interface DispatcherProcess {
  id: string;
  child: ChildProcess;
  stderr: string[];
  exited: Promise<void>;
}

export interface DispatcherProcessOptions {
  id: string;
  databaseUrl: string;
  schema: string;
  concurrency: number;
  leaseMs: number;
  httpTimeoutMs: number;
  pollMs: number;
  /** Where the worker writes how many of its posts were not settled yet, as it goes (for a kill). */
  unsettledFile?: string;
}

/** Starts a dispatcher process and resolves once it is ready; rejects if it exits first or takes 30 s. */
export async function startDispatcherProcess(options: DispatcherProcessOptions): Promise<DispatcherProcess> {
  const { id, unsettledFile } = options;
  const child = spawn(process.execPath, ['--import', 'tsx', workerScript], {
    env: {
      ...process.env,
      WORKER_ID: id,
      WORKER_DATABASE_URL: options.databaseUrl,
      WORKER_SCHEMA: options.schema,
      WORKER_CONCURRENCY: String(options.concurrency),
      WORKER_LEASE_MS: String(options.leaseMs),
      WORKER_HTTP_TIMEOUT_MS: String(options.httpTimeoutMs),
      WORKER_POLL_MS: String(options.pollMs),
      ...(unsettledFile === undefined ? {} : { WORKER_UNSETTLED_FILE: unsettledFile }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < 200) stderr.push(chunk.toString());
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const worker: DispatcherProcess = { id, child, stderr, exited };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${id} did not start: ${stderr.join('')}`)), 30_000);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker ${id} exited (${code ?? signal}) before it was ready: ${stderr.join('')}`));
    });
  });
  return worker;
}

/** Kills (SIGKILL) what is still running of `workers` and waits for every exit. */
export async function killDispatcherProcesses(workers: readonly DispatcherProcess[]): Promise<void> {
  for (const worker of workers) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    await worker.exited;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 25 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(25);
  }
}
