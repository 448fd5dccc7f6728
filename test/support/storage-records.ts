/**
 * The records and inputs the adapter tests (test/storage/<adapter>/ and the storage properties
 * in test/property/) hand to a storage: an active subscription and an event to enqueue, at a
 * fixed clock unless a test gives its own.
 */
import { createId } from '../../src/ids.js';
import type { EnqueueInput, EnqueueResult, StorageAdapter, SubscriptionRecord } from '../../src/storage/storage-adapter.js';

/** The injected clock the adapter tests start from. */
export const NOW = 1_700_000_000_000;

/** An active subscription to every event type, created and updated at `now`. */
export function subscriptionAt(now: number, overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    id: createId('sub', now),
    tenantId: null,
    allTenants: false,
    url: 'https://erp.example.com/hooks',
    eventTypes: ['*'],
    filter: null,
    transform: null,
    orderingOnDead: 'block',
    versions: null,
    secrets: [{ value: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', createdAt: now, expiresAt: null }],
    headers: {},
    description: null,
    metadata: {},
    status: 'active',
    disabledReason: null,
    disabledAt: null,
    retry: null,
    flowControl: null,
    tls: null,
    failingSince: null,
    deletedAt: null,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

/** {@link subscriptionAt} {@link NOW}. */
export function subscription(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return subscriptionAt(NOW, overrides);
}

/** The input that enqueues one event of `type` at {@link NOW}. */
export function enqueueInput(type = 'payment.succeeded', extra: Partial<EnqueueInput> = {}): EnqueueInput {
  const id = createId('evt', NOW);
  return {
    event: { id, type, timestamp: NOW, payload: JSON.stringify({ id, type, data: {} }), idempotencyKey: null, tenantId: null },
    now: NOW,
    ...extra,
  };
}

/** Enqueues one event (`payment.succeeded` unless told) published at `now`. */
export async function publish(storage: StorageAdapter, now: number, extra: { tx?: unknown; type?: string } = {}): Promise<EnqueueResult> {
  const id = createId('evt', now);
  const { type = 'payment.succeeded', ...rest } = extra;
  return storage.enqueue({
    event: { id, type, timestamp: now, payload: `{"id":"${id}"}`, idempotencyKey: null, tenantId: null },
    now,
    ...rest,
  });
}
