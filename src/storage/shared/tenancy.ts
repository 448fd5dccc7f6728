/**
 * The tenant rules, decided once for every adapter (memory and SQLite call these functions;
 * PostgreSQL's statements follow them and say so):
 *
 * - **who receives an event**: a subscription receives the events of its own tenant — a
 *   tenantless (platform) subscription the tenantless events — and an all-tenant consumer
 *   every event, whatever its tenant ({@link receivesTenant});
 * - **whose a delivery is**: its subscription's tenant ({@link deliveryTenantId}), so that a
 *   tenant's reads never show a delivery to a platform consumer;
 * - **idempotency** is scoped per tenant ({@link idempotencyScope});
 * - **the subscription limit** per tenant ({@link tenantLimitReached});
 * - **removal order** of a tenant's rows ({@link tenantPurgeSteps}).
 */
import { ConflictError } from '../../errors.js';
import type { SubscriptionRecord } from '../storage-adapter.js';

/** The fields of a subscription that decide which tenants' events it receives. */
export type TenantScope = Pick<SubscriptionRecord, 'tenantId' | 'allTenants'>;

/**
 * True when a subscription with this scope may receive an event of `eventTenantId`
 * (`null`: published without a tenant). The one rule behind fan-out, replay and
 * `enable({ replayMissed })`.
 */
export function receivesTenant(scope: TenantScope, eventTenantId: string | null): boolean {
  return scope.allTenants || scope.tenantId === eventTenantId;
}

/** The `tenantId` of a delivery to this subscription: the subscription's own. */
export function deliveryTenantId(scope: TenantScope): string | null {
  return scope.tenantId;
}

/**
 * The scope an idempotency key is unique within, as a non-null key for an index: the tenant
 * id, or `''` for events published without a tenant (a tenant id is never empty).
 */
export function idempotencyScope(tenantId: string | null): string {
  return tenantId ?? '';
}

/** The refusal of a subscription beyond `tenantLimits.maxSubscriptions`. */
export function tenantLimitReached(tenantId: string, max: number): ConflictError {
  return new ConflictError(
    'TENANT_SUBSCRIPTION_LIMIT',
    `Expected tenant ${JSON.stringify(tenantId)} to have fewer than ${max} subscriptions (tenantLimits.maxSubscriptions) to create another, got ${max}`,
    { field: 'tenantId' },
  );
}

/**
 * The order in which a tenant's removal takes its rows, one kind per batch until none is
 * left: its deliveries first (bounded by index; a subscription's delete would take all of
 * its deliveries at once), then its subscriptions (no new deliveries are made for it after
 * this), then its events with what deliveries other consumers still hold of them.
 */
export const tenantPurgeSteps = Object.freeze(['deliveries', 'subscriptions', 'events'] as const);
