/**
 * Storage conformance cases for claiming due deliveries and the leases that fence them.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { ClaimedDelivery, DeliveryRecord } from '../../src/storage/storage-adapter.js';
import { LEASE_MS, type ConformanceContext } from './conformance-context.js';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeClaim(t: ConformanceContext): void {
  const { createSubscription, publish, publishFor, claim, claimOne, settle, delivery, usesDatabaseClock, shortLeaseMs, letLeasesExpire, claimAfterLeaseExpiry } = t;

  describe('claimDue', () => {
    it('hands each of 300 due deliveries to exactly one of three racing claimers', async () => {
      await createSubscription();
      for (let i = 0; i < 300; i++) await publish('payment.succeeded');
      const claimers = [t.storage, await t.openPeer(), await t.openPeer()];
      const seen = new Map<string, number>();
      for (let round = 0; round < 1000; round++) {
        const batches = await Promise.all(claimers.map((c) => claim(7, LEASE_MS, c)));
        if (batches.every((b) => b.length === 0)) break;
        for (const batch of batches) for (const c of batch) seen.set(c.delivery.id, (seen.get(c.delivery.id) ?? 0) + 1);
      }
      expect(seen.size).toBe(300);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      expect((await t.storage.stats(t.now)).leased).toBe(300);
    });

    it('returns the delivery under a lease with its event, its subscription and a token', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const event = await t.storage.getEvent(d.eventId);
      const claimed = await claimOne(d.id);
      expect(claimed.event).toEqual(event);
      expect(claimed.subscription).toEqual(sub);
      expect(typeof claimed.leaseToken).toBe('string');
      expect(claimed.leaseToken.length).toBeGreaterThan(0);
      expect(claimed.delivery).toMatchObject({ id: d.id, status: 'pending', attempts: 0 });
      expect(claimed.delivery.leaseExpiresAt).not.toBeNull();
      if (!usesDatabaseClock()) expect(claimed.delivery.leaseExpiresAt).toBe(t.now + LEASE_MS);
      expect(await t.storage.getDelivery(d.id)).toEqual(claimed.delivery);
      claimed.subscription.eventTypes.push('x.*');
      claimed.delivery.status = 'dead';
      expect(await t.storage.getSubscription(sub.id)).toEqual(sub);
      expect((await delivery(d.id)).status).toBe('pending');
    });

    it('leaves updatedAt as it was: a lease is not a change of the delivery', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      t.now += 5_000;
      const claimed = await claimOne(d.id);
      expect(claimed.delivery.updatedAt).toBe(d.updatedAt);
      expect(await t.storage.getDelivery(d.id)).toEqual(claimed.delivery);
      // Settling is a change: it moves updatedAt to its time.
      t.now += 1_000;
      await settle(claimed, { kind: 'retry', nextAttemptAt: t.now + 60_000 }, { statusCode: 503 });
      expect((await delivery(d.id)).updatedAt).toBe(t.now);
    });

    it('claims the oldest due first, then by id, and never more than the limit', async () => {
      const sub = await createSubscription();
      const a = await publishFor(sub.id);
      t.now += 5;
      const b = await publishFor(sub.id);
      const c = await publishFor(sub.id);
      t.now += 10;
      const first = await claim(2);
      expect(first.map((x) => x.delivery.id)).toEqual([a.id, b.id]);
      await settle(first[0]!, { kind: 'retry', nextAttemptAt: t.now + 20 }, { statusCode: 500 });
      await settle(first[1]!, { kind: 'delivered' });
      t.now += 5;
      const d = await publishFor(sub.id);
      t.now += 100;
      // a's retry falls due after d, made later with a greater id: due time wins over id.
      expect((await claim(10)).map((x) => x.delivery.id)).toEqual([c.id, d.id, a.id]);
    });

    it('does not claim a delivery due in the future, and nextDueAt reports when it will be due', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const claimed = await claimOne(d.id);
      const dueAt = t.now + 60_000;
      await settle(claimed, { kind: 'retry', nextAttemptAt: dueAt }, { statusCode: 503 });
      expect(await t.storage.nextDueAt(t.now)).toBe(dueAt);
      t.now = dueAt - 1;
      expect(await claim()).toEqual([]);
      t.now = dueAt;
      expect((await claim()).map((x) => x.delivery.id)).toEqual([d.id]);
    });

    it('does not claim a delivery of a disabled subscription, nor report it due', async () => {
      const sub = await createSubscription();
      await publishFor(sub.id);
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now);
      t.now += 1000;
      expect(await claim()).toEqual([]);
      expect(await t.storage.nextDueAt(t.now)).toBeNull();
    });

    it('reports no due time when nothing is pending', async () => {
      expect(await t.storage.nextDueAt(t.now)).toBeNull();
      expect(await claim()).toEqual([]);
    });

    it('claims nothing of excluded subscriptions, the others still in due order, and the excluded ones once no longer excluded', async () => {
      const slow = await createSubscription({ eventTypes: ['ledger.*'] });
      const b = await createSubscription({ eventTypes: ['payment.*'] });
      const c = await createSubscription({ eventTypes: ['refund.*'] });
      // The excluded subscription's backlog comes first; b and c interleave after it.
      const ofSlow: DeliveryRecord[] = [];
      for (let i = 0; i < 5; i++) {
        ofSlow.push(await publishFor(slow.id, 'ledger.posted'));
        t.now += 1;
      }
      const b1 = await publishFor(b.id, 'payment.succeeded');
      t.now += 1;
      const c1 = await publishFor(c.id, 'refund.created');
      t.now += 1;
      const b2 = await publishFor(b.id, 'payment.succeeded');
      const c2 = await publishFor(c.id, 'refund.created');
      t.now += 1;
      const b3 = await publishFor(b.id, 'payment.succeeded');
      t.now += 100;

      const excluding = (ids: string[], limit: number): Promise<ClaimedDelivery[]> =>
        t.storage.claimDue({ limit, leaseMs: LEASE_MS, now: t.now, excludeSubscriptionIds: ids });
      const sameTime = [b2, c2].sort((x, y) => (x.id < y.id ? -1 : 1));
      expect((await excluding([slow.id], 2)).map((x) => x.delivery.id)).toEqual([b1.id, c1.id]);
      expect((await excluding([slow.id, createId('sub', t.now)], 10)).map((x) => x.delivery.id)).toEqual([
        ...sameTime.map((d) => d.id),
        b3.id,
      ]);
      expect(await excluding([slow.id], 10)).toEqual([]);
      expect((await t.storage.getDelivery(ofSlow[0]!.id))!.leaseExpiresAt).toBeNull();

      const released = await excluding([], 3);
      expect(released.map((x) => x.delivery.id)).toEqual(ofSlow.slice(0, 3).map((d) => d.id));
      expect((await claim(10)).map((x) => x.delivery.id)).toEqual(ofSlow.slice(3).map((d) => d.id));
    });

    it('excludes every subscription named, and claims nothing when all with due work are excluded', async () => {
      const a = await createSubscription({ eventTypes: ['payment.*'] });
      const b = await createSubscription({ eventTypes: ['refund.*'] });
      await publishFor(a.id, 'payment.succeeded');
      await publishFor(b.id, 'refund.created');
      expect(await t.storage.claimDue({ limit: 10, leaseMs: LEASE_MS, now: t.now, excludeSubscriptionIds: [a.id, b.id] })).toEqual([]);
      expect(await t.storage.nextDueAt(t.now)).toBe(t.now);
      const onlyB = await t.storage.claimDue({ limit: 10, leaseMs: LEASE_MS, now: t.now, excludeSubscriptionIds: [a.id, a.id] });
      expect(onlyB.map((x) => x.subscription.id)).toEqual([b.id]);
    });
  });

  describe('leases', () => {
    it('does not hand out a claimed delivery again while its lease holds', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      await claimOne(d.id);
      const peer = await t.openPeer();
      expect(await claim(10, LEASE_MS, peer)).toEqual([]);
      if (!usesDatabaseClock()) {
        t.now += LEASE_MS - 1;
        expect(await claim()).toEqual([]);
      }
    });

    it('hands out a delivery again with a new token once its lease expired, and fences the stale token', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const first = await claimOne(d.id, shortLeaseMs());
      const second = await claimAfterLeaseExpiry();
      expect(second.map((x) => x.delivery.id)).toEqual([d.id]);
      expect(second[0]!.leaseToken).not.toBe(first.leaseToken);

      const before = await delivery(d.id);
      const stale = await settle(first, { kind: 'delivered' });
      expect(stale).toEqual({ ok: false, deliveryId: d.id, code: 'STORAGE_LEASE_LOST' });
      expect(await t.storage.getDelivery(d.id)).toEqual(before);
      expect(await t.storage.listAttempts(d.id)).toEqual([]);

      const fresh = await settle(second[0]!, { kind: 'delivered' });
      expect(fresh.ok).toBe(true);
    });

    it('lets the holder of an expired lease settle while nobody has claimed the delivery again', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const claimed = await claimOne(d.id, shortLeaseMs());
      await letLeasesExpire();
      const result = await settle(claimed, { kind: 'delivered' });
      expect(result.ok).toBe(true);
      expect((await delivery(d.id)).status).toBe('delivered');
    });

    it('makes released deliveries due at once and ignores a release with a stale token', async () => {
      const sub = await createSubscription();
      const a = await publishFor(sub.id);
      const b = await publishFor(sub.id);
      const [ca, cb] = await claim(2);
      await t.storage.releaseLeases(
        [
          { deliveryId: ca!.delivery.id, leaseToken: ca!.leaseToken },
          { deliveryId: cb!.delivery.id, leaseToken: 'not-the-token' },
        ],
        t.now,
      );
      const released = await delivery(a.id);
      expect(released).toMatchObject({ status: 'pending', leaseExpiresAt: null, attempts: 0 });
      expect(released.nextAttemptAt).toBeLessThanOrEqual(t.now);
      expect((await delivery(b.id)).leaseExpiresAt).not.toBeNull();
      expect((await claim()).map((x) => x.delivery.id)).toEqual([a.id]);
      expect(await settle(ca!, { kind: 'delivered' })).toMatchObject({ ok: false, code: 'STORAGE_LEASE_LOST' });
    });
  });
}
