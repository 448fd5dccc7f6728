/**
 * The transports against hostile resolvers and oddly framed answers, over real loopback
 * servers: a target name whose lookup never answers (or answers late) behind an egress
 * proxy, the fetch transport's own DNS check (a resolver that hangs, an IPv6 literal that
 * must not be resolved at all), and a `204`/`304` that carries a `Content-Length` but, as
 * RFC 9112 §6.3 frames it, no body.
 */
import { promises as dnsPromises, type lookup as dnsLookup } from 'node:dns';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createFetchTransport, createUndiciTransport, createWebhooks, type Transport, type TransportRequest } from '../../src/index.js';
import { resolveProxyOption } from '../../src/delivery/proxy-options.js';
import { createAddressGuard, privateNetworkGuard } from '../../src/delivery/ssrf-guard.js';
import { closeWithConnections } from '../support/close-with-connections.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track<T extends Transport>(transport: T): T {
  cleanups.push(() => transport.close());
  return transport;
}

/** Listens on `host`, destroys every connection at cleanup. */
async function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  cleanups.push(closeWithConnections(server));
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return (server.address() as AddressInfo).port;
}

/** A node:http receiver answering every request with `answer`, counting them. */
async function receiver(answer: (response: ServerResponse) => void, host = '127.0.0.1'): Promise<{ port: number; requests: () => number }> {
  let requests = 0;
  const server = createHttpServer((request: IncomingMessage, response) => {
    request.resume();
    request.on('end', () => {
      requests += 1;
      answer(response);
    });
  });
  const port = await listen(server, host);
  return { port, requests: () => requests };
}

