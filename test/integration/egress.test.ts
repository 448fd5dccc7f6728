/**
 * Egress over real loopback servers: a receiver that requires a client certificate, an
 * endpoint under a private CA, a CONNECT forward proxy written here (logging each CONNECT),
 * proxies that refuse, and the SSRF guard in front of a proxy.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { lookup as dnsLookup } from 'node:dns';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFetchTransport, createMemoryStorage, createUndiciTransport, createWebhooks, type WebhooksOptions } from '../../src/index.js';
import { resolveProxyOption } from '../../src/delivery/proxy-options.js';
import { closeWithConnections } from '../support/close-with-connections.js';
import { openStorage, storageKinds } from '../support/every-storage.js';
import { createTestCa, unrelatedKey, type TestCa, type TestIdentity } from '../support/test-certificates.js';

const cleanups: Array<() => Promise<void> | void> = [];
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

let ca: TestCa;
let otherCa: TestCa;
let serverIdentity: TestIdentity;
let namedServerIdentity: TestIdentity;
let client: TestIdentity;
let strangerClient: TestIdentity;

beforeAll(() => {
  ca = createTestCa();
  otherCa = createTestCa('Unrelated CA');
  serverIdentity = ca.issue({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
  namedServerIdentity = ca.issue({ commonName: 'receiver.internal', dnsNames: ['receiver.internal'], usage: 'server' });
  client = ca.issue({ commonName: 'bookkeeper-sender', usage: 'client' });
  strangerClient = otherCa.issue({ commonName: 'stranger', usage: 'client' });
});

interface Receiver {
  url: string;
  port: number;
  requests: Array<{ path: string; clientCertificate: string | null }>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function track(server: Server): void {
  cleanups.push(closeWithConnections(server));
}

function answer(receiver: Receiver, request: IncomingMessage, response: import('node:http').ServerResponse): void {
  const socket = request.socket as Socket & { getPeerCertificate?: () => { subject?: { CN?: string } } };
  const peer = socket.getPeerCertificate?.();
  receiver.requests.push({ path: request.url ?? '', clientCertificate: peer?.subject?.CN ?? null });
  request.resume();
  request.on('end', () => response.writeHead(204).end());
}

/** An HTTPS receiver with `identity`; `requireClient`: only clients with a certificate of the test CA. */
async function httpsReceiver(identity: TestIdentity, requireClient: boolean): Promise<Receiver> {
  const receiver: Receiver = { url: '', port: 0, requests: [] };
  const server = createHttpsServer({ key: identity.key, cert: identity.certificate, ca: ca.certificate, requestCert: requireClient, rejectUnauthorized: requireClient }, (request, response) =>
    answer(receiver, request, response),
  );
  track(server);
  receiver.port = await listen(server);
  receiver.url = `https://127.0.0.1:${receiver.port}/hooks`;
  return receiver;
}

async function httpReceiver(): Promise<Receiver> {
  const receiver: Receiver = { url: '', port: 0, requests: [] };
  const server = createHttpServer((request, response) => answer(receiver, request, response));
  track(server);
  receiver.port = await listen(server);
  receiver.url = `http://127.0.0.1:${receiver.port}/hooks`;
  return receiver;
}

type ProxyMode = 'tunnel' | 407 | 502;

