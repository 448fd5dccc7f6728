/**
 * The in-memory storage: the default for tests and development. Same semantics as the
 * durable adapters (the conformance suite checks it), no durability.
 *
 * It is on the dispatcher's hot path and holds the 1,000,000-delivery backlog of the
 * benchmark, so every per-delivery operation is O(log n) or better:
 * - claimable deliveries sit in two levels of binary min-heaps: one heap per
 *   subscription keyed by (claimable-at, id), and one heap of subscriptions keyed by
 *   their head. `claimDue` pops subscriptions in order and takes one delivery at a time,
 *   re-pushing the subscription at its new head, so a claim costs O(limit · log n) and a
 *   subscription the caller excludes costs one pop, however large its backlog (a single
 *   heap would have to pop through that backlog on every claim). Entries are invalidated
 *   lazily by stamps rather than removed;
 * - a heap keyed by (createdAt, id) answers `oldestPendingCreatedAt`;
 * - per-status sets keep the counts of `stats` and bound `purge` to final deliveries,
 *   and per-subscription counts answer `stats` of one subscription;
 * - per-subscription id-sorted arrays serve the delivery log and enable/disable.
 */
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { ConfigError, StorageError, ValidationError, describeValue } from '../../errors.js';
import { matchesAnyEventType } from '../../registry/event-type-filter.js';
import { emptyDeliveryHistory, recordAttemptInHistory } from '../shared/delivery-history.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import type {
  AttemptRecord,
  ClaimedDelivery,
  DeliveryHistory,
  DeliveryQuery,
  DeliveryRecord,
  DeliveryStatus,
  EnqueueInput,
  EnqueueResult,
  EventRecord,
  Page,
  PurgeResult,
  ReplayInput,
  SettleResult,
  Settlement,
  StorageAdapter,
  StorageStats,
  StoredFlowControl,
  StoredRetryPolicy,
  SubscriptionPatch,
  SubscriptionRecord,
} from '../storage-adapter.js';

interface EventState {
  readonly record: EventRecord;
  /** Live deliveries of the event (a handful: one per matching subscription). */
  deliveries: DeliveryState[];
}

interface SubscriptionState {
  record: SubscriptionRecord;
  /** Every delivery of the subscription, ids ascending. */
  deliveries: DeliveryState[];
  /** Its pending and held deliveries: what enable/disable must visit. */
  readonly open: Set<DeliveryState>;
  /** Its deliveries by status, for `stats` of one subscription. */
  readonly counts: Record<DeliveryStatus, number>;
  /** Its claimable deliveries keyed by (claimable-at, id), stale entries included. */
  claimHeap: ClaimQueue<DeliveryState>;
  /**
   * Bumped whenever its entry in the subscription heap is replaced or dropped: only the
   * entry with the current stamp is live. While `queued`, that entry's (key, tie) is a
   * lower bound of the subscription's head (a head only moves later as deliveries are
   * taken or go stale; a delivery pushed below it re-queues the subscription).
   */
  queueStamp: number;
  queued: boolean;
  queuedKey: number;
  queuedTie: string;
}

interface DeliveryState extends DeliveryRecord {
  leaseToken: string | null;
  /** Replaced, never changed in place: a claim hands out the object itself. */
  history: DeliveryHistory;
  /** Bumped on every change of claimability; a claim-heap entry is live only with the current stamp. */
  claimStamp: number;
  /** Bumped each time the delivery enters `pending`; the same rule for the created-at heap. */
  pendingStamp: number;
  removed: boolean;
  log: AttemptRecord[] | null;
  readonly event: EventState;
  readonly subscription: SubscriptionState;
}

/*
 * The events, deliveries and attempts the storage keeps are made by `new` of these
 * classes, not by object literals. V8 pretenures a literal's allocation site once nearly
 * all it makes survives — what a store does — and from then on allocates it straight into
 * old space, where each fresh page costs the caller a page fault on first touch: one
 * publish in eight took one, ~11 µs each on the bench's VM. Class instances start young
 * and are moved by the scavenger in batches: paired in one process, publish p90 8.5 µs
 * instead of 20, the bare enqueue's p99 5 µs instead of 20, and a claim of 100 plus its
 * settle 220 µs instead of 260 at the median.
 */

class StoredEvent implements EventState {
  deliveries: DeliveryState[] = [];
  constructor(readonly record: EventRecord) {}
}

class StoredEventRecord implements EventRecord {
  readonly id: string;
  readonly type: string;
  readonly timestamp: number;
  readonly payload: string;
  readonly idempotencyKey: string | null;
  constructor(e: EventRecord) {
    this.id = e.id;
    this.type = e.type;
    this.timestamp = e.timestamp;
    this.payload = e.payload;
    this.idempotencyKey = e.idempotencyKey ?? null;
  }
}

class StoredDelivery implements DeliveryState {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly subscriptionId: string;
  status: DeliveryStatus;
  attempts = 0;
  nextAttemptAt: number | null;
  lastAttemptAt: number | null = null;
  lastStatusCode: number | null = null;
  lastError: string | null = null;
  deliveredAt: number | null = null;
  leaseExpiresAt: number | null = null;
  readonly createdAt: number;
  updatedAt: number;
  leaseToken: string | null = null;
  history: DeliveryHistory = emptyDeliveryHistory;
  claimStamp = 0;
  pendingStamp = 0;
  removed = false;
  log: AttemptRecord[] | null = null;
  constructor(
    readonly event: EventState,
    readonly subscription: SubscriptionState,
    id: string,
    status: 'pending' | 'held',
    now: number,
  ) {
    this.id = id;
    this.eventId = event.record.id;
    this.eventType = event.record.type;
    this.subscriptionId = subscription.record.id;
    this.status = status;
    this.nextAttemptAt = status === 'pending' ? now : null;
    this.createdAt = now;
    this.updatedAt = now;
  }
}

