/**
 * The messages between the host and the dispatcher's storage thread (`createWebhooks({
 * dispatcher: { storageThread: 'worker' } })`): the dispatcher's storage calls — its claims,
 * settles, lease releases and the next due time — run there on a connection of the
 * thread's own, while the dispatcher signs and posts on the host's thread.
 *
 * Host → thread: a call ({@link StorageCall}), or `close`. Thread → host: `ready` once its
 * storage answers (or why it cannot), each call's answer with the thread connection's batch
 * limits at that moment ({@link StorageBatchLimits}: the host's dispatcher asks for them
 * synchronously, before each claim and settle), and `closed`.
 */
import type { StorageRecipe } from '../../storage/shared/worker-recipe.js';

/** What the storage thread is started with (`workerData`). */
export interface StorageWorkerData {
  readonly recipe: StorageRecipe;
}

/** The storage calls the dispatcher makes through the thread. */
export type StorageThreadMethod = 'claimDue' | 'settle' | 'nextDueAt' | 'releaseLeases';

/** The thread connection's `writeBatchLimit` for the dispatcher's two batched writes (`null`: no limit). */
export interface StorageBatchLimits {
  readonly claimDue: number | null;
  readonly settle: number | null;
}

export interface StorageCall {
  readonly kind: 'call';
  readonly id: number;
  readonly method: StorageThreadMethod;
  readonly args: readonly unknown[];
}

export type ToStorageWorker = StorageCall | { readonly kind: 'close' };

export type FromStorageWorker =
  /** The storage opened and answered a first read (`error` null), or could not (a wire error). */
  | { readonly kind: 'ready'; readonly error: unknown; readonly limits: StorageBatchLimits }
  | { readonly kind: 'result'; readonly id: number; readonly ok: true; readonly value: unknown; readonly limits: StorageBatchLimits }
  /** `error` as a wire error (wire-values.ts). */
  | { readonly kind: 'result'; readonly id: number; readonly ok: false; readonly error: unknown; readonly limits: StorageBatchLimits }
  | { readonly kind: 'closed' };
