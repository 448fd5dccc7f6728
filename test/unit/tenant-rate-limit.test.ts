/**
 * The per-tenant token buckets alone: the rate, the burst, and the memory bound with many
 * tenants (a bucket is forgotten once it is full again).
 */
import { describe, expect, it } from 'vitest';
import { TenantRateLimit } from '../../src/delivery/tenant-rate-limit.js';

const T0 = Date.UTC(2026, 10, 26, 12);

describe('TenantRateLimit', () => {
  it('lets a tenant start a burst at once, then one post per 1/rate seconds', () => {
    const limit = new TenantRateLimit({ ratePerSecond: 4, burst: 2 });
    expect(limit.heldUntil('org_1', T0)).toBeNull();
    limit.take('org_1', T0);
    limit.take('org_1', T0);
    expect(limit.heldUntil('org_1', T0)).toBe(T0 + 250);
    expect(limit.heldUntil('org_1', T0 + 249)).toBe(T0 + 250);
    expect(limit.heldUntil('org_1', T0 + 250)).toBeNull();
    limit.take('org_1', T0 + 250);
    expect(limit.heldUntil('org_1', T0 + 250)).toBe(T0 + 500);
  });

  it('lists only the tenants out of tokens as blocked, with the earliest refill', () => {
    const limit = new TenantRateLimit({ ratePerSecond: 1, burst: 1 });
    limit.take('org_1', T0);
    limit.take('org_2', T0 + 300);
    expect(limit.blocked(T0 + 300)).toEqual({ tenantIds: ['org_1', 'org_2'], nextUnblockAt: T0 + 1_000 });
    expect(limit.blocked(T0 + 1_000)).toEqual({ tenantIds: ['org_2'], nextUnblockAt: T0 + 1_300 });
    expect(limit.blocked(T0 + 1_300)).toEqual({ tenantIds: [], nextUnblockAt: null });
  });

  it('keeps no bucket for a tenant once it is full again, so 100,000 tenants posting once leave nothing behind', () => {
    // One token at two a second: a bucket is full again 500 ms after its last take.
    const limit = new TenantRateLimit({ ratePerSecond: 2, burst: 1 });
    for (let n = 0; n < 100_000; n++) limit.take(`org_${n}`, T0 + Math.floor(n / 1_000));
    expect(limit.size).toBe(100_000);
    // 1 ms before the last thousand (taken at T0 + 99) are full: only they are left.
    expect(limit.blocked(T0 + 99 + 499).tenantIds).toHaveLength(1_000);
    expect(limit.size).toBe(1_000);
    limit.take('org_new', T0 + 99 + 500);
    expect(limit.size).toBe(1);
    expect(limit.heldUntil('org_0', T0 + 99 + 500)).toBeNull();
  });

  it('moves a tenant that takes again behind the others, so the buckets full before it are still forgotten', () => {
    const limit = new TenantRateLimit({ ratePerSecond: 1, burst: 2 });
    limit.take('org_1', T0); // full again at T0 + 1 s
    limit.take('org_2', T0 + 500); // at T0 + 1.5 s
    limit.take('org_1', T0 + 800); // 1.8 tokens, 0.8 left: full again at T0 + 2 s
    limit.take('org_3', T0 + 1_600);
    // org_2 is forgotten although org_1, taken first, is not full yet.
    expect(limit.size).toBe(2);
    expect(limit.heldUntil('org_1', T0 + 1_600)).toBeNull();
    limit.take('org_1', T0 + 1_600);
    expect(limit.heldUntil('org_1', T0 + 1_600)).toBe(T0 + 2_000);
  });
});
