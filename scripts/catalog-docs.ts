/**
 * What the README's catalog reference says about `bookkeeperEvents` beyond what its
 * schemas say: a title and an introduction per group of types (`invoice.*`), when each
 * type is sent and what each of its fields means, and the same for the shapes the types
 * share (`Money`, `Invoice`, …). The examples come from the catalog itself
 * (`bookkeeperEvents.examples`).
 *
 * scripts/readme.ts refuses a type, group, shape or field without an entry here, and an
 * entry for none; test/unit/readme.test.ts parses every example with its type's schema.
 */

/** The docs of one event type or shape. */
export interface FieldDocs {
  /** One or two sentences: when the event is published, or what the shape is. */
  summary: string;
  /**
   * A description for every field path of the schema (`previousAttributes.status` for
   * nested ones, `lines[].amount` inside arrays); a field that is a shape is described
   * here once and its own fields in the shape's docs. A shape that is not an object has none.
   */
  fields?: Record<string, string>;
}

/** The docs of a group of types: those whose names share the first segment (`invoice`). */
export interface GroupDocs {
  /** The heading (`Invoices`). */
  title: string;
  /** What the group's events are about, in a paragraph. */
  intro: string;
  /** The shape every event of the group carries (`Invoice`), shown in the group instead of under Shapes. */
  shape?: string;
}

/** The docs of a catalog. */
export interface CatalogDocs {
  /** By first segment of the type names, in any order (they are shown in catalog order). */
  groups: Record<string, GroupDocs>;
  types: Record<string, FieldDocs & { fields: Record<string, string> }>;
  /** By shape id (`Money`), in the order they are shown. */
  shapes: Record<string, FieldDocs>;
  /** The paragraph before the shapes. */
  shapesIntro: string;
}

const common = {
  occurredAt: 'when it happened in the ledger (not when the webhook was sent)',
  metadata: 'your own key–value pairs, passed through as they are',
};

const previous = 'the previous values of the fields this event changed, and only those (Stripe’s `previous_attributes`)';

/** The fields every document (invoice, bill, credit note) has, described once. */
const documentFields = (what: string, counterparty: string): Record<string, string> => ({
  id: `the ${what}`,
  number: `the ${what} number as printed on it`,
  counterparty,
  currency: `the ${what}’s currency: every amount of the ${what} is in it`,
  issueDate: 'the date it was issued',
  lines: `what the ${what} is for, one line per item`,
  subtotal: 'the sum of the lines’ net amounts',
  taxTotal: 'the tax of the whole document (the lines’ taxes may differ from it by rounding when tax is computed per rate)',
  total: '`subtotal` + `taxTotal`',
  fx: `the exchange rate from the ${what}’s currency to the book’s, when they differ; null when they do not`,
  journalEntryId: 'the journal entry that booked it; null while it is not booked (a draft)',
});

