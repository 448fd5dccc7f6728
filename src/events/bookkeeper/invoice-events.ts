/**
 * Invoices: what the book's owner bills its customers. Every `invoice.*` event carries the
 * invoice as it is after the event; the update-like ones also carry `previousAttributes`,
 * the previous values of the fields the event changed (and only those), as Stripe's
 * `previous_attributes` does.
 */
import { z } from 'zod';
import { moneyWithExponentSchema } from '../money/money-schemas.js';
import { appliedPaymentSchema, checkDocumentAmounts, documentBodyFields, documentHeadFields, documentNumber } from './document-shapes.js';
import { eventDefinition, id, isoDate, isoDateTime, metadata, objectStatusCheck, occurredAt } from './event-fields.js';

const invoiceStatus = z.enum(['draft', 'open', 'partially_paid', 'paid', 'void']);
type InvoiceStatus = z.infer<typeof invoiceStatus>;
/** The statuses an event may find its object in, as an enum of their own (typed as those only). */
const statusBefore = <const TStatuses extends readonly [InvoiceStatus, ...InvoiceStatus[]]>(...statuses: TStatuses) => z.enum(statuses);

/** An invoice as the ledger holds it. */
export const invoiceSchema = z
  .strictObject({
    id,
    number: documentNumber,
    status: invoiceStatus,
    ...documentHeadFields,
    dueDate: isoDate,
    reference: z.string().max(255).nullable(),
    ...documentBodyFields,
    amountPaid: moneyWithExponentSchema,
    amountDue: moneyWithExponentSchema,
    overdue: z.boolean(),
    sentAt: isoDateTime.nullable(),
    paidAt: isoDateTime.nullable(),
    voidedAt: isoDateTime.nullable(),
  })
  .check(checkDocumentAmounts(['subtotal', 'taxTotal', 'total', 'amountPaid', 'amountDue']))
  .meta({ id: 'Invoice' });

const eur = (amount: number) => ({ amount, currency: 'EUR', exponent: 2 });

// One invoice through its life: 103.36 EUR net and 19 % VAT, 123.00 EUR in all.
const draftInvoice = {
  id: 'inv_2026_0042',
  number: 'INV-2026-0042',
  status: 'draft',
  counterparty: { id: 'cus_42', name: 'Acme GmbH' },
  currency: 'EUR',
  issueDate: '2026-11-20',
  dueDate: '2026-12-04',
  reference: 'PO-7781',
  lines: [
    {
      id: 'line_1',
      description: 'Bookkeeping plan, December 2026',
      quantity: '1',
      unitPrice: eur(7_900),
      amount: eur(7_900),
      accountId: 'acc_4000',
      taxLines: [{ name: 'VAT', rate: '19', amount: eur(1_501) }],
    },
    {
      id: 'line_2',
      description: 'Extra user seats',
      quantity: '4',
      unitPrice: eur(609),
      amount: eur(2_436),
      accountId: 'acc_4000',
      taxLines: [{ name: 'VAT', rate: '19', amount: eur(463) }],
    },
  ],
  subtotal: eur(10_336),
  taxTotal: eur(1_964),
  total: eur(12_300),
  amountPaid: eur(0),
  amountDue: eur(12_300),
  overdue: false,
  fx: null,
  journalEntryId: null,
  sentAt: null,
  paidAt: null,
  voidedAt: null,
} satisfies z.input<typeof invoiceSchema>;

const openInvoice = {
  ...draftInvoice,
  status: 'open',
  journalEntryId: 'je_9001',
  sentAt: '2026-11-20T10:00:00.000Z',
} satisfies z.input<typeof invoiceSchema>;

const partiallyPaidInvoice = {
  ...openInvoice,
  status: 'partially_paid',
  amountPaid: eur(3_000),
  amountDue: eur(9_300),
} satisfies z.input<typeof invoiceSchema>;


