/**
 * The memory storage's retention and its lists against a naive reference, through random
 * publishes (some with a timestamp older than their id: a clock set back), claims, settles
 * (delivered, dead, retried; some of deliveries cancelled while in flight), lease releases,
 * expunges, soft and hard deletes of subscriptions, redeliveries, replays, retention batches
 * with random cutoffs and limits, and `purge`. After every step:
 *
 * - a retention batch removed exactly what the reference takes from a recount of every
 *   record before it: per status the oldest final deliveries past the cutoff by (updatedAt,
 *   id), none under an unexpired lease, `limit` + 1 read of each and the oldest `limit` of
 *   them removed; then the events published before their cutoff with no delivery left,
 *   oldest first by (timestamp, id) as the SQL storages read them, `limit` of them; `more`
 *   when anything was left over. `purge` removed every final delivery and orphan event
 *   older than its cutoff. Any other step removed nothing (a hard delete, its subscription's
 *   deliveries);
 * - every page of the delivery log (newest first, whole or by status, subscription or
 *   tenant, after a cursor of a delivery that may be gone) and of the events (both orders)
 *   equals the reference's, as do the counts of `stats`.
 *
 * The reference's records are read one by one (`getEvent`, each event's own deliveries,
 * `getDelivery`), never through the id-ordered lists under test.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import { encodeCursor } from '../../src/storage/shared/cursor.js';
import { createMemoryStorage } from '../../src/storage/memory/memory-storage.js';
import type { DeliveryRecord, DeliveryStatus, EventRecord, PurgeRetentionInput, Settlement, StorageAdapter } from '../../src/storage/storage-adapter.js';
import { propertyRuns } from '../support/property-runs.js';
import { NOW, subscriptionAt } from '../support/storage-records.js';
import { everyPage } from '../support/every-page.js';

type Tenant = 'org_a' | null;

const types = ['a.x', 'a.y', 'b.x'] as const;
/** Filters and the catalog types each matches (what a replay is handed). */
const filters = [
  { eventTypes: ['a.*'], matches: ['a.x', 'a.y'] },
  { eventTypes: ['*'], matches: [...types] },
  { eventTypes: ['b.x', 'a.y'], matches: ['a.y', 'b.x'] },
] as const;
const statuses: readonly DeliveryStatus[] = ['pending', 'held', 'delivered', 'dead', 'cancelled'];

type Step =
  | { kind: 'subscribe'; tenant: Tenant; allTenants: boolean; filter: number }
  | { kind: 'publish'; tenant: Tenant; type: number; skewMs: number }
  | { kind: 'claim'; limit: number; leaseMs: number }
  | { kind: 'settle'; pick: number; outcome: 'delivered' | 'dead' | 'retry' }
  | { kind: 'settleAll'; outcome: 'delivered' | 'dead' }
  | { kind: 'release'; pick: number }
  | { kind: 'expunge'; pick: number }
  | { kind: 'softDelete'; pick: number }
  | { kind: 'hardDelete'; pick: number }
  | { kind: 'toggle'; pick: number }
  | { kind: 'redeliver'; pick: number }
  | { kind: 'replay'; pick: number; backMs: number }
  | { kind: 'tick'; ms: number }
  | { kind: 'retain'; delivered: number | null; dead: number | null; events: number | null; limit: number }
  | { kind: 'purge'; backMs: number }
  | { kind: 'list'; view: number; cursor: number | null; limit: number };

/** A stored log to start from: events published one after the other, their deliveries claimed and settled (or left claimed) at once. */
const prelude = fc.array(
  fc.record({
    tenant: fc.constantFrom<Tenant>('org_a', null),
    type: fc.nat(types.length - 1),
    skewMs: fc.constantFrom(0, 0, 0, 7, 45),
    outcome: fc.constantFrom('delivered' as const, 'dead' as const, 'keep' as const),
    tickMs: fc.constantFrom(0, 1, 3),
  }),
  { maxLength: 30 },
);

