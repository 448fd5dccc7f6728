/**
 * The memory storage claims what a plain sort of the claimable deliveries would, through
 * arbitrary publishes (of two tenants and none), exclusions of subscriptions and tenants,
 * retries, releases and disables.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import { createMemoryStorage } from '../../src/storage/memory/memory-storage.js';
import type { DeliveryRecord } from '../../src/storage/storage-adapter.js';
import { propertyRuns } from '../support/property-runs.js';
import { NOW, subscriptionAt } from '../support/storage-records.js';

describe('memory storage', () => {
  it('claims what a plain sort of the claimable deliveries would, through random publishes, exclusions, retries, releases and disables', async () => {
    const subscriptionIds = ['sub_0', 'sub_1', 'sub_2', 'sub_3', 'sub_4'];
    const tenantIds = ['org_a', 'org_b'];
    // sub_2 is the consumer of every tenant; sub_4 the platform's own.
    const scopes = [
      { tenantId: 'org_a', allTenants: false },
      { tenantId: 'org_a', allTenants: false },
      { tenantId: null, allTenants: true },
      { tenantId: 'org_b', allTenants: false },
      { tenantId: null, allTenants: false },
    ];
    const step = fc.oneof(
      fc.record({
        kind: fc.constant('publish' as const),
        type: fc.constantFrom('a.x', 'b.x', 'c.x'),
        tenantId: fc.constantFrom<string | null>(...tenantIds, null),
      }),
      fc.record({
        kind: fc.constant('claim' as const),
        limit: fc.integer({ min: 1, max: 6 }),
        exclude: fc.subarray(subscriptionIds),
        excludeTenants: fc.subarray(tenantIds),
        leaseMs: fc.constantFrom(0, 5, 50),
        // What becomes of the claimed ones: retried at once or later, released, or delivered.
        then: fc.constantFrom('retry-soon', 'retry-later', 'release', 'deliver', 'keep'),
      }),
      fc.record({ kind: fc.constant('toggle' as const), subscription: fc.constantFrom(...subscriptionIds) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 40 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) => {
        const storage = createMemoryStorage();
        let now = NOW;
        const filters = [['a.*'], ['b.*', 'c.*'], ['*'], ['c.*'], ['*']];
        for (let i = 0; i < subscriptionIds.length; i++) {
          await storage.createSubscription(subscriptionAt(now, { id: subscriptionIds[i]!, eventTypes: filters[i]!, ...scopes[i]! }));
        }
        const claimKey = (d: DeliveryRecord): number => Math.max(d.nextAttemptAt!, d.leaseExpiresAt ?? d.nextAttemptAt!);
        for (const s of steps) {
          if (s.kind === 'publish') {
            const id = createId('evt', now);
            const event = { id, type: s.type, timestamp: now, payload: `{"id":"${id}"}`, idempotencyKey: null, tenantId: s.tenantId };
            await storage.enqueue({ event, now });
            // Each delivery is its subscription's tenant's, and went only where the tenant allows.
            for (const d of (await storage.listDeliveries({ eventId: id, limit: 10 })).items) {
              const scope = scopes[subscriptionIds.indexOf(d.subscriptionId)]!;
              expect(d.tenantId).toBe(scope.tenantId);
              expect(scope.allTenants || scope.tenantId === s.tenantId).toBe(true);
            }
          } else if (s.kind === 'tick') {
            now += s.ms;
          } else if (s.kind === 'toggle') {
            const current = await storage.getSubscription(s.subscription);
            await storage.setSubscriptionStatus(s.subscription, { status: current!.status === 'active' ? 'disabled' : 'active' }, now);
          } else {
            const pending = (await storage.listDeliveries({ status: 'pending', limit: 10_000 })).items;
            const expected = pending
              .filter((d) => !s.exclude.includes(d.subscriptionId) && !(d.tenantId !== null && s.excludeTenants.includes(d.tenantId)))
              .filter((d) => claimKey(d) <= now)
              .sort((x, y) => claimKey(x) - claimKey(y) || (x.id < y.id ? -1 : 1))
              .slice(0, s.limit)
              .map((d) => d.id);
            const nextDue = pending.length === 0 ? null : Math.min(...pending.map(claimKey));
            expect(await storage.nextDueAt(now)).toBe(nextDue);
            const claimed = await storage.claimDue({
              limit: s.limit,
              leaseMs: s.leaseMs,
              now,
              excludeSubscriptionIds: s.exclude,
              excludeTenantIds: s.excludeTenants,
            });
            expect(claimed.map((c) => c.delivery.id)).toEqual(expected);
            if (s.then === 'release') {
              await storage.releaseLeases(claimed.map((c) => ({ deliveryId: c.delivery.id, leaseToken: c.leaseToken })), now);
            } else if (s.then !== 'keep') {
              await storage.settle(
                claimed.map((c) => ({
                  deliveryId: c.delivery.id,
                  leaseToken: c.leaseToken,
                  attempt: { id: createId('att', now), startedAt: now, durationMs: 1, statusCode: 500, errorClass: 'http' as const, errorMessage: null, responseSnippet: null },
                  outcome:
                    s.then === 'deliver'
                      ? { kind: 'delivered' as const }
                      : { kind: 'retry' as const, nextAttemptAt: now + (s.then === 'retry-soon' ? 1 : 30) },
                })),
                now,
              );
            }
          }
        }
      }),
      { numRuns: propertyRuns(200) },
    );
  });
});
