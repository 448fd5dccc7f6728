/**
 * `security.payloadKey` on every storage, over real loopback HTTP: the stored payload (read
 * through the storage adapter itself) holds nothing of the event in clear, while the receiver
 * gets the bytes published and a signature over them, exactly as without a key. An instance
 * with another key, or none, records the attempt as a `config` failure and sends nothing; a
 * rotated key list still sends what the old key sealed. Publish reads a stored event back
 * (an idempotent match) opened, and an expunged one as `data: null`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStorage, createWebhooks, type StorageAdapter, type WebhooksOptions } from '../../src/index.js';
import { createPayloadCodec } from '../../src/payload-codec.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { normalizeSecretsKeys } from '../../src/registry/secret-codec.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { recordingLogger } from '../support/recording-logger.js';
import { samplePayment } from '../support/sample-payment.js';

const key1 = randomBytes(32).toString('base64');
const key2 = randomBytes(32).toString('base64');
/** Data with a value to look for in the stored row, and characters of more than one byte. */
const payment = (n = 1) => ({
  ...samplePayment(n),
  reference: `INV-${randomBytes(6).toString('hex')}`,
  metadata: { payer: 'Zoë Müller — Überweisung 🧾' },
});

/** The bytes an instance without a key sends for a published event (test/unit/publish-envelope.test.ts). */
const plainBody = (event: { id: string; type: string; timestamp: string; data: unknown }) =>
  JSON.stringify({ id: event.id, type: event.type, timestamp: event.timestamp, data: event.data });

describe.each(storageKinds)('payloads sealed with security.payloadKey on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'payload-key');

  it('stores the payload sealed and sends the published bytes, signed as without a key', async () => {
    const { logger, lines } = recordingLogger();
    const webhooks = env.instance({ logger, security: { payloadKey: key1 } });
    const { secret } = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    const data = payment();
    const published = await webhooks.publish('payment.succeeded', data);
    await webhooks.drain({ timeoutMs: 5_000 });

    const stored = await env.opened.storage.getEvent(published.id);
    expect(stored!.payload).toMatch(/^encp:v1:[0-9a-f]{12}:/);
    for (const clear of [data.reference, data.paymentId, data.customerId, 'Zoë', 'payment.succeeded', published.id]) expect(stored!.payload).not.toContain(clear);

    expect(env.server.requests).toHaveLength(1);
    const [request] = env.server.requests;
    const body = Buffer.from(plainBody(published));
    expect(request!.body.equals(body)).toBe(true);
    expect(request!.body.equals(Buffer.from(createPayloadCodec(normalizeSecretsKeys(key1)).open(stored!.payload, published.id)))).toBe(true);
    const timestamp = Number(request!.headers['webhook-timestamp']);
    expect(request!.headers['webhook-signature']).toBe(signWebhook({ id: published.id, timestamp, body: body.toString('utf8'), secrets: secret }));
    const received = verifyWebhook({ body: request!.body.toString('utf8'), headers: request!.headers as Record<string, string> }, { secrets: secret });
    expect(received.data).toEqual(data);
    expect(JSON.stringify(lines)).not.toContain(key1);
  });

  it.each<[string, WebhooksOptions['security']]>([
    ['another key', { payloadKey: [{ id: 'k2', key: key2 }] }],
    ['no key', {}],
  ])('records a config failure and sends nothing on an instance with %s', async (_name, security) => {
    const sealer = env.instance({ security: { payloadKey: [{ id: 'k1', key: key1 }] } });
    await sealer.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const data = payment();
    const published = await sealer.publish('payment.succeeded', data);

    const { logger, lines } = recordingLogger();
    const other = env.instance({ logger, security, retry: { delaysMs: [] } });
    const dead = new Promise((resolve) => other.bus.once('delivery:dead', resolve));
    await other.start();
    await expect(dead).resolves.toMatchObject({ errorClass: 'config', statusCode: null });
    await other.stop();
    // The sender's own key is at fault, not the endpoint: nothing starts its auto-disable clock.
    const [subscription] = (await other.subscriptions.list()).items;
    expect(subscription).toMatchObject({ status: 'active', failingSince: null });

    const [delivery] = (await other.deliveries.list({})).items;
    expect(delivery).toMatchObject({ eventId: published.id, status: 'dead' });
    const attempts = await other.deliveries.attempts(delivery!.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ errorClass: 'config', statusCode: null, errorMessage: expect.stringContaining(published.id) });
    expect(attempts[0]!.errorMessage).toContain('"k1"');
    expect(env.server.requests).toHaveLength(0);
    const visible = JSON.stringify([attempts, lines]);
    for (const secret of [data.reference, 'Zoë', key1, key2]) expect(visible).not.toContain(secret);
  });

  it('rotates: what the old key sealed still sends, and new payloads are sealed with the first key', async () => {
    const before = env.instance({ security: { payloadKey: [{ id: 'k1', key: key1 }] } });
    await before.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const old = await before.publish('payment.succeeded', payment(1));

    const after = env.instance({ security: { payloadKey: [{ id: 'k2', key: key2 }, { id: 'k1', key: key1 }] } });
    await after.start();
    const fresh = await after.publish('payment.succeeded', payment(2));
    await after.drain({ timeoutMs: 5_000 });

    expect((await env.opened.storage.getEvent(old.id))!.payload).toMatch(/^encp:v1:k1:/);
    expect((await env.opened.storage.getEvent(fresh.id))!.payload).toMatch(/^encp:v1:k2:/);
    const bodies = env.server.requests.map((request) => request.body.toString('utf8')).sort();
    expect(bodies).toEqual([plainBody(old), plainBody(fresh)].sort());
  });

  it('sends payloads stored before the key was set as they are', async () => {
    const plain = env.instance();
    await plain.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const published = await plain.publish('payment.succeeded', payment());
    const keyed = env.instance({ security: { payloadKey: key1 } });
    await keyed.start();
    await keyed.drain({ timeoutMs: 5_000 });
    expect(env.server.requests.map((request) => request.body.toString('utf8'))).toEqual([plainBody(published)]);
  });

  it('reads an idempotent match back opened, and refuses it to an instance without its key', async () => {
    const webhooks = env.instance({ security: { payloadKey: key1 } });
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const data = payment();
    const first = await webhooks.publish('payment.succeeded', data, { idempotencyKey: 'order-7' });
    const again = await webhooks.publish('payment.succeeded', payment(2), { idempotencyKey: 'order-7' });
    expect(again).toMatchObject({ id: first.id, created: false, deliveryCount: 0, data });

    const wrongKey = env.instance({ security: { payloadKey: key2 } });
    await expect(wrongKey.publish('payment.succeeded', data, { idempotencyKey: 'order-7' })).rejects.toMatchObject({
      name: 'ConfigError',
      code: 'PAYLOAD_KEY_INVALID',
    });
  });
});

