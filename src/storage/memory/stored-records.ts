/**
 * What the memory storage keeps: an event, a subscription and a delivery with the links
 * and bookkeeping its indexes need. Events, deliveries and attempts are made in
 * record-constructors.ts.
 */
import { ChunkedIdList } from './chunked-id-list.js';
import type { ClaimQueue } from './claim-queue.js';
import type { KeyLine } from './ordering-keys.js';
import type {
  AttemptRecord,
  DeliveryHistory,
  DeliveryRecord,
  DeliveryStatus,
  EventRecord,
  SubscriptionChangeRecord,
  SubscriptionRecord,
} from '../storage-adapter.js';

/** A stored event and its live deliveries. */
export interface EventState {
  /** The record's id: what keeps the lists of events (every one, a tenant's) sorted. */
  readonly id: string;
  readonly record: EventRecord;
  /** Live deliveries of the event (a handful: one per matching subscription). */
  deliveries: DeliveryState[];
  /** True while the event has an entry in the queue of events without deliveries (orphan-events.ts). */
  orphanQueued: boolean;
}

/** A stored subscription, its deliveries, and its place in the claim order (claim-schedule.ts). */
export interface SubscriptionState {
  /** The record's id: what keeps the lists of subscriptions (every one, a tenant's) sorted. */
  readonly id: string;
  record: SubscriptionRecord;
  /** Every delivery of the subscription, ids ascending. */
  readonly deliveries: ChunkedIdList<DeliveryState>;
  /** Its pending and held deliveries: what enable/disable must visit. */
  readonly open: Set<DeliveryState>;
  /** Its deliveries by status, for `stats` of one subscription. */
  readonly counts: Record<DeliveryStatus, number>;
  /** Its change log, ids ascending. */
  changes: SubscriptionChangeRecord[];
  /** Its claimable deliveries keyed by (claimable-at, id), stale entries included. */
  claimHeap: ClaimQueue<DeliveryState>;
  /** Its ordering keys' lines (ordering-keys.ts), made at its first ordered delivery; `null` until then. */
  keyLines: Map<string, KeyLine> | null;
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

/** A stored delivery: the record, its lease, history and attempt log, and the stamps of its index entries. */
export interface DeliveryState extends DeliveryRecord {
  leaseToken: string | null;
  /** Replaced, never changed in place: a claim hands out the object itself. */
  history: DeliveryHistory;
  /** Bumped on every change of claimability; a claim-heap entry is live only with the current stamp. */
  claimStamp: number;
  /**
   * Bumped each time the delivery enters `pending` or a final status, or its `updatedAt`
   * moves in a final one: an entry of the created-at heap or of a final-time queue
   * (status-index.ts) is live only with the current stamp.
   */
  statusStamp: number;
  removed: boolean;
  log: AttemptRecord[] | null;
  readonly event: EventState;
  readonly subscription: SubscriptionState;
}

/** The stored state of a subscription, with nothing claimable yet. */
export function newSubscriptionState(record: SubscriptionRecord, claimHeap: ClaimQueue<DeliveryState>): SubscriptionState {
  return {
    id: record.id,
    record,
    deliveries: new ChunkedIdList(),
    open: new Set(),
    counts: { pending: 0, held: 0, delivered: 0, dead: 0, cancelled: 0 },
    changes: [],
    claimHeap,
    keyLines: null,
    queueStamp: 0,
    queued: false,
    queuedKey: 0,
    queuedTie: '',
  };
}
