/**
 * Journal entries: the double-entry bookings behind every document and payment, and the
 * manual ones. An entry's debits equal its credits in each currency, or it is refused.
 */
import { z } from 'zod';
import { positiveMoneyWithExponentSchema } from '../money/money-schemas.js';
import { counterpartySchema } from './document-shapes.js';
import { eventDefinition, id, isoDate, isoDateTime, metadata, objectStatusCheck, occurredAt } from './event-fields.js';

/** One line of a journal entry: an amount debited or credited to an account. */
const journalLineSchema = z
  .strictObject({
    id,
    accountId: id,
    accountCode: z.string().min(1).max(50).nullable(),
    direction: z.enum(['debit', 'credit']),
    amount: positiveMoneyWithExponentSchema,
    description: z.string().max(1000).nullable(),
    counterparty: counterpartySchema.nullable(),
  })
  .meta({ id: 'JournalLine' });

/** A journal entry as the ledger holds it. */
export const journalEntrySchema = z
  .strictObject({
    id,
    number: z.string().min(1).max(100).nullable(),
    status: z.enum(['posted', 'reversed']),
    postingDate: isoDate,
    description: z.string().max(1000),
    source: z.strictObject({
      type: z.enum(['invoice', 'bill', 'credit_note', 'payment', 'refund', 'payout', 'bank_transaction', 'manual']),
      id: id.nullable(),
    }),
    lines: z.array(journalLineSchema).min(2).max(1000),
    reverses: id.nullable(),
    reversedBy: id.nullable(),
    postedAt: isoDateTime,
  })
  .check((ctx) => {
    // Balanced per currency: debits and credits in different currencies never offset. In
    // BigInt, as a thousand lines of safe integers can sum beyond the safe integers.
    const balance = new Map<string, bigint>();
    for (const line of ctx.value.lines) {
      const signed = BigInt(line.direction === 'debit' ? line.amount.amount : -line.amount.amount);
      balance.set(line.amount.currency, (balance.get(line.amount.currency) ?? 0n) + signed);
    }
    for (const [currency, difference] of balance) {
      if (difference === 0n) continue;
      ctx.issues.push({
        code: 'custom',
        message: `balanced in each currency (debits − credits in ${currency}: ${difference} minor units)`,
        input: ctx.value.lines,
        path: ['lines'],
      });
    }
  })
  .meta({ id: 'JournalEntry' });

const eur = (amount: number) => ({ amount, currency: 'EUR', exponent: 2 });

// The booking of INV-2026-0042: receivable against revenue and VAT payable.
const postedEntry = {
  id: 'je_9001',
  number: 'JE-2026-9001',
  status: 'posted',
  postingDate: '2026-11-20',
  description: 'Invoice INV-2026-0042, Acme GmbH',
  source: { type: 'invoice', id: 'inv_2026_0042' },
  lines: [
    {
      id: 'jl_1',
      accountId: 'acc_1200',
      accountCode: '1200',
      direction: 'debit',
      amount: eur(12_300),
      description: 'Accounts receivable',
      counterparty: { id: 'cus_42', name: 'Acme GmbH' },
    },
    { id: 'jl_2', accountId: 'acc_4000', accountCode: '4000', direction: 'credit', amount: eur(10_336), description: 'Revenue', counterparty: null },
    { id: 'jl_3', accountId: 'acc_1776', accountCode: '1776', direction: 'credit', amount: eur(1_964), description: 'VAT 19 %', counterparty: null },
  ],
  reverses: null,
  reversedBy: null,
  postedAt: '2026-11-20T10:00:00.000Z',
} satisfies z.input<typeof journalEntrySchema>;

/** The `journal_entry.*` events, with their examples. */
export const journalEntryEvents = {
  'journal_entry.posted': eventDefinition(
    z.strictObject({ journalEntry: journalEntrySchema, occurredAt, metadata }).check(objectStatusCheck('journalEntry', ['posted'])),
    { journalEntry: postedEntry, occurredAt: '2026-11-20T10:00:00.000Z' },
  ),
  'journal_entry.reversed': eventDefinition(
    z
      .strictObject({
        journalEntry: journalEntrySchema,
        previousAttributes: z.strictObject({ status: z.literal('posted'), reversedBy: z.null() }),
        occurredAt,
        metadata,
      })
      .check(objectStatusCheck('journalEntry', ['reversed'], ['reversedBy'])),
    {
      journalEntry: { ...postedEntry, status: 'reversed', reversedBy: 'je_9003' },
      previousAttributes: { status: 'posted', reversedBy: null },
      occurredAt: '2026-11-21T08:45:00.000Z',
    },
  ),
};
