/**
 * The pieces every statement of the adapter is built from: the schema's table names, the
 * database clock, the column lists the row mappers read, SQL literals made from the
 * shared rules' constants, the tenant rule as SQL, and the optional conditions of the
 * statements built per query.
 */
import { cancellableStatuses } from '../../shared/change-log.js';
import type { DeliveryStatus } from '../../storage-adapter.js';
import { quoteIdentifier, quoteLiteral } from '../migrations/index.js';

/** The quoted, schema-qualified names of the adapter's tables. */
export interface Tables {
  subscriptions: string;
  /** subscription_event_types: one row per (filter, subscription), the fan-out index. */
  filters: string;
  events: string;
  deliveries: string;
  /** delivery_counts: the deliveries counted by (subscription, status) in sharded rows. */
  counts: string;
  /** delivery_leases: the pending deliveries that carry a lease token. */
  leases: string;
  attempts: string;
  /** subscription_changes: the subscriptions' change log. */
  changes: string;
  /** test_attempts: the subscriptions' test log. */
  testAttempts: string;
  /** ordering_keys: one row per (subscription, ordering key), the key's last and head numbers. */
  orderingKeys: string;
  migrations: string;
}

export function tablesOf(schema: string): Tables {
  const q = quoteIdentifier(schema);
  return {
    subscriptions: `${q}.subscriptions`,
    filters: `${q}.subscription_event_types`,
    events: `${q}.events`,
    deliveries: `${q}.deliveries`,
    counts: `${q}.delivery_counts`,
    leases: `${q}.delivery_leases`,
    attempts: `${q}.attempts`,
    changes: `${q}.subscription_changes`,
    testAttempts: `${q}.test_attempts`,
    orderingKeys: `${q}.ordering_keys`,
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
  'tenant_id',
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
  'ordering_key',
  'ordering_seq',
] as const;

/** The columns of a `DeliveryRow`, of the table aliased `alias`. */
export function deliveryColumns(alias: string): string {
  return deliveryColumnNames.map((column) => `${alias}.${column}`).join(', ');
}

const subscriptionColumnNames = [
  'id',
  'tenant_id',
  'all_tenants',
  'url',
  'event_types',
  'payload_filter',
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
  'deleted_at',
  'created_at',
  'updated_at',
  'transform',
  'ordering_on_dead',
  'event_versions',
  'tls',
] as const;

/** The columns of a `SubscriptionRow`, of the table aliased `alias`. */
export function subscriptionColumns(alias: string): string {
  return subscriptionColumnNames.map((column) => `${alias}.${column}`).join(', ');
}

/** A `SubscriptionRow` of the table aliased `alias` as one JSON object, its columns by name. */
export function subscriptionJson(alias: string): string {
  return `json_build_object(${subscriptionColumnNames.map((column) => `'${column}', ${alias}.${column}`).join(', ')})`;
}

const eventColumnNames = ['id', 'type', 'published_at', 'payload', 'idempotency_key', 'tenant_id', 'expunged_at', 'ordering_key'] as const;

/** The columns of an `EventRow`, of the table aliased `alias`. */
export function eventColumns(alias: string): string {
  return eventColumnNames.map((column) => `${alias}.${column}`).join(', ');
}

const changeColumnNames = ['id', 'subscription_id', 'sequence', 'tenant_id', 'action', 'origin', 'actor', 'reason', 'changes', 'at'] as const;

/** The columns of a `ChangeRow`, of the table aliased `alias`. */
export function changeColumns(alias: string): string {
  return changeColumnNames.map((column) => `${alias}.${column}`).join(', ');
}

/**
 * `dueOnEnable(delivery, headSeq)` of shared/ordering.ts over a delivery row `d`, its key's
 * head read from ordering_keys by primary key: unordered, or numbered at or below its key's
 * head (a key without a row has none: due).
 */
export function dueOnEnableSql(d: string, t: Tables): string {
  return `(${d}.ordering_seq IS NULL OR ${d}.ordering_seq <= COALESCE((SELECT k.head_seq FROM ${t.orderingKeys} AS k
    WHERE k.subscription_id = ${d}.subscription_id AND k.ordering_key = ${d}.ordering_key), ${d}.ordering_seq))`;
}

/**
 * Not a dead delivery that blocks its ordering key (the head of its key, of a subscription
 * not soft-deleted: blocksKey of shared/ordering.ts), over a delivery row `d`: retention never
 * removes one. A dead delivery that is not its key's head has passed, and never becomes the
 * head again.
 */
export function notBlockingSql(d: string, t: Tables): string {
  return `(${d}.ordering_key IS NULL OR ${d}.status <> 'dead' OR NOT EXISTS (SELECT 1 FROM ${t.orderingKeys} AS k
    WHERE k.subscription_id = ${d}.subscription_id AND k.ordering_key = ${d}.ordering_key AND k.head_seq = ${d}.ordering_seq)
    OR EXISTS (SELECT 1 FROM ${t.subscriptions} AS s WHERE s.id = ${d}.subscription_id AND s.deleted_at IS NOT NULL))`;
}

/** A list of constants as SQL literals, for an `IN (…)` (never empty: `IN ()` is not SQL, `IN (NULL)` matches nothing). */
export function literalList(values: readonly string[]): string {
  return values.length === 0 ? 'NULL' : values.map(quoteLiteral).join(', ');
}

/** The status a soft delete or an expunge gives an open delivery, final for good. */
export const cancelledStatus: DeliveryStatus = 'cancelled';

/**
 * The condition and the SET list that cancel the open deliveries of the table aliased
 * `d` (those in shared/change-log.ts's `cancellableStatuses`): no next attempt, `lastError`
 * the placeholder `lastError` (CANCELLED_BY_DELETE or CANCELLED_BY_EXPUNGE), cancelled and
 * updated at the placeholder `now`. The lease stays, so an attempt in flight still settles.
 */
export function cancelOpenSql(d: string, lastError: string, now: string): { open: string; set: string } {
  return {
    open: `${d}.status IN (${literalList(cancellableStatuses)})`,
    set: `status = ${quoteLiteral(cancelledStatus)}, next_attempt_at = NULL, last_error = ${lastError}::text, ` +
      `cancelled_at = ${now}::bigint, updated_at = ${now}::bigint`,
  };
}

/**
 * `receivesTenant(subscription, event.tenantId)` of shared/tenancy.ts over a subscription
 * row `s` and an event row `e`: an all-tenant consumer receives every event; any other
 * subscription the events of its own tenant, a tenantless one the tenantless events.
 */
export function receivesTenantSql(s: string, e: string): string {
  return `(${s}.all_tenants OR ${e}.tenant_id IS NOT DISTINCT FROM ${s}.tenant_id)`;
}

/** The optional conditions of a statement built per query, with the values of their placeholders. */
export class Conditions {
  /** The placeholders' values, $1 first. */
  readonly values: unknown[] = [];
  readonly #clauses: string[] = [];

  /** Adds `clause($n)`, `value` being $n; nothing when `value` is `undefined`. */
  add(value: unknown, clause: (placeholder: string) => string): void {
    if (value === undefined) return;
    this.values.push(value);
    this.#clauses.push(clause(`$${this.values.length}`));
  }

  /**
   * A tenant filter on `column`: `undefined` none, `null` the platform's rows (tenantless),
   * a tenant id that tenant's.
   */
  addTenant(column: string, tenantId: string | null | undefined): void {
    if (tenantId === null) this.#clauses.push(`${column} IS NULL`);
    else this.add(tenantId, (p) => `${column} = ${p}`);
  }

  /** Adds a clause that takes no value. */
  addClause(clause: string): void {
    this.#clauses.push(clause);
  }

  /** The next placeholder, for `value` (a LIMIT, say). */
  placeholder(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /** The conditions joined with AND after `keyword` (`WHERE`, or `AND` to extend one); '' when there are none. */
  sql(keyword: 'WHERE' | 'AND' = 'WHERE'): string {
    return this.#clauses.length === 0 ? '' : `${keyword} ${this.#clauses.join(' AND ')}`;
  }
}
