/**
 * Storage conformance cases for stats and purge: counts by status, and removing old finished work.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { ConformanceContext } from './conformance-context.js';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeStatsAndPurge(t: ConformanceContext): void {
  const { createSubscription, publish, publishFor, claim, claimOne, settle, delivery, usesDatabaseClock, shortLeaseMs, letLeasesExpire } = t;

  describe('stats', () => {
    it('tracks pending, leased, held, dead, delivered and the oldest pending creation through each transition', async () => {
      const empty = { pending: 0, leased: 0, waiting: 0, held: 0, dead: 0, delivered: 0, cancelled: 0, oldestPendingCreatedAt: null };
      expect(await t.storage.stats(t.now)).toEqual(empty);
      const sub = await createSubscription();
      const t0 = t.now;
      const d1 = await publishFor(sub.id);
      t.now += 1000;
      const d2 = await publishFor(sub.id);
      t.now += 1000;
      const d3 = await publishFor(sub.id);
      expect(await t.storage.stats(t.now)).toEqual({ ...empty, pending: 3, oldestPendingCreatedAt: t0 });

      const c1 = await claimOne(d1.id);
      expect(await t.storage.stats(t.now)).toEqual({ ...empty, pending: 3, leased: 1, oldestPendingCreatedAt: t0 });
      await settle(c1, { kind: 'delivered' });
      expect(await t.storage.stats(t.now)).toEqual({ ...empty, pending: 2, delivered: 1, oldestPendingCreatedAt: t0 + 1000 });

      await settle(await claimOne(d2.id), { kind: 'dead' }, { statusCode: 500 });
      expect(await t.storage.stats(t.now)).toEqual({ ...empty, pending: 1, dead: 1, delivered: 1, oldestPendingCreatedAt: t0 + 2000 });

      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now);
      expect(await t.storage.stats(t.now)).toEqual({ ...empty, held: 1, dead: 1, delivered: 1 });
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      expect(await t.storage.stats(t.now)).toEqual({ ...empty, pending: 1, dead: 1, delivered: 1, oldestPendingCreatedAt: t0 + 2000 });

      t.now += 1000;
      await t.storage.redeliver(d2.id, t.now);
      expect(await t.storage.stats(t.now)).toEqual({ ...empty, pending: 2, delivered: 1, oldestPendingCreatedAt: t0 + 1000 });
      expect((await delivery(d3.id)).status).toBe('pending');
    });

    it('stops counting a lease as leased once it expired', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      await claimOne(d.id, shortLeaseMs());
      if (!usesDatabaseClock()) expect((await t.storage.stats(t.now)).leased).toBe(1);
      await letLeasesExpire();
      expect(await t.storage.stats(t.now)).toMatchObject({ pending: 1, leased: 0 });
    });

    it('counts one subscription with subscriptionId, and nothing of an unknown one', async () => {
      const empty = { pending: 0, leased: 0, waiting: 0, held: 0, dead: 0, delivered: 0, cancelled: 0, oldestPendingCreatedAt: null };
      const a = await createSubscription({ eventTypes: ['payment.*'] });
      const b = await createSubscription({ eventTypes: ['refund.*'] });
      const t0 = t.now;
      const a1 = await publishFor(a.id, 'payment.succeeded');
      const b1 = await publishFor(b.id, 'refund.created');
      t.now += 1000;
      const a2 = await publishFor(a.id, 'payment.succeeded');
      const a3 = await publishFor(a.id, 'payment.succeeded');
      const b2 = await publishFor(b.id, 'refund.created');
      const a4 = await publishFor(a.id, 'payment.succeeded');
      const claimed = await claim(10);
      const byId = (id: string) => claimed.find((x) => x.delivery.id === id)!;
      await settle(byId(a1.id), { kind: 'delivered' });
      await settle(byId(a2.id), { kind: 'dead' }, { statusCode: 500 });
      await settle(byId(a4.id), { kind: 'retry', nextAttemptAt: t.now + 1000 }, { statusCode: 500 });
      await settle(byId(b1.id), { kind: 'delivered' });
      // a: a3 leased, a4 waiting; b: b2 leased, then held by the disable.
      expect(await t.storage.stats(t.now, { subscriptionId: a.id })).toEqual({
        ...empty,
        pending: 2,
        leased: 1,
        dead: 1,
        delivered: 1,
        oldestPendingCreatedAt: t0 + 1000,
      });
      expect(await t.storage.stats(t.now, { subscriptionId: b.id })).toEqual({ ...empty, pending: 1, leased: 1, delivered: 1, oldestPendingCreatedAt: t0 + 1000 });
      await t.storage.setSubscriptionStatus(b.id, { status: 'disabled', reason: 'manual' }, t.now);
      expect(await t.storage.stats(t.now, { subscriptionId: b.id })).toEqual({ ...empty, held: 1, delivered: 1 });
      expect(await t.storage.stats(t.now)).toEqual({ ...empty, pending: 2, leased: 1, held: 1, dead: 1, delivered: 2, oldestPendingCreatedAt: t0 + 1000 });
      expect(await t.storage.stats(t.now, {})).toEqual(await t.storage.stats(t.now));
      expect(await t.storage.stats(t.now, { subscriptionId: createId('sub', t.now) })).toEqual(empty);
      expect((await delivery(b2.id)).status).toBe('held');
      expect((await delivery(a3.id)).leaseExpiresAt).not.toBeNull();
    });
  });

  describe('purge', () => {
    it('removes old final deliveries, their attempts and finished events, never pending or held ones or their events', async () => {
      const orders = await createSubscription({ eventTypes: ['order.*'] });
      const holds = await createSubscription({ eventTypes: ['hold.*'] });
      const delivered = await publishFor(orders.id, 'order.paid');
      const dead = await publishFor(orders.id, 'order.failed');
      const lateFinal = await publishFor(orders.id, 'order.shipped');
      const [cDelivered, cDead, cLate] = await claim(3);
      expect([cDelivered, cDead, cLate].map((c) => c!.delivery.id)).toEqual([delivered.id, dead.id, lateFinal.id]);
      await settle(cDelivered!, { kind: 'delivered' });
      await settle(cDead!, { kind: 'dead' }, { statusCode: 500 });
      const pending = await publishFor(orders.id, 'order.created');
      const held = await publishFor(holds.id, 'hold.placed');
      await t.storage.setSubscriptionStatus(holds.id, { status: 'disabled', reason: 'manual' }, t.now);
      const unmatched = await publish('misc.noise');

      t.now += 10_000;
      const cutoff = t.now;
      t.now += 5;
      // Finished after the cutoff: its record is recent even though it was created before.
      await settle(cLate!, { kind: 'delivered' });
      const recentUnmatched = await publish('misc.recent');

      const result = await t.storage.purge({ olderThan: cutoff });
      expect(result).toEqual({ events: 3, deliveries: 2, attempts: 2, testAttempts: 0 });

      for (const d of [delivered, dead]) {
        expect(await t.storage.getDelivery(d.id)).toBeNull();
        expect(await t.storage.listAttempts(d.id)).toEqual([]);
        expect(await t.storage.getEvent(d.eventId)).toBeNull();
      }
      expect(await t.storage.getEvent(unmatched.event.id)).toBeNull();

      expect((await delivery(pending.id)).status).toBe('pending');
      expect(await t.storage.getEvent(pending.eventId)).not.toBeNull();
      expect((await delivery(held.id)).status).toBe('held');
      expect(await t.storage.getEvent(held.eventId)).not.toBeNull();
      expect((await delivery(lateFinal.id)).status).toBe('delivered');
      expect(await t.storage.listAttempts(lateFinal.id)).toHaveLength(1);
      expect(await t.storage.getEvent(lateFinal.eventId)).not.toBeNull();
      expect(await t.storage.getEvent(recentUnmatched.event.id)).not.toBeNull();
      expect(await t.storage.stats(t.now)).toMatchObject({ pending: 1, held: 1, dead: 0, delivered: 1 });

      expect(await t.storage.purge({ olderThan: cutoff })).toEqual({ events: 0, deliveries: 0, attempts: 0, testAttempts: 0 });
    });
  });
}
