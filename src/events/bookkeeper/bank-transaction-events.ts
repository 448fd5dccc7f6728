/**
 * Bank transactions: the lines of a bank statement, imported into the ledger and then
 * matched to what they settle. `bank_transaction.matched` carries `previousAttributes`,
 * the previous values of the fields the match changed.
 */
import { z } from 'zod';
import { positiveMoneyWithExponentSchema } from '../money/money-schemas.js';
import { counterpartySchema } from './document-shapes.js';
import { eventDefinition, id, isoDate, metadata, objectStatusCheck, occurredAt } from './event-fields.js';

/** What (part of) a bank transaction was matched to: an object of the ledger and the amount it covers. */
const bankTransactionMatchSchema = z
  .strictObject({
    type: z.enum(['invoice', 'bill', 'credit_note', 'payment', 'refund', 'payout', 'journal_entry']),
    id,
    amount: positiveMoneyWithExponentSchema,
  })
  .meta({ id: 'BankTransactionMatch' });

/** A bank transaction as the ledger holds it. */
export const bankTransactionSchema = z
  .strictObject({
    id,
    bankAccountId: id,
    status: z.enum(['unmatched', 'matched']),
    bookingDate: isoDate,
    valueDate: isoDate.nullable(),
    direction: z.enum(['credit', 'debit']),
    amount: positiveMoneyWithExponentSchema,
    description: z.string().max(1000),
    reference: z.string().max(255).nullable(),
    counterparty: counterpartySchema.nullable(),
    matches: z.array(bankTransactionMatchSchema).max(100),
  })
  .meta({ id: 'BankTransaction' });

const unmatchedTransaction = {
  id: 'btx_7781',
  bankAccountId: 'ba_main',
  status: 'unmatched',
  bookingDate: '2026-12-03',
  valueDate: '2026-12-03',
  direction: 'credit',
  amount: { amount: 9_300, currency: 'EUR', exponent: 2 },
  description: 'SEPA CREDIT TRANSFER ACME GMBH INV-2026-0042',
  reference: 'INV-2026-0042',
  counterparty: null,
  matches: [],
} satisfies z.input<typeof bankTransactionSchema>;

/** The `bank_transaction.*` events, with their examples. */
export const bankTransactionEvents = {
  'bank_transaction.imported': eventDefinition(
    z
      .strictObject({ bankTransaction: bankTransactionSchema, importId: id, occurredAt, metadata })
      .check(objectStatusCheck('bankTransaction', ['unmatched'])),
    { bankTransaction: unmatchedTransaction, importId: 'imp_2026_12_03', occurredAt: '2026-12-03T18:00:00.000Z' },
  ),
  'bank_transaction.matched': eventDefinition(
    z
      .strictObject({
        bankTransaction: bankTransactionSchema,
        previousAttributes: z.strictObject({
          status: z.literal('unmatched').optional(),
          matches: z.array(bankTransactionMatchSchema),
          counterparty: counterpartySchema.nullable().optional(),
        }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('bankTransaction', ['matched']))
      .refine((event) => event.bankTransaction.matches.length > 0, { message: 'at least one match', path: ['bankTransaction', 'matches'] }),
    {
      bankTransaction: {
        ...unmatchedTransaction,
        status: 'matched',
        counterparty: { id: 'cus_42', name: 'Acme GmbH' },
        matches: [{ type: 'invoice', id: 'inv_2026_0042', amount: { amount: 9_300, currency: 'EUR', exponent: 2 } }],
      },
      previousAttributes: { status: 'unmatched', matches: [], counterparty: null },
      occurredAt: '2026-12-03T18:04:00.000Z',
    },
  ),
};
