/**
 * Retention at scale: can batched deletes keep up with 10 M attempts a day without hurting
 * dispatch, or must old rows live in time partitions that are dropped whole?
 *
 * Per storage, over a history of final rows past every default cutoff (delivered
 * deliveries with 1–3 attempts each and their 1 KB events, bench/retention-fill.ts):
 * 1. the purge rate of the real retention task (`RetentionTask`, what `createWebhooks`
 *    runs), batches back to back (runs 1 ms apart) for a window, in rows/s of deliveries,
 *    attempts and events; against what 10 M attempts a day need with the same mix of
 *    deliveries and events (the headroom factor). Also what one run removes at the default
 *    pacing (a run every 60 s, each at most ~100 ms or 20 batches) and so a day of them,
 *    and the time of single batches (each one transaction holding its rows' locks);
 * 2. dispatch throughput to the loopback receiver process (`start()` → `drain()` over a
 *    stored backlog, as the dispatch section) with `createWebhooks({ retention: { intervalMs } })`
 *    purging the history meanwhile — steadily (runs as far apart as purges twice what 10 M
 *    attempts a day need) and catching up (10 ms apart) — against the same with
 *    `retention: false`, in rounds taken side by side; each ratio is the median of the
 *    rounds' ratios. A catching-up trial is cut at a window (see {@link dispatchTrial}).
 *
 * The history outlasts the first run (up to 20 batches of 500) and the timed batches; the
 * window stops early once half of what is left is gone, and a purging trial starts with at
 * least half the first history's size left (topped up when less is), so that the task has
 * rows to purge throughout. A purging trial that removed nothing makes its figure invalid.
 */
import { createWebhooks, type Webhooks } from '../../src/create-webhooks.js';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { retentionOptionsSchema, type ResolvedRetentionOptions } from '../../src/retention/retention-options.js';
import { pauseAfterBatchMs, RetentionTask } from '../../src/retention/retention-task.js';
import type { BenchContext } from '../context.js';
import { eventType } from '../payload.js';
import type { ReceiverProcess, ReceiverReport } from '../receiver.js';
import { fillFinalHistory, fillPending, type FinalHistory } from '../retention-fill.js';
import { collectGarbage, distribution, median } from '../stats.js';
import type { BenchStorageInstance, StorageEntry } from '../storages.js';

const dayMs = 86_400_000;
/** The load the issue names: attempts a day whose rows retention must remove as fast as they come. */
const attemptsPerDay = 10_000_000;
/** The target of the dispatch ratio: purging must not cost dispatch more than a tenth. */
const dispatchTarget = 0.9;

/** The task's options with every default but `intervalMs`. */
function retentionOptions(intervalMs?: number): ResolvedRetentionOptions {
  const parsed = retentionOptionsSchema.parse(intervalMs === undefined ? {} : { intervalMs });
  if (parsed === false) throw new Error('the retention defaults turned retention off');
  return parsed;
}

/** Rows a day of 10 M attempts brings, in the history's mix of deliveries and events per attempt. */
function neededPerSecond(history: FinalHistory): { attempts: number; deliveries: number; events: number; rows: number } {
  const attempts = attemptsPerDay / (dayMs / 1000);
  const deliveries = (attempts * history.deliveries) / history.attempts;
  const events = (attempts * history.events) / history.attempts;
  return { attempts, deliveries, events, rows: attempts + deliveries + events };
}