const pick = fc.nat(1000);
const tenant = fc.constantFrom<Tenant>('org_a', null);
const back = fc.option(fc.integer({ min: 0, max: 30 }), { nil: null, freq: 4 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), tenant, allTenants: fc.boolean(), filter: fc.nat(filters.length - 1) }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('publish' as const), tenant, type: fc.nat(types.length - 1), skewMs: fc.constantFrom(0, 0, 0, 7, 45) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('claim' as const), limit: fc.integer({ min: 1, max: 6 }), leaseMs: fc.constantFrom(0, 30, 300) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('settle' as const), pick, outcome: fc.constantFrom('delivered' as const, 'dead' as const, 'retry' as const) }) },
  // Every claim outstanding settled at once: deliveries final at the same time, in order of their ids.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('settleAll' as const), outcome: fc.constantFrom('delivered' as const, 'dead' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expunge' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('softDelete' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hardDelete' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('toggle' as const), pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('redeliver' as const), pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick, backMs: fc.integer({ min: 0, max: 200 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 40 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('retain' as const), delivered: back, dead: back, events: back, limit: fc.integer({ min: 1, max: 4 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), backMs: fc.integer({ min: 0, max: 60 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('list' as const), view: fc.nat(1000), cursor: fc.option(pick, { nil: null }), limit: fc.integer({ min: 1, max: 6 }) }),
  },
);

/** Every record the storage holds, read one by one. */
interface Snapshot {
  events: Map<string, EventRecord>;
  deliveries: Map<string, DeliveryRecord>;
  attempts: Map<string, number>;
}

const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byFinalTime = (a: DeliveryRecord, b: DeliveryRecord): number => a.updatedAt - b.updatedAt || byId(a, b);
const byTimestamp = (a: EventRecord, b: EventRecord): number => a.timestamp - b.timestamp || byId(a, b);

async function snapshot(storage: StorageAdapter, eventIds: readonly string[]): Promise<Snapshot> {
  const events = new Map<string, EventRecord>();
  const deliveries = new Map<string, DeliveryRecord>();
  const attempts = new Map<string, number>();
  for (const id of eventIds) {
    const event = await storage.getEvent(id);
    if (event === null) continue;
    events.set(id, event);
    for (const listed of (await storage.listDeliveries({ eventId: id, limit: 1000 })).items) {
      const d = await storage.getDelivery(listed.id);
      expect(d).toEqual(listed);
      deliveries.set(listed.id, d!);
      attempts.set(listed.id, (await storage.listAttempts(listed.id)).length);
    }
  }
  return { events, deliveries, attempts };
}

/** What one retention batch must remove from `before`, by a recount of every record (the rules of storage/shared/retention.ts). */
function referenceRetention(before: Snapshot, input: PurgeRetentionInput) {
  const { limit, now } = input;
  const cutoffs: Array<[DeliveryStatus, number | null]> = [
    ['delivered', input.deliveredBefore],
    ['dead', input.deadBefore],
    ['cancelled', input.deadBefore],
  ];
  const all = [...before.deliveries.values()];
  const lists = cutoffs
    .filter((c): c is [DeliveryStatus, number] => c[1] !== null)
    .map(([status, cutoff]) =>
      all
        .filter((d) => d.status === status && d.updatedAt < cutoff && !(d.leaseExpiresAt !== null && d.leaseExpiresAt > now))
        .sort(byFinalTime)
        .slice(0, limit + 1),
    );
  const candidates = lists.flat().sort(byFinalTime);
  const doomed = candidates.slice(0, limit);
  const gone = new Set(doomed.map((d) => d.id));
  const left = all.filter((d) => !gone.has(d.id));
  let events: EventRecord[] = [];
  let moreEvents = false;
  if (input.eventsBefore !== null) {
    const cutoff = input.eventsBefore;
    const orphans = [...before.events.values()].filter((e) => e.timestamp < cutoff && !left.some((d) => d.eventId === e.id)).sort(byTimestamp);
    events = orphans.slice(0, limit);
    moreEvents = orphans.length > limit;
  }
  return {
    deliveryIds: gone,
    eventIds: new Set(events.map((e) => e.id)),
    result: {
      deliveries: doomed.length,
      attempts: doomed.reduce((sum, d) => sum + before.attempts.get(d.id)!, 0),
      events: events.length,
      // No step here records a test request (their retention has its conformance cases).
      testAttempts: 0,
      more: candidates.length > limit || moreEvents,
    },
  };
}

