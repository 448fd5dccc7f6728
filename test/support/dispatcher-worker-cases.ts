/**
 * The dispatcher in a worker thread (`dispatcher: { thread: 'worker' }`), on a real SQLite
 * file or a real PostgreSQL schema, posting to a real loopback receiver: what the host
 * sees (bus, metrics, logger, drain) must be what it sees with the dispatcher in-thread,
 * and a worker that dies must be reported, restarted, and lose nothing; `v1a` (Ed25519)
 * subscriptions are signed in the worker as in-thread. Run per storage by
 * test/integration/dispatcher-worker-{sqlite,postgres}.test.ts (a file each: every test
 * starts real threads, which load the sources through tsx).
 */
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateSigningKeyPair, type DispatcherCrashedEvent, type LifecycleEvents } from '../../src/index.js';
import { internalDispatcher } from '../../src/create-webhooks.js';
import type { WorkerDispatcher } from '../../src/delivery/worker/worker-dispatcher.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { useInstancesOnStorage } from './every-storage.js';
import { messageOf, schemesOf, verifyingWith } from './verifying-receiver.js';
import { recordingLogger } from './recording-logger.js';
import { samplePayment } from './sample-payment.js';
import { createTestCa } from './test-certificates.js';
import { expectNoThreadLeftBehindARestartWait } from './thread-restarts.js';

const worker = { thread: 'worker' } as const;


function workerOf(webhooks: object): WorkerDispatcher {
  return internalDispatcher(webhooks) as WorkerDispatcher;
}

export function describeDispatcherWorker(kind: 'sqlite' | 'postgres'): void {
  describe(`the dispatcher in a worker thread on ${kind}`, () => {
    casesOn(kind);
  });
}

/** An HTTPS receiver that requires a client certificate of `ca`, answers 204, and counts its open connections. */
async function mtlsReceiver(identity: { key: string; certificate: string }, ca: string) {
  const clients: string[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpsServer({ key: identity.key, cert: identity.certificate, ca, requestCert: true, rejectUnauthorized: true }, (request, response) => {
    clients.push(String((request.socket as TLSSocket).getPeerCertificate().subject?.CN ?? ''));
    request.resume();
    request.on('end', () => response.writeHead(204).end());
  });
  // Longer than any wait below: only the client can close an idle connection in time.
  server.keepAliveTimeout = 60_000;
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, clients, sockets, close };
}