class StoredAttempt implements AttemptRecord {
  readonly id: string;
  readonly deliveryId: string;
  readonly attemptNumber: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly statusCode: number | null;
  readonly errorClass: AttemptRecord['errorClass'];
  readonly errorMessage: string | null;
  readonly responseSnippet: string | null;
  readonly outcome: AttemptRecord['outcome'];
  readonly nextAttemptAt: number | null;
  constructor(id: string, deliveryId: string, attemptNumber: number, a: Settlement['attempt'], outcome: Settlement['outcome']) {
    this.id = id;
    this.deliveryId = deliveryId;
    this.attemptNumber = attemptNumber;
    this.startedAt = a.startedAt;
    this.durationMs = a.durationMs;
    this.statusCode = a.statusCode;
    this.errorClass = a.errorClass;
    this.errorMessage = a.errorMessage;
    this.responseSnippet = a.responseSnippet;
    this.outcome = outcome.kind;
    this.nextAttemptAt = outcome.kind === 'retry' ? outcome.nextAttemptAt : null;
  }
}

/**
 * A binary min-heap keyed by (key, tie), with a stamp per entry for lazy invalidation.
 * Parallel arrays rather than an object per entry: with a million entries the
 * per-entry allocation showed in GC time. The tie is stored rather than read off the
 * ref: a subscription's entry is ordered by the id of its head at push time.
 */
class StampedHeap<T> {
  private keys: number[] = [];
  private ties: string[] = [];
  private refs: T[] = [];
  private stamps: number[] = [];

  /** `counter.pops` counts the entries popped (live and stale): what claims actually touched. */
  constructor(private readonly counter: { pops: number }) {}

  get size(): number {
    return this.keys.length;
  }

  topKey(): number {
    return this.keys[0]!;
  }

  topTie(): string {
    return this.ties[0]!;
  }

  topRef(): T {
    return this.refs[0]!;
  }

  topStamp(): number {
    return this.stamps[0]!;
  }

  push(key: number, tie: string, ref: T, stamp: number): void {
    const keys = this.keys;
    const ties = this.ties;
    const refs = this.refs;
    const stamps = this.stamps;
    let i = keys.length;
    keys.push(key);
    ties.push(tie);
    refs.push(ref);
    stamps.push(stamp);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const parentKey = keys[parent]!;
      const parentTie = ties[parent]!;
      if (parentKey < key || (parentKey === key && parentTie <= tie)) break;
      keys[i] = parentKey;
      ties[i] = parentTie;
      refs[i] = refs[parent]!;
      stamps[i] = stamps[parent]!;
      i = parent;
    }
    keys[i] = key;
    ties[i] = tie;
    refs[i] = ref;
    stamps[i] = stamp;
  }

  pop(): void {
    this.counter.pops++;
    const key = this.keys.pop()!;
    const tie = this.ties.pop()!;
    const ref = this.refs.pop()!;
    const stamp = this.stamps.pop()!;
    if (this.keys.length > 0) this.siftDown(0, key, tie, ref, stamp);
  }

  /** Keeps only the entries `live` accepts and restores the heap order in O(n). */
  retain(live: (ref: T, stamp: number) => boolean): void {
    const keys: number[] = [];
    const ties: string[] = [];
    const refs: T[] = [];
    const stamps: number[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      const ref = this.refs[i]!;
      const stamp = this.stamps[i]!;
      if (!live(ref, stamp)) continue;
      keys.push(this.keys[i]!);
      ties.push(this.ties[i]!);
      refs.push(ref);
      stamps.push(stamp);
    }
    this.keys = keys;
    this.ties = ties;
    this.refs = refs;
    this.stamps = stamps;
    for (let i = (keys.length >> 1) - 1; i >= 0; i--) this.siftDown(i, keys[i]!, ties[i]!, refs[i]!, stamps[i]!);
  }

  private siftDown(start: number, key: number, tie: string, ref: T, stamp: number): void {
    const keys = this.keys;
    const ties = this.ties;
    const refs = this.refs;
    const stamps = this.stamps;
    const n = keys.length;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      let child = left;
      const right = left + 1;
      if (right < n) {
        const rk = keys[right]!;
        const lk = keys[left]!;
        if (rk < lk || (rk === lk && ties[right]! < ties[left]!)) child = right;
      }
      const childKey = keys[child]!;
      const childTie = ties[child]!;
      if (key < childKey || (key === childKey && tie <= childTie)) break;
      keys[i] = childKey;
      ties[i] = childTie;
      refs[i] = refs[child]!;
      stamps[i] = stamps[child]!;
      i = child;
    }
    keys[i] = key;
    ties[i] = tie;
    refs[i] = ref;
    stamps[i] = stamp;
  }
}

/**
 * A subscription's claim entries: a sorted run beside a {@link StampedHeap}, the top being
 * the smaller of their heads by (key, tie). Fresh deliveries arrive due at their creation
 * time, with time-sortable ids, so they mostly come in (key, tie) order: such an entry is
 * appended to the run and later popped off its head in O(1), without the ~20 levels of
 * sift-down (and their cache misses) a heap of a million entries costs per pop. Whatever
 * would break the run's order (a retry, a lease, an id out of order) goes to the heap,
 * so the order served is exactly the heap's.
 */
export class ClaimQueue<T> {
  private keys: number[] = [];
  private ties: string[] = [];
  private refs: (T | undefined)[] = [];
  private stamps: number[] = [];
  private head = 0;
  private readonly heap: StampedHeap<T>;

  constructor(private readonly counter: { pops: number }) {
    this.heap = new StampedHeap(counter);
  }

  get size(): number {
    return this.keys.length - this.head + this.heap.size;
  }

  /** True when the top comes from the run. */
  private fromRun(): boolean {
    if (this.head === this.keys.length) return false;
    if (this.heap.size === 0) return true;
    const key = this.keys[this.head]!;
    const heapKey = this.heap.topKey();
    return key < heapKey || (key === heapKey && this.ties[this.head]! <= this.heap.topTie());
  }

  topKey(): number {
    return this.fromRun() ? this.keys[this.head]! : this.heap.topKey();
  }

  topRef(): T {
    return this.fromRun() ? this.refs[this.head]! : this.heap.topRef();
  }

  topStamp(): number {
    return this.fromRun() ? this.stamps[this.head]! : this.heap.topStamp();
  }

