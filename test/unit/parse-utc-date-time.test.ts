import { describe, expect, it } from 'vitest';
import { parseUtcDateTime } from '../../src/dashboard/parse-utc-date-time.js';

describe('parseUtcDateTime', () => {
  it('reads what a datetime-local input sends, and a full ISO time, as UTC', () => {
    expect(parseUtcDateTime('2026-11-26T12:05', 'since')).toEqual({ ms: Date.UTC(2026, 10, 26, 12, 5) });
    expect(parseUtcDateTime('2026-11-26T12:05:07', 'since')).toEqual({ ms: Date.UTC(2026, 10, 26, 12, 5, 7) });
    expect(parseUtcDateTime('2026-11-26T12:05:07.5', 'since')).toEqual({ ms: Date.UTC(2026, 10, 26, 12, 5, 7, 500) });
    expect(parseUtcDateTime('2026-11-26T12:05:07.123Z', 'since')).toEqual({ ms: Date.UTC(2026, 10, 26, 12, 5, 7, 123) });
    expect(parseUtcDateTime('1970-01-01T00:00', 'since')).toEqual({ ms: 0 });
    expect(parseUtcDateTime('2024-02-29T23:59:59', 'since')).toEqual({ ms: Date.UTC(2024, 1, 29, 23, 59, 59) });
  });

  it('refuses what is not a date and time, an impossible one, a zone other than UTC and a time before 1970', () => {
    for (const text of ['', 'yesterday', '2026-11-26', '2026-11-26 12:05', '2026-02-30T10:00', '2025-02-29T10:00', '2026-13-01T00:00', '2026-11-26T24:00', '2026-11-26T12:60', '2026-11-26T12:05:60', '2026-11-26T12:05+01:00', '1969-12-31T23:59', '0070-01-01T00:00', '2026-11-26T12:05:07.1234']) {
      const result = parseUtcDateTime(text, 'until');
      expect(result, text).toEqual({ problem: expect.any(String) });
    }
  });
});
