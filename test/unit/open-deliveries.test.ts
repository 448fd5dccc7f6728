// The shared rule of what a subscription's status change does to each open delivery.
import { describe, expect, it } from 'vitest';
import { openDeliveryUpdate } from '../../src/storage/shared/open-deliveries.js';

describe('openDeliveryUpdate', () => {
  it('holds pending deliveries with no due time, and resumes held ones due at once', () => {
    expect(openDeliveryUpdate('hold', 5_000)).toEqual({ from: 'pending', fields: { status: 'held', nextAttemptAt: null, updatedAt: 5_000 } });
    expect(openDeliveryUpdate('resume', 6_000)).toEqual({ from: 'held', fields: { status: 'pending', nextAttemptAt: 6_000, updatedAt: 6_000 } });
  });
});
