/**
 * Counters of a memory storage's internals, read by its own unit tests and the benchmark
 * (to show that a claim or a retention batch touches O(limit) entries, that the heaps and
 * queues stay bounded, and that fan-out examines only the event's tenant's subscriptions), and of what holds the
 * payloads its deliveries reach (to show that an event's deliveries share one). Not part of
 * the package's public entry.
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
  /** Entries in the final-time queues (what retention takes deliveries from), stale ones included. */
  finalQueueSize: number;
  /** Entries popped so far off the final-time queues (live and stale). */
  finalQueuePops: number;
  /** Entries in the queue of orphan events (what retention takes events from), stale ones included. */
  orphanQueueSize: number;
  /** Entries popped so far off the queue of orphan events (live and stale). */
  orphanQueuePops: number;
  /** Subscriptions examined by fan-out so far (the event's tenant's, and the all-tenant consumers). */
  fanOutVisits: number;
  /** Tenants (the platform included) holding subscriptions or events in the tenant index. */
  tenantShares: number;
}

interface ProbeReaders {
  counters: () => MemoryStorageProbe;
  payloadHolders: () => number;
}

const probes = new WeakMap<StorageAdapter, ProbeReaders>();

/** Called by `createMemoryStorage` with readers of the storage's counters and of its payload holders. */
export function registerMemoryStorageProbe(storage: StorageAdapter, readers: ProbeReaders): void {
  probes.set(storage, readers);
}

/**
 * Reads the internal counters of a storage made by `createMemoryStorage`; `null` for any
 * other adapter.
 *
 * @internal
 */
export function inspectMemoryStorage(storage: StorageAdapter): MemoryStorageProbe | null {
  return probes.get(storage)?.counters() ?? null;
}

/**
 * How many distinct stored objects hold a payload among those the stored deliveries reach
 * (the delivery itself and its event); `null` for any other adapter. One per event when
 * an event's deliveries share its payload. It walks every delivery: for tests, not for a
 * hot path.
 *
 * @internal
 */
export function countPayloadHolders(storage: StorageAdapter): number | null {
  return probes.get(storage)?.payloadHolders() ?? null;
}
