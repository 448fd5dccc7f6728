/**
 * Event versions through the public API on every storage, over real loopback HTTP: a
 * subscription is pinned at creation to the newest version of each versioned type it
 * receives, and keeps receiving that version — downgraded at publish, the envelope's signed
 * `version` saying which — after the host deploys a newer one; `update({ versions })` moves
 * the pin (logged) and later publishes follow; a downgrade that fails refuses the whole
 * publish with `EVENT_DOWNGRADE_FAILED`, storing nothing; replay and `enable({ replayMissed })`
 * render the pinned version; a typed test request is sent in it too.
 */
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineEvents, type Webhooks, type WebhooksOptions } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';

const paymentV1 = z.object({ paymentId: z.string(), amountMinor: z.int() });
const paymentV2 = z.object({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int() });
const refund = z.object({ refundId: z.string() });

/** Last year's catalog: payment.succeeded in its first version only. */
const lastYear = defineEvents({
  'payment.succeeded': { versions: { 1: { schema: paymentV1, example: { paymentId: 'pay_ex', amountMinor: 1000 } } } },
  'refund.created': refund,
});

/** This year's: the amount split into net and fee (version 2), last year's shape downgraded from it. */
function thisYear(downgrade: (data: z.output<typeof paymentV2>) => unknown = (data) => ({ paymentId: data.paymentId, amountMinor: data.netMinor + data.feeMinor })) {
  return defineEvents({
    'payment.succeeded': {
      versions: {
        1: { schema: paymentV1, example: { paymentId: 'pay_ex', amountMinor: 1000 } },
        2: { schema: paymentV2, example: { paymentId: 'pay_ex', netMinor: 970, feeMinor: 30 }, downgrade: downgrade as (data: z.output<typeof paymentV2>) => z.input<typeof paymentV1> },
      },
    },
    'refund.created': refund,
  });
}

