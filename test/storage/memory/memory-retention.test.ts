/**
 * What a retention batch of the memory storage touches, read off its probe: O(limit)
 * entries of its final-time queues and of its queue of orphan events, however large the
 * log; and how far those queues grow with stale entries (redeliveries, removed events).
 * Which deliveries and events a batch removes, against a recount, is a property in
 * test/property/memory-retention.test.ts; the shared behaviour is the conformance suite's.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import { inspectMemoryStorage } from '../../../src/storage/memory/memory-storage-probe.js';
import { createMemoryStorage } from '../../../src/storage/memory/memory-storage.js';
import type { ClaimedDelivery, PurgeRetentionInput, StorageAdapter } from '../../../src/storage/storage-adapter.js';
import { NOW, publish, subscriptionAt } from '../../support/storage-records.js';

const LEASE_MS = 60_000;

function probe(storage: StorageAdapter) {
  const found = inspectMemoryStorage(storage);
  if (found === null) throw new Error('expected a memory storage');
  return found;
}

async function settle(storage: StorageAdapter, claimed: readonly ClaimedDelivery[], kind: 'delivered' | 'dead', now: number): Promise<void> {
  const results = await storage.settle(
    claimed.map((c) => ({
      deliveryId: c.delivery.id,
      leaseToken: c.leaseToken,
      attempt: { id: createId('att', now), startedAt: now, durationMs: 1, statusCode: kind === 'delivered' ? 200 : 500, errorClass: null, errorMessage: null, responseSnippet: null },
      outcome: { kind },
    })),
    now,
  );
  expect(results.every((r) => r.ok)).toBe(true);
}

/** Every kind past retention at `now`, in batches of `limit`. */
function everything(now: number, limit: number): PurgeRetentionInput {
  return { deliveredBefore: now, deadBefore: now, eventsBefore: now, limit, now };
}

describe('memory storage retention', () => {
  it('takes a batch from a 50,000-delivery log by popping O(limit) queue entries, oldest first', async () => {
    const storage = createMemoryStorage();
    await storage.createSubscription(subscriptionAt(NOW));
    const size = 50_000;
    // Delivered in batches of 1,000, one ms apart: the oldest batch became final first.
    for (let first = 0; first < size; first += 1000) {
      for (let i = 0; i < 1000; i++) await publish(storage, NOW + first);
      await settle(storage, await storage.claimDue({ limit: 1000, leaseMs: LEASE_MS, now: NOW + first }), 'delivered', NOW + first);
    }
    const oldest = (await storage.listDeliveries({ limit: 1000, until: NOW + 1 })).items.map((d) => d.id).sort();
    expect(oldest).toHaveLength(1000);

    const limit = 100;
    const now = NOW + 10 * size;
    for (let batch = 0; batch < 3; batch++) {
      const before = probe(storage);
      expect(await storage.purgeRetention(everything(now, limit))).toEqual({ deliveries: limit, attempts: limit, events: limit, testAttempts: 0, more: true });
      // The delivery past `limit` is read and given back; the orphan events are the batch's own.
      expect(probe(storage).finalQueuePops - before.finalQueuePops).toBe(limit + 1);
      expect(probe(storage).orphanQueuePops - before.orphanQueuePops).toBe(limit);
    }
    // The oldest went first, in (final time, id) order.
    for (const id of oldest.slice(0, 3 * limit)) expect(await storage.getDelivery(id)).toBeNull();
    expect(await storage.getDelivery(oldest[3 * limit]!)).not.toBeNull();
    expect(await storage.stats(now)).toMatchObject({ delivered: size - 3 * limit });
  });

  it('passes over a cancelled delivery in flight without losing its place, and takes it once its lease ends', async () => {
    const storage = createMemoryStorage();
    const sub = subscriptionAt(NOW);
    await storage.createSubscription(sub);
    for (let i = 0; i < 5; i++) await publish(storage, NOW);
    const claimed = await storage.claimDue({ limit: 5, leaseMs: LEASE_MS, now: NOW });
    await storage.softDeleteSubscription(sub.id, NOW + 1);
    const now = NOW + 10;
    for (let batch = 0; batch < 3; batch++) {
      const before = probe(storage);
      expect(await storage.purgeRetention(everything(now, 2))).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 0, more: false });
      // Each in flight is looked at once per batch, never twice.
      expect(probe(storage).finalQueuePops - before.finalQueuePops).toBe(5);
    }
    const after = NOW + LEASE_MS + 1;
    expect(await storage.purgeRetention(everything(after, 2))).toEqual({ deliveries: 2, attempts: 0, events: 2, testAttempts: 0, more: true });
    expect(await storage.purgeRetention(everything(after, 3))).toEqual({ deliveries: 3, attempts: 0, events: 3, testAttempts: 0, more: false });
    for (const c of claimed) expect(await storage.getDelivery(c.delivery.id)).toBeNull();
  });

  it('keeps the final-time queues bounded across many redeliveries', async () => {
    const storage = createMemoryStorage();
    await storage.createSubscription(subscriptionAt(NOW));
    for (let i = 0; i < 10; i++) await publish(storage, NOW);
    let now = NOW;
    for (let round = 0; round < 2_000; round++) {
      const claimed = await storage.claimDue({ limit: 100, leaseMs: LEASE_MS, now });
      expect(claimed).toHaveLength(10);
      await settle(storage, claimed, round % 2 === 0 ? 'dead' : 'delivered', now);
      now += 1;
      for (const c of claimed) expect(await storage.redeliver(c.delivery.id, now)).toMatchObject({ status: 'pending' });
    }
    // Each round leaves 10 stale entries behind: without compaction the two queues would hold
    // 20,000; each holds at most twice its deliveries plus 1,024.
    expect(probe(storage).finalQueueSize).toBeLessThanOrEqual(2 * (2 * 10 + 1024 + 1));
  });

  it("lets go of removed events' entries in the orphan queue: a tenant's purge leaves none behind", async () => {
    const storage = createMemoryStorage();
    // No subscription: every event is an orphan from the start.
    for (let i = 0; i < 3000; i++) {
      const id = createId('evt', NOW + i);
      await storage.enqueue({ event: { id, type: 'payment.succeeded', timestamp: NOW + i, payload: '{}', idempotencyKey: null, tenantId: 'org_gone' }, now: NOW + i });
    }
    await publish(storage, NOW);
    expect(probe(storage).orphanQueueSize).toBe(3001);
    for (let batch = 0; batch < 3; batch++) {
      expect(await storage.purgeTenant({ tenantId: 'org_gone', limit: 1000, now: NOW, force: false })).toMatchObject({ events: 1000 });
    }
    expect(probe(storage).orphanQueueSize).toBeLessThanOrEqual(2 * 1 + 1024);
    // The event left is still found.
    expect(await storage.purgeRetention({ deliveredBefore: null, deadBefore: null, eventsBefore: NOW + 1, limit: 10, now: NOW })).toEqual({
      deliveries: 0,
      attempts: 0,
      events: 1,
      testAttempts: 0,
      more: false,
    });
    expect(probe(storage).orphanQueueSize).toBe(0);
  });
});
