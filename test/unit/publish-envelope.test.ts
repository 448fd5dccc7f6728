/**
 * The stored payload of a publish is exactly `JSON.stringify({ id, type, timestamp, data })`
 * of the validated data, and data that JSON cannot hold, or would store changed (even where
 * a permissive schema such as `z.any()` lets it through), is refused with a coded error
 * naming the field, storing nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createMemoryStorage, createWebhooks, defineEvents, isWebhookError, type StorageAdapter } from '../../src/index.js';

const events = defineEvents({
  'anything.happened': z.any(),
  'payment.succeeded': z.object({ paymentId: z.string(), note: z.string(), metadata: z.record(z.string(), z.string()).optional() }),
  'clock.ticked': z.object({ at: z.date() }),
  'ledger.posted': z.strictObject({
    lines: z.array(z.strictObject({ amount: z.int(), memo: z.any() })),
    reference: z.string().optional(),
    extra: z.record(z.string(), z.unknown()).optional(),
    tags: z.looseObject({ source: z.string() }).optional(),
  }),
});

let storage: StorageAdapter;
let webhooks: ReturnType<typeof createWebhooks<typeof events>>;

async function setUp(): Promise<void> {
  storage = createMemoryStorage();
  webhooks = createWebhooks({ storage, events, meter: false });
  await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });
}

afterEach(async () => {
  await webhooks.close();
});

/** Publishes, then compares the stored payload with JSON.stringify of the envelope. */
async function storedAgainstStringify(type: keyof typeof events.schemas, data: unknown): Promise<string> {
  const published = await webhooks.publish(type, data as never);
  const stored = await storage.getEvent(published.id);
  expect(stored).not.toBeNull();
  const expected = JSON.stringify({ id: published.id, type, timestamp: published.timestamp, data: published.data });
  expect(stored!.payload).toBe(expected);
  return stored!.payload;
}

describe('the stored envelope', () => {
  it('is JSON.stringify of { id, type, timestamp, data } for an object with text that needs escaping', async () => {
    await setUp();
    const payload = await storedAgainstStringify('payment.succeeded', {
      paymentId: 'pay_"1"',
      note: 'back\\slash, new\nline, tab\t, nul\u0000, line separator\u2028, é€𝄞, a lone surrogate \uD800',
      metadata: { '"key"': 'value', 'ключ': 'значение' },
    });
    expect(JSON.parse(payload)).toMatchObject({ type: 'payment.succeeded', data: { paymentId: 'pay_"1"' } });
  });

  it.each([
    ['null', null],
    ['a number', -0.5],
    ['a string', 'quoted "text"'],
    ['nested objects and arrays', { a: [{ b: { c: [true, false, null] } }] }],
  ])('is JSON.stringify of the envelope for %s', async (_name, data) => {
    await setUp();
    await storedAgainstStringify('anything.happened', data);
  });

  it('serialises a Date through its toJSON, as JSON.stringify does', async () => {
    await setUp();
    const payload = await storedAgainstStringify('clock.ticked', { at: new Date(Date.UTC(2026, 10, 27, 12)) });
    expect(JSON.parse(payload)).toMatchObject({ data: { at: '2026-11-27T12:00:00.000Z' } });
  });

  it('tells a toJSON on the data itself the key "data", as JSON.stringify of the envelope does', async () => {
    await setUp();
    const data = {
      toJSON(key: string) {
        return { key };
      },
    };
    const payload = await storedAgainstStringify('anything.happened', data);
    expect(JSON.parse(payload)).toMatchObject({ data: { key: 'data' } });
  });

  it('does the same for a toJSON inherited from a class', async () => {
    await setUp();
    class Money {
      constructor(readonly minor: number) {}
      toJSON(key: string): string {
        return `${key}:${this.minor}`;
      }
    }
    const payload = await storedAgainstStringify('anything.happened', new Money(1230));
    expect(JSON.parse(payload)).toMatchObject({ data: 'data:1230' });
  });
});

