/**
 * Erasure (`events.expunge`) and payloads sealed at rest (`security.payloadKey`) attacked as a
 * hostile or careless host would, on every storage (memory, a SQLite file, a PostgreSQL schema
 * of its own), over real loopback HTTP, on an injected clock where a lease or backoff is involved.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createIo } from '../../src/cli/cli-io.js';
import { runCli } from '../../src/cli/run-cli.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { createWebhooks, type BookkeeperEvents, type Webhooks } from '../../src/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver, type ReceivedRequest } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

const payloadKey = randomBytes(32).toString('base64');

/** The event id a request carries. */
const idOf = (request: ReceivedRequest): string => (JSON.parse(request.body.toString()) as { id: string }).id;

/** Resolves once `check` holds, looking every 20 ms of real time, for at most `withinMs`. */
async function until(check: () => Promise<boolean>, withinMs = 5_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The one delivery of `eventId`. */
async function deliveryOf(webhooks: Webhooks<BookkeeperEvents>, eventId: string) {
  const { items } = await webhooks.deliveries.list({ eventId });
  expect(items).toHaveLength(1);
  return items[0]!;
}

describe.each(storageKinds)('erasure and sealing attacked on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'attack-erasure');

  it("keeps one delivery of a key in flight when the head is expunged while it is posted: the next goes when the head's lease runs out", async () => {
    const clock = new FakeClock(Date.now());
    const release = env.server.holdAnswers(1);
    const webhooks = env.instance({ clock, leaseMs: 60_000 });
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.succeeded'] });
    const first = await webhooks.publish('payment.succeeded', samplePayment(1), { orderingKey: 'acct_1' });
    const second = await webhooks.publish('payment.succeeded', samplePayment(2), { orderingKey: 'acct_1' });
    await webhooks.start();
    await env.server.waitFor(1);
    expect(await webhooks.events.expunge(first.id)).toEqual({ expunged: 1, cancelled: 1, snippets: 0 });
    // A publish of another key wakes the dispatcher, as its poll would: it sends that one, not the key's next.
    const other = await webhooks.publish('payment.succeeded', samplePayment(3), { orderingKey: 'acct_2' });
    await env.server.waitFor(2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(env.server.requests.map(idOf)).toEqual([first.id, other.id]);
    const waiting = await deliveryOf(webhooks, second.id);
    expect(waiting).toMatchObject({ status: 'pending' });
    expect(waiting.nextAttemptAt).toBeGreaterThan(clock.now());
    expect(waiting.nextAttemptAt).toBeLessThanOrEqual(clock.now() + 60_000);

    // The head's attempt settles (delivered: the receiver has it), and its answer is not kept.
    release();
    await until(async () => (await deliveryOf(webhooks, first.id)).status === 'delivered');
    const [attempt] = await webhooks.deliveries.attempts((await deliveryOf(webhooks, first.id)).id);
    expect(attempt!.responseSnippet).toBeNull();
    expect(env.server.requests).toHaveLength(2);

    await clock.advance(60_000);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(env.server.requests.map(idOf)).toEqual([first.id, other.id, second.id]);
  });

  it('never posts an event expunged while its delivery waits claimed ahead for a slot: it goes back unsent, cancelled', async () => {
    const release = env.server.holdAnswers(1);
    // One post at a time to the endpoint, two claimed: the second waits in the dispatcher's buffer, payload and all.
    const webhooks = env.instance({ concurrency: 2, flowControl: { maxInFlightPerSubscription: 1 } });
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.succeeded'] });
    const first = await webhooks.publish('payment.succeeded', samplePayment(1));
    const second = await webhooks.publish('payment.succeeded', { ...samplePayment(2), customerId: 'cus_erased' });
    await webhooks.start();
    await env.server.waitFor(1);
    expect(await webhooks.events.expunge(second.id)).toEqual({ expunged: 1, cancelled: 1, snippets: 0 });
    release();
    await webhooks.drain({ timeoutMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(env.server.requests.map(idOf)).toEqual([first.id]);
    expect(env.server.requests.some((request) => request.body.toString().includes('cus_erased'))).toBe(false);
    expect(await deliveryOf(webhooks, second.id)).toMatchObject({ status: 'cancelled', attempts: 0 });
  });

  it('shows a delivery whose payload is sealed with a key this instance lacks on the dashboard, naming the key, never the payload, instead of failing the page', async () => {
    const sealer = env.instance({ security: { payloadKey: [{ id: 'k1', key: payloadKey }] } });
    await sealer.subscriptions.create({ url: env.server.url, eventTypes: ['payment.succeeded'] });
    const data = { ...samplePayment(1), customerId: `cus_${randomBytes(6).toString('hex')}` };
    const published = await sealer.publish('payment.succeeded', data);
    // An operator's dashboard on an instance configured without the key.
    const keyless = env.instance({ retry: { delaysMs: [] } });
    const dead = new Promise((resolve) => keyless.bus.once('delivery:dead', resolve));
    await keyless.start();
    await dead;
    await keyless.stop();
    const delivery = await deliveryOf(keyless, published.id);
    await expect(keyless.events.get(published.id)).rejects.toMatchObject({ code: 'PAYLOAD_KEY_INVALID' });
    const dashboard = createDashboard(keyless, { basePath: '/ops', authorize: () => ({ actor: 'ops:alice' }) });

    const page = await dashboard.fetch(new Request(`http://localhost/ops/deliveries/${delivery.id}`));
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain('"k1"'.replaceAll('"', '&quot;'));
    expect(text).toContain(published.id);
    const json = await dashboard.fetch(new Request(`http://localhost/ops/deliveries/${delivery.id}?format=json`));
    expect(json.status).toBe(200);
    const body = (await json.json()) as { event: unknown; eventUnopened: string; attempts: Array<{ errorClass: string }> };
    expect(body.event).toBeNull();
    expect(body.eventUnopened).toContain('"k1"');
    expect(body.attempts.map((attempt) => attempt.errorClass)).toEqual(['config']);
    for (const shown of [text, JSON.stringify(body)]) {
      expect(shown).not.toContain(data.customerId);
      expect(shown).not.toContain('encp:v1:');
    }
  });

  it('refuses every malformed selector with INPUT_INVALID erasing nothing, and a filter that changes the event it is given changes nothing stored', async () => {
    const webhooks = env.instance({ security: { payloadKey } });
    const published = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'acme', metadata: { region: 'eu' } });
    const selectors: unknown[] = [
      { before: Number.NaN },
      { before: new Date(Number.NaN) },
      { before: -1 },
      { before: '2026-01-01' },
      { before: 1.5 },
      { tenantId: '' },
      { tenantId: 42 },
      { tenantId: undefined },
      { filter: 'true' },
      { filter: () => true, unknown: 1 },
      {},
      null,
      [],
    ];
    for (const selector of selectors) {
      await expect(webhooks.events.expunge(selector as never), JSON.stringify(selector) ?? String(selector)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    }
    await expect(webhooks.events.expunge('evt_unknown')).rejects.toMatchObject({ code: 'EVENT_NOT_FOUND' });

    const seen: unknown[] = [];
    const meddling = (event: { data: unknown; metadata: Record<string, string> | null; id: string }) => {
      seen.push(structuredClone(event.data));
      (event.data as { paymentId: string }).paymentId = 'changed';
      event.metadata!.region = 'us';
      event.id = 'evt_other';
      return false;
    };
    expect(await webhooks.events.expunge({ tenantId: 'acme', filter: meddling })).toEqual({ expunged: 0, cancelled: 0, snippets: 0 });
    expect(await webhooks.events.expunge({ tenantId: 'acme', filter: meddling })).toEqual({ expunged: 0, cancelled: 0, snippets: 0 });
    // Each call sees the event as stored, and the stored event is as published.
    expect(seen).toEqual([samplePayment(1), samplePayment(1)]);
    expect(await webhooks.events.get(published.id)).toMatchObject({ data: samplePayment(1), metadata: { region: 'eu' }, expungedAt: null });
  });

  it('stops a filtered erasure at a page holding a payload sealed with a key this instance lacks, saying how far it got; by id it is erased without the key', async () => {
    const sealer = env.instance({ security: { payloadKey: [{ id: 'k1', key: payloadKey }] } });
    const sealed = await sealer.publish('payment.succeeded', samplePayment(0));
    const keyless = env.instance();
    // Newer than the sealed one: the first page of 500 (newest first) is all plain.
    for (let n = 1; n <= 500; n++) await keyless.publish('payment.succeeded', samplePayment(n));
    const seen: string[] = [];
    const error = (await keyless.events
      .expunge({
        filter: (event) => {
          seen.push(event.id);
          return true;
        },
      })
      .catch((caught: unknown) => caught)) as { name: string; code: string; message: string; cause: unknown };
    expect(error).toMatchObject({ name: 'ConfigError', code: 'PAYLOAD_KEY_INVALID' });
    expect(error.message).toContain('"k1"');
    expect(error.message).toContain('the 500 events erased from earlier pages stay erased');
    expect(error.cause).toMatchObject({ code: 'PAYLOAD_KEY_INVALID' });
    expect(seen).toHaveLength(500);
    expect(seen).not.toContain(sealed.id);
    expect((await sealer.events.get(sealed.id))!.expungedAt).toBeNull();
    expect(await keyless.events.expunge(sealed.id)).toMatchObject({ expunged: 1 });
    expect(await keyless.events.get(sealed.id)).toMatchObject({ id: sealed.id, data: null, expungedAt: expect.any(Number) });
    // Everything is erased now: run again, it goes through and erases nothing more.
    expect(await keyless.events.expunge({ filter: () => true })).toEqual({ expunged: 0, cancelled: 0, snippets: 0 });
  });
});

/** Runs the CLI in this process with `env`, and what it printed. */
async function cli(argv: readonly string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = createIo({
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    stdin: new PassThrough(),
    env,
    cwd: process.cwd(),
  });
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

describe('the CLI on a store whose payloads are sealed at rest', () => {
  const cleanups = registerCleanups();

  it('replays to a subscription with a payload filter with the key from BOOKKEEPER_WEBHOOKS_PAYLOAD_KEY, and refuses with a coded error without it', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'webhooks-attack-erasure-cli-'));
    cleanups.push(() => rm(directory, { recursive: true, force: true }));
    const filename = join(directory, 'webhooks.db');
    const keys = [
      { id: 'k2', key: randomBytes(32).toString('base64') },
      { id: 'k1', key: payloadKey },
    ];
    const storage = createSqliteStorage({ filename });
    await storage.migrate();
    const app = createWebhooks({ storage, security: { payloadKey: keys, allowPrivateNetworks: true } });
    cleanups.push(() => app.close());
    const card = await app.publish('payment.succeeded', { ...samplePayment(1), method: 'card' });
    await app.publish('payment.succeeded', { ...samplePayment(2), method: 'bank_transfer' });
    // Created after the events: it has none of them, and its filter takes the card payment only.
    const sub = await app.subscriptions.create({ url: 'http://127.0.0.1:9/erp', eventTypes: ['payment.succeeded'], filter: { 'data.method': 'card' } });
    const argv = ['deliveries', 'replay', '--subscription', sub.id, '--since', '1h', '--storage', `sqlite:${filename}`, '--yes', '--json'];

    const keyless = await cli(argv, {});
    expect(keyless.code).toBe(1);
    expect(keyless.stderr).toContain('PAYLOAD_KEY_INVALID');
    const wrong = await cli(argv, { BOOKKEEPER_WEBHOOKS_PAYLOAD_KEY: '[{"id":"k2"' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).not.toContain('"k2"');
    expect((await app.deliveries.list({ subscriptionId: sub.id })).items).toEqual([]);

    const done = await cli(argv, { BOOKKEEPER_WEBHOOKS_PAYLOAD_KEY: JSON.stringify(keys) });
    expect(done).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(done.stdout)).toEqual({ count: 1, dryRun: false });
    expect((await app.deliveries.list({ subscriptionId: sub.id })).items.map((delivery) => delivery.eventId)).toEqual([card.id]);
  });
});

