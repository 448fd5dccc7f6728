/**
 * Delivery latency over time, for the overview's chart: a window of fixed buckets and,
 * in each, the exact p50/p95/p99 of `deliveredAt − createdAt` of the deliveries delivered
 * in it. Pure: the caller passes the time and the records.
 */
import { z } from 'zod';
import { ValidationError, describeValue } from '../errors.js';
import { throwValidation } from '../throw-validation.js';

/** The spans the overview offers. */
export type LatencyRange = '1h' | '24h' | '7d';

/** A span cut into buckets of `bucketMs`: `[fromMs, toMs)`, epoch ms. */
export interface LatencyWindow {
  fromMs: number;
  toMs: number;
  bucketMs: number;
}

/** What {@link latencySeries} reads of a delivery (a `DeliveryRecord` fits). */
export interface LatencyRecord {
  createdAt: number;
  deliveredAt: number | null;
}

/** One bucket of the series: latencies in ms, `null` when nothing was delivered in it. */
export interface LatencyBucket {
  startMs: number;
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

const minuteMs = 60_000;
const hourMs = 60 * minuteMs;

const ranges: Record<LatencyRange, { bucketMs: number; buckets: number }> = {
  '1h': { bucketMs: minuteMs, buckets: 60 },
  '24h': { bucketMs: 30 * minuteMs, buckets: 48 },
  '7d': { bucketMs: 2 * hourMs, buckets: 84 },
};

/** More buckets than a chart has pixels for is a mistake, and each one holds an array. */
const maxBuckets = 1000;

const rangeSchema = z.enum(Object.keys(ranges) as [LatencyRange, ...LatencyRange[]]);
const nowSchema = z.number().min(0).max(Number.MAX_SAFE_INTEGER);
const epochMsSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const windowSchema = z.strictObject({
  fromMs: epochMsSchema,
  toMs: epochMsSchema,
  bucketMs: z.number().int().min(1),
});

/**
 * The window of `range` that ends with the bucket holding `nowMs`. Buckets are aligned to
 * multiples of `bucketMs` since the epoch, so two renders a few seconds apart draw the same
 * buckets rather than a chart that shifts sideways; the last bucket is the current one,
 * still filling, so `toMs` may lie up to one bucket past `nowMs`.
 *
 * `1h`: 60 buckets of 1 min; `24h`: 48 of 30 min; `7d`: 84 of 2 h.
 *
 * @throws ValidationError `INPUT_INVALID` for an unknown `range` or a `nowMs` that is not epoch ms.
 */
export function latencyWindow(range: LatencyRange, nowMs: number): LatencyWindow {
  const parsedRange = rangeSchema.safeParse(range);
  if (!parsedRange.success) throwValidation('INPUT_INVALID', parsedRange.error, range, rangeSchema, 'range');
  const parsedNow = nowSchema.safeParse(nowMs);
  if (!parsedNow.success) throwValidation('INPUT_INVALID', parsedNow.error, nowMs, nowSchema, 'nowMs');
  const { bucketMs, buckets } = ranges[parsedRange.data];
  const toMs = (Math.floor(nowMs / bucketMs) + 1) * bucketMs;
  return { fromMs: toMs - buckets * bucketMs, toMs, bucketMs };
}

/**
 * One entry per bucket of `window`, oldest first: how many deliveries were delivered in
 * it (by `deliveredAt`) and the nearest-rank p50/p95/p99 of their latency, `deliveredAt −
 * createdAt` in ms. A latency below 0 (the two times stamped by different hosts' clocks)
 * counts as 0. Deliveries not delivered, or delivered outside the window, are skipped.
 *
 * Memory grows with the deliveries delivered inside the window: every latency is kept
 * until its bucket is summarised, which is what makes the percentiles exact. The caller
 * bounds the input (a page of the delivery log: a few thousand records at most).
 *
 * @throws ValidationError `INPUT_INVALID` for a window that is not a whole number of
 *   buckets (at most 1000), or a record whose times are not numbers (`field` names it).
 */
export function latencySeries(deliveries: Iterable<LatencyRecord>, window: LatencyWindow): LatencyBucket[] {
  const parsed = windowSchema.safeParse(window);
  if (!parsed.success) throwValidation('INPUT_INVALID', parsed.error, window, windowSchema, 'window');
  const { fromMs, toMs, bucketMs } = parsed.data;
  const span = toMs - fromMs;
  if (span <= 0 || span % bucketMs !== 0 || span / bucketMs > maxBuckets) {
    throw new ValidationError(
      'INPUT_INVALID',
      `Expected \`window\` to span 1 to ${maxBuckets} whole buckets of \`bucketMs\`, got ${span} ms in buckets of ${bucketMs} ms`,
      { field: 'window' },
    );
  }

  const latencies: number[][] = Array.from({ length: span / bucketMs }, () => []);
  let index = 0;
  for (const delivery of deliveries) {
    const { createdAt, deliveredAt } = checkRecord(delivery, index++);
    if (deliveredAt === null || deliveredAt < fromMs || deliveredAt >= toMs) continue;
    latencies[Math.floor((deliveredAt - fromMs) / bucketMs)]!.push(Math.max(0, deliveredAt - createdAt));
  }
  return latencies.map((values, bucket) => ({ startMs: fromMs + bucket * bucketMs, ...percentiles(values) }));
}

function checkRecord(delivery: LatencyRecord, index: number): LatencyRecord {
  if (delivery === null || typeof delivery !== 'object') {
    throw new ValidationError('INPUT_INVALID', `Expected \`deliveries[${index}]\` to be { createdAt, deliveredAt }, got ${describeValue(delivery)}`, {
      field: `deliveries[${index}]`,
    });
  }
  const { createdAt, deliveredAt } = delivery;
  if (!Number.isFinite(createdAt)) {
    throw new ValidationError('INPUT_INVALID', `Expected \`deliveries[${index}].createdAt\` to be epoch ms, got ${describeValue(createdAt)}`, {
      field: `deliveries[${index}].createdAt`,
    });
  }
  if (deliveredAt !== null && !Number.isFinite(deliveredAt)) {
    throw new ValidationError('INPUT_INVALID', `Expected \`deliveries[${index}].deliveredAt\` to be epoch ms or null, got ${describeValue(deliveredAt)}`, {
      field: `deliveries[${index}].deliveredAt`,
    });
  }
  return delivery;
}

/**
 * Exact nearest-rank percentiles. Not `LatencyHistogram` (src/metrics): it reads a
 * quantile as the upper edge of a 5 % bucket, fine for a lifetime of deliveries, while a
 * chart bucket holds few enough values to sort and read exactly.
 */
function percentiles(values: number[]): Omit<LatencyBucket, 'startMs'> {
  if (values.length === 0) return { count: 0, p50: null, p95: null, p99: null };
  const sorted = Float64Array.from(values).sort();
  // The rank from a whole percent: `percent * n` is an exact integer, so no rounding moves it.
  const at = (percent: number): number => sorted[Math.ceil((percent * sorted.length) / 100) - 1]!;
  return { count: sorted.length, p50: at(50), p95: at(95), p99: at(99) };
}
