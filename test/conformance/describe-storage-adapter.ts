/**
 * The storage conformance suite: one set of behaviours that every {@link StorageAdapter}
 * (memory, SQLite, PostgreSQL, and third-party ones) must show, run unchanged on each.
 * This file is its one entry; each area's cases live in a file named after the area.
 *
 * It speaks only the interface: no adapter internals, no SQL. Time is an injected
 * `now` advanced by the tests, never the wall clock, except where an adapter measures
 * leases with its database's clock (`capabilities.databaseClock`): there the
 * lease-expiry tests use a short lease and poll, bounded to a few seconds.
 */
import { describe } from 'vitest';
import { describeAudit } from './audit.js';
import { describeClaim } from './claim.js';
import { useConformanceContext, type StorageHarnessFactory } from './conformance-context.js';
import { describeDeliveryLog } from './delivery-log.js';
import { describeDeliveryPayloads } from './delivery-payloads.js';
import { describeEnqueue } from './enqueue.js';
import { describeEventFeed } from './event-feed.js';
import { describeEventVersions } from './event-versions.js';
import { describeMigrate } from './migrate.js';
import { describeOrdering } from './ordering.js';
import { describePayloadFilter } from './payload-filter.js';
import { describeRedeliver } from './redeliver.js';
import { describeReplay } from './replay.js';
import { describeRetention } from './retention.js';
import { describeSettle } from './settle.js';
import { describeStatsAndPurge } from './stats-purge.js';
import { describeSubscriptions } from './subscriptions.js';
import { describeTenancy } from './tenancy.js';
import { describeTestAttempts } from './test-attempts.js';

export type { StorageHarness, StorageHarnessFactory } from './conformance-context.js';

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
    const t = useConformanceContext(factory);
    describeMigrate(t);
    describeSubscriptions(t);
    describeEnqueue(t);
    describeClaim(t);
    describeSettle(t);
    describeDeliveryLog(t);
    describeRedeliver(t);
    describeReplay(t);
    describeStatsAndPurge(t);
    describeRetention(t);
    describeTenancy(t);
    describeAudit(t);
    describeTestAttempts(t);
    describeEventFeed(t);
    describeOrdering(t);
    describeEventVersions(t);
    describePayloadFilter(t);
    describeDeliveryPayloads(t);
  });
}
