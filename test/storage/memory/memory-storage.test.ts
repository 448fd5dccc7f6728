/**
 * What is particular to the memory storage (the shared behaviour is in
 * test/conformance/memory.test.ts): what its claim heaps touch and how far they grow, what
 * fan-out examines among many tenants, that an event's deliveries share its payload, the
 * tenant index after a tenant's removal, the
 * oldest pending creation, cursors, the refused host transaction, and close(). Its claim
 * order against a plain sort is a property, in test/property/memory-claim-due.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import { countPayloadHolders, inspectMemoryStorage } from '../../../src/storage/memory/memory-storage-probe.js';
import { createMemoryStorage } from '../../../src/storage/memory/memory-storage.js';
import type { EnqueueResult, StorageAdapter } from '../../../src/storage/storage-adapter.js';
import { NOW, publish, subscriptionAt } from '../../support/storage-records.js';
import { rejectionOf } from '../../support/rejections.js';

const LEASE_MS = 60_000;

function probe(storage: StorageAdapter) {
  const found = inspectMemoryStorage(storage);
  if (found === null) throw new Error('expected a memory storage');
  return found;
}

/** Enqueues an event of `type` published for `tenantId` at `now`. */
function publishForTenant(storage: StorageAdapter, now: number, tenantId: string | null, type = 'payment.succeeded'): Promise<EnqueueResult> {
  const id = createId('evt', now);
  return storage.enqueue({ event: { id, type, timestamp: now, payload: `{"id":"${id}"}`, idempotencyKey: null, tenantId }, now });
}

