// Posting to a receiver on your own machine: `npx tsx examples/local-development.ts`.
// The SSRF guard refuses loopback by default; allowing `localhost` lets just that host through.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createWebhooks } from '../src/index.js';

const receiver = createServer((_req, res) => res.writeHead(204).end()).listen(Number(process.env.PORT ?? 3000), 'localhost');
await once(receiver, 'listening');
const { port } = receiver.address() as { port: number };

// #region local
const webhooks = createWebhooks({ security: { allowedHosts: ['localhost'] } });
await webhooks.subscriptions.create({ url: `http://localhost:${port}/webhooks`, eventTypes: ['*'] });
// #endregion local

try {
  await webhooks.subscriptions.create({ url: 'http://10.0.0.8/webhooks', eventTypes: ['*'] });
} catch (error) {
  console.log(`a private address stays refused: ${(error as { code?: string }).code}`);
}
await webhooks.start();
await webhooks.publish('payment.succeeded', {
  paymentId: 'pay_local',
  customerId: 'cus_1',
  amount: { amount: 500, currency: 'EUR' },
  method: 'card',
  occurredAt: new Date().toISOString(),
});
await webhooks.drain({ timeoutMs: 10_000 });
const [delivery] = (await webhooks.deliveries.list()).items;
console.log(`delivery to localhost: ${delivery?.status}`);
await webhooks.close();
receiver.close();
