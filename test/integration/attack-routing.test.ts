/**
 * An attack round on routing — payload filters, payload transforms, event versions and their
 * export — by a careless or hostile host, on every storage over real loopback HTTP: a
 * transform that changes the event's metadata must change neither its own envelope nor the
 * filters and envelopes of the publish's other subscriptions; an event stored by a newer
 * catalog refuses a replay that would downgrade it with `EVENT_VERSION_UNKNOWN`, not a
 * "downgrade is not a function"; data a downgrade cannot be given a copy of, or whose
 * downgraded form cannot be written, refuses the publish with `EVENT_DOWNGRADE_FAILED`, not a
 * bare `DataCloneError`; a `Date` or `toJSON` value of the data is filtered at publish as the
 * body holds it, as a replay filters it; a filter of U+0000 and lone surrogates is kept and
 * matched alike everywhere; a `$in` list whose length changes between reads is stored as it
 * was checked, not past the limit; the exported envelope of a transform takes the `version` a
 * pinned, transformed subscription is sent.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEvents, exportCatalog, type Webhooks, type WebhooksOptions } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { samplePayment } from '../support/sample-payment.js';

// ajv-formats is CommonJS with a default export: under ESM interop the function may sit one level down.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: object) => void;

const paymentV1 = z.object({ paymentId: z.string(), amountMinor: z.int() });
const paymentV2 = z.object({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int() });
const paymentV3 = z.object({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int(), currency: z.string() });
const toV1 = (data: z.output<typeof paymentV2>) => ({ paymentId: data.paymentId, amountMinor: data.netMinor + data.feeMinor });

/** Last release's catalog: payment.succeeded in versions 1 and 2. */
const released = defineEvents({
  'payment.succeeded': { versions: { 1: { schema: paymentV1 }, 2: { schema: paymentV2, downgrade: toV1 } } },
});

/** The next release's: version 3 adds the currency. Deployed, then rolled back to `released`. */
const next = defineEvents({
  'payment.succeeded': {
    versions: {
      1: { schema: paymentV1 },
      2: { schema: paymentV2, downgrade: toV1 },
      3: { schema: paymentV3, example: { paymentId: 'pay_ex', netMinor: 970, feeMinor: 30, currency: 'EUR' }, downgrade: ({ currency: _currency, ...data }: z.output<typeof paymentV3>) => data },
    },
  },
});

/** A booking whose schema takes a `Date` (sent as its ISO string) and an amount that writes itself with `toJSON`. */
class Amount {
  constructor(
    readonly minor: number,
    readonly code: string,
  ) {}
  toJSON() {
    return { amount: this.minor, currency: this.code };
  }
}
const bookings = defineEvents({ 'booking.posted': z.object({ bookingId: z.string(), bookedAt: z.date(), total: z.custom<Amount>((value) => value instanceof Amount) }) });

/** A ledger reference that writes itself as its code, and may carry a function of its own (which no clone can copy). */
class Ledger {
  constructor(
    readonly code: string,
    readonly format?: () => string,
  ) {}
  toJSON() {
    return this.code;
  }
}
/** A note whose `toJSON` answers once, then throws: what the downgrade returns is checked, then written. */
function flakyNote(): object {
  let calls = 0;
  return {
    toJSON() {
      if (++calls > 1) throw new Error('the note can be written once');
      return 'a note';
    },
  };
}
/** Version 2 holds a Ledger (sent as its code); version 1 may hold a note, a flaky one when `flaky` is on. */
function ledgers(flaky: boolean) {
  return defineEvents({
    'payment.succeeded': {
      versions: {
        1: { schema: z.object({ paymentId: z.string(), amountMinor: z.int(), note: z.custom<object>().optional() }) },
        2: {
          schema: z.object({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int(), ledger: z.custom<Ledger>((value) => value instanceof Ledger) }),
          downgrade: (data: { paymentId: string; netMinor: number; feeMinor: number }) => ({
            paymentId: data.paymentId,
            amountMinor: data.netMinor + data.feeMinor,
            ...(flaky ? { note: flakyNote() } : {}),
          }),
        },
      },
    },
  });
}

