/**
 * U+0000 (NUL) in text a caller hands in is refused the same way on every storage — with
 * `INPUT_INVALID` on the field, above the adapters, storing nothing — where PostgreSQL
 * alone used to fail with `STORAGE_FAILED` and memory and SQLite kept it. In event data,
 * stored as JSON text where it is the escape `\u0000`, every storage keeps it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError, createWebhooks, isWebhookError, type Webhooks } from '../../src/index.js';
import { openStorage, storageKinds, type OpenedStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';

const NUL = '\u0000';

const payment = (metadata?: Record<string, string>) => ({
  paymentId: 'pay_1',
  customerId: 'cus_1',
  amount: { amount: 12_30, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00.000Z',
  ...(metadata === undefined ? {} : { metadata }),
});

describe.each(storageKinds)('U+0000 on the %s storage', (name) => {
  let opened: OpenedStorage;
  let webhooks: Webhooks;
  let subscriptionId: string;

  beforeEach(async () => {
    opened = await openStorage[name]('nul');
    webhooks = createWebhooks({ storage: opened.storage, clock: new FakeClock(Date.UTC(2026, 10, 26, 12)), meter: false });
    await opened.storage.migrate();
    subscriptionId = (await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] })).id;
    await webhooks.publish('payment.succeeded', payment());
  });

  afterEach(async () => {
    await webhooks.close();
    await opened.cleanup();
  });

  async function stateOf() {
    return {
      subscriptions: await webhooks.subscriptions.list(),
      deliveries: await webhooks.deliveries.list(),
      backlog: (await webhooks.metrics()).backlog,
    };
  }

  const subscription = `sub_01KB${NUL}ZZZZZZZZZZZZZZZZZZZZZ`;
  const delivery = `dlv_01KB${NUL}ZZZZZZZZZZZZZZZZZZZZZ`;
  const cases: Array<[string, () => unknown, string]> = [
    ['subscriptions.create with a description', () => webhooks.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], description: `a${NUL}b` }), 'description'],
    ['subscriptions.create with a metadata value', () => webhooks.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], metadata: { note: `a${NUL}` } }), 'metadata.note'],
    ['subscriptions.create with a metadata key', () => webhooks.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], metadata: { [`k${NUL}`]: 1 } }), `metadata.k${NUL}`],
    ['subscriptions.update with a description', () => webhooks.subscriptions.update(subscriptionId, { description: NUL }), 'description'],
    ['subscriptions.update with a nested metadata value', () => webhooks.subscriptions.update(subscriptionId, { metadata: { deep: [`x${NUL}`] } }), 'metadata.deep.0'],
    ['subscriptions.disable with a reason', () => webhooks.subscriptions.disable(subscriptionId, { reason: `r${NUL}` }), 'reason'],
    ['subscriptions.get with an id', () => webhooks.subscriptions.get(subscription), 'id'],
    ['subscriptions.update with an id', () => webhooks.subscriptions.update(subscription, { description: 'x' }), 'id'],
    ['subscriptions.delete with an id', () => webhooks.subscriptions.delete(subscription), 'id'],
    ['subscriptions.disable with an id', () => webhooks.subscriptions.disable(subscription), 'id'],
    ['subscriptions.enable with an id', () => webhooks.subscriptions.enable(subscription), 'id'],
    ['subscriptions.previewEnable with an id', () => webhooks.subscriptions.previewEnable(subscription), 'id'],
    ['subscriptions.rotateSecret with an id', () => webhooks.subscriptions.rotateSecret(subscription), 'id'],
    ['subscriptions.getSecrets with an id', () => webhooks.subscriptions.getSecrets(subscription), 'id'],
    ['subscriptions.sendTest with an id', () => webhooks.subscriptions.sendTest(subscription), 'id'],
    ['subscriptions.sendTest with an actor', () => webhooks.subscriptions.sendTest(subscriptionId, { actor: `a${NUL}` }), 'actor'],
    ['deliveries.get with an id', () => webhooks.deliveries.get(delivery), 'id'],
    ['deliveries.attempts with an id', () => webhooks.deliveries.attempts(delivery), 'deliveryId'],
    ['deliveries.redeliver with an id', () => webhooks.deliveries.redeliver(delivery), 'id'],
    ['deliveries.list with a subscriptionId', () => webhooks.deliveries.list({ subscriptionId: subscription }), 'subscriptionId'],
    ['deliveries.list with an eventId', () => webhooks.deliveries.list({ eventId: `evt_${NUL}` }), 'eventId'],
    ['deliveries.replay with a subscriptionId', () => webhooks.deliveries.replay({ subscriptionId: subscription, since: 0 }), 'subscriptionId'],
    ['metrics with a subscriptionId', () => webhooks.metrics({ subscriptionId: subscription }), 'subscriptionId'],
    ['publish with an idempotency key', () => webhooks.publish('payment.succeeded', payment(), { idempotencyKey: `key${NUL}` }), 'options.idempotencyKey'],
  ];

  it.each(cases)('%s is refused with INPUT_INVALID on its field, storing nothing', async (_what, call, field) => {
    const before = await stateOf();
    const error = await Promise.resolve()
      .then(call)
      .then(
        () => expect.fail('expected the call to fail'),
        (rejected: unknown) => rejected,
      );
    expect(error).toBeInstanceOf(ValidationError);
    expect(isWebhookError(error) && { code: error.code, field: error.field }).toEqual({ code: 'INPUT_INVALID', field });
    expect(await stateOf()).toEqual(before);
  });

  it('keeps U+0000 in event data, stored as the JSON escape, and reads it back the same', async () => {
    const metadata = { note: `before${NUL}after`, [`key${NUL}`]: 'value' };
    const first = await webhooks.publish('payment.succeeded', payment(metadata), { idempotencyKey: 'nul-in-data' });
    expect(first.created).toBe(true);
    // The same key returns the event as the storage read it back.
    const again = await webhooks.publish('payment.succeeded', payment(), { idempotencyKey: 'nul-in-data' });
    expect(again).toMatchObject({ created: false, id: first.id });
    expect(again.data).toEqual(payment(metadata));
  });

  it('stores subscription metadata in its JSON form, the same on every storage', async () => {
    const created = await webhooks.subscriptions.create({
      url: 'https://crm.example.com/',
      eventTypes: ['*'],
      metadata: { at: new Date(Date.UTC(2026, 0, 2)), list: [1, 'a', null] },
    });
    expect(created.metadata).toEqual({ at: '2026-01-02T00:00:00.000Z', list: [1, 'a', null] });
    expect((await webhooks.subscriptions.get(created.id))!.metadata).toEqual({ at: '2026-01-02T00:00:00.000Z', list: [1, 'a', null] });
  });
});
