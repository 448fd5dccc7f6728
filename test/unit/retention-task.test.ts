import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { batchPauseFactor, maxBatchesPerRun, minBatchLimit, minCatchUpPauseMs, nextBatchLimit, RetentionTask, runBudgetMs, targetBatchHoldMs } from '../../src/retention/retention-task.js';
import { createMemoryStorage } from '../../src/storage/memory/index.js';
import type { PurgeRetentionInput, PurgeRetentionResult, StorageAdapter } from '../../src/storage/storage-adapter.js';
import { FakeClock, flush } from '../support/fake-clock.js';

const options = { deliveredMs: 1000, deadMs: null, eventsMs: 5000, intervalMs: 60_000, batchSize: 7 };
/** The process's time as these tests see it: batches take none of it unless a test says so, so no pause falls between them. */
const instant = () => 0;

/** A memory storage whose retention batches are answered by `answer`, each call recorded. */
function storageAnswering(answer: (input: PurgeRetentionInput, index: number) => Promise<PurgeRetentionResult>) {
  const calls: PurgeRetentionInput[] = [];
  const storage: StorageAdapter = Object.assign(createMemoryStorage(), {
    purgeRetention: (input: PurgeRetentionInput) => {
      calls.push(input);
      return answer(input, calls.length - 1);
    },
  });
  return { storage, calls };
}

