// Typed handlers per event type, with and without a run-time check of the data:
// `npx tsx examples/typed-router.ts`. The router gets verified events from any adapter
// (`onEvent: router.handle`); here it is handed two events directly.
// #region router
import type { BookkeeperEvents } from '../src/index.js';
import { createWebhookRouter } from '../src/receiver/index.js';
// #endregion router
// #region validate
import { bookkeeperEvents } from '../src/index.js';
// #endregion validate
import { isWebhookError } from '../src/index.js';

// The consumer app's own ledger.
const ledger = {
  book: async (paymentId: string, amount: { amount: number; currency: string }) =>
    console.log(`booked ${paymentId}: ${amount.amount} ${amount.currency} minor units`),
  hold: (refundId: string) => console.log(`held ${refundId}`),
};

// #region router
const router = createWebhookRouter<BookkeeperEvents>()
  .on('payment.succeeded', async (event) => {
    await ledger.book(event.data.paymentId, event.data.amount); // { amount: 12300, currency: 'EUR' }
  })
  .on('refund.initiated', (event) => ledger.hold(event.data.refundId));
// #endregion router

const timestamp = new Date().toISOString();
const payment = { paymentId: 'pay_123', customerId: 'cus_42', amount: { amount: 12_300, currency: 'EUR' }, method: 'card' as const, occurredAt: timestamp };
await router.handle({ id: 'evt_1', type: 'payment.succeeded', timestamp, data: payment });
await router.handle({
  id: 'evt_2',
  type: 'refund.initiated',
  timestamp,
  data: { refundId: 'ref_7', paymentId: 'pay_123', amount: { amount: 4_500, currency: 'EUR' }, reason: 'requested_by_customer', occurredAt: timestamp },
});
// A type without a handler is acknowledged and ignored.
await router.handle({ id: 'evt_3', type: 'balance.depleted', timestamp, data: {} as never });

// #region validate
const checked = createWebhookRouter<BookkeeperEvents>({ validate: (type, data) => bookkeeperEvents.schemas[type].parse(data) })
  .on('payment.succeeded', (event) => ledger.book(event.data.paymentId, event.data.amount));
// #endregion validate

await checked.handle({ id: 'evt_4', type: 'payment.succeeded', timestamp, data: { ...payment, paymentId: 'pay_124' } });
try {
  // Floats are not money: the schema refuses it before the handler runs.
  await checked.handle({ id: 'evt_5', type: 'payment.succeeded', timestamp, data: { ...payment, amount: { amount: 123.45, currency: 'EUR' } } });
} catch (error) {
  console.log(`refused evt_5: ${isWebhookError(error) ? error.code : String(error)}`);
}
