/**
 * The moves of an ordering key's state (storage/shared/ordering.ts decides them): giving a
 * new delivery of a key its number, and letting a key's head pass. Each runs in the caller's
 * write transaction: SQLite has one writer at a time, so the key's record, read here, stays
 * as read until the transaction ends.
 */
import type { DeliveryRecord } from '../storage-adapter.js';
import { advanceHead, appendToKey, isKeyHead, type KeyAppend } from '../shared/ordering.js';
import type { Statements } from './statements/prepared-statements.js';

/** Numbers a new delivery of `orderingKey` to `subscriptionId` and stores the key's new state. */
export function appendDelivery(s: Statements, subscriptionId: string, orderingKey: string): KeyAppend {
  const append = appendToKey(s.getOrderingKey.get(subscriptionId, orderingKey) ?? null);
  s.putOrderingKey.run({ subscription_id: subscriptionId, ordering_key: orderingKey, last_seq: append.state.lastSeq, head_seq: append.state.headSeq });
  return append;
}

/**
 * When `delivery` is its key's head, the head passes: it moves to the key's next waiting
 * delivery (pending or held), which, if pending, becomes due at `now`; with none, the key
 * is idle. Returns whether it was the head (a passed or unordered delivery moves nothing).
 */
export function passHead(s: Statements, delivery: Pick<DeliveryRecord, 'subscriptionId' | 'orderingKey' | 'orderingSequence'>, now: number): boolean {
  const { subscriptionId, orderingKey } = delivery;
  if (orderingKey === null) return false;
  const state = s.getOrderingKey.get(subscriptionId, orderingKey);
  if (state === undefined || !isKeyHead(delivery, state)) return false;
  const key = { subscription_id: subscriptionId, ordering_key: orderingKey };
  const next = advanceHead(state, s.nextWaitingSeq.get({ ...key, after: state.headSeq }) ?? null);
  s.putOrderingKey.run({ ...key, last_seq: next.lastSeq, head_seq: next.headSeq });
  if (next.headSeq <= next.lastSeq) s.makeHeadDue.run({ ...key, seq: next.headSeq, now });
  return true;
}
