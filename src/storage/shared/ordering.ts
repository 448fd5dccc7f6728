/**
 * Per-key ordering, decided once for every adapter. An event published with an
 * `orderingKey` is delivered to each subscription strictly in publish order among the
 * events of that key: the next is not sent until the previous one is delivered, or has
 * ended as the subscription's `orderingOnDead` says. Keys are independent of each other.
 *
 * The state of a key, per subscription, is one small record (a row of `ordering_keys` in
 * SQL, keyed by subscription id and key) with two numbers:
 * - `lastSeq`: the sequence number last given to a delivery of the key (1, 2, 3, …, never
 *   reused: the receiver sees it in the `webhook-sequence` header and can detect a gap);
 * - `headSeq`: the sequence number of the key's head — the one delivery of the key that may
 *   be attempted. Every delivery of the key with a lower number has passed; every one with a
 *   higher number waits. `headSeq = lastSeq + 1` when the key is idle (nothing open).
 *
 * A delivery of the key (`orderingKey` and `orderingSequence` set) is then, by its number:
 * - the head (`orderingSequence = headSeq`): an ordinary delivery — pending (due, scheduled
 *   for a retry, leased), held (its subscription disabled), or dead and blocking the key;
 * - waiting (`orderingSequence > headSeq`): `pending` with `nextAttemptAt` `null` (never
 *   claimed: every claim, `nextDueAt` and due count already read `next_attempt_at <= now`),
 *   or `held` while the subscription is disabled, or `cancelled` (its event expunged);
 * - passed (`orderingSequence < headSeq`): anything; an operator's `redeliver` (or a replay's
 *   requeue) of a passed delivery sends it at once, outside the order — an explicit act.
 *
 * Writes, each in the transaction of the operation (on PostgreSQL under the key record's
 * row lock, taken before the deliveries of the key are read: see {@link advanceHead}):
 * - fan-out (publish, and the deliveries a replay creates, in event order: compareReplayOrder
 *   of redelivery.ts):
 *   {@link appendToKey} gives the number and says whether it is the head (due at `now`) or
 *   waits (`nextAttemptAt` `null`, or held if the subscription is disabled);
 * - the head passes when it is delivered (`settle` with `delivered`), dies under `skip`
 *   (`settle` with `dead` and {@link passesOnDeath}), is skipped (`skipDelivery`), or is
 *   cancelled by an expunge of its event. Then {@link advanceHead}: the head moves to the
 *   lowest-numbered waiting delivery of the key (pending or held, not cancelled), which, if
 *   pending, becomes due at `now` — or, for a head an expunge cancelled under a live lease,
 *   when that lease runs out ({@link dueAfterCancelledHead}); with none, the key is idle. A soft delete of the
 *   subscription cancels everything: no head moves;
 * - a head that dies under `block` stays the head: the key is blocked ({@link blocksKey}).
 *   `listBlockedKeys` shows it; `redeliver` of it (a fresh cycle, due at once) or
 *   `skipDelivery` unblocks. A soft-deleted subscription's dead head blocks nothing: nothing
 *   could unblock it (`redeliver` refuses it) and nothing of the key will be sent;
 * - `setSubscriptionStatus` to active: a held delivery becomes pending, due at `now` if it
 *   is unordered, the head, or passed ({@link dueOnEnable}); a waiting one stays waiting;
 * - `redeliver` of a waiting delivery resets its attempt cycle and leaves it waiting;
 * - retention never removes a dead delivery that blocks its key (it is the operator's
 *   handle on it), and so takes a soft-deleted subscription's like any other; key records
 *   go with their subscription (hard delete, a tenant's purge); a head removed otherwise (a
 *   tenant's removal takes an all-tenant consumer's deliveries of the tenant's events)
 *   passes, so the consumer's deliveries of the key from other tenants go on.
 */
import type { DeliveryRecord, SubscriptionRecord } from '../storage-adapter.js';

/** The stored state of one key of one subscription. */
export interface OrderingKeyState {
  lastSeq: number;
  headSeq: number;
}

