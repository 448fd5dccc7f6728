// The delivery log after an outage: `npx tsx examples/delivery-log.ts`.
// The ERP is down while three payments are published; their deliveries end dead. Once it
// is back, the operator looks them up, sends one again and replays the rest.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createWebhooks } from '../src/index.js';

let erpIsUp = false;
const erp = createServer((_req, res) => res.writeHead(erpIsUp ? 204 : 503).end()).listen(0, '127.0.0.1');
await once(erp, 'listening');
const { port } = erp.address() as { port: number };

const webhooks = createWebhooks({
  security: { allowPrivateNetworks: true }, // only because the ERP is on 127.0.0.1
  retry: { delaysMs: [20] }, // two attempts, then dead (the default schedule takes three days)
});
await webhooks.start();
const { id: subscriptionId } = await webhooks.subscriptions.create({ url: `http://127.0.0.1:${port}/webhooks`, eventTypes: ['payment.*'] });
const since = Date.now();
for (const n of [1, 2, 3]) {
  await webhooks.publish('payment.succeeded', {
    paymentId: `pay_${n}`,
    customerId: 'cus_42',
    amount: { amount: 1_000 * n, currency: 'EUR' },
    method: 'card',
    occurredAt: new Date().toISOString(),
  });
}
await webhooks.drain({ timeoutMs: 10_000 });
erpIsUp = true;

const yesterday = new Date(Date.now() - 86_400_000);
const until = new Date(Date.now() + 1);
const cursor: string | undefined = undefined; // for the next page: the previous page's nextCursor

// #region log
const undelivered = await webhooks.deliveries.undelivered({ subscriptionId }); // pending + held + dead, newest first
const dead = await webhooks.deliveries.list({ status: 'dead', since: yesterday, limit: 100, cursor });
// #endregion log
console.log(`undelivered: ${undelivered.items.length}, dead: ${dead.items.map((delivery) => delivery.status).join(', ')}`);
const deliveryId = dead.items[0]!.id;

// #region log
const attempts = await webhooks.deliveries.attempts(deliveryId); // status, duration, 1 KiB of the answer, error class
await webhooks.deliveries.redeliver(deliveryId); // same webhook-id, fresh attempt cycle
const { count } = await webhooks.deliveries.replay({ subscriptionId, since, until, dryRun: true }); // { count } first …
await webhooks.deliveries.replay({ subscriptionId, since, until }); // … then re-send what it missed
// #endregion log
console.log(`attempts of ${deliveryId}: ${attempts.map((attempt) => `${attempt.statusCode} ${attempt.errorClass}`).join(', ')}`);
console.log(`replay would re-send ${count}`);

await webhooks.drain({ timeoutMs: 10_000 });
const after = await webhooks.deliveries.list({ subscriptionId });
const deliveredEvents = new Set(after.items.filter((delivery) => delivery.status === 'delivered').map((delivery) => delivery.eventId));
console.log(`after: ${after.items.length} deliveries, ${deliveredEvents.size} of 3 events delivered`);
await webhooks.close();
erp.close();
