import { spawn } from 'node:child_process';
import { lookup as dnsLookup } from 'node:dns';
import { once } from 'node:events';
import { getDefaultAutoSelectFamily, setDefaultAutoSelectFamily } from 'node:net';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { createFetchTransport, createUndiciTransport, createWebhooks, type Transport } from '../../src/index.js';
import { createAddressGuard, privateNetworkGuard } from '../../src/delivery/ssrf-guard.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(...args: Parameters<typeof LoopbackReceiver.start>) {
  const server = await LoopbackReceiver.start(...args);
  cleanups.push(() => server.close());
  return server;
}

function track<T extends Transport>(transport: T): T {
  cleanups.push(() => transport.close());
  return transport;
}

/** A resolver that says every name is 127.0.0.1: a DNS-rebinding attacker's, or an internal name. */
const rebindingLookup = ((hostname: string, options: object, callback: (...args: unknown[]) => void) =>
  dnsLookup('127.0.0.1', options as never, callback as never)) as unknown as typeof dnsLookup;

/**
 * Collects garbage every few milliseconds until the test ends. A deadline kept only through
 * a weakly held composite AbortSignal (what ky gives fetch) is lost after a collection: this
 * is how a long test run, or a busy host, saw a trickling receiver outlive the timeout.
 */
function collectGarbageOften(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const timer = setInterval(gc, 20);
  cleanups.push(async () => clearInterval(timer));
}

const base = { headers: { 'content-type': 'application/json' }, body: '{"id":"evt_1"}', timeoutMs: 2_000, maxResponseBytes: 8, guard: null };

for (const [name, make] of [
  ['undici', () => createUndiciTransport()],
  ['fetch (ky)', () => createFetchTransport()],
] as const) {
  describe(`${name} transport over loopback HTTP`, () => {
    it('posts the exact body and headers and reads a capped response body', async () => {
      const server = await receiver(() => ({ status: 201, body: 'accepted-and-more' }));
      const transport = track(make());
      const result = await transport.send({ ...base, url: server.url + '?tenant=7', headers: { ...base.headers, 'x-tenant': 'acme' } });
      expect(result).toEqual({ kind: 'response', statusCode: 201, retryAfter: null, body: 'accepted' });
      expect(server.requests[0]).toMatchObject({ method: 'POST', url: '/webhooks?tenant=7' });
      expect(server.requests[0]!.body.toString()).toBe('{"id":"evt_1"}');
      expect(server.requests[0]!.headers['x-tenant']).toBe('acme');
    });

    it('does not follow a redirect', async () => {
      const target = await receiver();
      const server = await receiver(() => ({ status: 307, headers: { location: target.url } }));
      const transport = track(make());
      await expect(transport.send({ ...base, url: server.url })).resolves.toMatchObject({ kind: 'response', statusCode: 307 });
      expect(target.requests).toHaveLength(0);
    });

    it('gives up on a receiver that never answers after the timeout', async () => {
      const server = await receiver(() => 'hang');
      const transport = track(make());
      const started = performance.now();
      await expect(transport.send({ ...base, url: server.url, timeoutMs: 150 })).resolves.toMatchObject({ kind: 'error', errorClass: 'timeout' });
      // Bounded by the timeout, not by the receiver: generous slack for a loaded machine.
      expect(performance.now() - started).toBeLessThan(5_000);
    });

    it('reports a connection reset mid-request as a network error', async () => {
      const server = await receiver(() => 'reset');
      const transport = track(make());
      await expect(transport.send({ ...base, url: server.url })).resolves.toMatchObject({ kind: 'error', errorClass: 'network' });
    });

    it('reports the status and Retry-After of a 429, and sends the body bytes when given', async () => {
      const server = await receiver(() => ({ status: 429, headers: { 'retry-after': '120' }, body: 'slow down' }));
      const transport = track(make());
      const bytes = Buffer.from('{"id":"evt_2","note":"é"}');
      const result = await transport.send({ ...base, url: server.url, body: bytes.toString('utf8'), bodyBytes: bytes });
      expect(result).toEqual({ kind: 'response', statusCode: 429, retryAfter: '120', body: 'slow dow' });
      expect(server.requests[0]!.body.equals(bytes)).toBe(true);
    });

    it('reads the final response after a 103 Early Hints', async () => {
      const server = await receiver((_request, _index, res) => {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        res.writeHead(202, { 'retry-after': '5' });
        res.end('ok');
      });
      const transport = track(make());
      await expect(transport.send({ ...base, url: server.url })).resolves.toEqual({ kind: 'response', statusCode: 202, retryAfter: '5', body: 'ok' });
    });

    it('stops reading a body past the cap and posts the next request on a working connection', async () => {
      const server = await receiver(() => ({ status: 200, body: 'x'.repeat(1024 * 1024) }));
      const transport = track(make());
      await expect(transport.send({ ...base, url: server.url })).resolves.toEqual({ kind: 'response', statusCode: 200, retryAfter: null, body: 'xxxxxxxx' });
      server.responder = () => ({ status: 200, body: 'second' });
      await expect(transport.send({ ...base, url: server.url })).resolves.toEqual({ kind: 'response', statusCode: 200, retryAfter: null, body: 'second' });
      expect(server.requests).toHaveLength(2);
    });

    it('ends a body that trickles in under the inactivity timeout at the deadline', async () => {
      const timers: NodeJS.Timeout[] = [];
      cleanups.push(async () => timers.forEach((timer) => clearInterval(timer)));
      const server = await receiver((_request, _index, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        // A byte every 40 ms: never silent for the 300 ms timeout, never done either.
        timers.push(setInterval(() => res.write('.'), 40));
      });
      const transport = track(make());
      const started = performance.now();
      await expect(transport.send({ ...base, url: server.url, timeoutMs: 300, maxResponseBytes: 1_000_000 })).resolves.toMatchObject({
        kind: 'error',
        errorClass: 'timeout',
      });
      expect(performance.now() - started).toBeLessThan(5_000);
    });

    for (const phase of ['headers', 'body'] as const) {
      it(`keeps the deadline while waiting for the ${phase} through garbage collections`, async () => {
        const timers: NodeJS.Timeout[] = [];
        cleanups.push(async () => timers.forEach((timer) => clearInterval(timer)));
        const server = await receiver((_request, _index, res) => {
          if (phase === 'headers') return 'hang';
          res.writeHead(200, { 'content-type': 'text/plain' });
          timers.push(setInterval(() => res.write('.'), 40));
        });
        const transport = track(make());
        collectGarbageOften();
        for (let round = 0; round < 3; round += 1) {
          const started = performance.now();
          await expect(transport.send({ ...base, url: server.url, timeoutMs: 200, maxResponseBytes: 1_000_000 })).resolves.toMatchObject({
            kind: 'error',
            errorClass: 'timeout',
          });
          expect(performance.now() - started).toBeLessThan(5_000);
        }
      });
    }

    it('refuses a loopback literal when the guard is on, before connecting', async () => {
      const server = await receiver();
      const transport = track(make());
      await expect(transport.send({ ...base, url: server.url, guard: privateNetworkGuard })).resolves.toMatchObject({ kind: 'error', errorClass: 'ssrf' });
      expect(server.requests).toHaveLength(0);
    });
  });
}

