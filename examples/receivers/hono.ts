// Receiving Bookkeeper webhooks with Hono (here on Node through @hono/node-server;
// the same route runs on Bun, Deno and Cloudflare Workers).
// `WEBHOOK_SECRET=whsec_… npx tsx examples/receivers/hono.ts`
//
// createWebHandler takes the untouched Fetch Request: pass c.req.raw, and do not
// read the body (c.req.json(), a validator) before it.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
// #region app
import { Hono } from 'hono';
import type { BookkeeperEvents } from '../../src/index.js';
import { SignatureVerificationError, createWebHandler, createWebhookRouter } from '../../src/receiver/index.js';
// #endregion app
import { createLedger } from './ledger.js';
import { runIfMain, type ExampleOptions, type RunningExample } from './run-example.js';

export async function start({ secret, port, ledger = createLedger() }: ExampleOptions): Promise<RunningExample> {
  // #region app
  const router = createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', (event) => ledger.bookPayment(event));
  const webhook = createWebHandler({
    secrets: secret,
    onEvent: router.handle,
    onError: (error) => {
      // Refused requests (bad signature, stale timestamp): the sender sees only the code. A throwing
      // onEvent is logged by the receiver itself (option `logger`, console.error by default).
      if (error instanceof SignatureVerificationError) console.warn(`webhook refused: ${error.code}`);
    },
  });

  const app = new Hono();
  app.post('/webhooks', (c) => webhook(c.req.raw));
  // #endregion app

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(started));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`,
    ledger,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

runIfMain(import.meta.url, start);