/** Where a new delivery of a key goes: its number, the key's new state, and whether it is the head. */
export interface KeyAppend {
  sequence: number;
  state: OrderingKeyState;
  /** True: due at once (or held); false: it waits behind the head. */
  isHead: boolean;
}

/** A new delivery of a key with `state` (`null`: the key's first delivery to this subscription). */
export function appendToKey(state: OrderingKeyState | null): KeyAppend {
  if (state === null) return { sequence: 1, state: { lastSeq: 1, headSeq: 1 }, isHead: true };
  const sequence = state.lastSeq + 1;
  return { sequence, state: { lastSeq: sequence, headSeq: state.headSeq }, isHead: sequence === state.headSeq };
}

/** True when a head that ends dead lets its key move on (the subscription's `orderingOnDead` is `skip`). */
export function passesOnDeath(subscription: Pick<SubscriptionRecord, 'orderingOnDead'>): boolean {
  return subscription.orderingOnDead === 'skip';
}

/** True when `delivery` is its key's head in `state`. Unordered deliveries are never heads. */
export function isKeyHead(delivery: Pick<DeliveryRecord, 'orderingSequence'>, state: Pick<OrderingKeyState, 'headSeq'>): boolean {
  return delivery.orderingSequence !== null && delivery.orderingSequence === state.headSeq;
}

/**
 * The key's state once its head passed: the head moves to `nextWaitingSeq`, the lowest
 * number above the old head among the key's pending or held deliveries (read after the key
 * record is locked), or, with none, past `lastSeq` (idle).
 */
export function advanceHead(state: OrderingKeyState, nextWaitingSeq: number | null): OrderingKeyState {
  return { lastSeq: state.lastSeq, headSeq: nextWaitingSeq ?? state.lastSeq + 1 };
}

/**
 * True when `delivery` blocks its key: it is dead, its key's head in `state`, and its
 * subscription is not soft-deleted. Such a delivery is listed by `listBlockedKeys`, may be
 * skipped, and is kept by retention. A soft-deleted subscription's dead head blocks nothing:
 * its other deliveries were cancelled, and `redeliver` refuses it, so it would otherwise be
 * listed and kept (its event with it) for ever.
 */
export function blocksKey(
  delivery: Pick<DeliveryRecord, 'status' | 'orderingSequence'>,
  state: Pick<OrderingKeyState, 'headSeq'>,
  subscription: Pick<SubscriptionRecord, 'deletedAt'>,
): boolean {
  return delivery.status === 'dead' && isKeyHead(delivery, state) && subscription.deletedAt === null;
}

/** Whether a held delivery enabling its subscription is due at once (else it waits behind its key's head). */
export function dueOnEnable(delivery: Pick<DeliveryRecord, 'orderingSequence'>, headSeq: number | null): boolean {
  return delivery.orderingSequence === null || headSeq === null || delivery.orderingSequence <= headSeq;
}

/** True when `delivery` waits behind its key's head (pending, never claimed until the head passes). */
export function isWaiting(delivery: Pick<DeliveryRecord, 'status' | 'nextAttemptAt' | 'orderingKey'>): boolean {
  return delivery.orderingKey !== null && delivery.status === 'pending' && delivery.nextAttemptAt === null;
}

/**
 * When the next delivery of a key may be sent once its head, cancelled by an expunge, passes:
 * at `now`, or, when the head is under a live lease (`leaseExpiresAt` after `now`: its
 * attempt may be in flight, and the cancel keeps the lease so that it settles), when the
 * lease runs out. A lease outlives the request it covers (`leaseMs` ≥ `http.timeoutMs` plus
 * slack), so the key never has two deliveries in flight at once, even when the erasure
 * comes while its head is being posted. A head whose attempt settles sooner still holds the
 * next one back to the lease's end: a delay of at most `leaseMs`, for an erasure, once.
 */
export function dueAfterCancelledHead(lease: Pick<DeliveryRecord, 'leaseExpiresAt'>, now: number): number {
  return lease.leaseExpiresAt !== null && lease.leaseExpiresAt > now ? lease.leaseExpiresAt : now;
}