describe.each(storageKinds)('routing attacked on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'attack-routing');

  /** An instance of the test's storage over `catalog`. */
  function instanceOf<TCatalog extends typeof released | typeof next>(catalog: TCatalog, options: Omit<WebhooksOptions, 'storage' | 'events'> = {}): Webhooks<TCatalog> {
    return env.instance({ ...(options as object), events: catalog as never }) as unknown as Webhooks<TCatalog>;
  }

  it("keeps the event's metadata in every envelope and filter when a transform changes the metadata it was given", async () => {
    const clock = new FakeClock(Date.parse('2026-12-05T09:00:00Z'));
    const webhooks = env.instance({
      clock,
      transforms: {
        // Careless: "fixes" the region it was given in place, for its own endpoint.
        relabel: (event) => {
          (event.metadata as Record<string, string>).region = 'us';
          return { paymentId: (event.data as { paymentId: string }).paymentId };
        },
        identity: (event) => event.data,
      },
    });
    const relabelled = await webhooks.subscriptions.create({ url: `${env.server.url}/relabel`, eventTypes: ['payment.*'], transform: 'relabel' });
    const identity = await webhooks.subscriptions.create({ url: `${env.server.url}/identity`, eventTypes: ['payment.*'], transform: 'identity' });
    const europe = await webhooks.subscriptions.create({ url: `${env.server.url}/europe`, eventTypes: ['payment.*'], filter: { 'metadata.region': 'eu' } });

    const published = await webhooks.publish('payment.succeeded', samplePayment(1), { metadata: { region: 'eu' } });
    // The filter of the third subscription reads the event's metadata, whichever order the storage asks in.
    expect(published.deliveryCount).toBe(3);
    expect(published.metadata).toEqual({ region: 'eu' });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const secrets: Record<string, string> = { '/webhooks/relabel': relabelled.secret, '/webhooks/identity': identity.secret, '/webhooks/europe': europe.secret };
    const received = new Map(
      env.server.requests.map((request) => [
        request.url,
        verifyWebhook({ body: request.body.toString(), headers: request.headers as Record<string, string> }, { secrets: secrets[request.url]!, now: new Date(clock.now()) }),
      ]),
    );
    expect(received.get('/webhooks/relabel')).toMatchObject({ metadata: { region: 'eu' }, data: { paymentId: 'pay_1' } });
    expect(received.get('/webhooks/identity')).toMatchObject({ metadata: { region: 'eu' }, data: samplePayment(1) });
    expect(received.get('/webhooks/europe')).toMatchObject({ metadata: { region: 'eu' }, data: samplePayment(1) });
  });

  it('refuses to downgrade an event stored by a newer catalog with EVENT_VERSION_UNKNOWN, creating nothing, and sends it as stored to an unpinned subscription', async () => {
    const clock = new FakeClock(Date.parse('2026-12-05T09:00:00Z'));
    const deployed = instanceOf(next, { clock });
    const erp = await deployed.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'], versions: { 'payment.succeeded': 1 } });
    const crm = await deployed.subscriptions.create({ url: `${env.server.url}/crm`, eventTypes: ['payment.succeeded'], versions: null });
    await deployed.subscriptions.disable(erp.id);
    await deployed.subscriptions.disable(crm.id);
    await clock.advance(1_000);
    const published = await deployed.publish('payment.succeeded', { paymentId: 'pay_3', netMinor: 970, feeMinor: 30, currency: 'EUR' });
    expect(published.deliveryCount).toBe(0);
    await deployed.stop();

    // Rolled back: this catalog has no version 3, so nothing can downgrade what version 3 stored.
    const rolledBack = instanceOf(released, { clock });
    const refusal = await rolledBack.subscriptions.enable(erp.id, { replayMissed: true }).catch((error: unknown) => error);
    expect(refusal).toMatchObject({ code: 'EVENT_VERSION_UNKNOWN', field: 'versions.payment.succeeded' });
    expect((refusal as Error).message).toContain('is in version 3, which the catalog does not have (1, 2)');
    expect((refusal as Error).message).toContain(erp.id);
    await expect(rolledBack.deliveries.replay({ subscriptionId: erp.id, since: 0 })).rejects.toMatchObject({ code: 'EVENT_VERSION_UNKNOWN' });
    expect((await rolledBack.subscriptions.get(erp.id))?.status).toBe('disabled');
    expect((await rolledBack.deliveries.list({ subscriptionId: erp.id })).items).toEqual([]);

    // Unpinned, it gets the event as it was stored: nothing to downgrade, nothing upgraded.
    expect((await rolledBack.subscriptions.enable(crm.id, { replayMissed: true })).replayed).toBe(1);
    await rolledBack.start();
    await rolledBack.drain({ timeoutMs: 10_000 });
    const [request] = env.server.requests;
    expect(request!.url).toBe('/webhooks/crm');
    expect(verifyWebhook({ body: request!.body.toString(), headers: request!.headers as Record<string, string> }, { secrets: crm.secret, now: new Date(clock.now()) })).toMatchObject({
      id: published.id,
      version: 3,
      data: { paymentId: 'pay_3', currency: 'EUR' },
    });
  });

  it('refuses with EVENT_DOWNGRADE_FAILED, not a bare error, when the data to downgrade cannot be copied or what it makes cannot be written, storing nothing', async () => {
    for (const flaky of [false, true]) {
      const catalog = ledgers(flaky);
      const webhooks = env.instance({ events: catalog as never }) as unknown as Webhooks<typeof catalog>;
      const erp = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'], versions: { 'payment.succeeded': 1 } });
      // Unflaky, the data holds what cannot be copied; flaky, what the downgrade makes cannot be written twice.
      const data = { paymentId: 'pay_1', netMinor: 970, feeMinor: 30, ledger: flaky ? new Ledger('EU-1') : new Ledger('EU-1', () => 'ledger EU-1') };
      const stored = (await webhooks.events.list()).items.length;
      const refusal = await webhooks.publish('payment.succeeded', data).catch((error: unknown) => error);
      expect(refusal).toMatchObject({ code: 'EVENT_DOWNGRADE_FAILED', field: 'versions.payment.succeeded' });
      expect((refusal as Error).message).toContain(erp.id);
      expect((refusal as Error).message).toContain(flaky ? 'the note can be written once' : 'could not be cloned');
      expect((await webhooks.events.list()).items).toHaveLength(stored);
      // Unpinned, the same event goes out, the ledger as its code.
      await webhooks.subscriptions.update(erp.id, { versions: { 'payment.succeeded': 2 } });
      const published = await webhooks.publish('payment.succeeded', data);
      expect(published.deliveryCount).toBe(1);
      expect((await webhooks.events.get(published.id))?.data).toEqual({ paymentId: 'pay_1', netMinor: 970, feeMinor: 30, ledger: 'EU-1' });
      await webhooks.subscriptions.delete(erp.id, { hard: true });
    }
  });

  it('filters a Date and a toJSON value of the data by their JSON form, as sent, at publish as at replay', async () => {
    const clock = new FakeClock(Date.parse('2026-12-05T09:00:00Z'));
    const webhooks = env.instance({ clock, events: bookings as never }) as unknown as Webhooks<typeof bookings>;
    const filter = { 'data.bookedAt': { $gte: '2026-06-01T00:00:00+02:00' }, 'data.total.currency': 'EUR', 'data.total.amount': { $gt: 100 } } as const;
    await webhooks.subscriptions.create({ url: `${env.server.url}/live`, eventTypes: ['*'], filter });
    await webhooks.subscriptions.create({ url: `${env.server.url}/exact`, eventTypes: ['*'], filter: { 'data.bookedAt': '2026-06-01T00:00:00.000Z' } });
    const late = await webhooks.subscriptions.create({ url: `${env.server.url}/late`, eventTypes: ['*'], filter });
    await webhooks.subscriptions.disable(late.id);
    await clock.advance(1_000);

    const matching = await webhooks.publish('booking.posted', { bookingId: 'bk_1', bookedAt: new Date('2026-06-01T00:00:00Z'), total: new Amount(250, 'EUR') });
    expect(matching.deliveryCount).toBe(2);
    expect((await webhooks.publish('booking.posted', { bookingId: 'bk_2', bookedAt: new Date('2025-06-01T00:00:00Z'), total: new Amount(250, 'EUR') })).deliveryCount).toBe(0);
    expect((await webhooks.publish('booking.posted', { bookingId: 'bk_3', bookedAt: new Date('2026-07-01T00:00:00Z'), total: new Amount(250, 'USD') })).deliveryCount).toBe(0);
    // Replay reads the stored body, where the Date is its ISO string: the same one event matches.
    expect((await webhooks.subscriptions.enable(late.id, { replayMissed: true })).replayed).toBe(1);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const sent = env.server.requests.map((request) => [request.url, JSON.parse(request.body.toString()) as { id: string; data: unknown }] as const);
    expect(sent.map(([url, body]) => [url, body.id]).sort()).toEqual([
      ['/webhooks/exact', matching.id],
      ['/webhooks/late', matching.id],
      ['/webhooks/live', matching.id],
    ]);
    expect(sent[0]![1].data).toEqual({ bookingId: 'bk_1', bookedAt: '2026-06-01T00:00:00.000Z', total: { amount: 250, currency: 'EUR' } });
  });

  it('keeps a filter of U+0000 and lone surrogates as given, logs it, and matches it the same at publish and at replay', async () => {
    const clock = new FakeClock(Date.parse('2026-12-05T09:00:00Z'));
    const webhooks = env.instance({ clock });
    const filter = { 'data.customerId': { $in: ['cus\u0000a', 'cus\ud800'] }, 'data.\udc00': { $exists: false } };
    const live = await webhooks.subscriptions.create({ url: `${env.server.url}/live`, eventTypes: ['payment.*'], filter: { type: 'payment.failed' } });
    const updated = await webhooks.subscriptions.update(live.id, { filter });
    expect(updated.filter).toEqual(filter);
    expect((await webhooks.subscriptions.get(live.id))?.filter).toEqual(filter);
    expect((await webhooks.subscriptions.history(live.id)).items.at(-1)).toMatchObject({ changes: { filter: { before: { type: 'payment.failed' }, after: filter } } });
    const late = await webhooks.subscriptions.create({ url: `${env.server.url}/late`, eventTypes: ['payment.*'], filter });
    await webhooks.subscriptions.disable(late.id);
    await clock.advance(1_000);
    const counts = [];
    for (const customerId of ['cus\u0000a', 'cus\ud800', 'cus\ufffd', 'cus']) counts.push((await webhooks.publish('payment.succeeded', { ...samplePayment(1), customerId })).deliveryCount);
    expect(counts).toEqual([1, 1, 0, 0]);
    expect((await webhooks.subscriptions.enable(late.id, { replayMissed: true })).replayed).toBe(2);
  });

  it('stores a $in list as it was checked when its length changes between reads, and publishes through it', async () => {
    const webhooks = env.instance();
    let reads = 0;
    // Hostile: one element when the limit is checked, 300 afterwards.
    const shifty = new Proxy([123_0], {
      get(target, key, receiver) {
        if (key === 'length') return ++reads === 1 ? 1 : 300;
        if (typeof key === 'string' && /^\d+$/.test(key)) return 123_0;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const subscription = await webhooks.subscriptions.create({ url: `${env.server.url}/amounts`, eventTypes: ['payment.*'], filter: { 'data.amount.amount': { $in: shifty } } });
    expect(subscription.filter).toEqual({ 'data.amount.amount': { $in: [123_0] } });
    expect((await webhooks.subscriptions.get(subscription.id))?.filter).toEqual({ 'data.amount.amount': { $in: [123_0] } });
    expect((await webhooks.publish('payment.succeeded', samplePayment(1, 123_0))).deliveryCount).toBe(1);
    expect((await webhooks.publish('payment.succeeded', samplePayment(2, 99))).deliveryCount).toBe(0);
  });
});

describe('the exported envelope of a transform, on a catalog with versions', () => {
  const env = useInstancesOnStorage('memory', 'attack-routing-export');

  it('takes the signed `version` a pinned, transformed subscription is sent, and its example shows it', async () => {
    const thin = z.object({ paymentId: z.string() });
    const schemas = exportCatalog(next, { format: 'json-schema', transforms: { thin: { schema: thin, example: { paymentId: 'pay_ex' } } } });
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const validateThin = ajv.compile(schemas['transform:thin']!);

    const clock = new FakeClock(Date.parse('2026-12-05T09:00:00Z'));
    const webhooks = env.instance({ clock, events: next as never, transforms: { thin: (event) => ({ paymentId: (event.data as { paymentId: string }).paymentId }) } }) as unknown as Webhooks<typeof next>;
    const erp = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'], transform: 'thin', versions: { 'payment.succeeded': 1 } });
    await webhooks.publish('payment.succeeded', { paymentId: 'pay_1', netMinor: 970, feeMinor: 30, currency: 'EUR' });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const [request] = env.server.requests;
    const body = JSON.parse(request!.body.toString()) as Record<string, unknown>;
    expect(verifyWebhook({ body: request!.body.toString(), headers: request!.headers as Record<string, string> }, { secrets: erp.secret, now: new Date(clock.now()) })).toMatchObject({ version: 1, data: { paymentId: 'pay_1' } });
    expect(body).toMatchObject({ version: 1 });
    expect(validateThin(body), JSON.stringify(validateThin.errors)).toBe(true);
    // Still an integer version, and still optional (a type without versions has none).
    expect(validateThin({ ...body, version: '1' })).toBe(false);
    const { version: _version, ...unversioned } = body;
    expect(validateThin(unversioned)).toBe(true);
    const [example] = schemas['transform:thin']!.examples as Array<Record<string, unknown>>;
    expect(example).toMatchObject({ type: 'payment.succeeded', version: 3, data: { paymentId: 'pay_ex' } });
    expect(validateThin(example)).toBe(true);
  });
});
