/**
 * Payload filters through the public API on every storage, over real loopback HTTP: a
 * filtered subscription gets a delivery only for the events its filter matches (decided at
 * publish: no row for the others), replay and `enable({ replayMissed })` apply the filter as
 * it reads at the time, `update` changes and clears it, the change log shows it, and bad
 * filters are refused with `PAYLOAD_FILTER_INVALID` naming the path, storing nothing.
 */
import { describe, expect, it } from 'vitest';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { samplePayment } from '../support/sample-payment.js';

/** Only EUR payments of 1,000.00 or more: the example of the README. */
const largeEuroPayments = { 'data.amount.currency': 'EUR', 'data.amount.amount': { $gte: 100_000 } };

describe.each(storageKinds)('payload filters on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'payload-filter');

  /** The paymentIds the receiver got at `path`, in arrival order. */
  const receivedAt = (path: string) =>
    env.server.requests.filter((request) => request.url === `/webhooks${path}`).map((request) => (JSON.parse(request.body.toString()) as { data: { paymentId: string } }).data.paymentId);

  it('sends a filtered subscription only the events its filter matches, and stores no delivery for the others', async () => {
    const webhooks = env.instance();
    const large = await webhooks.subscriptions.create({ url: `${env.server.url}/large`, eventTypes: ['payment.succeeded'], filter: largeEuroPayments });
    const everything = await webhooks.subscriptions.create({ url: `${env.server.url}/all`, eventTypes: ['payment.succeeded'] });
    expect(large.filter).toEqual(largeEuroPayments);
    expect(everything.filter).toBeNull();
    expect((await webhooks.subscriptions.get(large.id))!.filter).toEqual(largeEuroPayments);

    const published = [
      await webhooks.publish('payment.succeeded', samplePayment(1, 100_000)),
      await webhooks.publish('payment.succeeded', samplePayment(2, 99_999)),
      await webhooks.publish('payment.succeeded', { ...samplePayment(3, 250_000), amount: { amount: 250_000, currency: 'USD' } }),
      await webhooks.publish('payment.succeeded', samplePayment(4, 2_500_000)),
    ];
    expect(published.map((event) => event.deliveryCount)).toEqual([2, 1, 1, 2]);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });

    expect(receivedAt('/large').sort()).toEqual(['pay_1', 'pay_4']);
    expect(receivedAt('/all').sort()).toEqual(['pay_1', 'pay_2', 'pay_3', 'pay_4']);
    const { items } = await webhooks.deliveries.list({ subscriptionId: large.id });
    expect(items.map((delivery) => delivery.eventId).sort()).toEqual([published[0]!.id, published[3]!.id].sort());
  });

  it('changes and clears the filter with update, logs it, and refuses a bad one with the path, changing nothing', async () => {
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'], filter: { 'data.method': 'card' } });
    await expect(webhooks.subscriptions.update(sub.id, { filter: { 'data.amount.amount': { $gte: 'a lot', $between: [1, 2] } } as never })).rejects.toMatchObject({
      name: 'ValidationError',
      code: 'PAYLOAD_FILTER_INVALID',
    });
    await expect(
      webhooks.subscriptions.create({ url: `${env.server.url}/x`, eventTypes: ['payment.*'], filter: { $or: [{ 'data.method': 'card' }, { 'data.method': { $like: 'sepa%' } }] } as never }),
    ).rejects.toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'filter.$or[1].data.method.$like' });
    expect((await webhooks.subscriptions.list()).items).toHaveLength(1);
    expect((await webhooks.subscriptions.get(sub.id))!.filter).toEqual({ 'data.method': 'card' });

    const moved = await webhooks.subscriptions.update(sub.id, { filter: largeEuroPayments }, { actor: 'alice' });
    expect(moved.filter).toEqual(largeEuroPayments);
    expect((await webhooks.publish('payment.succeeded', samplePayment(1, 10))).deliveryCount).toBe(0);
    const cleared = await webhooks.subscriptions.update(sub.id, { filter: null });
    expect(cleared.filter).toBeNull();
    expect((await webhooks.publish('payment.succeeded', samplePayment(2, 10))).deliveryCount).toBe(1);

    const { items } = await webhooks.subscriptions.history(sub.id);
    expect(items.map((change) => change.action)).toEqual(['created', 'updated', 'updated']);
    expect(Object.keys(items[1]!.changes)).toEqual(['filter']);
    expect(items[1]!.changes.filter).toEqual({ before: { 'data.method': 'card' }, after: largeEuroPayments });
    expect(items[2]!.changes.filter).toEqual({ before: largeEuroPayments, after: null });
  });

  it('refuses a publish and a replay that meet a stored filter changed outside the API, naming the subscription, storing nothing', async () => {
    const webhooks = env.instance();
    // Published before the subscription: a replay would create its delivery, so it asks the filter.
    await webhooks.publish('payment.succeeded', samplePayment(1, 150_000));
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'], filter: largeEuroPayments });
    // As a hand-edit of the database, or a newer version's filter after a rollback, would leave it.
    await env.opened.storage.updateSubscription(sub.id, { filter: '{"data.amount.amount":{"$between":[1,2]}}' }, Date.now());
    const refused = await webhooks.publish('payment.succeeded', samplePayment(2, 150_000)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ name: 'ValidationError', code: 'PAYLOAD_FILTER_INVALID', field: 'filter' });
    expect((refused as Error).message).toContain(`stored payload filter of subscription ${sub.id}`);
    expect((await webhooks.events.list({})).items).toHaveLength(1);
    await expect(webhooks.deliveries.replay({ subscriptionId: sub.id, since: 0 })).rejects.toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', message: expect.stringContaining(sub.id) });
    // Reading it still works, showing what is stored; set again through the API, it works.
    expect((await webhooks.subscriptions.get(sub.id))!.filter).toEqual({ 'data.amount.amount': { $between: [1, 2] } });
    await webhooks.subscriptions.update(sub.id, { filter: largeEuroPayments });
    expect((await webhooks.publish('payment.succeeded', samplePayment(3, 150_000))).deliveryCount).toBe(1);
  });

  it('applies the filter as it reads now to a replay, its dry run and enable({ replayMissed })', async () => {
    const clock = new FakeClock(Date.parse('2026-12-01T09:00:00Z'));
    const webhooks = env.instance({ clock });
    // Disabled, it gets no delivery of what is published meanwhile; replayMissed sends the matching ones.
    const other = await webhooks.subscriptions.create({ url: `${env.server.url}/crm`, eventTypes: ['payment.succeeded'], filter: largeEuroPayments });
    await webhooks.subscriptions.disable(other.id, { reason: 'CRM maintenance' });
    await clock.advance(1_000);
    for (const [n, amount] of [
      [1, 150_000],
      [2, 10],
      [3, 100_000],
      [4, 99_999],
    ] as const) {
      expect((await webhooks.publish('payment.succeeded', samplePayment(n, amount))).deliveryCount).toBe(0);
    }
    // The filter as it reads when the replay runs decides, not the one of the publish.
    await webhooks.subscriptions.update(other.id, { filter: { 'data.amount.amount': { $lt: 100_000 } } });
    expect(await webhooks.subscriptions.previewEnable(other.id)).toMatchObject({ missed: 2 });
    const enabled = await webhooks.subscriptions.enable(other.id, { replayMissed: true });
    expect(enabled.replayed).toBe(2);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(receivedAt('/crm').sort()).toEqual(['pay_2', 'pay_4']);

    // A replay of the whole window to the CRM, now filtered to large payments: sends the two it never got.
    await webhooks.subscriptions.update(other.id, { filter: largeEuroPayments });
    expect(await webhooks.deliveries.replay({ subscriptionId: other.id, since: 0, dryRun: true })).toEqual({ count: 2 });
    expect(await webhooks.deliveries.replay({ subscriptionId: other.id, since: 0 })).toEqual({ count: 2 });
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(receivedAt('/crm').sort()).toEqual(['pay_1', 'pay_2', 'pay_3', 'pay_4']);
  });
});
