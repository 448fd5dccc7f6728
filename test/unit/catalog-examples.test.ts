/**
 * `defineEvents` with an example per type: `{ schema, example }` beside plain schemas,
 * the examples typed from the schemas, frozen, checked when read, and publishable.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../src/errors.js';
import { createMemoryStorage, createWebhooks, defineEvents, type EventCatalog } from '../../src/index.js';
import { configErrorOf } from '../support/rejections.js';

const paid = z.strictObject({
  invoiceId: z.string().min(1),
  amount: z.strictObject({ amount: z.int(), currency: z.string().length(3), exponent: z.int().min(0).max(4) }).refine((money) => money.exponent === 2, { path: ['exponent'] }),
  method: z.enum(['card', 'transfer']),
  lines: z.array(z.strictObject({ sku: z.string() })),
});
const paidExample = { invoiceId: 'inv_1', amount: { amount: 1230, currency: 'EUR', exponent: 2 }, method: 'card', lines: [{ sku: 'A-1' }] } as const;

describe('defineEvents with examples', () => {
  const catalog = defineEvents({
    'invoice.voided': z.strictObject({ invoiceId: z.string() }),
    'invoice.paid': { schema: paid, example: paidExample },
  });

  it('takes a schema or { schema, example } per type, keeping the order and the schemas as given', () => {
    expect(catalog.types).toEqual(['invoice.voided', 'invoice.paid']);
    expect(catalog.schemas['invoice.paid']).toBe(paid);
    expect(catalog.has('invoice.paid')).toBe(true);
  });

  it('reads an example by type, and has none for a type defined without one', () => {
    expect(catalog.examples['invoice.paid']).toEqual(paidExample);
    expect(Object.keys(catalog.examples)).toEqual(['invoice.paid']);
    expect('invoice.voided' in catalog.examples).toBe(false);
  });

  it('freezes the examples all the way down, so that no reader changes one for the others', () => {
    const example = { invoiceId: 'inv_2', amount: { amount: 1, currency: 'EUR', exponent: 2 }, method: 'card' as const, lines: [{ sku: 'B' }] };
    const frozen = defineEvents({ 'invoice.paid': { schema: paid, example } });
    expect(Object.isFrozen(frozen.examples)).toBe(true);
    expect(Object.isFrozen(frozen.examples['invoice.paid'])).toBe(true);
    expect(Object.isFrozen(frozen.examples['invoice.paid'].amount)).toBe(true);
    expect(Object.isFrozen(frozen.examples['invoice.paid'].lines[0])).toBe(true);
  });

  it('publishes an example as it is', async () => {
    const webhooks = createWebhooks({ storage: createMemoryStorage(), events: catalog });
    try {
      const event = await webhooks.publish('invoice.paid', catalog.examples['invoice.paid']);
      expect(event.data).toEqual(paidExample);
    } finally {
      await webhooks.close();
    }
  });

  it('checks an example against its schema when it is read, naming the type and the field, until it is right', () => {
    const wrong = defineEvents({ 'invoice.paid': { schema: paid, example: { ...paidExample, amount: { amount: 1230, currency: 'EUR', exponent: 3 } } } });
    for (let read = 0; read < 2; read++) {
      const error = configErrorOf(() => wrong.examples['invoice.paid']);
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.field).toBe('invoice.paid');
      expect(error.message).toContain('example.amount.exponent');
    }
    expect(() => JSON.stringify(wrong.examples)).toThrow(ConfigError);
  });

  it.each([
    ['an unknown key beside schema and example', { schema: paid, examples: [paidExample] }],
    ['an example without a schema', { example: paidExample }],
    ['a schema that is not zod', { schema: { parse: () => true }, example: paidExample }],
    ['an array', [paid, paidExample]],
  ])('refuses %s, naming the type', (_name, definition) => {
    const error = configErrorOf(() => defineEvents({ 'invoice.paid': definition as never }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe('invoice.paid');
  });

  it('types the examples from the schemas: present for the types defined with one, optional for the others', () => {
    expectTypeOf(catalog.examples['invoice.paid'].method).toEqualTypeOf<'card' | 'transfer'>();
    expectTypeOf(catalog.examples['invoice.paid'].amount.exponent).toEqualTypeOf<number>();
    expectTypeOf(catalog.examples['invoice.voided']).toEqualTypeOf<{ invoiceId: string } | undefined>();
    const untyped: EventCatalog = catalog;
    expectTypeOf(untyped.examples['any.type']).toEqualTypeOf<unknown>();
    defineEvents({
      // @ts-expect-error -- an example the schema refuses does not compile
      'invoice.paid': { schema: paid, example: { ...paidExample, method: 'bitcoin' } },
    });
  });
});
