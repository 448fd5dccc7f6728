/**
 * The PostgreSQL storage fans out and replays exactly as the event-type filter rule decides,
 * for arbitrary filters and event types. On a real PostgreSQL, in a schema of this file's own.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { fansOutAndReplaysAsMatched } from '../support/event-type-filter-property.js';
import { admin, migrated, schemaName, usePostgresDatabase } from '../support/postgres-fixtures.js';
import { propertyRuns } from '../support/property-runs.js';

usePostgresDatabase();

describe('the event-type filter rule in the fan-out, and replay by the matched types', () => {
  it('fans out and replays exactly as matchesAnyEventType decides', async () => {
    const schema = schemaName();
    const storage = await migrated({ schema });
    await fc.assert(
      fansOutAndReplaysAsMatched(storage, (subscriptionId) => admin.query(`DELETE FROM "${schema}".deliveries WHERE subscription_id = $1`, [subscriptionId])),
      { numRuns: propertyRuns(40) },
    );
  });
});
