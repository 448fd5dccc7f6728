/**
 * Storage conformance cases for the event list as the event feed reads it: by exact type
 * names, oldest first (`order: 'asc'`, cursor list `feed`) in pages that cover each event
 * once, with the tenant scopes of a subscription (its tenant, the platform's tenantless
 * events, or every event for an all-tenant consumer), a publication window, and expunged
 * events still listed.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { EventQuery, EventRecord } from '../../src/storage/storage-adapter.js';
import type { ConformanceContext } from './conformance-context.js';

const ACME = 'org_acme';
const GLOBEX = 'org_globex';

const byIdAscending = (events: readonly EventRecord[]): EventRecord[] => events.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
const byIdDescending = (events: readonly EventRecord[]): EventRecord[] => byIdAscending(events).reverse();

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeEventFeed(t: ConformanceContext): void {
  const { eventRecord, publish, rejectionOf } = t;

  /** Every page of an event query, with the page size given. */
  async function eventsOf(query: Omit<EventQuery, 'cursor'>): Promise<EventRecord[]> {
    const all: EventRecord[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const result = await t.storage.listEvents({ ...query, ...(cursor === undefined ? {} : { cursor }) });
      expect(result.items.length).toBeLessThanOrEqual(query.limit);
      // A page that says another follows is full.
      if (result.nextCursor !== null) expect(result.items).toHaveLength(query.limit);
      all.push(...result.items);
      if (result.nextCursor === null) return all;
      cursor = result.nextCursor;
    }
    throw new Error('paging did not end');
  }

  /** Publishes one event of `type` per entry, 10 ms apart, and returns them as stored. */
  async function publishEach(entries: ReadonlyArray<{ type: string; tenantId?: string | null }>): Promise<EventRecord[]> {
    const published: EventRecord[] = [];
    for (const { type, tenantId } of entries) {
      t.now += 10;
      published.push((await publish(type, tenantId === undefined ? {} : { tenantId })).event);
    }
    return published;
  }

  describe('events: by type', () => {
    it('lists only the events of the types named, by exact name, one or several, in either order; an empty list matches none', async () => {
      const published = await publishEach([
        { type: 'payment.succeeded' },
        { type: 'refund.created' },
        { type: 'payment.failed' },
        { type: 'payment.succeeded' },
        { type: 'invoice.paid' },
        { type: 'refund.created' },
      ]);
      const ofTypes = (...types: string[]) => published.filter((e) => types.includes(e.type));
      for (const order of ['asc', 'desc'] as const) {
        const sorted = order === 'asc' ? byIdAscending : byIdDescending;
        for (const limit of [1, 2, 100]) {
          expect(await eventsOf({ limit, order, types: ['payment.succeeded'] })).toEqual(sorted(ofTypes('payment.succeeded')));
          expect(await eventsOf({ limit, order, types: ['refund.created', 'payment.failed'] })).toEqual(
            sorted(ofTypes('refund.created', 'payment.failed')),
          );
          expect(await eventsOf({ limit, order, types: ['invoice.paid', 'payment.succeeded', 'refund.created', 'payment.failed'] })).toEqual(
            sorted(published),
          );
          // A type named twice is still one type; an unknown one adds nothing.
          expect(await eventsOf({ limit, order, types: ['invoice.paid', 'invoice.paid', 'bill.created'] })).toEqual(ofTypes('invoice.paid'));
          expect(await eventsOf({ limit, order, types: [] })).toEqual([]);
          // Names, not filters: neither a wildcard nor a prefix matches.
          expect(await eventsOf({ limit, order, types: ['payment.*', '*', 'payment', 'payment.succeede'] })).toEqual([]);
        }
        expect(await t.storage.listEvents({ limit: 10, order, types: [] })).toEqual({ items: [], nextCursor: null });
      }
    });

    it('combines the types with a tenant (null: the tenantless events), since (inclusive) and until (exclusive), in either order', async () => {
      const at: number[] = [];
      const published: EventRecord[] = [];
      for (let i = 0; i < 4; i++) {
        t.now += 1000;
        at.push(t.now);
        for (const tenantId of [ACME, null, GLOBEX]) {
          published.push((await publish('payment.succeeded', { tenantId })).event);
          published.push((await publish('refund.created', { tenantId })).event);
          published.push((await publish('invoice.paid', { tenantId })).event);
        }
      }
      const where = (keep: (e: EventRecord) => boolean) => published.filter(keep);
      const payments = (e: EventRecord) => e.type === 'payment.succeeded';
      const paymentsOrRefunds = (e: EventRecord) => e.type === 'payment.succeeded' || e.type === 'refund.created';
      for (const order of ['asc', 'desc'] as const) {
        const sorted = order === 'asc' ? byIdAscending : byIdDescending;
        for (const limit of [1, 3, 100]) {
          const types = ['payment.succeeded', 'refund.created'];
          expect(await eventsOf({ limit, order, types, tenantId: ACME })).toEqual(sorted(where((e) => paymentsOrRefunds(e) && e.tenantId === ACME)));
          expect(await eventsOf({ limit, order, types, tenantId: null })).toEqual(sorted(where((e) => paymentsOrRefunds(e) && e.tenantId === null)));
          expect(await eventsOf({ limit, order, types, tenantId: 'org_initech' })).toEqual([]);
          expect(await eventsOf({ limit, order, types: ['payment.succeeded'], since: at[1]!, until: at[3]! })).toEqual(
            sorted(where((e) => payments(e) && e.timestamp >= at[1]! && e.timestamp < at[3]!)),
          );
          expect(await eventsOf({ limit, order, types, tenantId: GLOBEX, since: at[2]! })).toEqual(
            sorted(where((e) => paymentsOrRefunds(e) && e.tenantId === GLOBEX && e.timestamp >= at[2]!)),
          );
          expect(await eventsOf({ limit, order, types: ['invoice.paid'], tenantId: null, until: at[1]! })).toEqual(
            where((e) => e.type === 'invoice.paid' && e.tenantId === null && e.timestamp < at[1]!),
          );
          expect(await eventsOf({ limit, order, types, tenantId: ACME, since: at[3]! + 1 })).toEqual([]);
          expect(await eventsOf({ limit, order, types: [], tenantId: ACME, since: at[0]! })).toEqual([]);
        }
      }
    });
  });

  describe('events: oldest first', () => {
    it('lists events oldest first (ids ascending), those of one timestamp in id order whatever order they were stored in, in pages of every size that walk the same sequence', async () => {
      const stored: EventRecord[] = [];
      for (let i = 0; i < 3; i++) {
        t.now += 10;
        stored.push((await publish(i === 1 ? 'refund.created' : 'payment.succeeded', { tenantId: i === 2 ? ACME : null })).event);
      }
      // Three events of one millisecond, stored newest id first.
      t.now += 10;
      const sameTime = [eventRecord('payment.succeeded'), eventRecord('refund.created', { tenantId: ACME }), eventRecord('payment.succeeded')];
      expect(new Set(sameTime.map((e) => e.timestamp)).size).toBe(1);
      for (const event of sameTime.slice().reverse()) stored.push((await t.storage.enqueue({ event, now: t.now })).event);
      for (let i = 0; i < 2; i++) {
        t.now += 10;
        stored.push((await publish('payment.succeeded')).event);
      }
      const oldestFirst = byIdAscending(stored);
      expect(oldestFirst.slice(3, 6).map((e) => e.id)).toEqual(sameTime.map((e) => e.id));
      for (let limit = 1; limit <= oldestFirst.length + 1; limit++) {
        expect(await eventsOf({ limit, order: 'asc' })).toEqual(oldestFirst);
      }
      // Ascending is the descending list read backwards.
      expect(await eventsOf({ limit: 3 })).toEqual(oldestFirst.slice().reverse());
      const whole = await t.storage.listEvents({ limit: oldestFirst.length, order: 'asc' });
      expect(whole).toEqual({ items: oldestFirst, nextCursor: null });
    });

    it('continues after the last page read when more events are published meanwhile', async () => {
      const first = await publishEach([{ type: 'payment.succeeded' }, { type: 'payment.succeeded' }, { type: 'refund.created' }]);
      const page = await t.storage.listEvents({ limit: 2, order: 'asc', types: ['payment.succeeded', 'refund.created'] });
      expect(page.items).toEqual(first.slice(0, 2));
      const later = await publishEach([{ type: 'invoice.paid' }, { type: 'refund.created' }, { type: 'payment.succeeded' }]);
      const rest = await t.storage.listEvents({ limit: 10, order: 'asc', types: ['payment.succeeded', 'refund.created'], cursor: page.nextCursor! });
      expect(rest).toEqual({ items: [first[2]!, later[1]!, later[2]!], nextCursor: null });
    });

    it('filters oldest first by since (inclusive) and until (exclusive), alone and together, a cursor keeping its window', async () => {
      const at: number[] = [];
      const published: EventRecord[] = [];
      for (let i = 0; i < 5; i++) {
        t.now += 1000;
        at.push(t.now);
        published.push(...(await publishEach([{ type: 'payment.succeeded' }, { type: 'payment.succeeded', tenantId: ACME }])));
      }
      const within = (from: number, to: number) => published.filter((e) => e.timestamp >= from && e.timestamp < to);
      for (const limit of [1, 2, 3, 100]) {
        expect(await eventsOf({ limit, order: 'asc', since: at[2]! })).toEqual(within(at[2]!, Infinity));
        expect(await eventsOf({ limit, order: 'asc', until: at[2]! })).toEqual(within(-Infinity, at[2]!));
        expect(await eventsOf({ limit, order: 'asc', since: at[1]! + 10, until: at[3]! + 10 })).toEqual(within(at[1]! + 10, at[3]! + 10));
        expect(await eventsOf({ limit, order: 'asc', tenantId: ACME, since: at[1]!, until: at[4]! })).toEqual(
          within(at[1]!, at[4]!).filter((e) => e.tenantId === ACME),
        );
        expect(await eventsOf({ limit, order: 'asc', since: t.now + 1 })).toEqual([]);
      }
    });

    it('lists expunged events too, oldest first and by type: payload empty and expungedAt set', async () => {
      const published = await publishEach([
        { type: 'payment.succeeded' },
        { type: 'refund.created', tenantId: ACME },
        { type: 'payment.succeeded', tenantId: ACME },
        { type: 'payment.succeeded' },
      ]);
      t.now += 10;
      expect(await t.storage.expungeEvents([published[1]!.id, published[2]!.id], t.now)).toMatchObject({ events: 2 });
      const expected = published.map((e, i) => (i === 1 || i === 2 ? { ...e, payload: '', expungedAt: t.now } : e));
      for (const limit of [1, 2, 10]) {
        expect(await eventsOf({ limit, order: 'asc' })).toEqual(expected);
        expect(await eventsOf({ limit, order: 'asc', tenantId: ACME, types: ['payment.succeeded'] })).toEqual([expected[2]]);
        expect(await eventsOf({ limit, order: 'asc', types: ['refund.created'] })).toEqual([expected[1]]);
      }
    });

    it("scopes by tenant as a subscription does: a tenant's events, null the tenantless ones, no tenant every event (an all-tenant consumer)", async () => {
      const published = await publishEach([
        { type: 'payment.succeeded', tenantId: ACME },
        { type: 'payment.succeeded' },
        { type: 'refund.created', tenantId: GLOBEX },
        { type: 'payment.succeeded', tenantId: GLOBEX },
        { type: 'refund.created' },
        { type: 'payment.succeeded', tenantId: ACME },
        { type: 'invoice.paid', tenantId: ACME },
      ]);
      const types = ['payment.succeeded', 'refund.created'];
      const ofScope = (keep: (e: EventRecord) => boolean) => published.filter((e) => types.includes(e.type) && keep(e));
      for (const limit of [1, 2, 100]) {
        expect(await eventsOf({ limit, order: 'asc', types, tenantId: ACME })).toEqual(ofScope((e) => e.tenantId === ACME));
        expect(await eventsOf({ limit, order: 'asc', types, tenantId: GLOBEX })).toEqual(ofScope((e) => e.tenantId === GLOBEX));
        expect(await eventsOf({ limit, order: 'asc', types, tenantId: null })).toEqual(ofScope((e) => e.tenantId === null));
        expect(await eventsOf({ limit, order: 'asc', types })).toEqual(ofScope(() => true));
        expect(await eventsOf({ limit, order: 'asc' })).toEqual(published);
      }
    });

    it("refuses a cursor of the other order with CURSOR_INVALID (the feed's to the newest-first list and back), as it does another list's", async () => {
      await publishEach([{ type: 'payment.succeeded' }, { type: 'payment.succeeded' }, { type: 'payment.succeeded' }]);
      await t.createSubscription();
      await t.createSubscription();
      const feedCursor = (await t.storage.listEvents({ limit: 1, order: 'asc' })).nextCursor!;
      const eventsCursor = (await t.storage.listEvents({ limit: 1, order: 'desc' })).nextCursor!;
      const subscriptionsCursor = (await t.storage.listSubscriptions({ limit: 1 })).nextCursor!;
      for (const cursor of [feedCursor, eventsCursor, subscriptionsCursor]) expect(cursor).toEqual(expect.any(String));
      expect(feedCursor).not.toBe(eventsCursor);

      for (const cursor of [feedCursor, subscriptionsCursor]) {
        for (const query of [{ limit: 1 }, { limit: 1, order: 'desc' as const }]) {
          expect(await rejectionOf(t.storage.listEvents({ ...query, cursor }))).toMatchObject({ name: 'ValidationError', code: 'CURSOR_INVALID' });
        }
      }
      for (const cursor of [eventsCursor, subscriptionsCursor, 'not a cursor', createId('evt', t.now)]) {
        const error = await rejectionOf(t.storage.listEvents({ limit: 1, order: 'asc', types: ['payment.succeeded'], cursor }));
        expect(error).toMatchObject({ name: 'ValidationError', code: 'CURSOR_INVALID' });
      }
      expect((await t.storage.listEvents({ limit: 5, order: 'asc', cursor: feedCursor })).items).toHaveLength(2);
      expect((await t.storage.listEvents({ limit: 5, order: 'desc', cursor: eventsCursor })).items).toHaveLength(2);
    });
  });
}
