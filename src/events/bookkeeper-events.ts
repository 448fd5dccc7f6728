/**
 * Bookkeeper's financial events: the ready catalog. Money is integer minor units plus
 * an ISO 4217 currency code — never a float (DESIGN §4): 12.30 EUR is
 * `{ amount: 1230, currency: 'EUR' }`.
 */
import { z } from 'zod';
import { defineEvents } from './catalog.js';

const id = z.string().min(1).max(255);

/** An amount of money in integer minor units (cents) of an ISO 4217 currency. */
export const moneySchema = z
  .object({
    amount: z.int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
    currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as "EUR"'),
  })
  .strict();

const positiveMoney = moneySchema.refine((money) => money.amount > 0, { message: 'amount must be > 0 minor units' });
const occurredAt = z.iso.datetime({ offset: true });
const metadata = z.record(z.string(), z.string().max(500)).optional();

/** The catalog of Bookkeeper's financial events. */
export const bookkeeperEvents = defineEvents({
  'payment.succeeded': z
    .object({
      paymentId: id,
      customerId: id,
      invoiceId: id.nullable().optional(),
      amount: positiveMoney,
      method: z.enum(['card', 'bank_transfer', 'direct_debit', 'wallet', 'cash', 'other']),
      reference: z.string().max(255).optional(),
      occurredAt,
      metadata,
    })
    .strict(),
  'payment.failed': z
    .object({
      paymentId: id,
      customerId: id,
      invoiceId: id.nullable().optional(),
      amount: positiveMoney,
      failureCode: z.string().min(1).max(100),
      failureMessage: z.string().max(1000).optional(),
      occurredAt,
      metadata,
    })
    .strict(),
  'refund.initiated': z
    .object({
      refundId: id,
      paymentId: id,
      amount: positiveMoney,
      reason: z.enum(['duplicate', 'fraudulent', 'requested_by_customer', 'other']),
      occurredAt,
      metadata,
    })
    .strict(),
  'refund.succeeded': z
    .object({ refundId: id, paymentId: id, amount: positiveMoney, occurredAt, metadata })
    .strict(),
  'refund.failed': z
    .object({
      refundId: id,
      paymentId: id,
      amount: positiveMoney,
      failureCode: z.string().min(1).max(100),
      occurredAt,
      metadata,
    })
    .strict(),
  'transaction.created': z
    .object({
      transactionId: id,
      accountId: id,
      direction: z.enum(['credit', 'debit']),
      amount: positiveMoney,
      description: z.string().max(1000).optional(),
      counterparty: z.string().max(255).optional(),
      occurredAt,
      metadata,
    })
    .strict(),
  'balance.depleted': z
    .object({
      accountId: id,
      balance: moneySchema,
      threshold: moneySchema,
      occurredAt,
      metadata,
    })
    .strict()
    .refine((event) => event.balance.currency === event.threshold.currency, {
      message: 'balance and threshold must be in the same currency',
      path: ['threshold', 'currency'],
    }),
});

/** The type of {@link bookkeeperEvents}. */
export type BookkeeperEvents = typeof bookkeeperEvents;
