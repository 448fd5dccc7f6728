/**
 * The bookkeeping objects of `bookkeeperEvents`: every type has an example its schema
 * takes as it is (and the compiled schema `publish` uses takes the same way), each event
 * carries its object's snapshot and, when it changed the object, `previousAttributes`;
 * the money of a document adds up and carries the exponent; an event is held to the
 * state it describes.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import { compiledSchema } from '../../src/events/catalog.js';
import { bookkeeperEvents, createMemoryStorage, createWebhooks, currencyExponent, type EventDataOf } from '../../src/index.js';

type Catalog = typeof bookkeeperEvents;
type Type = Catalog['types'][number];

const objectTypes = {
  invoice: ['invoice.created', 'invoice.sent', 'invoice.partially_paid', 'invoice.paid', 'invoice.overdue', 'invoice.voided'],
  bill: ['bill.created', 'bill.approved', 'bill.partially_paid', 'bill.paid', 'bill.voided'],
  creditNote: ['credit_note.created', 'credit_note.applied', 'credit_note.voided'],
  journalEntry: ['journal_entry.posted', 'journal_entry.reversed'],
  payout: ['payout.created', 'payout.paid', 'payout.failed'],
  bankTransaction: ['bank_transaction.imported', 'bank_transaction.matched'],
  reconciliation: ['reconciliation.completed'],
} as const;
const paymentTypes = ['payment.succeeded', 'payment.failed', 'refund.initiated', 'refund.succeeded', 'refund.failed', 'transaction.created', 'balance.depleted'] as const;
/** The events that bring an object into being: no previous values. */
const creations: readonly Type[] = ['invoice.created', 'bill.created', 'credit_note.created', 'journal_entry.posted', 'payout.created', 'bank_transaction.imported'];
const objectEventTypes = Object.values(objectTypes).flat() as Type[];
const updates = objectEventTypes.filter((type) => !creations.includes(type));

const example = <T extends Type>(type: T): z.input<Catalog['schemas'][T]> => structuredClone(bookkeeperEvents.examples[type]) as z.input<Catalog['schemas'][T]>;

/**
 * The paths of the issues of parsing `data` as `type`, each once; the compiled schema
 * `publish` validates with must agree issue for issue.
 */
function issuePaths(type: Type, data: unknown): string[] {
  const schema = bookkeeperEvents.schemas[type];
  const result = schema.safeParse(data);
  const compiled = compiledSchema(schema).safeParse(data);
  expect(compiled.success).toBe(result.success);
  if (!result.success) expect(compiled.error?.issues).toStrictEqual(result.error.issues);
  return result.success ? [] : [...new Set(result.error.issues.map((issue) => issue.path.join('.')))];
}

/** Every `{ amount, currency, … }` in a value, with its path. */
function moneyIn(value: unknown, path = ''): Array<{ path: string; money: Record<string, unknown> }> {
  if (Array.isArray(value)) return value.flatMap((item, index) => moneyIn(item, `${path}.${index}`));
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  if ('amount' in record && 'currency' in record) return [{ path, money: record }];
  return Object.entries(record).flatMap(([key, item]) => moneyIn(item, `${path}.${key}`));
}

describe('the catalog', () => {
  it('holds the payment-centred events and the events of every bookkeeping object, in that order', () => {
    expect(bookkeeperEvents.types).toEqual([...paymentTypes, ...objectEventTypes]);
  });

  it.each(bookkeeperEvents.types)('%s has an example that its schema, and the compiled one, take as it is', (type) => {
    const data = bookkeeperEvents.examples[type];
    expect(bookkeeperEvents.schemas[type].parse(data)).toEqual(data);
    expect(compiledSchema(bookkeeperEvents.schemas[type]).parse(data)).toEqual(data);
  });

  it('publishes every example, and stores each as it was given', async () => {
    const webhooks = createWebhooks({ storage: createMemoryStorage() });
    try {
      for (const type of bookkeeperEvents.types) {
        const event = await webhooks.publish(type, bookkeeperEvents.examples[type] as never);
        expect((await webhooks.events.get(event.id))?.data, type).toEqual(bookkeeperEvents.examples[type]);
      }
    } finally {
      await webhooks.close();
    }
  });
});

