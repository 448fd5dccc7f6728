/**
 * The pieces every statement of the adapter is built from: the schema's table names, the
 * database clock, the column lists the row mappers read, and SQL literals made from the
 * shared rules' constants.
 */
import { quoteIdentifier, quoteLiteral } from '../migrations/index.js';

/** The quoted, schema-qualified names of the adapter's tables. */
export interface Tables {
  subscriptions: string;
  /** subscription_event_types: one row per (filter, subscription), the fan-out index. */
  filters: string;
  events: string;
  deliveries: string;
  attempts: string;
  migrations: string;
}

export function tablesOf(schema: string): Tables {
  const q = quoteIdentifier(schema);
  return {
    subscriptions: `${q}.subscriptions`,
    filters: `${q}.subscription_event_types`,
    events: `${q}.events`,
    deliveries: `${q}.deliveries`,
    attempts: `${q}.attempts`,
    migrations: `${q}.migrations`,
  };
}

/**
 * The database clock in epoch ms. `now()` is the transaction's start: STABLE, so the
 * planner can use it as an index bound, and one value for a whole statement (a claim
 * stamps all its leases alike). A lease so measured is shorter than `leaseMs` only
 * by the statement's own duration.
 */
export const dbNowMs = '(floor(extract(epoch FROM now()) * 1000))::bigint';

const deliveryColumnNames = [
  'id',
  'event_id',
  'event_type',
  'subscription_id',
  'status',
  'attempts',
  'next_attempt_at',
  'last_attempt_at',
  'last_status_code',
  'last_error',
  'delivered_at',
  'lease_expires_at',
  'created_at',
  'updated_at',
] as const;

/** The columns of a `DeliveryRow`, of the table aliased `alias`. */
export function deliveryColumns(alias: string): string {
  return deliveryColumnNames.map((column) => `${alias}.${column}`).join(', ');
}

const subscriptionColumnNames = [
  'id',
  'url',
  'event_types',
  'secrets',
  'headers',
  'description',
  'metadata',
  'status',
  'disabled_reason',
  'disabled_at',
  'retry',
  'flow_control',
  'failing_since',
  'created_at',
  'updated_at',
] as const;

/** The columns of a `SubscriptionRow`, of the table aliased `alias`. */
export function subscriptionColumns(alias: string): string {
  return subscriptionColumnNames.map((column) => `${alias}.${column}`).join(', ');
}

/** A list of constants as SQL literals, for an `IN (…)` (never empty: `IN ()` is not SQL, `IN (NULL)` matches nothing). */
export function literalList(values: readonly string[]): string {
  return values.length === 0 ? 'NULL' : values.map(quoteLiteral).join(', ');
}
