// An audit trail from the lifecycle events: `npx tsx examples/audit-trail.ts`.
// Every attempt's outcome, as one JSON line, with what an auditor needs to reconstruct it.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createWebhooks } from '../src/index.js';

const webhooks = createWebhooks({
  security: { allowPrivateNetworks: true }, // the receiver below is on 127.0.0.1
  retry: { delaysMs: [50] },
});

const auditLog = process.stdout; // an append-only file or table in your app

// #region audit
const audit = (lifecycle: string, event: object) =>
  auditLog.write(JSON.stringify({ at: new Date().toISOString(), lifecycle, ...event }) + '\n');
webhooks.bus.on('delivery:succeeded', (event) => audit('delivery:succeeded', event));
webhooks.bus.on('delivery:failed', (event) => audit('delivery:failed', event));
webhooks.bus.on('delivery:dead', (event) => audit('delivery:dead', event));
webhooks.bus.on('subscription:disabled', (event) => audit('subscription:disabled', event));
// {"lifecycle":"delivery:failed","deliveryId":"dlv_…","eventId":"evt_…","eventType":"refund.initiated",
//  "subscriptionId":"sub_…","attempt":1,"startedAt":…,"durationMs":33.9,"statusCode":503,"errorClass":"http",
//  "errorMessage":"HTTP 503","nextAttemptAt":…}
// #endregion audit

// An ERP that fails the first request, then accepts.
let requests = 0;
const erp = createServer((_req, res) => res.writeHead(++requests === 1 ? 503 : 204).end()).listen(0, '127.0.0.1');
await once(erp, 'listening');
const { port } = erp.address() as { port: number };

await webhooks.subscriptions.create({ url: `http://127.0.0.1:${port}/webhooks`, eventTypes: ['refund.*'] });
await webhooks.start();
await webhooks.publish('refund.initiated', {
  refundId: 'ref_7',
  paymentId: 'pay_123',
  amount: { amount: 4_500, currency: 'EUR' },
  reason: 'requested_by_customer',
  occurredAt: new Date().toISOString(),
});
await webhooks.drain({ timeoutMs: 10_000 });
await webhooks.close();
erp.close();
