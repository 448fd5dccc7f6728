/**
 * The storage conformance suite: one set of behaviours that every {@link StorageAdapter}
 * (memory, SQLite, PostgreSQL, and third-party ones) must show, run unchanged on each.
 *
 * It speaks only the interface: no adapter internals, no SQL. Time is an injected
 * `now` advanced by the tests, never the wall clock, except where an adapter measures
 * leases with its database's clock (`capabilities.databaseClock`): there the
 * lease-expiry tests use a short lease and poll, bounded to a few seconds.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type {
  AttemptInput,
  ClaimedDelivery,
  DeliveryQuery,
  DeliveryRecord,
  EnqueueResult,
  SettleOutcome,
  SettleResult,
  StorageAdapter,
  SubscriptionRecord,
} from '../../src/storage/storage-adapter.js';

/** One fresh store for one test. */
export interface StorageHarness {
  /** A fresh, empty, migrated store. */
  storage: StorageAdapter;
  /** Another handle on the same store (another connection); memory returns `storage` itself. */
  openPeer: () => Promise<StorageAdapter>;
  /** Closes `storage`, every peer, and removes whatever the store left behind. */
  cleanup: () => Promise<void>;
}

/** Makes a {@link StorageHarness}; called once per test. */
export type StorageHarnessFactory = () => Promise<StorageHarness>;

const START_MS = 1_700_000_000_000;
/** Long enough that no test outlives it, even on a database clock. */
const LEASE_MS = 60_000;
/** The lease used where a test waits for expiry on a database clock. */
const DATABASE_CLOCK_SHORT_LEASE_MS = 250;
const DATABASE_CLOCK_POLL_MS = 25;
const DATABASE_CLOCK_MAX_WAIT_MS = 5_000;

/**
 * Defines the conformance suite for one adapter. Call it at the top level of a test file.
 *
 * @example
 * ```ts
 * describeStorageAdapter('memory', async () => {
 *   const storage = createMemoryStorage();
 *   await storage.migrate();
 *   return { storage, openPeer: async () => storage, cleanup: () => storage.close() };
 * });
 * ```
 */
