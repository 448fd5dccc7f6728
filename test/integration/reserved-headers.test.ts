/**
 * Headers the library sets are sent once. The registry refuses a custom `User-Agent` (or any
 * reserved name) at create/update; a subscription stored before that check, with such a header
 * already in storage, must still not send it beside the library's own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStorage, createWebhooks } from '../../src/index.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';

const receivers: LoopbackReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

describe('reserved request headers stored on a subscription', () => {
  it('sends the library its own User-Agent, Content-Type and webhook-* once, and the other custom headers as stored', async () => {
    const receiver = await LoopbackReceiver.start();
    receivers.push(receiver);
    const storage = createMemoryStorage();
    const webhooks = createWebhooks({ storage, security: { allowPrivateNetworks: true }, http: { userAgent: 'Bookkeeper-Webhooks/test' } });
    const created = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['*'], headers: { 'X-Tenant': 'org_1' } });
    // As a subscription stored by a version that did not refuse reserved names would hold them.
    await storage.updateSubscription(
      created.id,
      { headers: { 'X-Tenant': 'org_1', 'User-Agent': 'custom/1.0', 'Content-Type': 'text/plain', 'Webhook-Id': 'forged' } },
      Date.now(),
    );
    await webhooks.start();
    const event = await webhooks.publish('payment.succeeded', {
      paymentId: 'pay_1',
      customerId: 'cus_1',
      amount: { amount: 100, currency: 'EUR' },
      method: 'card',
      occurredAt: new Date().toISOString(),
    });
    await receiver.waitFor(1);
    await webhooks.close();

    const [request] = receiver.requests;
    // rawHeaders keeps duplicates, which node:http's `headers` would drop (user-agent, content-type).
    const sent: Array<[string, string]> = [];
    for (let index = 0; index < request!.rawHeaders.length; index += 2) sent.push([request!.rawHeaders[index]!.toLowerCase(), request!.rawHeaders[index + 1]!]);
    const valuesOf = (name: string) => sent.filter(([header]) => header === name).map(([, value]) => value);
    expect(valuesOf('user-agent')).toEqual(['Bookkeeper-Webhooks/test']);
    expect(valuesOf('content-type')).toEqual(['application/json']);
    expect(valuesOf('webhook-id')).toEqual([event.id]);
    expect(valuesOf('x-tenant')).toEqual(['org_1']);
  });
});