/** A CONNECT forward proxy: logs each CONNECT target (and its Proxy-Authorization), then tunnels or refuses. */
async function connectProxy(mode: ProxyMode = 'tunnel'): Promise<{ url: string; port: number; log: Array<{ target: string; authorization: string | null }> }> {
  const log: Array<{ target: string; authorization: string | null }> = [];
  const server = createHttpServer((_request, response) => response.writeHead(405).end());
  server.on('connect', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    log.push({ target: request.url ?? '', authorization: request.headers['proxy-authorization'] ?? null });
    if (mode !== 'tunnel') {
      socket.end(`HTTP/1.1 ${mode} ${mode === 407 ? 'Proxy Authentication Required' : 'Bad Gateway'}\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const [host, port] = (request.url ?? '').split(':');
    const upstream = netConnect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  track(server);
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, port, log };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createHttpServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function instance(options: WebhooksOptions) {
  const webhooks = createWebhooks({ storage: createMemoryStorage(), ...options });
  cleanups.push(() => webhooks.stop());
  return webhooks;
}

async function deliverOnce(webhooks: ReturnType<typeof instance>) {
  await webhooks.start();
  const event = await webhooks.publish('payment.succeeded', payment);
  await webhooks.drain({ timeoutMs: 10_000 });
  const { items } = await webhooks.deliveries.list({});
  const delivery = items.find((item) => item.eventId === event.id)!;
  return { delivery, attempts: await webhooks.deliveries.attempts(delivery.id) };
}

const open = { allowPrivateNetworks: true } as const;

describe('mutual TLS', () => {
  it('presents the client certificate to a receiver that requires one, through the private CA', async () => {
    const receiver = await httpsReceiver(serverIdentity, true);
    const webhooks = instance({ security: open, retry: { delaysMs: [] } });
    await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate } });
    const { delivery } = await deliverOnce(webhooks);
    expect(delivery.status).toBe('delivered');
    expect(receiver.requests).toEqual([{ path: '/hooks', clientCertificate: 'bookkeeper-sender' }]);
  });

  it('reaches no private-CA receiver once its tls is removed: our own verification fails first, error class tls', async () => {
    const receiver = await httpsReceiver(serverIdentity, true);
    const webhooks = instance({ security: open, retry: { delaysMs: [] } });
    // Trusts the private CA (so the server's certificate is fine) but presents nothing.
    const { id } = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    await webhooks.subscriptions.update(id, { tls: { clientCertificate: strangerClient.certificate, clientKey: strangerClient.key, ca: ca.certificate } });
    await webhooks.subscriptions.update(id, { tls: null });
    const { delivery, attempts } = await deliverOnce(webhooks);
    expect(delivery.status).toBe('dead');
    // Without `tls` there is no `ca` either: the receiver's certificate is refused before it can ask for ours.
    expect(attempts[0]).toMatchObject({ errorClass: 'tls', statusCode: null });
    expect(receiver.requests).toEqual([]);
  });

  it('is refused by the receiver with a certificate of another CA: error class as it comes out, no request reaches it', async () => {
    const receiver = await httpsReceiver(serverIdentity, true);
    const webhooks = instance({ security: open, retry: { delaysMs: [] } });
    await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { clientCertificate: strangerClient.certificate, clientKey: strangerClient.key, ca: ca.certificate } });
    const { delivery, attempts } = await deliverOnce(webhooks);
    expect(delivery.status).toBe('dead');
    // TLS 1.3: the client's handshake completes before the server checks the certificate; its
    // refusal (an alert, then the close) comes on the first read, as a socket error.
    expect(attempts[0]!.errorClass).toBe('network');
    expect(attempts[0]!.statusCode).toBeNull();
    expect(receiver.requests).toEqual([]);
  });
});

describe('private CA and server name', () => {
  it('trusts an endpoint under a private CA with `ca`, and fails it with class tls without', async () => {
    const receiver = await httpsReceiver(serverIdentity, false);
    const webhooks = instance({ security: open, retry: { delaysMs: [] } });
    const withCa = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate } });
    const without = await webhooks.subscriptions.create({ url: `${receiver.url}?plain`, eventTypes: ['payment.*'] });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 10_000 });
    const good = (await webhooks.deliveries.list({ subscriptionId: withCa.id })).items[0]!;
    const bad = (await webhooks.deliveries.list({ subscriptionId: without.id })).items[0]!;
    expect(good.status).toBe('delivered');
    expect(bad.status).toBe('dead');
    const failed = (await webhooks.deliveries.attempts(bad.id))[0];
    expect(failed).toMatchObject({ errorClass: 'tls' });
    expect(receiver.requests.map((request) => request.path)).toEqual(['/hooks']);
  });

  it('verifies the certificate against `serverName` instead of the URL host', async () => {
    const receiver = await httpsReceiver(namedServerIdentity, false);
    const webhooks = instance({ security: open, retry: { delaysMs: [] } });
    const tls = { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate };
    const named = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { ...tls, serverName: 'receiver.internal' } });
    const unnamed = await webhooks.subscriptions.create({ url: `${receiver.url}?unnamed`, eventTypes: ['payment.*'], tls });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect((await webhooks.deliveries.list({ subscriptionId: named.id })).items[0]!.status).toBe('delivered');
    const bad = (await webhooks.deliveries.list({ subscriptionId: unnamed.id })).items[0]!;
    expect((await webhooks.deliveries.attempts(bad.id))[0]).toMatchObject({ errorClass: 'tls' });
  });

  it('reaches a private-CA endpoint that asks for no client certificate with `tls: { ca }` alone, and fails it with class tls without', async () => {
    const receiver = await httpsReceiver(serverIdentity, false);
    const webhooks = instance({ security: open, retry: { delaysMs: [] } });
    const withCa = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { ca: ca.certificate } });
    const without = await webhooks.subscriptions.create({ url: `${receiver.url}?plain`, eventTypes: ['payment.*'] });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect((await webhooks.deliveries.list({ subscriptionId: withCa.id })).items[0]!.status).toBe('delivered');
    const bad = (await webhooks.deliveries.list({ subscriptionId: without.id })).items[0]!;
    expect(bad.status).toBe('dead');
    expect((await webhooks.deliveries.attempts(bad.id))[0]).toMatchObject({ errorClass: 'tls', statusCode: null });
    // No client certificate was presented: the receiver saw none.
    expect(receiver.requests).toEqual([{ path: '/hooks', clientCertificate: null }]);
  });

  it('verifies against `serverName` with `tls: { serverName, ca }` alone, and fails with class tls on the URL host', async () => {
    const receiver = await httpsReceiver(namedServerIdentity, false);
    const webhooks = instance({ security: open, retry: { delaysMs: [] } });
    const named = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { serverName: 'receiver.internal', ca: ca.certificate } });
    const unnamed = await webhooks.subscriptions.create({ url: `${receiver.url}?unnamed`, eventTypes: ['payment.*'], tls: { ca: ca.certificate } });
    expect(named.tls).toEqual({
      clientCertificate: null,
      subject: null,
      issuer: null,
      validFrom: null,
      validTo: null,
      fingerprint256: null,
      hasClientKey: false,
      ca: ca.certificate.trim(),
      serverName: 'receiver.internal',
    });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect((await webhooks.deliveries.list({ subscriptionId: named.id })).items[0]!.status).toBe('delivered');
    const bad = (await webhooks.deliveries.list({ subscriptionId: unnamed.id })).items[0]!;
    expect((await webhooks.deliveries.attempts(bad.id))[0]).toMatchObject({ errorClass: 'tls' });
    expect(receiver.requests).toEqual([{ path: '/hooks', clientCertificate: null }]);
  });

  it('keeps a CA-only identity off the pool of a client certificate to the same origin: it is refused by an mTLS receiver', async () => {
    const receiver = await httpsReceiver(serverIdentity, true);
    const webhooks = instance({ security: open, retry: { delaysMs: [] } });
    await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate } });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 10_000 });
    // The mTLS connection is now idle in its pool; a CA-only subscription must not be handed it.
    const caOnly = await webhooks.subscriptions.create({ url: `${receiver.url}?ca-only`, eventTypes: ['payment.*'], tls: { ca: ca.certificate } });
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect((await webhooks.deliveries.list({ subscriptionId: caOnly.id })).items[0]!.status).toBe('dead');
    expect(receiver.requests).toEqual([
      { path: '/hooks', clientCertificate: 'bookkeeper-sender' },
      { path: '/hooks', clientCertificate: 'bookkeeper-sender' },
    ]);
  });

  it('sends test requests with the subscription TLS identity', async () => {
    const receiver = await httpsReceiver(serverIdentity, true);
    const webhooks = instance({ security: open });
    const { id } = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate } });
    expect(await webhooks.subscriptions.sendTest(id)).toMatchObject({ ok: true, statusCode: 204 });
    expect(receiver.requests).toEqual([{ path: '/hooks', clientCertificate: 'bookkeeper-sender' }]);
  });
});

describe('forward proxy', () => {
  it('carries every delivery, to HTTP and HTTPS targets, each through a logged CONNECT with the proxy credentials', async () => {
    const proxy = await connectProxy();
    const plain = await httpReceiver();
    const secure = await httpsReceiver(serverIdentity, true);
    const webhooks = instance({ security: open, retry: { delaysMs: [] }, http: { proxy: `http://egress:s3cret@127.0.0.1:${proxy.port}` } });
    await webhooks.subscriptions.create({ url: plain.url, eventTypes: ['payment.*'] });
    await webhooks.subscriptions.create({ url: secure.url, eventTypes: ['payment.*'], tls: { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate } });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 10_000 });
    const { items } = await webhooks.deliveries.list({});
    expect(items.map((item) => item.status)).toEqual(['delivered', 'delivered']);
    const auth = `Basic ${Buffer.from('egress:s3cret').toString('base64')}`;
    expect(proxy.log.map((entry) => entry.target).sort()).toEqual([`127.0.0.1:${plain.port}`, `127.0.0.1:${secure.port}`].sort());
    expect(proxy.log.every((entry) => entry.authorization === auth)).toBe(true);
    expect(plain.requests).toHaveLength(1);
    expect(secure.requests).toEqual([{ path: '/hooks', clientCertificate: 'bookkeeper-sender' }]);
  });

  it('goes direct for targets matched by noProxy', async () => {
    const proxy = await connectProxy();
    const receiver = await httpReceiver();
    const webhooks = instance({ security: open, http: { proxy: { url: proxy.url, noProxy: [`127.0.0.1:${receiver.port}`] } } });
    const { delivery } = await deliverOnce(await withSubscription(webhooks, receiver.url));
    expect(delivery.status).toBe('delivered');
    expect(proxy.log).toEqual([]);
    expect(receiver.requests).toHaveLength(1);
  });

  it("reads HTTP_PROXY and NO_PROXY with 'env', once", async () => {
    const proxy = await connectProxy();
    const receiver = await httpReceiver();
    expect(resolveProxyOption('env', { HTTP_PROXY: proxy.url, NO_PROXY: 'erp.example.com, .internal' })).toEqual({ http: proxy.url, https: proxy.url, noProxy: ['erp.example.com', '.internal'] });
    expect(resolveProxyOption('env', { https_proxy: 'http://a:1', HTTPS_PROXY: 'http://b:2' })).toEqual({ http: null, https: 'http://a:1', noProxy: [] });
    expect(resolveProxyOption('env', {})).toBeNull();
    const saved = process.env.HTTP_PROXY;
    process.env.HTTP_PROXY = proxy.url;
    cleanups.push(() => {
      if (saved === undefined) delete process.env.HTTP_PROXY;
      else process.env.HTTP_PROXY = saved;
    });
    const webhooks = instance({ security: open, http: { proxy: 'env' } });
    const { delivery } = await deliverOnce(await withSubscription(webhooks, receiver.url));
    expect(delivery.status).toBe('delivered');
    expect(proxy.log.map((entry) => entry.target)).toEqual([`127.0.0.1:${receiver.port}`]);
  });

  it.each([
    ['answers 407', 407 as const],
    ['answers 502', 502 as const],
    ['is not listening', 'closed' as const],
  ])('classifies a proxy that %s as proxy, retries it, and neither trips the breaker nor auto-disables the endpoint', async (_name, mode) => {
    const receiver = await httpReceiver();
    const proxyUrl = mode === 'closed' ? `http://user:hunter2@127.0.0.1:${await closedPort()}` : (await connectProxy(mode)).url.replace('http://', 'http://user:hunter2@');
    const webhooks = instance({
      security: open,
      retry: { delaysMs: [0, 0, 0] },
      circuitBreaker: { failureThreshold: 1, cooldownMs: 3_600_000 },
      autoDisableAfterMs: 1,
      http: { proxy: proxyUrl },
    });
    const { id } = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    const { delivery, attempts } = await deliverOnce(webhooks);
    expect(delivery.status).toBe('dead');
    expect(attempts.map((attempt) => attempt.errorClass)).toEqual(['proxy', 'proxy', 'proxy', 'proxy']);
    for (const attempt of attempts) expect(attempt.errorMessage).not.toContain('hunter2');
    expect(await webhooks.subscriptions.get(id)).toMatchObject({ status: 'active', failingSince: null });
    expect((await webhooks.metrics({ subscriptionId: id })).circuit).toMatchObject({ state: 'closed' });
    expect(receiver.requests).toEqual([]);
  });

  it('refuses, before anything is sent, a target name that resolves to a private address', async () => {
    const proxy = await connectProxy();
    const receiver = await httpReceiver();
    const lookup = ((hostname: string, options: unknown, callback: (error: Error | null, address: unknown, family?: number) => void) => {
      if (hostname === 'erp.internal.example') callback(null, [{ address: '10.0.0.5', family: 4 }]);
      else callback(null, [{ address: '127.0.0.1', family: 4 }]);
    }) as unknown as typeof dnsLookup;
    const webhooks = instance({
      transport: createUndiciTransport({ lookup }),
      security: { allowedHosts: ['127.0.0.1'] },
      retry: { delaysMs: [] },
      http: { proxy: proxy.url },
    });
    await webhooks.subscriptions.create({ url: `http://erp.internal.example:${receiver.port}/hooks`, eventTypes: ['payment.*'] });
    const { delivery, attempts } = await deliverOnce(webhooks);
    expect(delivery.status).toBe('dead');
    expect(attempts[0]).toMatchObject({ errorClass: 'ssrf', statusCode: null });
    expect(proxy.log).toEqual([]);
    // An allowed target still goes through the proxy.
    const allowed = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', payment);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect((await webhooks.deliveries.list({ subscriptionId: allowed.id })).items[0]!.status).toBe('delivered');
    expect(proxy.log.map((entry) => entry.target)).toEqual([`127.0.0.1:${receiver.port}`]);
  });
});