describe('RetentionTask', () => {
  it('runs at start and every intervalMs after a run, with cutoffs from the clock and the batch size as the limit', async () => {
    const clock = new FakeClock(1_000_000);
    const { storage, calls } = storageAnswering(async () => ({ deliveries: 1, attempts: 2, events: 3, testAttempts: 4, more: false }));
    const task = new RetentionTask({ storage, clock, logger: silentLogger, options, processNow: instant });
    task.start();
    await flush();
    expect(calls).toEqual([{ deliveredBefore: 999_000, deadBefore: null, eventsBefore: 995_000, limit: 7, now: 1_000_000 }]);
    await clock.advance(59_999);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toMatchObject({ deliveredBefore: 1_059_000 });
    expect(task.figures).toEqual({
      deliveriesPurged: 2,
      attemptsPurged: 4,
      eventsPurged: 6,
      testAttemptsPurged: 8,
      lastRunAt: 1_060_000,
      lastError: null,
      caughtUpAt: 1_060_000,
      lagMs: 0,
    });
    await task.stop();
  });

  it('takes batches while the storage says there is more, up to the run limit', async () => {
    const clock = new FakeClock();
    const { storage, calls } = storageAnswering(async (_input, index) => ({ deliveries: 1, attempts: 0, events: 0, testAttempts: 0, more: index < 2 }));
    const task = new RetentionTask({ storage, clock, logger: silentLogger, options, processNow: instant });
    task.start();
    await flush();
    expect(calls).toHaveLength(3);

    const endless = storageAnswering(async () => ({ deliveries: 0, attempts: 0, events: 1, testAttempts: 0, more: true }));
    const busy = new RetentionTask({ storage: endless.storage, clock, logger: silentLogger, options, processNow: instant });
    busy.start();
    await flush(maxBatchesPerRun * 3);
    expect(endless.calls).toHaveLength(maxBatchesPerRun);
    await Promise.all([task.stop(), busy.stop()]);
  });

  it('stop() waits for the batch in progress, and no run follows it', async () => {
    const clock = new FakeClock();
    let finish: (() => void) | undefined;
    const { storage, calls } = storageAnswering(
      () => new Promise((resolve) => (finish = () => resolve({ deliveries: 1, attempts: 1, events: 0, testAttempts: 0, more: true }))),
    );
    const task = new RetentionTask({ storage, clock, logger: silentLogger, options, processNow: instant });
    task.start();
    await flush();
    expect(calls).toHaveLength(1);
    let stopped = false;
    const stopping = task.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false);
    finish!();
    await stopping;
    // The batch said there was more, but the task stopped: no second batch, no next run.
    await clock.advance(10 * 60_000);
    expect(calls).toHaveLength(1);
    expect(task.figures.deliveriesPurged).toBe(1);
  });

  describe('its share of the process', () => {
    /** A task whose batches each take `batchMs` of the process's time and always leave more; the clock time of each batch is recorded. */
    function slowTask(clock: FakeClock, batchMs: number) {
      let processMs = 0;
      const batchesAt: number[] = [];
      const { storage } = storageAnswering(async () => {
        batchesAt.push(clock.now());
        processMs += batchMs;
        return { deliveries: 1, attempts: 0, events: 0, testAttempts: 0, more: true };
      });
      const task = new RetentionTask({ storage, clock, logger: silentLogger, options: { ...options, intervalMs: 60_000 }, processNow: () => processMs });
      return { task, batchesAt };
    }

    it("waits nineteen times a batch's own time before the next, ends a run on its budget, and comes back after the catch-up pause", async () => {
      const clock = new FakeClock(0);
      const batchMs = 10;
      const { task, batchesAt } = slowTask(clock, batchMs);
      task.start();
      await flush();
      expect(batchesAt).toEqual([0]);
      await clock.advance(batchPauseFactor * batchMs - 1);
      expect(batchesAt).toHaveLength(1);
      await clock.advance(1);
      expect(batchesAt).toEqual([0, batchPauseFactor * batchMs]);
      // The budget is the batches' time, not the pauses': ten batches of 10 ms, 190 ms apart.
      await clock.advance(10_000);
      const perRun = runBudgetMs / batchMs;
      const apart = batchPauseFactor * batchMs;
      expect(batchesAt.slice(0, perRun + 1)).toEqual([...Array.from({ length: perRun }, (_, i) => i * apart), (perRun - 1) * apart + minCatchUpPauseMs]);
      // At most a twentieth of the process's time: 10 ms of batch in every 200 ms on the clock, or less.
      const [first, last] = [batchesAt[0]!, batchesAt.at(-1)!];
      expect((batchesAt.length - 1) * batchMs).toBeLessThanOrEqual((last - first) / 19);
      await task.stop();
    });

    it('stop() during the pause between two batches ends the run at once, with no further batch', async () => {
      const clock = new FakeClock(0);
      const { task, batchesAt } = slowTask(clock, 50);
      task.start();
      await flush();
      expect(batchesAt).toHaveLength(1);
      let stopped = false;
      const stopping = task.stop().then(() => (stopped = true));
      await flush();
      expect(stopped).toBe(true);
      await stopping;
      await clock.advance(10 * 60_000);
      expect(batchesAt).toHaveLength(1);
      expect(task.figures.lastRunAt).toBe(0);
    });
  });

  describe('purge lag', () => {
    /** A task whose batches answer from `answers` in turn (the last one repeated), each a `more` flag or an error. */
    function taskAnswering(clock: FakeClock, answers: Array<boolean | 'skipped' | Error>) {
      const purged: PurgeRetentionResult[] = [];
      const { storage } = storageAnswering(async (_input, index) => {
        const answer = answers[Math.min(index, answers.length - 1)]!;
        if (answer instanceof Error) throw answer;
        return answer === 'skipped'
          ? { deliveries: 0, attempts: 0, events: 0, testAttempts: 0, more: false, skipped: true }
          : { deliveries: 1, attempts: 1, events: 0, testAttempts: 0, more: answer };
      });
      const task = new RetentionTask({ storage, clock, logger: silentLogger, options: { ...options, intervalMs: 1000 }, onPurged: (r) => purged.push(r), processNow: instant });
      return { task, purged };
    }

    it('is null before the first run, 0 once a run leaves nothing past retention, and reports each batch', async () => {
      const clock = new FakeClock(5_000);
      const { task, purged } = taskAnswering(clock, [true, false]);
      expect(task.figures).toMatchObject({ caughtUpAt: null, lagMs: null });
      task.start();
      await flush();
      expect(purged).toEqual([
        { deliveries: 1, attempts: 1, events: 0, testAttempts: 0, more: true },
        { deliveries: 1, attempts: 1, events: 0, testAttempts: 0, more: false },
      ]);
      expect(task.figures).toMatchObject({ caughtUpAt: 5_000, lagMs: 0 });
      await clock.advance(500);
      // Nothing is behind between runs: the next one is due, not late.
      expect(task.figures.lagMs).toBe(0);
      await task.stop();
    });

    it('counts from the first run while the task has never caught up, and from its last catch-up once it falls behind', async () => {
      const clock = new FakeClock(10_000);
      // Run 1: 20 batches, each with more to come (the run limit ends it). Run 2: caught up. Run 3 on: behind again.
      const answers: Array<boolean | Error> = [...Array<boolean>(maxBatchesPerRun).fill(true), false, true];
      const { task } = taskAnswering(clock, answers);
      task.start();
      await flush(maxBatchesPerRun * 3);
      expect(task.figures).toMatchObject({ caughtUpAt: null, lagMs: 0 });
      await clock.advance(minCatchUpPauseMs - 1);
      expect(task.figures.lagMs).toBe(minCatchUpPauseMs - 1);
      // Behind: the next run comes after the catch-up pause (at least minCatchUpPauseMs, at most intervalMs), not intervalMs.
      await clock.advance(999 - (minCatchUpPauseMs - 1));
      await flush();
      const caughtUpAt = task.figures.caughtUpAt!;
      expect(caughtUpAt).toBeGreaterThanOrEqual(10_000 + minCatchUpPauseMs);
      expect(caughtUpAt).toBeLessThan(11_000);
      expect(task.figures.lagMs).toBe(0);
      await clock.advance(caughtUpAt + 1000 - clock.now());
      await flush(maxBatchesPerRun * 3);
      expect(task.figures).toMatchObject({ caughtUpAt, lagMs: 1000 });
      await clock.advance(400);
      expect(task.figures.lagMs).toBe(1400);
      await task.stop();
    });

    it('waits intervalMs after a run that caught up, failed or found another purger, and only the catch-up pause after one stopped with rows left', async () => {
      const clock = new FakeClock(0);
      const { task } = taskAnswering(clock, [false, new Error('busy'), 'skipped', ...Array<boolean>(maxBatchesPerRun).fill(true), false]);
      const runsAt: number[] = [];
      task.start();
      await flush();
      runsAt.push(task.figures.lastRunAt!);
      for (let i = 0; i < 2; i++) {
        await clock.advance(999);
        await flush();
        expect(task.figures.lastRunAt).toBe(runsAt.at(-1));
        await clock.advance(1);
        await flush(maxBatchesPerRun * 3);
        runsAt.push(task.figures.lastRunAt!);
      }
      expect(runsAt).toEqual([0, 1000, 2000]);
      // The run after the skip stops at the batch limit with rows left: the next one is due well before intervalMs.
      await clock.advance(1000);
      await flush(maxBatchesPerRun * 3);
      expect(task.figures).toMatchObject({ lastRunAt: 3000, caughtUpAt: null });
      await clock.advance(999);
      await flush();
      expect(task.figures.lastRunAt).toBeGreaterThanOrEqual(3000 + minCatchUpPauseMs);
      expect(task.figures.lastRunAt).toBeLessThan(4000);
      expect(task.figures.lagMs).toBe(0);
      await task.stop();
    });

    it('counts a failed run as behind', async () => {
      const clock = new FakeClock(0);
      const { task } = taskAnswering(clock, [false, new Error('disk full')]);
      task.start();
      await flush();
      expect(task.figures).toMatchObject({ caughtUpAt: 0, lagMs: 0 });
      await clock.advance(1000);
      await flush();
      expect(task.figures).toMatchObject({ lastError: 'disk full', caughtUpAt: 0, lagMs: 1000 });
      await task.stop();
    });

    it('is null while another instance holds the purge, and counts from the run that takes it over', async () => {
      const clock = new FakeClock(0);
      const { task } = taskAnswering(clock, [false, 'skipped', true]);
      task.start();
      await flush();
      expect(task.figures).toMatchObject({ caughtUpAt: 0, lagMs: 0 });
      await clock.advance(1000);
      await flush();
      expect(task.figures).toMatchObject({ caughtUpAt: null, lagMs: null });
      await clock.advance(1000);
      await flush(maxBatchesPerRun * 3);
      // Behind since this run (at 2000), not since its own catch-up before the other instance purged.
      await clock.advance(300);
      expect(task.figures).toMatchObject({ caughtUpAt: null, lagMs: 300 });
      await task.stop();
    });
  });
  describe('batch size', () => {
    it('scales toward the hold target by at most half or double a batch, grows only after a batch that left more, and keeps within batchSize', () => {
      expect(targetBatchHoldMs).toBe(5);
      const held = (times: number) => times * targetBatchHoldMs;
      // Held 4× the target: a quarter of the size would hold it, but one batch takes it down by half at most.
      expect(nextBatchLimit(100, held(4), true, 500)).toBe(50);
      expect(nextBatchLimit(100, held(1.25), true, 500)).toBe(80);
      // Between half the target and the target: kept.
      expect(nextBatchLimit(100, held(0.75), true, 500)).toBe(100);
      expect(nextBatchLimit(100, held(1), true, 500)).toBe(100);
      // Under half: toward the target, at most doubled; not after a batch that left nothing (a short one says nothing of a full one).
      expect(nextBatchLimit(100, held(0.4), true, 500)).toBe(200);
      expect(nextBatchLimit(100, held(0.01), true, 500)).toBe(200);
      expect(nextBatchLimit(100, 0, true, 500)).toBe(200);
      expect(nextBatchLimit(100, held(0.01), false, 500)).toBe(100);
      // Never above batchSize, never under the floor (or batchSize when it is smaller).
      expect(nextBatchLimit(400, held(0.01), true, 500)).toBe(500);
      expect(nextBatchLimit(12, held(50), true, 500)).toBe(minBatchLimit);
      expect(nextBatchLimit(7, held(50), true, 7)).toBe(7);
      expect(nextBatchLimit(4, held(50), true, 4)).toBe(4);
    });

    /**
     * A task whose storage's purge holds the (injected) process time `msPerDelivery` for each
     * delivery asked for, before it returns (as SQLite does), plus `extraHeldMs(index)`, then
     * waits `waitMs` (as PostgreSQL waits for the database).
     */
    function sizedTask(clock: FakeClock, msPerDelivery: number, waitMs: number, extraHeldMs: (index: number) => number = () => 0) {
      let processMs = 0;
      const { storage, calls } = storageAnswering((input, index) => {
        processMs += input.limit * msPerDelivery + extraHeldMs(index);
        return (async () => {
          await Promise.resolve();
          processMs += waitMs;
          return { deliveries: input.limit, attempts: 0, events: 0, testAttempts: 0, more: true };
        })();
      });
      const task = new RetentionTask({ storage, clock, logger: silentLogger, options: { ...options, batchSize: 500 }, processNow: () => processMs });
      return { task, limits: () => calls.map((call) => call.limit) };
    }

    it('sizes batches by the time the call held the event loop, not by its wait for the database', async () => {
      const clock = new FakeClock(0);
      // SQLite-like, 0.25 ms a delivery: 500 hold 125 ms (halved), 250 62.5 (halved), 125 31.25 (halved),
      // 62 15.5 (halved), 31 7.75 (to 20), 20 the target.
      const sqliteLike = sizedTask(clock, 0.25, 0);
      sqliteLike.task.start();
      // PostgreSQL-like: nothing held, 20 ms waiting for the database: batchSize throughout.
      const postgresLike = sizedTask(clock, 0, 20);
      postgresLike.task.start();
      await flush();
      await clock.advance(60_000);
      expect(sqliteLike.limits().slice(0, 8)).toEqual([500, 250, 125, 62, 31, 20, 20, 20]);
      expect(postgresLike.limits().slice(0, 8)).toEqual([500, 500, 500, 500, 500, 500, 500, 500]);
      await sqliteLike.task.stop();
      await postgresLike.task.stop();
    });

    it('grows back after one slow batch, and keeps the size it found from one run to the next', async () => {
      const clock = new FakeClock(0);
      // 1/128 ms a delivery: 500 hold 3.9 ms (kept); the third batch holds 50 ms more (a checkpoint in its
      // commit: halved, not cut to a tenth), 250 then hold 1.95 ms (doubled back).
      const steady = sizedTask(clock, 1 / 128, 0, (index) => (index === 2 ? 50 : 0));
      steady.task.start();
      // 1/8 ms a delivery: 500, 250, 125 and 62 take the first run's budget (117 ms); the next runs keep 40.
      const slow = sizedTask(clock, 1 / 8, 0);
      slow.task.start();
      await flush();
      await clock.advance(60_000);
      expect(steady.limits().slice(0, 6)).toEqual([500, 500, 500, 250, 500, 500]);
      const seen = slow.limits();
      expect(seen.length).toBeGreaterThan(maxBatchesPerRun);
      expect(seen.slice(0, 5)).toEqual([500, 250, 125, 62, 40]);
      expect(seen.slice(4)).toEqual(seen.slice(4).map(() => 40));
      await steady.task.stop();
      await slow.task.stop();
    });
  });
});