  /** `inOrder`: the entry is a fresh one, which may join the run if it keeps the run sorted. */
  push(key: number, tie: string, ref: T, stamp: number, inOrder: boolean): void {
    const last = this.keys.length - 1;
    if (
      inOrder &&
      (last < this.head || key > this.keys[last]! || (key === this.keys[last]! && tie >= this.ties[last]!))
    ) {
      this.keys.push(key);
      this.ties.push(tie);
      this.refs.push(ref);
      this.stamps.push(stamp);
      return;
    }
    this.heap.push(key, tie, ref, stamp);
  }

  pop(): void {
    if (!this.fromRun()) {
      this.heap.pop();
      return;
    }
    this.counter.pops++;
    // Let go of the delivery at once; the slots themselves are reclaimed in bulk.
    this.refs[this.head] = undefined;
    this.head++;
    if (this.head === this.keys.length) {
      this.keys = [];
      this.ties = [];
      this.refs = [];
      this.stamps = [];
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.ties = this.ties.slice(this.head);
      this.refs = this.refs.slice(this.head);
      this.stamps = this.stamps.slice(this.head);
      this.head = 0;
    }
  }

  /** Keeps only the entries `live` accepts, in order. */
  retain(live: (ref: T, stamp: number) => boolean): void {
    const keys: number[] = [];
    const ties: string[] = [];
    const refs: T[] = [];
    const stamps: number[] = [];
    for (let i = this.head; i < this.keys.length; i++) {
      const ref = this.refs[i]!;
      if (!live(ref, this.stamps[i]!)) continue;
      keys.push(this.keys[i]!);
      ties.push(this.ties[i]!);
      refs.push(ref);
      stamps.push(this.stamps[i]!);
    }
    this.keys = keys;
    this.ties = ties;
    this.refs = refs;
    this.stamps = stamps;
    this.head = 0;
    this.heap.retain(live);
  }
}

/** Counters of the memory storage's internals, for its own unit tests and the benchmark. */
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
}

const probes = new WeakMap<StorageAdapter, () => MemoryStorageProbe>();

/**
 * Reads the internal counters of a storage made by {@link createMemoryStorage}; `null` for
 * any other adapter. Not part of the package's public entry.
 *
 * @internal
 */
export function inspectMemoryStorage(storage: StorageAdapter): MemoryStorageProbe | null {
  return probes.get(storage)?.() ?? null;
}

// Heaps are compacted once stale entries outnumber live ones by this margin: rebuilding
// is O(n), so it must not happen more often than every ~n pushes.
const compactionSlack = 1024;
// The same rule per subscription's claim heap, with a margin small enough that many
// subscriptions together hold at most 2 × pending + 64 × subscriptions entries.
const subscriptionCompactionSlack = 64;

/**
 * Creates the in-memory {@link StorageAdapter}: the default storage of `createWebhooks`.
 *
 * Everything is lost when the process exits. It rejects the host's transaction
 * (`ConfigError` `TX_UNSUPPORTED`): there is no database to share one with.
 *
 * @example
 * ```ts
 * const webhooks = createWebhooks({ events, storage: createMemoryStorage() });
 * ```
 */
