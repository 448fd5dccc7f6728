/**
 * The claim-ahead buffer: deliveries the dispatcher has claimed (leased) from storage
 * before a slot was free to post them, so that posts keep going while the next batch is
 * claimed. A durable storage pays a transaction per claim; the buffer lets one claim
 * serve a whole batch without leaving the slots idle during its round trip.
 *
 * Room: `concurrency` posts in flight plus the deliveries claimed ahead: between one and
 * three `concurrency` of them ({@link ClaimAheadBuffer.ahead}), as many as the posts of the
 * last {@link rateWindowMs} would start within half of {@link ClaimAheadBuffer.maxWaitMs}.
 * Fast endpoints get the deep buffer, so that a claim starts while a whole `concurrency`
 * is still buffered and the posts do not drain it during the claim's round trip (with one
 * `concurrency` ahead, a claim could start only once the buffer had drained); slow ones
 * keep the shallow one, whose deliveries would otherwise wait past `maxWaitMs` for a slot
 * and go back unsent. The dispatcher asks {@link ClaimAheadBuffer.claimRoom} how many to
 * claim, and the buffer is always in one of these modes:
 *
 * - IDLE: nothing in flight and nothing buffered. The rate is forgotten and the next claim
 *   asks for the shallow room (2 × `concurrency`): a burst after a quiet spell starts at
 *   once, and a slow endpoint is not handed a deep buffer on the strength of old figures.
 * - FILLING: posts in flight or deliveries buffered, and at least the minimum claim free
 *   ({@link minClaimBatch}, a whole `concurrency`, or two with the deepest buffer). The
 *   next claim asks for all the free room, so the claim's fixed cost is shared by that many
 *   deliveries at least.
 * - FULL: less than the minimum claim free. No claim; each finished post frees a slot,
 *   {@link ClaimAheadBuffer.take} moves buffered deliveries into the free slots, and the
 *   buffer goes back to FILLING once enough room is free.
 * - STOPPED: the dispatcher stops. {@link ClaimAheadBuffer.takeAll} empties the buffer at
 *   once and every lease is given back, whatever a claim under way is doing (its
 *   deliveries are given back when it returns), so nothing stays leased by a stopped
 *   dispatcher.
 *
 * When a claim returns fewer than it asked for, nothing more is due: the dispatcher
 * sleeps until the next due time or a wake-up, whatever the mode.
 *
 * Each buffered delivery, when {@link ClaimAheadBuffer.take} reaches it in claim order
 * with a slot free, is:
 * - started, when flow control lets a post to its subscription, for its tenant, start;
 * - kept, in its place, when its subscription is at its concurrency cap (a slot of that
 *   subscription frees when one of its posts finishes) — unless the cap is a shared one
 *   (flow-control.ts), the whole buffer has been walked with a slot still free, and the
 *   dispatcher knows that no other subscription's delivery is due (`alone`): then it is
 *   started past its share (without `alone`, {@link TakenDeliveries.shareWaiting} tells
 *   the dispatcher to look for other work first);
 * - kept, in its place, when only its subscription's own rate holds it and the token comes
 *   within {@link rateKeepMs}, and within {@link ClaimAheadBuffer.maxWaitMs} of its claim: the dispatcher wakes then
 *   ({@link TakenDeliveries.nextStartAt}). Given back, a rate-limited backlog would be leased
 *   and released again at every token;
 * - given back to storage, due at once, when its subscription is held otherwise (breaker
 *   open, a token further off) or its tenant (`delivery.tenantId`) is out of rate tokens: the
 *   dispatcher leaves the subscription or the tenant out of claims until it unblocks by
 *   itself, and wakes then;
 * - given back when it was claimed more than {@link ClaimAheadBuffer.maxWaitMs} ago,
 *   counted from before its claim so that a slow claim counts as much as a wait for a
 *   slot: its lease might no longer cover a whole post and its settle, and a post sent
 *   after the lease ran out can reach the receiver twice (another worker may have claimed
 *   it by then). A new claim gives it a whole lease.
 */
