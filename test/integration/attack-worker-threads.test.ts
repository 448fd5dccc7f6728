/**
 * Hostile use of the dispatcher's worker thread (`dispatcher: { thread: 'worker' }`) and of
 * its storage thread (`dispatcher: { storageThread: 'worker' }`), on a real SQLite file (and
 * PostgreSQL where the storage matters), posting to real loopback receivers: stop() and
 * close() made during a start, twice at once, or from a `dispatcher:crashed` listener; a stop
 * during a crashed thread's restart wait; a worker that cannot open its storage; a host
 * started with Node options a thread refuses; the default clock handed in; hostile receivers.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createWebhooks, systemClock, type StorageAdapter, type Webhooks } from '../../src/index.js';
import { internalDispatcher } from '../../src/create-webhooks.js';
import type { WorkerDispatcher } from '../../src/delivery/worker/worker-dispatcher.js';
import type { StorageThreadDispatcher } from '../../src/delivery/worker/storage-thread.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { ChaosReceiver } from '../support/chaos-receiver.js';
import { registerCleanups } from '../support/cleanups.js';
import { useInstancesOnStorage } from '../support/every-storage.js';
import { configErrorOf } from '../support/rejections.js';
import { samplePayment } from '../support/sample-payment.js';

const cleanups = registerCleanups();

/** The thread of either kind, as the tests read it: the worker running now, `null` when none does. */
interface Threaded {
  readonly worker: import('node:worker_threads').Worker | null;
  readonly restartScheduled: boolean;
}

function workerOf(webhooks: object): WorkerDispatcher {
  return internalDispatcher(webhooks) as WorkerDispatcher;
}

const kinds = [
  ["thread: 'worker'", { thread: 'worker' }, (webhooks: object): Threaded => workerOf(webhooks)],
  ["storageThread: 'worker'", { storageThread: 'worker' }, (webhooks: object): Threaded => (internalDispatcher(webhooks) as StorageThreadDispatcher).thread],
] as const;

/** The file of the test's SQLite storage (from the recipe its threads open it by). */
function fileOf(storage: StorageAdapter): string {
  const made = (storage as unknown as { workerRecipe(): { recipe?: { filename?: string } } }).workerRecipe();
  if (made.recipe?.filename === undefined) throw new Error('expected a SQLite file storage');
  return made.recipe.filename;
}

/** Whether a settled promise resolved or rejected, and with what. */
function settled<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

const onStorages = (['sqlite', 'postgres'] as const).flatMap((storage) => kinds.map(([name, dispatcher, threadOf]) => [name, storage, dispatcher, threadOf] as const));

describe.each(onStorages)('dispatcher: { %s } on %s across a start under way', (_name, storage, dispatcher, threadOf) => {
  const env = useInstancesOnStorage(storage, 'attack_worker');

  it('leaves no thread running once a stop() made during start() has resolved, and a later start() dispatches again', async () => {
    const webhooks = env.instance({ dispatcher });
    const starting = settled(webhooks.start());
    await webhooks.stop();
    expect(await starting).toEqual({ ok: true, value: undefined });
    expect(threadOf(webhooks).worker).toBeNull();
    expect(threadOf(webhooks).restartScheduled).toBe(false);

    await webhooks.start();
    expect(threadOf(webhooks).worker).not.toBeNull();
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests).toHaveLength(1);
  });

  it('leaves no thread running once a close() made during start() has resolved, and the start fails with WEBHOOKS_STOPPED', async () => {
    const webhooks = env.instance({ dispatcher });
    const starting = settled(webhooks.start());
    await webhooks.close();
    const outcome = await starting;
    expect(outcome.ok).toBe(false);
    expect((outcome as { error: unknown }).error).toMatchObject({ code: 'WEBHOOKS_STOPPED' });
    expect(threadOf(webhooks).worker).toBeNull();
    expect(threadOf(webhooks).restartScheduled).toBe(false);
  });
});