async function withSubscription(webhooks: ReturnType<typeof instance>, url: string) {
  await webhooks.subscriptions.create({ url, eventTypes: ['payment.*'] });
  return webhooks;
}

describe('refusals', () => {
  it.each([
    ['a URL that does not parse', 'not a url', 'CONFIG_INVALID'],
    ['a socks proxy', 'socks5://127.0.0.1:1080', 'CONFIG_INVALID'],
    ['a path', 'http://proxy:3128/path', 'CONFIG_INVALID'],
    ['an object with an unknown key', { url: 'http://proxy:3128', bypass: [] }, 'CONFIG_INVALID'],
    ['a bad noProxy entry', { url: 'http://proxy:3128', noProxy: ['bad host name'] }, 'CONFIG_INVALID'],
    ['a number', 3128, 'CONFIG_INVALID'],
  ])('refuses http.proxy as %s', (_name, proxy, code) => {
    expect(() => createWebhooks({ http: { proxy: proxy as never } })).toThrow(expect.objectContaining({ code, field: expect.stringMatching(/^http\.proxy/) }));
  });

  it('never shows the proxy password in a refusal', () => {
    let message = '';
    try {
      createWebhooks({ http: { proxy: 'ftp://user:hunter2@proxy:21' } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('ftp:');
    expect(message).not.toContain('hunter2');
  });

  it('refuses http.proxy and tls on the fetch transport (TRANSPORT_UNSUPPORTED) rather than ignore them', async () => {
    expect(() => createWebhooks({ transport: createFetchTransport(), http: { proxy: 'http://proxy:3128' } })).toThrow(expect.objectContaining({ code: 'TRANSPORT_UNSUPPORTED' }));
    const webhooks = instance({ transport: createFetchTransport(), security: open });
    await expect(webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], tls: { clientCertificate: client.certificate, clientKey: client.key } })).rejects.toMatchObject({
      code: 'TRANSPORT_UNSUPPORTED',
    });
  });

  it.each([
    ['a certificate that is no PEM', () => ({ clientCertificate: 'hello', clientKey: client.key }), 'TLS_CERTIFICATE_INVALID', 'tls.clientCertificate'],
    ['a corrupted certificate', () => ({ clientCertificate: client.certificate.replace(/\n[A-Za-z0-9+/]{10}/, '\nAAAAAAAAAA'), clientKey: client.key }), 'TLS_CERTIFICATE_INVALID', 'tls.clientCertificate'],
    ['an expired certificate', () => ({ ...expired(), }), 'TLS_CERTIFICATE_INVALID', 'tls.clientCertificate'],
    ['a key that is no PEM', () => ({ clientCertificate: client.certificate, clientKey: 'not a key' }), 'TLS_KEY_INVALID', 'tls.clientKey'],
    ["another certificate's key", () => ({ clientCertificate: client.certificate, clientKey: strangerClient.key }), 'TLS_KEY_MISMATCH', 'tls.clientKey'],
    ['an unrelated EC key', () => ({ clientCertificate: client.certificate, clientKey: unrelatedKey() }), 'TLS_KEY_MISMATCH', 'tls.clientKey'],
    ['a CA that is no PEM', () => ({ clientCertificate: client.certificate, clientKey: client.key, ca: 'nope' }), 'TLS_CERTIFICATE_INVALID', 'tls.ca'],
    ['a server name that is an IP', () => ({ clientCertificate: client.certificate, clientKey: client.key, serverName: '10.0.0.1' }), 'INPUT_INVALID', 'tls.serverName'],
    ['an unknown key', () => ({ clientCertificate: client.certificate, clientKey: client.key, passphrase: 'x' }), 'INPUT_INVALID', 'tls.passphrase'],
    ['a certificate without its key', () => ({ clientCertificate: client.certificate, ca: ca.certificate }), 'TLS_KEY_INVALID', 'tls.clientKey'],
    ['a certificate with a null key', () => ({ clientCertificate: client.certificate, clientKey: null }), 'TLS_KEY_INVALID', 'tls.clientKey'],
    ['a key without its certificate', () => ({ clientKey: client.key, ca: ca.certificate }), 'TLS_CERTIFICATE_INVALID', 'tls.clientCertificate'],
    ['no field at all ({})', () => ({}), 'INPUT_INVALID', 'tls'],
    ['every field null', () => ({ clientCertificate: null, clientKey: null, ca: null, serverName: null }), 'INPUT_INVALID', 'tls'],
  ])('refuses tls with %s, naming the field, and stores nothing', async (_name, make, code, field) => {
    const storage = createMemoryStorage();
    const webhooks = instance({ storage, security: open });
    const refusal = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], tls: make() as never }).catch((error: unknown) => error);
    expect(refusal).toMatchObject({ code, field });
    expect(String((refusal as Error).message)).not.toContain('PRIVATE KEY-----\n');
    expect((await storage.listSubscriptions({ limit: 10 })).items).toEqual([]);
  });

  it('refuses tls on an http: URL, at create and when an update moves the URL to http:', async () => {
    const webhooks = instance({ security: open });
    const tls = { clientCertificate: client.certificate, clientKey: client.key };
    await expect(webhooks.subscriptions.create({ url: 'http://erp.example.com/hooks', eventTypes: ['*'], tls })).rejects.toMatchObject({ code: 'INPUT_INVALID', field: 'tls' });
    const { id } = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], tls });
    await expect(webhooks.subscriptions.update(id, { url: 'http://erp.example.com/hooks' })).rejects.toMatchObject({ code: 'INPUT_INVALID', field: 'tls' });
  });
});

