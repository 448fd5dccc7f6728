/**
 * Storage conformance cases for payloads per endpoint: a subscription's `transform` kept as the
 * opaque name given (created, read, changed, cleared, logged), and the core's `render` asked
 * by the publish and the replay for each delivery they create to a subscription with one —
 * after its payload filter accepted, once each — whose text is that delivery's own payload:
 * what `claimDue` hands out as `event.payload` on every attempt, what `getDeliveryPayload`
 * reads, kept by a retry, a redelivery and a replay's requeue, erased by an expunge. The
 * render here is the tests' own: the storage never runs a transform.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { ChangeAudit, EnqueueInput, EnqueueResult, EventRecord, ReplayInput, SubscriptionRecord } from '../../src/storage/storage-adapter.js';
import { acceptFilter } from '../support/filter-callbacks.js';
import type { ConformanceContext } from './conformance-context.js';

const ACME = 'org_acme';

/** The error a throwing render throws: the caller must get this very object back. */
class RenderError extends Error {
  constructor() {
    super('the transform could not render the payload');
    this.name = 'RenderError';
  }
}

/** What the tests' render makes of a subscription (and, in a replay, of the stored event): a text naming them. */
function rendered(subscription: SubscriptionRecord, eventId?: string): string {
  return JSON.stringify({ transform: subscription.transform, subscription: subscription.id, ...(eventId === undefined ? {} : { event: eventId }), note: '€ – ünïcode' });
}

/** An enqueue's render: every subscription it was asked about, as given, in order. */
function enqueueRenderer(): { asked: SubscriptionRecord[]; render: (subscription: SubscriptionRecord) => string } {
  const asked: SubscriptionRecord[] = [];
  return {
    asked,
    render: (subscription) => {
      asked.push(subscription);
      return rendered(subscription);
    },
  };
}

