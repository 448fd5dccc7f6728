/**
 * The claim-ahead buffer alone: how much it asks to claim in each mode, and what it does
 * with each buffered delivery when slots free up (start, keep, give back).
 */
import { describe, expect, it } from 'vitest';
import { ClaimAheadBuffer, rateWindowMs } from '../../src/delivery/claim-ahead-buffer.js';
import { FlowControl } from '../../src/delivery/flow-control.js';
import type { ClaimedDelivery } from '../../src/storage/storage-adapter.js';
import { FakeClock } from '../support/fake-clock.js';

const concurrency = 4;
const leaseMs = 10_000;
const timeoutMs = 2_000;

function setup(maxInFlight = concurrency) {
  const clock = new FakeClock();
  const flow = new FlowControl(clock, { maxInFlightPerSubscription: maxInFlight, ratePerSecond: null, burst: 1, maxInFlightWhenAlone: null }, { failureThreshold: 1, cooldownMs: 5_000, maxCooldownMs: 60_000 });
  const buffer = new ClaimAheadBuffer({ concurrency, leaseMs, timeoutMs });
  return { clock, flow, buffer };
}

/** A claimed delivery; only the ids, the delivery's tenant and the subscription's flow settings matter here. */
function claimed(id: string, subscriptionId = 'sub_a', flowControl: ClaimedDelivery['subscription']['flowControl'] = null, tenantId: string | null = null): ClaimedDelivery {
  return {
    delivery: { id, tenantId } as ClaimedDelivery['delivery'],
    history: { attempts: 0, firstFailedAt: null, recoveredAt: null },
    event: { id: `evt_${id}` } as ClaimedDelivery['event'],
    subscription: { id: subscriptionId, flowControl } as ClaimedDelivery['subscription'],
    leaseToken: `lease_${id}`,
  };
}

const ids = (list: readonly ClaimedDelivery[]) => list.map((item) => item.delivery.id);

