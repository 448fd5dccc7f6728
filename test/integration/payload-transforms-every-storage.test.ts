/**
 * Payload transforms through the public API on every storage, over real loopback HTTP: a
 * subscription that names a transform gets, as its envelope's `data`, what the transform made
 * at publish — stored with the delivery, the same bytes on a retry, shown by the log and served
 * by the feed — while the others get the event as published; the transform's failures refuse
 * the whole publish with a coded error, storing nothing; unknown names are refused at
 * `create`/`update`; replay renders what it creates; an expunge erases what was rendered.
 */
import { describe, expect, it, vi } from 'vitest';
import type { PayloadTransform, TransformEvent } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { samplePayment } from '../support/sample-payment.js';

/** The legacy ERP wants the payment id and the amount in major units under its own names. */
const legacy: PayloadTransform = (event) => {
  const data = event.data as { paymentId: string; amount: { amount: number; currency: string } };
  return { payment_ref: data.paymentId, total: data.amount.amount / 100, ccy: data.amount.currency };
};
/** Thin events: the id to fetch the rest with. */
const thin: PayloadTransform = (event) => ({ paymentId: (event.data as { paymentId: string }).paymentId });

describe.each(storageKinds)('payload transforms on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'payload-transform');

  /** The envelopes the receiver got at `path`, in arrival order. */
  const receivedAt = (path: string) => env.server.requests.filter((request) => request.url === `/webhooks${path}`);

  it('sends a transformed subscription what its transform made at publish, the same bytes on a retry, and the others the event as published', async () => {
    const clock = new FakeClock(Date.parse('2026-12-05T09:00:00Z'));
    const seen: Array<{ event: TransformEvent; subscriptionUrl: string; authorization: string | undefined }> = [];
    const webhooks = env.instance({
      clock,
      retry: { delaysMs: [1_000] },
      transforms: {
        legacy: (event, subscription) => {
          seen.push({ event, subscriptionUrl: subscription.url, authorization: subscription.headers.Authorization });
          // A transform may change what it was given: nobody else sees it.
          (event.data as { paymentId: string }).paymentId = 'changed by the transform';
          return legacy({ ...event, data: { ...(event.data as object), paymentId: 'pay_1' } }, subscription);
        },
        thin,
      },
    });
    const erp = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'], transform: 'legacy', headers: { Authorization: 'Bearer s3cret' } });
    const crm = await webhooks.subscriptions.create({ url: `${env.server.url}/crm`, eventTypes: ['payment.*'], transform: 'thin' });
    const full = await webhooks.subscriptions.create({ url: `${env.server.url}/full`, eventTypes: ['payment.*'] });
    expect([erp.transform, crm.transform, full.transform]).toEqual(['legacy', 'thin', null]);
    let erpCalls = 0;
    env.server.responder = (request) => (request.url === '/webhooks/erp' && ++erpCalls === 1 ? { status: 500 } : undefined);

    const published = await webhooks.publish('payment.succeeded', samplePayment(1, 123_45), { metadata: { region: 'eu' } });
    expect(published.deliveryCount).toBe(3);
    expect(published.data).toEqual(samplePayment(1, 123_45));
    // Run once, at publish, with the event and the subscription as the API shows it.
    expect(seen).toEqual([
      {
        event: { id: published.id, type: 'payment.succeeded', timestamp: published.timestamp, orderingKey: null, metadata: { region: 'eu' }, tenantId: null, data: { ...samplePayment(1, 123_45), paymentId: 'changed by the transform' } },
        subscriptionUrl: `${env.server.url}/erp`,
        authorization: '[redacted]',
      },
    ]);

    let failed = 0;
    let succeeded = 0;
    webhooks.bus.on('delivery:failed', () => void failed++);
    webhooks.bus.on('delivery:succeeded', () => void succeeded++);
    await webhooks.start();
    // The ERP's first attempt fails (500) and is retried 1 s later by the clock.
    await vi.waitFor(() => expect({ failed, succeeded }).toEqual({ failed: 1, succeeded: 2 }), { timeout: 10_000 });
    await clock.advance(1_000);
    await vi.waitFor(() => expect(succeeded).toBe(3), { timeout: 10_000 });
    const erpRequests = receivedAt('/erp');
    expect(erpRequests).toHaveLength(2);
    expect(erpRequests[1]!.body.equals(erpRequests[0]!.body)).toBe(true);
    const erpEvent = verifyWebhook({ body: erpRequests[1]!.body.toString(), headers: erpRequests[1]!.headers as Record<string, string> }, { secrets: erp.secret, now: new Date(clock.now()) });
    expect(erpEvent).toEqual({ id: published.id, type: 'payment.succeeded', timestamp: published.timestamp, metadata: { region: 'eu' }, data: { payment_ref: 'pay_1', total: 123.45, ccy: 'EUR' } });
    expect(JSON.parse(receivedAt('/crm')[0]!.body.toString())).toEqual({ id: published.id, type: 'payment.succeeded', timestamp: published.timestamp, metadata: { region: 'eu' }, data: { paymentId: 'pay_1' } });
    expect(JSON.parse(receivedAt('/full')[0]!.body.toString()).data).toEqual(samplePayment(1, 123_45));

    // The log shows what the endpoint got; the feed serves the same bytes.
    const [erpDelivery] = (await webhooks.deliveries.list({ subscriptionId: erp.id })).items;
    expect(await webhooks.deliveries.sentBody(erpDelivery!.id)).toBe(erpRequests[0]!.body.toString());
    const [fullDelivery] = (await webhooks.deliveries.list({ subscriptionId: full.id })).items;
    expect(await webhooks.deliveries.sentBody(fullDelivery!.id)).toBeNull();
    const [listed] = (await webhooks.events.list({ subscriptionId: crm.id })).items;
    expect(listed!.body).toBe(receivedAt('/crm')[0]!.body.toString());
    expect(listed!.data).toEqual(samplePayment(1, 123_45));

    // An expunge erases what the transform made too.
    await webhooks.events.expunge(published.id);
    expect(await webhooks.deliveries.sentBody(erpDelivery!.id)).toBeNull();
  });

  it('refuses the whole publish with TRANSFORM_FAILED (or PAYLOAD_TOO_LARGE) when a transform fails, storing nothing', async () => {
    const outputs: Record<string, () => unknown> = {
      throws: () => {
        throw new Error('legacy mapping has no entry for card');
      },
      promise: () => Promise.resolve({}),
      map: () => ({ lines: new Map() }),
      nothing: () => undefined,
      huge: () => ({ blob: 'x'.repeat(300_000) }),
      getter: () => ({
        get total(): number {
          throw new Error('no total for card');
        },
      }),
      // Deeper than the stack: the check of its JSON form overflows it.
      deep: () => {
        let nested: unknown = 1;
        for (let depth = 0; depth < 100_000; depth++) nested = { nested };
        return nested;
      },
    };
    let output = outputs.throws!;
    const webhooks = env.instance({ transforms: { legacy: () => output() } });
    await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'], transform: 'legacy' });
    await webhooks.subscriptions.create({ url: `${env.server.url}/full`, eventTypes: ['payment.*'] });
    const cases: Array<[string, string, string | RegExp]> = [
      ['throws', 'TRANSFORM_FAILED', 'an error (legacy mapping has no entry for card)'],
      ['promise', 'TRANSFORM_FAILED', 'a promise'],
      ['map', 'TRANSFORM_FAILED', 'a Map at `data.lines`'],
      ['nothing', 'TRANSFORM_FAILED', 'undefined'],
      ['huge', 'PAYLOAD_TOO_LARGE', 'at most 262144 bytes'],
      ['getter', 'TRANSFORM_FAILED', 'data whose JSON form could not be read (no total for card)'],
      ['deep', 'TRANSFORM_FAILED', 'data whose JSON form could not be read'],
    ];
    for (const [name, code, message] of cases) {
      output = outputs[name]!;
      const refused = await webhooks.publish('payment.succeeded', samplePayment(1)).catch((error: unknown) => error);
      expect(refused, name).toMatchObject({ code, field: 'transform' });
      expect((refused as Error).message, name).toContain(message);
    }
    expect((await webhooks.events.list({})).items).toEqual([]);
    expect((await webhooks.deliveries.list()).items).toEqual([]);
  });

  it('refuses an unknown transform at create and update, and a publish that meets a name this instance lacks', async () => {
    const webhooks = env.instance({ transforms: { thin } });
    await expect(webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'], transform: 'legacy' })).rejects.toMatchObject({
      name: 'ValidationError',
      code: 'TRANSFORM_UNKNOWN',
      field: 'transform',
      message: expect.stringContaining('registered: thin'),
    });
    expect((await webhooks.subscriptions.list()).items).toEqual([]);
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'], transform: 'thin' });
    await expect(webhooks.subscriptions.update(sub.id, { transform: 'legacy' })).rejects.toMatchObject({ code: 'TRANSFORM_UNKNOWN' });
    expect((await webhooks.subscriptions.history(sub.id)).items.map((change) => change.action)).toEqual(['created']);

    // Another instance on the same storage without the transform: it refuses to publish rather than send the event untransformed.
    const other = env.instance();
    await expect(other.publish('payment.succeeded', samplePayment(1))).rejects.toMatchObject({ name: 'ConfigError', code: 'TRANSFORM_MISSING', field: 'transform' });
    expect((await other.events.list({})).items).toEqual([]);
    // Cleared, the subscription gets the event as published.
    await webhooks.subscriptions.update(sub.id, { transform: null });
    expect((await other.publish('payment.succeeded', samplePayment(1))).deliveryCount).toBe(1);
  });

  it('sends a typed test request through the transform, as a real delivery would be', async () => {
    let fail = false;
    const webhooks = env.instance({
      transforms: {
        thin: (event, subscription) => {
          if (fail) throw new Error('no mapping');
          return thin(event, subscription);
        },
      },
    });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/crm`, eventTypes: ['payment.*'], transform: 'thin' });
    expect(await webhooks.subscriptions.sendTest(sub.id, { type: 'payment.succeeded' })).toMatchObject({ ok: true });
    const [request] = receivedAt('/crm');
    expect(JSON.parse(request!.body.toString())).toMatchObject({ type: 'payment.succeeded', data: { paymentId: (webhooks.events.examples['payment.succeeded'] as { paymentId: string }).paymentId } });
    // The plain test event is the library's own: no transform.
    await webhooks.subscriptions.sendTest(sub.id);
    expect(JSON.parse(receivedAt('/crm')[1]!.body.toString())).toMatchObject({ type: 'webhook.test', data: { subscriptionId: sub.id } });
    fail = true;
    await expect(webhooks.subscriptions.sendTest(sub.id, { type: 'payment.succeeded' })).rejects.toMatchObject({ code: 'TRANSFORM_FAILED' });
    expect(receivedAt('/crm')).toHaveLength(2);
  });

  it('filters on the event as published and transforms what the filter accepts; replay renders what it creates', async () => {
    const clock = new FakeClock(Date.parse('2026-12-05T09:00:00Z'));
    const calls: string[] = [];
    const webhooks = env.instance({
      clock,
      transforms: {
        thin: (event, subscription) => {
          calls.push((event.data as { paymentId: string }).paymentId);
          return thin(event, subscription);
        },
      },
    });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/crm`, eventTypes: ['payment.*'], transform: 'thin', filter: { 'data.amount.amount': { $gte: 100_000 } } });
    await webhooks.subscriptions.disable(sub.id);
    await clock.advance(1_000);
    await webhooks.publish('payment.succeeded', samplePayment(1, 150_000));
    await webhooks.publish('payment.succeeded', samplePayment(2, 10));
    expect(calls).toEqual([]);
    await webhooks.subscriptions.enable(sub.id, { replayMissed: true });
    expect(calls).toEqual(['pay_1']);
    await webhooks.publish('payment.succeeded', samplePayment(3, 200_000));
    await webhooks.publish('payment.succeeded', samplePayment(4, 20));
    expect(calls).toEqual(['pay_1', 'pay_3']);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const sent = receivedAt('/crm').map((request) => (JSON.parse(request.body.toString()) as { data: { paymentId: string } }).data.paymentId);
    expect(sent.sort()).toEqual(['pay_1', 'pay_3']);
  });
});