describe('snapshots and previous values', () => {
  it.each(Object.entries(objectTypes).flatMap(([key, types]) => types.map((type) => [type, key] as const)))('%s carries the %s', (type, key) => {
    expect(Object.keys(bookkeeperEvents.examples[type])).toContain(key);
    expect(issuePaths(type, { ...example(type), [key]: undefined })).toContain(key);
  });

  it.each(updates)('%s carries previousAttributes: required, strict, typed', (type) => {
    const data = example(type) as { previousAttributes: Record<string, unknown> };
    expect(data.previousAttributes).toBeTypeOf('object');
    expect(issuePaths(type, { ...data, previousAttributes: undefined })).toEqual(['previousAttributes']);
    expect(issuePaths(type, { ...data, previousAttributes: { ...data.previousAttributes, somethingElse: 1 } })).toEqual(['previousAttributes']);
  });

  it.each(creations)('%s, which creates its object, has no previousAttributes', (type) => {
    expect(Object.keys(bookkeeperEvents.examples[type])).not.toContain('previousAttributes');
    expect(issuePaths(type, { ...example(type), previousAttributes: {} })).toEqual(['']);
  });

  it('types the snapshot and the previous values', () => {
    type Paid = EventDataOf<Catalog, 'invoice.paid'>;
    expectTypeOf<Paid['invoice']['total']>().toEqualTypeOf<{ amount: number; currency: string; exponent: number }>();
    expectTypeOf<Paid['invoice']['status']>().toEqualTypeOf<'draft' | 'open' | 'partially_paid' | 'paid' | 'void'>();
    expectTypeOf<Paid['previousAttributes']['status']>().toEqualTypeOf<'open' | 'partially_paid'>();
    expectTypeOf<Paid['previousAttributes']['paidAt']>().toEqualTypeOf<null>();
    expectTypeOf<EventDataOf<Catalog, 'invoice.overdue'>['previousAttributes']>().toEqualTypeOf<{ overdue: false }>();
    expectTypeOf<EventDataOf<Catalog, 'payout.failed'>['payout']['failureCode']>().toEqualTypeOf<string | null>();
  });
});

