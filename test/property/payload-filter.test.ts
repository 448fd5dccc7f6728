/**
 * The compiled payload filter against a plain interpreter of the language written here
 * from its contract (src/routing/payload-filter.ts's header), on random envelopes and
 * random valid filters whose paths and literals are drawn from the envelopes' own keys
 * and values, so that conditions often hit: equal values, nulls, missing values, arrays,
 * timestamps with offsets and fractions, impossible dates, envelopes with and without
 * metadata. And every such filter is accepted, its canonical text round-trips.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePayloadFilter, payloadFilterMatcher, payloadFilterOf, type FilterDocument } from '../../src/routing/payload-filter.js';
import { rfc3339InstantMs } from '../../src/routing/rfc3339-instant.js';
import { propertyRuns } from '../support/property-runs.js';

// ---- The reference: an interpreter over the filter object, as plain as it can be. ----

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Filter = Record<string, unknown>;

const absent = Symbol('absent');

function resolve(document: FilterDocument, path: string): unknown {
  const segments = path.split('.');
  let current: unknown = (document as unknown as Record<string, unknown>)[segments[0]!];
  for (const segment of segments.slice(1)) {
    if (current === undefined) return absent;
    if (Array.isArray(current)) {
      const isIndex = /^(0|[1-9][0-9]*)$/.test(segment);
      current = isIndex && Number(segment) < current.length ? current[Number(segment)] : absent;
    } else if (typeof current === 'object' && current !== null) {
      current = Object.prototype.hasOwnProperty.call(current, segment) ? (current as Record<string, unknown>)[segment] : absent;
    } else {
      return absent;
    }
    if (current === absent) return absent;
  }
  return current === undefined ? absent : current;
}

const timestampPattern = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Epoch ms of an RFC 3339 timestamp, by the Date object; null for anything else. */
function instantOf(text: string): number | null {
  const match = timestampPattern.exec(text);
  if (match === null) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const milliseconds = match[7] === undefined ? 0 : Number(match[7].slice(0, 3).padEnd(3, '0'));
  const offsetHours = match[9] === undefined ? 0 : Number(match[9]);
  const offsetMinutes = match[10] === undefined ? 0 : Number(match[10]);
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return null;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, milliseconds);
  // The Date rolls an impossible date (February 30th, month 13) over into another one.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  const offsetMs = (offsetHours * 60 + offsetMinutes) * 60_000 * (match[8] === '-' ? -1 : 1);
  return date.getTime() - offsetMs;
}

/** -1, 0 or 1; null when the value and the operand do not compare. */
function order(value: unknown, operand: number | string): number | null {
  if (typeof operand === 'number') {
    if (typeof value !== 'number') return null;
    return value < operand ? -1 : value > operand ? 1 : 0;
  }
  if (typeof value !== 'string') return null;
  const valueInstant = instantOf(value);
  const operandInstant = instantOf(operand);
  if (valueInstant !== null && operandInstant !== null) return valueInstant < operandInstant ? -1 : valueInstant > operandInstant ? 1 : 0;
  return value < operand ? -1 : value > operand ? 1 : 0;
}

function equal(value: unknown, literal: unknown): boolean {
  const scalar = value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
  return scalar && value === literal;
}

function holds(value: unknown, operator: string, operand: unknown): boolean {
  switch (operator) {
    case '$eq':
      return equal(value, operand);
    case '$ne':
      return !equal(value, operand);
    case '$in':
      return (operand as unknown[]).some((literal) => equal(value, literal));
    case '$nin':
      return !(operand as unknown[]).some((literal) => equal(value, literal));
    case '$gt': {
      const sign = order(value, operand as number | string);
      return sign !== null && sign > 0;
    }
    case '$gte': {
      const sign = order(value, operand as number | string);
      return sign !== null && sign >= 0;
    }
    case '$lt': {
      const sign = order(value, operand as number | string);
      return sign !== null && sign < 0;
    }
    case '$lte': {
      const sign = order(value, operand as number | string);
      return sign !== null && sign <= 0;
    }
    case '$exists':
      return operand === (value !== absent);
    default:
      throw new Error(`the reference knows no operator ${operator}`);
  }
}