describe('data that JSON cannot hold, or would store changed, under z.any()', () => {
  it.each([
    ['a BigInt', { amount: 10n }, 'data.amount'],
    ['a cycle', (() => {
      const node: Record<string, unknown> = { name: 'a' };
      node.self = node;
      return node;
    })(), 'data.self'],
    ['a toJSON that throws', { toJSON: () => { throw new Error('no'); } }, 'data'],
    ['no data at all (undefined), which JSON leaves out of the envelope', undefined, 'data'],
    ['a function as the data', () => 1, 'data'],
    ['a symbol as the data', Symbol('s'), 'data'],
    ['NaN, which JSON writes as null', NaN, 'data'],
    ['Infinity, which JSON writes as null', { rate: Infinity }, 'data.rate'],
    ['-Infinity deep down', { a: [{ b: -Infinity }] }, 'data.a.0.b'],
    ['a Map, which JSON writes as {}', { lookup: new Map([['a', 1]]) }, 'data.lookup'],
    ['a Set, which JSON writes as {}', { tags: new Set(['a']) }, 'data.tags'],
    ['an invalid Date, which JSON writes as null', { at: new Date(Number.NaN) }, 'data.at'],
    ['a function as a property, which JSON drops', { kept: 1, handler: () => 1 }, 'data.handler'],
    ['undefined as a property, which JSON drops', { kept: 1, dropped: undefined }, 'data.dropped'],
    ['undefined in an array, which JSON writes as null', [1, undefined, 'x'], 'data.1'],
    ['a hole in an array, which JSON writes as null', [1, , 3], 'data.1'],
    ['a function in an array, which JSON writes as null', ['x', () => 1], 'data.1'],
    ['a symbol key, which JSON drops', { [Symbol('k')]: 1 }, 'data'],
    ['a toJSON that returns undefined', { nested: { toJSON: () => undefined } }, 'data.nested'],
  ])('is refused with EVENT_DATA_INVALID naming the field, storing nothing: %s', async (_name, data, field) => {
    await setUp();
    const before = await storage.stats(Date.now());
    const error = await webhooks.publish('anything.happened', data as never).then(
      () => expect.fail('expected publish to reject'),
      (rejected: unknown) => rejected,
    );
    expect(isWebhookError(error) && error.code).toBe('EVENT_DATA_INVALID');
    expect(isWebhookError(error) && error.field).toBe(field);
    expect(await storage.stats(Date.now())).toEqual(before);
    expect((await webhooks.deliveries.list()).items).toEqual([]);
  });
});

/** Publishes `data` as `type`, expecting EVENT_DATA_INVALID on `field` and nothing stored. */
async function expectRefused(type: keyof typeof events.schemas, data: unknown, field: string): Promise<void> {
  await setUp();
  const before = await storage.stats(Date.now());
  const error = await webhooks.publish(type, data as never).then(
    () => expect.fail('expected publish to reject'),
    (rejected: unknown) => rejected,
  );
  expect(isWebhookError(error) && { code: error.code, field: error.field }).toEqual({ code: 'EVENT_DATA_INVALID', field });
  expect(await storage.stats(Date.now())).toEqual(before);
  expect((await webhooks.deliveries.list()).items).toEqual([]);
}

describe('what a typed schema lets through', () => {
  it('accepts undefined for an optional property and stores the data without that key, as the schema means by optional', async () => {
    await setUp();
    const payload = await storedAgainstStringify('ledger.posted', { lines: [{ amount: 1, memo: 'm' }], reference: undefined, extra: undefined });
    expect(Object.keys((JSON.parse(payload) as { data: object }).data)).toEqual(['lines']);
  });

  it('accepts JSON values, Dates included, in the permissive parts of a typed schema', async () => {
    await setUp();
    const payload = await storedAgainstStringify('ledger.posted', {
      lines: [{ amount: 1, memo: { at: new Date(Date.UTC(2026, 0, 1)), list: [1, 'a', null, { deep: true }] } }],
      extra: { nested: { ok: [1, 2] } },
      tags: { source: 'erp', more: 'kept' },
    });
    expect(JSON.parse(payload)).toMatchObject({
      data: { lines: [{ memo: { at: '2026-01-01T00:00:00.000Z' } }], tags: { source: 'erp', more: 'kept' } },
    });
  });

  it.each([
    ['a Map under z.any() inside an array of strict objects', { lines: [{ amount: 1, memo: 'ok' }, { amount: 2, memo: new Map() }] }, 'data.lines.1.memo'],
    ['undefined as a record value', { lines: [], extra: { gone: undefined } }, 'data.extra.gone'],
    ['NaN as a record value', { lines: [], extra: { rate: NaN } }, 'data.extra.rate'],
    ['a function in a loose object\'s extra keys', { lines: [], tags: { source: 'erp', run: () => 1 } }, 'data.tags.run'],
    ['undefined for a required z.any() property', { lines: [{ amount: 1, memo: undefined }] }, 'data.lines.0.memo'],
  ])('refuses %s with EVENT_DATA_INVALID naming the field, storing nothing', async (_name, data, field) => {
    await expectRefused('ledger.posted', data, field);
  });
});