describe.each(storageKinds)('event versions on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'event-versions');

  /** An instance of the test's storage over `catalog`. */
  function instanceOf<TCatalog extends typeof lastYear | ReturnType<typeof thisYear>>(catalog: TCatalog, options: Omit<WebhooksOptions, 'storage' | 'events'> = {}): Webhooks<TCatalog> {
    return env.instance({ ...(options as object), events: catalog as never }) as unknown as Webhooks<TCatalog>;
  }

  /** The events the receiver got at `path`, verified with `secret`, in arrival order. */
  const receivedAt = (path: string, secret: string, clock?: FakeClock) =>
    env.server.requests
      .filter((request) => request.url === `/webhooks${path}`)
      .map((request) => verifyWebhook({ body: request.body.toString(), headers: request.headers as Record<string, string> }, { secrets: secret, ...(clock === undefined ? {} : { now: new Date(clock.now()) }) }));

  it('keeps a consumer pinned to version 1 on version 1 after version 2 is published, while a new one gets version 2', async () => {
    const before = instanceOf(lastYear);
    const erp = await before.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['*'] });
    expect(erp.versions).toEqual({ 'payment.succeeded': 1 });
    const old = await before.publish('payment.succeeded', { paymentId: 'pay_0', amountMinor: 500 });
    await before.stop();

    // The host deploys version 2: the same storage, the new catalog.
    const after = instanceOf(thisYear());
    const crm = await after.subscriptions.create({ url: `${env.server.url}/crm`, eventTypes: ['payment.*'] });
    expect(crm.versions).toEqual({ 'payment.succeeded': 2 });
    const published = await after.publish('payment.succeeded', { paymentId: 'pay_1', netMinor: 970, feeMinor: 30 });
    expect(published.deliveryCount).toBe(2);
    const refunded = await after.publish('refund.created', { refundId: 'ref_1' });
    await after.start();
    await vi.waitFor(() => expect(env.server.requests).toHaveLength(4), { timeout: 10_000 });

    const byId = Object.fromEntries(receivedAt('/erp', erp.secret).map((event) => [event.id, event]));
    expect(byId[old.id]).toMatchObject({ type: 'payment.succeeded', version: 1, data: { paymentId: 'pay_0', amountMinor: 500 } });
    // Published in version 2, received in version 1: the downgrade's output, the envelope saying so.
    expect(byId[published.id]).toEqual({ id: published.id, type: 'payment.succeeded', version: 1, timestamp: published.timestamp, data: { paymentId: 'pay_1', amountMinor: 1000 } });
    // A type without versions carries none.
    expect(byId[refunded.id]).toEqual({ id: refunded.id, type: 'refund.created', timestamp: refunded.timestamp, data: { refundId: 'ref_1' } });
    expect(receivedAt('/crm', crm.secret)).toEqual([{ id: published.id, type: 'payment.succeeded', version: 2, timestamp: published.timestamp, data: { paymentId: 'pay_1', netMinor: 970, feeMinor: 30 } }]);

    // The log shows what each got: the v1 copy is the ERP delivery's own; the CRM's is the event's.
    const [erpDelivery] = (await after.deliveries.list({ subscriptionId: erp.id, eventType: 'payment.succeeded' })).items.filter((d) => d.eventId === published.id);
    expect(JSON.parse((await after.deliveries.sentBody(erpDelivery!.id))!)).toMatchObject({ version: 1 });
    const [crmDelivery] = (await after.deliveries.list({ subscriptionId: crm.id })).items;
    expect(await after.deliveries.sentBody(crmDelivery!.id)).toBeNull();
  });

  it('moves the pin with update({ versions }), logged, and later publishes follow it; unknown types and versions are refused with a code', async () => {
    const webhooks = instanceOf(thisYear());
    const erp = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'], versions: { 'payment.succeeded': 1 } });
    expect(erp.versions).toEqual({ 'payment.succeeded': 1 });
    const first = await webhooks.publish('payment.succeeded', { paymentId: 'pay_1', netMinor: 970, feeMinor: 30 });
    const moved = await webhooks.subscriptions.update(erp.id, { versions: { 'payment.succeeded': 2 } }, { actor: 'ops', reason: 'ERP upgraded' });
    expect(moved.versions).toEqual({ 'payment.succeeded': 2 });
    const second = await webhooks.publish('payment.succeeded', { paymentId: 'pay_2', netMinor: 1940, feeMinor: 60 });
    await webhooks.start();
    await vi.waitFor(() => expect(env.server.requests).toHaveLength(2), { timeout: 10_000 });
    const received = Object.fromEntries(receivedAt('/erp', erp.secret).map((event) => [event.id, event]));
    expect(received[first.id]).toMatchObject({ version: 1, data: { paymentId: 'pay_1', amountMinor: 1000 } });
    expect(received[second.id]).toMatchObject({ version: 2, data: { paymentId: 'pay_2', netMinor: 1940, feeMinor: 60 } });
    const [, change] = (await webhooks.subscriptions.history(erp.id)).items;
    expect(change).toMatchObject({ action: 'updated', actor: 'ops', changes: { versions: { before: { 'payment.succeeded': 1 }, after: { 'payment.succeeded': 2 } } } });

    const refusals: Array<[unknown, string, string]> = [
      [{ 'payment.succeeded': 3 }, 'EVENT_VERSION_UNKNOWN', 'versions.payment.succeeded'],
      [{ 'payment.succeeded': '1' }, 'EVENT_VERSION_UNKNOWN', 'versions.payment.succeeded'],
      [{ 'refund.created': 1 }, 'EVENT_VERSION_UNKNOWN', 'versions.refund.created'],
      [{ 'invoice.paid': 1 }, 'EVENT_VERSION_UNKNOWN', 'versions.invoice.paid'],
      [[1], 'INPUT_INVALID', 'versions'],
    ];
    for (const [versions, code, field] of refusals) {
      await expect(webhooks.subscriptions.update(erp.id, { versions: versions as never }), JSON.stringify(versions)).rejects.toMatchObject({ name: 'ValidationError', code, field });
      await expect(webhooks.subscriptions.create({ url: `${env.server.url}/x`, eventTypes: ['*'], versions: versions as never })).rejects.toMatchObject({ code, field });
    }
    expect((await webhooks.subscriptions.get(erp.id))!.versions).toEqual({ 'payment.succeeded': 2 });
    expect((await webhooks.subscriptions.list()).items).toHaveLength(1);

    // Cleared, the subscription gets every type in its newest version: the event's own payload.
    expect((await webhooks.subscriptions.update(erp.id, { versions: null })).versions).toBeNull();
    // New event types pin the versioned types they add, as create does.
    const refunds = await webhooks.subscriptions.create({ url: `${env.server.url}/refunds`, eventTypes: ['refund.*'] });
    expect(refunds.versions).toBeNull();
    expect((await webhooks.subscriptions.update(refunds.id, { eventTypes: ['refund.*', 'payment.succeeded'] })).versions).toEqual({ 'payment.succeeded': 2 });
  });

  it('refuses the whole publish with EVENT_DOWNGRADE_FAILED when a downgrade throws, returns what version 1 refuses or what cannot be read, storing nothing', async () => {
    let output: (data: z.output<typeof paymentV2>) => unknown = () => {
      throw new Error('fee without a net amount');
    };
    const webhooks = instanceOf(thisYear((data) => output(data)));
    const erp = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'], versions: { 'payment.succeeded': 1 } });
    await webhooks.subscriptions.create({ url: `${env.server.url}/crm`, eventTypes: ['payment.*'] });
    const cases: Array<[(data: z.output<typeof paymentV2>) => unknown, string]> = [
      [output, 'an error (fee without a net amount)'],
      [(data) => ({ paymentId: data.paymentId, amountMinor: 'ten' }), 'data its schema refuses'],
      [() => Promise.resolve({}), 'a promise'],
      [
        () => ({
          get paymentId(): string {
            throw new Error('a lazy field that failed');
          },
          amountMinor: 1000,
        }),
        'data whose JSON form could not be read (a lazy field that failed)',
      ],
    ];
    for (const [downgrade, message] of cases) {
      output = downgrade;
      const refused = await webhooks.publish('payment.succeeded', { paymentId: 'pay_1', netMinor: 970, feeMinor: 30 }).catch((error: unknown) => error);
      expect(refused, message).toMatchObject({ name: 'ValidationError', code: 'EVENT_DOWNGRADE_FAILED', field: 'versions.payment.succeeded' });
      expect((refused as Error).message).toContain(message);
      expect((refused as Error).message).toContain(erp.id);
      expect((refused as Error).message).toContain('from version 2 to version 1');
    }
    expect((await webhooks.events.list({})).items).toEqual([]);
    expect((await webhooks.deliveries.list()).items).toEqual([]);
  });

  it('renders the pinned version for what enable({ replayMissed }) and replay create, and for a typed test request', async () => {
    const clock = new FakeClock(Date.parse('2026-12-05T09:00:00Z'));
    const webhooks = instanceOf(thisYear(), { clock });
    const erp = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'], versions: { 'payment.succeeded': 1 } });
    await webhooks.subscriptions.disable(erp.id);
    await clock.advance(1_000);
    const missed = await webhooks.publish('payment.succeeded', { paymentId: 'pay_1', netMinor: 970, feeMinor: 30 });
    expect(missed.deliveryCount).toBe(0);
    expect((await webhooks.subscriptions.enable(erp.id, { replayMissed: true })).replayed).toBe(1);
    // A replay of a window with a delivered event creates nothing new for it; a later subscription gets it rendered too.
    const late = await webhooks.subscriptions.create({ url: `${env.server.url}/late`, eventTypes: ['payment.*'], versions: { 'payment.succeeded': 1 } });
    expect((await webhooks.deliveries.replay({ subscriptionId: late.id, since: new Date(missed.timestamp) })).count).toBe(1);
    await webhooks.start();
    await vi.waitFor(() => expect(env.server.requests).toHaveLength(2), { timeout: 10_000 });
    for (const [path, secret] of [['/erp', erp.secret], ['/late', late.secret]] as const) {
      expect(receivedAt(path, secret, clock)).toEqual([{ id: missed.id, type: 'payment.succeeded', version: 1, timestamp: missed.timestamp, data: { paymentId: 'pay_1', amountMinor: 1000 } }]);
    }

    // The feed serves the same version.
    const [listed] = (await webhooks.events.list({ subscriptionId: erp.id })).items;
    expect(JSON.parse(listed!.body!)).toMatchObject({ version: 1, data: { amountMinor: 1000 } });

    // A typed test request: the newest example, downgraded to the pin, as a delivery would be.
    expect(await webhooks.subscriptions.sendTest(erp.id, { type: 'payment.succeeded' })).toMatchObject({ ok: true });
    const test = receivedAt('/erp', erp.secret, clock).at(-1)!;
    expect(test).toMatchObject({ type: 'payment.succeeded', version: 1, data: { paymentId: 'pay_ex', amountMinor: 1000 } });
  });
});
