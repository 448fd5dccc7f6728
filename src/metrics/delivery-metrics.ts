/**
 * Delivery metrics of one webhooks instance (this process): the seed's delivery
 * latency (publish → 2xx) and retry success rate, attempts by outcome and by status
 * class, lease losses. Backlog figures come from the storage, across processes.
 */
import type { AttemptOutcome, DeliveryHistory, StorageStats } from '../storage/storage-adapter.js';
import { noRetentionRun, type RetentionFigures } from '../retention/retention-task.js';
import { LatencyHistogram, type LatencySummary } from './latency-histogram.js';
import type { OtelDeliveryMetrics } from './otel-metrics.js';

/**
 * This process's circuit breaker for one subscription (the `circuitBreaker` option). The
 * breaker is per process: with several instances on one database, each keeps its own.
 */
export interface CircuitStatus {
  /**
   * `closed`: posts go out (always, with `circuitBreaker: false`); `open`: after
   * `failureThreshold` consecutive failed attempts, no post until `openUntil`; `half-open`:
   * the cool-down is over and one probe at a time decides — a success closes it, a failure
   * opens it again for twice as long (up to `maxCooldownMs`).
   */
  state: 'closed' | 'open' | 'half-open';
  /** Epoch ms at which an open circuit lets a probe through; `null` unless `open`. */
  openUntil: number | null;
  /** Posts to the subscription in flight in this process now. */
  inFlight: number;
}

/** A snapshot returned by `webhooks.metrics()`. */
export interface MetricsSnapshot {
  /** Publish → 2xx, ms. */
  deliveryLatencyMs: LatencySummary;
  /**
   * Deliveries that succeeded after ≥ 1 failed attempt / deliveries that had a failed
   * attempt; `null` before any delivery failed. A delivery counts once in each, however
   * many of its attempts failed and whether a redelivery came between the failure and
   * the success. Per process: a delivery is counted where its first failure was recorded,
   * or, when that was another process (or this one before a restart), where it recovered —
   * so the rate never exceeds 1.
   */
  retrySuccessRate: number | null;
  deliveriesSucceeded: number;
  deliveriesSucceededAfterRetry: number;
  deliveriesWithFailedAttempt: number;
  deliveriesDead: number;
  attemptsByOutcome: Record<AttemptOutcome, number>;
  /** `2xx`…`5xx` for HTTP answers, `error` for attempts without one (timeout, connect, …). */
  attemptsByStatusClass: Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'error', number>;
  /** Settles refused because another worker had taken the delivery over. */
  leasesLost: number;
  /** Posts in flight in this process now. */
  inFlight: number;
  /** From the storage: every process's deliveries. */
  backlog: StorageStats;
  /** Age of the oldest pending delivery in ms; `null` when none. */
  oldestPendingAgeMs: number | null;
  /**
   * With `metrics({ subscriptionId })`: the age in ms of that subscription's oldest secret
   * that still signs (what a rotation policy checks; every subscription's is in
   * `subscriptions.list()` as `secretsCreatedAt`). `null` without `subscriptionId`.
   */
  oldestActiveSecretAgeMs: number | null;
  /**
   * With `metrics({ subscriptionId })`: this process's circuit breaker for that subscription
   * (`closed`, with nothing in flight, for one it has not posted to lately). `null` without
   * `subscriptionId`.
   */
  circuit: CircuitStatus | null;
  /** What this process's retention task removed, and its last run; zeros and `null`s with `retention: false`. */
  retention: RetentionFigures;
}

/** What a snapshot scoped to one subscription (`metrics({ subscriptionId })`) adds. */
export interface SubscriptionFigures {
  /** Epoch ms at which its oldest secret that still signs was created; `null` when none. */
  oldestActiveSecretCreatedAt: number | null;
  circuit: CircuitStatus;
}

function statusClass(statusCode: number | null): keyof MetricsSnapshot['attemptsByStatusClass'] {
  if (statusCode === null) return 'error';
  if (statusCode < 200) return '1xx';
  if (statusCode < 300) return '2xx';
  if (statusCode < 400) return '3xx';
  if (statusCode < 500) return '4xx';
  return '5xx';
}

/**
 * How many of the deliveries whose first failure it counted a process remembers until they
 * recover (see {@link DeliveryMetrics.recordAttempt}); past it the oldest are forgotten, and
 * such a delivery's recovery counts a failure again.
 */
export const FAILURES_REMEMBERED = 100_000;

