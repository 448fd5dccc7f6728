/**
 * A storage that asks for short write transactions (`writeBatchLimit`, as the SQLite adapter
 * of a dispatcher in a worker thread does while the host writes to the same file): the
 * dispatcher claims and settles in batches no larger than it asks, asked before each call,
 * and still delivers everything. Real loopback HTTP; the memory storage underneath.
 */
import { describe, expect, it } from 'vitest';
import { createWebhooks } from '../../src/index.js';
import { createMemoryStorage } from '../../src/storage/memory/index.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { registerCleanups } from '../support/cleanups.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

const cleanups = registerCleanups();

describe("the dispatcher under a storage's writeBatchLimit", () => {
  it('claims and settles at most as many deliveries as the storage asks for, and delivers every one', async () => {
    const server = await LoopbackReceiver.start();
    cleanups.push(() => server.close());
    const base = createMemoryStorage();
    const claimLimits: number[] = [];
    const settleSizes: number[] = [];
    const storage: StorageAdapter = {
      ...base,
      writeBatchLimit: (operation) => (operation === 'claimDue' ? 3 : 2),
      claimDue: async (input) => {
        claimLimits.push(input.limit);
        return base.claimDue(input);
      },
      settle: async (settlements, now) => {
        settleSizes.push(settlements.length);
        return base.settle(settlements, now);
      },
    };
    const webhooks = createWebhooks({ storage, security: { allowPrivateNetworks: true }, concurrency: 8 });
    cleanups.push(() => webhooks.close());
    await webhooks.start();
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    await webhooks.stop();
    for (let n = 0; n < 20; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });

    expect(server.requests).toHaveLength(20);
    expect((await webhooks.metrics()).deliveriesSucceeded).toBe(20);
    expect(claimLimits.length).toBeGreaterThanOrEqual(7);
    expect(Math.max(...claimLimits)).toBe(3);
    expect(settleSizes.reduce((sum, size) => sum + size, 0)).toBe(20);
    expect(Math.max(...settleSizes)).toBeLessThanOrEqual(2);
  });
});
