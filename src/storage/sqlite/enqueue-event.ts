/**
 * Storing a published event and its fan-out: one pending delivery per active
 * subscription whose filters match its type, that receives its tenant and whose payload
 * filter, if it has one, the core's callback accepts (storage/shared/payload-filters.ts),
 * with the payload the core rendered for its transform or version pins, if it has either
 * (storage/shared/delivery-payloads.ts); or nothing new when its idempotency key was seen
 * before in that tenant. An event with an ordering key numbers each of its deliveries in its
 * subscription's key (ordering-keys.ts): the key's head is due at once, a delivery behind it
 * waits (storage/shared/ordering.ts); an unordered one runs exactly the statements it ran
 * before ordering existed.
 */
import { StorageError } from '../../errors.js';
import { candidateFilters } from '../../registry/event-type-filter.js';
import type { EnqueueInput, EnqueueResult } from '../storage-adapter.js';
import { enqueuePayload, rendersPayloads } from '../shared/delivery-payloads.js';
import { newDeliveryId } from '../shared/delivery-ids.js';
import { enqueueAccepts } from '../shared/payload-filters.js';
import { queuedStatus } from '../shared/redelivery.js';
import { deliveryTenantId, idempotencyScope } from '../shared/tenancy.js';
import { appendDelivery } from './ordering-keys.js';
import { toEvent, toSubscription, type FanOutRow } from './rows.js';
import type { Statements } from './statements/prepared-statements.js';

// The scope of every all-tenant consumer: a platform subscription that opted in.
const allTenantConsumer = Object.freeze({ tenantId: null, allTenants: true });

/**
 * Runs in the caller's transaction: a payload-filter or render callback that throws (after
 * the event's row was written) rolls it back with the rest.
 */
export function enqueueEvent(s: Statements, input: EnqueueInput): EnqueueResult {
  const { event, now } = input;
  const key = event.idempotencyKey ?? null;
  const tenantId = event.tenantId ?? null;
  const scope = idempotencyScope(tenantId);
  const orderingKey = event.orderingKey ?? null;
  const inserted = (
    orderingKey === null
      ? s.insertEvent.run(event.id, event.type, event.timestamp, event.payload, key, tenantId)
      : s.insertOrderedEvent.run(event.id, event.type, event.timestamp, event.payload, key, tenantId, orderingKey)
  ).changes;
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
  const ownTenant = deliveryTenantId({ tenantId, allTenants: false });
  const consumerTenant = deliveryTenantId(allTenantConsumer);
  // [deliveryId, subscriptionId, tenantId, payload?] of each receiver a payload filter does
  // not refuse; the payload when the core rendered one.
  const deliveries: Array<[string, string, string | null] | [string, string, string | null, string]> = [];
  const receive = (row: FanOutRow, deliveryTenant: string | null): void => {
    if (!enqueueAccepts(input, row.payload_filter, row.subscription_id)) return;
    if (!rendersPayloads({ transform: row.transform, versions: row.event_versions })) {
      deliveries.push([newDeliveryId(now), row.subscription_id, deliveryTenant]);
      return;
    }
    // The whole record for the callback, read only for a subscription the core renders for.
    const payload = enqueuePayload(input, toSubscription(s.getSubscription.get(row.subscription_id)!));
    if (payload === undefined) return;
    deliveries.push(payload === null ? [newDeliveryId(now), row.subscription_id, deliveryTenant] : [newDeliveryId(now), row.subscription_id, deliveryTenant, payload]);
  };
  for (const row of own) receive(row, ownTenant);
  for (const row of consumers) receive(row, consumerTenant);
  const count = deliveries.length;
  if (count > 0 && orderingKey !== null) {
    insertOrdered(s, input, orderingKey, deliveries);
  } else if (count > 0) {
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
    event: { id: event.id, type: event.type, timestamp: event.timestamp, payload: event.payload, idempotencyKey: key, tenantId, orderingKey, expungedAt: null },
    created: true,
    deliveryCount: count,
  };
}

/**
 * The fan-out of an ordered event: each delivery takes its subscription's next number of the
 * key (appendToKey), due at `now` when it is the key's head, waiting (no due time) otherwise.
 * Every receiver is active, so every delivery is pending.
 */
function insertOrdered(
  s: Statements,
  input: EnqueueInput,
  orderingKey: string,
  deliveries: ReadonlyArray<[string, string, string | null] | [string, string, string | null, string]>,
): void {
  const { event, now } = input;
  const rows = deliveries.map(([id, subscriptionId, tenant, payload]) => {
    const append = appendDelivery(s, subscriptionId, orderingKey);
    return [id, subscriptionId, tenant, payload ?? null, append.sequence, append.isHead ? now : null];
  });
  s.insertOrderedDeliveries.run({
    event_id: event.id,
    event_type: event.type,
    status: queuedStatus(true),
    now,
    ordering_key: orderingKey,
    deliveries: JSON.stringify(rows),
  });
}