/** Counters fed by the dispatcher after each settle. */
export class DeliveryMetrics {
  readonly latency = new LatencyHistogram();
  /** Where the same figures go through OpenTelemetry, when a meter is available. */
  otel: OtelDeliveryMetrics | null = null;
  private succeeded = 0;
  private succeededAfterRetry = 0;
  private withFailure = 0;
  private dead = 0;
  private lost = 0;
  /** Ids of the deliveries whose first failure this process counted and that have not recovered here, oldest first. */
  private readonly failedHere = new Set<string>();
  private readonly byOutcome: Record<AttemptOutcome, number> = { delivered: 0, retry: 0, dead: 0, disable: 0 };
  private readonly byStatus: MetricsSnapshot['attemptsByStatusClass'] = {
    '1xx': 0,
    '2xx': 0,
    '3xx': 0,
    '4xx': 0,
    '5xx': 0,
    error: 0,
  };

  /**
   * Records a settled attempt of delivery `deliveryId`. `before` is the delivery's history as
   * it was before this attempt (every cycle counted: a redelivery does not reset it);
   * `tenantId` the event's tenant, for the OpenTelemetry attribute the host may ask for.
   */
  recordAttempt(outcome: AttemptOutcome, deliveryId: string, before: DeliveryHistory, statusCode: number | null, latencyMs: number | null, tenantId: string | null = null): void {
    const failedBefore = before.firstFailedAt !== null;
    this.otel?.recordAttempt(outcome, failedBefore, statusCode, latencyMs, tenantId);
    this.byOutcome[outcome] += 1;
    this.byStatus[statusClass(statusCode)] += 1;
    if (outcome === 'delivered') {
      this.succeeded += 1;
      // Once per delivery: at its first success after a failed attempt. Its failure is counted
      // here already, unless another process recorded it (several instances, or this one before
      // a restart): then it is counted now, once, so that the rate never passes 1.
      if (failedBefore && before.recoveredAt === null) {
        this.succeededAfterRetry += 1;
        if (!this.failedHere.delete(deliveryId)) this.withFailure += 1;
      }
      if (latencyMs !== null) this.latency.record(latencyMs);
      return;
    }
    // A delivery counts once among those that had a failed attempt: at its first failure.
    if (!failedBefore) {
      this.withFailure += 1;
      this.failedHere.add(deliveryId);
      if (this.failedHere.size > FAILURES_REMEMBERED) this.failedHere.delete(this.failedHere.values().next().value!);
    }
    if (outcome === 'dead') this.dead += 1;
  }

  /** `tenantId`: the event's tenant. */
  recordLeaseLost(tenantId: string | null = null): void {
    this.otel?.recordLeaseLost(tenantId);
    this.lost += 1;
  }

  /** Deliveries that succeeded after ≥ 1 failed attempt / deliveries that had one; `null` before any failure. */
  retrySuccessRate(): number | null {
    return this.withFailure === 0 ? null : this.succeededAfterRetry / this.withFailure;
  }

  /**
   * @param subscription the scoped subscription's figures (`metrics({ subscriptionId })`), else `null`.
   * @param retention this process's retention task's figures (none ran: zeros).
   */
  snapshot(
    inFlight: number,
    backlog: StorageStats,
    now: number,
    subscription: SubscriptionFigures | null = null,
    retention: RetentionFigures = noRetentionRun,
  ): MetricsSnapshot {
    const oldestActiveSecretCreatedAt = subscription?.oldestActiveSecretCreatedAt ?? null;
    return {
      deliveryLatencyMs: this.latency.summary(),
      retrySuccessRate: this.retrySuccessRate(),
      deliveriesSucceeded: this.succeeded,
      deliveriesSucceededAfterRetry: this.succeededAfterRetry,
      deliveriesWithFailedAttempt: this.withFailure,
      deliveriesDead: this.dead,
      attemptsByOutcome: { ...this.byOutcome },
      attemptsByStatusClass: { ...this.byStatus },
      leasesLost: this.lost,
      inFlight,
      backlog,
      oldestPendingAgeMs: backlog.oldestPendingCreatedAt === null ? null : Math.max(0, now - backlog.oldestPendingCreatedAt),
      oldestActiveSecretAgeMs: oldestActiveSecretCreatedAt === null ? null : Math.max(0, now - oldestActiveSecretCreatedAt),
      circuit: subscription === null ? null : { ...subscription.circuit },
      retention: { ...retention },
    };
  }
}
