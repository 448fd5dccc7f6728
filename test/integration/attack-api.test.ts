/**
 * Hostile input to the public API: objects whose reading throws (a getter, a Proxy's trap)
 * must be refused with the call's coded error, never escape as the host's own exception;
 * and a getter that answers differently on each read must not get one value checked and
 * another stored — on every storage, where PostgreSQL refuses what memory and SQLite keep.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, ValidationError, bookkeeperEvents, createWebhooks, defineEvents, exportCatalog, isWebhookError, type Webhooks } from '../../src/index.js';
import { createWebhookRouter } from '../../src/receiver/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { openStorage, storageKinds, type OpenedStorage } from '../support/every-storage.js';

const payment = () => ({
  paymentId: 'pay_1',
  customerId: 'cus_1',
  amount: { amount: 12_30, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00.000Z',
});

/** `target` with an enumerable own property `key` whose reading throws. */
function throwingAt<T extends object>(target: T, key: string): T {
  return Object.defineProperty(target, key, {
    enumerable: true,
    get() {
      throw new Error('a getter of the host threw');
    },
  });
}

/** A Proxy of `target` whose `ownKeys` trap throws: zod and the spread both ask it. */
const unlistable = (target: object = {}) =>
  new Proxy(target, {
    ownKeys() {
      throw new Error('an ownKeys trap of the host threw');
    },
  });

/**
 * An object whose `key` answers `first` on its first read and `later` on every read after:
 * the shape of a value checked once and read again to be stored.
 */
function changingAt<T extends object>(target: T, key: string, first: unknown, later: unknown): T {
  let reads = 0;
  return Object.defineProperty(target, key, {
    enumerable: true,
    get() {
      reads += 1;
      return reads === 1 ? first : later;
    },
  });
}

async function rejectionOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return expect.fail('expected the call to fail');
}

