/**
 * Storage conformance cases for subscriptions: create, read, update, status changes, listing.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { SubscriptionRecord } from '../../src/storage/storage-adapter.js';
import type { ConformanceContext } from './conformance-context.js';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeSubscriptions(t: ConformanceContext): void {
  const { subscriptionRecord, createSubscription, publishFor, claim, claimOne, settle, delivery } = t;

  describe('subscriptions', () => {
    it('creates a subscription and reads it back equal to what was given', async () => {
      const record = subscriptionRecord({ description: 'ERP', retry: { delaysMs: [1000, 5000], jitter: 0.1 } });
      const created = await t.storage.createSubscription(record);
      expect(created).toEqual(record);
      expect(await t.storage.getSubscription(record.id)).toEqual(record);
      expect(await t.storage.getSubscription(createId('sub', t.now))).toBeNull();
    });

    it('returns copies: mutating a given or returned subscription changes nothing stored', async () => {
      const record = subscriptionRecord({ retry: { delaysMs: [1000] } });
      const expected = structuredClone(record);
      const created = await t.storage.createSubscription(record);
      record.eventTypes.push('refund.*');
      record.headers['x-extra'] = '1';
      created.eventTypes.push('order.*');
      created.secrets[0]!.value = 'whsec_changed';
      created.headers['x-tenant'] = 'other';
      (created.metadata['team'] as { name: string }).name = 'changed';
      (created.retry as { delaysMs: number[] }).delaysMs.push(9);
      const read = await t.storage.getSubscription(record.id);
      expect(read).toEqual(expected);
      read!.eventTypes.length = 0;
      const listed = await t.storage.listSubscriptions({ limit: 10 });
      listed.items[0]!.metadata['tags'] = [];
      expect(await t.storage.getSubscription(record.id)).toEqual(expected);
    });

    it('lists subscriptions oldest first, in pages that cover each exactly once, filtered by status', async () => {
      const created: SubscriptionRecord[] = [];
      for (let i = 0; i < 5; i++) {
        created.push(await createSubscription());
        t.now += 10;
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const result = await t.storage.listSubscriptions({ limit: 2, ...(cursor === undefined ? {} : { cursor }) });
        expect(result.items.length).toBeLessThanOrEqual(2);
        seen.push(...result.items.map((s) => s.id));
        if (result.nextCursor === null) break;
        cursor = result.nextCursor;
      }
      expect(seen).toEqual(created.map((s) => s.id));

      await t.storage.setSubscriptionStatus(created[1]!.id, { status: 'disabled', reason: 'manual' }, t.now);
      await t.storage.setSubscriptionStatus(created[3]!.id, { status: 'disabled', reason: 'manual' }, t.now);
      const disabled = await t.storage.listSubscriptions({ limit: 10, status: 'disabled' });
      expect(disabled.items.map((s) => s.id)).toEqual([created[1]!.id, created[3]!.id]);
      expect(disabled.nextCursor).toBeNull();
      const active = await t.storage.listSubscriptions({ limit: 10, status: 'active' });
      expect(active.items.map((s) => s.id)).toEqual([created[0]!.id, created[2]!.id, created[4]!.id]);
    });

    it('updates the patched fields only, stamps updatedAt, and returns null for an unknown id', async () => {
      const sub = await createSubscription();
      t.now += 1000;
      const updated = await t.storage.updateSubscription(
        sub.id,
        { url: 'https://erp.example.com/in', eventTypes: ['refund.*'], description: 'ERP', retry: { initialDelayMs: 1000, maxAttempts: 3 } },
        t.now,
      );
      const expected = {
        ...sub,
        url: 'https://erp.example.com/in',
        eventTypes: ['refund.*'],
        description: 'ERP',
        retry: { initialDelayMs: 1000, maxAttempts: 3 },
        updatedAt: t.now,
      };
      expect(updated).toEqual(expected);
      expect(await t.storage.getSubscription(sub.id)).toEqual(expected);
      expect(await t.storage.updateSubscription(createId('sub', t.now), { url: 'https://x.example.com' }, t.now)).toBeNull();
    });

    it('disables with a reason and enables again, and returns null for an unknown id', async () => {
      const sub = await createSubscription();
      t.now += 1000;
      const disabled = await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'operator' }, t.now);
      expect(disabled).toMatchObject({ status: 'disabled', disabledReason: 'operator', disabledAt: t.now });
      t.now += 1000;
      const enabled = await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      expect(enabled).toMatchObject({ status: 'active', disabledReason: null, disabledAt: null });
      expect(await t.storage.getSubscription(sub.id)).toEqual(enabled);
      expect(await t.storage.setSubscriptionStatus(createId('sub', t.now), { status: 'disabled' }, t.now)).toBeNull();
    });

    it('keeps the first reason, disabledAt and updatedAt when a disabled subscription is disabled again', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      t.now += 1000;
      const first = await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'operator' }, t.now);
      expect(first).toMatchObject({ status: 'disabled', disabledReason: 'operator', disabledAt: t.now, updatedAt: t.now });
      const held = await delivery(d.id);
      expect(held.status).toBe('held');

      t.now += 1000;
      expect(await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'HTTP 410 Gone' }, t.now)).toEqual(first);
      t.now += 1000;
      expect(await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled' }, t.now)).toEqual(first);
      expect(await t.storage.getSubscription(sub.id)).toEqual(first);
      expect(await t.storage.getDelivery(d.id)).toEqual(held);
    });

    it('changes nothing when an active subscription is enabled: updatedAt stays and no delivery is requeued', async () => {
      const sub = await createSubscription();
      const waiting = await publishFor(sub.id);
      const leased = await publishFor(sub.id);
      const dead = await publishFor(sub.id);
      const claimed = await claim(3);
      const byId = (id: string) => claimed.find((c) => c.delivery.id === id)!;
      await settle(byId(waiting.id), { kind: 'retry', nextAttemptAt: t.now + 3_600_000 }, { statusCode: 500 });
      await settle(byId(dead.id), { kind: 'dead' }, { statusCode: 500 });
      const before = await t.storage.getSubscription(sub.id);
      const deliveriesBefore = [await delivery(waiting.id), await delivery(leased.id), await delivery(dead.id)];

      t.now += 1000;
      expect(await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now)).toEqual(before);
      expect(await t.storage.getSubscription(sub.id)).toEqual(before);
      expect([await delivery(waiting.id), await delivery(leased.id), await delivery(dead.id)]).toEqual(deliveriesBefore);
      expect(await claim()).toEqual([]);
    });

    it('deletes a subscription with its deliveries and attempts, keeps the events, and says false the second time', async () => {
      const sub = await createSubscription();
      const other = await createSubscription();
      const d = await publishFor(sub.id);
      const otherDelivery = await publishFor(other.id);
      const claimed = await claimOne(d.id);
      await settle(claimed, { kind: 'retry', nextAttemptAt: t.now + 1000 }, { statusCode: 500 });
      expect(await t.storage.listAttempts(d.id)).toHaveLength(1);

      expect(await t.storage.deleteSubscription(sub.id)).toBe(true);
      expect(await t.storage.getSubscription(sub.id)).toBeNull();
      expect(await t.storage.getDelivery(d.id)).toBeNull();
      expect(await t.storage.listAttempts(d.id)).toEqual([]);
      expect(await t.storage.getEvent(d.eventId)).not.toBeNull();
      expect((await t.storage.listDeliveries({ subscriptionId: sub.id, limit: 10 })).items).toEqual([]);
      expect(await t.storage.getDelivery(otherDelivery.id)).not.toBeNull();
      const remaining = (await t.storage.listDeliveries({ limit: 100 })).items.map((x) => x.id);
      // Both events went to both subscriptions: only the other's two deliveries remain.
      expect(remaining).toHaveLength(2);
      expect(remaining).toContain(otherDelivery.id);
      expect(remaining).toEqual((await t.storage.listDeliveries({ subscriptionId: other.id, limit: 100 })).items.map((x) => x.id));
      expect((await t.storage.stats(t.now)).pending).toBe(2);
      expect(await t.storage.deleteSubscription(sub.id)).toBe(false);
    });

    it('stores flow control and returns it from create, get, list, update and a claim, as copies', async () => {
      const flowControl = { maxInFlight: 4, ratePerSecond: null, burst: 8 };
      const record = subscriptionRecord({ flowControl });
      const created = await t.storage.createSubscription(record);
      expect(created.flowControl).toEqual(flowControl);
      created.flowControl!.maxInFlight = 99;
      expect((await t.storage.getSubscription(record.id))!.flowControl).toEqual(flowControl);
      expect((await t.storage.listSubscriptions({ limit: 10 })).items[0]!.flowControl).toEqual(flowControl);

      t.now += 1000;
      const rated = await t.storage.updateSubscription(record.id, { flowControl: { ratePerSecond: 2.5, burst: 5 } }, t.now);
      expect(rated).toEqual({ ...record, flowControl: { ratePerSecond: 2.5, burst: 5 }, updatedAt: t.now });
      // A patch without flowControl leaves it alone.
      await t.storage.updateSubscription(record.id, { description: 'ERP' }, t.now);
      const d = await publishFor(record.id);
      const claimed = await claimOne(d.id);
      expect(claimed.subscription.flowControl).toEqual({ ratePerSecond: 2.5, burst: 5 });
      expect(claimed.subscription).toEqual(await t.storage.getSubscription(record.id));

      const cleared = await t.storage.updateSubscription(record.id, { flowControl: null }, t.now);
      expect(cleared!.flowControl).toBeNull();
      expect((await t.storage.getSubscription(record.id))!.flowControl).toBeNull();
      expect(await createSubscription()).toMatchObject({ flowControl: null, failingSince: null });
    });
  });
}
