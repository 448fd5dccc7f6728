/**
 * Which delivery the memory storage hands out next: two levels of min-heaps, one
 * {@link ClaimQueue} per subscription keyed by (claimable-at, id), and one heap of
 * subscriptions keyed by their head.
 *
 * A claim pops subscriptions in order and takes one delivery at a time, re-pushing the
 * subscription at its new head, so it costs O(limit · log n), and a subscription the
 * caller excludes costs one pop however large its backlog (a single heap would have to
 * pop through that backlog on every claim); so does an excluded tenant's subscription (a
 * delivery's tenant is its subscription's). Entries are invalidated lazily by stamps
 * (`claimStamp` of a delivery, `queueStamp` of a subscription) rather than removed, and
 * compacted once stale ones outnumber live ones by a margin.
 */
import { deliveryTenantId } from '../shared/tenancy.js';
import { ClaimQueue } from './claim-queue.js';
import { StampedHeap } from './stamped-heap.js';
import type { DeliveryState, SubscriptionState } from './stored-records.js';

// The subscription heap is compacted once stale entries outnumber live ones by this
// margin: rebuilding is O(n), so it must not happen more often than every ~n pushes.
const compactionSlack = 1024;
// The same rule per subscription's claim queue, with a margin small enough that many
// subscriptions together hold at most 2 × pending + 64 × subscriptions entries.
const subscriptionCompactionSlack = 64;

function isClaimEntryLive(d: DeliveryState, stamp: number): boolean {
  return d.status === 'pending' && d.claimStamp === stamp;
}

function isQueueEntryLive(sub: SubscriptionState, stamp: number): boolean {
  return sub.queued && sub.queueStamp === stamp;
}

/** What a claim skips: subscriptions by id, and every subscription of the tenants named. */
export interface ClaimExclusions {
  subscriptionIds: ReadonlySet<string> | null;
  /** Never excludes the platform's subscriptions (their deliveries' tenant is `null`). */
  tenantIds: ReadonlySet<string> | null;
}

function isExcluded(sub: SubscriptionState, excluded: ClaimExclusions): boolean {
  if (excluded.subscriptionIds !== null && excluded.subscriptionIds.has(sub.record.id)) return true;
  const tenantId = deliveryTenantId(sub.record);
  return tenantId !== null && excluded.tenantIds !== null && excluded.tenantIds.has(tenantId);
}

/** When a pending delivery may be claimed: its due time, or its lease's end if later. */
function claimKey(d: DeliveryState): number {
  const due = d.nextAttemptAt!;
  return d.leaseExpiresAt === null ? due : Math.max(due, d.leaseExpiresAt);
}

/** The claim order of every subscription's pending deliveries. */
export class ClaimSchedule {
  /** Entries popped off the per-subscription claim queues (live and stale). */
  private readonly claimPops = { pops: 0 };
  /** Entries popped off the heap of subscriptions (live and stale). */
  private readonly subscriptionPops = { pops: 0 };
  /** Entries of every subscription's claim queue together. */
  private claimEntries = 0;
  /** Subscriptions with claimable deliveries, keyed by (claimable-at, id) of their head. */
  private readonly subscriptionHeap = new StampedHeap<SubscriptionState>(this.subscriptionPops);

  /** @param subscriptionCount how many subscriptions the store holds, which bounds the subscription heap. */
  constructor(private readonly subscriptionCount: () => number) {}

  /** An empty claim queue for a new subscription. */
  newQueue(): ClaimQueue<DeliveryState> {
    return new ClaimQueue(this.claimPops);
  }

  /** Call after any change to a delivery's status, due time or lease (a new delivery included). */
  reschedule(d: DeliveryState): void {
    d.claimStamp++;
    // Pending without a due time: waiting behind its ordering key's head, not claimable.
    if (d.status !== 'pending' || d.nextAttemptAt === null) return;
    const sub = d.subscription;
    const queue = sub.claimHeap;
    const key = claimKey(d);
    // A fresh delivery (never attempted, not leased) is due at its creation: in order, mostly.
    queue.push(key, d.id, d, d.claimStamp, d.attempts === 0 && d.leaseExpiresAt === null);
    this.claimEntries++;
    if (!sub.queued || key < sub.queuedKey || (key === sub.queuedKey && d.id < sub.queuedTie)) this.queue(sub, key, d.id);
    if (queue.size > 2 * sub.counts.pending + subscriptionCompactionSlack) {
      this.claimEntries -= queue.size;
      queue.retain(isClaimEntryLive);
      this.claimEntries += queue.size;
    }
  }

