// Per-key order at a receiver over real loopback HTTP: a node:http server with the Node
// handler, and an Express 5 app with the middleware, each running a typed router with
// `ordering`, fed requests signed by the library's own signWebhook. In order → 204 and
// handled; a duplicate number (also under a new webhook-id) → 2xx without the handler; a gap →
// 409 ORDERING_GAP and nothing handled, then handled once the missing one came; a malformed
// sequence → 400 WEBHOOK_SEQUENCE_INVALID; a replay of a handled request with a forged
// next number → 200 duplicate by webhook-id, never handled twice; a replay of a request not yet
// handled with a forged old number → dropped without taking its webhook-id, so the sender's own
// retry is still handled; an event past maxEventAgeSeconds → acknowledged as stale in its turn,
// its number recorded, so the key's next event is not held for it.
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import {
  createMemoryOrderingStore,
  createNodeHandler,
  createWebhookRouter,
  expressWebhook,
  type OrderingOptions,
  type WebhookEvent,
} from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';
import { registerCleanups } from '../support/cleanups.js';

const cleanups = registerCleanups();
const secret = generateSecret();

type Events = { 'payment.succeeded': { paymentId: string; step: string } };

interface Delivery {
  id: string;
  orderingKey?: string;
  sequence?: string;
  step: string;
  /** How long before now the event was published (its envelope's timestamp); the request is signed now. */
  ageSeconds?: number;
}

/** Posts one signed delivery, as the sender would; returns the status and the body's `error` or `outcome`. */
async function post(url: string, delivery: Delivery): Promise<{ status: number; answer: string | null }> {
  const timestampSeconds = Math.floor(Date.now() / 1000);
  const envelope = {
    id: delivery.id,
    type: 'payment.succeeded',
    timestamp: new Date((timestampSeconds - (delivery.ageSeconds ?? 0)) * 1000).toISOString(),
    ...(delivery.orderingKey === undefined ? {} : { orderingKey: delivery.orderingKey }),
    data: { paymentId: delivery.orderingKey ?? 'none', step: delivery.step },
  };
  const body = JSON.stringify(envelope);
  const response = await fetch(url, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': delivery.id,
      'webhook-timestamp': String(timestampSeconds),
      'webhook-signature': signWebhook({ id: delivery.id, timestamp: timestampSeconds, body, secrets: secret }),
      ...(delivery.sequence === undefined ? {} : { 'webhook-sequence': delivery.sequence }),
    },
  });
  const text = await response.text();
  const parsed = text === '' ? null : (JSON.parse(text) as { error?: string; outcome?: string });
  return { status: response.status, answer: parsed?.error ?? parsed?.outcome ?? null };
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
}

/**
 * A receiver whose router records the steps it handled, in order. A step named `fails once`
 * throws the first time it is handled (the adapter answers 500 and releases its webhook-id).
 */
function orderedRouter(ordering: Omit<OrderingOptions, 'store'> = {}) {
  const handled: string[] = [];
  const failed = new Set<string>();
  const router = createWebhookRouter<Events>({ ordering: { store: createMemoryOrderingStore(), ...ordering } }).on('payment.succeeded', (event) => {
    if (event.data.step === 'fails once' && !failed.has(event.id)) {
      failed.add(event.id);
      throw new Error('the ledger is down');
    }
    handled.push(`${event.data.paymentId}#${String(event.sequence)} ${event.data.step}`);
  });
  return { handled, onEvent: router.handle as (event: WebhookEvent) => Promise<void> };
}

/** Options of the adapters beside `secrets`, `logger` and `onEvent`. */
type AdapterOptions = { maxEventAgeSeconds?: number };

const servers: Array<[string, (onEvent: (event: WebhookEvent) => Promise<void>, options?: AdapterOptions) => Promise<string>]> = [
  [
    'the Node handler',
    (onEvent, options = {}) => listen(createServer(createNodeHandler({ secrets: secret, logger: false, onEvent, ...options }) as RequestListener)),
  ],
  [
    'the Express middleware',
    (onEvent, options = {}) => {
      const app = express();
      app.post('/webhooks', expressWebhook({ secrets: secret, logger: false, onEvent, ...options }));
      return listen(createServer(app));
    },
  ],
];

