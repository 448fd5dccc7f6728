/**
 * A lone surrogate (half of a UTF-16 pair, which has no UTF-8 form) in text a caller hands
 * in is refused the same way on every storage — with `INPUT_INVALID` on the field, above the
 * adapters, storing nothing. PostgreSQL used to store `text` with U+FFFD in its place (two
 * idempotency keys became one, and the second event was dropped as a repeat of the first)
 * and to refuse it in `jsonb` with `STORAGE_FAILED`, while memory and SQLite kept it. In
 * event data, stored as JSON text where it is the escape `\ud800`, every storage keeps it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError, createWebhooks, isWebhookError, type Webhooks } from '../../src/index.js';
import { openStorage, storageKinds, type OpenedStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';

const HIGH = '\ud800';
const LOW = '\udc00';

const payment = (paymentId = 'pay_1') => ({
  paymentId,
  customerId: 'cus_1',
  amount: { amount: 12_30, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00.000Z',
});

describe.each(storageKinds)('lone surrogates on the %s storage', (name) => {
  let opened: OpenedStorage;
  let webhooks: Webhooks;
  let subscriptionId: string;

  beforeEach(async () => {
    opened = await openStorage[name]('lone-surrogate');
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
      events: await webhooks.events.list(),
      deliveries: await webhooks.deliveries.list(),
      backlog: (await webhooks.metrics()).backlog,
    };
  }

  async function refusal(call: () => unknown): Promise<unknown> {
    return Promise.resolve()
      .then(call)
      .then(
        () => expect.fail('expected the call to fail'),
        (rejected: unknown) => rejected,
      );
  }

  const cases: Array<[string, () => unknown, string]> = [
    ['publish with an idempotency key ending in a high surrogate', () => webhooks.publish('payment.succeeded', payment(), { idempotencyKey: `k${HIGH}` }), 'options.idempotencyKey'],
    ['publish with an idempotency key starting with a low surrogate', () => webhooks.publish('payment.succeeded', payment(), { idempotencyKey: `${LOW}k` }), 'options.idempotencyKey'],
    ['publish with a metadata value', () => webhooks.publish('payment.succeeded', payment(), { metadata: { region: `eu${HIGH}` } }), 'options.metadata.region'],
    ['subscriptions.create with a description', () => webhooks.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], description: `a${HIGH}b` }), 'description'],
    ['subscriptions.create with a metadata value', () => webhooks.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], metadata: { a: `a${HIGH}b` } }), 'metadata.a'],
    ['subscriptions.create with a metadata key', () => webhooks.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], metadata: { [`k${LOW}`]: 1 } }), `metadata.k${LOW}`],
    ['subscriptions.update with a description', () => webhooks.subscriptions.update(subscriptionId, { description: LOW }), 'description'],
    ['subscriptions.update with a nested metadata value', () => webhooks.subscriptions.update(subscriptionId, { metadata: { deep: [`x${HIGH}`] } }), 'metadata.deep.0'],
    ['subscriptions.disable with a reason', () => webhooks.subscriptions.disable(subscriptionId, { reason: `r${HIGH}` }), 'reason'],
    ['subscriptions.sendTest with an actor', () => webhooks.subscriptions.sendTest(subscriptionId, { actor: `a${LOW}` }), 'actor'],
    ['subscriptions.get with an id', () => webhooks.subscriptions.get(`sub_${HIGH}`), 'id'],
    ['deliveries.list with an eventId', () => webhooks.deliveries.list({ eventId: `evt_${HIGH}` }), 'eventId'],
  ];

  it.each(cases)('%s is refused with INPUT_INVALID on its field, storing nothing', async (_what, call, field) => {
    const before = await stateOf();
    const error = await refusal(call);
    expect(error).toBeInstanceOf(ValidationError);
    expect(isWebhookError(error) && { code: error.code, field: error.field }).toEqual({ code: 'INPUT_INVALID', field });
    expect((error as Error).message).toContain('lone surrogate');
    expect(await stateOf()).toEqual(before);
  });

  it('refuses two idempotency keys that differ only in a lone surrogate, instead of taking the second for a repeat of the first', async () => {
    const before = await stateOf();
    for (const idempotencyKey of [`ledger-${HIGH}`, 'ledger-\udbff']) {
      const error = await refusal(() => webhooks.publish('payment.succeeded', payment(idempotencyKey), { idempotencyKey }));
      expect(isWebhookError(error) && { code: error.code, field: error.field }).toEqual({ code: 'INPUT_INVALID', field: 'options.idempotencyKey' });
    }
    expect(await stateOf()).toEqual(before);
  });

  it('keeps a key made of a surrogate pair apart from another pair', async () => {
    const first = await webhooks.publish('payment.succeeded', payment('first'), { idempotencyKey: 'ledger-\ud83d\ude00' });
    const second = await webhooks.publish('payment.succeeded', payment('second'), { idempotencyKey: 'ledger-\ud83d\ude01' });
    expect([first.created, second.created, first.id === second.id]).toEqual([true, true, false]);
    expect(second.data.paymentId).toBe('second');
  });

  it('keeps a lone surrogate in event data, stored as the JSON escape, and reads it back the same', async () => {
    const data = payment(`a${HIGH}b${LOW}`);
    const first = await webhooks.publish('payment.succeeded', data, { idempotencyKey: 'surrogate-in-data' });
    expect(first.created).toBe(true);
    expect((await webhooks.events.get(first.id))!.data).toEqual(data);
    // The same key returns the event as the storage read it back.
    const again = await webhooks.publish('payment.succeeded', payment(), { idempotencyKey: 'surrogate-in-data' });
    expect(again).toMatchObject({ created: false, id: first.id });
    expect(again.data).toEqual(data);
  });
});