/** A CONNECT forward proxy that tunnels to 127.0.0.1, logging each CONNECT target. */
async function connectProxy(): Promise<{ url: string; connects: string[] }> {
  const connects: string[] = [];
  const server = createHttpServer((_request, response) => response.writeHead(405).end());
  server.on('connect', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    connects.push(request.url ?? '');
    // Every target name is this machine's, as the proxy's own resolver would say for these tests.
    const port = (request.url ?? '').split(':')[1];
    const upstream = netConnect(Number(port), '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, connects };
}

const TIMEOUT_MS = 300;
// A deadline fires on a timer: room for a busy two-core machine, far less than "never".
const LATE_MS = 700;

function request(url: string, overrides: Partial<TransportRequest> = {}): TransportRequest {
  return {
    url,
    headers: { 'content-type': 'application/json' },
    body: '{"id":"evt_1"}',
    timeoutMs: TIMEOUT_MS,
    maxResponseBytes: 1024,
    guard: createAddressGuard(['127.0.0.1']),
    ...overrides,
  };
}

/** Resolves every name to 127.0.0.1 after `delayMs`; `null`: never answers. */
function lookupAnswering(delayMs: number | null, calls: string[] = []): typeof dnsLookup {
  return ((hostname: string, _options: object, callback: (...args: unknown[]) => void) => {
    calls.push(hostname);
    if (delayMs === null) return;
    const timer = setTimeout(() => callback(null, [{ address: '127.0.0.1', family: 4 }]), delayMs);
    cleanups.push(() => clearTimeout(timer));
  }) as unknown as typeof dnsLookup;
}

describe('the undici transport through an egress proxy, with the SSRF guard on', () => {
  it('ends the attempt as a timeout at timeoutMs when the target name never resolves, and sends nothing to the proxy', async () => {
    const proxy = await connectProxy();
    const target = await receiver((response) => response.writeHead(204).end());
    const transport = track(createUndiciTransport({ lookup: lookupAnswering(null) }));
    const started = performance.now();
    const result = await Promise.race([
      transport.send(request(`http://erp.bookkeeper-customer.test:${target.port}/hooks`, { proxy: resolveProxyOption(proxy.url) })),
      new Promise((resolve) => setTimeout(() => resolve('still pending'), TIMEOUT_MS + LATE_MS + 500)),
    ]);
    const elapsedMs = performance.now() - started;
    expect(result).toMatchObject({ kind: 'error', errorClass: 'timeout' });
    expect(elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 1);
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS + LATE_MS);
    expect(proxy.connects).toEqual([]);
    expect(target.requests()).toBe(0);
  });

  it('counts a slow lookup inside timeoutMs, and never sends the request once its deadline has passed', async () => {
    const proxy = await connectProxy();
    const target = await receiver((response) => response.writeHead(204).end());
    const calls: string[] = [];
    // Answers after the latest the deadline may fire: the request used to go out then, on a fresh deadline.
    const answerAtMs = TIMEOUT_MS + LATE_MS + 200;
    const transport = track(createUndiciTransport({ lookup: lookupAnswering(answerAtMs, calls) }));
    const started = performance.now();
    const result = await transport.send(request(`http://erp.bookkeeper-customer.test:${target.port}/hooks`, { proxy: resolveProxyOption(proxy.url) }));
    const elapsedMs = performance.now() - started;
    expect(result).toMatchObject({ kind: 'error', errorClass: 'timeout' });
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS + LATE_MS);
    expect(calls).toEqual(['erp.bookkeeper-customer.test']);
    // Past the lookup's late answer: still nothing sent.
    await new Promise((resolve) => setTimeout(resolve, answerAtMs - elapsedMs + 200));
    expect(proxy.connects).toEqual([]);
    expect(target.requests()).toBe(0);
  });

  it("classifies a lookup that runs out the deadline as a timeout, not as the proxy's fault, while another request's tunnel is stalled", async () => {
    // A proxy that accepts connections and never answers CONNECT.
    const silent = createNetServer((socket) => socket.on('error', () => undefined));
    const proxyPort = await listen(silent);
    const target = await receiver((response) => response.writeHead(204).end());
    const lookup = ((hostname: string, _options: object, callback: (...args: unknown[]) => void) => {
      // The stalled tunnel's name resolves at once; the other never does.
      if (hostname === 'erp-a.bookkeeper-customer.test') callback(null, [{ address: '127.0.0.1', family: 4 }]);
    }) as unknown as typeof dnsLookup;
    const transport = track(createUndiciTransport({ lookup }));
    const proxy = resolveProxyOption(`http://127.0.0.1:${proxyPort}`);
    // The one that never resolves first, so its deadline passes while the other's tunnel is still
    // being opened (a second later than its own: room for a slow first tunnel on a loaded machine).
    // One guard, proxy and timeout: the two share a route, and so its count of tunnels being opened.
    const shared = { proxy, timeoutMs: 1_000, guard: createAddressGuard(['127.0.0.1']) };
    const resolving = transport.send(request(`http://erp-b.bookkeeper-customer.test:${target.port}/hooks`, shared));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const tunnelled = transport.send(request(`http://erp-a.bookkeeper-customer.test:${target.port}/hooks`, shared));
    await expect(resolving).resolves.toMatchObject({ kind: 'error', errorClass: 'timeout' });
    await expect(tunnelled).resolves.toMatchObject({ kind: 'error', errorClass: 'proxy' });
    expect(target.requests()).toBe(0);
  });

  it('still delivers through the proxy when the lookup answers within timeoutMs', async () => {
    const proxy = await connectProxy();
    const target = await receiver((response) => response.writeHead(204).end());
    const transport = track(createUndiciTransport({ lookup: lookupAnswering(20) }));
    const result = await transport.send(
      request(`http://erp.bookkeeper-customer.test:${target.port}/hooks`, { proxy: resolveProxyOption(proxy.url), timeoutMs: 2_000 }),
    );
    expect(result).toEqual({ kind: 'response', statusCode: 204, retryAfter: null, body: '' });
    expect(proxy.connects).toEqual([`erp.bookkeeper-customer.test:${target.port}`]);
  });
});

describe('a name whose DNS answer mixes a public and a private address', () => {
  for (const order of [
    ['93.184.215.14', '127.0.0.1'],
    ['127.0.0.1', '93.184.215.14'],
  ]) {
    const answer = order.map((address) => ({ address, family: 4 }));
    it(`is refused outright by the undici transport (${order.join(', ')}), never connected to its private address`, async () => {
      const target = await receiver((response) => response.writeHead(204).end());
      const lookup = ((_hostname: string, _options: object, callback: (...args: unknown[]) => void) => callback(null, answer)) as unknown as typeof dnsLookup;
      const transport = track(createUndiciTransport({ lookup }));
      const result = await transport.send(request(`http://erp.bookkeeper-customer.test:${target.port}/hooks`, { guard: privateNetworkGuard, timeoutMs: 2_000 }));
      expect(result).toMatchObject({ kind: 'error', errorClass: 'ssrf' });
      expect(target.requests()).toBe(0);
    });

    it(`is refused outright by the fetch transport (${order.join(', ')}), never connected to its private address`, async () => {
      const target = await receiver((response) => response.writeHead(204).end());
      vi.spyOn(dnsPromises, 'lookup').mockImplementation(() => Promise.resolve(answer as never));
      const transport = track(createFetchTransport());
      const result = await transport.send(request(`http://erp.bookkeeper-customer.test:${target.port}/hooks`, { guard: privateNetworkGuard, timeoutMs: 2_000 }));
      expect(result).toMatchObject({ kind: 'error', errorClass: 'ssrf' });
      expect(target.requests()).toBe(0);
    });
  }
});

