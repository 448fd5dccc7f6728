/**
 * The sending side of tenants over real loopback HTTP, on the memory storage: the rate
 * limit across a tenant's endpoints (`tenantLimits`), the tenant header on the wire only
 * when the host names one (`http.tenantHeader`), and the tenant on the lifecycle events and,
 * when asked (`metricsTenantAttribute`), on the OpenTelemetry instruments. Subscriptions and
 * events are written to the storage directly, with their tenants, as the registry and
 * `publish` store them.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryStorage, createWebhooks, generateSecret, type LifecycleEvents, type StorageAdapter, type WebhooksOptions } from '../../src/index.js';
import { createId } from '../../src/ids.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { FakeClock, flush } from '../support/fake-clock.js';
import { LoopbackReceiver, type ReceivedRequest } from '../support/loopback-receiver.js';
import { collect, meterProvider, points } from '../support/otel-reader.js';
import { samplePayment } from '../support/sample-payment.js';
import { subscriptionAt } from '../support/storage-records.js';

const cleanups = registerCleanups();

async function receiver(): Promise<LoopbackReceiver> {
  const server = await LoopbackReceiver.start();
  cleanups.push(() => server.close());
  return server;
}

function setup(options: WebhooksOptions = {}) {
  const clock = new FakeClock();
  const storage = createMemoryStorage();
  const webhooks = createWebhooks({ storage, clock, security: { allowPrivateNetworks: true }, pollIntervalMs: 60_000, meter: false, ...options });
  cleanups.push(() => webhooks.close());
  return { clock, storage, webhooks };
}

/** Stores an active subscription of `tenantId` (or a platform one, all-tenant with `allTenants`) posting to `url`, and its secret. */
async function subscribe(storage: StorageAdapter, now: number, url: string, tenant: { tenantId?: string | null; allTenants?: boolean } = {}) {
  const secret = generateSecret();
  const stored = await storage.createSubscription(
    subscriptionAt(now, { url, eventTypes: ['payment.*'], tenantId: tenant.tenantId ?? null, allTenants: tenant.allTenants ?? false, secrets: [{ value: secret, createdAt: now, expiresAt: null }] }),
  );
  return { id: stored.id, secret };
}

/** Stores a `payment.succeeded` event published for `tenantId` (`null`: without one), as `publish` would, and returns its envelope. */
async function publish(storage: StorageAdapter, now: number, n: number, tenantId: string | null): Promise<{ id: string; payload: string }> {
  const id = createId('evt', now);
  const payload = JSON.stringify({ id, type: 'payment.succeeded', timestamp: new Date(now).toISOString(), data: samplePayment(n) });
  await storage.enqueue({ event: { id, type: 'payment.succeeded', timestamp: now, payload, idempotencyKey: null, tenantId }, now });
  return { id, payload };
}

/** Resolves once `condition` holds, checked every 10 ms of wall-clock time (a real request takes that). */
async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Records the `excludeTenantIds` of every claim made on `storage`. */
function recordExcludedTenants(storage: StorageAdapter): Array<readonly string[]> {
  const excluded: Array<readonly string[]> = [];
  const claimDue = storage.claimDue.bind(storage);
  storage.claimDue = async (query) => {
    if (query.excludeTenantIds !== undefined) excluded.push(query.excludeTenantIds);
    return claimDue(query);
  };
  return excluded;
}

/** When each delivery's first attempt started, relative to the earliest, sorted. */
async function attemptStarts(storage: StorageAdapter, subscriptionIds: readonly string[]): Promise<number[]> {
  const starts: number[] = [];
  for (const subscriptionId of subscriptionIds) {
    for (const delivery of (await storage.listDeliveries({ subscriptionId, limit: 100 })).items) {
      const [first] = await storage.listAttempts(delivery.id);
      starts.push(first!.startedAt);
    }
  }
  const earliest = Math.min(...starts);
  return starts.map((at) => at - earliest).sort((a, b) => a - b);
}

describe('the rate limit per tenant', () => {
  it("holds a tenant's two endpoints together to the tenant rate, while another tenant and the platform are not held by it", async () => {
    const [erp1, crm1, erp2, platform] = await Promise.all([receiver(), receiver(), receiver(), receiver()]);
    // Two posts a second per tenant, three at once: org_1's six deliveries (three events, two
    // endpoints) go three at once, then one every 500 ms; org_2's two and the platform's four at once.
    const { clock, storage, webhooks } = setup({ tenantLimits: { ratePerSecond: 2, burst: 3 } });
    const excludedTenants = recordExcludedTenants(storage);
    const now = clock.now();
    const org1 = [await subscribe(storage, now, erp1.url, { tenantId: 'org_1' }), await subscribe(storage, now, crm1.url, { tenantId: 'org_1' })];
    const org2 = await subscribe(storage, now, erp2.url, { tenantId: 'org_2' });
    const ownSubscription = await subscribe(storage, now, platform.url);
    for (let n = 0; n < 3; n++) await publish(storage, now, n, 'org_1');
    for (let n = 0; n < 2; n++) await publish(storage, now, 10 + n, 'org_2');
    for (let n = 0; n < 4; n++) await publish(storage, now, 20 + n, null);
    const org1Received = () => erp1.requests.length + crm1.requests.length;

    await webhooks.start();
    await Promise.all([erp2.waitFor(2), platform.waitFor(4), until(() => org1Received() >= 3)]);
    await clock.advance(499);
    expect(org1Received()).toBe(3);
    for (let posted = 4; posted <= 6; posted++) {
      await clock.advance(posted === 4 ? 1 : 500);
      await until(() => org1Received() >= posted);
      // The injected clock stands still: no token comes, nothing more is sent.
      await flush();
      expect(org1Received()).toBe(posted);
    }
    await webhooks.drain({ timeoutMs: 5_000 });
    // Both endpoints had some: the limit is the tenant's, not each subscription's.
    expect(erp1.requests.length).toBeGreaterThan(0);
    expect(crm1.requests.length).toBeGreaterThan(0);
    expect(await attemptStarts(storage, org1.map((subscription) => subscription.id))).toEqual([0, 0, 0, 500, 1_000, 1_500]);
    expect(await attemptStarts(storage, [org2.id])).toEqual([0, 0]);
    expect(await attemptStarts(storage, [ownSubscription.id])).toEqual([0, 0, 0, 0]);
    // While org_1 waited for a token, the claims left it out (it was not claimed and given back
    // over and over), and only it: org_2 kept a token.
    expect(excludedTenants).toContainEqual(['org_1']);
    expect(excludedTenants.flat().filter((tenantId) => tenantId !== 'org_1')).toEqual([]);
  });
});

