/**
 * Bookkeeper's financial events: the ready catalog. The payment-centred events came
 * first; the bookkeeping objects (invoices, bills, credit notes, journal entries, payouts,
 * bank transactions, reconciliations) each carry a snapshot of the object and, when the
 * event changed it, the previous values of what changed. Every type has an example
 * (`bookkeeperEvents.examples[type]`).
 *
 * Money is integer minor units plus an ISO 4217 currency code — never a float (DESIGN §4):
 * 12.30 EUR is `{ amount: 1230, currency: 'EUR', exponent: 2 }` (src/events/money/).
 */
import { bankTransactionEvents } from './bookkeeper/bank-transaction-events.js';
import { billEvents } from './bookkeeper/bill-events.js';
import { creditNoteEvents } from './bookkeeper/credit-note-events.js';
import { invoiceEvents } from './bookkeeper/invoice-events.js';
import { journalEntryEvents } from './bookkeeper/journal-entry-events.js';
import { paymentEvents } from './bookkeeper/payment-events.js';
import { payoutEvents } from './bookkeeper/payout-events.js';
import { reconciliationEvents } from './bookkeeper/reconciliation-events.js';
import { defineEvents } from './catalog.js';

/** The catalog of Bookkeeper's financial events, each type with an example. */
export const bookkeeperEvents = defineEvents({
  ...paymentEvents,
  ...invoiceEvents,
  ...billEvents,
  ...creditNoteEvents,
  ...journalEntryEvents,
  ...payoutEvents,
  ...bankTransactionEvents,
  ...reconciliationEvents,
});

/** The type of {@link bookkeeperEvents}. */
export type BookkeeperEvents = typeof bookkeeperEvents;
