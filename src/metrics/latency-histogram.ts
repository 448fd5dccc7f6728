/**
 * A fixed-memory latency histogram: geometric buckets 5 % wide from 1 µs up, so a
 * percentile is read to within ~5 % whatever the number of samples, and recording
 * is O(1) with no allocation (a million deliveries cost no more memory than ten).
 */

const growth = 1.05;
const logGrowth = Math.log(growth);
const minValue = 0.001; // ms
const bucketCount = 600; // 0.001 ms · 1.05^600 ≈ 5·10^9 ms: two months

/** Summary of a latency distribution, in milliseconds. */
export interface LatencySummary {
  count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(bucketCount + 1);
  private total = 0;
  private sum = 0;
  private minSeen = Number.POSITIVE_INFINITY;
  private maxSeen = Number.NEGATIVE_INFINITY;

  /** Records one value in ms (negative values count as 0). */
  record(valueMs: number): void {
    const value = valueMs > 0 ? valueMs : 0;
    const index = value <= minValue ? 0 : Math.min(bucketCount, Math.ceil(Math.log(value / minValue) / logGrowth));
    this.counts[index]! += 1;
    this.total += 1;
    this.sum += value;
    if (value < this.minSeen) this.minSeen = value;
    if (value > this.maxSeen) this.maxSeen = value;
  }

  /** The value at quantile q (0–1): the upper edge of its bucket, clamped to the observed range. */
  quantile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let index = 0; index <= bucketCount; index++) {
      seen += this.counts[index]!;
      if (seen >= rank) {
        const upper = index === 0 ? minValue : minValue * growth ** index;
        return Math.min(this.maxSeen, Math.max(this.minSeen, upper));
      }
    }
    return this.maxSeen;
  }

  summary(): LatencySummary {
    if (this.total === 0) return { count: 0, min: null, max: null, mean: null, p50: null, p90: null, p95: null, p99: null };
    return {
      count: this.total,
      min: this.minSeen,
      max: this.maxSeen,
      mean: this.sum / this.total,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
    };
  }

  /** Non-empty buckets as `[upperEdgeMs, count]`, for charts. */
  buckets(): Array<[upperMs: number, count: number]> {
    const out: Array<[number, number]> = [];
    for (let index = 0; index <= bucketCount; index++) {
      const count = this.counts[index]!;
      if (count > 0) out.push([index === 0 ? minValue : minValue * growth ** index, count]);
    }
    return out;
  }
}