describe('the undici transport with a custom lookup that throws after it has answered', () => {
  /** Answers 127.0.0.1 at once, then throws: a resolver with a bug in what it does after answering. */
  const answersThenThrows = ((_hostname: string, _options: object, callback: (...args: unknown[]) => void) => {
    callback(null, [{ address: '127.0.0.1', family: 4 }]);
    throw new Error('resolver bug after answering');
  }) as unknown as typeof dnsLookup;

  for (const [label, viaProxy] of [
    ['direct', false],
    ['through an egress proxy', true],
  ] as const) {
    it(`keeps the answer it was given and delivers, ${label}, without an error escaping from the socket`, async () => {
      // A throw out of net.connect left its socket without an 'error' listener: the socket's
      // next error ended the process (seen by vitest as an unhandled error).
      const target = await receiver((response) => response.writeHead(204).end());
      const proxy = viaProxy ? await connectProxy() : null;
      const transport = track(createUndiciTransport({ lookup: answersThenThrows }));
      const url = `http://erp.bookkeeper-customer.test:${target.port}/hooks`;
      for (let round = 0; round < 2; round += 1) {
        const result = await transport.send(request(url, { timeoutMs: 2_000, ...(proxy ? { proxy: resolveProxyOption(proxy.url) } : {}) }));
        expect(result).toEqual({ kind: 'response', statusCode: 204, retryAfter: null, body: '' });
      }
      expect(target.requests()).toBe(2);
      // Time for a socket orphaned by the throw to fail and emit.
      await new Promise((resolve) => setTimeout(resolve, 100));
    });
  }
});

describe('the fetch transport with the SSRF guard on', () => {
  it("ends the attempt as a timeout at timeoutMs when its DNS check never answers, and sends nothing", async () => {
    const target = await receiver((response) => response.writeHead(204).end());
    const lookup = vi.spyOn(dnsPromises, 'lookup').mockImplementation(() => new Promise(() => undefined));
    const transport = track(createFetchTransport());
    const started = performance.now();
    const result = await Promise.race([
      transport.send(request(`http://erp.bookkeeper-customer.test:${target.port}/hooks`, { guard: privateNetworkGuard })),
      new Promise((resolve) => setTimeout(() => resolve('still pending'), TIMEOUT_MS + LATE_MS + 500)),
    ]);
    const elapsedMs = performance.now() - started;
    expect(result).toMatchObject({ kind: 'error', errorClass: 'timeout' });
    expect(elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 1);
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS + LATE_MS);
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(target.requests()).toBe(0);
  });

  it('delivers to an allowed IPv6 literal without resolving it as a name', async () => {
    const target = await receiver((response) => response.writeHead(204).end(), '::1');
    // As getaddrinfo answers for the bracketed form `[::1]`, which is not a name.
    const lookup = vi.spyOn(dnsPromises, 'lookup').mockImplementation((hostname: string) =>
      Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname })),
    );
    const transport = track(createFetchTransport());
    const result = await transport.send(request(`http://[::1]:${target.port}/hooks`, { guard: createAddressGuard(['::1']), timeoutMs: 2_000 }));
    expect(result).toEqual({ kind: 'response', statusCode: 204, retryAfter: null, body: '' });
    expect(lookup).not.toHaveBeenCalled();
    expect(target.requests()).toBe(1);
  });

  it('still refuses a forbidden IPv6 literal, before connecting', async () => {
    const target = await receiver((response) => response.writeHead(204).end(), '::1');
    const transport = track(createFetchTransport());
    const result = await transport.send(request(`http://[::1]:${target.port}/hooks`, { guard: privateNetworkGuard, timeoutMs: 2_000 }));
    expect(result).toMatchObject({ kind: 'error', errorClass: 'ssrf' });
    expect(target.requests()).toBe(0);
  });
});

/** A node:http receiver that sets a Content-Length on a bodiless status, as a handler that measures its body first would. */
function bodilessWithLength(status: 204 | 304) {
  return (response: ServerResponse) => {
    const body = '{"received":true}';
    // Node sends the header as set and drops the body: the answer ends at its blank line.
    response.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
    response.end(body);
  };
}

