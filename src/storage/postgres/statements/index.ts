/**
 * Every fixed statement of the adapter, for one schema, built once per adapter by pure
 * functions (one file per area of the contract). The statements whose conditions are
 * optional are built per query: `listSubscriptionsSql`, `listChangesSql`, `listEventsSql`,
 * `listDeliveriesSql`, `statsSql`.
 */
import { changeLogStatements } from './change-log.js';
import { claimStatements } from './claim.js';
import { deliveryLogStatements } from './delivery-log.js';
import { enqueueStatements } from './enqueue.js';
import { eventStatements } from './events.js';
import { migrateStatements } from './migrate.js';
import { orderingStatements } from './ordering.js';
import { purgeTenantStatements } from './purge-tenant.js';
import { replayStatements } from './replay.js';
import { retentionStatements } from './retention.js';
import { settleStatements } from './settle.js';
import { tablesOf } from './sql-parts.js';
import { statsPurgeStatements } from './stats-purge.js';
import { subscriptionStatements } from './subscriptions.js';
import { testAttemptStatements } from './test-attempts.js';

export { listChangesSql } from './change-log.js';
export { listDeliveriesSql } from './delivery-log.js';
export { listEventsSql } from './events.js';
export { statsSql } from './stats-purge.js';
export { listSubscriptionsSql } from './subscriptions.js';
export { tablesOf, type Tables } from './sql-parts.js';

/**
 * The statements of the schema `schema` (validated). Internal; exported so the adapter's
 * tests can EXPLAIN the claim and the fan-out.
 *
 * @internal
 */
export function postgresStatements(schema: string) {
  const tables = tablesOf(schema);
  return Object.freeze({
    ...migrateStatements(tables),
    ...subscriptionStatements(tables, schema),
    ...changeLogStatements(tables),
    ...enqueueStatements(tables),
    ...eventStatements(tables),
    ...claimStatements(tables),
    ...settleStatements(tables),
    ...deliveryLogStatements(tables),
    ...replayStatements(tables, schema),
    ...statsPurgeStatements(tables),
    ...purgeTenantStatements(tables),
    ...retentionStatements(tables),
    ...testAttemptStatements(tables),
    ...orderingStatements(tables),
  });
}

export type Statements = ReturnType<typeof postgresStatements>;
