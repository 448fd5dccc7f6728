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

function attempt(n: number): CompletedAttempt {
  const settlement = { deliveryId: `dlv_${n}`, leaseToken: `lease_${n}`, outcome: { kind: 'delivered' } } as Settlement;
  return { claimed: {} as CompletedAttempt['claimed'], settlement };
}

function setup({ refusals = 0, abandon = false, pollIntervalMs = 5_000, batchLimit = undefined as (() => number | null) | undefined } = {}) {
  const clock = new FakeClock();
  const { logger, errors, warnings } = recordingLogger();
  const calls: string[][] = [];
  let refuse = refusals;
  let holdNext = false;
  let release: (() => void) | null = null;
  const storage = {
    async settle(settlements: Settlement[]): Promise<SettleResult[]> {
      calls.push(settlements.map((s) => s.deliveryId));
      if (refuse > 0) {
        refuse--;
        throw new Error('database is locked');
      }
      if (holdNext) {
        holdNext = false;
        await new Promise<void>((resolve) => (release = resolve));
      }
      return settlements.map((s) => ({ ok: false, deliveryId: s.deliveryId, code: 'STORAGE_LEASE_LOST' }));
    },
    ...(batchLimit === undefined ? {} : { writeBatchLimit: (operation: string) => (operation === 'settle' ? batchLimit() : null) }),
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
    expect(flushed()).toBe(1);
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
    expect(flushed()).toBe(1);
  });
});
