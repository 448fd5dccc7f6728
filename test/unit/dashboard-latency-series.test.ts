import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { latencySeries, latencyWindow, type LatencyRecord, type LatencyWindow } from '../../src/dashboard/latency-series.js';
import { ValidationError } from '../../src/errors.js';
import { propertyRuns } from '../support/property-runs.js';
import { thrownBy } from '../support/rejections.js';

const minuteMs = 60_000;
const now = Date.UTC(2026, 11, 4, 14, 37, 12, 345);
const window10: LatencyWindow = { fromMs: 1_000_000, toMs: 1_000_000 + 10 * minuteMs, bucketMs: minuteMs };

/** A record delivered `latencyMs` after it was created, at `deliveredAt`. */
const delivered = (deliveredAt: number, latencyMs: number): LatencyRecord => ({ createdAt: deliveredAt - latencyMs, deliveredAt });

describe('latencyWindow', () => {
  it.each([
    ['1h', 60, minuteMs],
    ['24h', 48, 30 * minuteMs],
    ['7d', 84, 120 * minuteMs],
  ] as const)('cuts %s into %i buckets of %i ms ending with the bucket that holds now', (range, buckets, bucketMs) => {
    const window = latencyWindow(range, now);
    expect(window.bucketMs).toBe(bucketMs);
    expect((window.toMs - window.fromMs) / bucketMs).toBe(buckets);
    expect(window.fromMs % bucketMs).toBe(0);
    expect(window.toMs - bucketMs).toBeLessThanOrEqual(now);
    expect(window.toMs).toBeGreaterThan(now);
  });

  it('gives the same buckets to two renders within one bucket, and moves by one bucket after it', () => {
    const window = latencyWindow('24h', now);
    const start = window.toMs - window.bucketMs;
    expect(latencyWindow('24h', start)).toEqual(window);
    expect(latencyWindow('24h', window.toMs - 1)).toEqual(window);
    expect(latencyWindow('24h', window.toMs - 0.5)).toEqual(window);
    expect(latencyWindow('24h', window.toMs)).toEqual({ fromMs: window.fromMs + window.bucketMs, toMs: window.toMs + window.bucketMs, bucketMs: window.bucketMs });
  });

  it('refuses an unknown range or a time that is not epoch ms', () => {
    for (const [range, nowMs, field] of [
      ['2h', now, 'range'],
      ['1H', now, 'range'],
      ['1h', Number.NaN, 'nowMs'],
      ['1h', Number.POSITIVE_INFINITY, 'nowMs'],
      ['1h', -1, 'nowMs'],
      ['1h', '2026-12-04', 'nowMs'],
    ] as const) {
      const error = thrownBy(() => latencyWindow(range as '1h', nowMs as number));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ code: 'INPUT_INVALID', field });
    }
  });
});