describe('money in the bookkeeping events', () => {
  it.each(objectEventTypes)('%s: every amount of the example carries its currency’s exponent', (type) => {
    const found = moneyIn(bookkeeperEvents.examples[type]);
    expect(found.length).toBeGreaterThan(0);
    for (const { path, money } of found) expect(money.exponent, path).toBe(currencyExponent(money.currency as string));
  });

  it('refuses an amount without its exponent, with a wrong one, a float, or an unknown currency', () => {
    const data = example('invoice.paid');
    const { exponent: _exponent, ...withoutExponent } = data.invoice.total;
    expect(issuePaths('invoice.paid', { ...data, invoice: { ...data.invoice, total: withoutExponent } })).toEqual(['invoice.total.exponent']);
    expect(issuePaths('invoice.paid', { ...data, payment: { ...data.payment, amount: { amount: 9300, currency: 'EUR', exponent: 3 } } })).toEqual(['payment.amount.exponent']);
    const lines = structuredClone(data.invoice.lines);
    lines[0]!.unitPrice.amount = 79.5;
    expect(issuePaths('invoice.paid', { ...data, invoice: { ...data.invoice, lines } })).toEqual(['invoice.lines.0.unitPrice.amount']);
    expect(issuePaths('payout.paid', { ...example('payout.paid'), payout: { ...example('payout.paid').payout, amount: { amount: 1, currency: 'AAA', exponent: 2 } } })).toContain(
      'payout.amount.currency',
    );
  });

  it('takes yen without a minor unit and refuses them with one', () => {
    const data = example('payout.failed');
    expect(data.payout.amount).toEqual({ amount: 1_250_000, currency: 'JPY', exponent: 0 });
    expect(issuePaths('payout.failed', { ...data, payout: { ...data.payout, amount: { amount: 1_250_000, currency: 'JPY', exponent: 2 } } })).toEqual([
      'payout.amount.exponent',
    ]);
  });

  it('takes quantities and tax rates as decimal strings only', () => {
    const data = example('invoice.created');
    const lines = structuredClone(data.invoice.lines) as unknown as Array<Record<string, unknown> & { taxLines: Array<Record<string, unknown>> }>;
    lines[0]!.quantity = 1;
    lines[1]!.taxLines[0]!.rate = 19;
    expect(issuePaths('invoice.created', { ...data, invoice: { ...data.invoice, lines } })).toEqual(['invoice.lines.0.quantity', 'invoice.lines.1.taxLines.0.rate']);
  });

  it('refuses a document amount in another currency than the document, a total that is not subtotal + tax, a rate from another currency', () => {
    const data = example('invoice.created');
    const lines = structuredClone(data.invoice.lines);
    lines[1]!.amount = { amount: 2436, currency: 'USD', exponent: 2 };
    expect(issuePaths('invoice.created', { ...data, invoice: { ...data.invoice, lines } })).toEqual(['invoice.lines.1.amount.currency']);
    expect(issuePaths('invoice.created', { ...data, invoice: { ...data.invoice, total: { amount: 12_301, currency: 'EUR', exponent: 2 } } })).toEqual([
      'invoice.total.amount',
    ]);
    expect(issuePaths('invoice.created', { ...data, invoice: { ...data.invoice, fx: { rate: '1.08', from: 'USD', to: 'EUR' } } })).toEqual(['invoice.fx.from']);
    const bill = example('bill.created');
    expect(bill.bill.fx).toEqual({ rate: '0.9223', from: 'USD', to: 'EUR' });
  });

  it('refuses a journal entry whose debits and credits do not balance in a currency', () => {
    const data = example('journal_entry.posted');
    const lines = structuredClone(data.journalEntry.lines);
    lines[2]!.amount = { amount: 1_963, currency: 'EUR', exponent: 2 };
    expect(issuePaths('journal_entry.posted', { ...data, journalEntry: { ...data.journalEntry, lines } })).toEqual(['journalEntry.lines']);
    // Balanced in total but not per currency: a USD debit does not offset a EUR credit.
    lines[2]!.amount = { amount: 1_964, currency: 'USD', exponent: 2 };
    expect(issuePaths('journal_entry.posted', { ...data, journalEntry: { ...data.journalEntry, lines } })).toEqual(['journalEntry.lines']);
  });

  it('sums a journal entry exactly where the sum leaves the safe integers', () => {
    const data = example('journal_entry.posted');
    const line = (id: string, direction: 'debit' | 'credit', amount: number) => ({ ...data.journalEntry.lines[1]!, id, direction, amount: { amount, currency: 'EUR', exponent: 2 } });
    const max = Number.MAX_SAFE_INTEGER;
    // Debits MAX + 2 against credits MAX + 1: summed as floats in line order, MAX + 1 + 1 rounds back to 2^53 and the entry seems to balance.
    const unbalanced = [line('a', 'debit', max), line('b', 'debit', 1), line('c', 'debit', 1), line('d', 'credit', max), line('e', 'credit', 1)];
    expect(max + 1 + 1 - max - 1).toBe(0);
    expect(issuePaths('journal_entry.posted', { ...data, journalEntry: { ...data.journalEntry, lines: unbalanced } })).toEqual(['journalEntry.lines']);
    const balanced = [...unbalanced, line('f', 'credit', 1)];
    expect(issuePaths('journal_entry.posted', { ...data, journalEntry: { ...data.journalEntry, lines: balanced } })).toEqual([]);
  });

  it('refuses a reconciliation whose difference is not statement − ledger, or whose period ends before it starts', () => {
    const data = example('reconciliation.completed');
    const reconciliation = data.reconciliation;
    expect(
      issuePaths('reconciliation.completed', { ...data, reconciliation: { ...reconciliation, ledgerBalance: { amount: 4_815_000, currency: 'EUR', exponent: 2 } } }),
    ).toEqual(['reconciliation.difference.amount']);
    expect(issuePaths('reconciliation.completed', { ...data, reconciliation: { ...reconciliation, periodEnd: '2026-10-31' } })).toEqual(['reconciliation.periodEnd']);
  });

  it('refuses a payout fee in another currency than the payout', () => {
    const data = example('payout.created');
    expect(issuePaths('payout.created', { ...data, payout: { ...data.payout, fee: { amount: 350, currency: 'USD', exponent: 2 } } })).toEqual(['payout.fee.currency']);
  });
});

