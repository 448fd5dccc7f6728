/**
 * Interleaved micro-benchmark rounds: every contestant runs one batch per round, in
 * an order that rotates from round to round, so machine noise hits them all alike.
 * Ratios are taken per round (pairs measured a few milliseconds apart) and the
 * median over rounds is reported.
 */
import { median } from './stats.js';

export interface Contestant {
  name: string;
  /**
   * Runs `ops` operations and returns a number derived from every result, so that
   * nothing can be optimised away (the caller folds it into a checksum).
   */
  run(ops: number): number | Promise<number>;
}

export interface InterleaveOptions {
  rounds: number;
  /** Target wall time of one batch, ms. */
  batchMs: number;
  /** Warm-up per contestant before calibration, ms. */
  warmupMs: number;
}

export interface InterleaveResult {
  /** Ops per second, one per round, by contestant name. */
  opsPerSecond: Map<string, number[]>;
  /** Folded results of every batch: printed in the report so the work is observably used. */
  checksum: number;
  batchOps: Map<string, number>;
}

async function timeBatch(contestant: Contestant, ops: number): Promise<{ ms: number; sink: number }> {
  const start = performance.now();
  const result = contestant.run(ops);
  const sink = typeof result === 'number' ? result : await result;
  return { ms: performance.now() - start, sink };
}

export async function interleave(contestants: readonly Contestant[], options: InterleaveOptions): Promise<InterleaveResult> {
  let checksum = 0;
  const batchOps = new Map<string, number>();
  // Warm up (let the JIT settle) and calibrate a batch size worth `batchMs`.
  for (const contestant of contestants) {
    let ops = 16;
    let spent = 0;
    let done = 0;
    while (spent < options.warmupMs) {
      const { ms, sink } = await timeBatch(contestant, ops);
      checksum = (checksum + sink) % 1_000_000_007;
      spent += ms;
      done += ops;
      if (ms < options.batchMs / 4) ops *= 2;
    }
    const perOpMs = spent / done;
    batchOps.set(contestant.name, Math.max(8, Math.round(options.batchMs / perOpMs)));
  }
  const opsPerSecond = new Map<string, number[]>(contestants.map((c) => [c.name, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < contestants.length; k++) {
      const contestant = contestants[(round + k) % contestants.length]!;
      const ops = batchOps.get(contestant.name)!;
      const { ms, sink } = await timeBatch(contestant, ops);
      checksum = (checksum + sink) % 1_000_000_007;
      opsPerSecond.get(contestant.name)!.push((ops / ms) * 1000);
    }
  }
  return { opsPerSecond, checksum, batchOps };
}

/** Median over rounds of ours ÷ theirs, each round's pair measured side by side. */
export function pairedRatio(result: InterleaveResult, ours: string, theirs: string): number {
  const a = result.opsPerSecond.get(ours)!;
  const b = result.opsPerSecond.get(theirs)!;
  return median(a.map((value, round) => value / b[round]!));
}

export function medianOps(result: InterleaveResult, name: string): number {
  return median(result.opsPerSecond.get(name)!);
}
