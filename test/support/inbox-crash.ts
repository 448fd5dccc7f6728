/**
 * Starting and killing the inbox crash worker (inbox-crash-worker.ts) from a test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const worker = join(root, 'test', 'support', 'inbox-crash-worker.ts');

/** Every worker still running, for the test file's afterEach to kill. */
export const runningWorkers = new Set<ChildProcess>();

/** A worker that reached its stop point, with the message it sent there. */
export interface StoppedWorker {
  child: ChildProcess;
  message: string;
}

/**
 * Starts the worker and resolves with its first message: `written`, `committed <outcome>`
 * or `done <outcome>` (see the worker's header for the arguments).
 */
export function startInboxWorker(args: [dialect: 'postgres' | 'sqlite', target: string, schema: string, eventId: string, stop: 'before-commit' | 'after-commit' | 'none']): Promise<StoppedWorker> {
  const child = spawn(process.execPath, ['--import', 'tsx', worker, ...args], { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  runningWorkers.add(child);
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, message: String(message) }));
    child.once('exit', (code, signal) => reject(new Error(`the inbox worker exited before its stop point (code ${code}, signal ${signal})`)));
  });
}

/** SIGKILLs a worker (nothing runs after it: no ROLLBACK, no COMMIT) and waits until it is gone. */
export async function killWorker(child: ChildProcess): Promise<NodeJS.Signals | null> {
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  child.kill('SIGKILL');
  const [, signal] = await exited;
  runningWorkers.delete(child);
  return signal;
}

/** Waits for a worker that ran to the end to exit, and returns its exit code. */
export async function workerExit(child: ChildProcess): Promise<number | null> {
  const [code] = child.exitCode === null ? ((await once(child, 'exit')) as [number | null]) : [child.exitCode];
  runningWorkers.delete(child);
  return code;
}
