/**
 * Storage conformance cases for tenants: who receives a tenant's event, idempotency per
 * tenant, replay within the tenant, the tenant filters of the reads, the subscription limit
 * per tenant, a tenant's removal in batches, and the claim's tenant exclusion.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/errors.js';
import type { DeliveryRecord, EventRecord, PurgeTenantResult, SubscriptionRecord } from '../../src/storage/storage-adapter.js';
import { LEASE_MS, type ConformanceContext } from './conformance-context.js';

const ACME = 'org_acme';
const GLOBEX = 'org_globex';
const UNKNOWN = 'org_initech';
const EMPTY_STATS = { pending: 0, leased: 0, waiting: 0, held: 0, dead: 0, delivered: 0, cancelled: 0, oldestPendingCreatedAt: null };

const sortedIds = (records: Array<{ id: string }>): string[] => records.map((r) => r.id).sort();

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeTenancy(t: ConformanceContext): void {
  const {
    subscriptionRecord,
    createSubscription,
    eventRecord,
    publish,
    publishFor,
    claim,
    claimOne,
    settle,
    deliveriesOfEvent,
    delivery,
    listAllDeliveries,
    listAllSubscriptions,
    rejectionOf,
    descendingIds,
    shortLeaseMs,
    letLeasesExpire,
  } = t;

  /** The ids of the subscriptions an event was delivered to, sorted. */
  async function targetsOf(eventId: string): Promise<string[]> {
    return (await deliveriesOfEvent(eventId)).map((d) => d.subscriptionId).sort();
  }

  /** Everything the store holds that the test can see through the contract, for before/after comparisons. */
  async function snapshot(eventIds: readonly string[]) {
    const deliveries = await listAllDeliveries({ limit: 1000 });
    const attempts = await Promise.all(deliveries.map((d) => t.storage.listAttempts(d.id)));
    const events = await Promise.all(eventIds.map((id) => t.storage.getEvent(id)));
    return { subscriptions: await listAllSubscriptions({ limit: 1000 }), deliveries, attempts, events };
  }

  /** Runs `purgeTenant` batch after batch until `done`, checking each batch's bounds and the removal order. */
  async function purgeInBatches(tenantId: string, limit: number, force = false): Promise<PurgeTenantResult[]> {
    const batches: PurgeTenantResult[] = [];
    for (let i = 0; i < 100; i++) {
      const result = await t.storage.purgeTenant({ tenantId, limit, now: t.now, force });
      if (result === 'in_flight') return expect.fail('expected no delivery of the tenant in flight');
      batches.push(result);
      expect(result.subscriptions).toBeLessThanOrEqual(limit);
      expect(result.events).toBeLessThanOrEqual(limit);
      // The tenant's own deliveries, at most `limit`; and with each event removed, its
      // delivery to the one all-tenant consumer of these tests.
      expect(result.deliveries).toBeLessThanOrEqual(limit + result.events);
      // Deliveries first, then subscriptions, then events: a later kind goes only once
      // none of the earlier is left.
      if (result.subscriptions > 0) expect((await t.storage.listDeliveries({ tenantId, limit: 1 })).items).toEqual([]);
      if (result.events > 0) expect((await t.storage.listSubscriptions({ tenantId, limit: 1 })).items).toEqual([]);
      if (result.done) return batches;
    }
    return expect.fail('purgeTenant did not finish');
  }

  function totalOf(batches: readonly PurgeTenantResult[]): Omit<PurgeTenantResult, 'done'> {
    const total = { subscriptions: 0, events: 0, deliveries: 0, attempts: 0 };
    for (const b of batches) {
      total.subscriptions += b.subscriptions;
      total.events += b.events;
      total.deliveries += b.deliveries;
      total.attempts += b.attempts;
    }
    return total;
  }

  describe('tenants: fan-out', () => {
    it("delivers a tenant's event only to that tenant's matching active subscriptions and the all-tenant consumers, a tenantless one only to tenantless subscriptions and the consumers", async () => {
      const acmePayments = await createSubscription({ tenantId: ACME, eventTypes: ['payment.*'] });
      const acmeRefunds = await createSubscription({ tenantId: ACME, eventTypes: ['refund.*'] });
      const acmeDisabled = await createSubscription({ tenantId: ACME, eventTypes: ['*'] });
      await t.storage.setSubscriptionStatus(acmeDisabled.id, { status: 'disabled', reason: 'manual' }, t.now);
      const globex = await createSubscription({ tenantId: GLOBEX, eventTypes: ['*'] });
      const platform = await createSubscription({ eventTypes: ['*'] });
      const audit = await createSubscription({ allTenants: true, eventTypes: ['payment.*'] });

      const acmePayment = await publish('payment.succeeded', { tenantId: ACME });
      expect(acmePayment).toMatchObject({ created: true, deliveryCount: 2 });
      expect(await targetsOf(acmePayment.event.id)).toEqual([acmePayments.id, audit.id].sort());
      const globexPayment = await publish('payment.succeeded', { tenantId: GLOBEX });
      expect(await targetsOf(globexPayment.event.id)).toEqual([globex.id, audit.id].sort());
      const tenantlessPayment = await publish('payment.succeeded');
      expect(await targetsOf(tenantlessPayment.event.id)).toEqual([platform.id, audit.id].sort());
      expect(await targetsOf((await publish('refund.created', { tenantId: ACME })).event.id)).toEqual([acmeRefunds.id]);
      expect(await targetsOf((await publish('order.created')).event.id)).toEqual([platform.id]);
      // A tenant without subscriptions: only the consumer of every tenant.
      expect(await targetsOf((await publish('payment.succeeded', { tenantId: UNKNOWN })).event.id)).toEqual([audit.id]);
      expect(await targetsOf((await publish('order.created', { tenantId: UNKNOWN })).event.id)).toEqual([]);
    });

    it("gives each delivery its subscription's tenant: the tenant's for its own subscriptions, null for a platform subscription and an all-tenant consumer", async () => {
      const acme = await createSubscription({ tenantId: ACME });
      const platform = await createSubscription();
      const audit = await createSubscription({ allTenants: true });

      const forAcme = await deliveriesOfEvent((await publish('payment.succeeded', { tenantId: ACME })).event.id);
      expect(forAcme.map((d) => [d.subscriptionId, d.tenantId]).sort()).toEqual(
        [
          [acme.id, ACME],
          [audit.id, null],
        ].sort(),
      );
      const tenantless = await deliveriesOfEvent((await publish('payment.succeeded')).event.id);
      expect(tenantless.map((d) => [d.subscriptionId, d.tenantId]).sort()).toEqual(
        [
          [platform.id, null],
          [audit.id, null],
        ].sort(),
      );
      for (const d of forAcme) expect(await delivery(d.id)).toEqual(d);
    });

    it("stores the event's tenant and reads it back from getEvent and from a claim, with the subscription's tenant fields", async () => {
      const acme = await createSubscription({ tenantId: ACME });
      const audit = await createSubscription({ allTenants: true });
      expect(await t.storage.getSubscription(acme.id)).toMatchObject({ tenantId: ACME, allTenants: false });
      expect(await t.storage.getSubscription(audit.id)).toMatchObject({ tenantId: null, allTenants: true });

      const published = await publish('payment.succeeded', { tenantId: ACME });
      expect(published.event.tenantId).toBe(ACME);
      expect(await t.storage.getEvent(published.event.id)).toEqual(published.event);
      const claimed = await claim();
      expect(claimed).toHaveLength(2);
      for (const c of claimed) expect(c.event).toEqual(published.event);
      const toAcme = claimed.find((c) => c.subscription.id === acme.id)!;
      expect(toAcme.subscription).toMatchObject({ tenantId: ACME, allTenants: false });
      expect(toAcme.delivery.tenantId).toBe(ACME);
      const toAudit = claimed.find((c) => c.subscription.id === audit.id)!;
      expect(toAudit.subscription).toMatchObject({ tenantId: null, allTenants: true });
      expect(toAudit.delivery.tenantId).toBeNull();

      const tenantless = await publish('payment.succeeded');
      expect((await t.storage.getEvent(tenantless.event.id))!.tenantId).toBeNull();
    });
  });

  describe('tenants: idempotency', () => {
    it('scopes idempotency keys per tenant: the same key in two tenants, and in a tenant and without one, makes distinct events', async () => {
      await createSubscription({ allTenants: true });
      const inAcme = await publish('payment.succeeded', { tenantId: ACME, idempotencyKey: 'invoice-42' });
      const inGlobex = await publish('payment.succeeded', { tenantId: GLOBEX, idempotencyKey: 'invoice-42' });
      const tenantless = await publish('payment.succeeded', { idempotencyKey: 'invoice-42' });
      for (const result of [inAcme, inGlobex, tenantless]) {
        expect(result).toMatchObject({ created: true, deliveryCount: 1 });
        expect(await t.storage.getEvent(result.event.id)).toEqual(result.event);
      }
      expect(new Set([inAcme, inGlobex, tenantless].map((r) => r.event.id)).size).toBe(3);
      expect([inAcme, inGlobex, tenantless].map((r) => r.event.tenantId)).toEqual([ACME, GLOBEX, null]);
      expect((await listAllDeliveries({ limit: 100 })).length).toBe(3);
    });

    it('returns the first event for a key seen before in the same tenant and stores nothing, whichever tenant published first', async () => {
      await createSubscription({ tenantId: ACME });
      await createSubscription();
      const first = await publish('payment.succeeded', { tenantId: ACME, idempotencyKey: 'invoice-42' });
      const tenantlessFirst = await publish('payment.succeeded', { idempotencyKey: 'invoice-42' });
      t.now += 1000;

      const again = eventRecord('payment.succeeded', { tenantId: ACME, idempotencyKey: 'invoice-42' });
      expect(await t.storage.enqueue({ event: again, now: t.now })).toEqual({ event: first.event, created: false, deliveryCount: 0 });
      expect(await t.storage.getEvent(again.id)).toBeNull();
      const tenantlessAgain = eventRecord('payment.succeeded', { idempotencyKey: 'invoice-42' });
      expect(await t.storage.enqueue({ event: tenantlessAgain, now: t.now })).toEqual({
        event: tenantlessFirst.event,
        created: false,
        deliveryCount: 0,
      });
      expect(await t.storage.getEvent(tenantlessAgain.id)).toBeNull();
      expect((await listAllDeliveries({ limit: 100 })).length).toBe(2);
      expect((await t.storage.stats(t.now)).pending).toBe(2);
    });
  });

  describe('tenants: replay', () => {
    /** Events of the window before any subscription exists (no delivery yet), and one outside the window. */
    async function publishWindow() {
      const before = await publish('payment.succeeded', { tenantId: ACME });
      t.now += 1000;
      const since = t.now;
      const acme = [await publish('payment.succeeded', { tenantId: ACME }), await publish('payment.failed', { tenantId: ACME })];
      const acmeRefund = await publish('refund.created', { tenantId: ACME });
      const globex = await publish('payment.succeeded', { tenantId: GLOBEX });
      const tenantless = await publish('payment.failed');
      t.now += 1000;
      return { since, before: before.event, acme: acme.map((r) => r.event), acmeRefund: acmeRefund.event, globex: globex.event, tenantless: tenantless.event };
    }

    async function replayBoth(sub: SubscriptionRecord, since: number): Promise<{ dry: number; done: number }> {
      const input = { subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, now: t.now };
      const dry = await t.storage.replay({ ...input, dryRun: true });
      expect(await listAllDeliveries({ subscriptionId: sub.id, limit: 100 })).toEqual([]);
      const done = await t.storage.replay(input);
      return { dry: dry.count, done: done.count };
    }

    it("replays to a tenant's subscription only its tenant's events of the window, not another tenant's nor tenantless ones of the same types", async () => {
      const w = await publishWindow();
      const acme = await createSubscription({ tenantId: ACME, eventTypes: ['payment.*'] });
      expect(t.eventTypesOf(acme).sort()).toEqual(['payment.failed', 'payment.succeeded']);

      expect(await replayBoth(acme, w.since)).toEqual({ dry: 2, done: 2 });
      for (const event of w.acme) {
        expect(await deliveriesOfEvent(event.id)).toMatchObject([{ subscriptionId: acme.id, tenantId: ACME, status: 'pending', attempts: 0 }]);
      }
      for (const event of [w.globex, w.tenantless, w.acmeRefund, w.before]) expect(await deliveriesOfEvent(event.id)).toEqual([]);
      expect(await t.storage.replay({ subscriptionId: acme.id, eventTypes: t.eventTypesOf(acme), since: w.since, now: t.now })).toEqual({ count: 0 });
    });

    it('replays every tenant\'s and the tenantless events to an all-tenant consumer, and only the tenantless ones to a platform subscription', async () => {
      const w = await publishWindow();
      const audit = await createSubscription({ allTenants: true, eventTypes: ['payment.*'] });
      const platform = await createSubscription({ eventTypes: ['payment.*'] });

      expect(await replayBoth(audit, w.since)).toEqual({ dry: 4, done: 4 });
      const toAudit = await listAllDeliveries({ subscriptionId: audit.id, limit: 100 });
      expect(toAudit.map((d) => d.eventId).sort()).toEqual(sortedIds([...w.acme, w.globex, w.tenantless]));
      expect(toAudit.every((d) => d.tenantId === null)).toBe(true);

      expect(await replayBoth(platform, w.since)).toEqual({ dry: 1, done: 1 });
      expect(await listAllDeliveries({ subscriptionId: platform.id, limit: 100 })).toMatchObject([
        { eventId: w.tenantless.id, tenantId: null, status: 'pending' },
      ]);
    });
  });

  describe('tenants: reads', () => {
    it("lists a tenant's subscriptions with its id, the platform's with null (all-tenant consumers included), and all without, alone, by status and in pages", async () => {
      const a1 = await createSubscription({ tenantId: ACME });
      const p1 = await createSubscription();
      const g1 = await createSubscription({ tenantId: GLOBEX });
      const a2 = await createSubscription({ tenantId: ACME });
      const audit = await createSubscription({ allTenants: true });
      const a3 = await createSubscription({ tenantId: ACME });
      const p2 = await createSubscription();
      const everyone = [a1, p1, g1, a2, audit, a3, p2];

      expect((await listAllSubscriptions({ tenantId: ACME, limit: 2 })).map((s) => s.id)).toEqual([a1.id, a2.id, a3.id]);
      expect((await listAllSubscriptions({ tenantId: null, limit: 2 })).map((s) => s.id)).toEqual([p1.id, audit.id, p2.id]);
      expect((await listAllSubscriptions({ tenantId: GLOBEX, limit: 1 })).map((s) => s.id)).toEqual([g1.id]);
      expect(await listAllSubscriptions({ tenantId: UNKNOWN, limit: 1 })).toEqual([]);
      expect((await listAllSubscriptions({ limit: 3 })).map((s) => s.id)).toEqual(everyone.map((s) => s.id));
      expect((await listAllSubscriptions({ tenantId: undefined, limit: 3 })).map((s) => s.id)).toEqual(everyone.map((s) => s.id));
      expect(await listAllSubscriptions({ tenantId: ACME, limit: 10 })).toEqual([a1, a2, a3]);

      await t.storage.setSubscriptionStatus(a2.id, { status: 'disabled', reason: 'manual' }, t.now);
      await t.storage.setSubscriptionStatus(p2.id, { status: 'disabled', reason: 'manual' }, t.now);
      expect((await listAllSubscriptions({ tenantId: ACME, status: 'active', limit: 1 })).map((s) => s.id)).toEqual([a1.id, a3.id]);
      expect((await listAllSubscriptions({ tenantId: ACME, status: 'disabled', limit: 1 })).map((s) => s.id)).toEqual([a2.id]);
      expect((await listAllSubscriptions({ tenantId: null, status: 'active', limit: 1 })).map((s) => s.id)).toEqual([p1.id, audit.id]);
      expect((await listAllSubscriptions({ tenantId: null, status: 'disabled', limit: 1 })).map((s) => s.id)).toEqual([p2.id]);
      expect(await listAllSubscriptions({ tenantId: GLOBEX, status: 'disabled', limit: 1 })).toEqual([]);
      const firstPage = await t.storage.listSubscriptions({ tenantId: ACME, limit: 3 });
      expect(firstPage.items.map((s) => s.id)).toEqual([a1.id, a2.id, a3.id]);
      expect(firstPage.nextCursor).toBeNull();
    });

    it("lists a tenant's deliveries with its id and the platform's with null, alone and with status and subscription, newest first, a cursor paging over each exactly once", async () => {
      const acme1 = await createSubscription({ tenantId: ACME, eventTypes: ['payment.*'] });
      const acme2 = await createSubscription({ tenantId: ACME, eventTypes: ['payment.*'] });
      const globex = await createSubscription({ tenantId: GLOBEX });
      const platform = await createSubscription();
      const audit = await createSubscription({ allTenants: true, eventTypes: ['payment.*'] });
      const all: DeliveryRecord[] = [];
      for (let i = 0; i < 3; i++) {
        t.now += 10;
        for (const tenantId of [ACME, GLOBEX, null]) all.push(...(await deliveriesOfEvent((await publish('payment.succeeded', { tenantId })).event.id)));
      }
      const of = (...subs: SubscriptionRecord[]) => all.filter((d) => subs.some((s) => s.id === d.subscriptionId));
      // Each round: ACME's event to acme1, acme2 and the audit; GLOBEX's and the tenantless one to theirs and the audit.
      expect(all).toHaveLength(21);

      const ids = (ds: DeliveryRecord[]) => ds.map((d) => d.id);
      expect(ids(await listAllDeliveries({ tenantId: ACME, limit: 4 }))).toEqual(descendingIds(of(acme1, acme2)));
      expect(ids(await listAllDeliveries({ tenantId: GLOBEX, limit: 2 }))).toEqual(descendingIds(of(globex)));
      expect(ids(await listAllDeliveries({ tenantId: null, limit: 5 }))).toEqual(descendingIds(of(platform, audit)));
      expect(await listAllDeliveries({ tenantId: UNKNOWN, limit: 5 })).toEqual([]);
      expect(ids(await listAllDeliveries({ tenantId: ACME, subscriptionId: acme2.id, limit: 1 }))).toEqual(descendingIds(of(acme2)));
      expect(ids(await listAllDeliveries({ tenantId: null, subscriptionId: audit.id, limit: 2 }))).toEqual(descendingIds(of(audit)));
      expect(await listAllDeliveries({ tenantId: GLOBEX, subscriptionId: acme1.id, limit: 5 })).toEqual([]);
      expect(await listAllDeliveries({ tenantId: null, subscriptionId: acme1.id, limit: 5 })).toEqual([]);

      const claimed = await claim(100);
      expect(claimed).toHaveLength(21);
      const dead = new Set([of(acme1)[0]!.id, of(acme2)[2]!.id, of(globex)[1]!.id, of(audit)[0]!.id]);
      const delivered = new Set([of(acme1)[1]!.id, of(platform)[0]!.id]);
      for (const c of claimed) {
        if (dead.has(c.delivery.id)) await settle(c, { kind: 'dead' }, { statusCode: 500 });
        else if (delivered.has(c.delivery.id)) await settle(c, { kind: 'delivered' });
      }
      const byStatus = (ds: DeliveryRecord[], set: Set<string>) => ds.filter((d) => set.has(d.id));
      expect(ids(await listAllDeliveries({ tenantId: ACME, status: 'dead', limit: 1 }))).toEqual(descendingIds(byStatus(of(acme1, acme2), dead)));
      expect(ids(await listAllDeliveries({ tenantId: null, status: 'dead', limit: 1 }))).toEqual([of(audit)[0]!.id]);
      expect(ids(await listAllDeliveries({ tenantId: ACME, status: ['dead', 'delivered'], limit: 1 }))).toEqual(
        descendingIds([...byStatus(of(acme1, acme2), dead), ...byStatus(of(acme1, acme2), delivered)]),
      );
      expect(ids(await listAllDeliveries({ tenantId: ACME, subscriptionId: acme1.id, status: 'pending', limit: 1 }))).toEqual([of(acme1)[2]!.id]);
      expect(ids(await listAllDeliveries({ tenantId: null, status: 'delivered', limit: 3 }))).toEqual([of(platform)[0]!.id]);
      expect(await listAllDeliveries({ tenantId: GLOBEX, status: 'delivered', limit: 3 })).toEqual([]);
    });

    it("counts only a tenant's deliveries with tenantId, the platform's with null, and the intersection with subscriptionId", async () => {
      const acme = await createSubscription({ tenantId: ACME, eventTypes: ['payment.*'] });
      const acmeRefunds = await createSubscription({ tenantId: ACME, eventTypes: ['refund.*'] });
      const globex = await createSubscription({ tenantId: GLOBEX });
      const platform = await createSubscription({ eventTypes: ['order.*'] });
      const audit = await createSubscription({ allTenants: true, eventTypes: ['payment.*'] });
      const t0 = t.now;
      const a1 = await publishFor(acme.id, 'payment.succeeded', { tenantId: ACME });
      const a2 = await publishFor(acme.id, 'payment.failed', { tenantId: ACME });
      t.now += 1000;
      await publishFor(acme.id, 'payment.succeeded', { tenantId: ACME });
      const r1 = await publishFor(acmeRefunds.id, 'refund.created', { tenantId: ACME });
      const g1 = await publishFor(globex.id, 'payment.succeeded', { tenantId: GLOBEX });
      const p1 = await publishFor(platform.id, 'order.created');
      const claimed = await claim(100);
      expect(claimed).toHaveLength(10);
      const byId = (id: string) => claimed.find((c) => c.delivery.id === id)!;
      await settle(byId(a1.id), { kind: 'delivered' });
      await settle(byId(a2.id), { kind: 'dead' }, { statusCode: 500 });
      await settle(byId(g1.id), { kind: 'dead' }, { statusCode: 500 });
      await settle(byId(p1.id), { kind: 'delivered' });
      await t.storage.setSubscriptionStatus(acmeRefunds.id, { status: 'disabled', reason: 'manual' }, t.now);
      expect((await delivery(r1.id)).status).toBe('held');

      // ACME: a3 pending under its lease, r1 held, a2 dead, a1 delivered; the audit's four are the platform's.
      const ofAcme = { ...EMPTY_STATS, pending: 1, leased: 1, held: 1, dead: 1, delivered: 1, oldestPendingCreatedAt: t0 + 1000 };
      expect(await t.storage.stats(t.now, { tenantId: ACME })).toEqual(ofAcme);
      expect(await t.storage.stats(t.now, { tenantId: GLOBEX })).toEqual({ ...EMPTY_STATS, dead: 1 });
      expect(await t.storage.stats(t.now, { tenantId: null })).toEqual({ ...EMPTY_STATS, pending: 4, leased: 4, delivered: 1, oldestPendingCreatedAt: t0 });
      expect(await t.storage.stats(t.now, { tenantId: UNKNOWN })).toEqual(EMPTY_STATS);
      expect(await t.storage.stats(t.now)).toEqual({ ...EMPTY_STATS, pending: 5, leased: 5, held: 1, dead: 2, delivered: 2, oldestPendingCreatedAt: t0 });
      expect(await t.storage.stats(t.now, { tenantId: undefined })).toEqual(await t.storage.stats(t.now));

      expect(await t.storage.stats(t.now, { tenantId: ACME, subscriptionId: acme.id })).toEqual({ ...ofAcme, held: 0 });
      expect(await t.storage.stats(t.now, { tenantId: null, subscriptionId: audit.id })).toEqual({ ...EMPTY_STATS, pending: 4, leased: 4, oldestPendingCreatedAt: t0 });
      expect(await t.storage.stats(t.now, { tenantId: GLOBEX, subscriptionId: acme.id })).toEqual(EMPTY_STATS);
      expect(await t.storage.stats(t.now, { tenantId: null, subscriptionId: acme.id })).toEqual(EMPTY_STATS);
      expect(await t.storage.stats(t.now, { tenantId: ACME, subscriptionId: audit.id })).toEqual(EMPTY_STATS);
    });
  });

  describe('tenants: subscription limit', () => {
    const maxPerTenant = 2;

    async function expectRefused(overrides: Partial<SubscriptionRecord>): Promise<void> {
      const record = subscriptionRecord(overrides);
      const error = await rejectionOf(t.storage.createSubscription(record, { maxPerTenant }));
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({ code: 'TENANT_SUBSCRIPTION_LIMIT' });
      expect(await t.storage.getSubscription(record.id)).toBeNull();
    }

    it("refuses a tenant's subscription beyond maxPerTenant with TENANT_SUBSCRIPTION_LIMIT and stores nothing; other tenants and the platform are not limited by it", async () => {
      const acme = [await createSubscription({ tenantId: ACME }, { maxPerTenant }), await createSubscription({ tenantId: ACME }, { maxPerTenant })];
      await expectRefused({ tenantId: ACME });
      expect(await listAllSubscriptions({ tenantId: ACME, limit: 10 })).toEqual(acme);

      await createSubscription({ tenantId: GLOBEX }, { maxPerTenant });
      await createSubscription({ tenantId: GLOBEX }, { maxPerTenant });
      for (let i = 0; i < 3; i++) await createSubscription({}, { maxPerTenant });
      await createSubscription({ allTenants: true }, { maxPerTenant });
      expect(await listAllSubscriptions({ tenantId: GLOBEX, limit: 10 })).toHaveLength(2);
      expect(await listAllSubscriptions({ tenantId: null, limit: 10 })).toHaveLength(4);
      await expectRefused({ tenantId: GLOBEX });
      // A create without the limit is not refused.
      expect(await createSubscription({ tenantId: ACME })).toMatchObject({ tenantId: ACME });
    });

    it('counts a disabled subscription toward the limit, and makes room again when one is deleted', async () => {
      const first = await createSubscription({ tenantId: ACME }, { maxPerTenant });
      const second = await createSubscription({ tenantId: ACME }, { maxPerTenant });
      await t.storage.setSubscriptionStatus(second.id, { status: 'disabled', reason: 'manual' }, t.now);
      await expectRefused({ tenantId: ACME });
      expect(await t.storage.deleteSubscription(first.id)).toBe(true);
      const third = await createSubscription({ tenantId: ACME }, { maxPerTenant });
      expect(await t.storage.getSubscription(third.id)).toEqual(third);
      await expectRefused({ tenantId: ACME });
      expect((await listAllSubscriptions({ tenantId: ACME, limit: 10 })).map((s) => s.id)).toEqual([second.id, third.id]);
    });

    it('lets exactly one of two creates racing for the last place win, on one handle and across two', async () => {
      const peer = await t.openPeer();
      for (const [tenantId, handles] of [
        [ACME, [t.storage, t.storage]],
        [GLOBEX, [t.storage, peer]],
      ] as const) {
        await createSubscription({ tenantId }, { maxPerTenant });
        const results = await Promise.allSettled(handles.map((on) => on.createSubscription(subscriptionRecord({ tenantId }), { maxPerTenant })));
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(refused).toHaveLength(1);
        expect(refused[0]!.reason).toBeInstanceOf(ConflictError);
        expect(refused[0]!.reason).toMatchObject({ code: 'TENANT_SUBSCRIPTION_LIMIT' });
        expect(await listAllSubscriptions({ tenantId, limit: 10 })).toHaveLength(maxPerTenant);
      }
    });
  });

  describe('tenants: purge', () => {
    /**
     * Three ACME subscriptions, one of GLOBEX, one platform subscription and an all-tenant
     * consumer; three events of each tenant and three tenantless, every delivery attempted once.
     */
    async function populate() {
      const acme = [
        await createSubscription({ tenantId: ACME }),
        await createSubscription({ tenantId: ACME, eventTypes: ['payment.*'] }),
        await createSubscription({ tenantId: ACME }),
      ];
      const others = [await createSubscription({ tenantId: GLOBEX }), await createSubscription(), await createSubscription({ allTenants: true })];
      const events: Record<'acme' | 'globex' | 'tenantless', EventRecord[]> = { acme: [], globex: [], tenantless: [] };
      for (let i = 0; i < 3; i++) {
        t.now += 10;
        events.acme.push((await publish('payment.succeeded', { tenantId: ACME })).event);
        events.globex.push((await publish('payment.succeeded', { tenantId: GLOBEX })).event);
        events.tenantless.push((await publish('payment.succeeded')).event);
      }
      const claimed = await claim(100);
      expect(claimed).toHaveLength(9 + 3 + 6 + 6);
      for (const [i, c] of claimed.entries()) {
        await settle(c, i % 3 === 0 ? { kind: 'dead' } : { kind: 'retry', nextAttemptAt: t.now + 3_600_000 }, { statusCode: 500 });
      }
      return { acme, others, events, eventIds: [...events.acme, ...events.globex, ...events.tenantless].map((e) => e.id) };
    }

    it("removes a tenant's deliveries with their attempts, its subscriptions, its events and the all-tenant consumer's deliveries of them, over several bounded batches, and nothing else", async () => {
      const { acme, events, eventIds } = await populate();
      const acmeEventIds = new Set(events.acme.map((e) => e.id));
      const before = await snapshot(eventIds);
      const doomed = before.deliveries.filter((d) => acmeEventIds.has(d.eventId));
      expect(doomed).toHaveLength(12);
      const keep = (b: typeof before) => ({
        subscriptions: b.subscriptions.filter((s) => s.tenantId !== ACME),
        deliveries: b.deliveries.filter((d) => !acmeEventIds.has(d.eventId)),
        attempts: b.attempts.filter((_, i) => !acmeEventIds.has(b.deliveries[i]!.eventId)),
        events: b.events.filter((e) => e !== null && !acmeEventIds.has(e.id)),
      });

      const batches = await purgeInBatches(ACME, 2);
      expect(batches.length).toBeGreaterThan(3);
      expect(batches.slice(0, -1).every((b) => !b.done)).toBe(true);
      expect(totalOf(batches)).toEqual({ subscriptions: 3, events: 3, deliveries: 12, attempts: 12 });

      for (const s of acme) expect(await t.storage.getSubscription(s.id)).toBeNull();
      for (const e of events.acme) expect(await t.storage.getEvent(e.id)).toBeNull();
      for (const d of doomed) {
        expect(await t.storage.getDelivery(d.id)).toBeNull();
        expect(await t.storage.listAttempts(d.id)).toEqual([]);
      }
      expect(await t.storage.listDeliveries({ tenantId: ACME, limit: 10 })).toEqual({ items: [], nextCursor: null });
      expect(await t.storage.listSubscriptions({ tenantId: ACME, limit: 10 })).toEqual({ items: [], nextCursor: null });
      expect(await t.storage.stats(t.now, { tenantId: ACME })).toEqual(EMPTY_STATS);
      const after = await snapshot(eventIds);
      expect(after.subscriptions).toEqual(keep(before).subscriptions);
      expect(after.deliveries).toEqual(keep(before).deliveries);
      expect(after.attempts).toEqual(keep(before).attempts);
      expect(after.events.filter((e) => e !== null)).toEqual(keep(before).events);
    });

    it('is idempotent: a second run, and a run for an unknown tenant, remove nothing and say done', async () => {
      const { eventIds } = await populate();
      await purgeInBatches(ACME, 100);
      const before = await snapshot(eventIds);
      const nothing = { subscriptions: 0, events: 0, deliveries: 0, attempts: 0, done: true };
      expect(await t.storage.purgeTenant({ tenantId: ACME, limit: 10, now: t.now, force: false })).toEqual(nothing);
      expect(await t.storage.purgeTenant({ tenantId: UNKNOWN, limit: 10, now: t.now, force: false })).toEqual(nothing);
      expect(await t.storage.purgeTenant({ tenantId: UNKNOWN, limit: 10, now: t.now, force: true })).toEqual(nothing);
      expect(await snapshot(eventIds)).toEqual(before);
    });

    it("refuses with in_flight and changes nothing while one of the tenant's deliveries is under an unexpired lease; with force it removes it and the lease's settle is lost", async () => {
      const acme = await createSubscription({ tenantId: ACME });
      await createSubscription({ tenantId: GLOBEX });
      const leased = await publishFor(acme.id, 'payment.succeeded', { tenantId: ACME });
      await publishFor(acme.id, 'payment.failed', { tenantId: ACME });
      const globexEvent = await publish('payment.succeeded', { tenantId: GLOBEX });
      const claimed = await claimOne(leased.id, LEASE_MS);
      const eventIds = [leased.eventId, globexEvent.event.id];
      const before = await snapshot(eventIds);

      expect(await t.storage.purgeTenant({ tenantId: ACME, limit: 10, now: t.now, force: false })).toBe('in_flight');
      expect(await t.storage.purgeTenant({ tenantId: ACME, limit: 1, now: t.now, force: false })).toBe('in_flight');
      expect(await snapshot(eventIds)).toEqual(before);

      const forced = await purgeInBatches(ACME, 10, true);
      expect(totalOf(forced)).toEqual({ subscriptions: 1, events: 2, deliveries: 2, attempts: 0 });
      expect(await t.storage.getDelivery(leased.id)).toBeNull();
      expect(await settle(claimed, { kind: 'delivered' })).toEqual({ ok: false, deliveryId: leased.id, code: 'STORAGE_LEASE_LOST' });
      expect(await t.storage.listAttempts(leased.id)).toEqual([]);
      expect(await t.storage.getEvent(globexEvent.event.id)).toEqual(globexEvent.event);
    });

    it('does not count an expired lease as in flight', async () => {
      const acme = await createSubscription({ tenantId: ACME });
      const d = await publishFor(acme.id, 'payment.succeeded', { tenantId: ACME });
      await claimOne(d.id, shortLeaseMs());
      await letLeasesExpire();
      expect(totalOf(await purgeInBatches(ACME, 10))).toEqual({ subscriptions: 1, events: 1, deliveries: 1, attempts: 0 });
      expect(await t.storage.getDelivery(d.id)).toBeNull();
    });
  });

  describe('tenants: claim and update', () => {
    it('claims nothing of excluded tenants, never excludes tenantless deliveries, and still claims the other tenants', async () => {
      const acme = await createSubscription({ tenantId: ACME });
      const globex = await createSubscription({ tenantId: GLOBEX });
      await createSubscription();
      await createSubscription({ allTenants: true });
      for (const tenantId of [ACME, GLOBEX, null]) await publish('payment.succeeded', { tenantId });
      const claimExcluding = (excludeTenantIds: string[]) => t.storage.claimDue({ limit: 100, leaseMs: LEASE_MS, now: t.now, excludeTenantIds });

      const platformOnly = await claimExcluding([ACME, GLOBEX, UNKNOWN]);
      expect(platformOnly).toHaveLength(4);
      expect(platformOnly.every((c) => c.delivery.tenantId === null)).toBe(true);
      expect(await t.storage.nextDueAt(t.now)).toBe(t.now);
      expect((await claimExcluding([ACME])).map((c) => c.subscription.id)).toEqual([globex.id]);
      expect(await claimExcluding([ACME])).toEqual([]);
      expect((await claimExcluding([])).map((c) => c.subscription.id)).toEqual([acme.id]);
    });

    it('keeps tenantId and allTenants through an update, even when a patch carries them', async () => {
      const acme = await createSubscription({ tenantId: ACME });
      const audit = await createSubscription({ allTenants: true });
      t.now += 1000;
      const url = 'https://erp.example.com/acme';
      const updated = await t.storage.updateSubscription(acme.id, { url, tenantId: GLOBEX, allTenants: true } as never, t.now);
      expect(updated).toEqual({ ...acme, url, updatedAt: t.now });
      expect(await t.storage.getSubscription(acme.id)).toEqual({ ...acme, url, updatedAt: t.now });
      const auditUpdated = await t.storage.updateSubscription(audit.id, { description: 'audit', tenantId: ACME, allTenants: false } as never, t.now);
      expect(auditUpdated).toEqual({ ...audit, description: 'audit', updatedAt: t.now });

      const { event } = await publish('payment.succeeded', { tenantId: GLOBEX });
      expect(await targetsOf(event.id)).toEqual([audit.id]);
      const acmeEvent = await publish('payment.succeeded', { tenantId: ACME });
      expect(await targetsOf(acmeEvent.event.id)).toEqual([acme.id, audit.id].sort());
    });
  });
}