function rowsOf(figures: { deliveriesPurged: number; attemptsPurged: number; eventsPurged: number }): number {
  return figures.deliveriesPurged + figures.attemptsPurged + figures.eventsPurged;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

interface Setup {
  instance: BenchStorageInstance;
  subscriptionId: string;
  /** Past every default cutoff by ten days. */
  finalAt: number;
  /** The history written so far (top-ups included). */
  history: FinalHistory;
  /** Its deliveries removed so far, by every task and batch of the section. */
  purgedDeliveries: number;
  fillSeconds: number;
}

/** The section's history size on this storage. */
function historySize(context: BenchContext, entry: StorageEntry): number {
  const sizes = context.sizes.retention;
  return entry.name === 'memory' ? sizes.memoryDeliveries : sizes.deliveries;
}

/** Writes `count` more history deliveries (with their attempts and events), numbered after those written. */
async function addHistory(entry: StorageEntry, setup: Setup, count: number): Promise<void> {
  const added = await fillFinalHistory(entry.name, setup.instance, setup.history.deliveries, count, setup.subscriptionId, eventType, setup.finalAt);
  const { history } = setup;
  setup.history = { deliveries: history.deliveries + added.deliveries, attempts: history.attempts + added.attempts, events: history.events + added.events };
}

/** A fresh storage with one subscription to the receiver and the history past retention. */
async function setUp(context: BenchContext, entry: StorageEntry, receiver: ReceiverProcess): Promise<Setup> {
  const instance = await entry.create();
  try {
    const webhooks = createWebhooks({ storage: instance.storage, security: { allowPrivateNetworks: true }, retention: false });
    const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['*'] });
    const count = historySize(context, entry);
    const setup: Setup = {
      instance,
      subscriptionId: subscription.id,
      finalAt: Date.now() - 100 * dayMs,
      history: { deliveries: 0, attempts: 0, events: 0 },
      purgedDeliveries: 0,
      fillSeconds: 0,
    };
    context.log(`retention: ${entry.name}, writing a history of ${count} delivered deliveries with 1–3 attempts each and their events`);
    const start = performance.now();
    await addHistory(entry, setup, count);
    setup.fillSeconds = round1((performance.now() - start) / 1000);
    return setup;
  } catch (error) {
    await instance.dispose().catch(() => undefined);
    throw error;
  }
}

/** Runs `task` until `until()` says so (checked every 20 ms); the ms it ran. */
async function runTask(task: RetentionTask, until: () => boolean): Promise<number> {
  const start = performance.now();
  task.start();
  while (!until()) await new Promise((resolve) => setTimeout(resolve, 20));
  await task.stop();
  return performance.now() - start;
}

/**
 * Milliseconds of single batches of the task's largest size (`batchSize`, 500, at the default
 * cutoffs: the size it keeps where a batch holds the event loop under its target, as on
 * PostgreSQL; on SQLite it takes smaller ones, see targetBatchHoldMs), and the deliveries they removed.
 */
async function batchTimes(storage: BenchStorageInstance['storage'], batches: number): Promise<{ ms: number[]; deliveries: number }> {
  const options = retentionOptions();
  const times: number[] = [];
  let deliveries = 0;
  for (let i = 0; i < batches; i++) {
    const now = Date.now();
    const start = performance.now();
    const result = await storage.purgeRetention({
      deliveredBefore: now - options.deliveredMs!,
      deadBefore: now - options.deadMs!,
      eventsBefore: now - options.eventsMs!,
      limit: options.batchSize,
      now,
    });
    times.push(performance.now() - start);
    deliveries += result.deliveries;
  }
  return { ms: times, deliveries };
}

