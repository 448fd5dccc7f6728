/**
 * Storing a published event and its fan-out: one pending delivery per active
 * subscription whose filters match its type, or nothing new when its idempotency key was
 * seen before.
 */
import { StorageError } from '../../errors.js';
import { candidateFilters } from '../../registry/event-type-filter.js';
import type { EnqueueInput, EnqueueResult } from '../storage-adapter.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import { queuedStatus } from '../shared/redelivery.js';
import { toEvent } from './rows.js';
import type { Statements } from './statements/prepared-statements.js';

/** Runs in the caller's transaction. */
export function enqueueEvent(s: Statements, input: EnqueueInput): EnqueueResult {
  const { event } = input;
  const key = event.idempotencyKey ?? null;
  const inserted = s.insertEvent.run(event.id, event.type, event.timestamp, event.payload, key).changes;
  if (inserted === 0) {
    const first = s.getEventByKey.get(key);
    if (first === undefined) throw new StorageError('STORAGE_FAILED', 'SQLite storage: idempotency conflict without a stored event');
    return { event: toEvent(first), created: false, deliveryCount: 0 };
  }
  // Only active subscriptions match (see matchingSubscriptions).
  const subscriptionIds = s.matchingSubscriptions.all(JSON.stringify(candidateFilters(event.type)));
  if (subscriptionIds.length > 0) {
    s.insertDeliveries.run({
      event_id: event.id,
      event_type: event.type,
      status: queuedStatus(true),
      next: input.now,
      now: input.now,
      pairs: JSON.stringify(subscriptionIds.map((id) => [newDeliveryId(input.now), id])),
    });
  }
  return {
    event: { id: event.id, type: event.type, timestamp: event.timestamp, payload: event.payload, idempotencyKey: key },
    created: true,
    deliveryCount: subscriptionIds.length,
  };
}
