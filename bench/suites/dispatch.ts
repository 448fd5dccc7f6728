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
 *
 * On memory, each round also drains the same backlog with `security.payloadKey` (stored
 * sealed, opened for every attempt) right beside the trial without it: the ratio of the two
 * is what encrypting payloads at rest costs where the storage costs least.
 *
 * On SQLite and PostgreSQL, each round also drains the same backlog four times more,
 * paired: twice with the dispatcher in a worker thread (`dispatcher: { thread: 'worker' }`)
 * and twice in-thread, worker-main-main-worker (reversed on odd rounds). The figure is the
 * steady rate, once a fifth of the backlog is delivered: each trial starts a cold thread
 * (its own isolate, JIT, pool and sockets), which a host pays once per `start()`, not per
 * delivery. The whole-trial ratios (from `start()` resolved) and the worker's start-up
 * time are in its detail.
 *
 * On the same two, each round also drains the backlog with the dispatcher's storage calls in a
 * thread of their own (`dispatcher: { storageThread: 'worker' }`), on the other side of ours
 * from the limit (as the payloadKey trial on memory), timed from `start()` resolved: its
 * figure `dispatch.<storage>.storage-thread` is set against the same round's limit with the
 * storage's dispatch target, and against in-thread in its detail.
 */
import { randomBytes } from 'node:crypto';
import { createPayloadCodec } from '../../src/payload-codec.js';
import { normalizeSecretsKeys } from '../../src/registry/secret-codec.js';
import type { EnqueueInput } from '../../src/storage/storage-adapter.js';
import { collectGarbage, median } from '../stats.js';
import type { BenchContext } from '../context.js';
import { postgresCpuMs } from '../database-cpu.js';
import type { ReceiverProcess, ReceiverReport } from '../receiver.js';
import { enqueueInputs, eventType, paddingFor, paymentData } from '../payload.js';
import { bareRequests, bareUndiciLoop, createInstance, kyLoop } from '../trial-helpers.js';
import type { StorageEntry } from '../storages.js';

/** One drained backlog: its rate as the receiver saw it, and what each process spent. */
export interface TrialResult {
  rate: number;
  elapsedMs: number;
  expected: number;
  arrived: number;
  requests: number;
  /** Requests that arrived with a `webhook-signature` header. */
  signed: number;
  receiverCpu: number;
  senderCpu: number;
  /** The PostgreSQL server's CPU over the trial, in cores (database-cpu.ts); null where it is not measured. */
  databaseCpu: number | null;
}

export function trialResult(report: ReceiverReport, expected: number, elapsedMs: number, cpu: NodeJS.CpuUsage, databaseCpuMs: number | null = null): TrialResult {
  return {
    rate: (report.distinctIds / elapsedMs) * 1000,
    elapsedMs,
    expected,
    arrived: report.distinctIds,
    requests: report.requests,
    signed: report.signed,
    receiverCpu: report.cpuMs / report.wallMs,
    senderCpu: (cpu.user + cpu.system) / 1000 / elapsedMs,
    databaseCpu: databaseCpuMs === null ? null : databaseCpuMs / elapsedMs,
  };
}

/**
 * The PostgreSQL server's CPU from here on, in ms, read by the function returned; `null` for
 * another storage (or where `/proc` has no postgres processes).
 */
export function databaseCpuFrom(storage: string): () => number | null {
  const start = storage === 'postgres' ? postgresCpuMs() : null;
  return () => {
    const end = start === null ? null : postgresCpuMs();
    return start === null || end === null ? null : end - start;
  };
}

async function timedBare(receiver: ReceiverProcess, expected: number, run: () => Promise<number>): Promise<TrialResult> {
  collectGarbage();
  await receiver.reset();
  const cpu = process.cpuUsage();
  const elapsedMs = await run();
  return trialResult(await receiver.report(), expected, elapsedMs, process.cpuUsage(cpu));
}

/** The storage whose dispatch is also measured with `security.payloadKey`. */
const payloadKeyStorage = 'memory';
const payloadKey = randomBytes(32).toString('base64');
const payloadCodec = createPayloadCodec(normalizeSecretsKeys(payloadKey));

/** The inputs as publish stores them under `security.payloadKey`: each payload sealed for its event. */
function* sealedInputs(inputs: Iterable<EnqueueInput>): Generator<EnqueueInput> {
  for (const input of inputs) yield { ...input, event: { ...input.event, payload: payloadCodec.seal(input.event.payload, input.event.id) } };
}

