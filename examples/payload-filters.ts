// Payload filters: a subscription gets only the events its filter matches. `npx tsx examples/payload-filters.ts`.
import { createMemoryStorage, createWebhooks } from '../src/index.js';

const webhooks = createWebhooks({ storage: createMemoryStorage() });
// #region filter
const treasury = await webhooks.subscriptions.create({
  url: 'https://treasury.example.com/webhooks',
  eventTypes: ['payment.succeeded'],
  // Only EUR payments of 1,000.00 or more (amounts are in minor units).
  filter: { 'data.amount.currency': 'EUR', 'data.amount.amount': { $gte: 100_000 } },
});
// #endregion filter
const payment = (paymentId: string, amount: number, currency: string) => ({
  paymentId,
  customerId: 'cus_42',
  amount: { amount, currency },
  method: 'card' as const,
  occurredAt: '2026-12-05T09:30:00.000Z',
});
// #region publish
const large = await webhooks.publish('payment.succeeded', payment('pay_1', 250_000, 'EUR'));
const small = await webhooks.publish('payment.succeeded', payment('pay_2', 4_200, 'EUR'));
console.log(`large: ${large.deliveryCount} delivery, small: ${small.deliveryCount}`); // large: 1 delivery, small: 0
// #endregion publish
// #region update
// Wider from now on; replay({ subscriptionId, since }) sends what the new filter matches of the past.
await webhooks.subscriptions.update(treasury.id, { filter: { $or: [{ 'data.amount.currency': { $ne: 'EUR' } }, { 'data.amount.amount': { $gte: 1_000 } }] } });
// #endregion update
console.log(`now: ${(await webhooks.publish('payment.succeeded', payment('pay_3', 4_200, 'EUR'))).deliveryCount}`);
const missed = await webhooks.deliveries.replay({ subscriptionId: treasury.id, since: 0, dryRun: true });
console.log(`replay would send ${missed.count}`);
await webhooks.close();
