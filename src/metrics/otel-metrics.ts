/**
 * Delivery metrics through OpenTelemetry (DESIGN §7). `@opentelemetry/api` is an
 * optional peer: the host passes a meter (`metrics.getMeter('bookkeeper')`), or, when
 * the package is installed, the global meter provider is used — a no-op until the host
 * registers an SDK. The types below are the structural part of the API we use, so
 * neither our code nor our `.d.ts` needs the package.
 *
 * Instruments (all prefixed `webhooks.`):
 * - `delivery.latency` (histogram, ms): publish → 2xx;
 * - `delivery.attempts` (counter): attributes `outcome` (delivered|retry|dead|disable) and `status_class` (2xx…5xx|error);
 * - `deliveries.completed` (counter): `result` (delivered|dead) and `after_retry` (true|false);
 * - `delivery.retry_success_rate` (gauge): succeeded after ≥ 1 failure / had a failure;
 * - `leases.lost` (counter);
 * - `backlog` (gauge): `state` (pending|leased|held|dead), across every process on the storage;
 * - `backlog.oldest_pending_age` (gauge, ms); `in_flight` (gauge): posts in flight in this process;
 * - `retention.purged` (counter): rows the retention task removed, attribute `kind` (deliveries|attempts|events|test_attempts);
 * - `retention.lag` (gauge, ms): how long the retention task has been behind (`metrics().retention.lagMs`).
 *
 * With `metricsTenantAttribute`, the instruments recorded per attempt (`delivery.latency`,
 * `delivery.attempts`, `deliveries.completed`, `leases.lost`) carry a `tenant` attribute too:
 * the event's tenant id, left out for events without one. Every tenant is then a series of
 * its own in each, hence off by default: a metrics backend pays for each series.
 */
import { peerRequire } from '../peer-require.js';
import type { AttemptOutcome, PurgeRetentionResult, StorageStats } from '../storage/storage-adapter.js';

type Attributes = Record<string, string | number | boolean>;

/** The part of an OpenTelemetry observable result we use. */
export interface ObservableResultLike {
  observe(value: number, attributes?: Attributes): void;
}

/** The part of an OpenTelemetry `Meter` (`@opentelemetry/api` 1.x) the sender uses. */
export interface MeterLike {
  createHistogram(name: string, options?: { description?: string; unit?: string }): { record(value: number, attributes?: Attributes): void };
  createCounter(name: string, options?: { description?: string; unit?: string }): { add(value: number, attributes?: Attributes): void };
  createObservableGauge(
    name: string,
    options?: { description?: string; unit?: string },
  ): { addCallback(callback: (result: ObservableResultLike) => void | Promise<void>): void };
}

/** Loads the global meter of `@opentelemetry/api` when the package is installed; `null` otherwise. */
export function globalMeter(): MeterLike | null {
  try {
    const api = peerRequire()('@opentelemetry/api') as { metrics?: { getMeter(name: string): MeterLike } };
    return api.metrics?.getMeter('@bookkeeper/webhooks') ?? null;
  } catch {
    return null;
  }
}

function statusClass(statusCode: number | null): string {
  return statusCode === null ? 'error' : `${Math.floor(statusCode / 100)}xx`;
}

/** How the per-attempt instruments are labelled. */
export interface OtelAttributeOptions {
  /** Add the event's tenant id as the attribute `tenant` (`metricsTenantAttribute`). */
  tenantAttribute: boolean;
}

/** The instruments, fed by the dispatcher and observed from the storage. */
export class OtelDeliveryMetrics {
  private readonly latency;
  private readonly attempts;
  private readonly completed;
  private readonly leasesLost;
  private readonly purged;
  private readonly tenantAttribute: boolean;

