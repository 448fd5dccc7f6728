/**
 * The per-tenant rate limit (`tenantLimits.ratePerSecond` and `burst`): one token bucket
 * per tenant, shared by all of that tenant's endpoints, taken when a post to one of its
 * deliveries starts. A delivery's tenant is its subscription's (`delivery.tenantId`):
 * deliveries with none (the platform's own subscriptions, all-tenant consumers included)
 * are never limited here.
 *
 * Memory stays bounded however many tenants there are: a bucket exists only while it is
 * short of full, that is for at most `burst / ratePerSecond` seconds after the tenant's
 * last post. The buckets are kept in the order their tokens were last taken, so the full
 * ones are forgotten from the front at each take or read, without a walk of the others.
 *
 * Per process, like the per-subscription limit: with N instances on one database, each
 * lets a tenant post at the rate.
 */
import { bucketFullAt, refillBucket, tokenDueAt, type TokenBucket, type TokenRate } from './token-bucket.js';

interface TenantBucket extends TokenBucket {
  /** When it is full again, counting no more takes: it can be forgotten then. */
  fullAt: number;
}

export class TenantRateLimit {
  /** Least recently taken first. */
  private readonly buckets = new Map<string, TenantBucket>();
  /** Tenants left short of a whole token by their last take: the only ones that can be held. */
  private readonly short = new Set<string>();

  constructor(private readonly rate: TokenRate) {}

  /** Tenants with a bucket now (for tests of the memory bound). */
  get size(): number {
    return this.buckets.size;
  }

  /** Until when a post for the tenant may not start (out of tokens); `null` when it may now. */
  heldUntil(tenantId: string, now: number): number | null {
    const bucket = this.buckets.get(tenantId);
    if (bucket === undefined) return null;
    refillBucket(bucket, this.rate, now);
    return tokenDueAt(bucket, this.rate, now);
  }

  /** Takes a token for a post that starts now. */
  take(tenantId: string, now: number): void {
    this.forgetFull(now);
    let bucket = this.buckets.get(tenantId);
    if (bucket === undefined) {
      bucket = { tokens: this.rate.burst, refilledAt: now, fullAt: now };
    } else {
      refillBucket(bucket, this.rate, now);
      // Moved to the back: the most recently taken.
      this.buckets.delete(tenantId);
    }
    bucket.tokens -= 1;
    bucket.fullAt = bucketFullAt(bucket, this.rate, now);
    this.buckets.set(tenantId, bucket);
    if (bucket.tokens < 1) this.short.add(tenantId);
  }

  /** Tenants out of tokens now, and the earliest time one of them has a token again. */
  blocked(now: number): { tenantIds: string[]; nextUnblockAt: number | null } {
    this.forgetFull(now);
    const tenantIds: string[] = [];
    let nextUnblockAt: number | null = null;
    for (const tenantId of this.short) {
      const until = this.heldUntil(tenantId, now);
      if (until === null) {
        this.short.delete(tenantId);
        continue;
      }
      tenantIds.push(tenantId);
      if (nextUnblockAt === null || until < nextUnblockAt) nextUnblockAt = until;
    }
    return { tenantIds, nextUnblockAt };
  }

  /**
   * Forgets the buckets full again by `now`, from the least recently taken. A take leaves
   * at least zero tokens (none starts without a whole one), so a bucket is full at most
   * `burst / ratePerSecond` seconds after its last take: every bucket older than that
   * is reached.
   */
  private forgetFull(now: number): void {
    for (const [tenantId, bucket] of this.buckets) {
      if (bucket.fullAt > now) return;
      this.buckets.delete(tenantId);
      this.short.delete(tenantId);
    }
  }
}
