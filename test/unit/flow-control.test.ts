import { describe, expect, it } from 'vitest';
import { FlowControl } from '../../src/delivery/flow-control.js';
import { FakeClock } from '../support/fake-clock.js';

const breakerOff = false;
const noRate = { maxInFlightPerSubscription: 2, ratePerSecond: null, burst: 1 };

describe('flow control per subscription', () => {
  it('caps posts in flight per subscription and frees the slot when one finishes', () => {
    const flow = new FlowControl(new FakeClock(), noRate, breakerOff);
    flow.start('a');
    flow.start('a');
    expect(flow.canStart('a')).toBe(false);
    expect(flow.canStart('b')).toBe(true);
    expect(flow.blocked()).toEqual({ subscriptionIds: ['a'], nextUnblockAt: null });
    flow.finish('a', false);
    expect(flow.canStart('a')).toBe(true);
  });

  it('applies a subscription setting over the default', () => {
    const flow = new FlowControl(new FakeClock(), noRate, breakerOff);
    flow.configure('a', { maxInFlight: 1 });
    flow.start('a');
    expect(flow.canStart('a')).toBe(false);
  });

  it('rate-limits with a token bucket: a burst, then one post per 1/rate seconds', async () => {
    const clock = new FakeClock();
    const flow = new FlowControl(clock, { maxInFlightPerSubscription: 100, ratePerSecond: 10, burst: 3 }, breakerOff);
    for (let i = 0; i < 3; i++) {
      expect(flow.canStart('a')).toBe(true);
      flow.start('a');
      flow.finish('a', false);
    }
    expect(flow.canStart('a')).toBe(false);
    expect(flow.blocked()).toEqual({ subscriptionIds: ['a'], nextUnblockAt: clock.now() + 100 });
    await clock.advance(99);
    expect(flow.canStart('a')).toBe(false);
    await clock.advance(1);
    expect(flow.canStart('a')).toBe(true);
  });

  it('opens the breaker after consecutive failures, lets one probe through after the cool-down, and closes on success', async () => {
    const clock = new FakeClock();
    const flow = new FlowControl(clock, { maxInFlightPerSubscription: 10, ratePerSecond: null, burst: 1 }, { failureThreshold: 3, cooldownMs: 1_000, maxCooldownMs: 8_000 });
    for (let i = 0; i < 3; i++) {
      flow.start('a');
      flow.finish('a', true);
    }
    expect(flow.status('a')).toMatchObject({ breaker: 'open', openUntil: clock.now() + 1_000 });
    expect(flow.canStart('a')).toBe(false);
    expect(flow.blocked().nextUnblockAt).toBe(clock.now() + 1_000);
    await clock.advance(1_000);
    expect(flow.canStart('a')).toBe(true);
    flow.start('a');
    expect(flow.status('a').breaker).toBe('half-open');
    // Only one probe at a time while half-open.
    expect(flow.canStart('a')).toBe(false);
    flow.finish('a', false);
    expect(flow.status('a')).toMatchObject({ breaker: 'closed', openUntil: null });
    expect(flow.canStart('a')).toBe(true);
  });

  it('doubles the cool-down after each failed probe, up to the maximum', async () => {
    const clock = new FakeClock();
    const flow = new FlowControl(clock, { maxInFlightPerSubscription: 10, ratePerSecond: null, burst: 1 }, { failureThreshold: 1, cooldownMs: 1_000, maxCooldownMs: 3_000 });
    flow.start('a');
    flow.finish('a', true);
    const cooldowns: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { openUntil } = flow.status('a');
      cooldowns.push(openUntil! - clock.now());
      await clock.advance(openUntil! - clock.now());
      expect(flow.canStart('a')).toBe(true);
      flow.start('a');
      flow.finish('a', true);
    }
    expect(cooldowns).toEqual([1_000, 2_000, 3_000]);
  });

  it('never opens with the breaker turned off', () => {
    const flow = new FlowControl(new FakeClock(), noRate, breakerOff);
    for (let i = 0; i < 50; i++) {
      flow.start('a');
      flow.finish('a', true);
    }
    expect(flow.canStart('a')).toBe(true);
  });
});