describe('input whose reading throws', () => {
  let webhooks: Webhooks;
  let subscriptionId: string;

  beforeEach(async () => {
    webhooks = createWebhooks({ clock: new FakeClock(Date.UTC(2026, 10, 26, 12)), meter: false });
    subscriptionId = (await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] })).id;
    await webhooks.publish('payment.succeeded', payment());
  });

  afterEach(() => webhooks.close());

  async function stateOf() {
    return {
      subscriptions: await webhooks.subscriptions.list({ includeDeleted: true }),
      history: await webhooks.subscriptions.history(subscriptionId),
      events: await webhooks.events.list(),
      deliveries: await webhooks.deliveries.list(),
    };
  }

  /** [what, the call, its code, its field]. */
  const cases: Array<[string, (webhooks: Webhooks, subscriptionId: string) => unknown, string, string | undefined]> = [
    ['publish with a throwing getter in data', (w) => w.publish('payment.succeeded', throwingAt(payment(), 'paymentId')), 'EVENT_DATA_INVALID', 'data'],
    ['publish with a throwing getter deep in data', (w) => w.publish('payment.succeeded', { ...payment(), amount: throwingAt({ amount: 1 }, 'currency') } as never), 'EVENT_DATA_INVALID', 'data'],
    ['publish with data behind a throwing ownKeys trap', (w) => w.publish('payment.succeeded', unlistable(payment()) as never), 'EVENT_DATA_INVALID', 'data'],
    ['publish with a throwing getter in its options', (w) => w.publish('payment.succeeded', payment(), throwingAt({}, 'idempotencyKey')), 'INPUT_INVALID', 'options'],
    ['publish with options behind a throwing ownKeys trap', (w) => w.publish('payment.succeeded', payment(), unlistable()), 'INPUT_INVALID', 'options'],
    ['subscriptions.create with a throwing getter', (w) => w.subscriptions.create(throwingAt({ url: 'https://crm.example.com/' }, 'eventTypes') as never), 'INPUT_INVALID', undefined],
    ['subscriptions.create behind a throwing ownKeys trap', (w) => w.subscriptions.create(unlistable({ url: 'https://crm.example.com/', eventTypes: ['*'] }) as never), 'INPUT_INVALID', undefined],
    ['subscriptions.create with a throwing getter in retry', (w) => w.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], retry: throwingAt({}, 'delaysMs') } as never), 'INPUT_INVALID', undefined],
    ['subscriptions.create with a throwing getter in versions', (w) => w.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], versions: throwingAt({}, 'payment.succeeded') } as never), 'INPUT_INVALID', 'versions'],
    ['subscriptions.create with a throwing getter in tls', (w) => w.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], tls: throwingAt({}, 'ca') } as never), 'INPUT_INVALID', 'tls'],
    ['subscriptions.create with a throwing getter in its change options', (w) => w.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'] }, throwingAt({}, 'actor')), 'INPUT_INVALID', undefined],
    ['subscriptions.update with a throwing getter', (w, id) => w.subscriptions.update(id, throwingAt({}, 'description')), 'INPUT_INVALID', undefined],
    ['subscriptions.update behind a throwing has trap', (w, id) => w.subscriptions.update(id, new Proxy({}, { has() { throw new Error('a has trap threw'); }, ownKeys() { throw new Error('an ownKeys trap threw'); } })), 'INPUT_INVALID', undefined],
    ['subscriptions.list with a throwing getter', (w) => w.subscriptions.list(throwingAt({}, 'limit')), 'INPUT_INVALID', undefined],
    ['subscriptions.rotateSecret with a throwing getter', (w, id) => w.subscriptions.rotateSecret(id, throwingAt({}, 'overlapMs')), 'INPUT_INVALID', undefined],
    ['subscriptions.disable with a throwing getter', (w, id) => w.subscriptions.disable(id, throwingAt({}, 'reason')), 'INPUT_INVALID', undefined],
    ['subscriptions.enable with a throwing getter', (w, id) => w.subscriptions.enable(id, throwingAt({}, 'replayMissed')), 'INPUT_INVALID', undefined],
    ['subscriptions.delete with a throwing getter', (w, id) => w.subscriptions.delete(id, throwingAt({}, 'hard')), 'INPUT_INVALID', undefined],
    ['subscriptions.history with a throwing getter', (w, id) => w.subscriptions.history(id, throwingAt({}, 'limit')), 'INPUT_INVALID', undefined],
    ['subscriptions.sendTest with a throwing getter', (w, id) => w.subscriptions.sendTest(id, throwingAt({}, 'type')), 'INPUT_INVALID', undefined],
    ['deliveries.list with a throwing getter', (w) => w.deliveries.list(throwingAt({}, 'limit')), 'INPUT_INVALID', undefined],
    ['deliveries.undelivered with a throwing getter', (w) => w.deliveries.undelivered(throwingAt({}, 'limit')), 'INPUT_INVALID', undefined],
    ['deliveries.undelivered behind a throwing has trap', (w) => w.deliveries.undelivered(new Proxy({}, { has() { throw new Error('a has trap threw'); } })), 'INPUT_INVALID', undefined],
    ['deliveries.replay with a throwing getter', (w, id) => w.deliveries.replay(throwingAt({ subscriptionId: id }, 'since') as never), 'INPUT_INVALID', undefined],
    ['deliveries.blockedKeys with a throwing getter', (w) => w.deliveries.blockedKeys(throwingAt({}, 'subscriptionId') as never), 'INPUT_INVALID', undefined],
    ['events.list with a throwing getter', (w) => w.events.list(throwingAt({}, 'limit')), 'INPUT_INVALID', undefined],
    ['events.expunge with a throwing getter', (w) => w.events.expunge(throwingAt({}, 'before') as never), 'INPUT_INVALID', undefined],
    ['tenants.delete with a throwing getter in its options', (w) => w.tenants.delete('tenant_1', throwingAt({}, 'force')), 'INPUT_INVALID', 'options'],
    ['metrics with a throwing getter', (w) => w.metrics(throwingAt({}, 'subscriptionId')), 'INPUT_INVALID', undefined],
    ['drain with a throwing getter', (w) => w.drain(throwingAt({}, 'timeoutMs')), 'INPUT_INVALID', undefined],
  ];

  it.each(cases)('%s fails with its code, not the host\'s exception, and stores nothing', async (_what, call, code, field) => {
    const before = await stateOf();
    const error = await rejectionOf(() => call(webhooks, subscriptionId));
    expect(isWebhookError(error), String(error)).toBe(true);
    expect({ code: (error as ValidationError).code, field: (error as ValidationError).field }).toEqual({ code, field });
    expect(await stateOf()).toEqual(before);
  });

  it.each(['\ud800', '\udfff', 'x\udc00y'])('refuses a URL with the lone surrogate %j, which the URL parser would store as U+FFFD, in create and update', async (text) => {
    const before = await stateOf();
    for (const call of [
      () => webhooks.subscriptions.create({ url: `https://crm.example.com/${text}`, eventTypes: ['*'] }),
      () => webhooks.subscriptions.update(subscriptionId, { url: `https://erp.example.com/${text}` }),
    ]) {
      const error = await rejectionOf(call);
      expect(isWebhookError(error) && { code: error.code, field: error.field }).toEqual({ code: 'INPUT_INVALID', field: 'url' });
    }
    expect(await stateOf()).toEqual(before);
  });

  it('keeps what was thrown as the cause, and says the input could not be read', async () => {
    const error = await rejectionOf(() => webhooks.subscriptions.list(throwingAt({}, 'limit')));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(/could not be read|reading threw/);
    expect(((error as ValidationError).cause as Error).message).toBe('a getter of the host threw');
  });
});

