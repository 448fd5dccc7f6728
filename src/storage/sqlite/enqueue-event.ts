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
import { toEvent } from './rows.js';
import type { Statements } from './statements/prepared-statements.js';

// The scope of every all-tenant consumer: a platform subscription that opted in.
const allTenantConsumer = Object.freeze({ tenantId: null, allTenants: true });

/** Runs in the caller's transaction. */
export function enqueueEvent(s: Statements, input: EnqueueInput): EnqueueResult {
  const { event, now } = input;
  const key = event.idempotencyKey ?? null;
  const tenantId = event.tenantId ?? null;
  const scope = idempotencyScope(tenantId);
  const inserted = s.insertEvent.run(event.id, event.type, event.timestamp, event.payload, key, tenantId).changes;
  if (inserted === 0) {
    const first = s.getEventByKey.get(scope, key);
    if (first === undefined) throw new StorageError('STORAGE_FAILED', 'SQLite storage: idempotency conflict without a stored event');
    return { event: toEvent(first), created: false, deliveryCount: 0 };
  }
  // Only active subscriptions that receive the event's tenant match (see scopeSubscriptions).
  // Each found under the event's scope has the event's tenant (for a tenantless event, the
  // all-tenant consumers found there too: null); each all-tenant consumer has none.
  const filters = JSON.stringify(candidateFilters(event.type));
  const own = s.scopeSubscriptions.all(filters, scope);
  const consumers = tenantId === null ? [] : s.allTenantConsumers.all(filters);
  const count = own.length + consumers.length;
  if (count > 0) {
    const ownTenant = deliveryTenantId({ tenantId, allTenants: false });
    const consumerTenant = deliveryTenantId(allTenantConsumer);
    const deliveries = own.map((id) => [newDeliveryId(now), id, ownTenant]);
    for (const id of consumers) deliveries.push([newDeliveryId(now), id, consumerTenant]);
    s.insertDeliveries.run({
      event_id: event.id,
      event_type: event.type,
      status: queuedStatus(true),
      next: now,
      now,
      deliveries: JSON.stringify(deliveries),
    });
  }
  return {
    event: { id: event.id, type: event.type, timestamp: event.timestamp, payload: event.payload, idempotencyKey: key, tenantId, expungedAt: null },
    created: true,
    deliveryCount: count,
  };
}