describe('a __proto__ key in the data', () => {
  const proto = (json: string): unknown => JSON.parse(json);

  it.each([
    ['in a record, where zod would drop it', 'payment.succeeded', proto('{"paymentId":"p","note":"n","metadata":{"__proto__":"x","a":"b"}}'), 'data.metadata.__proto__'],
    ['in an object that strips unknown keys', 'payment.succeeded', proto('{"paymentId":"p","note":"n","__proto__":{"admin":true}}'), 'data.__proto__'],
    ['in a loose object, where zod would drop it', 'ledger.posted', proto('{"lines":[],"tags":{"source":"erp","__proto__":{"x":1}}}'), 'data.tags.__proto__'],
    ['in a record of unknown values', 'ledger.posted', proto('{"lines":[],"extra":{"__proto__":{"x":1}}}'), 'data.extra.__proto__'],
    ['deep under z.any(), where JSON would carry it to receivers', 'anything.happened', proto('{"a":[{"b":{"__proto__":{"polluted":true}}}]}'), 'data.a.0.b.__proto__'],
  ] as const)('is refused %s, with EVENT_DATA_INVALID naming it, storing nothing', async (_name, type, data, field) => {
    await expectRefused(type, data, field);
  });
});

describe('the envelope of an instance with an environment', () => {
  async function setUpWith(environment: string | undefined): Promise<void> {
    storage = createMemoryStorage();
    webhooks = createWebhooks({ storage, events, meter: false, ...(environment === undefined ? {} : { environment }) });
    await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });
  }

  async function payloadOf(type: keyof typeof events.schemas, data: unknown) {
    const published = await webhooks.publish(type, data as never);
    return { published, payload: (await storage.getEvent(published.id))!.payload };
  }

  const payment = { paymentId: 'pay_1', note: 'n' };

  it('is byte for byte { id, type, timestamp, data } without the option, with no environment key', async () => {
    await setUpWith(undefined);
    const { published, payload } = await payloadOf('payment.succeeded', payment);
    expect(payload).toBe(`{"id":"${published.id}","type":"payment.succeeded","timestamp":"${published.timestamp}","data":{"paymentId":"pay_1","note":"n"}}`);
    expect(payload).not.toContain('environment');
  });

  it('is JSON.stringify of { id, type, timestamp, environment, data } with it', async () => {
    await setUpWith('test');
    const { published, payload } = await payloadOf('payment.succeeded', payment);
    expect(payload).toBe(JSON.stringify({ id: published.id, type: 'payment.succeeded', timestamp: published.timestamp, environment: 'test', data: payment }));
    expect(payload).toBe(
      `{"id":"${published.id}","type":"payment.succeeded","timestamp":"${published.timestamp}","environment":"test","data":{"paymentId":"pay_1","note":"n"}}`,
    );
  });

  it('writes the environment in the same place for data with a toJSON, which takes the JSON.stringify path', async () => {
    await setUpWith('live');
    const data = { toJSON: (key: string) => ({ key }) };
    const { published, payload } = await payloadOf('anything.happened', data);
    expect(payload).toBe(JSON.stringify({ id: published.id, type: 'anything.happened', timestamp: published.timestamp, environment: 'live', data: { key: 'data' } }));
  });

  it('keeps the first envelope, environment included, for a repeated idempotency key', async () => {
    await setUpWith('test');
    const first = await webhooks.publish('payment.succeeded', payment, { idempotencyKey: 'k1' });
    const again = await webhooks.publish('payment.succeeded', { paymentId: 'pay_2', note: 'm' }, { idempotencyKey: 'k1' });
    expect(again).toMatchObject({ id: first.id, created: false, data: payment });
    expect(JSON.parse((await storage.getEvent(first.id))!.payload)).toMatchObject({ environment: 'test' });
  });
});