/** Adds the purge figures; returns the steady pacing's `intervalMs` (see {@link retentionFor}). */
async function measurePurge(context: BenchContext, entry: StorageEntry, setup: Setup): Promise<number> {
  const { instance, history } = setup;
  const sizes = context.sizes.retention;
  const task = (intervalMs?: number) =>
    new RetentionTask({ storage: instance.storage, clock: systemClock, logger: silentLogger, options: retentionOptions(intervalMs) });

  // One run as shipped: the first starts at once; the next would come 60 s after it ends.
  const shipped = task();
  const runMs = await runTask(shipped, () => shipped.figures.lastRunAt !== null);
  const perRun = shipped.figures;
  const timed = await batchTimes(instance.storage, sizes.timedBatches);
  const batchMs = distribution(timed.ms);
  setup.purgedDeliveries += perRun.deliveriesPurged + timed.deliveries;

  // Back to back: runs 1 ms apart for the window, or until half of what is left is gone.
  const fast = task(1);
  const left = history.deliveries - setup.purgedDeliveries;
  if (left <= 0) {
    throw new Error(`retention ${entry.name}: the history of ${history.deliveries} deliveries was purged before the purge-rate window (first run and ${sizes.timedBatches} timed batches); give the section a larger history`);
  }
  const half = left / 2;
  const windowStart = performance.now();
  const elapsedMs = await runTask(fast, () => fast.figures.deliveriesPurged >= half || performance.now() - windowStart >= sizes.purgeWindowMs);
  const purged = fast.figures;
  setup.purgedDeliveries += purged.deliveriesPurged;
  if (purged.lastError !== null) throw new Error(`a retention batch failed: ${purged.lastError}`);
  const perSecond = (n: number) => (n / elapsedMs) * 1000;
  const needed = neededPerSecond(history);
  const valid = purged.deliveriesPurged > 0 && purged.attemptsPurged > 0 && purged.eventsPurged > 0;
  context.add({
    id: `retention.${entry.name}.purge-rate`,
    section: 'retention',
    storage: entry.name,
    title: `retention task purge rate, batches back to back, ${entry.name}, history of ${history.deliveries} deliveries (${history.attempts} attempts)`,
    unit: 'rows/s',
    better: 'higher',
    value: perSecond(rowsOf(purged)),
    valid,
    ...(valid ? {} : { note: 'the window purged no delivery, attempt or event' }),
    limit: {
      kind: 'reference',
      label: `10 M attempts/day with their deliveries and events (${round1(needed.rows)} rows/s)`,
      value: needed.rows,
      // "Ample headroom": twice the load, so that a backlog left by downtime is caught up too.
      target: { on: 'ratio', op: '>=', value: 2 },
    },
    detail: {
      windowSeconds: round1(elapsedMs / 1000),
      perSecond: { deliveries: Math.round(perSecond(purged.deliveriesPurged)), attempts: Math.round(perSecond(purged.attemptsPurged)), events: Math.round(perSecond(purged.eventsPurged)) },
      neededPerSecond: { deliveries: round1(needed.deliveries), attempts: round1(needed.attempts), events: round1(needed.events) },
      attemptsHeadroom: round1(perSecond(purged.attemptsPurged) / needed.attempts),
      batchMs: { batches: batchMs.count, p50: round1(batchMs.p50), p99: round1(batchMs.p99), max: round1(batchMs.max) },
      historyFillSeconds: setup.fillSeconds,
    },
  });
  // The longest wait between runs of the first run's size that still keeps up.
  const keepsUpMs = Math.max(0, Math.round((rowsOf(perRun) / needed.rows) * 1000 - runMs));
  // A day of runs at the default pacing while behind (the first run leaves rows past retention): the
  // next run after the task's pause for a batch of the median time (pauseAfterBatchMs: at least
  // minCatchUpPauseMs, at most intervalMs). runMs holds the pauses between the run's batches.
  const pauseMs = pauseAfterBatchMs(batchMs.p50, true, retentionOptions().intervalMs);
  const runsPerDay = dayMs / (pauseMs + runMs);
  context.add({
    id: `retention.${entry.name}.default-pacing`,
    section: 'retention',
    storage: entry.name,
    title: `rows the retention task removes a day at its defaults while behind (a twentieth of the process's time: batches 19× their own time apart), ${entry.name}`,
    unit: 'M rows/day',
    better: 'higher',
    value: (rowsOf(perRun) * runsPerDay) / 1e6,
    valid: rowsOf(perRun) > 0,
    limit: { kind: 'reference', label: '10 M attempts/day with their deliveries and events', value: (needed.rows * dayMs) / 1000 / 1e6, target: { on: 'ratio', op: '>=', value: 1 } },
    detail: {
      firstRun: { deliveries: perRun.deliveriesPurged, attempts: perRun.attemptsPurged, events: perRun.eventsPurged, ms: Math.round(runMs) },
      intervalMsThatKeepsUp: keepsUpMs,
      catchUpPauseMs: Math.round(pauseMs),
    },
  });
  return Math.max(catchUpIntervalMs, Math.round(keepsUpMs / 2));
}

interface DispatchTrial {
  rate: number;
  /** Every delivery arrived (a drained trial), or some did (a trial cut at its window). */
  complete: boolean;
  drained: boolean;
  /** Rows the retention task removed during the trial (0 without it), and of them deliveries. */
  purgedRows: number;
  purgedDeliveries: number;
  purgedPerSecond: number;
}

