import { describe, expect, it } from 'vitest';
import { DeliveryMetrics, FAILURES_REMEMBERED } from '../../src/metrics/delivery-metrics.js';
import { LatencyHistogram } from '../../src/metrics/latency-histogram.js';
import type { DeliveryHistory, StorageStats } from '../../src/storage/storage-adapter.js';

/** The exact q-quantile of sorted values (nearest rank). */
function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

function expectWithin5Percent(actual: number | null, exact: number): void {
  expect(actual).not.toBeNull();
  expect(Math.abs(actual! - exact)).toBeLessThanOrEqual(0.05 * exact);
}

/** A deterministic pseudo-random source (mulberry32), so the distributions are the same every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('LatencyHistogram', () => {
  it('summarises an empty histogram as count 0 and nulls', () => {
    expect(new LatencyHistogram().summary()).toEqual({ count: 0, min: null, max: null, mean: null, p50: null, p90: null, p95: null, p99: null });
    expect(new LatencyHistogram().quantile(0.5)).toBeNull();
    expect(new LatencyHistogram().buckets()).toEqual([]);
  });

  it('reads p50, p90, p95 and p99 of 1..10000 to within 5 % of the exact values', () => {
    const histogram = new LatencyHistogram();
    for (let value = 1; value <= 10_000; value++) histogram.record(value);
    const summary = histogram.summary();
    expectWithin5Percent(summary.p50, 5_000);
    expectWithin5Percent(summary.p90, 9_000);
    expectWithin5Percent(summary.p95, 9_500);
    expectWithin5Percent(summary.p99, 9_900);
  });

  it('keeps min, max, mean and count exact', () => {
    const histogram = new LatencyHistogram();
    for (let value = 1; value <= 10_000; value++) histogram.record(value);
    expect(histogram.summary()).toMatchObject({ count: 10_000, min: 1, max: 10_000, mean: 5_000.5 });
  });

  it('reads quantiles to within 5 % on a skewed (log-normal) distribution spanning six orders of magnitude', () => {
    const random = seeded(42);
    const histogram = new LatencyHistogram();
    const values: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      // Box–Muller: a normal draw, exponentiated.
      const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const value = Math.exp(3 + 2.5 * normal);
      values.push(value);
      histogram.record(value);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]) expectWithin5Percent(histogram.quantile(q), exactQuantile(values, q));
    expect(histogram.summary().min).toBe(values[0]);
    expect(histogram.summary().max).toBe(values[values.length - 1]);
  });

  it('has buckets whose counts sum to the number of values recorded', () => {
    const random = seeded(7);
    const histogram = new LatencyHistogram();
    for (let i = 0; i < 5_000; i++) histogram.record(random() * 30_000);
    const buckets = histogram.buckets();
    expect(buckets.reduce((sum, [, count]) => sum + count, 0)).toBe(5_000);
    // Upper edges ascend and every listed bucket holds something.
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]![0]).toBeGreaterThan(buckets[i - 1]![0]);
    for (const [, count] of buckets) expect(count).toBeGreaterThan(0);
  });

  it('returns the value itself for a single sample, at every quantile', () => {
    const histogram = new LatencyHistogram();
    histogram.record(123.4);
    expect(histogram.summary()).toEqual({ count: 1, min: 123.4, max: 123.4, mean: 123.4, p50: 123.4, p90: 123.4, p95: 123.4, p99: 123.4 });
  });

  it('never reads a quantile outside the observed range', () => {
    const histogram = new LatencyHistogram();
    for (const value of [100, 101, 102]) histogram.record(value);
    for (const q of [0, 0.01, 0.5, 0.99, 1]) {
      const value = histogram.quantile(q)!;
      expect(value).toBeGreaterThanOrEqual(100);
      expect(value).toBeLessThanOrEqual(102);
    }
  });

  it('counts negative values as 0 and keeps sub-microsecond and very large values', () => {
    const histogram = new LatencyHistogram();
    histogram.record(-5);
    histogram.record(0.0001);
    histogram.record(30 * 24 * 3_600_000);
    const summary = histogram.summary();
    expect(summary.count).toBe(3);
    expect(summary.min).toBe(0);
    expect(summary.max).toBe(30 * 24 * 3_600_000);
    expect(histogram.buckets().reduce((sum, [, count]) => sum + count, 0)).toBe(3);
  });
});

const emptyBacklog: StorageStats = { pending: 0, leased: 0, waiting: 0, held: 0, dead: 0, delivered: 0, cancelled: 0, oldestPendingCreatedAt: null };
const NOW = Date.UTC(2026, 0, 1);

/** The history before attempt `n` of a delivery whose earlier attempts all failed. */
function nth(n: number): DeliveryHistory {
  return { attempts: n - 1, firstFailedAt: n > 1 ? NOW : null, recoveredAt: null };
}