  /** Forgets every claim entry of a subscription that has nothing claimable left (disabled, deleted). */
  clear(sub: SubscriptionState): void {
    this.claimEntries -= sub.claimHeap.size;
    sub.claimHeap = this.newQueue();
    this.unqueue(sub);
  }

  /** When the earliest claimable delivery is claimable; `null` when nothing is pending. */
  nextDueAt(): number | null {
    return this.earliest() === null ? null : this.subscriptionHeap.topKey();
  }

  /**
   * Takes up to `limit` deliveries claimable at `now`, earliest first, none of a subscription
   * `excluded` names. The caller leases them and then calls {@link reschedule} for each.
   */
  take(limit: number, now: number, excluded: ClaimExclusions | null): DeliveryState[] {
    const taken: DeliveryState[] = [];
    // Excluded subscriptions are popped once each and put back after the loop: their
    // backlog is never walked.
    const skipped: SubscriptionState[] = [];
    while (taken.length < limit) {
      const sub = this.earliest();
      if (sub === null || this.subscriptionHeap.topKey() > now) break;
      this.subscriptionHeap.pop();
      if (excluded !== null && isExcluded(sub, excluded)) {
        skipped.push(sub);
        continue;
      }
      // One delivery at a time: the next one may belong to another subscription.
      taken.push(sub.claimHeap.topRef());
      sub.claimHeap.pop();
      this.claimEntries--;
      const next = this.liveHead(sub);
      if (next === null) this.unqueue(sub);
      else this.queue(sub, sub.claimHeap.topKey(), next.id);
    }
    for (const sub of skipped) this.queue(sub, sub.queuedKey, sub.queuedTie);
    return taken;
  }

  /** Counters for the storage's probe (see memory-storage-probe.ts). */
  counters(): { claimHeapPops: number; claimHeapSize: number; subscriptionHeapPops: number; subscriptionHeapSize: number } {
    return {
      claimHeapPops: this.claimPops.pops,
      claimHeapSize: this.claimEntries,
      subscriptionHeapPops: this.subscriptionPops.pops,
      subscriptionHeapSize: this.subscriptionHeap.size,
    };
  }

  /** Replaces the subscription's entry in the subscription heap with one at (key, tie). */
  private queue(sub: SubscriptionState, key: number, tie: string): void {
    sub.queueStamp++;
    sub.queued = true;
    sub.queuedKey = key;
    sub.queuedTie = tie;
    this.subscriptionHeap.push(key, tie, sub, sub.queueStamp);
    if (this.subscriptionHeap.size > 2 * this.subscriptionCount() + compactionSlack) this.subscriptionHeap.retain(isQueueEntryLive);
  }

  private unqueue(sub: SubscriptionState): void {
    sub.queueStamp++;
    sub.queued = false;
  }

  /** The subscription's earliest claimable delivery after dropping stale entries off its queue; `null` when none. */
  private liveHead(sub: SubscriptionState): DeliveryState | null {
    const queue = sub.claimHeap;
    while (queue.size > 0) {
      const d = queue.topRef();
      if (isClaimEntryLive(d, queue.topStamp())) return d;
      queue.pop();
      this.claimEntries--;
    }
    return null;
  }

  /**
   * The subscription holding the earliest claimable delivery of all, its live entry on
   * top of the subscription heap with exactly its head's (key, id); `null` when nothing
   * is pending. An entry below its subscription's real head (the head went stale) is
   * replaced at the real head, so what surfaces is the true minimum.
   */
  private earliest(): SubscriptionState | null {
    const heap = this.subscriptionHeap;
    while (heap.size > 0) {
      const sub = heap.topRef();
      if (sub.queueStamp !== heap.topStamp()) {
        heap.pop();
        continue;
      }
      const head = this.liveHead(sub);
      if (head === null) {
        heap.pop();
        this.unqueue(sub);
        continue;
      }
      const key = sub.claimHeap.topKey();
      if (key === heap.topKey() && head.id === heap.topTie()) return sub;
      heap.pop();
      this.queue(sub, key, head.id);
    }
    return null;
  }
}
