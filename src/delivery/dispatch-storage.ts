/**
 * What the dispatcher asks of a storage: the adapter itself in-thread, or the adapter with
 * its claims, settles, lease releases and next-due reads sent to a storage thread
 * (`dispatcher: { storageThread: 'worker' }`, worker/storage-thread.ts).
 */
import type { StorageAdapter } from '../storage/storage-adapter.js';

export type DispatchStorage = Pick<
  StorageAdapter,
  | 'claimDue'
  | 'settle'
  | 'nextDueAt'
  | 'releaseLeases'
  | 'writeBatchLimit'
  | 'writeConcurrency'
  | 'subscribeWake'
  | 'getSubscription'
  | 'getSubscriptionChange'
  | 'setSubscriptionStatus'
>;