/** What `purge({ olderThan })` must remove: every final delivery last changed before it, then every event before it left with no delivery. */
function referencePurge(before: Snapshot, olderThan: number) {
  const all = [...before.deliveries.values()];
  const doomed = all.filter((d) => d.status !== 'pending' && d.status !== 'held' && d.updatedAt < olderThan);
  const gone = new Set(doomed.map((d) => d.id));
  const left = all.filter((d) => !gone.has(d.id));
  const events = [...before.events.values()].filter((e) => e.timestamp < olderThan && !left.some((d) => d.eventId === e.id));
  return {
    deliveryIds: gone,
    eventIds: new Set(events.map((e) => e.id)),
    result: { deliveries: doomed.length, attempts: doomed.reduce((sum, d) => sum + before.attempts.get(d.id)!, 0), events: events.length, testAttempts: 0 },
  };
}

/** Of what `before` held, `after` holds all but the removed ids. */
function expectRemoved(before: Snapshot, after: Snapshot, deliveryIds: ReadonlySet<string>, eventIds: ReadonlySet<string>): void {
  expect([...before.deliveries.keys()].filter((id) => !after.deliveries.has(id)).sort()).toEqual([...deliveryIds].sort());
  expect([...before.events.keys()].filter((id) => !after.events.has(id)).sort()).toEqual([...eventIds].sort());
}

/** The delivery log's views the `list` step picks from, each with the reference's filter. */
function deliveryViews(subscriptionIds: readonly string[]): Array<{ query: { status?: DeliveryStatus | DeliveryStatus[]; subscriptionId?: string; tenantId?: Tenant }; keeps: (d: DeliveryRecord) => boolean }> {
  return [
    { query: {}, keeps: () => true },
    ...statuses.map((status) => ({ query: { status }, keeps: (d: DeliveryRecord) => d.status === status })),
    { query: { status: ['dead', 'cancelled', 'held'] }, keeps: (d) => d.status === 'dead' || d.status === 'cancelled' || d.status === 'held' },
    ...subscriptionIds.map((subscriptionId) => ({ query: { subscriptionId }, keeps: (d: DeliveryRecord) => d.subscriptionId === subscriptionId })),
    { query: { tenantId: 'org_a' }, keeps: (d) => d.tenantId === 'org_a' },
    { query: { tenantId: null }, keeps: (d) => d.tenantId === null },
  ];
}

