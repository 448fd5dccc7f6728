// The consumer app's own side in the receiver examples: a ledger that books payments.
// Each example hands it the typed event; the tests read it to check that a payment
// was booked exactly once.
import type { BookkeeperEvents } from '../../src/index.js';
import type { WebhookEventOf } from '../../src/receiver/index.js';

/** One booked payment. */
export interface Booking {
  eventId: string;
  paymentId: string;
  amountMinor: number;
  currency: string;
}

/** An in-memory ledger. */
export interface Ledger {
  readonly bookings: readonly Booking[];
  bookPayment(event: WebhookEventOf<BookkeeperEvents, 'payment.succeeded'>): void;
}

/** A new, empty ledger. */
export function createLedger(): Ledger {
  const bookings: Booking[] = [];
  return {
    bookings,
    bookPayment(event) {
      // event.data is typed from the catalog's zod schema: amount is { amount, currency }.
      const { paymentId, amount } = event.data;
      bookings.push({ eventId: event.id, paymentId, amountMinor: amount.amount, currency: amount.currency });
    },
  };
}
