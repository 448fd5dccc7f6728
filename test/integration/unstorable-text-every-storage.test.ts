/**
 * Text no storage can hold the same way — U+0000 (NUL) and a lone surrogate (half of a UTF-16
 * pair, which has no UTF-8 form) — is refused the same way on every storage when a caller
 * hands it in: `INPUT_INVALID` on the field, above the adapters, storing nothing. PostgreSQL
 * used to fail on NUL with `STORAGE_FAILED`, to store a lone surrogate in `text` as U+FFFD
 * (two idempotency keys became one, and the second event was dropped as a repeat of the
 * first) and to refuse it in `jsonb`, while memory and SQLite kept both. In event data, stored
 * as JSON text where each is an escape (`\u0000`, `\ud800`), every storage keeps them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError, createWebhooks, isWebhookError, type Webhooks } from '../../src/index.js';
import { openStorage, storageKinds, type OpenedStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';

const NUL = '\u0000';
const HIGH = '\ud800';
const LOW = '\udc00';
/** Every call is tried with each, in turn. */
const characters: Array<[string, string]> = [
  ['U+0000', NUL],
  ['a high surrogate', HIGH],
  ['a low surrogate', LOW],
];

const payment = (paymentId = 'pay_1', metadata?: Record<string, string>) => ({
  paymentId,
  customerId: 'cus_1',
  amount: { amount: 12_30, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00.000Z',
  ...(metadata === undefined ? {} : { metadata }),
});

describe.each(storageKinds)('text no storage can hold, on the %s storage', (name) => {
  let opened: OpenedStorage;
  let webhooks: Webhooks;
  let subscriptionId: string;

  beforeEach(async () => {
    opened = await openStorage[name]('unstorable-text');
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

  /** [what, the call with `c` in its text, the field the error names]. */
  const cases: Array<[string, (c: string) => unknown, (c: string) => string]> = [
    ['publish with an idempotency key ending in it', (c) => webhooks.publish('payment.succeeded', payment(), { idempotencyKey: `k${c}` }), () => 'options.idempotencyKey'],
    ['publish with an idempotency key starting with it', (c) => webhooks.publish('payment.succeeded', payment(), { idempotencyKey: `${c}k` }), () => 'options.idempotencyKey'],
    ['publish with a metadata value', (c) => webhooks.publish('payment.succeeded', payment(), { metadata: { region: `eu${c}` } }), () => 'options.metadata.region'],
    ['subscriptions.create with a description', (c) => webhooks.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], description: `a${c}b` }), () => 'description'],
    ['subscriptions.create with a metadata value', (c) => webhooks.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], metadata: { note: `a${c}` } }), () => 'metadata.note'],
    ['subscriptions.create with a metadata key', (c) => webhooks.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], metadata: { [`k${c}`]: 1 } }), (c) => `metadata.k${c}`],
    ['subscriptions.update with a description', (c) => webhooks.subscriptions.update(subscriptionId, { description: c }), () => 'description'],
    ['subscriptions.update with a nested metadata value', (c) => webhooks.subscriptions.update(subscriptionId, { metadata: { deep: [`x${c}`] } }), () => 'metadata.deep.0'],
    ['subscriptions.disable with a reason', (c) => webhooks.subscriptions.disable(subscriptionId, { reason: `r${c}` }), () => 'reason'],
    ['subscriptions.get with an id', (c) => webhooks.subscriptions.get(`sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'id'],
    ['subscriptions.update with an id', (c) => webhooks.subscriptions.update(`sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`, { description: 'x' }), () => 'id'],
    ['subscriptions.delete with an id', (c) => webhooks.subscriptions.delete(`sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'id'],
    ['subscriptions.disable with an id', (c) => webhooks.subscriptions.disable(`sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'id'],
    ['subscriptions.enable with an id', (c) => webhooks.subscriptions.enable(`sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'id'],
    ['subscriptions.previewEnable with an id', (c) => webhooks.subscriptions.previewEnable(`sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'id'],
    ['subscriptions.rotateSecret with an id', (c) => webhooks.subscriptions.rotateSecret(`sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'id'],
    ['subscriptions.getSecrets with an id', (c) => webhooks.subscriptions.getSecrets(`sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'id'],
    ['subscriptions.sendTest with an id', (c) => webhooks.subscriptions.sendTest(`sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'id'],
    ['subscriptions.sendTest with an actor', (c) => webhooks.subscriptions.sendTest(subscriptionId, { actor: `a${c}` }), () => 'actor'],
    ['deliveries.get with an id', (c) => webhooks.deliveries.get(`dlv_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'id'],
    ['deliveries.attempts with an id', (c) => webhooks.deliveries.attempts(`dlv_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'deliveryId'],
    ['deliveries.redeliver with an id', (c) => webhooks.deliveries.redeliver(`dlv_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`), () => 'id'],
    ['deliveries.list with a subscriptionId', (c) => webhooks.deliveries.list({ subscriptionId: `sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ` }), () => 'subscriptionId'],
    ['deliveries.list with an eventId', (c) => webhooks.deliveries.list({ eventId: `evt_${c}` }), () => 'eventId'],
    ['deliveries.replay with a subscriptionId', (c) => webhooks.deliveries.replay({ subscriptionId: `sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ`, since: 0 }), () => 'subscriptionId'],
    ['metrics with a subscriptionId', (c) => webhooks.metrics({ subscriptionId: `sub_01KB${c}ZZZZZZZZZZZZZZZZZZZZZ` }), () => 'subscriptionId'],
  ];

  it.each(cases)('%s is refused with INPUT_INVALID on its field, storing nothing', async (_what, call, field) => {
    const before = await stateOf();
    for (const [what, c] of characters) {
      const error = await refusal(() => call(c));
      expect(error, what).toBeInstanceOf(ValidationError);
      expect(isWebhookError(error) && { code: error.code, field: error.field }, what).toEqual({ code: 'INPUT_INVALID', field: field(c) });
      expect((error as Error).message, what).toMatch(/U\+0000|lone surrogate/);
    }
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

  it.each(characters)('keeps %s in event data, stored as the JSON escape, and reads it back the same', async (what, c) => {
    const metadata = { note: `before${c}after`, [`key${c}`]: 'value' };
    const data = payment(`a${c}b`, metadata);
    const first = await webhooks.publish('payment.succeeded', data, { idempotencyKey: `in-data ${what}` });
    expect(first.created).toBe(true);
    expect((await webhooks.events.get(first.id))!.data).toEqual(data);
    // The same key returns the event as the storage read it back.
    const again = await webhooks.publish('payment.succeeded', payment(), { idempotencyKey: `in-data ${what}` });
    expect(again).toMatchObject({ created: false, id: first.id });
    expect(again.data).toEqual(data);
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
