/**
 * Storage conformance cases for per-key ordering (storage/shared/ordering.ts): a key's
 * deliveries to a subscription are numbered in publish order and only the head is ever
 * claimable; the head passes when delivered, when it dies under `skip`, when skipped, or
 * when its event is expunged; a dead head under `block` holds the key.
 */
import { describe, expect, it } from 'vitest';
import type { ClaimedDelivery, DeliveryRecord, EnqueueResult, SettleResult, SubscriptionRecord } from '../../src/storage/storage-adapter.js';
import { LEASE_MS, type ConformanceContext } from './conformance-context.js';

type SettleOne = (claimed: ClaimedDelivery, ...rest: DropFirst<Parameters<ConformanceContext['settle']>>) => Promise<SettleResult>;
type DropFirst<T extends unknown[]> = T extends [unknown, ...infer Rest] ? Rest : never;

/**
 * Defines this area's cases of the conformance suite, on the store `t` provides for each test:
 * every case twice, settled as a caller that names no key would, and as the dispatcher
 * settles — each settlement naming its delivery's key as the claim returned it
 * (`Settlement.orderingKey`, a hint a storage may take a shorter path on; PostgreSQL does).
 */
export function describeOrdering(t: ConformanceContext): void {
  orderingCases(t, 'ordering per key', t.settle, false);
  orderingCases(
    t,
    'ordering per key, each settlement naming its claimed key',
    (claimed, outcome, attemptOverrides) => t.settle(claimed, outcome, attemptOverrides, { orderingKey: claimed.delivery.orderingKey }),
    true,
  );
}