describe.each(servers)('ordering over loopback HTTP with %s', (_name, serve) => {
  it('handles a key in order, acknowledges duplicates without handling them, and answers 409 to a gap until the missing one came', async () => {
    const { handled, onEvent } = orderedRouter();
    const url = await serve(onEvent);

    expect(await post(url, { id: 'evt_a1', orderingKey: 'pay_1', sequence: '1', step: 'authorised' })).toEqual({ status: 204, answer: null });
    // The same delivery again (its 2xx was lost): the dedupe on webhook-id answers it.
    expect(await post(url, { id: 'evt_a1', orderingKey: 'pay_1', sequence: '1', step: 'authorised' })).toEqual({ status: 200, answer: 'duplicate' });
    // Number 3 before number 2: refused, so that the sender retries it later.
    expect(await post(url, { id: 'evt_a3', orderingKey: 'pay_1', sequence: '3', step: 'refunded' })).toEqual({ status: 409, answer: 'ORDERING_GAP' });
    // Another key is not held by it.
    expect(await post(url, { id: 'evt_b1', orderingKey: 'pay_2', sequence: '1', step: 'authorised' })).toEqual({ status: 204, answer: null });
    expect(await post(url, { id: 'evt_a2', orderingKey: 'pay_1', sequence: '2', step: 'captured' })).toEqual({ status: 204, answer: null });
    // The sender's retry of number 3: its webhook-id was released by the 409, so it is handled now.
    expect(await post(url, { id: 'evt_a3', orderingKey: 'pay_1', sequence: '3', step: 'refunded' })).toEqual({ status: 204, answer: null });
    // A number already handled under another webhook-id: acknowledged by the ordering store alone.
    expect(await post(url, { id: 'evt_a2_copy', orderingKey: 'pay_1', sequence: '2', step: 'captured again' })).toEqual({ status: 200, answer: 'duplicate' });
    // An event without a key passes straight through.
    expect(await post(url, { id: 'evt_c', step: 'unordered' })).toEqual({ status: 204, answer: null });

    expect(handled).toEqual(['pay_1#1 authorised', 'pay_2#1 authorised', 'pay_1#2 captured', 'pay_1#3 refunded', 'none#undefined unordered']);
  });

  it('never handles a replayed body twice, whatever number a replay forges in the unsigned header', async () => {
    const { handled, onEvent } = orderedRouter();
    const url = await serve(onEvent);
    expect(await post(url, { id: 'evt_r1', orderingKey: 'pay_1', sequence: '1', step: 'authorised' })).toEqual({ status: 204, answer: null });
    // Captured and replayed within the tolerance, its number moved to the next one expected.
    expect(await post(url, { id: 'evt_r1', orderingKey: 'pay_1', sequence: '2', step: 'authorised' })).toEqual({ status: 200, answer: 'duplicate' });
    // Or far ahead: still the same webhook-id, still a duplicate.
    expect(await post(url, { id: 'evt_r1', orderingKey: 'pay_1', sequence: '9', step: 'authorised' })).toEqual({ status: 200, answer: 'duplicate' });
    expect(await post(url, { id: 'evt_r2', orderingKey: 'pay_1', sequence: '2', step: 'captured' })).toEqual({ status: 204, answer: null });
    expect(handled).toEqual(['pay_1#1 authorised', 'pay_1#2 captured']);
  });

  it("lets a replay with a forged old number drop a copy, never the event: the sender's own retry is still handled", async () => {
    const { handled, onEvent } = orderedRouter();
    const url = await serve(onEvent);
    expect(await post(url, { id: 'evt_f1', orderingKey: 'pay_1', sequence: '1', step: 'authorised' })).toEqual({ status: 204, answer: null });
    expect(await post(url, { id: 'evt_f2', orderingKey: 'pay_1', sequence: '2', step: 'captured' })).toEqual({ status: 204, answer: null });
    // Number 3 fails in the handler: 500, its webhook-id released for the sender's retry.
    expect(await post(url, { id: 'evt_f3', orderingKey: 'pay_1', sequence: '3', step: 'fails once' })).toEqual({ status: 500, answer: 'INTERNAL_ERROR' });
    // Captured, and replayed within the tolerance with an old number: dropped as a duplicate copy…
    expect(await post(url, { id: 'evt_f3', orderingKey: 'pay_1', sequence: '1', step: 'fails once' })).toEqual({ status: 200, answer: 'duplicate' });
    // …without being remembered as processed: the sender's retry of number 3 is handled, and the key goes on.
    expect(await post(url, { id: 'evt_f3', orderingKey: 'pay_1', sequence: '3', step: 'fails once' })).toEqual({ status: 204, answer: null });
    expect(await post(url, { id: 'evt_f4', orderingKey: 'pay_1', sequence: '4', step: 'settled' })).toEqual({ status: 204, answer: null });
    expect(handled).toEqual(['pay_1#1 authorised', 'pay_1#2 captured', 'pay_1#3 fails once', 'pay_1#4 settled']);
  });

  it('acknowledges an event past maxEventAgeSeconds in its turn and records its number, so the key goes on', async () => {
    const { handled, onEvent } = orderedRouter();
    const url = await serve(onEvent, { maxEventAgeSeconds: 3600 });
    expect(await post(url, { id: 'evt_o1', orderingKey: 'pay_1', sequence: '1', step: 'authorised', ageSeconds: 7200 })).toEqual({ status: 200, answer: 'stale' });
    // A stale event past a gap waits like any other: refused, so that the sender retries it later.
    expect(await post(url, { id: 'evt_o3', orderingKey: 'pay_1', sequence: '3', step: 'refunded', ageSeconds: 7200 })).toEqual({
      status: 409,
      answer: 'ORDERING_GAP',
    });
    expect(await post(url, { id: 'evt_o2', orderingKey: 'pay_1', sequence: '2', step: 'captured' })).toEqual({ status: 204, answer: null });
    expect(await post(url, { id: 'evt_o3', orderingKey: 'pay_1', sequence: '3', step: 'refunded', ageSeconds: 7200 })).toEqual({ status: 200, answer: 'stale' });
    expect(await post(url, { id: 'evt_o4', orderingKey: 'pay_1', sequence: '4', step: 'settled' })).toEqual({ status: 204, answer: null });
    expect(handled).toEqual(['pay_1#2 captured', 'pay_1#4 settled']);
  });

  it("with onGap: 'accept', handles past a gap (a subscription that skips dead deliveries)", async () => {
    const { handled, onEvent } = orderedRouter({ onGap: 'accept' });
    const url = await serve(onEvent);
    expect(await post(url, { id: 'evt_s1', orderingKey: 'pay_1', sequence: '1', step: 'authorised' })).toEqual({ status: 204, answer: null });
    expect(await post(url, { id: 'evt_s3', orderingKey: 'pay_1', sequence: '3', step: 'refunded' })).toEqual({ status: 204, answer: null });
    expect(handled).toEqual(['pay_1#1 authorised', 'pay_1#3 refunded']);
  });

  it('answers 400 WEBHOOK_SEQUENCE_INVALID to a malformed sequence and to one on an unkeyed event, handling nothing', async () => {
    const { handled, onEvent } = orderedRouter();
    const url = await serve(onEvent);
    expect(await post(url, { id: 'evt_m1', orderingKey: 'pay_1', sequence: '01', step: 'authorised' })).toEqual({ status: 400, answer: 'WEBHOOK_SEQUENCE_INVALID' });
    expect(await post(url, { id: 'evt_m2', sequence: '1', step: 'unordered' })).toEqual({ status: 400, answer: 'WEBHOOK_SEQUENCE_INVALID' });
    expect(handled).toEqual([]);
  });
});