/**
 * Microseconds per seal and per open of one 1 KB payload: the median of `batches` batches
 * of `perBatch` each, after a warm-up batch (the machine's noise lands on single batches).
 */
function codecMicroseconds(batches: number, perBatch: number): { sealMicroseconds: number; openMicroseconds: number } {
  const id = 'evt_01BENCH';
  const payload = JSON.stringify({ id, type: eventType, timestamp: new Date().toISOString(), data: paymentData(0, paddingFor()) });
  const sealed = new Array<string>(perBatch);
  const seals: number[] = [];
  const opens: number[] = [];
  for (let batch = 0; batch <= batches; batch++) {
    let start = performance.now();
    for (let n = 0; n < perBatch; n++) sealed[n] = payloadCodec.seal(payload, id);
    const sealMs = performance.now() - start;
    start = performance.now();
    for (let n = 0; n < perBatch; n++) {
      if (payloadCodec.open(sealed[n]!, id).length !== payload.length) throw new Error('a sealed payload did not open to what was sealed');
    }
    const openMs = performance.now() - start;
    if (batch === 0) continue;
    seals.push((sealMs * 1000) / perBatch);
    opens.push((openMs * 1000) / perBatch);
  }
  const round2 = (value: number) => Math.round(value * 100) / 100;
  return { sealMicroseconds: round2(median(seals)), openMicroseconds: round2(median(opens)) };
}

/**
 * How a trial of ours runs: sealed payloads; the dispatcher in a worker thread, or its storage
 * calls in one; timed from `start()` resolving.
 */
interface TrialOptions {
  sealed?: boolean;
  thread?: 'main' | 'worker';
  storageThread?: 'worker';
  /** Start the clock once `start()` has resolved (the worker thread running) rather than at the call. */
  timedFromStarted?: boolean;
}

/** The share of a backlog after which a trial's steady rate is taken (see {@link SteadyRate}). */
const steadyAfterShare = 0.2;

/**
 * Deliveries per second from the moment `delivery:succeeded` has been announced for
 * {@link steadyAfterShare} of the backlog to `drain()` resolving: the rate once the
 * dispatcher is warm (JIT, pool connections, keep-alive sockets), which is what a worker
 * thread that lives as long as the host sustains, whereas each trial starts a cold one.
 */
interface SteadyRate {
  steadyRate: number;
}

/**
 * One trial of ours: a fresh instance (concurrency as the dispatch section's), the backlog of
 * `events` stored before the clock, timed from `start()` (or once it resolved) to `drain()`.
 */
export async function oursTrial(
  context: BenchContext,
  entry: StorageEntry,
  receiver: ReceiverProcess,
  events: number,
  { sealed = false, thread, storageThread, timedFromStarted = false }: TrialOptions = {},
): Promise<TrialResult & SteadyRate & { fillMs: number; startMs: number }> {
  const { concurrency } = context.sizes.dispatch;
  const dispatcher = { ...(thread === undefined ? {} : { thread }), ...(storageThread === undefined ? {} : { storageThread }) };
  const instance = await createInstance(entry, receiver.url, concurrency, sealed ? payloadKey : undefined, { dispatcher });
  try {
    // The backlog goes in through the storage's fast path (what publish stores, batched
    // in transactions where the storage has them): only draining it is timed.
    const fillStart = performance.now();
    await instance.storage.fill(sealed ? sealedInputs(enqueueInputs(events)) : enqueueInputs(events));
    const fillMs = performance.now() - fillStart;
    collectGarbage();
    await receiver.reset();
    let succeeded = 0;
    let steadyFrom: { at: number; count: number } | null = null;
    instance.webhooks.bus.on('delivery:succeeded', () => {
      succeeded += 1;
      if (steadyFrom === null && succeeded >= events * steadyAfterShare) steadyFrom = { at: performance.now(), count: succeeded };
    });
    let cpu = process.cpuUsage();
    let databaseCpu = databaseCpuFrom(entry.name);
    const called = performance.now();
    let start = called;
    await instance.webhooks.start();
    const startMs = performance.now() - called;
    if (timedFromStarted) {
      start = performance.now();
      cpu = process.cpuUsage();
      databaseCpu = databaseCpuFrom(entry.name);
    }
    await instance.webhooks.drain({ timeoutMs: 300_000 });
    const end = performance.now();
    const elapsedMs = end - start;
    const warm = steadyFrom as { at: number; count: number } | null;
    const steadyRate = warm === null || end <= warm.at ? 0 : ((succeeded - warm.count) / (end - warm.at)) * 1000;
    const usage = process.cpuUsage(cpu);
    const databaseMs = databaseCpu();
    const metrics = await instance.webhooks.metrics();
    if (metrics.deliveriesSucceeded !== events) {
      context.log(`dispatch ${entry.name}: ${metrics.deliveriesSucceeded} of ${events} deliveries succeeded`);
    }
    return { ...trialResult(await receiver.report(), events, elapsedMs, usage, databaseMs), steadyRate, fillMs, startMs };
  } finally {
    await instance.close();
  }
}

