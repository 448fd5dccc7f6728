// Receiving Bookkeeper webhooks with Express 4.
// `WEBHOOK_SECRET=whsec_… npx tsx examples/receivers/express4.ts`
//
// expressWebhook reads the raw body itself: mount it before app.use(express.json()).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express4'; // Express 4 (installed under this alias here; `express` in your app)
import type { BookkeeperEvents } from '../../src/index.js';
import { SignatureVerificationError, createWebhookRouter, expressWebhook } from '../../src/receiver/index.js';
import { createLedger } from './ledger.js';
import { runIfMain, type ExampleOptions, type RunningExample } from './run-example.js';

export async function start({ secret, port, ledger = createLedger() }: ExampleOptions): Promise<RunningExample> {
  const router = createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', (event) => ledger.bookPayment(event));

  const app = express();
  app.post(
    '/webhooks',
    expressWebhook({
      secrets: secret,
      onEvent: router.handle,
      onError: (error) => {
        // Refused requests (bad signature, stale timestamp): the sender sees only the code. A throwing
        // onEvent is logged by the receiver itself (option `logger`, console.error by default).
        if (error instanceof SignatureVerificationError) console.warn(`webhook refused: ${error.code}`);
      },
    }),
  );
  app.use(express.json()); // the rest of the app parses JSON as usual

  const server = app.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`,
    ledger,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

runIfMain(import.meta.url, start);
