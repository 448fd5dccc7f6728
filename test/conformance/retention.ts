/**
 * Storage conformance cases for retention (`purgeRetention`): which deliveries and events a
 * batch removes, by kind and cutoff; what it never removes (pending, held, in flight, an
 * event with a delivery left); the batch limit with `more`, and the counts after it.
 */
import { describe, expect, it } from 'vitest';
import type { PurgeRetentionInput } from '../../src/storage/storage-adapter.js';
import type { ConformanceContext } from './conformance-context.js';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeRetention(t: ConformanceContext): void {
  const { createSubscription, publish, publishFor, claim, claimOne, settle, delivery } = t;

  /** One batch with every kind past `before` (the current time unless given), overridden by `input`. */
  function retain(input: Partial<PurgeRetentionInput> = {}) {
    const before = input.deliveredBefore !== undefined || input.deadBefore !== undefined || input.eventsBefore !== undefined ? undefined : t.now;
    return t.storage.purgeRetention({
      deliveredBefore: before ?? null,
      deadBefore: before ?? null,
      eventsBefore: before ?? null,
      limit: 100,
      now: t.now,
      ...input,
    });
  }

  /** A delivery settled `kind` now, with one attempt. */
  async function finished(subscriptionId: string, kind: 'delivered' | 'dead', type = 'payment.succeeded') {
    const d = await publishFor(subscriptionId, type);
    await settle(await claimOne(d.id), { kind }, kind === 'dead' ? { statusCode: 500 } : {});
    return d;
  }

  describe('retention', () => {
    it('removes delivered, dead and cancelled deliveries past their cutoffs with their attempts and events, and keeps newer ones', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const doomed = await createSubscription({ eventTypes: ['order.*'] });
      const oldDelivered = await finished(sub.id, 'delivered');
      const oldDead = await finished(sub.id, 'dead');
      const oldCancelled = await publishFor(doomed.id, 'order.paid');
      await t.storage.softDeleteSubscription(doomed.id, t.now);
      t.now += 10_000;
      const cutoff = t.now;
      t.now += 1;
      const newDelivered = await finished(sub.id, 'delivered');
      const newDead = await finished(sub.id, 'dead');

      expect(await retain({ deliveredBefore: cutoff, deadBefore: cutoff, eventsBefore: cutoff })).toEqual({
        deliveries: 3,
        attempts: 2,
        events: 3,
        testAttempts: 0,
        more: false,
      });
      for (const d of [oldDelivered, oldDead, oldCancelled]) {
        expect(await t.storage.getDelivery(d.id)).toBeNull();
        expect(await t.storage.listAttempts(d.id)).toEqual([]);
        expect(await t.storage.getEvent(d.eventId)).toBeNull();
      }
      for (const d of [newDelivered, newDead]) {
        expect(await t.storage.listAttempts(d.id)).toHaveLength(1);
        expect(await t.storage.getEvent(d.eventId)).not.toBeNull();
      }
      expect((await delivery(newDelivered.id)).status).toBe('delivered');
      expect((await delivery(newDead.id)).status).toBe('dead');
      // The subscriptions and their change logs stay.
      expect(await t.storage.getSubscription(doomed.id)).toMatchObject({ id: doomed.id });
      expect(await retain({ deliveredBefore: cutoff, deadBefore: cutoff, eventsBefore: cutoff })).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 0, more: false });
    });

    it('never removes pending or held deliveries, whatever their age, nor their events', async () => {
      const active = await createSubscription({ eventTypes: ['payment.*'] });
      const disabled = await createSubscription({ eventTypes: ['hold.*'] });
      const retrying = await publishFor(active.id, 'payment.failed');
      await settle(await claimOne(retrying.id), { kind: 'retry', nextAttemptAt: t.now + 1000 }, { statusCode: 500 });
      const pending = await publishFor(active.id, 'payment.succeeded');
      const held = await publishFor(disabled.id, 'hold.placed');
      await t.storage.setSubscriptionStatus(disabled.id, { status: 'disabled', reason: 'manual' }, t.now);
      t.now += 365 * 24 * 3_600_000;

      expect(await retain()).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 0, more: false });
      expect((await delivery(pending.id)).status).toBe('pending');
      expect((await delivery(retrying.id)).status).toBe('pending');
      expect(await t.storage.listAttempts(retrying.id)).toHaveLength(1);
      expect((await delivery(held.id)).status).toBe('held');
      for (const d of [pending, retrying, held]) expect(await t.storage.getEvent(d.eventId)).not.toBeNull();
    });

    it('keeps a delivery whose attempt is in flight: a cancelled one under a lease stays until it settles', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const d = await publishFor(sub.id);
      const claimed = await claimOne(d.id);
      await t.storage.softDeleteSubscription(sub.id, t.now);
      expect((await delivery(d.id)).status).toBe('cancelled');
      t.now += 1000;

      expect(await retain()).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 0, more: false });
      expect(await t.storage.getEvent(d.eventId)).not.toBeNull();

      await settle(claimed, { kind: 'retry', nextAttemptAt: t.now + 1000 }, { statusCode: 500 });
      expect((await delivery(d.id)).status).toBe('cancelled');
      t.now += 1000;
      expect(await retain()).toEqual({ deliveries: 1, attempts: 1, events: 1, testAttempts: 0, more: false });
    });

    it('removes an event only with its last delivery', async () => {
      const fast = await createSubscription({ eventTypes: ['payment.*'] });
      const slow = await createSubscription({ eventTypes: ['payment.*'] });
      const { event } = await publish('payment.succeeded');
      const claimed = await claim(10);
      expect(claimed).toHaveLength(2);
      const ofFast = claimed.find((c) => c.delivery.subscriptionId === fast.id)!;
      const ofSlow = claimed.find((c) => c.delivery.subscriptionId === slow.id)!;
      await settle(ofFast, { kind: 'delivered' });
      await settle(ofSlow, { kind: 'retry', nextAttemptAt: t.now + 1000 }, { statusCode: 503 });
      t.now += 5000;

      expect(await retain()).toEqual({ deliveries: 1, attempts: 1, events: 0, testAttempts: 0, more: false });
      expect(await t.storage.getEvent(event.id)).not.toBeNull();
      expect((await delivery(ofSlow.delivery.id)).status).toBe('pending');

      await settle(await claimOne(ofSlow.delivery.id), { kind: 'delivered' });
      t.now += 5000;
      expect(await retain()).toEqual({ deliveries: 1, attempts: 2, events: 1, testAttempts: 0, more: false });
      expect(await t.storage.getEvent(event.id)).toBeNull();
    });

    it('keeps a kind whose cutoff is null: its deliveries, and so their events', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const delivered = await finished(sub.id, 'delivered');
      const dead = await finished(sub.id, 'dead');
      const { event: unmatched } = await publish('misc.noise');
      t.now += 5000;

      expect(await retain({ deliveredBefore: null, deadBefore: t.now, eventsBefore: null })).toEqual({ deliveries: 1, attempts: 1, events: 0, testAttempts: 0, more: false });
      expect(await t.storage.getDelivery(dead.id)).toBeNull();
      expect(await t.storage.getEvent(dead.eventId)).not.toBeNull();
      expect(await t.storage.getEvent(unmatched.id)).not.toBeNull();

      expect(await retain({ deliveredBefore: null, deadBefore: null, eventsBefore: t.now })).toEqual({ deliveries: 0, attempts: 0, events: 2, testAttempts: 0, more: false });
      expect((await delivery(delivered.id)).status).toBe('delivered');
      expect(await t.storage.getEvent(delivered.eventId)).not.toBeNull();
      expect(await t.storage.getEvent(unmatched.id)).toBeNull();

      expect(await retain({ deliveredBefore: t.now, deadBefore: null, eventsBefore: t.now })).toEqual({ deliveries: 1, attempts: 1, events: 1, testAttempts: 0, more: false });
    });

    it('takes at most `limit` deliveries and `limit` events per batch, oldest first, says `more` while some are left, and the next batch goes on', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const finishedIds: string[] = [];
      for (const kind of ['dead', 'delivered', 'dead', 'delivered', 'delivered'] as const) {
        finishedIds.push((await finished(sub.id, kind)).id);
        t.now += 10;
      }
      const unmatched: string[] = [];
      for (let i = 0; i < 3; i++) unmatched.push((await publish('misc.noise')).event.id);
      t.now += 1000;

      // The unmatched events are the only ones without a delivery in the first batch.
      expect(await retain({ limit: 2 })).toEqual({ deliveries: 2, attempts: 2, events: 2, testAttempts: 0, more: true });
      expect(await t.storage.getDelivery(finishedIds[0]!)).toBeNull();
      expect(await t.storage.getDelivery(finishedIds[1]!)).toBeNull();
      expect((await delivery(finishedIds[2]!)).status).toBe('dead');
      expect(await retain({ limit: 2 })).toEqual({ deliveries: 2, attempts: 2, events: 2, testAttempts: 0, more: true });
      expect((await delivery(finishedIds[4]!)).status).toBe('delivered');
      expect(await retain({ limit: 2 })).toEqual({ deliveries: 1, attempts: 1, events: 2, testAttempts: 0, more: true });
      expect(await retain({ limit: 2 })).toEqual({ deliveries: 0, attempts: 0, events: 2, testAttempts: 0, more: false });
      for (const id of [...finishedIds]) expect(await t.storage.getDelivery(id)).toBeNull();
      for (const id of unmatched) expect(await t.storage.getEvent(id)).toBeNull();
      expect(await retain({ limit: 2 })).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 0, more: false });
    });

    it('says no `more` when a batch took exactly what was left', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      await finished(sub.id, 'delivered');
      await finished(sub.id, 'dead');
      t.now += 1000;
      expect(await retain({ limit: 2 })).toEqual({ deliveries: 2, attempts: 2, events: 2, testAttempts: 0, more: false });
    });

    it('leaves the counts of stats equal to what is left', async () => {
      const a = await createSubscription({ eventTypes: ['payment.*'] });
      const b = await createSubscription({ eventTypes: ['refund.*'] });
      await finished(a.id, 'delivered');
      await finished(a.id, 'dead');
      await finished(b.id, 'delivered', 'refund.created');
      t.now += 1000;
      const cutoff = t.now;
      const recent = await finished(b.id, 'dead', 'refund.created');
      const waiting = await publishFor(a.id, 'payment.succeeded');
      t.now += 1000;

      expect(await retain({ deliveredBefore: cutoff, deadBefore: cutoff, eventsBefore: cutoff })).toMatchObject({ deliveries: 3 });
      const empty = { pending: 0, leased: 0, waiting: 0, held: 0, dead: 0, delivered: 0, cancelled: 0, oldestPendingCreatedAt: null };
      expect(await t.storage.stats(t.now)).toEqual({ ...empty, pending: 1, dead: 1, oldestPendingCreatedAt: waiting.createdAt });
      expect(await t.storage.stats(t.now, { subscriptionId: a.id })).toEqual({ ...empty, pending: 1, oldestPendingCreatedAt: waiting.createdAt });
      expect(await t.storage.stats(t.now, { subscriptionId: b.id })).toEqual({ ...empty, dead: 1 });
      expect((await delivery(recent.id)).status).toBe('dead');
    });
  });
}
