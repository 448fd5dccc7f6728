/**
 * `subscriptions.sendTest` on every storage, over real loopback HTTP: one signed
 * `webhook.test` request to the subscription's URL with its custom headers, verified at the
 * receiver with the receiver package's `verifyWebhook`; a failed test is the result, never
 * an exception; the request goes in the subscription's test log (`testAttempts`), nothing
 * else is stored — and a verified URL change's request goes there too. Then the instance's
 * own transport, SSRF guard and timeout, and a storage that fails to record, on the memory
 * storage.
 */
import { lookup as dnsLookup } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConflictError,
  ValidationError,
  createUndiciTransport,
  createWebhooks,
  defineEvents,
  type BookkeeperEvents,
  type SubscriptionTestedEvent,
  type Transport,
  type TransportRequest,
  type Webhooks,
  type WebhooksOptions,
} from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { createMemoryStorage } from '../../src/storage/memory/index.js';
import { StorageError } from '../../src/errors.js';
import { registerCleanups } from '../support/cleanups.js';
import { recordingLogger } from '../support/recording-logger.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver, type Responder } from '../support/loopback-receiver.js';
import { rejectionOf } from '../support/rejections.js';
import { samplePayment } from '../support/sample-payment.js';

const START = Date.UTC(2026, 11, 3, 9, 0, 0);

/** What a test request must leave as it was: it is no delivery (its test log aside). */
async function storedState(webhooks: Webhooks<BookkeeperEvents>, subscriptionId: string) {
  const deliveries = (await webhooks.deliveries.list()).items;
  return {
    deliveries,
    attempts: await Promise.all(deliveries.map((delivery) => webhooks.deliveries.attempts(delivery.id))),
    events: (await webhooks.events.list()).items,
    history: (await webhooks.subscriptions.history(subscriptionId)).items,
    backlog: (await webhooks.metrics()).backlog,
  };
}

function tested(webhooks: Webhooks<BookkeeperEvents>): SubscriptionTestedEvent[] {
  const seen: SubscriptionTestedEvent[] = [];
  webhooks.bus.on('subscription:tested', (event) => seen.push(event));
  return seen;
}

