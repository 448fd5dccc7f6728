// An event catalog of your own: `npx tsx examples/custom-catalog.ts`.
// defineEvents takes zod 4 schemas; `publish` checks every event's data against them.
// #region catalog
import { z } from 'zod'; // zod 4: npm install zod@4
import { createWebhooks, defineEvents, moneyWithExponentSchema } from '../src/index.js';

const events = defineEvents({
  // A type with an example: checked against the schema, readable as events.examples['invoice.paid'].
  'invoice.paid': {
    schema: z.strictObject({ invoiceId: z.string().min(1), amount: moneyWithExponentSchema, paidAt: z.iso.datetime() }),
    example: { invoiceId: 'inv_1', amount: { amount: 12_300, currency: 'EUR', exponent: 2 }, paidAt: '2026-12-03T09:30:00Z' },
  },
  'invoice.voided': z.strictObject({ invoiceId: z.string().min(1), reason: z.string().max(500).optional() }),
});
const webhooks = createWebhooks({ events });

await webhooks.publish('invoice.paid', { invoiceId: 'inv_1', amount: { amount: 12_300, currency: 'EUR', exponent: 2 }, paidAt: new Date().toISOString() });
// #endregion catalog
console.log(`catalog: ${events.types.join(', ')}`);

// Data that fails the schema is refused with a code, and nothing is stored.
try {
  await webhooks.publish('invoice.paid', { invoiceId: 'inv_2', amount: { amount: 123.45, currency: 'EUR', exponent: 2 }, paidAt: 'yesterday' });
} catch (error) {
  console.log(`refused: ${(error as { code?: string }).code}`);
}
try {
  await webhooks.publish('payment.succeeded' as never, {} as never); // not in this catalog
} catch (error) {
  console.log(`refused: ${(error as { code?: string }).code}`);
}
await webhooks.close();
