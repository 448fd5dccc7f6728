/**
 * The migrations of the SQLite storage, in order. Append-only: add a new module
 * with the next number; never edit or reorder a released one. The SQL is compiled
 * into the build as strings, so nothing is read from disk at run time.
 */
import { sql as initial } from './0001-initial.js';
import { sql as flowControl } from './0002-flow-control.js';
import { sql as leasesInPlace } from './0003-leases-in-place.js';
import { sql as deliveryCounts } from './0004-delivery-counts.js';
import { sql as attemptHistory } from './0005-attempt-history.js';
import { sql as instances } from './0006-instances.js';
import { sql as tenants } from './0007-tenants.js';
import { sql as changeLog } from './0008-change-log.js';
import { sql as tenantlessEvents } from './0009-tenantless-events.js';
import { sql as retention } from './0010-retention.js';
import { sql as leased } from './0011-leased.js';
import { sql as testAttempts } from './0012-test-attempts.js';
import { sql as payloadFilter } from './0013-payload-filter.js';
import { sql as deliveryPayloads } from './0014-delivery-payloads.js';
import { sql as ordering } from './0015-ordering.js';
import { sql as eventVersions } from './0016-event-versions.js';
import { sql as clientTls } from './0017-client-tls.js';
import type { Migration } from '../../shared/schema-version.js';

/** Every migration this code knows, oldest first. */
export const migrations: readonly Migration[] = Object.freeze([
  { version: 1, name: '0001-initial', sql: initial },
  { version: 2, name: '0002-flow-control', sql: flowControl },
  { version: 3, name: '0003-leases-in-place', sql: leasesInPlace },
  { version: 4, name: '0004-delivery-counts', sql: deliveryCounts },
  { version: 5, name: '0005-attempt-history', sql: attemptHistory },
  { version: 6, name: '0006-instances', sql: instances },
  { version: 7, name: '0007-tenants', sql: tenants },
  { version: 8, name: '0008-change-log', sql: changeLog },
  { version: 9, name: '0009-tenantless-events', sql: tenantlessEvents },
  { version: 10, name: '0010-retention', sql: retention },
  { version: 11, name: '0011-leased', sql: leased },
  { version: 12, name: '0012-test-attempts', sql: testAttempts },
  { version: 13, name: '0013-payload-filter', sql: payloadFilter },
  { version: 14, name: '0014-delivery-payloads', sql: deliveryPayloads },
  { version: 15, name: '0015-ordering', sql: ordering },
  { version: 16, name: '0016-event-versions', sql: eventVersions },
  { version: 17, name: '0017-client-tls', sql: clientTls },
]);

/** The schema version this code expects: the last migration's. */
export const latestSchemaVersion: number = migrations[migrations.length - 1]?.version ?? 0;

/** The SQL of a migration for a table prefix (already validated as an identifier). */
export function renderMigration(migration: Migration, tablePrefix: string): string {
  return migration.sql.replaceAll('{{prefix}}', tablePrefix);
}
