/**
 * `events.list` and `events.iterate` on the memory storage: oldest first, page by page; for
 * a subscription, only what it receives, each event with the body it is pushed with and
 * headers signed with the subscription's current secrets (all of them during a rotation);
 * tombstones for expunged events; inputs refused with codes; and a storage that returns an
 * event outside the query is refused loudly rather than signed for the consumer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStorage, createWebhooks, type StorageAdapter, type Webhooks } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { samplePayment } from '../support/sample-payment.js';

const refund = (n: number) => ({ refundId: `ref_${n}`, paymentId: `pay_${n}`, amount: samplePayment(n).amount, reason: 'duplicate' as const, occurredAt: samplePayment(n).occurredAt });

const instances: Webhooks[] = [];
afterEach(async () => {
  for (const webhooks of instances.splice(0)) await webhooks.close();
});

function instance(storage: StorageAdapter = createMemoryStorage(), clock = new FakeClock()) {
  const webhooks = createWebhooks({ storage, clock, meter: false });
  instances.push(webhooks);
  return { webhooks, clock };
}

describe('events.list', () => {
  it('lists events oldest first, page by page, and iterate walks every page', async () => {
    const { webhooks, clock } = instance();
    const ids: string[] = [];
    for (let n = 1; n <= 5; n++) {
      ids.push((await webhooks.publish('payment.succeeded', samplePayment(n))).id);
      await clock.advance(1);
    }
    const first = await webhooks.events.list({ limit: 2 });
    expect(first.items.map((event) => event.id)).toEqual(ids.slice(0, 2));
    const second = await webhooks.events.list({ limit: 2, cursor: first.nextCursor! });
    expect(second.items.map((event) => event.id)).toEqual(ids.slice(2, 4));
    const walked: string[] = [];
    for await (const event of webhooks.events.iterate({ limit: 2 })) walked.push(event.id);
    expect(walked).toEqual(ids);
    const since = (await webhooks.events.get(ids[3]!))!.timestamp;
    expect((await webhooks.events.list({ since })).items.map((event) => event.id)).toEqual(ids.slice(3));
  });

  it('gives the event as events.get does, without body or headers when no subscription is named', async () => {
    const { webhooks } = instance();
    const published = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'acme', idempotencyKey: 'k1' });
    const { items } = await webhooks.events.list();
    expect(items).toEqual([{ ...(await webhooks.events.get(published.id)), body: null, headers: null, filteredOut: false }]);
  });

  it('signs each event for the subscription, as pushed, with every secret it signs with during a rotation', async () => {
    const { webhooks, clock } = instance();
    const created = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    const published = await webhooks.publish('payment.succeeded', samplePayment(1));
    const rotated = await webhooks.subscriptions.rotateSecret(created.id, { overlapMs: 3_600_000 });
    await clock.advance(5_000);

    const { items } = await webhooks.events.list({ subscriptionId: created.id });
    const [event] = items;
    expect(event!.body).toBe(JSON.stringify({ id: published.id, type: published.type, timestamp: published.timestamp, data: published.data }));
    expect(event!.headers!['webhook-id']).toBe(published.id);
    expect(event!.headers!['webhook-timestamp']).toBe(String(Math.floor(clock.now() / 1000)));
    expect(event!.headers!['webhook-signature'].split(' ')).toHaveLength(2);
    for (const secret of [created.secret, rotated.secret]) {
      expect(verifyWebhook({ body: event!.body!, headers: event!.headers! }, { secrets: secret, now: new Date(clock.now()) })).toMatchObject({ id: published.id, data: published.data });
    }
    // Once the overlap is over, only the new secret signs.
    await clock.advance(3_600_000);
    const [later] = (await webhooks.events.list({ subscriptionId: created.id })).items;
    expect(later!.headers!['webhook-signature'].split(' ')).toHaveLength(1);
    expect(() => verifyWebhook({ body: later!.body!, headers: later!.headers! }, { secrets: created.secret, now: new Date(clock.now()) })).toThrow(
      expect.objectContaining({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' }),
    );
  });

  it("lists for a subscription only its tenant's events of the types its filters match, and the types asked for among them", async () => {
    const { webhooks } = instance();
    const acme = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*', 'refund.initiated'], tenantId: 'acme' });
    const payment = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'acme' });
    const refunded = await webhooks.publish('refund.initiated', refund(2), { tenantId: 'acme' });
    await webhooks.publish('payment.succeeded', samplePayment(3), { tenantId: 'globex' });
    await webhooks.publish('payment.succeeded', samplePayment(4));
    await webhooks.publish('transaction.created', { transactionId: 'txn_1', accountId: 'acc_1', direction: 'credit', amount: samplePayment(5).amount, occurredAt: samplePayment(5).occurredAt }, { tenantId: 'acme' });

    expect((await webhooks.events.list({ subscriptionId: acme.id })).items.map((event) => event.id)).toEqual([payment.id, refunded.id]);
    expect((await webhooks.events.list({ subscriptionId: acme.id, types: ['refund.initiated'] })).items.map((event) => event.id)).toEqual([refunded.id]);
    expect((await webhooks.events.list({ subscriptionId: acme.id, tenantId: 'acme' })).items).toHaveLength(2);
    expect((await webhooks.events.list({ types: ['payment.succeeded'] })).items).toHaveLength(3);
  });

  it('lists an expunged event as a tombstone: no data, no body, nothing signed', async () => {
    const { webhooks } = instance();
    const { id: subscriptionId } = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    const published = await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.events.expunge(published.id);
    const [event] = (await webhooks.events.list({ subscriptionId })).items;
    expect(event).toMatchObject({ id: published.id, type: 'payment.succeeded', data: null, body: null, headers: null, expungedAt: expect.any(Number) });
  });

  it('refuses malformed queries, unknown subscriptions and cursors, and a scope wider than the subscription, with codes', async () => {
    const { webhooks } = instance();
    const acme = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'], tenantId: 'acme' });
    const platform = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });
    const gone = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });
    await webhooks.subscriptions.delete(gone.id);
    const refusal = (query: unknown) =>
      webhooks.events.list(query as never).then(
        () => 'listed',
        (error: { code: string; field?: string }) => [error.code, error.field],
      );

    expect({
      limitZero: await refusal({ limit: 0 }),
      limitTooLarge: await refusal({ limit: 1001 }),
      wildcardType: await refusal({ types: ['payment.*'] }),
      noTypes: await refusal({ types: [] }),
      unknownKey: await refusal({ order: 'desc' }),
      badSince: await refusal({ since: -1 }),
      notAnObject: await refusal('sub_1'),
      unknownSubscription: await refusal({ subscriptionId: 'sub_missing' }),
      deletedSubscription: await refusal({ subscriptionId: gone.id }),
      cursor: await refusal({ cursor: 'not-a-cursor' }),
      otherTenant: await refusal({ subscriptionId: acme.id, tenantId: 'globex' }),
      platformEvents: await refusal({ subscriptionId: acme.id, tenantId: null }),
      tenantEventsForThePlatform: await refusal({ subscriptionId: platform.id, tenantId: 'acme' }),
      otherType: await refusal({ subscriptionId: acme.id, types: ['payment.succeeded', 'refund.failed'] }),
    }).toEqual({
      limitZero: ['INPUT_INVALID', 'limit'],
      limitTooLarge: ['INPUT_INVALID', 'limit'],
      wildcardType: ['INPUT_INVALID', 'types.0'],
      noTypes: ['INPUT_INVALID', 'types'],
      unknownKey: ['INPUT_INVALID', 'order'],
      badSince: ['INPUT_INVALID', 'since'],
      notAnObject: ['INPUT_INVALID', undefined],
      unknownSubscription: ['SUBSCRIPTION_NOT_FOUND', 'subscriptionId'],
      deletedSubscription: ['SUBSCRIPTION_DELETED', 'subscriptionId'],
      cursor: ['CURSOR_INVALID', 'cursor'],
      otherTenant: ['SUBSCRIPTION_SCOPE_EXCEEDED', 'tenantId'],
      platformEvents: ['SUBSCRIPTION_SCOPE_EXCEEDED', 'tenantId'],
      tenantEventsForThePlatform: ['SUBSCRIPTION_SCOPE_EXCEEDED', 'tenantId'],
      otherType: ['SUBSCRIPTION_SCOPE_EXCEEDED', 'types'],
    });
    // iterate checks the query when it is called, before any page is read.
    expect(() => webhooks.events.iterate({ limit: 0 })).toThrow(expect.objectContaining({ code: 'INPUT_INVALID', field: 'limit' }));
  });

  it('refuses with STORAGE_FAILED, and signs nothing, when the storage returns an event the query excludes', async () => {
    const memory = createMemoryStorage();
    // A storage out of step with the contract: it ignores the tenant of the query.
    const storage = new Proxy(memory, {
      get(target, property, receiver) {
        if (property !== 'listEvents') return Reflect.get(target, property, receiver);
        return (query: Parameters<StorageAdapter['listEvents']>[0]) => target.listEvents({ ...query, tenantId: undefined });
      },
    });
    const { webhooks } = instance(storage);
    const acme = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'], tenantId: 'acme' });
    await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'globex' });
    await expect(webhooks.events.list({ subscriptionId: acme.id })).rejects.toMatchObject({ name: 'StorageError', code: 'STORAGE_FAILED' });
  });
});