/** The docs of `bookkeeperEvents`. */
export const catalogDocs: CatalogDocs = {
  groups: {
    payment: { title: 'Payments', intro: 'Money received from a customer, or an attempt that failed.' },
    refund: { title: 'Refunds', intro: 'Money sent back to a customer against one of their payments.' },
    transaction: { title: 'Account transactions', intro: 'Bookings on an account of the ledger.' },
    balance: { title: 'Balances', intro: 'Alerts on an account’s balance.' },
    invoice: {
      title: 'Invoices',
      intro:
        'What the book’s owner bills its customers. Every `invoice.*` event carries the invoice as it is after the event (`invoice`); the events that change an invoice also carry `previousAttributes`, the previous values of what they changed. Statuses: `draft` → `open` (sent) → `partially_paid` → `paid`, or `void`; `overdue` is a flag beside the status, set once the due date has passed unpaid.',
      shape: 'Invoice',
    },
    bill: {
      title: 'Bills',
      intro:
        'What the book’s owner owes its vendors (their invoices, entered as bills). Every `bill.*` event carries the bill as it is after the event; the events that change a bill also carry `previousAttributes`. Statuses: `draft` or `awaiting_approval` → `approved` → `partially_paid` → `paid`, or `void`.',
      shape: 'Bill',
    },
    credit_note: {
      title: 'Credit notes',
      intro:
        'What the book’s owner owes a customer back, usually against an invoice, until it is applied to an invoice. Statuses: `open` → `partially_applied` → `applied`, or `void`.',
      shape: 'CreditNote',
    },
    journal_entry: {
      title: 'Journal entries',
      intro:
        'The double-entry bookings behind every document and payment, and the manual ones. Debits equal credits in each currency of an entry, or it is refused. An entry is never changed: it is reversed by another one.',
      shape: 'JournalEntry',
    },
    payout: {
      title: 'Payouts',
      intro: 'Money the payment provider sends from the balance to the book owner’s bank account. Statuses: `pending` or `in_transit` → `paid` or `failed`.',
      shape: 'Payout',
    },
    bank_transaction: {
      title: 'Bank transactions',
      intro: 'The lines of a bank statement, imported into the ledger and then matched to what they settle.',
      shape: 'BankTransaction',
    },
    reconciliation: {
      title: 'Reconciliations',
      intro: 'A bank account’s statement agreed with the ledger for a period.',
      shape: 'Reconciliation',
    },
  },
  types: {
    'payment.succeeded': {
      summary: 'A payment was confirmed: the money is yours.',
      fields: {
        paymentId: 'the payment',
        customerId: 'who paid',
        invoiceId: 'the invoice it settles, if any',
        amount: 'how much, > 0',
        method: 'how it was paid',
        reference: 'the payer’s reference, as on the statement',
        ...common,
      },
    },
    'payment.failed': {
      summary: 'A payment attempt was declined or could not be collected.',
      fields: {
        paymentId: 'the payment',
        customerId: 'who tried to pay',
        invoiceId: 'the invoice it was for, if any',
        amount: 'how much, > 0',
        failureCode: 'a stable code from the payment provider, e.g. `card_declined`',
        failureMessage: 'a human-readable reason',
        ...common,
      },
    },
    'refund.initiated': {
      summary: 'A refund of (part of) a payment was started; the money has not left yet.',
      fields: {
        refundId: 'the refund',
        paymentId: 'the payment it refunds',
        amount: 'how much, > 0',
        reason: 'why it was refunded',
        ...common,
      },
    },
    'refund.succeeded': {
      summary: 'A refund was paid out.',
      fields: { refundId: 'the refund', paymentId: 'the payment it refunds', amount: 'how much, > 0', ...common },
    },
    'refund.failed': {
      summary: 'A refund could not be paid out.',
      fields: {
        refundId: 'the refund',
        paymentId: 'the payment it was to refund',
        amount: 'how much, > 0',
        failureCode: 'a stable code from the payment provider, e.g. `account_closed`',
        ...common,
      },
    },
    'transaction.created': {
      summary: 'A transaction was booked on an account.',
      fields: {
        transactionId: 'the transaction',
        accountId: 'the account it was booked on',
        direction: 'money in (`credit`) or out (`debit`) of the account',
        amount: 'how much, > 0',
        description: 'the booking text',
        counterparty: 'the other party’s name or account',
        ...common,
      },
    },
    'balance.depleted': {
      summary: 'An account’s balance fell below its threshold (same currency for both).',
      fields: {
        accountId: 'the account',
        balance: 'the balance now; may be zero or negative',
        threshold: 'the threshold it fell below, in the balance’s currency',
        ...common,
      },
    },
    'invoice.created': {
      summary: 'An invoice was created, as a draft or issued at once (`invoice.status` `draft` or `open`).',
      fields: { invoice: 'the invoice', ...common },
    },
    'invoice.sent': {
      summary: 'An invoice was sent to the customer (issued): `invoice.sentAt` is set.',
      fields: {
        invoice: 'the invoice, now `open` (or further along)',
        previousAttributes: previous,
        'previousAttributes.status': 'present when sending moved it out of `draft`',
        'previousAttributes.sentAt': 'when it was sent before; null the first time',
        'previousAttributes.journalEntryId': 'present when sending booked it',
        ...common,
      },
    },
    'invoice.partially_paid': {
      summary: 'A payment settled part of an invoice (`invoice.status` `partially_paid`).',
      fields: {
        invoice: 'the invoice, with the new `amountPaid` and `amountDue`',
        payment: 'the payment and the part of it applied to this invoice',
        previousAttributes: previous,
        'previousAttributes.status': 'present on the first partial payment',
        'previousAttributes.amountPaid': 'paid before this payment',
        'previousAttributes.amountDue': 'due before this payment',
        ...common,
      },
    },
    'invoice.paid': {
      summary: 'An invoice was paid in full (`invoice.status` `paid`, `invoice.paidAt` set).',
      fields: {
        invoice: 'the invoice',
        payment: 'the payment that completed it, and the part of it applied to this invoice',
        previousAttributes: previous,
        'previousAttributes.status': 'the status before',
        'previousAttributes.amountPaid': 'paid before this payment',
        'previousAttributes.amountDue': 'due before this payment',
        'previousAttributes.paidAt': 'always null: it was not paid before',
        'previousAttributes.overdue': 'present when it was overdue (paying clears the flag)',
        ...common,
      },
    },
    'invoice.overdue': {
      summary: 'An open invoice passed its due date unpaid (`invoice.overdue` true).',
      fields: {
        invoice: 'the invoice',
        previousAttributes: previous,
        'previousAttributes.overdue': 'always false',
        ...common,
      },
    },
    'invoice.voided': {
      summary: 'An invoice was voided (`invoice.status` `void`, `invoice.voidedAt` set); its booking is reversed.',
      fields: {
        invoice: 'the invoice',
        reason: 'why, as entered; null when none was given',
        previousAttributes: previous,
        'previousAttributes.status': 'the status before',
        'previousAttributes.amountDue': 'due before, when voiding changed it',
        'previousAttributes.overdue': 'present when it was overdue',
        'previousAttributes.voidedAt': 'always null',
        ...common,
      },
    },
    'bill.created': {
      summary: 'A vendor’s bill was entered (`bill.status` `draft` or `awaiting_approval`).',
      fields: { bill: 'the bill', ...common },
    },
    'bill.approved': {
      summary: 'A bill was approved for payment (`bill.status` `approved`, `approvedAt` and `approvedBy` set).',
      fields: {
        bill: 'the bill',
        previousAttributes: previous,
        'previousAttributes.status': 'the status before',
        'previousAttributes.approvedAt': 'always null',
        'previousAttributes.approvedBy': 'always null',
        'previousAttributes.journalEntryId': 'present when approving booked it',
        ...common,
      },
    },
    'bill.partially_paid': {
      summary: 'A payment settled part of a bill (`bill.status` `partially_paid`).',
      fields: {
        bill: 'the bill, with the new `amountPaid` and `amountDue`',
        payment: 'the payment and the part of it applied to this bill',
        previousAttributes: previous,
        'previousAttributes.status': 'present on the first partial payment',
        'previousAttributes.amountPaid': 'paid before this payment',
        'previousAttributes.amountDue': 'due before this payment',
        ...common,
      },
    },
    'bill.paid': {
      summary: 'A bill was paid in full (`bill.status` `paid`, `bill.paidAt` set).',
      fields: {
        bill: 'the bill',
        payment: 'the payment that completed it, and the part of it applied to this bill',
        previousAttributes: previous,
        'previousAttributes.status': 'the status before',
        'previousAttributes.amountPaid': 'paid before this payment',
        'previousAttributes.amountDue': 'due before this payment',
        'previousAttributes.paidAt': 'always null',
        ...common,
      },
    },
    'bill.voided': {
      summary: 'A bill was voided (`bill.status` `void`, `bill.voidedAt` set).',
      fields: {
        bill: 'the bill',
        reason: 'why, as entered; null when none was given',
        previousAttributes: previous,
        'previousAttributes.status': 'the status before',
        'previousAttributes.amountDue': 'due before, when voiding changed it',
        'previousAttributes.voidedAt': 'always null',
        ...common,
      },
    },
    'credit_note.created': {
      summary: 'A credit note was issued (`creditNote.status` `open`).',
      fields: { creditNote: 'the credit note', ...common },
    },
    'credit_note.applied': {
      summary: 'A credit note was set against an invoice, in part or in full (`partially_applied` or `applied`).',
      fields: {
        creditNote: 'the credit note, with the new `amountApplied` and `amountRemaining`',
        application: 'the invoice it was set against and how much',
        previousAttributes: previous,
        'previousAttributes.status': 'present when the status changed',
        'previousAttributes.amountApplied': 'applied before',
        'previousAttributes.amountRemaining': 'remaining before',
        ...common,
      },
    },
    'credit_note.voided': {
      summary: 'A credit note was voided (`creditNote.status` `void`, `voidedAt` set).',
      fields: {
        creditNote: 'the credit note',
        previousAttributes: previous,
        'previousAttributes.status': 'the status before',
        'previousAttributes.amountRemaining': 'remaining before, when voiding changed it',
        'previousAttributes.voidedAt': 'always null',
        ...common,
      },
    },
    'journal_entry.posted': {
      summary: 'A journal entry was posted to the ledger (`journalEntry.status` `posted`).',
      fields: { journalEntry: 'the entry', ...common },
    },
    'journal_entry.reversed': {
      summary: 'A journal entry was reversed by another one (`status` `reversed`, `reversedBy` names the reversing entry, which is posted too).',
      fields: {
        journalEntry: 'the entry that was reversed',
        previousAttributes: previous,
        'previousAttributes.status': 'always `posted`',
        'previousAttributes.reversedBy': 'always null',
        ...common,
      },
    },
    'payout.created': {
      summary: 'A payout to the bank account was started (`payout.status` `pending` or `in_transit`).',
      fields: { payout: 'the payout', ...common },
    },
    'payout.paid': {
      summary: 'A payout arrived in the bank account (`payout.status` `paid`, `paidAt` set).',
      fields: {
        payout: 'the payout',
        previousAttributes: previous,
        'previousAttributes.status': 'the status before',
        'previousAttributes.paidAt': 'always null',
        ...common,
      },
    },
    'payout.failed': {
      summary: 'A payout could not be paid (`payout.status` `failed`, `failureCode` and `failedAt` set); the money is back in the balance.',
      fields: {
        payout: 'the payout',
        previousAttributes: previous,
        'previousAttributes.status': 'the status before',
        'previousAttributes.failureCode': 'always null',
        'previousAttributes.failureMessage': 'always null',
        'previousAttributes.failedAt': 'always null',
        ...common,
      },
    },
    'bank_transaction.imported': {
      summary: 'A bank statement line was imported (`bankTransaction.status` `unmatched`).',
      fields: { bankTransaction: 'the transaction', importId: 'the import (a statement file or a bank feed sync) it came with', ...common },
    },
    'bank_transaction.matched': {
      summary: 'A bank transaction was matched to what it settles (`bankTransaction.status` `matched`, at least one match).',
      fields: {
        bankTransaction: 'the transaction, with its matches',
        previousAttributes: previous,
        'previousAttributes.status': 'present on its first match',
        'previousAttributes.matches': 'the matches before (empty on the first)',
        'previousAttributes.counterparty': 'present when matching identified the counterparty',
        ...common,
      },
    },
    'reconciliation.completed': {
      summary: 'A bank reconciliation was completed (`reconciliation.status` `completed`).',
      fields: {
        reconciliation: 'the reconciliation',
        previousAttributes: previous,
        'previousAttributes.status': 'always `in_progress`',
        'previousAttributes.completedAt': 'always null',
        'previousAttributes.completedBy': 'always null',
        ...common,
      },
    },
  },
  shapesIntro:
    'The parts the types share, each described once. The [Money](#money) section explains minor units, the exponent, exchange rates and tax lines.',
  shapes: {
    Invoice: {
      summary: 'An invoice as the ledger holds it: its customer, lines, totals, what is paid and due, and the dates of its life.',
      fields: {
        ...documentFields('invoice', 'the customer'),
        status: '`draft`, `open` (sent), `partially_paid`, `paid` or `void`',
        dueDate: 'the date payment is due',
        reference: 'the customer’s reference (a purchase order number), if any',
        amountPaid: 'paid so far',
        amountDue: 'still to be paid (0 once paid or void)',
        overdue: 'true once the due date has passed with money due',
        sentAt: 'when it was first sent; null while a draft',
        paidAt: 'when it was paid in full; null until then',
        voidedAt: 'when it was voided; null unless void',
      },
    },
    Bill: {
      summary: 'A bill (a vendor’s invoice) as the ledger holds it.',
      fields: {
        ...documentFields('bill', 'the vendor'),
        number: 'the vendor’s invoice number',
        status: '`draft`, `awaiting_approval`, `approved`, `partially_paid`, `paid` or `void`',
        dueDate: 'the date payment is due',
        reference: 'your own reference for it, if any',
        amountPaid: 'paid so far',
        amountDue: 'still to be paid',
        approvedAt: 'when it was approved; null until then',
        approvedBy: 'the user who approved it; null until then',
        paidAt: 'when it was paid in full; null until then',
        voidedAt: 'when it was voided; null unless void',
      },
    },
    CreditNote: {
      summary: 'A credit note as the ledger holds it.',
      fields: {
        ...documentFields('credit note', 'the customer credited'),
        status: '`open`, `partially_applied`, `applied` or `void`',
        invoiceId: 'the invoice it corrects; null for a credit on account',
        reason: 'why it was issued, as entered; null when none was given',
        amountApplied: 'set against invoices so far',
        amountRemaining: 'still to be applied (0 once applied or void)',
        voidedAt: 'when it was voided; null unless void',
      },
    },
    JournalEntry: {
      summary: 'A journal entry: balanced debits and credits on the ledger’s accounts.',
      fields: {
        id: 'the entry',
        number: 'its number in the journal, if the book numbers entries',
        status: '`posted`, or `reversed` once another entry reversed it',
        postingDate: 'the date it is booked on (its accounting period)',
        description: 'the booking text',
        source: 'what it books',
        'source.type': 'the kind of object it books; `manual` for an entry made by hand',
        'source.id': 'that object; null for a manual entry',
        lines: 'the debits and credits; they balance in each currency',
        reverses: 'the entry this one reverses, if it is a reversal',
        reversedBy: 'the entry that reversed this one; null unless reversed',
        postedAt: 'when it was posted',
      },
    },
    JournalLine: {
      summary: 'One line of a journal entry.',
      fields: {
        id: 'the line',
        accountId: 'the ledger account',
        accountCode: 'the account’s number in the chart of accounts (`1200`), if it has one',
        direction: '`debit` or `credit`',
        amount: 'how much, > 0',
        description: 'the line’s text, if any',
        counterparty: 'the customer or vendor the line is about, if any',
      },
    },
    Payout: {
      summary: 'A payout as the ledger holds it.',
      fields: {
        id: 'the payout',
        status: '`pending`, `in_transit`, `paid` or `failed`',
        amount: 'how much is paid out, > 0',
        fee: 'what the provider charged for it, ≥ 0, in the payout’s currency',
        destination: 'where it goes',
        'destination.bankAccountId': 'the bank account',
        'destination.last4': 'the account number’s last four digits, if known',
        arrivalDate: 'when it is expected (or did arrive) in the account',
        reference: 'the text the bank statement shows, if any',
        journalEntryId: 'the journal entry that booked it; null until booked',
        failureCode: 'why it failed, a stable code (`account_closed`); null unless failed',
        failureMessage: 'why it failed, in words; null unless failed',
        paidAt: 'when it arrived; null until paid',
        failedAt: 'when it failed; null unless failed',
      },
    },
    BankTransaction: {
      summary: 'A bank statement line as the ledger holds it.',
      fields: {
        id: 'the transaction',
        bankAccountId: 'the bank account of the statement',
        status: '`unmatched` or `matched`',
        bookingDate: 'the date the bank booked it',
        valueDate: 'the value date, when the bank gives one',
        direction: 'money in (`credit`) or out (`debit`) of the account',
        amount: 'how much, > 0',
        description: 'the statement text',
        reference: 'the payment reference (end-to-end id, remittance information), if any',
        counterparty: 'the customer or vendor it was recognised as; null until then',
        matches: 'what it settles; empty while unmatched',
      },
    },
    BankTransactionMatch: {
      summary: 'What (part of) a bank transaction settles.',
      fields: {
        type: 'the kind of object matched',
        id: 'that object',
        amount: 'how much of the transaction it covers, > 0',
      },
    },
    Reconciliation: {
      summary: 'A reconciliation of a bank account for a period. `difference` = `statementBalance` − `ledgerBalance`, all in one currency.',
      fields: {
        id: 'the reconciliation',
        bankAccountId: 'the bank account',
        status: '`in_progress` or `completed`',
        periodStart: 'the first day of the period',
        periodEnd: 'the last day of the period (on or after `periodStart`)',
        statementBalance: 'the closing balance on the bank statement',
        ledgerBalance: 'the closing balance of the account in the ledger',
        difference: '`statementBalance` − `ledgerBalance`; 0 when they agree',
        transactionCount: 'the bank transactions reconciled',
        completedAt: 'when it was completed; null until then',
        completedBy: 'the user who completed it; null until then',
      },
    },
    Money: {
      summary:
        'An amount in integer minor units of an ISO 4217 currency, the payment-centred events’ money: 12.30 EUR is `{ "amount": 1230, "currency": "EUR" }`. The exponent may be left out; when it is given it must be the currency’s.',
      fields: {
        amount: 'minor units (cents): 12300 is 123.00 EUR, 12300 JPY',
        currency: 'the currency',
        exponent: 'the currency’s minor-unit exponent (EUR 2, JPY 0, BHD 3), checked against the table; optional here',
      },
    },
    MoneyWithExponent: {
      summary:
        'An amount in integer minor units that carries its currency’s exponent, the documents’ money: 12.30 EUR is `{ "amount": 1230, "currency": "EUR", "exponent": 2 }`, so the major amount is `amount / 10^exponent` with no table of your own.',
      fields: {
        amount: 'minor units: 1230 with exponent 2 is 12.30',
        currency: 'the currency',
        exponent: 'the currency’s minor-unit exponent, checked against the table',
      },
    },
    CurrencyCode: {
      summary: 'A current ISO 4217 code with a minor unit, from the table in [Money](#money); `AAA`, `eur` and withdrawn codes are refused.',
    },
    DecimalString: {
      summary: 'A decimal number written as a string, so that it arrives exactly: `"2"`, `"0.5"`, `"-1.25"`; no exponent, no leading zeros.',
    },
    FxRate: {
      summary: 'An exchange rate: one unit of `from` is worth `rate` units of `to` (major units). `{ "rate": "0.9223", "from": "USD", "to": "EUR" }`: 1 USD = 0.9223 EUR.',
      fields: {
        rate: 'a decimal string > 0, never a float',
        from: 'the currency converted from',
        to: 'the currency converted to, another one',
      },
    },
    TaxLine: {
      summary: 'One tax on a line.',
      fields: {
        name: 'the tax as the document names it (`VAT`, `GST`, `Sales tax (NY)`)',
        rate: 'the rate in percent as a decimal string: `"19"` is 19 %, `"8.875"` is 8.875 %',
        amount: 'the tax, in the document’s currency',
      },
    },
    Counterparty: {
      summary: 'The customer or vendor on the other side.',
      fields: { id: 'its id in the ledger', name: 'its name, when known' },
    },
    DocumentLine: {
      summary: 'One line of an invoice, bill or credit note.',
      fields: {
        id: 'the line',
        description: 'what it is for',
        quantity: 'how many, a decimal string (`"1"`, `"2.5"`)',
        unitPrice: 'the net price of one',
        amount: 'the line’s net amount (`quantity` × `unitPrice`, rounded to the minor unit)',
        accountId: 'the revenue or expense account it is booked to, if set',
        taxLines: 'the taxes on the line',
      },
    },
    AppliedPayment: {
      summary: 'A payment applied to a document.',
      fields: { id: 'the payment', amount: 'the part of it applied to this document, > 0', date: 'the date it was applied' },
    },
    CreditApplication: {
      summary: 'A credit note set against an invoice.',
      fields: { invoiceId: 'the invoice', amount: 'how much of the credit note, > 0', date: 'the date it was applied' },
    },
  },
};