function expired() {
  const old = ca.issue({ commonName: 'old', usage: 'client', notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
  return { clientCertificate: old.certificate, clientKey: old.key };
}

describe('the key at rest and in reads', () => {
  it('seals the key, never returns it, redacts it in the change log, and reseals it on key rotation', async () => {
    const storage = createMemoryStorage();
    const key1 = randomBytes(32).toString('base64');
    const key2 = randomBytes(32).toString('base64');
    const first = instance({ storage, security: { ...open, secretsKey: [{ id: 'old', key: key1 }] } });
    const created = await first.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], tls: { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate, serverName: 'ERP.internal' } });
    const stored = (await storage.getSubscription(created.id))!.tls!;
    expect(stored.clientKey).toMatch(/^enc:v1:/);
    expect(stored.clientKey).not.toContain('PRIVATE KEY');
    expect(created.tls).toMatchObject({ clientCertificate: client.certificate.trim(), hasClientKey: true, ca: ca.certificate.trim(), serverName: 'erp.internal', subject: 'CN=bookkeeper-sender' });
    expect(created.tls!.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const reads = JSON.stringify([created, await first.subscriptions.get(created.id), await first.subscriptions.list(), await first.subscriptions.history(created.id)]);
    expect(reads).not.toContain('PRIVATE KEY');
    expect(reads).not.toContain(stored.clientKey);
    const [change] = (await first.subscriptions.history(created.id)).items;
    expect(change!.changes.tls).toEqual({ before: null, after: { clientCertificate: created.tls!.fingerprint256, clientKey: '[redacted]', ca: [expect.stringMatching(/^[0-9A-F:]+$/)], serverName: 'erp.internal' } });

    const rotated = instance({ storage, security: { ...open, secretsKey: [{ id: 'new', key: key2 }, { id: 'old', key: key1 }] } });
    expect(await rotated.subscriptions.resealSecrets()).toEqual({ resealed: 1 });
    expect((await storage.getSubscription(created.id))!.tls!.clientKey).toMatch(/^enc:v1:new:/);

    await rotated.subscriptions.update(created.id, { tls: null });
    expect((await rotated.subscriptions.get(created.id))!.tls).toBeNull();
  });
  it('stores a CA-only tls without a key, reads it with hasClientKey false, logs no key, and leaves it alone on reseal', async () => {
    const storage = createMemoryStorage();
    const key1 = randomBytes(32).toString('base64');
    const first = instance({ storage, security: { ...open, secretsKey: [{ id: 'old', key: key1 }] } });
    const created = await first.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], tls: { ca: ca.certificate } });
    const stored = (await storage.getSubscription(created.id))!.tls;
    expect(stored).toEqual({ clientCertificate: null, clientKey: null, ca: ca.certificate.trim(), serverName: null });
    expect(created.tls).toMatchObject({ clientCertificate: null, fingerprint256: null, hasClientKey: false, ca: ca.certificate.trim() });
    const [change] = (await first.subscriptions.history(created.id)).items;
    expect(change!.changes.tls).toEqual({ before: null, after: { clientCertificate: null, clientKey: null, ca: [expect.stringMatching(/^[0-9A-F:]+$/)], serverName: null } });
    // Adding a client certificate later is a change of the key too.
    const updated = await first.subscriptions.update(created.id, { tls: { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate } });
    expect(updated.tls).toMatchObject({ hasClientKey: true, subject: 'CN=bookkeeper-sender' });
    const [, added] = (await first.subscriptions.history(created.id)).items;
    expect(added!.changes.tls!.after).toMatchObject({ clientCertificate: updated.tls!.fingerprint256, clientKey: '[redacted]' });
    await first.subscriptions.update(created.id, { tls: { ca: ca.certificate } });
    const rotated = instance({ storage, security: { ...open, secretsKey: [{ id: 'new', key: randomBytes(32).toString('base64') }, { id: 'old', key: key1 }] } });
    // Its signing secret is resealed; its tls, without a key, is left as it was.
    expect(await rotated.subscriptions.resealSecrets()).toEqual({ resealed: 1 });
    expect((await storage.getSubscription(created.id))!.tls).toEqual(stored);
  });
});