describe('ClaimAheadBuffer', () => {
  describe('taking out what changed since its claim', () => {
    it("takes out an expunged event's deliveries, the others keeping their places and their subscriptions' counts", () => {
      const { buffer, clock, flow } = setup();
      buffer.add([claimed('d1', 'sub_a'), claimed('d2', 'sub_b'), claimed('d3', 'sub_a'), claimed('d4', 'sub_a')], clock.now());
      expect(ids(buffer.takeOfEvents(new Set(['evt_d3', 'evt_d2', 'evt_unknown'])))).toEqual(['d2', 'd3']);
      expect([buffer.size, buffer.bufferedFor('sub_a'), buffer.bufferedFor('sub_b')]).toEqual([2, 2, 0]);
      expect(ids(buffer.takeOfEvents(new Set(['evt_none'])))).toEqual([]);
      expect(ids(buffer.takeFor('sub_a'))).toEqual(['d1', 'd4']);
      expect([buffer.size, buffer.bufferedFor('sub_a')]).toEqual([0, 0]);
      expect(ids(buffer.take(clock.now(), concurrency, flow).start)).toEqual([]);
    });
  });

  describe('claimRoom', () => {
    it('asks for the whole room, twice the concurrency, when idle', () => {
      expect(setup().buffer.claimRoom(0)).toBe(2 * concurrency);
    });

    it('asks for all the free room once at least a whole concurrency of it is free', () => {
      const { buffer, clock } = setup();
      expect(buffer.claimRoom(concurrency)).toBe(concurrency);
      buffer.add([claimed('d1')], clock.now());
      expect(buffer.claimRoom(2)).toBe(2 * concurrency - 3);
    });

    it('asks for nothing while less than a whole concurrency is free, buffered deliveries counted', () => {
      const { buffer, clock } = setup();
      expect(buffer.claimRoom(concurrency + 1)).toBe(0);
      buffer.add([claimed('d1'), claimed('d2'), claimed('d3')], clock.now());
      expect(buffer.claimRoom(2)).toBe(0);
      expect(buffer.claimRoom(0)).toBe(2 * concurrency - 3);
    });
  });

  describe('depth that follows the start rate', () => {
    // maxWaitMs is 4,000 ms here: a delivery may be buffered when the recent rate would start it
    // within 2,000 ms, so 3 × concurrency (12) needs ≥ 0.006 starts per ms.
    /** Starts `perTake` posts of `subscriptionId` at each of `at` (ms after the clock's time now). */
    async function startAt(context: ReturnType<typeof setup>, at: readonly number[], perTake: number, subscriptionId = 'sub_a'): Promise<void> {
      const { buffer, clock, flow } = context;
      const origin = clock.now();
      let n = 0;
      for (const time of at) {
        await clock.advance(origin + time - clock.now());
        const batch = Array.from({ length: perTake }, () => claimed(`${subscriptionId}_${n++}`, subscriptionId));
        buffer.add(batch, clock.now());
        const { start } = buffer.take(clock.now(), perTake, flow);
        expect(start).toHaveLength(perTake);
        for (const item of start) flow.finish(item.subscription.id, false);
      }
    }

    it('holds one concurrency ahead until a whole window of starts has been counted', async () => {
      const context = setup();
      await startAt(context, [0, 100], concurrency);
      expect(context.buffer.ahead).toBe(concurrency);
      expect(context.buffer.claimRoom(concurrency)).toBe(concurrency);
    });

    it('holds three concurrencies ahead, and claims two at least, after a window of fast starts', async () => {
      const context = setup();
      await startAt(context, [0, rateWindowMs], concurrency);
      const { buffer, clock } = context;
      expect(buffer.ahead).toBe(3 * concurrency);
      // Every slot busy: the whole deep room is free, and a claim starts while a concurrency is still buffered.
      expect(buffer.claimRoom(concurrency)).toBe(3 * concurrency);
      buffer.add(Array.from({ length: concurrency }, (_, i) => claimed(`b${i}`)), clock.now());
      expect(buffer.claimRoom(concurrency)).toBe(2 * concurrency);
      buffer.add([claimed('b_more')], clock.now());
      expect(buffer.claimRoom(concurrency)).toBe(0);
    });

    it('stays shallow when the posts start too slowly to leave a deeper buffer within half of maxWaitMs', async () => {
      const context = setup();
      // 1 start per 1,000 ms: 2 would start within 2,000 ms, fewer than a concurrency.
      await startAt(context, [0, 1_000, 2_000], 1);
      expect(context.buffer.ahead).toBe(concurrency);
      expect(context.buffer.claimRoom(concurrency)).toBe(concurrency);
    });

    it('gives each subscription the depth of its own start rate', async () => {
      const context = setup();
      await startAt(context, [0, 50, 100, 150], 2, 'sub_fast');
      // 50 ms after the last of those: the window (200 ms) closes with this start.
      await startAt(context, [50], 1, 'sub_slow');
      const { buffer } = context;
      expect(buffer.capacityFactor('sub_fast')).toBe(4);
      // 1 start in the window: 0.005 per ms, 10 within 2,000 ms: ahead 10 of at most 12.
      expect(buffer.capacityFactor('sub_slow')).toBe((concurrency + 10) / concurrency);
      expect(buffer.capacityFactor('sub_unseen')).toBe(2);
    });

    it('forgets the rates when idle: a burst after a quiet spell starts shallow', async () => {
      const context = setup();
      await startAt(context, [0, rateWindowMs], concurrency);
      const { buffer } = context;
      expect(buffer.ahead).toBe(3 * concurrency);
      expect(buffer.claimRoom(0)).toBe(2 * concurrency);
      expect(buffer.ahead).toBe(concurrency);
      expect(buffer.capacityFactor('sub_a')).toBe(2);
    });
  });

  it('gives a delivery at most half the lease beyond the request timeout to wait', () => {
    expect(setup().buffer.maxWaitMs).toBe((leaseMs - timeoutMs) / 2);
  });

  it('starts deliveries in claim order into the free slots, counting each with flow control, and keeps the rest', () => {
    const { buffer, flow, clock } = setup();
    buffer.add([claimed('d1'), claimed('d2', 'sub_b'), claimed('d3')], clock.now());
    const taken = buffer.take(clock.now(), 2, flow);
    expect(ids(taken.start)).toEqual(['d1', 'd2']);
    expect(taken.giveBack).toEqual([]);
    expect(flow.status('sub_a').inFlight).toBe(1);
    expect(flow.status('sub_b').inFlight).toBe(1);
    expect(buffer.size).toBe(1);
    expect(buffer.bufferedFor('sub_a')).toBe(1);
    expect(buffer.bufferedFor('sub_b')).toBe(0);
    expect(ids(buffer.take(clock.now(), 2, flow).start)).toEqual(['d3']);
  });

  it('keeps a delivery whose subscription is at its cap in its place, and starts later ones of other subscriptions', () => {
    const { buffer, flow, clock } = setup(1);
    buffer.add([claimed('d1'), claimed('d2'), claimed('d3', 'sub_b'), claimed('d4')], clock.now());
    const first = buffer.take(clock.now(), 4, flow);
    expect(ids(first.start)).toEqual(['d1', 'd3']);
    expect(first.giveBack).toEqual([]);
    expect(buffer.bufferedFor('sub_a')).toBe(2);
    flow.finish('sub_a', false);
    // d2 before d4: the kept ones stay in claim order.
    expect(ids(buffer.take(clock.now(), 4, flow).start)).toEqual(['d2']);
  });

  it('gives back a delivery whose subscription is held by its breaker or out of rate tokens', () => {
    const { buffer, flow, clock } = setup();
    flow.configure('sub_broken', null);
    flow.start('sub_broken');
    flow.finish('sub_broken', true);
    buffer.add([claimed('d1', 'sub_broken'), claimed('d2', 'sub_rate', { ratePerSecond: 1, burst: 1 }), claimed('d3', 'sub_rate', { ratePerSecond: 1, burst: 1 })], clock.now());
    const taken = buffer.take(clock.now(), 4, flow);
    expect(ids(taken.start)).toEqual(['d2']);
    expect(ids(taken.giveBack)).toEqual(['d1', 'd3']);
    expect(taken.stale).toBe(0);
    expect(buffer.size).toBe(0);
    expect(buffer.bufferedFor('sub_rate')).toBe(0);
  });

  it('gives back a delivery whose tenant is out of rate tokens, whichever of its subscriptions it goes to, and starts the others', async () => {
    const clock = new FakeClock();
    const flow = new FlowControl(clock, { maxInFlightPerSubscription: concurrency, ratePerSecond: null, burst: 1, maxInFlightWhenAlone: null }, false, { ratePerSecond: 1, burst: 2 });
    const buffer = new ClaimAheadBuffer({ concurrency, leaseMs, timeoutMs });
    buffer.add(
      [
        claimed('d1', 'sub_a', null, 'org_1'),
        claimed('d2', 'sub_b', null, 'org_1'),
        claimed('d3', 'sub_c', null, 'org_1'),
        claimed('d4', 'sub_d', null, 'org_2'),
        claimed('d5', 'sub_platform', null, null),
      ],
      clock.now(),
    );
    const taken = buffer.take(clock.now(), concurrency, flow);
    expect(ids(taken.start)).toEqual(['d1', 'd2', 'd4', 'd5']);
    expect(ids(taken.giveBack)).toEqual(['d3']);
    expect(taken.stale).toBe(0);
    expect(flow.blocked()).toEqual({ subscriptionIds: [], tenantIds: ['org_1'], nextUnblockAt: clock.now() + 1_000, sharing: false });
  });

  it('gives back a delivery claimed longer ago than it may wait, counted from before its claim, however free the slots', async () => {
    const { buffer, flow, clock } = setup();
    const claimedAt = clock.now();
    buffer.add([claimed('d1')], claimedAt);
    await clock.advance(buffer.maxWaitMs);
    buffer.add([claimed('d2')], clock.now());
    expect(buffer.take(clock.now(), 0, flow)).toEqual({ start: [], giveBack: [], stale: 0, shareWaiting: false });
    // Exactly as long as it may wait: still started.
    expect(ids(buffer.take(clock.now(), 4, flow).start)).toEqual(['d1', 'd2']);

    await clock.advance(1);
    buffer.add([claimed('d3')], claimedAt);
    buffer.add([claimed('d4')], clock.now());
    const taken = buffer.take(clock.now(), 4, flow);
    expect(ids(taken.giveBack)).toEqual(['d3']);
    expect(taken.stale).toBe(1);
    expect(ids(taken.start)).toEqual(['d4']);
    expect(flow.status('sub_a').inFlight).toBe(3);
  });

  it('hands over everything it holds on takeAll, in claim order, and is empty after', () => {
    const { buffer, clock } = setup();
    buffer.add([claimed('d1'), claimed('d2', 'sub_b')], clock.now());
    buffer.add([claimed('d3')], clock.now());
    expect(ids(buffer.takeAll())).toEqual(['d1', 'd2', 'd3']);
    expect(buffer.size).toBe(0);
    expect(buffer.bufferedFor('sub_a')).toBe(0);
    expect(buffer.claimRoom(0)).toBe(2 * concurrency);
  });
  describe('claim order over many takes', () => {
    it('keeps what it keeps in claim order ahead of the rest, past hundreds of deliveries taken one at a time', () => {
      // sub_a is held at its cap of 1 by its first delivery, so each of its later ones is
      // kept in place while the others (a subscription each) start one slot at a time.
      const { clock, flow, buffer } = setup(1);
      const subscriptionOf = (n: number) => (n % 3 === 0 ? 'sub_a' : `sub_${n}`);
      const claimedList = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => claimed(`d${from + i}`, subscriptionOf(from + i)));
      buffer.add(claimedList(0, 600), clock.now());
      const started: string[] = [];
      for (let take = 0; take < 350; take++) {
        if (take === 200) buffer.add(claimedList(600, 900), clock.now());
        const { start, giveBack } = buffer.take(clock.now(), 1, flow);
        expect(giveBack).toEqual([]);
        started.push(...ids(start));
      }
      // d0 (sub_a's first), then the others in claim order, one per take.
      const expected = Array.from({ length: 900 }, (_, n) => `d${n}`).filter((id, n) => n === 0 || subscriptionOf(n) !== 'sub_a');
      expect(started).toEqual(expected.slice(0, 350));
      const left = Array.from({ length: 900 }, (_, n) => `d${n}`).filter((id) => !started.includes(id));
      expect(buffer.size).toBe(left.length);
      expect(buffer.bufferedFor('sub_a')).toBe(299);
      expect(ids(buffer.takeAll())).toEqual(left);
      expect(buffer.size).toBe(0);
    });
  });

  describe('a subscription on the shared default cap', () => {
    /** Concurrency 4: a share of 2 while others wait, every slot when alone. */
    function sharing() {
      const clock = new FakeClock();
      const flow = new FlowControl(clock, { maxInFlightPerSubscription: 2, ratePerSecond: null, burst: 1, maxInFlightWhenAlone: concurrency }, false);
      const buffer = new ClaimAheadBuffer({ concurrency, leaseMs, timeoutMs });
      return { clock, flow, buffer };
    }

    it('stops at its share and says slots wait for it, until told nothing else is due', () => {
      const { clock, flow, buffer } = sharing();
      buffer.add(['d1', 'd2', 'd3', 'd4', 'd5'].map((id) => claimed(id)), clock.now());
      const first = buffer.take(clock.now(), concurrency, flow);
      expect(ids(first.start)).toEqual(['d1', 'd2']);
      expect(first.shareWaiting).toBe(true);
      const alone = buffer.take(clock.now(), concurrency - 2, flow, true);
      expect(ids(alone.start)).toEqual(['d3', 'd4']);
      expect(alone.shareWaiting).toBe(false);
      expect(buffer.size).toBe(1);
      expect(flow.status('sub_a').inFlight).toBe(4);
    });

    it("lets every other subscription's delivery take a slot before one goes past its share", () => {
      const { clock, flow, buffer } = sharing();
      buffer.add([claimed('a1'), claimed('a2'), claimed('a3'), claimed('b1', 'sub_b'), claimed('a4')], clock.now());
      const taken = buffer.take(clock.now(), concurrency, flow, true);
      // In claim order a1, a2 (the share), b1; then a3 past the share in the one slot left.
      expect(ids(taken.start)).toEqual(['a1', 'a2', 'b1', 'a3']);
      expect(flow.status('sub_a').inFlight).toBe(3);
    });

    it('never goes past a cap the subscription set itself', () => {
      const { clock, flow, buffer } = sharing();
      buffer.add(['d1', 'd2', 'd3'].map((id) => claimed(id, 'sub_a', { maxInFlight: 1 })), clock.now());
      const taken = buffer.take(clock.now(), concurrency, flow, true);
      expect(ids(taken.start)).toEqual(['d1']);
      expect(taken.shareWaiting).toBe(false);
    });
  });
});
