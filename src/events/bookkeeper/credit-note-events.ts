/**
 * Credit notes: what the book's owner owes a customer back, usually against an invoice.
 * Every `credit_note.*` event carries the credit note as it is after the event; the
 * update-like ones also carry `previousAttributes`, the previous values of the fields the
 * event changed.
 */
import { z } from 'zod';
import { moneyWithExponentSchema, positiveMoneyWithExponentSchema } from '../money/money-schemas.js';
import { checkDocumentAmounts, documentBodyFields, documentHeadFields, documentNumber } from './document-shapes.js';
import { eventDefinition, id, isoDate, isoDateTime, metadata, objectStatusCheck, occurredAt } from './event-fields.js';

const creditNoteStatus = z.enum(['open', 'partially_applied', 'applied', 'void']);
type CreditNoteStatus = z.infer<typeof creditNoteStatus>;
/** The statuses an event may find its object in, as an enum of their own (typed as those only). */
const statusBefore = <const TStatuses extends readonly [CreditNoteStatus, ...CreditNoteStatus[]]>(...statuses: TStatuses) => z.enum(statuses);

/** A credit note as the ledger holds it. */
export const creditNoteSchema = z
  .strictObject({
    id,
    number: documentNumber,
    status: creditNoteStatus,
    ...documentHeadFields,
    invoiceId: id.nullable(),
    reason: z.string().max(1000).nullable(),
    ...documentBodyFields,
    amountApplied: moneyWithExponentSchema,
    amountRemaining: moneyWithExponentSchema,
    voidedAt: isoDateTime.nullable(),
  })
  .check(checkDocumentAmounts(['subtotal', 'taxTotal', 'total', 'amountApplied', 'amountRemaining']))
  .meta({ id: 'CreditNote' });

/** Where (part of) a credit note went: the invoice it was set against, how much, on what date. */
const creditApplicationSchema = z
  .strictObject({ invoiceId: id, amount: positiveMoneyWithExponentSchema, date: isoDate })
  .meta({ id: 'CreditApplication' });

const eur = (amount: number) => ({ amount, currency: 'EUR', exponent: 2 });

// One seat of INV-2026-0042 credited back: 6.09 EUR net, 19 % VAT, 7.25 EUR in all.
const openCreditNote = {
  id: 'cn_2026_0007',
  number: 'CN-2026-0007',
  status: 'open',
  counterparty: { id: 'cus_42', name: 'Acme GmbH' },
  currency: 'EUR',
  issueDate: '2026-11-25',
  invoiceId: 'inv_2026_0042',
  reason: 'One seat was never activated',
  lines: [
    {
      id: 'line_1',
      description: 'Extra user seat, not activated',
      quantity: '1',
      unitPrice: eur(609),
      amount: eur(609),
      accountId: 'acc_4000',
      taxLines: [{ name: 'VAT', rate: '19', amount: eur(116) }],
    },
  ],
  subtotal: eur(609),
  taxTotal: eur(116),
  total: eur(725),
  amountApplied: eur(0),
  amountRemaining: eur(725),
  fx: null,
  journalEntryId: 'je_9004',
  voidedAt: null,
} satisfies z.input<typeof creditNoteSchema>;

/** The `credit_note.*` events, with their examples. */
export const creditNoteEvents = {
  'credit_note.created': eventDefinition(
    z.strictObject({ creditNote: creditNoteSchema, occurredAt, metadata }).check(objectStatusCheck('creditNote', ['open'])),
    { creditNote: openCreditNote, occurredAt: '2026-11-25T13:40:00.000Z' },
  ),
  'credit_note.applied': eventDefinition(
    z
      .strictObject({
        creditNote: creditNoteSchema,
        application: creditApplicationSchema,
        previousAttributes: z.strictObject({
          status: statusBefore('open', 'partially_applied').optional(),
          amountApplied: moneyWithExponentSchema,
          amountRemaining: moneyWithExponentSchema,
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('creditNote', ['partially_applied', 'applied'])),
    {
      creditNote: { ...openCreditNote, status: 'applied', amountApplied: eur(725), amountRemaining: eur(0) },
      application: { invoiceId: 'inv_2026_0042', amount: eur(725), date: '2026-11-25' },
      previousAttributes: { status: 'open', amountApplied: eur(0), amountRemaining: eur(725) },
      occurredAt: '2026-11-25T13:41:00.000Z',
    },
  ),
  'credit_note.voided': eventDefinition(
    z
      .strictObject({
        creditNote: creditNoteSchema,
        previousAttributes: z.strictObject({
          status: statusBefore('open', 'partially_applied'),
          amountRemaining: moneyWithExponentSchema.optional(),
          voidedAt: z.null(),
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('creditNote', ['void'], ['voidedAt'])),
    {
      creditNote: { ...openCreditNote, status: 'void', amountRemaining: eur(0), voidedAt: '2026-11-26T09:00:00.000Z' },
      previousAttributes: { status: 'open', amountRemaining: eur(725), voidedAt: null },
      occurredAt: '2026-11-26T09:00:00.000Z',
    },
  ),
};
