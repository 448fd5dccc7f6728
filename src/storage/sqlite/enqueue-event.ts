/**
 * Storing a published event and its fan-out: one pending delivery per active
 * subscription whose filters match its type and that receives its tenant, or nothing new
 * when its idempotency key was seen before in that tenant.
 */
import { StorageError } from '../../errors.js';
import { candidateFilters } from '../../registry/event-type-filter.js';
import type { EnqueueInput, EnqueueResult } from '../storage-adapter.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import { queuedStatus } from '../shared/redelivery.js';
import { deliveryTenantId, idempotencyScope } from '../shared/tenancy.js';
import { toEvent, toTenantScope } from './rows.js';
import type { Statements } from './statements/prepared-statements.js';

/** Runs in the caller's transaction. */
export function enqueueEvent(s: Statements, input: EnqueueInput): EnqueueResult {
  const { event } = input;
  const key = event.idempotencyKey ?? null;
  const tenantId = event.tenantId ?? null;
  const scope = idempotencyScope(tenantId);
  const inserted = s.insertEvent.run(event.id, event.type, event.timestamp, event.payload, key, tenantId).changes;
  if (inserted === 0) {
    const first = s.getEventByKey.get(scope, key);
    if (first === undefined) throw new StorageError('STORAGE_FAILED', 'SQLite storage: idempotency conflict without a stored event');
    return { event: toEvent(first), created: false, deliveryCount: 0 };
  }
  // Only active subscriptions that receive the event's tenant match (see matchingSubscriptions).
  const subscriptions = s.matchingSubscriptions.all({ filters: JSON.stringify(candidateFilters(event.type)), scope });
  if (subscriptions.length > 0) {
    s.insertDeliveries.run({
      event_id: event.id,
      event_type: event.type,
      status: queuedStatus(true),
      next: input.now,
      now: input.now,
      deliveries: JSON.stringify(
        subscriptions.map((row) => [newDeliveryId(input.now), row.subscription_id, deliveryTenantId(toTenantScope(row))]),
      ),
    });
  }
  return {
    event: { id: event.id, type: event.type, timestamp: event.timestamp, payload: event.payload, idempotencyKey: key, tenantId },
    created: true,
    deliveryCount: subscriptions.length,
  };
}