/** A replay's render: each (subscription, event) it was asked about, in order. */
function replayRenderer(): {
  asked: Array<{ subscription: SubscriptionRecord; event: EventRecord }>;
  render: (subscription: SubscriptionRecord, event: EventRecord) => string;
} {
  const asked: Array<{ subscription: SubscriptionRecord; event: EventRecord }> = [];
  return {
    asked,
    render: (subscription, event) => {
      asked.push({ subscription, event });
      return rendered(subscription, event.id);
    },
  };
}

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeDeliveryPayloads(t: ConformanceContext): void {
  const { subscriptionRecord, createSubscription, eventRecord, claim, settle, deliveriesOfEvent, delivery, rejectionOf } = t;

  function audit(action: ChangeAudit['action']): ChangeAudit {
    return { id: createId('chg', t.now), action, actor: 'user_7Hq2', reason: null, isSensitiveHeader: () => false };
  }

  /** Publishes an event of `type` with the callbacks given (none when not given). */
  function publishWith(
    type: string,
    callbacks: Pick<EnqueueInput, 'render' | 'matchesFilter'>,
    options: { idempotencyKey?: string; tenantId?: string | null } = {},
  ): Promise<EnqueueResult> {
    return t.storage.enqueue({ event: eventRecord(type, options), now: t.now, ...callbacks });
  }

  /** The delivery of `eventId` to `subscriptionId`. */
  async function deliveryTo(eventId: string, subscriptionId: string) {
    const found = (await deliveriesOfEvent(eventId)).find((d) => d.subscriptionId === subscriptionId);
    expect(found).toBeDefined();
    return found!;
  }

  const sorted = (values: string[]): string[] => [...values].sort();

  describe('delivery payloads', () => {
    it('keeps the transform as the exact name given: created, read, listed, claimed, changed and cleared by update, kept by another patch', async () => {
      const record = subscriptionRecord({ transform: 'thin v2 — ünïcode' });
      expect(await t.storage.createSubscription(record)).toEqual(record);
      expect(await t.storage.getSubscription(record.id)).toEqual(record);
      const plain = await createSubscription();
      expect(plain.transform).toBeNull();
      expect((await t.storage.listSubscriptions({ limit: 10 })).items.map((s) => s.transform)).toEqual([record.transform, null]);

      await publishWith('payment.succeeded', { render: enqueueRenderer().render });
      const claimed = await claim();
      expect(Object.fromEntries(claimed.map((c) => [c.subscription.id, c.subscription.transform]))).toEqual({ [record.id]: record.transform, [plain.id]: null });

      t.now += 1000;
      expect(await t.storage.updateSubscription(record.id, { transform: 'full' }, t.now)).toEqual({ ...record, transform: 'full', updatedAt: t.now });
      expect(await t.storage.updateSubscription(record.id, { url: 'https://erp.example.com/v2', filter: acceptFilter('x') }, t.now)).toMatchObject({ transform: 'full' });
      expect(await t.storage.updateSubscription(plain.id, { transform: 'thin' }, t.now)).toMatchObject({ transform: 'thin' });
      t.now += 1000;
      expect(await t.storage.updateSubscription(record.id, { transform: null }, t.now)).toMatchObject({ transform: null, updatedAt: t.now });
      expect(await t.storage.getSubscription(record.id)).toMatchObject({ transform: null, filter: acceptFilter('x') });
      expect(await t.storage.getSubscription(plain.id)).toMatchObject({ transform: 'thin' });
    });

    it('logs the transform: in the created record, and its before and after when an update sets, changes or clears it', async () => {
      const sub = await t.storage.createSubscription(subscriptionRecord({ transform: 'thin' }), undefined, audit('created'));
      t.now += 1000;
      await t.storage.updateSubscription(sub.id, { transform: 'full' }, t.now, audit('updated'));
      t.now += 1000;
      await t.storage.updateSubscription(sub.id, { transform: null }, t.now, audit('updated'));
      t.now += 1000;
      await t.storage.updateSubscription(sub.id, { description: 'no transform change' }, t.now, audit('updated'));
      const plain = await t.storage.createSubscription(subscriptionRecord(), undefined, audit('created'));

      const log = (await t.storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 10 })).items;
      expect(log.map((record) => record.changes['transform'])).toEqual([
        { before: null, after: 'thin' },
        { before: 'thin', after: 'full' },
        { before: 'full', after: null },
        undefined,
      ]);
      // After the filter, in the fixed order of the logged fields.
      const fields = Object.keys(log[0]!.changes);
      expect(fields.indexOf('transform')).toBe(fields.indexOf('filter') + 1);
      const [created] = (await t.storage.listSubscriptionChanges({ subscriptionId: plain.id, limit: 10 })).items;
      expect(created!.changes['transform']).toEqual({ before: null, after: null });
    });

    it('renders once per receiving subscription with a transform, after its filter accepted, and hands the text out as that delivery\'s payload', async () => {
      const plain = await createSubscription({ eventTypes: ['payment.*'] });
      const thin = await createSubscription({ eventTypes: ['payment.succeeded'], transform: 'thin' });
      const filteredThin = await createSubscription({ eventTypes: ['*'], transform: 'thin', filter: acceptFilter('payment.succeeded', 'accepted') });
      // Never rendered: refused by its filter, another type, disabled, deleted.
      const refused = await createSubscription({ transform: 'thin', filter: acceptFilter('refund.created', 'refused') });
      await createSubscription({ eventTypes: ['refund.*'], transform: 'thin' });
      const disabled = await createSubscription({ eventTypes: ['*'], transform: 'thin' });
      await t.storage.setSubscriptionStatus(disabled.id, { status: 'disabled', reason: 'manual' }, t.now);
      const deleted = await createSubscription({ eventTypes: ['*'], transform: 'thin' });
      await t.storage.softDeleteSubscription(deleted.id, t.now);

      // One sequence of the questions asked, filters and renders alike.
      const questions: string[] = [];
      const { asked, render } = enqueueRenderer();
      const result = await publishWith('payment.succeeded', {
        matchesFilter: (filter) => {
          questions.push(`filter ${filter}`);
          return (JSON.parse(filter) as { accept: string[] }).accept.includes('payment.succeeded');
        },
        render: (subscription) => {
          questions.push(`render ${subscription.id}`);
          return render(subscription);
        },
      });
      expect(result).toMatchObject({ created: true, deliveryCount: 3 });
      expect(sorted(asked.map((s) => s.id))).toEqual(sorted([thin.id, filteredThin.id]));
      // Each with the stored record.
      for (const subscription of asked) expect(subscription).toEqual(await t.storage.getSubscription(subscription.id));
      expect(questions.indexOf(`filter ${filteredThin.filter}`)).toBeLessThan(questions.indexOf(`render ${filteredThin.id}`));
      expect(questions).toContain(`filter ${refused.filter}`);
      expect(questions).not.toContain(`render ${refused.id}`);

      const event = result.event;
      expect(await t.storage.getEvent(event.id)).toEqual(event);
      const claimed = await claim();
      expect(Object.fromEntries(claimed.map((c) => [c.subscription.id, c.event.payload]))).toEqual({
        [plain.id]: event.payload,
        [thin.id]: rendered(thin),
        [filteredThin.id]: rendered(filteredThin),
      });
      // The rest of the event is the event's.
      for (const c of claimed) expect({ ...c.event, payload: event.payload }).toEqual(event);

      expect(await t.storage.getDeliveryPayload((await deliveryTo(event.id, thin.id)).id)).toBe(rendered(thin));
      expect(await t.storage.getDeliveryPayload((await deliveryTo(event.id, filteredThin.id)).id)).toBe(rendered(filteredThin));
      expect(await t.storage.getDeliveryPayload((await deliveryTo(event.id, plain.id)).id)).toBeNull();
      expect(await t.storage.getDeliveryPayload('dlv_unknown')).toBeNull();
    });

    it('asks nothing when no receiving subscription has a transform', async () => {
      const a = await createSubscription({ eventTypes: ['payment.*'] });
      await createSubscription({ eventTypes: ['refund.*'], transform: 'thin' });
      const { asked, render } = enqueueRenderer();
      const result = await publishWith('payment.succeeded', { render });
      expect(asked).toEqual([]);
      expect(result.deliveryCount).toBe(1);
      const [claimed] = await claim();
      expect(claimed).toMatchObject({ subscription: { id: a.id }, event: { payload: result.event.payload } });
    });

    it('gives a subscription with a transform no delivery when the publish brings no render; one without a transform still receives', async () => {
      const plain = await createSubscription();
      await createSubscription({ transform: 'thin' });
      const result = await publishWith('payment.succeeded', {});
      expect(result).toMatchObject({ created: true, deliveryCount: 1 });
      expect((await deliveriesOfEvent(result.event.id)).map((d) => d.subscriptionId)).toEqual([plain.id]);
    });

    it('renders for a tenant\'s subscription and an all-tenant consumer alike, each delivery with its own payload', async () => {
      const consumer = await createSubscription({ tenantId: null, allTenants: true, transform: 'thin' });
      const acme = await createSubscription({ tenantId: ACME, transform: 'full' });
      const { asked, render } = enqueueRenderer();
      const result = await publishWith('payment.succeeded', { render }, { tenantId: ACME });
      expect(result.deliveryCount).toBe(2);
      expect(sorted(asked.map((s) => s.id))).toEqual(sorted([consumer.id, acme.id]));
      expect(Object.fromEntries((await claim()).map((c) => [c.subscription.id, c.event.payload]))).toEqual({
        [consumer.id]: rendered(consumer),
        [acme.id]: rendered(acme),
      });
    });

    it('rejects the publish with what the render threw and stores nothing: no event, no delivery, its idempotency key still free', async () => {
      await createSubscription({ eventTypes: ['payment.*'] });
      await createSubscription({ transform: 'thin' });
      const thrown = new RenderError();
      const event = eventRecord('payment.succeeded', { idempotencyKey: 'ledger-entry-9' });
      const error = await rejectionOf(
        t.storage.enqueue({
          event,
          now: t.now,
          render: () => {
            throw thrown;
          },
        }),
      );
      expect(error).toBe(thrown);
      expect(await t.storage.getEvent(event.id)).toBeNull();
      expect((await t.storage.listEvents({ limit: 10 })).items).toEqual([]);
      expect((await t.storage.listDeliveries({ limit: 10 })).items).toEqual([]);

      const again = await t.storage.enqueue({ event, now: t.now, render: enqueueRenderer().render });
      expect(again).toMatchObject({ created: true, deliveryCount: 2, event: { id: event.id } });
    });

    it('renders nothing for a publish whose idempotency key was seen before', async () => {
      await createSubscription({ transform: 'thin' });
      const first = await publishWith('payment.succeeded', { render: enqueueRenderer().render }, { idempotencyKey: 'ledger-entry-10' });
      expect(first.deliveryCount).toBe(1);
      const { asked, render } = enqueueRenderer();
      const again = await publishWith('payment.succeeded', { render }, { idempotencyKey: 'ledger-entry-10' });
      expect(again).toEqual({ event: first.event, created: false, deliveryCount: 0 });
      expect(asked).toEqual([]);
    });

    it('sends the same payload on every attempt: after a retry, and after a redelivery of the dead delivery', async () => {
      const sub = await createSubscription({ transform: 'thin' });
      const result = await publishWith('payment.succeeded', { render: enqueueRenderer().render });
      const first = (await claim())[0]!;
      expect(first.event.payload).toBe(rendered(sub));
      await settle(first, { kind: 'retry', nextAttemptAt: t.now }, { statusCode: 503 });
      const second = (await claim())[0]!;
      expect(second.delivery.id).toBe(first.delivery.id);
      expect(second.event.payload).toBe(rendered(sub));
      await settle(second, { kind: 'dead' }, { statusCode: 500 });

      t.now += 1000;
      expect(await t.storage.redeliver(first.delivery.id, t.now)).toMatchObject({ status: 'pending' });
      expect((await claim())[0]!.event.payload).toBe(rendered(sub));
      expect(await t.storage.getDeliveryPayload(first.delivery.id)).toBe(rendered(sub));
      expect(await t.storage.getEvent(result.event.id)).toEqual(result.event);
    });

    it('erases a delivery\'s own payload with its event\'s on expunge', async () => {
      const thin = await createSubscription({ transform: 'thin' });
      const plain = await createSubscription();
      const result = await publishWith('payment.succeeded', { render: enqueueRenderer().render });
      const kept = await publishWith('payment.succeeded', { render: enqueueRenderer().render });
      t.now += 1000;
      expect(await t.storage.expungeEvents([result.event.id], t.now)).toMatchObject({ events: 1, cancelled: 2 });
      expect(await t.storage.getDeliveryPayload((await deliveryTo(result.event.id, thin.id)).id)).toBe('');
      expect(await t.storage.getDeliveryPayload((await deliveryTo(result.event.id, plain.id)).id)).toBeNull();
      // Another event's delivery keeps its payload.
      expect(await t.storage.getDeliveryPayload((await deliveryTo(kept.event.id, thin.id)).id)).toBe(rendered(thin));
      expect((await claim()).map((c) => [c.event.id, c.event.payload])).toEqual(
        expect.arrayContaining([
          [kept.event.id, rendered(thin)],
          [kept.event.id, kept.event.payload],
        ]),
      );
    });

    describe('replay', () => {
      /**
       * A subscription with a transform and, in the window: a dead delivery (rendered at its
       * publish) and an event it missed while disabled.
       */
      async function transformedWindow(overrides: Partial<SubscriptionRecord> = {}) {
        const sub = await createSubscription({ eventTypes: ['payment.*'], transform: 'thin', ...overrides });
        const since = t.now;
        const dead = await publishWith('payment.failed', { render: enqueueRenderer().render, matchesFilter: () => true });
        const c = (await claim())[0]!;
        await settle(c, { kind: 'dead' }, { statusCode: 500 });
        t.now += 1000;
        await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, t.now);
        const missed = await publishWith('payment.refunded', { render: enqueueRenderer().render, matchesFilter: () => true });
        await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
        t.now += 1000;
        const input: ReplayInput = { subscriptionId: sub.id, eventTypes: ['payment.failed', 'payment.refunded'], since, now: t.now };
        return { sub, input, dead: dead.event, deadDelivery: c.delivery.id, missed: missed.event };
      }

      it('renders each delivery it creates with the stored subscription and event; a requeued one keeps its payload, unasked', async () => {
        const w = await transformedWindow();
        const dry = replayRenderer();
        expect(await t.storage.replay({ ...w.input, dryRun: true, render: dry.render })).toEqual({ count: 2 });
        expect(dry.asked).toEqual([]);
        expect(await deliveriesOfEvent(w.missed.id)).toEqual([]);

        const real = replayRenderer();
        expect(await t.storage.replay({ ...w.input, render: real.render })).toEqual({ count: 2 });
        expect(real.asked.map((a) => a.event.id)).toEqual([w.missed.id]);
        expect(real.asked[0]!.event).toEqual(await t.storage.getEvent(w.missed.id));
        expect(real.asked[0]!.subscription).toEqual(await t.storage.getSubscription(w.sub.id));
        const created = await deliveryTo(w.missed.id, w.sub.id);
        expect(await t.storage.getDeliveryPayload(created.id)).toBe(rendered(w.sub, w.missed.id));
        expect(await t.storage.getDeliveryPayload(w.deadDelivery)).toBe(rendered(w.sub));
        expect(Object.fromEntries((await claim()).map((c) => [c.event.id, c.event.payload]))).toEqual({
          [w.dead.id]: rendered(w.sub),
          [w.missed.id]: rendered(w.sub, w.missed.id),
        });
      });

      it('renders only the events its filter accepts, after asking the filter', async () => {
        const w = await transformedWindow({ filter: acceptFilter('payment.failed', 'payment.refunded') });
        // Missed too, of a type its filter refuses.
        await t.storage.setSubscriptionStatus(w.sub.id, { status: 'disabled', reason: 'maintenance' }, t.now);
        const skipped = await publishWith('payment.declined', { matchesFilter: () => true, render: enqueueRenderer().render });
        await t.storage.setSubscriptionStatus(w.sub.id, { status: 'active' }, t.now);
        const questions: string[] = [];
        const real = replayRenderer();
        const count = await t.storage.replay({
          ...w.input,
          eventTypes: [...w.input.eventTypes, 'payment.declined'],
          matchesFilter: (filter, event) => {
            questions.push(`filter ${event.id}`);
            return (JSON.parse(filter) as { accept: string[] }).accept.includes(event.type);
          },
          render: (subscription, event) => {
            questions.push(`render ${event.id}`);
            return real.render(subscription, event);
          },
        });
        expect(count).toEqual({ count: 2 });
        expect(real.asked.map((a) => a.event.id)).toEqual([w.missed.id]);
        expect(questions.indexOf(`filter ${w.missed.id}`)).toBeLessThan(questions.indexOf(`render ${w.missed.id}`));
        expect(questions).not.toContain(`render ${skipped.event.id}`);
        expect(await t.storage.getDeliveryPayload((await deliveryTo(w.missed.id, w.sub.id)).id)).toBe(rendered(w.sub, w.missed.id));
      });

      it('creates nothing for a subscription with a transform without a render, and still requeues', async () => {
        const w = await transformedWindow();
        expect(await t.storage.replay({ ...w.input, dryRun: true })).toEqual({ count: 1 });
        expect(await t.storage.replay(w.input)).toEqual({ count: 1 });
        expect(await delivery(w.deadDelivery)).toMatchObject({ status: 'pending', attempts: 0 });
        expect(await deliveriesOfEvent(w.missed.id)).toEqual([]);
        expect((await claim()).map((c) => [c.event.id, c.event.payload])).toEqual([[w.dead.id, rendered(w.sub)]]);
      });

      it('rejects the replay with what the render threw and changes nothing', async () => {
        const w = await transformedWindow();
        const thrown = new RenderError();
        const error = await rejectionOf(
          t.storage.replay({
            ...w.input,
            render: () => {
              throw thrown;
            },
          }),
        );
        expect(error).toBe(thrown);
        expect(await delivery(w.deadDelivery)).toMatchObject({ status: 'dead' });
        expect(await deliveriesOfEvent(w.missed.id)).toEqual([]);
        expect(await claim()).toEqual([]);
      });
    });
  });
}