/**
 * The retention beside a dispatch trial: none; steady (runs as far apart as purges twice
 * what 10 M attempts a day bring, from the size of the first run measured on this storage:
 * the pacing a host at that load sets); catching up (runs 10 ms apart: the task as fast as
 * it goes, as after a long stop or with a short `intervalMs`).
 */
type Pacing = 'idle' | 'steady' | 'catchUp';
const catchUpIntervalMs = 10;

function retentionFor(pacing: Pacing, steadyIntervalMs: number): false | { intervalMs: number } {
  if (pacing === 'idle') return false;
  return { intervalMs: pacing === 'steady' ? steadyIntervalMs : catchUpIntervalMs };
}

/** Drains what a windowed trial left, untimed and without retention, so the next trial starts from an empty backlog. */
async function drainLeftover(setup: Setup): Promise<void> {
  const webhooks = createWebhooks({ storage: setup.instance.storage, security: { allowPrivateNetworks: true }, concurrency: 50, retention: false });
  try {
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 300_000 });
  } finally {
    await webhooks.stop();
  }
}

/**
 * One drain of a fresh backlog of `events` on the shared storage, timed from `start()` to
 * `drain()`, with the retention task as `retention` says. With `windowMs`, the trial ends
 * there if the backlog has not drained (catching up on SQLite slows dispatch so much that
 * a full drain would take minutes): its rate counts what arrived in the window, and the
 * rest is drained untimed. The instance is stopped, not closed: the storage serves the
 * next trial.
 */
async function dispatchTrial(
  context: BenchContext,
  entry: StorageEntry,
  setup: Setup,
  receiver: ReceiverProcess,
  retention: false | { intervalMs: number },
  trial: number,
  windowMs: number | null,
): Promise<DispatchTrial> {
  const { events, concurrency } = context.sizes.retention;
  await fillPending(entry.name, setup.instance, events, setup.subscriptionId, trial);
  const webhooks: Webhooks = createWebhooks({
    storage: setup.instance.storage,
    security: { allowPrivateNetworks: true },
    concurrency,
    flowControl: { maxInFlightPerSubscription: concurrency },
    retention,
  });
  collectGarbage();
  await receiver.reset();
  const start = performance.now();
  let drain: Promise<void> | null = null;
  let drained: boolean;
  let report: ReceiverReport;
  let elapsedMs: number;
  try {
    await webhooks.start();
    drain = webhooks.drain({ timeoutMs: 300_000 });
    // drain() checks its own timeout only between idle spells of the dispatcher: a timer
    // cuts the trial instead.
    let timer: NodeJS.Timeout | undefined;
    const cut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), windowMs ?? 300_000)));
    drained = await Promise.race([drain.then(() => true), cut]);
    clearTimeout(timer);
    elapsedMs = performance.now() - start;
    report = await receiver.report();
  } finally {
    await webhooks.stop();
  }
  const purged = (await webhooks.metrics()).retention;
  const purgedRows = rowsOf(purged);
  setup.purgedDeliveries += purged.deliveriesPurged;
  // A cut trial's drain() resolves once the leftover is drained by another instance.
  if (!drained) await Promise.all([drainLeftover(setup), drain]);
  return {
    rate: (report.distinctIds / elapsedMs) * 1000,
    // A drained trial delivered everything; a windowed one delivered something.
    complete: drained ? report.distinctIds === events : report.distinctIds > 0,
    drained,
    purgedRows,
    purgedDeliveries: purged.deliveriesPurged,
    purgedPerSecond: (purgedRows / elapsedMs) * 1000,
  };
}

type Round = Record<Pacing, DispatchTrial>;

