/**
 * Host impact: what a dispatch burst costs a host that embeds the library, as Bookkeeper
 * does — its ledger API in the same process and database as the webhooks instance.
 *
 * Three processes besides this one: the host (bench/host-impact-host.ts: the ledger API and
 * the instance, so that its event loop is measured alone), the load client
 * (bench/host-impact-load.ts: a fixed rate, open loop) and the loopback receiver. Each round
 * runs the same load through two windows, the dispatcher idle and the dispatcher draining a
 * burst, in an order that flips by round; every figure is the burst against the idle window,
 * the ratio the median of the rounds' ratios, so that a slow spell of the machine lands on
 * both sides of it. The dispatcher's two modes, on the main thread and on a worker thread,
 * alternate within each round (the order flipping too), and the worker's dispatch rate is
 * judged against the main thread's of the same round.
 *
 * The worker mode is tried, not assumed: when `createWebhooks` refuses the option (before it
 * exists, or for a storage it cannot re-open in a worker, such as memory), the mode is reported
 * as not available in the main mode's figures and the run goes on.
 */
import type { BenchContext } from '../context.js';
import { BenchChild } from '../host-impact-child.js';
import type { DispatcherMode, HostCommand, HostOpened, HostPhases, HostReady, HostRequest, LoopDelay, Phase, PhaseWindow } from '../host-impact-host.js';
import type { LoadCommand, LoadSamples } from '../host-impact-load.js';
import type { ReceiverProcess } from '../receiver.js';
import type { Target } from '../report.js';
import { median, quantileSorted, sleep } from '../stats.js';
import type { StorageEntry } from '../storages.js';

const modes: readonly DispatcherMode[] = ['main', 'worker'];
const modeLabels: Record<DispatcherMode, string> = {
  main: 'dispatcher on the main thread',
  worker: "dispatcher on a worker thread (dispatcher.thread: 'worker')",
};

/** The host's API under load through one window. */
interface WindowFigures {
  /** Requests due inside the window. */
  requests: number;
  /** 201 answers completed inside the window, per second. */
  throughput: number;
  /** Requests due inside the window that did not get a 201 (another status, a failure, no answer). */
  errors: number;
  /** Answers completed inside the window to requests due before it: the previous work not yet cleared (near 0). */
  heldOver: number;
  /** Due time → answer, ms, of the requests due inside the window that got a 201. */
  p50: number;
  p99: number;
  /** How late the client itself sent, p99 ms: near 0 when the client kept its schedule. */
  sendLagP99: number;
  loopDelayMs: LoopDelay;
  /** The host's event loop busy share, %. */
  loopUtilization: number;
  /** The machine's CPU busy share, %. */
  machineCpuBusy: number;
  ledgerWriteMs: PhaseWindow['ledgerWriteMs'];
}

interface Round {
  round: number;
  order: Phase[];
  idle: WindowFigures;
  burst: WindowFigures;
  /** Distinct deliveries the receiver got ÷ the burst window (`start()` resolved → `drain()` resolved), per second. */
  dispatchRate: number;
  arrived: number;
  expected: number;
  succeeded: number;
  burstMs: number;
  startMs: number;
  fillMs: number;
}

function windowFigures(samples: LoadSamples, window: PhaseWindow): WindowFigures {
  const { startAt, endAt } = window;
  const latencies: number[] = [];
  const lags: number[] = [];
  let requests = 0;
  let errors = 0;
  let completed = 0;
  let heldOver = 0;
  for (let n = 0; n < samples.dueAt.length; n++) {
    const due = samples.dueAt[n]!;
    const done = samples.doneAt[n] ?? null;
    const ok = samples.status[n] === 201 && done !== null;
    if (ok && done >= startAt && done < endAt) {
      completed += 1;
      if (due < startAt) heldOver += 1;
    }
    if (due < startAt || due >= endAt) continue;
    requests += 1;
    lags.push(samples.sentAt[n]! - due);
    if (ok) latencies.push(done - due);
    else errors += 1;
  }
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests,
    throughput: (completed / (endAt - startAt)) * 1000,
    errors,
    heldOver,
    p50: quantileSorted(sorted, 0.5),
    p99: quantileSorted(sorted, 0.99),
    sendLagP99: quantileSorted(Float64Array.from(lags).sort(), 0.99),
    loopDelayMs: window.loopDelayMs,
    loopUtilization: window.loopUtilization * 100,
    machineCpuBusy: window.machineCpuBusy * 100,
    ledgerWriteMs: window.ledgerWriteMs,
  };
}

