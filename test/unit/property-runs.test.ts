import { describe, expect, it } from 'vitest';
import { SHORT_RUNS, propertyRuns } from '../support/property-runs.js';

describe('propertyRuns', () => {
  it('gives the full count when PROPERTY_RUNS is full or CI is set', () => {
    expect(propertyRuns(25_000, { PROPERTY_RUNS: 'full' })).toBe(25_000);
    expect(propertyRuns(25_000, { CI: 'true' })).toBe(25_000);
    expect(propertyRuns(25_000, { CI: '1' })).toBe(25_000);
  });

  it('gives the short count, never above the full one, when neither asks for more', () => {
    expect(propertyRuns(25_000, {})).toBe(SHORT_RUNS);
    expect(propertyRuns(25_000, { CI: 'false' })).toBe(SHORT_RUNS);
    expect(propertyRuns(25_000, { CI: '0', PROPERTY_RUNS: '' })).toBe(SHORT_RUNS);
    expect(propertyRuns(40, {})).toBe(40);
  });

  it('takes a number from PROPERTY_RUNS, capped at the full count, over CI', () => {
    expect(propertyRuns(25_000, { PROPERTY_RUNS: '500', CI: 'true' })).toBe(500);
    expect(propertyRuns(40, { PROPERTY_RUNS: '500' })).toBe(40);
  });

  it('refuses a PROPERTY_RUNS that is neither full nor a positive integer', () => {
    for (const value of ['0', '-3', '1.5', 'all', ' 10']) expect(() => propertyRuns(100, { PROPERTY_RUNS: value })).toThrow(/PROPERTY_RUNS/);
  });
});