function evaluate(filter: Filter, document: FilterDocument): boolean {
  return Object.entries(filter).every(([key, condition]) => {
    if (key === '$and') return (condition as Filter[]).every((inner) => evaluate(inner, document));
    if (key === '$or') return (condition as Filter[]).some((inner) => evaluate(inner, document));
    if (key === '$not') return !evaluate(condition as Filter, document);
    const value = resolve(document, key);
    if (typeof condition !== 'object' || condition === null) return equal(value, condition);
    return Object.entries(condition).every(([operator, operand]) => holds(value, operator, operand));
  });
}

// ---- Arbitraries: envelopes and filters over one small vocabulary, so that they meet. ----

const twoDigits = (min: number, max: number) => fc.integer({ min, max }).map((n) => String(n).padStart(2, '0'));

/** RFC 3339 timestamps, mostly valid and close together, some impossible (month 13, day 31 of a short month, hour 24, second 60). */
const timestamp = fc
  .tuple(
    fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1969, 1970, 2025, 2026) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 9999 }) }),
    fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 2 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 13 }) }),
    fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 2 }) }, { weight: 1, arbitrary: fc.integer({ min: 28, max: 31 }) }),
    fc.oneof({ weight: 8, arbitrary: twoDigits(0, 1) }, { weight: 1, arbitrary: twoDigits(0, 24) }),
    fc.oneof({ weight: 8, arbitrary: fc.constantFrom('00', '30') }, { weight: 1, arbitrary: twoDigits(0, 59) }),
    fc.oneof({ weight: 8, arbitrary: fc.constantFrom('00', '59') }, { weight: 1, arbitrary: twoDigits(0, 60) }),
    fc.option(fc.constantFrom('.0', '.5', '.500', '.499', '.5001', '.123456789', '.9'), { nil: '' }),
    fc.oneof(fc.constantFrom('Z', 'z', '+00:00', '-00:00', '+01:00', '-01:00', '+14:00', '-12:00', '+05:30'), twoDigits(0, 23).map((hours) => `+${hours}:00`)),
    fc.constantFrom('T', 'T', 'T', 't'),
  )
  .map(
    ([year, month, day, hour, minute, second, fraction, zone, separator]) =>
      `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}${separator}${hour}:${minute}:${second}${fraction}${zone}`,
  );

/** The strings envelopes and filters share: some equal, some ordered by code unit against expectation, some timestamps or nearly. */
const string = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('', 'a', 'B', 'EUR', 'eur', '10', '9', 'null', '1970-01-01', '2026-01-01T00:00:00') },
  { weight: 3, arbitrary: timestamp },
  { weight: 1, arbitrary: fc.string({ maxLength: 3 }) },
);

const number = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(0.5, 2.25, 1e3, -1e21, 1e21));

const literal: fc.Arbitrary<null | boolean | number | string> = fc.oneof(string, number, fc.boolean(), fc.constant(null));

/** Keys of the envelopes' data, and what paths look for: some arrays' indexes, some names an object inherits. */
const dataKey = fc.constantFrom('a', 'b', 'at', 'amount', '0', '1');
const pathKey = fc.oneof({ weight: 4, arbitrary: dataKey }, { weight: 1, arbitrary: fc.constantFrom('2', '01', 'length', 'constructor', 'toString') });

const { value: jsonValue } = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'data' },
    literal,
    fc.dictionary(dataKey, tie('value'), { maxKeys: 4 }),
    fc.array(tie('value'), { maxLength: 3 }),
  ),
}));

/** Keys of the envelopes' metadata (`constructor` is a valid key, which an object also inherits), and what metadata paths look for. */
const metadataKey = fc.constantFrom('region', 'source', 'a', '0', 'constructor');
const metadataPathKey = fc.oneof({ weight: 4, arbitrary: metadataKey }, { weight: 1, arbitrary: fc.constantFrom('toString', 'hasOwnProperty', 'channel') });

/** Envelopes with `metadata` (string values, `{}` never: publish sends none then) and without the key. */
const envelope: fc.Arbitrary<FilterDocument> = fc.record(
  {
    type: fc.constantFrom('payment.succeeded', 'payment.failed', 'refund.created', 'payment'),
    timestamp,
    metadata: fc.dictionary(metadataKey, string, { minKeys: 1, maxKeys: 4 }),
    data: fc.oneof({ weight: 6, arbitrary: fc.dictionary(dataKey, jsonValue, { minKeys: 1, maxKeys: 5 }) }, { weight: 1, arbitrary: jsonValue }),
  },
  { requiredKeys: ['type', 'timestamp', 'data'] },
);

