/**
 * The tenants suite's fixtures: many tenants' subscriptions written straight through
 * `storage.createSubscription` (no validation, no sealing: the storage never reads a
 * secret), and which tenant each event is published for.
 *
 * Every tenant has two subscriptions whose filters all match {@link eventType}, in a mix of
 * exact types, `prefix.*` and `*` (with other types beside them), so that an event of a
 * tenant fans out to exactly its two, whichever kind of filter the storage looks up.
 */
import { createId } from '../src/ids.js';
import { generateSecret } from '../src/signing/secret.js';
import type { StorageAdapter, SubscriptionRecord } from '../src/storage/storage-adapter.js';
import { eventType } from './payload.js';

/** Subscriptions per tenant: the fan-out of every event of the suite. */
export const subscriptionsPerTenant = 2;

/** The filters of a tenant's two subscriptions, by tenant number modulo 3; each matches {@link eventType}. */
const filterMix: ReadonlyArray<readonly [string[], string[]]> = [
  [[eventType], ['*']],
  [['payment.*', 'invoice.paid'], [eventType, 'payment.failed']],
  [['*'], ['refund.*', 'payment.*']],
];

/** The id of tenant number `n` (0-based): an organisation id of fixed width. */
export function tenantId(n: number): string {
  return `org_${String(n).padStart(8, '0')}`;
}

/** The subscriptions of tenants 0 … `tenants` − 1, two each, created at `now`. */
export function* tenantSubscriptions(tenants: number, now: number): Generator<SubscriptionRecord> {
  // One secret for all: the storage keeps it as an opaque string, and generating 100,000 is not what is measured.
  const secret = generateSecret();
  for (let n = 0; n < tenants; n++) {
    const owner = tenantId(n);
    for (const eventTypes of filterMix[n % filterMix.length]!) {
      const id = createId('sub', now);
      yield {
        id,
        tenantId: owner,
        allTenants: false,
        url: `https://${owner}.erp.example/webhooks`,
        eventTypes,
        filter: null,
        transform: null,
        orderingOnDead: 'block',
        versions: null,
        secrets: [{ value: secret, createdAt: now, expiresAt: null }],
        headers: {},
        description: null,
        metadata: {},
        status: 'active',
        disabledReason: null,
        disabledAt: null,
        retry: null,
        flowControl: null,
        tls: null,
        failingSince: null,
        deletedAt: null,
        createdAt: now,
        updatedAt: now,
      };
    }
  }
}

/**
 * Stores `records` with at most `inFlight` creates pending at a time (a PostgreSQL pool works
 * on several at once; memory and SQLite take them one after another anyway). Returns the count.
 */
export async function storeSubscriptions(storage: StorageAdapter, records: Iterable<SubscriptionRecord>, inFlight: number): Promise<number> {
  const iterator = records[Symbol.iterator]();
  let stored = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let next = iterator.next(); next.done !== true; next = iterator.next()) {
        await storage.createSubscription(next.value);
        stored += 1;
      }
    }),
  );
  return stored;
}

/**
 * Tenant numbers in [0, `tenants`), pseudo-random from `seed` (mulberry32): the same
 * sequence on every run and for every storage, spread over the whole set so that the large
 * store's lookups touch cold tenants as a real platform's would.
 */
export function tenantPicker(tenants: number, seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4_294_967_296) * tenants);
  };
}
