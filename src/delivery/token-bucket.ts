/**
 * The token bucket behind every rate limit of the flow control (a subscription's, a
 * tenant's): `ratePerSecond` tokens a second refill it up to `burst`, a post takes one.
 * Pure arithmetic on a level and the time it was read; the callers keep the buckets.
 */

/** A bucket's level: `tokens` as of `refilledAt` (epoch ms). */
export interface TokenBucket {
  tokens: number;
  refilledAt: number;
}

/** How fast a bucket refills and how many tokens it holds at most. */
export interface TokenRate {
  ratePerSecond: number;
  burst: number;
}

/** Adds the tokens earned since the bucket was last read, up to `burst`, as of `now`. */
export function refillBucket(bucket: TokenBucket, { ratePerSecond, burst }: TokenRate, now: number): void {
  const elapsed = Math.max(0, now - bucket.refilledAt);
  bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * ratePerSecond) / 1000);
  bucket.refilledAt = now;
}

/**
 * When a refilled bucket holds a whole token again (whole milliseconds, rounded up), or
 * `null` when it holds one now.
 */
export function tokenDueAt(bucket: TokenBucket, rate: TokenRate, now: number): number | null {
  if (bucket.tokens >= 1) return null;
  // Less a float's residue: 249 ms at 4 a second leave 1 − 0.996 = 0.0040000000000000036
  // tokens to wait for, which must round up to 1 ms, not 2.
  return now + Math.ceil(((1 - bucket.tokens) * 1000) / rate.ratePerSecond - 1e-9);
}

/** When a bucket at its level of `now` is full again: from then on it is as good as a new one. */
export function bucketFullAt(bucket: TokenBucket, rate: TokenRate, now: number): number {
  return now + Math.max(0, ((rate.burst - bucket.tokens) * 1000) / rate.ratePerSecond);
}
