// Type tests of PayloadFilter: paths under `data.` and `metadata.`, `type`, `timestamp`,
// `metadata` and `data` to a
// literal or an operator object, $and/$or/$not of filters; other roots, arrays or objects as
// literals, unknown operators and wrong operand types fail to compile. Run by `vitest --typecheck` and by `tsc`.
import { describe, expectTypeOf, it } from 'vitest';
import type { FilterDocument, PayloadFilter } from '../../src/routing/payload-filter.js';
import { payloadFilterMatcher, payloadFilterOf } from '../../src/routing/payload-filter.js';

describe('PayloadFilter', () => {
  it('takes the example of the issue and nested logic', () => {
    const bigEuroPayments = { 'data.amount.currency': 'EUR', 'data.amount.amount': { $gte: 100000 } } satisfies PayloadFilter;
    expectTypeOf(bigEuroPayments).toExtend<PayloadFilter>();
    const nested: PayloadFilter = {
      type: { $in: ['invoice.created', 'invoice.updated'] },
      timestamp: { $gte: '2026-01-01T00:00:00Z' },
      data: { $exists: true },
      $or: [{ 'data.status': 'open', 'data.lines.0.amount': { $gt: 0, $lte: 10 } }, { $not: { 'data.test': true } }],
      $and: [{ 'data.memo': null }, { 'data.tags.0': { $nin: ['internal', 1, false, null] } }],
    };
    expectTypeOf(nested).toExtend<PayloadFilter>();
  });

  it('takes metadata paths, alone and inside logic', () => {
    const byRegion: PayloadFilter = {
      'metadata.region': { $in: ['eu', 'uk'] },
      metadata: { $exists: true },
      $or: [{ 'metadata.source': 'pos' }, { $not: { 'metadata.channel': { $exists: true } } }],
    };
    expectTypeOf(byRegion).toExtend<PayloadFilter>();
    // @ts-expect-error a metadata value is compared as a literal, never as an object
    const objectLiteral: PayloadFilter = { 'metadata.region': { code: 'eu' } };
    expectTypeOf(objectLiteral).toEqualTypeOf<PayloadFilter>();
  });

  it('gives the document its optional metadata of strings', () => {
    expectTypeOf<FilterDocument['metadata']>().toEqualTypeOf<Readonly<Record<string, string>> | undefined>();
  });

  it('refuses other roots, arrays and objects as literals, unknown operators and wrong operands', () => {
    // @ts-expect-error `id` is not a path
    const otherRoot: PayloadFilter = { id: 'evt_1' };
    // @ts-expect-error `type` has no fields
    const typeField: PayloadFilter = { 'type.length': 3 };
    // @ts-expect-error arrays are not compared
    const arrayLiteral: PayloadFilter = { 'data.tags': ['a'] };
    // @ts-expect-error $regex is no operator
    const unknownOperator: PayloadFilter = { 'data.memo': { $regex: 'rent' } };
    // @ts-expect-error ordering takes a number or a string
    const booleanOrdering: PayloadFilter = { 'data.amount': { $gt: true } };
    // @ts-expect-error $exists takes a boolean
    const stringExists: PayloadFilter = { 'data.amount': { $exists: 'yes' } };
    // @ts-expect-error $and takes an array of filters
    const andObject: PayloadFilter = { $and: { type: 'a' } };
    // @ts-expect-error $in takes literals, not an object
    const objectInList: PayloadFilter = { 'data.x': { $in: [{ a: 1 }] } };
    expectTypeOf([otherRoot, typeField, arrayLiteral, unknownOperator, booleanOrdering, stringExists, andObject, objectInList]).toEqualTypeOf<PayloadFilter[]>();
  });

  it('types the matcher and the filter of a text', () => {
    expectTypeOf(payloadFilterMatcher).returns.toEqualTypeOf<(document: FilterDocument) => boolean>();
    expectTypeOf(payloadFilterOf).returns.toEqualTypeOf<PayloadFilter>();
  });
});
