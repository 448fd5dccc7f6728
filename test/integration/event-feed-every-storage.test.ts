/**
 * The event feed on every storage, over real loopback HTTP: a consumer that was down for a
 * batch of events catches up with `pullMissed` and books each exactly once together with the
 * pushed copies the sender's retries bring later; requests that do not authenticate, or reach
 * beyond their subscription, are refused with their codes; a tenant's subscription never sees
 * another tenant's events; sealed payloads are served opened; expunged events come as tombstones.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSecret, type LifecycleEvents } from '../../src/index.js';
import { createMemoryDedupeStore, pullMissed, verifyWebhook, type WebhookEvent } from '../../src/receiver/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { startConsumer, startFeed, signedGet } from '../support/event-feed.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { samplePayment } from '../support/sample-payment.js';

const cleanups = registerCleanups();

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const refund = (n: number) => ({ refundId: `ref_${n}`, paymentId: `pay_${n}`, amount: samplePayment(n).amount, reason: 'duplicate' as const, occurredAt: samplePayment(n).occurredAt });

describe.each(storageKinds)('the event feed on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'event-feed');

  it('lets a consumer that was down catch up with pullMissed, booking each event once with the pushed copies that arrive later', async () => {
    const clock = new FakeClock(Date.now());
    const webhooks = env.instance({ clock, retry: { delaysMs: [60_000] }, pollIntervalMs: 60_000 });
    const booked = new Map<string, number>();
    const book = (event: WebhookEvent) => void booked.set(event.id, (booked.get(event.id) ?? 0) + 1);
    const dedupe = createMemoryDedupeStore(); // shared by the push handler and pullMissed
    const secret = generateSecret();
    const consumer = await startConsumer({ secret, dedupe, onEvent: book });
    cleanups.push(() => consumer.close());
    const { id: subscriptionId } = await webhooks.subscriptions.create({ url: consumer.url, eventTypes: ['payment.*'], secret });
    const feed = await startFeed(webhooks, { clock });
    cleanups.push(() => feed.close());
    const failed: Array<LifecycleEvents['delivery:failed']> = [];
    const succeeded: Array<LifecycleEvents['delivery:succeeded']> = [];
    webhooks.bus.on('delivery:failed', (event) => failed.push(event));
    webhooks.bus.on('delivery:succeeded', (event) => succeeded.push(event));

    // The consumer is down (503) while a batch is published: every first attempt fails.
    const batch: string[] = [];
    for (let n = 1; n <= 3; n++) batch.push((await webhooks.publish('payment.succeeded', samplePayment(n))).id);
    await webhooks.start();
    await waitUntil(() => failed.length === 3);
    expect(booked.size).toBe(0);

    // Back up, it does not wait for the retries: it pulls what it missed, oldest first.
    consumer.down = false;
    const order: string[] = [];
    const caughtUp = await pullMissed({ feedUrl: feed.url, subscriptionId, secret, dedupe, onEvent: (event) => (order.push(event.id), book(event)) });
    expect(caughtUp).toMatchObject({ processed: 3, duplicates: 0, inFlight: 0, expunged: 0 });
    expect(order).toEqual(batch);
    expect([...booked.values()]).toEqual([1, 1, 1]);

    // The sender's retries arrive later: duplicates to the push handler, answered 2xx, so delivered.
    await clock.advance(60_000);
    await waitUntil(() => succeeded.length === 3);
    expect(consumer.arrived.filter((id) => batch.includes(id))).toHaveLength(6);
    expect(Object.fromEntries(booked)).toEqual(Object.fromEntries(batch.map((id) => [id, 1])));

    // The batch was young when pulled (published within the feed's settleMs): the cursor stayed
    // before it, so a late-committing event with an earlier id could not be skipped.
    expect(caughtUp.next).toBeNull();
    // A later event is pushed and booked. The next pull reads the batch again (settled now: the
    // cursor moves past it) and the later event (young: served, the cursor stays before it); all
    // are duplicates to the dedupe store.
    const later = await webhooks.publish('payment.succeeded', samplePayment(4));
    await waitUntil(() => booked.has(later.id));
    const again = await pullMissed({ feedUrl: feed.url, subscriptionId, secret, dedupe, onEvent: book });
    expect(again).toMatchObject({ processed: 0, duplicates: 4, inFlight: 0 });
    expect(again.next).not.toBeNull();
    const deliveries = (await webhooks.deliveries.list({ subscriptionId })).items;
    expect(deliveries.map((delivery) => delivery.status)).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
    expect((await pullMissed({ feedUrl: feed.url, subscriptionId, secret, dedupe, after: again.next, onEvent: book })).duplicates).toBe(1);

    // Once the later event has settled the cursor moves past it too; then nothing new: it stays.
    await clock.advance(60_000);
    const settled = await pullMissed({ feedUrl: feed.url, subscriptionId, secret, dedupe, after: again.next, onEvent: book });
    expect(settled).toMatchObject({ processed: 0, duplicates: 1 });
    expect(settled.next).not.toBe(again.next);
    expect(await pullMissed({ feedUrl: feed.url, subscriptionId, secret, dedupe, after: settled.next, onEvent: book })).toEqual({
      processed: 0,
      duplicates: 0,
      inFlight: 0,
      stale: 0,
      expunged: 0,
      next: settled.next,
    });
    expect(Object.fromEntries(booked)).toEqual(Object.fromEntries([...batch, later.id].map((id) => [id, 1])));
  });

  it('refuses requests that do not authenticate as the subscription, with the code of the failed check', async () => {
    const webhooks = env.instance();
    const a = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const b = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    const feed = await startFeed(webhooks);
    cleanups.push(() => feed.close());
    const now = Math.floor(Date.now() / 1000);
    const as = (subscription: { id: string; secret: string }) => ({ subscriptionId: subscription.id, secret: subscription.secret });

    const genuine = await signedGet(feed.url, { ...as(a), id: 'feedreq_once' });
    expect(genuine.status).toBe(200);
    expect(genuine.body.data).toHaveLength(1);

    const refusals = {
      wrongSecret: await signedGet(feed.url, { subscriptionId: a.id, secret: generateSecret() }),
      stale: await signedGet(feed.url, { ...as(a), timestampSeconds: now - 400 }),
      future: await signedGet(feed.url, { ...as(a), timestampSeconds: now + 400 }),
      replayed: await signedGet(feed.url, { ...as(a), id: 'feedreq_once' }),
      // B's events, asked for with A's secret.
      anotherSubscription: await signedGet(feed.url, { subscriptionId: b.id, secret: a.secret }),
      unknownSubscription: await signedGet(feed.url, { subscriptionId: 'sub_unknown', secret: a.secret }),
      unnamed: await signedGet(feed.url, { ...as(a), named: null }),
      // Signed as A, then relabelled as B: the signature is checked against B's secrets.
      relabelled: await signedGet(feed.url, { ...as(a), named: b.id }),
    };
    expect(Object.fromEntries(Object.entries(refusals).map(([name, answer]) => [name, [answer.status, answer.body.error]]))).toEqual({
      wrongSecret: [401, 'WEBHOOK_NO_MATCHING_SIGNATURE'],
      stale: [401, 'WEBHOOK_TIMESTAMP_TOO_OLD'],
      future: [401, 'WEBHOOK_TIMESTAMP_TOO_NEW'],
      replayed: [401, 'FEED_REQUEST_REPLAYED'],
      anotherSubscription: [401, 'WEBHOOK_NO_MATCHING_SIGNATURE'],
      unknownSubscription: [401, 'WEBHOOK_NO_MATCHING_SIGNATURE'],
      unnamed: [401, 'WEBHOOK_MISSING_HEADER'],
      relabelled: [401, 'WEBHOOK_NO_MATCHING_SIGNATURE'],
    });
    // A refusal says which check failed and nothing else.
    for (const answer of Object.values(refusals)) expect(Object.keys(answer.body)).toEqual(['error']);
    // The same nonce is the subscription's own: another subscription may use it.
    expect((await signedGet(feed.url, { ...as(b), id: 'feedreq_once' })).status).toBe(200);
    // pullMissed with a wrong secret gets the feed's code.
    await expect(pullMissed({ feedUrl: feed.url, subscriptionId: a.id, secret: b.secret, onEvent: () => undefined })).rejects.toMatchObject({
      name: 'FeedError',
      code: 'FEED_REFUSED',
      status: 401,
      feedCode: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    });
  });

  it("shows a tenant's subscription only its tenant's events, and refuses a wider tenant or type with 403", async () => {
    const webhooks = env.instance();
    const acme = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], tenantId: 'acme' });
    const platform = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['*'] });
    const audit = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['*'], allTenants: true });
    const acmePayment = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'acme' });
    const globexPayment = await webhooks.publish('payment.succeeded', samplePayment(2), { tenantId: 'globex' });
    const acmeRefund = await webhooks.publish('refund.initiated', refund(3), { tenantId: 'acme' });
    const ownPayment = await webhooks.publish('payment.succeeded', samplePayment(4));
    // Events count as settled at once: pages of one walk on here (the settle window has its own tests).
    const feed = await startFeed(webhooks, { settleMs: 0 });
    cleanups.push(() => feed.close());
    const pulled = async (subscription: { id: string; secret: string }) => {
      const ids: string[] = [];
      await pullMissed({ feedUrl: feed.url, subscriptionId: subscription.id, secret: subscription.secret, limit: 1, onEvent: (event) => void ids.push(event.id) });
      return ids;
    };

    expect(await pulled(acme)).toEqual([acmePayment.id]);
    expect(await pulled(platform)).toEqual([ownPayment.id]);
    expect(await pulled(audit)).toEqual([acmePayment.id, globexPayment.id, acmeRefund.id, ownPayment.id]);
    const narrowed = await signedGet(feed.url, { subscriptionId: audit.id, secret: audit.secret, query: { tenantId: 'globex' } });
    expect(narrowed.body.data.map((item) => [item.id, item.tenantId])).toEqual([[globexPayment.id, 'globex']]);

    const widened = await signedGet(feed.url, { subscriptionId: acme.id, secret: acme.secret, query: { tenantId: 'globex' } });
    expect([widened.status, widened.body.error, widened.body.field]).toEqual([403, 'SUBSCRIPTION_SCOPE_EXCEEDED', 'tenantId']);
    const otherType = await signedGet(feed.url, { subscriptionId: acme.id, secret: acme.secret, query: { types: 'refund.initiated' } });
    expect([otherType.status, otherType.body.error, otherType.body.field]).toEqual([403, 'SUBSCRIPTION_SCOPE_EXCEEDED', 'types']);
    await expect(webhooks.events.list({ subscriptionId: acme.id, tenantId: null })).rejects.toMatchObject({ code: 'SUBSCRIPTION_SCOPE_EXCEEDED', field: 'tenantId' });
  });

  it("serves a subscription only what its payload filter matches, and pages past runs of what it leaves out", async () => {
    const webhooks = env.instance();
    const large = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], filter: { 'data.amount.amount': { $gte: 100_000 } } });
    const published = [];
    // Five small payments (more than a page of 2) between the large ones.
    for (const amount of [150_000, 10, 20, 30, 40, 50, 250_000, 60]) published.push(await webhooks.publish('payment.succeeded', samplePayment(published.length + 1, amount)));
    const feed = await startFeed(webhooks, { settleMs: 0 });
    cleanups.push(() => feed.close());

    const ids: string[] = [];
    const result = await pullMissed({ feedUrl: feed.url, subscriptionId: large.id, secret: large.secret, limit: 2, onEvent: (event) => void ids.push(event.id) });
    expect(ids).toEqual([published[0]!.id, published[6]!.id]);
    expect(result).toMatchObject({ processed: 2, expunged: 0, next: expect.any(String) });
    // Nothing left behind the cursor: the next pull finds nothing new.
    expect(await pullMissed({ feedUrl: feed.url, subscriptionId: large.id, secret: large.secret, after: result.next!, limit: 2, onEvent: (event) => void ids.push(event.id) })).toMatchObject({ processed: 0 });

    // events.list shows what the filter leaves out without its content, so paging moves on.
    const { items } = await webhooks.events.list({ subscriptionId: large.id, limit: 3 });
    expect(items.map((item) => [item.filteredOut, item.body === null, item.data === null])).toEqual([
      [false, false, false],
      [true, true, true],
      [true, true, true],
    ]);
  });

  it('serves the opened bodies of an instance with payloadKey, byte for byte what it pushes', async () => {
    const webhooks = env.instance({ security: { payloadKey: randomBytes(32).toString('base64') } });
    const { id: subscriptionId, secret } = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const data = { ...samplePayment(1), metadata: { payer: 'Zoë Müller 🧾' } };
    const published = await webhooks.publish('payment.succeeded', data);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const feed = await startFeed(webhooks);
    cleanups.push(() => feed.close());

    const { status, body } = await signedGet(feed.url, { subscriptionId, secret });
    expect(status).toBe(200);
    const [item] = body.data;
    expect(item!.body).toBe(env.server.requests[0]!.body.toString('utf8'));
    expect((await env.opened.storage.getEvent(published.id))!.payload).toMatch(/^encp:v1:/);
    const event = verifyWebhook({ body: item!.body!, headers: item!.headers! }, { secrets: secret });
    expect(event).toMatchObject({ id: published.id, type: 'payment.succeeded', data });
  });

  it('lists expunged events as tombstones, which pullMissed counts and never hands on', async () => {
    const webhooks = env.instance();
    const { id: subscriptionId, secret } = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const kept = await webhooks.publish('payment.succeeded', samplePayment(1));
    const erased = await webhooks.publish('payment.succeeded', samplePayment(2));
    await webhooks.events.expunge(erased.id);
    const feed = await startFeed(webhooks);
    cleanups.push(() => feed.close());

    const { body } = await signedGet(feed.url, { subscriptionId, secret });
    expect(body.data.map((item) => [item.id, item.body === null, item.headers === null, item.expungedAt === null])).toEqual([
      [kept.id, false, false, true],
      [erased.id, true, true, false],
    ]);
    expect(JSON.stringify(body)).not.toContain('pay_2');
    const handled: string[] = [];
    const result = await pullMissed({ feedUrl: feed.url, subscriptionId, secret, onEvent: (event) => void handled.push(event.id) });
    expect(result).toMatchObject({ processed: 1, expunged: 1 });
    expect(handled).toEqual([kept.id]);
  });
});
