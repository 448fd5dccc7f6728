// The Redis DedupeStore of examples/receivers/redis-dedupe.ts against the real Redis on
// 127.0.0.1:6379: atomic claims across instances, expiries, releasing only one's own
// claim, and two app instances behind one Redis booking a redelivered payment once.
// Without Redis it skips locally and fails in CI.
import { connect } from 'node:net';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLedger } from '../../examples/receivers/ledger.js';
import { createRedisDedupeStore, start } from '../../examples/receivers/redis-dedupe.js';
import { createWebhookReceiver } from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

const reachable = await new Promise<boolean>((resolve) => {
  const socket = connect({ host: '127.0.0.1', port: 6379, timeout: 1_000 });
  socket.once('connect', () => {
    socket.destroy();
    resolve(true);
  });
  socket.once('error', () => resolve(false));
  socket.once('timeout', () => {
    socket.destroy();
    resolve(false);
  });
});

if (!reachable && process.env.CI) {
  throw new Error('Redis is not reachable on 127.0.0.1:6379: CI must run the Redis dedupe tests (start redis-server in .ci/run)');
}

// A prefix per run, so that earlier runs' keys in the shared Redis never interfere.
const prefix = `test:receiver:${process.pid}:${Date.now()}:`;

describe.skipIf(!reachable)('createRedisDedupeStore on a real Redis', () => {
  const clients: ReturnType<typeof createClient>[] = [];

  async function client(): Promise<ReturnType<typeof createClient>> {
    const made = createClient({ url: REDIS_URL });
    await made.connect();
    clients.push(made);
    return made;
  }

  let inspector: ReturnType<typeof createClient>;
  beforeAll(async () => {
    inspector = await client();
  });

  afterAll(async () => {
    const keys = await inspector.keys(`${prefix}*`);
    if (keys.length > 0) await inspector.del(keys);
    await Promise.all(clients.map((one) => one.quit()));
  });

  it('lets exactly one of many concurrent claims on one id win, across instances', async () => {
    const stores = [createRedisDedupeStore(await client(), { keyPrefix: prefix }), createRedisDedupeStore(await client(), { keyPrefix: prefix })];
    const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 2]!.claim('evt_race', 60, `token_${i}`)));
    expect(claims.filter((claim) => claim === 'claimed')).toHaveLength(1);
    expect(claims.filter((claim) => claim === 'in-flight')).toHaveLength(19);
  });

  it('keeps an in-flight id for the lease and a processed one for the ttl, as Redis expiries', async () => {
    const store = createRedisDedupeStore(await client(), { keyPrefix: prefix });
    expect(await store.claim('evt_ttl', 60, 'token_ttl')).toBe('claimed');
    expect(await inspector.get(`${prefix}evt_ttl`)).toBe('token_ttl');
    const leaseTtl = await inspector.ttl(`${prefix}evt_ttl`);
    expect(leaseTtl).toBeGreaterThan(55);
    expect(leaseTtl).toBeLessThanOrEqual(60);
    await store.complete('evt_ttl', 604_800, 'token_ttl');
    expect(await inspector.get(`${prefix}evt_ttl`)).toBe('processed');
    expect(await inspector.ttl(`${prefix}evt_ttl`)).toBeGreaterThan(604_700);
    expect(await store.claim('evt_ttl', 60, 'token_ttl_2')).toBe('processed');
  });

  it('frees an id when its lease expires', async () => {
    const store = createRedisDedupeStore(await client(), { keyPrefix: prefix });
    expect(await store.claim('evt_lease', 1, 'token_1')).toBe('claimed');
    expect(await store.claim('evt_lease', 1, 'token_2')).toBe('in-flight');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await store.claim('evt_lease', 1, 'token_3')).toBe('claimed');
  });

  it("releases its own claim, but not another instance's claim taken after its lease expired", async () => {
    const first = createRedisDedupeStore(await client(), { keyPrefix: prefix });
    const second = createRedisDedupeStore(await client(), { keyPrefix: prefix });
    expect(await first.claim('evt_release', 60, 'first_1')).toBe('claimed');
    await first.release('evt_release', 'first_1');
    expect(await second.claim('evt_release', 60, 'second_1')).toBe('claimed');

    expect(await first.claim('evt_stale', 1, 'first_2')).toBe('claimed');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await second.claim('evt_stale', 60, 'second_2')).toBe('claimed');
    await first.release('evt_stale', 'first_2'); // too late: the claim is second's now
    expect(await first.claim('evt_stale', 60, 'first_3')).toBe('in-flight');
  });

  it('leaves the claim taken since alone when a claim of the same instance whose lease ran out is released', async () => {
    const store = createRedisDedupeStore(await client(), { keyPrefix: prefix });
    expect(await store.claim('evt_same', 60, 'first')).toBe('claimed');
    await inspector.pExpire(`${prefix}evt_same`, 1); // the first claim's lease runs out
    await vi.waitFor(async () => expect(await inspector.exists(`${prefix}evt_same`)).toBe(0));
    expect(await store.claim('evt_same', 60, 'second')).toBe('claimed');
    await store.release('evt_same', 'first');
    expect(await inspector.get(`${prefix}evt_same`)).toBe('second');
    expect(await store.claim('evt_same', 60, 'third')).toBe('in-flight');
    await store.release('evt_same', 'second');
    expect(await store.claim('evt_same', 60, 'third')).toBe('claimed');
  });

  it('never runs a third copy beside the second when a handler outlives its lease and then throws', async () => {
    const secret = generateSecret();
    const gates: { settle: (error?: Error) => void }[] = [];
    let runs = 0;
    const receiver = createWebhookReceiver({
      secrets: secret,
      dedupe: createRedisDedupeStore(await client(), { keyPrefix: prefix }),
      onEvent: () => {
        runs += 1;
        // The first two copies wait for the test; a third, if one ran, would finish at once.
        if (gates.length === 2) return undefined;
        return new Promise<void>((resolve, reject) => gates.push({ settle: (error) => (error ? reject(error) : resolve()) }));
      },
    });
    const id = 'evt_outlived';
    const body = JSON.stringify({ id, type: 'payment.succeeded', timestamp: new Date().toISOString(), data: {} });
    const timestampSeconds = Math.floor(Date.now() / 1000);
    const message = {
      body,
      headers: { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': signWebhook({ id, timestamp: timestampSeconds, body, secrets: secret }) },
    };
    const first = receiver.receive(message);
    await vi.waitFor(() => expect(gates).toHaveLength(1));
    await inspector.pExpire(`${prefix}${id}`, 1); // the first handler outlives its lease
    await vi.waitFor(async () => expect(await inspector.exists(`${prefix}${id}`)).toBe(0));
    const second = receiver.receive(message);
    await vi.waitFor(() => expect(gates).toHaveLength(2));
    gates[0]!.settle(new Error('ledger timeout'));
    await expect(first).rejects.toThrow('ledger timeout');
    expect((await receiver.receive(message)).outcome).toBe('in-flight');
    expect(runs).toBe(2);
    gates[1]!.settle();
    expect((await second).outcome).toBe('processed');
    expect((await receiver.receive(message)).outcome).toBe('duplicate');
    expect(runs).toBe(2);
  });

  it('books a payment redelivered to another app instance once: the second instance answers 200 duplicate', async () => {
    const secret = generateSecret();
    const ledger = createLedger();
    const instances = [await start({ secret, port: 0, ledger }, { keyPrefix: prefix }), await start({ secret, port: 0, ledger }, { keyPrefix: prefix })];
    try {
      const id = 'evt_redis_two_instances';
      const body = JSON.stringify({
        id,
        type: 'payment.succeeded',
        timestamp: new Date().toISOString(),
        data: { paymentId: 'pay_shared', customerId: 'cus_1', amount: { amount: 990, currency: 'EUR' }, method: 'card', occurredAt: new Date().toISOString() },
      });
      const deliver = (url: string): Promise<Response> => {
        const timestampSeconds = Math.floor(Date.now() / 1000);
        return fetch(url, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            'webhook-id': id,
            'webhook-timestamp': String(timestampSeconds),
            'webhook-signature': signWebhook({ id, timestamp: timestampSeconds, body, secrets: secret }),
          },
        });
      };
      expect((await deliver(instances[0]!.url)).status).toBe(204);
      const redelivered = await deliver(instances[1]!.url);
      expect(redelivered.status).toBe(200);
      expect(await redelivered.json()).toEqual({ outcome: 'duplicate' });
      expect(ledger.bookings.map((booking) => booking.paymentId)).toEqual(['pay_shared']);
    } finally {
      await Promise.all(instances.map((instance) => instance.close()));
    }
  });
});
