import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../src/delivery/retry-after.js';

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0);

describe('parseRetryAfter', () => {
  describe('delay-seconds', () => {
    it.each([
      ['0', 0],
      ['1', 1_000],
      ['120', 120_000],
      ['86400', 86_400_000],
      ['2026', 2_026_000],
    ])('reads %j as a wait of %i ms', (value, expected) => {
      expect(parseRetryAfter(value, NOW)).toBe(expected);
    });

    it('ignores whitespace around the number', () => {
      expect(parseRetryAfter('  30 ', NOW)).toBe(30_000);
    });

    it('does not depend on now', () => {
      expect(parseRetryAfter('30', NOW + 12_345)).toBe(30_000);
    });

    it('refuses a number too large to hold exactly', () => {
      expect(parseRetryAfter('99999999999999999999', NOW)).toBeNull();
    });
  });

  describe('HTTP-date', () => {
    it('reads an IMF-fixdate as the wait from now until that time', () => {
      expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', NOW)).toBe(60_000);
      expect(parseRetryAfter('Fri, 02 Jan 2026 00:00:00 GMT', NOW)).toBe(86_400_000);
    });

    it('reads the obsolete RFC 850 and asctime forms that RFC 9110 §5.6.7 obliges recipients to accept', () => {
      expect(parseRetryAfter('Thursday, 01-Jan-26 00:01:00 GMT', NOW)).toBe(60_000);
      expect(parseRetryAfter('Thu Jan  1 00:01:00 2026', NOW)).toBe(60_000);
    });

    it('reads an asctime date as UTC whatever the host time zone is', () => {
      const saved = process.env.TZ;
      process.env.TZ = 'America/New_York';
      try {
        expect(parseRetryAfter('Thu Jan  1 00:01:00 2026', NOW)).toBe(60_000);
      } finally {
        if (saved === undefined) delete process.env.TZ;
        else process.env.TZ = saved;
      }
    });

    it('reads a date equal to now as no wait', () => {
      expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:00 GMT', NOW)).toBe(0);
    });

    it('reads a date in the past as no wait (0), never a negative one', () => {
      expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', NOW)).toBe(0);
      expect(parseRetryAfter('Wed, 31 Dec 2025 23:59:59 GMT', NOW)).toBe(0);
    });
  });

  describe('absent or unreadable values', () => {
    it.each([
      ['undefined', undefined],
      ['null', null],
      ['an empty string', ''],
      ['only whitespace', '   '],
    ])('returns null for %s', (_name, value) => {
      expect(parseRetryAfter(value, NOW)).toBeNull();
    });

    it.each([
      ['a word', 'soon'],
      ['digits followed by letters', '12abc'],
      ['exponent notation', '1e3'],
      ['a fraction of seconds', '1.5'],
      ['an explicit plus sign', '+5'],
      ['a word followed by a number', 'later 10'],
      ['an impossible date', 'Thu, 45 Foo 2026 99:99:99 GMT'],
    ])('returns null for garbage: %s (%j)', (_name, value) => {
      expect(parseRetryAfter(value, NOW)).toBeNull();
    });

    it.each([
      ['-5', '-5'],
      ['-1', '-1'],
      ['-0.5', '-0.5'],
    ])('returns null for a negative number of seconds (%s)', (_name, value) => {
      expect(parseRetryAfter(value, NOW)).toBeNull();
    });
  });
});
