/**
 * Event metadata end to end on every storage, over real loopback HTTP: `publish(…, {
 * metadata })` puts it in the signed envelope, a subscription filtered on `metadata.region`
 * gets only the matching events, the receiver verifies the body and sees the metadata; an
 * event without metadata is sent without the key, byte for byte; a replay applies a metadata
 * filter to the stored envelopes; a re-publish with the same idempotency key returns the
 * first event's metadata, read back from the storage.
 */
import { describe, expect, it } from 'vitest';
import { verifyWebhook, type WebhookEvent } from '../../src/receiver/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { samplePayment } from '../support/sample-payment.js';

describe.each(storageKinds)('event metadata on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'event-metadata');

  const requestsAt = (path: string) => env.server.requests.filter((request) => request.url === `/webhooks${path}`);

  it('sends metadata in the signed envelope, only where a metadata filter matches, and no key for an event without it', async () => {
    const webhooks = env.instance();
    const europe = await webhooks.subscriptions.create({ url: `${env.server.url}/eu`, eventTypes: ['payment.succeeded'], filter: { 'metadata.region': 'eu' } });
    const everything = await webhooks.subscriptions.create({ url: `${env.server.url}/all`, eventTypes: ['payment.succeeded'] });
    expect(europe.filter).toEqual({ 'metadata.region': 'eu' });

    const eu = await webhooks.publish('payment.succeeded', samplePayment(1), { metadata: { region: 'eu', source: 'pos' } });
    const us = await webhooks.publish('payment.succeeded', samplePayment(2), { metadata: { region: 'us' } });
    const bare = await webhooks.publish('payment.succeeded', samplePayment(3));
    expect([eu, us, bare].map((event) => [event.deliveryCount, event.metadata])).toEqual([
      [2, { region: 'eu', source: 'pos' }],
      [1, { region: 'us' }],
      [1, null],
    ]);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });

    const verifiedAt = (path: string, secret: string) =>
      requestsAt(path).map((request) => verifyWebhook({ body: request.body, headers: request.headers }, { secrets: secret }));
    expect(verifiedAt('/eu', europe.secret)).toEqual([{ id: eu.id, type: 'payment.succeeded', timestamp: eu.timestamp, metadata: { region: 'eu', source: 'pos' }, data: samplePayment(1) }]);
    const all = new Map(verifiedAt('/all', everything.secret).map((event): [string, WebhookEvent] => [event.id, event]));
    expect([...all.keys()].sort()).toEqual([eu.id, us.id, bare.id].sort());
    expect(all.get(us.id)!.metadata).toEqual({ region: 'us' });
    expect(Object.keys(all.get(bare.id)!)).not.toContain('metadata');

    // Byte for byte: the envelope of an event without metadata is the one that never had it.
    const bareBody = requestsAt('/all').find((request) => request.headers['webhook-id'] === bare.id)!.body.toString();
    expect(bareBody).toBe(JSON.stringify({ id: bare.id, type: 'payment.succeeded', timestamp: bare.timestamp, data: samplePayment(3) }));
    const euBody = requestsAt('/eu')[0]!.body.toString();
    expect(euBody).toBe(JSON.stringify({ id: eu.id, type: 'payment.succeeded', timestamp: eu.timestamp, metadata: { region: 'eu', source: 'pos' }, data: samplePayment(1) }));
  });

  it('replays to a metadata filter from the stored envelopes: matching keys, and missing ones with $exists: false', async () => {
    const webhooks = env.instance();
    const published = [
      await webhooks.publish('payment.succeeded', samplePayment(1), { metadata: { region: 'eu' } }),
      await webhooks.publish('payment.succeeded', samplePayment(2), { metadata: { region: 'us' } }),
      await webhooks.publish('payment.succeeded', samplePayment(3)),
      await webhooks.publish('payment.succeeded', samplePayment(4), { metadata: { region: 'uk', source: 'api' } }),
    ];
    const europe = await webhooks.subscriptions.create({ url: `${env.server.url}/eu`, eventTypes: ['payment.succeeded'], filter: { 'metadata.region': { $in: ['eu', 'uk'] } } });
    const untagged = await webhooks.subscriptions.create({ url: `${env.server.url}/untagged`, eventTypes: ['payment.succeeded'], filter: { metadata: { $exists: false } } });
    expect(await webhooks.deliveries.replay({ subscriptionId: europe.id, since: 0, dryRun: true })).toEqual({ count: 2 });
    expect(await webhooks.deliveries.replay({ subscriptionId: europe.id, since: 0 })).toEqual({ count: 2 });
    expect(await webhooks.deliveries.replay({ subscriptionId: untagged.id, since: 0 })).toEqual({ count: 1 });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });

    const idsAt = (path: string) => requestsAt(path).map((request) => request.headers['webhook-id']).sort();
    expect(idsAt('/eu')).toEqual([published[0]!.id, published[3]!.id].sort());
    expect(idsAt('/untagged')).toEqual([published[2]!.id]);
    const replayed = verifyWebhook({ body: requestsAt('/untagged')[0]!.body, headers: requestsAt('/untagged')[0]!.headers }, { secrets: untagged.secret });
    expect(Object.keys(replayed)).not.toContain('metadata');
  });

  it('returns the first event\'s metadata for a repeated idempotency key, and shows it in events.get', async () => {
    const webhooks = env.instance();
    await webhooks.subscriptions.create({ url: `${env.server.url}/all`, eventTypes: ['payment.succeeded'] });
    const first = await webhooks.publish('payment.succeeded', samplePayment(1), { idempotencyKey: 'order-1', metadata: { region: 'eu' } });
    const again = await webhooks.publish('payment.succeeded', samplePayment(2), { idempotencyKey: 'order-1', metadata: { region: 'us' } });
    expect(again).toMatchObject({ id: first.id, created: false, deliveryCount: 0, metadata: { region: 'eu' }, data: samplePayment(1) });
    expect(await webhooks.events.get(first.id)).toMatchObject({ metadata: { region: 'eu' }, data: samplePayment(1) });

    const bare = await webhooks.publish('payment.succeeded', samplePayment(3), { idempotencyKey: 'order-2' });
    expect(await webhooks.publish('payment.succeeded', samplePayment(3), { idempotencyKey: 'order-2', metadata: { region: 'eu' } })).toMatchObject({
      id: bare.id,
      created: false,
      metadata: null,
    });
    expect(await webhooks.events.get(bare.id)).toMatchObject({ metadata: null });
  });
});
