// Catching up after an outage: `npx tsx examples/event-feed.ts`.
// The ERP is down while three payments are published. Back up, it does not wait for the
// retries or for Bookkeeper's operator: it pulls what it missed from the event feed, and the
// retries that arrive later are duplicates its dedupe store already knows.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createWebhooks } from '../src/index.js';
import type { WebhookEvent } from '../src/receiver/index.js';

async function listen(server: ReturnType<typeof createServer>): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const webhooks = createWebhooks({
  security: { allowPrivateNetworks: true }, // only because the ERP is on 127.0.0.1
  retry: { delaysMs: [300] }, // a retry 300 ms after the first attempt (the default schedule takes days)
});

// #region feed
import { createServer } from 'node:http';
import { createEventFeedHandler, toNodeHandler } from '../src/index.js';

// Bookkeeper's side: mount the feed beside the API (Next.js: `export const GET = feed`;
// Express: `app.get('/webhooks/feed/events', toExpressMiddleware(feed))`).
const feed = createEventFeedHandler(webhooks, { basePath: '/webhooks/feed' });
const api = createServer(toNodeHandler(feed));
// #endregion feed
const origin = await listen(api);
const feedUrl = `${origin}/webhooks/feed/events`;

// The ERP's bookings, and its webhook endpoint, answering 503 while it is down.
const booked = new Map<string, number>();
let erpIsUp = false;
const book = async (event: WebhookEvent<string, { paymentId: string }>) => {
  booked.set(event.data.paymentId, (booked.get(event.data.paymentId) ?? 0) + 1);
};
const erp = createServer((req, res) => (erpIsUp ? push(req, res) : void res.writeHead(503).end()));
const erpUrl = await listen(erp);
const { id: subscriptionId, secret } = await webhooks.subscriptions.create({ url: `${erpUrl}/webhooks`, eventTypes: ['payment.*'] });
process.env.BOOKKEEPER_WEBHOOK_SECRET = secret;

// #region consumer
import { createMemoryDedupeStore, createNodeHandler, pullMissed } from '../src/receiver/index.js';

const dedupe = createMemoryDedupeStore(); // one store for pushed and pulled copies (Redis or a table across instances)
const push = createNodeHandler({ secrets: process.env.BOOKKEEPER_WEBHOOK_SECRET!, dedupe, onEvent: book }); // the webhook endpoint
// #endregion consumer

let failed = 0;
const firstAttemptsFailed = new Promise<void>((resolve) => {
  webhooks.bus.on('delivery:failed', () => {
    if (++failed === 3) resolve();
  });
});
await webhooks.start();
for (const n of [1, 2, 3]) {
  await webhooks.publish('payment.succeeded', {
    paymentId: `pay_${n}`,
    customerId: 'cus_42',
    amount: { amount: 1_000 * n, currency: 'EUR' },
    method: 'card',
    occurredAt: new Date().toISOString(),
  });
}
await firstAttemptsFailed;
console.log(`ERP down: ${failed} deliveries failed`);
erpIsUp = true;
let savedCursor: string | null = null; // kept by the ERP between runs (a row in its database)

// #region consumer
// At start-up after an outage (or on a timer), catch up from where the last pull stopped:
const { processed, duplicates, next } = await pullMissed({
  feedUrl, // https://api.bookkeeper.example/webhooks/feed/events
  subscriptionId, // given with the secret when the endpoint was registered
  secret: process.env.BOOKKEEPER_WEBHOOK_SECRET!,
  after: savedCursor, // null the first time: from the oldest event kept (or `since`)
  dedupe,
  onEvent: book,
});
savedCursor = next;
// #endregion consumer
console.log(`pulled: ${processed} processed, ${duplicates} duplicates`);

await webhooks.drain({ timeoutMs: 10_000 }); // the retries arrive now, and find the events booked
const deliveries = (await webhooks.deliveries.list({ subscriptionId })).items;
console.log(`retries: ${deliveries.filter((delivery) => delivery.status === 'delivered').length} delivered, answered as duplicates`);
console.log(`booked: ${[...booked].map(([paymentId, times]) => `${paymentId}×${times}`).join(', ')}`);
const again = await pullMissed({ feedUrl, subscriptionId, secret, after: savedCursor, dedupe, onEvent: book });
console.log(`pulled again: ${again.processed} processed, cursor kept: ${again.next === savedCursor}`);

// #region list
// What the subscription receives, oldest first, each with the body it is pushed with and headers signed now:
for await (const event of webhooks.events.iterate({ subscriptionId, since: Date.now() - 86_400_000 })) {
  console.log(event.id, event.type, event.headers?.['webhook-signature']); // and event.body, the bytes signed
}
// #endregion list

await webhooks.close();
api.close();
erp.close();