describe('an erasure on a SQLite file', () => {
  const cleanups = registerCleanups();

  it.each([
    ['a small payload', 0, 40],
    ['a small payload, the first of its table (its page is split and moved under it)', 0, 0],
    ['a payload larger than a page', 12, 40],
  ])('leaves no byte of %s in the file once expunged, nor of the response its receiver gave', async (_name, metadataKeys, before) => {
    const directory = await mkdtemp(join(tmpdir(), 'webhooks-attack-erasure-file-'));
    cleanups.push(() => rm(directory, { recursive: true, force: true }));
    const storage = createSqliteStorage({ filename: join(directory, 'webhooks.db') });
    await storage.migrate();
    const clock = new FakeClock(Date.now());
    const marker = `cus_${randomBytes(8).toString('hex')}`;
    const answer = `ack ${randomBytes(8).toString('hex')}`;
    let erasedId = '';
    // Its receiver answers it alone with words of its own.
    const receiver = await LoopbackReceiver.start((request) => ({ status: 200, body: idOf(request) === erasedId ? answer : 'ok' }));
    cleanups.push(() => receiver.close());
    const webhooks = createWebhooks({ storage, clock, security: { allowPrivateNetworks: true } });
    cleanups.push(() => webhooks.close());
    await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.succeeded'] });
    // Events before and after it, so that its rows share pages that are split and moved.
    for (let n = 0; n < before; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    const metadata = Object.fromEntries(Array.from({ length: metadataKeys }, (_, i) => [`k${i}`, `${String(i % 10).repeat(450)}${marker}`]));
    const erased = await webhooks.publish('payment.succeeded', { ...samplePayment(99), customerId: marker }, metadataKeys === 0 ? {} : { metadata });
    erasedId = erased.id;
    for (let n = 100; n < 150; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    expect((await webhooks.deliveries.attempts((await deliveryOf(webhooks, erased.id)).id))[0]!.responseSnippet).toBe(answer);

    expect(await webhooks.events.expunge(erased.id)).toEqual({ expunged: 1, cancelled: 0, snippets: 1 });
    for (let n = 200; n < 210; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await webhooks.close();
    // Closed: the log is checkpointed into the file and removed. Nothing of the erased content is left.
    const files = await readdir(directory);
    expect(files).toEqual(['webhooks.db']);
    const bytes = await readFile(join(directory, 'webhooks.db'));
    expect(bytes.includes(Buffer.from(erased.id))).toBe(true);
    expect(bytes.includes(Buffer.from(marker))).toBe(false);
    expect(bytes.includes(Buffer.from(answer))).toBe(false);
  });
});
