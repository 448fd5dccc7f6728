/**
 * The memory storage's deliveries by status: per-status sets (the counts of `stats`, and
 * `purge` bounded to final deliveries), per-subscription counts and open sets, the
 * deliveries under a lease, and a heap keyed by (createdAt, id) that answers the oldest
 * pending creation. Every status change and lease goes through here so they stay in step.
 */
import { StampedHeap } from './stamped-heap.js';
import type { DeliveryState } from './stored-records.js';
import type { DeliveryStatus } from '../storage-adapter.js';

// The created-at heap is compacted once stale entries outnumber live ones by this margin:
// rebuilding is O(n), so it must not happen more often than every ~n pushes.
const compactionSlack = 1024;

function isOpen(status: DeliveryStatus): boolean {
  return status === 'pending' || status === 'held';
}

/** The status sets and lease set of one memory storage. */
export class StatusIndex {
  private readonly byStatus: Record<DeliveryStatus, Set<DeliveryState>> = {
    pending: new Set(),
    held: new Set(),
    delivered: new Set(),
    dead: new Set(),
    cancelled: new Set(),
  };
  /** Deliveries holding a lease token (pending or held, or cancelled while their attempt was in flight). */
  private readonly leased = new Set<DeliveryState>();
  /** Deliveries that entered `pending`, keyed by (createdAt, id); live while `pendingStamp` matches. */
  private readonly createdHeap = new StampedHeap<DeliveryState>({ pops: 0 });

  /** Entries in the created-at heap, stale ones included (for the storage's probe). */
  get createdHeapSize(): number {
    return this.createdHeap.size;
  }

  /** How many deliveries are in `status`. */
  count(status: DeliveryStatus): number {
    return this.byStatus[status].size;
  }

  /** The deliveries in `status`, in no particular order. */
  inStatus(status: DeliveryStatus): ReadonlySet<DeliveryState> {
    return this.byStatus[status];
  }

  /** Indexes a new delivery in its status. */
  add(d: DeliveryState): void {
    this.byStatus[d.status].add(d);
    d.subscription.counts[d.status]++;
    if (isOpen(d.status)) d.subscription.open.add(d);
    if (d.status === 'pending') this.enterPending(d);
  }

  /** Forgets a delivery that is being removed (its lease too); marks it removed and its heap entries stale. */
  remove(d: DeliveryState): void {
    this.byStatus[d.status].delete(d);
    d.subscription.counts[d.status]--;
    d.subscription.open.delete(d);
    this.dropLease(d);
    d.removed = true;
    d.claimStamp++;
    d.pendingStamp++;
  }

  /** Moves a delivery to `next` in every index (a delivery entering `pending` joins the created-at heap). */
  setStatus(d: DeliveryState, next: DeliveryStatus): void {
    const prev = d.status;
    if (prev === next) return;
    this.byStatus[prev].delete(d);
    this.byStatus[next].add(d);
    d.subscription.counts[prev]--;
    d.subscription.counts[next]++;
    if (isOpen(next)) d.subscription.open.add(d);
    else d.subscription.open.delete(d);
    d.status = next;
    if (next === 'pending') this.enterPending(d);
  }

  /** Gives the delivery a lease (a new token on every claim). */
  lease(d: DeliveryState, token: string, expiresAt: number): void {
    if (d.leaseToken === null) this.leased.add(d);
    d.leaseToken = token;
    d.leaseExpiresAt = expiresAt;
  }

  /** Takes the delivery's lease away, if it has one. */
  dropLease(d: DeliveryState): void {
    if (d.leaseToken === null) return;
    d.leaseToken = null;
    d.leaseExpiresAt = null;
    this.leased.delete(d);
  }

  /**
   * Pending deliveries under an unexpired lease at `now`, of those `of` accepts or of all.
   * Only deliveries under a lease are visited: as many as are in flight.
   */
  leasedCount(now: number, of?: (d: DeliveryState) => boolean): number {
    let count = 0;
    for (const d of this.leased) {
      if (d.status === 'pending' && d.leaseExpiresAt! > now && (of === undefined || of(d))) count++;
    }
    return count;
  }

  /** True when a delivery `of` accepts, pending or held, is under an unexpired lease at `now`: an attempt in flight. */
  anyInFlight(now: number, of: (d: DeliveryState) => boolean): boolean {
    for (const d of this.leased) if (d.leaseExpiresAt! > now && of(d)) return true;
    return false;
  }

  /** The creation time of the oldest pending delivery; `null` when none. */
  oldestPendingCreatedAt(): number | null {
    const heap = this.createdHeap;
    while (heap.size > 0) {
      const d = heap.topRef();
      if (d.status === 'pending' && d.pendingStamp === heap.topStamp()) return heap.topKey();
      heap.pop();
    }
    return null;
  }

  private enterPending(d: DeliveryState): void {
    d.pendingStamp++;
    const heap = this.createdHeap;
    heap.push(d.createdAt, d.id, d, d.pendingStamp);
    if (heap.size > 2 * this.byStatus.pending.size + compactionSlack) {
      heap.retain((ref, stamp) => ref.status === 'pending' && ref.pendingStamp === stamp);
    }
  }
}
