import { describe, expect, it } from 'vitest';
import { FlowControl } from '../../src/delivery/flow-control.js';
import { FakeClock } from '../support/fake-clock.js';

const breakerOff = false;
const noRate = { maxInFlightPerSubscription: 2, ratePerSecond: null, burst: 1, maxInFlightWhenAlone: null };

describe('flow control per subscription', () => {
  it('lets a subscription on the shared default cap go past it only when nothing else waits', () => {
    const flow = new FlowControl(new FakeClock(), { ...noRate, maxInFlightWhenAlone: 4 }, breakerOff);
    flow.start('a');
    flow.start('a');
    expect(flow.check('a')).toBe('cap');
    expect(flow.check('a', null, true)).toBe('ok');
    // Left out of a claim for its share, with room to go when alone: worth a claim that lets it in.
    expect(flow.blocked()).toEqual({ subscriptionIds: ['a'], tenantIds: [], nextUnblockAt: null, sharing: true });
    expect(flow.blocked(() => 0, 1, true).subscriptionIds).toEqual([]);
    flow.start('a');
    flow.start('a');
    expect(flow.check('a', null, true)).toBe('cap');
    expect(flow.blocked()).toEqual({ subscriptionIds: ['a'], tenantIds: [], nextUnblockAt: null, sharing: false });
  });

  it('keeps a cap the subscription set itself, or one set globally, when alone', () => {
    const flow = new FlowControl(new FakeClock(), { ...noRate, maxInFlightWhenAlone: 4 }, breakerOff);
    flow.configure('a', { maxInFlight: 1 });
    flow.start('a');
    expect(flow.check('a', null, true)).toBe('cap');
    const hard = new FlowControl(new FakeClock(), noRate, breakerOff);
    hard.start('b');
    hard.start('b');
    expect(hard.check('b', null, true)).toBe('cap');
  });

  it('caps posts in flight per subscription and frees the slot when one finishes', () => {
    const flow = new FlowControl(new FakeClock(), noRate, breakerOff);
    flow.start('a');
    flow.start('a');
    expect(flow.canStart('a')).toBe(false);
    expect(flow.canStart('b')).toBe(true);
    expect(flow.blocked()).toEqual({ subscriptionIds: ['a'], tenantIds: [], nextUnblockAt: null, sharing: false });
    flow.finish('a', false);
    expect(flow.canStart('a')).toBe(true);
  });

  it('leaves a subscription out of claims once in flight plus buffered reach its capacity factor times its cap, the factor per subscription when given as a function', () => {
    const flow = new FlowControl(new FakeClock(), noRate, breakerOff);
    flow.start('a');
    flow.start('b');
    // Cap 2: with 1 in flight and 3 buffered each, a factor of 2 leaves both out.
    const buffered = () => 3;
    expect(flow.blocked(buffered, 2).subscriptionIds.sort()).toEqual(['a', 'b']);
    // 'a' may have up to 4 caps (8) in flight and buffered, 'b' stays at 2.
    expect(flow.blocked(buffered, (id) => (id === 'a' ? 4 : 2)).subscriptionIds).toEqual(['b']);
  });

  it('applies a subscription setting over the default', () => {
    const flow = new FlowControl(new FakeClock(), noRate, breakerOff);
    flow.configure('a', { maxInFlight: 1 });
    flow.start('a');
    expect(flow.canStart('a')).toBe(false);
  });

  it('rate-limits with a token bucket: a burst, then one post per 1/rate seconds', async () => {
    const clock = new FakeClock();
    const flow = new FlowControl(clock, { maxInFlightPerSubscription: 100, ratePerSecond: 10, burst: 3, maxInFlightWhenAlone: null }, breakerOff);
    for (let i = 0; i < 3; i++) {
      expect(flow.canStart('a')).toBe(true);
      flow.start('a');
      flow.finish('a', false);
    }
    expect(flow.canStart('a')).toBe(false);
    expect(flow.blocked()).toEqual({ subscriptionIds: ['a'], tenantIds: [], nextUnblockAt: clock.now() + 100, sharing: false });
    await clock.advance(99);
    expect(flow.canStart('a')).toBe(false);
    await clock.advance(1);
    expect(flow.canStart('a')).toBe(true);
  });

  it('opens the breaker after consecutive failures, lets one probe through after the cool-down, and closes on success', async () => {
    const clock = new FakeClock();
    const flow = new FlowControl(clock, { maxInFlightPerSubscription: 10, ratePerSecond: null, burst: 1, maxInFlightWhenAlone: null }, { failureThreshold: 3, cooldownMs: 1_000, maxCooldownMs: 8_000 });
    for (let i = 0; i < 3; i++) {
      flow.start('a');
      flow.finish('a', true);
    }
    expect(flow.status('a')).toMatchObject({ breaker: 'open', openUntil: clock.now() + 1_000 });
    expect(flow.canStart('a')).toBe(false);
    expect(flow.blocked().nextUnblockAt).toBe(clock.now() + 1_000);
    await clock.advance(1_000);
    // Read before anything checks the breaker: the cool-down is over, a probe may go.
    expect(flow.status('a')).toMatchObject({ breaker: 'half-open', openUntil: null });
    expect(flow.canStart('a')).toBe(true);
    flow.start('a');
    expect(flow.status('a')).toMatchObject({ breaker: 'half-open', openUntil: null, inFlight: 1 });
    // Only one probe at a time while half-open.
    expect(flow.canStart('a')).toBe(false);
    flow.finish('a', false);
    expect(flow.status('a')).toMatchObject({ breaker: 'closed', openUntil: null });
    expect(flow.canStart('a')).toBe(true);
  });

  it('doubles the cool-down after each failed probe, up to the maximum', async () => {
    const clock = new FakeClock();
    const flow = new FlowControl(clock, { maxInFlightPerSubscription: 10, ratePerSecond: null, burst: 1, maxInFlightWhenAlone: null }, { failureThreshold: 1, cooldownMs: 1_000, maxCooldownMs: 3_000 });
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

describe('flow control per tenant', () => {
  const unlimited = { maxInFlightPerSubscription: 100, ratePerSecond: null, burst: 1, maxInFlightWhenAlone: null };
  /** Two posts a second per tenant, three at once after a quiet spell. */
  const tenantRate = { ratePerSecond: 2, burst: 3 };

  /** Starts and finishes one post, as the dispatcher does; false when flow control refused it. */
  function post(flow: FlowControl, subscriptionId: string, tenantId: string | null): boolean {
    if (!flow.canStart(subscriptionId, tenantId)) return false;
    flow.start(subscriptionId, tenantId);
    flow.finish(subscriptionId, false);
    return true;
  }

  it('holds a tenant to its rate across all its subscriptions together, refilling on the clock', async () => {
    const clock = new FakeClock();
    const flow = new FlowControl(clock, unlimited, breakerOff, tenantRate);
    expect([post(flow, 'a', 'org_1'), post(flow, 'b', 'org_1'), post(flow, 'a', 'org_1')]).toEqual([true, true, true]);
    expect(flow.check('a', 'org_1')).toBe('held');
    expect(flow.check('b', 'org_1')).toBe('held');
    // The subscriptions themselves are not held: their posts for no tenant still go.
    expect(flow.check('a', null)).toBe('ok');
    await clock.advance(499);
    expect(flow.canStart('b', 'org_1')).toBe(false);
    await clock.advance(1);
    expect(post(flow, 'b', 'org_1')).toBe(true);
    expect(post(flow, 'a', 'org_1')).toBe(false);
    await clock.advance(500);
    expect(post(flow, 'a', 'org_1')).toBe(true);
  });

  it('does not hold one tenant for another tenant\'s posts', () => {
    const flow = new FlowControl(new FakeClock(), unlimited, breakerOff, tenantRate);
    for (let i = 0; i < 3; i++) post(flow, 'a', 'org_1');
    expect(flow.check('a', 'org_1')).toBe('held');
    expect(flow.check('c', 'org_2')).toBe('ok');
  });

  it('never holds a delivery without a tenant, however many posts go out', () => {
    const flow = new FlowControl(new FakeClock(), unlimited, breakerOff, tenantRate);
    for (let i = 0; i < 50; i++) expect(post(flow, 'platform', null)).toBe(true);
    expect(flow.blocked()).toEqual({ subscriptionIds: [], tenantIds: [], nextUnblockAt: null, sharing: false });
  });

  it('limits no tenant without tenantLimits.ratePerSecond', () => {
    const flow = new FlowControl(new FakeClock(), unlimited, breakerOff, { ratePerSecond: null, burst: 10 });
    for (let i = 0; i < 50; i++) expect(post(flow, 'a', 'org_1')).toBe(true);
    expect(flow.blocked().tenantIds).toEqual([]);
  });

  it('leaves a tenant out of tokens out of the next claim, with the time it has a token again', async () => {
    const clock = new FakeClock();
    const flow = new FlowControl(clock, unlimited, breakerOff, tenantRate);
    for (let i = 0; i < 3; i++) post(flow, 'a', 'org_1');
    post(flow, 'c', 'org_2');
    expect(flow.blocked()).toEqual({ subscriptionIds: [], tenantIds: ['org_1'], nextUnblockAt: clock.now() + 500, sharing: false });
    await clock.advance(500);
    expect(flow.blocked()).toEqual({ subscriptionIds: [], tenantIds: [], nextUnblockAt: null, sharing: false });
  });

  it('reports the earlier of a held subscription and a held tenant as the next unblock time', () => {
    const clock = new FakeClock();
    const flow = new FlowControl(clock, unlimited, breakerOff, { ratePerSecond: 1, burst: 1 });
    flow.configure('slow', { ratePerSecond: 4, burst: 1 });
    post(flow, 'slow', null);
    post(flow, 'a', 'org_1');
    expect(flow.blocked()).toEqual({ subscriptionIds: ['slow'], tenantIds: ['org_1'], nextUnblockAt: clock.now() + 250, sharing: false });
  });

  it('holds a delivery whose subscription is at its cap and whose tenant is out of tokens as held, not capped', () => {
    const flow = new FlowControl(new FakeClock(), { maxInFlightPerSubscription: 1, ratePerSecond: null, burst: 1, maxInFlightWhenAlone: null }, breakerOff, { ratePerSecond: 1, burst: 1 });
    flow.start('a', 'org_1');
    expect(flow.check('a', 'org_1')).toBe('held');
    expect(flow.check('a', null)).toBe('cap');
  });
});
