/**
 * The in-memory storage adapter: the default for tests and development. Same semantics as
 * the durable adapters (the conformance suite checks it), no durability. The rules of what
 * a change does come from storage/shared; this file stores their results in its indexes:
 * - the claim order, in claim-schedule.ts;
 * - the deliveries by status and lease, and the final ones by when they became final (what
 *   retention takes the oldest of), in status-index.ts;
 * - the events no delivery is left of, oldest first (what retention removes), in
 *   orphan-events.ts;
 * - the subscriptions and events by tenant (fan-out, tenant-scoped reads, a tenant's
 *   removal), in tenant-index.ts;
 * - the subscriptions' test logs, in test-attempt-log.ts;
 * - maps by id, and id-sorted lists (every subscription; every event and every delivery,
 *   and each subscription's, chunked: chunked-id-list.ts; each subscription's change log)
 *   for the lists and the logs, here.
 *
 * It is on the dispatcher's hot path and holds the 1,000,000-delivery backlog of the
 * benchmark, so every per-delivery operation is O(log n) or better, and a retention batch
 * costs its size, not the log's.
 */
import { randomUUID } from 'node:crypto';
import { ConfigError, StorageError, ValidationError, describeValue } from '../../errors.js';
import { cancellableStatuses, changeRecord, dispatcherDisableRecord, softDeletedFields, type NewChangeRecord } from '../shared/change-log.js';
import { decodeCursor, decodeSequenceCursor, encodeCursor, encodeSequenceCursor } from '../shared/cursor.js';
import { recordAttemptInHistory } from '../shared/delivery-history.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import { assertExpungeIds } from '../shared/expunge-ids.js';
import { openDeliveryUpdate } from '../shared/open-deliveries.js';
import { thrownByHostCallback } from '../shared/host-callbacks.js';
import { enqueuePayload, rendersPayloads, replayCreatesNothing, replayPayload } from '../shared/delivery-payloads.js';
import { enqueueAccepts, replayAccepts, replayRefusesAll } from '../shared/payload-filters.js';
import { compareReplayOrder, queuedStatus, redeliverVerdict, replayable, replayAction, requeuedFields } from '../shared/redelivery.js';
import { failingSinceAfter, keepsResponseSnippet, settledFields, settledLastError } from '../shared/settlement.js';
import { blocksKey, dueAfterCancelledHead, dueOnEnable, passesOnDeath } from '../shared/ordering.js';
import { applySubscriptionPatch, subscriptionStatusChange, type SubscriptionStatusChange } from '../shared/subscription-changes.js';
import { checkPurgeInput, checkPurgeRetentionInput, oldestOfStatuses, retentionCutoffs, testAttemptCutoffs, type RetentionCandidate } from '../shared/retention.js';
import { idempotencyScope, receivesTenant, tenantLimitReached, tenantPurgeSteps } from '../shared/tenancy.js';
import {
  CANCELLED_BY_DELETE,
  CANCELLED_BY_EXPUNGE,
  type BlockedKey,
  type BlockedKeyQuery,
  type ChangeAudit,
  type ClaimedDelivery,
  type DeliveryQuery,
  type DeliveryRecord,
  type DeliveryStatus,
  type EnqueueInput,
  type EnqueueResult,
  type EventQuery,
  type EventRecord,
  type ExpungeResult,
  type Page,
  type PurgeResult,
  type PurgeRetentionInput,
  type PurgeRetentionResult,
  type PurgeTenantInput,
  type PurgeTenantResult,
  type ReplayInput,
  type SettleResult,
  type Settlement,
  type StorageAdapter,
  type StorageStats,
  type SubscriptionChangeQuery,
  type SubscriptionChangeRecord,
  type SubscriptionRecord,
  type SubscriptionStatus,
  type TestAttemptRecord,
} from '../storage-adapter.js';
import { ChunkedIdList } from './chunked-id-list.js';
import { ClaimSchedule, type ClaimExclusions } from './claim-schedule.js';
import { registerMemoryStorageProbe } from './memory-storage-probe.js';
import { copyChange, copyDelivery, copyEvent, copySubscription } from './record-copies.js';
import { OrphanEvents } from './orphan-events.js';
import { KeyLine } from './ordering-keys.js';
import { compareIds, insertById, lowerBound, newestFirst, sortedArray, type IdOrder } from './sorted-by-id.js';
import { StatusIndex, type FinalStatus } from './status-index.js';
import { storeAttempt, storeDelivery, storeEvent } from './record-constructors.js';
import { newSubscriptionState, type DeliveryState, type EventState, type SubscriptionState } from './stored-records.js';
import { TenantIndex, type TenantShare } from './tenant-index.js';
import { TestAttemptLog } from './test-attempt-log.js';

const emptyStats: Readonly<StorageStats> = Object.freeze({
  pending: 0,
  leased: 0,
  waiting: 0,
  held: 0,
  dead: 0,
  delivered: 0,
  cancelled: 0,
  oldestPendingCreatedAt: null,
});

const cancellable: ReadonlySet<DeliveryStatus> = new Set(cancellableStatuses);
const finalStatuses: readonly FinalStatus[] = ['delivered', 'dead', 'cancelled'];

function isLive(d: DeliveryState): boolean {
  return !d.removed;
}

/**
 * The key of an idempotency key in the index: unique per tenant, by the shared scope (which,
 * holding no control character, cannot run into the separator).
 */
function idempotencyIndexKey(tenantId: string | null, key: string): string {
  return `${idempotencyScope(tenantId)}\u0000${key}`;
}