describe('memory storage', () => {
  it('claims from a 200,000-delivery backlog by popping only `limit` heap entries, oldest due first', async () => {
    const storage = createMemoryStorage();
    await storage.createSubscription(subscriptionAt(NOW));
    const backlog = 200_000;
    // Due times run backwards against creation order, so insertion order alone would be wrong.
    for (let i = 0; i < backlog; i++) await publish(storage, NOW + backlog - i);
    const byDue = (await storage.listDeliveries({ limit: 1000, status: 'pending' })).items;
    expect(byDue).toHaveLength(1000);

    const now = NOW + 10 * backlog;
    const before = probe(storage);
    const first = await storage.claimDue({ limit: 10, leaseMs: LEASE_MS, now });
    expect(probe(storage).claimHeapPops - before.claimHeapPops).toBe(10);
    expect(probe(storage).subscriptionHeapPops - before.subscriptionHeapPops).toBeLessThanOrEqual(2 * 10);
    expect(first.map((c) => c.delivery.nextAttemptAt)).toEqual(Array.from({ length: 10 }, (_, i) => NOW + 1 + i));
    // The newest deliveries were the ones due first.
    expect(first.map((c) => c.delivery.id)).toEqual(byDue.slice(0, 10).map((d) => d.id));

    const next = await storage.claimDue({ limit: 50, leaseMs: LEASE_MS, now });
    expect(next.map((c) => c.delivery.nextAttemptAt)).toEqual(Array.from({ length: 50 }, (_, i) => NOW + 11 + i));
    expect(await storage.nextDueAt(now)).toBe(NOW + 61);
    expect(await storage.stats(now)).toMatchObject({ pending: backlog, leased: 60 });
  });

  it('skips stale heap entries lazily and keeps the heaps bounded across many claim and retry cycles', async () => {
    const storage = createMemoryStorage();
    await storage.createSubscription(subscriptionAt(NOW));
    for (let i = 0; i < 10; i++) await publish(storage, NOW);
    let now = NOW;
    for (let round = 0; round < 5_000; round++) {
      const claimed = await storage.claimDue({ limit: 100, leaseMs: LEASE_MS, now });
      expect(claimed).toHaveLength(10);
      const results = await storage.settle(
        claimed.map((c) => ({
          deliveryId: c.delivery.id,
          leaseToken: c.leaseToken,
          attempt: { id: createId('att', now), startedAt: now, durationMs: 1, statusCode: 500, errorClass: 'http' as const, errorMessage: null, responseSnippet: null },
          outcome: { kind: 'retry' as const, nextAttemptAt: now + 1 },
        })),
        now,
      );
      expect(results.every((r) => r.ok)).toBe(true);
      now += 1;
    }
    // Each round leaves 10 stale lease entries that would not surface for a minute:
    // without compaction the heap would hold 50,000 entries.
    expect(probe(storage).claimHeapSize).toBeLessThan(2 * 10 + 1024 + 20);
    expect(probe(storage).createdHeapSize).toBeLessThan(2 * 10 + 1024 + 20);
    expect(probe(storage).subscriptionHeapSize).toBeLessThan(2 * 1 + 1024 + 20);
    expect(await storage.stats(now)).toMatchObject({ pending: 10, leased: 0, oldestPendingCreatedAt: NOW });
  });

  it("claims past an excluded subscription's 5,000-delivery backlog by touching O(limit) heap entries, never the backlog", async () => {
    const storage = createMemoryStorage();
    const slow = await storage.createSubscription(subscriptionAt(NOW, { id: 'sub_slow', eventTypes: ['ledger.*'] }));
    await storage.createSubscription(subscriptionAt(NOW, { id: 'sub_a', eventTypes: ['payment.*'] }));
    await storage.createSubscription(subscriptionAt(NOW, { id: 'sub_b', eventTypes: ['payment.*'] }));
    // The slow receiver's backlog is due before everything else.
    for (let i = 0; i < 5000; i++) await publish(storage, NOW + i, { type: 'ledger.posted' });
    for (let i = 0; i < 500; i++) await publish(storage, NOW + 10_000 + i);
    const now = NOW + 20_000;

    const limit = 10;
    const claimedIds: string[] = [];
    for (let round = 0; round < 50; round++) {
      const before = probe(storage);
      const claimed = await storage.claimDue({ limit, leaseMs: LEASE_MS, now, excludeSubscriptionIds: [slow.id] });
      expect(claimed).toHaveLength(limit);
      expect(claimed.every((c) => c.subscription.id !== slow.id)).toBe(true);
      claimedIds.push(...claimed.map((c) => c.delivery.id));
      // One pop per claimed delivery; the excluded subscription costs one pop of the subscription heap.
      expect(probe(storage).claimHeapPops - before.claimHeapPops).toBe(limit);
      expect(probe(storage).subscriptionHeapPops - before.subscriptionHeapPops).toBeLessThanOrEqual(limit + 2);
    }
    // Due order across the two subscriptions: the events went out in order, a before b.
    const expected = (await storage.listDeliveries({ status: 'pending', limit: 10_000 })).items
      .filter((d) => d.subscriptionId !== slow.id)
      .sort((x, y) => x.nextAttemptAt! - y.nextAttemptAt! || (x.id < y.id ? -1 : 1))
      .slice(0, 500)
      .map((d) => d.id);
    expect(claimedIds).toEqual(expected);

    const unblocked = await storage.claimDue({ limit, leaseMs: LEASE_MS, now });
    expect(unblocked.map((c) => [c.subscription.id, c.delivery.nextAttemptAt])).toEqual(
      Array.from({ length: limit }, (_, i) => [slow.id, NOW + i]),
    );
  });

  it('bounds the claim heaps of many subscriptions by pending deliveries plus a margin per subscription', async () => {
    const storage = createMemoryStorage();
    const subscriptions = 200;
    for (let i = 0; i < subscriptions; i++) await storage.createSubscription(subscriptionAt(NOW + i));
    await publish(storage, NOW);
    let now = NOW;
    for (let round = 0; round < 500; round++) {
      const claimed = await storage.claimDue({ limit: 1000, leaseMs: LEASE_MS, now });
      expect(claimed).toHaveLength(subscriptions);
      await storage.settle(
        claimed.map((c) => ({
          deliveryId: c.delivery.id,
          leaseToken: c.leaseToken,
          attempt: { id: createId('att', now), startedAt: now, durationMs: 1, statusCode: 500, errorClass: 'http' as const, errorMessage: null, responseSnippet: null },
          outcome: { kind: 'retry' as const, nextAttemptAt: now + 1 },
        })),
        now,
      );
      now += 1;
    }
    // 500 rounds leave 100,000 stale lease entries behind without compaction.
    expect(probe(storage).claimHeapSize).toBeLessThanOrEqual(2 * subscriptions + 64 * subscriptions);
    expect(probe(storage).subscriptionHeapSize).toBeLessThan(2 * subscriptions + 1024 + 20);
  });

  it('finds the oldest pending creation after an old delivery returns to pending', async () => {
    const storage = createMemoryStorage();
    await storage.createSubscription(subscriptionAt(NOW));
    const { event } = await publish(storage, NOW);
    await publish(storage, NOW + 1000);
    const [first] = (await storage.listDeliveries({ eventId: event.id, limit: 1 })).items;
    const [claimed] = await storage.claimDue({ limit: 1, leaseMs: LEASE_MS, now: NOW + 2000 });
    expect(claimed!.delivery.id).toBe(first!.id);
    await storage.settle(
      [
        {
          deliveryId: first!.id,
          leaseToken: claimed!.leaseToken,
          attempt: { id: createId('att', NOW), startedAt: NOW, durationMs: 1, statusCode: 500, errorClass: 'http', errorMessage: null, responseSnippet: null },
          outcome: { kind: 'dead' },
        },
      ],
      NOW + 2000,
    );
    expect((await storage.stats(NOW + 2000)).oldestPendingCreatedAt).toBe(NOW + 1000);
    await storage.redeliver(first!.id, NOW + 3000);
    expect((await storage.stats(NOW + 3000)).oldestPendingCreatedAt).toBe(NOW);
  });

  it('refuses a tampered cursor and a subscription cursor handed to the delivery log', async () => {
    const storage = createMemoryStorage();
    const sub = await storage.createSubscription(subscriptionAt(NOW));
    await storage.createSubscription(subscriptionAt(NOW + 1));
    for (let i = 0; i < 3; i++) await publish(storage, NOW + i);
    const page = await storage.listDeliveries({ limit: 1 });
    expect(page.nextCursor).not.toBeNull();
    expect(await rejectionOf(storage.listDeliveries({ limit: 1, cursor: `${page.nextCursor!}A` }))).toHaveProperty(
      'code',
      'CURSOR_INVALID',
    );
    const subscriptions = await storage.listSubscriptions({ limit: 1 });
    expect(subscriptions.items[0]!.id).toBe(sub.id);
    expect(await rejectionOf(storage.listDeliveries({ limit: 1, cursor: subscriptions.nextCursor! }))).toHaveProperty(
      'code',
      'CURSOR_INVALID',
    );
    expect(await rejectionOf(storage.listSubscriptions({ limit: 1, cursor: page.nextCursor! }))).toHaveProperty(
      'code',
      'CURSOR_INVALID',
    );
  });

  it('refuses a host transaction with TX_UNSUPPORTED and stores nothing', async () => {
    const storage = createMemoryStorage();
    expect(storage.capabilities).toEqual({ transactions: false, databaseClock: false });
    expect(storage.name).toBe('memory');
    await storage.createSubscription(subscriptionAt(NOW));
    const error = await rejectionOf(publish(storage, NOW, { tx: {} }));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'TX_UNSUPPORTED' });
    expect((await storage.listDeliveries({ limit: 10 })).items).toEqual([]);
    expect((await storage.stats(NOW)).pending).toBe(0);
  });

  it('rejects every call with STORAGE_CLOSED after close()', async () => {
    const storage = createMemoryStorage();
    const sub = await storage.createSubscription(subscriptionAt(NOW));
    await publish(storage, NOW);
    await storage.close();
    await storage.close();
    const now = NOW;
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['migrate', () => storage.migrate()],
      ['createSubscription', () => storage.createSubscription(subscriptionAt(now))],
      ['getSubscription', () => storage.getSubscription(sub.id)],
      ['listSubscriptions', () => storage.listSubscriptions({ limit: 10 })],
      ['updateSubscription', () => storage.updateSubscription(sub.id, { url: 'https://x.example.com' }, now)],
      ['setSubscriptionStatus', () => storage.setSubscriptionStatus(sub.id, { status: 'disabled' }, now)],
      ['softDeleteSubscription', () => storage.softDeleteSubscription(sub.id, now)],
      ['deleteSubscription', () => storage.deleteSubscription(sub.id)],
      ['listSubscriptionChanges', () => storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 10 })],
      ['getSubscriptionChange', () => storage.getSubscriptionChange('chg_x')],
      ['enqueue', () => publish(storage, now)],
      ['getEvent', () => storage.getEvent('evt_x')],
      ['listEvents', () => storage.listEvents({ limit: 10 })],
      ['expungeEvents', () => storage.expungeEvents(['evt_x'], now)],
      ['claimDue', () => storage.claimDue({ limit: 1, leaseMs: LEASE_MS, now })],
      ['settle', () => storage.settle([], now)],
      ['releaseLeases', () => storage.releaseLeases([], now)],
      ['nextDueAt', () => storage.nextDueAt(now)],
      ['getDelivery', () => storage.getDelivery('dlv_x')],
      ['listDeliveries', () => storage.listDeliveries({ limit: 10 })],
      ['listAttempts', () => storage.listAttempts('dlv_x')],
      ['redeliver', () => storage.redeliver('dlv_x', now)],
      ['replay', () => storage.replay({ subscriptionId: sub.id, since: 0, now, eventTypes: ['payment.succeeded'] })],
      ['stats', () => storage.stats(now)],
      ['purge', () => storage.purge({ olderThan: now })],
      ['purgeTenant', () => storage.purgeTenant({ tenantId: 'org_acme', limit: 10, now, force: false })],
    ];
    for (const [name, call] of calls) {
      const error = await rejectionOf(call());
      expect(error, name).toMatchObject({ name: 'StorageError', code: 'STORAGE_CLOSED' });
    }
  });

  it("examines only the event's tenant's subscriptions and the all-tenant consumers in fan-out, among 20,000 subscriptions of 10,000 tenants", async () => {
    const storage = createMemoryStorage();
    for (let i = 0; i < 20_000; i++) await storage.createSubscription(subscriptionAt(NOW, { tenantId: `org_${i % 10_000}` }));
    const acme = [
      await storage.createSubscription(subscriptionAt(NOW, { tenantId: 'org_acme', eventTypes: ['payment.*'] })),
      await storage.createSubscription(subscriptionAt(NOW, { tenantId: 'org_acme', eventTypes: ['refund.*'] })),
    ];
    const audit = await storage.createSubscription(subscriptionAt(NOW, { allTenants: true }));
    const platform = await storage.createSubscription(subscriptionAt(NOW));

    const before = probe(storage).fanOutVisits;
    const forAcme = await publishForTenant(storage, NOW, 'org_acme');
    expect(probe(storage).fanOutVisits - before).toBe(acme.length + 1);
    expect(forAcme.deliveryCount).toBe(2);
    const targets = (await storage.listDeliveries({ eventId: forAcme.event.id, limit: 10 })).items.map((d) => d.subscriptionId);
    expect(targets.sort()).toEqual([acme[0]!.id, audit.id].sort());

    // The platform's own list holds the consumer too; it is examined there and delivered to once.
    const midway = probe(storage).fanOutVisits;
    const tenantless = await publishForTenant(storage, NOW, null);
    expect(probe(storage).fanOutVisits - midway).toBe(3);
    expect((await storage.listDeliveries({ eventId: tenantless.event.id, limit: 10 })).items.map((d) => d.subscriptionId).sort()).toEqual(
      [platform.id, audit.id].sort(),
    );
  });

  it('holds an event fanned out to 1,000 subscriptions, and 10 such events, with one payload holder per event', async () => {
    const storage = createMemoryStorage();
    for (let i = 0; i < 1000; i++) await storage.createSubscription(subscriptionAt(NOW));
    const first = await publishForTenant(storage, NOW, null);
    expect(first.deliveryCount).toBe(1000);
    expect(countPayloadHolders(storage)).toBe(1);
    for (let i = 1; i < 10; i++) await publishForTenant(storage, NOW + i, null);
    expect(countPayloadHolders(storage)).toBe(10);
    // Claims, settles and redeliveries change deliveries, never where their payload is held.
    const claimed = await storage.claimDue({ limit: 1000, leaseMs: LEASE_MS, now: NOW + 100 });
    await storage.settle(
      claimed.slice(0, 500).map((c, i) => ({
        deliveryId: c.delivery.id,
        leaseToken: c.leaseToken,
        outcome: { kind: 'delivered' as const },
        attempt: { id: createId('att', NOW + 100), startedAt: NOW + 100, durationMs: 1, statusCode: 200, errorClass: null, errorMessage: null, responseSnippet: `ok ${i}` },
      })),
      NOW + 101,
    );
    expect(await storage.redeliver(claimed[0]!.delivery.id, NOW + 102)).toMatchObject({ status: 'pending' });
    expect(countPayloadHolders(storage)).toBe(10);
    expect(claimed.every((c) => c.event.payload === `{"id":"${c.event.id}"}`)).toBe(true);
  });

  it('grows the heap by far less than 1,000 payloads when a 256 KB event fans out to 1,000 subscriptions and every delivery is claimed', async () => {
    const storage = createMemoryStorage();
    for (let i = 0; i < 1000; i++) await storage.createSubscription(subscriptionAt(NOW));
    const id = createId('evt', NOW);
    const payloadBytes = 256 * 1024;
    const payload = JSON.stringify({ id, pad: 'x'.repeat(payloadBytes) });
    const heapBefore = process.memoryUsage().heapUsed;
    await storage.enqueue({ event: { id, type: 'payment.succeeded', timestamp: NOW, payload, idempotencyKey: null, tenantId: null }, now: NOW });
    // The claimed copies are what a dispatcher holds while it posts: they share the payload too.
    const claimed = await storage.claimDue({ limit: 1000, leaseMs: LEASE_MS, now: NOW });
    const grownBytes = process.memoryUsage().heapUsed - heapBefore;
    expect(claimed).toHaveLength(1000);
    expect(claimed.every((c) => c.event.payload.length === payload.length)).toBe(true);
    // A copy per delivery would be 1,000 × 256 KB = 256 MB; shared, the payload is 256 KB and
    // the 1,000 deliveries with their claimed copies a few MB. No collection is forced: one
    // only shrinks the growth, and the bound is 8× below the copying figure.
    expect(grownBytes).toBeLessThan(32 * 1024 * 1024);
  });

  it("claims past an excluded tenant's 5,000-delivery backlog by touching O(limit) heap entries, never the backlog", async () => {
    const storage = createMemoryStorage();
    await storage.createSubscription(subscriptionAt(NOW, { tenantId: 'org_busy' }));
    await storage.createSubscription(subscriptionAt(NOW, { tenantId: 'org_busy' }));
    const quiet = await storage.createSubscription(subscriptionAt(NOW, { tenantId: 'org_quiet' }));
    const platform = await storage.createSubscription(subscriptionAt(NOW));
    for (let i = 0; i < 2500; i++) await publishForTenant(storage, NOW + i, 'org_busy');
    for (let i = 0; i < 20; i++) await publishForTenant(storage, NOW + 10_000 + i, 'org_quiet');
    for (let i = 0; i < 20; i++) await publishForTenant(storage, NOW + 10_000 + i, null);
    const now = NOW + 20_000;

    const limit = 10;
    for (let round = 0; round < 4; round++) {
      const before = probe(storage);
      const claimed = await storage.claimDue({ limit, leaseMs: LEASE_MS, now, excludeTenantIds: ['org_busy'] });
      expect(claimed).toHaveLength(limit);
      expect(claimed.every((c) => c.subscription.id === quiet.id || c.subscription.id === platform.id)).toBe(true);
      expect(probe(storage).claimHeapPops - before.claimHeapPops).toBe(limit);
      // Each of the busy tenant's two subscriptions costs one pop of the subscription heap.
      expect(probe(storage).subscriptionHeapPops - before.subscriptionHeapPops).toBeLessThanOrEqual(limit + 2 + 2);
    }
    const unblocked = await storage.claimDue({ limit, leaseMs: LEASE_MS, now });
    expect(unblocked.every((c) => c.delivery.tenantId === 'org_busy')).toBe(true);
  });

  it("keeps nothing of a removed tenant in its tenant index, whether purgeTenant or purge took its last events", async () => {
    const storage = createMemoryStorage();
    await storage.createSubscription(subscriptionAt(NOW));
    const baseline = probe(storage).tenantShares;
    for (const tenantId of ['org_acme', 'org_globex']) {
      await storage.createSubscription(subscriptionAt(NOW, { tenantId }));
      await publishForTenant(storage, NOW, tenantId);
    }
    expect(probe(storage).tenantShares).toBe(baseline + 2);

    let result = await storage.purgeTenant({ tenantId: 'org_acme', limit: 10, now: NOW, force: false });
    expect(result).toEqual({ subscriptions: 1, events: 1, deliveries: 1, attempts: 0, done: true });
    expect(probe(storage).tenantShares).toBe(baseline + 1);

    // GLOBEX's subscription goes with its delivery; its event, matched by nothing, goes by age.
    const globex = (await storage.listSubscriptions({ tenantId: 'org_globex', limit: 1 })).items[0]!;
    expect(await storage.deleteSubscription(globex.id)).toBe(true);
    expect(await storage.purge({ olderThan: NOW + 1 })).toEqual({ events: 1, deliveries: 0, attempts: 0, testAttempts: 0 });
    expect(probe(storage).tenantShares).toBe(baseline);
    result = await storage.purgeTenant({ tenantId: 'org_globex', limit: 10, now: NOW, force: false });
    expect(result).toEqual({ subscriptions: 0, events: 0, deliveries: 0, attempts: 0, done: true });
  });

  it('refuses a purgeTenant limit below 1 with INPUT_INVALID', async () => {
    const storage = createMemoryStorage();
    for (const limit of [0, -1, 1.5]) {
      const error = await rejectionOf(storage.purgeTenant({ tenantId: 'org_acme', limit, now: NOW, force: false }));
      expect(error).toMatchObject({ name: 'ValidationError', code: 'INPUT_INVALID', field: 'limit' });
    }
  });

  it('returns null from inspectMemoryStorage for another adapter', () => {
    const other = { ...createMemoryStorage() };
    expect(inspectMemoryStorage(other)).toBeNull();
  });
});
