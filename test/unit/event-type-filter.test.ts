import { describe, expect, it } from 'vitest';
import { eventTypeFilterKind, matchesAnyEventType, matchesEventType } from '../../src/registry/event-type-filter.js';

describe('eventTypeFilterKind', () => {
  it.each(['payment', 'payment.succeeded', 'payment.card.captured', 'balance.depleted', 'a-b.c_d', 'v2.payment'])(
    'classifies %j as an exact type',
    (filter) => {
      expect(eventTypeFilterKind(filter)).toBe('exact');
    },
  );

  it.each(['payment.*', 'payment.card.*', 'a.*'])('classifies %j as a prefix', (filter) => {
    expect(eventTypeFilterKind(filter)).toBe('prefix');
  });

  it('classifies "*" as every type', () => {
    expect(eventTypeFilterKind('*')).toBe('all');
  });

  it.each([
    ['an empty string', ''],
    ['a lone dot', '.'],
    ['an empty segment', 'a..b'],
    ['a leading dot', '.payment'],
    ['a trailing dot', 'payment.'],
    ['a wildcard glued to a word', 'payment*'],
    ['a wildcard at the start', '*.x'],
    ['a wildcard in the middle', 'a.*.b'],
    ['a double wildcard', 'payment.**'],
    ['a wildcard after a lone dot', '.*'],
    ['an uppercase letter', 'A.b'],
    ['an uppercase segment', 'payment.Succeeded'],
    ['a leading space', ' a'],
    ['a trailing space', 'a '],
    ['an inner space', 'payment .succeeded'],
    ['a segment starting with a dash', '-a'],
    ['a segment starting with an underscore', 'a._b'],
    ['a slash', 'payment/succeeded'],
  ])('classifies %s (%j) as invalid', (_name, filter) => {
    expect(eventTypeFilterKind(filter)).toBe('invalid');
  });
});

describe('matchesEventType', () => {
  it('matches an exact filter to that type only', () => {
    expect(matchesEventType('payment.succeeded', 'payment.succeeded')).toBe(true);
    expect(matchesEventType('payment.succeeded', 'payment.failed')).toBe(false);
    expect(matchesEventType('payment.succeeded', 'payment.succeeded.late')).toBe(false);
    expect(matchesEventType('payment', 'payment.succeeded')).toBe(false);
  });

  it.each(['payment.succeeded', 'payment.failed', 'payment.card.x'])('matches payment.* to %j', (type) => {
    expect(matchesEventType('payment.*', type)).toBe(true);
  });

  it.each([
    ['the bare prefix', 'payment'],
    ['a longer word sharing the prefix', 'paymentx.y'],
    ['another family', 'refund.x'],
    ['a type containing the prefix later', 'refund.payment.x'],
  ])('does not match payment.* to %s (%j)', (_name, type) => {
    expect(matchesEventType('payment.*', type)).toBe(false);
  });

  it('matches a nested prefix only below it', () => {
    expect(matchesEventType('payment.card.*', 'payment.card.captured')).toBe(true);
    expect(matchesEventType('payment.card.*', 'payment.cardx.captured')).toBe(false);
    expect(matchesEventType('payment.card.*', 'payment.succeeded')).toBe(false);
  });

  it.each(['payment.succeeded', 'balance.depleted', 'x'])('matches * to %j', (type) => {
    expect(matchesEventType('*', type)).toBe(true);
  });
});

describe('matchesAnyEventType', () => {
  it('matches when any filter matches', () => {
    expect(matchesAnyEventType(['refund.*', 'payment.succeeded'], 'payment.succeeded')).toBe(true);
    expect(matchesAnyEventType(['refund.*', 'payment.succeeded'], 'refund.failed')).toBe(true);
  });

  it('does not match when no filter matches, nor with no filters', () => {
    expect(matchesAnyEventType(['refund.*', 'payment.succeeded'], 'payment.failed')).toBe(false);
    expect(matchesAnyEventType([], 'payment.failed')).toBe(false);
  });
});
