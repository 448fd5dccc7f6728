/**
 * The memory storage's deliveries by status: per-status counts, the final deliveries of each
 * final status (`purge` and retention walk them), per-subscription counts and open sets, the
 * deliveries under a lease, and a heap keyed by (createdAt, id) that answers the oldest
 * pending creation. Every status change and lease goes through here so they stay in step.
 */
import { StampedHeap } from './stamped-heap.js';
import type { DeliveryState } from './stored-records.js';
import type { DeliveryStatus } from '../storage-adapter.js';

// The created-at heap is compacted once stale entries outnumber live ones by this margin:
// rebuilding is O(n), so it must not happen more often than every ~n pushes.
const compactionSlack = 1024;

type OpenStatus = 'pending' | 'held';
/** A status a delivery does not leave by itself: only a redelivery, replay or removal ends it. */
export type FinalStatus = Exclude<DeliveryStatus, OpenStatus>;

function isOpen(status: DeliveryStatus): status is OpenStatus {
  return status === 'pending' || status === 'held';
}

/** The status sets and lease set of one memory storage. */
export class StatusIndex {
  /**
   * Open deliveries are counted, not kept in a set of their own: their subscriptions' open
   * sets hold them already, and a set entry for each of a million pending deliveries costs
   * ~30 bytes apiece.
   */
  private readonly openCounts: Record<OpenStatus, number> = { pending: 0, held: 0 };
  private readonly finalSets: Record<FinalStatus, Set<DeliveryState>> = {
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
    return isOpen(status) ? this.openCounts[status] : this.finalSets[status].size;
  }

  /** The deliveries in a final status, in no particular order (open ones are in their subscriptions' open sets). */
  inStatus(status: FinalStatus): ReadonlySet<DeliveryState> {
    return this.finalSets[status];
  }

  /** Indexes a new delivery in its status. */
  add(d: DeliveryState): void {
    this.enter(d, d.status);
    d.subscription.counts[d.status]++;
    if (isOpen(d.status)) d.subscription.open.add(d);
    if (d.status === 'pending') this.enterPending(d);
  }

  /** Forgets a delivery that is being removed (its lease too); marks it removed and its heap entries stale. */
  remove(d: DeliveryState): void {
    this.leave(d, d.status);
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
    this.leave(d, prev);
    this.enter(d, next);
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

  private enter(d: DeliveryState, status: DeliveryStatus): void {
    if (isOpen(status)) this.openCounts[status]++;
    else this.finalSets[status].add(d);
  }

  private leave(d: DeliveryState, status: DeliveryStatus): void {
    if (isOpen(status)) this.openCounts[status]--;
    else this.finalSets[status].delete(d);
  }

  private enterPending(d: DeliveryState): void {
    d.pendingStamp++;
    const heap = this.createdHeap;
    heap.push(d.createdAt, d.id, d, d.pendingStamp);
    if (heap.size > 2 * this.openCounts.pending + compactionSlack) {
      heap.retain((ref, stamp) => ref.status === 'pending' && ref.pendingStamp === stamp);
    }
  }
}
