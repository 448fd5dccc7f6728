/**
 * A subscription changed within the millisecond of its last post (same `updatedAt`) is
 * posted to with what it is now: its new secret, its new retry policy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createWebhooks, type StorageAdapter } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { createMemoryStorage } from '../../src/storage/memory/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver, type ReceivedRequest, type Responder } from '../support/loopback-receiver.js';
import { registerCleanups } from '../support/cleanups.js';
import { samplePayment } from '../support/sample-payment.js';

const dir = mkdtempSync(join(tmpdir(), 'webhooks-same-ms-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const payment = (n = 1) => samplePayment(n);

const cleanups = registerCleanups();

const storages: Array<[string, () => StorageAdapter]> = [
  ['memory', () => createMemoryStorage()],
  ['SQLite', () => createSqliteStorage({ filename: join(dir, `same-ms-${Math.random().toString(36).slice(2)}.db`) })],
];

/** An instance whose clock never moves: every step below happens in one millisecond. */
async function setup(storage: StorageAdapter, responder?: Responder) {
  const server = await LoopbackReceiver.start(responder);
  cleanups.push(() => server.close());
  const clock = new FakeClock();
  const webhooks = createWebhooks({ storage, clock, security: { allowPrivateNetworks: true }, pollIntervalMs: 60_000, meter: false });
  cleanups.push(() => webhooks.close());
  await webhooks.start();
  return { server, clock, webhooks };
}

function verifies(request: ReceivedRequest, secret: string, now: number): boolean {
  try {
    verifyWebhook({ body: request.body, headers: request.headers as Record<string, string> }, { secrets: secret, now: new Date(now) });
    return true;
  } catch (error) {
    expect(error).toMatchObject({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    return false;
  }
}

describe.each(storages)('changes within one millisecond (%s)', (_name, makeStorage) => {
  it('signs the post after each of two rotations in the millisecond with the newest secret only', async () => {
    const { server, clock, webhooks } = await setup(makeStorage());
    const created = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const secrets = [created.secret];
    for (let n = 0; n < 3; n++) {
      if (n > 0) secrets.push((await webhooks.subscriptions.rotateSecret(created.id, { overlapMs: 0 })).secret);
      await webhooks.publish('payment.succeeded', payment(n));
      await server.waitFor(n + 1);
      await webhooks.drain({ timeoutMs: 5_000 });
    }
    expect(new Set(secrets).size).toBe(3);
    const matches = server.requests.map((request) => secrets.map((secret) => verifies(request, secret, clock.now())));
    expect(matches).toEqual([
      [true, false, false],
      [false, true, false],
      [false, false, true],
    ]);
  });

  it('applies a retry policy updated in the millisecond of the last post to the next failure', async () => {
    const { server, webhooks } = await setup(makeStorage(), (_request, index) => (index === 0 ? undefined : { status: 500 }));
    const created = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'], retry: { delaysMs: [60_000] } });
    await webhooks.publish('payment.succeeded', payment(1));
    await webhooks.drain({ timeoutMs: 5_000 });
    await webhooks.subscriptions.update(created.id, { retry: { delaysMs: [] } });
    const failed = new Promise((resolve) => webhooks.bus.once('delivery:failed', resolve));
    const failing = await webhooks.publish('payment.succeeded', payment(2));
    await failed;
    const { items } = await webhooks.deliveries.list({ eventId: failing.id });
    // One attempt and no retry left: dead, not scheduled a minute later.
    expect(items).toMatchObject([{ status: 'dead', attempts: 1 }]);
  });
});
