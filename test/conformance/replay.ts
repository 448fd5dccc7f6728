/**
 * Storage conformance cases for replay: new deliveries for past events to one subscription.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { ConformanceContext } from './conformance-context.js';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeReplay(t: ConformanceContext): void {
  const { createSubscription, publish, publishFor, claim, claimOne, settle, deliveriesOfEvent, delivery } = t;

  describe('replay', () => {
    it('re-queues dead deliveries and creates the missing ones of the window, leaves delivered alone; dryRun only counts', async () => {
      const early = await publish('payment.early');
      t.now += 1000;
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const since = t.now;
      const dead = await publishFor(sub.id, 'payment.failed');
      const delivered = await publishFor(sub.id, 'payment.succeeded');
      const [cDead, cDelivered] = await claim(2);
      await settle(cDead!, { kind: 'dead' }, { statusCode: 500 });
      await settle(cDelivered!, { kind: 'delivered' });
      t.now += 1000;
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, t.now);
      const missed = await publish('payment.refunded');
      const unrelated = await publish('refund.created');
      t.now += 1000;
      const until = t.now;
      const afterWindow = await publish('payment.late');
      t.now += 1000;
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      expect(await deliveriesOfEvent(missed.event.id)).toEqual([]);

      const deadBefore = await delivery(dead.id);
      const dry = await t.storage.replay({ subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, until, now: t.now, dryRun: true });
      expect(dry).toEqual({ count: 2 });
      expect(await t.storage.getDelivery(dead.id)).toEqual(deadBefore);
      expect(await deliveriesOfEvent(missed.event.id)).toEqual([]);

      t.now += 1000;
      const done = await t.storage.replay({ subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, until, now: t.now });
      expect(done).toEqual({ count: 2 });
      expect(await delivery(dead.id)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: t.now });
      expect(await deliveriesOfEvent(missed.event.id)).toMatchObject([
        { subscriptionId: sub.id, status: 'pending', attempts: 0, nextAttemptAt: t.now, eventType: 'payment.refunded' },
      ]);
      expect((await delivery(delivered.id)).status).toBe('delivered');
      expect(await deliveriesOfEvent(unrelated.event.id)).toEqual([]);
      expect(await deliveriesOfEvent(afterWindow.event.id)).toEqual([]);
      expect(await deliveriesOfEvent(early.event.id)).toEqual([]);
      expect((await claim()).map((c) => c.delivery.eventId).sort()).toEqual([dead.eventId, missed.event.id].sort());

      const again = await t.storage.replay({ subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, until, now: t.now });
      expect(again).toEqual({ count: 0 });
    });

    it('with activate, enables the subscription in the same call: what it queued and what was held become due, the change is logged; dryRun changes nothing', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const held = await publishFor(sub.id, 'payment.held');
      t.now += 1000;
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, t.now);
      const since = t.now;
      const missed = await publish('payment.refunded');
      t.now += 1000;
      const activate = { id: createId('chg', t.now), action: 'enabled' as const, actor: 'ops', reason: null, isSensitiveHeader: () => false };

      const dry = await t.storage.replay({ subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, now: t.now, dryRun: true, activate });
      expect(dry.count).toBe(1);
      expect(dry.subscription).toBeUndefined();
      expect(await t.storage.getSubscription(sub.id)).toMatchObject({ status: 'disabled' });
      expect(await deliveriesOfEvent(missed.event.id)).toEqual([]);

      const done = await t.storage.replay({ subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, now: t.now, activate });
      expect(done).toMatchObject({ count: 1, subscription: { id: sub.id, status: 'active', disabledAt: null, disabledReason: null } });
      expect(await t.storage.getSubscription(sub.id)).toEqual(done.subscription);
      expect(await deliveriesOfEvent(missed.event.id)).toMatchObject([{ status: 'pending', nextAttemptAt: t.now }]);
      expect(await delivery(held.id)).toMatchObject({ status: 'pending', nextAttemptAt: t.now });
      const changes = (await t.storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 10 })).items;
      expect(changes.at(-1)).toMatchObject({ id: activate.id, action: 'enabled', actor: 'ops', changes: { status: { before: 'disabled', after: 'active' } } });
      expect((await claim(5)).map((c) => c.delivery.eventId).sort()).toEqual([held.eventId, missed.event.id].sort());
    });

    it('gives a replayed dead delivery a fresh attempt cycle and goes on numbering its log', async () => {
      const sub = await createSubscription();
      const since = t.now;
      const d = await publishFor(sub.id);
      const failedAt = t.now;
      await settle(await claimOne(d.id), { kind: 'dead' }, { startedAt: failedAt, statusCode: 500 });
      t.now += 1000;
      expect(await t.storage.replay({ subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, now: t.now })).toEqual({ count: 1 });
      const again = await claimOne(d.id);
      expect(again.delivery.attempts).toBe(0);
      expect(again.history).toEqual({ attempts: 1, firstFailedAt: failedAt, recoveredAt: null });
      await settle(again, { kind: 'delivered' });
      expect((await t.storage.listAttempts(d.id)).map((a) => a.attemptNumber)).toEqual([1, 2]);
    });

    it('leaves pending deliveries alone, waiting for a retry or under a lease, and counts only what it queues', async () => {
      const sub = await createSubscription();
      const since = t.now;
      const waiting = await publishFor(sub.id);
      const leased = await publishFor(sub.id);
      const dead = await publishFor(sub.id);
      const claimed = await claim(3);
      const byId = (id: string) => claimed.find((c) => c.delivery.id === id)!;
      await settle(byId(waiting.id), { kind: 'retry', nextAttemptAt: t.now + 3_600_000 }, { statusCode: 500 });
      await settle(byId(dead.id), { kind: 'dead' }, { statusCode: 500 });
      const before = [await delivery(waiting.id), await delivery(leased.id)];
      t.now += 1000;

      const input = { subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, now: t.now };
      expect(await t.storage.replay({ ...input, dryRun: true })).toEqual({ count: 1 });
      expect(await t.storage.replay(input)).toEqual({ count: 1 });
      expect([await delivery(waiting.id), await delivery(leased.id)]).toEqual(before);
      expect(await delivery(dead.id)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: t.now });
      expect((await claim()).map((c) => c.delivery.id)).toEqual([dead.id]);
    });

    it('queues held work for a disabled subscription, leaves its held deliveries alone, and enabling sends all of it', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const since = t.now;
      const dead = await publishFor(sub.id);
      const waiting = await publishFor(sub.id);
      await settle(await claimOne(dead.id), { kind: 'dead' }, { statusCode: 500 });
      t.now += 1000;
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, t.now);
      const held = await delivery(waiting.id);
      expect(held.status).toBe('held');
      const missed = await publish('payment.refunded');
      t.now += 1000;

      const input = { subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, now: t.now };
      const deadBefore = await delivery(dead.id);
      expect(await t.storage.replay({ ...input, dryRun: true })).toEqual({ count: 2 });
      expect(await t.storage.getDelivery(dead.id)).toEqual(deadBefore);
      expect(await deliveriesOfEvent(missed.event.id)).toEqual([]);
      expect(await t.storage.replay(input)).toEqual({ count: 2 });
      expect(await delivery(dead.id)).toMatchObject({ status: 'held', attempts: 0, nextAttemptAt: null, leaseExpiresAt: null });
      expect(await deliveriesOfEvent(missed.event.id)).toMatchObject([{ subscriptionId: sub.id, status: 'held', attempts: 0, nextAttemptAt: null }]);
      expect(await delivery(waiting.id)).toEqual(held);
      expect(await claim()).toEqual([]);

      t.now += 1000;
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      const queued = (await claim()).map((c) => c.delivery.eventId).sort();
      expect(queued).toEqual([dead.eventId, waiting.eventId, missed.event.id].sort());
    });

    it('replays only the event types it is given: a dead delivery or a missing one of another type is left alone', async () => {
      const sub = await createSubscription({ eventTypes: ['*'] });
      const since = t.now;
      const deadPayment = await publishFor(sub.id, 'payment.failed');
      const deadRefund = await publishFor(sub.id, 'refund.failed');
      const [a, b] = await claim(2);
      await settle(a!, { kind: 'dead' }, { statusCode: 500 });
      await settle(b!, { kind: 'dead' }, { statusCode: 500 });
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, t.now);
      const missedPayment = await publish('payment.late');
      const missedRefund = await publish('refund.late');
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      t.now += 1000;
      // As if the filters now were ['payment.*']: the core passes the types they match.
      const eventTypes = ['payment.failed', 'payment.late'];
      expect(await t.storage.replay({ subscriptionId: sub.id, since, eventTypes, now: t.now, dryRun: true })).toEqual({ count: 2 });
      expect(await t.storage.replay({ subscriptionId: sub.id, since, eventTypes, now: t.now })).toEqual({ count: 2 });
      expect(await delivery(deadPayment.id)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(await delivery(deadRefund.id)).toMatchObject({ status: 'dead' });
      expect(await deliveriesOfEvent(missedPayment.event.id)).toMatchObject([{ subscriptionId: sub.id, status: 'pending' }]);
      expect(await deliveriesOfEvent(missedRefund.event.id)).toEqual([]);
      expect(await t.storage.replay({ subscriptionId: sub.id, since, eventTypes: [], now: t.now })).toEqual({ count: 0 });
    });

    it('replays without an upper bound when until is omitted', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now);
      const since = t.now;
      await publish('payment.one');
      t.now += 1_000_000;
      await publish('payment.two');
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      const result = await t.storage.replay({ subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, now: t.now });
      expect(result).toEqual({ count: 2 });
      expect((await t.storage.stats(t.now)).pending).toBe(2);
    });
  });
}
