/**
 * The payment-centred events: payments, refunds, account transactions and balances.
 * Their money is {@link moneySchema}: the exponent may be left out (it is the currency's,
 * `currencyExponent(currency)`), as these payloads were first published without it.
 */
import { z } from 'zod';
import { moneySchema } from '../money/money-schemas.js';
import { eventDefinition, id, metadata, occurredAt } from './event-fields.js';

const positiveMoney = moneySchema.refine((money) => money.amount > 0, { message: 'amount must be > 0 minor units' });

/** The payment, refund, transaction and balance events of the catalog, with their examples. */
export const paymentEvents = {
  'payment.succeeded': eventDefinition(
    z.strictObject({
      paymentId: id,
      customerId: id,
      invoiceId: id.nullable().optional(),
      amount: positiveMoney,
      method: z.enum(['card', 'bank_transfer', 'direct_debit', 'wallet', 'cash', 'other']),
      reference: z.string().max(255).optional(),
      occurredAt,
      metadata,
    }),
    {
      paymentId: 'pay_123',
      customerId: 'cus_42',
      invoiceId: 'inv_2026_0042',
      amount: { amount: 12_300, currency: 'EUR' },
      method: 'card',
      occurredAt: '2026-12-03T09:30:00.000Z',
    },
  ),
  'payment.failed': eventDefinition(
    z.strictObject({
      paymentId: id,
      customerId: id,
      invoiceId: id.nullable().optional(),
      amount: positiveMoney,
      failureCode: z.string().min(1).max(100),
      failureMessage: z.string().max(1000).optional(),
      occurredAt,
      metadata,
    }),
    {
      paymentId: 'pay_124',
      customerId: 'cus_42',
      invoiceId: null,
      amount: { amount: 4_999, currency: 'USD' },
      failureCode: 'card_declined',
      failureMessage: 'The card was declined by the issuer.',
      occurredAt: '2026-12-03T09:31:12+01:00',
    },
  ),
  'refund.initiated': eventDefinition(
    z.strictObject({
      refundId: id,
      paymentId: id,
      amount: positiveMoney,
      reason: z.enum(['duplicate', 'fraudulent', 'requested_by_customer', 'other']),
      occurredAt,
      metadata,
    }),
    {
      refundId: 'ref_7',
      paymentId: 'pay_123',
      amount: { amount: 4_500, currency: 'EUR' },
      reason: 'requested_by_customer',
      occurredAt: '2026-12-03T10:00:00.000Z',
      metadata: { ticket: 'SUP-981' },
    },
  ),
  'refund.succeeded': eventDefinition(z.strictObject({ refundId: id, paymentId: id, amount: positiveMoney, occurredAt, metadata }), {
    refundId: 'ref_7',
    paymentId: 'pay_123',
    amount: { amount: 4_500, currency: 'EUR' },
    occurredAt: '2026-12-04T08:15:00.000Z',
  }),
  'refund.failed': eventDefinition(
    z.strictObject({
      refundId: id,
      paymentId: id,
      amount: positiveMoney,
      failureCode: z.string().min(1).max(100),
      occurredAt,
      metadata,
    }),
    {
      refundId: 'ref_8',
      paymentId: 'pay_99',
      amount: { amount: 1_000, currency: 'GBP' },
      failureCode: 'account_closed',
      occurredAt: '2026-12-04T08:16:00.000Z',
    },
  ),
  'transaction.created': eventDefinition(
    z.strictObject({
      transactionId: id,
      accountId: id,
      direction: z.enum(['credit', 'debit']),
      amount: positiveMoney,
      description: z.string().max(1000).optional(),
      counterparty: z.string().max(255).optional(),
      occurredAt,
      metadata,
    }),
    {
      transactionId: 'txn_5012',
      accountId: 'acc_main',
      direction: 'debit',
      amount: { amount: 89_000, currency: 'EUR' },
      description: 'Rent December',
      counterparty: 'Office Lettings Ltd',
      occurredAt: '2026-12-01T07:00:00.000Z',
    },
  ),
  'balance.depleted': eventDefinition(
    z
      .strictObject({ accountId: id, balance: moneySchema, threshold: moneySchema, occurredAt, metadata })
      .refine((event) => event.balance.currency === event.threshold.currency, {
        message: 'balance and threshold must be in the same currency',
        path: ['threshold', 'currency'],
      }),
    {
      accountId: 'acc_main',
      balance: { amount: 1_250, currency: 'EUR', exponent: 2 },
      threshold: { amount: 5_000, currency: 'EUR', exponent: 2 },
      occurredAt: '2026-12-01T07:00:01.000Z',
    },
  ),
};
