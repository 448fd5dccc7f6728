/**
 * Storage conformance cases for enqueue: the event and one delivery per matching active subscription, idempotency keys.
 */
import { describe, expect, it } from 'vitest';
import type { ConformanceContext } from './conformance-context.js';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeEnqueue(t: ConformanceContext): void {
  const { createSubscription, publish, deliveriesOfEvent } = t;

  describe('enqueue', () => {
    it('fans out by filter: exact, prefix `payment.*` and `*`, never to a disabled subscription', async () => {
      const exact = await createSubscription({ eventTypes: ['payment.succeeded'] });
      const prefix = await createSubscription({ eventTypes: ['payment.*'] });
      const all = await createSubscription({ eventTypes: ['*'] });
      const refunds = await createSubscription({ eventTypes: ['refund.*', 'order.created'] });
      const disabled = await createSubscription({ eventTypes: ['*'] });
      await t.storage.setSubscriptionStatus(disabled.id, { status: 'disabled', reason: 'manual' }, t.now);

      const targetsOf = async (type: string): Promise<string[]> => {
        const { event } = await publish(type);
        return (await deliveriesOfEvent(event.id)).map((d) => d.subscriptionId).sort();
      };
      expect(await targetsOf('payment.succeeded')).toEqual([exact.id, prefix.id, all.id].sort());
      expect(await targetsOf('payment.refund.partial')).toEqual([prefix.id, all.id].sort());
      expect(await targetsOf('paymentx.y')).toEqual([all.id]);
      expect(await targetsOf('refund.x')).toEqual([all.id, refunds.id].sort());
      expect(await targetsOf('order.created')).toEqual([all.id, refunds.id].sort());
    });

    it('stores the event and exactly one pending delivery per matching active subscription, due now', async () => {
      const a = await createSubscription({ eventTypes: ['payment.*'] });
      const b = await createSubscription({ eventTypes: ['*'] });
      await createSubscription({ eventTypes: ['refund.*'] });
      t.now += 5000;
      const result = await publish('payment.succeeded');
      expect(result.created).toBe(true);
      expect(result.deliveryCount).toBe(2);
      expect(await t.storage.getEvent(result.event.id)).toEqual(result.event);
      expect(result.event.type).toBe('payment.succeeded');
      expect(result.event.timestamp).toBe(t.now);

      const ds = await deliveriesOfEvent(result.event.id);
      expect(ds.map((d) => d.subscriptionId).sort()).toEqual([a.id, b.id].sort());
      for (const d of ds) {
        expect(d).toEqual({
          id: d.id,
          eventId: result.event.id,
          eventType: 'payment.succeeded',
          subscriptionId: d.subscriptionId,
          tenantId: null,
          status: 'pending',
          attempts: 0,
          nextAttemptAt: t.now,
          orderingKey: null,
          orderingSequence: null,
          lastAttemptAt: null,
          lastStatusCode: null,
          lastError: null,
          deliveredAt: null,
          leaseExpiresAt: null,
          createdAt: t.now,
          updatedAt: t.now,
        });
      }
      expect(await t.storage.nextDueAt(t.now)).toBe(t.now);
    });

    it('stores an event that matches no subscription, with no delivery', async () => {
      await createSubscription({ eventTypes: ['refund.*'] });
      const result = await publish('payment.succeeded');
      expect(result).toMatchObject({ created: true, deliveryCount: 0 });
      expect(await t.storage.getEvent(result.event.id)).toEqual(result.event);
      expect(await deliveriesOfEvent(result.event.id)).toEqual([]);
      expect(await t.storage.nextDueAt(t.now)).toBeNull();
    });

    it('returns the first event for an idempotency key seen before and adds no delivery', async () => {
      await createSubscription();
      const first = await publish('payment.succeeded', { idempotencyKey: 'ledger-entry-42' });
      t.now += 1000;
      const again = await publish('payment.succeeded', { idempotencyKey: 'ledger-entry-42' });
      expect(again).toEqual({ event: first.event, created: false, deliveryCount: 0 });
      expect((await t.storage.listDeliveries({ limit: 100 })).items).toHaveLength(1);
      expect((await t.storage.stats(t.now)).pending).toBe(1);
      const other = await publish('payment.succeeded', { idempotencyKey: 'ledger-entry-43' });
      expect(other.created).toBe(true);
    });

    it('lets exactly one of two concurrent publishes with the same idempotency key create the event', async () => {
      await createSubscription();
      const peer = await t.openPeer();
      const results = await Promise.all([
        publish('payment.succeeded', { idempotencyKey: 'race' }),
        publish('payment.succeeded', { idempotencyKey: 'race', on: peer }),
      ]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(results[0]!.event.id).toBe(results[1]!.event.id);
      expect((await t.storage.listDeliveries({ limit: 100 })).items).toHaveLength(1);
    });

    it('makes a distinct, time-ordered dlv_ id for every delivery it creates, within a fan-out and across events of one millisecond', async () => {
      for (let i = 0; i < 3; i++) await createSubscription();
      const first = await publish('payment.succeeded');
      const second = await publish('payment.succeeded');
      const firstIds = (await deliveriesOfEvent(first.event.id)).map((d) => d.id);
      const secondIds = (await deliveriesOfEvent(second.event.id)).map((d) => d.id);
      const ids = [...firstIds, ...secondIds];
      expect(ids).toHaveLength(6);
      for (const id of ids) expect(id).toMatch(/^dlv_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(new Set(ids).size).toBe(6);
      // Made after the first event's, in the same millisecond: every one sorts after them.
      expect(secondIds.every((id) => firstIds.every((earlier) => id > earlier))).toBe(true);
    });

    it('returns a copy of the event: mutating it changes nothing stored', async () => {
      const { event } = await publish('payment.succeeded');
      const expected = { ...event };
      event.payload = '{}';
      const read = await t.storage.getEvent(event.id);
      expect(read).toEqual(expected);
      read!.type = 'changed';
      expect(await t.storage.getEvent(event.id)).toEqual(expected);
    });
  });
}