export function createMemoryStorage(): StorageAdapter {
  let closed = false;
  let subscriptions = new Map<string, SubscriptionState>();
  let subscriptionsById: SubscriptionRecord[] = [];
  let events = new Map<string, EventState>();
  let idempotencyKeys = new Map<string, string>();
  let deliveries = new Map<string, DeliveryState>();
  let deliveriesById: DeliveryState[] = [];
  let byStatus: Record<DeliveryStatus, Set<DeliveryState>> = emptyStatusSets();
  /** Deliveries holding a lease token (pending or held). */
  let leased = new Set<DeliveryState>();
  const claimPops = { pops: 0 };
  const subscriptionPops = { pops: 0 };
  /** Entries of every subscription's claim heap together. */
  let claimEntries = 0;
  /** Subscriptions with claimable deliveries, keyed by (claimable-at, id) of their head. */
  let subscriptionHeap = new StampedHeap<SubscriptionState>(subscriptionPops);
  let createdHeap = new StampedHeap<DeliveryState>({ pops: 0 });

  function assertOpen(): void {
    if (closed) throw new StorageError('STORAGE_CLOSED', 'The memory storage is closed; create a new one.');
  }

  function claimKey(d: DeliveryState): number {
    const due = d.nextAttemptAt!;
    return d.leaseExpiresAt === null ? due : Math.max(due, d.leaseExpiresAt);
  }

  /** Call after any change to a delivery's status, due time or lease. */
  function reschedule(d: DeliveryState): void {
    d.claimStamp++;
    if (d.status !== 'pending') return;
    const sub = d.subscription;
    const heap = sub.claimHeap;
    const key = claimKey(d);
    // A fresh delivery (never attempted, not leased) is due at its creation: in order, mostly.
    heap.push(key, d.id, d, d.claimStamp, d.attempts === 0 && d.leaseExpiresAt === null);
    claimEntries++;
    if (!sub.queued || key < sub.queuedKey || (key === sub.queuedKey && d.id < sub.queuedTie)) queueSubscription(sub, key, d.id);
    if (heap.size > 2 * sub.counts.pending + subscriptionCompactionSlack) {
      claimEntries -= heap.size;
      heap.retain(isClaimEntryLive);
      claimEntries += heap.size;
    }
  }

  /** Replaces the subscription's entry in the subscription heap with one at (key, tie). */
  function queueSubscription(sub: SubscriptionState, key: number, tie: string): void {
    sub.queueStamp++;
    sub.queued = true;
    sub.queuedKey = key;
    sub.queuedTie = tie;
    subscriptionHeap.push(key, tie, sub, sub.queueStamp);
    if (subscriptionHeap.size > 2 * subscriptions.size + compactionSlack) {
      subscriptionHeap.retain((ref, stamp) => ref.queued && ref.queueStamp === stamp);
    }
  }

  function unqueueSubscription(sub: SubscriptionState): void {
    sub.queueStamp++;
    sub.queued = false;
  }

  /** Forgets every claim-heap entry of a subscription that has nothing claimable left (disabled, deleted). */
  function clearClaimHeap(sub: SubscriptionState): void {
    claimEntries -= sub.claimHeap.size;
    sub.claimHeap = new ClaimQueue(claimPops);
    unqueueSubscription(sub);
  }

  /** The subscription's earliest claimable delivery after dropping stale entries off its heap; `null` when none. */
  function liveHead(sub: SubscriptionState): DeliveryState | null {
    const heap = sub.claimHeap;
    while (heap.size > 0) {
      const d = heap.topRef();
      if (d.status === 'pending' && d.claimStamp === heap.topStamp()) return d;
      heap.pop();
      claimEntries--;
    }
    return null;
  }

  /**
   * The subscription holding the earliest claimable delivery of all, its live entry on
   * top of the subscription heap with exactly its head's (key, id); `null` when nothing
   * is pending. An entry below its subscription's real head (the head went stale) is
   * replaced at the real head, so what surfaces is the true minimum.
   */
  function earliestSubscription(): SubscriptionState | null {
    while (subscriptionHeap.size > 0) {
      const sub = subscriptionHeap.topRef();
      if (sub.queueStamp !== subscriptionHeap.topStamp()) {
        subscriptionHeap.pop();
        continue;
      }
      const head = liveHead(sub);
      if (head === null) {
        subscriptionHeap.pop();
        unqueueSubscription(sub);
        continue;
      }
      const key = sub.claimHeap.topKey();
      if (key === subscriptionHeap.topKey() && head.id === subscriptionHeap.topTie()) return sub;
      subscriptionHeap.pop();
      queueSubscription(sub, key, head.id);
    }
    return null;
  }

  function enterPending(d: DeliveryState): void {
    d.pendingStamp++;
    createdHeap.push(d.createdAt, d.id, d, d.pendingStamp);
    if (createdHeap.size > 2 * byStatus.pending.size + compactionSlack) {
      createdHeap.retain((ref, stamp) => ref.status === 'pending' && ref.pendingStamp === stamp);
    }
  }

  function setStatus(d: DeliveryState, next: DeliveryStatus): void {
    const prev = d.status;
    if (prev === next) return;
    byStatus[prev].delete(d);
    byStatus[next].add(d);
    d.subscription.counts[prev]--;
    d.subscription.counts[next]++;
    const isOpen = next === 'pending' || next === 'held';
    if (isOpen) d.subscription.open.add(d);
    else d.subscription.open.delete(d);
    d.status = next;
    if (next === 'pending') enterPending(d);
  }

  function dropLease(d: DeliveryState): void {
    if (d.leaseToken === null) return;
    d.leaseToken = null;
    d.leaseExpiresAt = null;
    leased.delete(d);
  }

  /** Links the delivery to every index but `ev.deliveries`, which the caller fills. */
  function createDelivery(
    ev: EventState,
    sub: SubscriptionState,
    id: string,
    status: 'pending' | 'held',
    now: number,
  ): DeliveryState {
    const d: DeliveryState = new StoredDelivery(ev, sub, id, status, now);
    deliveries.set(id, d);
    insertById(deliveriesById, d);
    insertById(sub.deliveries, d);
    byStatus[status].add(d);
    sub.counts[status]++;
    sub.open.add(d);
    if (status === 'pending') enterPending(d);
    reschedule(d);
    return d;
  }

  /** Checked before any write, so that a failing call leaves nothing half-stored. */
  function assertNewDeliveryIds(ids: string[]): void {
    // The common case, one matching subscription, needs no set of its own.
    const seen = ids.length > 1 ? new Set<string>() : null;
    for (const id of ids) {
      if (typeof id !== 'string' || id === '' || deliveries.has(id) || (seen !== null && seen.has(id))) {
        throw new StorageError('STORAGE_CONFLICT', `Expected a new unique delivery id, got ${describeValue(id)}.`);
      }
      seen?.add(id);
    }
  }

  /** Detaches a delivery from every index but the id-sorted arrays, which the caller rebuilds once per batch. */
  function unlinkDelivery(d: DeliveryState): void {
    deliveries.delete(d.id);
    byStatus[d.status].delete(d);
    d.subscription.counts[d.status]--;
    d.subscription.open.delete(d);
    dropLease(d);
    d.removed = true;
    d.claimStamp++;
    d.pendingStamp++;
  }

  function disableSubscription(sub: SubscriptionState, reason: string | null, now: number): boolean {
    if (sub.record.status === 'disabled') return false;
    sub.record.status = 'disabled';
    sub.record.disabledReason = reason;
    sub.record.disabledAt = now;
    sub.record.updatedAt = now;
    // Leased ones are held too and keep their token: their in-flight attempt may still
    // settle, and a retry then stays held (see settleOne).
    for (const d of sub.open) {
      if (d.status !== 'pending') continue;
      setStatus(d, 'held');
      d.nextAttemptAt = null;
      d.updatedAt = now;
      reschedule(d);
    }
    // Nothing of it is claimable now: drop its stale entries at once rather than lazily.
    clearClaimHeap(sub);
    return true;
  }

  function enableSubscription(sub: SubscriptionState, now: number): void {
    if (sub.record.status === 'active') return;
    sub.record.status = 'active';
    sub.record.disabledReason = null;
    sub.record.disabledAt = null;
    sub.record.updatedAt = now;
    for (const d of sub.open) {
      if (d.status !== 'held') continue;
      setStatus(d, 'pending');
      d.nextAttemptAt = now;
      d.updatedAt = now;
      reschedule(d);
    }
  }

  function settleOne(s: Settlement, now: number): SettleResult {
    const d = deliveries.get(s.deliveryId);
    // A deleted delivery is a lost lease too: there is nothing left to record against.
    if (d === undefined || d.leaseToken === null || d.leaseToken !== s.leaseToken) {
      return { ok: false, deliveryId: s.deliveryId, code: 'STORAGE_LEASE_LOST' };
    }
    const outcome = s.outcome;
    const a = s.attempt;
    d.history = recordAttemptInHistory(d.history, outcome.kind, a.startedAt);
    const attempt: AttemptRecord = new StoredAttempt(flat(a.id), d.id, d.history.attempts, a, outcome);
    if (d.log === null) d.log = [attempt];
    else d.log.push(attempt);
    d.attempts++;
    d.lastAttemptAt = a.startedAt;
    d.lastStatusCode = a.statusCode;
    d.lastError = a.errorMessage;
    d.updatedAt = now;
    dropLease(d);
    const sub = d.subscription.record;
    let subscriptionDisabled = false;
    switch (outcome.kind) {
      case 'delivered':
        setStatus(d, 'delivered');
        d.deliveredAt = now;
        d.nextAttemptAt = null;
        sub.failingSince = null;
        break;
      case 'dead':
        setStatus(d, 'dead');
        d.nextAttemptAt = null;
        sub.failingSince ??= a.startedAt;
        break;
      case 'retry':
        sub.failingSince ??= a.startedAt;
        if (d.subscription.record.status === 'active') {
          setStatus(d, 'pending');
          d.nextAttemptAt = outcome.nextAttemptAt;
        } else {
          setStatus(d, 'held');
          d.nextAttemptAt = null;
        }
        break;
      case 'disable':
        subscriptionDisabled = disableSubscription(d.subscription, outcome.reason, now);
        setStatus(d, 'held');
        d.nextAttemptAt = null;
        break;
    }
    reschedule(d);
    return { ok: true, delivery: copyDelivery(d), subscriptionDisabled, failingSince: sub.failingSince };
  }

  function enqueueNow(input: EnqueueInput): EnqueueResult {
    if (input.tx !== undefined && input.tx !== null) {
      throw new ConfigError(
        'TX_UNSUPPORTED',
        'The memory storage cannot join a host transaction; use the SQLite or PostgreSQL storage for `tx`.',
        { field: 'tx' },
      );
    }
    const event: EventRecord = new StoredEventRecord(input.event);
    flat(event.id);
    const key = event.idempotencyKey;
    if (key !== null) {
      const firstId = idempotencyKeys.get(key);
      const first = firstId === undefined ? undefined : events.get(firstId);
      if (first !== undefined) return { event: copyEvent(first.record), created: false, deliveryCount: 0 };
    }
    if (events.has(event.id)) {
      throw new StorageError('STORAGE_CONFLICT', `Expected a new event id, got ${describeValue(event.id)} which exists.`);
    }
    const targets: SubscriptionState[] = [];
    for (const sub of subscriptions.values()) {
      if (sub.record.status === 'active' && matchesAnyEventType(sub.record.eventTypes, event.type)) targets.push(sub);
    }
    const ids = targets.map(() => flat(newDeliveryId(input.now)));
    assertNewDeliveryIds(ids);
    const ev: EventState = new StoredEvent(event);
    events.set(event.id, ev);
    if (key !== null) idempotencyKeys.set(key, event.id);
    // Built by map, not push: a pushed-to array reserves 17 slots, which a million events pay for.
    ev.deliveries = targets.map((sub, i) => createDelivery(ev, sub, ids[i]!, 'pending', input.now));
    return { event: copyEvent(event), created: true, deliveryCount: targets.length };
  }

  function listDeliveriesNow(query: DeliveryQuery): Page<DeliveryRecord> {
    const limit = assertLimit(query.limit);
    const afterId = query.cursor === undefined ? null : decodeCursor('d', query.cursor);
    const { subscriptionId, eventId, since, until } = query;
    const statuses =
      query.status === undefined ? null : new Set<DeliveryStatus>(typeof query.status === 'string' ? [query.status] : query.status);
    let source: DeliveryState[];
    if (subscriptionId !== undefined) {
      source = subscriptions.get(subscriptionId)?.deliveries ?? [];
    } else if (eventId !== undefined) {
      source = (events.get(eventId)?.deliveries ?? []).slice().sort(compareIds);
    } else if (statuses !== null) {
      // Sorting the k deliveries of those statuses costs k·log k; walking the id order
      // until `limit` of them turn up costs about limit·n/k. Take the cheaper.
      let k = 0;
      for (const status of statuses) k += byStatus[status].size;
      const n = deliveriesById.length;
      if (k * Math.log2(k + 2) < (limit * n) / Math.max(k, 1)) {
        source = [];
        for (const status of statuses) for (const d of byStatus[status]) source.push(d);
        source.sort(compareIds);
      } else {
        source = deliveriesById;
      }
    } else {
      source = deliveriesById;
    }
    const items: DeliveryRecord[] = [];
    let more = false;
    for (let i = afterId === null ? source.length - 1 : lowerBound(source, afterId) - 1; i >= 0; i--) {
      const d = source[i]!;
      if (subscriptionId !== undefined && d.subscriptionId !== subscriptionId) continue;
      if (eventId !== undefined && d.eventId !== eventId) continue;
      if (statuses !== null && !statuses.has(d.status)) continue;
      if (since !== undefined && d.createdAt < since) continue;
      if (until !== undefined && d.createdAt >= until) continue;
      if (items.length === limit) {
        more = true;
        break;
      }
      items.push(copyDelivery(d));
    }
    return { items, nextCursor: more ? encodeCursor('d', items[items.length - 1]!.id) : null };
  }

  function replayNow(input: ReplayInput): { count: number } {
    const sub = subscriptions.get(input.subscriptionId);
    if (sub === undefined) return { count: 0 };
    const until = input.until ?? Number.POSITIVE_INFINITY;
    const requeue: DeliveryState[] = [];
    const missing: EventState[] = [];
    for (const ev of events.values()) {
      const t = ev.record.timestamp;
      if (t < input.since || t >= until) continue;
      const mine = ev.deliveries.find((d) => d.subscription === sub);
      if (mine === undefined) {
        if (matchesAnyEventType(sub.record.eventTypes, ev.record.type)) missing.push(ev);
      } else if (mine.status === 'dead') {
        requeue.push(mine);
      }
    }
    const count = requeue.length + missing.length;
    if (input.dryRun === true) return { count };
    const ids = missing.map(() => flat(newDeliveryId(input.now)));
    assertNewDeliveryIds(ids);
    // Replaying to a disabled subscription queues the work as held: it goes out on enable.
    const status = sub.record.status === 'active' ? 'pending' : 'held';
    const now = input.now;
    for (const d of requeue) {
      setStatus(d, status);
      d.attempts = 0;
      d.nextAttemptAt = status === 'pending' ? now : null;
      d.deliveredAt = null;
      d.updatedAt = now;
      reschedule(d);
    }
    for (let i = 0; i < missing.length; i++) {
      const ev = missing[i]!;
      ev.deliveries = [...ev.deliveries, createDelivery(ev, sub, ids[i]!, status, now)];
    }
    return { count };
  }

  /**
   * Counts of one subscription: O(1) but for the leases (the deliveries in flight) and the
   * oldest pending creation, which visits the subscription's open deliveries — an
   * operator's question, kept off the claim path rather than given a heap of its own.
   */
  function subscriptionStats(id: string, now: number): StorageStats {
    const sub = subscriptions.get(id);
    if (sub === undefined) return { pending: 0, leased: 0, held: 0, dead: 0, delivered: 0, oldestPendingCreatedAt: null };
    let leasedNow = 0;
    for (const d of leased) if (d.subscription === sub && d.status === 'pending' && d.leaseExpiresAt! > now) leasedNow++;
    let oldestPendingCreatedAt: number | null = null;
    if (sub.counts.pending > 0) {
      for (const d of sub.open) {
        if (d.status === 'pending' && (oldestPendingCreatedAt === null || d.createdAt < oldestPendingCreatedAt)) {
          oldestPendingCreatedAt = d.createdAt;
        }
      }
    }
    return {
      pending: sub.counts.pending,
      leased: leasedNow,
      held: sub.counts.held,
      dead: sub.counts.dead,
      delivered: sub.counts.delivered,
      oldestPendingCreatedAt,
    };
  }

  function purgeNow(olderThan: number): PurgeResult {
    const doomed: DeliveryState[] = [];
    for (const d of byStatus.delivered) if (d.updatedAt < olderThan) doomed.push(d);
    for (const d of byStatus.dead) if (d.updatedAt < olderThan) doomed.push(d);
    let attempts = 0;
    const touchedSubs = new Set<SubscriptionState>();
    const touchedEvents = new Set<EventState>();
    for (const d of doomed) {
      attempts += d.log?.length ?? 0;
      unlinkDelivery(d);
      touchedSubs.add(d.subscription);
      touchedEvents.add(d.event);
    }
    if (doomed.length > 0) {
      deliveriesById = deliveriesById.filter(isLive);
      for (const sub of touchedSubs) sub.deliveries = sub.deliveries.filter(isLive);
      for (const ev of touchedEvents) ev.deliveries = ev.deliveries.filter(isLive);
    }
    // An event goes only once no delivery refers to it: a newer final delivery may still
    // be redelivered, and that needs the payload.
    let eventCount = 0;
    for (const [id, ev] of events) {
      if (ev.record.timestamp >= olderThan || ev.deliveries.length > 0) continue;
      events.delete(id);
      const key = ev.record.idempotencyKey;
      if (key !== null && idempotencyKeys.get(key) === id) idempotencyKeys.delete(key);
      eventCount++;
    }
    return { events: eventCount, deliveries: doomed.length, attempts };
  }

  const storage: StorageAdapter = {
    name: 'memory',
    capabilities: Object.freeze({ transactions: false, databaseClock: false }),

    async migrate() {
      assertOpen();
    },

    async close() {
      // Idempotent, so that a harness or host closing twice does not fail.
      if (closed) return;
      closed = true;
      subscriptions = new Map();
      subscriptionsById = [];
      events = new Map();
      idempotencyKeys = new Map();
      deliveries = new Map();
      deliveriesById = [];
      byStatus = emptyStatusSets();
      leased = new Set();
      claimEntries = 0;
      subscriptionHeap = new StampedHeap(subscriptionPops);
      createdHeap = new StampedHeap({ pops: 0 });
    },

    async createSubscription(record) {
      assertOpen();
      if (subscriptions.has(record.id)) {
        throw new StorageError('STORAGE_CONFLICT', `Expected a new subscription id, got ${describeValue(record.id)} which exists.`);
      }
      const sub: SubscriptionState = {
        record: copySubscription(record),
        deliveries: [],
        open: new Set(),
        counts: { pending: 0, held: 0, delivered: 0, dead: 0 },
        claimHeap: new ClaimQueue(claimPops),
        queueStamp: 0,
        queued: false,
        queuedKey: 0,
        queuedTie: '',
      };
      flat(sub.record.id);
      subscriptions.set(record.id, sub);
      insertById(subscriptionsById, sub.record);
      return copySubscription(sub.record);
    },

    async getSubscription(id) {
      assertOpen();
      const sub = subscriptions.get(id);
      return sub === undefined ? null : copySubscription(sub.record);
    },

    async listSubscriptions(query) {
      assertOpen();
      const limit = assertLimit(query.limit);
      const afterId = query.cursor === undefined ? null : decodeCursor('s', query.cursor);
      const items: SubscriptionRecord[] = [];
      let more = false;
      let i = 0;
      if (afterId !== null) {
        i = lowerBound(subscriptionsById, afterId);
        if (subscriptionsById[i]?.id === afterId) i++;
      }
      for (; i < subscriptionsById.length; i++) {
        const record = subscriptionsById[i]!;
        if (query.status !== undefined && record.status !== query.status) continue;
        if (items.length === limit) {
          more = true;
          break;
        }
        items.push(copySubscription(record));
      }
      return { items, nextCursor: more ? encodeCursor('s', items[items.length - 1]!.id) : null };
    },

    async updateSubscription(id, patch, now) {
      assertOpen();
      const sub = subscriptions.get(id);
      if (sub === undefined) return null;
      applyPatch(sub.record, patch);
      sub.record.updatedAt = now;
      return copySubscription(sub.record);
    },

    async setSubscriptionStatus(id, change, now) {
      assertOpen();
      const sub = subscriptions.get(id);
      if (sub === undefined) return null;
      if (change.status === 'disabled') disableSubscription(sub, change.reason ?? null, now);
      else enableSubscription(sub, now);
      return copySubscription(sub.record);
    },

    async deleteSubscription(id) {
      assertOpen();
      const sub = subscriptions.get(id);
      if (sub === undefined) return false;
      const touchedEvents = new Set<EventState>();
      for (const d of sub.deliveries) {
        unlinkDelivery(d);
        touchedEvents.add(d.event);
      }
      if (sub.deliveries.length > 0) {
        deliveriesById = deliveriesById.filter(isLive);
        for (const ev of touchedEvents) ev.deliveries = ev.deliveries.filter(isLive);
      }
      clearClaimHeap(sub);
      subscriptions.delete(id);
      subscriptionsById = subscriptionsById.filter((record) => record !== sub.record);
      return true;
    },

    async enqueue(input) {
      assertOpen();
      return enqueueNow(input);
    },

    async getEvent(id) {
      assertOpen();
      const ev = events.get(id);
      return ev === undefined ? null : copyEvent(ev.record);
    },

    async claimDue({ limit, leaseMs, now, excludeSubscriptionIds }) {
      assertOpen();
      const excluded = excludeSubscriptionIds === undefined || excludeSubscriptionIds.length === 0 ? null : new Set(excludeSubscriptionIds);
      const taken: DeliveryState[] = [];
      // Excluded subscriptions are popped once each and put back after the loop: their
      // backlog is never walked.
      const skipped: SubscriptionState[] = [];
      while (taken.length < limit) {
        const sub = earliestSubscription();
        if (sub === null || subscriptionHeap.topKey() > now) break;
        subscriptionHeap.pop();
        if (excluded !== null && excluded.has(sub.record.id)) {
          skipped.push(sub);
          continue;
        }
        // One delivery at a time: the next one may belong to another subscription.
        taken.push(sub.claimHeap.topRef());
        sub.claimHeap.pop();
        claimEntries--;
        const next = liveHead(sub);
        if (next === null) unqueueSubscription(sub);
        else queueSubscription(sub, sub.claimHeap.topKey(), next.id);
      }
      for (const sub of skipped) queueSubscription(sub, sub.queuedKey, sub.queuedTie);
      // Leases are pushed back only after the loop, so a zero lease cannot hand the
      // same delivery out twice in one batch.
      const claimed: ClaimedDelivery[] = [];
      // One subscription copy per batch: callers may mutate it without touching the
      // stored record, and a batch of 100 for one busy endpoint copies it once, not 100 times.
      const subscriptionCopies = new Map<SubscriptionState, SubscriptionRecord>();
      // One token per claim, as the SQL storages draw: a settle is fenced by (id, token),
      // and every claim of a delivery draws a new one, so a stale holder is refused.
      const token = taken.length === 0 ? '' : randomUUID();
      for (const d of taken) {
        if (d.leaseToken === null) leased.add(d);
        d.leaseToken = token;
        d.leaseExpiresAt = now + leaseMs;
        reschedule(d);
        let subscription = subscriptionCopies.get(d.subscription);
        if (subscription === undefined) {
          subscription = copySubscription(d.subscription.record);
          subscriptionCopies.set(d.subscription, subscription);
        }
        claimed.push({
          delivery: copyDelivery(d),
          history: { ...d.history },
          event: copyEvent(d.event.record),
          subscription,
          leaseToken: d.leaseToken,
        });
      }
      return claimed;
    },

    async settle(settlements, now) {
      assertOpen();
      const results: SettleResult[] = [];
      for (const s of settlements) results.push(settleOne(s, now));
      return results;
    },

    async releaseLeases(leases, now) {
      assertOpen();
      for (const { deliveryId, leaseToken } of leases) {
        const d = deliveries.get(deliveryId);
        if (d === undefined || d.leaseToken === null || d.leaseToken !== leaseToken) continue;
        dropLease(d);
        // Keep an earlier due time: a released delivery keeps its place in line.
        if (d.status === 'pending') d.nextAttemptAt = Math.min(d.nextAttemptAt ?? now, now);
        d.updatedAt = now;
        reschedule(d);
      }
    },

    async nextDueAt() {
      assertOpen();
      return earliestSubscription() === null ? null : subscriptionHeap.topKey();
    },

    async getDelivery(id) {
      assertOpen();
      const d = deliveries.get(id);
      return d === undefined ? null : copyDelivery(d);
    },

    async listDeliveries(query) {
      assertOpen();
      return listDeliveriesNow(query);
    },

    async listAttempts(deliveryId) {
      assertOpen();
      const log = deliveries.get(deliveryId)?.log;
      return log == null ? [] : log.map((a) => ({ ...a }));
    },

    async redeliver(id, now) {
      assertOpen();
      const d = deliveries.get(id);
      if (d === undefined) return 'not_found';
      if (d.status === 'held' || d.subscription.record.status === 'disabled') return 'held';
      if (d.status === 'pending' && d.leaseExpiresAt !== null && d.leaseExpiresAt > now) return 'in_flight';
      // An expired lease is taken over: its worker's late settle then gets STORAGE_LEASE_LOST.
      dropLease(d);
      setStatus(d, 'pending');
      d.attempts = 0;
      d.nextAttemptAt = now;
      d.deliveredAt = null;
      d.updatedAt = now;
      reschedule(d);
      return copyDelivery(d);
    },

    async replay(input) {
      assertOpen();
      return replayNow(input);
    },

    async stats(now, query): Promise<StorageStats> {
      assertOpen();
      if (query?.subscriptionId !== undefined) return subscriptionStats(query.subscriptionId, now);
      // Only deliveries under a lease are visited: as many as are in flight.
      let leasedNow = 0;
      for (const d of leased) if (d.status === 'pending' && d.leaseExpiresAt! > now) leasedNow++;
      let oldestPendingCreatedAt: number | null = null;
      while (createdHeap.size > 0) {
        const d = createdHeap.topRef();
        if (d.status === 'pending' && d.pendingStamp === createdHeap.topStamp()) {
          oldestPendingCreatedAt = createdHeap.topKey();
          break;
        }
        createdHeap.pop();
      }
      return {
        pending: byStatus.pending.size,
        leased: leasedNow,
        held: byStatus.held.size,
        dead: byStatus.dead.size,
        delivered: byStatus.delivered.size,
        oldestPendingCreatedAt,
      };
    },

    async purge({ olderThan }) {
      assertOpen();
      return purgeNow(olderThan);
    },
  };

  probes.set(storage, () => ({
    claimHeapPops: claimPops.pops,
    claimHeapSize: claimEntries,
    subscriptionHeapPops: subscriptionPops.pops,
    subscriptionHeapSize: subscriptionHeap.size,
    createdHeapSize: createdHeap.size,
  }));
  return storage;
}

