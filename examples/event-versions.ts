// Event versions: an endpoint keeps the shape it was built against. `npx tsx examples/event-versions.ts`.
import { z } from 'zod';
import { createMemoryStorage, createWebhooks, defineEvents } from '../src/index.js';
import { createWebhookRouter, type WebhookEventOf } from '../src/receiver/index.js';

// #region catalog
const paymentV1 = z.object({ paymentId: z.string(), amountMinor: z.int() });
const paymentV2 = z.object({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int() });

const events = defineEvents({
  'payment.succeeded': {
    versions: {
      1: { schema: paymentV1, example: { paymentId: 'pay_1', amountMinor: 1000 } },
      2: {
        schema: paymentV2,
        example: { paymentId: 'pay_1', netMinor: 970, feeMinor: 30 },
        // Pure: version 2's data → version 1's. Checked against version 1's schema at publish.
        downgrade: (data: z.output<typeof paymentV2>) => ({ paymentId: data.paymentId, amountMinor: data.netMinor + data.feeMinor }),
      },
    },
  },
});
// #endregion catalog

const webhooks = createWebhooks({ events, storage: createMemoryStorage() });
// #region pins
// Last year's ERP integration stays on version 1; a new endpoint gets the newest (2) by default.
const erp = await webhooks.subscriptions.create({ url: 'https://erp.example.com/webhooks', eventTypes: ['payment.*'], versions: { 'payment.succeeded': 1 } });
const crm = await webhooks.subscriptions.create({ url: 'https://crm.example.com/webhooks', eventTypes: ['payment.*'] });
console.log(JSON.stringify([erp.versions, crm.versions]));
// [{"payment.succeeded":1},{"payment.succeeded":2}]

// Publish always takes the newest version's data.
await webhooks.publish('payment.succeeded', { paymentId: 'pay_2', netMinor: 1940, feeMinor: 60 });
const [delivery] = (await webhooks.deliveries.list({ subscriptionId: erp.id })).items;
console.log(await webhooks.deliveries.sentBody(delivery!.id));
// {"id":"evt_…","type":"payment.succeeded","version":1,"timestamp":"…","data":{"paymentId":"pay_2","amountMinor":2000}}

// When the ERP is ready for version 2, move its pin: later events come in version 2.
await webhooks.subscriptions.update(erp.id, { versions: { 'payment.succeeded': 2 } }, { reason: 'ERP upgraded' });
// #endregion pins

// #region receiver
const router = createWebhookRouter<typeof events>().on('payment.succeeded', (event) => {
  // A union discriminated by the signed `version`.
  if (event.version === 1) console.log(`v1 ${event.data.amountMinor}`);
  else console.log(`v2 ${event.data.netMinor + event.data.feeMinor}`);
});
// #endregion receiver
const received: WebhookEventOf<typeof events, 'payment.succeeded'> = { id: 'evt_1', type: 'payment.succeeded', version: 1, timestamp: '2026-12-05T09:30:00.000Z', data: { paymentId: 'pay_2', amountMinor: 2000 } };
await router.handle(received);
await webhooks.close();
