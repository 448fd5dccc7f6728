/**
 * What the README's catalog reference says about each type of `bookkeeperEvents` beyond
 * what its schema says: when it is sent, what each field means, and an example `data`.
 * scripts/readme.ts refuses a type or field without an entry here (and an entry for none);
 * test/unit/readme.test.ts parses every example with the type's schema.
 */

/** The docs of one event type. */
export interface EventTypeDocs {
  /** One sentence: when the event is published. */
  summary: string;
  /** A description for every field path of the schema (`amount.currency` for nested ones). */
  fields: Record<string, string>;
  /** A valid `data` of this type. */
  example: Record<string, unknown>;
}

/** Docs by event type. */
export type CatalogDocs = Record<string, EventTypeDocs>;

const money = (what: string): Record<string, string> => ({
  [what]: 'money: integer minor units and a currency, never a float',
  [`${what}.amount`]: 'minor units (cents): 12300 is 123.00 EUR',
  [`${what}.currency`]: 'ISO 4217 code, upper case',
});

const positive = (what: string): Record<string, string> => ({
  ...money(what),
  [`${what}.amount`]: 'minor units (cents), > 0: 12300 is 123.00 EUR',
});

const common = {
  occurredAt: 'when it happened in the ledger (not when the webhook was sent)',
  metadata: 'your own key–value pairs, passed through as they are',
};

/** The docs of `bookkeeperEvents`. */
export const catalogDocs: CatalogDocs = {
  'payment.succeeded': {
    summary: 'A payment was confirmed: the money is yours.',
    fields: {
      paymentId: 'the payment',
      customerId: 'who paid',
      invoiceId: 'the invoice it settles, if any',
      ...positive('amount'),
      method: 'how it was paid',
      reference: 'the payer’s reference, as on the statement',
      ...common,
    },
    example: {
      paymentId: 'pay_123',
      customerId: 'cus_42',
      invoiceId: 'inv_2026_0042',
      amount: { amount: 12_300, currency: 'EUR' },
      method: 'card',
      occurredAt: '2026-12-03T09:30:00.000Z',
    },
  },
  'payment.failed': {
    summary: 'A payment attempt was declined or could not be collected.',
    fields: {
      paymentId: 'the payment',
      customerId: 'who tried to pay',
      invoiceId: 'the invoice it was for, if any',
      ...positive('amount'),
      failureCode: 'a stable code from the payment provider, e.g. `card_declined`',
      failureMessage: 'a human-readable reason',
      ...common,
    },
    example: {
      paymentId: 'pay_124',
      customerId: 'cus_42',
      invoiceId: null,
      amount: { amount: 4_999, currency: 'USD' },
      failureCode: 'card_declined',
      failureMessage: 'The card was declined by the issuer.',
      occurredAt: '2026-12-03T09:31:12+01:00',
    },
  },
  'refund.initiated': {
    summary: 'A refund of (part of) a payment was started; the money has not left yet.',
    fields: {
      refundId: 'the refund',
      paymentId: 'the payment it refunds',
      ...positive('amount'),
      reason: 'why it was refunded',
      ...common,
    },
    example: {
      refundId: 'ref_7',
      paymentId: 'pay_123',
      amount: { amount: 4_500, currency: 'EUR' },
      reason: 'requested_by_customer',
      occurredAt: '2026-12-03T10:00:00.000Z',
      metadata: { ticket: 'SUP-981' },
    },
  },
  'refund.succeeded': {
    summary: 'A refund was paid out.',
    fields: {
      refundId: 'the refund',
      paymentId: 'the payment it refunds',
      ...positive('amount'),
      ...common,
    },
    example: {
      refundId: 'ref_7',
      paymentId: 'pay_123',
      amount: { amount: 4_500, currency: 'EUR' },
      occurredAt: '2026-12-04T08:15:00.000Z',
    },
  },
  'refund.failed': {
    summary: 'A refund could not be paid out.',
    fields: {
      refundId: 'the refund',
      paymentId: 'the payment it was to refund',
      ...positive('amount'),
      failureCode: 'a stable code from the payment provider, e.g. `account_closed`',
      ...common,
    },
    example: {
      refundId: 'ref_8',
      paymentId: 'pay_99',
      amount: { amount: 1_000, currency: 'GBP' },
      failureCode: 'account_closed',
      occurredAt: '2026-12-04T08:16:00.000Z',
    },
  },
  'transaction.created': {
    summary: 'A transaction was booked on an account.',
    fields: {
      transactionId: 'the transaction',
      accountId: 'the account it was booked on',
      direction: 'money in (`credit`) or out (`debit`) of the account',
      ...positive('amount'),
      description: 'the booking text',
      counterparty: 'the other party’s name or account',
      ...common,
    },
    example: {
      transactionId: 'txn_5012',
      accountId: 'acc_main',
      direction: 'debit',
      amount: { amount: 89_000, currency: 'EUR' },
      description: 'Rent December',
      counterparty: 'Office Lettings Ltd',
      occurredAt: '2026-12-01T07:00:00.000Z',
    },
  },
  'balance.depleted': {
    summary: 'An account’s balance fell below its threshold (same currency for both).',
    fields: {
      accountId: 'the account',
      ...money('balance'),
      'balance.amount': 'minor units (cents), may be negative',
      ...money('threshold'),
      'threshold.currency': 'ISO 4217 code, upper case; the same as the balance’s',
      ...common,
    },
    example: {
      accountId: 'acc_main',
      balance: { amount: 1_250, currency: 'EUR' },
      threshold: { amount: 5_000, currency: 'EUR' },
      occurredAt: '2026-12-01T07:00:01.000Z',
    },
  },
};