/**
 * Returns the string flattened in place. Ids built by concatenation are V8 cons-strings
 * (ropes): measured at ~525 bytes per `createId` id against ~60 flat, which at the
 * benchmark's million deliveries was most of the heap. Reading a character flattens them.
 */
function flat(s: string): string {
  if (s.length > 0) s.charCodeAt(0);
  return s;
}

function emptyStatusSets(): Record<DeliveryStatus, Set<DeliveryState>> {
  return { pending: new Set(), held: new Set(), delivered: new Set(), dead: new Set() };
}

function isLive(d: DeliveryState): boolean {
  return !d.removed;
}

function isClaimEntryLive(d: DeliveryState, stamp: number): boolean {
  return d.status === 'pending' && d.claimStamp === stamp;
}

function compareIds(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** First index whose id is ≥ `id` in an array sorted by id. */
function lowerBound(sorted: ReadonlyArray<{ id: string }>, id: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Ids are time-sortable and made in order, so this is an append in all but odd cases. */
function insertById<T extends { id: string }>(sorted: T[], item: T): void {
  const last = sorted[sorted.length - 1];
  if (last === undefined || last.id < item.id) sorted.push(item);
  else sorted.splice(lowerBound(sorted, item.id), 0, item);
}

function assertLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new ValidationError('INPUT_INVALID', `Expected \`limit\` to be an integer ≥ 1, got ${describeValue(limit)}.`, {
      field: 'limit',
    });
  }
  return limit;
}

