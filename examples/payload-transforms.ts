// Payload shapes: a subscription names a transform registered in code. `npx tsx examples/payload-transforms.ts`.
import { createMemoryStorage, createWebhooks } from '../src/index.js';

// #region transforms
const webhooks = createWebhooks({
  storage: createMemoryStorage(),
  transforms: {
    // Thin events: the id, for the consumer to fetch the rest with.
    thin: (event) => ({ paymentId: (event.data as { paymentId: string }).paymentId }),
    // A legacy ERP's field names, amounts in major units.
    legacyErp: (event) => {
      const { paymentId, amount } = event.data as { paymentId: string; amount: { amount: number; currency: string } };
      return { payment_ref: paymentId, total: amount.amount / 100, ccy: amount.currency };
    },
  },
});
const erp = await webhooks.subscriptions.create({ url: 'https://erp.example.com/webhooks', eventTypes: ['payment.*'], transform: 'legacyErp' });
// #endregion transforms
const published = await webhooks.publish('payment.succeeded', {
  paymentId: 'pay_1',
  customerId: 'cus_42',
  amount: { amount: 123_45, currency: 'EUR' },
  method: 'card',
  occurredAt: '2026-12-05T09:30:00.000Z',
});
// #region sent
const [delivery] = (await webhooks.deliveries.list({ subscriptionId: erp.id })).items;
console.log(await webhooks.deliveries.sentBody(delivery!.id));
// {"id":"evt_…","type":"payment.succeeded","timestamp":"…","data":{"payment_ref":"pay_1","total":123.45,"ccy":"EUR"}}
// #endregion sent
console.log(published.deliveryCount);
await webhooks.close();
