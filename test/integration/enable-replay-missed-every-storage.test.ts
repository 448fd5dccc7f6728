/**
 * `subscriptions.enable(id, { replayMissed: true })` is all or nothing, on every storage: when
 * the replay of the missed events fails — a transform that throws (`TRANSFORM_FAILED`), one this
 * instance lacks (`TRANSFORM_MISSING`), a downgrade that throws (`EVENT_DOWNGRADE_FAILED`), a
 * stored filter that is no filter (`PAYLOAD_FILTER_INVALID`) — the call rejects with that code
 * and nothing changed: the subscription is still disabled (same reason and time), nothing was
 * logged, announced or queued, and the same call, once the cause is fixed, replays everything.
 * Events published while the enable runs are not lost, and are queued in the transaction that
 * enables it: a key's missed event goes before one published after the enable, and should
 * their replay fail, the subscription stays disabled.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWebhooks, defineEvents, type BookkeeperEvents, type StorageAdapter, type Webhooks, type WebhooksOptions } from '../../src/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { samplePayment } from '../support/sample-payment.js';

const DISABLED_AT = Date.parse('2026-12-05T09:00:00Z');

/** Thin events, failing on the payments named `pay_bad…` while `failing.now` is true. */
function thinUnless(failing: { now: boolean }) {
  return {
    thin: (event: { data: unknown }) => {
      const { paymentId } = event.data as { paymentId: string };
      if (failing.now && paymentId.startsWith('pay_bad')) throw new Error(`cannot thin ${paymentId}`);
      return { paymentId };
    },
  };
}

const paymentV1 = z.object({ paymentId: z.string(), amountMinor: z.int() });
const paymentV2 = z.object({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int() });

/** payment.succeeded in two versions, version 1 downgraded from 2 — failing while `failing.now` is true. */
function versionedCatalog(failing: { now: boolean }) {
  return defineEvents({
    'payment.succeeded': {
      versions: {
        1: { schema: paymentV1, example: { paymentId: 'pay_ex', amountMinor: 1000 } },
        2: {
          schema: paymentV2,
          example: { paymentId: 'pay_ex', netMinor: 970, feeMinor: 30 },
          downgrade: (data: z.output<typeof paymentV2>) => {
            if (failing.now) throw new Error('fee without a net amount');
            return { paymentId: data.paymentId, amountMinor: data.netMinor + data.feeMinor };
          },
        },
      },
    },
  });
}