describe.each(kinds)('dispatcher: { %s } closed twice at once', (_name, dispatcher, threadOf) => {
  const env = useInstancesOnStorage('sqlite', 'attack_worker');

  it('resolves the second close() only once the thread has exited and the posts in flight are settled', async () => {
    const answerHeld = env.server.holdAnswers();
    const filename = fileOf(env.opened.storage);
    const webhooks = env.instance({ dispatcher });
    await webhooks.start();
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await env.server.waitFor(1);
    const thread = threadOf(webhooks).worker!;
    let exited = false;
    thread.once('exit', () => {
      exited = true;
    });
    const first = webhooks.close();
    const second = webhooks.close();
    let secondDone = false;
    void second.then(() => {
      secondDone = true;
    });
    // The post is still in flight: neither close may be done.
    await new Promise((resolve) => setImmediate(resolve));
    expect(secondDone).toBe(false);
    answerHeld();
    await second;
    // A host that exits once its shutdown hook's close() resolves loses nothing.
    expect(exited).toBe(true);
    expect(threadOf(webhooks).worker).toBeNull();
    await first;
    // What the closed instance left in the file: the post settled, nothing left pending.
    const reopened = createSqliteStorage({ filename });
    cleanups.push(() => reopened.close());
    expect((await reopened.stats(Date.now())).pending).toBe(0);
  });
});

describe.each(kinds)('dispatcher: { %s } stopped by a dispatcher:crashed listener', (_name, dispatcher, threadOf) => {
  const env = useInstancesOnStorage('sqlite', 'attack_worker');

  it.each(['stop', 'close'] as const)('leaves no restart scheduled (nor a timer holding the process) when the listener calls %s()', async (call) => {
    const webhooks = env.instance({ dispatcher: { ...dispatcher, restartDelayMs: 60_000 } });
    let stopped: Promise<void> | null = null;
    // A host's natural reaction to a crash: stop (or close) and alert.
    webhooks.bus.on('dispatcher:crashed', () => {
      stopped = webhooks[call]();
    });
    await webhooks.start();
    await threadOf(webhooks).worker!.terminate();
    expect(stopped).not.toBeNull();
    await stopped;
    expect(threadOf(webhooks).restartScheduled).toBe(false);
    expect(threadOf(webhooks).worker).toBeNull();
  });
});

