// The Redis DedupeStore of examples/receivers/redis-dedupe.ts against the real Redis on
// 127.0.0.1:6379: atomic claims across instances, expiries, releasing only one's own
// claim, and two app instances behind one Redis booking a redelivered payment once.
// Without Redis it skips locally and fails in CI.
import { connect } from 'node:net';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../examples/receivers/ledger.js';
import { createRedisDedupeStore, start } from '../../examples/receivers/redis-dedupe.js';
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
    const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 2]!.claim('evt_race', 60)));
    expect(claims.filter((claim) => claim === 'claimed')).toHaveLength(1);
    expect(claims.filter((claim) => claim === 'in-flight')).toHaveLength(19);
  });

  it('keeps an in-flight id for the lease and a processed one for the ttl, as Redis expiries', async () => {
    const store = createRedisDedupeStore(await client(), { keyPrefix: prefix });
    expect(await store.claim('evt_ttl', 60)).toBe('claimed');
    const leaseTtl = await inspector.ttl(`${prefix}evt_ttl`);
    expect(leaseTtl).toBeGreaterThan(55);
    expect(leaseTtl).toBeLessThanOrEqual(60);
    await store.complete('evt_ttl', 604_800);
    expect(await inspector.get(`${prefix}evt_ttl`)).toBe('processed');
    expect(await inspector.ttl(`${prefix}evt_ttl`)).toBeGreaterThan(604_700);
    expect(await store.claim('evt_ttl', 60)).toBe('processed');
  });

  it('frees an id when its lease expires', async () => {
    const store = createRedisDedupeStore(await client(), { keyPrefix: prefix });
    expect(await store.claim('evt_lease', 1)).toBe('claimed');
    expect(await store.claim('evt_lease', 1)).toBe('in-flight');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await store.claim('evt_lease', 1)).toBe('claimed');
  });

  it("releases its own claim, but not another instance's claim taken after its lease expired", async () => {
    const first = createRedisDedupeStore(await client(), { keyPrefix: prefix });
    const second = createRedisDedupeStore(await client(), { keyPrefix: prefix });
    expect(await first.claim('evt_release', 60)).toBe('claimed');
    await first.release('evt_release');
    expect(await second.claim('evt_release', 60)).toBe('claimed');

    expect(await first.claim('evt_stale', 1)).toBe('claimed');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await second.claim('evt_stale', 60)).toBe('claimed');
    await first.release('evt_stale'); // too late: the claim is second's now
    expect(await first.claim('evt_stale', 60)).toBe('in-flight');
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
