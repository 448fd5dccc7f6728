// Type tests of the typed handlers: event.data comes from the catalog's zod schemas
// (their output), by the compiler alone. Run by `vitest --typecheck` and by `tsc`.
import { describe, expectTypeOf, it } from 'vitest';
import type { BookkeeperEvents } from '../../src/index.js';
import {
  createNodeHandler,
  createWebhookRouter,
  type EventMapOf,
  type EventTypesOf,
  type WebhookEvent,
  type WebhookEventOf,
  type WebhookRouter,
} from '../../src/receiver/index.js';

// The exponent is optional on the payment-centred events, which were first published without it.
type Money = { amount: number; currency: string; exponent?: number | undefined };

describe('createWebhookRouter<BookkeeperEvents>', () => {
  it('types event.data of each handler from the zod schema of its type', () => {
    createWebhookRouter<BookkeeperEvents>()
      .on('payment.succeeded', (event) => {
        expectTypeOf(event.type).toEqualTypeOf<'payment.succeeded'>();
        expectTypeOf(event.id).toEqualTypeOf<string>();
        expectTypeOf(event.data.amount).toEqualTypeOf<Money>();
        expectTypeOf(event.data.paymentId).toEqualTypeOf<string>();
        expectTypeOf(event.data.method).toEqualTypeOf<'card' | 'bank_transfer' | 'direct_debit' | 'wallet' | 'cash' | 'other'>();
        expectTypeOf(event.data.invoiceId).toEqualTypeOf<string | null | undefined>();
        expectTypeOf(event.data).not.toHaveProperty('refundId');
      })
      .on('refund.initiated', (event) => {
        expectTypeOf(event.data.reason).toEqualTypeOf<'duplicate' | 'fraudulent' | 'requested_by_customer' | 'other'>();
        expectTypeOf(event.data).not.toHaveProperty('method');
      })
      .on('balance.depleted', (event) => {
        expectTypeOf(event.data.balance).toEqualTypeOf<Money>();
        expectTypeOf(event.data.threshold).toEqualTypeOf<Money>();
      });
  });

  it('refuses an event type that is not in the catalog, and a handler reading the wrong data', () => {
    const router = createWebhookRouter<BookkeeperEvents>();
    // @ts-expect-error a typo is a compile error, not a handler that never runs
    router.on('payment.succeded', () => undefined);
    router.on('payment.failed', (event) => {
      // @ts-expect-error payment.failed has no `method`
      void event.data.method;
      expectTypeOf(event.data.failureCode).toEqualTypeOf<string>();
    });
  });

  it('gives validate the catalog types, and handle any verified event', () => {
    createWebhookRouter<BookkeeperEvents>({
      validate: (type, data) => {
        expectTypeOf(type).toEqualTypeOf<EventTypesOf<BookkeeperEvents>>();
        expectTypeOf(data).toBeUnknown();
        return data;
      },
      onUnknown: (event) => expectTypeOf(event).toEqualTypeOf<WebhookEvent>(),
    });
    expectTypeOf<WebhookRouter<BookkeeperEvents>['handle']>().parameter(0).toEqualTypeOf<WebhookEvent>();
    expectTypeOf<WebhookRouter<BookkeeperEvents>['handle']>().returns.toEqualTypeOf<Promise<void>>();
  });

  it('plugs into an adapter as onEvent: router.handle', () => {
    const router = createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', () => undefined);
    createNodeHandler({ secrets: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', onEvent: router.handle });
  });
});

describe('event maps and event unions', () => {
  it('lists the catalog event types', () => {
    expectTypeOf<EventTypesOf<BookkeeperEvents>>().toEqualTypeOf<
      | 'payment.succeeded'
      | 'payment.failed'
      | 'refund.initiated'
      | 'refund.succeeded'
      | 'refund.failed'
      | 'transaction.created'
      | 'balance.depleted'
      | 'invoice.created'
      | 'invoice.sent'
      | 'invoice.partially_paid'
      | 'invoice.paid'
      | 'invoice.overdue'
      | 'invoice.voided'
      | 'bill.created'
      | 'bill.approved'
      | 'bill.partially_paid'
      | 'bill.paid'
      | 'bill.voided'
      | 'credit_note.created'
      | 'credit_note.applied'
      | 'credit_note.voided'
      | 'journal_entry.posted'
      | 'journal_entry.reversed'
      | 'payout.created'
      | 'payout.paid'
      | 'payout.failed'
      | 'bank_transaction.imported'
      | 'bank_transaction.matched'
      | 'reconciliation.completed'
    >();
    expectTypeOf<EventMapOf<BookkeeperEvents>['refund.succeeded']['amount']>().toEqualTypeOf<Money>();
  });

  it('narrows WebhookEventOf by type in a switch', () => {
    createNodeHandler<WebhookEventOf<BookkeeperEvents>>({
      secrets: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      onEvent: (event) => {
        switch (event.type) {
          case 'payment.succeeded':
            expectTypeOf(event.data.method).toBeString();
            break;
          case 'transaction.created':
            expectTypeOf(event.data.direction).toEqualTypeOf<'credit' | 'debit'>();
            break;
          default:
            expectTypeOf(event.data).toHaveProperty('occurredAt');
        }
      },
    });
  });

  it('accepts a plain map of event types for apps without a catalog', () => {
    type OrderEvents = { 'order.created': { orderId: string; totalMinor: number } };
    createWebhookRouter<OrderEvents>().on('order.created', (event) => {
      expectTypeOf(event.data).toEqualTypeOf<{ orderId: string; totalMinor: number }>();
    });
    expectTypeOf<WebhookEventOf<OrderEvents>>().toEqualTypeOf<WebhookEvent<'order.created', { orderId: string; totalMinor: number }>>();
  });
});
