/**
 * Event versions as pure logic: defineEvents reads and refuses versioned definitions
 * (CONFIG_INVALID naming the field); the downgrade chain over three versions, each step
 * checked against the schema it lands on; version pins checked, defaulted and read back.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bookkeeperEvents, defineEvents } from '../../src/index.js';
import { downgradeData, versionRoute } from '../../src/routing/event-versions.js';
import { defaultVersionPins, parseVersionPins, versionPinsOf } from '../../src/routing/version-pins.js';
import { subscriptionAt } from '../support/storage-records.js';
import { thrownBy } from '../support/rejections.js';

const v1 = z.object({ paymentId: z.string(), amountMinor: z.int() });
const v2 = z.object({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int() });
const v3 = z.object({ id: z.string(), netMinor: z.int(), feeMinor: z.int(), capturedAt: z.iso.datetime() });

const calls: string[] = [];
const catalog = defineEvents({
  'payment.succeeded': {
    versions: {
      1: { schema: v1, example: { paymentId: 'pay_1', amountMinor: 1000 } },
      2: {
        schema: v2,
        downgrade: (data: z.output<typeof v2>) => {
          calls.push('2→1');
          return { paymentId: data.paymentId, amountMinor: data.netMinor + data.feeMinor };
        },
      },
      3: {
        schema: v3,
        example: { id: 'pay_1', netMinor: 970, feeMinor: 30, capturedAt: '2026-12-05T09:00:00Z' },
        downgrade: (data: z.output<typeof v3>) => {
          calls.push('3→2');
          // A downgrade that changes its argument changes nobody else's copy.
          (data as { id: string }).id = 'changed';
          return { paymentId: 'pay_1', netMinor: data.netMinor, feeMinor: data.feeMinor, extra: 'stripped by v2' };
        },
      },
    },
  },
  'refund.created': z.object({ refundId: z.string() }),
});
const v3Data = { id: 'pay_1', netMinor: 970, feeMinor: 30, capturedAt: '2026-12-05T09:00:00Z' };

describe('defineEvents with versions', () => {
  it("reads a versioned type: its newest version's schema and example as the type's, every version in catalog.versions", () => {
    expect(catalog.schemas['payment.succeeded']).toBe(v3);
    expect(catalog.examples['payment.succeeded']).toEqual(v3Data);
    const versions = catalog.versions['payment.succeeded'];
    expect({ list: versions.list, oldest: versions.oldest, newest: versions.newest }).toEqual({ list: [1, 2, 3], oldest: 1, newest: 3 });
    expect(versions.schemas).toEqual({ 1: v1, 2: v2, 3: v3 });
    expect(versions.examples).toEqual({ 1: { paymentId: 'pay_1', amountMinor: 1000 }, 3: v3Data });
    expect(Object.keys(versions.downgrades)).toEqual(['2', '3']);
    expect(Object.isFrozen(versions)).toBe(true);
    expect(Object.keys(catalog.versions)).toEqual(['payment.succeeded']);
    // A catalog of single schemas has none: bookkeeperEvents is unchanged.
    expect(bookkeeperEvents.versions).toEqual({});
  });

  it('refuses a malformed versioned definition with CONFIG_INVALID naming the field', () => {
    const downgrade = (data: unknown) => data;
    const cases: Array<[unknown, string]> = [
      [{ versions: { 1: { schema: v1 } }, schema: v1 }, 'a.b'],
      [{ versions: [] }, 'a.b.versions'],
      [{ versions: {} }, 'a.b.versions'],
      [{ versions: { 0: { schema: v1 } } }, 'a.b.versions.0'],
      [{ versions: { v1: { schema: v1 } } }, 'a.b.versions.v1'],
      [{ versions: { 100: { schema: v1 } } }, 'a.b.versions.100'],
      [{ versions: { 1: { schema: v1 }, 3: { schema: v2, downgrade } } }, 'a.b.versions.3'],
      [{ versions: { 1: v1 } }, 'a.b.versions.1'],
      [{ versions: { 1: { schema: v1, since: '2025' } } }, 'a.b.versions.1'],
      [{ versions: { 1: { schema: {} } } }, 'a.b.versions.1.schema'],
      [{ versions: { 1: { schema: v1, downgrade } } }, 'a.b.versions.1.downgrade'],
      [{ versions: { 1: { schema: v1 }, 2: { schema: v2 } } }, 'a.b.versions.2.downgrade'],
      [{ versions: { 1: { schema: v1 }, 2: { schema: v2, downgrade: 'v1' } } }, 'a.b.versions.2.downgrade'],
    ];
    for (const [definition, field] of cases) {
      expect(thrownBy(() => defineEvents({ 'a.b': definition } as never)), JSON.stringify(definition)).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', field });
    }
    // A version's example is checked when first read, naming it.
    const wrong = defineEvents({ 'a.b': { versions: { 1: { schema: v1, example: { paymentId: 1 } as never } } } });
    expect(thrownBy(() => wrong.versions['a.b'].examples[1])).toMatchObject({ code: 'CONFIG_INVALID', field: 'a.b.versions.1.example' });
  });
});

describe('the downgrade chain', () => {
  const pinned = (versions: string | null) => subscriptionAt(1_700_000_000_000, { id: 'sub_erp', versions });

  it('downgrades v3 data to v1 one version at a time, each step parsed by the schema it lands on', () => {
    calls.length = 0;
    const route = versionRoute(catalog, 'payment.succeeded', 3, pinned('{"payment.succeeded":1}'))!;
    expect({ from: route.from, to: route.to }).toEqual({ from: 3, to: 1 });
    const data = structuredClone(v3Data);
    expect(downgradeData(route, 'payment.succeeded', data, 'sub_erp')).toEqual({ paymentId: 'pay_1', amountMinor: 1000 });
    expect(calls).toEqual(['3→2', '2→1']);
    expect(data).toEqual(v3Data);
    // To v2: one step, the key v2's schema does not know stripped by its parse.
    const toV2 = versionRoute(catalog, 'payment.succeeded', 3, pinned('{"payment.succeeded":2}'))!;
    expect(downgradeData(toV2, 'payment.succeeded', v3Data, 'sub_erp')).toEqual({ paymentId: 'pay_1', netMinor: 970, feeMinor: 30 });
  });

  it('routes nothing for a type without versions, keeps the event version when unpinned or pinned above it, and refuses a pin the catalog lacks', () => {
    expect(versionRoute(catalog, 'refund.created', undefined, pinned('{"payment.succeeded":1}'))).toBeNull();
    expect(versionRoute(catalog, 'payment.succeeded', 3, pinned(null))).toMatchObject({ from: 3, to: 3 });
    // An event stored in v2 (published before v3) is not upgraded for a subscription pinned to v3.
    expect(versionRoute(catalog, 'payment.succeeded', 2, pinned('{"payment.succeeded":3}'))).toMatchObject({ from: 2, to: 2 });
    // An envelope without a version (published before the type had versions) is the oldest.
    expect(versionRoute(catalog, 'payment.succeeded', undefined, pinned(null))).toMatchObject({ from: 1, to: 1 });
    expect(thrownBy(() => versionRoute(catalog, 'payment.succeeded', 3, pinned('{"payment.succeeded":7}')))).toMatchObject({
      name: 'ValidationError',
      code: 'EVENT_VERSION_UNKNOWN',
      field: 'versions.payment.succeeded',
    });
  });

  it('refuses with EVENT_DOWNGRADE_FAILED a step whose output the version below refuses, naming the step and the subscription', () => {
    const broken = defineEvents({
      'a.b': { versions: { 1: { schema: v1 }, 2: { schema: v2, downgrade: (data: z.output<typeof v2>) => ({ paymentId: data.paymentId, amountMinor: 9.5 }) } } },
    });
    const route = versionRoute(broken, 'a.b', 2, pinned('{"a.b":1}'))!;
    const refused = thrownBy(() => downgradeData(route, 'a.b', { paymentId: 'p', netMinor: 1, feeMinor: 2 }, 'sub_erp'));
    expect(refused).toMatchObject({ name: 'ValidationError', code: 'EVENT_DOWNGRADE_FAILED', field: 'versions.a.b' });
    expect((refused as Error).message).toMatch(/from version 2 to version 1 \(for subscription sub_erp\)/);
    expect((refused as Error).message).toContain('data.amountMinor');
  });
});

describe('version pins', () => {
  it('checks pins against the catalog and keeps them as canonical text, types sorted; {} and null are none', () => {
    const wide = defineEvents({
      'refund.created': { versions: { 1: { schema: z.object({ id: z.string() }) } } },
      'payment.succeeded': catalog.versions['payment.succeeded'].schemas[1],
    });
    expect(parseVersionPins(catalog, { 'payment.succeeded': 2 })).toBe('{"payment.succeeded":2}');
    expect(parseVersionPins(catalog, {})).toBeNull();
    expect(parseVersionPins(catalog, null)).toBeNull();
    expect(thrownBy(() => parseVersionPins(wide, { 'payment.succeeded': 1 }))).toMatchObject({ code: 'EVENT_VERSION_UNKNOWN', field: 'versions.payment.succeeded' });
    expect(thrownBy(() => parseVersionPins(catalog, 'payment.succeeded@1'))).toMatchObject({ code: 'INPUT_INVALID', field: 'versions' });
    expect(versionPinsOf('{"a.b":1,"c.d":"x"}')).toEqual({ 'a.b': 1 });
    expect(versionPinsOf('not json')).toEqual({});
  });

  it('defaults to the newest version of each versioned type the event types match, keeping the pins there are', () => {
    expect(defaultVersionPins(catalog, ['*'])).toBe('{"payment.succeeded":3}');
    expect(defaultVersionPins(catalog, ['payment.*'])).toBe('{"payment.succeeded":3}');
    expect(defaultVersionPins(catalog, ['refund.created'])).toBeNull();
    expect(defaultVersionPins(catalog, ['*'], '{"payment.succeeded":1}')).toBe('{"payment.succeeded":1}');
    expect(defaultVersionPins(bookkeeperEvents, ['*'])).toBeNull();
  });
});
