/**
 * The parent's handle on the host-impact suite's child processes (the host, the load
 * client): forked with the tsx loader, they answer one command at a time over IPC, each
 * with a reply of a named type, or `{ type: 'error', message }` when it failed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tsxLoader } from './receiver.js';

/** What a child sends when a command failed. */
export interface ChildError {
  type: 'error';
  message: string;
}

interface Pending {
  type: string;
  resolve: (message: never) => void;
  reject: (error: Error) => void;
}

export class BenchChild<Command extends { type: string }> {
  private pending: Pending | null = null;

  private constructor(
    private readonly child: ChildProcess,
    private readonly label: string,
  ) {
    child.on('message', (message: { type: string; message?: string }) => {
      const pending = this.pending;
      if (pending === null) return;
      if (message.type === 'error') {
        this.pending = null;
        pending.reject(new Error(`${label}: ${message.message ?? 'failed'}`));
      } else if (message.type === pending.type) {
        this.pending = null;
        pending.resolve(message as never);
      }
    });
    child.on('exit', (code) => {
      const pending = this.pending;
      this.pending = null;
      pending?.reject(new Error(`${label} exited (code ${String(code)})`));
    });
  }

  /**
   * Forks `script` (a file next to this one) with `request` as JSON in argv[2]; resolves with
   * the handle and the child's `ready` message once it sent one.
   */
  static start<Command extends { type: string }, Ready extends { type: 'ready' }>(
    script: string,
    request: unknown,
    label: string,
  ): Promise<{ child: BenchChild<Command>; ready: Ready }> {
    const path = fileURLToPath(new URL(script, import.meta.url));
    const child = fork(path, [JSON.stringify(request)], { execArgv: ['--import', tsxLoader], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      const onMessage = (message: { type: string; message?: string }): void => {
        if (message.type !== 'ready' && message.type !== 'error') return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (message.type === 'error') {
          child.kill();
          reject(new Error(`${label}: ${message.message ?? 'failed to start'}`));
        } else {
          resolve({ child: new BenchChild<Command>(child, label), ready: message as Ready });
        }
      };
      const onExit = (code: number | null): void => reject(new Error(`${label} exited before it was ready (code ${String(code)})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }

  /** Sends `command` and resolves with the child's reply of type `replyType`. */
  ask<Reply>(command: Command, replyType: string): Promise<Reply> {
    if (this.pending !== null) return Promise.reject(new Error(`${this.label}: one command at a time`));
    return new Promise<Reply>((resolve, reject) => {
      this.pending = { type: replyType, resolve: resolve as (message: never) => void, reject };
      this.child.send(command);
    });
  }

  /** Asks the child to exit (`{ type: 'exit' }`), and kills it if it has not within 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'exit' });
    const timer = setTimeout(() => this.child.kill(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Runs `handle` for each command a child gets, replying with its result or a {@link ChildError}. */
export function serveCommands<Command extends { type: string }>(handle: (command: Command) => Promise<{ type: string } | null>): void {
  process.on('message', (command: Command) => {
    handle(command).then(
      (reply) => {
        if (reply !== null) process.send!(reply);
      },
      (error: unknown) => {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        process.send!({ type: 'error', message } satisfies ChildError);
      },
    );
  });
}