describe('SSRF guard at connect time (undici)', () => {
  it('refuses a name that resolves to loopback when it connects, though the name passed registration', async () => {
    const server = await receiver();
    const port = new URL(server.url).port;
    const transport = createUndiciTransport({ lookup: rebindingLookup });
    const webhooks = createWebhooks({ transport, retry: { delaysMs: [] } });
    cleanups.push(async () => {
      await webhooks.close();
      await transport.close();
    });
    // erp.bookkeeper-customer.test is not an IP literal nor a local name: registration accepts it.
    const subscription = await webhooks.subscriptions.create({ url: `http://erp.bookkeeper-customer.test:${port}/webhooks`, eventTypes: ['payment.*'] });
    await webhooks.start();
    const dead = new Promise((resolve) => webhooks.bus.once('delivery:dead', resolve));
    await webhooks.publish('payment.succeeded', {
      paymentId: 'pay_1',
      customerId: 'cus_1',
      amount: { amount: 100, currency: 'EUR' },
      method: 'card',
      occurredAt: '2026-11-26T12:00:00Z',
    });
    await expect(dead).resolves.toMatchObject({ subscriptionId: subscription.id, errorClass: 'ssrf', statusCode: null });
    expect(server.requests).toHaveLength(0);
    const [delivery] = (await webhooks.deliveries.list()).items;
    const [attempt] = await webhooks.deliveries.attempts(delivery!.id);
    expect(attempt).toMatchObject({ errorClass: 'ssrf', outcome: 'dead' });
    expect(attempt!.errorMessage).toContain('127.0.0.1');
  });

  it('lets the same name through when private networks are allowed', async () => {
    const server = await receiver();
    const port = new URL(server.url).port;
    const transport = track(createUndiciTransport({ lookup: rebindingLookup }));
    const result = await transport.send({ ...base, url: `http://erp.bookkeeper-customer.test:${port}/webhooks`, guard: null });
    expect(result).toMatchObject({ kind: 'response', statusCode: 204 });
  });
});