describe('publishSync with security.payloadKey inside a SQLite transaction', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'webhooks-payload-key-sync-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('stores the payload sealed, committed with the host transaction', async () => {
    const storage = createSqliteStorage({ filename: join(directory, 'webhooks.db') });
    const webhooks = createWebhooks({ storage, meter: false, security: { payloadKey: key1 } });
    try {
      await storage.migrate();
      await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
      const data = payment();
      const db = storage.database;
      const published = db.transaction(() => webhooks.publishSync('payment.succeeded', data, { tx: db }))();
      const stored = await storage.getEvent(published.id);
      expect(stored!.payload).toMatch(/^encp:v1:/);
      expect(stored!.payload).not.toContain(data.reference);
      expect(createPayloadCodec(normalizeSecretsKeys(key1)).open(stored!.payload, published.id)).toBe(plainBody(published));
    } finally {
      await webhooks.close();
    }
  });
});

describe('an idempotent match on an expunged event', () => {
  it('returns data null rather than parsing the erased payload', async () => {
    const memory = createMemoryStorage();
    // The storage contract for an expunged event (storage-adapter.ts): payload '' and expungedAt set.
    const storage = new Proxy(memory, {
      get(target, property, receiver) {
        if (property !== 'enqueue') return Reflect.get(target, property, receiver);
        return async (input: Parameters<StorageAdapter['enqueue']>[0]) => {
          const result = await target.enqueue(input);
          return result.created ? result : { ...result, event: { ...result.event, payload: '', expungedAt: input.now } };
        };
      },
    });
    const webhooks = createWebhooks({ storage, meter: false, security: { payloadKey: key1 } });
    try {
      const first = await webhooks.publish('payment.succeeded', payment(), { idempotencyKey: 'order-8' });
      const again = await webhooks.publish('payment.succeeded', payment(), { idempotencyKey: 'order-8' });
      expect(again).toMatchObject({ id: first.id, created: false, data: null });
    } finally {
      await webhooks.close();
    }
  });
});
