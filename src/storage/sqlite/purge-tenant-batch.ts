/**
 * One batch of a tenant's removal (`purgeTenant`): the steps run in the order of
 * tenantPurgeSteps (storage/shared/tenancy.ts), each taking at most `limit` rows of its kind
 * and letting the next one run only once none of its kind is left. This module reads each
 * step's next rows and deletes them with what goes with them (statements/purge-tenant.ts).
 * The tenant's events take with them the deliveries all-tenant consumers have of them: one
 * that was the head of an ordering key passes (ordering-keys.ts), so that the consumer's
 * deliveries of the key from other tenants' events do not wait for it forever.
 */
import type { PurgeTenantInput, PurgeTenantResult } from '../storage-adapter.js';
import { tenantPurgeSteps } from '../shared/tenancy.js';
import { passHead } from './ordering-keys.js';
import type { Statements } from './statements/prepared-statements.js';

type PurgeStep = (typeof tenantPurgeSteps)[number];
type Removed = Omit<PurgeTenantResult, 'done'>;

/** Removes up to `limit` rows of one kind; true when none of that kind is left. */
type StepRemoval = (s: Statements, input: PurgeTenantInput, removed: Removed) => boolean;

/** The deliveries `ids` and their attempts. */
function removeDeliveries(s: Statements, ids: string[], removed: Removed): void {
  if (ids.length === 0) return;
  const json = JSON.stringify(ids);
  removed.attempts += s.deleteAttemptsOfDeliveries.run(json).changes;
  removed.deliveries += s.deleteDeliveries.run(json).changes;
}

// A step that took fewer rows than it could has taken the last; otherwise one seek tells.
const removals: Record<PurgeStep, StepRemoval> = {
  deliveries(s, { tenantId, limit }, removed) {
    const ids = s.tenantDeliveries.all(tenantId, limit);
    removeDeliveries(s, ids, removed);
    return ids.length < limit || s.tenantHasDeliveries.get(tenantId) === 0;
  },
  subscriptions(s, { tenantId, limit }, removed) {
    const ids = s.tenantSubscriptions.all(tenantId, limit);
    if (ids.length > 0) {
      // Their deliveries went in the first step (each was the tenant's); their counts go with them (trigger of 0004).
      // Soft-deleted ones are among them, and their change logs, test logs and ordering keys go too.
      const json = JSON.stringify(ids);
      s.deleteFiltersOfSubscriptions.run(json);
      s.deleteChangesOfSubscriptions.run(json);
      s.deleteTestAttemptsOfSubscriptions.run(json);
      s.deleteKeysOfSubscriptions.run(json);
      removed.subscriptions += s.deleteSubscriptions.run(json).changes;
    }
    return ids.length < limit || s.tenantHasSubscriptions.get(tenantId) === 0;
  },
  events(s, { tenantId, limit, now }, removed) {
    const ids = s.tenantEvents.all(tenantId, limit);
    if (ids.length > 0) {
      const json = JSON.stringify(ids);
      // What all-tenant consumers still hold of them: not the tenant's deliveries, but of its events.
      const ordered = s.orderedOfEvents.all(json);
      removeDeliveries(s, s.deliveriesOfEvents.all(json), removed);
      // Once every one of them is gone, so that a key's next head is one that stays.
      for (const row of ordered) {
        passHead(s, { subscriptionId: row.subscription_id, orderingKey: row.ordering_key, orderingSequence: row.ordering_seq }, now);
      }
      removed.events += s.deleteEvents.run(json).changes;
    }
    return ids.length < limit || s.tenantHasEvents.get(tenantId) === 0;
  },
};

/**
 * Runs in the caller's write transaction. Unless `force`, refuses with `'in_flight'` (and
 * removes nothing) while a delivery of the tenant is under a live lease at `now`.
 */
export function purgeTenantBatch(s: Statements, input: PurgeTenantInput): PurgeTenantResult | 'in_flight' {
  if (!input.force && s.tenantInFlight.get({ tenant: input.tenantId, now: input.now }) === 1) return 'in_flight';
  const removed: Removed = { subscriptions: 0, events: 0, deliveries: 0, attempts: 0 };
  for (const step of tenantPurgeSteps) {
    if (!removals[step](s, input, removed)) return { ...removed, done: false };
  }
  return { ...removed, done: true };
}
