import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { compiledSchema, isEventCatalog } from '../../src/events/catalog.js';
import { bookkeeperEvents, defineEvents, type EventDataOf, type EventInputOf } from '../../src/index.js';
import { configErrorOf } from '../support/rejections.js';

describe('defineEvents', () => {
  it('keeps the types in definition order and answers has()', () => {
    const catalog = defineEvents({
      'invoice.paid': z.object({ invoiceId: z.string() }),
      'invoice.voided': z.object({ invoiceId: z.string() }),
    });
    expect(catalog.types).toEqual(['invoice.paid', 'invoice.voided']);
    expect(catalog.has('invoice.paid')).toBe(true);
    expect(catalog.has('invoice.*')).toBe(false);
    expect(catalog.has('invoice')).toBe(false);
    expect(catalog.has('toString')).toBe(false);
  });

  it('is frozen, so a catalog cannot grow after subscriptions were checked against it', () => {
    const catalog = defineEvents({ 'invoice.paid': z.object({}) });
    expect(Object.isFrozen(catalog)).toBe(true);
    expect(Object.isFrozen(catalog.types)).toBe(true);
    expect(Object.isFrozen(catalog.schemas)).toBe(true);
  });

  it.each([
    ['an uppercase letter', 'Payment.succeeded'],
    ['a wildcard', 'payment.*'],
    ['a glued wildcard', 'payment*'],
    ['"*"', '*'],
    ['an empty segment', 'payment..succeeded'],
    ['a space', 'payment succeeded'],
    ['an empty name', ''],
    ['a trailing dot', 'payment.'],
  ])('refuses a type name with %s (%j), naming it as the field', (_name, type) => {
    const error = configErrorOf(() => defineEvents({ 'payment.ok': z.object({}), [type]: z.object({}) }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe(type);
  });

  it.each([
    ['a plain object', {}],
    ['a string', 'z.object()'],
    ['null', null],
    ['a number', 1],
    ['a function', () => true],
  ])('refuses %s in place of a zod schema', (_name, value) => {
    const error = configErrorOf(() => defineEvents({ 'payment.ok': value as never }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe('payment.ok');
  });

  it('refuses an empty catalog', () => {
    expect(configErrorOf(() => defineEvents({})).code).toBe('CONFIG_INVALID');
  });

  it.each([
    ['null', null],
    ['an array', []],
    ['a string', 'payment.succeeded'],
  ])('refuses %s in place of an object of schemas', (_name, value) => {
    expect(configErrorOf(() => defineEvents(value as never)).code).toBe('CONFIG_INVALID');
  });
});

const occurredAt = '2026-01-15T10:30:00Z';
const eur = (amount: number) => ({ amount, currency: 'EUR' });

const validData = {
  'payment.succeeded': { paymentId: 'pay_1', customerId: 'cus_1', amount: eur(1230), method: 'card', occurredAt },
  'payment.failed': { paymentId: 'pay_1', customerId: 'cus_1', amount: eur(1230), failureCode: 'card_declined', occurredAt },
  'refund.initiated': { refundId: 'ref_1', paymentId: 'pay_1', amount: eur(500), reason: 'requested_by_customer', occurredAt },
  'refund.succeeded': { refundId: 'ref_1', paymentId: 'pay_1', amount: eur(500), occurredAt },
  'refund.failed': { refundId: 'ref_1', paymentId: 'pay_1', amount: eur(500), failureCode: 'insufficient_funds', occurredAt },
  'transaction.created': { transactionId: 'txn_1', accountId: 'acc_1', direction: 'credit', amount: eur(99), occurredAt },
  'balance.depleted': { accountId: 'acc_1', balance: eur(-250), threshold: eur(0), occurredAt },
} as const;

type KnownType = keyof typeof validData;
const knownTypes = Object.keys(validData) as KnownType[];

/**
 * Whether the schema accepts `data`. Every case is also put to the compiled schema that
 * `publish` validates with, which must give the same answer: the same output, or the
 * same issues.
 */
function accepts(type: KnownType, data: unknown): boolean {
  const schema = bookkeeperEvents.schemas[type];
  const result = schema.safeParse(data);
  const compiled = compiledSchema(schema).safeParse(data);
  expect(compiled.success).toBe(result.success);
  if (result.success) expect(compiled.data).toStrictEqual(result.data);
  else expect(compiled.error?.issues).toStrictEqual(result.error.issues);
  return result.success;
}

/** The field holding money in an event that carries a positive amount. */
const amountTypes = knownTypes.filter((type) => type !== 'balance.depleted');

describe('bookkeeperEvents', () => {
  it('holds the financial events the product needs', () => {
    for (const type of knownTypes) expect(bookkeeperEvents.has(type)).toBe(true);
  });

  it.each(knownTypes)('accepts valid %s data', (type) => {
    expect(accepts(type, validData[type])).toBe(true);
  });

  it.each(amountTypes)('refuses a float amount in %s (money is integer minor units)', (type) => {
    expect(accepts(type, { ...validData[type], amount: eur(12.3) })).toBe(false);
  });

  it.each(amountTypes)('refuses a zero or negative amount in %s', (type) => {
    expect(accepts(type, { ...validData[type], amount: eur(0) })).toBe(false);
    expect(accepts(type, { ...validData[type], amount: eur(-100) })).toBe(false);
  });

  it.each(amountTypes)('refuses an amount given as a string in %s', (type) => {
    expect(accepts(type, { ...validData[type], amount: { amount: '1230', currency: 'EUR' } })).toBe(false);
  });

  it.each(amountTypes)('refuses an amount beyond the safe integers in %s', (type) => {
    expect(accepts(type, { ...validData[type], amount: eur(2 ** 53) })).toBe(false);
  });

  it.each([
    ['lowercase', 'eur'],
    ['four letters', 'EURO'],
    ['two letters', 'EU'],
    ['digits', '978'],
    ['empty', ''],
  ])('refuses a %s currency (%j)', (_name, currency) => {
    for (const type of amountTypes) expect(accepts(type, { ...validData[type], amount: { amount: 100, currency } })).toBe(false);
  });

  it('refuses unknown keys inside the money object', () => {
    expect(accepts('payment.succeeded', { ...validData['payment.succeeded'], amount: { amount: 1, currency: 'EUR', cents: true } })).toBe(
      false,
    );
  });

  it.each([
    ['payment.succeeded', 'paymentId'],
    ['payment.succeeded', 'customerId'],
    ['payment.failed', 'paymentId'],
    ['refund.initiated', 'refundId'],
    ['refund.succeeded', 'paymentId'],
    ['refund.failed', 'refundId'],
    ['transaction.created', 'transactionId'],
    ['balance.depleted', 'accountId'],
  ] as const)('refuses %s without %s, or with it empty', (type, key) => {
    const { [key]: _removed, ...without } = validData[type] as Record<string, unknown>;
    expect(accepts(type, without)).toBe(false);
    expect(accepts(type, { ...validData[type], [key]: '' })).toBe(false);
  });

  it.each(knownTypes)('refuses unknown keys in %s', (type) => {
    expect(accepts(type, { ...validData[type], amountInEuros: 12.3 })).toBe(false);
  });

  it.each([
    ['a date without time', '2026-01-15'],
    ['a time without offset', '2026-01-15T10:30:00'],
    ['a space instead of T', '2026-01-15 10:30:00Z'],
    ['an HTTP date', 'Thu, 15 Jan 2026 10:30:00 GMT'],
    ['a word', 'yesterday'],
    ['an impossible month', '2026-13-15T10:30:00Z'],
    ['epoch milliseconds', 1_768_473_000_000],
  ])('refuses a timestamp that is not ISO 8601 with an offset: %s', (_name, value) => {
    for (const type of knownTypes) expect(accepts(type, { ...validData[type], occurredAt: value })).toBe(false);
  });

  it('accepts ISO 8601 timestamps with Z, fractions and offsets', () => {
    for (const value of ['2026-01-15T10:30:00Z', '2026-01-15T10:30:00.123Z', '2026-01-15T12:30:00+02:00']) {
      expect(accepts('payment.succeeded', { ...validData['payment.succeeded'], occurredAt: value })).toBe(true);
    }
  });

  it('refuses an unknown payment method or refund reason', () => {
    expect(accepts('payment.succeeded', { ...validData['payment.succeeded'], method: 'bitcoin' })).toBe(false);
    expect(accepts('refund.initiated', { ...validData['refund.initiated'], reason: 'because' })).toBe(false);
  });

  it('refuses balance.depleted when balance and threshold are in different currencies, pointing at the threshold currency', () => {
    const result = bookkeeperEvents.schemas['balance.depleted'].safeParse({
      ...validData['balance.depleted'],
      threshold: { amount: 0, currency: 'USD' },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path)).toContainEqual(['threshold', 'currency']);
  });

  it('accepts a zero or negative balance in balance.depleted (an overdrawn account)', () => {
    expect(accepts('balance.depleted', { ...validData['balance.depleted'], balance: eur(0) })).toBe(true);
    expect(accepts('balance.depleted', { ...validData['balance.depleted'], balance: eur(-1) })).toBe(true);
  });

  it('types the data of each event from its schema', () => {
    expectTypeOf<EventDataOf<typeof bookkeeperEvents, 'payment.succeeded'>['amount']>().toEqualTypeOf<{
      amount: number;
      currency: string;
      exponent?: number | undefined;
    }>();
    expectTypeOf<EventInputOf<typeof bookkeeperEvents, 'transaction.created'>['direction']>().toEqualTypeOf<'credit' | 'debit'>();
  });
});

describe('isEventCatalog', () => {
  it('recognises a catalog of defineEvents by its shape, a copy of one too, and nothing that lacks a part of it', () => {
    const catalog = defineEvents({ 'ledger.entry_posted': { schema: z.object({ id: z.string() }), example: { id: 'je_1' } } });
    expect(isEventCatalog(catalog)).toBe(true);
    expect(isEventCatalog(bookkeeperEvents)).toBe(true);
    // What another copy of the package makes: the same shape, other objects.
    expect(isEventCatalog({ ...catalog })).toBe(true);
    const { has, types, schemas, examples } = catalog;
    for (const partial of [{ types, schemas, examples }, { has, schemas, examples }, { has, types, examples }, { has, types, schemas }, { has, types, schemas: null, examples }]) {
      expect(isEventCatalog(partial), Object.keys(partial).join(',')).toBe(false);
    }
    for (const value of [null, undefined, 'catalog', 42, [], () => catalog]) expect(isEventCatalog(value)).toBe(false);
  });
});

describe('compiledSchema', () => {
  it('compiles each Bookkeeper schema once, into an object of its own', () => {
    for (const type of knownTypes) {
      const schema = bookkeeperEvents.schemas[type];
      const compiled = compiledSchema(schema);
      expect(compiled).not.toBe(schema);
      expect(compiledSchema(schema)).toBe(compiled);
    }
  });

  it('returns fresh output and strips nothing the runtime keeps', () => {
    const data = { ...validData['payment.succeeded'], metadata: { order: 'A-1' }, invoiceId: null };
    const output = compiledSchema(bookkeeperEvents.schemas['payment.succeeded']).parse(data);
    expect(output).toStrictEqual(bookkeeperEvents.schemas['payment.succeeded'].parse(data));
    expect(output).not.toBe(data);
  });

  it('applies defaults and transforms of a host schema as the runtime does, and reports the same issues', () => {
    const schema = z.object({ id: z.string().trim().min(1), count: z.int().default(1), tags: z.array(z.string()).max(2).optional() });
    const compiled = compiledSchema(schema);
    expect(compiled).not.toBe(schema);
    for (const input of [{ id: '  a  ' }, { id: 'b', count: 3, tags: ['x'] }, { id: '' }, { id: 'c', tags: ['x', 'y', 'z'] }, { count: 'one' }, null]) {
      expect(compiled.safeParse(input)).toStrictEqual(schema.safeParse(input));
    }
  });

  it('leaves a recursive schema on the runtime parser, which still validates it', () => {
    interface Node {
      name: string;
      children: Node[];
    }
    const node: z.ZodType<Node> = z.lazy(() => z.object({ name: z.string(), children: z.array(node) }));
    const compiled = compiledSchema(node);
    expect(compiled).toBe(node);
    expect(compiled.safeParse({ name: 'a', children: [{ name: 'b', children: [] }] }).success).toBe(true);
    expect(compiled.safeParse({ name: 'a', children: [{ name: 1, children: [] }] }).success).toBe(false);
  });

  it('does not compile a schema built by another copy of zod', () => {
    const schema = z.object({ id: z.string() });
    const foreign = Object.assign(Object.create(Object.getPrototypeOf(schema) as object) as z.ZodType, schema, {
      _zod: { ...schema._zod, version: { major: 4, minor: 0, patch: 0 } },
    });
    expect(compiledSchema(foreign)).toBe(foreign);
  });

  it('keeps the catalog\'s public schemas the caller\'s own objects, metadata included', () => {
    const schema = z.object({ id: z.string() }).meta({ description: 'An order' });
    const catalog = defineEvents({ 'order.created': schema });
    compiledSchema(catalog.schemas['order.created']);
    expect(catalog.schemas['order.created']).toBe(schema);
    expect(z.globalRegistry.get(catalog.schemas['order.created'])?.description).toBe('An order');
  });
});