describe.each(storageKinds)('the TLS identity on %s', (kind) => {
  it('is stored with its key sealed (the stored text is not the PEM), read back without it, and delivers mTLS', async () => {
    const opened = await openStorage[kind]('egress-tls');
    cleanups.push(() => opened.cleanup());
    await opened.storage.migrate();
    const receiver = await httpsReceiver(serverIdentity, true);
    const webhooks = instance({ storage: opened.storage, security: { ...open, secretsKey: randomBytes(32).toString('base64') }, retry: { delaysMs: [] } });
    const { id } = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate } });
    const stored = await opened.storage.getSubscription(id);
    expect(stored!.tls!.clientKey).toMatch(/^enc:v1:/);
    expect(JSON.stringify(stored)).not.toContain(client.key.trim().split('\n')[1]!);
    expect(JSON.stringify(await webhooks.subscriptions.get(id))).not.toContain('PRIVATE KEY');
    const { delivery } = await deliverOnce(webhooks);
    expect(delivery.status).toBe('delivered');
    expect(receiver.requests).toEqual([{ path: '/hooks', clientCertificate: 'bookkeeper-sender' }]);
  });

  it('stores a CA-only tls with no key (null, not sealed) and delivers through the private CA without a client certificate', async () => {
    const opened = await openStorage[kind]('egress-ca-only');
    cleanups.push(() => opened.cleanup());
    await opened.storage.migrate();
    const receiver = await httpsReceiver(namedServerIdentity, false);
    const webhooks = instance({ storage: opened.storage, security: { ...open, secretsKey: randomBytes(32).toString('base64') }, retry: { delaysMs: [] } });
    const { id } = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { ca: ca.certificate, serverName: 'receiver.internal' } });
    expect((await opened.storage.getSubscription(id))!.tls).toEqual({ clientCertificate: null, clientKey: null, ca: ca.certificate.trim(), serverName: 'receiver.internal' });
    expect((await webhooks.subscriptions.get(id))!.tls).toMatchObject({ hasClientKey: false, clientCertificate: null, serverName: 'receiver.internal' });
    const { delivery } = await deliverOnce(webhooks);
    expect(delivery.status).toBe('delivered');
    expect(receiver.requests).toEqual([{ path: '/hooks', clientCertificate: null }]);
  });
});

