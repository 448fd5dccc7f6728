/**
 * The payload filter language (src/routing/payload-filter.ts, whose header is the
 * contract): every operator both ways, missing against null, timestamps, logic, array
 * indexes, every refusal with its code and field, the canonical text and the matcher cache.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError, isWebhookError } from '../../src/errors.js';
import { parsePayloadFilter, payloadFilterMatcher, payloadFilterOf, type FilterDocument } from '../../src/routing/payload-filter.js';
import { rfc3339InstantMs } from '../../src/routing/rfc3339-instant.js';
import { thrownBy } from '../support/rejections.js';

function envelope(data: unknown, overrides: Partial<FilterDocument> = {}): FilterDocument {
  return { type: 'payment.succeeded', timestamp: '2026-03-01T12:00:00Z', data, ...overrides };
}

function matches(filter: unknown, document: FilterDocument): boolean {
  return payloadFilterMatcher(parsePayloadFilter(filter))(document);
}

/** Whether `{ 'data.x': condition }` matches `data`. */
function matchesX(condition: unknown, data: unknown): boolean {
  return matches({ 'data.x': condition }, envelope(data));
}

function refusalOf(run: () => unknown): ValidationError {
  const error = thrownBy(run);
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

function expectRefused(filter: unknown, field: string): void {
  const error = refusalOf(() => parsePayloadFilter(filter));
  expect({ code: error.code, field: error.field }).toEqual({ code: 'PAYLOAD_FILTER_INVALID', field });
}

describe('the example of the issue', () => {
  const bigEuroPayments = { 'data.amount.currency': 'EUR', 'data.amount.amount': { $gte: 100000 } };

  it('matches a euro payment of at least 100,000 minor units', () => {
    expect(matches(bigEuroPayments, envelope({ amount: { currency: 'EUR', amount: 100000 } }))).toBe(true);
    expect(matches(bigEuroPayments, envelope({ amount: { currency: 'EUR', amount: 250000 }, memo: 'rent' }))).toBe(true);
  });

  it('does not match another currency, a smaller amount, an amount given as text or an envelope without an amount', () => {
    expect(matches(bigEuroPayments, envelope({ amount: { currency: 'USD', amount: 100000 } }))).toBe(false);
    expect(matches(bigEuroPayments, envelope({ amount: { currency: 'EUR', amount: 99999 } }))).toBe(false);
    expect(matches(bigEuroPayments, envelope({ amount: { currency: 'EUR', amount: '100000' } }))).toBe(false);
    expect(matches(bigEuroPayments, envelope({ amount: { currency: 'EUR' } }))).toBe(false);
    expect(matches(bigEuroPayments, envelope({}))).toBe(false);
    expect(matches(bigEuroPayments, envelope(null))).toBe(false);
  });
});

describe('each operator', () => {
  it.each([
    ['a literal', 'EUR', 'EUR', 'USD'],
    ['$eq with a string', { $eq: 'EUR' }, 'EUR', 'eur'],
    ['$eq with a number', { $eq: 5 }, 5, 6],
    ['$eq with a boolean', { $eq: true }, true, false],
    ['$eq with null', { $eq: null }, null, 0],
    ['$ne', { $ne: 'EUR' }, 'USD', 'EUR'],
    ['$ne with null', { $ne: null }, 0, null],
    ['$in', { $in: ['EUR', 'USD', 3] }, 'USD', 'GBP'],
    ['$in with a number', { $in: ['EUR', 3] }, 3, 4],
    ['$in with null', { $in: [null] }, null, 'null'],
    ['$nin', { $nin: ['EUR', 'USD'] }, 'GBP', 'USD'],
    ['$gt with a number', { $gt: 10 }, 10.5, 10],
    ['$gte with a number', { $gte: 10 }, 10, 9.99],
    ['$lt with a number', { $lt: 10 }, -3, 10],
    ['$lte with a number', { $lte: 10 }, 10, 11],
    ['$gt with a string', { $gt: 'm' }, 'n', 'm'],
    ['$gte with a string', { $gte: 'm' }, 'm', 'l'],
    ['$lt with a string', { $lt: 'm' }, 'l', 'm'],
    ['$lte with a string', { $lte: 'm' }, 'm', 'mm'],
    ['$exists: true', { $exists: true }, 0, undefined],
    ['$exists: false', { $exists: false }, undefined, 0],
  ])('%s matches one value and not another', (_name, condition, matching, other) => {
    expect(matchesX(condition, matching === undefined ? {} : { x: matching })).toBe(true);
    expect(matchesX(condition, other === undefined ? {} : { x: other })).toBe(false);
  });

  it.each([
    ['a literal null', null, true, false],
    ['a literal number', 1, false, false],
    ['$eq null', { $eq: null }, true, false],
    ['$eq a number', { $eq: 1 }, false, false],
    ['$ne null', { $ne: null }, false, true],
    ['$ne a number', { $ne: 1 }, true, true],
    ['$in holding null', { $in: [null, 1] }, true, false],
    ['$in without null', { $in: [1, 'a'] }, false, false],
    ['$nin holding null', { $nin: [null, 1] }, false, true],
    ['$nin without null', { $nin: [1, 'a'] }, true, true],
    ['$gt a number', { $gt: -1 }, false, false],
    ['$gte a number', { $gte: -1 }, false, false],
    ['$lt a number', { $lt: 1 }, false, false],
    ['$lte a number', { $lte: 1 }, false, false],
    ['$gt a string', { $gt: '' }, false, false],
    ['$gte a string', { $gte: '' }, false, false],
    ['$lt a string', { $lt: 'zzz' }, false, false],
    ['$lte a string', { $lte: 'zzz' }, false, false],
    ['$gt a timestamp', { $gt: '1970-01-01T00:00:00Z' }, false, false],
    ['$exists: true', { $exists: true }, true, false],
    ['$exists: false', { $exists: false }, false, true],
  ])('%s (%o) on null gives %s, on a missing value %s', (_name, condition, onNull, onMissing) => {
    expect(matchesX(condition, { x: null })).toBe(onNull);
    expect(matchesX(condition, {})).toBe(onMissing);
  });

  it('compares JSON numbers by value: 1 equals 1.0 and 1e0', () => {
    const data = JSON.parse('{"x":1}') as unknown;
    for (const text of ['{"data.x":1.0}', '{"data.x":{"$eq":1e0}}', '{"data.x":{"$in":[1.00]}}']) {
      expect(payloadFilterMatcher(text)(envelope(data)), text).toBe(true);
    }
    expect(matchesX(1, JSON.parse('{"x":1.0}'))).toBe(true);
    expect(matchesX({ $eq: 0 }, { x: -0 })).toBe(true);
  });

  it('coerces nothing: 1 is not "1", 0 is not false, "" is not null, true is not 1', () => {
    expect(matchesX(1, { x: '1' })).toBe(false);
    expect(matchesX('1', { x: 1 })).toBe(false);
    expect(matchesX({ $eq: false }, { x: 0 })).toBe(false);
    expect(matchesX({ $eq: null }, { x: '' })).toBe(false);
    expect(matchesX({ $in: [1] }, { x: true })).toBe(false);
    expect(matchesX({ $nin: ['1'] }, { x: 1 })).toBe(true);
    expect(matchesX({ $ne: 1 }, { x: '1' })).toBe(true);
  });

  it('never finds an object or an array equal to a literal', () => {
    expect(matchesX({ $eq: null }, { x: {} })).toBe(false);
    expect(matchesX({ $in: [null, 1, '1', 'a'] }, { x: [1] })).toBe(false);
    expect(matchesX({ $ne: null }, { x: { a: 1 } })).toBe(true);
    expect(matchesX({ $nin: [1] }, { x: [1] })).toBe(true);
    expect(matchesX({ $exists: true }, { x: [] })).toBe(true);
  });

  it('orders numbers numerically and strings by UTF-16 code units', () => {
    expect(matchesX({ $gt: 9 }, { x: 10 })).toBe(true);
    expect(matchesX({ $gt: '9' }, { x: '10' })).toBe(false);
    expect(matchesX({ $lt: 'a' }, { x: 'B' })).toBe(true);
    expect(matchesX({ $gt: 'a' }, { x: 'á' })).toBe(true);
    // By code point U+1F600 sorts after U+FF5E; by UTF-16 code unit (its first is 0xD83D), before it.
    expect(matchesX({ $lt: '\uff5e' }, { x: '\u{1f600}' })).toBe(true);
    expect(matchesX({ $gt: '\uff5e' }, { x: '\u{1f600}' })).toBe(false);
    expect(matchesX({ $gte: -1e308, $lte: 1e308 }, { x: -1e308 })).toBe(true);
  });

  it('holds no ordering operator across types: a number against a string, a boolean, null, an object', () => {
    for (const operator of ['$gt', '$gte', '$lt', '$lte']) {
      for (const [operand, value] of [
        [5, '5'],
        ['5', 5],
        [0, false],
        ['', false],
        [0, true],
        [0, null],
        [0, { a: 1 }],
        ['', ['']],
        ['2026-01-01T00:00:00Z', 1767225600000],
      ] as const) {
        expect(matchesX({ [operator]: operand }, { x: value }), `${operator} ${JSON.stringify(operand)} on ${JSON.stringify(value)}`).toBe(false);
      }
    }
  });

  it('requires every operator of one object: a range', () => {
    const range = { $gte: 10, $lt: 20 };
    expect(matchesX(range, { x: 10 })).toBe(true);
    expect(matchesX(range, { x: 19.5 })).toBe(true);
    expect(matchesX(range, { x: 20 })).toBe(false);
    expect(matchesX(range, { x: 9 })).toBe(false);
    expect(matchesX({ $exists: true, $ne: null }, { x: null })).toBe(false);
    expect(matchesX({ $exists: true, $ne: null }, { x: 0 })).toBe(true);
  });
});

describe('timestamps', () => {
  it('orders two timestamps by instant, whatever their offsets', () => {
    // 01:30 at +02:00 is 23:30 UTC the day before: after by text, before by instant.
    expect(matches({ timestamp: { $gt: '2026-01-01T00:00:00Z' } }, envelope({}, { timestamp: '2026-01-01T01:30:00+02:00' }))).toBe(false);
    expect(matches({ timestamp: { $lt: '2026-01-01T00:00:00Z' } }, envelope({}, { timestamp: '2026-01-01T01:30:00+02:00' }))).toBe(true);
    // 23:30 at -05:00 is 04:30 UTC the day after: before by text, after by instant.
    expect(matches({ 'data.dueAt': { $gt: '2026-01-02T00:00:00+00:00' } }, envelope({ dueAt: '2026-01-01T23:30:00-05:00' }))).toBe(true);
  });

  it('reads fractions of any length to the millisecond, and equal instants as equal', () => {
    const at = (timestamp: string) => envelope({}, { timestamp });
    expect(matches({ timestamp: { $gte: '2026-01-01T08:00:00.500Z', $lte: '2026-01-01T08:00:00.500Z' } }, at('2026-01-01T10:00:00.5+02:00'))).toBe(true);
    expect(matches({ timestamp: { $gt: '2026-01-01T08:00:00.500Z' } }, at('2026-01-01T10:00:00.5+02:00'))).toBe(false);
    expect(matches({ timestamp: { $gt: '2026-01-01T08:00:00.49Z' } }, at('2026-01-01T08:00:00.5Z'))).toBe(true);
    expect(matches({ timestamp: { $lt: '2026-01-01T08:00:00.1Z' } }, at('2026-01-01T08:00:00.099999Z'))).toBe(true);
    // Past the third digit, nothing counts.
    expect(matches({ timestamp: { $lt: '2026-01-01T08:00:00.0002Z' } }, at('2026-01-01T08:00:00.0001Z'))).toBe(false);
    expect(matches({ timestamp: { $lte: '2026-01-01T08:00:00.0002Z' } }, at('2026-01-01T08:00:00.0001Z'))).toBe(true);
  });

  it('takes lower-case t and z, and years before 100 as they are', () => {
    expect(matches({ timestamp: { $gte: '2026-01-01T00:00:00Z', $lte: '2026-01-01T00:00:00Z' } }, envelope({}, { timestamp: '2026-01-01t00:00:00z' }))).toBe(true);
    expect(matches({ 'data.at': { $gt: '0099-06-01T00:00:00Z' } }, envelope({ at: '1950-01-01T00:00:00Z' }))).toBe(true);
    expect(matches({ 'data.at': { $gt: '0100-01-01T00:30:00Z' } }, envelope({ at: '0099-12-31T23:00:00-02:00' }))).toBe(true);
  });

  it('compares by text when either side is not a timestamp: no zone, no time, an impossible date', () => {
    // As an instant, 2026-01-01T00:30:00 read in UTC would be after; as text it is before.
    expect(matches({ 'data.at': { $lt: '2026-01-01T01:00:00+02:00' } }, envelope({ at: '2026-01-01T00:30:00' }))).toBe(true);
    expect(matches({ 'data.at': { $lt: '2026-01-01T00:00:00Z' } }, envelope({ at: '2026-01-01' }))).toBe(true);
    expect(matches({ timestamp: { $gte: '2026-03-01' } }, envelope({}, { timestamp: '2026-02-28T23:00:00-05:00' }))).toBe(false);
    // February 29th 2025 does not exist; read leniently it would be March 1st, 12:00 UTC, after the value.
    expect(matches({ 'data.at': { $gt: '2025-02-29T12:00:00Z' } }, envelope({ at: '2025-03-01T00:00:00+14:00' }))).toBe(true);
    expect(matches({ 'data.at': { $lt: '2026-13-01T00:00:00Z' } }, envelope({ at: '2026-12-31T23:00:00-05:00' }))).toBe(true);
  });

  it('compares timestamps as strings for $eq and $in: the same instant written otherwise is not equal', () => {
    const document = envelope({}, { timestamp: '2026-01-01T00:00:00.000Z' });
    expect(matches({ timestamp: '2026-01-01T00:00:00Z' }, document)).toBe(false);
    expect(matches({ timestamp: { $in: ['2026-01-01T01:00:00+01:00'] } }, document)).toBe(false);
    expect(matches({ timestamp: { $gte: '2026-01-01T01:00:00+01:00', $lte: '2026-01-01T01:00:00+01:00' } }, document)).toBe(true);
  });

  describe('rfc3339InstantMs', () => {
    it.each([
      '2026-01-01T00:00:00Z',
      '2026-01-01T10:00:00.5+02:00',
      '1970-01-01T00:00:00Z',
      '1969-12-31T23:59:59.999-00:30',
      '2000-02-29T12:00:00+14:00',
      '2024-12-31T23:59:59.123Z',
      '9999-12-31T23:59:59.999Z',
      '1600-02-29T00:00:00Z',
    ])('reads %s as Date.parse does', (text) => {
      expect(rfc3339InstantMs(text)).toBe(Date.parse(text));
    });

    it.each([
      '',
      '2026-01-01',
      '2026-01-01T00:00:00',
      '2026-01-01T00:00Z',
      '2026-01-01 00:00:00Z',
      '20260101T000000Z',
      '2026-01-01T00:00:00+0200',
      '2026-01-01T00:00:00+02',
      '2026-01-01T00:00:00.Z',
      '2026-01-01T00:00:00Zx',
      ' 2026-01-01T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-00-01T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2025-02-29T00:00:00Z',
      '1900-02-29T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T23:60:00Z',
      '2016-12-31T23:59:60Z',
      '2026-01-01T00:00:00+24:00',
      '2026-01-01T00:00:00+01:60',
      '+2026-01-01T00:00:00Z',
      '２０２６-01-01T00:00:00Z',
    ])('reads %j as no timestamp', (text) => {
      expect(rfc3339InstantMs(text)).toBeNaN();
    });

    it('reads years 0000 to 0099 as themselves', () => {
      expect(rfc3339InstantMs('0000-03-01T00:00:00Z')).toBe(new Date('0000-03-01T00:00:00Z').getTime());
      expect(rfc3339InstantMs('0099-12-31T23:59:59Z')).toBe(new Date('0099-12-31T23:59:59Z').getTime());
      expect(rfc3339InstantMs('0004-02-29T00:00:00Z')).toBe(new Date('0004-02-29T00:00:00Z').getTime());
    });
  });
});

describe('logical operators', () => {
  const document = envelope({ status: 'open', amount: 500, tags: ['a'] }, { type: 'invoice.created' });

  it('requires every key of one object to hold', () => {
    expect(matches({ type: 'invoice.created', 'data.status': 'open' }, document)).toBe(true);
    expect(matches({ type: 'invoice.created', 'data.status': 'paid' }, document)).toBe(false);
    expect(matches({ type: 'invoice.paid', 'data.status': 'open' }, document)).toBe(false);
  });

  it('$and holds when every filter holds', () => {
    expect(matches({ $and: [{ 'data.amount': { $gt: 100 } }, { 'data.amount': { $lt: 1000 } }] }, document)).toBe(true);
    expect(matches({ $and: [{ 'data.amount': { $gt: 100 } }, { 'data.amount': { $lt: 500 } }] }, document)).toBe(false);
  });

  it('$or holds when one filter holds', () => {
    expect(matches({ $or: [{ 'data.status': 'paid' }, { 'data.amount': 500 }] }, document)).toBe(true);
    expect(matches({ $or: [{ 'data.status': 'paid' }, { 'data.amount': 501 }] }, document)).toBe(false);
    expect(matches({ $or: [{ 'data.status': 'open' }] }, document)).toBe(true);
  });

  it('$not holds when its filter does not, a missing value included', () => {
    expect(matches({ $not: { 'data.status': 'paid' } }, document)).toBe(true);
    expect(matches({ $not: { 'data.status': 'open' } }, document)).toBe(false);
    expect(matches({ $not: { 'data.nothing': 1 } }, document)).toBe(true);
    expect(matches({ $not: { 'data.nothing': { $ne: 1 } } }, document)).toBe(false);
  });

  it('nests: $or of $and, $not of $or, beside paths', () => {
    const filter = {
      type: { $in: ['invoice.created', 'invoice.updated'] },
      $or: [{ $and: [{ 'data.status': 'open' }, { 'data.amount': { $gte: 500 } }] }, { 'data.status': 'overdue' }],
      $not: { $or: [{ 'data.tags.0': 'internal' }, { 'data.test': true }] },
    };
    expect(matches(filter, document)).toBe(true);
    expect(matches(filter, envelope({ status: 'overdue', amount: 1, tags: ['b'] }, { type: 'invoice.updated' }))).toBe(true);
    expect(matches(filter, envelope({ status: 'open', amount: 499 }, { type: 'invoice.created' }))).toBe(false);
    expect(matches(filter, envelope({ status: 'open', amount: 500, tags: ['internal'] }, { type: 'invoice.created' }))).toBe(false);
    expect(matches(filter, envelope({ status: 'open', amount: 500, test: true }, { type: 'invoice.created' }))).toBe(false);
    expect(matches(filter, envelope({ status: 'open', amount: 500 }, { type: 'invoice.paid' }))).toBe(false);
  });
});

describe('paths', () => {
  const document = envelope({
    lines: [{ amount: 10 }, { amount: 20, tax: null }],
    byIndex: { '0': 'zero', '01': 'leading zero' },
    nested: { deep: { deeper: { deepest: 'here' } } },
    empty: {},
  });

  it('index an array with a non-negative integer segment', () => {
    expect(matches({ 'data.lines.0.amount': 10 }, document)).toBe(true);
    expect(matches({ 'data.lines.1.amount': { $gt: 15 } }, document)).toBe(true);
    expect(matches({ 'data.lines.1.tax': null }, document)).toBe(true);
    expect(matches({ 'data.lines.2': { $exists: false } }, document)).toBe(true);
    expect(matches({ 'data.lines.2.amount': { $exists: false } }, document)).toBe(true);
    expect(matches({ 'data.lines.0.tax': { $exists: false } }, document)).toBe(true);
  });

  it('do not look into each element of an array: data.lines.amount is missing', () => {
    expect(matches({ 'data.lines.amount': 10 }, document)).toBe(false);
    expect(matches({ 'data.lines.amount': { $exists: false } }, document)).toBe(true);
    expect(matches({ 'data.lines.length': { $exists: false } }, document)).toBe(true);
  });

  it('read a leading-zero segment as no index of an array, and integer segments as keys of an object', () => {
    expect(matches({ 'data.lines.00': { $exists: false } }, document)).toBe(true);
    expect(matches({ 'data.lines.01': { $exists: false } }, document)).toBe(true);
    expect(matches({ 'data.lines.-1': { $exists: false } }, document)).toBe(true);
    expect(matches({ 'data.byIndex.0': 'zero' }, document)).toBe(true);
    expect(matches({ 'data.byIndex.01': 'leading zero' }, document)).toBe(true);
    expect(matches({ 'data.lines.99999999999999999999': { $exists: false } }, document)).toBe(true);
  });

  it('find own properties only, never what an object inherits', () => {
    for (const path of ['data.empty.constructor', 'data.empty.toString', 'data.empty.__proto__', 'data.lines.map', 'data.nested.hasOwnProperty']) {
      expect(matches({ [path]: { $exists: false } }, document), path).toBe(true);
    }
    const own = envelope(JSON.parse('{"constructor":"mine"}'));
    expect(matches({ 'data.constructor': 'mine' }, own)).toBe(true);
  });

  it('find nothing below a scalar or null, and nothing for a property holding undefined', () => {
    expect(matches({ 'data.lines.0.amount.value': { $exists: false } }, document)).toBe(true);
    expect(matches({ 'data.lines.1.tax.rate': { $exists: false } }, document)).toBe(true);
    expect(matches({ 'data.type.length': { $exists: false } }, envelope({ type: 'abc' }))).toBe(true);
    expect(matches({ 'data.x': { $exists: false } }, envelope({ x: undefined }))).toBe(true);
    expect(matches({ 'data.x': { $exists: true } }, envelope(null))).toBe(false);
  });

  it('reach deep fields, data itself, type and timestamp', () => {
    expect(matches({ 'data.nested.deep.deeper.deepest': 'here' }, document)).toBe(true);
    expect(matches({ data: { $exists: true } }, document)).toBe(true);
    expect(matches({ data: null }, envelope(null))).toBe(true);
    expect(matches({ data: 'text' }, envelope('text'))).toBe(true);
    expect(matches({ type: 'payment.succeeded', timestamp: '2026-03-01T12:00:00Z' }, document)).toBe(true);
    expect(matches({ type: { $gte: 'payment.', $lt: 'payment/' } }, document)).toBe(true);
  });

  it('take segments of any characters but the dot', () => {
    const data = { 'with space': { 'ü-ñ': { $dollar: 1 } } };
    expect(matches({ 'data.with space.ü-ñ.$dollar': 1 }, envelope(data))).toBe(true);
  });

  it('take 16 segments and 256 characters', () => {
    const sixteen = ['data', ...Array.from({ length: 15 }, (_, index) => `k${index}`)].join('.');
    let data: unknown = 'leaf';
    for (let index = 14; index >= 0; index--) data = { [`k${index}`]: data };
    expect(matches({ [sixteen]: 'leaf' }, envelope(data))).toBe(true);

    const long = `data.${'a'.repeat(251)}`;
    expect(long).toHaveLength(256);
    expect(matches({ [long]: 1 }, envelope({ ['a'.repeat(251)]: 1 }))).toBe(true);
  });
});

describe('metadata paths', () => {
  const tagged = envelope({ region: 'us' }, { metadata: { region: 'eu', source: 'pos', constructor: 'own' } });
  const untagged = envelope({ region: 'eu' });

  it('read the envelope\'s metadata, not data: metadata.region is the metadata key', () => {
    expect(matches({ 'metadata.region': 'eu' }, tagged)).toBe(true);
    expect(matches({ 'metadata.region': 'us' }, tagged)).toBe(false);
    expect(matches({ 'data.region': 'us' }, tagged)).toBe(true);
    expect(matches({ 'metadata.region': { $in: ['eu', 'uk'] }, 'metadata.source': { $ne: 'api' } }, tagged)).toBe(true);
    expect(matches({ 'metadata.region': { $gte: 'e', $lt: 'f' } }, tagged)).toBe(true);
  });

  it('are missing on an event without metadata, and for a key it does not hold', () => {
    expect(matches({ 'metadata.region': 'eu' }, untagged)).toBe(false);
    expect(matches({ 'metadata.region': { $exists: false } }, untagged)).toBe(true);
    expect(matches({ 'metadata.region': { $ne: 'eu' } }, untagged)).toBe(true);
    expect(matches({ 'metadata.region': { $nin: ['eu'] } }, untagged)).toBe(true);
    expect(matches({ 'metadata.region': null }, untagged)).toBe(false);
    expect(matches({ 'metadata.channel': { $exists: false } }, tagged)).toBe(true);
    expect(matches({ 'metadata.channel': { $exists: true } }, tagged)).toBe(false);
  });

  it('test metadata itself for presence only: an object equals no literal', () => {
    expect(matches({ metadata: { $exists: true } }, tagged)).toBe(true);
    expect(matches({ metadata: { $exists: false } }, untagged)).toBe(true);
    expect(matches({ metadata: { $exists: true } }, untagged)).toBe(false);
    expect(matches({ metadata: null }, tagged)).toBe(false);
  });

  it('find own keys only: metadata.toString is missing, an own constructor key is found', () => {
    expect(matches({ 'metadata.toString': { $exists: false } }, tagged)).toBe(true);
    expect(matches({ 'metadata.hasOwnProperty': { $exists: false } }, tagged)).toBe(true);
    expect(matches({ 'metadata.constructor': 'own' }, tagged)).toBe(true);
    expect(matches({ 'metadata.constructor': { $exists: false } }, envelope(null, { metadata: { region: 'eu' } }))).toBe(true);
  });

  it('combine with logical operators and data paths', () => {
    const filter = { $or: [{ 'metadata.region': 'us' }, { $and: [{ 'metadata.source': 'pos' }, { 'data.region': 'us' }] }] };
    expect(matches(filter, tagged)).toBe(true);
    expect(matches({ $not: { 'metadata.region': 'eu' } }, tagged)).toBe(false);
    expect(matches({ $not: { 'metadata.region': 'eu' } }, untagged)).toBe(true);
  });

  it('take keys of 40 characters, digits, `_` and `-`', () => {
    const key = `${'k'.repeat(37)}_-9`;
    expect(key).toHaveLength(40);
    expect(matches({ [`metadata.${key}`]: 'v' }, envelope(null, { metadata: { [key]: 'v' } }))).toBe(true);
  });

  it('refuse an object literal on metadata with a hint at metadata.<key>', () => {
    const error = refusalOf(() => parsePayloadFilter({ metadata: { region: 'eu' } }));
    expect({ code: error.code, field: error.field }).toEqual({ code: 'PAYLOAD_FILTER_INVALID', field: 'filter.metadata' });
    expect(error.message).toContain('`metadata.region`');
  });
});

describe('refusals', () => {
  it('come as a ValidationError with the code PAYLOAD_FILTER_INVALID, the field and a message', () => {
    const error = refusalOf(() => parsePayloadFilter({ 'data.amount': { $gte: true } }));
    expect(isWebhookError(error)).toBe(true);
    expect(error).toMatchObject({ name: 'ValidationError', code: 'PAYLOAD_FILTER_INVALID', field: 'filter.data.amount.$gte' });
    expect(error.message).toContain('`filter.data.amount.$gte`');
    expect(error.message).toContain('true');
  });

  it.each([
    ['null', null],
    ['an array', [{ type: 'x' }]],
    ['a string', '{"type":"x"}'],
    ['a number', 1],
    ['undefined', undefined],
    ['a Map', new Map([['type', 'x']])],
    ['a class instance', new (class Filter {
      type = 'x';
    })()],
    ['a function', () => ({ type: 'x' })],
    ['an empty filter', {}],
  ])('refuse %s as the filter', (_name, filter) => {
    expectRefused(filter, 'filter');
  });

  it('name the caller field given', () => {
    const error = refusalOf(() => parsePayloadFilter({ id: 'x' }, 'subscriptions.create.filter'));
    expect(error).toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'subscriptions.create.filter.id' });
    expect(refusalOf(() => parsePayloadFilter({}, 'update.filter'))).toMatchObject({ field: 'update.filter' });
  });

  it.each([
    ['an unknown operator', { 'data.x': { $regex: 'a' } }, 'filter.data.x.$regex'],
    ['a misspelt operator', { 'data.x': { $gtee: 1 } }, 'filter.data.x.$gtee'],
    ['a logical operator under a path', { 'data.x': { $or: [{ type: 'a' }] } }, 'filter.data.x.$or'],
    ['an unknown logical operator', { $nor: [{ type: 'a' }] }, 'filter.$nor'],
    ['an operator in place of a path', { $eq: 1 }, 'filter.$eq'],
    ['an operator mixed with a key', { 'data.x': { $gt: 1, y: 2 } }, 'filter.data.x'],
    ['a key mixed with an operator', { 'data.x': { y: 2, $gt: 1 } }, 'filter.data.x'],
    ['an object as a literal', { 'data.amount': { currency: 'EUR' } }, 'filter.data.amount'],
    ['an array as a literal', { 'data.x': ['EUR'] }, 'filter.data.x'],
    ['an empty operator object', { 'data.x': {} }, 'filter.data.x'],
    ['$eq with an array', { 'data.x': { $eq: [1] } }, 'filter.data.x.$eq'],
    ['$eq with an object', { 'data.x': { $eq: { a: 1 } } }, 'filter.data.x.$eq'],
    ['$ne with an object', { 'data.x': { $ne: {} } }, 'filter.data.x.$ne'],
    ['$ne with an array', { 'data.x': { $ne: [] } }, 'filter.data.x.$ne'],
    ['$in with a string', { 'data.x': { $in: 'EUR' } }, 'filter.data.x.$in'],
    ['$in with an object', { 'data.x': { $in: { 0: 'EUR' } } }, 'filter.data.x.$in'],
    ['$in empty', { 'data.x': { $in: [] } }, 'filter.data.x.$in'],
    ['$in with 257 literals', { 'data.x': { $in: Array.from({ length: 257 }, (_, index) => index) } }, 'filter.data.x.$in'],
    ['$in holding an object', { 'data.x': { $in: ['a', { b: 1 }] } }, 'filter.data.x.$in[1]'],
    ['$in holding an array', { 'data.x': { $in: [['a']] } }, 'filter.data.x.$in[0]'],
    ['$in with a hole', { 'data.x': { $in: [1, , 2] } }, 'filter.data.x.$in[1]'],
    ['$nin with null', { 'data.x': { $nin: null } }, 'filter.data.x.$nin'],
    ['$nin empty', { 'data.x': { $nin: [] } }, 'filter.data.x.$nin'],
    ['$nin holding undefined', { 'data.x': { $nin: [1, undefined] } }, 'filter.data.x.$nin[1]'],
    ['$gt with a boolean', { 'data.x': { $gt: true } }, 'filter.data.x.$gt'],
    ['$gte with null', { 'data.x': { $gte: null } }, 'filter.data.x.$gte'],
    ['$lt with an array', { 'data.x': { $lt: [1] } }, 'filter.data.x.$lt'],
    ['$lte with an object', { 'data.x': { $lte: {} } }, 'filter.data.x.$lte'],
    ['$exists with a number', { 'data.x': { $exists: 1 } }, 'filter.data.x.$exists'],
    ['$exists with a string', { 'data.x': { $exists: 'true' } }, 'filter.data.x.$exists'],
    ['$exists with null', { 'data.x': { $exists: null } }, 'filter.data.x.$exists'],
    ['$and with an object', { $and: { type: 'a' } }, 'filter.$and'],
    ['$and empty', { $and: [] }, 'filter.$and'],
    ['$or holding a literal', { $or: [{ type: 'a' }, 'b'] }, 'filter.$or[1]'],
    ['$or holding an empty filter', { $or: [{ type: 'a' }, {}] }, 'filter.$or[1]'],
    ['$or with a hole', { $or: [{ type: 'a' }, , { type: 'b' }] }, 'filter.$or[1]'],
    ['$not with an array', { $not: [{ type: 'a' }] }, 'filter.$not'],
    ['$not with an empty filter', { $not: {} }, 'filter.$not'],
    ['$not with null', { $not: null }, 'filter.$not'],
    ['a deep operand of the wrong type', { $or: [{ type: 'a' }, { $and: [{ 'data.amount': { $gte: 'x', $lt: false } }] }] }, 'filter.$or[1].$and[0].data.amount.$lt'],
  ])('refuse %s', (_name, filter, field) => {
    expectRefused(filter, field);
  });

  it.each([
    ['id', 'filter.id'],
    ['environment', 'filter.environment'],
    ['metadata.region.code', 'filter.metadata.region.code'],
    ['metadata.a.b', 'filter.metadata.a.b'],
    ['metadata.with space', 'filter.metadata.with space'],
    ['metadata.ü', 'filter.metadata.ü'],
    [`metadata.${'k'.repeat(41)}`, `filter.metadata.${'k'.repeat(41)}`],
    ['metadata.', 'filter.metadata.'],
    ['metadatas.x', 'filter.metadatas.x'],
    ['foo', 'filter.foo'],
    ['Type', 'filter.Type'],
    ['datas.x', 'filter.datas.x'],
    ['__proto__', 'filter.__proto__'],
    ['', 'filter.'],
    ['data.', 'filter.data.'],
    ['.data', 'filter..data'],
    ['data..x', 'filter.data..x'],
    ['data.x.', 'filter.data.x.'],
    ['type.length', 'filter.type.length'],
    ['timestamp.x', 'filter.timestamp.x'],
    [['data', ...Array.from({ length: 16 }, (_, index) => `k${index}`)].join('.'), `filter.${['data', ...Array.from({ length: 16 }, (_, index) => `k${index}`)].join('.')}`],
    [`data.${'a'.repeat(252)}`, `filter.data.${'a'.repeat(252)}`],
  ])('refuse the path %j', (path, field) => {
    const filter: Record<string, unknown> = {};
    // defineProperty, so that a `__proto__` key is an own key, as JSON.parse makes it.
    Object.defineProperty(filter, path, { value: 1, enumerable: true, configurable: true, writable: true });
    expectRefused(filter, field);
  });

  it('say which roots a path may have', () => {
    const error = refusalOf(() => parsePayloadFilter({ 'tenant.id': 'a' }));
    for (const root of ['`type`', '`timestamp`', '`metadata`', '`metadata.<key>`', '`data`']) expect(error.message).toContain(root);
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['undefined', undefined],
    ['a function', () => 1],
    ['a symbol', Symbol('x')],
    ['a BigInt', 10n],
    ['a Date', new Date('2026-01-01T00:00:00Z')],
    ['a Map', new Map()],
    ['a RegExp', /EUR/],
    ['a boxed string', Object('EUR') as unknown],
  ])('refuse %s as a literal and as an operand', (_name, value) => {
    expectRefused({ 'data.x': value }, 'filter.data.x');
    expectRefused({ 'data.x': { $eq: value } }, 'filter.data.x.$eq');
    expectRefused({ 'data.x': { $in: ['a', value] } }, 'filter.data.x.$in[1]');
    expectRefused({ 'data.x': { $gt: value } }, 'filter.data.x.$gt');
  });

  it('refuse a symbol key on a filter and on an operator object', () => {
    expectRefused({ type: 'a', [Symbol('x')]: 1 }, 'filter');
    expectRefused({ $not: { type: 'a', [Symbol('x')]: 1 } }, 'filter.$not');
    expectRefused({ 'data.x': { $eq: 1, [Symbol('x')]: 1 } }, 'filter.data.x');
  });

  it('refuse a non-plain object in place of a nested filter or an operator object', () => {
    expectRefused({ $and: [new Map()] }, 'filter.$and[0]');
    expectRefused({ 'data.x': new (class Operators {
      $eq = 1;
    })() }, 'filter.data.x');
  });

  it('refuse an object whose reading throws, with the error as the cause', () => {
    const failure = new Error('no access');
    const filter = {
      get 'data.x'(): never {
        throw failure;
      },
    };
    const error = refusalOf(() => parsePayloadFilter({ $or: [filter] }));
    expect(error).toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'filter', cause: failure });
  });

  it('take a null-prototype object as a plain one', () => {
    const filter = Object.assign(Object.create(null) as object, { type: 'a' });
    expect(parsePayloadFilter(filter)).toBe('{"type":"a"}');
  });

  it('take strings of 1,024 characters and refuse longer ones, as literals, operands and list elements', () => {
    const longest = 'x'.repeat(1024);
    expect(matches({ 'data.x': longest, 'data.y': { $in: [longest] }, 'data.z': { $lte: longest } }, envelope({ x: longest, y: longest, z: longest }))).toBe(true);
    const over = 'x'.repeat(1025);
    expectRefused({ 'data.x': over }, 'filter.data.x');
    expectRefused({ 'data.x': { $ne: over } }, 'filter.data.x.$ne');
    expectRefused({ 'data.x': { $nin: ['a', 'b', over] } }, 'filter.data.x.$nin[2]');
    expectRefused({ 'data.x': { $gte: over } }, 'filter.data.x.$gte');
  });

  it('take 256 literals in a list', () => {
    expect(matchesX({ $in: Array.from({ length: 256 }, (_, index) => index) }, { x: 255 })).toBe(true);
  });

  it('take logical operators nested 8 deep and refuse a 9th, naming it', () => {
    const nestedNot = (levels: number): object => {
      let filter: object = { type: 'payment.succeeded' };
      for (let level = 0; level < levels; level++) filter = { $not: filter };
      return filter;
    };
    expect(matches(nestedNot(8), envelope({}))).toBe(true);
    expect(matches(nestedNot(7), envelope({}))).toBe(false);
    expectRefused(nestedNot(9), `filter${'.$not'.repeat(9)}`);

    const nestedAnd = (levels: number): object => {
      let filter: object = { type: 'payment.succeeded' };
      for (let level = 0; level < levels; level++) filter = { $and: [filter] };
      return filter;
    };
    expect(matches(nestedAnd(8), envelope({}))).toBe(true);
    expectRefused(nestedAnd(9), `filter${'.$and[0]'.repeat(8)}.$and`);
    expectRefused({ $or: [{ type: 'a' }, nestedAnd(8)] }, `filter.$or[1]${'.$and[0]'.repeat(7)}.$and`);
  });

  it('stop at the depth limit on a filter that contains itself', () => {
    const cyclic: Record<string, unknown> = { type: 'a' };
    cyclic.$not = cyclic;
    expectRefused(cyclic, `filter${'.$not'.repeat(9)}`);
  });

  it('take 64 path conditions and refuse a 65th, naming it', () => {
    const conditions = (count: number) => Array.from({ length: count }, (_, index) => ({ [`data.k${index}`]: index }));
    const data = Object.fromEntries(Array.from({ length: 65 }, (_, index) => [`k${index}`, index]));
    expect(matches({ $and: conditions(64) }, envelope(data))).toBe(true);
    expectRefused({ $and: conditions(65) }, 'filter.$and[64].data.k64');
    expect(matches(Object.assign({}, ...conditions(64)) as object, envelope(data))).toBe(true);
    expectRefused(Object.assign({}, ...conditions(65)) as object, 'filter.data.k64');
    expectRefused({ type: 'payment.succeeded', $or: conditions(64) }, 'filter.$or[63].data.k63');
  });

  describe('the size of the canonical text', () => {
    /** A filter whose canonical text is exactly `bytes` bytes of UTF-8, its strings made of `unit`. */
    function filterOfBytes(bytes: number, unit: string): object {
      const strings = 9;
      const base = Buffer.byteLength(JSON.stringify({ 'data.a': { $in: Array<string>(strings).fill('') } }));
      const unitBytes = Buffer.byteLength(unit);
      const units = Math.floor((bytes - base) / unitBytes);
      const list = Array.from({ length: strings }, (_, index) => unit.repeat(Math.floor(units / strings) + (index < units % strings ? 1 : 0)));
      list[strings - 1] += 'x'.repeat(bytes - base - units * unitBytes);
      const filter = { 'data.a': { $in: list } };
      expect(Buffer.byteLength(JSON.stringify(filter))).toBe(bytes);
      return filter;
    }

    it.each([
      ['ASCII', 'x'],
      ['two-byte characters', 'é'],
      ['characters outside the BMP', '\u{1f4b6}'],
    ])('takes 8,192 bytes and refuses 8,193, counting UTF-8 bytes (%s)', (_name, unit) => {
      expect(parsePayloadFilter(filterOfBytes(8192, unit))).toHaveLength(JSON.stringify(filterOfBytes(8192, unit)).length);
      expectRefused(filterOfBytes(8193, unit), 'filter');
    });

    it('names the caller field for a filter too large', () => {
      const error = refusalOf(() => parsePayloadFilter(filterOfBytes(9000, 'x'), 'options.filter'));
      expect(error).toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'options.filter' });
    });
  });
});

