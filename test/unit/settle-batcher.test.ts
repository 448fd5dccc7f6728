/**
 * The settle batcher alone, over a fake storage and a fake clock: what goes in one
 * storage call, in what order, and what happens to a batch the storage refuses.
 */
import { describe, expect, it } from 'vitest';
import type { CompletedAttempt } from '../../src/delivery/attempt-delivery.js';
import { maxSettleBatch, SettleBatcher } from '../../src/delivery/settle-batcher.js';
import type { SettleResult, Settlement, StorageAdapter } from '../../src/storage/storage-adapter.js';
import { FakeClock, flush } from '../support/fake-clock.js';
import { recordingLogger } from '../support/recording-logger.js';

function attempt(n: number, { kind = 'delivered', orderingKey = null as string | null } = {}): CompletedAttempt {
  const settlement = { deliveryId: `dlv_${n}`, leaseToken: `lease_${n}`, outcome: { kind }, orderingKey } as Settlement;
  return { claimed: {} as CompletedAttempt['claimed'], settlement };
}

/** An ordered delivery's attempt (its settle lets the key's next delivery go). */
const keyed = (n: number, kind = 'delivered') => attempt(n, { kind, orderingKey: `acct_${n}` });

function setup({
  refusals = 0,
  abandon = false,
  pollIntervalMs = 5_000,
  batchLimit = undefined as (() => number | null) | undefined,
  concurrency = undefined as number | undefined,
} = {}) {
  const clock = new FakeClock();
  const { logger, errors, warnings } = recordingLogger();
  const calls: string[][] = [];
  let refuse = refusals;
  let holdNext = false;
  let release: (() => void) | null = null;
  let holdAll = false;
  const held: Array<() => void> = [];
  let writing = 0;
  let mostWriting = 0;
  const storage = {
    async settle(settlements: Settlement[]): Promise<SettleResult[]> {
      calls.push(settlements.map((s) => s.deliveryId));
      if (refuse > 0) {
        refuse--;
        throw new Error('database is locked');
      }
      writing++;
      mostWriting = Math.max(mostWriting, writing);
      if (holdNext) {
        holdNext = false;
        await new Promise<void>((resolve) => (release = resolve));
      }
      if (holdAll) await new Promise<void>((resolve) => held.push(resolve));
      writing--;
      return settlements.map((s) => ({ ok: false, deliveryId: s.deliveryId, code: 'STORAGE_LEASE_LOST' }));
    },
    ...(batchLimit === undefined ? {} : { writeBatchLimit: (operation: string) => (operation === 'settle' ? batchLimit() : null) }),
    ...(concurrency === undefined ? {} : { writeConcurrency: () => concurrency }),
  } as unknown as StorageAdapter;
  const settled: Array<{ batch: string[]; results: string[] }> = [];
  let flushed = 0;
  const batcher = new SettleBatcher({
    storage,
    clock,
    logger,
    pollIntervalMs,
    onSettled: async (batch, results) => {
      settled.push({ batch: batch.map((item) => item.settlement.deliveryId), results: results.map((r) => (r.ok ? r.delivery.id : r.deliveryId)) });
    },
    abandon: () => abandon,
    onFlushed: () => flushed++,
  });
  return {
    clock,
    batcher,
    calls,
    settled,
    errors,
    warnings,
    flushed: () => flushed,
    holdNextWrite: () => (holdNext = true),
    releaseWrite: () => release?.(),
    /** Holds every write from now on, until `releaseEach`. */
    holdWrites: () => (holdAll = true),
    mostWriting: () => mostWriting,
    /** Stops holding, and releases the writes held and any they let start, until every write has ended. */
    async releaseEach() {
      holdAll = false;
      while (held.length > 0) {
        for (const resolve of held.splice(0)) resolve();
        await flush();
      }
    },
  };
}

