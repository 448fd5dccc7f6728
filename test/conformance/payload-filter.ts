/**
 * Storage conformance cases for payload filters: a subscription's filter kept as the opaque
 * text given (created, read, changed, cleared, logged), and the core's callback asked by the
 * publish and the replay — only about filtered subscriptions that would otherwise receive,
 * once each, with the exact text — whose verdict decides, and whose error reaches the
 * caller with nothing stored. The callbacks are the tests' own (test/support/filter-callbacks.ts):
 * the storage never reads a filter.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { ChangeAudit, EnqueueResult, EventRecord, ReplayInput } from '../../src/storage/storage-adapter.js';
import { acceptFilter, enqueueAsker, FilterEvaluationError, replayAsker } from '../support/filter-callbacks.js';
import type { ConformanceContext } from './conformance-context.js';

const ACME = 'org_acme';
const GLOBEX = 'org_globex';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describePayloadFilter(t: ConformanceContext): void {
  const { subscriptionRecord, createSubscription, eventRecord, claim, settle, deliveriesOfEvent, delivery, rejectionOf } = t;

  function audit(action: ChangeAudit['action']): ChangeAudit {
    return { id: createId('chg', t.now), action, actor: 'user_7Hq2', reason: null, isSensitiveHeader: () => false };
  }

  /** Publishes an event of `type` with `matchesFilter` (none when not given). */
  function publishAsking(
    type: string,
    matchesFilter: ((filter: string) => boolean) | undefined,
    options: { idempotencyKey?: string; tenantId?: string | null } = {},
  ): Promise<EnqueueResult> {
    return t.storage.enqueue({ event: eventRecord(type, options), now: t.now, ...(matchesFilter === undefined ? {} : { matchesFilter }) });
  }

  async function targetsOf(eventId: string): Promise<string[]> {
    return (await deliveriesOfEvent(eventId)).map((d) => d.subscriptionId).sort();
  }

  const sorted = (values: string[]): string[] => [...values].sort();

  describe('payload filter', () => {
    it('keeps the filter as the exact text given: created, read, listed, claimed, changed and cleared by update, kept by another patch', async () => {
      // Not canonical JSON, not JSON at all: whatever the core gives is kept byte for byte.
      const spaced = '{ "accept" : [ "payment.succeeded" ],\n  "note": "€ – ünïcode" }';
      const record = subscriptionRecord({ filter: spaced });
      expect(await t.storage.createSubscription(record)).toEqual(record);
      expect(await t.storage.getSubscription(record.id)).toEqual(record);
      const plain = await createSubscription();
      expect(plain.filter).toBeNull();
      expect((await t.storage.listSubscriptions({ limit: 10 })).items.map((s) => s.filter)).toEqual([spaced, null]);

      const published = await publishAsking('payment.succeeded', () => true);
      expect(published.deliveryCount).toBe(2);
      const claimed = await claim();
      expect(Object.fromEntries(claimed.map((c) => [c.subscription.id, c.subscription.filter]))).toEqual({ [record.id]: spaced, [plain.id]: null });

      t.now += 1000;
      const opaque = 'amount >= 1000.00 && currency == "EUR"';
      expect(await t.storage.updateSubscription(record.id, { filter: opaque }, t.now)).toEqual({ ...record, filter: opaque, updatedAt: t.now });
      expect(await t.storage.updateSubscription(record.id, { url: 'https://erp.example.com/v2' }, t.now)).toMatchObject({ filter: opaque });
      expect(await t.storage.updateSubscription(record.id, { eventTypes: ['refund.*'] }, t.now)).toMatchObject({ filter: opaque });
      expect(await t.storage.updateSubscription(plain.id, { filter: acceptFilter('x') }, t.now)).toMatchObject({ filter: acceptFilter('x') });
      t.now += 1000;
      expect(await t.storage.updateSubscription(record.id, { filter: null }, t.now)).toMatchObject({ filter: null, updatedAt: t.now });
      expect(await t.storage.getSubscription(record.id)).toMatchObject({ filter: null });
      expect(await t.storage.getSubscription(plain.id)).toMatchObject({ filter: acceptFilter('x') });
    });

    it('logs the filter: in the created record, and its before and after when an update sets, changes or clears it', async () => {
      const first = acceptFilter('payment.succeeded');
      const sub = await t.storage.createSubscription(subscriptionRecord({ filter: first }), undefined, audit('created'));
      t.now += 1000;
      const second = acceptFilter('payment.succeeded', 'payment.refunded');
      await t.storage.updateSubscription(sub.id, { filter: second }, t.now, audit('updated'));
      t.now += 1000;
      await t.storage.updateSubscription(sub.id, { filter: null }, t.now, audit('updated'));
      t.now += 1000;
      await t.storage.updateSubscription(sub.id, { description: 'no filter change' }, t.now, audit('updated'));
      const unfiltered = await t.storage.createSubscription(subscriptionRecord(), undefined, audit('created'));

      const log = (await t.storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 10 })).items;
      expect(log.map((record) => record.changes['filter'])).toEqual([
        { before: null, after: first },
        { before: first, after: second },
        { before: second, after: null },
        undefined,
      ]);
      const [created] = (await t.storage.listSubscriptionChanges({ subscriptionId: unfiltered.id, limit: 10 })).items;
      expect(created!.changes['filter']).toEqual({ before: null, after: null });
    });

    it('asks once per matching active subscription with a filter, with its exact text, and delivers to the accepted and the unfiltered only', async () => {
      const unfiltered = await createSubscription({ eventTypes: ['payment.*'] });
      const accepting = await createSubscription({ eventTypes: ['payment.succeeded'], filter: acceptFilter('payment.succeeded') });
      const refusing = await createSubscription({ eventTypes: ['payment.*', '*'], filter: acceptFilter('payment.refunded') });
      // Not asked about (the exact list of texts below says so): another type, disabled, deleted.
      await createSubscription({ eventTypes: ['refund.*'], filter: acceptFilter('payment.succeeded', 'other type') });
      const disabled = await createSubscription({ eventTypes: ['*'], filter: acceptFilter('payment.succeeded', 'disabled') });
      await t.storage.setSubscriptionStatus(disabled.id, { status: 'disabled', reason: 'manual' }, t.now);
      const deleted = await createSubscription({ eventTypes: ['*'], filter: acceptFilter('payment.succeeded', 'deleted') });
      await t.storage.softDeleteSubscription(deleted.id, t.now);

      const { asked, matchesFilter } = enqueueAsker('payment.succeeded');
      const result = await publishAsking('payment.succeeded', matchesFilter);
      expect(result).toMatchObject({ created: true, deliveryCount: 2 });
      expect(sorted(asked)).toEqual(sorted([accepting.filter!, refusing.filter!]));
      expect(await targetsOf(result.event.id)).toEqual(sorted([unfiltered.id, accepting.id]));
      expect(await t.storage.getEvent(result.event.id)).toEqual(result.event);
      expect((await t.storage.stats(t.now)).pending).toBe(2);
    });

    it('asks nothing when no matching subscription has a filter, and delivers to a filtered one the callback accepts alone', async () => {
      const a = await createSubscription({ eventTypes: ['payment.*'] });
      const b = await createSubscription({ eventTypes: ['*'] });
      await createSubscription({ eventTypes: ['refund.*'], filter: acceptFilter('refund.created') });
      const { asked, matchesFilter } = enqueueAsker('payment.succeeded');
      const plain = await publishAsking('payment.succeeded', matchesFilter);
      expect(asked).toEqual([]);
      expect(plain.deliveryCount).toBe(2);
      expect(await targetsOf(plain.event.id)).toEqual(sorted([a.id, b.id]));

      const only = await createSubscription({ eventTypes: ['invoice.paid'], filter: acceptFilter('invoice.paid') });
      const refund = enqueueAsker('invoice.paid');
      const invoice = await publishAsking('invoice.paid', refund.matchesFilter);
      expect(refund.asked).toEqual([only.filter]);
      expect(invoice.deliveryCount).toBe(2);
      expect(await targetsOf(invoice.event.id)).toEqual(sorted([b.id, only.id]));
    });

    it('gives a subscription with a filter no delivery when the publish brings no callback; one without a filter still receives', async () => {
      const unfiltered = await createSubscription();
      await createSubscription({ filter: acceptFilter('payment.succeeded') });
      const result = await publishAsking('payment.succeeded', undefined);
      expect(result).toMatchObject({ created: true, deliveryCount: 1 });
      expect(await targetsOf(result.event.id)).toEqual([unfiltered.id]);
    });

    it('stores an event every filter refuses, with no delivery', async () => {
      await createSubscription({ filter: acceptFilter('refund.created') });
      await createSubscription({ filter: acceptFilter('invoice.paid') });
      const result = await publishAsking('payment.succeeded', enqueueAsker('payment.succeeded').matchesFilter);
      expect(result).toMatchObject({ created: true, deliveryCount: 0 });
      expect(await t.storage.getEvent(result.event.id)).toEqual(result.event);
      expect(await deliveriesOfEvent(result.event.id)).toEqual([]);
      expect(await t.storage.nextDueAt(t.now)).toBeNull();
    });

    it('rejects the publish with what the callback threw and stores nothing: no event, no delivery, its idempotency key still free', async () => {
      await createSubscription({ eventTypes: ['payment.*'] });
      await createSubscription({ filter: acceptFilter('payment.succeeded') });
      const thrown = new FilterEvaluationError();
      const event = eventRecord('payment.succeeded', { idempotencyKey: 'ledger-entry-7' });
      const error = await rejectionOf(
        t.storage.enqueue({
          event,
          now: t.now,
          matchesFilter: () => {
            throw thrown;
          },
        }),
      );
      expect(error).toBe(thrown);
      expect(await t.storage.getEvent(event.id)).toBeNull();
      expect((await t.storage.listEvents({ limit: 10 })).items).toEqual([]);
      expect((await t.storage.listDeliveries({ limit: 10 })).items).toEqual([]);
      expect(await t.storage.stats(t.now)).toMatchObject({ pending: 0 });

      const again = await t.storage.enqueue({ event, now: t.now, matchesFilter: () => true });
      expect(again).toMatchObject({ created: true, deliveryCount: 2, event: { id: event.id } });
    });

    it('asks nothing for a publish whose idempotency key was seen before: the first event comes back, nothing new is stored', async () => {
      await createSubscription({ filter: acceptFilter('payment.succeeded') });
      const first = await publishAsking('payment.succeeded', () => true, { idempotencyKey: 'ledger-entry-8' });
      expect(first.deliveryCount).toBe(1);
      t.now += 1000;
      const { asked, matchesFilter } = enqueueAsker('payment.succeeded');
      const again = await publishAsking('payment.succeeded', matchesFilter, { idempotencyKey: 'ledger-entry-8' });
      expect(again).toEqual({ event: first.event, created: false, deliveryCount: 0 });
      expect(asked).toEqual([]);
    });

    it('asks about a filtered all-tenant consumer for every tenant, and about a tenant\'s filtered subscription for its own events only', async () => {
      const consumer = await createSubscription({ tenantId: null, allTenants: true, filter: acceptFilter('payment.succeeded', 'consumer') });
      const acme = await createSubscription({ tenantId: ACME, filter: acceptFilter('payment.succeeded', 'acme') });
      const platform = await createSubscription({ tenantId: null, filter: acceptFilter('payment.succeeded', 'platform') });

      const forGlobex = enqueueAsker('payment.succeeded');
      const globex = await publishAsking('payment.succeeded', forGlobex.matchesFilter, { tenantId: GLOBEX });
      expect(forGlobex.asked).toEqual([consumer.filter]);
      expect(globex.deliveryCount).toBe(1);
      expect((await deliveriesOfEvent(globex.event.id)).map((d) => [d.subscriptionId, d.tenantId])).toEqual([[consumer.id, null]]);

      const forAcme = enqueueAsker('payment.succeeded');
      const acmeEvent = await publishAsking('payment.succeeded', forAcme.matchesFilter, { tenantId: ACME });
      expect(sorted(forAcme.asked)).toEqual(sorted([consumer.filter!, acme.filter!]));
      expect(await targetsOf(acmeEvent.event.id)).toEqual(sorted([consumer.id, acme.id]));

      const forNone = enqueueAsker('payment.succeeded');
      const tenantless = await publishAsking('payment.succeeded', forNone.matchesFilter);
      expect(sorted(forNone.asked)).toEqual(sorted([consumer.filter!, platform.filter!]));
      expect(await targetsOf(tenantless.event.id)).toEqual(sorted([consumer.id, platform.id]));
    });

    describe('replay', () => {
      /**
       * A filtered subscription with, in the window: a dead delivery of an accepted type and of
       * a refused one, a missing delivery of each (published while it was disabled), and a
       * delivered one (never asked about).
       */
      async function filteredWindow() {
        const filter = acceptFilter('payment.failed', 'payment.refunded');
        const sub = await createSubscription({ eventTypes: ['payment.*'], filter });
        const since = t.now;
        const publishAccepted = async (type: string) => (await publishAsking(type, () => true)).event;
        const deadAccepted = await publishAccepted('payment.failed');
        const deadRefused = await publishAccepted('payment.declined');
        const delivered = await publishAccepted('payment.succeeded');
        const claimed = await claim();
        expect(claimed).toHaveLength(3);
        for (const c of claimed) await settle(c, c.event.id === delivered.id ? { kind: 'delivered' } : { kind: 'dead' }, { statusCode: 500 });
        t.now += 1000;
        await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, t.now);
        const missedAccepted = await publishAccepted('payment.refunded');
        const missedRefused = await publishAccepted('payment.disputed');
        await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
        t.now += 1000;
        const deadIds = Object.fromEntries((await t.storage.listDeliveries({ subscriptionId: sub.id, status: 'dead', limit: 10 })).items.map((d) => [d.eventId, d.id]));
        const input: ReplayInput = {
          subscriptionId: sub.id,
          eventTypes: ['payment.failed', 'payment.declined', 'payment.succeeded', 'payment.refunded', 'payment.disputed'],
          since,
          now: t.now,
        };
        return { sub, filter, input, deadAccepted, deadRefused, delivered, missedAccepted, missedRefused, deadIds };
      }

      const askedIds = (asked: Array<{ event: EventRecord }>): string[] => asked.map((a) => a.event.id).sort();

      it('asks about each event it would create or requeue, with the stored event, and queues only the accepted; dryRun counts the same', async () => {
        const w = await filteredWindow();
        const dry = replayAsker();
        expect(await t.storage.replay({ ...w.input, dryRun: true, matchesFilter: dry.matchesFilter })).toEqual({ count: 2 });
        const candidates = [w.deadAccepted, w.deadRefused, w.missedAccepted, w.missedRefused];
        expect(askedIds(dry.asked)).toEqual(candidates.map((e) => e.id).sort());
        for (const { filter, event } of dry.asked) {
          expect(filter).toBe(w.filter);
          expect(event).toEqual(await t.storage.getEvent(event.id));
        }
        // The dry run changed nothing.
        expect(await delivery(w.deadIds[w.deadAccepted.id]!)).toMatchObject({ status: 'dead' });
        expect(await deliveriesOfEvent(w.missedAccepted.id)).toEqual([]);

        const real = replayAsker();
        expect(await t.storage.replay({ ...w.input, matchesFilter: real.matchesFilter })).toEqual({ count: 2 });
        expect(askedIds(real.asked)).toEqual(candidates.map((e) => e.id).sort());
        expect(await delivery(w.deadIds[w.deadAccepted.id]!)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: t.now });
        expect(await delivery(w.deadIds[w.deadRefused.id]!)).toMatchObject({ status: 'dead' });
        expect(await deliveriesOfEvent(w.missedAccepted.id)).toMatchObject([{ subscriptionId: w.sub.id, status: 'pending', attempts: 0 }]);
        expect(await deliveriesOfEvent(w.missedRefused.id)).toEqual([]);
        expect((await deliveriesOfEvent(w.delivered.id)).map((d) => d.status)).toEqual(['delivered']);
        expect((await claim()).map((c) => c.event.id).sort()).toEqual([w.deadAccepted.id, w.missedAccepted.id].sort());
      });

      it('replays nothing to a subscription with a filter without a callback, and never asks about one without a filter', async () => {
        const w = await filteredWindow();
        expect(await t.storage.replay({ ...w.input, dryRun: true })).toEqual({ count: 0 });
        expect(await t.storage.replay(w.input)).toEqual({ count: 0 });
        expect(await delivery(w.deadIds[w.deadAccepted.id]!)).toMatchObject({ status: 'dead' });
        expect(await deliveriesOfEvent(w.missedAccepted.id)).toEqual([]);

        // The same window to the subscription once its filter is cleared: everything, and the callback is not asked.
        await t.storage.updateSubscription(w.sub.id, { filter: null }, t.now);
        const unasked = replayAsker();
        expect(await t.storage.replay({ ...w.input, matchesFilter: unasked.matchesFilter })).toEqual({ count: 4 });
        expect(unasked.asked).toEqual([]);
      });

      it('rejects the replay with what the callback threw and queues nothing', async () => {
        const w = await filteredWindow();
        const thrown = new FilterEvaluationError();
        let asks = 0;
        const matchesFilter = (): boolean => {
          asks++;
          if (asks === 3) throw thrown;
          return true;
        };
        expect(await rejectionOf(t.storage.replay({ ...w.input, matchesFilter }))).toBe(thrown);
        expect(await delivery(w.deadIds[w.deadAccepted.id]!)).toMatchObject({ status: 'dead' });
        expect(await delivery(w.deadIds[w.deadRefused.id]!)).toMatchObject({ status: 'dead' });
        expect(await deliveriesOfEvent(w.missedAccepted.id)).toEqual([]);
        expect(await deliveriesOfEvent(w.missedRefused.id)).toEqual([]);
        expect(await claim()).toEqual([]);
      });

      it("asks about another tenant's events for a filtered all-tenant consumer, and queues them as the consumer's", async () => {
        const consumer = await createSubscription({ tenantId: null, allTenants: true, eventTypes: ['payment.*'], filter: acceptFilter('payment.succeeded') });
        await t.storage.setSubscriptionStatus(consumer.id, { status: 'disabled', reason: 'maintenance' }, t.now);
        const since = t.now;
        const acme = await publishAsking('payment.succeeded', () => true, { tenantId: ACME });
        const globex = await publishAsking('payment.refunded', () => true, { tenantId: GLOBEX });
        const platform = await publishAsking('payment.succeeded', () => true);
        await t.storage.setSubscriptionStatus(consumer.id, { status: 'active' }, t.now);
        t.now += 1000;
        const asker = replayAsker();
        const input = { subscriptionId: consumer.id, eventTypes: ['payment.succeeded', 'payment.refunded'], since, now: t.now, matchesFilter: asker.matchesFilter };
        expect(await t.storage.replay(input)).toEqual({ count: 2 });
        expect(askedIds(asker.asked)).toEqual([acme.event.id, globex.event.id, platform.event.id].sort());
        expect((await deliveriesOfEvent(acme.event.id)).map((d) => [d.subscriptionId, d.tenantId])).toEqual([[consumer.id, null]]);
        expect(await deliveriesOfEvent(globex.event.id)).toEqual([]);
        expect(await targetsOf(platform.event.id)).toEqual([consumer.id]);
      });
    });
  });
}