/**
 * The PostgreSQL server's CPU over the trials, where it was measured: its median share of a
 * core, and the median CPU µs it spent per delivery that arrived.
 */
function databaseCpuSummary(results: readonly TrialResult[]): Record<string, number> {
  const measured = results.filter((r): r is TrialResult & { databaseCpu: number } => r.databaseCpu !== null);
  if (measured.length === 0) return {};
  return {
    databaseCpuShare: Math.round(median(measured.map((r) => r.databaseCpu)) * 1000) / 1000,
    databaseCpuMicrosPerDelivery: Math.round(median(measured.map((r) => (r.databaseCpu * r.elapsedMs * 1000) / r.arrived))),
  };
}

export function summary(results: readonly TrialResult[]): Record<string, unknown> {
  return {
    ratesPerRound: results.map((r) => Math.round(r.rate)),
    arrived: results.map((r) => `${r.arrived}/${r.expected}`),
    receiverCpuShare: median(results.map((r) => r.receiverCpu)),
    senderCpuShare: median(results.map((r) => r.senderCpu)),
    ...databaseCpuSummary(results),
  };
}

/** The storages whose dispatch is also measured with the dispatcher in a worker thread. */
const workerStorages = new Set(['sqlite', 'postgres']);

type PairTrial = TrialResult & SteadyRate & { startMs: number };

interface WorkerPair {
  worker: PairTrial;
  main: PairTrial;
}

/**
 * One round's pair: the same backlog drained twice in a worker thread and twice in-thread,
 * in the order worker, main, main, worker on even rounds and the reverse on odd ones, so
 * that neither side always runs first (a fresh storage, a cold pool) even in a one-round run.
 */
async function workerPair(context: BenchContext, entry: StorageEntry, receiver: ReceiverProcess, events: number, round: number): Promise<WorkerPair> {
  const run = (thread: 'main' | 'worker') => oursTrial(context, entry, receiver, events, { thread, timedFromStarted: true });
  const order: Array<'main' | 'worker'> = round % 2 === 0 ? ['worker', 'main', 'main', 'worker'] : ['main', 'worker', 'worker', 'main'];
  const trials: Record<'main' | 'worker', PairTrial[]> = { main: [], worker: [] };
  for (const thread of order) trials[thread].push(await run(thread));
  return { worker: combined(trials.worker), main: combined(trials.main) };
}

/** Two trials of one side as one: deliveries over time summed, the rest averaged. */
function combined(trials: readonly PairTrial[]): PairTrial {
  const sum = (pick: (trial: PairTrial) => number) => trials.reduce((total, trial) => total + pick(trial), 0);
  const elapsedMs = sum((trial) => trial.elapsedMs);
  return {
    rate: (sum((trial) => trial.arrived) / elapsedMs) * 1000,
    elapsedMs,
    expected: sum((trial) => trial.expected),
    arrived: sum((trial) => trial.arrived),
    requests: sum((trial) => trial.requests),
    signed: sum((trial) => trial.signed),
    receiverCpu: sum((trial) => trial.receiverCpu) / trials.length,
    senderCpu: sum((trial) => trial.senderCpu) / trials.length,
    startMs: sum((trial) => trial.startMs) / trials.length,
    steadyRate: sum((trial) => trial.steadyRate) / trials.length,
    databaseCpu: trials.every((trial) => trial.databaseCpu !== null) ? sum((trial) => trial.databaseCpu! * trial.elapsedMs) / elapsedMs : null,
  };
}

