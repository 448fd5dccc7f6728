/**
 * Storage conformance cases for the delivery log: reading deliveries and attempts, filters and cursor paging.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { createId } from '../../src/ids.js';
import type { DeliveryRecord, SettleOutcome } from '../../src/storage/storage-adapter.js';
import type { ConformanceContext } from './conformance-context.js';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeDeliveryLog(t: ConformanceContext): void {
  const { createSubscription, publishFor, claim, claimOne, attempt, settle, listAllDeliveries, rejectionOf, descendingIds } = t;

  describe('delivery log', () => {
    it('lists by subscription and by status, newest first, and a cursor pages over each exactly once', async () => {
      const a = await createSubscription({ eventTypes: ['payment.*'] });
      const b = await createSubscription({ eventTypes: ['refund.*'] });
      const ofA: DeliveryRecord[] = [];
      const ofB: DeliveryRecord[] = [];
      for (let i = 0; i < 5; i++) {
        t.now += 10;
        ofA.push(await publishFor(a.id, 'payment.succeeded'));
        if (i < 3) ofB.push(await publishFor(b.id, 'refund.created'));
      }
      const byA = await listAllDeliveries({ subscriptionId: a.id, limit: 2 });
      expect(byA.map((d) => d.id)).toEqual(descendingIds(ofA));
      expect(byA.every((d) => d.subscriptionId === a.id)).toBe(true);

      const everything = await listAllDeliveries({ limit: 3 });
      expect(everything.map((d) => d.id)).toEqual(descendingIds([...ofA, ...ofB]));

      const firstPage = await t.storage.listDeliveries({ subscriptionId: a.id, limit: 5 });
      expect(firstPage.items).toHaveLength(5);
      expect(firstPage.nextCursor).toBeNull();

      const claimed = await claim(100);
      const deadIds = [ofA[1]!.id, ofB[2]!.id];
      for (const c of claimed) {
        await settle(c, deadIds.includes(c.delivery.id) ? { kind: 'dead' } : { kind: 'delivered' });
      }
      const dead = await listAllDeliveries({ status: 'dead', limit: 1 });
      expect(dead.map((d) => d.id)).toEqual(descendingIds([ofA[1]!, ofB[2]!]));
      expect(dead.every((d) => d.status === 'dead')).toBe(true);
      expect((await listAllDeliveries({ subscriptionId: a.id, status: 'dead', limit: 10 })).map((d) => d.id)).toEqual([
        ofA[1]!.id,
      ]);
      expect((await listAllDeliveries({ status: 'delivered', limit: 2 })).map((d) => d.id)).toEqual(
        descendingIds([...ofA, ...ofB].filter((d) => !deadIds.includes(d.id))),
      );
    });

    it('filters the log by creation time: since inclusive, until exclusive', async () => {
      const sub = await createSubscription();
      const ds: DeliveryRecord[] = [];
      for (let i = 0; i < 4; i++) {
        t.now += 100;
        ds.push(await publishFor(sub.id));
      }
      const window = await listAllDeliveries({ subscriptionId: sub.id, since: ds[1]!.createdAt, until: ds[3]!.createdAt, limit: 10 });
      expect(window.map((d) => d.id)).toEqual([ds[2]!.id, ds[1]!.id]);
    });

    it('rejects a garbage cursor with CURSOR_INVALID', async () => {
      const sub = await createSubscription();
      await publishFor(sub.id);
      const error = await rejectionOf(t.storage.listDeliveries({ limit: 10, cursor: '!!not a cursor!!' }));
      expect(error).toHaveProperty('code', 'CURSOR_INVALID');
      const bySub = await rejectionOf(t.storage.listDeliveries({ subscriptionId: sub.id, limit: 10, cursor: '%%%' }));
      expect(bySub).toHaveProperty('code', 'CURSOR_INVALID');
    });

    it('rejects, on either list, a cursor of the other list, an empty one and garbage with ValidationError CURSOR_INVALID', async () => {
      const sub = await createSubscription();
      await createSubscription();
      await publishFor(sub.id);
      const subscriptionCursor = (await t.storage.listSubscriptions({ limit: 1 })).nextCursor;
      const deliveryCursor = (await t.storage.listDeliveries({ limit: 1 })).nextCursor;
      expect(subscriptionCursor).not.toBeNull();
      expect(deliveryCursor).not.toBeNull();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['a subscription cursor to listDeliveries', () => t.storage.listDeliveries({ limit: 10, cursor: subscriptionCursor! })],
        ['a delivery cursor to listSubscriptions', () => t.storage.listSubscriptions({ limit: 10, cursor: deliveryCursor! })],
        ['an empty cursor to listDeliveries', () => t.storage.listDeliveries({ limit: 10, cursor: '' })],
        ['an empty cursor to listSubscriptions', () => t.storage.listSubscriptions({ limit: 10, cursor: '' })],
        ['garbage to listSubscriptions', () => t.storage.listSubscriptions({ limit: 10, cursor: '!!not a cursor!!' })],
      ];
      for (const [label, call] of calls) {
        const error = await rejectionOf(call());
        expect(error, label).toBeInstanceOf(ValidationError);
        expect(error, label).toHaveProperty('code', 'CURSOR_INVALID');
      }
    });

    it('returns copies of deliveries: mutating one changes nothing stored', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const expected = { ...d };
      d.status = 'dead';
      const listed = await t.storage.listDeliveries({ limit: 10 });
      listed.items[0]!.attempts = 99;
      expect(await t.storage.getDelivery(d.id)).toEqual(expected);
    });

    it('lists the attempts of a delivery oldest first', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const claimed = await claimOne(d.id);
        const input = attempt({ statusCode: i < 2 ? 500 : 200 });
        ids.push(input.id);
        await t.storage.settle(
          [
            {
              deliveryId: d.id,
              leaseToken: claimed.leaseToken,
              attempt: input,
              outcome: i < 2 ? { kind: 'retry', nextAttemptAt: t.now + 1000 } : { kind: 'delivered' },
            },
          ],
          t.now,
        );
        t.now += 1000;
      }
      const attempts = await t.storage.listAttempts(d.id);
      expect(attempts.map((a) => a.id)).toEqual(ids);
      expect(attempts.map((a) => a.attemptNumber)).toEqual([1, 2, 3]);
      expect(attempts.map((a) => a.outcome)).toEqual(['retry', 'retry', 'delivered']);
      expect(await t.storage.listAttempts(createId('dlv', t.now))).toEqual([]);
    });

    it('lists by several statuses at once, alone or with a subscription, newest first, a cursor paging over each exactly once', async () => {
      const a = await createSubscription({ eventTypes: ['payment.*'] });
      const off = await createSubscription({ eventTypes: ['refund.*'] });
      const ofA: DeliveryRecord[] = [];
      for (let i = 0; i < 6; i++) {
        t.now += 10;
        ofA.push(await publishFor(a.id, 'payment.succeeded'));
      }
      const held = await publishFor(off.id, 'refund.created');
      await t.storage.setSubscriptionStatus(off.id, { status: 'disabled', reason: 'manual' }, t.now);
      const claimed = await claim(5);
      expect(claimed.map((c) => c.delivery.id)).toEqual(ofA.slice(0, 5).map((d) => d.id));
      const outcomes: SettleOutcome[] = [
        { kind: 'delivered' },
        { kind: 'dead' },
        { kind: 'retry', nextAttemptAt: t.now + 1000 },
        { kind: 'delivered' },
        { kind: 'dead' },
      ];
      for (let i = 0; i < 5; i++) await settle(claimed[i]!, outcomes[i]!, { statusCode: i === 0 || i === 3 ? 200 : 500 });
      // pending: ofA[2] (retry), ofA[5] (never claimed); dead: ofA[1], ofA[4]; held: the disabled one's.
      const undelivered = [ofA[1]!, ofA[2]!, ofA[4]!, ofA[5]!, held];

      const all = await listAllDeliveries({ status: ['pending', 'held', 'dead'], limit: 2 });
      expect(all.map((d) => d.id)).toEqual(descendingIds(undelivered));
      const ofOneSubscription = await listAllDeliveries({ subscriptionId: a.id, status: ['dead', 'pending'], limit: 1 });
      expect(ofOneSubscription.map((d) => d.id)).toEqual(descendingIds([ofA[1]!, ofA[2]!, ofA[4]!, ofA[5]!]));
      expect((await listAllDeliveries({ status: ['delivered'], limit: 10 })).map((d) => d.id)).toEqual(
        (await listAllDeliveries({ status: 'delivered', limit: 10 })).map((d) => d.id),
      );
      expect((await listAllDeliveries({ status: ['dead', 'dead'], limit: 10 })).map((d) => d.id)).toEqual(descendingIds([ofA[1]!, ofA[4]!]));
      expect((await t.storage.listDeliveries({ status: [], limit: 10 })).items).toEqual([]);
    });

    it('lists by event type, one or several, alone or with the subscription, status and time filters, a cursor paging over each exactly once', async () => {
      const a = await createSubscription({ eventTypes: ['*'] });
      const b = await createSubscription({ eventTypes: ['*'] });
      const types = ['payment.succeeded', 'refund.created', 'payment.failed'];
      const published: Array<{ type: string; at: number; deliveries: DeliveryRecord[] }> = [];
      for (let i = 0; i < 9; i++) {
        t.now += 10;
        const type = types[i % 3]!;
        const { event } = await t.publish(type);
        published.push({ type, at: t.now, deliveries: await t.deliveriesOfEvent(event.id) });
      }
      const every = published.flatMap((p) => p.deliveries);
      expect(every).toHaveLength(18);
      const of = (wanted: string[], where: (d: DeliveryRecord) => boolean = () => true): string[] =>
        descendingIds(every.filter((d) => wanted.includes(d.eventType) && where(d)));

      const succeeded = await listAllDeliveries({ eventTypes: ['payment.succeeded'], limit: 2 });
      expect(succeeded.map((d) => d.id)).toEqual(of(['payment.succeeded']));
      expect(succeeded).toHaveLength(6);
      expect(succeeded.every((d) => d.eventType === 'payment.succeeded')).toBe(true);

      const paymentsOfA = await listAllDeliveries({ subscriptionId: a.id, eventTypes: ['payment.failed', 'payment.succeeded'], limit: 2 });
      expect(paymentsOfA.map((d) => d.id)).toEqual(of(['payment.succeeded', 'payment.failed'], (d) => d.subscriptionId === a.id));
      expect(paymentsOfA).toHaveLength(6);
      expect((await listAllDeliveries({ eventTypes: ['refund.created', 'refund.created'], limit: 4 })).map((d) => d.id)).toEqual(of(['refund.created']));

      // Events 3 to 6 (since inclusive, until exclusive): payment.succeeded at 3 and 6.
      const window = await listAllDeliveries({ subscriptionId: b.id, eventTypes: ['payment.succeeded'], since: published[3]!.at, until: published[7]!.at, limit: 1 });
      expect(window.map((d) => d.id)).toEqual(descendingIds([published[3]!, published[6]!].flatMap((p) => p.deliveries.filter((d) => d.subscriptionId === b.id))));

      // a's refunds end dead, everything else delivered.
      const isDead = (d: DeliveryRecord): boolean => d.subscriptionId === a.id && d.eventType === 'refund.created';
      const claimed = await claim(100);
      expect(claimed).toHaveLength(18);
      for (const c of claimed) await settle(c, isDead(c.delivery) ? { kind: 'dead' } : { kind: 'delivered' });
      const deadRefunds = await listAllDeliveries({ eventTypes: ['refund.created'], status: 'dead', limit: 1 });
      expect(deadRefunds.map((d) => d.id)).toEqual(of(['refund.created'], isDead));
      expect(deadRefunds).toHaveLength(3);
      expect((await listAllDeliveries({ eventTypes: ['refund.created', 'payment.failed'], status: ['delivered', 'pending'], limit: 2 })).map((d) => d.id)).toEqual(
        of(['refund.created', 'payment.failed'], (d) => !isDead(d)),
      );
      expect((await listAllDeliveries({ subscriptionId: b.id, eventTypes: ['refund.created'], status: 'dead', limit: 5 })).map((d) => d.id)).toEqual([]);
    });

    it('answers an empty last page for an event type without deliveries, and for an empty list of types', async () => {
      const sub = await createSubscription({ eventTypes: ['*'] });
      const delivered = await publishFor(sub.id, 'payment.succeeded');
      expect(await t.storage.listDeliveries({ eventTypes: ['invoice.issued'], limit: 10 })).toEqual({ items: [], nextCursor: null });
      expect(await t.storage.listDeliveries({ subscriptionId: sub.id, eventTypes: ['payment.succeede'], limit: 10 })).toEqual({ items: [], nextCursor: null });
      expect(await t.storage.listDeliveries({ eventTypes: [], limit: 10 })).toEqual({ items: [], nextCursor: null });
      expect((await t.storage.listDeliveries({ eventTypes: ['invoice.issued', 'payment.succeeded'], limit: 10 })).items.map((d) => d.id)).toEqual([delivered.id]);
    });
  });
}
