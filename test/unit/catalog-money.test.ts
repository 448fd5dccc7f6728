/**
 * Money in the catalog: the shipped ISO 4217 table, the money, exchange-rate and tax
 * schemas, and a walk of every schema of the catalog that fails on any number that may
 * be fractional (DESIGN §4: integer minor units or decimal strings, never floats).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ISO_4217_LIST_DATE,
  bookkeeperEvents,
  currencyCodeSchema,
  currencyExponent,
  currencyExponents,
  decimalStringSchema,
  fxRateSchema,
  isCurrencyCode,
  moneySchema,
  moneyWithExponentSchema,
  taxLineSchema,
} from '../../src/index.js';

/** The paths of the issues of a failed parse, each once (`[]` when it succeeds). */
function issuePaths(schema: z.ZodType, value: unknown): string[] {
  const result = schema.safeParse(value);
  return result.success ? [] : [...new Set(result.error.issues.map((issue) => issue.path.join('.')))];
}

describe('the ISO 4217 table', () => {
  it('holds list one of its date with the minor-unit exponents the list gives', () => {
    expect(ISO_4217_LIST_DATE).toBe('2026-01-01');
    expect(currencyExponents).toHaveLength(165);
    const expected: Record<string, number> = { JPY: 0, KRW: 0, ISK: 0, XOF: 0, EUR: 2, USD: 2, GBP: 2, CHF: 2, XCG: 2, BHD: 3, KWD: 3, JOD: 3, TND: 3, CLF: 4, UYW: 4 };
    for (const [code, exponent] of Object.entries(expected)) expect(currencyExponent(code), code).toBe(exponent);
    expect(currencyExponents.filter(([, exponent]) => exponent === 3).map(([code]) => code)).toEqual(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND']);
  });

  it('lists each code once, in order, frozen', () => {
    const codes = currencyExponents.map(([code]) => code);
    expect(codes).toEqual([...new Set(codes)].sort());
    for (const code of codes) expect(code).toMatch(/^[A-Z]{3}$/);
    expect(Object.isFrozen(currencyExponents)).toBe(true);
    expect(Object.isFrozen(currencyExponents[0])).toBe(true);
  });

  it.each([
    ['an unknown code', 'AAA'],
    ['a lowercase code', 'eur'],
    ['a code without minor unit (gold)', 'XAU'],
    ['the SDR', 'XDR'],
    ['the testing code', 'XTS'],
    ['"no currency"', 'XXX'],
    ['a code withdrawn in 2023 (kuna)', 'HRK'],
    ['a code withdrawn in 2026 (lev)', 'BGN'],
    ['a replaced code (Netherlands Antillean guilder)', 'ANG'],
    ['a property of Object.prototype', 'constructor'],
    ['__proto__', '__proto__'],
    ['the numeric code', '978'],
  ])('refuses %s (%j)', (_name, code) => {
    expect(isCurrencyCode(code)).toBe(false);
    expect(currencyExponent(code)).toBeUndefined();
    expect(currencyCodeSchema.safeParse(code).success).toBe(false);
  });

  it('refuses what is not a string', () => {
    for (const value of [978, null, undefined, { code: 'EUR' }, ['EUR']]) expect(isCurrencyCode(value)).toBe(false);
  });
});

describe('moneySchema', () => {
  it('accepts what it accepted before the exponent existed: integer minor units and a currency', () => {
    expect(moneySchema.parse({ amount: 1230, currency: 'EUR' })).toEqual({ amount: 1230, currency: 'EUR' });
    expect(moneySchema.parse({ amount: -5, currency: 'JPY' })).toEqual({ amount: -5, currency: 'JPY' });
  });

  it("accepts the currency's own exponent and refuses any other, on the exponent", () => {
    expect(issuePaths(moneySchema, { amount: 1230, currency: 'EUR', exponent: 2 })).toEqual([]);
    expect(issuePaths(moneySchema, { amount: 1230, currency: 'JPY', exponent: 0 })).toEqual([]);
    expect(issuePaths(moneySchema, { amount: 1230, currency: 'EUR', exponent: 3 })).toEqual(['exponent']);
    expect(issuePaths(moneySchema, { amount: 1230, currency: 'JPY', exponent: 2 })).toEqual(['exponent']);
    expect(issuePaths(moneySchema, { amount: 1230, currency: 'KWD', exponent: 2 })).toEqual(['exponent']);
  });

  it('refuses an unknown currency on the currency alone, with or without an exponent', () => {
    expect(issuePaths(moneySchema, { amount: 1, currency: 'AAA' })).toEqual(['currency']);
    expect(issuePaths(moneySchema, { amount: 1, currency: 'AAA', exponent: 2 })).toEqual(['currency']);
    expect(issuePaths(moneySchema, { amount: 1, currency: 'eur' })).toEqual(['currency']);
  });

  it.each([
    ['a float', 12.3],
    ['a string', '1230'],
    ['beyond the safe integers', 2 ** 53],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('refuses an amount that is %s', (_name, amount) => {
    expect(issuePaths(moneySchema, { amount, currency: 'EUR' })).toEqual(['amount']);
  });

  it('refuses other keys, and a fractional exponent', () => {
    expect(issuePaths(moneySchema, { amount: 1, currency: 'EUR', cents: true })).toEqual(['']);
    expect(issuePaths(moneySchema, { amount: 1, currency: 'EUR', exponent: 2.5 })).toEqual(['exponent']);
  });
});

describe('moneyWithExponentSchema', () => {
  it('requires the exponent, the currency’s own', () => {
    expect(moneyWithExponentSchema.parse({ amount: 1230, currency: 'BHD', exponent: 3 })).toEqual({ amount: 1230, currency: 'BHD', exponent: 3 });
    expect(issuePaths(moneyWithExponentSchema, { amount: 1230, currency: 'EUR' })).toEqual(['exponent']);
    expect(issuePaths(moneyWithExponentSchema, { amount: 1230, currency: 'CLF', exponent: 2 })).toEqual(['exponent']);
    expect(issuePaths(moneyWithExponentSchema, { amount: 1.5, currency: 'EUR', exponent: 2 })).toEqual(['amount']);
  });
});

describe('decimal strings, exchange rates and tax lines', () => {
  it.each(['0', '19', '8.875', '-2.25', '1.0842', '0.000001'])('takes %j as a decimal string', (value) => {
    expect(decimalStringSchema.safeParse(value).success).toBe(true);
  });

  it.each([
    ['a number', 1.5],
    ['exponent notation', '1e3'],
    ['a leading zero', '01'],
    ['no integer part', '.5'],
    ['a trailing point', '1.'],
    ['a comma', '1,5'],
    ['a space', ' 1'],
    ['a plus sign', '+1'],
    ['an empty string', ''],
  ])('refuses %s as a decimal string', (_name, value) => {
    expect(decimalStringSchema.safeParse(value).success).toBe(false);
  });

  it('takes an exchange rate as a decimal string > 0 between two currencies of the table', () => {
    expect(fxRateSchema.parse({ rate: '0.9223', from: 'USD', to: 'EUR' })).toEqual({ rate: '0.9223', from: 'USD', to: 'EUR' });
    expect(issuePaths(fxRateSchema, { rate: 0.9223, from: 'USD', to: 'EUR' })).toEqual(['rate']);
    expect(issuePaths(fxRateSchema, { rate: '0.000', from: 'USD', to: 'EUR' })).toEqual(['rate']);
    expect(issuePaths(fxRateSchema, { rate: '-1', from: 'USD', to: 'EUR' })).toEqual(['rate']);
    expect(issuePaths(fxRateSchema, { rate: '1', from: 'EUR', to: 'EUR' })).toEqual(['to']);
    expect(issuePaths(fxRateSchema, { rate: '1', from: 'USD', to: 'AAA' })).toEqual(['to']);
  });

  it('takes a tax line with its rate in percent as a decimal string and its amount with the exponent', () => {
    const line = { name: 'VAT', rate: '19', amount: { amount: 1501, currency: 'EUR', exponent: 2 } };
    expect(taxLineSchema.parse(line)).toEqual(line);
    expect(issuePaths(taxLineSchema, { ...line, rate: 19 })).toEqual(['rate']);
    expect(issuePaths(taxLineSchema, { ...line, rate: '19 %' })).toEqual(['rate']);
    expect(issuePaths(taxLineSchema, { ...line, amount: { amount: 1501, currency: 'EUR' } })).toEqual(['amount.exponent']);
  });

  it('names each shape once in a JSON Schema, for exports', () => {
    const json = z.toJSONSchema(taxLineSchema) as { $ref?: string; $defs?: Record<string, unknown> };
    expect(json.$ref).toBe('#/$defs/TaxLine');
    expect(Object.keys(json.$defs ?? {}).sort()).toEqual(['CurrencyCode', 'MoneyWithExponent', 'TaxLine']);
  });
});

// ── No floats anywhere ────────────────────────────────────────────────

interface WalkedDefinition {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  element?: z.ZodType;
  items?: z.ZodType[];
  rest?: z.ZodType | null;
  options?: z.ZodType[];
  left?: z.ZodType;
  right?: z.ZodType;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  getter?: () => z.ZodType;
  values?: unknown[];
}

const leafTypes = new Set(['string', 'boolean', 'enum', 'null', 'undefined', 'void', 'never', 'date', 'template_literal']);

/**
 * The paths (`$.invoice.lines[].amount.amount`) of every number in `schema` that may be
 * fractional: a `z.number()` without an integer format or check, a `NaN`, a fractional
 * literal. Walks zod 4's definitions through objects (and their catchall), arrays, tuples,
 * unions, intersections, records, maps, sets, every wrapper (optional, nullable, default,
 * prefault, catch, readonly, nonoptional, promise), pipes (both ends) and lazy schemas;
 * throws on a kind it cannot see through (any, unknown, custom, a transform), so that a
 * schema cannot pass by hiding a number.
 */
function fractionalNumbers(schema: z.ZodType, path = '$', seen = new Set<z.ZodType>()): string[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const definition = schema._zod.def as unknown as WalkedDefinition;
  const walk = (inner: z.ZodType | null | undefined, at: string) => (inner == null ? [] : fractionalNumbers(inner, at, seen));
  switch (definition.type) {
    case 'number':
      return (schema as z.ZodNumber).isInt ? [] : [path];
    case 'nan':
      return [path];
    case 'bigint':
      return [];
    case 'literal':
      return (definition.values ?? []).some((value) => typeof value === 'number' && !Number.isInteger(value)) ? [path] : [];
    case 'object':
      return [
        ...Object.entries(definition.shape ?? {}).flatMap(([key, property]) => walk(property, `${path}.${key}`)),
        ...walk(definition.catchall, `${path}.*`),
      ];
    case 'array':
      return walk(definition.element, `${path}[]`);
    case 'tuple':
      return [...(definition.items ?? []).flatMap((item, index) => walk(item, `${path}[${index}]`)), ...walk(definition.rest, `${path}[…]`)];
    case 'union':
      return (definition.options ?? []).flatMap((option, index) => walk(option, `${path}|${index}`));
    case 'intersection':
      return [...walk(definition.left, `${path}&left`), ...walk(definition.right, `${path}&right`)];
    case 'record':
    case 'map':
      return [...walk(definition.keyType, `${path}{key}`), ...walk(definition.valueType, `${path}{value}`)];
    case 'set':
      return walk(definition.valueType, `${path}{}`);
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
    case 'promise':
      return walk(definition.innerType, path);
    case 'pipe':
      return [...walk(definition.in, path), ...walk(definition.out, path)];
    case 'lazy':
      return walk(definition.getter!(), path);
    default:
      if (leafTypes.has(definition.type)) return [];
      throw new Error(`${path}: a ${definition.type} schema, which the walk cannot see through`);
  }
}

describe('the walk for fractional numbers', () => {
  it.each([
    ['a bare z.number()', z.number(), ['$']],
    ['a number in an object', z.strictObject({ amount: z.number() }), ['$.amount']],
    ['a number in a catchall', z.object({}).catchall(z.number()), ['$.*']],
    ['an optional nullable number in an array of records', z.array(z.record(z.string(), z.number().optional().nullable())), ['$[]{value}']],
    ['a number in a union', z.union([z.string(), z.number()]), ['$|1']],
    ['a number in a discriminated union', z.discriminatedUnion('k', [z.object({ k: z.literal('a'), n: z.number() })]), ['$|0.n']],
    ['a number in a tuple and its rest', z.tuple([z.int(), z.number()]).rest(z.number()), ['$[1]', '$[…]']],
    ['a number in an intersection', z.intersection(z.object({ a: z.int() }), z.object({ b: z.number() })), ['$&right.b']],
    ['a number in a pipe', z.string().pipe(z.coerce.number()), ['$']],
    ['a number behind a default and a catch', z.number().default(1).catch(2), ['$']],
    ['a number in a lazy schema', z.lazy(() => z.strictObject({ n: z.number() })), ['$.n']],
    ['a number in a map and a set', z.strictObject({ m: z.map(z.string(), z.number()), s: z.set(z.number()) }), ['$.m{value}', '$.s{}']],
    ['a fractional literal', z.literal(0.5), ['$']],
    ['a number behind a refinement', z.number().refine((n) => n > 0), ['$']],
  ])('finds %s', (_name, schema, paths) => {
    expect(fractionalNumbers(schema)).toEqual(paths);
  });

  it('passes integers: z.int(), z.number().int(), bounded ones, integer literals', () => {
    expect(fractionalNumbers(z.strictObject({ a: z.int(), b: z.number().int(), c: z.int().min(0).max(4), d: z.literal(3), e: z.int32() }))).toEqual([]);
  });

  it('refuses to vouch for what it cannot see through', () => {
    for (const schema of [z.any(), z.unknown(), z.custom<number>(), z.string().transform(Number)]) {
      expect(() => fractionalNumbers(z.strictObject({ x: schema }))).toThrow(/cannot see through/);
    }
  });
});

describe('no floats in the catalog', () => {
  it.each(bookkeeperEvents.types)('%s has no number that may be fractional: money is integer minor units, ratios are decimal strings', (type) => {
    expect(fractionalNumbers(bookkeeperEvents.schemas[type])).toEqual([]);
  });

  it('holds for the exported money schemas too', () => {
    for (const schema of [moneySchema, moneyWithExponentSchema, currencyCodeSchema, decimalStringSchema, fxRateSchema, taxLineSchema]) {
      expect(fractionalNumbers(schema)).toEqual([]);
    }
  });
});
