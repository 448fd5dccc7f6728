import { randomBytes } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStorage, createUndiciTransport, createWebhooks, type Logger, type WebhooksOptions } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const payment = {
  paymentId: 'pay_1',
  customerId: 'cus_1',
  amount: { amount: 100, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00Z',
};
const key1 = randomBytes(32).toString('base64');
const key2 = randomBytes(32).toString('base64');

function capturingLogger(): Logger & { lines: unknown[] } {
  const lines: unknown[] = [];
  const log = (fields: Record<string, unknown>, message: string) => lines.push({ ...fields, message });
  return { lines, debug: log, info: log, warn: log, error: log };
}

function instance(options: WebhooksOptions) {
  const webhooks = createWebhooks(options);
  cleanups.push(() => webhooks.stop());
  return webhooks;
}

async function receiver() {
  const server = await LoopbackReceiver.start();
  cleanups.push(() => server.close());
  return server;
}

describe('secrets at rest', () => {
  it('stores only sealed secrets, opens them to sign, and never shows them in list output, events or logs', async () => {
    const server = await receiver();
    const storage = createMemoryStorage();
    const logger = capturingLogger();
    const webhooks = instance({ storage, logger, security: { allowPrivateNetworks: true, secretsKey: key1 } });
    const seen: unknown[] = [];
    for (const name of ['delivery:succeeded', 'delivery:failed', 'payment.succeeded'] as const) webhooks.bus.on(name, (event: unknown) => seen.push(event));
    const { id, secret } = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });

    const record = await storage.getSubscription(id);
    expect(record!.secrets).toHaveLength(1);
    expect(record!.secrets[0]!.value).toMatch(/^enc:v1:[0-9a-f]{12}:/);
    expect(record!.secrets[0]!.value).not.toContain(secret.slice(6));
    expect(await webhooks.subscriptions.getSecrets(id)).toEqual({ secret, createdAt: record!.createdAt, previous: [] });

    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 5_000 });
    const [request] = server.requests;
    expect(() => verifyWebhook({ body: request!.body, headers: request!.headers as Record<string, string> }, { secrets: secret })).not.toThrow();

    const visible = JSON.stringify([await webhooks.subscriptions.list(), await webhooks.subscriptions.get(id), seen, logger.lines, await webhooks.metrics()]);
    expect(visible).not.toContain(secret);
    expect(visible).not.toContain(secret.slice(6));
    expect(logger.lines).not.toContainEqual(expect.objectContaining({ message: expect.stringContaining('unencrypted') }));
  });

  it('refuses a sealed secret copied onto another subscription', async () => {
    const storage = createMemoryStorage();
    const webhooks = instance({ storage, security: { secretsKey: key1 } });
    const a = await webhooks.subscriptions.create({ url: 'https://a.example.com/hooks', eventTypes: ['*'] });
    const b = await webhooks.subscriptions.create({ url: 'https://b.example.com/hooks', eventTypes: ['*'] });
    const sealedA = (await storage.getSubscription(a.id))!.secrets;
    await storage.updateSubscription(b.id, { secrets: sealedA }, Date.now());
    await expect(webhooks.subscriptions.getSecrets(b.id)).rejects.toMatchObject({ name: 'ConfigError', code: 'SECRET_INVALID' });
  });

  it('rotates keys: the old key still opens, resealSecrets rewrites with the new one, and then the old key is no longer needed', async () => {
    const storage = createMemoryStorage();
    const before = instance({ storage, security: { secretsKey: [{ id: 'k1', key: key1 }] } });
    const { id, secret } = await before.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });

    const during = instance({ storage, security: { secretsKey: [{ id: 'k2', key: key2 }, { id: 'k1', key: key1 }] } });
    expect((await during.subscriptions.getSecrets(id)).secret).toBe(secret);
    expect(await during.subscriptions.resealSecrets()).toEqual({ resealed: 1 });
    expect(await during.subscriptions.resealSecrets()).toEqual({ resealed: 0 });
    expect((await storage.getSubscription(id))!.secrets[0]!.value).toMatch(/^enc:v1:k2:/);

    const after = instance({ storage, security: { secretsKey: [{ id: 'k2', key: key2 }] } });
    expect((await after.subscriptions.getSecrets(id)).secret).toBe(secret);
    const withoutKey = instance({ storage, security: { secretsKey: [{ id: 'k1', key: key1 }] } });
    await expect(withoutKey.subscriptions.getSecrets(id)).rejects.toMatchObject({ code: 'SECRET_INVALID' });
  });

  it('fails the attempt with error class config, sending nothing unsigned, when a secret does not open', async () => {
    const server = await receiver();
    const storage = createMemoryStorage();
    const sealer = instance({ storage, security: { allowPrivateNetworks: true, secretsKey: [{ id: 'k1', key: key1 }] } });
    await sealer.subscriptions.create({ url: server.url, eventTypes: ['*'] });
    const wrongKey = instance({ storage, security: { allowPrivateNetworks: true, secretsKey: [{ id: 'k2', key: key2 }] }, retry: { delaysMs: [] } });
    await wrongKey.start();
    const dead = new Promise((resolve) => wrongKey.bus.once('delivery:dead', resolve));
    await wrongKey.publish('payment.succeeded', payment);
    await expect(dead).resolves.toMatchObject({ errorClass: 'config', statusCode: null });
    expect(server.requests).toHaveLength(0);
  });

  it('warns through the logger at start when secrets are stored unencrypted', async () => {
    const logger = capturingLogger();
    const webhooks = instance({ logger });
    await webhooks.start();
    expect(logger.lines).toContainEqual(expect.objectContaining({ message: expect.stringContaining('secretsKey is not set') }));
  });

  it('refuses a secretsKey that is not 32 bytes of base64', () => {
    expect(() => createWebhooks({ security: { secretsKey: 'c2hvcnQ=' } })).toThrow(expect.objectContaining({ code: 'SECRET_INVALID' }));
  });
});