/** A lookup written against the one-address form of `dns.lookup`: it ignores `{ all: true }`, and answers later, as a real resolver does. */
const oneAddressLookup = (address: unknown) =>
  ((_hostname: string, _options: object, callback: (...args: unknown[]) => void) =>
    setImmediate(() => callback(null, address, 4))) as unknown as typeof dnsLookup;

describe('a custom DNS lookup (undici)', () => {
  const loopbackAllowed = createAddressGuard(['127.0.0.0/8']);

  for (const [label, guard] of [
    ['with the guard off', null],
    ['through a guard that allows the address', loopbackAllowed],
  ] as const) {
    it(`connects through a lookup that answers one address when asked for all, ${label}`, async () => {
      const server = await receiver();
      const port = new URL(server.url).port;
      const transport = track(createUndiciTransport({ lookup: oneAddressLookup('127.0.0.1') }));
      const result = await transport.send({ ...base, url: `http://erp.bookkeeper-customer.test:${port}/webhooks`, guard });
      expect(result).toMatchObject({ kind: 'response', statusCode: 204 });
      expect(server.requests).toHaveLength(1);
    });
  }

  it('answers one address to a socket that asks for one (no address-family racing), whichever shape the lookup answers', async () => {
    const server = await receiver();
    const port = new URL(server.url).port;
    const racing = getDefaultAutoSelectFamily();
    setDefaultAutoSelectFamily(false);
    cleanups.push(async () => setDefaultAutoSelectFamily(racing));
    for (const lookup of [oneAddressLookup('127.0.0.1'), oneAddressLookup([{ address: '127.0.0.1', family: 4 }])]) {
      const transport = track(createUndiciTransport({ lookup }));
      const result = await transport.send({ ...base, url: `http://erp.bookkeeper-customer.test:${port}/webhooks`, guard: createAddressGuard(['127.0.0.0/8']) });
      expect(result).toMatchObject({ kind: 'response', statusCode: 204 });
    }
    expect(server.requests).toHaveLength(2);
  });

  it('refuses by the guard a name whose one-address answer is loopback', async () => {
    const server = await receiver();
    const port = new URL(server.url).port;
    const transport = track(createUndiciTransport({ lookup: oneAddressLookup('127.0.0.1') }));
    const result = await transport.send({ ...base, url: `http://erp.bookkeeper-customer.test:${port}/webhooks`, guard: privateNetworkGuard });
    expect(result).toMatchObject({ kind: 'error', errorClass: 'ssrf' });
    expect(server.requests).toHaveLength(0);
  });

  const throwing = (() => {
    throw new Error('resolver misconfigured');
  }) as unknown as typeof dnsLookup;
  for (const [label, lookup] of [
    ['throws', throwing],
    ['answers no address at all', oneAddressLookup(undefined)],
    ['answers a string that is not an IP address', oneAddressLookup('erp.internal')],
    ['answers a list of things that are not addresses', oneAddressLookup([{ host: '127.0.0.1' }])],
  ] as const) {
    for (const [guardLabel, guard] of [
      ['with the guard off', null],
      ['with the guard on', loopbackAllowed],
    ] as const) {
      it(`fails the attempt as a dns error, sending nothing, when the lookup ${label}, ${guardLabel}`, async () => {
        const server = await receiver();
        const port = new URL(server.url).port;
        const transport = track(createUndiciTransport({ lookup }));
        const result = await transport.send({ ...base, url: `http://erp.bookkeeper-customer.test:${port}/webhooks`, guard });
        expect(result).toMatchObject({ kind: 'error', errorClass: 'dns' });
        expect(server.requests).toHaveLength(0);
      });
    }
  }
});

describe('undici transport and the process', () => {
  it('lets the process exit with a finished request whose deadline is a minute ahead, the transport left open', async () => {
    const server = await receiver();
    const root = join(import.meta.dirname, '..', '..');
    const worker = join(root, 'test', 'support', 'undici-send-worker.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', worker, server.url], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit');
    // Far below the deadline: a timer that held the process would keep it for 60 s.
    const bound = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    clearTimeout(bound);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(JSON.parse(output)).toMatchObject({ kind: 'response', statusCode: 204 });
  });
});

describe('createWebhooks with the fetch transport', () => {
  it('delivers end to end over ky', async () => {
    const server = await receiver();
    const webhooks = createWebhooks({ transport: createFetchTransport(), security: { allowPrivateNetworks: true } });
    cleanups.push(() => webhooks.close());
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['*'] });
    await webhooks.start();
    const published = await webhooks.publish('balance.depleted', {
      accountId: 'acc_1',
      balance: { amount: 0, currency: 'EUR' },
      threshold: { amount: 1_000, currency: 'EUR' },
      occurredAt: '2026-11-26T12:00:00Z',
    });
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(server.requests.map((request) => request.headers['webhook-id'])).toEqual([published.id]);
  });
});
