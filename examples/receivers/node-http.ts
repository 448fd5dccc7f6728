// Receiving Bookkeeper webhooks with Node's own http server, no framework.
// `WEBHOOK_SECRET=whsec_… npx tsx examples/receivers/node-http.ts`
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
// #region app
import { createServer } from 'node:http';
import type { BookkeeperEvents } from '../../src/index.js';
import { SignatureVerificationError, createNodeHandler, createWebhookRouter } from '../../src/receiver/index.js';
// #endregion app
import { createLedger } from './ledger.js';
import { runIfMain, type ExampleOptions, type RunningExample } from './run-example.js';

export async function start({ secret, port, ledger = createLedger() }: ExampleOptions): Promise<RunningExample> {
  // #region app
  const router = createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', (event) => ledger.bookPayment(event));
  const webhook = createNodeHandler({
    secrets: secret,
    onEvent: router.handle,
    onError: (error) => {
      // Refused requests (bad signature, stale timestamp): the sender sees only the code. A throwing
      // onEvent is logged by the receiver itself (option `logger`, console.error by default).
      if (error instanceof SignatureVerificationError) console.warn(`webhook refused: ${error.code}`);
    },
  });

  const server = createServer((req, res) => {
    if (req.url === '/webhooks') webhook(req, res);
    else res.writeHead(404).end();
  });
  server.listen(port, '127.0.0.1');
  // #endregion app
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`,
    ledger,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

runIfMain(import.meta.url, start);