describe('allow-list for trusted internal endpoints', () => {
  it('accepts an allow-listed internal address at registration and delivers to it with the guard on', async () => {
    const server = await receiver();
    const webhooks = instance({ security: { allowedHosts: ['127.0.0.1/32'] } });
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['*'] });
    await expect(webhooks.subscriptions.create({ url: 'http://10.0.0.5/hooks', eventTypes: ['*'] })).rejects.toMatchObject({
      code: 'SUBSCRIPTION_URL_FORBIDDEN',
    });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(server.requests).toHaveLength(1);
  });

  it('lets an allow-listed name resolve inside while other names that resolve inside are refused at connect time', async () => {
    const server = await receiver();
    const port = new URL(server.url).port;
    const everythingIsLoopback = ((_host: string, options: object, callback: (...args: unknown[]) => void) =>
      dnsLookup('127.0.0.1', options as never, callback as never)) as unknown as typeof dnsLookup;
    const transport = createUndiciTransport({ lookup: everythingIsLoopback });
    cleanups.push(() => transport.close());
    const webhooks = instance({ transport, security: { allowedHosts: ['*.corp.example'] }, retry: { delaysMs: [] } });
    const trusted = await webhooks.subscriptions.create({ url: `http://erp.corp.example:${port}/webhooks`, eventTypes: ['payment.*'] });
    const untrusted = await webhooks.subscriptions.create({ url: `http://erp.elsewhere.example:${port}/webhooks`, eventTypes: ['payment.*'] });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 5_000 });
    const [ok] = (await webhooks.deliveries.list({ subscriptionId: trusted.id })).items;
    const [refused] = (await webhooks.deliveries.list({ subscriptionId: untrusted.id })).items;
    expect(ok).toMatchObject({ status: 'delivered' });
    expect(refused).toMatchObject({ status: 'dead' });
    expect((await webhooks.deliveries.attempts(refused!.id))[0]).toMatchObject({ errorClass: 'ssrf' });
    expect(server.requests).toHaveLength(1);
  });

  // localhost → both loopback addresses (127.0.0.1 first, where the receiver listens); every other name → 127.0.0.1.
  const loopbackLookup = ((hostname: string, _options: object, callback: (error: null, addresses: { address: string; family: number }[]) => void) =>
    callback(
      null,
      hostname === 'localhost'
        ? [
            { address: '127.0.0.1', family: 4 },
            { address: '::1', family: 6 },
          ]
        : [{ address: '127.0.0.1', family: 4 }],
    )) as unknown as typeof dnsLookup;

  it('delivers to a localhost URL with only 127.0.0.1 listed, though localhost resolves to ::1 too', async () => {
    const server = await receiver();
    const transport = createUndiciTransport({ lookup: loopbackLookup });
    cleanups.push(() => transport.close());
    const webhooks = instance({ transport, security: { allowedHosts: ['127.0.0.1'] }, retry: { delaysMs: [] } });
    const local = await webhooks.subscriptions.create({ url: `http://localhost:${new URL(server.url).port}/webhooks`, eventTypes: ['payment.*'] });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect((await webhooks.deliveries.list({ subscriptionId: local.id })).items[0]).toMatchObject({ status: 'delivered' });
    expect(server.requests).toHaveLength(1);
  });

  it('delivers to localhost and 127.0.0.1 with localhost listed, and refuses at connect time another name resolving to 127.0.0.1', async () => {
    const server = await receiver();
    const port = new URL(server.url).port;
    const transport = createUndiciTransport({ lookup: loopbackLookup });
    cleanups.push(() => transport.close());
    const webhooks = instance({ transport, security: { allowedHosts: ['localhost'] }, retry: { delaysMs: [] } });
    const literal = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const local = await webhooks.subscriptions.create({ url: `http://localhost:${port}/webhooks`, eventTypes: ['payment.*'] });
    const rebinding = await webhooks.subscriptions.create({ url: `http://rebind.example:${port}/webhooks`, eventTypes: ['payment.*'] });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 5_000 });
    const statusOf = async (subscriptionId: string) => (await webhooks.deliveries.list({ subscriptionId })).items[0];
    expect(await statusOf(literal.id)).toMatchObject({ status: 'delivered' });
    expect(await statusOf(local.id)).toMatchObject({ status: 'delivered' });
    const refused = await statusOf(rebinding.id);
    expect(refused).toMatchObject({ status: 'dead' });
    expect((await webhooks.deliveries.attempts(refused!.id))[0]).toMatchObject({ errorClass: 'ssrf' });
    expect(server.requests).toHaveLength(2);
  });

  it('refuses a localhost URL by default, naming security.allowedHosts as the narrow fix', async () => {
    const webhooks = instance({});
    const error = await webhooks.subscriptions.create({ url: 'http://localhost:3000/webhooks', eventTypes: ['*'] }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'SUBSCRIPTION_URL_FORBIDDEN', field: 'url' });
    expect((error as Error).message).toContain('add "localhost" to security.allowedHosts');
  });

  it('refuses a malformed allow-list entry at creation', () => {
    expect(() => createWebhooks({ security: { allowedHosts: ['10.0.0.0/33'] } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', field: 'security.allowedHosts.0' }));
  });
});