  constructor(
    meter: MeterLike,
    observe: {
      retrySuccessRate: () => number | null;
      inFlight: () => number;
      stats: () => Promise<{ stats: StorageStats; now: number }>;
      /** The retention task's lag; `null` when there is none to report (no task, no run yet, another instance purges). */
      retentionLagMs: () => number | null;
    },
    attributes: OtelAttributeOptions = { tenantAttribute: false },
  ) {
    this.tenantAttribute = attributes.tenantAttribute;
    this.latency = meter.createHistogram('webhooks.delivery.latency', { description: 'Publish to 2xx', unit: 'ms' });
    this.attempts = meter.createCounter('webhooks.delivery.attempts', { description: 'HTTP attempts by outcome and status class' });
    this.completed = meter.createCounter('webhooks.deliveries.completed', { description: 'Deliveries that ended delivered or dead' });
    this.leasesLost = meter.createCounter('webhooks.leases.lost', { description: 'Settles refused: another worker had taken the delivery over' });
    this.purged = meter.createCounter('webhooks.retention.purged', { description: 'Rows removed past retention, by kind' });
    meter
      .createObservableGauge('webhooks.retention.lag', { description: 'How long the retention task has been behind', unit: 'ms' })
      .addCallback((result) => {
        const lag = observe.retentionLagMs();
        if (lag !== null) result.observe(lag);
      });
    meter
      .createObservableGauge('webhooks.delivery.retry_success_rate', {
        description: 'Deliveries that succeeded after a failed attempt / deliveries that had a failed attempt',
      })
      .addCallback((result) => {
        const rate = observe.retrySuccessRate();
        if (rate !== null) result.observe(rate);
      });
    meter
      .createObservableGauge('webhooks.in_flight', { description: 'Posts in flight in this process' })
      .addCallback((result) => result.observe(observe.inFlight()));
    meter
      .createObservableGauge('webhooks.backlog', { description: 'Deliveries by state, across every process on the storage' })
      .addCallback(async (result) => {
        const { stats } = await observe.stats();
        result.observe(stats.pending - stats.leased, { state: 'pending' });
        result.observe(stats.leased, { state: 'leased' });
        result.observe(stats.held, { state: 'held' });
        result.observe(stats.dead, { state: 'dead' });
      });
    meter
      .createObservableGauge('webhooks.backlog.oldest_pending_age', { description: 'Age of the oldest pending delivery', unit: 'ms' })
      .addCallback(async (result) => {
        const { stats, now } = await observe.stats();
        result.observe(stats.oldestPendingCreatedAt === null ? 0 : Math.max(0, now - stats.oldestPendingCreatedAt));
      });
  }

  /**
   * `failedBefore`: an earlier attempt of the delivery failed (in any cycle); `tenantId`:
   * the event's tenant.
   */
  recordAttempt(outcome: AttemptOutcome, failedBefore: boolean, statusCode: number | null, latencyMs: number | null, tenantId: string | null): void {
    const tenant = this.tenantOf(tenantId);
    this.attempts.add(1, { outcome, status_class: statusClass(statusCode), ...tenant });
    if (outcome === 'delivered') {
      if (latencyMs !== null) this.latency.record(latencyMs, tenant);
      this.completed.add(1, { result: 'delivered', after_retry: failedBefore, ...tenant });
    } else if (outcome === 'dead') {
      this.completed.add(1, { result: 'dead', after_retry: failedBefore, ...tenant });
    }
  }

  /** One retention batch's removals. */
  recordPurged(purged: PurgeRetentionResult): void {
    if (purged.deliveries > 0) this.purged.add(purged.deliveries, { kind: 'deliveries' });
    if (purged.attempts > 0) this.purged.add(purged.attempts, { kind: 'attempts' });
    if (purged.events > 0) this.purged.add(purged.events, { kind: 'events' });
    if (purged.testAttempts > 0) this.purged.add(purged.testAttempts, { kind: 'test_attempts' });
  }

  /** `tenantId`: the event's tenant. */
  recordLeaseLost(tenantId: string | null): void {
    this.leasesLost.add(1, this.tenantOf(tenantId));
  }

  /** The `tenant` attribute, when the host asked for it and the event has a tenant. */
  private tenantOf(tenantId: string | null): Attributes {
    return this.tenantAttribute && tenantId !== null ? { tenant: tenantId } : noAttributes;
  }
}

const noAttributes: Attributes = Object.freeze({});
