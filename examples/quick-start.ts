// The README's usage example, runnable: `npx tsx examples/quick-start.ts`.
// Bookkeeper (the sender) and an ERP (the receiver) in one file, over loopback HTTP.
// #region usage
import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import { createWebhooks } from '../src/index.js';
import { createNodeHandler } from '../src/receiver/index.js';
import { createSqliteStorage } from '../src/storage/sqlite/index.js';

// ── Sender: Bookkeeper ─────────────────────────────────────────────
const webhooks = createWebhooks({
  storage: createSqliteStorage({ filename: process.env.WEBHOOKS_DB ?? 'webhooks.db' }),
  security: { allowPrivateNetworks: true }, // only because the ERP below is on 127.0.0.1
});
await webhooks.start(); // migrates, then dispatches in the background

// ── Receiver: the customer's ERP ───────────────────────────────────
let erpHandler: RequestListener = (_req, res) => res.writeHead(503).end();
const erp = createServer((req, res) => erpHandler(req, res)).listen(0, '127.0.0.1');
await once(erp, 'listening');
const { port } = erp.address() as { port: number };

// ── Subscribe the ERP, publish a payment ───────────────────────────
const subscription = await webhooks.subscriptions.create({
  url: `http://127.0.0.1:${port}/webhooks`,
  eventTypes: ['payment.*', 'refund.*'],
});
// The ERP keeps the secret (whsec_…) and verifies every request with it (raw body, constant time, ±5 min).
erpHandler = createNodeHandler({
  secrets: subscription.secret,
  onEvent: (event) => console.log(`ERP booked ${event.type} ${JSON.stringify(event.data)}`),
});

await webhooks.publish('payment.succeeded', {
  paymentId: 'pay_123',
  customerId: 'cus_42',
  amount: { amount: 12_300, currency: 'EUR' }, // 123.00 EUR in minor units, never floats
  method: 'card',
  occurredAt: new Date().toISOString(),
});

await webhooks.drain({ timeoutMs: 10_000 });
const [delivery] = (await webhooks.deliveries.list()).items;
console.log(`delivery ${delivery?.status} after ${delivery?.attempts} attempt(s)`);
await webhooks.close();
erp.close();
// #endregion usage