import type { ClaimedDelivery } from '../storage/storage-adapter.js';
import type { FlowControl } from './flow-control.js';
import { minClaimBatch } from './min-claim-batch.js';

/**
 * How near a rate's next token must be for a delivery it holds to stay in the buffer, ms.
 * Given back instead, a rate-limited backlog is leased and released again at every token:
 * at 50 a second, 50 claims a second, each leasing the buffer's room for one post (measured:
 * 5,050 leases and 4,950 releases for 100 posts). Kept, it waits on its lease and the
 * dispatcher wakes at the token. A token further off (rates under 4 a second) is not worth
 * the lease: the delivery goes back, and costs at most that many give-backs a second.
 */
export const rateKeepMs = 250;

/** The span over which posts started are counted for the buffer's depth, ms. */
export const rateWindowMs = 200;

export interface ClaimAheadOptions {
  /** Posts in flight at once; as many more may wait here. */
  concurrency: number;
  leaseMs: number;
  /** The HTTP timeout: the part of a lease one post may take. */
  timeoutMs: number;
}

interface Entry {
  readonly claimed: ClaimedDelivery;
  /**
   * The local time just before the claim that leased it: its lease runs until
   * `claimedAt + leaseMs` at the earliest (a storage leases from the `now` it is given,
   * or from its own clock once the claim reaches it).
   */
  readonly claimedAt: number;
}

/** What {@link ClaimAheadBuffer.take} hands out. */
export interface TakenDeliveries {
  /** To post now: flow control has counted each as started. */
  readonly start: ClaimedDelivery[];
  /** To give back to storage (release their leases). */
  readonly giveBack: ClaimedDelivery[];
  /** How many of `giveBack` waited past {@link ClaimAheadBuffer.maxWaitMs}. */
  readonly stale: number;
  /**
   * Slots stayed free that a delivery kept at its subscription's shared cap could have
   * taken, had `alone` said that nothing else waits.
   */
  readonly shareWaiting: boolean;
  /** When the earliest delivery kept for its subscription's rate gets its token; absent when none is kept so. */
  readonly nextStartAt?: number;
}

/** Taken entries left at the front of the array before it is compacted (see {@link ClaimAheadBuffer.take}). */
const compactAfter = 256;

export class ClaimAheadBuffer {
  /**
   * The buffered deliveries in claim order are `entries[head…]`: a take moves `head` past
   * what it took instead of copying the rest (it runs once per freed slot, over a buffer of
   * up to three `concurrency`), and the array is compacted once the taken front is long.
   */
  private entries: Array<Entry | undefined> = [];
  private head = 0;
  private readonly bySubscription = new Map<string, number>();
  /** Posts started per ms over the last whole {@link rateWindowMs}; 0 until one has passed. */
  private startsPerMs = 0;
  /** The same, of each subscription that started posts in it. */
  private startsPerMsBySubscription = new Map<string, number>();
  /** When the current count began (`null`: idle, nothing counted), and what it has counted, by subscription. */
  private windowStartedAt: number | null = null;
  private windowStartsBySubscription = new Map<string, number>();

  constructor(private readonly options: ClaimAheadOptions) {}

  /** Deliveries buffered now. */
  get size(): number {
    return this.entries.length - this.head;
  }

  /**
   * How long a delivery may wait here before it is given back: half of what its lease
   * holds beyond one request's timeout, so that the rest of the lease covers the post and
   * the settle after it. With the defaults (60 s lease, 15 s timeout), 22.5 s; at least
   * 500 ms, since start-up requires `leaseMs` ≥ `http.timeoutMs` + `minLeaseSlackMs`.
   */
  get maxWaitMs(): number {
    return (this.options.leaseMs - this.options.timeoutMs) / 2;
  }

  /**
   * How many deliveries may wait here beside `concurrency` posts in flight: as many as the
   * recent start rate would start within half of {@link maxWaitMs}, at least one
   * `concurrency` and at most three.
   */
  get ahead(): number {
    return this.aheadAt(this.startsPerMs);
  }

