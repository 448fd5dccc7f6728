/**
 * Receivers that try to hold a request open past `http.timeoutMs`: `102 Processing`
 * forever, a body that trickles forever, a body whose last chunk comes late. The
 * timeout is a total deadline from send to the last body byte whatever the receiver
 * sends, on both transports; past it the attempt is a `timeout` and the connection is
 * dropped, so the lease (which only outlives the timeout) never expires under a request.
 */
import type { lookup as dnsLookup } from 'node:dns';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createFetchTransport,
  createUndiciTransport,
  createWebhooks,
  type AttemptRecord,
  type Transport,
  type TransportRequest,
} from '../../src/index.js';
import { ChaosReceiver } from '../support/chaos-receiver.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function chaosReceiver(): Promise<ChaosReceiver> {
  const receiver = await ChaosReceiver.start();
  cleanups.push(() => receiver.close());
  return receiver;
}

function track<T extends Transport>(transport: T): T {
  cleanups.push(() => transport.close());
  return transport;
}

/** Polls `check` every 10 ms until it holds, for at most `withinMs`; `describe` says what was seen. */
async function eventually(check: () => boolean, withinMs = 2_000, describe?: () => string): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!check()) {
    if (performance.now() > deadline) {
      throw new Error(`condition not met within ${withinMs} ms${describe ? `: ${describe()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const TIMEOUT_MS = 300;
// A deadline fires on a timer: allow for a busy two-core machine, but far less than
// the time these receivers would hold a request without one (forever).
const LATE_MS = 700;

function requestFor(url: string, webhookId: string, behaviour: string): TransportRequest {
  return {
    url,
    headers: { 'content-type': 'application/json', 'webhook-id': webhookId },
    body: JSON.stringify({ data: { paymentId: `${behaviour}:1` } }),
    timeoutMs: TIMEOUT_MS,
    maxResponseBytes: 1024,
    guard: null,
  };
}

for (const [name, make] of [
  ['undici', () => createUndiciTransport()],
  ['fetch (ky)', () => createFetchTransport()],
] as const) {
  describe(`${name} transport against a receiver that holds the request open`, () => {
    for (const [title, behaviour] of [
      ['sends 102 Processing every 50 ms and never answers', 'processing-50'],
      ['answers 200 and trickles a byte of body every 50 ms, forever', 'trickle-50'],
      ['answers 200 and sends the last chunk of the body at 1.8 × the timeout', `late-end-${TIMEOUT_MS * 1.8}`],
      ['reads the request and says nothing', 'hang'],
    ] as const) {
      it(`ends the request as a timeout at timeoutMs and drops its connection when the receiver ${title}`, async () => {
        const receiver = await chaosReceiver();
        const transport = track(make());
        const started = performance.now();
        const result = await transport.send(requestFor(receiver.url, 'msg_hostile', behaviour));
        const elapsedMs = performance.now() - started;
        expect(result).toMatchObject({ kind: 'error', errorClass: 'timeout' });
        expect(elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 1);
        expect(elapsedMs).toBeLessThan(TIMEOUT_MS + LATE_MS);
        // The connection is destroyed, not kept for the next request, which gets a working one.
        // Asserted on the receiver's side: every connection it accepted (this request's only)
        // is closed. On a loaded machine the deadline can come before the receiver has read the
        // request (client and receiver share this event loop); a request it did read must have
        // had its response cut short, never finished.
        await eventually(() => {
          const { accepted, open } = receiver.connections();
          return accepted >= 1 && open === 0;
        }, 2_000, () => JSON.stringify({ ...receiver.connections(), requestsSeen: receiver.count('msg_hostile') }));
        expect(receiver.count('msg_hostile') === 0 || receiver.cutShort.has('msg_hostile')).toBe(true);
        const next = await transport.send(requestFor(receiver.url, 'msg_next', 'status-200'));
        expect(next).toMatchObject({ kind: 'response', statusCode: 200, body: 'chaos 200' });
      });
    }

    it('reads a body that ends within timeoutMs in full', async () => {
      const receiver = await chaosReceiver();
      const transport = track(make());
      const result = await transport.send(requestFor(receiver.url, 'msg_prompt', `late-end-${TIMEOUT_MS / 3}`));
      expect(result).toEqual({ kind: 'response', statusCode: 200, retryAfter: null, body: 'accepted, really' });
    });
  });
}

describe('the undici transport with many requests in flight', () => {
  it('times out each request at its own deadline, across timeouts, while the others complete', async () => {
    const receiver = await chaosReceiver();
    const transport = track(createUndiciTransport());
    const send = async (webhookId: string, behaviour: string, timeoutMs: number) => {
      const started = performance.now();
      const result = await transport.send({ ...requestFor(receiver.url, webhookId, behaviour), timeoutMs });
      return { result, elapsedMs: performance.now() - started };
    };
    // A long timeout first, so that the shorter one after it must re-arm the shared timer earlier.
    const long = send('msg_long', 'processing-50', 900);
    const short = send('msg_short', 'processing-50', 200);
    const healthy = Array.from({ length: 20 }, (_, index) => send(`msg_ok_${index}`, 'status-204', 200));
    const [shortDone, longDone, ...healthyDone] = await Promise.all([short, long, ...healthy]);
    expect(shortDone!.result).toMatchObject({ kind: 'error', errorClass: 'timeout' });
    expect(shortDone!.elapsedMs).toBeGreaterThanOrEqual(199);
    expect(shortDone!.elapsedMs).toBeLessThan(200 + LATE_MS);
    expect(longDone!.result).toMatchObject({ kind: 'error', errorClass: 'timeout' });
    expect(longDone!.elapsedMs).toBeGreaterThanOrEqual(899);
    expect(longDone!.elapsedMs).toBeLessThan(900 + LATE_MS);
    for (const done of healthyDone) expect(done.result).toMatchObject({ kind: 'response', statusCode: 204 });
  });
});

describe('the undici transport with every connection busy', () => {
  it('times out a request still waiting for a connection at its deadline and never sends it afterwards', async () => {
    const receiver = await chaosReceiver();
    const port = new URL(receiver.url).port;
    // The first connection resolves at once; every later one takes 150 ms to resolve.
    let lookups = 0;
    const slowAfterFirst = ((_hostname: string, _options: object, callback: (...args: unknown[]) => void) => {
      lookups += 1;
      setTimeout(() => callback(null, [{ address: '127.0.0.1', family: 4 }]), lookups === 1 ? 0 : 150);
    }) as unknown as typeof dnsLookup;
    const transport = track(createUndiciTransport({ connectionsPerOrigin: 1, lookup: slowAfterFirst }));
    const url = `http://erp.bookkeeper-customer.test:${port}/webhooks`;
    // The one connection is held until its deadline, then destroyed; the request queued
    // behind it reaches its own deadline while the next connection is still resolving.
    const holding = transport.send(requestFor(url, 'msg_holding', 'hang'));
    const waiting = transport.send(requestFor(url, 'msg_waiting', 'status-204'));
    await expect(holding).resolves.toMatchObject({ kind: 'error', errorClass: 'timeout' });
    await expect(waiting).resolves.toMatchObject({ kind: 'error', errorClass: 'timeout' });
    // Queued behind it on the one connection: once this one is answered, that one has had its turn.
    // A generous deadline of its own: it waits for a fresh 150 ms lookup, and a loaded machine must not fail it.
    const after = await transport.send({ ...requestFor(url, 'msg_after', 'status-204'), timeoutMs: 5_000 });
    expect(after).toMatchObject({ kind: 'response', statusCode: 204 });
    expect(receiver.count('msg_waiting')).toBe(0);
    expect(receiver.count('msg_after')).toBe(1);
  });
});

describe('a webhooks instance whose lease is the shortest its timeout allows', () => {
  it('sends a delivery to a receiver that holds requests open once per attempt, settles each attempt as a timeout, and serves a healthy delivery meanwhile', async () => {
    const receiver = await chaosReceiver();
    const timeoutMs = 1_000;
    const leaseMs = 2_000; // http.timeoutMs + 1 s, the least the start-up check accepts
    // The real clock: the lease must be able to run out during a request, as in production.
    const webhooks = createWebhooks({
      security: { allowPrivateNetworks: true },
      http: { timeoutMs },
      leaseMs,
      retry: { delaysMs: [100] },
      concurrency: 2,
      flowControl: { maxInFlightPerSubscription: 2 },
      circuitBreaker: false,
    });
    cleanups.push(() => webhooks.close());
    await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    const payment = (paymentId: string) => ({
      paymentId,
      customerId: 'cus_1',
      amount: { amount: 100, currency: 'EUR' },
      method: 'card' as const,
      occurredAt: '2026-11-26T12:00:00Z',
    });
    // The two hostile ones are due first and take both slots.
    const processing = await webhooks.publish('payment.succeeded', payment('processing-300:1'));
    const trickling = await webhooks.publish('payment.succeeded', payment('trickle-100:1'));
    const healthy = await webhooks.publish('payment.succeeded', payment('status-204:1'));
    const dead = new Set<string>();
    webhooks.bus.on('delivery:dead', (event) => dead.add(event.eventId));
    await webhooks.start();
    await eventually(() => dead.size === 2, 3 * (timeoutMs + 100) + 2_000);

    for (const event of [processing, trickling]) {
      const { items } = await webhooks.deliveries.list({ eventId: event.id });
      expect(items).toMatchObject([{ status: 'dead', attempts: 2 }]);
      const attempts: AttemptRecord[] = await webhooks.deliveries.attempts(items[0]!.id);
      expect(attempts.map(({ errorClass, outcome }) => ({ errorClass, outcome }))).toEqual([
        { errorClass: 'timeout', outcome: 'retry' },
        { errorClass: 'timeout', outcome: 'dead' },
      ]);
      for (const attempt of attempts) {
        expect(attempt.durationMs).toBeGreaterThanOrEqual(timeoutMs - 10);
        // Settled while its lease still held.
        expect(attempt.durationMs).toBeLessThan(leaseMs);
      }
      // One request on the wire per attempt: no lease ran out under a request.
      expect(receiver.count(event.id)).toBe(2);
    }
    const { items: [delivered] } = await webhooks.deliveries.list({ eventId: healthy.id });
    expect(delivered).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(receiver.count(healthy.id)).toBe(1);
  });
});
