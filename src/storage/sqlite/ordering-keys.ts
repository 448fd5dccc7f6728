/**
 * The moves of an ordering key's state (storage/shared/ordering.ts decides them): giving a
 * new delivery of a key its number, and letting a key's head pass. Each runs in the caller's
 * write transaction: SQLite has one writer at a time, so the key's record, read here, stays
 * as read until the transaction ends.
 */
import type { DeliveryRecord } from '../storage-adapter.js';
import { appendToKey, type KeyAppend } from '../shared/ordering.js';
import type { Statements } from './statements/prepared-statements.js';

/** Numbers a new delivery of `orderingKey` to `subscriptionId` and stores the key's new state. */
export function appendDelivery(s: Statements, subscriptionId: string, orderingKey: string): KeyAppend {
  const append = appendToKey(s.getOrderingKey.get(subscriptionId, orderingKey) ?? null);
  s.putOrderingKey.run({ subscription_id: subscriptionId, ordering_key: orderingKey, last_seq: append.state.lastSeq, head_seq: append.state.headSeq });
  return append;
}

/**
 * When `delivery` is its key's head, the head passes: it moves to the key's next waiting
 * delivery (pending or held), which, if pending, becomes due at `dueAt` (`now` unless told:
 * see dueAfterCancelledHead of shared/ordering.ts); with none, the key is idle. Returns
 * whether it was the head (a passed or unordered delivery moves nothing).
 */
export function passHead(s: Statements, delivery: Pick<DeliveryRecord, 'subscriptionId' | 'orderingKey' | 'orderingSequence'>, now: number, dueAt = now): boolean {
  const { subscriptionId, orderingKey, orderingSequence } = delivery;
  if (orderingKey === null || orderingSequence === null) return false;
  const key = { subscription_id: subscriptionId, ordering_key: orderingKey };
  // Read, decided (advanceHead) and written in one statement, which matches only the head.
  const next = s.passKeyHead.get({ ...key, seq: orderingSequence });
  if (next === undefined) return false;
  if (next.headSeq <= next.lastSeq) s.makeHeadDue.run({ ...key, seq: next.headSeq, now, due: dueAt });
  return true;
}
