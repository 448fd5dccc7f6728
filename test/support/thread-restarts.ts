/**
 * A check shared by the dispatcher's worker thread and its storage thread: a `stop()` during
 * the wait before a restart cancels it and leaves no thread, and `close()` ends the thread a
 * later `start()` made.
 */
import type { Worker } from 'node:worker_threads';
import { expect } from 'vitest';
import type { DispatcherCrashedEvent, Webhooks } from '../../src/index.js';

/** What the tests read of either thread's owner. */
export interface RestartingThread {
  readonly worker: Worker | null;
  readonly restartScheduled: boolean;
}

/** `webhooks` must be made with a `restartDelayMs` of 60 s, not yet started. */
export async function expectNoThreadLeftBehindARestartWait(webhooks: Webhooks, threadOf: (webhooks: Webhooks) => RestartingThread): Promise<void> {
  const crashed = new Promise<DispatcherCrashedEvent>((resolve) => webhooks.bus.once('dispatcher:crashed', resolve));
  await webhooks.start();
  await threadOf(webhooks).worker!.terminate();
  expect((await crashed).restartInMs).toBe(60_000);
  expect(threadOf(webhooks).restartScheduled).toBe(true);
  await webhooks.stop();
  expect(threadOf(webhooks).restartScheduled).toBe(false);
  expect(threadOf(webhooks).worker).toBeNull();

  await webhooks.start();
  const thread = threadOf(webhooks).worker!;
  const exited = new Promise<number>((resolve) => thread.once('exit', resolve));
  await webhooks.close();
  await exited;
  expect(threadOf(webhooks).worker).toBeNull();
}
