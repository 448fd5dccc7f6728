/**
 * The SQLite storage fans out and replays exactly as the event-type filter rule decides,
 * for arbitrary filters and event types.
 */
import fc from 'fast-check';
import { afterEach, describe, it } from 'vitest';
import { fansOutAndReplaysAsMatched } from '../support/event-type-filter-property.js';
import { propertyRuns } from '../support/property-runs.js';
import { closeTracked, migratedOnHandle, openRaw } from '../support/sqlite-fixtures.js';

afterEach(closeTracked);

describe('the event-type filter rule in SQL', () => {
  it('fans out and replays exactly as matchesAnyEventType decides', async () => {
    const db = openRaw(':memory:');
    const storage = await migratedOnHandle(db);
    await fc.assert(
      fansOutAndReplaysAsMatched(storage, (subscriptionId) => db.prepare('DELETE FROM webhook_deliveries WHERE subscription_id = ?').run(subscriptionId)),
      { numRuns: propertyRuns(100) },
    );
  });
});
