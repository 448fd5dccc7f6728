/**
 * The dispatcher's storage calls in a thread of their own (`dispatcher: { storageThread:
 * 'worker' }`), on a real SQLite file or a real PostgreSQL schema, posting to a real
 * loopback receiver: the dispatcher signs and posts on the host's thread, its claims and
 * settles go through the thread's own connection. What the host sees must be what it sees
 * in-thread, a thread that dies must be reported and started again with nothing lost, and no
 * thread may outlive `stop()`. Run per storage by
 * test/integration/storage-thread-{sqlite,postgres}.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DispatcherCrashedEvent, LifecycleEvents } from '../../src/index.js';
import { internalDispatcher } from '../../src/create-webhooks.js';
import type { StorageThreadDispatcher } from '../../src/delivery/worker/storage-thread.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { useInstancesOnStorage } from './every-storage.js';
import { recordingLogger } from './recording-logger.js';
import { samplePayment } from './sample-payment.js';
import { expectNoThreadLeftBehindARestartWait } from './thread-restarts.js';

function threadOf(webhooks: object): StorageThreadDispatcher['thread'] {
  return (internalDispatcher(webhooks) as StorageThreadDispatcher).thread;
}

export function describeStorageThread(kind: 'sqlite' | 'postgres'): void {
  describe(`the dispatcher's storage calls in a worker thread on ${kind}`, () => {
    casesOn(kind);
  });
}

function casesOn(kind: 'sqlite' | 'postgres'): void {
  const env = useInstancesOnStorage(kind, 'storage_thread');
  const closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closing.splice(0)) await close();
  });

  it('delivers every event published on the host, retries included: signed, announced, counted, settled through the thread, and no thread left after stop()', async () => {
    const count = 60;
    // The first attempts of five deliveries fail: retried at once, they succeed.
    const seen = new Set<unknown>();
    env.server.responder = (request) => {
      const first = !seen.has(request.headers['webhook-id']);
      seen.add(request.headers['webhook-id']);
      return first && seen.size <= 5 ? { status: 500, body: 'not yet' } : undefined;
    };
    const webhooks = env.instance({ dispatcher: { storageThread: 'worker' }, retry: { delaysMs: [0] }, pollIntervalMs: 50 });
    const succeeded: Array<LifecycleEvents['delivery:succeeded']> = [];
    const failed: Array<LifecycleEvents['delivery:failed']> = [];
    webhooks.bus.on('delivery:succeeded', (event) => void succeeded.push(event));
    webhooks.bus.on('delivery:failed', (event) => void failed.push(event));
    await webhooks.start();
    expect(threadOf(webhooks).worker).not.toBeNull();
    const { id: subscriptionId, secret } = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const published = [];
    for (let n = 0; n < count; n++) published.push(await webhooks.publish('payment.succeeded', samplePayment(n)));
    await webhooks.drain({ timeoutMs: 15_000 });

    expect(env.server.requests).toHaveLength(count + 5);
    const byId = new Map(published.map((event) => [event.id, event]));
    for (const request of env.server.requests) {
      const verified = verifyWebhook({ body: request.body, headers: request.headers as Record<string, string> }, { secrets: secret });
      expect(verified.data).toEqual(byId.get(verified.id)!.data);
    }
    expect(new Set(succeeded.map((event) => event.eventId))).toEqual(new Set(byId.keys()));
    expect(succeeded).toHaveLength(count);
    expect(failed).toHaveLength(5);
    const retried = new Set(failed.map((event) => event.deliveryId));
    expect(succeeded.filter((event) => retried.has(event.deliveryId)).map((event) => event.attempt)).toEqual([2, 2, 2, 2, 2]);
    // What the thread's connection wrote is what the host's reads: every delivery and attempt.
    const delivered = await webhooks.deliveries.list({ status: 'delivered', limit: 100 });
    expect(delivered.items).toHaveLength(count);
    const attempts = await webhooks.deliveries.attempts([...retried][0]!);
    expect(attempts.map((attempt) => attempt.outcome)).toEqual(['retry', 'delivered']);
    expect(await webhooks.metrics()).toMatchObject({
      deliveriesSucceeded: count,
      deliveriesSucceededAfterRetry: 5,
      attemptsByOutcome: { delivered: count, retry: 5, dead: 0, disable: 0 },
      inFlight: 0,
      backlog: expect.objectContaining({ pending: 0 }),
    });
    expect((await webhooks.metrics({ subscriptionId })).circuit).toEqual({ state: 'closed', openUntil: null, inFlight: 0 });

    const thread = threadOf(webhooks).worker!;
    const exited = new Promise<number>((resolve) => thread.once('exit', resolve));
    await webhooks.stop();
    expect(threadOf(webhooks).worker).toBeNull();
    await exited;
    // Started again, it has a thread of its own again and delivers.
    await webhooks.start();
    expect(threadOf(webhooks).worker).not.toBe(thread);
    await webhooks.publish('payment.succeeded', samplePayment(count));
    await webhooks.drain({ timeoutMs: 10_000 });
    expect((await webhooks.deliveries.list({ status: 'delivered', limit: 100 })).items).toHaveLength(count + 1);
  });

  it('stops as in-thread: stop() waits for the posts in flight and their settles, through the thread, before the thread goes', async () => {
    const answerHeld = env.server.holdAnswers();
    const webhooks = env.instance({ dispatcher: { storageThread: 'worker' } });
    await webhooks.start();
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    for (let n = 0; n < 3; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await env.server.waitFor(3);
    let stopped = false;
    const stopping = webhooks.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(false);
    expect(threadOf(webhooks).worker).not.toBeNull();
    answerHeld();
    await stopping;
    expect(threadOf(webhooks).worker).toBeNull();
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(3);
    expect((await webhooks.metrics()).deliveriesSucceeded).toBe(3);
  });

  it('reports a crashed thread, starts it again with a doubled delay, and settles the posts that were in flight through the new one, each sent once', async () => {
    const count = 12;
    // The first three requests wait for the test: they are in flight when the thread dies.
    const answerHeld = env.server.holdAnswers(3);
    const { logger, errors } = recordingLogger();
    const webhooks = env.instance({ dispatcher: { storageThread: 'worker', restartDelayMs: 20 }, leaseMs: 20_000, pollIntervalMs: 50, logger });
    const crashes: DispatcherCrashedEvent[] = [];
    webhooks.bus.on('dispatcher:crashed', (event) => void crashes.push(event));
    await webhooks.start();
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const ids = [];
    for (let n = 0; n < count; n++) ids.push((await webhooks.publish('payment.succeeded', samplePayment(n))).id);
    // Every delivery posted and the nine answered ones settled before the thread dies: a claim
    // or settle the thread had committed but not yet answered would leave its leases to expire
    // (at-least-once, as after any crash), which is not what this test is about.
    await env.server.waitFor(count);
    await vi.waitFor(async () => expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(count - 3), { timeout: 10_000 });

    const first = threadOf(webhooks).worker!;
    await first.terminate();
    expect(crashes).toHaveLength(1);
    expect(crashes[0]).toMatchObject({ restartInMs: 20, error: expect.any(Error) });
    expect(errors[0]).toMatchObject({ message: expect.stringContaining("storage thread crashed"), fields: { restartInMs: 20 } });
    await vi.waitFor(() => expect(threadOf(webhooks).worker).not.toBeNull(), { timeout: 5_000 });
    const second = threadOf(webhooks).worker!;
    expect(second).not.toBe(first);
    await second.terminate();
    expect(crashes.map((crash) => crash.restartInMs)).toEqual([20, 40]);

    // The answers come once a third thread runs: their settles carry their leases' tokens to it.
    await vi.waitFor(() => expect(threadOf(webhooks).worker).not.toBeNull(), { timeout: 5_000 });
    answerHeld();
    await webhooks.drain({ timeoutMs: 15_000 });
    const sent = env.server.requests.map((request) => String(request.headers['webhook-id']));
    expect(new Set(sent)).toEqual(new Set(ids));
    expect(sent).toHaveLength(count);
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(count);
    expect((await webhooks.metrics()).backlog.pending).toBe(0);
  });

  it('leaves no thread and no restart behind a stop() during the wait before a restart, nor after close()', async () => {
    await expectNoThreadLeftBehindARestartWait(env.instance({ dispatcher: { storageThread: 'worker', restartDelayMs: 60_000 } }), threadOf);
  });

  it('shares one stop between calls, and a start() made during a stop runs after it with a thread of its own', async () => {
    const webhooks = env.instance({ dispatcher: { storageThread: 'worker' } });
    await webhooks.start();
    const before = threadOf(webhooks).worker!;
    const stopping = webhooks.stop();
    const starting = webhooks.start();
    await Promise.all([stopping, starting]);
    const after = threadOf(webhooks).worker;
    expect(after).not.toBeNull();
    expect(after).not.toBe(before);
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests).toHaveLength(1);
  });
}