describe('memory storage', () => {
  it('removes in each retention batch exactly what a recount of every record would, and lists what the reference lists, through random operations', async () => {
    await fc.assert(
      fc.asyncProperty(prelude, fc.array(step, { minLength: 10, maxLength: 70, size: 'max' }), fc.integer({ min: 1, max: 5 }), async (log, steps, pageSize) => {
        const storage = createMemoryStorage();
        let now = NOW;
        const subscriptionIds: string[] = [];
        const subscriptionFilter = new Map<string, number>();
        const eventIds: string[] = [];
        const seenDeliveryIds: string[] = [];
        const claims: Array<{ deliveryId: string; leaseToken: string }> = [];
        const subscribe = async (tenantId: Tenant, allTenants: boolean, filter: number): Promise<void> => {
          const record = subscriptionAt(now, { tenantId, allTenants, eventTypes: [...filters[filter]!.eventTypes] });
          await storage.createSubscription(record);
          subscriptionIds.push(record.id);
          subscriptionFilter.set(record.id, filter);
        };
        // A lost lease (settled already, redelivered, removed) is refused: the storage's own concern.
        const settle = async (settled: typeof claims, kind: 'delivered' | 'dead' | 'retry'): Promise<void> => {
          const outcome = kind === 'retry' ? { kind, nextAttemptAt: now + 5 } : { kind };
          const attempt = (): Settlement['attempt'] => ({
            id: createId('att', now),
            startedAt: now,
            durationMs: 1,
            statusCode: kind === 'delivered' ? 200 : 500,
            errorClass: null,
            errorMessage: null,
            responseSnippet: 'ok',
          });
          await storage.settle(settled.map((claim) => ({ ...claim, attempt: attempt(), outcome })), now);
        };
        const publish = async (tenantId: Tenant, type: string, skewMs: number): Promise<void> => {
          const id = createId('evt', now);
          await storage.enqueue({ event: { id, type, timestamp: now - skewMs, payload: `{"id":"${id}"}`, idempotencyKey: null, tenantId }, now });
          eventIds.push(id);
        };
        const claim = async (limit: number, leaseMs: number): Promise<typeof claims> =>
          (await storage.claimDue({ limit, leaseMs, now })).map((c) => ({ deliveryId: c.delivery.id, leaseToken: c.leaseToken }));
        await subscribe(null, false, 0);
        await subscribe('org_a', false, 1);
        await subscribe(null, true, 2);
        for (const entry of log) {
          await publish(entry.tenant, types[entry.type]!, entry.skewMs);
          const claimed = await claim(100, 300);
          if (entry.outcome === 'keep') claims.push(...claimed);
          else await settle(claimed, entry.outcome);
          now += entry.tickMs;
        }

        let before = await snapshot(storage, eventIds);
        for (const [i, s] of steps.entries()) {
          const at = <T>(items: readonly T[], n: number): T | undefined => (items.length === 0 ? undefined : items[n % items.length]);
          const live = [...before.deliveries.values()].sort(byId);
          let removed: { deliveryIds: ReadonlySet<string>; eventIds: ReadonlySet<string> } = { deliveryIds: new Set(), eventIds: new Set() };
          switch (s.kind) {
            case 'subscribe':
              await subscribe(s.tenant, s.allTenants, s.filter);
              break;
            case 'publish':
              await publish(s.tenant, types[s.type]!, s.skewMs);
              break;
            case 'claim':
              claims.push(...(await claim(s.limit, s.leaseMs)));
              break;
            case 'settle': {
              const claim = at(claims, s.pick);
              if (claim === undefined) break;
              // Settled once: a second settle would only be refused.
              claims.splice(claims.indexOf(claim), 1);
              await settle([claim], s.outcome);
              break;
            }
            case 'settleAll':
              await settle(claims.splice(0), s.outcome);
              break;
            case 'release': {
              const claim = at(claims, s.pick);
              if (claim !== undefined) await storage.releaseLeases([claim], now);
              break;
            }
            case 'expunge': {
              const id = at(eventIds, s.pick);
              if (id !== undefined) await storage.expungeEvents([id], now);
              break;
            }
            case 'softDelete': {
              const id = at(subscriptionIds, s.pick);
              if (id !== undefined) await storage.softDeleteSubscription(id, now);
              break;
            }
            case 'hardDelete': {
              const id = at(subscriptionIds, s.pick);
              if (id === undefined) break;
              await storage.deleteSubscription(id);
              removed = { deliveryIds: new Set(live.filter((d) => d.subscriptionId === id).map((d) => d.id)), eventIds: new Set() };
              subscriptionIds.splice(subscriptionIds.indexOf(id), 1);
              break;
            }
            case 'toggle': {
              const id = at(subscriptionIds, s.pick);
              const current = id === undefined ? null : await storage.getSubscription(id);
              if (current !== null) await storage.setSubscriptionStatus(current.id, { status: current.status === 'active' ? 'disabled' : 'active' }, now);
              break;
            }
            case 'redeliver': {
              const d = at(live, s.pick);
              if (d !== undefined) await storage.redeliver(d.id, now);
              break;
            }
            case 'replay': {
              const id = at(subscriptionIds, s.pick);
              if (id !== undefined) await storage.replay({ subscriptionId: id, since: now - s.backMs, eventTypes: [...filters[subscriptionFilter.get(id)!]!.matches], now });
              break;
            }
            case 'tick':
              now += s.ms;
              break;
            case 'retain': {
              const cutoff = (backMs: number | null): number | null => (backMs === null ? null : now - backMs);
              const input: PurgeRetentionInput = { deliveredBefore: cutoff(s.delivered), deadBefore: cutoff(s.dead), eventsBefore: cutoff(s.events), limit: s.limit, now };
              const expected = referenceRetention(before, input);
              expect(await storage.purgeRetention(input)).toEqual(expected.result);
              removed = expected;
              break;
            }
            case 'purge': {
              const expected = referencePurge(before, now - s.backMs);
              expect(await storage.purge({ olderThan: now - s.backMs })).toEqual(expected.result);
              removed = expected;
              break;
            }
            case 'list': {
              // A page after a cursor of any delivery or event seen, gone or not.
              const views = deliveryViews(subscriptionIds);
              const view = views[s.view % views.length]!;
              const cursorId = s.cursor === null ? undefined : at(seenDeliveryIds, s.cursor);
              const page = await storage.listDeliveries({ ...view.query, limit: s.limit, cursor: cursorId === undefined ? undefined : encodeCursor('deliveries', cursorId) });
              const expected = live
                .filter((d) => view.keeps(d) && (cursorId === undefined || d.id < cursorId))
                .reverse()
                .slice(0, s.limit + 1);
              expect(page.items).toEqual(expected.slice(0, s.limit));
              expect(page.nextCursor !== null).toBe(expected.length > s.limit);
              const eventCursor = s.cursor === null ? undefined : at(eventIds, s.cursor);
              const ordered = [...before.events.values()].sort(byId);
              const desc = await storage.listEvents({ limit: s.limit, cursor: eventCursor === undefined ? undefined : encodeCursor('events', eventCursor) });
              expect(desc.items).toEqual(ordered.filter((e) => eventCursor === undefined || e.id < eventCursor).reverse().slice(0, s.limit));
              const asc = await storage.listEvents({ order: 'asc', limit: s.limit, cursor: eventCursor === undefined ? undefined : encodeCursor('feed', eventCursor) });
              expect(asc.items).toEqual(ordered.filter((e) => eventCursor === undefined || e.id > eventCursor).slice(0, s.limit));
              break;
            }
          }

          const after = await snapshot(storage, eventIds);
          // What the step removed, and nothing else; what is new was never seen (nothing removed comes back).
          expectRemoved(before, after, removed.deliveryIds, removed.eventIds);
          for (const id of after.deliveries.keys()) {
            if (before.deliveries.has(id)) continue;
            expect(seenDeliveryIds).not.toContain(id);
            seenDeliveryIds.push(id);
          }
          expect([...after.events.keys()].filter((id) => !before.events.has(id))).toEqual(s.kind === 'publish' ? [eventIds[eventIds.length - 1]] : []);
          for (const id of removed.deliveryIds) {
            expect(await storage.getDelivery(id)).toBeNull();
            expect(await storage.listAttempts(id)).toEqual([]);
          }

          // Every page, whole log and by a view, newest first; events both ways.
          const deliveries = [...after.deliveries.values()].sort(byId).reverse();
          expect(await everyPage((cursor) => storage.listDeliveries({ limit: pageSize, cursor }))).toEqual(deliveries);
          const views = deliveryViews(subscriptionIds);
          const view = views[i % views.length]!;
          expect(await everyPage((cursor) => storage.listDeliveries({ ...view.query, limit: pageSize, cursor }))).toEqual(deliveries.filter(view.keeps));
          const events = [...after.events.values()].sort(byId);
          expect(await everyPage((cursor) => storage.listEvents({ order: 'asc', limit: pageSize, cursor }))).toEqual(events);
          expect(await everyPage((cursor) => storage.listEvents({ limit: pageSize, cursor }))).toEqual([...events].reverse());
          expect(await everyPage((cursor) => storage.listEvents({ tenantId: 'org_a', limit: pageSize, cursor }))).toEqual(
            [...events].reverse().filter((e) => e.tenantId === 'org_a'),
          );

          // The counts, against a recount.
          const count = (status: DeliveryStatus): number => deliveries.filter((d) => d.status === status).length;
          const pending = deliveries.filter((d) => d.status === 'pending');
          expect(await storage.stats(now)).toEqual({
            pending: count('pending'),
            leased: pending.filter((d) => d.leaseExpiresAt !== null && d.leaseExpiresAt > now).length,
            waiting: 0,
            held: count('held'),
            dead: count('dead'),
            delivered: count('delivered'),
            cancelled: count('cancelled'),
            oldestPendingCreatedAt: pending.length === 0 ? null : Math.min(...pending.map((d) => d.createdAt)),
          });
          before = after;
        }
      }),
      { numRuns: propertyRuns(200) },
    );
  });
});
