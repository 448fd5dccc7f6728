/**
 * The stored payload of a publish is exactly `JSON.stringify({ id, type, timestamp, data })`
 * of the validated data, whatever the data is, and data that JSON cannot hold is refused
 * with a coded error, storing nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createMemoryStorage, createWebhooks, defineEvents, isWebhookError, type StorageAdapter } from '../../src/index.js';

const events = defineEvents({
  'anything.happened': z.any(),
  'payment.succeeded': z.object({ paymentId: z.string(), note: z.string(), metadata: z.record(z.string(), z.string()).optional() }),
  'clock.ticked': z.object({ at: z.date() }),
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
async function storedAgainstStringify(type: 'anything.happened' | 'payment.succeeded' | 'clock.ticked', data: unknown): Promise<string> {
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
    ['an array with holes JSON turns into null', [1, undefined, 'x', () => 1]],
    ['an object with undefined members, which JSON drops', { kept: 1, dropped: undefined }],
    ['nested objects and arrays', { a: [{ b: { c: [true, false, null] } }] }],
  ])('is JSON.stringify of the envelope for %s', async (_name, data) => {
    await setUp();
    await storedAgainstStringify('anything.happened', data);
  });

  it('has no data key when the data has no JSON form, as JSON.stringify leaves it out', async () => {
    await setUp();
    const payload = await storedAgainstStringify('anything.happened', undefined);
    expect(Object.keys(JSON.parse(payload) as object)).toEqual(['id', 'type', 'timestamp']);
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

describe('data that JSON cannot hold', () => {
  it.each([
    ['a BigInt', { amount: 10n }],
    ['a cycle', (() => {
      const node: Record<string, unknown> = { name: 'a' };
      node.self = node;
      return node;
    })()],
    ['a toJSON that throws', { toJSON: () => { throw new Error('no'); } }],
  ])('is refused with EVENT_DATA_INVALID on field data, storing nothing: %s', async (_name, data) => {
    await setUp();
    const before = await storage.stats(Date.now());
    const error = await webhooks.publish('anything.happened', data as never).then(
      () => expect.fail('expected publish to reject'),
      (rejected: unknown) => rejected,
    );
    expect(isWebhookError(error) && error.code).toBe('EVENT_DATA_INVALID');
    expect(isWebhookError(error) && error.field).toBe('data');
    expect(await storage.stats(Date.now())).toEqual(before);
  });
});