type HostileMode = 'close-after-200' | '1xx-flood' | 'tunnel-1xx-flood' | 'silent';

/**
 * A raw TCP proxy that reads a CONNECT and misbehaves: 200 then close; 1xx interim answers
 * forever, to the CONNECT or (after a 200) inside the tunnel, to the request; or no answer.
 */
async function hostileProxy(mode: HostileMode): Promise<{ url: string; connects: number }> {
  const state = { url: '', connects: 0 };
  const server = createNetServer((socket) => {
    socket.on('error', () => undefined);
    let head = '';
    let flooding = false;
    socket.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) {
        // Inside the tunnel: the request arrived; it gets interim answers only.
        if (mode === 'tunnel-1xx-flood' && !flooding) {
          flooding = true;
          flood(socket);
        }
        return;
      }
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      state.connects += 1;
      if (mode === 'close-after-200') {
        socket.end('HTTP/1.1 200 Connection Established\r\n\r\n');
      } else if (mode === '1xx-flood') {
        flood(socket);
      } else if (mode === 'tunnel-1xx-flood') {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      }
      // 'silent': holds the connection open and says nothing.
    });
  });
  track(server);
  state.url = `http://127.0.0.1:${await listen(server)}`;
  return state;
}

function flood(socket: Socket): void {
  const timer = setInterval(() => socket.write('HTTP/1.1 102 Processing\r\n\r\n'), 5);
  socket.on('close', () => clearInterval(timer));
}

