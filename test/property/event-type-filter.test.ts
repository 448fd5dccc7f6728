/**
 * The filter index the SQL adapters' fan-out looks up: for any event type, candidateFilters
 * lists exactly the filters that match it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { candidateFilters, matchesEventType } from '../../src/registry/event-type-filter.js';
import { eventType, eventTypeFilter } from '../support/event-type-filter-property.js';
import { propertyRuns } from '../support/property-runs.js';

describe('the event-type filter rule', () => {
  it('candidateFilters(type) holds exactly the filters that match the type', () => {
    fc.assert(
      fc.property(eventTypeFilter, eventType, (f, t) => {
        expect(candidateFilters(t).includes(f)).toBe(matchesEventType(f, t));
      }),
      { numRuns: propertyRuns(2000) },
    );
  });
});