  /**
   * How many times its cap a subscription may have in flight and buffered together: 2 (its
   * cap in flight, as many waiting here) for one whose posts start slowly, up to 4 when its
   * own recent start rate would start that many within half of {@link maxWaitMs} — the
   * rule of {@link ahead}, per subscription, so that a slow endpoint beside a fast one
   * does not get deliveries that would wait past `maxWaitMs` for its slots.
   */
  capacityFactor(subscriptionId: string): number {
    const { concurrency } = this.options;
    return (concurrency + this.aheadAt(this.startsPerMsBySubscription.get(subscriptionId) ?? 0)) / concurrency;
  }

  private aheadAt(startsPerMs: number): number {
    const { concurrency } = this.options;
    const starting = Math.floor(startsPerMs * (this.maxWaitMs / 2));
    return Math.min(3 * concurrency, Math.max(concurrency, starting));
  }

  /** How many deliveries to claim now, with `sending` posts in flight; 0 to claim nothing yet. */
  claimRoom(sending: number): number {
    const { concurrency } = this.options;
    const busy = sending > 0 || this.size > 0;
    if (!busy) {
      this.startsPerMs = 0;
      this.startsPerMsBySubscription.clear();
      this.windowStartedAt = null;
    }
    const ahead = this.ahead;
    const free = concurrency + ahead - sending - this.size;
    // A claim starts while `ahead - minimum` are still buffered: with the deepest buffer, a
    // whole `concurrency` covers the claim's round trip, and each claim carries two.
    const minimum = Math.max(minClaimBatch(concurrency), ahead - concurrency);
    return busy && free < minimum ? 0 : Math.max(0, free);
  }

  /** Deliveries of one subscription waiting here. */
  bufferedFor(subscriptionId: string): number {
    return this.bySubscription.get(subscriptionId) ?? 0;
  }

  /** Adds what one claim returned; `claimedAt` is the local time just before that claim. */
  add(claimed: readonly ClaimedDelivery[], claimedAt: number): void {
    for (const item of claimed) {
      this.entries.push({ claimed: item, claimedAt });
      const id = item.subscription.id;
      this.bySubscription.set(id, this.bufferedFor(id) + 1);
    }
  }

  /**
   * Walks the buffer in claim order until `slots` deliveries have started, deciding for
   * each what the header says: started (and counted as started by `flow`), kept, or
   * given back.
   */
  take(now: number, slots: number, flow: FlowControl, alone = false): TakenDeliveries {
    const start: ClaimedDelivery[] = [];
    const giveBack: ClaimedDelivery[] = [];
    const kept: Entry[] = [];
    const staleBefore = now - this.maxWaitMs;
    let stale = 0;
    let nextStartAt: number | undefined;
    const entries = this.entries;
    let index = this.head;
    for (; index < entries.length && start.length < slots; index++) {
      const entry = entries[index]!;
      const { claimed } = entry;
      const { subscription, delivery } = claimed;
      if (entry.claimedAt < staleBefore) {
        giveBack.push(claimed);
        stale++;
        continue;
      }
      flow.configure(subscription.id, subscription.flowControl, subscription.updatedAt);
      const verdict = flow.check(subscription.id, delivery.tenantId);
      if (verdict === 'cap') {
        kept.push(entry);
        continue;
      }
      if (verdict === 'ok') {
        flow.start(subscription.id, delivery.tenantId);
        start.push(claimed);
        continue;
      }
      // Held by its own rate only, its token near: kept in place (see rateKeepMs).
      const due = flow.rateDueAt(subscription.id);
      if (due !== null && due - now <= rateKeepMs && due - entry.claimedAt <= this.maxWaitMs) {
        kept.push(entry);
        if (nextStartAt === undefined || due < nextStartAt) nextStartAt = due;
        continue;
      }
      giveBack.push(claimed);
    }
    // Slots nothing else in the buffer could take (every entry was walked, so none of
    // another subscription is passed over): a subscription on a shared cap may go past it
    // into them when nothing else waits in storage either (`alone`, flow-control.ts).
    let shareWaiting = false;
    if (start.length < slots && kept.length > 0) {
      const still: Entry[] = [];
      for (const entry of kept) {
        const { subscription, delivery } = entry.claimed;
        if (start.length < slots && flow.check(subscription.id, delivery.tenantId, true) === 'ok') {
          if (alone) {
            flow.start(subscription.id, delivery.tenantId);
            start.push(entry.claimed);
            continue;
          }
          shareWaiting = true;
        }
        still.push(entry);
      }
      kept.length = 0;
      kept.push(...still);
    }
    // The kept ones go back in their order ahead of the rest, into slots this walk emptied;
    // the slots before them let go of what was taken.
    const from = this.head;
    this.head = index - kept.length;
    for (let i = from; i < this.head; i++) entries[i] = undefined;
    for (let i = 0; i < kept.length; i++) entries[this.head + i] = kept[i];
    if (this.head === entries.length) {
      entries.length = 0;
      this.head = 0;
    } else if (this.head >= compactAfter) {
      entries.splice(0, this.head);
      this.head = 0;
    }
    this.countStarts(now, start);
    for (const claimed of start) this.forget(claimed);
    for (const claimed of giveBack) this.forget(claimed);
    return { start, giveBack, stale, shareWaiting, ...(nextStartAt === undefined ? {} : { nextStartAt }) };
  }