function toSet(ids: readonly string[] | undefined): ReadonlySet<string> | null {
  return ids === undefined || ids.length === 0 ? null : new Set(ids);
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
  let subscriptionsById: SubscriptionState[] = [];
  let tenants = new TenantIndex();
  let events = new Map<string, EventState>();
  let eventsById = new ChunkedIdList<EventState>();
  let orphans = new OrphanEvents(events);
  let idempotencyKeys = new Map<string, string>();
  let deliveries = new Map<string, DeliveryState>();
  // The payloads of the deliveries that have their own (rendered at fan-out): beside
  // them rather than a field of each, so a delivery that sends its event's payload costs no
  // slot more, and a removed delivery's payload goes with it.
  const ownPayloads = new WeakMap<DeliveryState, string>();
  let deliveriesById = new ChunkedIdList<DeliveryState>();
  /** The subscriptions that have ordering keys (a line each): what `stats` walks for the waiting count. */
  let orderedSubscriptions = new Set<SubscriptionState>();
  let statuses = new StatusIndex();
  let schedule = new ClaimSchedule(() => subscriptions.size);
  /** Every change record by id; each subscription keeps its own, in order. */
  let changeLog = new Map<string, SubscriptionChangeRecord>();
  let testLog = new TestAttemptLog();

  function assertOpen(): void {
    if (closed) throw new StorageError('STORAGE_CLOSED', 'The memory storage is closed; create a new one.');
  }

  /**
   * Refuses a change whose record id is in the log, before anything of the change is written:
   * what the durable adapters' primary key does, rolling the change back with its record.
   */
  function assertNewChange(audit: ChangeAudit | undefined): void {
    if (audit !== undefined && changeLog.has(audit.id)) {
      throw new StorageError('STORAGE_CONFLICT', `Expected a new change id, got ${describeValue(audit.id)} which is in the change log.`);
    }
  }

  /** Appends a record to its subscription's log, numbered after the last (memory applies changes one at a time). */
  function appendChange(sub: SubscriptionState, change: NewChangeRecord): void {
    const record: SubscriptionChangeRecord = { ...change, sequence: sub.changes.length + 1 };
    changeLog.set(record.id, record);
    sub.changes.push(record);
  }

  /** Cancels an open delivery (soft delete, expunge); its lease stays, so an attempt in flight still settles. */
  function cancelDelivery(d: DeliveryState, reason: string, now: number): void {
    statuses.setStatus(d, 'cancelled', now);
    d.nextAttemptAt = null;
    d.lastError = reason;
    schedule.reschedule(d);
  }

  /**
   * Links a new delivery to every index but `ev.deliveries`, which the caller fills; with
   * `payload` (rendered for its subscription's transform or version pin) that is what it sends.
   */
  function createDelivery(ev: EventState, sub: SubscriptionState, status: 'pending' | 'held', now: number, payload: string | null = null): DeliveryState {
    const d = storeDelivery(ev, sub, newDeliveryId(now), status, now);
    const key = ev.record.orderingKey;
    // Not the head of its key: it waits, with no due time, until the head passes.
    if (key !== null && !keyLine(sub, key).append(d)) d.nextAttemptAt = null;
    if (payload !== null) ownPayloads.set(d, payload);
    deliveries.set(d.id, d);
    deliveriesById.insert(d);
    sub.deliveries.insert(d);
    statuses.add(d);
    schedule.reschedule(d);
    return d;
  }

  /**
   * Removes deliveries with their attempts from every index, each id-sorted list once for
   * the batch; an event left without a delivery becomes an orphan. Returns how many
   * attempts went with them. With `headsPassAt`, a removed head of an ordering key passes
   * (the next of its key is due then); retention and a subscription's removal need not.
   */
  function removeDeliveries(doomed: readonly DeliveryState[], headsPassAt?: number): number {
    if (doomed.length === 0) return 0;
    let attempts = 0;
    const bySubscription = new Map<SubscriptionState, DeliveryState[]>();
    const touchedEvents = new Set<EventState>();
    for (const d of doomed) {
      attempts += d.log?.length ?? 0;
      deliveries.delete(d.id);
      statuses.remove(d);
      const theirs = bySubscription.get(d.subscription);
      if (theirs === undefined) bySubscription.set(d.subscription, [d]);
      else theirs.push(d);
      touchedEvents.add(d.event);
    }
    deliveriesById.removeAll(doomed);
    for (const [sub, theirs] of bySubscription) sub.deliveries.removeAll(theirs);
    // A removed head passes (a tenant's removal takes an all-tenant consumer's deliveries of
    // its events): the consumer's next delivery of the key, another tenant's, goes on.
    if (headsPassAt !== undefined) for (const d of doomed) if (lineOf(d)?.isHead(d) === true) passHead(d, headsPassAt);
    for (const ev of touchedEvents) {
      ev.deliveries = ev.deliveries.filter(isLive);
      if (ev.deliveries.length === 0) orphans.add(ev);
    }
    return attempts;
  }

  /** Removes subscriptions that have no deliveries left (the caller removed them), with their change logs and test logs. */
  function removeSubscriptions(doomed: readonly SubscriptionState[]): void {
    if (doomed.length === 0) return;
    for (const sub of doomed) {
      schedule.clear(sub);
      orderedSubscriptions.delete(sub);
      subscriptions.delete(sub.id);
      for (const change of sub.changes) changeLog.delete(change.id);
      testLog.removeSubscription(sub.id);
    }
    const gone = new Set(doomed);
    tenants.removeSubscriptions(gone);
    subscriptionsById = subscriptionsById.filter((s) => !gone.has(s));
  }

  /** Removes events whose deliveries are gone, with their idempotency keys and their place in their tenant's list. */
  function removeEvents(doomed: readonly EventState[]): void {
    if (doomed.length === 0) return;
    const byTenant = new Map<string | null, EventState[]>();
    for (const ev of doomed) {
      const { id, idempotencyKey: key, tenantId } = ev.record;
      events.delete(id);
      if (key !== null) {
        const indexKey = idempotencyIndexKey(tenantId, key);
        if (idempotencyKeys.get(indexKey) === id) idempotencyKeys.delete(indexKey);
      }
      const theirs = byTenant.get(tenantId);
      if (theirs === undefined) byTenant.set(tenantId, [ev]);
      else theirs.push(ev);
    }
    eventsById.removeAll(doomed);
    for (const [tenantId, theirs] of byTenant) tenants.dropEvents(tenantId, theirs);
    orphans.compactIfStale();
  }

  /** The line of `key` of `sub`, made at its first delivery. */
  function keyLine(sub: SubscriptionState, key: string): KeyLine {
    if (sub.keyLines === null) {
      sub.keyLines = new Map();
      orderedSubscriptions.add(sub);
    }
    let line = sub.keyLines.get(key);
    if (line === undefined) {
      line = new KeyLine();
      sub.keyLines.set(key, line);
    }
    return line;
  }

  /** The line of `d`'s key; `null` for an unordered delivery. */
  function lineOf(d: DeliveryState): KeyLine | null {
    const key = d.orderingKey;
    return key === null ? null : (d.subscription.keyLines?.get(key) ?? null);
  }

  /** True when `d` waits behind its key's head (a later number than the head's): the rule of dueOnEnable. */
  function waitsBehindHead(d: DeliveryState): boolean {
    return !dueOnEnable(d, lineOf(d)?.headSeq ?? null);
  }

  /** True when `d` blocks its key (blocksKey: a dead head, its subscription not deleted): retention keeps it. */
  function blocksItsKey(d: DeliveryState): boolean {
    const line = lineOf(d);
    return line !== null && blocksKey(d, line, d.subscription.record);
  }

  /** `d` (its key's head) passed: the next of its key becomes the head, due at `dueAt` (`now` unless told) if pending. */
  function passHead(d: DeliveryState, now: number, dueAt = now): void {
    const next = lineOf(d)!.advance();
    if (next === null || next.status !== 'pending') return;
    next.nextAttemptAt = dueAt;
    schedule.reschedule(next);
  }

  /** Starts a fresh attempt cycle for `d` (redeliver, replay), pending or held. */
  function requeue(d: DeliveryState, status: 'pending' | 'held', now: number): void {
    const fields = requeuedFields(status, now);
    statuses.dropLease(d);
    statuses.setStatus(d, fields.status, fields.updatedAt);
    d.attempts = fields.attempts;
    // A delivery waiting behind its key's head keeps waiting, with its fresh cycle.
    d.nextAttemptAt = fields.nextAttemptAt !== null && waitsBehindHead(d) ? null : fields.nextAttemptAt;
    d.deliveredAt = fields.deliveredAt;
    schedule.reschedule(d);
  }

  /** Applies a status change that the shared rule (subscriptionStatusChange) made. */
  function applyStatusChange(sub: SubscriptionState, next: SubscriptionStatusChange, now: number): void {
    Object.assign(sub.record, next.fields);
    // Leased deliveries are held too and keep their token: their in-flight attempt may
    // still settle, and a retry then stays held (see settleOne).
    const { from, fields } = openDeliveryUpdate(next.deliveries, now);
    for (const d of sub.open) {
      if (d.status !== from) continue;
      statuses.setStatus(d, fields.status, fields.updatedAt);
      // Enabled: one waiting behind its key's head goes on waiting (dueOnEnable).
      d.nextAttemptAt = fields.nextAttemptAt !== null && waitsBehindHead(d) ? null : fields.nextAttemptAt;
      schedule.reschedule(d);
    }
    // Nothing of a held subscription is claimable: drop its stale entries at once rather than lazily.
    if (next.deliveries === 'hold') schedule.clear(sub);
  }

  /** `setSubscriptionStatus`, synchronously: `replay` with `activate` runs it in the replay's turn. */
  function setStatusNow(id: string, change: { status: SubscriptionStatus; reason?: string | null }, now: number, audit: ChangeAudit | undefined): SubscriptionRecord | null {
    const sub = subscriptions.get(id);
    if (sub === undefined) return null;
    if (sub.record.deletedAt !== null) return copySubscription(sub.record);
    const next = subscriptionStatusChange(sub.record, change, now);
    if (next === null) return copySubscription(sub.record);
    assertNewChange(audit);
    const before = audit === undefined ? null : copySubscription(sub.record);
    applyStatusChange(sub, next, now);
    if (audit !== undefined) appendChange(sub, changeRecord(audit, before, sub.record, now));
    return copySubscription(sub.record);
  }

  /**
   * Disables the subscription for a `disable` settle, by the usual rule, and writes the
   * dispatcher's change record when it did; `false` when it was disabled already.
   */
  function disableBySettle(sub: SubscriptionState, reason: string, now: number): boolean {
    const next = subscriptionStatusChange(sub.record, { status: 'disabled', reason }, now);
    if (next === null) return false;
    const before = copySubscription(sub.record);
    applyStatusChange(sub, next, now);
    appendChange(sub, dispatcherDisableRecord(before, sub.record, now));
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
    // Cancelled while its attempt was in flight (soft delete, expunge): see settlement.ts.
    const cancelled = d.status === 'cancelled';
    d.history = recordAttemptInHistory(d.history, outcome.kind, a.startedAt);
    const attempt = storeAttempt(d.id, d.history.attempts, a, outcome, keepsResponseSnippet(cancelled) ? a.responseSnippet : null);
    if (d.log === null) d.log = [attempt];
    else d.log.push(attempt);
    const fields = settledFields(outcome, sub.record.status === 'active', now, cancelled);
    d.attempts++;
    d.lastAttemptAt = a.startedAt;
    d.lastStatusCode = a.statusCode;
    d.lastError = settledLastError(fields.status, a.errorMessage, d.lastError);
    statuses.dropLease(d);
    const subscriptionDisabled = outcome.kind === 'disable' && disableBySettle(sub, outcome.reason, now);
    // A cancelled delivery stays cancelled, its final time moved to now.
    statuses.setStatus(d, fields.status, now);
    d.nextAttemptAt = fields.nextAttemptAt;
    d.deliveredAt = fields.deliveredAt;
    sub.record.failingSince = failingSinceAfter(sub.record.failingSince ?? null, outcome.kind, a.startedAt, a.errorClass);
    schedule.reschedule(d);
    if (headPasses(d, fields.status)) passHead(d, now);
    return { ok: true, delivery: copyDelivery(d), subscriptionDisabled, failingSince: sub.record.failingSince };
  }

  /** True when settling `d` into `status` lets its key move on: it is the head, and delivered, or dead under `skip`. */
  function headPasses(d: DeliveryState, status: DeliveryStatus): boolean {
    if (d.orderingSequence === null || lineOf(d)?.isHead(d) !== true) return false;
    return status === 'delivered' || (status === 'dead' && passesOnDeath(d.subscription.record));
  }

  /** The receivers a publish creates deliveries for: those without a filter and those whose filter the callback accepts. */
  function withFilterVerdicts(receivers: SubscriptionState[], input: EnqueueInput): SubscriptionState[] {
    // The common case, no filtered receiver, keeps the list as it is.
    if (receivers.every((sub) => sub.record.filter === null)) return receivers;
    return receivers.filter((sub) => enqueueAccepts(input, sub.record.filter, sub.record.id));
  }

  /**
   * The receivers a publish creates deliveries for, with their payloads (`null`: the event's):
   * a receiver with a transform or version pins gets what `render` returns, or no delivery
   * without it. `payloads` is `null` when no receiver has either, the common case, which
   * keeps the list.
   */
  function withPayloads(receivers: SubscriptionState[], input: EnqueueInput): { receivers: SubscriptionState[]; payloads: Array<string | null> | null } {
    if (!receivers.some((sub) => rendersPayloads(sub.record))) return { receivers, payloads: null };
    const kept: SubscriptionState[] = [];
    const payloads: Array<string | null> = [];
    for (const sub of receivers) {
      // The callback gets a copy: it cannot change the stored subscription.
      const payload = rendersPayloads(sub.record) ? enqueuePayload(input, copySubscription(sub.record)) : null;
      if (payload === undefined) continue;
      kept.push(sub);
      payloads.push(payload);
    }
    return { receivers: kept, payloads };
  }

  function enqueueNow(input: EnqueueInput): EnqueueResult {
    if (input.tx !== undefined && input.tx !== null) {
      throw new ConfigError(
        'TX_UNSUPPORTED',
        'The memory storage cannot join a host transaction; use the SQLite or PostgreSQL storage for `tx`.',
        { field: 'tx' },
      );
    }
    const { id, type, idempotencyKey: key = null, tenantId = null } = input.event;
    const indexKey = key === null ? null : idempotencyIndexKey(tenantId, key);
    if (indexKey !== null) {
      const firstId = idempotencyKeys.get(indexKey);
      const first = firstId === undefined ? undefined : events.get(firstId);
      if (first !== undefined) return { event: copyEvent(first.record), created: false, deliveryCount: 0 };
    }
    if (events.has(id)) {
      throw new StorageError('STORAGE_CONFLICT', `Expected a new event id, got ${describeValue(id)} which exists.`);
    }
    // Asked before anything is stored, filters then renders: a callback that throws leaves
    // nothing behind.
    const { receivers: targets, payloads } = withPayloads(withFilterVerdicts(tenants.receivers(tenantId, type), input), input);
    const ev = storeEvent(input.event);
    events.set(id, ev);
    eventsById.insert(ev);
    if (indexKey !== null) idempotencyKeys.set(indexKey, id);
    tenants.addEvent(ev);
    // Built by map, not push: an array grown by push reserves 17 slots, which every stored event would keep.
    ev.deliveries = targets.map((sub, i) => createDelivery(ev, sub, 'pending', input.now, payloads === null ? null : (payloads[i] ?? null)));
    if (ev.deliveries.length === 0) orphans.add(ev);
    return { event: copyEvent(ev.record), created: true, deliveryCount: ev.deliveries.length };
  }

  /**
   * Appends the deliveries in `status`: a final status from its set, an open one from the
   * subscriptions' open sets (the status index only counts those).
   */
  function collectStatus(status: DeliveryStatus, into: DeliveryState[]): void {
    if (status === 'pending' || status === 'held') {
      for (const sub of subscriptionsById) for (const d of sub.open) if (d.status === status) into.push(d);
    } else {
      statuses.forEachInStatus(status, (d) => into.push(d));
    }
  }

  function listDeliveriesNow(query: DeliveryQuery): Page<DeliveryRecord> {
    const limit = assertLimit(query.limit);
    const afterId = query.cursor === undefined ? null : decodeCursor('deliveries', query.cursor);
    const { subscriptionId, eventId, since, until, tenantId } = query;
    const wanted =
      query.status === undefined ? null : new Set<DeliveryStatus>(typeof query.status === 'string' ? [query.status] : query.status);
    // A filter on the deliveries walked in id order, no index of its own: the operator's
    // dashboard narrows a page by type, it is no hot path.
    const types = query.eventTypes === undefined ? null : new Set(query.eventTypes);
    if (types?.size === 0) return { items: [], nextCursor: null };
    // Id-sorted sequences, merged newest first: what holds every delivery the query may return.
    let source: Iterable<IdOrder<DeliveryState>>;
    if (subscriptionId !== undefined) {
      const sub = subscriptions.get(subscriptionId);
      source = sub === undefined ? [] : [sub.deliveries];
    } else if (eventId !== undefined) {
      source = [sortedArray((events.get(eventId)?.deliveries ?? []).slice().sort(compareIds))];
    } else if (tenantId !== undefined) {
      // A tenant's deliveries are its subscriptions'.
      source = (tenants.get(tenantId)?.subscriptions ?? []).map((sub) => sub.deliveries);
    } else if (wanted !== null) {
      // Sorting the k deliveries of those statuses costs k·log k; walking the id order
      // until `limit` of them turn up costs about limit·n/k. Take the cheaper.
      let k = 0;
      for (const status of wanted) k += statuses.count(status);
      const n = deliveriesById.size;
      if (k * Math.log2(k + 2) < (limit * n) / Math.max(k, 1)) {
        const ofStatus: DeliveryState[] = [];
        for (const status of wanted) collectStatus(status, ofStatus);
        source = [sortedArray(ofStatus.sort(compareIds))];
      } else {
        source = [deliveriesById];
      }
    } else {
      source = [deliveriesById];
    }
    const items: DeliveryRecord[] = [];
    let more = false;
    for (const d of newestFirst(source, afterId)) {
      if (subscriptionId !== undefined && d.subscriptionId !== subscriptionId) continue;
      if (eventId !== undefined && d.eventId !== eventId) continue;
      if (tenantId !== undefined && d.tenantId !== tenantId) continue;
      if (wanted !== null && !wanted.has(d.status)) continue;
      if (types !== null && !types.has(d.eventType)) continue;
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

  function listEventsNow(query: EventQuery): Page<EventRecord> {
    const limit = assertLimit(query.limit);
    const list = query.order === 'asc' ? 'feed' : 'events';
    const fromId = query.cursor === undefined ? null : decodeCursor(list, query.cursor);
    const { since, until } = query;
    const types = query.types === undefined ? null : new Set(query.types);
    if (types?.size === 0) return { items: [], nextCursor: null };
    const source = query.tenantId === undefined ? eventsById : tenants.get(query.tenantId)?.events;
    if (source === undefined) return { items: [], nextCursor: null };
    const items: EventRecord[] = [];
    let more = false;
    for (const ev of list === 'feed' ? source.ascending(fromId) : source.descending(fromId)) {
      const { timestamp, type } = ev.record;
      if ((since !== undefined && timestamp < since) || (until !== undefined && timestamp >= until)) continue;
      if (types !== null && !types.has(type)) continue;
      if (items.length === limit) {
        more = true;
        break;
      }
      items.push(copyEvent(ev.record));
    }
    return { items, nextCursor: more ? encodeCursor(list, items[items.length - 1]!.id) : null };
  }

  function listChangesNow(query: SubscriptionChangeQuery): Page<SubscriptionChangeRecord> {
    const limit = assertLimit(query.limit);
    // A subscription's log is in sequence order, numbered from 1: the record after sequence n is at index n.
    const i = query.cursor === undefined ? 0 : decodeSequenceCursor(query.cursor);
    const source = subscriptions.get(query.subscriptionId)?.changes ?? [];
    const items = source.slice(i, i + limit).map(copyChange);
    return { items, nextCursor: i + limit < source.length ? encodeSequenceCursor(items[items.length - 1]!.sequence) : null };
  }

  /** Erases one event's content, cancels its open deliveries and erases their attempts' snippets, counting into `result`. */
  function expungeEvent(ev: EventState, now: number, result: ExpungeResult): void {
    ev.record.payload = '';
    ev.record.expungedAt = now;
    result.events++;
    for (const d of ev.deliveries) {
      if (ownPayloads.has(d)) ownPayloads.set(d, '');
      if (cancellable.has(d.status)) {
        cancelDelivery(d, CANCELLED_BY_EXPUNGE, now);
        result.cancelled++;
        // Its attempt may be in flight (the lease is kept): the next waits for the lease (shared/ordering.ts).
        if (lineOf(d)?.isHead(d) === true) passHead(d, now, dueAfterCancelledHead(d, now));
      }
      if (d.log === null) continue;
      for (const attempt of d.log) {
        if (attempt.responseSnippet === null) continue;
        attempt.responseSnippet = null;
        result.snippets++;
      }
    }
  }

  function replayNow(input: ReplayInput): { count: number } {
    const sub = subscriptions.get(input.subscriptionId);
    // No event is replayable to a soft-deleted subscription (replayable): nothing to walk.
    if (sub === undefined || sub.record.deletedAt !== null) return { count: 0 };
    const until = input.until ?? Number.POSITIVE_INFINITY;
    const types = new Set(input.eventTypes);
    const requeued: DeliveryState[] = [];
    const missing: EventState[] = [];
    const scope = sub.record;
    const filter = sub.record.filter;
    if (replayRefusesAll(input, filter)) return { count: 0 };
    // Rendering and nothing to render with, only requeues (which keep their payloads).
    const creates = !replayCreatesNothing(input, scope);
    // A subscription reads only its tenant's events (the platform's: the tenantless ones); an
    // all-tenant consumer walks them all.
    const candidates = scope.allTenants ? eventsById : (tenants.get(scope.tenantId)?.events ?? []);
    for (const ev of candidates) {
      const t = ev.record.timestamp;
      if (t < input.since || t >= until || !types.has(ev.record.type) || !receivesTenant(scope, ev.record.tenantId)) continue;
      if (!replayable(ev.record, scope)) continue;
      const mine = ev.deliveries.find((d) => d.subscription === sub);
      const action = replayAction(mine?.status ?? null);
      if (action === 'skip' || (action === 'create' && !creates)) continue;
      // The callback gets a copy: it cannot change the stored event.
      if (filter !== null && !replayAccepts(input, filter, copyEvent(ev.record))) continue;
      if (action === 'create') missing.push(ev);
      else requeued.push(mine!);
    }
    const count = requeued.length + missing.length;
    if (input.dryRun === true) return { count };
    // Walked in id order; created (and numbered on their keys) in the window's order.
    missing.sort((a, b) => compareReplayOrder(a.record, b.record));
    // Rendered before anything changes: a callback that throws leaves everything as it was.
    const payloads = rendersPayloads(scope) ? missing.map((ev) => replayPayload(input, copySubscription(scope), copyEvent(ev.record)) ?? null) : null;
    const status = queuedStatus(sub.record.status === 'active');
    for (const d of requeued) requeue(d, status, input.now);
    missing.forEach((ev, i) => {
      ev.deliveries = [...ev.deliveries, createDelivery(ev, sub, status, input.now, payloads === null ? null : (payloads[i] ?? null))];
    });
    return { count };
  }

  /**
   * The subscription's pending deliveries waiting behind their keys' heads: a walk of its
   * waiting lists (an operator's and drain's question; unordered subscriptions cost nothing).
   */
  function waitingOf(sub: SubscriptionState): number {
    if (sub.keyLines === null) return 0;
    let count = 0;
    for (const line of sub.keyLines.values()) count += line.waitingCount(true);
    return count;
  }

  function listBlockedKeysNow(query: BlockedKeyQuery): Page<BlockedKey> {
    const limit = assertLimit(query.limit);
    const afterId = query.cursor === undefined ? null : decodeCursor('blocked', query.cursor);
    const sub = subscriptions.get(query.subscriptionId);
    const lines = sub?.keyLines;
    if (sub === undefined || lines == null) return { items: [], nextCursor: null };
    const blocked: Array<{ key: string; line: KeyLine; head: DeliveryState }> = [];
    for (const [key, line] of lines) {
      const head = line.head;
      if (head !== null && blocksKey(head, line, sub.record) && (afterId === null || head.id > afterId)) blocked.push({ key, line, head });
    }
    blocked.sort((a, b) => (a.head.id < b.head.id ? -1 : 1));
    const page = blocked.slice(0, limit);
    const items = page.map(({ key, line, head }): BlockedKey => ({
      subscriptionId: query.subscriptionId,
      orderingKey: key,
      delivery: copyDelivery(head),
      waiting: line.waitingCount(),
    }));
    return { items, nextCursor: blocked.length > limit ? encodeCursor('blocked', page[page.length - 1]!.head.id) : null };
  }

  /**
   * Counts of some subscriptions (one, or a tenant's): O(1) per subscription but for the
   * leases (the deliveries in flight) and the oldest pending creation, which visits their
   * open deliveries — an operator's question, kept off the claim path rather than given a
   * heap of its own.
   */
  function statsOf(subs: readonly SubscriptionState[], now: number, isTheirs: (d: DeliveryState) => boolean): StorageStats {
    const stats: StorageStats = { ...emptyStats };
    for (const sub of subs) {
      stats.pending += sub.counts.pending;
      stats.held += sub.counts.held;
      stats.dead += sub.counts.dead;
      stats.delivered += sub.counts.delivered;
      stats.cancelled += sub.counts.cancelled;
      if (sub.counts.pending === 0) continue;
      stats.waiting += waitingOf(sub);
      for (const d of sub.open) {
        if (d.status === 'pending' && (stats.oldestPendingCreatedAt === null || d.createdAt < stats.oldestPendingCreatedAt)) {
          stats.oldestPendingCreatedAt = d.createdAt;
        }
      }
    }
    stats.leased = subs.length === 0 ? 0 : statuses.leasedCount(now, isTheirs);
    return stats;
  }

  function statsNow(now: number, query: { subscriptionId?: string; tenantId?: string | null } = {}): StorageStats {
    const { subscriptionId, tenantId } = query;
    if (subscriptionId !== undefined) {
      const sub = subscriptions.get(subscriptionId);
      if (sub === undefined || (tenantId !== undefined && sub.record.tenantId !== tenantId)) return { ...emptyStats };
      return statsOf([sub], now, (d) => d.subscription === sub);
    }
    if (tenantId !== undefined) {
      // A tenant's deliveries are its subscriptions'.
      return statsOf(tenants.get(tenantId)?.subscriptions ?? [], now, (d) => d.tenantId === tenantId);
    }
    return {
      pending: statuses.count('pending'),
      leased: statuses.leasedCount(now),
      waiting: [...orderedSubscriptions].reduce((sum, sub) => sum + (sub.counts.pending === 0 ? 0 : waitingOf(sub)), 0),
      held: statuses.count('held'),
      dead: statuses.count('dead'),
      delivered: statuses.count('delivered'),
      cancelled: statuses.count('cancelled'),
      oldestPendingCreatedAt: statuses.oldestPendingCreatedAt(),
    };
  }

  function purgeNow(olderThan: number): PurgeResult {
    // Every final delivery last changed before the cutoff, in flight or not.
    const doomed = finalStatuses.flatMap((status) => statuses.takeOldestFinal(status, olderThan, Number.POSITIVE_INFINITY, blocksItsKey));
    const attempts = removeDeliveries(doomed);
    // An event goes only once no delivery refers to it: a newer final delivery may still
    // be redelivered, and that needs the payload.
    const oldEvents = orphans.takeOldest(olderThan, Number.POSITIVE_INFINITY);
    removeEvents(oldEvents);
    const tests = [true, false].flatMap((ok) => testLog.startedBefore(ok, olderThan, Number.POSITIVE_INFINITY)).map((c) => c.record);
    testLog.remove(tests);
    return { events: oldEvents.length, deliveries: doomed.length, attempts, testAttempts: tests.length };
  }

  /** True when `d` is under an unexpired lease at `now`: a cancelled delivery whose attempt is in flight. */
  function inFlightAt(now: number): (d: DeliveryState) => boolean {
    return (d) => d.leaseToken !== null && d.leaseExpiresAt! > now;
  }

  /**
   * One batch of retention by the shared rules (shared/retention.ts): up to `limit` + 1 of
   * each status taken off its final-time queue, oldest first, passing over those in flight;
   * the oldest `limit` of them removed and the rest given back; then the orphan events the
   * same way. Each read costs what it takes (plus the stale entries and the in-flight ones
   * it passes), never a walk of the log.
   */
  function purgeRetentionNow(input: PurgeRetentionInput): PurgeRetentionResult {
    const limit = assertLimit(input.limit);
    const inFlight = inFlightAt(input.now);
    const kept = (d: DeliveryState) => inFlight(d) || blocksItsKey(d);
    const lists = retentionCutoffs(input).map(({ status, before }) =>
      statuses.takeOldestFinal(status, before, limit + 1, kept).map((d): RetentionCandidate & { d: DeliveryState } => ({ id: d.id, finalAt: d.updatedAt, d })),
    );
    const { doomed, more } = oldestOfStatuses(lists, limit);
    const removed = new Set(doomed);
    statuses.putBackFinal(lists.flat().filter((c) => !removed.has(c)).map((c) => c.d));
    const attempts = removeDeliveries(doomed.map((c) => c.d));
    let oldEvents: EventState[] = [];
    let moreEvents = false;
    if (input.eventsBefore !== null) {
      const taken = orphans.takeOldest(input.eventsBefore, limit + 1);
      moreEvents = taken.length > limit;
      orphans.putBack(taken.slice(limit));
      oldEvents = taken.slice(0, limit);
    }
    removeEvents(oldEvents);
    const tests = oldestOfStatuses(
      testAttemptCutoffs(input).map(({ ok, before }) => testLog.startedBefore(ok, before, limit + 1)),
      limit,
    );
    testLog.remove(tests.doomed.map((c) => c.record));
    return { deliveries: doomed.length, attempts, events: oldEvents.length, testAttempts: tests.doomed.length, more: more || moreEvents || tests.more };
  }

  /** Removes up to `limit` of the tenant's deliveries with their attempts; true when none is left. */
  function purgeTenantDeliveries(share: TenantShare, limit: number, result: PurgeTenantResult, now: number): boolean {
    // A tenant's deliveries are its subscriptions'.
    const doomed: DeliveryState[] = [];
    let left = false;
    for (const sub of share.subscriptions) {
      const room = limit - doomed.length;
      if (sub.deliveries.size > room) {
        doomed.push(...sub.deliveries.first(room));
        left = true;
        break;
      }
      doomed.push(...sub.deliveries);
    }
    result.attempts += removeDeliveries(doomed, now);
    result.deliveries += doomed.length;
    return !left;
  }

  /** Removes up to `limit` of the tenant's subscriptions (their deliveries are gone); true when none is left. */
  function purgeTenantSubscriptions(share: TenantShare, limit: number, result: PurgeTenantResult, _now: number): boolean {
    const doomed = share.subscriptions.slice(0, limit);
    removeSubscriptions(doomed);
    result.subscriptions += doomed.length;
    return share.subscriptions.length === 0;
  }

  /**
   * Removes up to `limit` of the tenant's events with the deliveries the all-tenant consumers
   * still hold of them; true when none is left.
   */
  function purgeTenantEvents(share: TenantShare, limit: number, result: PurgeTenantResult, now: number): boolean {
    const doomed = share.events.first(limit);
    const theirs: DeliveryState[] = [];
    for (const ev of doomed) theirs.push(...ev.deliveries);
    result.attempts += removeDeliveries(theirs, now);
    result.deliveries += theirs.length;
    removeEvents(doomed);
    result.events += doomed.length;
    return share.events.size === 0;
  }

  const purgeTenantStep = {
    deliveries: purgeTenantDeliveries,
    subscriptions: purgeTenantSubscriptions,
    events: purgeTenantEvents,
  } satisfies Record<(typeof tenantPurgeSteps)[number], unknown>;

  /**
   * One batch of a tenant's removal: its steps in the shared order (tenantPurgeSteps), each
   * taking at most `limit` rows, a step running only once the one before has left nothing.
   */
  function purgeTenantNow(input: PurgeTenantInput): PurgeTenantResult | 'in_flight' {
    const { tenantId, now, force } = input;
    const limit = assertLimit(input.limit);
    const result: PurgeTenantResult = { subscriptions: 0, events: 0, deliveries: 0, attempts: 0, done: true };
    const share = tenants.get(tenantId);
    if (share === undefined) return result;
    if (!force && statuses.anyInFlight(now, (d) => d.tenantId === tenantId)) return 'in_flight';
    for (const step of tenantPurgeSteps) {
      if (!purgeTenantStep[step](share, limit, result, now)) {
        result.done = false;
        break;
      }
    }
    return result;
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
      tenants = new TenantIndex();
      events = new Map();
      eventsById = new ChunkedIdList();
      orphans = new OrphanEvents(events);
      idempotencyKeys = new Map();
      deliveries = new Map();
      deliveriesById = new ChunkedIdList();
      orderedSubscriptions = new Set();
      statuses = new StatusIndex();
      schedule = new ClaimSchedule(() => subscriptions.size);
      changeLog = new Map();
      testLog = new TestAttemptLog();
    },

    async createSubscription(record, limits, audit) {
      assertOpen();
      if (subscriptions.has(record.id)) {
        throw new StorageError('STORAGE_CONFLICT', `Expected a new subscription id, got ${describeValue(record.id)} which exists.`);
      }
      assertNewChange(audit);
      // Counted and stored in one synchronous step: two racing creates cannot both see room.
      const max = limits?.maxPerTenant;
      if (record.tenantId !== null && max !== undefined && tenants.subscriptionCount(record.tenantId) >= max) {
        throw tenantLimitReached(record.tenantId, max);
      }
      const sub = newSubscriptionState(copySubscription(record), schedule.newQueue());
      subscriptions.set(record.id, sub);
      insertById(subscriptionsById, sub);
      tenants.addSubscription(sub);
      if (audit !== undefined) appendChange(sub, changeRecord(audit, null, sub.record, record.createdAt));
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
      const source = query.tenantId === undefined ? subscriptionsById : (tenants.get(query.tenantId)?.subscriptions ?? []);
      const items: SubscriptionRecord[] = [];
      let more = false;
      let i = 0;
      if (afterId !== null) {
        i = lowerBound(source, afterId);
        if (source[i]?.id === afterId) i++;
      }
      for (; i < source.length; i++) {
        const record = source[i]!.record;
        if (query.status !== undefined && record.status !== query.status) continue;
        if (record.deletedAt !== null && query.includeDeleted !== true) continue;
        if (items.length === limit) {
          more = true;
          break;
        }
        items.push(copySubscription(record));
      }
      return { items, nextCursor: more ? encodeCursor('subscriptions', items[items.length - 1]!.id) : null };
    },

    async updateSubscription(id, patch, now, audit) {
      assertOpen();
      const sub = subscriptions.get(id);
      if (sub === undefined) return null;
      if (sub.record.deletedAt !== null) return copySubscription(sub.record);
      assertNewChange(audit);
      const next = applySubscriptionPatch(sub.record, patch, now);
      if (audit !== undefined) appendChange(sub, changeRecord(audit, sub.record, next, now));
      Object.assign(sub.record, next);
      return copySubscription(sub.record);
    },

    async setSubscriptionStatus(id, change, now, audit) {
      assertOpen();
      return setStatusNow(id, change, now, audit);
    },

    async softDeleteSubscription(id, now, audit) {
      assertOpen();
      const sub = subscriptions.get(id);
      if (sub === undefined) return null;
      const fields = softDeletedFields(sub.record, now);
      if (fields === null) return { subscription: copySubscription(sub.record), cancelled: 0 };
      assertNewChange(audit);
      const before = audit === undefined ? null : copySubscription(sub.record);
      Object.assign(sub.record, fields);
      tenants.markDeleted(sub);
      let cancelled = 0;
      // Copied first: cancelling takes a delivery out of the open set.
      for (const d of [...sub.open]) {
        if (!cancellable.has(d.status)) continue;
        cancelDelivery(d, CANCELLED_BY_DELETE, now);
        cancelled++;
      }
      // Nothing of it is claimable any more: drop its entries at once rather than lazily.
      schedule.clear(sub);
      if (audit !== undefined) appendChange(sub, changeRecord(audit, before, sub.record, now));
      return { subscription: copySubscription(sub.record), cancelled };
    },

    async deleteSubscription(id) {
      assertOpen();
      const sub = subscriptions.get(id);
      if (sub === undefined) return false;
      removeDeliveries([...sub.deliveries]);
      removeSubscriptions([sub]);
      return true;
    },

    async listSubscriptionChanges(query) {
      assertOpen();
      return listChangesNow(query);
    },

    async getSubscriptionChange(id) {
      assertOpen();
      const change = changeLog.get(id);
      return change === undefined ? null : copyChange(change);
    },

    async recordTestAttempt(record) {
      assertOpen();
      if (!subscriptions.has(record.subscriptionId)) return false;
      if (testLog.has(record.id)) {
        throw new StorageError('STORAGE_CONFLICT', `Expected a new test attempt id, got ${describeValue(record.id)} which is in the test log.`);
      }
      testLog.add(record);
      return true;
    },

    async listTestAttempts(query) {
      assertOpen();
      const limit = assertLimit(query.limit);
      const beforeId = query.cursor === undefined ? null : decodeCursor('tests', query.cursor);
      const { items, more } = testLog.page(query.subscriptionId, beforeId, limit);
      const last: TestAttemptRecord | undefined = items[items.length - 1];
      return { items, nextCursor: more && last !== undefined ? encodeCursor('tests', last.id) : null };
    },

    async enqueue(input) {
      assertOpen();
      try {
        return enqueueNow(input);
      } catch (error) {
        throw thrownByHostCallback(error);
      }
    },

    async getEvent(id) {
      assertOpen();
      const ev = events.get(id);
      return ev === undefined ? null : copyEvent(ev.record);
    },

    async listEvents(query) {
      assertOpen();
      return listEventsNow(query);
    },

    async expungeEvents(ids, now) {
      assertOpen();
      assertExpungeIds(ids);
      const result: ExpungeResult = { events: 0, cancelled: 0, snippets: 0 };
      for (const id of ids) {
        const ev = events.get(id);
        // Unknown, already expunged, or named twice: skipped (idempotent).
        if (ev !== undefined && ev.record.expungedAt === null) expungeEvent(ev, now, result);
      }
      return result;
    },

    async claimDue({ limit, leaseMs, now, excludeSubscriptionIds, excludeTenantIds }) {
      assertOpen();
      const subscriptionIds = toSet(excludeSubscriptionIds);
      const tenantIds = toSet(excludeTenantIds);
      const excluded: ClaimExclusions | null = subscriptionIds === null && tenantIds === null ? null : { subscriptionIds, tenantIds };
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
        const event = copyEvent(d.event.record);
        const payload = ownPayloads.get(d);
        if (payload !== undefined) event.payload = payload;
        claimed.push({
          delivery: copyDelivery(d),
          history: { ...d.history },
          event,
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
        // A cancelled one's final time moves with it.
        statuses.touch(d, now);
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

    async getDeliveryPayload(id) {
      assertOpen();
      const d = deliveries.get(id);
      return d === undefined ? null : (ownPayloads.get(d) ?? null);
    },

    async redeliver(id, now) {
      assertOpen();
      const d = deliveries.get(id);
      if (d === undefined) return 'not_found';
      const subscription = d.subscription.record;
      const verdict = redeliverVerdict(d.status, {
        subscriptionActive: subscription.status === 'active',
        subscriptionDeleted: subscription.deletedAt !== null,
        eventExpunged: d.event.record.expungedAt !== null,
        leaseLive: d.leaseExpiresAt !== null && d.leaseExpiresAt > now,
      });
      if (verdict !== 'requeue') return verdict;
      // An expired lease is taken over: its worker's late settle then gets STORAGE_LEASE_LOST.
      requeue(d, 'pending', now);
      return copyDelivery(d);
    },

    async replay(input) {
      assertOpen();
      // With `activate`, the status change is checked before anything is replayed: all or nothing.
      if (input.activate !== undefined && input.dryRun !== true) assertNewChange(input.activate);
      let result: { count: number };
      try {
        result = replayNow(input);
      } catch (error) {
        throw thrownByHostCallback(error);
      }
      if (input.activate === undefined || input.dryRun === true) return result;
      // In the same turn of the event loop: no publish falls between the replay and the enable.
      return { ...result, subscription: setStatusNow(input.subscriptionId, { status: 'active' }, input.now, input.activate) };
    },

    async listBlockedKeys(query) {
      assertOpen();
      return listBlockedKeysNow(query);
    },

    async skipDelivery(id, now) {
      assertOpen();
      const d = deliveries.get(id);
      if (d === undefined) return 'not_found';
      if (!blocksItsKey(d)) return 'not_blocking';
      passHead(d, now);
      return copyDelivery(d);
    },

    async stats(now, query) {
      assertOpen();
      return statsNow(now, query);
    },

    async purge(input) {
      assertOpen();
      checkPurgeInput(input);
      return purgeNow(input.olderThan);
    },

    async purgeRetention(input) {
      assertOpen();
      checkPurgeRetentionInput(input);
      return purgeRetentionNow(input);
    },

    async purgeTenant(input) {
      assertOpen();
      return purgeTenantNow(input);
    },
  };

  registerMemoryStorageProbe(storage, {
    counters: () => ({
      ...schedule.counters(),
      ...tenants.counters(),
      createdHeapSize: statuses.createdHeapSize,
      finalQueueSize: statuses.finalQueueSize,
      finalQueuePops: statuses.finalQueuePops,
      orphanQueueSize: orphans.size,
      orphanQueuePops: orphans.popCount,
    }),
    payloadHolders() {
      const holders = new Set<object>();
      for (const d of deliveries.values()) {
        if (Object.hasOwn(d, 'payload')) holders.add(d);
        if (Object.hasOwn(d.event, 'payload')) holders.add(d.event);
      }
      return holders.size;
    },
  });
  return storage;
}
