/**
 * The names of the SQLite storage's tables and of the indexes its statements name, for
 * one table prefix (validated as an identifier by createSqliteStorage); and how a list
 * of known constants is written into a statement.
 */

export interface SqliteTables {
  readonly subscriptions: string;
  /** One row per (filter, tenant scope, subscription): the fan-out's lookup (migration 0007). */
  readonly filters: string;
  readonly events: string;
  readonly deliveries: string;
  readonly attempts: string;
  /** Deliveries by (subscription, status), kept by triggers (migration 0004). */
  readonly counts: string;
  /** The processes working on the file, named in their lease tokens (migration 0006). */
  readonly instances: string;
  /** The subscriptions' change log (migration 0008). */
  readonly changes: string;
  /** The subscriptions' test log (migration 0012). */
  readonly testAttempts: string;
  /** The state of each ordering key of each subscription: last and head sequence numbers (migration 0015). */
  readonly orderingKeys: string;
  readonly migrations: string;
  /** Pending deliveries by (due_at, id, subscription_id, lease_expires_at): the claim's index. */
  readonly dueIndex: string;
  /** Pending deliveries by (subscription_id, due_at, id, created_at, lease_expires_at). */
  readonly subscriptionDueIndex: string;
  /** Pending deliveries by created_at: the oldest pending one. */
  readonly pendingCreatedIndex: string;
  /** Pending rows under a lease, by expiry (0011). */
  readonly leasedIndex: string;
  /** The filters of all-tenant consumers by (filter, subscription_id): fan-out's second lookup. */
  readonly allTenantsFilterIndex: string;
  /** Held deliveries by subscription_id. */
  readonly subscriptionHeldIndex: string;
  /** Events of a tenant by (tenant_id, id), partial: tenantless events are not in it. */
  readonly eventTenantIndex: string;
  /** Cancelled deliveries still under a lease, by (tenant_id, lease_expires_at) (migration 0008). */
  readonly cancelledLeasedIndex: string;
  /** Final deliveries by (status, updated_at), partial (migration 0010). */
  readonly finalAtIndex: string;
  /** Events by published_at. */
  readonly eventPublishedIndex: string;
  /** Test attempts by (ok, started_at, id) (migration 0012). */
  readonly testAttemptsStartedIndex: string;
  /** Ordered deliveries by (subscription_id, ordering_key, ordering_seq), partial (migration 0015). */
  readonly orderingIndex: string;
  /** Dead ordered deliveries by (subscription_id, id), partial: the blocked keys' heads among them (migration 0015). */
  readonly orderingDeadIndex: string;
}

export function sqliteTables(prefix: string): SqliteTables {
  return Object.freeze({
    subscriptions: `${prefix}subscriptions`,
    filters: `${prefix}subscription_event_types`,
    events: `${prefix}events`,
    deliveries: `${prefix}deliveries`,
    attempts: `${prefix}attempts`,
    counts: `${prefix}delivery_counts`,
    instances: `${prefix}instances`,
    changes: `${prefix}subscription_changes`,
    testAttempts: `${prefix}test_attempts`,
    orderingKeys: `${prefix}ordering_keys`,
    migrations: `${prefix}migrations`,
    dueIndex: `${prefix}deliveries_due`,
    subscriptionDueIndex: `${prefix}deliveries_subscription_due`,
    pendingCreatedIndex: `${prefix}deliveries_pending_created`,
    leasedIndex: `${prefix}deliveries_leased`,
    allTenantsFilterIndex: `${prefix}subscription_event_types_all_tenants`,
    subscriptionHeldIndex: `${prefix}deliveries_subscription_held`,
    eventTenantIndex: `${prefix}events_tenant`,
    cancelledLeasedIndex: `${prefix}deliveries_cancelled_leased`,
    finalAtIndex: `${prefix}deliveries_final_at`,
    eventPublishedIndex: `${prefix}events_published_at`,
    testAttemptsStartedIndex: `${prefix}test_attempts_started`,
    orderingIndex: `${prefix}deliveries_ordering`,
    orderingDeadIndex: `${prefix}deliveries_ordering_dead`,
  });
}

/** `'a', 'b'`: a list of known constants (statuses, outcome kinds) for a SQL `IN (…)`. */
export function sqlList(values: readonly string[]): string {
  return values.map((value) => `'${value.replaceAll("'", "''")}'`).join(', ');
}