export function describeStorageAdapter(name: string, factory: StorageHarnessFactory): void {
  describe(`storage adapter conformance: ${name}`, () => {
    let harness: StorageHarness | undefined;
    let storage: StorageAdapter;
    let now = START_MS;
    let urlCounter = 0;

    beforeEach(async () => {
      now = START_MS;
      harness = await factory();
      storage = harness.storage;
    });

    afterEach(async () => {
      const current = harness;
      harness = undefined;
      await current?.cleanup();
    });

    // ---- helpers -------------------------------------------------------------

    function subscriptionRecord(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
      urlCounter++;
      return {
        id: createId('sub', now),
        url: `https://receiver.example.com/hooks/${urlCounter}`,
        eventTypes: ['*'],
        secrets: [{ value: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', createdAt: now, expiresAt: null }],
        headers: { 'x-tenant': 'acme' },
        description: null,
        metadata: { team: { name: 'finance' }, tags: ['erp'] },
        status: 'active',
        disabledReason: null,
        disabledAt: null,
        retry: null,
        flowControl: null,
        failingSince: null,
        createdAt: now,
        updatedAt: now,
        ...overrides,
      };
    }

    function createSubscription(overrides: Partial<SubscriptionRecord> = {}): Promise<SubscriptionRecord> {
      return storage.createSubscription(subscriptionRecord(overrides));
    }

    function publish(
      type: string,
      options: { idempotencyKey?: string; on?: StorageAdapter } = {},
    ): Promise<EnqueueResult> {
      const id = createId('evt', now);
      const payload = JSON.stringify({ id, type, timestamp: new Date(now).toISOString(), data: { amountMinor: 1250, currency: 'EUR' } });
      return (options.on ?? storage).enqueue({
        event: { id, type, timestamp: now, payload, idempotencyKey: options.idempotencyKey ?? null },
        newDeliveryId: () => createId('dlv', now),
        now,
      });
    }

    /** Publishes and returns the one delivery it created for `subscriptionId`. */
    async function publishFor(subscriptionId: string, type = 'payment.succeeded'): Promise<DeliveryRecord> {
      const { event } = await publish(type);
      const delivery = (await deliveriesOfEvent(event.id)).find((d) => d.subscriptionId === subscriptionId);
      if (delivery === undefined) throw new Error(`expected a delivery of ${event.id} for ${subscriptionId}`);
      return delivery;
    }

    function claim(limit = 100, leaseMs = LEASE_MS, on: StorageAdapter = storage): Promise<ClaimedDelivery[]> {
      return on.claimDue({ limit, leaseMs, now });
    }

    /** Claims exactly the one delivery expected to be due. */
    async function claimOne(expectedId?: string, leaseMs = LEASE_MS): Promise<ClaimedDelivery> {
      const claimed = await claim(1, leaseMs);
      expect(claimed).toHaveLength(1);
      if (expectedId !== undefined) expect(claimed[0]!.delivery.id).toBe(expectedId);
      return claimed[0]!;
    }

    function attempt(overrides: Partial<AttemptInput> = {}): AttemptInput {
      return {
        id: createId('att', now),
        startedAt: now,
        durationMs: 42,
        statusCode: 200,
        errorClass: null,
        errorMessage: null,
        responseSnippet: 'ok',
        ...overrides,
      };
    }

    async function settle(
      claimed: { delivery: { id: string }; leaseToken: string },
      outcome: SettleOutcome,
      attemptOverrides: Partial<AttemptInput> = {},
    ): Promise<SettleResult> {
      const results = await storage.settle(
        [{ deliveryId: claimed.delivery.id, leaseToken: claimed.leaseToken, attempt: attempt(attemptOverrides), outcome }],
        now,
      );
      expect(results).toHaveLength(1);
      return results[0]!;
    }

    async function deliveriesOfEvent(eventId: string): Promise<DeliveryRecord[]> {
      return (await storage.listDeliveries({ eventId, limit: 1000 })).items;
    }

    async function delivery(id: string): Promise<DeliveryRecord> {
      const found = await storage.getDelivery(id);
      if (found === null) throw new Error(`expected delivery ${id} to exist`);
      return found;
    }

    /** Every page of a delivery query, with the page size given. */
    async function listAllDeliveries(query: Omit<DeliveryQuery, 'cursor'>): Promise<DeliveryRecord[]> {
      const all: DeliveryRecord[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 1000; page++) {
        const result = await storage.listDeliveries({ ...query, ...(cursor === undefined ? {} : { cursor }) });
        expect(result.items.length).toBeLessThanOrEqual(query.limit);
        all.push(...result.items);
        if (result.nextCursor === null) return all;
        cursor = result.nextCursor;
      }
      throw new Error('paging did not end');
    }

    async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
      try {
        await promise;
      } catch (error) {
        return error;
      }
      return expect.fail('expected the call to reject');
    }

    function descendingIds(records: Array<{ id: string }>): string[] {
      return records.map((r) => r.id).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
    }

    const usesDatabaseClock = (): boolean => storage.capabilities.databaseClock;

    /** A lease that the next {@link letLeasesExpire} outlasts. */
    const shortLeaseMs = (): number => (usesDatabaseClock() ? DATABASE_CLOCK_SHORT_LEASE_MS : LEASE_MS);

    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

    /** Lets leases taken with {@link shortLeaseMs} expire, without claiming anything. */
    async function letLeasesExpire(): Promise<void> {
      if (usesDatabaseClock()) await sleep(DATABASE_CLOCK_SHORT_LEASE_MS * 2);
      else now += LEASE_MS + 1;
    }

    /** Claims once leases taken with {@link shortLeaseMs} have expired. */
    async function claimAfterLeaseExpiry(limit = 100): Promise<ClaimedDelivery[]> {
      if (!usesDatabaseClock()) {
        now += LEASE_MS + 1;
        return claim(limit);
      }
      const deadline = Date.now() + DATABASE_CLOCK_MAX_WAIT_MS;
      for (;;) {
        const claimed = await claim(limit);
        if (claimed.length > 0 || Date.now() > deadline) return claimed;
        await sleep(DATABASE_CLOCK_POLL_MS);
      }
    }

    // ---- schema ------------------------------------------------------------------

    describe('migrate', () => {
      it('is idempotent, and two migrations at once on two handles both succeed', async () => {
        await storage.migrate();
        await storage.migrate();
        const peer = await harness!.openPeer();
        await Promise.all([storage.migrate(), peer.migrate()]);
        const sub = await createSubscription();
        expect(await peer.getSubscription(sub.id)).toEqual(sub);
      });
    });

    // ---- subscriptions ---------------------------------------------------------

    describe('subscriptions', () => {
      it('creates a subscription and reads it back equal to what was given', async () => {
        const record = subscriptionRecord({ description: 'ERP', retry: { delaysMs: [1000, 5000], jitter: 0.1 } });
        const created = await storage.createSubscription(record);
        expect(created).toEqual(record);
        expect(await storage.getSubscription(record.id)).toEqual(record);
        expect(await storage.getSubscription(createId('sub', now))).toBeNull();
      });

      it('returns copies: mutating a given or returned subscription changes nothing stored', async () => {
        const record = subscriptionRecord({ retry: { delaysMs: [1000] } });
        const expected = structuredClone(record);
        const created = await storage.createSubscription(record);
        record.eventTypes.push('refund.*');
        record.headers['x-extra'] = '1';
        created.eventTypes.push('order.*');
        created.secrets[0]!.value = 'whsec_changed';
        created.headers['x-tenant'] = 'other';
        (created.metadata['team'] as { name: string }).name = 'changed';
        (created.retry as { delaysMs: number[] }).delaysMs.push(9);
        const read = await storage.getSubscription(record.id);
        expect(read).toEqual(expected);
        read!.eventTypes.length = 0;
        const listed = await storage.listSubscriptions({ limit: 10 });
        listed.items[0]!.metadata['tags'] = [];
        expect(await storage.getSubscription(record.id)).toEqual(expected);
      });

      it('lists subscriptions oldest first, in pages that cover each exactly once, filtered by status', async () => {
        const created: SubscriptionRecord[] = [];
        for (let i = 0; i < 5; i++) {
          created.push(await createSubscription());
          now += 10;
        }
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 10; page++) {
          const result = await storage.listSubscriptions({ limit: 2, ...(cursor === undefined ? {} : { cursor }) });
          expect(result.items.length).toBeLessThanOrEqual(2);
          seen.push(...result.items.map((s) => s.id));
          if (result.nextCursor === null) break;
          cursor = result.nextCursor;
        }
        expect(seen).toEqual(created.map((s) => s.id));

        await storage.setSubscriptionStatus(created[1]!.id, { status: 'disabled', reason: 'manual' }, now);
        await storage.setSubscriptionStatus(created[3]!.id, { status: 'disabled', reason: 'manual' }, now);
        const disabled = await storage.listSubscriptions({ limit: 10, status: 'disabled' });
        expect(disabled.items.map((s) => s.id)).toEqual([created[1]!.id, created[3]!.id]);
        expect(disabled.nextCursor).toBeNull();
        const active = await storage.listSubscriptions({ limit: 10, status: 'active' });
        expect(active.items.map((s) => s.id)).toEqual([created[0]!.id, created[2]!.id, created[4]!.id]);
      });

      it('updates the patched fields only, stamps updatedAt, and returns null for an unknown id', async () => {
        const sub = await createSubscription();
        now += 1000;
        const updated = await storage.updateSubscription(
          sub.id,
          { url: 'https://erp.example.com/in', eventTypes: ['refund.*'], description: 'ERP', retry: { initialDelayMs: 1000, maxAttempts: 3 } },
          now,
        );
        const expected = {
          ...sub,
          url: 'https://erp.example.com/in',
          eventTypes: ['refund.*'],
          description: 'ERP',
          retry: { initialDelayMs: 1000, maxAttempts: 3 },
          updatedAt: now,
        };
        expect(updated).toEqual(expected);
        expect(await storage.getSubscription(sub.id)).toEqual(expected);
        expect(await storage.updateSubscription(createId('sub', now), { url: 'https://x.example.com' }, now)).toBeNull();
      });

      it('disables with a reason and enables again, and returns null for an unknown id', async () => {
        const sub = await createSubscription();
        now += 1000;
        const disabled = await storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'operator' }, now);
        expect(disabled).toMatchObject({ status: 'disabled', disabledReason: 'operator', disabledAt: now });
        now += 1000;
        const enabled = await storage.setSubscriptionStatus(sub.id, { status: 'active' }, now);
        expect(enabled).toMatchObject({ status: 'active', disabledReason: null, disabledAt: null });
        expect(await storage.getSubscription(sub.id)).toEqual(enabled);
        expect(await storage.setSubscriptionStatus(createId('sub', now), { status: 'disabled' }, now)).toBeNull();
      });

      it('deletes a subscription with its deliveries and attempts, keeps the events, and says false the second time', async () => {
        const sub = await createSubscription();
        const other = await createSubscription();
        const d = await publishFor(sub.id);
        const otherDelivery = await publishFor(other.id);
        const claimed = await claimOne(d.id);
        await settle(claimed, { kind: 'retry', nextAttemptAt: now + 1000 }, { statusCode: 500 });
        expect(await storage.listAttempts(d.id)).toHaveLength(1);

        expect(await storage.deleteSubscription(sub.id)).toBe(true);
        expect(await storage.getSubscription(sub.id)).toBeNull();
        expect(await storage.getDelivery(d.id)).toBeNull();
        expect(await storage.listAttempts(d.id)).toEqual([]);
        expect(await storage.getEvent(d.eventId)).not.toBeNull();
        expect((await storage.listDeliveries({ subscriptionId: sub.id, limit: 10 })).items).toEqual([]);
        expect(await storage.getDelivery(otherDelivery.id)).not.toBeNull();
        const remaining = (await storage.listDeliveries({ limit: 100 })).items.map((x) => x.id);
        // Both events went to both subscriptions: only the other's two deliveries remain.
        expect(remaining).toHaveLength(2);
        expect(remaining).toContain(otherDelivery.id);
        expect(remaining).toEqual((await storage.listDeliveries({ subscriptionId: other.id, limit: 100 })).items.map((x) => x.id));
        expect((await storage.stats(now)).pending).toBe(2);
        expect(await storage.deleteSubscription(sub.id)).toBe(false);
      });

      it('stores flow control and returns it from create, get, list, update and a claim, as copies', async () => {
        const flowControl = { maxInFlight: 4, ratePerSecond: null, burst: 8 };
        const record = subscriptionRecord({ flowControl });
        const created = await storage.createSubscription(record);
        expect(created.flowControl).toEqual(flowControl);
        created.flowControl!.maxInFlight = 99;
        expect((await storage.getSubscription(record.id))!.flowControl).toEqual(flowControl);
        expect((await storage.listSubscriptions({ limit: 10 })).items[0]!.flowControl).toEqual(flowControl);

        now += 1000;
        const rated = await storage.updateSubscription(record.id, { flowControl: { ratePerSecond: 2.5, burst: 5 } }, now);
        expect(rated).toEqual({ ...record, flowControl: { ratePerSecond: 2.5, burst: 5 }, updatedAt: now });
        // A patch without flowControl leaves it alone.
        await storage.updateSubscription(record.id, { description: 'ERP' }, now);
        const d = await publishFor(record.id);
        const claimed = await claimOne(d.id);
        expect(claimed.subscription.flowControl).toEqual({ ratePerSecond: 2.5, burst: 5 });
        expect(claimed.subscription).toEqual(await storage.getSubscription(record.id));

        const cleared = await storage.updateSubscription(record.id, { flowControl: null }, now);
        expect(cleared!.flowControl).toBeNull();
        expect((await storage.getSubscription(record.id))!.flowControl).toBeNull();
        expect(await createSubscription()).toMatchObject({ flowControl: null, failingSince: null });
      });
    });

    // ---- enqueue and fan-out ------------------------------------------------------

    describe('enqueue', () => {
      it('fans out by filter: exact, prefix `payment.*` and `*`, never to a disabled subscription', async () => {
        const exact = await createSubscription({ eventTypes: ['payment.succeeded'] });
        const prefix = await createSubscription({ eventTypes: ['payment.*'] });
        const all = await createSubscription({ eventTypes: ['*'] });
        const refunds = await createSubscription({ eventTypes: ['refund.*', 'order.created'] });
        const disabled = await createSubscription({ eventTypes: ['*'] });
        await storage.setSubscriptionStatus(disabled.id, { status: 'disabled', reason: 'manual' }, now);

        const targetsOf = async (type: string): Promise<string[]> => {
          const { event } = await publish(type);
          return (await deliveriesOfEvent(event.id)).map((d) => d.subscriptionId).sort();
        };
        expect(await targetsOf('payment.succeeded')).toEqual([exact.id, prefix.id, all.id].sort());
        expect(await targetsOf('payment.refund.partial')).toEqual([prefix.id, all.id].sort());
        expect(await targetsOf('paymentx.y')).toEqual([all.id]);
        expect(await targetsOf('refund.x')).toEqual([all.id, refunds.id].sort());
        expect(await targetsOf('order.created')).toEqual([all.id, refunds.id].sort());
      });

      it('stores the event and exactly one pending delivery per matching active subscription, due now', async () => {
        const a = await createSubscription({ eventTypes: ['payment.*'] });
        const b = await createSubscription({ eventTypes: ['*'] });
        await createSubscription({ eventTypes: ['refund.*'] });
        now += 5000;
        const result = await publish('payment.succeeded');
        expect(result.created).toBe(true);
        expect(result.deliveryCount).toBe(2);
        expect(await storage.getEvent(result.event.id)).toEqual(result.event);
        expect(result.event.type).toBe('payment.succeeded');
        expect(result.event.timestamp).toBe(now);

        const ds = await deliveriesOfEvent(result.event.id);
        expect(ds.map((d) => d.subscriptionId).sort()).toEqual([a.id, b.id].sort());
        for (const d of ds) {
          expect(d).toEqual({
            id: d.id,
            eventId: result.event.id,
            eventType: 'payment.succeeded',
            subscriptionId: d.subscriptionId,
            status: 'pending',
            attempts: 0,
            nextAttemptAt: now,
            lastAttemptAt: null,
            lastStatusCode: null,
            lastError: null,
            deliveredAt: null,
            leaseExpiresAt: null,
            createdAt: now,
            updatedAt: now,
          });
        }
        expect(await storage.nextDueAt(now)).toBe(now);
      });

      it('stores an event that matches no subscription, with no delivery', async () => {
        await createSubscription({ eventTypes: ['refund.*'] });
        const result = await publish('payment.succeeded');
        expect(result).toMatchObject({ created: true, deliveryCount: 0 });
        expect(await storage.getEvent(result.event.id)).toEqual(result.event);
        expect(await deliveriesOfEvent(result.event.id)).toEqual([]);
        expect(await storage.nextDueAt(now)).toBeNull();
      });

      it('returns the first event for an idempotency key seen before and adds no delivery', async () => {
        await createSubscription();
        const first = await publish('payment.succeeded', { idempotencyKey: 'ledger-entry-42' });
        now += 1000;
        const again = await publish('payment.succeeded', { idempotencyKey: 'ledger-entry-42' });
        expect(again).toEqual({ event: first.event, created: false, deliveryCount: 0 });
        expect((await storage.listDeliveries({ limit: 100 })).items).toHaveLength(1);
        expect((await storage.stats(now)).pending).toBe(1);
        const other = await publish('payment.succeeded', { idempotencyKey: 'ledger-entry-43' });
        expect(other.created).toBe(true);
      });

      it('lets exactly one of two concurrent publishes with the same idempotency key create the event', async () => {
        await createSubscription();
        const peer = await harness!.openPeer();
        const results = await Promise.all([
          publish('payment.succeeded', { idempotencyKey: 'race' }),
          publish('payment.succeeded', { idempotencyKey: 'race', on: peer }),
        ]);
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(results[0]!.event.id).toBe(results[1]!.event.id);
        expect((await storage.listDeliveries({ limit: 100 })).items).toHaveLength(1);
      });

      it('refuses a delivery id that exists or repeats within the fan-out with STORAGE_CONFLICT, storing nothing', async () => {
        const first = await createSubscription();
        const stored = await publishFor(first.id);
        await createSubscription();
        const enqueueWithIds = (eventId: string, ids: string[]) => {
          let next = 0;
          return storage.enqueue({
            event: { id: eventId, type: 'payment.succeeded', timestamp: now, payload: JSON.stringify({ id: eventId }), idempotencyKey: null },
            newDeliveryId: () => ids[next++]!,
            now,
          });
        };
        const repeated = createId('dlv', now);
        for (const ids of [[stored.id, createId('dlv', now)], [repeated, repeated]]) {
          const eventId = createId('evt', now);
          expect(await rejectionOf(enqueueWithIds(eventId, ids))).toMatchObject({ code: 'STORAGE_CONFLICT' });
          expect(await storage.getEvent(eventId)).toBeNull();
        }
        expect((await storage.listDeliveries({ limit: 100 })).items.map((d) => d.id)).toEqual([stored.id]);
        expect((await storage.stats(now)).pending).toBe(1);
        // The ids were refused, not the storage: a fan-out with fresh ids goes in.
        const fresh = [createId('dlv', now), createId('dlv', now)];
        expect(await enqueueWithIds(createId('evt', now), fresh)).toMatchObject({ created: true, deliveryCount: 2 });
      });

      it('returns a copy of the event: mutating it changes nothing stored', async () => {
        const { event } = await publish('payment.succeeded');
        const expected = { ...event };
        event.payload = '{}';
        const read = await storage.getEvent(event.id);
        expect(read).toEqual(expected);
        read!.type = 'changed';
        expect(await storage.getEvent(event.id)).toEqual(expected);
      });
    });

    // ---- claiming ----------------------------------------------------------------

    describe('claimDue', () => {
      it('hands each of 300 due deliveries to exactly one of three racing claimers', async () => {
        await createSubscription();
        for (let i = 0; i < 300; i++) await publish('payment.succeeded');
        const claimers = [storage, await harness!.openPeer(), await harness!.openPeer()];
        const seen = new Map<string, number>();
        for (let round = 0; round < 1000; round++) {
          const batches = await Promise.all(claimers.map((c) => claim(7, LEASE_MS, c)));
          if (batches.every((b) => b.length === 0)) break;
          for (const batch of batches) for (const c of batch) seen.set(c.delivery.id, (seen.get(c.delivery.id) ?? 0) + 1);
        }
        expect(seen.size).toBe(300);
        expect([...seen.values()].every((n) => n === 1)).toBe(true);
        expect((await storage.stats(now)).leased).toBe(300);
      });

      it('returns the delivery under a lease with its event, its subscription and a token', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const event = await storage.getEvent(d.eventId);
        const claimed = await claimOne(d.id);
        expect(claimed.event).toEqual(event);
        expect(claimed.subscription).toEqual(sub);
        expect(typeof claimed.leaseToken).toBe('string');
        expect(claimed.leaseToken.length).toBeGreaterThan(0);
        expect(claimed.delivery).toMatchObject({ id: d.id, status: 'pending', attempts: 0 });
        expect(claimed.delivery.leaseExpiresAt).not.toBeNull();
        if (!usesDatabaseClock()) expect(claimed.delivery.leaseExpiresAt).toBe(now + LEASE_MS);
        expect(await storage.getDelivery(d.id)).toEqual(claimed.delivery);
        claimed.subscription.eventTypes.push('x.*');
        claimed.delivery.status = 'dead';
        expect(await storage.getSubscription(sub.id)).toEqual(sub);
        expect((await delivery(d.id)).status).toBe('pending');
      });

      it('claims the oldest due first, then by id, and never more than the limit', async () => {
        const sub = await createSubscription();
        const a = await publishFor(sub.id);
        now += 5;
        const b = await publishFor(sub.id);
        const c = await publishFor(sub.id);
        now += 10;
        const first = await claim(2);
        expect(first.map((x) => x.delivery.id)).toEqual([a.id, b.id]);
        await settle(first[0]!, { kind: 'retry', nextAttemptAt: now + 20 }, { statusCode: 500 });
        await settle(first[1]!, { kind: 'delivered' });
        now += 5;
        const d = await publishFor(sub.id);
        now += 100;
        // a's retry falls due after d, made later with a greater id: due time wins over id.
        expect((await claim(10)).map((x) => x.delivery.id)).toEqual([c.id, d.id, a.id]);
      });

      it('does not claim a delivery due in the future, and nextDueAt reports when it will be due', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const claimed = await claimOne(d.id);
        const dueAt = now + 60_000;
        await settle(claimed, { kind: 'retry', nextAttemptAt: dueAt }, { statusCode: 503 });
        expect(await storage.nextDueAt(now)).toBe(dueAt);
        now = dueAt - 1;
        expect(await claim()).toEqual([]);
        now = dueAt;
        expect((await claim()).map((x) => x.delivery.id)).toEqual([d.id]);
      });

      it('does not claim a delivery of a disabled subscription, nor report it due', async () => {
        const sub = await createSubscription();
        await publishFor(sub.id);
        await storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, now);
        now += 1000;
        expect(await claim()).toEqual([]);
        expect(await storage.nextDueAt(now)).toBeNull();
      });

      it('reports no due time when nothing is pending', async () => {
        expect(await storage.nextDueAt(now)).toBeNull();
        expect(await claim()).toEqual([]);
      });

      it('claims nothing of excluded subscriptions, the others still in due order, and the excluded ones once no longer excluded', async () => {
        const slow = await createSubscription({ eventTypes: ['ledger.*'] });
        const b = await createSubscription({ eventTypes: ['payment.*'] });
        const c = await createSubscription({ eventTypes: ['refund.*'] });
        // The excluded subscription's backlog comes first; b and c interleave after it.
        const ofSlow: DeliveryRecord[] = [];
        for (let i = 0; i < 5; i++) {
          ofSlow.push(await publishFor(slow.id, 'ledger.posted'));
          now += 1;
        }
        const b1 = await publishFor(b.id, 'payment.succeeded');
        now += 1;
        const c1 = await publishFor(c.id, 'refund.created');
        now += 1;
        const b2 = await publishFor(b.id, 'payment.succeeded');
        const c2 = await publishFor(c.id, 'refund.created');
        now += 1;
        const b3 = await publishFor(b.id, 'payment.succeeded');
        now += 100;

        const excluding = (ids: string[], limit: number): Promise<ClaimedDelivery[]> =>
          storage.claimDue({ limit, leaseMs: LEASE_MS, now, excludeSubscriptionIds: ids });
        const sameTime = [b2, c2].sort((x, y) => (x.id < y.id ? -1 : 1));
        expect((await excluding([slow.id], 2)).map((x) => x.delivery.id)).toEqual([b1.id, c1.id]);
        expect((await excluding([slow.id, createId('sub', now)], 10)).map((x) => x.delivery.id)).toEqual([
          ...sameTime.map((d) => d.id),
          b3.id,
        ]);
        expect(await excluding([slow.id], 10)).toEqual([]);
        expect((await storage.getDelivery(ofSlow[0]!.id))!.leaseExpiresAt).toBeNull();

        const released = await excluding([], 3);
        expect(released.map((x) => x.delivery.id)).toEqual(ofSlow.slice(0, 3).map((d) => d.id));
        expect((await claim(10)).map((x) => x.delivery.id)).toEqual(ofSlow.slice(3).map((d) => d.id));
      });

      it('excludes every subscription named, and claims nothing when all with due work are excluded', async () => {
        const a = await createSubscription({ eventTypes: ['payment.*'] });
        const b = await createSubscription({ eventTypes: ['refund.*'] });
        await publishFor(a.id, 'payment.succeeded');
        await publishFor(b.id, 'refund.created');
        expect(await storage.claimDue({ limit: 10, leaseMs: LEASE_MS, now, excludeSubscriptionIds: [a.id, b.id] })).toEqual([]);
        expect(await storage.nextDueAt(now)).toBe(now);
        const onlyB = await storage.claimDue({ limit: 10, leaseMs: LEASE_MS, now, excludeSubscriptionIds: [a.id, a.id] });
        expect(onlyB.map((x) => x.subscription.id)).toEqual([b.id]);
      });
    });

    // ---- leases --------------------------------------------------------------------

    describe('leases', () => {
      it('does not hand out a claimed delivery again while its lease holds', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        await claimOne(d.id);
        const peer = await harness!.openPeer();
        expect(await claim(10, LEASE_MS, peer)).toEqual([]);
        if (!usesDatabaseClock()) {
          now += LEASE_MS - 1;
          expect(await claim()).toEqual([]);
        }
      });

      it('hands out a delivery again with a new token once its lease expired, and fences the stale token', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const first = await claimOne(d.id, shortLeaseMs());
        const second = await claimAfterLeaseExpiry();
        expect(second.map((x) => x.delivery.id)).toEqual([d.id]);
        expect(second[0]!.leaseToken).not.toBe(first.leaseToken);

        const before = await delivery(d.id);
        const stale = await settle(first, { kind: 'delivered' });
        expect(stale).toEqual({ ok: false, deliveryId: d.id, code: 'STORAGE_LEASE_LOST' });
        expect(await storage.getDelivery(d.id)).toEqual(before);
        expect(await storage.listAttempts(d.id)).toEqual([]);

        const fresh = await settle(second[0]!, { kind: 'delivered' });
        expect(fresh.ok).toBe(true);
      });

      it('lets the holder of an expired lease settle while nobody has claimed the delivery again', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const claimed = await claimOne(d.id, shortLeaseMs());
        await letLeasesExpire();
        const result = await settle(claimed, { kind: 'delivered' });
        expect(result.ok).toBe(true);
        expect((await delivery(d.id)).status).toBe('delivered');
      });

      it('makes released deliveries due at once and ignores a release with a stale token', async () => {
        const sub = await createSubscription();
        const a = await publishFor(sub.id);
        const b = await publishFor(sub.id);
        const [ca, cb] = await claim(2);
        await storage.releaseLeases(
          [
            { deliveryId: ca!.delivery.id, leaseToken: ca!.leaseToken },
            { deliveryId: cb!.delivery.id, leaseToken: 'not-the-token' },
          ],
          now,
        );
        const released = await delivery(a.id);
        expect(released).toMatchObject({ status: 'pending', leaseExpiresAt: null, attempts: 0 });
        expect(released.nextAttemptAt).toBeLessThanOrEqual(now);
        expect((await delivery(b.id)).leaseExpiresAt).not.toBeNull();
        expect((await claim()).map((x) => x.delivery.id)).toEqual([a.id]);
        expect(await settle(ca!, { kind: 'delivered' })).toMatchObject({ ok: false, code: 'STORAGE_LEASE_LOST' });
      });
    });

    // ---- settling ------------------------------------------------------------------

    describe('settle', () => {
      it('records a delivered attempt with every field and makes the delivery final', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const claimed = await claimOne(d.id);
        const startedAt = now;
        now += 42;
        const input = attempt({ startedAt, durationMs: 42, statusCode: 204, responseSnippet: 'accepted' });
        const [result] = await storage.settle(
          [{ deliveryId: d.id, leaseToken: claimed.leaseToken, attempt: input, outcome: { kind: 'delivered' } }],
          now,
        );
        const stored = await delivery(d.id);
        expect(result).toEqual({ ok: true, delivery: stored, subscriptionDisabled: false, failingSince: null });
        expect(stored).toEqual({
          ...d,
          status: 'delivered',
          attempts: 1,
          nextAttemptAt: null,
          lastAttemptAt: startedAt,
          lastStatusCode: 204,
          lastError: null,
          deliveredAt: now,
          leaseExpiresAt: null,
          updatedAt: now,
        });
        expect(await storage.listAttempts(d.id)).toEqual([
          {
            id: input.id,
            deliveryId: d.id,
            attemptNumber: 1,
            startedAt,
            durationMs: 42,
            statusCode: 204,
            errorClass: null,
            errorMessage: null,
            responseSnippet: 'accepted',
            outcome: 'delivered',
            nextAttemptAt: null,
          },
        ]);
        expect(await claim()).toEqual([]);
        expect(await settle(claimed, { kind: 'delivered' })).toMatchObject({ ok: false, code: 'STORAGE_LEASE_LOST' });
      });

      it('schedules a retry at T: attempts and nextAttemptAt persist, and it is claimable at T, not before', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const first = await claimOne(d.id);
        const retryAt = now + 5000;
        const result = await settle(
          first,
          { kind: 'retry', nextAttemptAt: retryAt },
          { statusCode: 500, errorClass: 'http', errorMessage: 'HTTP 500', responseSnippet: 'boom' },
        );
        expect(result).toMatchObject({ ok: true, subscriptionDisabled: false });
        expect(await delivery(d.id)).toMatchObject({
          status: 'pending',
          attempts: 1,
          nextAttemptAt: retryAt,
          leaseExpiresAt: null,
          lastStatusCode: 500,
          lastError: 'HTTP 500',
          deliveredAt: null,
        });
        now = retryAt - 1;
        expect(await claim()).toEqual([]);
        now = retryAt;
        const second = await claimOne(d.id);
        expect(second.delivery.attempts).toBe(1);
        await settle(
          second,
          { kind: 'retry', nextAttemptAt: now + 10_000 },
          { statusCode: null, errorClass: 'timeout', errorMessage: 'timed out after 15000 ms', responseSnippet: null },
        );
        const attempts = await storage.listAttempts(d.id);
        expect(attempts.map((a) => [a.attemptNumber, a.outcome, a.statusCode, a.errorClass, a.nextAttemptAt])).toEqual([
          [1, 'retry', 500, 'http', retryAt],
          [2, 'retry', null, 'timeout', retryAt + 10_000],
        ]);
        expect((await delivery(d.id)).attempts).toBe(2);
      });

      it('marks a delivery dead: final, not claimable, attempt recorded', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const claimed = await claimOne(d.id);
        const result = await settle(claimed, { kind: 'dead' }, { statusCode: 400, errorClass: 'http', errorMessage: 'HTTP 400' });
        expect(result).toMatchObject({ ok: true, delivery: { status: 'dead', attempts: 1, nextAttemptAt: null, leaseExpiresAt: null } });
        expect((await storage.listAttempts(d.id)).map((a) => a.outcome)).toEqual(['dead']);
        now += 100_000;
        expect(await claim()).toEqual([]);
        expect(await storage.nextDueAt(now)).toBeNull();
      });

      it('disables the subscription, holds this and its other pending deliveries, and enabling brings them back due now', async () => {
        const sub = await createSubscription({ eventTypes: ['payment.*'] });
        const other = await createSubscription({ eventTypes: ['payment.*'] });
        const d1 = await publishFor(sub.id);
        const d2 = await publishFor(sub.id);
        const d3 = await publishFor(sub.id);
        const claimedAll = await claim(100);
        const c1 = claimedAll.find((c) => c.delivery.id === d1.id)!;
        const c2 = claimedAll.find((c) => c.delivery.id === d2.id)!;
        const c3 = claimedAll.find((c) => c.delivery.id === d3.id)!;
        // d3 goes back to waiting, so that it is an unleased pending delivery at disable time.
        await settle(c3, { kind: 'retry', nextAttemptAt: now + 1000 }, { statusCode: 500 });
        now += 10;

        const result = await settle(c1, { kind: 'disable', reason: 'HTTP 410 Gone' }, { statusCode: 410 });
        expect(result).toMatchObject({ ok: true, subscriptionDisabled: true, delivery: { status: 'held', attempts: 1 } });
        expect(await storage.getSubscription(sub.id)).toMatchObject({
          status: 'disabled',
          disabledReason: 'HTTP 410 Gone',
          disabledAt: now,
        });
        expect((await storage.listAttempts(d1.id)).map((a) => a.outcome)).toEqual(['disable']);
        expect((await delivery(d2.id)).status).toBe('held');
        expect((await delivery(d3.id)).status).toBe('held');
        // The other in-flight delivery may still settle; the subscription was already disabled.
        expect(await settle(c2, { kind: 'disable', reason: 'HTTP 410 Gone' }, { statusCode: 410 })).toMatchObject({
          ok: true,
          subscriptionDisabled: false,
          delivery: { status: 'held' },
        });

        const later = await publish('payment.succeeded');
        expect((await deliveriesOfEvent(later.event.id)).map((d) => d.subscriptionId)).toEqual([other.id]);
        now += 5000;
        expect((await claim()).every((c) => c.delivery.subscriptionId === other.id)).toBe(true);

        now += 1000;
        await storage.setSubscriptionStatus(sub.id, { status: 'active' }, now);
        for (const [id, attempts] of [
          [d1.id, 1],
          [d2.id, 1],
          [d3.id, 1],
        ] as const) {
          expect(await delivery(id)).toMatchObject({ status: 'pending', nextAttemptAt: now, attempts });
        }
        expect((await claim()).map((c) => c.delivery.id).sort()).toEqual([d1.id, d2.id, d3.id].sort());
      });

      it('keeps a leased delivery held when it settles with a retry after its subscription was disabled, but delivered is still final', async () => {
        const sub = await createSubscription();
        const a = await publishFor(sub.id);
        const b = await publishFor(sub.id);
        const [ca, cb] = await claim(2);
        await storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'operator' }, now);
        expect((await delivery(a.id)).status).toBe('held');
        expect((await delivery(b.id)).status).toBe('held');
        const retried = await settle(ca!, { kind: 'retry', nextAttemptAt: now + 1000 }, { statusCode: 500 });
        expect(retried).toMatchObject({ ok: true, delivery: { status: 'held', attempts: 1, leaseExpiresAt: null } });
        const delivered = await settle(cb!, { kind: 'delivered' });
        expect(delivered).toMatchObject({ ok: true, delivery: { status: 'delivered' } });
        now += 10_000;
        expect(await claim()).toEqual([]);
        const stats = await storage.stats(now);
        expect(stats).toMatchObject({ pending: 0, held: 1, delivered: 1 });
      });

      it('settles a batch mixing current and stale tokens with one result per item, in order', async () => {
        const sub = await createSubscription();
        const ds = [await publishFor(sub.id), await publishFor(sub.id), await publishFor(sub.id)];
        const claimed = await claim(3);
        expect(claimed.map((c) => c.delivery.id)).toEqual(ds.map((d) => d.id));
        const before = await delivery(ds[1]!.id);
        const results = await storage.settle(
          [
            { deliveryId: ds[0]!.id, leaseToken: claimed[0]!.leaseToken, attempt: attempt(), outcome: { kind: 'delivered' } },
            { deliveryId: ds[1]!.id, leaseToken: 'stale-token', attempt: attempt(), outcome: { kind: 'delivered' } },
            { deliveryId: ds[2]!.id, leaseToken: claimed[2]!.leaseToken, attempt: attempt({ statusCode: 500 }), outcome: { kind: 'dead' } },
          ],
          now,
        );
        expect(results.map((r) => r.ok)).toEqual([true, false, true]);
        expect(results[1]).toEqual({ ok: false, deliveryId: ds[1]!.id, code: 'STORAGE_LEASE_LOST' });
        expect(results[0]).toMatchObject({ delivery: { id: ds[0]!.id, status: 'delivered' } });
        expect(results[2]).toMatchObject({ delivery: { id: ds[2]!.id, status: 'dead' } });
        expect(await storage.getDelivery(ds[1]!.id)).toEqual(before);
        expect(await storage.listAttempts(ds[1]!.id)).toEqual([]);
      });

      it('answers STORAGE_LEASE_LOST for a delivery that no longer exists', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const claimed = await claimOne(d.id);
        await storage.deleteSubscription(sub.id);
        expect(await settle(claimed, { kind: 'delivered' })).toEqual({ ok: false, deliveryId: d.id, code: 'STORAGE_LEASE_LOST' });
      });

      it('sets failingSince to the start of the first failed attempt, keeps it through more failures, clears it on success', async () => {
        const sub = await createSubscription();
        const other = await createSubscription({ eventTypes: ['refund.*'] });
        const d1 = await publishFor(sub.id);
        const d2 = await publishFor(sub.id);
        expect((await storage.getSubscription(sub.id))!.failingSince).toBeNull();

        const firstStart = now - 250;
        const [c1, c2] = await claim(2);
        expect([c1!.delivery.id, c2!.delivery.id]).toEqual([d1.id, d2.id]);
        const failed = await settle(c1!, { kind: 'retry', nextAttemptAt: now + 1000 }, { startedAt: firstStart, statusCode: 503 });
        expect(failed).toMatchObject({ ok: true, failingSince: firstStart });
        expect((await storage.getSubscription(sub.id))!.failingSince).toBe(firstStart);
        expect((await storage.getSubscription(other.id))!.failingSince).toBeNull();

        now += 1000;
        const again = await claimOne(d1.id);
        const dead = await settle(again, { kind: 'dead' }, { startedAt: now, statusCode: 500 });
        expect(dead).toMatchObject({ ok: true, failingSince: firstStart });
        expect((await storage.getSubscription(sub.id))!.failingSince).toBe(firstStart);

        const ok = await settle(c2!, { kind: 'delivered' }, { startedAt: now });
        expect(ok).toMatchObject({ ok: true, failingSince: null });
        expect((await storage.getSubscription(sub.id))!.failingSince).toBeNull();

        now += 1000;
        await storage.redeliver(d1.id, now);
        const later = await settle(await claimOne(d1.id), { kind: 'dead' }, { startedAt: now - 5, statusCode: 500 });
        expect(later).toMatchObject({ ok: true, failingSince: now - 5 });
        expect((await storage.getSubscription(sub.id))!.failingSince).toBe(now - 5);
      });

      it('applies the settlements of one batch to failingSince in order, each result carrying the value after it', async () => {
        const sub = await createSubscription();
        for (let i = 0; i < 5; i++) await publishFor(sub.id);
        const claimed = await claim(5);
        expect(claimed).toHaveLength(5);
        const item = (i: number, outcome: SettleOutcome, startedAt: number) => ({
          deliveryId: claimed[i]!.delivery.id,
          leaseToken: claimed[i]!.leaseToken,
          attempt: attempt({ startedAt, statusCode: outcome.kind === 'delivered' ? 200 : 500 }),
          outcome,
        });
        const first = await storage.settle(
          [
            item(0, { kind: 'retry', nextAttemptAt: now + 1000 }, now - 30),
            item(1, { kind: 'dead' }, now - 20),
            item(2, { kind: 'delivered' }, now - 10),
          ],
          now,
        );
        expect(first.map((r) => (r.ok ? r.failingSince : 'lost'))).toEqual([now - 30, now - 30, null]);
        expect((await storage.getSubscription(sub.id))!.failingSince).toBeNull();

        const second = await storage.settle([item(3, { kind: 'delivered' }, now - 9), item(4, { kind: 'dead' }, now - 8)], now);
        expect(second.map((r) => (r.ok ? r.failingSince : 'lost'))).toEqual([null, now - 8]);
        expect((await storage.getSubscription(sub.id))!.failingSince).toBe(now - 8);
      });

      it('leaves failingSince alone on a lost lease and on a disabling settle', async () => {
        const sub = await createSubscription();
        const healthy = await createSubscription({ eventTypes: ['refund.*'] });
        const a = await publishFor(sub.id);
        const b = await publishFor(sub.id);
        const gone = await publishFor(healthy.id, 'refund.created');
        const claimed = await claim(10);
        const byId = (id: string) => claimed.find((x) => x.delivery.id === id)!;
        const failingAt = now - 100;
        await settle(byId(a.id), { kind: 'retry', nextAttemptAt: now + 1000 }, { startedAt: failingAt, statusCode: 500 });

        const lost = await settle({ delivery: { id: b.id }, leaseToken: 'not-the-token' }, { kind: 'delivered' });
        expect(lost).toEqual({ ok: false, deliveryId: b.id, code: 'STORAGE_LEASE_LOST' });
        expect((await storage.getSubscription(sub.id))!.failingSince).toBe(failingAt);

        const disabled = await settle(byId(b.id), { kind: 'disable', reason: 'HTTP 410 Gone' }, { statusCode: 410 });
        expect(disabled).toMatchObject({ ok: true, subscriptionDisabled: true, failingSince: failingAt });
        expect(await storage.getSubscription(sub.id)).toMatchObject({ status: 'disabled', failingSince: failingAt });

        const healthyGone = await settle(byId(gone.id), { kind: 'disable', reason: 'HTTP 410 Gone' }, { statusCode: 410 });
        expect(healthyGone).toMatchObject({ ok: true, subscriptionDisabled: true, failingSince: null });
        expect((await storage.getSubscription(healthy.id))!.failingSince).toBeNull();
      });
    });

    // ---- the delivery log -------------------------------------------------------------

    describe('delivery log', () => {
      it('lists by subscription and by status, newest first, and a cursor pages over each exactly once', async () => {
        const a = await createSubscription({ eventTypes: ['payment.*'] });
        const b = await createSubscription({ eventTypes: ['refund.*'] });
        const ofA: DeliveryRecord[] = [];
        const ofB: DeliveryRecord[] = [];
        for (let i = 0; i < 5; i++) {
          now += 10;
          ofA.push(await publishFor(a.id, 'payment.succeeded'));
          if (i < 3) ofB.push(await publishFor(b.id, 'refund.created'));
        }
        const byA = await listAllDeliveries({ subscriptionId: a.id, limit: 2 });
        expect(byA.map((d) => d.id)).toEqual(descendingIds(ofA));
        expect(byA.every((d) => d.subscriptionId === a.id)).toBe(true);

        const everything = await listAllDeliveries({ limit: 3 });
        expect(everything.map((d) => d.id)).toEqual(descendingIds([...ofA, ...ofB]));

        const firstPage = await storage.listDeliveries({ subscriptionId: a.id, limit: 5 });
        expect(firstPage.items).toHaveLength(5);
        expect(firstPage.nextCursor).toBeNull();

        const claimed = await claim(100);
        const deadIds = [ofA[1]!.id, ofB[2]!.id];
        for (const c of claimed) {
          await settle(c, deadIds.includes(c.delivery.id) ? { kind: 'dead' } : { kind: 'delivered' });
        }
        const dead = await listAllDeliveries({ status: 'dead', limit: 1 });
        expect(dead.map((d) => d.id)).toEqual(descendingIds([ofA[1]!, ofB[2]!]));
        expect(dead.every((d) => d.status === 'dead')).toBe(true);
        expect((await listAllDeliveries({ subscriptionId: a.id, status: 'dead', limit: 10 })).map((d) => d.id)).toEqual([
          ofA[1]!.id,
        ]);
        expect((await listAllDeliveries({ status: 'delivered', limit: 2 })).map((d) => d.id)).toEqual(
          descendingIds([...ofA, ...ofB].filter((d) => !deadIds.includes(d.id))),
        );
      });

      it('filters the log by creation time: since inclusive, until exclusive', async () => {
        const sub = await createSubscription();
        const ds: DeliveryRecord[] = [];
        for (let i = 0; i < 4; i++) {
          now += 100;
          ds.push(await publishFor(sub.id));
        }
        const window = await listAllDeliveries({ subscriptionId: sub.id, since: ds[1]!.createdAt, until: ds[3]!.createdAt, limit: 10 });
        expect(window.map((d) => d.id)).toEqual([ds[2]!.id, ds[1]!.id]);
      });

      it('rejects a garbage cursor with CURSOR_INVALID', async () => {
        const sub = await createSubscription();
        await publishFor(sub.id);
        const error = await rejectionOf(storage.listDeliveries({ limit: 10, cursor: '!!not a cursor!!' }));
        expect(error).toHaveProperty('code', 'CURSOR_INVALID');
        const bySub = await rejectionOf(storage.listDeliveries({ subscriptionId: sub.id, limit: 10, cursor: '%%%' }));
        expect(bySub).toHaveProperty('code', 'CURSOR_INVALID');
      });

      it('returns copies of deliveries: mutating one changes nothing stored', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const expected = { ...d };
        d.status = 'dead';
        const listed = await storage.listDeliveries({ limit: 10 });
        listed.items[0]!.attempts = 99;
        expect(await storage.getDelivery(d.id)).toEqual(expected);
      });

      it('lists the attempts of a delivery oldest first', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const claimed = await claimOne(d.id);
          const input = attempt({ statusCode: i < 2 ? 500 : 200 });
          ids.push(input.id);
          await storage.settle(
            [
              {
                deliveryId: d.id,
                leaseToken: claimed.leaseToken,
                attempt: input,
                outcome: i < 2 ? { kind: 'retry', nextAttemptAt: now + 1000 } : { kind: 'delivered' },
              },
            ],
            now,
          );
          now += 1000;
        }
        const attempts = await storage.listAttempts(d.id);
        expect(attempts.map((a) => a.id)).toEqual(ids);
        expect(attempts.map((a) => a.attemptNumber)).toEqual([1, 2, 3]);
        expect(attempts.map((a) => a.outcome)).toEqual(['retry', 'retry', 'delivered']);
        expect(await storage.listAttempts(createId('dlv', now))).toEqual([]);
      });

      it('lists by several statuses at once, alone or with a subscription, newest first, a cursor paging over each exactly once', async () => {
        const a = await createSubscription({ eventTypes: ['payment.*'] });
        const off = await createSubscription({ eventTypes: ['refund.*'] });
        const ofA: DeliveryRecord[] = [];
        for (let i = 0; i < 6; i++) {
          now += 10;
          ofA.push(await publishFor(a.id, 'payment.succeeded'));
        }
        const held = await publishFor(off.id, 'refund.created');
        await storage.setSubscriptionStatus(off.id, { status: 'disabled', reason: 'manual' }, now);
        const claimed = await claim(5);
        expect(claimed.map((c) => c.delivery.id)).toEqual(ofA.slice(0, 5).map((d) => d.id));
        const outcomes: SettleOutcome[] = [
          { kind: 'delivered' },
          { kind: 'dead' },
          { kind: 'retry', nextAttemptAt: now + 1000 },
          { kind: 'delivered' },
          { kind: 'dead' },
        ];
        for (let i = 0; i < 5; i++) await settle(claimed[i]!, outcomes[i]!, { statusCode: i === 0 || i === 3 ? 200 : 500 });
        // pending: ofA[2] (retry), ofA[5] (never claimed); dead: ofA[1], ofA[4]; held: the disabled one's.
        const undelivered = [ofA[1]!, ofA[2]!, ofA[4]!, ofA[5]!, held];

        const all = await listAllDeliveries({ status: ['pending', 'held', 'dead'], limit: 2 });
        expect(all.map((d) => d.id)).toEqual(descendingIds(undelivered));
        const ofOneSubscription = await listAllDeliveries({ subscriptionId: a.id, status: ['dead', 'pending'], limit: 1 });
        expect(ofOneSubscription.map((d) => d.id)).toEqual(descendingIds([ofA[1]!, ofA[2]!, ofA[4]!, ofA[5]!]));
        expect((await listAllDeliveries({ status: ['delivered'], limit: 10 })).map((d) => d.id)).toEqual(
          (await listAllDeliveries({ status: 'delivered', limit: 10 })).map((d) => d.id),
        );
        expect((await listAllDeliveries({ status: ['dead', 'dead'], limit: 10 })).map((d) => d.id)).toEqual(descendingIds([ofA[1]!, ofA[4]!]));
        expect((await storage.listDeliveries({ status: [], limit: 10 })).items).toEqual([]);
      });
    });

    describe('redeliver', () => {
      it('makes a delivered or dead delivery pending again, due now, with a fresh attempt cycle', async () => {
        const sub = await createSubscription();
        const ok = await publishFor(sub.id);
        const bad = await publishFor(sub.id);
        const [cOk, cBad] = await claim(2);
        await settle(cOk!, { kind: 'delivered' });
        await settle(cBad!, { kind: 'dead' }, { statusCode: 500 });
        now += 60_000;

        for (const id of [ok.id, bad.id]) {
          const result = await storage.redeliver(id, now);
          expect(result).toMatchObject({ id, status: 'pending', attempts: 0, nextAttemptAt: now, deliveredAt: null, leaseExpiresAt: null });
          expect(await storage.getDelivery(id)).toEqual(result);
        }
        const again = await claim(10);
        expect(again.map((c) => c.delivery.id).sort()).toEqual([ok.id, bad.id].sort());
        const retried = again.find((c) => c.delivery.id === ok.id)!;
        await settle(retried, { kind: 'delivered' });
        expect((await storage.listAttempts(ok.id)).map((a) => a.attemptNumber)).toEqual([1, 2]);
      });

      it('restarts the attempt cycle but goes on numbering the log, and keeps the first failure and the recovery', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        const fresh = await claimOne(d.id);
        expect(fresh.history).toEqual({ attempts: 0, firstFailedAt: null, recoveredAt: null });
        const firstFailure = now;
        await settle(fresh, { kind: 'retry', nextAttemptAt: now + 1000 }, { startedAt: firstFailure, statusCode: 500 });
        now += 1000;
        const second = await claimOne(d.id);
        expect(second.delivery.attempts).toBe(1);
        expect(second.history).toEqual({ attempts: 1, firstFailedAt: firstFailure, recoveredAt: null });
        await settle(second, { kind: 'dead' }, { statusCode: 500 });

        now += 60_000;
        expect(await storage.redeliver(d.id, now)).toMatchObject({ status: 'pending', attempts: 0 });
        const third = await claimOne(d.id);
        // The retry schedule starts over (attempts in the cycle: 0); the log does not.
        expect(third.delivery.attempts).toBe(0);
        expect(third.history).toEqual({ attempts: 2, firstFailedAt: firstFailure, recoveredAt: null });
        const recovery = now;
        const result = await settle(third, { kind: 'delivered' }, { startedAt: recovery });
        expect(result).toMatchObject({ ok: true, delivery: { status: 'delivered', attempts: 1 } });

        now += 60_000;
        await storage.redeliver(d.id, now);
        const fourth = await claimOne(d.id);
        expect(fourth.history).toEqual({ attempts: 3, firstFailedAt: firstFailure, recoveredAt: recovery });
        await settle(fourth, { kind: 'retry', nextAttemptAt: now + 1000 }, { statusCode: 503 });
        now += 1000;
        const fifth = await claimOne(d.id);
        // Neither the first failure nor the first recovery moves.
        expect(fifth.history).toEqual({ attempts: 4, firstFailedAt: firstFailure, recoveredAt: recovery });
        await settle(fifth, { kind: 'delivered' });
        expect((await storage.listAttempts(d.id)).map((a) => [a.attemptNumber, a.outcome])).toEqual([
          [1, 'retry'],
          [2, 'dead'],
          [3, 'delivered'],
          [4, 'retry'],
          [5, 'delivered'],
        ]);
      });

      it('counts a failure that follows a success as the first failure, and the success after it as the recovery', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        await settle(await claimOne(d.id), { kind: 'delivered' });
        await storage.redeliver(d.id, now);
        const second = await claimOne(d.id);
        expect(second.history).toEqual({ attempts: 1, firstFailedAt: null, recoveredAt: null });
        const failedAt = now;
        await settle(second, { kind: 'disable', reason: 'gone' }, { startedAt: failedAt, statusCode: 410 });
        await storage.setSubscriptionStatus(sub.id, { status: 'active' }, now);
        const third = await claimOne(d.id);
        expect(third.history).toEqual({ attempts: 2, firstFailedAt: failedAt, recoveredAt: null });
        now += 1000;
        await settle(third, { kind: 'delivered' }, { startedAt: now });
        await storage.redeliver(d.id, now);
        expect((await claimOne(d.id)).history).toEqual({ attempts: 3, firstFailedAt: failedAt, recoveredAt: now });
      });

      it('brings a waiting retry forward to now', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        await settle(await claimOne(d.id), { kind: 'retry', nextAttemptAt: now + 3_600_000 }, { statusCode: 500 });
        const result = await storage.redeliver(d.id, now);
        expect(result).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: now });
        expect((await claim()).map((c) => c.delivery.id)).toEqual([d.id]);
      });

      it("answers 'in_flight' under a lease, 'held' for a disabled subscription, 'not_found' for an unknown id", async () => {
        const live = await createSubscription();
        const off = await createSubscription({ eventTypes: ['refund.*'] });
        const leased = await publishFor(live.id);
        const held = await publishFor(off.id, 'refund.created');
        await claimOne(leased.id);
        await storage.setSubscriptionStatus(off.id, { status: 'disabled', reason: 'manual' }, now);
        const leasedBefore = await delivery(leased.id);
        expect(await storage.redeliver(leased.id, now)).toBe('in_flight');
        expect(await storage.getDelivery(leased.id)).toEqual(leasedBefore);
        expect(await storage.redeliver(held.id, now)).toBe('held');
        expect((await delivery(held.id)).status).toBe('held');
        expect(await storage.redeliver(createId('dlv', now), now)).toBe('not_found');
      });
    });

    describe('replay', () => {
      it('re-queues dead deliveries and creates the missing ones of the window, leaves delivered alone; dryRun only counts', async () => {
        const early = await publish('payment.early');
        now += 1000;
        const sub = await createSubscription({ eventTypes: ['payment.*'] });
        const since = now;
        const dead = await publishFor(sub.id, 'payment.failed');
        const delivered = await publishFor(sub.id, 'payment.succeeded');
        const [cDead, cDelivered] = await claim(2);
        await settle(cDead!, { kind: 'dead' }, { statusCode: 500 });
        await settle(cDelivered!, { kind: 'delivered' });
        now += 1000;
        await storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, now);
        const missed = await publish('payment.refunded');
        const unrelated = await publish('refund.created');
        now += 1000;
        const until = now;
        const afterWindow = await publish('payment.late');
        now += 1000;
        await storage.setSubscriptionStatus(sub.id, { status: 'active' }, now);
        expect(await deliveriesOfEvent(missed.event.id)).toEqual([]);

        const deadBefore = await delivery(dead.id);
        const dry = await storage.replay({ subscriptionId: sub.id, since, until, now, newDeliveryId: () => createId('dlv', now), dryRun: true });
        expect(dry).toEqual({ count: 2 });
        expect(await storage.getDelivery(dead.id)).toEqual(deadBefore);
        expect(await deliveriesOfEvent(missed.event.id)).toEqual([]);

        now += 1000;
        const done = await storage.replay({ subscriptionId: sub.id, since, until, now, newDeliveryId: () => createId('dlv', now) });
        expect(done).toEqual({ count: 2 });
        expect(await delivery(dead.id)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: now });
        expect(await deliveriesOfEvent(missed.event.id)).toMatchObject([
          { subscriptionId: sub.id, status: 'pending', attempts: 0, nextAttemptAt: now, eventType: 'payment.refunded' },
        ]);
        expect((await delivery(delivered.id)).status).toBe('delivered');
        expect(await deliveriesOfEvent(unrelated.event.id)).toEqual([]);
        expect(await deliveriesOfEvent(afterWindow.event.id)).toEqual([]);
        expect(await deliveriesOfEvent(early.event.id)).toEqual([]);
        expect((await claim()).map((c) => c.delivery.eventId).sort()).toEqual([dead.eventId, missed.event.id].sort());

        const again = await storage.replay({ subscriptionId: sub.id, since, until, now, newDeliveryId: () => createId('dlv', now) });
        expect(again).toEqual({ count: 0 });
      });

      it('gives a replayed dead delivery a fresh attempt cycle and goes on numbering its log', async () => {
        const sub = await createSubscription();
        const since = now;
        const d = await publishFor(sub.id);
        const failedAt = now;
        await settle(await claimOne(d.id), { kind: 'dead' }, { startedAt: failedAt, statusCode: 500 });
        now += 1000;
        expect(await storage.replay({ subscriptionId: sub.id, since, now, newDeliveryId: () => createId('dlv', now) })).toEqual({ count: 1 });
        const again = await claimOne(d.id);
        expect(again.delivery.attempts).toBe(0);
        expect(again.history).toEqual({ attempts: 1, firstFailedAt: failedAt, recoveredAt: null });
        await settle(again, { kind: 'delivered' });
        expect((await storage.listAttempts(d.id)).map((a) => a.attemptNumber)).toEqual([1, 2]);
      });

      it('replays without an upper bound when until is omitted', async () => {
        const sub = await createSubscription({ eventTypes: ['payment.*'] });
        await storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, now);
        const since = now;
        await publish('payment.one');
        now += 1_000_000;
        await publish('payment.two');
        await storage.setSubscriptionStatus(sub.id, { status: 'active' }, now);
        const result = await storage.replay({ subscriptionId: sub.id, since, now, newDeliveryId: () => createId('dlv', now) });
        expect(result).toEqual({ count: 2 });
        expect((await storage.stats(now)).pending).toBe(2);
      });
    });

    // ---- stats ---------------------------------------------------------------------------

    describe('stats', () => {
      it('tracks pending, leased, held, dead, delivered and the oldest pending creation through each transition', async () => {
        const empty = { pending: 0, leased: 0, held: 0, dead: 0, delivered: 0, oldestPendingCreatedAt: null };
        expect(await storage.stats(now)).toEqual(empty);
        const sub = await createSubscription();
        const t0 = now;
        const d1 = await publishFor(sub.id);
        now += 1000;
        const d2 = await publishFor(sub.id);
        now += 1000;
        const d3 = await publishFor(sub.id);
        expect(await storage.stats(now)).toEqual({ ...empty, pending: 3, oldestPendingCreatedAt: t0 });

        const c1 = await claimOne(d1.id);
        expect(await storage.stats(now)).toEqual({ ...empty, pending: 3, leased: 1, oldestPendingCreatedAt: t0 });
        await settle(c1, { kind: 'delivered' });
        expect(await storage.stats(now)).toEqual({ ...empty, pending: 2, delivered: 1, oldestPendingCreatedAt: t0 + 1000 });

        await settle(await claimOne(d2.id), { kind: 'dead' }, { statusCode: 500 });
        expect(await storage.stats(now)).toEqual({ ...empty, pending: 1, dead: 1, delivered: 1, oldestPendingCreatedAt: t0 + 2000 });

        await storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, now);
        expect(await storage.stats(now)).toEqual({ ...empty, held: 1, dead: 1, delivered: 1 });
        await storage.setSubscriptionStatus(sub.id, { status: 'active' }, now);
        expect(await storage.stats(now)).toEqual({ ...empty, pending: 1, dead: 1, delivered: 1, oldestPendingCreatedAt: t0 + 2000 });

        now += 1000;
        await storage.redeliver(d2.id, now);
        expect(await storage.stats(now)).toEqual({ ...empty, pending: 2, delivered: 1, oldestPendingCreatedAt: t0 + 1000 });
        expect((await delivery(d3.id)).status).toBe('pending');
      });

      it('stops counting a lease as leased once it expired', async () => {
        const sub = await createSubscription();
        const d = await publishFor(sub.id);
        await claimOne(d.id, shortLeaseMs());
        if (!usesDatabaseClock()) expect((await storage.stats(now)).leased).toBe(1);
        await letLeasesExpire();
        expect(await storage.stats(now)).toMatchObject({ pending: 1, leased: 0 });
      });

      it('counts one subscription with subscriptionId, and nothing of an unknown one', async () => {
        const empty = { pending: 0, leased: 0, held: 0, dead: 0, delivered: 0, oldestPendingCreatedAt: null };
        const a = await createSubscription({ eventTypes: ['payment.*'] });
        const b = await createSubscription({ eventTypes: ['refund.*'] });
        const t0 = now;
        const a1 = await publishFor(a.id, 'payment.succeeded');
        const b1 = await publishFor(b.id, 'refund.created');
        now += 1000;
        const a2 = await publishFor(a.id, 'payment.succeeded');
        const a3 = await publishFor(a.id, 'payment.succeeded');
        const b2 = await publishFor(b.id, 'refund.created');
        const a4 = await publishFor(a.id, 'payment.succeeded');
        const claimed = await claim(10);
        const byId = (id: string) => claimed.find((x) => x.delivery.id === id)!;
        await settle(byId(a1.id), { kind: 'delivered' });
        await settle(byId(a2.id), { kind: 'dead' }, { statusCode: 500 });
        await settle(byId(a4.id), { kind: 'retry', nextAttemptAt: now + 1000 }, { statusCode: 500 });
        await settle(byId(b1.id), { kind: 'delivered' });
        // a: a3 leased, a4 waiting; b: b2 leased, then held by the disable.
        expect(await storage.stats(now, { subscriptionId: a.id })).toEqual({
          ...empty,
          pending: 2,
          leased: 1,
          dead: 1,
          delivered: 1,
          oldestPendingCreatedAt: t0 + 1000,
        });
        expect(await storage.stats(now, { subscriptionId: b.id })).toEqual({ ...empty, pending: 1, leased: 1, delivered: 1, oldestPendingCreatedAt: t0 + 1000 });
        await storage.setSubscriptionStatus(b.id, { status: 'disabled', reason: 'manual' }, now);
        expect(await storage.stats(now, { subscriptionId: b.id })).toEqual({ ...empty, held: 1, delivered: 1 });
        expect(await storage.stats(now)).toEqual({ pending: 2, leased: 1, held: 1, dead: 1, delivered: 2, oldestPendingCreatedAt: t0 + 1000 });
        expect(await storage.stats(now, {})).toEqual(await storage.stats(now));
        expect(await storage.stats(now, { subscriptionId: createId('sub', now) })).toEqual(empty);
        expect((await delivery(b2.id)).status).toBe('held');
        expect((await delivery(a3.id)).leaseExpiresAt).not.toBeNull();
      });
    });

    // ---- retention -------------------------------------------------------------------------

    describe('purge', () => {
      it('removes old final deliveries, their attempts and finished events, never pending or held ones or their events', async () => {
        const orders = await createSubscription({ eventTypes: ['order.*'] });
        const holds = await createSubscription({ eventTypes: ['hold.*'] });
        const delivered = await publishFor(orders.id, 'order.paid');
        const dead = await publishFor(orders.id, 'order.failed');
        const lateFinal = await publishFor(orders.id, 'order.shipped');
        const [cDelivered, cDead, cLate] = await claim(3);
        expect([cDelivered, cDead, cLate].map((c) => c!.delivery.id)).toEqual([delivered.id, dead.id, lateFinal.id]);
        await settle(cDelivered!, { kind: 'delivered' });
        await settle(cDead!, { kind: 'dead' }, { statusCode: 500 });
        const pending = await publishFor(orders.id, 'order.created');
        const held = await publishFor(holds.id, 'hold.placed');
        await storage.setSubscriptionStatus(holds.id, { status: 'disabled', reason: 'manual' }, now);
        const unmatched = await publish('misc.noise');

        now += 10_000;
        const cutoff = now;
        now += 5;
        // Finished after the cutoff: its record is recent even though it was created before.
        await settle(cLate!, { kind: 'delivered' });
        const recentUnmatched = await publish('misc.recent');

        const result = await storage.purge({ olderThan: cutoff });
        expect(result).toEqual({ events: 3, deliveries: 2, attempts: 2 });

        for (const d of [delivered, dead]) {
          expect(await storage.getDelivery(d.id)).toBeNull();
          expect(await storage.listAttempts(d.id)).toEqual([]);
          expect(await storage.getEvent(d.eventId)).toBeNull();
        }
        expect(await storage.getEvent(unmatched.event.id)).toBeNull();

        expect((await delivery(pending.id)).status).toBe('pending');
        expect(await storage.getEvent(pending.eventId)).not.toBeNull();
        expect((await delivery(held.id)).status).toBe('held');
        expect(await storage.getEvent(held.eventId)).not.toBeNull();
        expect((await delivery(lateFinal.id)).status).toBe('delivered');
        expect(await storage.listAttempts(lateFinal.id)).toHaveLength(1);
        expect(await storage.getEvent(lateFinal.eventId)).not.toBeNull();
        expect(await storage.getEvent(recentUnmatched.event.id)).not.toBeNull();
        expect(await storage.stats(now)).toMatchObject({ pending: 1, held: 1, dead: 0, delivered: 1 });

        expect(await storage.purge({ olderThan: cutoff })).toEqual({ events: 0, deliveries: 0, attempts: 0 });
      });
    });
  });
}