/** The worker-thread figure of one storage: its steady rate against in-thread's, paired per round. */
function addWorkerFigure(context: BenchContext, name: string, pairs: readonly WorkerPair[], concurrency: number): void {
  const complete = pairs.every((pair) => pair.worker.arrived === pair.worker.expected && pair.main.arrived === pair.main.expected);
  const ratio = (pair: WorkerPair, pick: (trial: PairTrial) => number) => pick(pair.worker) / pick(pair.main);
  const round3 = (value: number) => Math.round(value * 1000) / 1000;
  context.add({
    id: `dispatch.${name}.worker-thread`,
    section: 'dispatch',
    storage: name,
    title: `dispatch throughput with dispatcher: { thread: 'worker' }, ${name} storage, backlog of ${pairs[0]!.worker.expected / 2} (twice per round), concurrency ${concurrency}, steady rate after the first ${steadyAfterShare * 100} %`,
    unit: 'deliveries/s',
    better: 'higher',
    value: median(pairs.map((pair) => pair.worker.steadyRate)),
    valid: complete,
    limit: {
      kind: 'reference',
      label: 'the same in-thread, measured alike',
      value: median(pairs.map((pair) => pair.main.steadyRate)),
      ratio: median(pairs.map((pair) => ratio(pair, (trial) => trial.steadyRate))),
      target: { on: 'ratio' as const, op: '>=' as const, value: 0.95 },
    },
    ...(complete ? {} : { note: 'not every delivery arrived at the receiver' }),
    detail: {
      rounds: pairs.length,
      roundRatios: pairs.map((pair) => round3(ratio(pair, (trial) => trial.steadyRate))),
      // From start() resolved to drain(), cold thread included: what a short-lived start() gets.
      wholeTrialRatios: pairs.map((pair) => round3(ratio(pair, (trial) => trial.rate))),
      ...summary(pairs.map((pair) => pair.worker)),
      inThread: summary(pairs.map((pair) => pair.main)),
      workerStartMs: pairs.map((pair) => Math.round(pair.worker.startMs)),
      inThreadStartMs: pairs.map((pair) => Math.round(pair.main.startMs)),
    },
  });
}

/**
 * The storage-thread figure of one storage (`dispatcher: { storageThread: 'worker' }`): its rate
 * against the bare loop of the same round, with the dispatch target of that storage, and
 * against in-thread dispatch of the same round (detail). Timed from
 * `start()` resolved (the thread started: once per `start()`, well under a second from the
 * built package, more from the sources under tsx) to `drain()`.
 */
function addStorageThreadFigure(
  context: BenchContext,
  name: string,
  trials: ReadonlyArray<{ ours: TrialResult; limit: TrialResult; storageThread: TrialResult | null }>,
  target: number | undefined,
  concurrency: number,
): void {
  const rounds = trials.flatMap((t) => (t.storageThread === null ? [] : [{ threaded: t.storageThread, inThread: t.ours, limit: t.limit }]));
  if (rounds.length === 0) return;
  const complete = rounds.every((r) => r.threaded.arrived === r.threaded.expected && r.limit.arrived === r.limit.expected);
  const round3 = (value: number) => Math.round(value * 1000) / 1000;
  context.add({
    id: `dispatch.${name}.storage-thread`,
    section: 'dispatch',
    storage: name,
    title: `dispatch throughput with dispatcher: { storageThread: 'worker' } (claims and settles in a worker thread, posts on the main thread), ${name} storage, backlog of ${rounds[0]!.threaded.expected}, concurrency ${concurrency}`,
    unit: 'deliveries/s',
    better: 'higher',
    value: median(rounds.map((r) => r.threaded.rate)),
    valid: complete,
    limit: {
      label: `bare undici.request, Pool of ${concurrency}`,
      value: median(rounds.map((r) => r.limit.rate)),
      ratio: median(rounds.map((r) => r.threaded.rate / r.limit.rate)),
      ...(target === undefined ? {} : { target: { on: 'ratio' as const, op: '>=' as const, value: target } }),
    },
    ...(complete ? {} : { note: 'not every delivery arrived at the receiver' }),
    detail: {
      rounds: rounds.length,
      // Against in-thread dispatch (dispatch.<storage>) of the same round.
      inThreadRatios: rounds.map((r) => round3(r.threaded.rate / r.inThread.rate)),
      inThreadRatio: round3(median(rounds.map((r) => r.threaded.rate / r.inThread.rate))),
      ...summary(rounds.map((r) => r.threaded)),
    },
  });
}

