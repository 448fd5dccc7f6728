/**
 * Dispatch throughput: deliveries per second from a backlog of N events (one
 * subscription, so N deliveries) to the loopback receiver process, concurrency 50,
 * per storage; vs a bare `undici.request` loop over a Pool of 50 connections posting
 * the same 1 KB bodies (the limit) and vs 50 loops of `ky.post` (the peer). Rounds
 * interleave the three; a rate counts only deliveries the receiver says arrived.
 *
 * Ours is timed from `start()` to `drain()` resolving: claim, sign, post, settle in the
 * storage — what a host waits for. The backlog is stored before the clock starts. Every
 * storage drains the same backlog, every round: with fewer rounds for the durable ones
 * (3 for SQLite, 1 for PostgreSQL, as until 2026-11), their ratio swung with the
 * limit's own spread (16k–25k posts/s between rounds on one machine), across their target.
 */
import { collectGarbage, median } from '../stats.js';
import type { BenchContext } from '../context.js';
import type { ReceiverProcess, ReceiverReport } from '../receiver.js';
import { enqueueInputs } from '../payload.js';
import { bareRequests, bareUndiciLoop, createInstance, kyLoop } from '../trial-helpers.js';
import type { StorageEntry } from '../storages.js';

interface TrialResult {
  rate: number;
  elapsedMs: number;
  expected: number;
  arrived: number;
  requests: number;
  receiverCpu: number;
  senderCpu: number;
}

function trialResult(report: ReceiverReport, expected: number, elapsedMs: number, cpu: NodeJS.CpuUsage): TrialResult {
  return {
    rate: (report.distinctIds / elapsedMs) * 1000,
    elapsedMs,
    expected,
    arrived: report.distinctIds,
    requests: report.requests,
    receiverCpu: report.cpuMs / report.wallMs,
    senderCpu: (cpu.user + cpu.system) / 1000 / elapsedMs,
  };
}

async function timedBare(receiver: ReceiverProcess, expected: number, run: () => Promise<number>): Promise<TrialResult> {
  collectGarbage();
  await receiver.reset();
  const cpu = process.cpuUsage();
  const elapsedMs = await run();
  return trialResult(await receiver.report(), expected, elapsedMs, process.cpuUsage(cpu));
}

async function oursTrial(context: BenchContext, entry: StorageEntry, receiver: ReceiverProcess, events: number): Promise<TrialResult & { fillMs: number }> {
  const { concurrency } = context.sizes.dispatch;
  const instance = await createInstance(entry, receiver.url, concurrency);
  try {
    // The backlog goes in through the storage's fast path (what publish stores, batched
    // in transactions where the storage has them): only draining it is timed.
    const fillStart = performance.now();
    await instance.storage.fill(enqueueInputs(events));
    const fillMs = performance.now() - fillStart;
    collectGarbage();
    await receiver.reset();
    const cpu = process.cpuUsage();
    const start = performance.now();
    await instance.webhooks.start();
    await instance.webhooks.drain({ timeoutMs: 300_000 });
    const elapsedMs = performance.now() - start;
    const usage = process.cpuUsage(cpu);
    const metrics = await instance.webhooks.metrics();
    if (metrics.deliveriesSucceeded !== events) {
      context.log(`dispatch ${entry.name}: ${metrics.deliveriesSucceeded} of ${events} deliveries succeeded`);
    }
    return { ...trialResult(await receiver.report(), events, elapsedMs, usage), fillMs };
  } finally {
    await instance.close();
  }
}

function summary(results: readonly TrialResult[]): Record<string, unknown> {
  return {
    ratesPerRound: results.map((r) => Math.round(r.rate)),
    arrived: results.map((r) => `${r.arrived}/${r.expected}`),
    receiverCpuShare: median(results.map((r) => r.receiverCpu)),
    senderCpuShare: median(results.map((r) => r.senderCpu)),
  };
}

