/**
 * Tenant isolation as a property, through the public API on every storage: random tenants,
 * subscriptions (of a tenant, of the platform, all-tenant consumers), publishes (some with
 * repeated idempotency keys), deliveries that die, disables, enables with and without
 * replay, replays, redeliveries and tenant deletions, in any order. After every step:
 *
 * - no delivery exists whose subscription may not receive its event's tenant (a tenant's
 *   subscription its own tenant's events, a platform subscription the tenantless ones, an
 *   all-tenant consumer any), and each delivery's `tenantId` is its subscription's;
 * - nothing of a deleted tenant remains — no subscription, no delivery of its own, no event
 *   published for it, no all-tenant consumer's delivery of such an event — until it is
 *   used again.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createWebhooks, type DeliveryRecord, type Subscription, type Webhooks } from '../../src/index.js';
import { openStorage, type StorageKind } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { propertyRuns } from '../support/property-runs.js';
import { samplePayment } from '../support/sample-payment.js';
import { everyPage } from '../support/every-page.js';

const START = Date.UTC(2026, 11, 3, 12);
const tenants = ['org_a', 'org_b', 'org_c'] as const;
const filterSets = [['payment.*'], ['refund.*'], ['*'], ['payment.succeeded']] as const;
const types = ['payment.succeeded', 'refund.initiated'] as const;

type Tenant = (typeof tenants)[number] | null;

type Step =
  | { kind: 'subscribe'; tenant: Tenant; allTenants: boolean; filters: number }
  | { kind: 'publish'; tenant: Tenant; type: number; key: number | null }
  | { kind: 'kill'; pick: number }
  | { kind: 'disable'; pick: number }
  | { kind: 'enable'; pick: number; replayMissed: boolean }
  | { kind: 'replay'; pick: number }
  | { kind: 'redeliver'; pick: number }
  | { kind: 'deleteTenant'; tenant: (typeof tenants)[number] };

const tenant = fc.constantFrom<Tenant>(...tenants, null);
const pick = fc.nat(1000);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), tenant, allTenants: fc.boolean(), filters: fc.nat(filterSets.length - 1) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('publish' as const), tenant, type: fc.nat(types.length - 1), key: fc.option(fc.nat(3)) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('kill' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('disable' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('enable' as const), pick, replayMissed: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('redeliver' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteTenant' as const), tenant: fc.constantFrom(...tenants) }) },
);

function dataOf(type: (typeof types)[number], n: number) {
  if (type === 'payment.succeeded') return samplePayment(n);
  return { refundId: `re_${n}`, paymentId: `pay_${n}`, amount: { amount: 100, currency: 'EUR' }, reason: 'requested_by_customer' as const, occurredAt: '2026-12-03T12:00:00.000Z' };
}

/** Runs the steps on a fresh instance and checks the two invariants after each. */
async function runSteps(kind: StorageKind, steps: Step[]): Promise<void> {
  const opened = await openStorage[kind]('tenant-property');
  const clock = new FakeClock(START);
  const webhooks: Webhooks = createWebhooks({ storage: opened.storage, clock, meter: false });
  await opened.storage.migrate();
  /** Events published for each tenant, and whether the tenant was deleted since its last use. */
  const eventsOf = new Map<string, string[]>();
  const deleted = new Set<string>();
  const subscriptions: Subscription[] = [];
  let published = 0;
  try {
    for (const current of steps) {
      clock.advance(1_000);
      const chosen = subscriptions.length === 0 ? undefined : subscriptions[('pick' in current ? current.pick : 0) % subscriptions.length];
      switch (current.kind) {
        case 'subscribe': {
          const allTenants = current.tenant === null && current.allTenants;
          const created = await webhooks.subscriptions.create({
            url: 'https://erp.example.com/hooks',
            eventTypes: [...filterSets[current.filters]!] as never,
            ...(current.tenant === null ? {} : { tenantId: current.tenant }),
            ...(allTenants ? { allTenants } : {}),
          });
          subscriptions.push(created);
          if (current.tenant !== null) deleted.delete(current.tenant);
          break;
        }
        case 'publish': {
          const type = types[current.type]!;
          const event = await webhooks.publish(type, dataOf(type, published++) as never, {
            ...(current.tenant === null ? {} : { tenantId: current.tenant }),
            ...(current.key === null ? {} : { idempotencyKey: `key_${current.key}` }),
          });
          expect(event.tenantId).toBe(current.tenant);
          if (current.tenant !== null) {
            deleted.delete(current.tenant);
            eventsOf.set(current.tenant, [...(eventsOf.get(current.tenant) ?? []), event.id]);
          }
          break;
        }
        case 'kill': {
          const [claimed] = await opened.storage.claimDue({ limit: 1, leaseMs: 60_000, now: clock.now() });
          if (claimed !== undefined) {
            await opened.storage.settle(
              [
                {
                  deliveryId: claimed.delivery.id,
                  leaseToken: claimed.leaseToken,
                  attempt: { id: `att_${clock.now()}`, startedAt: clock.now(), durationMs: 1, statusCode: 500, errorClass: 'http', errorMessage: null, responseSnippet: null },
                  outcome: { kind: 'dead' },
                },
              ],
              clock.now(),
            );
          }
          break;
        }
        case 'disable':
          if (chosen) subscriptions[subscriptions.indexOf(chosen)] = await webhooks.subscriptions.disable(chosen.id);
          break;
        case 'enable':
          if (chosen) subscriptions[subscriptions.indexOf(chosen)] = await webhooks.subscriptions.enable(chosen.id, { replayMissed: current.replayMissed });
          break;
        case 'replay':
          if (chosen) await webhooks.deliveries.replay({ subscriptionId: chosen.id, since: START });
          break;
        case 'redeliver': {
          const disabled = new Set(subscriptions.filter((s) => s.status === 'disabled').map((s) => s.id));
          const candidates = (await webhooks.deliveries.list({ limit: 1000 })).items.filter((d) => !disabled.has(d.subscriptionId));
          const target = candidates.length === 0 ? undefined : candidates[current.pick % candidates.length];
          if (target) await webhooks.deliveries.redeliver(target.id);
          break;
        }
        case 'deleteTenant':
          await webhooks.tenants.delete(current.tenant, { batchSize: 2 });
          deleted.add(current.tenant);
          subscriptions.splice(0, subscriptions.length, ...subscriptions.filter((s) => s.tenantId !== current.tenant));
          break;
      }
      await checkInvariants();
    }
  } finally {
    await webhooks.close();
    await opened.cleanup();
  }

  async function checkInvariants(): Promise<void> {
    const deliveries = await everyPage<DeliveryRecord>((cursor) => webhooks.deliveries.list({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) }));
    const subscriptionById = new Map<string, Subscription>();
    for (const delivery of deliveries) {
      let subscription = subscriptionById.get(delivery.subscriptionId);
      if (subscription === undefined) {
        const found = await webhooks.subscriptions.get(delivery.subscriptionId);
        expect(found, `delivery ${delivery.id} of a missing subscription`).not.toBeNull();
        subscription = found!;
        subscriptionById.set(subscription.id, subscription);
      }
      const event = await opened.storage.getEvent(delivery.eventId);
      expect(event, `delivery ${delivery.id} of a missing event`).not.toBeNull();
      if (!subscription.allTenants) expect(subscription.tenantId, `delivery ${delivery.id}: event of ${event!.tenantId} to a subscription of ${subscription.tenantId}`).toBe(event!.tenantId);
      expect(delivery.tenantId).toBe(subscription.tenantId);
      if (event!.tenantId !== null) expect(deleted.has(event!.tenantId), `delivery ${delivery.id} of deleted tenant ${event!.tenantId}'s event`).toBe(false);
    }
    for (const gone of deleted) {
      expect((await webhooks.subscriptions.list({ tenantId: gone })).items).toEqual([]);
      expect((await webhooks.deliveries.list({ tenantId: gone })).items).toEqual([]);
      for (const eventId of eventsOf.get(gone) ?? []) expect(await opened.storage.getEvent(eventId), `event ${eventId} of deleted tenant ${gone}`).toBeNull();
    }
  }
}

const runs: Record<StorageKind, number> = { memory: 150, sqlite: 60, postgres: 20 };

describe.each(Object.keys(runs) as StorageKind[])('tenant isolation on the %s storage', (kind) => {
  it('never delivers across tenants and leaves nothing of a deleted tenant, whatever the order of operations', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), (steps) => runSteps(kind, steps)),
      { numRuns: propertyRuns(runs[kind]) },
    );
  }, 300_000);
});