function casesOn(kind: 'sqlite' | 'postgres'): void {
  const env = useInstancesOnStorage(kind, 'worker_dispatch');
  const closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closing.splice(0)) await close();
  });

  it("presents the subscription's client certificate from the worker, and closes the worker's pool of an identity once it is replaced or its subscription deleted", async () => {
    const ca = createTestCa();
    const receiver = await mtlsReceiver(ca.issue({ commonName: 'localhost', ipAddresses: ['127.0.0.1'], usage: 'server' }), ca.certificate);
    closing.push(receiver.close);
    const first = ca.issue({ commonName: 'sender-1', usage: 'client' });
    const second = ca.issue({ commonName: 'sender-2', usage: 'client' });
    const webhooks = env.instance({ dispatcher: worker, retry: { delaysMs: [] } });
    await webhooks.start();
    const { id } = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tls: { clientCertificate: first.certificate, clientKey: first.key, ca: ca.certificate } });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(receiver.clients).toEqual(['sender-1']);
    // The worker keeps the connection alive for the next delivery (keepAliveTimeout: 30 s)...
    expect(receiver.sockets.size).toBe(1);
    // ...until the identity is replaced: the worker is told, and closes its pool at once.
    await webhooks.subscriptions.update(id, { tls: { clientCertificate: second.certificate, clientKey: second.key, ca: ca.certificate } });
    await vi.waitFor(() => expect(receiver.sockets.size).toBe(0), { timeout: 5_000 });
    await webhooks.publish('payment.succeeded', samplePayment(2));
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(receiver.clients).toEqual(['sender-1', 'sender-2']);
    expect(receiver.sockets.size).toBe(1);
    await webhooks.subscriptions.delete(id);
    await vi.waitFor(() => expect(receiver.sockets.size).toBe(0), { timeout: 5_000 });
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(2);
  });

  it('delivers every event published on the host: signed, announced on the host bus, counted in metrics(), drained, and no worker left after stop()', async () => {
    const count = 40;
    // The first attempts of five deliveries fail: they are retried at once and succeed.
    const seen = new Set<unknown>();
    env.server.responder = (request) => {
      const first = !seen.has(request.headers['webhook-id']);
      seen.add(request.headers['webhook-id']);
      return first && seen.size <= 5 ? { status: 500, body: 'not yet' } : undefined;
    };
    const webhooks = env.instance({ dispatcher: worker, retry: { delaysMs: [0] }, pollIntervalMs: 50 });
    const succeeded: Array<LifecycleEvents['delivery:succeeded']> = [];
    const failed: Array<LifecycleEvents['delivery:failed']> = [];
    webhooks.bus.on('delivery:succeeded', (event) => void succeeded.push(event));
    webhooks.bus.on('delivery:failed', (event) => void failed.push(event));
    await webhooks.start();
    const { id: subscriptionId, secret } = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const published = [];
    for (let n = 0; n < count; n++) published.push(await webhooks.publish('payment.succeeded', samplePayment(n)));
    await webhooks.drain({ timeoutMs: 15_000 });

    expect(env.server.requests).toHaveLength(count + 5);
    const byId = new Map(published.map((event) => [event.id, event]));
    for (const request of env.server.requests) {
      const verified = verifyWebhook({ body: request.body, headers: request.headers as Record<string, string> }, { secrets: secret });
      expect(verified).toEqual({ id: verified.id, type: 'payment.succeeded', timestamp: byId.get(verified.id)!.timestamp, data: byId.get(verified.id)!.data });
    }
    expect(new Set(succeeded.map((event) => event.eventId))).toEqual(new Set(byId.keys()));
    expect(succeeded).toHaveLength(count);
    expect(succeeded[0]).toEqual({
      deliveryId: expect.stringMatching(/^dlv_/),
      eventId: expect.stringMatching(/^evt_/),
      eventType: 'payment.succeeded',
      tenantId: null,
      subscriptionId,
      attempt: expect.any(Number),
      startedAt: expect.any(Number),
      durationMs: expect.any(Number),
      statusCode: 204,
      latencyMs: expect.any(Number),
    });
    expect(failed).toHaveLength(5);
    for (const event of failed) {
      expect(event).toMatchObject({ subscriptionId, attempt: 1, statusCode: 500, errorClass: 'http', nextAttemptAt: expect.any(Number) });
    }
    const retried = new Set(failed.map((event) => event.deliveryId));
    expect(succeeded.filter((event) => retried.has(event.deliveryId)).map((event) => event.attempt)).toEqual([2, 2, 2, 2, 2]);

    const metrics = await webhooks.metrics();
    expect(metrics).toMatchObject({
      deliveriesSucceeded: count,
      deliveriesSucceededAfterRetry: 5,
      deliveriesWithFailedAttempt: 5,
      retrySuccessRate: 1,
      attemptsByOutcome: { delivered: count, retry: 5, dead: 0, disable: 0 },
      attemptsByStatusClass: { '2xx': count, '5xx': 5 },
      inFlight: 0,
      backlog: expect.objectContaining({ pending: 0 }),
    });
    expect(metrics.deliveryLatencyMs.count).toBe(count);
    expect((await webhooks.metrics({ subscriptionId })).circuit).toEqual({ state: 'closed', openUntil: null, inFlight: 0 });

    const thread = workerOf(webhooks).worker!;
    const exited = new Promise<number>((resolve) => thread.once('exit', resolve));
    await webhooks.stop();
    expect(workerOf(webhooks).worker).toBeNull();
    await exited;
  });

  it('sends what a subscription\'s transform made at publish on the host, and the filter\'s verdict holds', async () => {
    const webhooks = env.instance({
      dispatcher: worker,
      transforms: { thin: (event) => ({ paymentId: (event.data as { paymentId: string }).paymentId }) },
    });
    const sub = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], transform: 'thin', filter: { 'data.amount.amount': { $gte: 100 } } });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', samplePayment(1, 100));
    await webhooks.publish('payment.succeeded', samplePayment(2, 99));
    await webhooks.drain({ timeoutMs: 20_000 });
    expect(env.server.requests).toHaveLength(1);
    const event = verifyWebhook({ body: env.server.requests[0]!.body.toString(), headers: env.server.requests[0]!.headers as Record<string, string> }, { secrets: sub.secret });
    expect(event.data).toEqual({ paymentId: 'pay_1' });
  });

  it('signs a v1a subscription in the worker: the receiver, holding only the public key, verifies every request', async () => {
    const webhooks = env.instance({ dispatcher: worker });
    const created = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], signing: 'v1a' });
    verifyingWith(env.server, () => [created.publicKey!]);
    const stranger = generateSigningKeyPair();
    await webhooks.start();
    const published = [];
    for (let n = 0; n < 3; n++) published.push((await webhooks.publish('payment.succeeded', samplePayment(n))).id);
    await webhooks.drain({ timeoutMs: 15_000 });

    expect(env.server.requests).toHaveLength(3);
    for (const request of env.server.requests) {
      expect(schemesOf(request)).toEqual(['v1a']);
      expect(verifyWebhook(messageOf(request), { secrets: created.publicKey! }).type).toBe('payment.succeeded');
      // Another key pair's public key does not verify it: the signature is this key's.
      expect(() => verifyWebhook(messageOf(request), { secrets: stranger.publicKey })).toThrow(expect.objectContaining({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' }));
    }
    expect(new Set(env.server.requests.map((request) => request.headers['webhook-id']))).toEqual(new Set(published));
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(3);
    await webhooks.stop();
  });

  it('sends a v1 and a v1a signature through the worker during the overlap of a rotation from v1 to v1a, each receiver verifying its own', async () => {
    const webhooks = env.instance({ dispatcher: worker });
    const created = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    const moved = await webhooks.subscriptions.rotateSecret(created.id, { signing: 'v1a', overlapMs: 3_600_000 });
    // A receiver that has switched holds the public key only; one that has not, the v1 secret only.
    verifyingWith(env.server, () => [moved.publicKey!]);
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.drain({ timeoutMs: 15_000 });

    expect(env.server.requests).toHaveLength(1);
    const request = env.server.requests[0]!;
    expect(schemesOf(request)).toEqual(['v1a', 'v1']);
    expect(verifyWebhook(messageOf(request), { secrets: moved.publicKey! }).type).toBe('payment.succeeded');
    expect(verifyWebhook(messageOf(request), { secrets: created.secret }).type).toBe('payment.succeeded');
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(1);

    // The overlap cut short: the worker signs with the v1a key alone.
    await webhooks.subscriptions.rotateSecret(created.id, { secret: moved.secret, overlapMs: 0 });
    await webhooks.publish('payment.succeeded', samplePayment(2));
    await webhooks.drain({ timeoutMs: 15_000 });
    expect(env.server.requests).toHaveLength(2);
    expect(schemesOf(env.server.requests[1]!)).toEqual(['v1a']);
    expect(() => verifyWebhook(messageOf(env.server.requests[1]!), { secrets: created.secret })).toThrow(expect.objectContaining({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' }));
    await webhooks.stop();
  });

  it("sends the host only the events its bus listens to, and sends one from the moment a listener is added", async () => {
    const webhooks = env.instance({ dispatcher: worker });
    await webhooks.start();
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const relayed: string[] = [];
    workerOf(webhooks).worker!.on('message', (report: { entries: ReadonlyArray<readonly unknown[]> }) => {
      for (const entry of report.entries) if (entry[0] === 'event') relayed.push(entry[1] as string);
    });
    for (let n = 0; n < 3; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await webhooks.drain({ timeoutMs: 10_000 });
    // Nobody listens: nothing was copied and sent, yet every attempt is counted.
    expect(relayed).toEqual([]);
    expect((await webhooks.metrics()).deliveriesSucceeded).toBe(3);

    const succeeded: string[] = [];
    webhooks.bus.on('delivery:succeeded', (event) => void succeeded.push(event.eventId));
    const later = [];
    for (let n = 3; n < 5; n++) later.push((await webhooks.publish('payment.succeeded', samplePayment(n))).id);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(succeeded.sort()).toEqual(later.sort());
    expect(relayed).toEqual(['delivery:succeeded', 'delivery:succeeded']);
    await webhooks.stop();
  });

  it('stops as in-thread: stop() waits for the posts in flight in the worker and their settles', async () => {
    // Each answer waits until the test lets it go, so the posts are in flight when stop() comes.
    const answerHeld = env.server.holdAnswers();
    const webhooks = env.instance({ dispatcher: worker });
    await webhooks.start();
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    for (let n = 0; n < 3; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await env.server.waitFor(3);
    let stopped = false;
    const stopping = webhooks.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    answerHeld();
    await stopping;
    expect(workerOf(webhooks).worker).toBeNull();
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(3);
    expect((await webhooks.metrics()).deliveriesSucceeded).toBe(3);
  });

  it("runs the auto-disable in the worker: the host's logger gets its warning and the host bus subscription:disabled with the change record", async () => {
    env.server.responder = () => ({ status: 500 });
    const { logger, warnings } = recordingLogger();
    const webhooks = env.instance({ dispatcher: worker, retry: { delaysMs: [0, 0, 0] }, autoDisableAfterMs: 1, circuitBreaker: false, logger });
    const disabled = new Promise<LifecycleEvents['subscription:disabled']>((resolve) => webhooks.bus.once('subscription:disabled', resolve));
    await webhooks.start();
    const { id } = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    const event = await disabled;
    expect(event).toMatchObject({ subscriptionId: id, tenantId: null, origin: 'dispatcher', actor: null, at: expect.any(Number) });
    expect(event.change).toMatchObject({ subscriptionId: id, action: 'disabled', origin: 'dispatcher' });
    await vi.waitFor(() => expect(warnings.map((line) => line.message)).toContain('webhooks: subscription auto-disabled after sustained failure'), { timeout: 5_000 });
    expect(warnings.find((line) => line.message.includes('auto-disabled'))!.fields).toMatchObject({ subscriptionId: id, failingSince: expect.any(Number) });
    expect((await webhooks.subscriptions.get(id))?.status).toBe('disabled');
  });

  it('reports a crashed worker, starts it again with a doubled delay, and still delivers every event once the dead leases expire', async () => {
    const count = 12;
    // The first requests hang: the worker dies with them in flight, under their leases.
    env.server.responder = (_request, index) => (index < 3 ? 'hang' : undefined);
    const { logger, errors } = recordingLogger();
    const webhooks = env.instance({
      dispatcher: { thread: 'worker', restartDelayMs: 20 },
      http: { timeoutMs: 500 },
      leaseMs: 1_500,
      pollIntervalMs: 100,
      logger,
    });
    const crashes: DispatcherCrashedEvent[] = [];
    webhooks.bus.on('dispatcher:crashed', (event) => void crashes.push(event));
    await webhooks.start();
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const ids = [];
    for (let n = 0; n < count; n++) ids.push((await webhooks.publish('payment.succeeded', samplePayment(n))).id);
    await env.server.waitFor(3);

    await workerOf(webhooks).worker!.terminate();
    expect(crashes).toHaveLength(1);
    expect(crashes[0]!.restartInMs).toBe(20);
    expect(crashes[0]!.error).toBeInstanceOf(Error);
    expect(errors[0]).toMatchObject({ message: expect.stringContaining('dispatcher worker crashed'), fields: { restartInMs: 20 } });

    // The restarted worker crashes too: the next wait is twice as long.
    await vi.waitFor(() => expect(workerOf(webhooks).worker).not.toBeNull(), { timeout: 5_000 });
    await workerOf(webhooks).worker!.terminate();
    expect(crashes.map((crash) => crash.restartInMs)).toEqual([20, 40]);

    await webhooks.drain({ timeoutMs: 15_000 });
    const answered = new Set(env.server.requests.slice(3).map((request) => request.headers['webhook-id']));
    expect(answered).toEqual(new Set(ids));
    const delivered = await webhooks.deliveries.list({ status: 'delivered' });
    expect(delivered.items).toHaveLength(count);
    expect((await webhooks.metrics()).backlog.pending).toBe(0);
  });

  it('leaves no worker and no restart behind a stop() during the wait before a restart, nor after close()', async () => {
    await expectNoThreadLeftBehindARestartWait(env.instance({ dispatcher: { thread: 'worker', restartDelayMs: 60_000 } }), workerOf);
  });
}