const path = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom('type', 'timestamp', 'metadata', 'data') },
  { weight: 3, arbitrary: metadataPathKey.map((key) => `metadata.${key}`) },
  { weight: 6, arbitrary: fc.array(pathKey, { minLength: 1, maxLength: 3 }).map((keys) => ['data', ...keys].join('.')) },
  { weight: 1, arbitrary: fc.constantFrom('data.constructor', 'data.toString', 'data.a.hasOwnProperty', 'data.0.length') },
);

const orderingOperand = fc.oneof(string, number);
const list = fc.array(literal, { minLength: 1, maxLength: 4 });

const operands: Record<string, fc.Arbitrary<unknown>> = {
  $eq: literal,
  $ne: literal,
  $in: list,
  $nin: list,
  $gt: orderingOperand,
  $gte: orderingOperand,
  $lt: orderingOperand,
  $lte: orderingOperand,
  $exists: fc.boolean(),
};

/** An object of one to three operators, in any order. */
const operators = fc
  .shuffledSubarray(Object.keys(operands), { minLength: 1, maxLength: 3 })
  .chain((names) => fc.tuple(...names.map((name) => operands[name]!)).map((values) => Object.fromEntries(names.map((name, index) => [name, values[index]]))));

/** A literal, some operators, or `$exists` alone (the test of missing values above all). */
const condition = fc.oneof(literal, operators, fc.record({ $exists: fc.boolean() }));

const { filter } = fc.letrec<{ filter: Filter }>((tie) => ({
  filter: fc
    .uniqueArray(
      fc.oneof(
        { maxDepth: 3, depthIdentifier: 'filter', withCrossShrink: true },
        fc.tuple(path, condition as fc.Arbitrary<unknown>),
        fc.tuple(fc.constantFrom('$and', '$or'), fc.array(tie('filter'), { minLength: 1, maxLength: 2 }) as fc.Arbitrary<unknown>),
        fc.tuple(fc.constant('$not'), tie('filter') as fc.Arbitrary<unknown>),
      ),
      { minLength: 1, maxLength: 3, selector: ([key]) => key },
    )
    .map((entries) => Object.fromEntries(entries) as Filter),
}));

function pathConditions(value: Filter): number {
  let count = 0;
  for (const [key, inner] of Object.entries(value)) {
    if (key === '$and' || key === '$or') for (const each of inner as Filter[]) count += pathConditions(each);
    else if (key === '$not') count += pathConditions(inner as Filter);
    else count++;
  }
  return count;
}

/** A filter within the language's limits (the generator nests at most 3 deep and keeps strings short). */
const validFilter = filter.filter((value) => pathConditions(value) <= 64);

/** Each path condition of a filter (at any depth), with the literals its operators name. */
function targets(value: Filter, found: Array<{ path: string; literals: unknown[] }> = []): Array<{ path: string; literals: unknown[] }> {
  for (const [key, inner] of Object.entries(value)) {
    if (key === '$and' || key === '$or') for (const each of inner as Filter[]) targets(each, found);
    else if (key === '$not') targets(inner as Filter, found);
    else if (typeof inner !== 'object' || inner === null) found.push({ path: key, literals: [inner] });
    else found.push({ path: key, literals: Object.values(inner).flat() });
  }
  return found;
}

const remove = Symbol('remove');

/** `node` with `value` written at the path of `keys` (objects made on the way, arrays extended with nulls), or the key removed. */
function put(node: unknown, keys: readonly string[], value: unknown): unknown {
  if (keys.length === 0) return value;
  const [head, ...rest] = keys as [string, ...string[]];
  if (Array.isArray(node) && /^(0|[1-9][0-9]*)$/.test(head) && Number(head) <= node.length + 1) {
    const copy: unknown[] = [...node];
    while (copy.length < Number(head)) copy.push(null);
    if (value === remove && rest.length === 0) return copy.slice(0, Number(head));
    copy[Number(head)] = put(copy[Number(head)], rest, value);
    return copy;
  }
  const object: Record<string, unknown> = typeof node === 'object' && node !== null && !Array.isArray(node) ? { ...node } : {};
  if (value === remove && rest.length === 0) delete object[head];
  else object[head] = put(Object.hasOwn(object, head) ? object[head] : undefined, rest, value);
  return object;
}

