// A Next.js App Router route, as app/api/webhooks/route.ts (or any runtime that hands you a
// Fetch Request: Bun, Deno, Cloudflare Workers). A test imports it and calls POST.
// #region route
// Next.js: app/api/webhooks/route.ts
import type { BookkeeperEvents } from '../src/index.js';
import { createWebHandler, createWebhookRouter } from '../src/receiver/index.js';

const router = createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', (event) => {
  console.log(`booked ${event.data.paymentId}: ${event.data.amount.amount} ${event.data.amount.currency}`);
});

export const POST = createWebHandler({
  secrets: process.env.BOOKKEEPER_WEBHOOK_SECRET!,
  onEvent: router.handle,
  onError: (error) => console.warn('webhook not processed:', error),
  logger: false, // onError logs every failure here, the 500s included
});
// #endregion route
