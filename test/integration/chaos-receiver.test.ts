/**
 * Hostile receivers over real loopback HTTP: 5xx, hangs, resets, slow answers, huge
 * bodies, 429/503 with Retry-After, 410, garbage, redirects and every kind of 2xx.
 * Every event must end delivered, dead or held exactly as DESIGN §3 says, with one
 * attempt record per request the receiver saw, each recording what happened on the
 * wire; the dispatcher must survive all of it, and memory must stay bounded.
 *
 * Retries are driven by an injected clock; only the HTTP timeout is real. It is 1 s
 * rather than a few hundred ms so that the "slow" receiver (~150 ms) stays clearly
 * within it on a loaded two-core machine, where the first burst of ~25 concurrent
 * posts (5 MiB bodies among them) delays a 120 ms answer past 300 ms.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createWebhooks,
  type AttemptRecord,
  type BookkeeperEvents,
  type DeliveryRecord,
  type Logger,
  type Webhooks,
  type WebhooksOptions,
} from '../../src/index.js';
import { internalDispatcher } from '../../src/create-webhooks.js';
import { ChaosReceiver, GarbageServer, type ChaosReceiverOptions } from '../support/chaos-receiver.js';
import { FakeClock } from '../support/fake-clock.js';

const RETRY_DELAY_MS = 1_000;
const ATTEMPTS = 3; // retry: { delaysMs: [1000, 1000] }
const SNIPPET_LIMIT_BYTES = 1024;
const TIMEOUT_MS = 1_000;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const payment = (paymentId: string) => ({
  paymentId,
  customerId: 'cus_1',
  amount: { amount: 12_30, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00.000Z',
});

/** A logger that remembers every error and warning the library reports. */
function recordingLogger() {
  const errors: unknown[][] = [];
  const warnings: unknown[][] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (...args: unknown[]) => void warnings.push(args),
    error: (...args: unknown[]) => void errors.push(args),
  } as Logger;
  return { logger, errors, warnings };
}

async function setup(options: WebhooksOptions<BookkeeperEvents> = {}) {
  const clock = new FakeClock();
  const log = recordingLogger();
  const webhooks = createWebhooks({
    security: { allowPrivateNetworks: true },
    clock,
    retry: { delaysMs: [RETRY_DELAY_MS, RETRY_DELAY_MS] },
    http: { timeoutMs: TIMEOUT_MS },
    leaseMs: 5_000,
    pollIntervalMs: 60_000,
    concurrency: 64,
    // The breaker would hold the chaos subscription's deliveries for its cool-down and
    // shift every retry time; this file checks the retry rules themselves.
    circuitBreaker: false,
    logger: log.logger,
    ...options,
  });
  cleanups.push(() => webhooks.close());
  return { clock, webhooks, log };
}

async function chaosReceiver(options?: ChaosReceiverOptions) {
  const receiver = await ChaosReceiver.start(options);
  cleanups.push(() => receiver.close());
  return receiver;
}

/**
 * Lets every post in flight finish, then moves the clock one retry step, until no
 * delivery is pending. Bounded: the longest schedule here is 2 × 7 s.
 */
async function settle(webhooks: Webhooks, clock: FakeClock, maxSteps = 60): Promise<void> {
  for (let step = 0; step < maxSteps; step++) {
    // The posts in flight end on the wall clock (a hanging receiver at http.timeoutMs), and
    // drain gives up at its own timeout, posts in flight or not: wait for them here.
    await internalDispatcher(webhooks)!.whenIdle();
    try {
      await webhooks.drain({ timeoutMs: 25 });
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'DRAIN_TIMEOUT') throw error;
    }
    await clock.advance(RETRY_DELAY_MS);
  }
  throw new Error(`deliveries still pending after ${maxSteps} clock steps`);
}

async function deliveryOf(webhooks: Webhooks, eventId: string): Promise<DeliveryRecord> {
  const { items } = await webhooks.deliveries.list({ eventId });
  expect(items).toHaveLength(1);
  return items[0]!;
}

interface Expectation {
  status: 'delivered' | 'dead';
  attempts: number;
  statusCode: number | null;
  errorClass: 'http' | 'timeout' | 'network' | null;
  /** The wait before each retry; the schedule's when the receiver gives no Retry-After. */
  gapMs?: number;
  snippet?: string | ((snippet: string | null) => void);
}