describe("dispatcher: { storageThread: 'worker' } stopped while its crashed thread waits to start again", () => {
  const env = useInstancesOnStorage('sqlite', 'attack_worker');

  it('settles the posts that were in flight through a thread started at once, rather than leave them to be sent again', async () => {
    const answerHeld = env.server.holdAnswers();
    const webhooks = env.instance({ dispatcher: { storageThread: 'worker', restartDelayMs: 60_000 } });
    const crashed = new Promise((resolve) => webhooks.bus.once('dispatcher:crashed', resolve));
    await webhooks.start();
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    for (let n = 0; n < 3; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await env.server.waitFor(3);
    const thread = (internalDispatcher(webhooks) as StorageThreadDispatcher).thread;
    await thread.worker!.terminate();
    await crashed;
    expect(thread.restartScheduled).toBe(true);

    // The stop comes during the minute's wait; the receiver answers the three posts after it.
    const stopping = webhooks.stop();
    answerHeld();
    await stopping;
    expect(thread.worker).toBeNull();
    expect(thread.restartScheduled).toBe(false);
    // Settled: delivered, their attempts recorded, nothing left under a lease to be sent again.
    expect((await webhooks.deliveries.list({ status: 'delivered' })).items).toHaveLength(3);
    expect((await webhooks.metrics()).backlog.pending).toBe(0);
    expect(env.server.requests).toHaveLength(3);
  });
});

describe("dispatcher: { thread: 'worker' } posting to hostile receivers", () => {
  const env = useInstancesOnStorage('sqlite', 'attack_worker');
  const payment = (paymentId: string) => ({ ...samplePayment(1), paymentId });

  it('records an attempt for each, stays the same healthy worker, and stops within the request timeout with posts hanging', async () => {
    const chaos = await ChaosReceiver.start();
    cleanups.push(() => chaos.close());
    const webhooks = env.instance({ dispatcher: { thread: 'worker' }, http: { timeoutMs: 1_000 }, leaseMs: 2_500, retry: { delaysMs: [] }, circuitBreaker: false });
    const crashes: unknown[] = [];
    webhooks.bus.on('dispatcher:crashed', (event) => void crashes.push(event));
    await webhooks.start();
    const thread = workerOf(webhooks).worker;
    await webhooks.subscriptions.create({ url: chaos.url, eventTypes: ['payment.*'] });
    const hostile = ['trickle-50:1', 'processing-20:1', 'reset:1', 'hang:1', 'reset-after-headers:1', 'garbage:1', 'huge-500:1'];
    const ids = new Map<string, string>();
    for (const behaviour of [...hostile, 'fine:1']) ids.set(behaviour, (await webhooks.publish('payment.succeeded', payment(behaviour))).id);
    await webhooks.drain({ timeoutMs: 15_000 });
    for (const behaviour of hostile) {
      const [delivery] = (await webhooks.deliveries.list({ eventId: ids.get(behaviour)! })).items;
      expect(delivery, behaviour).toMatchObject({ status: 'dead', attempts: 1 });
    }
    expect((await webhooks.deliveries.list({ eventId: ids.get('fine:1')! })).items[0]).toMatchObject({ status: 'delivered' });
    expect((await webhooks.metrics()).attemptsByOutcome).toMatchObject({ delivered: 1, dead: hostile.length });
    expect(workerOf(webhooks).worker).toBe(thread);
    expect(crashes).toEqual([]);

    // Posts that never end are in flight when the stop comes: it waits for their timeout, no longer.
    for (const behaviour of ['hang:2', 'trickle-50:2', 'processing-20:2']) await webhooks.publish('payment.succeeded', payment(behaviour));
    await vi.waitFor(() => expect(chaos.requestsById.size).toBe(hostile.length + 4), { timeout: 5_000 });
    const began = Date.now();
    await webhooks.stop();
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(workerOf(webhooks).worker).toBeNull();
    expect((await webhooks.metrics()).attemptsByOutcome.dead).toBe(hostile.length + 3);
  });
});

describe("dispatcher: { thread: 'worker' } with the default clock and random handed in", () => {
  const env = useInstancesOnStorage('sqlite', 'attack_worker');

  it('accepts systemClock and Math.random, which are what the worker uses, and delivers', async () => {
    const webhooks = env.instance({ dispatcher: { thread: 'worker' }, clock: systemClock, random: Math.random });
    await webhooks.start();
    expect(workerOf(webhooks).worker).not.toBeNull();
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests).toHaveLength(1);
  });

  it("still refuses a clock or random of the host's own, naming it", () => {
    const storage = env.opened.storage;
    expect(configErrorOf(() => createWebhooks({ storage, dispatcher: { thread: 'worker' }, clock: { ...systemClock } }))).toMatchObject({ code: 'DISPATCHER_WORKER_UNSUPPORTED', field: 'clock' });
    expect(configErrorOf(() => createWebhooks({ storage, dispatcher: { thread: 'worker' }, random: () => Math.random() }))).toMatchObject({ code: 'DISPATCHER_WORKER_UNSUPPORTED', field: 'random' });
  });
});