for (const [name, make] of [
  ['undici', () => createUndiciTransport()],
  ['fetch (ky)', () => createFetchTransport()],
] as const) {
  describe(`the ${name} transport against a bodiless status with a Content-Length`, () => {
    it('reads a 204 with a Content-Length as the 204 it is, and the next request on the origin works', async () => {
      const target = await receiver(bodilessWithLength(204));
      const transport = track(make());
      const url = `http://127.0.0.1:${target.port}/hooks`;
      await expect(transport.send(request(url, { timeoutMs: 2_000 }))).resolves.toEqual({ kind: 'response', statusCode: 204, retryAfter: null, body: '' });
      await expect(transport.send(request(url, { timeoutMs: 2_000 }))).resolves.toEqual({ kind: 'response', statusCode: 204, retryAfter: null, body: '' });
      expect(target.requests()).toBe(2);
    });

    it('reads a 304 with a Content-Length as a 304 (an http failure), not as a broken connection', async () => {
      const target = await receiver(bodilessWithLength(304));
      const transport = track(make());
      await expect(transport.send(request(`http://127.0.0.1:${target.port}/hooks`, { timeoutMs: 2_000 }))).resolves.toEqual({
        kind: 'response',
        statusCode: 304,
        retryAfter: null,
        body: '',
      });
    });
  });
}

/** A raw loopback server that answers every request with `head` (status line and header lines) and no body. */
async function rawReceiver(head: string): Promise<number> {
  const server = createNetServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.write(`${head}\r\ncontent-length: 0\r\n\r\n`));
  });
  return listen(server);
}

for (const [name, make] of [
  ['undici', () => createUndiciTransport()],
  ['fetch (ky)', () => createFetchTransport()],
] as const) {
  describe(`the ${name} transport against a Retry-After sent twice`, () => {
    it.each([
      ['delay-seconds', '120', '5', '120'],
      ['the same delay twice, as a proxy and the application both add it', '120', '120', '120'],
      ['IMF-fixdates', 'Sun, 06 Nov 2095 08:49:37 GMT', 'Mon, 07 Nov 2095 08:49:37 GMT', 'Sun, 06 Nov 2095 08:49:37 GMT'],
      ['asctime dates', 'Sun Nov  6 08:49:37 2095', 'Mon Nov  7 08:49:37 2095', 'Sun Nov  6 08:49:37 2095'],
    ])('reports the first of two %s', async (_kind, first, second, expected) => {
      const port = await rawReceiver(`HTTP/1.1 429 Too Many Requests\r\nretry-after: ${first}\r\nretry-after: ${second}`);
      const transport = track(make());
      await expect(transport.send(request(`http://127.0.0.1:${port}/hooks`, { timeoutMs: 2_000 }))).resolves.toEqual({
        kind: 'response',
        statusCode: 429,
        retryAfter: expected,
        body: '',
      });
    });

    it('reports a single IMF-fixdate whole, its comma included', async () => {
      const port = await rawReceiver('HTTP/1.1 503 Service Unavailable\r\nretry-after: Sun, 06 Nov 2095 08:49:37 GMT');
      const transport = track(make());
      await expect(transport.send(request(`http://127.0.0.1:${port}/hooks`, { timeoutMs: 2_000 }))).resolves.toMatchObject({
        statusCode: 503,
        retryAfter: 'Sun, 06 Nov 2095 08:49:37 GMT',
      });
    });
  });
}

describe('a webhooks instance on the default transport', () => {
  it('settles a delivery answered 204 with a Content-Length as delivered, in one attempt', async () => {
    const target = await receiver(bodilessWithLength(204));
    const webhooks = createWebhooks({ security: { allowedHosts: ['127.0.0.1'] }, retry: { delaysMs: [] } });
    cleanups.push(() => webhooks.close());
    await webhooks.subscriptions.create({ url: `http://127.0.0.1:${target.port}/hooks`, eventTypes: ['payment.*'] });
    const event = await webhooks.publish('payment.succeeded', {
      paymentId: 'pay_1',
      customerId: 'cus_1',
      amount: { amount: 100, currency: 'EUR' },
      method: 'card' as const,
      occurredAt: '2026-11-26T12:00:00Z',
    });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const { items } = await webhooks.deliveries.list({ eventId: event.id });
    expect(items).toMatchObject([{ status: 'delivered', attempts: 1 }]);
    const attempts = await webhooks.deliveries.attempts(items[0]!.id);
    expect(attempts).toMatchObject([{ statusCode: 204, errorClass: null }]);
    expect(target.requests()).toBe(1);
  });
});
