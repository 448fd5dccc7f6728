/**
 * End to end over loopback, on every storage: two organisations each run an ERP (a real
 * node:http server) subscribed to the same event types, and Bookkeeper's audit sink
 * subscribes to every tenant. Each ERP receives exactly its own organisation's events,
 * verifiable with its own secret and not with the other's; the audit sink receives all.
 */
import { describe, expect, it } from 'vitest';
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
});
