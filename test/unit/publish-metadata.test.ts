/**
 * `publish(type, data, { metadata })`: the envelope carries the validated metadata between
 * the timestamp (or environment) and the data, only when some was given, byte for byte as
 * `JSON.stringify` of the envelope writes it; the result, the bus announcement and the stored
 * events show it; an idempotent re-publish returns the first event's; bad metadata is refused
 * with `INPUT_INVALID` on `options.metadata…`, storing nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createMemoryStorage, createWebhooks, defineEvents, isWebhookError, type PublishedEvent, type StorageAdapter } from '../../src/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';

const events = defineEvents({
  'payment.succeeded': z.object({ paymentId: z.string() }),
  'anything.happened': z.any(),
});

let storage: StorageAdapter;
let webhooks: ReturnType<typeof createWebhooks<typeof events>>;

async function setUp(options: { environment?: string; maxPayloadBytes?: number } = {}, sqlite = false): Promise<void> {
  // publishSync needs a storage with synchronous transactions: SQLite, in memory.
  storage = sqlite ? createSqliteStorage({ filename: ':memory:' }) : createMemoryStorage();
  if (sqlite) await storage.migrate();
  webhooks = createWebhooks({ storage, events, meter: false, ...options });
  await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });
}

afterEach(async () => {
  await webhooks.close();
});

const payment = { paymentId: 'pay_1' };

async function payloadOf(id: string): Promise<string> {
  return (await storage.getEvent(id))!.payload;
}

describe('the envelope', () => {
  it('is JSON.stringify of { id, type, timestamp, metadata, data }, keys in the order given', async () => {
    await setUp();
    const published = await webhooks.publish('payment.succeeded', payment, { metadata: { source: 'pos', region: 'eu' } });
    const payload = await payloadOf(published.id);
    expect(payload).toBe(JSON.stringify({ id: published.id, type: 'payment.succeeded', timestamp: published.timestamp, metadata: { source: 'pos', region: 'eu' }, data: payment }));
    expect(payload).toBe(
      `{"id":"${published.id}","type":"payment.succeeded","timestamp":"${published.timestamp}","metadata":{"source":"pos","region":"eu"},"data":{"paymentId":"pay_1"}}`,
    );
  });

  it('escapes values as JSON does', async () => {
    await setUp();
    // A lone surrogate is refused (see bad metadata below), as U+0000 is: text outside `data` is well-formed Unicode.
    const metadata = { note: 'quote " backslash \\ newline \n tab \t é€𝄞 \u2028 pair \uD83D\uDE00' };
    const published = await webhooks.publish('payment.succeeded', payment, { metadata });
    const payload = await payloadOf(published.id);
    expect(payload).toBe(JSON.stringify({ id: published.id, type: 'payment.succeeded', timestamp: published.timestamp, metadata, data: payment }));
    expect((JSON.parse(payload) as { metadata: unknown }).metadata).toEqual(metadata);
  });

  it.each([
    ['no options', undefined],
    ['no metadata', {}],
    ['metadata undefined', { metadata: undefined }],
    ['an empty object', { metadata: {} }],
  ])('has no metadata key with %s: the bytes of an envelope that never had it', async (_name, options) => {
    await setUp();
    const published = await webhooks.publish('payment.succeeded', payment, options);
    expect(await payloadOf(published.id)).toBe(`{"id":"${published.id}","type":"payment.succeeded","timestamp":"${published.timestamp}","data":{"paymentId":"pay_1"}}`);
    expect(published.metadata).toBeNull();
  });

  it('puts metadata after the environment, for an instance with one', async () => {
    await setUp({ environment: 'test' });
    const published = await webhooks.publish('payment.succeeded', payment, { metadata: { region: 'eu' } });
    expect(await payloadOf(published.id)).toBe(
      `{"id":"${published.id}","type":"payment.succeeded","timestamp":"${published.timestamp}","environment":"test","metadata":{"region":"eu"},"data":{"paymentId":"pay_1"}}`,
    );
  });

  it('writes it in the same place for data with a toJSON, which takes the JSON.stringify path', async () => {
    await setUp({ environment: 'live' });
    const data = { toJSON: (key: string) => ({ key }) };
    const published = await webhooks.publish('anything.happened', data, { metadata: { region: 'eu' } });
    expect(await payloadOf(published.id)).toBe(
      JSON.stringify({ id: published.id, type: 'anything.happened', timestamp: published.timestamp, environment: 'live', metadata: { region: 'eu' }, data: { key: 'data' } }),
    );
  });

  it('counts the metadata in maxPayloadBytes: the whole envelope is capped', async () => {
    await setUp();
    const bare = await webhooks.publish('payment.succeeded', payment);
    const bareBytes = Buffer.byteLength(await payloadOf(bare.id));
    const metadata = { note: 'x'.repeat(100) };
    const withMetadata = Buffer.byteLength(`,"metadata":${JSON.stringify(metadata)}`) + bareBytes;
    await webhooks.close();

    await setUp({ maxPayloadBytes: withMetadata });
    await expect(webhooks.publish('payment.succeeded', payment, { metadata })).resolves.toMatchObject({ created: true });
    await webhooks.close();

    await setUp({ maxPayloadBytes: withMetadata - 1 });
    const error = await webhooks.publish('payment.succeeded', payment, { metadata }).then(
      () => expect.fail('expected publish to reject'),
      (rejected: unknown) => rejected,
    );
    expect(isWebhookError(error) && error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('what publish returns and announces', () => {
  it('returns the metadata, and the bus announces it', async () => {
    await setUp();
    const announced: PublishedEvent[] = [];
    webhooks.bus.on('payment.succeeded', (event) => announced.push(event));
    const published = await webhooks.publish('payment.succeeded', payment, { metadata: { region: 'eu' } });
    expect(published).toMatchObject({ created: true, metadata: { region: 'eu' } });
    expect(announced).toEqual([expect.objectContaining({ id: published.id, metadata: { region: 'eu' } })]);
    const bare = await webhooks.publish('payment.succeeded', payment);
    expect(announced[1]).toMatchObject({ id: bare.id, metadata: null });
  });

  it('returns the first event\'s metadata for a repeated idempotency key, from the stored envelope', async () => {
    await setUp();
    const first = await webhooks.publish('payment.succeeded', payment, { idempotencyKey: 'k1', metadata: { region: 'eu' } });
    const again = await webhooks.publish('payment.succeeded', { paymentId: 'pay_2' }, { idempotencyKey: 'k1', metadata: { region: 'us' } });
    expect(again).toMatchObject({ id: first.id, created: false, metadata: { region: 'eu' }, data: payment });
    const bare = await webhooks.publish('payment.succeeded', payment, { idempotencyKey: 'k2' });
    expect(await webhooks.publish('payment.succeeded', payment, { idempotencyKey: 'k2', metadata: { region: 'us' } })).toMatchObject({ id: bare.id, created: false, metadata: null });
  });

  it('returns null metadata for a repeated key of an expunged event', async () => {
    await setUp();
    const first = await webhooks.publish('payment.succeeded', payment, { idempotencyKey: 'k1', metadata: { region: 'eu' } });
    await webhooks.events.expunge(first.id);
    expect(await webhooks.publish('payment.succeeded', payment, { idempotencyKey: 'k1' })).toMatchObject({ id: first.id, created: false, metadata: null, data: null });
  });

  it('is shown by events.get and events.list, and null once expunged', async () => {
    await setUp();
    const tagged = await webhooks.publish('payment.succeeded', payment, { metadata: { region: 'eu' } });
    const bare = await webhooks.publish('payment.succeeded', payment);
    expect(await webhooks.events.get(tagged.id)).toMatchObject({ metadata: { region: 'eu' }, data: payment });
    expect(await webhooks.events.get(bare.id)).toMatchObject({ metadata: null, data: payment });
    expect((await webhooks.events.list()).items.map((event) => event.metadata)).toEqual([{ region: 'eu' }, null]);
    await webhooks.events.expunge(tagged.id);
    expect(await webhooks.events.get(tagged.id)).toMatchObject({ metadata: null, data: null });
  });

  it('works the same through publishSync', async () => {
    await setUp({}, true);
    const published = webhooks.publishSync('payment.succeeded', payment, { metadata: { region: 'eu' } });
    expect(published.metadata).toEqual({ region: 'eu' });
    expect(JSON.parse(await payloadOf(published.id))).toMatchObject({ metadata: { region: 'eu' } });
  });
});

describe('bad metadata', () => {
  const proto = JSON.parse('{"region":"eu","__proto__":"x"}') as Record<string, string>;

  it.each([
    ['not an object', 'eu', 'options.metadata'],
    ['an array', ['eu'], 'options.metadata'],
    ['null', null, 'options.metadata'],
    ['a Map', new Map([['region', 'eu']]), 'options.metadata'],
    ['21 keys', Object.fromEntries(Array.from({ length: 21 }, (_, index) => [`k${index}`, 'v'])), 'options.metadata'],
    ['a key with a dot', { 'region.code': 'eu' }, 'options.metadata.region.code'],
    ['an empty key', { '': 'eu' }, 'options.metadata.'],
    ['a key of 41 characters', { ['k'.repeat(41)]: 'v' }, `options.metadata.${'k'.repeat(41)}`],
    ['a key with a space', { 'the region': 'eu' }, 'options.metadata.the region'],
    ['a key with a non-ASCII letter', { régión: 'eu' }, 'options.metadata.régión'],
    ['a __proto__ key, which zod would drop', proto, 'options.metadata.__proto__'],
    ['a number value', { region: 1 }, 'options.metadata.region'],
    ['a null value', { region: null }, 'options.metadata.region'],
    ['a nested object', { region: { code: 'eu' } }, 'options.metadata.region'],
    ['a value of 501 characters', { note: 'x'.repeat(501) }, 'options.metadata.note'],
    ['a value with U+0000', { note: 'a\u0000b' }, 'options.metadata.note'],
    ['a value with a lone high surrogate', { note: 'a\uD800' }, 'options.metadata.note'],
    ['a value with a lone low surrogate', { note: '\uDC00b' }, 'options.metadata.note'],
  ])('is refused with INPUT_INVALID naming the field, storing nothing: %s', async (_name, metadata, field) => {
    await setUp();
    const before = await storage.stats(Date.now());
    const error = await webhooks.publish('payment.succeeded', payment, { metadata: metadata as never }).then(
      () => expect.fail('expected publish to reject'),
      (rejected: unknown) => rejected,
    );
    expect(isWebhookError(error) && { code: error.code, field: error.field }).toEqual({ code: 'INPUT_INVALID', field });
    expect(isWebhookError(error) && error.message).toContain('`options.metadata');
    expect(await storage.stats(Date.now())).toEqual(before);
  });

  it('takes 20 keys of 40 characters, digits, `_`, `-`, and values of 500 characters', async () => {
    await setUp();
    const metadata = Object.fromEntries(Array.from({ length: 20 }, (_, index) => [`${String(index).padStart(2, '0')}_-${'k'.repeat(36)}`, 'v'.repeat(500)]));
    expect(Object.keys(metadata).every((key) => key.length === 40)).toBe(true);
    const published = await webhooks.publish('payment.succeeded', payment, { metadata });
    expect(published.metadata).toEqual(metadata);
  });

  it('is refused the same by publishSync, thrown', async () => {
    await setUp({}, true);
    let thrown: unknown;
    try {
      webhooks.publishSync('payment.succeeded', payment, { metadata: { 'a.b': 'x' } });
    } catch (error) {
      thrown = error;
    }
    expect(isWebhookError(thrown) && { code: thrown.code, field: thrown.field }).toEqual({ code: 'INPUT_INVALID', field: 'options.metadata.a.b' });
  });
});