describe('latencySeries', () => {
  it('gives one entry per bucket, oldest first, with count 0 and nulls where nothing was delivered', () => {
    const series = latencySeries([delivered(window10.fromMs + 3 * minuteMs + 5, 40)], window10);
    expect(series.map((bucket) => bucket.startMs)).toEqual(Array.from({ length: 10 }, (_, index) => window10.fromMs + index * minuteMs));
    expect(series[3]).toEqual({ startMs: window10.fromMs + 3 * minuteMs, count: 1, p50: 40, p95: 40, p99: 40 });
    for (const index of [0, 1, 2, 4, 5, 6, 7, 8, 9]) expect(series[index]).toMatchObject({ count: 0, p50: null, p95: null, p99: null });
  });

  it('reads exact nearest-rank percentiles of the bucket, whatever the order of the records', () => {
    const at = window10.fromMs + 30_000;
    const hundred = Array.from({ length: 100 }, (_, index) => delivered(at, ((index * 37) % 100) + 1)); // 1..100, shuffled
    expect(latencySeries(hundred, window10)[0]).toMatchObject({ count: 100, p50: 50, p95: 95, p99: 99 });
    const ten = [7, 3, 10, 1, 9, 2, 8, 4, 6, 5].map((latency) => delivered(at, latency));
    expect(latencySeries(ten, window10)[0]).toMatchObject({ count: 10, p50: 5, p95: 10, p99: 10 });
    // 20 values: the 95th percentile is the 19th, not the largest.
    const twenty = Array.from({ length: 20 }, (_, index) => delivered(at, (index + 1) * 10));
    expect(latencySeries(twenty, window10)[0]).toMatchObject({ count: 20, p50: 100, p95: 190, p99: 200 });
  });

  it('buckets by deliveredAt, not createdAt', () => {
    const series = latencySeries([{ createdAt: window10.fromMs + 10, deliveredAt: window10.fromMs + 2 * minuteMs + 10 }], window10);
    expect(series[0]!.count).toBe(0);
    expect(series[2]).toMatchObject({ count: 1, p50: 2 * minuteMs });
  });

  it('skips deliveries not delivered or delivered outside [fromMs, toMs)', () => {
    const series = latencySeries(
      [
        { createdAt: window10.fromMs, deliveredAt: null },
        delivered(window10.fromMs - 1, 5),
        delivered(window10.toMs, 5),
        delivered(window10.fromMs, 7),
        delivered(window10.toMs - 1, 9),
      ],
      window10,
    );
    expect(series.reduce((sum, bucket) => sum + bucket.count, 0)).toBe(2);
    expect(series[0]).toMatchObject({ count: 1, p50: 7 });
    expect(series[9]).toMatchObject({ count: 1, p50: 9 });
  });

  it('counts a delivery stamped before its creation (clock skew between hosts) as latency 0', () => {
    const series = latencySeries([{ createdAt: window10.fromMs + 500, deliveredAt: window10.fromMs + 100 }], window10);
    expect(series[0]).toMatchObject({ count: 1, p50: 0, p95: 0, p99: 0 });
  });

  it('reads any iterable, such as a generator', () => {
    function* records(): Generator<LatencyRecord> {
      yield delivered(window10.fromMs + 1, 11);
      yield delivered(window10.fromMs + 2, 13);
    }
    expect(latencySeries(records(), window10)[0]).toMatchObject({ count: 2, p50: 11, p99: 13 });
  });

  it('works on the windows latencyWindow makes', () => {
    const window = latencyWindow('7d', now);
    const series = latencySeries([delivered(now, 250)], window);
    expect(series).toHaveLength(84);
    expect(series[83]).toMatchObject({ count: 1, p50: 250 });
  });

  it('refuses a window that is not a whole number of buckets, or too many of them', () => {
    for (const [window, field] of [
      [{ fromMs: 0, toMs: 90_000, bucketMs: minuteMs }, 'window'],
      [{ fromMs: minuteMs, toMs: minuteMs, bucketMs: minuteMs }, 'window'],
      [{ fromMs: 2 * minuteMs, toMs: minuteMs, bucketMs: minuteMs }, 'window'],
      [{ fromMs: 0, toMs: 1001, bucketMs: 1 }, 'window'],
      [{ fromMs: 0, toMs: minuteMs, bucketMs: 0 }, 'window.bucketMs'],
      [{ fromMs: Number.NaN, toMs: minuteMs, bucketMs: minuteMs }, 'window.fromMs'],
      [{ fromMs: 0, toMs: minuteMs, bucketMs: minuteMs, range: '1h' }, 'window.range'],
    ] as const) {
      const error = thrownBy(() => latencySeries([], window as LatencyWindow));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ code: 'INPUT_INVALID', field });
    }
    expect(latencySeries([], { fromMs: 0, toMs: 1000, bucketMs: 1 })).toHaveLength(1000);
  });

  it('refuses a record whose times are not numbers, naming it', () => {
    for (const [record, field] of [
      [{ createdAt: Number.NaN, deliveredAt: window10.fromMs }, 'deliveries[1].createdAt'],
      [{ createdAt: '2026-12-04', deliveredAt: window10.fromMs }, 'deliveries[1].createdAt'],
      [{ createdAt: window10.fromMs }, 'deliveries[1].deliveredAt'],
      [{ createdAt: window10.fromMs, deliveredAt: new Date(window10.fromMs) }, 'deliveries[1].deliveredAt'],
      [null, 'deliveries[1]'],
    ] as const) {
      const error = thrownBy(() => latencySeries([delivered(window10.fromMs, 1), record as unknown as LatencyRecord], window10));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ code: 'INPUT_INVALID', field });
    }
  });

  it('counts every delivered record in the window once, with p50 ≤ p95 ≤ p99 each taken from its bucket', () => {
    const span = 10 * minuteMs;
    const record = fc.record({
      createdAt: fc.integer({ min: window10.fromMs - span, max: window10.toMs + span }),
      deliveredAt: fc.option(fc.integer({ min: window10.fromMs - minuteMs, max: window10.toMs + minuteMs }), { nil: null }),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 300 }), (records) => {
        const series = latencySeries(records, window10);
        const inside = records.filter((r) => r.deliveredAt !== null && r.deliveredAt >= window10.fromMs && r.deliveredAt < window10.toMs);
        expect(series.reduce((sum, bucket) => sum + bucket.count, 0)).toBe(inside.length);
        for (const bucket of series) {
          const latencies = inside
            .filter((r) => r.deliveredAt! >= bucket.startMs && r.deliveredAt! < bucket.startMs + minuteMs)
            .map((r) => Math.max(0, r.deliveredAt! - r.createdAt));
          expect(bucket.count).toBe(latencies.length);
          if (bucket.count === 0) continue;
          expect(latencies).toContain(bucket.p50);
          expect(latencies).toContain(bucket.p95);
          expect(latencies).toContain(bucket.p99);
          expect(bucket.p50!).toBeLessThanOrEqual(bucket.p95!);
          expect(bucket.p95!).toBeLessThanOrEqual(bucket.p99!);
          // Nearest rank: at least half of the values are ≤ p50, and fewer than half are < p50.
          expect(latencies.filter((value) => value <= bucket.p50!).length * 2).toBeGreaterThanOrEqual(latencies.length);
          expect(latencies.filter((value) => value < bucket.p50!).length * 2).toBeLessThan(latencies.length);
        }
      }),
      { numRuns: propertyRuns(500) },
    );
  });
});
