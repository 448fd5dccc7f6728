/**
 * End to end over loopback, on every storage: two organisations each run an ERP (a real
 * node:http server) subscribed to the same event types, and Bookkeeper's audit sink
 * subscribes to every tenant. Each ERP receives exactly its own organisation's events,
 * verifiable with its own secret and not with the other's; the audit sink receives all.
 */
import type { ServerResponse } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { SignatureVerificationError, createWebhooks, type Webhooks } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { openStorage, storageKinds } from '../support/every-storage.js';
import { LoopbackReceiver, type ReceivedRequest } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

const cleanups = registerCleanups();

function verify(request: ReceivedRequest, secret: string) {
  return verifyWebhook({ body: request.body, headers: request.headers as Record<string, string> }, { secrets: secret });
}

describe.each(storageKinds)('two organisations on the %s storage', (kind) => {
  it('each ERP receives exactly its own events, signed with its own secret; the audit sink receives both', async () => {
    const opened = await openStorage[kind]('two-erps');
    cleanups.push(() => opened.cleanup());
    const erpA = await LoopbackReceiver.start();
    const erpB = await LoopbackReceiver.start();
    const auditSink = await LoopbackReceiver.start();
    cleanups.push(() => Promise.all([erpA.close(), erpB.close(), auditSink.close()]).then(() => undefined));
    const webhooks: Webhooks = createWebhooks({ storage: opened.storage, security: { allowPrivateNetworks: true }, meter: false, pollIntervalMs: 20 });
    cleanups.push(() => webhooks.close());
    await webhooks.start();

    const a = await webhooks.subscriptions.create({ tenantId: 'org_acme', url: erpA.url, eventTypes: ['payment.*', 'refund.*'] });
    const b = await webhooks.subscriptions.create({ tenantId: 'org_globex', url: erpB.url, eventTypes: ['payment.*', 'refund.*'] });
    const audit = await webhooks.subscriptions.create({ allTenants: true, url: auditSink.url, eventTypes: ['*'] });

    const published = { acme: [] as string[], globex: [] as string[] };
    for (let i = 0; i < 5; i++) {
      published.acme.push((await webhooks.publish('payment.succeeded', samplePayment(i), { tenantId: 'org_acme' })).id);
      published.globex.push((await webhooks.publish('payment.succeeded', samplePayment(100 + i), { tenantId: 'org_globex' })).id);
    }
    await webhooks.drain({ timeoutMs: 10_000 });

    const idsOf = (receiver: LoopbackReceiver) => receiver.requests.map((request) => request.headers['webhook-id'] as string).sort();
    expect(idsOf(erpA)).toEqual([...published.acme].sort());
    expect(idsOf(erpB)).toEqual([...published.globex].sort());
    expect(idsOf(auditSink)).toEqual([...published.acme, ...published.globex].sort());

    for (const request of erpA.requests) {
      expect(verify(request, a.secret).id).toBe(request.headers['webhook-id']);
      expect(() => verify(request, b.secret)).toThrow(SignatureVerificationError);
    }
    for (const request of erpB.requests) {
      expect(verify(request, b.secret).data).toMatchObject({ customerId: 'cus_1' });
      expect(() => verify(request, a.secret)).toThrow(SignatureVerificationError);
    }
    for (const request of auditSink.requests) expect(() => verify(request, audit.secret)).not.toThrow();
    // The tenant is not on the wire unless the host configures a header for it.
    for (const request of [...erpA.requests, ...erpB.requests]) {
      expect(request.body.toString()).not.toContain('org_');
      expect(Object.values(request.headers).join(' ')).not.toContain('org_');
    }
  });

  it("removes a departing tenant while the dispatcher runs: refused while its post is under way, forced through it, the late answer recorded nowhere, the other tenant's deliveries untouched", async () => {
    const opened = await openStorage[kind]('offboard_live');
    cleanups.push(() => opened.cleanup());
    const held: ServerResponse[] = [];
    const leaving = await LoopbackReceiver.start((_request, _index, res) => {
      held.push(res);
      return 'hang';
    });
    const staying = await LoopbackReceiver.start();
    cleanups.push(() => Promise.all([leaving.close(), staying.close()]).then(() => undefined));
    const webhooks: Webhooks = createWebhooks({ storage: opened.storage, security: { allowPrivateNetworks: true }, meter: false, pollIntervalMs: 20 });
    cleanups.push(() => webhooks.close());
    const lost: string[] = [];
    webhooks.bus.on('delivery:lease-lost', (event) => lost.push(event.deliveryId));
    await webhooks.start();
    await webhooks.subscriptions.create({ tenantId: 'org_leaving', url: leaving.url, eventTypes: ['payment.*'] });
    const stays = await webhooks.subscriptions.create({ tenantId: 'org_staying', url: staying.url, eventTypes: ['payment.*'] });
    const gone = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_leaving' });
    await leaving.waitFor(1);

    const refused = await webhooks.tenants.delete('org_leaving').then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: 'TENANT_IN_FLIGHT' });
    expect(await opened.storage.getEvent(gone.id)).not.toBeNull();

    expect(await webhooks.tenants.delete('org_leaving', { force: true })).toMatchObject({ subscriptions: 1, events: 1, deliveries: 1 });
    // The receiver answers after all: the settle finds nothing to record.
    held[0]!.writeHead(204).end();
    await vi.waitFor(() => expect(lost).toHaveLength(1), { timeout: 5_000 });
    expect(await opened.storage.getEvent(gone.id)).toBeNull();
    expect((await webhooks.deliveries.list({ tenantId: 'org_leaving' })).items).toEqual([]);

    // The other tenant is served as before, during and after.
    await webhooks.publish('payment.succeeded', samplePayment(2), { tenantId: 'org_staying' });
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(staying.requests).toHaveLength(1);
    expect((await webhooks.deliveries.list({ subscriptionId: stays.id })).items).toMatchObject([{ status: 'delivered', tenantId: 'org_staying' }]);
    expect(leaving.requests).toHaveLength(1);
  });
});
