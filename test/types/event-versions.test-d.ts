// Type tests of event versions: defineEvents types each version's example and checks each
// downgrade's result against what the version below accepts (its parameter is typed when
// annotated, as here: the compiler does not infer it from the schema beside it), publish takes the newest version's data, subscriptions pin known versions only,
// and the typed router gives a versioned type's handler a union discriminated by `version`.
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { createWebhooks, defineEvents, type VersionPinsOf } from '../../src/index.js';
import { createWebhookRouter, type WebhookEventOf } from '../../src/receiver/index.js';

const v1 = z.object({ paymentId: z.string(), amountMinor: z.int() });
const v2 = z.object({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int() });
const v3 = z.object({ id: z.string(), netMinor: z.int(), feeMinor: z.int() });

const events = defineEvents({
  'payment.succeeded': {
    versions: {
      1: { schema: v1, example: { paymentId: 'pay_1', amountMinor: 1000 } },
      2: {
        schema: v2,
        downgrade: (data: z.output<typeof v2>) => ({ paymentId: data.paymentId, amountMinor: data.netMinor + data.feeMinor }),
      },
      3: {
        schema: v3,
        example: { id: 'pay_1', netMinor: 970, feeMinor: 30 },
        downgrade: (data) => ({ paymentId: data.id, netMinor: data.netMinor, feeMinor: data.feeMinor }),
      },
    },
  },
  'refund.created': z.object({ refundId: z.string() }),
});
type Events = typeof events;

describe('defineEvents with versions', () => {
  it('types each downgrade from its schema to the schema below, and each example by its version', () => {
    defineEvents({
      'payment.succeeded': {
        versions: {
          1: { schema: v1 },
          // @ts-expect-error the downgrade must return what version 1 accepts
          2: { schema: v2, downgrade: (data: z.output<typeof v2>) => ({ paymentId: data.paymentId, amount: data.netMinor }) },
        },
      },
    });
    defineEvents({
      'payment.succeeded': {
        versions: {
          // @ts-expect-error version 1's example must be version 1's data
          1: { schema: v1, example: { paymentId: 'pay_1', netMinor: 1 } },
          2: { schema: v2, downgrade: (data: z.output<typeof v2>) => ({ paymentId: data.paymentId, amountMinor: data.netMinor }) },
        },
      },
    });
    defineEvents({
      'payment.succeeded': {
        versions: {
          1: { schema: v1 },
          // @ts-expect-error an annotated parameter must be this version's data
          2: { schema: v2, downgrade: (data: z.output<typeof v1>) => data },
        },
      },
    });
  });

  it("gives the catalog the newest version's schema and example, and every version's schemas", () => {
    expectTypeOf(events.schemas['payment.succeeded']).toEqualTypeOf<typeof v3>();
    expectTypeOf(events.examples['payment.succeeded']).toEqualTypeOf<{ id: string; netMinor: number; feeMinor: number }>();
    expectTypeOf(events.versions['payment.succeeded'].schemas[1]).toEqualTypeOf<typeof v1>();
    expectTypeOf(events.versions['payment.succeeded'].schemas[2]).toEqualTypeOf<typeof v2>();
    expectTypeOf(events.versions).not.toHaveProperty('refund.created');
  });

  it('publishes the newest version only, and pins only the versions a type has', async () => {
    const webhooks = createWebhooks({ events });
    await webhooks.publish('payment.succeeded', { id: 'pay_1', netMinor: 970, feeMinor: 30 });
    // @ts-expect-error publish takes the newest version's data, not an older one's
    await webhooks.publish('payment.succeeded', { paymentId: 'pay_1', amountMinor: 1000 });
    expectTypeOf<VersionPinsOf<Events>>().toEqualTypeOf<{ readonly 'payment.succeeded'?: 1 | 2 | 3 }>();
    await webhooks.subscriptions.create({ url: 'https://erp.example.com', eventTypes: ['payment.*'], versions: { 'payment.succeeded': 1 } });
    // @ts-expect-error no version 4
    await webhooks.subscriptions.create({ url: 'https://erp.example.com', eventTypes: ['payment.*'], versions: { 'payment.succeeded': 4 } });
    // @ts-expect-error refund.created has no versions
    await webhooks.subscriptions.update('sub_1', { versions: { 'refund.created': 1 } });
    await webhooks.subscriptions.update('sub_1', { versions: null });
  });
});

describe('createWebhookRouter over a catalog with versions', () => {
  it("gives a versioned type's handler a union discriminated by version, and the other types their data", () => {
    createWebhookRouter<Events>()
      .on('payment.succeeded', (event) => {
        expectTypeOf(event.version).toEqualTypeOf<1 | 2 | 3>();
        if (event.version === 1) expectTypeOf(event.data).toEqualTypeOf<{ paymentId: string; amountMinor: number }>();
        else if (event.version === 2) expectTypeOf(event.data.netMinor).toEqualTypeOf<number>();
        else {
          expectTypeOf(event.data).toEqualTypeOf<{ id: string; netMinor: number; feeMinor: number }>();
          // @ts-expect-error version 3 has no paymentId
          void event.data.paymentId;
        }
      })
      .on('refund.created', (event) => {
        expectTypeOf(event.data).toEqualTypeOf<{ refundId: string }>();
      });
    type Payment = WebhookEventOf<Events, 'payment.succeeded'>;
    expectTypeOf<Extract<Payment, { version: 1 }>['data']>().toEqualTypeOf<{ paymentId: string; amountMinor: number }>();
  });
});