/** The `invoice.*` events, with their examples. */
export const invoiceEvents = {
  'invoice.created': eventDefinition(
    z.strictObject({ invoice: invoiceSchema, occurredAt, metadata }).check(objectStatusCheck('invoice', ['draft', 'open'])),
    { invoice: draftInvoice, occurredAt: '2026-11-20T09:12:00.000Z' },
  ),
  'invoice.sent': eventDefinition(
    z
      .strictObject({
        invoice: invoiceSchema,
        previousAttributes: z.strictObject({
          status: statusBefore('draft').optional(),
          sentAt: isoDateTime.nullable(),
          journalEntryId: z.null().optional(),
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('invoice', ['open', 'partially_paid', 'paid'], ['sentAt'])),
    {
      invoice: openInvoice,
      previousAttributes: { status: 'draft', sentAt: null, journalEntryId: null },
      occurredAt: '2026-11-20T10:00:00.000Z',
    },
  ),
  'invoice.partially_paid': eventDefinition(
    z
      .strictObject({
        invoice: invoiceSchema,
        payment: appliedPaymentSchema,
        previousAttributes: z.strictObject({
          status: statusBefore('open').optional(),
          amountPaid: moneyWithExponentSchema,
          amountDue: moneyWithExponentSchema,
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('invoice', ['partially_paid'])),
    {
      invoice: partiallyPaidInvoice,
      payment: { id: 'pay_118', amount: eur(3_000), date: '2026-11-28' },
      previousAttributes: { status: 'open', amountPaid: eur(0), amountDue: eur(12_300) },
      occurredAt: '2026-11-28T14:02:00.000Z',
    },
  ),
  'invoice.paid': eventDefinition(
    z
      .strictObject({
        invoice: invoiceSchema,
        payment: appliedPaymentSchema,
        previousAttributes: z.strictObject({
          status: statusBefore('open', 'partially_paid'),
          amountPaid: moneyWithExponentSchema,
          amountDue: moneyWithExponentSchema,
          paidAt: z.null(),
          overdue: z.literal(true).optional(),
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('invoice', ['paid'], ['paidAt'])),
    {
      invoice: { ...partiallyPaidInvoice, status: 'paid', amountPaid: eur(12_300), amountDue: eur(0), paidAt: '2026-12-03T09:30:00.000Z' },
      payment: { id: 'pay_125', amount: eur(9_300), date: '2026-12-03' },
      previousAttributes: { status: 'partially_paid', amountPaid: eur(3_000), amountDue: eur(9_300), paidAt: null },
      occurredAt: '2026-12-03T09:30:00.000Z',
    },
  ),
  'invoice.overdue': eventDefinition(
    z
      .strictObject({
        invoice: invoiceSchema,
        previousAttributes: z.strictObject({ overdue: z.literal(false) }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('invoice', ['open', 'partially_paid']))
      .refine((event) => event.invoice.overdue, { message: 'true in this event', path: ['invoice', 'overdue'] }),
    {
      invoice: { ...partiallyPaidInvoice, overdue: true },
      previousAttributes: { overdue: false },
      occurredAt: '2026-12-05T00:00:00.000Z',
    },
  ),
  'invoice.voided': eventDefinition(
    z
      .strictObject({
        invoice: invoiceSchema,
        reason: z.string().max(1000).nullable(),
        previousAttributes: z.strictObject({
          status: statusBefore('draft', 'open', 'partially_paid'),
          amountDue: moneyWithExponentSchema.optional(),
          overdue: z.literal(true).optional(),
          voidedAt: z.null(),
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('invoice', ['void'], ['voidedAt'])),
    {
      invoice: { ...openInvoice, status: 'void', amountDue: eur(0), voidedAt: '2026-11-21T08:45:00.000Z' },
      reason: 'Issued to the wrong customer entity',
      previousAttributes: { status: 'open', amountDue: eur(12_300), voidedAt: null },
      occurredAt: '2026-11-21T08:45:00.000Z',
    },
  ),
};
