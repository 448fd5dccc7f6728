// Per-key ordering: a refund never reaches the ERP before the payment it refunds.
// `npx tsx examples/ordering.ts`: a sender and an ERP receiver in one process, on loopback.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryStorage, createWebhooks, generateSecret, type BookkeeperEvents } from '../src/index.js';
import { createMemoryOrderingStore, createNodeHandler, createWebhookRouter } from '../src/receiver/index.js';

const occurredAt = '2026-12-06T09:30:00.000Z';
const payment = { paymentId: 'pay_1', customerId: 'cus_42', amount: { amount: 123_45, currency: 'EUR' }, method: 'card' as const, occurredAt };
const refund = { refundId: 'ref_1', paymentId: 'pay_1', amount: { amount: 23_45, currency: 'EUR' }, reason: 'requested_by_customer' as const, occurredAt };

// The ERP: its first answer to the payment is a 503 (a deploy), then it works.
let down = true;
// #region receiver
const router = createWebhookRouter<BookkeeperEvents>({ ordering: { store: createMemoryOrderingStore() } })
  .on('payment.succeeded', (event) => console.log(`booked ${event.data.paymentId} (#${event.sequence})`))
  .on('refund.initiated', (event) => console.log(`refunded ${event.data.paymentId} (#${event.sequence})`));
// #endregion receiver
const secret = generateSecret(); // the ERP's signing secret, given to its subscription below
const verify = createNodeHandler({ secrets: secret, onEvent: (event) => router.handle(event) });
const erp = createServer((req, res) => {
  if (down) {
    down = false;
    res.writeHead(503).end();
    return;
  }
  verify(req, res);
});
await new Promise<void>((resolve) => erp.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(erp.address() as AddressInfo).port}/webhooks`;

// #region publish
const webhooks = createWebhooks({
  storage: createMemoryStorage(),
  retry: { delaysMs: [] }, // one attempt: a failure is dead at once (for the example)
  security: { allowPrivateNetworks: true }, // the ERP is on 127.0.0.1 here
});
const subscription = await webhooks.subscriptions.create({ url, secret, eventTypes: ['payment.*', 'refund.*'] }); // ordering: { onDead: 'block' }
await webhooks.publish('payment.succeeded', payment, { orderingKey: payment.paymentId });
await webhooks.publish('refund.initiated', refund, { orderingKey: refund.paymentId });
// #endregion publish
await webhooks.start();
await webhooks.drain();

// #region blocked
// The payment died (503, no retries left): the refund waits behind it.
const { items } = await webhooks.deliveries.blockedKeys({ subscriptionId: subscription.id });
for (const { orderingKey, delivery, waiting } of items) {
  console.log(`${orderingKey} blocked by ${delivery.eventType} #${delivery.orderingSequence}, ${waiting} waiting`);
  await webhooks.deliveries.redeliver(delivery.id); // or deliveries.skip(delivery.id) to move on without it
}
await webhooks.drain(); // booked pay_1 (#1), then refunded pay_1 (#2)
// #endregion blocked
await webhooks.close();
erp.close();