describe('each event holds its object to the state it describes', () => {
  it.each([
    ['invoice.paid', 'invoice', { status: 'partially_paid' }, 'invoice.status'],
    ['invoice.paid', 'invoice', { paidAt: null }, 'invoice.paidAt'],
    ['invoice.created', 'invoice', { status: 'paid' }, 'invoice.status'],
    ['invoice.sent', 'invoice', { sentAt: null }, 'invoice.sentAt'],
    ['invoice.overdue', 'invoice', { overdue: false }, 'invoice.overdue'],
    ['invoice.voided', 'invoice', { status: 'open' }, 'invoice.status'],
    ['bill.approved', 'bill', { approvedBy: null }, 'bill.approvedBy'],
    ['bill.paid', 'bill', { status: 'approved' }, 'bill.status'],
    ['credit_note.applied', 'creditNote', { status: 'open' }, 'creditNote.status'],
    ['journal_entry.reversed', 'journalEntry', { reversedBy: null }, 'journalEntry.reversedBy'],
    ['payout.failed', 'payout', { failureCode: null }, 'payout.failureCode'],
    ['payout.paid', 'payout', { status: 'failed' }, 'payout.status'],
    ['bank_transaction.matched', 'bankTransaction', { matches: [] }, 'bankTransaction.matches'],
    ['bank_transaction.imported', 'bankTransaction', { status: 'matched' }, 'bankTransaction.status'],
    ['reconciliation.completed', 'reconciliation', { status: 'in_progress' }, 'reconciliation.status'],
  ] as const)('refuses %s whose %s has %j', (type, key, change, path) => {
    const data = example(type) as unknown as Record<string, Record<string, unknown>>;
    expect(issuePaths(type, { ...data, [key]: { ...data[key], ...change } })).toEqual([path]);
  });

  it('refuses previous values that the event cannot have changed from', () => {
    const paid = example('invoice.paid');
    expect(issuePaths('invoice.paid', { ...paid, previousAttributes: { ...paid.previousAttributes, status: 'void' } })).toEqual(['previousAttributes.status']);
    expect(issuePaths('invoice.paid', { ...paid, previousAttributes: { ...paid.previousAttributes, paidAt: '2026-12-01T00:00:00Z' } })).toEqual([
      'previousAttributes.paidAt',
    ]);
    const reversed = example('journal_entry.reversed');
    expect(issuePaths('journal_entry.reversed', { ...reversed, previousAttributes: { status: 'reversed', reversedBy: null } })).toEqual(['previousAttributes.status']);
  });

  it('takes dates as calendar dates and timestamps with an offset, nothing else', () => {
    const data = example('invoice.created');
    expect(issuePaths('invoice.created', { ...data, invoice: { ...data.invoice, dueDate: '2026-12-04T00:00:00Z' } })).toEqual(['invoice.dueDate']);
    expect(issuePaths('invoice.created', { ...data, invoice: { ...data.invoice, issueDate: '2026-02-30' } })).toEqual(['invoice.issueDate']);
    expect(issuePaths('invoice.created', { ...data, occurredAt: '2026-11-20 09:12:00' })).toEqual(['occurredAt']);
  });
});

describe('the payment-centred events', () => {
  it.each(paymentTypes)('%s takes its money with or without the exponent, and refuses a wrong one or an unknown currency', (type) => {
    const data = example(type) as Record<string, unknown>;
    const key = type === 'balance.depleted' ? 'balance' : 'amount';
    const money = data[key] as { amount: number; currency: string };
    const exponent = currencyExponent(money.currency)!;
    expect(issuePaths(type, { ...data, [key]: { amount: money.amount, currency: money.currency } })).toEqual([]);
    expect(issuePaths(type, { ...data, [key]: { ...money, exponent } })).toEqual([]);
    expect(issuePaths(type, { ...data, [key]: { ...money, exponent: exponent + 1 } })).toEqual([`${key}.exponent`]);
    expect(issuePaths(type, { ...data, [key]: { ...money, currency: 'AAA' } })).toContain(`${key}.currency`);
  });
});