describe.each(storageKinds)('a getter that answers differently on each read, on the %s storage', (kind) => {
  let opened: OpenedStorage;
  let webhooks: Webhooks;
  let subscriptionId: string;

  beforeEach(async () => {
    opened = await openStorage[kind]('attack-api');
    await opened.storage.migrate();
    webhooks = createWebhooks({ storage: opened.storage, clock: new FakeClock(Date.UTC(2026, 10, 26, 12)), meter: false });
    subscriptionId = (await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] })).id;
  });

  afterEach(async () => {
    await webhooks.close();
    await opened.cleanup();
  });

  async function stateOf() {
    return {
      subscriptions: await webhooks.subscriptions.list({ includeDeleted: true }),
      history: await webhooks.subscriptions.history(subscriptionId),
      events: await webhooks.events.list(),
      deliveries: await webhooks.deliveries.list(),
    };
  }

  it('subscriptions.create refuses metadata with U+0000 and a Map even when a second read would be clean, storing nothing', async () => {
    const before = await stateOf();
    const input = changingAt({ url: 'https://crm.example.com/', eventTypes: ['*'] }, 'metadata', { note: 'a\u0000b', seen: new Map([[1, 2]]) }, { note: 'clean' });
    const error = await rejectionOf(() => webhooks.subscriptions.create(input as never));
    expect(isWebhookError(error) && { code: error.code, field: error.field }).toEqual({ code: 'INPUT_INVALID', field: 'metadata.note' });
    expect(await stateOf()).toEqual(before);
  });

  it('subscriptions.create stores the metadata it checked when a nested getter changes after the check', async () => {
    const note = changingAt({}, 'text', 'checked', 'a\u0000changed');
    const created = await webhooks.subscriptions.create({ url: 'https://crm.example.com/', eventTypes: ['*'], metadata: { note } });
    expect(created.metadata).toEqual({ note: { text: 'checked' } });
    expect((await webhooks.subscriptions.get(created.id))!.metadata).toEqual({ note: { text: 'checked' } });
  });

  it('subscriptions.create refuses a __proto__ header that a second read would hide, storing nothing', async () => {
    const before = await stateOf();
    const input = changingAt({ url: 'https://crm.example.com/', eventTypes: ['*'] }, 'headers', JSON.parse('{"__proto__":"x","x-team":"ledger"}'), { 'x-team': 'ledger' });
    const error = await rejectionOf(() => webhooks.subscriptions.create(input as never));
    expect(isWebhookError(error) && { code: error.code, field: error.field }).toEqual({ code: 'INPUT_INVALID', field: 'headers.__proto__' });
    expect(await stateOf()).toEqual(before);
  });

  it('subscriptions.update refuses metadata with a lone surrogate even when a second read would be clean, changing nothing', async () => {
    const before = await stateOf();
    const patch = changingAt({}, 'metadata', { note: 'a\ud800' }, { note: 'clean' });
    const error = await rejectionOf(() => webhooks.subscriptions.update(subscriptionId, patch));
    expect(isWebhookError(error) && { code: error.code, field: error.field }).toEqual({ code: 'INPUT_INVALID', field: 'metadata.note' });
    expect(await stateOf()).toEqual(before);
  });

  it('subscriptions.update stores the metadata it checked when a nested getter changes after the check', async () => {
    const note = changingAt({}, 'text', 'checked', 'a\ud800changed');
    const updated = await webhooks.subscriptions.update(subscriptionId, { metadata: { note } });
    expect(updated.metadata).toEqual({ note: { text: 'checked' } });
    expect((await webhooks.subscriptions.get(subscriptionId))!.metadata).toEqual({ note: { text: 'checked' } });
  });

  it('publish refuses a __proto__ metadata key that a second read of its options would hide, storing nothing', async () => {
    const before = await stateOf();
    const options = changingAt({}, 'metadata', JSON.parse('{"__proto__":"x","region":"eu"}'), { region: 'eu' });
    const error = await rejectionOf(() => webhooks.publish('payment.succeeded', payment(), options));
    expect(isWebhookError(error) && { code: error.code, field: error.field }).toEqual({ code: 'INPUT_INVALID', field: 'options.metadata.__proto__' });
    expect(await stateOf()).toEqual(before);
  });
});