describe('the canonical text', () => {
  it('is JSON.stringify of the filter, keys in the order given', () => {
    const filter = { 'data.b': 1, type: { $in: ['a', 'b'], $ne: 'c' }, $or: [{ 'data.a': null }, { $not: { timestamp: { $exists: true } } }] };
    expect(parsePayloadFilter(filter)).toBe(JSON.stringify(filter));
    expect(parsePayloadFilter({ type: 'a', 'data.b': 1 })).not.toBe(parsePayloadFilter({ 'data.b': 1, type: 'a' }));
  });

  it('is the same for equal filters built apart, and for its own filter again', () => {
    const built: Record<string, unknown> = {};
    built.type = 'payment.succeeded';
    built['data.amount.amount'] = { $gte: 100000 };
    const text = parsePayloadFilter(built);
    expect(parsePayloadFilter({ type: 'payment.succeeded', 'data.amount.amount': { $gte: 100000 } })).toBe(text);
    expect(parsePayloadFilter(JSON.parse(text))).toBe(text);
    expect(parsePayloadFilter(payloadFilterOf(text))).toBe(text);
    expect(parsePayloadFilter(JSON.parse('{"type":"payment.succeeded","data.amount.amount":{"$gte":100000.0}}'))).toBe(text);
  });

  it('writes what was checked, reading each value once', () => {
    let reads = 0;
    const filter = {
      get 'data.x'() {
        reads++;
        return reads === 1 ? 'checked' : ['unchecked'];
      },
    };
    expect(parsePayloadFilter(filter)).toBe('{"data.x":"checked"}');
    expect(reads).toBe(1);
  });

  it('comes back from payloadFilterOf as an equal object, a new one each time', () => {
    const filter = { $or: [{ 'data.lines.0.amount': { $gt: 5 } }, { type: null }] };
    const text = parsePayloadFilter(filter);
    const first = payloadFilterOf(text);
    expect(first).toEqual(filter);
    expect(payloadFilterOf(text)).toEqual(filter);
    expect(payloadFilterOf(text)).not.toBe(first);
  });

  it('is refused by payloadFilterOf and payloadFilterMatcher when it is not a valid filter', () => {
    for (const read of [payloadFilterOf, payloadFilterMatcher]) {
      expect(refusalOf(() => read('{"type":'))).toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'filter' });
      expect(refusalOf(() => read('null'))).toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'filter' });
      expect(refusalOf(() => read('{}'))).toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'filter' });
      expect(refusalOf(() => read('{"id":1}'))).toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'filter.id' });
      expect(refusalOf(() => read('{"__proto__":{"type":"a"}}'))).toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'filter.__proto__' });
      expect(refusalOf(() => read('{"data.x":1e400}'))).toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'filter.data.x' });
      expect(refusalOf(() => read(42 as unknown as string))).toMatchObject({ code: 'PAYLOAD_FILTER_INVALID', field: 'filter' });
    }
  });

  it('may be any JSON text of a valid filter for the matcher, spaces included', () => {
    expect(payloadFilterMatcher('{ "data.x" : { "$gt" : 1 } }')(envelope({ x: 2 }))).toBe(true);
  });
});