describe("dispatcher: { thread: 'worker' } whose worker cannot open the storage", () => {
  let directory: string;
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  /** An instance on a migrated SQLite file whose directory is then removed: the host keeps its open handle, a worker cannot open the file. */
  async function unopenableForAWorker(): Promise<Webhooks> {
    directory = await mkdtemp(join(tmpdir(), 'webhooks-attack-worker-'));
    const storage = createSqliteStorage({ filename: join(directory, 'webhooks.db') });
    await storage.migrate();
    const webhooks = createWebhooks({ storage, meter: false, dispatcher: { thread: 'worker' } });
    cleanups.push(() => webhooks.close());
    await rm(directory, { recursive: true, force: true });
    return webhooks;
  }

  it('rejects every one of two concurrent start() calls, and leaves no worker', async () => {
    const webhooks = await unopenableForAWorker();
    const [first, second] = await Promise.all([settled(webhooks.start()), settled(webhooks.start())]);
    // Both see the worker's failure: the second is not told the dispatcher runs while the first learns it never started.
    expect(first).toMatchObject({ ok: false, error: { code: 'STORAGE_FAILED' } });
    expect(second).toMatchObject({ ok: false, error: { code: 'STORAGE_FAILED' } });
    expect(workerOf(webhooks).worker).toBeNull();
  });
});

/**
 * A host process started with Node options of the process or of V8 (`--max-old-space-size`,
 * the most common flag of a production server), which Node refuses for a thread when they are
 * handed to it explicitly: it runs an instance with a worker on a SQLite file and delivers
 * one event to the test's receiver.
 */
describe.each(kinds)('dispatcher: { %s } in a host started with --max-old-space-size', (_name, dispatcher) => {
  const env = useInstancesOnStorage('sqlite', 'attack_worker');

  /** Runs the host script with `nodeArgs`; resolves with what it printed and its exit code. */
  async function runHost(nodeArgs: string[], script: string): Promise<{ code: number | null; output: string }> {
    const child = spawn(process.execPath, [...nodeArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DB: fileOf(env.opened.storage), URL: env.server.url, SCRIPT: script } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    return { code, output };
  }

  const hostScript = `
    const { createWebhooks } = await import(${JSON.stringify(pathToFileURL(fileURLToPath(new URL('../../src/index.ts', import.meta.url))).href)});
    const { createSqliteStorage } = await import(${JSON.stringify(pathToFileURL(fileURLToPath(new URL('../../src/storage/sqlite/index.ts', import.meta.url))).href)});
    const webhooks = createWebhooks({ storage: createSqliteStorage({ filename: process.env.DB }), meter: false, security: { allowPrivateNetworks: true }, dispatcher: ${JSON.stringify(dispatcher)} });
    try {
      await webhooks.start();
      await webhooks.subscriptions.create({ url: process.env.URL, eventTypes: ['payment.*'] });
      await webhooks.publish('payment.succeeded', { paymentId: 'pay_1', customerId: 'cus_1', amount: { amount: 100, currency: 'EUR' }, method: 'card', occurredAt: '2026-11-26T12:00:00.000Z' });
      await webhooks.drain({ timeoutMs: 20000 });
      console.log('delivered');
    } catch (error) {
      console.log('failed', error.code, error.message);
    } finally {
      await webhooks.close();
    }
  `;

  it('starts its thread and delivers, from a script file', async () => {
    const script = join(await mkdtemp(join(tmpdir(), 'webhooks-attack-host-')), 'host.mts');
    cleanups.push(() => rm(join(script, '..'), { recursive: true, force: true }));
    await writeFile(script, hostScript);
    const { code, output } = await runHost(['--max-old-space-size=256', '--expose-gc', '--import', 'tsx', script], script);
    expect(output).toContain('delivered');
    expect(code).toBe(0);
    expect(env.server.requests).toHaveLength(1);
  });

  it('starts its thread and delivers, from an -e module script (--input-type)', async () => {
    const { code, output } = await runHost(['--max-old-space-size=256', '--import', 'tsx', '--input-type=module', '-e', hostScript], '');
    expect(output).toContain('delivered');
    expect(code).toBe(0);
    expect(env.server.requests).toHaveLength(1);
  });
});