describe('factories and catalogs fed what cannot be read', () => {
  it.each([
    ['defineEvents with a throwing getter', () => defineEvents(throwingAt({}, 'invoice.voided') as never), ConfigError, 'CONFIG_INVALID'],
    ['defineEvents behind a throwing ownKeys trap', () => defineEvents(unlistable() as never), ConfigError, 'CONFIG_INVALID'],
    ['defineEvents with a throwing getter in a version', () => defineEvents({ 'invoice.sent': { versions: throwingAt({}, '1') } } as never), ConfigError, 'CONFIG_INVALID'],
    ['exportCatalog with a throwing getter in its options', () => exportCatalog(bookkeeperEvents, throwingAt({}, 'format') as never), ValidationError, 'INPUT_INVALID'],
    ['createWebhookRouter with null', () => createWebhookRouter(null as never), ConfigError, 'CONFIG_INVALID'],
    ['createWebhookRouter with a throwing getter', () => createWebhookRouter(throwingAt({}, 'validate')), ConfigError, 'CONFIG_INVALID'],
  ] as const)('%s throws its coded error', (_what, call, errorClass, code) => {
    let thrown: unknown;
    try {
      call();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(errorClass);
    expect((thrown as ConfigError).code).toBe(code);
  });
});

describe('version pins in a null-prototype object', () => {
  it('are taken as a plain object is, as payload filters are', async () => {
    const v2 = z.object({ invoiceId: z.string(), recipients: z.array(z.string()) });
    const events = defineEvents({
      'invoice.sent': {
        versions: {
          1: { schema: z.object({ invoiceId: z.string(), to: z.string() }) },
          2: { schema: v2, downgrade: (data: z.output<typeof v2>) => ({ invoiceId: data.invoiceId, to: data.recipients[0]! }) },
        },
      },
    });
    const webhooks = createWebhooks({ events, meter: false });
    try {
      const pins = Object.assign(Object.create(null) as object, { 'invoice.sent': 1 as const });
      const created = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], versions: pins });
      expect(created.versions).toEqual({ 'invoice.sent': 1 });
    } finally {
      await webhooks.close();
    }
  });
});