const delivered = (statusCode: number, snippet?: Expectation['snippet']): Expectation => ({
  status: 'delivered',
  attempts: 1,
  statusCode,
  errorClass: null,
  ...(snippet === undefined ? {} : { snippet }),
});
const deadHttp = (statusCode: number, extra: Partial<Expectation> = {}): Expectation => ({
  status: 'dead',
  attempts: ATTEMPTS,
  statusCode,
  errorClass: 'http',
  ...extra,
});
const deadBy = (errorClass: 'timeout' | 'network'): Expectation => ({ status: 'dead', attempts: ATTEMPTS, statusCode: null, errorClass });

const hugePrefix = (char: string) => (snippet: string | null) => {
  expect(snippet).not.toBeNull();
  expect(Buffer.byteLength(snippet!, 'utf8')).toBeLessThanOrEqual(SNIPPET_LIMIT_BYTES);
  expect(snippet!.length).toBeGreaterThan(0);
  expect(snippet).toBe(char.repeat(snippet!.length));
};

/** Behaviour (the `paymentId` prefix the chaos receiver reads) → what the rules say must happen. */
const MATRIX: Record<string, Expectation> = {
  'status-500': deadHttp(500, { snippet: 'chaos 500' }),
  'status-502': deadHttp(502, { snippet: 'chaos 502' }),
  'status-503': deadHttp(503, { snippet: 'chaos 503' }),
  'status-429': deadHttp(429, { snippet: 'chaos 429' }),
  'status-400': deadHttp(400, { snippet: 'chaos 400' }),
  'retry-after-429-7': deadHttp(429, { gapMs: 7_000, snippet: 'slow down' }),
  'retry-after-503-5': deadHttp(503, { gapMs: 5_000, snippet: 'slow down' }),
  hang: deadBy('timeout'),
  reset: deadBy('network'),
  'reset-after-headers': deadBy('network'),
  garbage: deadBy('network'),
  slow: delivered(200, 'slow but fine'),
  'huge-200': delivered(200, hugePrefix('x')),
  'huge-500': deadHttp(500, { snippet: hugePrefix('x') }),
  'redirect-301': deadHttp(301),
  'redirect-302': deadHttp(302),
  'redirect-303': deadHttp(303),
  'redirect-307': deadHttp(307),
  'redirect-308': deadHttp(308),
  'status-200': delivered(200, 'chaos 200'),
  'status-201': delivered(201, 'chaos 201'),
  'status-202': delivered(202, 'chaos 202'),
  'status-204': delivered(204),
  'status-299': delivered(299, 'chaos 299'),
};

function checkAttempts(behaviour: string, expected: Expectation, attempts: AttemptRecord[]): void {
  const where = `behaviour ${behaviour}`;
  expect(attempts.map((attempt) => attempt.attemptNumber), where).toEqual(Array.from({ length: expected.attempts }, (_, i) => i + 1));
  attempts.forEach((attempt, index) => {
    const last = index === attempts.length - 1;
    expect(
      { statusCode: attempt.statusCode, errorClass: attempt.errorClass, outcome: attempt.outcome },
      `${where}, attempt ${attempt.attemptNumber}`,
    ).toEqual({
      statusCode: expected.statusCode,
      errorClass: expected.errorClass,
      outcome: last ? (expected.status === 'delivered' ? 'delivered' : 'dead') : 'retry',
    });
    if (attempt.responseSnippet !== null) {
      expect(Buffer.byteLength(attempt.responseSnippet, 'utf8'), `${where}: snippet size`).toBeLessThanOrEqual(SNIPPET_LIMIT_BYTES);
    }
    if (typeof expected.snippet === 'string') expect(attempt.responseSnippet, `${where}: snippet`).toBe(expected.snippet);
    else if (expected.snippet) expected.snippet(attempt.responseSnippet);
    if (expected.errorClass === 'timeout') expect(attempt.durationMs, `${where}: duration`).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
    if (!last) {
      // The wait asked for (Retry-After) or scheduled, and the next attempt made exactly then.
      expect(attempt.nextAttemptAt! - attempt.startedAt, `${where}: wait after attempt ${attempt.attemptNumber}`).toBe(expected.gapMs ?? RETRY_DELAY_MS);
      expect(attempts[index + 1]!.startedAt, `${where}: start of attempt ${attempt.attemptNumber + 1}`).toBe(attempt.nextAttemptAt);
    } else {
      expect(attempt.nextAttemptAt, `${where}: no retry after the last attempt`).toBeNull();
    }
  });
}