describe('DeliveryMetrics', () => {
  it('reports a null retry success rate and zero counts before any delivery', () => {
    const snapshot = new DeliveryMetrics().snapshot(0, emptyBacklog, NOW);
    expect(snapshot.retrySuccessRate).toBeNull();
    expect(snapshot.deliveriesSucceeded).toBe(0);
    expect(snapshot.deliveriesWithFailedAttempt).toBe(0);
    expect(snapshot.attemptsByOutcome).toEqual({ delivered: 0, retry: 0, dead: 0, disable: 0 });
    expect(snapshot.attemptsByStatusClass).toEqual({ '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, error: 0 });
    expect(snapshot.deliveryLatencyMs.count).toBe(0);
    expect(snapshot.oldestPendingAgeMs).toBeNull();
  });

  it('keeps the retry success rate null while every delivery succeeds at the first attempt', () => {
    const metrics = new DeliveryMetrics();
    metrics.recordAttempt('delivered', 'dlv_a', nth(1), 200, 12);
    metrics.recordAttempt('delivered', 'dlv_b', nth(1), 204, 30);
    const snapshot = metrics.snapshot(0, emptyBacklog, NOW);
    expect(snapshot.retrySuccessRate).toBeNull();
    expect(snapshot.deliveriesSucceeded).toBe(2);
    expect(snapshot.deliveriesSucceededAfterRetry).toBe(0);
  });

  it('divides deliveries that succeeded after a failure by deliveries that had a failure', () => {
    const metrics = new DeliveryMetrics();
    // A: fails twice, then succeeds.
    metrics.recordAttempt('retry', 'dlv_a', nth(1), 500, null);
    metrics.recordAttempt('retry', 'dlv_a', nth(2), null, null);
    metrics.recordAttempt('delivered', 'dlv_a', nth(3), 200, 50);
    // B: fails once and is dead (a one-retry policy would make the second attempt the last).
    metrics.recordAttempt('retry', 'dlv_b', nth(1), 503, null);
    metrics.recordAttempt('dead', 'dlv_b', nth(2), 503, null);
    // C: fails once, then succeeds.
    metrics.recordAttempt('retry', 'dlv_c', nth(1), 429, null);
    metrics.recordAttempt('delivered', 'dlv_c', nth(2), 200, 70);
    // D: 410 at the first attempt.
    metrics.recordAttempt('disable', 'dlv_d', nth(1), 410, null);
    // E: succeeds at once — not in the denominator.
    metrics.recordAttempt('delivered', 'dlv_e', nth(1), 200, 10);

    const snapshot = metrics.snapshot(0, emptyBacklog, NOW);
    expect(snapshot.deliveriesWithFailedAttempt).toBe(4);
    expect(snapshot.deliveriesSucceededAfterRetry).toBe(2);
    expect(snapshot.retrySuccessRate).toBe(0.5);
    expect(snapshot.deliveriesSucceeded).toBe(3);
    expect(snapshot.deliveriesDead).toBe(1);
  });

  it('reports a rate of 0 when every delivery that failed stayed failed', () => {
    const metrics = new DeliveryMetrics();
    metrics.recordAttempt('dead', 'dlv_a', nth(1), 500, null);
    expect(metrics.snapshot(0, emptyBacklog, NOW).retrySuccessRate).toBe(0);
  });

  it('counts a recovery whose failure another process recorded as a failure too, once, so the rate never passes 1', () => {
    // A process started after these deliveries failed elsewhere (another instance, or itself before a restart).
    const metrics = new DeliveryMetrics();
    metrics.recordAttempt('delivered', 'dlv_a', nth(3), 200, 30);
    metrics.recordAttempt('delivered', 'dlv_b', nth(2), 200, 30);
    // One that fails here first and recovers here counts once in each, as always.
    metrics.recordAttempt('retry', 'dlv_c', nth(1), 500, null);
    metrics.recordAttempt('delivered', 'dlv_c', nth(2), 200, 30);
    // One that failed elsewhere and fails again here is not counted until it ends here.
    metrics.recordAttempt('retry', 'dlv_d', nth(2), 500, null);
    // A redelivered one that recovered before (recoveredAt set) is counted in neither again.
    metrics.recordAttempt('delivered', 'dlv_e', { attempts: 3, firstFailedAt: NOW, recoveredAt: NOW }, 200, 30);
    const snapshot = metrics.snapshot(0, emptyBacklog, NOW);
    expect(snapshot.deliveriesSucceededAfterRetry).toBe(3);
    expect(snapshot.deliveriesWithFailedAttempt).toBe(3);
    expect(snapshot.retrySuccessRate).toBe(1);
  });

  it('forgets the oldest of the failures it remembers past FAILURES_REMEMBERED: such a recovery counts a failure again', () => {
    const metrics = new DeliveryMetrics();
    for (let n = 0; n <= FAILURES_REMEMBERED; n++) metrics.recordAttempt('retry', `dlv_${n}`, nth(1), 500, null);
    metrics.recordAttempt('delivered', 'dlv_0', nth(2), 200, 30); // forgotten: counted again
    metrics.recordAttempt('delivered', 'dlv_1', nth(2), 200, 30); // remembered
    const snapshot = metrics.snapshot(0, emptyBacklog, NOW);
    expect(snapshot.deliveriesWithFailedAttempt).toBe(FAILURES_REMEMBERED + 2);
    expect(snapshot.deliveriesSucceededAfterRetry).toBe(2);
  });

  it('counts attempts by outcome and by status class', () => {
    const metrics = new DeliveryMetrics();
    metrics.recordAttempt('retry', 'dlv_a', nth(1), 100, null);
    metrics.recordAttempt('retry', 'dlv_a', nth(2), 302, null);
    metrics.recordAttempt('retry', 'dlv_a', nth(3), 404, null);
    metrics.recordAttempt('retry', 'dlv_a', nth(4), 500, null);
    metrics.recordAttempt('retry', 'dlv_a', nth(5), null, null);
    metrics.recordAttempt('delivered', 'dlv_a', nth(6), 200, 5);
    metrics.recordAttempt('disable', 'dlv_b', nth(1), 410, null);
    metrics.recordAttempt('dead', 'dlv_c', nth(1), 599, null);
    const snapshot = metrics.snapshot(0, emptyBacklog, NOW);
    expect(snapshot.attemptsByOutcome).toEqual({ delivered: 1, retry: 5, dead: 1, disable: 1 });
    expect(snapshot.attemptsByStatusClass).toEqual({ '1xx': 1, '2xx': 1, '3xx': 1, '4xx': 2, '5xx': 2, error: 1 });
  });

  it('feeds only successful deliveries into the latency histogram', () => {
    const metrics = new DeliveryMetrics();
    metrics.recordAttempt('retry', 'dlv_a', nth(1), 500, 999);
    metrics.recordAttempt('delivered', 'dlv_a', nth(2), 200, 40);
    metrics.recordAttempt('delivered', 'dlv_b', nth(1), 200, 60);
    expect(metrics.snapshot(0, emptyBacklog, NOW).deliveryLatencyMs).toMatchObject({ count: 2, min: 40, max: 60, mean: 50 });
  });

  it('counts lost leases, passes in-flight and backlog through, and ages the oldest pending delivery', () => {
    const metrics = new DeliveryMetrics();
    metrics.recordLeaseLost();
    metrics.recordLeaseLost();
    const backlog: StorageStats = { pending: 3, leased: 1, waiting: 0, held: 2, dead: 0, delivered: 5, cancelled: 0, oldestPendingCreatedAt: NOW - 4_000 };
    const snapshot = metrics.snapshot(7, backlog, NOW);
    expect(snapshot.leasesLost).toBe(2);
    expect(snapshot.inFlight).toBe(7);
    expect(snapshot.backlog).toEqual(backlog);
    expect(snapshot.oldestPendingAgeMs).toBe(4_000);
    expect(snapshot.oldestActiveSecretAgeMs).toBeNull();
    expect(snapshot.circuit).toBeNull();
  });

  it("adds a subscription's secret age and circuit when scoped to one, the circuit copied", () => {
    const circuit = { state: 'open' as const, openUntil: NOW + 30_000, inFlight: 0 };
    const snapshot = new DeliveryMetrics().snapshot(0, emptyBacklog, NOW, { oldestActiveSecretCreatedAt: NOW - 86_400_000, circuit });
    expect(snapshot.oldestActiveSecretAgeMs).toBe(86_400_000);
    expect(snapshot.circuit).toEqual(circuit);
    expect(snapshot.circuit).not.toBe(circuit);
  });

  it('returns snapshots that later recording does not change', () => {
    const metrics = new DeliveryMetrics();
    metrics.recordAttempt('retry', 'dlv_a', nth(1), 500, null);
    const before = metrics.snapshot(0, emptyBacklog, NOW);
    metrics.recordAttempt('delivered', 'dlv_a', nth(2), 200, 10);
    expect(before.attemptsByOutcome).toEqual({ delivered: 0, retry: 1, dead: 0, disable: 0 });
    expect(before.attemptsByStatusClass['2xx']).toBe(0);
  });
});