describe('a hostile proxy', () => {
  const timeoutMs = 400;

  it.each([
    ['answers CONNECT 200 then closes the tunnel, to an http: target', 'close-after-200' as const, false, 'network'],
    ['answers CONNECT 200 then closes the tunnel, to an https: target', 'close-after-200' as const, true, 'network'],
    ['answers CONNECT with 1xx forever', '1xx-flood' as const, false, 'proxy'],
    ['answers CONNECT with 1xx forever, to an https: target', '1xx-flood' as const, true, 'proxy'],
    ['answers CONNECT 200, then the request with 1xx forever', 'tunnel-1xx-flood' as const, false, 'timeout'],
    ['never answers CONNECT', 'silent' as const, false, 'proxy'],
    ['never answers CONNECT, to an https: target', 'silent' as const, true, 'proxy'],
  ])('ends an attempt through a proxy that %s within http.timeoutMs, classified', async (_name, mode, secure, errorClass) => {
    const proxy = await hostileProxy(mode);
    const receiver = secure ? await httpsReceiver(serverIdentity, false) : await httpReceiver();
    const webhooks = instance({ security: open, retry: { delaysMs: [] }, http: { proxy: proxy.url, timeoutMs } });
    await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], ...(secure ? { tls: { ca: ca.certificate } } : {}) });
    const started = performance.now();
    const { delivery, attempts } = await deliverOnce(webhooks);
    const elapsedMs = performance.now() - started;
    expect(delivery.status).toBe('dead');
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ errorClass, statusCode: null });
    expect(proxy.connects).toBe(1);
    expect(attempts[0]!.durationMs).toBeLessThan(timeoutMs + 250);
    // The whole publish → dead, with one attempt: bounded by the timeout, not by a hang.
    expect(elapsedMs).toBeLessThan(timeoutMs + 2_000);
    expect(receiver.requests).toEqual([]);
  });
});