/** The dispatch figure of one purging pacing against the idle trials of the same rounds. */
function dispatchFigure(
  context: BenchContext,
  entry: StorageEntry,
  rounds: readonly Round[],
  pacing: Exclude<Pacing, 'idle'>,
  intervalMs: number,
  needed: number,
): void {
  const { events, concurrency } = context.sizes.retention;
  const purgedAlong = rounds.every((r) => r[pacing].purgedRows > 0);
  const valid = rounds.every((r) => r[pacing].complete && r.idle.complete && r.idle.drained) && purgedAlong;
  context.add({
    id: `retention.${entry.name}.dispatch${pacing === 'steady' ? '' : '.catch-up'}`,
    section: 'retention',
    storage: entry.name,
    title: `dispatch throughput with the retention task purging (runs ${intervalMs} ms apart), ${entry.name}, backlog of ${events}, concurrency ${concurrency}`,
    unit: 'deliveries/s',
    better: 'higher',
    value: median(rounds.map((r) => r[pacing].rate)),
    valid,
    ...(valid ? {} : { note: purgedAlong ? 'not every delivery arrived at the receiver' : 'a purging trial removed nothing' }),
    limit: {
      kind: 'reference',
      label: 'the same with retention: false',
      value: median(rounds.map((r) => r.idle.rate)),
      ratio: median(rounds.map((r) => r[pacing].rate / r.idle.rate)),
      // Purging at its steady pace must not cost dispatch more than a tenth; catching up at
      // full speed is reported, not judged.
      ...(pacing === 'steady' ? { target: { on: 'ratio' as const, op: '>=' as const, value: dispatchTarget } } : {}),
    },
    detail: {
      rounds: rounds.length,
      roundRatios: rounds.map((r) => Math.round((r[pacing].rate / r.idle.rate) * 1000) / 1000),
      ratesPerRound: rounds.map((r) => ({ purging: Math.round(r[pacing].rate), idle: Math.round(r.idle.rate) })),
      purgedRowsPerSecond: rounds.map((r) => Math.round(r[pacing].purgedPerSecond)),
      // Trials cut at their window (the rate then counts what arrived in it).
      cutAtWindow: rounds.filter((r) => !r[pacing].drained).length,
      // How many times the rows 10 M attempts a day bring the trials purged meanwhile.
      purgedVsNeeded: round1(median(rounds.map((r) => r[pacing].purgedPerSecond)) / needed),
    },
  });
}

async function measureDispatch(context: BenchContext, entry: StorageEntry, setup: Setup, receiver: ReceiverProcess, steadyIntervalMs: number): Promise<void> {
  const { rounds: count, events } = context.sizes.retention;
  const rounds: Round[] = [];
  let trial = 0;
  // One untimed trial first: the first drain of a process runs cold (its code not yet
  // optimised), which would favour whichever pacing the first round times second.
  await dispatchTrial(context, entry, setup, receiver, false, trial++, null);
  for (let round = 0; round < count; round++) {
    context.log(`retention: ${entry.name}, dispatch round ${round + 1}/${count}: ${events} deliveries each idle, purging every ${steadyIntervalMs} ms, catching up`);
    // Steady sits in the middle; the other two swap ends by round, so a drift of the
    // machine's load lands on both sides of each ratio.
    const order: Pacing[] = round % 2 === 0 ? ['idle', 'steady', 'catchUp'] : ['catchUp', 'steady', 'idle'];
    const trials: Partial<Round> = {};
    for (const pacing of order) {
      // A purging trial starts with at least half the first history left to purge.
      const size = historySize(context, entry);
      if (pacing !== 'idle' && setup.history.deliveries - setup.purgedDeliveries < size / 2) await addHistory(entry, setup, size);
      const windowMs = pacing === 'catchUp' ? context.sizes.retention.catchUpWindowMs : null;
      trials[pacing] = await dispatchTrial(context, entry, setup, receiver, retentionFor(pacing, steadyIntervalMs), trial++, windowMs);
    }
    rounds.push(trials as Round);
  }
  const needed = neededPerSecond(setup.history).rows;
  dispatchFigure(context, entry, rounds, 'steady', steadyIntervalMs, needed);
  dispatchFigure(context, entry, rounds, 'catchUp', catchUpIntervalMs, needed);
}

async function runStorage(context: BenchContext, entry: StorageEntry, receiver: ReceiverProcess): Promise<void> {
  const setup = await setUp(context, entry, receiver);
  try {
    const steadyIntervalMs = await measurePurge(context, entry, setup);
    await measureDispatch(context, entry, setup, receiver, steadyIntervalMs);
  } finally {
    await setup.instance.dispose();
  }
}

export async function runRetention(context: BenchContext): Promise<void> {
  const receiver = await context.receiver();
  for (const entry of context.storages) {
    try {
      await runStorage(context, entry, receiver);
    } catch (error) {
      context.fail('retention', entry.name, error);
    }
  }
}
