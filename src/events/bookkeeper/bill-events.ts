/**
 * Bills: what the book's owner owes its vendors. Every `bill.*` event carries the bill
 * as it is after the event; the update-like ones also carry `previousAttributes`, the
 * previous values of the fields the event changed.
 */
import { z } from 'zod';
import { moneyWithExponentSchema } from '../money/money-schemas.js';
import { appliedPaymentSchema, checkDocumentAmounts, documentBodyFields, documentHeadFields, documentNumber } from './document-shapes.js';
import { eventDefinition, id, isoDate, isoDateTime, metadata, objectStatusCheck, occurredAt } from './event-fields.js';

const billStatus = z.enum(['draft', 'awaiting_approval', 'approved', 'partially_paid', 'paid', 'void']);
type BillStatus = z.infer<typeof billStatus>;
/** The statuses an event may find its object in, as an enum of their own (typed as those only). */
const statusBefore = <const TStatuses extends readonly [BillStatus, ...BillStatus[]]>(...statuses: TStatuses) => z.enum(statuses);

/** A bill (a vendor's invoice) as the ledger holds it. */
export const billSchema = z
  .strictObject({
    id,
    number: documentNumber,
    status: billStatus,
    ...documentHeadFields,
    dueDate: isoDate,
    reference: z.string().max(255).nullable(),
    ...documentBodyFields,
    amountPaid: moneyWithExponentSchema,
    amountDue: moneyWithExponentSchema,
    approvedAt: isoDateTime.nullable(),
    approvedBy: id.nullable(),
    paidAt: isoDateTime.nullable(),
    voidedAt: isoDateTime.nullable(),
  })
  .check(checkDocumentAmounts(['subtotal', 'taxTotal', 'total', 'amountPaid', 'amountDue']))
  .meta({ id: 'Bill' });

const usd = (amount: number) => ({ amount, currency: 'USD', exponent: 2 });

// A US vendor's bill in a euro book: 250.00 USD, no VAT charged (reverse charge), booked at 0.9223 EUR per USD.
const billAwaitingApproval = {
  id: 'bill_311',
  number: 'CH-2026-11-0193',
  status: 'awaiting_approval',
  counterparty: { id: 'ven_17', name: 'CloudHost Inc.' },
  currency: 'USD',
  issueDate: '2026-11-30',
  dueDate: '2026-12-30',
  reference: null,
  lines: [
    {
      id: 'line_1',
      description: 'Hosting, November 2026',
      quantity: '1',
      unitPrice: usd(25_000),
      amount: usd(25_000),
      accountId: 'acc_6100',
      taxLines: [],
    },
  ],
  subtotal: usd(25_000),
  taxTotal: usd(0),
  total: usd(25_000),
  amountPaid: usd(0),
  amountDue: usd(25_000),
  fx: { rate: '0.9223', from: 'USD', to: 'EUR' },
  journalEntryId: null,
  approvedAt: null,
  approvedBy: null,
  paidAt: null,
  voidedAt: null,
} satisfies z.input<typeof billSchema>;

const approvedBill = {
  ...billAwaitingApproval,
  status: 'approved',
  journalEntryId: 'je_9010',
  approvedAt: '2026-12-01T11:20:00.000Z',
  approvedBy: 'usr_7',
} satisfies z.input<typeof billSchema>;

const partiallyPaidBill = {
  ...approvedBill,
  status: 'partially_paid',
  amountPaid: usd(10_000),
  amountDue: usd(15_000),
} satisfies z.input<typeof billSchema>;

/** The `bill.*` events, with their examples. */
export const billEvents = {
  'bill.created': eventDefinition(
    z.strictObject({ bill: billSchema, occurredAt, metadata }).check(objectStatusCheck('bill', ['draft', 'awaiting_approval'])),
    { bill: billAwaitingApproval, occurredAt: '2026-11-30T16:05:00.000Z' },
  ),
  'bill.approved': eventDefinition(
    z
      .strictObject({
        bill: billSchema,
        previousAttributes: z.strictObject({
          status: statusBefore('draft', 'awaiting_approval'),
          approvedAt: z.null(),
          approvedBy: z.null(),
          journalEntryId: z.null().optional(),
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('bill', ['approved'], ['approvedAt', 'approvedBy'])),
    {
      bill: approvedBill,
      previousAttributes: { status: 'awaiting_approval', approvedAt: null, approvedBy: null, journalEntryId: null },
      occurredAt: '2026-12-01T11:20:00.000Z',
    },
  ),
  'bill.partially_paid': eventDefinition(
    z
      .strictObject({
        bill: billSchema,
        payment: appliedPaymentSchema,
        previousAttributes: z.strictObject({
          status: statusBefore('approved').optional(),
          amountPaid: moneyWithExponentSchema,
          amountDue: moneyWithExponentSchema,
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('bill', ['partially_paid'])),
    {
      bill: partiallyPaidBill,
      payment: { id: 'pay_out_55', amount: usd(10_000), date: '2026-12-10' },
      previousAttributes: { status: 'approved', amountPaid: usd(0), amountDue: usd(25_000) },
      occurredAt: '2026-12-10T09:00:00.000Z',
    },
  ),
  'bill.paid': eventDefinition(
    z
      .strictObject({
        bill: billSchema,
        payment: appliedPaymentSchema,
        previousAttributes: z.strictObject({
          status: statusBefore('approved', 'partially_paid'),
          amountPaid: moneyWithExponentSchema,
          amountDue: moneyWithExponentSchema,
          paidAt: z.null(),
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('bill', ['paid'], ['paidAt'])),
    {
      bill: { ...partiallyPaidBill, status: 'paid', amountPaid: usd(25_000), amountDue: usd(0), paidAt: '2026-12-28T09:00:00.000Z' },
      payment: { id: 'pay_out_61', amount: usd(15_000), date: '2026-12-28' },
      previousAttributes: { status: 'partially_paid', amountPaid: usd(10_000), amountDue: usd(15_000), paidAt: null },
      occurredAt: '2026-12-28T09:00:00.000Z',
    },
  ),
  'bill.voided': eventDefinition(
    z
      .strictObject({
        bill: billSchema,
        reason: z.string().max(1000).nullable(),
        previousAttributes: z.strictObject({
          status: statusBefore('draft', 'awaiting_approval', 'approved', 'partially_paid'),
          amountDue: moneyWithExponentSchema.optional(),
          voidedAt: z.null(),
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('bill', ['void'], ['voidedAt'])),
    {
      bill: { ...billAwaitingApproval, status: 'void', amountDue: usd(0), voidedAt: '2026-12-01T08:30:00.000Z' },
      reason: 'Duplicate of bill_309',
      previousAttributes: { status: 'awaiting_approval', amountDue: usd(25_000), voidedAt: null },
      occurredAt: '2026-12-01T08:30:00.000Z',
    },
  ),
};