export async function runDispatch(context: BenchContext): Promise<void> {
  const sizes = context.sizes.dispatch;
  const receiver = await context.receiver();
  const limitRequests = bareRequests(sizes.events);
  const peerRequests = limitRequests.slice(0, sizes.peerEvents);
  const peer: TrialResult[] = [];
  const ours = new Map<string, Array<{ ours: TrialResult & { fillMs: number }; limit: TrialResult; peer: TrialResult }>>();
  const failed = new Set<string>();

  // Warm-up: connections, JIT.
  await bareUndiciLoop(receiver.url, limitRequests.slice(0, Math.min(2000, sizes.events)), sizes.concurrency);
  for (let round = 0; round < sizes.rounds; round++) {
    context.log(`dispatch: round ${round + 1}/${sizes.rounds}: ky, ${peerRequests.length} posts`);
    const peerResult = await timedBare(receiver, peerRequests.length, () => kyLoop(receiver.url, peerRequests, sizes.concurrency));
    peer.push(peerResult);
    for (const entry of context.storages) {
      if (failed.has(entry.name)) continue;
      const events = sizes.events;
      // Each trial of ours is paired with a limit trial right beside it (before on even
      // rounds, after on odd ones, so a drift in machine load cancels out over rounds).
      const runLimit = () => timedBare(receiver, sizes.events, () => bareUndiciLoop(receiver.url, limitRequests, sizes.concurrency));
      try {
        context.log(`dispatch: round ${round + 1}: ${entry.name}, backlog of ${events}, paired with bare undici (${sizes.events} posts)`);
        const limitBefore = round % 2 === 0 ? await runLimit() : null;
        const result = await oursTrial(context, entry, receiver, events);
        const limit = limitBefore ?? (await runLimit());
        const list = ours.get(entry.name) ?? [];
        list.push({ ours: result, limit, peer: peerResult });
        ours.set(entry.name, list);
      } catch (error) {
        failed.add(entry.name);
        context.fail('dispatch', entry.name, error);
      }
    }
  }

  const targets: Record<string, { limit?: number; peer?: number }> = {
    memory: { limit: 0.6, peer: 5 },
    sqlite: { limit: 0.4 },
    postgres: { limit: 0.15 },
  };
  const complete = (r: TrialResult): boolean => r.arrived === r.expected;
  for (const [name, trials] of ours) {
    const results = trials.map((t) => t.ours);
    const limits = trials.map((t) => t.limit);
    const valid = trials.every((t) => complete(t.ours) && complete(t.limit) && complete(t.peer));
    const target = targets[name] ?? {};
    context.add({
      id: `dispatch.${name}`,
      section: 'dispatch',
      storage: name,
      title: `dispatch throughput, ${name} storage, backlog of ${results[0]!.expected}, concurrency ${sizes.concurrency}`,
      unit: 'deliveries/s',
      better: 'higher',
      value: median(results.map((r) => r.rate)),
      valid,
      limit: {
        label: `bare undici.request, Pool of ${sizes.concurrency}`,
        value: median(limits.map((r) => r.rate)),
        ratio: median(trials.map((t) => t.ours.rate / t.limit.rate)),
        ...(target.limit === undefined ? {} : { target: { on: 'ratio' as const, op: '>=' as const, value: target.limit } }),
      },
      peer: {
        label: `ky.post ×${sizes.concurrency} loops`,
        value: median(trials.map((t) => t.peer.rate)),
        ratio: median(trials.map((t) => t.ours.rate / t.peer.rate)),
        ...(target.peer === undefined ? {} : { target: { on: 'ratio' as const, op: '>=' as const, value: target.peer } }),
      },
      ...(valid ? {} : { note: 'not every delivery arrived at the receiver' }),
      detail: {
        rounds: trials.length,
        ...summary(results),
        backlogFillMs: results.map((r) => Math.round(r.fillMs)),
        limit: { postsPerRound: sizes.events, ...summary(limits) },
        peer: { postsPerRound: peerRequests.length, ...summary(trials.map((t) => t.peer)) },
      },
    });
  }
}