  /** Empties the buffer: every delivery in it, in claim order. */
  takeAll(): ClaimedDelivery[] {
    const all = this.entries.slice(this.head).map((entry) => entry!.claimed);
    this.entries = [];
    this.head = 0;
    this.bySubscription.clear();
    return all;
  }

  /**
   * Takes out the buffered deliveries of one subscription (changed since they were claimed:
   * they carry its old record), in claim order; the others keep their places.
   */
  takeFor(subscriptionId: string): ClaimedDelivery[] {
    if (this.bufferedFor(subscriptionId) === 0) return [];
    return this.takeWhere((claimed) => claimed.subscription.id === subscriptionId);
  }

  /**
   * Takes out the buffered deliveries of the given events (expunged since they were claimed:
   * they hold the erased payload), in claim order; the others keep their places.
   */
  takeOfEvents(eventIds: ReadonlySet<string>): ClaimedDelivery[] {
    if (this.size === 0) return [];
    return this.takeWhere((claimed) => eventIds.has(claimed.event.id));
  }

  private takeWhere(taking: (claimed: ClaimedDelivery) => boolean): ClaimedDelivery[] {
    const taken: ClaimedDelivery[] = [];
    const rest: Array<Entry | undefined> = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      if (taking(entry.claimed)) taken.push(entry.claimed);
      else rest.push(entry);
    }
    if (taken.length === 0) return taken;
    this.entries = rest;
    this.head = 0;
    for (const claimed of taken) this.forget(claimed);
    return taken;
  }

  /** Counts the posts `started` at `now`; each whole {@link rateWindowMs} sets the rates. */
  private countStarts(now: number, started: readonly ClaimedDelivery[]): void {
    if (this.windowStartedAt === null || now < this.windowStartedAt) {
      this.windowStartedAt = now;
      this.windowStartsBySubscription.clear();
    }
    for (const { subscription } of started) {
      this.windowStartsBySubscription.set(subscription.id, (this.windowStartsBySubscription.get(subscription.id) ?? 0) + 1);
    }
    const elapsed = now - this.windowStartedAt;
    if (elapsed >= rateWindowMs) {
      let starts = 0;
      for (const count of this.windowStartsBySubscription.values()) starts += count;
      this.startsPerMs = starts / elapsed;
      // A subscription that started nothing in the window is back to the shallow buffer.
      this.startsPerMsBySubscription = new Map([...this.windowStartsBySubscription].map(([id, count]) => [id, count / elapsed]));
      this.windowStartedAt = now;
      this.windowStartsBySubscription.clear();
    }
  }

  private forget(claimed: ClaimedDelivery): void {
    const id = claimed.subscription.id;
    const left = this.bufferedFor(id) - 1;
    if (left <= 0) this.bySubscription.delete(id);
    else this.bySubscription.set(id, left);
  }
}