describe('payloadFilterMatcher', () => {
  it('returns the same function for the same text, another for another text', () => {
    const text = parsePayloadFilter({ 'data.cached': true });
    const matcher = payloadFilterMatcher(text);
    expect(payloadFilterMatcher(text)).toBe(matcher);
    expect(payloadFilterMatcher(parsePayloadFilter({ 'data.cached': false }))).not.toBe(matcher);
    expect(matcher(envelope({ cached: true }))).toBe(true);
    expect(matcher(envelope({ cached: false }))).toBe(false);
  });

  it('keeps 1,000 texts, dropping the oldest first', () => {
    const firstText = parsePayloadFilter({ 'data.bounded': -1 });
    const first = payloadFilterMatcher(firstText);
    for (let index = 0; index < 999; index++) payloadFilterMatcher(parsePayloadFilter({ 'data.bounded': index }));
    // The first text and the 999 after it fill the cache: the first is still there.
    expect(payloadFilterMatcher(firstText)).toBe(first);
    payloadFilterMatcher(parsePayloadFilter({ 'data.bounded': 999 }));
    const again = payloadFilterMatcher(firstText);
    expect(again).not.toBe(first);
    expect(again(envelope({ bounded: -1 }))).toBe(true);
    expect(again(envelope({ bounded: 0 }))).toBe(false);
  });

  it('caches no refusal: an invalid text is refused every time', () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(refusalOf(() => payloadFilterMatcher('{"data.x":{"$gt":true}}'))).toMatchObject({ field: 'filter.data.x.$gt' });
    }
  });
});