function windowOf(phases: HostPhases, phase: Phase): PhaseWindow {
  const window = phases.windows.find((candidate) => candidate.phase === phase);
  if (window === undefined) throw new Error(`the host reported no ${phase} window`);
  return window;
}

interface RoundParts {
  context: BenchContext;
  host: BenchChild<HostCommand>;
  hostUrl: string;
  load: BenchChild<LoadCommand>;
  receiver: ReceiverProcess;
}

/** Runs `measure` while the client loads the host at `rate`; the samples cover the whole of it. */
async function underLoad<T>(load: BenchChild<LoadCommand>, url: string, rate: number, measure: () => Promise<T>): Promise<{ result: T; samples: LoadSamples }> {
  await load.ask({ type: 'start', url, rate }, 'started');
  let result: T;
  try {
    result = await measure();
  } catch (error) {
    await load.ask({ type: 'stop' }, 'samples').catch(() => undefined);
    throw error;
  }
  return { result, samples: await load.ask<LoadSamples>({ type: 'stop' }, 'samples') };
}

/** One round of one mode: a fresh storage in the host, the load through both windows. */
async function runRound({ context, host, hostUrl, load, receiver }: RoundParts, round: number): Promise<Round | { unavailable: string }> {
  const sizes = context.sizes.hostImpact;
  const opened = await host.ask<HostOpened>({ type: 'open' }, 'opened');
  if (!opened.available) return { unavailable: opened.reason };
  try {
    const order: Phase[] = round % 2 === 0 ? ['idle', 'burst'] : ['burst', 'idle'];
    const { result: phases, samples } = await underLoad(load, hostUrl, sizes.rate, async () => {
      await sleep(sizes.warmupMs);
      await receiver.reset();
      return host.ask<HostPhases>({ type: 'phases', order, idleMs: sizes.idleMs, deliveries: sizes.deliveries, gapMs: sizes.gapMs }, 'phases');
    });
    const report = await receiver.report();
    const { burst } = phases;
    if (burst.succeeded !== burst.deliveries) {
      context.log(`host-impact: metrics() counted ${burst.succeeded} of ${burst.deliveries} deliveries succeeded (the receiver got ${report.distinctIds})`);
    }
    return {
      round,
      order,
      idle: windowFigures(samples, windowOf(phases, 'idle')),
      burst: windowFigures(samples, windowOf(phases, 'burst')),
      dispatchRate: (report.distinctIds / burst.elapsedMs) * 1000,
      arrived: report.distinctIds,
      expected: burst.deliveries,
      succeeded: burst.succeeded,
      burstMs: burst.elapsedMs,
      startMs: burst.startMs,
      fillMs: burst.fillMs,
    };
  } finally {
    await host.ask({ type: 'close' }, 'closed');
  }
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;

/** Every burst reached the receiver whole: what the figures claim to have measured. */
function allArrived(rounds: readonly Round[]): boolean {
  return rounds.every((r) => r.arrived === r.expected);
}

interface Measure {
  key: string;
  title: string;
  unit: string;
  better: 'higher' | 'lower';
  of: (w: WindowFigures) => number;
  /** The worker's target on burst ÷ idle. */
  workerTarget?: Target;
}

const measures: readonly Measure[] = [
  { key: 'throughput', title: 'ledger API throughput (201s completed)', unit: 'req/s', better: 'higher', of: (w) => w.throughput, workerTarget: { on: 'ratio', op: '>=', value: 0.9 } },
  { key: 'p50', title: 'ledger API latency p50', unit: 'ms', better: 'lower', of: (w) => w.p50 },
  { key: 'p99', title: 'ledger API latency p99', unit: 'ms', better: 'lower', of: (w) => w.p99, workerTarget: { on: 'ratio', op: '<=', value: 2 } },
  { key: 'event-loop-p99', title: 'host event-loop delay p99', unit: 'ms', better: 'lower', of: (w) => w.loopDelayMs.p99 },
  { key: 'event-loop-utilization', title: 'host event-loop utilization (its main thread\'s own work)', unit: '%', better: 'lower', of: (w) => w.loopUtilization },
];

function addModeFigures(context: BenchContext, entry: StorageEntry, mode: DispatcherMode, rounds: readonly Round[], workerNote: string | null): void {
  const sizes = context.sizes.hostImpact;
  const valid = allArrived(rounds);
  const invalidNote = valid ? null : `not every delivery arrived: ${rounds.map((r) => `${r.arrived}/${r.expected}`).join(', ')}`;
  const note = [invalidNote, workerNote].filter((text) => text !== null).join('; ') || undefined;
  const load = `${sizes.rate} req/s offered, burst of ${sizes.deliveries.toLocaleString('en-US')} deliveries`;
  for (const measure of measures) {
    const target = mode === 'worker' ? measure.workerTarget : undefined;
    context.add({
      id: `host-impact.${entry.name}.${mode}.${measure.key}`,
      section: 'host-impact',
      storage: entry.name,
      title: `${measure.title} during a dispatch burst vs idle, ${entry.name}, ${modeLabels[mode]}, ${load}`,
      unit: measure.unit,
      better: measure.better,
      value: median(rounds.map((r) => measure.of(r.burst))),
      valid,
      limit: {
        kind: 'reference',
        label: 'same load, dispatcher idle',
        value: median(rounds.map((r) => measure.of(r.idle))),
        ratio: median(rounds.map((r) => measure.of(r.burst) / measure.of(r.idle))),
        ...(target === undefined ? {} : { target }),
      },
      ...(measure.key === 'throughput' && note !== undefined ? { note } : {}),
      detail: {
        rounds: rounds.length,
        order: rounds.map((r) => r.order.join('→')),
        roundRatios: rounds.map((r) => round3(measure.of(r.burst) / measure.of(r.idle))),
        idle: rounds.map((r) => round3(measure.of(r.idle))),
        burst: rounds.map((r) => round3(measure.of(r.burst))),
        ...(measure.key === 'throughput'
          ? {
              requests: { idle: rounds.map((r) => r.idle.requests), burst: rounds.map((r) => r.burst.requests) },
              errors: { idle: rounds.map((r) => r.idle.errors), burst: rounds.map((r) => r.burst.errors) },
              heldOver: { idle: rounds.map((r) => r.idle.heldOver), burst: rounds.map((r) => r.burst.heldOver) },
              clientSendLagP99Ms: { idle: rounds.map((r) => round3(r.idle.sendLagP99)), burst: rounds.map((r) => round3(r.burst.sendLagP99)) },
            }
          : {}),
        ...(measure.key === 'p99'
          ? { ledgerWriteMs: { idle: rounds.map((r) => r.idle.ledgerWriteMs), burst: rounds.map((r) => r.burst.ledgerWriteMs) } }
          : {}),
        ...(measure.key === 'event-loop-p99'
          ? {
              loopDelayMs: { idle: rounds.map((r) => r.idle.loopDelayMs), burst: rounds.map((r) => r.burst.loopDelayMs) },
              // A delay with the machine saturated is time waiting for a CPU, not the loop's own work.
              machineCpuBusyPercent: { idle: rounds.map((r) => round3(r.idle.machineCpuBusy)), burst: rounds.map((r) => round3(r.burst.machineCpuBusy)) },
            }
          : {}),
      },
    });
  }
}

function addDispatchFigure(
  context: BenchContext,
  entry: StorageEntry,
  mode: DispatcherMode,
  rounds: readonly Round[],
  main: ReadonlyMap<number, Round>,
  workerNote: string | null,
): void {
  const sizes = context.sizes.hostImpact;
  const valid = allArrived(rounds);
  // The worker against the main thread of the same round: both under the same host load.
  const pairs = mode === 'worker' ? rounds.flatMap((r) => (main.has(r.round) ? [{ worker: r, main: main.get(r.round)! }] : [])) : [];
  context.add({
    id: `host-impact.${entry.name}.${mode}.dispatch`,
    section: 'host-impact',
    storage: entry.name,
    title: `dispatch rate during the burst (start() resolved → drain() resolved), ${entry.name}, ${modeLabels[mode]}, host loaded at ${sizes.rate} req/s`,
    unit: 'deliveries/s',
    better: 'higher',
    value: median(rounds.map((r) => r.dispatchRate)),
    valid,
    ...(pairs.length === 0
      ? {}
      : {
          limit: {
            kind: 'reference' as const,
            label: 'dispatcher on the main thread, same round',
            value: median(pairs.map((p) => p.main.dispatchRate)),
            ratio: median(pairs.map((p) => p.worker.dispatchRate / p.main.dispatchRate)),
            target: { on: 'ratio' as const, op: '>=' as const, value: 1 },
          },
        }),
    ...(workerNote === null ? {} : { note: workerNote }),
    detail: {
      rounds: rounds.length,
      ratesPerRound: rounds.map((r) => Math.round(r.dispatchRate)),
      arrived: rounds.map((r) => `${r.arrived}/${r.expected}`),
      succeededInMetrics: rounds.map((r) => r.succeeded),
      burstMs: rounds.map((r) => Math.round(r.burstMs)),
      startMs: rounds.map((r) => round3(r.startMs)),
      backlogFillMs: rounds.map((r) => Math.round(r.fillMs)),
      ...(pairs.length === 0 ? {} : { roundRatios: pairs.map((p) => round3(p.worker.dispatchRate / p.main.dispatchRate)) }),
    },
  });
}

async function startHost(entry: StorageEntry, mode: DispatcherMode, receiver: ReceiverProcess, concurrency: number) {
  const request: HostRequest = { storage: entry.name, mode, receiverUrl: receiver.url, concurrency };
  const { child, ready } = await BenchChild.start<HostCommand, HostReady>('./host-impact-host.ts', request, `the ${entry.name}/${mode} host process`);
  return { host: child, hostUrl: `http://127.0.0.1:${ready.port}/ledger/entries` };
}

async function runStorage(context: BenchContext, entry: StorageEntry, receiver: ReceiverProcess, load: BenchChild<LoadCommand>): Promise<void> {
  const sizes = context.sizes.hostImpact;
  const hosts = new Map<DispatcherMode, { host: BenchChild<HostCommand>; hostUrl: string }>();
  const results = new Map<DispatcherMode, Round[]>(modes.map((mode) => [mode, []]));
  const unavailable = new Map<DispatcherMode, string>();
  try {
    for (const mode of modes) hosts.set(mode, await startHost(entry, mode, receiver, sizes.concurrency));
    for (let round = 0; round < sizes.rounds; round++) {
      for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
        const started = hosts.get(mode);
        if (started === undefined) continue;
        context.log(`host-impact: ${entry.name}, ${mode}, round ${round + 1}/${sizes.rounds}: ${sizes.rate} req/s, burst of ${sizes.deliveries}`);
        const result = await runRound({ context, load, receiver, ...started }, round);
        if ('unavailable' in result) {
          context.log(`host-impact: ${entry.name}: the ${mode} mode is not available: ${result.unavailable}`);
          unavailable.set(mode, result.unavailable);
          hosts.delete(mode);
          await started.host.stop();
        } else {
          results.get(mode)!.push(result);
        }
      }
    }
  } finally {
    await Promise.all([...hosts.values()].map(({ host }) => host.stop()));
  }
  const workerReason = unavailable.get('worker');
  const workerNote = workerReason === undefined ? null : `worker mode not available: ${workerReason}`;
  const main = new Map(results.get('main')!.map((r) => [r.round, r]));
  for (const mode of modes) {
    const rounds = results.get(mode)!;
    if (rounds.length === 0) continue;
    addModeFigures(context, entry, mode, rounds, mode === 'main' ? workerNote : null);
    addDispatchFigure(context, entry, mode, rounds, main, mode === 'main' ? workerNote : null);
  }
}

export async function runHostImpact(context: BenchContext): Promise<void> {
  const receiver = await context.receiver();
  const { child: load } = await BenchChild.start<LoadCommand, { type: 'ready' }>('./host-impact-load.ts', {}, 'the load client process');
  try {
    for (const entry of context.storages) {
      try {
        await runStorage(context, entry, receiver, load);
      } catch (error) {
        context.fail('host-impact', entry.name, error);
      }
    }
  } finally {
    await load.stop();
  }
}