describe('SettleBatcher', () => {
  it('writes the attempts added in one turn in one storage call, in order, and hands each its result', async () => {
    const { batcher, calls, settled, flushed } = setup();
    for (let n = 1; n <= 3; n++) batcher.add(attempt(n));
    expect(batcher.pending).toBe(3);
    expect(batcher.isIdle).toBe(false);
    await flush();
    expect(calls).toEqual([['dlv_1', 'dlv_2', 'dlv_3']]);
    expect(settled).toEqual([{ batch: ['dlv_1', 'dlv_2', 'dlv_3'], results: ['dlv_1', 'dlv_2', 'dlv_3'] }]);
    expect(batcher.isIdle).toBe(true);
    expect(flushed()).toBe(1);
  });

  it(`writes at most ${maxSettleBatch} attempts in one call`, async () => {
    const { batcher, calls } = setup();
    for (let n = 0; n < maxSettleBatch * 2 + 1; n++) batcher.add(attempt(n));
    await flush();
    expect(calls.map((call) => call.length)).toEqual([maxSettleBatch, maxSettleBatch, 1]);
    expect(calls.flat()).toEqual(Array.from({ length: maxSettleBatch * 2 + 1 }, (_, n) => `dlv_${n}`));
  });

  it("cuts batches to the storage's writeBatchLimit, asked before each write, in order", async () => {
    const limits = [2, 2, null];
    const { batcher, calls } = setup({ batchLimit: () => limits.shift() ?? null });
    for (let n = 1; n <= 7; n++) batcher.add(attempt(n));
    await flush();
    expect(calls).toEqual([['dlv_1', 'dlv_2'], ['dlv_3', 'dlv_4'], ['dlv_5', 'dlv_6', 'dlv_7']]);
  });

  it('puts the attempts that finish while a batch is written in the next batch', async () => {
    const { batcher, calls, holdNextWrite, releaseWrite } = setup();
    holdNextWrite();
    batcher.add(attempt(1));
    await flush();
    batcher.add(attempt(2));
    batcher.add(attempt(3));
    await flush();
    expect(calls).toEqual([['dlv_1']]);
    releaseWrite();
    await flush();
    expect(calls).toEqual([['dlv_1'], ['dlv_2', 'dlv_3']]);
    expect(batcher.isIdle).toBe(true);
  });

  it('keeps a refused batch and writes it again after a pause of at most a second, logging the failure', async () => {
    const { batcher, calls, settled, clock, errors } = setup({ refusals: 1 });
    batcher.add(attempt(1));
    batcher.add(attempt(2));
    await flush();
    expect(calls).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(batcher.pending).toBe(2);
    await clock.advance(999);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(calls).toEqual([['dlv_1', 'dlv_2'], ['dlv_1', 'dlv_2']]);
    expect(settled).toHaveLength(1);
    expect(batcher.isIdle).toBe(true);
  });

  it('pauses for the poll interval when it is shorter than a second', async () => {
    const { batcher, calls, clock } = setup({ refusals: 1, pollIntervalMs: 200 });
    batcher.add(attempt(1));
    await flush();
    await clock.advance(199);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(calls).toHaveLength(2);
  });

  it('when told to abandon, writes once more and drops what that write refuses too, with a warning, and is idle', async () => {
    const { batcher, calls, settled, clock, warnings, flushed } = setup({ refusals: 2, abandon: true });
    batcher.add(attempt(1));
    await flush();
    await clock.advance(1_000);
    await flush();
    expect(calls).toHaveLength(2);
    expect(settled).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.fields).toMatchObject({ count: 1 });
    expect(batcher.pending).toBe(0);
    expect(batcher.isIdle).toBe(true);
    expect(flushed()).toBe(2); // once per write
  });

  it('when told to abandon, writes the batch once more and keeps what that write settles (the storage is back)', async () => {
    const { batcher, calls, settled, clock, warnings, flushed } = setup({ refusals: 1, abandon: true });
    batcher.add(attempt(1));
    batcher.add(attempt(2));
    await flush();
    await clock.advance(1_000);
    await flush();
    expect(calls).toEqual([['dlv_1', 'dlv_2'], ['dlv_1', 'dlv_2']]);
    expect(settled).toEqual([{ batch: ['dlv_1', 'dlv_2'], results: ['dlv_1', 'dlv_2'] }]);
    expect(warnings).toEqual([]);
    expect(batcher.isIdle).toBe(true);
    expect(flushed()).toBe(2); // once per write
  });

  describe('with a storage that takes two settles at once (writeConcurrency)', () => {
    it('writes a batch of delivered ordered attempts beside one of delivered attempts under way', async () => {
      const { batcher, calls, settled, holdWrites, releaseEach, mostWriting } = setup({ concurrency: 2 });
      holdWrites();
      batcher.add(attempt(1));
      await flush();
      batcher.add(keyed(2));
      batcher.add(attempt(3));
      await flush();
      expect(calls).toEqual([['dlv_1'], ['dlv_2', 'dlv_3']]);
      batcher.add(keyed(4));
      await flush();
      expect(calls).toHaveLength(2); // two under way: the storage's limit
      await releaseEach();
      expect(calls).toEqual([['dlv_1'], ['dlv_2', 'dlv_3'], ['dlv_4']]);
      expect(mostWriting()).toBe(2);
      expect(settled.map((s) => s.batch).sort()).toEqual([['dlv_1'], ['dlv_2', 'dlv_3'], ['dlv_4']]);
      expect(batcher.isIdle).toBe(true);
    });

    it('writes unordered attempts one batch at a time: nothing waits for their settle', async () => {
      const { batcher, calls, holdWrites, releaseEach, mostWriting } = setup({ concurrency: 2 });
      holdWrites();
      batcher.add(attempt(1));
      await flush();
      batcher.add(attempt(2));
      await flush();
      expect(calls).toEqual([['dlv_1']]);
      await releaseEach();
      expect(calls).toEqual([['dlv_1'], ['dlv_2']]);
      expect(mostWriting()).toBe(1);
    });

    it.each(['retry', 'dead', 'disable'])('writes nothing beside a batch holding a %s (it sets failingSince, which a later delivery clears)', async (kind) => {
      const { batcher, calls, holdWrites, releaseEach, mostWriting } = setup({ concurrency: 2 });
      holdWrites();
      batcher.add(keyed(1, kind));
      await flush();
      batcher.add(keyed(2));
      await flush();
      expect(calls).toEqual([['dlv_1']]);
      await releaseEach();
      expect(calls).toEqual([['dlv_1'], ['dlv_2']]);
      expect(mostWriting()).toBe(1);
    });

    it("beside a write, takes only the head's run of delivered attempts: nothing is written ahead of an older failure", async () => {
      const { batcher, calls, holdWrites, releaseEach } = setup({ concurrency: 2 });
      holdWrites();
      batcher.add(attempt(1));
      await flush();
      batcher.add(keyed(2));
      batcher.add(keyed(3, 'retry'));
      batcher.add(keyed(4));
      await flush();
      expect(calls).toEqual([['dlv_1'], ['dlv_2']]);
      await releaseEach();
      expect(calls).toEqual([['dlv_1'], ['dlv_2'], ['dlv_3', 'dlv_4']]);
    });

    it('a failure at the head of the queue waits for the write under way, then goes alone with what follows', async () => {
      const { batcher, calls, holdWrites, releaseEach, mostWriting } = setup({ concurrency: 2 });
      holdWrites();
      batcher.add(keyed(1));
      await flush();
      batcher.add(keyed(2, 'retry'));
      batcher.add(keyed(3));
      await flush();
      expect(calls).toEqual([['dlv_1']]);
      await releaseEach();
      expect(calls).toEqual([['dlv_1'], ['dlv_2', 'dlv_3']]);
      expect(mostWriting()).toBe(1);
    });

    it('a refused write holds every write back for its pause, then writes its batch again', async () => {
      const { batcher, calls, settled, clock, errors } = setup({ concurrency: 2, refusals: 1 });
      batcher.add(keyed(1));
      await flush();
      batcher.add(keyed(2));
      await flush();
      expect(calls).toEqual([['dlv_1']]);
      expect(errors).toHaveLength(1);
      await clock.advance(999);
      expect(calls).toEqual([['dlv_1']]);
      await clock.advance(1);
      await flush();
      expect(calls).toEqual([['dlv_1'], ['dlv_1', 'dlv_2']]);
      expect(settled).toEqual([{ batch: ['dlv_1', 'dlv_2'], results: ['dlv_1', 'dlv_2'] }]);
      expect(batcher.isIdle).toBe(true);
    });
  });
});
