/**
 * Every fixed statement of the adapter, for one schema, built once per adapter by pure
 * functions (one file per area of the contract). The lists paged by a cursor are built
 * per query: `listSubscriptionsSql`, `listDeliveriesSql`.
 */
import { claimStatements } from './claim.js';
import { deliveryLogStatements } from './delivery-log.js';
import { enqueueStatements } from './enqueue.js';
import { migrateStatements } from './migrate.js';
import { replayStatements } from './replay.js';
import { settleStatements } from './settle.js';
import { tablesOf } from './sql-parts.js';
import { statsPurgeStatements } from './stats-purge.js';
import { subscriptionStatements } from './subscriptions.js';

export { listDeliveriesSql } from './delivery-log.js';
export { listSubscriptionsSql } from './subscriptions.js';
export { tablesOf, type Tables } from './sql-parts.js';

/**
 * The statements of the schema `schema` (validated). Internal; exported so the adapter's
 * tests can EXPLAIN the claim.
 *
 * @internal
 */
export function postgresStatements(schema: string) {
  const tables = tablesOf(schema);
  return Object.freeze({
    ...migrateStatements(tables),
    ...subscriptionStatements(tables),
    ...enqueueStatements(tables),
    ...claimStatements(tables),
    ...settleStatements(tables),
    ...deliveryLogStatements(tables),
    ...replayStatements(tables),
    ...statsPurgeStatements(tables),
  });
}

export type Statements = ReturnType<typeof postgresStatements>;
