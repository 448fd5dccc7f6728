/**
 * Payouts: money the payment provider sends from the book owner's balance to its bank
 * account. Every `payout.*` event carries the payout as it is after the event; `paid` and
 * `failed` also carry `previousAttributes`, the previous values of the fields they changed.
 */
import { z } from 'zod';
import { moneyWithExponentSchema, positiveMoneyWithExponentSchema } from '../money/money-schemas.js';
import { eventDefinition, id, isoDate, isoDateTime, metadata, objectStatusCheck, occurredAt } from './event-fields.js';

const payoutStatus = z.enum(['pending', 'in_transit', 'paid', 'failed']);

/** A payout as the ledger holds it. */
export const payoutSchema = z
  .strictObject({
    id,
    status: payoutStatus,
    amount: positiveMoneyWithExponentSchema,
    fee: moneyWithExponentSchema,
    destination: z.strictObject({ bankAccountId: id, last4: z.string().regex(/^\d{4}$/).nullable() }),
    arrivalDate: isoDate,
    reference: z.string().max(255).nullable(),
    journalEntryId: id.nullable(),
    failureCode: z.string().min(1).max(100).nullable(),
    failureMessage: z.string().max(1000).nullable(),
    paidAt: isoDateTime.nullable(),
    failedAt: isoDateTime.nullable(),
  })
  .refine((payout) => payout.fee.currency === payout.amount.currency, { message: 'the payout’s currency', path: ['fee', 'currency'] })
  .refine((payout) => payout.fee.amount >= 0, { message: 'an amount ≥ 0 minor units', path: ['fee', 'amount'] })
  .meta({ id: 'Payout' });

const pendingPayout = {
  id: 'po_301',
  status: 'in_transit',
  amount: { amount: 482_150, currency: 'EUR', exponent: 2 },
  fee: { amount: 350, currency: 'EUR', exponent: 2 },
  destination: { bankAccountId: 'ba_main', last4: '4321' },
  arrivalDate: '2026-12-04',
  reference: 'BOOKKEEPER PAYOUT PO301',
  journalEntryId: 'je_9020',
  failureCode: null,
  failureMessage: null,
  paidAt: null,
  failedAt: null,
} satisfies z.input<typeof payoutSchema>;

// Yen have no minor unit: 1 250 000 JPY is { amount: 1250000, exponent: 0 }.
const yenPayout = {
  ...pendingPayout,
  id: 'po_302',
  status: 'pending',
  amount: { amount: 1_250_000, currency: 'JPY', exponent: 0 },
  fee: { amount: 0, currency: 'JPY', exponent: 0 },
  destination: { bankAccountId: 'ba_tokyo', last4: '0917' },
  arrivalDate: '2026-12-07',
  reference: 'BOOKKEEPER PAYOUT PO302',
  journalEntryId: null,
} satisfies z.input<typeof payoutSchema>;

/** The `payout.*` events, with their examples. */
export const payoutEvents = {
  'payout.created': eventDefinition(
    z.strictObject({ payout: payoutSchema, occurredAt, metadata }).check(objectStatusCheck('payout', ['pending', 'in_transit'])),
    { payout: pendingPayout, occurredAt: '2026-12-02T06:00:00.000Z' },
  ),
  'payout.paid': eventDefinition(
    z
      .strictObject({
        payout: payoutSchema,
        previousAttributes: z.strictObject({ status: z.enum(['pending', 'in_transit']), paidAt: z.null() }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('payout', ['paid'], ['paidAt'])),
    {
      payout: { ...pendingPayout, status: 'paid', paidAt: '2026-12-04T07:12:00.000Z' },
      previousAttributes: { status: 'in_transit', paidAt: null },
      occurredAt: '2026-12-04T07:12:00.000Z',
    },
  ),
  'payout.failed': eventDefinition(
    z
      .strictObject({
        payout: payoutSchema,
        previousAttributes: z.strictObject({
          status: z.enum(['pending', 'in_transit']),
          failureCode: z.null(),
          failureMessage: z.null(),
          failedAt: z.null(),
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('payout', ['failed'], ['failureCode', 'failedAt'])),
    {
      payout: {
        ...yenPayout,
        status: 'failed',
        failureCode: 'account_closed',
        failureMessage: 'The destination bank account is closed.',
        failedAt: '2026-12-07T01:30:00.000Z',
      },
      previousAttributes: { status: 'pending', failureCode: null, failureMessage: null, failedAt: null },
      occurredAt: '2026-12-07T01:30:00.000Z',
    },
  ),
};