describe.each(storageKinds)('subscriptions.sendTest on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'send-test');

  it('posts one webhook.test request with its custom headers, signed by each active secret, records it in the test log and stores nothing else', async () => {
    const clock = new FakeClock(START);
    const webhooks = env.instance({ clock, environment: 'test' });
    const sub = await webhooks.subscriptions.create({
      url: env.server.url,
      eventTypes: ['payment.*'],
      headers: { 'x-erp-tenant': 'acme', Authorization: 'Bearer sk_test_erp' },
    });
    await webhooks.publish('payment.succeeded', samplePayment());
    const { secret: first } = await webhooks.subscriptions.getSecrets(sub.id);
    await clock.advance(60_000);
    const { secret: second } = await webhooks.subscriptions.rotateSecret(sub.id);
    const before = await storedState(webhooks, sub.id);
    const seen = tested(webhooks);

    const result = await webhooks.subscriptions.sendTest(sub.id, { actor: 'ops@bookkeeper.example' });

    expect(result).toEqual({ ok: true, statusCode: 204, durationMs: expect.any(Number), error: null, webhookId: expect.stringMatching(/^msg_/), recorded: true });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(env.server.requests).toHaveLength(1);
    const request = env.server.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/webhooks');
    expect(request.headers).toMatchObject({
      'x-erp-tenant': 'acme',
      authorization: 'Bearer sk_test_erp',
      'content-type': 'application/json',
      'webhook-id': result.webhookId,
      'webhook-timestamp': String(START / 1000 + 60),
    });
    // Two signatures during the rotation overlap: the receiver verifies with either secret alone.
    expect((request.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    for (const secret of [first, second]) {
      const event = verifyWebhook({ body: request.body, headers: request.headers }, { secrets: secret, now: new Date(clock.now()), environment: 'test' });
      expect(event).toEqual({
        id: result.webhookId,
        type: 'webhook.test',
        timestamp: new Date(clock.now()).toISOString(),
        environment: 'test',
        data: { subscriptionId: sub.id, url: env.server.url, reason: 'test' },
      });
    }
    expect(await storedState(webhooks, sub.id)).toEqual(before);
    expect(seen).toEqual([{ subscriptionId: sub.id, tenantId: null, actor: 'ops@bookkeeper.example', at: clock.now(), ...result }]);
    const logged = {
      id: result.webhookId,
      subscriptionId: sub.id,
      tenantId: null,
      type: 'webhook.test',
      reason: 'test',
      actor: 'ops@bookkeeper.example',
      url: env.server.url,
      startedAt: clock.now(),
      durationMs: result.durationMs,
      statusCode: 204,
      ok: true,
      errorClass: null,
      error: null,
      responseSnippet: null,
    };
    expect(await webhooks.subscriptions.testAttempts(sub.id)).toEqual({ items: [logged], nextCursor: null });

    // A second test is a new request with a new id; without an actor, the announcement and the log say so.
    await clock.advance(1000);
    const again = await webhooks.subscriptions.sendTest(sub.id, { type: 'refund.initiated' });
    expect(again.webhookId).not.toBe(result.webhookId);
    expect(seen[1]).toMatchObject({ actor: null, webhookId: again.webhookId, tenantId: null, recorded: true });
    expect((await webhooks.subscriptions.testAttempts(sub.id)).items).toEqual([
      { ...logged, id: again.webhookId, type: 'refund.initiated', actor: null, startedAt: clock.now(), durationMs: again.durationMs },
      logged,
    ]);
    expect(await storedState(webhooks, sub.id)).toEqual(before);
  });

  it('returns a 500 as a failed test, keeps the start of the body in the test log only (as an attempt keeps it), and never retries it', async () => {
    const body = `stack trace with cus_secret_customer ${'é'.repeat(40)}`;
    env.server.responder = () => ({ status: 500, body });
    const webhooks = env.instance({ clock: new FakeClock(START), http: { responseSnippetBytes: 50 } });
    const sub = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const seen = tested(webhooks);

    const result = await webhooks.subscriptions.sendTest(sub.id);

    expect(result).toEqual({ ok: false, statusCode: 500, durationMs: expect.any(Number), error: 'HTTP 500', webhookId: expect.stringMatching(/^msg_/), recorded: true });
    expect(JSON.stringify([result, seen])).not.toContain('cus_secret_customer');
    expect(seen).toHaveLength(1);
    // 50 bytes of UTF-8, cut before the 'é' that would not fit whole.
    const snippet = 'stack trace with cus_secret_customer ' + 'é'.repeat(6);
    expect(Buffer.byteLength(snippet)).toBe(49);
    expect((await webhooks.subscriptions.testAttempts(sub.id)).items).toMatchObject([
      { id: result.webhookId, ok: false, statusCode: 500, errorClass: 'http', error: 'HTTP 500', responseSnippet: snippet },
    ]);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(env.server.requests).toHaveLength(1);
    expect((await webhooks.deliveries.list()).items).toEqual([]);
    // A failed test changes nothing of the subscription's health.
    expect(await webhooks.subscriptions.get(sub.id)).toMatchObject({ status: 'active', failingSince: null });
  });

  it('returns a refused connection as a failed test without a status', async () => {
    const closed = await LoopbackReceiver.start();
    const url = closed.url;
    await closed.close();
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url, eventTypes: ['payment.*'] });

    const result = await webhooks.subscriptions.sendTest(sub.id);

    expect(result).toEqual({ ok: false, statusCode: null, durationMs: expect.any(Number), error: expect.any(String), webhookId: expect.stringMatching(/^msg_/), recorded: true });
    // The failure class leads the message.
    expect(result.error!.startsWith('connect failure')).toBe(true);
    expect((await webhooks.subscriptions.testAttempts(sub.id)).items).toMatchObject([
      { id: result.webhookId, url, ok: false, statusCode: null, errorClass: 'connect', error: result.error, responseSnippet: null },
    ]);
  });

  it('tests a disabled subscription, which stays disabled with its deliveries held', async () => {
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment());
    await webhooks.subscriptions.disable(sub.id, { reason: 'receiver migration' });
    const before = await storedState(webhooks, sub.id);

    expect(await webhooks.subscriptions.sendTest(sub.id)).toMatchObject({ ok: true, statusCode: 204 });

    expect(env.server.requests).toHaveLength(1);
    expect(JSON.parse(env.server.requests[0]!.body.toString())).toMatchObject({ type: 'webhook.test' });
    expect(await webhooks.subscriptions.get(sub.id)).toMatchObject({ status: 'disabled', disabledReason: 'receiver migration' });
    expect(await storedState(webhooks, sub.id)).toEqual(before);
    expect(before.backlog.held).toBe(1);
    expect((await webhooks.subscriptions.testAttempts(sub.id)).items).toMatchObject([{ ok: true, statusCode: 204 }]);
  });

  it('refuses a deleted subscription with SUBSCRIPTION_DELETED and an unknown one with SUBSCRIPTION_NOT_FOUND, sending nothing', async () => {
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const seen = tested(webhooks);
    await webhooks.subscriptions.delete(sub.id);

    const deleted = await rejectionOf(webhooks.subscriptions.sendTest(sub.id));
    expect(deleted).toBeInstanceOf(ConflictError);
    expect(deleted).toMatchObject({ code: 'SUBSCRIPTION_DELETED', field: 'id' });
    const unknown = await rejectionOf(webhooks.subscriptions.sendTest('sub_01KBZZZZZZZZZZZZZZZZZZZZZZ'));
    expect(unknown).toBeInstanceOf(ValidationError);
    expect(unknown).toMatchObject({ code: 'SUBSCRIPTION_NOT_FOUND', field: 'id' });
    expect(env.server.requests).toHaveLength(0);
    expect(seen).toEqual([]);
    // The deleted one's test log is readable, and empty; an unknown id's is refused as history's is.
    expect(await webhooks.subscriptions.testAttempts(sub.id)).toEqual({ items: [], nextCursor: null });
    expect(await rejectionOf(webhooks.subscriptions.testAttempts('sub_01KBZZZZZZZZZZZZZZZZZZZZZZ'))).toMatchObject({ name: 'ValidationError', code: 'SUBSCRIPTION_NOT_FOUND', field: 'id' });
  });

  it('returns the result of a test whose subscription was removed while the request was in flight, recorded: false, with nothing left in a log', async () => {
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    env.server.responder = (_request, _index, res) => {
      void webhooks.subscriptions.delete(sub.id, { hard: true }).then(() => res.writeHead(204).end());
      return 'hang';
    };
    const seen = tested(webhooks);

    const result = await webhooks.subscriptions.sendTest(sub.id);

    expect(result).toMatchObject({ ok: true, statusCode: 204, recorded: false });
    expect(seen).toMatchObject([{ webhookId: result.webhookId, recorded: false }]);
    expect(await webhooks.subscriptions.get(sub.id)).toBeNull();
    expect(await env.opened.storage.listTestAttempts({ subscriptionId: sub.id, limit: 10 })).toEqual({ items: [], nextCursor: null });
  });

  it('pages the test log newest first, and refuses a bad query with a code', async () => {
    const clock = new FakeClock(START);
    const webhooks = env.instance({ clock });
    const sub = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await webhooks.subscriptions.sendTest(sub.id)).webhookId);
      await clock.advance(1);
    }
    const first = await webhooks.subscriptions.testAttempts(sub.id, { limit: 2 });
    expect(first.items.map((attempt) => attempt.id)).toEqual([ids[2], ids[1]]);
    const second = await webhooks.subscriptions.testAttempts(sub.id, { limit: 2, cursor: first.nextCursor! });
    expect(second).toEqual({ items: [expect.objectContaining({ id: ids[0] })], nextCursor: null });

    for (const query of [{ limit: 0 }, { limit: 1001 }, { limit: 1.5 }, { cursor: '' }, { since: 0 }, null]) {
      expect(await rejectionOf(webhooks.subscriptions.testAttempts(sub.id, query as never)), JSON.stringify(query)).toMatchObject({ name: 'ValidationError', code: 'INPUT_INVALID' });
    }
    expect(await rejectionOf(webhooks.subscriptions.testAttempts(sub.id, { cursor: 'bm90LWEtY3Vyc29y' }))).toMatchObject({ code: 'CURSOR_INVALID' });
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['refund.*'] });
    const subscriptionsCursor = (await webhooks.subscriptions.list({ limit: 1 })).nextCursor!;
    expect(await rejectionOf(webhooks.subscriptions.testAttempts(sub.id, { cursor: subscriptionsCursor }))).toMatchObject({ code: 'CURSOR_INVALID' });
    expect(await rejectionOf(webhooks.subscriptions.testAttempts('', {}))).toMatchObject({ code: 'INPUT_INVALID' });
  });

  it("records a verified URL change's test request, refused or made, with the new URL and the change's actor", async () => {
    const clock = new FakeClock(START);
    const webhooks = env.instance({ clock });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/old`, eventTypes: ['payment.*'] });
    env.server.responder = (request) => (request.url.endsWith('/refuses') ? { status: 401, body: 'bad signature' } : undefined);
    const refusingUrl = `${env.server.url}/refuses`;
    const acceptingUrl = `${env.server.url}/accepts`;

    const refused = await rejectionOf(webhooks.subscriptions.update(sub.id, { url: refusingUrl }, { verifyUrl: true, actor: 'ops:alice' }));
    expect(refused).toMatchObject({ name: 'ConflictError', code: 'SUBSCRIPTION_URL_UNVERIFIED' });
    await clock.advance(1000);
    await webhooks.subscriptions.update(sub.id, { url: acceptingUrl }, { verifyUrl: true });

    expect(await webhooks.subscriptions.get(sub.id)).toMatchObject({ url: acceptingUrl });
    expect((await webhooks.subscriptions.testAttempts(sub.id)).items).toEqual([
      expect.objectContaining({ type: 'webhook.test', reason: 'url_change', actor: null, url: acceptingUrl, startedAt: START + 1000, ok: true, statusCode: 204, error: null }),
      expect.objectContaining({
        type: 'webhook.test',
        reason: 'url_change',
        actor: 'ops:alice',
        url: refusingUrl,
        startedAt: START,
        ok: false,
        statusCode: 401,
        errorClass: 'http',
        error: 'HTTP 401',
        responseSnippet: 'bad signature',
      }),
    ]);
    expect(env.server.requests.map((request) => request.headers['webhook-id'])).toEqual((await webhooks.subscriptions.testAttempts(sub.id)).items.map((attempt) => attempt.id).reverse());
  });
});

describe("subscriptions.sendTest through the instance's transport, SSRF guard and timeout", () => {
  const cleanups = registerCleanups();

  async function receiver(responder?: Responder) {
    const server = await LoopbackReceiver.start(responder);
    cleanups.push(() => server.close());
    return server;
  }

  function instance(options: WebhooksOptions<BookkeeperEvents>) {
    const webhooks = createWebhooks({ meter: false, ...options });
    cleanups.push(() => webhooks.close());
    return webhooks;
  }

  it("with `type`, sends that catalog type with its example as data, verified at the receiver; refuses a type outside the catalog or without an example", async () => {
    const server = await receiver();
    const webhooks = instance({ security: { allowPrivateNetworks: true } });
    const sub = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const { secret } = await webhooks.subscriptions.getSecrets(sub.id);

    const result = await webhooks.subscriptions.sendTest(sub.id, { type: 'refund.initiated' });

    expect(result.ok).toBe(true);
    const request = server.requests[0]!;
    const event = verifyWebhook({ body: request.body, headers: request.headers }, { secrets: secret });
    expect(event).toMatchObject({ id: result.webhookId, type: 'refund.initiated', data: webhooks.events.examples['refund.initiated'] });
    expect(webhooks.events.schemas['refund.initiated'].safeParse(event.data).success).toBe(true);

    expect(await rejectionOf(webhooks.subscriptions.sendTest(sub.id, { type: 'refund.teleported' }))).toMatchObject({ code: 'EVENT_TYPE_UNKNOWN', field: 'type' });
    expect(await rejectionOf(webhooks.subscriptions.sendTest(sub.id, { type: 'payment.*' }))).toMatchObject({ code: 'EVENT_TYPE_UNKNOWN', field: 'type' });
    expect(await rejectionOf(webhooks.subscriptions.sendTest(sub.id, { type: 42 as never }))).toMatchObject({ code: 'INPUT_INVALID' });
    const bare = createWebhooks({ meter: false, events: defineEvents({ 'ping.sent': z.object({ n: z.number() }) }), security: { allowPrivateNetworks: true } });
    cleanups.push(() => bare.close());
    const bareSub = await bare.subscriptions.create({ url: server.url, eventTypes: ['*'] });
    expect(await rejectionOf(bare.subscriptions.sendTest(bareSub.id, { type: 'ping.sent' }))).toMatchObject({ code: 'INPUT_INVALID', field: 'type' });
    expect(server.requests).toHaveLength(1);
  });

  it('returns the result when the storage fails to record the test (recorded: false) and logs the failure; a verified URL change goes by the answer all the same', async () => {
    const server = await receiver();
    const failure = new StorageError('STORAGE_UNAVAILABLE', 'PostgreSQL storage: the database is unreachable', { retryable: true });
    const storage = Object.assign(createMemoryStorage(), {
      recordTestAttempt: async () => {
        throw failure;
      },
    });
    const { logger, errors } = recordingLogger();
    const webhooks = instance({ storage, logger, security: { allowPrivateNetworks: true } });
    const sub = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const seen = tested(webhooks);

    const result = await webhooks.subscriptions.sendTest(sub.id, { actor: 'ops:alice' });

    expect(result).toEqual({ ok: true, statusCode: 204, durationMs: expect.any(Number), error: null, webhookId: expect.stringMatching(/^msg_/), recorded: false });
    expect(seen).toMatchObject([{ webhookId: result.webhookId, recorded: false }]);
    expect(server.requests).toHaveLength(1);
    const logged = { message: 'webhooks: a test request was sent but could not be recorded in the test log', fields: { err: failure, code: 'STORAGE_UNAVAILABLE', subscriptionId: sub.id } };
    expect(errors).toEqual([{ ...logged, fields: { ...logged.fields, webhookId: result.webhookId } }]);

    await webhooks.subscriptions.update(sub.id, { url: `${server.url}/v2` }, { verifyUrl: true });
    expect(await webhooks.subscriptions.get(sub.id)).toMatchObject({ url: `${server.url}/v2` });
    expect(errors).toHaveLength(2);
    expect(errors[1]).toMatchObject({ message: logged.message, fields: { code: 'STORAGE_UNAVAILABLE', subscriptionId: sub.id, webhookId: server.requests[1]!.headers['webhook-id'] } });
    expect(await webhooks.subscriptions.testAttempts(sub.id)).toEqual({ items: [], nextCursor: null });
  });

  it('keeps no response body in the test log with http.responseSnippetBytes 0', async () => {
    const server = await receiver(() => ({ status: 200, body: 'cus_secret_customer' }));
    const webhooks = instance({ security: { allowPrivateNetworks: true }, http: { responseSnippetBytes: 0 } });
    const sub = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    await webhooks.subscriptions.sendTest(sub.id);
    expect((await webhooks.subscriptions.testAttempts(sub.id)).items).toMatchObject([{ ok: true, statusCode: 200, responseSnippet: null }]);
  });

  it('refuses at connect time a name that resolves to loopback, though it passed registration', async () => {
    const server = await receiver();
    const everythingIsLoopback = ((_hostname: string, options: object, callback: (...args: unknown[]) => void) =>
      dnsLookup('127.0.0.1', options as never, callback as never)) as unknown as typeof dnsLookup;
    const transport = createUndiciTransport({ lookup: everythingIsLoopback });
    cleanups.push(() => transport.close());
    const webhooks = instance({ transport });
    const sub = await webhooks.subscriptions.create({ url: `http://erp.bookkeeper-customer.test:${new URL(server.url).port}/webhooks`, eventTypes: ['payment.*'] });

    const result = await webhooks.subscriptions.sendTest(sub.id);

    expect(result).toMatchObject({ ok: false, statusCode: null });
    expect(result.error!.startsWith('ssrf failure')).toBe(true);
    expect(server.requests).toHaveLength(0);
  });

  it('gives up on an endpoint that does not answer within http.timeoutMs', async () => {
    const server = await receiver(() => 'hang');
    const webhooks = instance({ security: { allowPrivateNetworks: true }, http: { timeoutMs: 200 } });
    const sub = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });

    const result = await webhooks.subscriptions.sendTest(sub.id);

    expect(result).toMatchObject({ ok: false, statusCode: null });
    expect(result.error!.startsWith('timeout failure')).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  it("posts through the host's transport with the instance's timeout and guard, and reads a transport that throws as a network failure", async () => {
    const sent: TransportRequest[] = [];
    let answer: 'redirect' | 'throw' = 'redirect';
    const transport: Transport = {
      async send(request) {
        sent.push(request);
        if (answer === 'throw') throw new Error('socket gone');
        return { kind: 'response', statusCode: 302, retryAfter: null, body: '' };
      },
      async close() {},
    };
    const webhooks = instance({ transport, http: { timeoutMs: 4_321 } });
    const sub = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });

    // A redirect is not followed: a 3xx is no success.
    expect(await webhooks.subscriptions.sendTest(sub.id)).toMatchObject({ ok: false, statusCode: 302, error: 'HTTP 302' });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ url: 'https://erp.example.com/hooks', timeoutMs: 4_321 });
    // The guard of an instance that refuses private networks, applied when the transport connects.
    expect(sent[0]!.guard).not.toBeNull();
    answer = 'throw';
    const thrown = await webhooks.subscriptions.sendTest(sub.id);
    expect(thrown).toMatchObject({ ok: false, statusCode: null });
    expect(thrown.error!.startsWith('network failure')).toBe(true);
  });
});
