/**
 * The parent's handle on the loopback receiver process (bench/receiver-process.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ReceiverCommand, ReceiverReport } from './receiver-process.js';

export type { ReceivedSample, ReceiverReport } from './receiver-process.js';

/** The loader that lets a child process run TypeScript directly. */
export const tsxLoader = import.meta.resolve('tsx');

/** `raw`: a minimal HTTP/1.1 server on node:net (default); `http`: node:http. */
export type ReceiverKind = 'raw' | 'http';

export class ReceiverProcess {
  readonly url: string;
  private readonly child: ChildProcess;
  private pending: { type: string; resolve: (message: never) => void; reject: (error: Error) => void } | null = null;

  private constructor(child: ChildProcess, port: number) {
    this.child = child;
    this.url = `http://127.0.0.1:${port}/webhooks`;
    child.on('message', (message: { type: string }) => {
      const pending = this.pending;
      if (pending !== null && pending.type === message.type) {
        this.pending = null;
        pending.resolve(message as never);
      }
    });
    child.on('exit', (code) => {
      const pending = this.pending;
      this.pending = null;
      pending?.reject(new Error(`the receiver process exited (code ${String(code)})`));
    });
  }

  /** Forks the receiver and resolves once it listens on a loopback port. */
  static start(options: { kind?: ReceiverKind } = {}): Promise<ReceiverProcess> {
    const script = fileURLToPath(new URL('./receiver-process.ts', import.meta.url));
    // Plain node with the tsx loader: no CPU profiler or other flags of the parent.
    const child = fork(script, options.kind === 'http' ? ['--http'] : [], { execArgv: ['--import', tsxLoader], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      const onMessage = (message: { type: string; port?: number }): void => {
        if (message.type !== 'ready') return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(new ReceiverProcess(child, message.port!));
      };
      const onExit = (code: number | null): void => reject(new Error(`the receiver process exited before listening (code ${String(code)})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }

  private ask<T>(command: ReceiverCommand, replyType: string): Promise<T> {
    if (this.pending !== null) return Promise.reject(new Error('one receiver command at a time'));
    return new Promise<T>((resolve, reject) => {
      this.pending = { type: replyType, resolve: resolve as (message: never) => void, reject };
      this.child.send(command);
    });
  }

  /**
   * Zeroes the counters; with `record`, arrivals are timestamped from now on; `samples`:
   * how many of the next requests to keep whole for the report.
   */
  async reset(record = false, samples = 0): Promise<void> {
    await this.ask({ type: 'reset', record, samples }, 'reset');
  }

  /** What arrived since the last reset. */
  report(): Promise<ReceiverReport> {
    return this.ask<ReceiverReport>({ type: 'report' }, 'report');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'exit' } satisfies ReceiverCommand);
    const timer = setTimeout(() => this.child.kill(), 2000);
    await exited;
    clearTimeout(timer);
  }
}