function orderingCases(t: ConformanceContext, title: string, settle: SettleOne, hinted: boolean): void {
  const { createSubscription, eventRecord, claim, claimOne, delivery, deliveriesOfEvent } = t;

  /** Publishes one event with `orderingKey` (`null`: unordered) at `t.now`. */
  function publishKeyed(orderingKey: string | null, type = 'payment.succeeded'): Promise<EnqueueResult> {
    return t.storage.enqueue({ event: { ...eventRecord(type), orderingKey }, now: t.now });
  }

  /** Publishes `count` events of `key` and returns the delivery of each to `sub`, in publish order. */
  async function publishMany(sub: SubscriptionRecord, key: string, count: number, type = 'payment.succeeded'): Promise<DeliveryRecord[]> {
    const out: DeliveryRecord[] = [];
    for (let i = 0; i < count; i++) {
      const { event } = await publishKeyed(key, type);
      out.push((await deliveriesOfEvent(event.id)).find((d) => d.subscriptionId === sub.id)!);
    }
    return out;
  }

  async function claimedIds(limit = 100): Promise<string[]> {
    return (await claim(limit)).map((c) => c.delivery.id);
  }

  describe(title, () => {
    it('numbers a key’s deliveries per subscription in publish order; only the head is due', async () => {
      const a = await createSubscription();
      const b = await createSubscription();
      const first = await publishKeyed('acct_1');
      expect(first.event.orderingKey).toBe('acct_1');
      expect((await t.storage.getEvent(first.event.id))!.orderingKey).toBe('acct_1');
      const rest = [await publishKeyed('acct_1'), await publishKeyed('acct_1')];
      for (const sub of [a, b]) {
        const mine = [];
        for (const { event } of [first, ...rest]) mine.push((await deliveriesOfEvent(event.id)).find((d) => d.subscriptionId === sub.id)!);
        expect(mine.map((d) => [d.orderingKey, d.orderingSequence])).toEqual([
          ['acct_1', 1],
          ['acct_1', 2],
          ['acct_1', 3],
        ]);
        expect(mine.map((d) => [d.status, d.nextAttemptAt])).toEqual([
          ['pending', t.now],
          ['pending', null],
          ['pending', null],
        ]);
      }
      const unordered = await publishKeyed(null);
      const [plain] = await deliveriesOfEvent(unordered.event.id);
      expect(plain).toMatchObject({ orderingKey: null, orderingSequence: null, nextAttemptAt: t.now });
      expect((await t.storage.getEvent(unordered.event.id))!.orderingKey).toBeNull();
      // One head per (subscription, key), and every unordered delivery.
      const claimed = await claim(100);
      expect(claimed).toHaveLength(2 + 2);
      expect(claimed.filter((c) => c.delivery.orderingKey === 'acct_1').map((c) => c.delivery.orderingSequence)).toEqual([1, 1]);
      expect(claimed.find((c) => c.event.id === first.event.id)!.event.orderingKey).toBe('acct_1');
    });

    it('keys are independent: each key’s head is due at once', async () => {
      const sub = await createSubscription();
      const x = await publishMany(sub, 'x', 2);
      const y = await publishMany(sub, 'y', 2);
      expect((await claimedIds()).sort()).toEqual([x[0]!.id, y[0]!.id].sort());
      expect(await claim(10)).toEqual([]);
    });

    it('sends the next of a key only once the head is delivered, and retries keep the order', async () => {
      const sub = await createSubscription();
      const [d1, d2, d3] = await publishMany(sub, 'pay_1', 3);
      const c1 = await claimOne(d1!.id);
      expect(await claim(10)).toEqual([]);
      await settle(c1, { kind: 'retry', nextAttemptAt: t.now + 1000 }, { statusCode: 503 });
      // Head-of-line: while the head waits for its retry, the rest of the key waits too.
      expect(await claim(10)).toEqual([]);
      expect(await t.storage.nextDueAt(t.now)).toBe(t.now + 1000);
      t.now += 1000;
      await settle(await claimOne(d1!.id), { kind: 'delivered' });
      expect(await delivery(d2!.id)).toMatchObject({ status: 'pending', nextAttemptAt: t.now });
      expect(await delivery(d3!.id)).toMatchObject({ status: 'pending', nextAttemptAt: null });
      await settle(await claimOne(d2!.id), { kind: 'delivered' });
      await settle(await claimOne(d3!.id), { kind: 'delivered' });
      expect(await claim(10)).toEqual([]);
      // The key went idle: the next event of it is due at once, numbered on.
      const [d4] = await publishMany(sub, 'pay_1', 1);
      expect(d4).toMatchObject({ orderingSequence: 4, nextAttemptAt: t.now });
    });

    it('under `block` (the default) a dead head holds the key and is listed; redeliver unblocks', async () => {
      const sub = await createSubscription();
      expect(sub.orderingOnDead).toBe('block');
      const [d1, d2] = await publishMany(sub, 'k', 2);
      await settle(await claimOne(d1!.id), { kind: 'dead' }, { statusCode: 500 });
      expect(await claim(10)).toEqual([]);
      expect(await delivery(d2!.id)).toMatchObject({ status: 'pending', nextAttemptAt: null });
      const blocked = await t.storage.listBlockedKeys({ subscriptionId: sub.id, limit: 10 });
      expect(blocked).toEqual({
        items: [{ subscriptionId: sub.id, orderingKey: 'k', delivery: await delivery(d1!.id), waiting: 1 }],
        nextCursor: null,
      });
      t.now += 60_000;
      expect(await t.storage.redeliver(d1!.id, t.now)).toMatchObject({ status: 'pending', nextAttemptAt: t.now });
      expect((await t.storage.listBlockedKeys({ subscriptionId: sub.id, limit: 10 })).items).toEqual([]);
      await settle(await claimOne(d1!.id), { kind: 'delivered' });
      await settle(await claimOne(d2!.id), { kind: 'delivered' });
    });

    it('skipDelivery lets a blocked key move on; it refuses what is not a dead head', async () => {
      const sub = await createSubscription();
      const [d1, d2, d3] = await publishMany(sub, 'k', 3);
      expect(await t.storage.skipDelivery(d1!.id, t.now)).toBe('not_blocking');
      expect(await t.storage.skipDelivery(d2!.id, t.now)).toBe('not_blocking');
      expect(await t.storage.skipDelivery('dlv_unknown', t.now)).toBe('not_found');
      const plain = (await deliveriesOfEvent((await publishKeyed(null)).event.id))[0]!;
      await settle(await claimOne(d1!.id), { kind: 'dead' }, { statusCode: 500 });
      await settle(await claimOne(plain.id), { kind: 'dead' }, { statusCode: 500 });
      expect(await t.storage.skipDelivery(plain.id, t.now)).toBe('not_blocking');
      t.now += 1000;
      const before = await delivery(d1!.id);
      expect(await t.storage.skipDelivery(d1!.id, t.now)).toEqual(before);
      expect(await delivery(d1!.id)).toEqual(before);
      expect(await delivery(d2!.id)).toMatchObject({ status: 'pending', nextAttemptAt: t.now });
      expect(await t.storage.skipDelivery(d1!.id, t.now)).toBe('not_blocking');
      expect((await t.storage.listBlockedKeys({ subscriptionId: sub.id, limit: 10 })).items).toEqual([]);
      await settle(await claimOne(d2!.id), { kind: 'delivered' });
      await settle(await claimOne(d3!.id), { kind: 'delivered' });
    });

    it('under `skip` a dead head lets the key move on at once', async () => {
      const sub = await createSubscription({ orderingOnDead: 'skip' });
      expect(sub.orderingOnDead).toBe('skip');
      const [d1, d2] = await publishMany(sub, 'k', 2);
      await settle(await claimOne(d1!.id), { kind: 'dead' }, { statusCode: 500 });
      expect(await delivery(d2!.id)).toMatchObject({ status: 'pending', nextAttemptAt: t.now });
      expect((await t.storage.listBlockedKeys({ subscriptionId: sub.id, limit: 10 })).items).toEqual([]);
      // A passed delivery redelivered by an operator is sent at once, outside the order.
      expect(await t.storage.redeliver(d1!.id, t.now)).toMatchObject({ status: 'pending', nextAttemptAt: t.now });
      expect((await claimedIds()).sort()).toEqual([d1!.id, d2!.id].sort());
    });

    it('updateSubscription moves the policy, which applies to heads that die afterwards', async () => {
      const sub = await createSubscription();
      const updated = await t.storage.updateSubscription(sub.id, { orderingOnDead: 'skip' }, t.now);
      expect(updated!.orderingOnDead).toBe('skip');
      expect((await t.storage.getSubscription(sub.id))!.orderingOnDead).toBe('skip');
      const [d1, d2] = await publishMany(sub, 'k', 2);
      await settle(await claimOne(d1!.id), { kind: 'dead' }, { statusCode: 500 });
      expect(await delivery(d2!.id)).toMatchObject({ nextAttemptAt: t.now });
    });

    it('pages blocked keys by their blocking delivery, oldest first, and counts what waits', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const other = await createSubscription({ eventTypes: ['refund.*'] });
      const heads: string[] = [];
      for (const key of ['c', 'a', 'b']) {
        const ds = await publishMany(sub, key, key === 'a' ? 3 : 1);
        heads.push(ds[0]!.id);
      }
      await publishMany(other, 'z', 1, 'refund.created');
      for (const c of await claim(100)) {
        await settle(c, { kind: c.delivery.subscriptionId === sub.id ? 'dead' : 'delivered' }, { statusCode: 500 });
      }
      const page1 = await t.storage.listBlockedKeys({ subscriptionId: sub.id, limit: 2 });
      expect(page1.items.map((b) => [b.orderingKey, b.delivery.id, b.waiting])).toEqual([
        ['c', heads[0], 0],
        ['a', heads[1], 2],
      ]);
      expect(page1.nextCursor).not.toBeNull();
      const page2 = await t.storage.listBlockedKeys({ subscriptionId: sub.id, limit: 2, cursor: page1.nextCursor! });
      expect(page2).toEqual({ items: [expect.objectContaining({ orderingKey: 'b', delivery: expect.objectContaining({ id: heads[2] }) })], nextCursor: null });
      expect((await t.storage.listBlockedKeys({ subscriptionId: other.id, limit: 10 })).items).toEqual([]);
      expect((await t.storage.listBlockedKeys({ subscriptionId: 'sub_unknown', limit: 10 })).items).toEqual([]);
      await expect(t.storage.listBlockedKeys({ subscriptionId: sub.id, limit: 2, cursor: 'nope' })).rejects.toMatchObject({ code: 'CURSOR_INVALID' });
    });

    it('counts the deliveries waiting behind their key’s head in stats', async () => {
      const sub = await createSubscription();
      const [d1] = await publishMany(sub, 'k', 3);
      await publishKeyed(null);
      expect(await t.storage.stats(t.now)).toMatchObject({ pending: 4, waiting: 2 });
      expect(await t.storage.stats(t.now, { subscriptionId: sub.id })).toMatchObject({ pending: 4, waiting: 2 });
      await settle(await claimOne(d1!.id), { kind: 'dead' }, { statusCode: 500 });
      // Behind a dead head: nothing left that can go without an operator but the unordered one.
      expect(await t.storage.stats(t.now)).toMatchObject({ pending: 3, waiting: 2, dead: 1 });
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now);
      expect(await t.storage.stats(t.now)).toMatchObject({ pending: 0, waiting: 0, held: 3 });
    });

    it('redeliver of a waiting delivery restarts its cycle and leaves it waiting', async () => {
      const sub = await createSubscription();
      const [d1, d2] = await publishMany(sub, 'k', 2);
      expect(await t.storage.redeliver(d2!.id, t.now)).toMatchObject({ id: d2!.id, status: 'pending', attempts: 0, nextAttemptAt: null });
      expect(await claimedIds()).toEqual([d1!.id]);
    });

    it('a disabled subscription holds its key; on enable only the head is due', async () => {
      const sub = await createSubscription();
      const [d1, d2] = await publishMany(sub, 'k', 2);
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now);
      expect((await delivery(d1!.id)).status).toBe('held');
      expect((await delivery(d2!.id)).status).toBe('held');
      t.now += 1000;
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      expect(await delivery(d1!.id)).toMatchObject({ status: 'pending', nextAttemptAt: t.now });
      expect(await delivery(d2!.id)).toMatchObject({ status: 'pending', nextAttemptAt: null });
      await settle(await claimOne(d1!.id), { kind: 'delivered' });
      await settle(await claimOne(d2!.id), { kind: 'delivered' });
    });

    it('an expunged head passes: the next of its key is due, once the lease of a head in flight runs out; an expunged waiting one is passed over', async () => {
      const sub = await createSubscription();
      const [d1, d2, d3, d4, d5] = await publishMany(sub, 'k', 5);
      await t.storage.expungeEvents([d2!.eventId], t.now);
      expect((await delivery(d2!.id)).status).toBe('cancelled');
      expect(await claimedIds()).toEqual([d1!.id]);
      t.now += 1000;
      await t.storage.expungeEvents([d1!.eventId], t.now);
      // d2 was cancelled while it waited: the head moves on to d3 — due when d1's lease runs
      // out, since d1's attempt may still be in flight (one delivery of a key at a time).
      const next = await delivery(d3!.id);
      expect(next.status).toBe('pending');
      expect(next.nextAttemptAt).toBeGreaterThan(t.now);
      expect(next.nextAttemptAt).toBeLessThanOrEqual(t.now + LEASE_MS);
      expect(await claimedIds()).toEqual([]);
      expect(await delivery(d4!.id)).toMatchObject({ status: 'pending', nextAttemptAt: null });
      // A head under no lease passes at once.
      await t.storage.expungeEvents([d3!.eventId], t.now);
      expect(await delivery(d4!.id)).toMatchObject({ status: 'pending', nextAttemptAt: t.now });
      expect(await delivery(d5!.id)).toMatchObject({ status: 'pending', nextAttemptAt: null });
    });

    it('retention keeps a dead head that blocks its key, and removes it once skipped', async () => {
      const sub = await createSubscription();
      const [d1] = await publishMany(sub, 'k', 2);
      await settle(await claimOne(d1!.id), { kind: 'dead' }, { statusCode: 500 });
      t.now += 10 * 86_400_000;
      const cut = { deliveredBefore: t.now, deadBefore: t.now, eventsBefore: t.now, limit: 100, now: t.now };
      expect((await t.storage.purgeRetention(cut)).deliveries).toBe(0);
      expect((await t.storage.purge({ olderThan: t.now })).deliveries).toBe(0);
      expect((await delivery(d1!.id)).status).toBe('dead');
      await t.storage.skipDelivery(d1!.id, t.now);
      expect((await t.storage.purgeRetention({ ...cut, deadBefore: t.now + 1 })).deliveries).toBe(1);
    });

    it('a soft-deleted subscription’s dead head blocks nothing: not listed, not skippable, and retention takes it', async () => {
      const sub = await createSubscription();
      const [d1, d2] = await publishMany(sub, 'k', 2);
      await settle(await claimOne(d1!.id), { kind: 'dead' }, { statusCode: 500 });
      expect((await t.storage.listBlockedKeys({ subscriptionId: sub.id, limit: 10 })).items).toHaveLength(1);
      await t.storage.softDeleteSubscription(sub.id, t.now);
      expect((await delivery(d2!.id)).status).toBe('cancelled');
      expect((await t.storage.listBlockedKeys({ subscriptionId: sub.id, limit: 10 })).items).toEqual([]);
      expect(await t.storage.skipDelivery(d1!.id, t.now)).toBe('not_blocking');
      t.now += 10 * 86_400_000;
      expect((await t.storage.purge({ olderThan: t.now })).deliveries).toBe(2);
      expect(await t.storage.getDelivery(d1!.id)).toBeNull();
    });

    it('a soft-deleted subscription’s dead head goes in a retention batch', async () => {
      const sub = await createSubscription();
      const [d1] = await publishMany(sub, 'k', 2);
      await settle(await claimOne(d1!.id), { kind: 'dead' }, { statusCode: 500 });
      await t.storage.softDeleteSubscription(sub.id, t.now);
      t.now += 10 * 86_400_000;
      const cut = { deliveredBefore: t.now, deadBefore: t.now, eventsBefore: null, limit: 100, now: t.now };
      expect((await t.storage.purgeRetention(cut)).deliveries).toBe(2);
      expect(await t.storage.getDelivery(d1!.id)).toBeNull();
    });

    it('a replay appends the deliveries it creates to their key, in event order, behind the head', async () => {
      const sub = await createSubscription();
      const [d1] = await publishMany(sub, 'k', 1);
      // Published while the subscription was disabled: no delivery for it.
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now);
      const missed = [await publishKeyed('k'), await publishKeyed('k')];
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      const { count } = await t.storage.replay({ subscriptionId: sub.id, since: 0, eventTypes: ['payment.succeeded'], now: t.now });
      expect(count).toBe(2);
      const created = [];
      for (const { event } of missed) created.push((await deliveriesOfEvent(event.id)).find((d) => d.subscriptionId === sub.id)!);
      expect(created.map((d) => [d.orderingSequence, d.nextAttemptAt])).toEqual([
        [2, null],
        [3, null],
      ]);
      await settle(await claimOne(d1!.id), { kind: 'delivered' });
      await settle(await claimOne(created[0]!.id), { kind: 'delivered' });
      await settle(await claimOne(created[1]!.id), { kind: 'delivered' });
    });

    it('a replay numbers a key’s new deliveries by event time, then id, whatever order the ids alone give', async () => {
      const later = await t.storage.enqueue({ event: { ...eventRecord('payment.succeeded'), orderingKey: 'k' }, now: t.now });
      // A higher id, an earlier time (the publisher's clock stepped back).
      const earlier = await t.storage.enqueue({ event: { ...eventRecord('payment.succeeded'), timestamp: t.now - 60_000, orderingKey: 'k' }, now: t.now });
      expect(earlier.event.id > later.event.id).toBe(true);
      const sub = await createSubscription();
      expect((await t.storage.replay({ subscriptionId: sub.id, since: 0, eventTypes: ['payment.succeeded'], now: t.now })).count).toBe(2);
      const [e, l] = [(await deliveriesOfEvent(earlier.event.id))[0]!, (await deliveriesOfEvent(later.event.id))[0]!];
      expect([e.orderingSequence, e.nextAttemptAt, l.orderingSequence, l.nextAttemptAt]).toEqual([1, t.now, 2, null]);
    });

    it('a dead head requeued by a replay is due at once and unblocks its key once delivered', async () => {
      const sub = await createSubscription();
      const [d1, d2] = await publishMany(sub, 'k', 2);
      await settle(await claimOne(d1!.id), { kind: 'dead' }, { statusCode: 500 });
      t.now += 1000;
      expect((await t.storage.replay({ subscriptionId: sub.id, since: 0, eventTypes: ['payment.succeeded'], now: t.now })).count).toBe(1);
      await settle(await claimOne(d1!.id), { kind: 'delivered' });
      expect(await delivery(d2!.id)).toMatchObject({ nextAttemptAt: t.now });
    });

    it('a released lease keeps the head the head; nothing behind it becomes due', async () => {
      const sub = await createSubscription();
      const [d1, d2] = await publishMany(sub, 'k', 2);
      const c1 = await claimOne(d1!.id);
      await t.storage.releaseLeases([{ deliveryId: c1.delivery.id, leaseToken: c1.leaseToken }], t.now);
      expect(await claimedIds()).toEqual([d1!.id]);
      expect(await delivery(d2!.id)).toMatchObject({ nextAttemptAt: null });
    });

    it('a tenant’s removal that takes an all-tenant consumer’s head lets that consumer’s key go on', async () => {
      const consumer = await createSubscription({ allTenants: true });
      const keyed = (tenantId: string) => t.storage.enqueue({ event: { ...eventRecord('payment.succeeded', { tenantId }), orderingKey: 'k' }, now: t.now });
      const gone = await keyed('org_gone');
      const kept = await keyed('org_kept');
      const [head] = await deliveriesOfEvent(gone.event.id);
      const [next] = await deliveriesOfEvent(kept.event.id);
      expect([head!.subscriptionId, head!.orderingSequence, next!.orderingSequence, next!.nextAttemptAt]).toEqual([consumer.id, 1, 2, null]);
      t.now += 1000;
      let result;
      do result = await t.storage.purgeTenant({ tenantId: 'org_gone', limit: 10, now: t.now, force: false });
      while (result !== 'in_flight' && !result.done);
      expect(await t.storage.getDelivery(head!.id)).toBeNull();
      expect(await delivery(next!.id)).toMatchObject({ status: 'pending', nextAttemptAt: t.now });
      expect(await claimedIds()).toEqual([next!.id]);
    });

    if (hinted) {
      it('settles by the stored keys whatever the hints say: a head named unordered still passes, an unordered delivery named keyed is just settled', async () => {
        const sub = await createSubscription();
        const [d1, d2] = await publishMany(sub, 'k', 2);
        const plainEvent = await publishKeyed(null);
        const [plain] = await deliveriesOfEvent(plainEvent.event.id);
        const [head, other] = [await claimOne(d1!.id), await claimOne(plain!.id)];
        const at = t.now + 1;
        // Wrong both ways, in one batch: the head hinted unordered, the unordered one hinted keyed.
        const results = await t.storage.settle(
          [
            { deliveryId: head.delivery.id, leaseToken: head.leaseToken, attempt: t.attempt(), outcome: { kind: 'delivered' }, orderingKey: null },
            { deliveryId: other.delivery.id, leaseToken: other.leaseToken, attempt: t.attempt(), outcome: { kind: 'delivered' }, orderingKey: 'k' },
          ],
          at,
        );
        expect(results.map((r) => (r.ok ? [r.delivery.id, r.delivery.status, r.delivery.orderingKey] : r.code))).toEqual([
          [d1!.id, 'delivered', 'k'],
          [plain!.id, 'delivered', null],
        ]);
        expect(await delivery(d2!.id)).toMatchObject({ status: 'pending', nextAttemptAt: at });
        t.now = at;
        expect(await claimedIds()).toEqual([d2!.id]);
        // Hinted keyed, the same settlement again: its lease is gone, reported as lost, nothing moves.
        const again = await t.storage.settle(
          [{ deliveryId: head.delivery.id, leaseToken: head.leaseToken, attempt: t.attempt(), outcome: { kind: 'delivered' }, orderingKey: 'k' }],
          at + 1,
        );
        expect(again).toEqual([{ ok: false, deliveryId: d1!.id, code: 'STORAGE_LEASE_LOST' }]);
      });
    }

    it('a soft-deleted subscription cancels its whole key, waiting deliveries included', async () => {
      const sub = await createSubscription();
      const [d1, d2] = await publishMany(sub, 'k', 2);
      await t.storage.softDeleteSubscription(sub.id, t.now);
      expect((await delivery(d1!.id)).status).toBe('cancelled');
      expect((await delivery(d2!.id)).status).toBe('cancelled');
      expect(await claim(10)).toEqual([]);
    });
  });
}