/**
 * A filter and envelopes made to meet it: random envelopes where some of the filter's paths
 * are then given one of its own literals, null, or removed; and some random envelopes as they are.
 */
const filterAndEnvelopes = validFilter.chain((generated) => {
  const wanted = targets(generated);
  const placement = fc.tuple(fc.nat(wanted.length - 1), fc.nat(), fc.constantFrom('literal', 'literal', 'literal', 'null', 'remove', 'keep'));
  const document = fc.tuple(envelope, fc.array(placement, { minLength: wanted.length, maxLength: 2 * wanted.length + 1 })).map(([base, placements]) => {
    const made: { type: unknown; timestamp: unknown; metadata?: Record<string, string>; data: unknown } = { ...base };
    for (const [target, pick, kind] of placements) {
      const { path: where, literals } = wanted[target]!;
      if (kind === 'keep') continue;
      const value = kind === 'null' ? null : kind === 'remove' ? remove : literals.length === 0 ? null : literals[pick % literals.length];
      const [root, ...keys] = where.split('.') as ['type' | 'timestamp' | 'metadata' | 'data', ...string[]];
      if (root === 'metadata') {
        // Metadata is flat, of strings, and never `{}`: a key gets a string or goes; the whole goes.
        if (keys.length === 0) {
          if (value === remove) delete made.metadata;
        } else if (typeof value === 'string') {
          made.metadata = { ...made.metadata, [keys[0]!]: value };
        } else if (value === remove && made.metadata !== undefined) {
          const { [keys[0]!]: _removed, ...rest } = made.metadata;
          if (Object.keys(rest).length === 0) delete made.metadata;
          else made.metadata = rest;
        }
      } else if (root !== 'data') {
        // type and timestamp stay strings, as in every envelope sent.
        if (typeof value === 'string') made[root] = value;
      } else {
        made.data = keys.length === 0 && value === remove ? null : put(made.data, keys, value);
      }
    }
    return made as FilterDocument;
  });
  return fc.tuple(fc.constant(generated), fc.array(fc.oneof({ weight: 3, arbitrary: document }, { weight: 1, arbitrary: envelope }), { minLength: 1, maxLength: 6 }));
});

// ---- The properties. ----

describe('the compiled payload filter', () => {
  it('agrees with a plain interpreter of the language on random envelopes and filters', () => {
    fc.assert(
      fc.property(filterAndEnvelopes, ([generated, documents]) => {
        const matcher = payloadFilterMatcher(parsePayloadFilter(generated));
        for (const document of documents) expect(matcher(document)).toBe(evaluate(generated, document));
      }),
      { numRuns: propertyRuns(3000) },
    );
  });

  it('orders any two timestamps by instant, and reads each as the Date object does', () => {
    fc.assert(
      fc.property(timestamp, timestamp, fc.constantFrom('$gt', '$gte', '$lt', '$lte'), (value, operand, operator) => {
        const expected = instantOf(value);
        expect(rfc3339InstantMs(value)).toBe(expected === null ? Number.NaN : expected);
        const document: FilterDocument = { type: 'payment.succeeded', timestamp: value, data: null };
        const ordering = { timestamp: { [operator]: operand } };
        expect(payloadFilterMatcher(parsePayloadFilter(ordering))(document)).toBe(evaluate(ordering, document));
      }),
      { numRuns: propertyRuns(5000) },
    );
  });
});

describe('parsePayloadFilter on valid filters', () => {
  it('accepts every one, and its canonical text comes back as the same filter', () => {
    fc.assert(
      fc.property(validFilter, (generated) => {
        const text = parsePayloadFilter(generated);
        expect(text).toBe(JSON.stringify(generated));
        expect(payloadFilterOf(text)).toEqual(generated);
        expect(parsePayloadFilter(payloadFilterOf(text))).toBe(text);
      }),
      { numRuns: propertyRuns(3000) },
    );
  });
});
