/**
 * Storage conformance cases for redeliver: which deliveries may be sent again, and with what verdict.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { ConformanceContext } from './conformance-context.js';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeRedeliver(t: ConformanceContext): void {
  const { createSubscription, publishFor, claim, claimOne, settle, delivery, shortLeaseMs, letLeasesExpire } = t;

  describe('redeliver', () => {
    it('makes a delivered or dead delivery pending again, due now, with a fresh attempt cycle', async () => {
      const sub = await createSubscription();
      const ok = await publishFor(sub.id);
      const bad = await publishFor(sub.id);
      const [cOk, cBad] = await claim(2);
      await settle(cOk!, { kind: 'delivered' });
      await settle(cBad!, { kind: 'dead' }, { statusCode: 500 });
      t.now += 60_000;

      for (const id of [ok.id, bad.id]) {
        const result = await t.storage.redeliver(id, t.now);
        expect(result).toMatchObject({ id, status: 'pending', attempts: 0, nextAttemptAt: t.now, deliveredAt: null, leaseExpiresAt: null });
        expect(await t.storage.getDelivery(id)).toEqual(result);
      }
      const again = await claim(10);
      expect(again.map((c) => c.delivery.id).sort()).toEqual([ok.id, bad.id].sort());
      const retried = again.find((c) => c.delivery.id === ok.id)!;
      await settle(retried, { kind: 'delivered' });
      expect((await t.storage.listAttempts(ok.id)).map((a) => a.attemptNumber)).toEqual([1, 2]);
    });

    it('restarts the attempt cycle but goes on numbering the log, and keeps the first failure and the recovery', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const fresh = await claimOne(d.id);
      expect(fresh.history).toEqual({ attempts: 0, firstFailedAt: null, recoveredAt: null });
      const firstFailure = t.now;
      await settle(fresh, { kind: 'retry', nextAttemptAt: t.now + 1000 }, { startedAt: firstFailure, statusCode: 500 });
      t.now += 1000;
      const second = await claimOne(d.id);
      expect(second.delivery.attempts).toBe(1);
      expect(second.history).toEqual({ attempts: 1, firstFailedAt: firstFailure, recoveredAt: null });
      await settle(second, { kind: 'dead' }, { statusCode: 500 });

      t.now += 60_000;
      expect(await t.storage.redeliver(d.id, t.now)).toMatchObject({ status: 'pending', attempts: 0 });
      const third = await claimOne(d.id);
      // The retry schedule starts over (attempts in the cycle: 0); the log does not.
      expect(third.delivery.attempts).toBe(0);
      expect(third.history).toEqual({ attempts: 2, firstFailedAt: firstFailure, recoveredAt: null });
      const recovery = t.now;
      const result = await settle(third, { kind: 'delivered' }, { startedAt: recovery });
      expect(result).toMatchObject({ ok: true, delivery: { status: 'delivered', attempts: 1 } });

      t.now += 60_000;
      await t.storage.redeliver(d.id, t.now);
      const fourth = await claimOne(d.id);
      expect(fourth.history).toEqual({ attempts: 3, firstFailedAt: firstFailure, recoveredAt: recovery });
      await settle(fourth, { kind: 'retry', nextAttemptAt: t.now + 1000 }, { statusCode: 503 });
      t.now += 1000;
      const fifth = await claimOne(d.id);
      // Neither the first failure nor the first recovery moves.
      expect(fifth.history).toEqual({ attempts: 4, firstFailedAt: firstFailure, recoveredAt: recovery });
      await settle(fifth, { kind: 'delivered' });
      expect((await t.storage.listAttempts(d.id)).map((a) => [a.attemptNumber, a.outcome])).toEqual([
        [1, 'retry'],
        [2, 'dead'],
        [3, 'delivered'],
        [4, 'retry'],
        [5, 'delivered'],
      ]);
    });

    it('counts a failure that follows a success as the first failure, and the success after it as the recovery', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      await settle(await claimOne(d.id), { kind: 'delivered' });
      await t.storage.redeliver(d.id, t.now);
      const second = await claimOne(d.id);
      expect(second.history).toEqual({ attempts: 1, firstFailedAt: null, recoveredAt: null });
      const failedAt = t.now;
      await settle(second, { kind: 'disable', reason: 'gone' }, { startedAt: failedAt, statusCode: 410 });
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      const third = await claimOne(d.id);
      expect(third.history).toEqual({ attempts: 2, firstFailedAt: failedAt, recoveredAt: null });
      t.now += 1000;
      await settle(third, { kind: 'delivered' }, { startedAt: t.now });
      await t.storage.redeliver(d.id, t.now);
      expect((await claimOne(d.id)).history).toEqual({ attempts: 3, firstFailedAt: failedAt, recoveredAt: t.now });
    });

    it('brings a waiting retry forward to now', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      await settle(await claimOne(d.id), { kind: 'retry', nextAttemptAt: t.now + 3_600_000 }, { statusCode: 500 });
      const result = await t.storage.redeliver(d.id, t.now);
      expect(result).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: t.now });
      expect((await claim()).map((c) => c.delivery.id)).toEqual([d.id]);
    });

    it('requeues a pending delivery whose lease expired, and fences the old lease token', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const expired = await claimOne(d.id, shortLeaseMs());
      await letLeasesExpire();
      const result = await t.storage.redeliver(d.id, t.now);
      expect(result).toMatchObject({ id: d.id, status: 'pending', attempts: 0, nextAttemptAt: t.now, leaseExpiresAt: null });
      expect(await t.storage.getDelivery(d.id)).toEqual(result);
      expect(await settle(expired, { kind: 'delivered' })).toEqual({ ok: false, deliveryId: d.id, code: 'STORAGE_LEASE_LOST' });
      expect((await claim()).map((c) => c.delivery.id)).toEqual([d.id]);
    });

    it("answers 'held' for a delivered or dead delivery of a disabled subscription, and changes nothing", async () => {
      const sub = await createSubscription();
      const ok = await publishFor(sub.id);
      const bad = await publishFor(sub.id);
      const claimed = await claim(2);
      await settle(claimed.find((c) => c.delivery.id === ok.id)!, { kind: 'delivered' });
      await settle(claimed.find((c) => c.delivery.id === bad.id)!, { kind: 'dead' }, { statusCode: 500 });
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now);
      const before = [await delivery(ok.id), await delivery(bad.id)];
      t.now += 1000;
      expect(await t.storage.redeliver(ok.id, t.now)).toBe('held');
      expect(await t.storage.redeliver(bad.id, t.now)).toBe('held');
      expect([await delivery(ok.id), await delivery(bad.id)]).toEqual(before);
    });

    it("answers 'in_flight' under a lease, 'held' for a disabled subscription, 'not_found' for an unknown id", async () => {
      const live = await createSubscription();
      const off = await createSubscription({ eventTypes: ['refund.*'] });
      const leased = await publishFor(live.id);
      const held = await publishFor(off.id, 'refund.created');
      await claimOne(leased.id);
      await t.storage.setSubscriptionStatus(off.id, { status: 'disabled', reason: 'manual' }, t.now);
      const leasedBefore = await delivery(leased.id);
      expect(await t.storage.redeliver(leased.id, t.now)).toBe('in_flight');
      expect(await t.storage.getDelivery(leased.id)).toEqual(leasedBefore);
      expect(await t.storage.redeliver(held.id, t.now)).toBe('held');
      expect((await delivery(held.id)).status).toBe('held');
      expect(await t.storage.redeliver(createId('dlv', t.now), t.now)).toBe('not_found');
    });
  });
}