describe('the tenant header', () => {
  /** Publishes one event for org_1 and one without a tenant to org_1's endpoint and a platform endpoint, and returns what each received. */
  async function deliverBoth(options: WebhooksOptions) {
    const tenantEndpoint = await receiver();
    const platformEndpoint = await receiver();
    const { clock, storage, webhooks } = setup(options);
    const now = clock.now();
    const ofTenant = await subscribe(storage, now, tenantEndpoint.url, { tenantId: 'org_1' });
    const ofPlatform = await subscribe(storage, now, platformEndpoint.url);
    const forTenant = await publish(storage, now, 1, 'org_1');
    const tenantless = await publish(storage, now, 2, null);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(tenantEndpoint.requests).toHaveLength(1);
    expect(platformEndpoint.requests).toHaveLength(1);
    return {
      now,
      tenant: { request: tenantEndpoint.requests[0]!, secret: ofTenant.secret, event: forTenant },
      platform: { request: platformEndpoint.requests[0]!, secret: ofPlatform.secret, event: tenantless },
    };
  }

  /** The request's body is the stored envelope byte for byte, and its signature verifies with the subscription's secret. */
  function expectSignedEnvelope(received: { request: ReceivedRequest; secret: string; event: { id: string; payload: string } }, now: number) {
    expect(received.request.body.toString()).toBe(received.event.payload);
    const verified = verifyWebhook({ body: received.request.body, headers: received.request.headers as Record<string, string> }, { secrets: received.secret, now: new Date(now) });
    expect(verified).toEqual(JSON.parse(received.event.payload));
    expect(verified).not.toHaveProperty('tenantId');
  }

  it("carries the event's tenant when the host names a header, none for a tenantless event, and leaves the body and signature as they are", async () => {
    const { now, tenant, platform } = await deliverBoth({ http: { tenantHeader: 'X-Tenant-Id' } });
    expect(tenant.request.headers['x-tenant-id']).toBe('org_1');
    expect(platform.request.headers).not.toHaveProperty('x-tenant-id');
    expectSignedEnvelope(tenant, now);
    expectSignedEnvelope(platform, now);
  });

  it('carries no tenant on the wire when the host names no header', async () => {
    const { now, tenant } = await deliverBoth({});
    expect(Object.values(tenant.request.headers)).not.toContain('org_1');
    expect(tenant.request.body.toString()).not.toContain('org_1');
    expectSignedEnvelope(tenant, now);
  });
});

describe('the tenant on lifecycle events and metrics', () => {
  it("announces each attempt with its event's tenant, the all-tenant consumer's included, and labels the attempt counter with it when asked", async () => {
    const { reader, provider } = meterProvider();
    cleanups.push(() => provider.shutdown());
    const endpoint = await receiver();
    const { clock, storage, webhooks } = setup({ meter: provider.getMeter('test'), metricsTenantAttribute: true });
    const now = clock.now();
    const ofTenant = await subscribe(storage, now, endpoint.url, { tenantId: 'org_1' });
    const audit = await subscribe(storage, now, endpoint.url, { allTenants: true });
    const succeeded: Array<LifecycleEvents['delivery:succeeded']> = [];
    webhooks.bus.on('delivery:succeeded', (event) => succeeded.push(event));
    const forTenant = await publish(storage, now, 1, 'org_1');
    const tenantless = await publish(storage, now, 2, null);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });

    const seen = succeeded.map((event) => [event.subscriptionId, event.eventId, event.tenantId]);
    expect(seen).toHaveLength(3);
    expect(seen).toEqual(
      expect.arrayContaining([
        [ofTenant.id, forTenant.id, 'org_1'],
        [audit.id, forTenant.id, 'org_1'],
        [audit.id, tenantless.id, null],
      ]),
    );
    expect(points((await collect(reader)).get('webhooks.delivery.attempts'))).toEqual(
      expect.arrayContaining([
        { attributes: { outcome: 'delivered', status_class: '2xx', tenant: 'org_1' }, value: 2 },
        { attributes: { outcome: 'delivered', status_class: '2xx' }, value: 1 },
      ]),
    );
  });
});
