// Receiving Bookkeeper webhooks with Fastify 5.
// `WEBHOOK_SECRET=whsec_… npx tsx examples/receivers/fastify.ts`
//
// The plugin keeps its route's body raw; the app's other routes still get parsed JSON.
import type { AddressInfo } from 'node:net';
// #region app
import Fastify from 'fastify';
import type { BookkeeperEvents } from '../../src/index.js';
import { SignatureVerificationError, createWebhookRouter, fastifyWebhook } from '../../src/receiver/index.js';
// #endregion app
import { createLedger } from './ledger.js';
import { runIfMain, type ExampleOptions, type RunningExample } from './run-example.js';

export async function start({ secret, port, ledger = createLedger() }: ExampleOptions): Promise<RunningExample> {
  // #region app
  const router = createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', (event) => ledger.bookPayment(event));

  const app = Fastify();
  await app.register(
    fastifyWebhook({
      path: '/webhooks',
      secrets: secret,
      onEvent: router.handle,
      onError: (error) => {
        // Refused requests (bad signature, stale timestamp): the sender sees only the code. A throwing
        // onEvent is logged by the receiver itself (option `logger`, console.error by default).
        if (error instanceof SignatureVerificationError) console.warn(`webhook refused: ${error.code}`);
      },
    }),
  );
  app.post('/orders', async (request) => ({ received: request.body })); // JSON as usual
  // #endregion app

  await app.listen({ port, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/webhooks`,
    ledger,
    close: () => app.close(),
  };
}

runIfMain(import.meta.url, start);