// A cursor is the last id of the page with a tag for the list it came from, so a
// subscription cursor handed to the delivery log is refused rather than misread.
function encodeCursor(kind: 'd' | 's', id: string): string {
  return Buffer.from(`${kind}:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(kind: 'd' | 's', cursor: string): string {
  if (typeof cursor === 'string' && /^[A-Za-z0-9_-]+$/.test(cursor)) {
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    // Node's base64url decoder skips what it cannot read; the round trip rejects that,
    // and a control character (a stray zero byte from extra input) is never in an id.
    if (
      text.length > 2 &&
      text.startsWith(`${kind}:`) &&
      !/[\u0000-\u001f\u007f\ufffd]/.test(text) &&
      Buffer.from(text, 'utf8').toString('base64url') === cursor
    ) {
      return text.slice(2);
    }
  }
  throw new ValidationError('CURSOR_INVALID', `Expected a cursor from a previous page, got ${describeValue(cursor)}.`, {
    field: 'cursor',
  });
}

function copyEvent(e: EventRecord): EventRecord {
  return { id: e.id, type: e.type, timestamp: e.timestamp, payload: e.payload, idempotencyKey: e.idempotencyKey ?? null };
}

function copyDelivery(d: DeliveryRecord): DeliveryRecord {
  return {
    id: d.id,
    eventId: d.eventId,
    eventType: d.eventType,
    subscriptionId: d.subscriptionId,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.nextAttemptAt,
    lastAttemptAt: d.lastAttemptAt,
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    deliveredAt: d.deliveredAt,
    leaseExpiresAt: d.leaseExpiresAt,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

function copySubscription(s: SubscriptionRecord): SubscriptionRecord {
  return {
    id: s.id,
    url: s.url,
    eventTypes: s.eventTypes.slice(),
    secrets: s.secrets.map((secret) => ({ value: secret.value, createdAt: secret.createdAt, expiresAt: secret.expiresAt })),
    headers: { ...s.headers },
    description: s.description,
    metadata: copyJson(s.metadata) as Record<string, unknown>,
    status: s.status,
    disabledReason: s.disabledReason,
    disabledAt: s.disabledAt,
    retry: copyRetry(s.retry),
    flowControl: copyFlowControl(s.flowControl),
    failingSince: s.failingSince ?? null,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

function copyFlowControl(f: StoredFlowControl | null): StoredFlowControl | null {
  return f === null || f === undefined ? null : { ...f };
}

function copyRetry(r: StoredRetryPolicy | null): StoredRetryPolicy | null {
  if (r === null || r === undefined) return null;
  return 'delaysMs' in r ? { ...r, delaysMs: r.delaysMs.slice() } : { ...r };
}

/** Metadata is JSON-shaped and small: a recursive copy is cheaper than structuredClone. */
function copyJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyJson);
  if (typeof value === 'object' && value !== null) {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = copyJson(v);
    return out;
  }
  return value;
}

function applyPatch(record: SubscriptionRecord, patch: SubscriptionPatch): void {
  if (patch.url !== undefined) record.url = patch.url;
  if (patch.eventTypes !== undefined) record.eventTypes = patch.eventTypes.slice();
  if (patch.secrets !== undefined) {
    record.secrets = patch.secrets.map((s) => ({ value: s.value, createdAt: s.createdAt, expiresAt: s.expiresAt }));
  }
  if (patch.headers !== undefined) record.headers = { ...patch.headers };
  if (patch.description !== undefined) record.description = patch.description;
  if (patch.metadata !== undefined) record.metadata = copyJson(patch.metadata) as Record<string, unknown>;
  if (patch.retry !== undefined) record.retry = copyRetry(patch.retry);
  if (patch.flowControl !== undefined) record.flowControl = copyFlowControl(patch.flowControl);
}

