/**
 * Per-key ordering end to end on every storage, over real loopback HTTP: events published
 * with an `orderingKey` reach each subscription strictly in publish order per key, one
 * request of a key at a time, while keys go in parallel; each request carries the key in
 * its signed envelope and its number in `webhook-sequence`. A dead delivery blocks its key
 * (`deliveries.blockedKeys`) until it is skipped or redelivered; under `onDead: 'skip'` the
 * key moves on. Bad input gets coded errors.
 */
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../src/receiver/index.js';
import type { ReceivedRequest } from '../support/loopback-receiver.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { samplePayment } from '../support/sample-payment.js';

/** The key and number a request carries (the key from its body, the number from its header). */
function orderingOf(request: ReceivedRequest): { key: string; sequence: number; id: string } {
  const envelope = JSON.parse(request.body.toString()) as { id: string; orderingKey: string };
  return { key: envelope.orderingKey, sequence: Number(request.headers['webhook-sequence']), id: envelope.id };
}

describe.each(storageKinds)('ordering per key on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'ordering');

  it('delivers each key in publish order, one request of a key at a time, keys in parallel', async () => {
    const inFlight = new Map<string, number>();
    let overlapping = 0;
    let parallelKeys = 0;
    env.server.responder = (request: ReceivedRequest, index: number, res: ServerResponse) => {
      const { key } = orderingOf(request);
      const now = (inFlight.get(key) ?? 0) + 1;
      inFlight.set(key, now);
      if (now > 1) overlapping++;
      parallelKeys = Math.max(parallelKeys, [...inFlight.values()].filter((n) => n > 0).length);
      // A slow receiver, slower for some requests: a key's next must still wait for it.
      setTimeout(() => {
        inFlight.set(key, inFlight.get(key)! - 1);
        res.writeHead(204);
        res.end();
      }, 2 + (index % 5) * 3);
      return 'hang';
    };
    const webhooks = env.instance({ concurrency: 32 });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const keys = ['acct_1', 'acct_2', 'acct_3', 'acct_4'];
    const published = new Map<string, string[]>(keys.map((key) => [key, []]));
    for (let n = 0; n < 12; n++) {
      for (const key of keys) {
        const event = await webhooks.publish('payment.succeeded', samplePayment(n), { orderingKey: key });
        expect(event.orderingKey).toBe(key);
        published.get(key)!.push(event.id);
      }
    }
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 20_000 });

    expect(env.server.requests).toHaveLength(48);
    for (const key of keys) {
      const mine = env.server.requests.map(orderingOf).filter((o) => o.key === key);
      expect(mine.map((o) => o.id)).toEqual(published.get(key));
      expect(mine.map((o) => o.sequence)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    }
    expect(overlapping).toBe(0);
    expect(parallelKeys).toBeGreaterThan(1);
    // The key is in the signed envelope, so the receiver helpers see it verified.
    const first = env.server.requests[0]!;
    const verified = verifyWebhook({ body: first.body, headers: first.headers }, { secrets: sub.secret });
    expect((JSON.parse(first.body.toString()) as { orderingKey: string }).orderingKey).toBe(orderingOf(first).key);
    expect(verified.id).toBe(orderingOf(first).id);
  });

  it('sends an unordered event without the header, and its envelope without the key, byte for byte', async () => {
    const webhooks = env.instance();
    await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const event = await webhooks.publish('payment.succeeded', samplePayment(1));
    expect(event.orderingKey).toBeNull();
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const [request] = env.server.requests;
    expect(request!.headers['webhook-sequence']).toBeUndefined();
    expect(request!.body.toString()).toBe(JSON.stringify({ id: event.id, type: 'payment.succeeded', timestamp: event.timestamp, data: samplePayment(1) }));
  });

  it('blocks a key behind its dead delivery until it is skipped; other keys go on', async () => {
    env.server.responder = (request) => (orderingOf(request).sequence === 1 && orderingOf(request).key === 'acct_bad' ? { status: 500 } : { status: 204 });
    const webhooks = env.instance({ retry: { delaysMs: [] } });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    expect(sub.ordering).toEqual({ onDead: 'block' });
    const bad = [];
    for (let n = 0; n < 3; n++) bad.push(await webhooks.publish('payment.succeeded', samplePayment(n), { orderingKey: 'acct_bad' }));
    const good = await webhooks.publish('payment.succeeded', samplePayment(9), { orderingKey: 'acct_good' });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });

    const sentIds = () => env.server.requests.map((request) => orderingOf(request).id);
    expect(sentIds().sort()).toEqual([bad[0]!.id, good.id].sort());
    const blocked = await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id });
    expect(blocked.items).toEqual([expect.objectContaining({ subscriptionId: sub.id, orderingKey: 'acct_bad', waiting: 2 })]);
    const dead = blocked.items[0]!.delivery;
    expect(dead).toMatchObject({ eventId: bad[0]!.id, status: 'dead', orderingKey: 'acct_bad', orderingSequence: 1 });

    expect(await webhooks.deliveries.skip(dead.id)).toEqual(dead);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(sentIds().slice(2)).toEqual([bad[1]!.id, bad[2]!.id]);
    expect(env.server.requests.slice(2).map((request) => request.headers['webhook-sequence'])).toEqual(['2', '3']);
    expect((await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id })).items).toEqual([]);
    await expect(webhooks.deliveries.skip(dead.id)).rejects.toMatchObject({ code: 'DELIVERY_NOT_BLOCKING' });
  });

  it('moves on at once under onDead: skip, and update moves the policy', async () => {
    env.server.responder = (request) => (orderingOf(request).sequence === 1 ? { status: 500 } : { status: 204 });
    const webhooks = env.instance({ retry: { delaysMs: [] } });
    const created = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'], ordering: { onDead: 'block' } });
    const sub = await webhooks.subscriptions.update(created.id, { ordering: { onDead: 'skip' } });
    expect(sub.ordering).toEqual({ onDead: 'skip' });
    const [change] = (await webhooks.subscriptions.history(sub.id)).items.filter((c) => c.action === 'updated');
    expect(change!.changes).toEqual({ orderingOnDead: { before: 'block', after: 'skip' } });
    const events = [];
    for (let n = 0; n < 3; n++) events.push(await webhooks.publish('payment.succeeded', samplePayment(n), { orderingKey: 'acct_1' }));
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests.map((request) => orderingOf(request).id)).toEqual(events.map((e) => e.id));
    expect((await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id })).items).toEqual([]);
  });

  it('refuses bad input with coded errors and stores nothing', async () => {
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    for (const orderingKey of ['', 'x'.repeat(201), 'acct\n1', 42, null]) {
      await expect(webhooks.publish('payment.succeeded', samplePayment(1), { orderingKey: orderingKey as never })).rejects.toMatchObject({
        code: 'INPUT_INVALID',
        field: 'options.orderingKey',
      });
    }
    expect((await webhooks.events.list()).items).toEqual([]);
    await expect(webhooks.subscriptions.create({ url: `${env.server.url}/x`, eventTypes: ['payment.succeeded'], ordering: { onDead: 'drop' as never } })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      field: 'ordering.onDead',
    });
    await expect(webhooks.subscriptions.update(sub.id, { ordering: {} as never })).rejects.toMatchObject({ code: 'INPUT_INVALID', field: 'ordering.onDead' });
    expect((await webhooks.subscriptions.get(sub.id))!.ordering).toEqual({ onDead: 'block' });
    await expect(webhooks.deliveries.blockedKeys({ subscriptionId: 'sub_unknown' })).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_FOUND' });
    await expect(webhooks.deliveries.blockedKeys({} as never)).rejects.toMatchObject({ code: 'INPUT_INVALID', field: 'subscriptionId' });
    await expect(webhooks.deliveries.skip('dlv_unknown')).rejects.toMatchObject({ code: 'DELIVERY_NOT_FOUND' });
    const plain = await webhooks.publish('payment.succeeded', samplePayment(2));
    const [delivery] = (await webhooks.deliveries.list({ eventId: plain.id })).items;
    await expect(webhooks.deliveries.skip(delivery!.id)).rejects.toMatchObject({ code: 'DELIVERY_NOT_BLOCKING' });
  });
});
