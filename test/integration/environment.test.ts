/**
 * `createWebhooks({ environment })` over real loopback HTTP: every delivery carries the
 * environment in its signed envelope and in the unsigned `bookkeeper-environment` header;
 * `verifyWebhook(…, { environment })` accepts the matching one and refuses another, or none,
 * with `WEBHOOK_ENVIRONMENT_MISMATCH`, whatever the header says. Without the option the
 * request is what it always was: no header, no envelope key.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { createMemoryStorage, createWebhooks, generateSecret, type WebhooksOptions } from '../../src/index.js';
import { createNodeHandler, verifyWebhook, type WebhookMessage } from '../../src/receiver/index.js';
import { outcomeOf } from '../support/outcome.js';
import { registerCleanups } from '../support/cleanups.js';
import { LoopbackReceiver, type ReceivedRequest } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

const cleanups = registerCleanups();
const payment = samplePayment(1, 100);

function instance(options: WebhooksOptions = {}) {
  const webhooks = createWebhooks({ storage: createMemoryStorage(), security: { allowPrivateNetworks: true }, meter: false, ...options });
  cleanups.push(() => webhooks.close());
  return webhooks;
}

/** Publishes one payment from an instance with `options` to a loopback receiver; the request it got, and the secret. */
async function deliverOne(options: WebhooksOptions): Promise<{ request: ReceivedRequest; secret: string; eventId: string }> {
  const server = await LoopbackReceiver.start();
  cleanups.push(() => server.close());
  const webhooks = instance(options);
  const { secret } = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
  await webhooks.start();
  const { id } = await webhooks.publish('payment.succeeded', payment);
  await webhooks.drain({ timeoutMs: 5_000 });
  expect(server.requests).toHaveLength(1);
  return { request: server.requests[0]!, secret, eventId: id };
}

const messageOf = (request: ReceivedRequest, headers: Record<string, unknown> = {}): WebhookMessage => ({
  body: request.body,
  headers: { ...request.headers, ...headers } as Record<string, string>,
});

describe('an instance with environment "test"', () => {
  it('sends the environment in the signed envelope and in the bookkeeper-environment header', async () => {
    const { request, eventId } = await deliverOne({ environment: 'test' });
    expect(request.headers['bookkeeper-environment']).toBe('test');
    const body = request.body.toString();
    expect(body).toMatch(new RegExp(`^\\{"id":"${eventId}","type":"payment\\.succeeded","timestamp":"[^"]+","environment":"test","data":\\{`));
  });

  it('is accepted by verifyWebhook expecting "test", with the environment on the event', async () => {
    const { request, secret, eventId } = await deliverOne({ environment: 'test' });
    const event = verifyWebhook(messageOf(request), { secrets: secret, environment: 'test' });
    expect(event).toMatchObject({ id: eventId, type: 'payment.succeeded', environment: 'test', data: payment });
  });

  it('is refused by verifyWebhook expecting "live" with WEBHOOK_ENVIRONMENT_MISMATCH', async () => {
    const { request, secret } = await deliverOne({ environment: 'test' });
    expect(await outcomeOf(() => verifyWebhook(messageOf(request), { secrets: secret, environment: 'live' }))).toEqual({ code: 'WEBHOOK_ENVIRONMENT_MISMATCH' });
  });

  it('gets the same verdicts with the header tampered with: only the signed envelope counts', async () => {
    const { request, secret } = await deliverOne({ environment: 'test' });
    const forged = messageOf(request, { 'bookkeeper-environment': 'live' });
    expect(await outcomeOf(() => verifyWebhook(forged, { secrets: secret, environment: 'live' }))).toEqual({ code: 'WEBHOOK_ENVIRONMENT_MISMATCH' });
    expect(verifyWebhook(forged, { secrets: secret, environment: 'test' })).toMatchObject({ environment: 'test' });
    const stripped = messageOf(request, { 'bookkeeper-environment': undefined });
    expect(verifyWebhook(stripped, { secrets: secret, environment: 'test' })).toMatchObject({ environment: 'test' });
  });

  it('is answered 400 WEBHOOK_ENVIRONMENT_MISMATCH by a live node handler, which the sender records as a failed attempt', async () => {
    const webhooks = instance({ environment: 'test', retry: { delaysMs: [] } });
    const onEvent = vi.fn();
    const secret = generateSecret();
    const server = createServer(createNodeHandler({ secrets: secret, environment: 'live', logger: false, onEvent }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    await webhooks.subscriptions.create({ url: `http://127.0.0.1:${port}/webhooks`, eventTypes: ['payment.*'], secret });

    await webhooks.start();
    const dead = new Promise((resolve) => webhooks.bus.once('delivery:dead', resolve));
    await webhooks.publish('payment.succeeded', payment);
    await expect(dead).resolves.toMatchObject({ statusCode: 400 });
    const [delivery] = (await webhooks.deliveries.list()).items;
    const [attempt] = await webhooks.deliveries.attempts(delivery!.id);
    expect(attempt).toMatchObject({ statusCode: 400, responseSnippet: '{"error":"WEBHOOK_ENVIRONMENT_MISMATCH"}' });
    expect(onEvent).not.toHaveBeenCalled();
  });

  it('refuses a subscription header named bookkeeper-environment: only the option sets it', async () => {
    const webhooks = instance({ environment: 'test' });
    await expect(
      webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], headers: { 'Bookkeeper-Environment': 'live' } }),
    ).rejects.toMatchObject({ name: 'ValidationError', code: 'INPUT_INVALID' });
  });
});

describe('an instance without an environment', () => {
  it('sends neither the header nor the envelope key', async () => {
    const { request } = await deliverOne({});
    expect(request.headers['bookkeeper-environment']).toBeUndefined();
    expect(Object.keys(JSON.parse(request.body.toString()) as object)).toEqual(['id', 'type', 'timestamp', 'data']);
  });

  it('is accepted by a receiver without the option, and refused by one that expects an environment', async () => {
    const { request, secret } = await deliverOne({});
    const event = verifyWebhook(messageOf(request), { secrets: secret });
    expect(event).not.toHaveProperty('environment');
    expect(await outcomeOf(() => verifyWebhook(messageOf(request), { secrets: secret, environment: 'live' }))).toEqual({ code: 'WEBHOOK_ENVIRONMENT_MISMATCH' });
    const forged = messageOf(request, { 'bookkeeper-environment': 'live' });
    expect(await outcomeOf(() => verifyWebhook(forged, { secrets: secret, environment: 'live' }))).toEqual({ code: 'WEBHOOK_ENVIRONMENT_MISMATCH' });
  });
});