export async function runDispatch(context: BenchContext): Promise<void> {
  const sizes = context.sizes.dispatch;
  const receiver = await context.receiver();
  const limitRequests = bareRequests(sizes.events);
  const peerRequests = limitRequests.slice(0, sizes.peerEvents);
  const peer: TrialResult[] = [];
  const ours = new Map<
    string,
    Array<{ ours: TrialResult & { fillMs: number }; limit: TrialResult; peer: TrialResult; sealed: TrialResult | null; storageThread: TrialResult | null }>
  >();
  const threads = new Map<string, WorkerPair[]>();
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
      // The trial with payloadKey sits on the other side of ours from the limit, so ours stays
      // beside both and the order of the sealed pair flips by round too.
      const withKey = entry.name === payloadKeyStorage;
      const runSealed = () => oursTrial(context, entry, receiver, events, { sealed: true });
      // Likewise the trial with the dispatcher's storage calls in a thread of their own, on the
      // storages that can open a second connection (the same set as the worker thread's).
      const withStorageThread = workerStorages.has(entry.name);
      const runStorageThread = () => oursTrial(context, entry, receiver, events, { storageThread: 'worker', timedFromStarted: true });
      try {
        const also = [withKey ? 'with payloadKey' : null, withStorageThread ? "with storageThread: 'worker'" : null].filter((text) => text !== null);
        context.log(`dispatch: round ${round + 1}: ${entry.name}, backlog of ${events}, paired with bare undici (${sizes.events} posts)${also.length === 0 ? '' : ` and ${also.join(' and ')}`}`);
        const limitBefore = round % 2 === 0 ? await runLimit() : null;
        const sealedBefore = withKey && round % 2 === 1 ? await runSealed() : null;
        const threadedBefore = withStorageThread && round % 2 === 1 ? await runStorageThread() : null;
        const result = await oursTrial(context, entry, receiver, events);
        const sealed = withKey ? (sealedBefore ?? (await runSealed())) : null;
        const threaded = withStorageThread ? (threadedBefore ?? (await runStorageThread())) : null;
        const limit = limitBefore ?? (await runLimit());
        const list = ours.get(entry.name) ?? [];
        list.push({ ours: result, limit, peer: peerResult, sealed, storageThread: threaded });
        ours.set(entry.name, list);
        if (workerStorages.has(entry.name)) {
          context.log(`dispatch: round ${round + 1}: ${entry.name}, backlog of ${events}, dispatcher in a worker thread paired with in-thread`);
          const pairs = threads.get(entry.name) ?? [];
          pairs.push(await workerPair(context, entry, receiver, events, round));
          threads.set(entry.name, pairs);
        }
      } catch (error) {
        failed.add(entry.name);
        context.fail('dispatch', entry.name, error);
      }
    }
  }

  // Issue 26's targets (raised from 0.6, 0.4 and 0.15): what a specialised library owes
  // against the bare loop on each storage.
  const targets: Record<string, { limit?: number; peer?: number }> = {
    memory: { limit: 0.8, peer: 5 },
    sqlite: { limit: 0.5 },
    postgres: { limit: 0.3 },
  };
  const complete = (r: TrialResult): boolean => r.arrived === r.expected;
  for (const [name, pairs] of threads) addWorkerFigure(context, name, pairs, sizes.concurrency);
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
    addStorageThreadFigure(context, name, trials, target.limit, sizes.concurrency);
    const pairs = trials.flatMap((t) => (t.sealed === null ? [] : [{ sealed: t.sealed, plain: t.ours }]));
    if (pairs.length === 0) continue;
    context.add({
      id: `dispatch.${name}.payload-key`,
      section: 'dispatch',
      storage: name,
      title: `dispatch throughput with security.payloadKey (payloads stored sealed, opened for each attempt), ${name} storage, backlog of ${results[0]!.expected}, concurrency ${sizes.concurrency}`,
      unit: 'deliveries/s',
      better: 'higher',
      value: median(pairs.map((p) => p.sealed.rate)),
      valid: pairs.every((p) => complete(p.sealed) && complete(p.plain)),
      limit: {
        kind: 'reference',
        label: 'the same without payloadKey',
        value: median(pairs.map((p) => p.plain.rate)),
        ratio: median(pairs.map((p) => p.sealed.rate / p.plain.rate)),
      },
      detail: {
        rounds: pairs.length,
        roundRatios: pairs.map((p) => Math.round((p.sealed.rate / p.plain.rate) * 1000) / 1000),
        ...summary(pairs.map((p) => p.sealed)),
        ...codecMicroseconds(context.options.mode === 'tiny' ? 3 : 21, 1_000),
      },
    });
  }
}