describe.each(storageKinds)('enable({ replayMissed }) on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'enable-replay');
  const ownInstances: Webhooks[] = [];

  afterEach(async () => {
    for (const webhooks of ownInstances.splice(0)) await webhooks.stop();
  });

  /** An instance over `storage` (the test's, wrapped), stopped after the test. */
  function instanceOver(storage: StorageAdapter, options: Omit<WebhooksOptions<BookkeeperEvents>, 'storage'>): Webhooks<BookkeeperEvents> {
    const webhooks = createWebhooks<BookkeeperEvents>({ meter: false, ...options, storage, security: { allowPrivateNetworks: true } });
    ownInstances.push(webhooks as unknown as Webhooks);
    return webhooks;
  }

  /**
   * The test's storage with `before` run just before the enable's status change goes to it
   * (a `replay` with `activate`, or `setSubscriptionStatus`), and `after` once it is done.
   */
  function storageWithHook(before: () => Promise<void>, after: () => Promise<void> = async () => undefined): StorageAdapter {
    const storage = env.opened.storage;
    return new Proxy(storage, {
      get(target, property) {
        if (property === 'setSubscriptionStatus') {
          return async (...args: Parameters<StorageAdapter['setSubscriptionStatus']>) => {
            await before();
            const result = await target.setSubscriptionStatus(...args);
            await after();
            return result;
          };
        }
        if (property === 'replay') {
          return async (input: Parameters<StorageAdapter['replay']>[0]) => {
            if (input.activate === undefined) return target.replay(input);
            await before();
            const result = await target.replay(input);
            await after();
            return result;
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** What a refused enable must leave as it was. */
  async function stateOf(webhooks: Webhooks, id: string) {
    const subscription = await webhooks.subscriptions.get(id);
    return {
      status: subscription?.status,
      disabledAt: subscription?.disabledAt,
      disabledReason: subscription?.disabledReason,
      history: (await webhooks.subscriptions.history(id)).items.map(({ id: changeId, action }) => ({ changeId, action })),
      deliveries: (await webhooks.deliveries.list({ subscriptionId: id })).items,
      // A stored filter that is no filter fails the preview too: its code, then.
      preview: await webhooks.subscriptions.previewEnable(id).catch((error: unknown) => (error as { code?: string }).code),
    };
  }

  /** Runs the enable that must fail with `code`, and checks that it changed nothing and announced nothing. */
  async function expectRefusedUnchanged(webhooks: Webhooks, id: string, code: string) {
    const before = await stateOf(webhooks, id);
    expect(before.status).toBe('disabled');
    const announced: string[] = [];
    webhooks.bus.on('subscription:enabled', (event) => announced.push(event.change!.subscriptionId));
    const refused = await webhooks.subscriptions.enable(id, { replayMissed: true, actor: 'ops' }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code });
    expect(await stateOf(webhooks, id)).toEqual(before);
    expect(announced).toEqual([]);
    return before;
  }

  it('refuses with TRANSFORM_FAILED and changes nothing when a transform fails on a missed event; fixed, the same call replays them all', async () => {
    const clock = new FakeClock(DISABLED_AT);
    const failing = { now: true };
    const webhooks = env.instance({ clock, transforms: thinUnless(failing) });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/crm`, eventTypes: ['payment.*'], transform: 'thin' });
    await webhooks.subscriptions.disable(sub.id, { reason: 'ERP down' });
    await clock.advance(1_000);
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.publish('payment.succeeded', { ...samplePayment(2), paymentId: 'pay_bad_2' });

    const before = await expectRefusedUnchanged(webhooks, sub.id, 'TRANSFORM_FAILED');
    expect(before).toMatchObject({ disabledAt: DISABLED_AT, disabledReason: 'ERP down', deliveries: [], preview: { held: 0, missed: 2 } });

    failing.now = false;
    const enabled = await webhooks.subscriptions.enable(sub.id, { replayMissed: true, actor: 'ops' });
    expect(enabled).toMatchObject({ status: 'active', disabledAt: null, resumed: 0, replayed: 2 });
    expect((await webhooks.subscriptions.history(sub.id)).items.at(-1)).toMatchObject({ action: 'enabled', actor: 'ops' });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const sent = env.server.requests.map((request) => (JSON.parse(request.body.toString()) as { data: { paymentId: string } }).data.paymentId);
    expect(sent.sort()).toEqual(['pay_1', 'pay_bad_2']);
  });

  it('refuses with TRANSFORM_MISSING on an instance without the transform and changes nothing; one with it enables and replays', async () => {
    const clock = new FakeClock(DISABLED_AT);
    const withTransform = env.instance({ clock, transforms: thinUnless({ now: false }) });
    const without = env.instance({ clock });
    const sub = await withTransform.subscriptions.create({ url: `${env.server.url}/crm`, eventTypes: ['payment.*'], transform: 'thin' });
    await withTransform.subscriptions.disable(sub.id);
    await clock.advance(1_000);
    await without.publish('payment.succeeded', samplePayment(1));

    await expectRefusedUnchanged(without, sub.id, 'TRANSFORM_MISSING');

    expect(await withTransform.subscriptions.enable(sub.id, { replayMissed: true })).toMatchObject({ status: 'active', replayed: 1 });
    expect((await withTransform.deliveries.list({ subscriptionId: sub.id })).items).toMatchObject([{ status: 'pending' }]);
  });

  it('refuses with EVENT_DOWNGRADE_FAILED and changes nothing when a pinned version cannot be made; fixed, the same call replays', async () => {
    const clock = new FakeClock(DISABLED_AT);
    const failing = { now: true };
    const webhooks = env.instance({ clock, events: versionedCatalog(failing) as never }) as unknown as Webhooks;
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'], versions: { 'payment.succeeded': 1 } as never });
    await webhooks.subscriptions.disable(sub.id);
    await clock.advance(1_000);
    await webhooks.publish('payment.succeeded' as never, { paymentId: 'pay_1', netMinor: 970, feeMinor: 30 } as never);

    await expectRefusedUnchanged(webhooks, sub.id, 'EVENT_DOWNGRADE_FAILED');

    failing.now = false;
    expect(await webhooks.subscriptions.enable(sub.id, { replayMissed: true })).toMatchObject({ status: 'active', replayed: 1 });
    const [delivery] = (await webhooks.deliveries.list({ subscriptionId: sub.id })).items;
    expect(JSON.parse((await webhooks.deliveries.sentBody(delivery!.id))!)).toMatchObject({ version: 1, data: { paymentId: 'pay_1', amountMinor: 1000 } });
  });

  it('refuses with PAYLOAD_FILTER_INVALID and changes nothing when the stored filter is no filter; set again, the same call replays', async () => {
    const clock = new FakeClock(DISABLED_AT);
    const webhooks = env.instance({ clock });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/treasury`, eventTypes: ['payment.*'], filter: { 'data.amount.amount': { $gte: 100 } } });
    await webhooks.subscriptions.disable(sub.id);
    await clock.advance(1_000);
    await webhooks.publish('payment.succeeded', samplePayment(1, 150));
    // Changed outside the API (or by a newer version before a rollback).
    await env.opened.storage.updateSubscription(sub.id, { filter: '{"data.amount.amount":{"$regex":"^1"}}' }, clock.now());

    await expectRefusedUnchanged(webhooks, sub.id, 'PAYLOAD_FILTER_INVALID');

    await webhooks.subscriptions.update(sub.id, { filter: { 'data.amount.amount': { $gte: 100 } } });
    expect(await webhooks.subscriptions.enable(sub.id, { replayMissed: true })).toMatchObject({ status: 'active', replayed: 1 });
  });

  it('queues the events published while the enable runs, each once', async () => {
    const clock = new FakeClock(DISABLED_AT);
    const publisher = env.instance({ clock });
    let armed = false;
    // Published after the missed events are replayed, before the subscription is active.
    const webhooks = instanceOver(
      storageWithHook(async () => {
        if (!armed) return;
        armed = false;
        await publisher.publish('payment.succeeded', samplePayment(2));
      }),
      { clock },
    );
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'] });
    await webhooks.subscriptions.disable(sub.id);
    await clock.advance(1_000);
    await webhooks.publish('payment.succeeded', samplePayment(1));
    armed = true;

    expect(await webhooks.subscriptions.enable(sub.id, { replayMissed: true })).toMatchObject({ status: 'active', replayed: 2 });
    expect(armed).toBe(false);
    const deliveries = (await webhooks.deliveries.list({ subscriptionId: sub.id })).items;
    expect(deliveries.map((delivery) => delivery.status)).toEqual(['pending', 'pending']);
    expect(new Set(deliveries.map((delivery) => delivery.eventId)).size).toBe(2);
  });

  it('refuses and leaves it disabled when an event published while it is being enabled fails to replay; fixed, the same call sends everything', async () => {
    const clock = new FakeClock(DISABLED_AT);
    const failing = { now: true };
    const transforms = thinUnless(failing);
    const publisher = env.instance({ clock, transforms });
    let armed = false;
    const webhooks = instanceOver(
      storageWithHook(async () => {
        if (!armed) return;
        armed = false;
        await publisher.publish('payment.succeeded', { ...samplePayment(2), paymentId: 'pay_bad_2' });
      }),
      { clock, transforms },
    );
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/crm`, eventTypes: ['payment.*'], transform: 'thin' });
    await webhooks.subscriptions.disable(sub.id);
    await clock.advance(1_000);
    await webhooks.publish('payment.succeeded', samplePayment(1));
    armed = true;
    const announced: string[] = [];
    webhooks.bus.on('subscription:enabled', (event) => announced.push(event.change!.subscriptionId));

    const refused = await webhooks.subscriptions.enable(sub.id, { replayMissed: true }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ name: 'ValidationError', code: 'TRANSFORM_FAILED', field: 'transform' });
    expect(armed).toBe(false);
    // Still disabled, nothing logged or announced; the first replay's event waits held.
    expect(await webhooks.subscriptions.get(sub.id)).toMatchObject({ status: 'disabled', disabledAt: DISABLED_AT });
    expect((await webhooks.subscriptions.history(sub.id)).items.map((change) => change.action)).toEqual(['created', 'disabled']);
    expect(announced).toEqual([]);
    expect((await webhooks.deliveries.list({ subscriptionId: sub.id })).items.map((delivery) => delivery.status)).toEqual(['held']);

    failing.now = false;
    expect(await webhooks.subscriptions.enable(sub.id, { replayMissed: true })).toMatchObject({ status: 'active', resumed: 1, replayed: 1 });
    const deliveries = (await webhooks.deliveries.list({ subscriptionId: sub.id })).items;
    expect(deliveries.map((delivery) => delivery.status)).toEqual(['pending', 'pending']);
    expect(new Set(deliveries.map((delivery) => delivery.eventId)).size).toBe(2);
  });

  it('numbers a key’s event published while the enable runs before one published right after it', async () => {
    const clock = new FakeClock(DISABLED_AT);
    const publisher = env.instance({ clock });
    const published: Record<'during' | 'after', string | null> = { during: null, after: null };
    let armed = false;
    const webhooks = instanceOver(
      storageWithHook(
        // After the missed events are replayed, before the subscription is active.
        async () => {
          if (!armed) return;
          published.during = (await publisher.publish('payment.succeeded', samplePayment(2), { orderingKey: 'acct_1' })).id;
        },
        // As soon as it is active, before the enable returns.
        async () => {
          if (!armed) return;
          armed = false;
          published.after = (await publisher.publish('payment.succeeded', samplePayment(3), { orderingKey: 'acct_1' })).id;
        },
      ),
      { clock },
    );
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'] });
    await webhooks.subscriptions.disable(sub.id);
    await clock.advance(1_000);
    await webhooks.publish('payment.succeeded', samplePayment(1), { orderingKey: 'acct_1' });
    armed = true;

    expect(await webhooks.subscriptions.enable(sub.id, { replayMissed: true })).toMatchObject({ status: 'active', replayed: 2 });
    expect(armed).toBe(false);
    const deliveries = (await webhooks.deliveries.list({ subscriptionId: sub.id })).items;
    const sequenceOf = (eventId: string | null) => deliveries.find((delivery) => delivery.eventId === eventId)?.orderingSequence;
    expect(deliveries).toHaveLength(3);
    expect([sequenceOf(published.during), sequenceOf(published.after)]).toEqual([2, 3]);
    // And sent in that order.
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const sent = env.server.requests.map((request) => (JSON.parse(request.body.toString()) as { data: { paymentId: string } }).data.paymentId);
    expect(sent).toEqual(['pay_1', 'pay_2', 'pay_3']);
  });
});
