/**
 * Tenants through the public API, on every storage: an organisation's events reach only
 * that organisation's subscriptions (and the platform's explicit all-tenant consumers), by
 * publish, replay and enable-with-replay alike; the tenant-scoped reads show only the
 * tenant's own; idempotency keys are per tenant; `tenants.delete` removes a departing
 * customer whole, and bad input at each call is refused with its code, storing nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError, createWebhooks, type DeliveryRecord, type Webhooks } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { openStorage, storageKinds, type OpenedStorage } from '../support/every-storage.js';
import { rejectionOf } from '../support/rejections.js';
import { samplePayment } from '../support/sample-payment.js';

const START = Date.UTC(2026, 11, 3, 12);

describe.each(storageKinds)('tenants on the %s storage', (kind) => {
  let opened: OpenedStorage;
  let clock: FakeClock;
  let webhooks: Webhooks;

  beforeEach(async () => {
    opened = await openStorage[kind]('tenants');
    clock = new FakeClock(START);
    webhooks = createWebhooks({ storage: opened.storage, clock, meter: false, tenantLimits: { maxSubscriptions: 3 } });
    await opened.storage.migrate();
  });

  afterEach(async () => {
    await webhooks.close();
    await opened.cleanup();
  });

  const subscribe = (tenant: { tenantId?: string | null; allTenants?: boolean; headers?: Record<string, string> }, eventTypes: Array<'payment.*' | 'refund.*' | '*'> = ['payment.*']) =>
    webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes, ...tenant });

  async function allDeliveries(query: Parameters<Webhooks['deliveries']['list']>[0] = {}): Promise<DeliveryRecord[]> {
    const items: DeliveryRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await webhooks.deliveries.list({ ...query, limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      items.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return items;
  }

  it("delivers an organisation's event to its own subscriptions and the all-tenant consumer only, and scopes every read to the tenant", async () => {
    const a = await subscribe({ tenantId: 'org_a' });
    const b = await subscribe({ tenantId: 'org_b' });
    const platform = await subscribe({});
    const audit = await subscribe({ allTenants: true }, ['*']);
    expect(a).toMatchObject({ tenantId: 'org_a', allTenants: false });
    expect(platform).toMatchObject({ tenantId: null, allTenants: false });
    expect(audit).toMatchObject({ tenantId: null, allTenants: true });

    const forA = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_a' });
    expect(forA).toMatchObject({ tenantId: 'org_a', created: true, deliveryCount: 2 });
    const forB = await webhooks.publish('payment.succeeded', samplePayment(2), { tenantId: 'org_b' });
    expect(forB.deliveryCount).toBe(2);
    const tenantless = await webhooks.publish('payment.succeeded', samplePayment(3));
    expect(tenantless).toMatchObject({ tenantId: null, deliveryCount: 2 });
    // A tenant without subscriptions: only the audit sink gets it.
    expect((await webhooks.publish('payment.succeeded', samplePayment(4), { tenantId: 'org_c' })).deliveryCount).toBe(1);

    const received = (subscriptionId: string) => allDeliveries({ subscriptionId }).then((items) => items.map((d) => d.eventId).sort());
    expect(await received(a.id)).toEqual([forA.id]);
    expect(await received(b.id)).toEqual([forB.id]);
    expect(await received(platform.id)).toEqual([tenantless.id]);
    expect((await received(audit.id)).length).toBe(4);

    // A tenant's reads show its own subscriptions and deliveries, never the platform's audit sink.
    expect((await webhooks.subscriptions.list({ tenantId: 'org_a' })).items.map((s) => s.id)).toEqual([a.id]);
    expect((await webhooks.subscriptions.list({ tenantId: null })).items.map((s) => s.id).sort()).toEqual([platform.id, audit.id].sort());
    expect((await webhooks.subscriptions.list()).items).toHaveLength(4);
    const ofA = await allDeliveries({ tenantId: 'org_a' });
    expect(ofA.map((d) => [d.subscriptionId, d.eventId, d.tenantId])).toEqual([[a.id, forA.id, 'org_a']]);
    expect((await webhooks.deliveries.undelivered({ tenantId: 'org_b' })).items.map((d) => d.eventId)).toEqual([forB.id]);
    const ofPlatform = await allDeliveries({ tenantId: null });
    expect(ofPlatform.every((d) => d.tenantId === null)).toBe(true);
    expect(ofPlatform).toHaveLength(5);
    expect((await webhooks.metrics({ tenantId: 'org_a' })).backlog.pending).toBe(1);
    expect((await webhooks.metrics({ tenantId: 'org_c' })).backlog.pending).toBe(0);
    expect((await webhooks.metrics({ tenantId: null })).backlog.pending).toBe(5);
    expect((await webhooks.metrics()).backlog.pending).toBe(7);
  });

  it('scopes idempotency keys per tenant: the same key in two tenants is two events', async () => {
    await subscribe({ tenantId: 'org_a' });
    await subscribe({ tenantId: 'org_b' });
    const first = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_a', idempotencyKey: 'pay_1' });
    const again = await webhooks.publish('payment.succeeded', samplePayment(9), { tenantId: 'org_a', idempotencyKey: 'pay_1' });
    const otherTenant = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_b', idempotencyKey: 'pay_1' });
    const noTenant = await webhooks.publish('payment.succeeded', samplePayment(1), { idempotencyKey: 'pay_1' });
    expect(again).toMatchObject({ id: first.id, created: false, deliveryCount: 0, tenantId: 'org_a', data: samplePayment(1) });
    expect(otherTenant).toMatchObject({ created: true, tenantId: 'org_b', deliveryCount: 1 });
    expect(noTenant).toMatchObject({ created: true, tenantId: null });
    expect(new Set([first.id, otherTenant.id, noTenant.id]).size).toBe(3);
  });

  it("replays and enables-with-replay only the subscription's own tenant's events", async () => {
    const a = await subscribe({ tenantId: 'org_a' });
    await subscribe({ tenantId: 'org_b' });
    const audit = await subscribe({ allTenants: true });
    await webhooks.subscriptions.disable(a.id);
    await webhooks.subscriptions.disable(audit.id);
    clock.advance(1_000);
    await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_a' });
    await webhooks.publish('payment.succeeded', samplePayment(2), { tenantId: 'org_b' });
    await webhooks.publish('payment.succeeded', samplePayment(3));
    clock.advance(1_000);

    expect(await webhooks.subscriptions.previewEnable(a.id)).toEqual({ held: 0, missed: 1 });
    const enabled = await webhooks.subscriptions.enable(a.id, { replayMissed: true });
    expect(enabled.replayed).toBe(1);
    expect((await allDeliveries({ subscriptionId: a.id })).map((d) => d.tenantId)).toEqual(['org_a']);

    // A replay of the window by the tenant's subscription finds nothing more; the audit sink's finds all three.
    expect(await webhooks.deliveries.replay({ subscriptionId: a.id, since: START })).toEqual({ count: 0 });
    await webhooks.subscriptions.enable(audit.id);
    expect(await webhooks.deliveries.replay({ subscriptionId: audit.id, since: START, dryRun: true })).toEqual({ count: 3 });
    expect(await webhooks.deliveries.replay({ subscriptionId: audit.id, since: START })).toEqual({ count: 3 });
    const auditDeliveries = await allDeliveries({ subscriptionId: audit.id });
    expect(auditDeliveries).toHaveLength(3);
    expect(auditDeliveries.every((d) => d.tenantId === null)).toBe(true);
  });

  it("redelivers a tenant's delivery to its own subscription only", async () => {
    const a = await subscribe({ tenantId: 'org_a' });
    const b = await subscribe({ tenantId: 'org_b' });
    const published = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_a' });
    const [delivery] = await allDeliveries({ eventId: published.id });
    const redelivered = await webhooks.deliveries.redeliver(delivery!.id);
    expect(redelivered).toMatchObject({ id: delivery!.id, subscriptionId: a.id, tenantId: 'org_a', status: 'pending' });
    expect(await allDeliveries({ subscriptionId: b.id })).toEqual([]);
  });

  it('announces the business event on the bus with its tenant', async () => {
    const seen: Array<string | null> = [];
    webhooks.bus.on('payment.succeeded', (event) => seen.push(event.tenantId));
    await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_a' });
    await webhooks.publish('payment.succeeded', samplePayment(2));
    expect(seen).toEqual(['org_a', null]);
  });

  it('refuses a subscription beyond tenantLimits.maxSubscriptions with TENANT_SUBSCRIPTION_LIMIT, and counts each tenant apart', async () => {
    for (let i = 0; i < 3; i++) await subscribe({ tenantId: 'org_a' });
    const refused = await rejectionOf(subscribe({ tenantId: 'org_a' }));
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused).toMatchObject({ code: 'TENANT_SUBSCRIPTION_LIMIT', field: 'tenantId' });
    expect((await webhooks.subscriptions.list({ tenantId: 'org_a' })).items).toHaveLength(3);
    await subscribe({ tenantId: 'org_b' });
    for (let i = 0; i < 4; i++) await subscribe({});
    const [first] = (await webhooks.subscriptions.list({ tenantId: 'org_a' })).items;
    await webhooks.subscriptions.delete(first!.id);
    await expect(subscribe({ tenantId: 'org_a' })).resolves.toMatchObject({ tenantId: 'org_a' });
  });

  it("deletes a departing tenant whole, in batches, leaving every other tenant's records", async () => {
    const a1 = await subscribe({ tenantId: 'org_a' });
    await subscribe({ tenantId: 'org_a' }, ['*']);
    const b = await subscribe({ tenantId: 'org_b' });
    const audit = await subscribe({ allTenants: true }, ['*']);
    for (let i = 0; i < 7; i++) await webhooks.publish('payment.succeeded', samplePayment(i), { tenantId: 'org_a' });
    await webhooks.publish('refund.initiated', { refundId: 're_1', paymentId: 'pay_1', amount: { amount: 100, currency: 'EUR' }, reason: 'requested_by_customer', occurredAt: '2026-12-03T12:00:00.000Z' }, { tenantId: 'org_a' });
    const forB = await webhooks.publish('payment.succeeded', samplePayment(8), { tenantId: 'org_b' });
    const before = { b: await allDeliveries({ subscriptionId: b.id }), audit: await allDeliveries({ subscriptionId: audit.id }) };
    expect(before.audit).toHaveLength(9);

    const removed = await webhooks.tenants.delete('org_a', { batchSize: 3 });
    expect(removed).toEqual({ subscriptions: 2, events: 8, deliveries: 8 + 7 + 8, attempts: 0 });

    expect((await webhooks.subscriptions.list({ tenantId: 'org_a' })).items).toEqual([]);
    expect(await webhooks.subscriptions.get(a1.id)).toBeNull();
    expect(await allDeliveries({ tenantId: 'org_a' })).toEqual([]);
    expect(await allDeliveries({ subscriptionId: b.id })).toEqual(before.b);
    expect((await allDeliveries({ subscriptionId: audit.id })).map((d) => d.eventId)).toEqual([forB.id]);
    expect(await opened.storage.getEvent(forB.id)).not.toBeNull();
    // Idempotent: again, or a tenant never seen, removes nothing.
    expect(await webhooks.tenants.delete('org_a')).toEqual({ subscriptions: 0, events: 0, deliveries: 0, attempts: 0 });
    expect(await webhooks.tenants.delete('org_never')).toEqual({ subscriptions: 0, events: 0, deliveries: 0, attempts: 0 });
  });

  it('refuses to delete a tenant while one of its deliveries is being attempted (TENANT_IN_FLIGHT), unless forced', async () => {
    await subscribe({ tenantId: 'org_a' });
    const published = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_a' });
    const [claimed] = await opened.storage.claimDue({ limit: 10, leaseMs: 60_000, now: clock.now() });
    expect(claimed?.event.id).toBe(published.id);
    const refused = await rejectionOf(webhooks.tenants.delete('org_a'));
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused).toMatchObject({ code: 'TENANT_IN_FLIGHT', field: 'tenantId' });
    expect((await webhooks.subscriptions.list({ tenantId: 'org_a' })).items).toHaveLength(1);
    expect(await opened.storage.getEvent(published.id)).not.toBeNull();

    expect(await webhooks.tenants.delete('org_a', { force: true })).toMatchObject({ subscriptions: 1, events: 1, deliveries: 1 });
    const [late] = await opened.storage.settle(
      [
        {
          deliveryId: claimed!.delivery.id,
          leaseToken: claimed!.leaseToken,
          attempt: { id: 'att_late', startedAt: clock.now(), durationMs: 5, statusCode: 200, errorClass: null, errorMessage: null, responseSnippet: null },
          outcome: { kind: 'delivered' },
        },
      ],
      clock.now(),
    );
    expect(late).toMatchObject({ ok: false, code: 'STORAGE_LEASE_LOST' });
  });

  describe('bad input, refused with its code and nothing stored', () => {
    const badTenantIds: Array<[string, unknown]> = [
      ['empty', ''],
      ['too long', 'x'.repeat(129)],
      ['a newline', 'org\na'],
      ['U+0000', 'org\u0000a'],
      ['DEL', 'org\u007fa'],
      ['a lone surrogate', 'org\ud800'],
      ['a number', 42],
    ];

    it.each(badTenantIds)('publish with a tenantId that is %s', async (_label, tenantId) => {
      await subscribe({});
      const refused = await rejectionOf(webhooks.publish('payment.succeeded', samplePayment(1), { tenantId } as never));
      expect(refused).toBeInstanceOf(ValidationError);
      expect(refused).toMatchObject({ code: 'INPUT_INVALID', field: 'options.tenantId' });
      expect((await webhooks.metrics()).backlog.pending).toBe(0);
    });

    it.each(badTenantIds)('subscriptions.create with a tenantId that is %s', async (_label, tenantId) => {
      const refused = await rejectionOf(subscribe({ tenantId } as never));
      expect(refused).toMatchObject({ code: 'INPUT_INVALID', field: 'tenantId' });
      expect((await webhooks.subscriptions.list()).items).toEqual([]);
    });

    it.each(badTenantIds)('tenants.delete, subscriptions.list, deliveries.list and metrics with a tenantId that is %s', async (_label, tenantId) => {
      expect(await rejectionOf(webhooks.tenants.delete(tenantId as never))).toMatchObject({ code: 'INPUT_INVALID', field: 'tenantId' });
      expect(await rejectionOf(webhooks.subscriptions.list({ tenantId } as never))).toMatchObject({ code: 'INPUT_INVALID', field: 'tenantId' });
      expect(await rejectionOf(webhooks.deliveries.list({ tenantId } as never))).toMatchObject({ code: 'INPUT_INVALID', field: 'tenantId' });
      expect(await rejectionOf(webhooks.metrics({ tenantId } as never))).toMatchObject({ code: 'INPUT_INVALID', field: 'tenantId' });
    });

    it('an all-tenant consumer that also names a tenant', async () => {
      const refused = await rejectionOf(subscribe({ tenantId: 'org_a', allTenants: true }));
      expect(refused).toMatchObject({ code: 'INPUT_INVALID', field: 'allTenants' });
      expect((await webhooks.subscriptions.list()).items).toEqual([]);
    });

    it("an update that would move a subscription to another tenant, or make it an all-tenant consumer", async () => {
      const a = await subscribe({ tenantId: 'org_a' });
      expect(await rejectionOf(webhooks.subscriptions.update(a.id, { tenantId: 'org_b' } as never))).toMatchObject({ code: 'INPUT_INVALID', field: 'tenantId' });
      expect(await rejectionOf(webhooks.subscriptions.update(a.id, { allTenants: true } as never))).toMatchObject({ code: 'INPUT_INVALID', field: 'allTenants' });
      expect(await webhooks.subscriptions.get(a.id)).toMatchObject({ tenantId: 'org_a', allTenants: false, updatedAt: a.updatedAt });
    });

    it('a subscription header that http.tenantHeader names, in any case: the tenant is the library\'s to send', async () => {
      const withHeader = createWebhooks({ storage: opened.storage, clock, meter: false, http: { tenantHeader: 'X-Tenant-Id' } });
      const created = await rejectionOf(withHeader.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], headers: { 'x-TENANT-id': 'org_b' } }));
      expect(created).toMatchObject({ code: 'INPUT_INVALID', field: 'headers.x-TENANT-id' });
      const a = await withHeader.subscriptions.create({ tenantId: 'org_a', url: 'https://erp.example.com/hooks', eventTypes: ['*'], headers: { 'x-other': '1' } });
      expect(await rejectionOf(withHeader.subscriptions.update(a.id, { headers: { 'X-Tenant-Id': 'org_b' } }))).toMatchObject({ code: 'INPUT_INVALID', field: 'headers.X-Tenant-Id' });
      expect(await withHeader.subscriptions.get(a.id)).toMatchObject({ headers: { 'x-other': '1' } });
      // Without the option the same header is the subscription's own.
      await expect(subscribe({ tenantId: 'org_a', headers: { 'x-tenant-id': 'anything' } } as never)).resolves.toMatchObject({ headers: { 'x-tenant-id': 'anything' } });
    });

    it('tenants.delete with bad options or extra arguments', async () => {
      expect(await rejectionOf(webhooks.tenants.delete('org_a', { batchSize: 0 }))).toMatchObject({ code: 'INPUT_INVALID', field: 'options.batchSize' });
      expect(await rejectionOf(webhooks.tenants.delete('org_a', { force: 'yes' } as never))).toMatchObject({ code: 'INPUT_INVALID', field: 'options.force' });
      expect(await rejectionOf(webhooks.tenants.delete('org_a', { forse: true } as never))).toMatchObject({ code: 'INPUT_INVALID' });
      expect(await rejectionOf((webhooks.tenants.delete as (...args: unknown[]) => Promise<unknown>)('org_a', {}, 'extra'))).toMatchObject({ code: 'INPUT_INVALID' });
    });
  });
});
