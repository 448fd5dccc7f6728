/**
 * The per-test state every conformance area shares: a fresh store from the adapter's
 * harness, the injected clock `now` the tests advance, and the helpers that publish,
 * claim and settle through the {@link StorageAdapter} interface only.
 */
import { afterEach, beforeEach, expect } from 'vitest';
import { createId } from '../../src/ids.js';
import { matchesAnyEventType } from '../../src/registry/event-type-filter.js';
import type {
  AttemptInput,
  ClaimedDelivery,
  DeliveryQuery,
  DeliveryRecord,
  EnqueueResult,
  NewEventRecord,
  SettleOutcome,
  SettleResult,
  Settlement,
  StorageAdapter,
  SubscriptionRecord,
} from '../../src/storage/storage-adapter.js';
import { rejectionOf } from '../support/rejections.js';
import { subscriptionAt } from '../support/storage-records.js';

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

export const START_MS = 1_700_000_000_000;
/** Long enough that no test outlives it, even on a database clock. */
export const LEASE_MS = 60_000;
/** The lease used where a test waits for expiry on a database clock. */
const DATABASE_CLOCK_SHORT_LEASE_MS = 250;
const DATABASE_CLOCK_POLL_MS = 25;
const DATABASE_CLOCK_MAX_WAIT_MS = 5_000;

/** What each conformance area gets: the current test's store and clock, and the helpers. */
export type ConformanceContext = ReturnType<typeof useConformanceContext>;

/**
 * Registers the per-test set-up and clean-up in the enclosing `describe` and returns the
 * context; `storage` and `now` are read through it, so each test sees its own.
 */
export function useConformanceContext(factory: StorageHarnessFactory) {
  let harness: StorageHarness | undefined;
  let storage: StorageAdapter;
  let now = START_MS;
  let urlCounter = 0;
  const publishedTypes = new Set<string>();

  beforeEach(async () => {
    now = START_MS;
    publishedTypes.clear();
    harness = await factory();
    storage = harness.storage;
  });

  afterEach(async () => {
    const current = harness;
    harness = undefined;
    await current?.cleanup();
  });

  // ---- helpers ------------------------------------------------------------

  function subscriptionRecord(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
    urlCounter++;
    return subscriptionAt(now, {
      url: `https://receiver.example.com/hooks/${urlCounter}`,
      headers: { 'x-tenant': 'acme' },
      metadata: { team: { name: 'finance' }, tags: ['erp'] },
      ...overrides,
    });
  }


  /**
   * Creates a subscription, with `maxPerTenant` passed as the create's tenant limit and `on`
   * another handle (a peer) when given.
   */
  function createSubscription(
    overrides: Partial<SubscriptionRecord> = {},
    options: { maxPerTenant?: number; on?: StorageAdapter } = {},
  ): Promise<SubscriptionRecord> {
    const on = options.on ?? storage;
    const record = subscriptionRecord(overrides);
    return options.maxPerTenant === undefined ? on.createSubscription(record) : on.createSubscription(record, { maxPerTenant: options.maxPerTenant });
  }

  /**
   * The event types a subscription's filters match among those published so far: what the
   * core passes to `replay` from its catalog.
   */
  function eventTypesOf(subscription: Pick<SubscriptionRecord, 'eventTypes'>): string[] {
    return [...publishedTypes].filter((type) => matchesAnyEventType(subscription.eventTypes, type));
  }

  /** A new event of `type` published at `now`, for `tenantId` when given (tenantless otherwise). */
  function eventRecord(type: string, options: { idempotencyKey?: string; tenantId?: string | null } = {}): NewEventRecord {
    const id = createId('evt', now);
    const payload = JSON.stringify({ id, type, timestamp: new Date(now).toISOString(), data: { amountMinor: 1250, currency: 'EUR' } });
    return { id, type, timestamp: now, payload, idempotencyKey: options.idempotencyKey ?? null, tenantId: options.tenantId ?? null };
  }

  /** Enqueues an {@link eventRecord} of `type` (on `on` when given), noting the type for {@link eventTypesOf}. */
  function publish(
    type: string,
    options: { idempotencyKey?: string; tenantId?: string | null; on?: StorageAdapter } = {},
  ): Promise<EnqueueResult> {
    publishedTypes.add(type);
    return (options.on ?? storage).enqueue({ event: eventRecord(type, options), now });
  }

  /** Publishes (for `options.tenantId` when given) and returns the one delivery it created for `subscriptionId`. */
  async function publishFor(
    subscriptionId: string,
    type = 'payment.succeeded',
    options: { tenantId?: string | null } = {},
  ): Promise<DeliveryRecord> {
    const { event } = await publish(type, options);
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

  /** Settles one claimed delivery; `hint`: the settlement's optional fields (Settlement.orderingKey). */
  async function settle(
    claimed: { delivery: { id: string }; leaseToken: string },
    outcome: SettleOutcome,
    attemptOverrides: Partial<AttemptInput> = {},
    hint: Pick<Settlement, 'orderingKey'> = {},
  ): Promise<SettleResult> {
    const results = await storage.settle(
      [{ deliveryId: claimed.delivery.id, leaseToken: claimed.leaseToken, attempt: attempt(attemptOverrides), outcome, ...hint }],
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

  /** Every page of a subscription query, with the page size given. */
  async function listAllSubscriptions(query: { limit: number; status?: SubscriptionRecord['status']; tenantId?: string | null }): Promise<SubscriptionRecord[]> {
    const all: SubscriptionRecord[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const result = await storage.listSubscriptions({ ...query, ...(cursor === undefined ? {} : { cursor }) });
      expect(result.items.length).toBeLessThanOrEqual(query.limit);
      all.push(...result.items);
      if (result.nextCursor === null) return all;
      cursor = result.nextCursor;
    }
    throw new Error('paging did not end');
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

  return {
    get storage(): StorageAdapter {
      return storage;
    },
    get now(): number {
      return now;
    },
    set now(value: number) {
      now = value;
    },
    openPeer: (): Promise<StorageAdapter> => harness!.openPeer(),
    subscriptionRecord,
    createSubscription,
    eventRecord,
    publish,
    publishFor,
    eventTypesOf,
    claim,
    claimOne,
    attempt,
    settle,
    deliveriesOfEvent,
    delivery,
    listAllDeliveries,
    listAllSubscriptions,
    rejectionOf,
    descendingIds,
    usesDatabaseClock,
    shortLeaseMs,
    sleep,
    letLeasesExpire,
    claimAfterLeaseExpiry,
  };
}
