/**
 * The memory storage's deliveries by status: per-status counts, per-subscription counts and
 * open sets, the deliveries under a lease, a heap keyed by (createdAt, id) that answers the
 * oldest pending creation, and per final status a queue keyed by (the time the delivery
 * became final, id) that retention and `purge` take the oldest from. Every status change,
 * change of `updatedAt` and lease goes through here so they stay in step.
 */
import { ClaimQueue } from './claim-queue.js';
import { StampedHeap } from './stamped-heap.js';
import type { DeliveryState } from './stored-records.js';
import type { DeliveryStatus } from '../storage-adapter.js';

// The created-at heap and the final-time queues are compacted once stale entries outnumber
// live ones by this margin: rebuilding is O(n), so it must not happen more often than every
// ~n pushes.
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
   * ~30 bytes apiece. Final ones are in their status's final-time queue.
   */
  private readonly counts: Record<DeliveryStatus, number> = { pending: 0, held: 0, delivered: 0, dead: 0, cancelled: 0 };
  /** Deliveries holding a lease token (pending or held, or cancelled while their attempt was in flight). */
  private readonly leased = new Set<DeliveryState>();
  /** Deliveries that entered `pending`, keyed by (createdAt, id); live while `statusStamp` matches. */
  private readonly createdHeap = new StampedHeap<DeliveryState>({ pops: 0 });
  private readonly finalPops = { pops: 0 };
  /**
   * The deliveries of each final status keyed by (updatedAt, id): `updatedAt` is when a
   * final delivery became final (a settle of a cancelled one's attempt in flight, or a
   * release of its lease, moves it, and its entry with it). An entry is live while its
   * delivery is in that status with the stamp it was pushed with.
   */
  private readonly finalQueues: Record<FinalStatus, ClaimQueue<DeliveryState>> = {
    delivered: new ClaimQueue(this.finalPops),
    dead: new ClaimQueue(this.finalPops),
    cancelled: new ClaimQueue(this.finalPops),
  };

  /** Entries in the created-at heap, stale ones included (for the storage's probe). */
  get createdHeapSize(): number {
    return this.createdHeap.size;
  }

  /** Entries in the final-time queues together, stale ones included (for the storage's probe). */
  get finalQueueSize(): number {
    return this.finalQueues.delivered.size + this.finalQueues.dead.size + this.finalQueues.cancelled.size;
  }

  /** Entries popped so far off the final-time queues, live and stale (for the storage's probe). */
  get finalQueuePops(): number {
    return this.finalPops.pops;
  }

  /** How many deliveries are in `status`. */
  count(status: DeliveryStatus): number {
    return this.counts[status];
  }

  /** Calls `visit` with each delivery in a final status, in no particular order (open ones are in their subscriptions' open sets). */
  forEachInStatus(status: FinalStatus, visit: (d: DeliveryState) => void): void {
    this.finalQueues[status].forEach((d, stamp) => {
      if (isFinalEntryLive(d, status, stamp)) visit(d);
    });
  }

  /**
   * Takes out of `status`'s final-time queue up to `count` deliveries that became final
   * before `before`, oldest first by (updatedAt, id), passing over (and keeping) those
   * `passOver` names. The caller removes them or gives them back with {@link putBackFinal}.
   */
  takeOldestFinal(status: FinalStatus, before: number, count: number, passOver: (d: DeliveryState) => boolean): DeliveryState[] {
    const queue = this.finalQueues[status];
    const taken: DeliveryState[] = [];
    const passed: DeliveryState[] = [];
    while (taken.length < count && queue.size > 0 && queue.topKey() < before) {
      const d = queue.topRef();
      const stamp = queue.topStamp();
      queue.pop();
      if (!isFinalEntryLive(d, status, stamp)) continue;
      if (passOver(d)) passed.push(d);
      else taken.push(d);
    }
    // Pushed back only now: pushed at once, the oldest would surface again in this loop.
    this.putBackFinal(passed);
    return taken;
  }

  /** Gives back to their queues deliveries {@link takeOldestFinal} took that stay, unchanged since. */
  putBackFinal(ds: readonly DeliveryState[]): void {
    for (const d of ds) this.finalQueues[d.status as FinalStatus].push(d.updatedAt, d.id, d, d.statusStamp, true);
  }

  /** Indexes a new delivery in its status. */
  add(d: DeliveryState): void {
    this.counts[d.status]++;
    d.subscription.counts[d.status]++;
    if (isOpen(d.status)) d.subscription.open.add(d);
    if (d.status === 'pending') this.enterPending(d);
  }

  /** Forgets a delivery that is being removed (its lease too); marks it removed and its heap entries stale. */
  remove(d: DeliveryState): void {
    this.counts[d.status]--;
    d.subscription.counts[d.status]--;
    d.subscription.open.delete(d);
    this.dropLease(d);
    d.removed = true;
    d.claimStamp++;
    d.statusStamp++;
  }

  /**
   * Moves a delivery to `next`, changed at `updatedAt`, in every index: entering `pending`
   * joins the created-at heap; entering a final status, or a new `updatedAt` in one, its
   * final-time queue.
   */
  setStatus(d: DeliveryState, next: DeliveryStatus, updatedAt: number): void {
    const prev = d.status;
    const moved = d.updatedAt !== updatedAt;
    d.updatedAt = updatedAt;
    if (prev !== next) {
      this.counts[prev]--;
      this.counts[next]++;
      d.subscription.counts[prev]--;
      d.subscription.counts[next]++;
      if (isOpen(next)) d.subscription.open.add(d);
      else d.subscription.open.delete(d);
      d.status = next;
      if (next === 'pending') this.enterPending(d);
    }
    if (!isOpen(next) && (prev !== next || moved)) this.enterFinal(d, next);
  }

  /** A change of `updatedAt` alone (a released lease): a final delivery moves in its queue. */
  touch(d: DeliveryState, updatedAt: number): void {
    this.setStatus(d, d.status, updatedAt);
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
      if (d.status === 'pending' && d.statusStamp === heap.topStamp()) return heap.topKey();
      heap.pop();
    }
    return null;
  }

  private enterPending(d: DeliveryState): void {
    d.statusStamp++;
    const heap = this.createdHeap;
    heap.push(d.createdAt, d.id, d, d.statusStamp);
    if (heap.size > 2 * this.counts.pending + compactionSlack) {
      heap.retain((ref, stamp) => ref.status === 'pending' && ref.statusStamp === stamp);
    }
  }

  private enterFinal(d: DeliveryState, status: FinalStatus): void {
    d.statusStamp++;
    const queue = this.finalQueues[status];
    queue.push(d.updatedAt, d.id, d, d.statusStamp, true);
    if (queue.size > 2 * this.counts[status] + compactionSlack) {
      queue.retain((ref, stamp) => isFinalEntryLive(ref, status, stamp));
    }
  }
}

function isFinalEntryLive(d: DeliveryState, status: FinalStatus, stamp: number): boolean {
  return d.status === status && d.statusStamp === stamp;
}