describe('a chaos receiver', () => {
  it('ends every event delivered, dead or held as the rules say, with one attempt record per request seen on the wire', async () => {
    const target = await chaosReceiver();
    const chaos = await chaosReceiver({ redirectTo: target.url });
    const garbage = await GarbageServer.start();
    cleanups.push(() => garbage.close());
    const { webhooks, clock, log } = await setup();

    const main = await webhooks.subscriptions.create({ url: chaos.url, eventTypes: ['payment.succeeded'] });
    // 410 disables its subscription: it gets a subscription (and an event type) of its own.
    const gone = await webhooks.subscriptions.create({ url: `${chaos.url}?gone`, eventTypes: ['payment.failed'] });
    const raw = await webhooks.subscriptions.create({ url: garbage.url, eventTypes: ['refund.initiated'] });

    const lifecycle = { dead: 0, succeeded: 0, disabled: [] as string[] };
    webhooks.bus.on('delivery:dead', () => void lifecycle.dead++);
    webhooks.bus.on('delivery:succeeded', () => void lifecycle.succeeded++);
    webhooks.bus.on('subscription:disabled', (event) => void lifecycle.disabled.push(event.subscriptionId));

    await webhooks.start();
    const t0 = clock.now();
    const published = new Map<string, string>(); // behaviour → event id
    for (const behaviour of Object.keys(MATRIX)) {
      published.set(behaviour, (await webhooks.publish('payment.succeeded', payment(`${behaviour}:1`))).id);
    }
    const { method: _method, ...failed } = payment('status-410:1');
    const goneEvent = await webhooks.publish('payment.failed', { ...failed, failureCode: 'card_declined' });
    const rawEvent = await webhooks.publish('refund.initiated', {
      refundId: 'ref_1',
      paymentId: 'raw-garbage:1',
      amount: { amount: 500, currency: 'EUR' },
      reason: 'duplicate',
      occurredAt: '2026-11-26T12:00:00Z',
    });

    await settle(webhooks, clock);

    for (const [behaviour, expected] of Object.entries(MATRIX)) {
      const eventId = published.get(behaviour)!;
      const delivery = await deliveryOf(webhooks, eventId);
      expect({ behaviour, status: delivery.status, subscriptionId: delivery.subscriptionId }).toEqual({
        behaviour,
        status: expected.status,
        subscriptionId: main.id,
      });
      const attempts = await webhooks.deliveries.attempts(delivery.id);
      // One attempt record per request the receiver saw, every one with the same webhook-id.
      expect({ behaviour, requests: chaos.count(eventId) }).toEqual({ behaviour, requests: attempts.length });
      expect(chaos.behaviourById.get(eventId)).toBe(behaviour);
      checkAttempts(behaviour, expected, attempts);
      expect(attempts[0]!.startedAt).toBe(t0);
    }
    // Redirects are answers, never followed.
    expect(target.requestsById.size).toBe(0);

    // 410: one attempt, the subscription disabled, the delivery held (not dropped, not dead).
    const goneDelivery = await deliveryOf(webhooks, goneEvent.id);
    expect(goneDelivery).toMatchObject({ status: 'held', subscriptionId: gone.id });
    const goneAttempts = await webhooks.deliveries.attempts(goneDelivery.id);
    expect(goneAttempts.map(({ statusCode, errorClass, outcome }) => ({ statusCode, errorClass, outcome }))).toEqual([
      { statusCode: 410, errorClass: 'http', outcome: 'disable' },
    ]);
    expect(chaos.count(goneEvent.id)).toBe(1);
    expect(await webhooks.subscriptions.get(gone.id)).toMatchObject({ status: 'disabled' });
    expect(await webhooks.subscriptions.get(main.id)).toMatchObject({ status: 'active' });
    expect(lifecycle.disabled).toEqual([gone.id]);

    // A raw socket answering non-HTTP bytes: a network failure per connection.
    const rawDelivery = await deliveryOf(webhooks, rawEvent.id);
    expect(rawDelivery).toMatchObject({ status: 'dead', subscriptionId: raw.id });
    const rawAttempts = await webhooks.deliveries.attempts(rawDelivery.id);
    checkAttempts('raw garbage server', deadBy('network'), rawAttempts);
    expect(garbage.connections).toBe(rawAttempts.length);

    const expectedDead = Object.values(MATRIX).filter((expected) => expected.status === 'dead').length + 1;
    const expectedDelivered = Object.values(MATRIX).filter((expected) => expected.status === 'delivered').length;
    expect(lifecycle).toMatchObject({ dead: expectedDead, succeeded: expectedDelivered });

    // Nothing crashed the dispatcher: a normal event published afterwards is delivered at once.
    const final = await webhooks.publish('payment.succeeded', payment('status-200:final'));
    await settle(webhooks, clock, 1);
    expect(await deliveryOf(webhooks, final.id)).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(chaos.count(final.id)).toBe(1);
    expect(log.errors).toEqual([]);
  });

  it('reads at most http.maxResponseBytes of a huge body, classifies it by status, and keeps the process memory bounded', async () => {
    const gc = exposeGc();
    const hugeBytes = 64 * 1024 * 1024;
    // Large enough that keeping what was read would dwarf the noise of socket and stream
    // buffers still being released (up to ~60 MiB seen): 30 retained attempts hold 120+ MiB.
    const maxResponseBytes = 4 * 1024 * 1024;
    const chaos = await chaosReceiver({ hugeBytes });
    const { webhooks, clock } = await setup({ http: { timeoutMs: 5_000, maxResponseBytes }, leaseMs: 10_000 });
    await webhooks.subscriptions.create({ url: chaos.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();

    // Warm-up: pools, code paths and the storage's structures exist before the baseline.
    const warmUp = await webhooks.publish('payment.succeeded', payment('huge-200:warm-up'));
    await settle(webhooks, clock);
    expect(await deliveryOf(webhooks, warmUp.id)).toMatchObject({ status: 'delivered' });
    gc();
    const baseline = process.memoryUsage();

    const ok: string[] = [];
    const failing: string[] = [];
    for (let i = 0; i < 10; i++) ok.push((await webhooks.publish('payment.succeeded', payment(`huge-200:${i}`))).id);
    for (let i = 0; i < 10; i++) failing.push((await webhooks.publish('payment.succeeded', payment(`huge-500:${i}`))).id);
    await settle(webhooks, clock);

    for (const id of ok) expect(await deliveryOf(webhooks, id)).toMatchObject({ status: 'delivered', attempts: 1, lastStatusCode: 200 });
    for (const id of failing) {
      const delivery = await deliveryOf(webhooks, id);
      expect(delivery).toMatchObject({ status: 'dead', attempts: ATTEMPTS, lastStatusCode: 500 });
      expect(chaos.count(id)).toBe(ATTEMPTS);
      for (const attempt of await webhooks.deliveries.attempts(delivery.id)) {
        expect(Buffer.byteLength(attempt.responseSnippet ?? '', 'utf8')).toBeLessThanOrEqual(SNIPPET_LIMIT_BYTES);
      }
    }

    // The dispatcher stopped reading and hung up long before the end of every 64 MiB body
    // (socket buffers may take a few MiB more than maxResponseBytes; never half the body).
    expect(chaos.hugeResponses).toHaveLength(1 + 10 + 10 * ATTEMPTS);
    for (const response of chaos.hugeResponses) {
      expect(response.completed).toBe(false);
      expect(response.bytesWritten).toBeLessThan(hugeBytes / 2);
    }

    // 41 responses of which 4 MiB each was read: none of it may stay reachable once the
    // attempts are recorded. The attempt log itself holds 30 snippets of at most 1 KiB.
    // The in-process server's side of each hung-up response holds socket buffers until it
    // closes: wait for that, so the measure is of the dispatcher's memory, not the server's.
    await chaos.hugeResponsesClosed();
    // Two collections a turn apart: external buffers are released by weak callbacks after the first.
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const after = process.memoryUsage();
    const grownMiB = (after.heapUsed + after.arrayBuffers - baseline.heapUsed - baseline.arrayBuffers) / (1024 * 1024);
    // Keeping what was read (the bug this guards against) measured 190 MiB here; noise up to ~60 MiB.
    expect(grownMiB, `heap + array buffers grew by ${grownMiB.toFixed(1)} MiB`).toBeLessThan(100);
  });

  it('keeps at most 1 KiB of a multi-byte response body in the attempt log', async () => {
    const chaos = await chaosReceiver({ hugeBytes: 256 * 1024 });
    const { webhooks, clock } = await setup();
    await webhooks.subscriptions.create({ url: chaos.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    const event = await webhooks.publish('payment.succeeded', payment('huge-utf8-500:1'));
    await settle(webhooks, clock);
    const delivery = await deliveryOf(webhooks, event.id);
    expect(delivery).toMatchObject({ status: 'dead', attempts: ATTEMPTS });
    const attempts = await webhooks.deliveries.attempts(delivery.id);
    expect(attempts).toHaveLength(chaos.count(event.id));
    for (const attempt of attempts) {
      expect(attempt).toMatchObject({ statusCode: 500, errorClass: 'http' });
      expect(attempt.responseSnippet).toMatch(/^€+$/);
      expect(Buffer.byteLength(attempt.responseSnippet!, 'utf8')).toBeLessThanOrEqual(SNIPPET_LIMIT_BYTES);
    }
  });
});

/** A full garbage collection, for memory measurements that do not depend on GC timing. */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}
