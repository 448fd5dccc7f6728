/**
 * `deliveries.list({ eventType })` and `deliveries.undelivered({ eventType })` on every
 * storage, through the public API: one exact type or several, with the other filters and
 * paged by the cursor. (The storage rule itself is in the conformance suite; bad input in
 * bad-input.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { bookkeeperEvents, type DeliveryRecord, type ListDeliveriesQuery, type Webhooks, type BookkeeperEvents } from '../../src/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';

const { examples } = bookkeeperEvents;

/** Every page of `deliveries.list` with `query`, two at a time. */
async function listAll(webhooks: Webhooks<BookkeeperEvents>, query: Omit<ListDeliveriesQuery, 'limit' | 'cursor'>): Promise<DeliveryRecord[]> {
  const all: DeliveryRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await webhooks.deliveries.list({ ...query, limit: 2, ...(cursor === undefined ? {} : { cursor }) });
    all.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return all;
}

describe.each(storageKinds)('deliveries by event type on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'deliveries-by-type');

  it('lists the deliveries of one exact type or of several, newest first, alone or with a subscription, over every page', async () => {
    const clock = new FakeClock(Date.UTC(2026, 11, 3, 9, 0, 0));
    const webhooks = env.instance({ clock });
    const payments = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const everything = await webhooks.subscriptions.create({ url: `${env.server.url}/all`, eventTypes: ['*'] });
    for (let i = 0; i < 3; i++) {
      await clock.advance(1_000);
      await webhooks.publish('payment.succeeded', examples['payment.succeeded']);
      await webhooks.publish('payment.failed', examples['payment.failed']);
      await webhooks.publish('refund.initiated', examples['refund.initiated']);
    }
    const all = await listAll(webhooks, {});
    expect(all).toHaveLength(15);
    const ids = (wanted: string[], where: (d: DeliveryRecord) => boolean = () => true) =>
      all.filter((d) => wanted.includes(d.eventType) && where(d)).map((d) => d.id);

    const failed = await listAll(webhooks, { eventType: 'payment.failed' });
    expect(failed.map((d) => d.id)).toEqual(ids(['payment.failed']));
    expect(failed).toHaveLength(6);
    const refundsAndFailures = await listAll(webhooks, { eventType: ['refund.initiated', 'payment.failed'], subscriptionId: everything.id });
    expect(refundsAndFailures.map((d) => d.id)).toEqual(ids(['refund.initiated', 'payment.failed'], (d) => d.subscriptionId === everything.id));
    expect(refundsAndFailures).toHaveLength(6);
    expect(await listAll(webhooks, { eventType: 'refund.initiated', subscriptionId: payments.id })).toEqual([]);
    expect(await webhooks.deliveries.list({ eventType: 'invoice.created' })).toEqual({ items: [], nextCursor: null });
  });

  it('lists the undelivered deliveries of a type, and none once they are delivered', async () => {
    const clock = new FakeClock(Date.UTC(2026, 11, 3, 9, 0, 0));
    const webhooks = env.instance({ clock });
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['*'] });
    const succeeded = await webhooks.publish('payment.succeeded', examples['payment.succeeded']);
    await clock.advance(1_000);
    const failed = await webhooks.publish('payment.failed', examples['payment.failed']);
    expect((await webhooks.deliveries.undelivered({ eventType: 'payment.failed' })).items.map((d) => d.eventId)).toEqual([failed.id]);
    expect((await webhooks.deliveries.undelivered({ eventType: ['payment.failed', 'payment.succeeded'] })).items.map((d) => d.eventId)).toEqual([failed.id, succeeded.id]);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    expect((await webhooks.deliveries.undelivered({ eventType: 'payment.failed' })).items).toEqual([]);
    expect((await webhooks.deliveries.list({ eventType: 'payment.failed', status: 'delivered' })).items.map((d) => d.eventId)).toEqual([failed.id]);
  });
});
