/**
 * Counters of a memory storage's internals, read by its own unit tests and the benchmark
 * (to show that a claim touches O(limit) entries, that the heaps stay bounded, and that
 * fan-out examines only the event's tenant's subscriptions). Not part of the package's
 * public entry.
 */
import type { StorageAdapter } from '../storage-adapter.js';

/** The counters {@link inspectMemoryStorage} reads. */
export interface MemoryStorageProbe {
  /** Entries popped so far off the per-subscription claim heaps (live and stale). */
  claimHeapPops: number;
  /** Entries in the per-subscription claim heaps together, stale ones included. */
  claimHeapSize: number;
  /** Entries popped so far off the heap of subscriptions (live and stale). */
  subscriptionHeapPops: number;
  /** Entries in the heap of subscriptions, stale ones included. */
  subscriptionHeapSize: number;
  /** Entries in the created-at heap, stale ones included. */
  createdHeapSize: number;
  /** Subscriptions examined by fan-out so far (the event's tenant's, and the all-tenant consumers). */
  fanOutVisits: number;
  /** Tenants (the platform included) holding subscriptions or events in the tenant index. */
  tenantShares: number;
}

const probes = new WeakMap<StorageAdapter, () => MemoryStorageProbe>();

/** Called by `createMemoryStorage` with a reader of the storage's counters. */
export function registerMemoryStorageProbe(storage: StorageAdapter, read: () => MemoryStorageProbe): void {
  probes.set(storage, read);
}

/**
 * Reads the internal counters of a storage made by `createMemoryStorage`; `null` for any
 * other adapter.
 *
 * @internal
 */
export function inspectMemoryStorage(storage: StorageAdapter): MemoryStorageProbe | null {
  return probes.get(storage)?.() ?? null;
}
