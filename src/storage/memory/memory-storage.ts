/**
 * The in-memory storage adapter: the default for tests and development. Same semantics as
 * the durable adapters (the conformance suite checks it), no durability. The rules of what
 * a change does come from storage/shared; this file stores their results in its indexes:
 * - the claim order, in claim-schedule.ts;
 * - the deliveries by status and lease, in status-index.ts;
 * - maps by id, and id-sorted arrays (every subscription; every delivery, and each
 *   subscription's) for the lists and the delivery log, here.
 *
 * It is on the dispatcher's hot path and holds the 1,000,000-delivery backlog of the
 * benchmark, so every per-delivery operation is O(log n) or better.
 */
import { randomUUID } from 'node:crypto';
import { ConfigError, StorageError, ValidationError, describeValue } from '../../errors.js';
import { matchesAnyEventType } from '../../registry/event-type-filter.js';
import { decodeCursor, encodeCursor } from '../shared/cursor.js';
import { recordAttemptInHistory } from '../shared/delivery-history.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import { openDeliveryUpdate } from '../shared/open-deliveries.js';
import { queuedStatus, redeliverVerdict, replayAction, requeuedFields } from '../shared/redelivery.js';
import { failingSinceAfter, settledFields } from '../shared/settlement.js';
import { applySubscriptionPatch, subscriptionStatusChange } from '../shared/subscription-changes.js';
import type {
  ClaimedDelivery,
  DeliveryQuery,
  DeliveryRecord,
  DeliveryStatus,
  EnqueueInput,
  EnqueueResult,
  Page,
  PurgeResult,
  ReplayInput,
  SettleResult,
  Settlement,
  StorageAdapter,
  StorageStats,
  SubscriptionRecord,
  SubscriptionStatus,
} from '../storage-adapter.js';
import { ClaimSchedule } from './claim-schedule.js';
import { registerMemoryStorageProbe } from './memory-storage-probe.js';
import { copyDelivery, copyEvent, copySubscription } from './record-copies.js';
import { compareIds, insertById, lowerBound } from './sorted-by-id.js';
import { StatusIndex } from './status-index.js';
import { storeAttempt, storeDelivery, storeEvent } from './record-constructors.js';
import { newSubscriptionState, type DeliveryState, type EventState, type SubscriptionState } from './stored-records.js';

function isLive(d: DeliveryState): boolean {
  return !d.removed;
}

function assertLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new ValidationError('INPUT_INVALID', `Expected \`limit\` to be an integer ≥ 1, got ${describeValue(limit)}.`, {
      field: 'limit',
    });
  }
  return limit;
}

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
  let statuses = new StatusIndex();
  let schedule = new ClaimSchedule(() => subscriptions.size);

  function assertOpen(): void {
    if (closed) throw new StorageError('STORAGE_CLOSED', 'The memory storage is closed; create a new one.');
  }

  /** Links a new delivery to every index but `ev.deliveries`, which the caller fills. */
  function createDelivery(ev: EventState, sub: SubscriptionState, status: 'pending' | 'held', now: number): DeliveryState {
    const d = storeDelivery(ev, sub, newDeliveryId(now), status, now);
    deliveries.set(d.id, d);
    insertById(deliveriesById, d);
    insertById(sub.deliveries, d);
    statuses.add(d);
    schedule.reschedule(d);
    return d;
  }

  /** Detaches a delivery from every index but the id-sorted arrays, which the caller rebuilds once per batch. */
  function unlinkDelivery(d: DeliveryState): void {
    deliveries.delete(d.id);
    statuses.remove(d);
  }

  /** Starts a fresh attempt cycle for `d` (redeliver, replay), pending or held. */
  function requeue(d: DeliveryState, status: 'pending' | 'held', now: number): void {
    const fields = requeuedFields(status, now);
    statuses.dropLease(d);
    statuses.setStatus(d, fields.status);
    d.attempts = fields.attempts;
    d.nextAttemptAt = fields.nextAttemptAt;
    d.deliveredAt = fields.deliveredAt;
    d.updatedAt = fields.updatedAt;
    schedule.reschedule(d);
  }

  /** Applies a status change by the shared rule; `false` when the subscription was in that status already. */
  function changeSubscriptionStatus(sub: SubscriptionState, change: { status: SubscriptionStatus; reason?: string | null }, now: number): boolean {
    const next = subscriptionStatusChange(sub.record, change, now);
    if (next === null) return false;
    Object.assign(sub.record, next.fields);
    // Leased deliveries are held too and keep their token: their in-flight attempt may
    // still settle, and a retry then stays held (see settleOne).
    const { from, fields } = openDeliveryUpdate(next.deliveries, now);
    for (const d of sub.open) {
      if (d.status !== from) continue;
      statuses.setStatus(d, fields.status);
      d.nextAttemptAt = fields.nextAttemptAt;
      d.updatedAt = fields.updatedAt;
      schedule.reschedule(d);
    }
    // Nothing of a held subscription is claimable: drop its stale entries at once rather than lazily.
    if (next.deliveries === 'hold') schedule.clear(sub);
    return true;
  }

  function settleOne(s: Settlement, now: number): SettleResult {
    const d = deliveries.get(s.deliveryId);
    // A deleted delivery is a lost lease too: there is nothing left to record against.
    if (d === undefined || d.leaseToken === null || d.leaseToken !== s.leaseToken) {
      return { ok: false, deliveryId: s.deliveryId, code: 'STORAGE_LEASE_LOST' };
    }
    const { outcome, attempt: a } = s;
    const sub = d.subscription;
    d.history = recordAttemptInHistory(d.history, outcome.kind, a.startedAt);
    const attempt = storeAttempt(d.id, d.history.attempts, a, outcome);
    if (d.log === null) d.log = [attempt];
    else d.log.push(attempt);
    d.attempts++;
    d.lastAttemptAt = a.startedAt;
    d.lastStatusCode = a.statusCode;
    d.lastError = a.errorMessage;
    d.updatedAt = now;
    statuses.dropLease(d);
    const fields = settledFields(outcome, sub.record.status === 'active', now);
    const subscriptionDisabled = outcome.kind === 'disable' && changeSubscriptionStatus(sub, { status: 'disabled', reason: outcome.reason }, now);
    statuses.setStatus(d, fields.status);
    d.nextAttemptAt = fields.nextAttemptAt;
    d.deliveredAt = fields.deliveredAt;
    sub.record.failingSince = failingSinceAfter(sub.record.failingSince ?? null, outcome.kind, a.startedAt);
    schedule.reschedule(d);
    return { ok: true, delivery: copyDelivery(d), subscriptionDisabled, failingSince: sub.record.failingSince };
  }

  function enqueueNow(input: EnqueueInput): EnqueueResult {
    if (input.tx !== undefined && input.tx !== null) {
      throw new ConfigError(
        'TX_UNSUPPORTED',
        'The memory storage cannot join a host transaction; use the SQLite or PostgreSQL storage for `tx`.',
        { field: 'tx' },
      );
    }
    const { id, type, idempotencyKey: key = null } = input.event;
    if (key !== null) {
      const firstId = idempotencyKeys.get(key);
      const first = firstId === undefined ? undefined : events.get(firstId);
      if (first !== undefined) return { event: copyEvent(first.record), created: false, deliveryCount: 0 };
    }
    if (events.has(id)) {
      throw new StorageError('STORAGE_CONFLICT', `Expected a new event id, got ${describeValue(id)} which exists.`);
    }
    const targets: SubscriptionState[] = [];
    for (const sub of subscriptions.values()) {
      if (sub.record.status === 'active' && matchesAnyEventType(sub.record.eventTypes, type)) targets.push(sub);
    }
    const ev = storeEvent(input.event);
    events.set(id, ev);
    if (key !== null) idempotencyKeys.set(key, id);
    // Built by map, not push: an array grown by push reserves 17 slots, which every stored event would keep.
    ev.deliveries = targets.map((sub) => createDelivery(ev, sub, 'pending', input.now));
    return { event: copyEvent(ev.record), created: true, deliveryCount: ev.deliveries.length };
  }

  function listDeliveriesNow(query: DeliveryQuery): Page<DeliveryRecord> {
    const limit = assertLimit(query.limit);
    const afterId = query.cursor === undefined ? null : decodeCursor('deliveries', query.cursor);
    const { subscriptionId, eventId, since, until } = query;
    const wanted =
      query.status === undefined ? null : new Set<DeliveryStatus>(typeof query.status === 'string' ? [query.status] : query.status);
    let source: DeliveryState[];
    if (subscriptionId !== undefined) {
      source = subscriptions.get(subscriptionId)?.deliveries ?? [];
    } else if (eventId !== undefined) {
      source = (events.get(eventId)?.deliveries ?? []).slice().sort(compareIds);
    } else if (wanted !== null) {
      // Sorting the k deliveries of those statuses costs k·log k; walking the id order
      // until `limit` of them turn up costs about limit·n/k. Take the cheaper.
      let k = 0;
      for (const status of wanted) k += statuses.count(status);
      const n = deliveriesById.length;
      if (k * Math.log2(k + 2) < (limit * n) / Math.max(k, 1)) {
        source = [];
        for (const status of wanted) for (const d of statuses.inStatus(status)) source.push(d);
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
      if (wanted !== null && !wanted.has(d.status)) continue;
      if (since !== undefined && d.createdAt < since) continue;
      if (until !== undefined && d.createdAt >= until) continue;
      if (items.length === limit) {
        more = true;
        break;
      }
      items.push(copyDelivery(d));
    }
    return { items, nextCursor: more ? encodeCursor('deliveries', items[items.length - 1]!.id) : null };
  }

  function replayNow(input: ReplayInput): { count: number } {
    const sub = subscriptions.get(input.subscriptionId);
    if (sub === undefined) return { count: 0 };
    const until = input.until ?? Number.POSITIVE_INFINITY;
    const types = new Set(input.eventTypes);
    const requeued: DeliveryState[] = [];
    const missing: EventState[] = [];
    for (const ev of events.values()) {
      const t = ev.record.timestamp;
      if (t < input.since || t >= until || !types.has(ev.record.type)) continue;
      const mine = ev.deliveries.find((d) => d.subscription === sub);
      const action = replayAction(mine?.status ?? null);
      if (action === 'create') missing.push(ev);
      else if (action === 'requeue') requeued.push(mine!);
    }
    const count = requeued.length + missing.length;
    if (input.dryRun === true) return { count };
    const status = queuedStatus(sub.record.status === 'active');
    for (const d of requeued) requeue(d, status, input.now);
    for (const ev of missing) ev.deliveries = [...ev.deliveries, createDelivery(ev, sub, status, input.now)];
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
      leased: statuses.leasedCount(now, id),
      held: sub.counts.held,
      dead: sub.counts.dead,
      delivered: sub.counts.delivered,
      oldestPendingCreatedAt,
    };
  }

  function purgeNow(olderThan: number): PurgeResult {
    const doomed: DeliveryState[] = [];
    for (const d of statuses.inStatus('delivered')) if (d.updatedAt < olderThan) doomed.push(d);
    for (const d of statuses.inStatus('dead')) if (d.updatedAt < olderThan) doomed.push(d);
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
      statuses = new StatusIndex();
      schedule = new ClaimSchedule(() => subscriptions.size);
    },

    async createSubscription(record) {
      assertOpen();
      if (subscriptions.has(record.id)) {
        throw new StorageError('STORAGE_CONFLICT', `Expected a new subscription id, got ${describeValue(record.id)} which exists.`);
      }
      const sub = newSubscriptionState(copySubscription(record), schedule.newQueue());
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
      const afterId = query.cursor === undefined ? null : decodeCursor('subscriptions', query.cursor);
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
      return { items, nextCursor: more ? encodeCursor('subscriptions', items[items.length - 1]!.id) : null };
    },

    async updateSubscription(id, patch, now) {
      assertOpen();
      const sub = subscriptions.get(id);
      if (sub === undefined) return null;
      // In place: the record is also an entry of `subscriptionsById`.
      Object.assign(sub.record, applySubscriptionPatch(sub.record, patch, now));
      return copySubscription(sub.record);
    },

    async setSubscriptionStatus(id, change, now) {
      assertOpen();
      const sub = subscriptions.get(id);
      if (sub === undefined) return null;
      changeSubscriptionStatus(sub, change, now);
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
      schedule.clear(sub);
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
      const taken = schedule.take(limit, now, excluded);
      // Leases are given only after the whole batch is taken, so a zero lease cannot hand
      // the same delivery out twice in one batch.
      const claimed: ClaimedDelivery[] = [];
      // One subscription copy per batch: callers may mutate it without touching the
      // stored record, and a batch of 100 for one busy endpoint copies it once, not 100 times.
      const subscriptionCopies = new Map<SubscriptionState, SubscriptionRecord>();
      // One token per claim, as the SQL storages draw: a settle is fenced by (id, token),
      // and every claim of a delivery draws a new one, so a stale holder is refused.
      const token = taken.length === 0 ? '' : randomUUID();
      for (const d of taken) {
        statuses.lease(d, token, now + leaseMs);
        schedule.reschedule(d);
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
          leaseToken: token,
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
        statuses.dropLease(d);
        // Keep an earlier due time: a released delivery keeps its place in line.
        if (d.status === 'pending') d.nextAttemptAt = Math.min(d.nextAttemptAt ?? now, now);
        d.updatedAt = now;
        schedule.reschedule(d);
      }
    },

    async nextDueAt() {
      assertOpen();
      return schedule.nextDueAt();
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
      const leaseLive = d.leaseExpiresAt !== null && d.leaseExpiresAt > now;
      const verdict = redeliverVerdict(d.status, d.subscription.record.status === 'active', leaseLive);
      if (verdict !== 'requeue') return verdict;
      // An expired lease is taken over: its worker's late settle then gets STORAGE_LEASE_LOST.
      requeue(d, 'pending', now);
      return copyDelivery(d);
    },

    async replay(input) {
      assertOpen();
      return replayNow(input);
    },

    async stats(now, query): Promise<StorageStats> {
      assertOpen();
      if (query?.subscriptionId !== undefined) return subscriptionStats(query.subscriptionId, now);
      return {
        pending: statuses.count('pending'),
        leased: statuses.leasedCount(now),
        held: statuses.count('held'),
        dead: statuses.count('dead'),
        delivered: statuses.count('delivered'),
        oldestPendingCreatedAt: statuses.oldestPendingCreatedAt(),
      };
    },

    async purge({ olderThan }) {
      assertOpen();
      return purgeNow(olderThan);
    },
  };

  registerMemoryStorageProbe(storage, () => ({ ...schedule.counters(), createdHeapSize: statuses.createdHeapSize }));
  return storage;
}
