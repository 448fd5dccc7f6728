/**
 * Per-key ordering (issue 23 §1): what delivering each key's events strictly in publish order
 * costs the dispatcher, measured as the dispatch suite measures (bench/suites/dispatch.ts):
 * a backlog of 1 KB events stored through the storage's fast path before the clock starts,
 * one subscription, timed from `start()` to `drain()` resolving, to the same loopback
 * receiver process; a rate counts only deliveries the receiver says arrived.
 *
 * - Keys: the backlog's events carry an `orderingKey` drawn at random (fixed seed, the same
 *   draw for every storage and round) from `keys` keys; only each key's head is claimable,
 *   the next becomes due when the head settles (storage/shared/ordering.ts). Its reference is
 *   the same backlog without a key, drained right beside it on the same storage with the same
 *   settings, the order of the two flipping by round; the ratio (ordered ÷ unordered) is the
 *   median of the rounds' ratios, target ≥ 0.7.
 * - Hot key: every event on one key, so one request at a time whatever the concurrency: its
 *   rate is bounded by one round trip plus a settle and the claim of the next head per
 *   delivery. Its limit is a bare `undici.request` loop posting the same bodies one at a time
 *   over one connection, beside it; reported, without a target.
 *
 * Correctness is checked in the suite, from what the receiver process saw: every delivery
 * arrived; on the ordered trials every delivery carried a `webhook-sequence`, each key's
 * numbers arrived strictly increasing, 1 to the key's count, none missing, each the number of
 * its event's place in the key's publish order (bench/order-check.ts: the receiver lists
 * `[webhook-id, sequence]` in arrival order; the key and place of each event are known here);
 * on the unordered trials no delivery carried one. A figure whose trials broke any of it is invalid,
 * and the bench exits 1.
 */
import type { EnqueueInput } from '../../src/storage/storage-adapter.js';
import type { BenchContext } from '../context.js';
import { checkOrder, orderHeld, type KeyedEvent, type OrderCheck } from '../order-check.js';
import { enqueueInputs } from '../payload.js';
import type { ReceiverProcess, ReceiverReport } from '../receiver.js';
import { collectGarbage, median } from '../stats.js';
import type { StorageEntry } from '../storages.js';
import { tenantPicker } from '../tenant-subscriptions.js';
import { bareRequests, bareUndiciLoop, createInstance } from '../trial-helpers.js';

/** The seed of the keys' draw. */
const keySeed = 23;
/** The one key of the hot-key trials: as long as the others, so its envelope pads alike. */
const hotKey = 'acct_hot1';

function keyName(n: number): string {
  return `acct_${String(n).padStart(4, '0')}`;
}

interface TrialResult {
  rate: number;
  elapsedMs: number;
  expected: number;
  arrived: number;
  requests: number;
  receiverCpu: number;
  senderCpu: number;
  fillMs: number;
  /** The ordered trials' check; `null` on an unordered one (see {@link TrialResult.sequencedUnordered}). */
  order: OrderCheck | null;
  /** Requests of an unordered trial that carried a `webhook-sequence` (must be 0). */
  sequencedUnordered: number;
}

function complete(trial: TrialResult): boolean {
  return trial.arrived === trial.expected;
}

/** Every delivery arrived, and in order: a figure built on a trial that fails this is invalid. */
function sound(trial: TrialResult): boolean {
  if (!complete(trial)) return false;
  return trial.order === null ? trial.sequencedUnordered === 0 : orderHeld(trial.order, trial.expected);
}

function fromReport(report: ReceiverReport, expected: number, elapsedMs: number, cpu: NodeJS.CpuUsage): Omit<TrialResult, 'fillMs' | 'order' | 'sequencedUnordered'> {
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

/**
 * One trial of ours: a fresh storage with one subscription, a backlog of `keys.length`
 * events (the n-th with ordering key `keys[n]`, or none for `null`), drained.
 */
async function oursTrial(context: BenchContext, entry: StorageEntry, receiver: ReceiverProcess, keys: ReadonlyArray<string | null>): Promise<TrialResult> {
  const { concurrency } = context.sizes.ordering;
  const events = keys.length;
  const instance = await createInstance(entry, receiver.url, concurrency);
  try {
    // Each keyed event's key and place among the key's events, in the order they are stored.
    const keyed = new Map<string, KeyedEvent>();
    const countOfKey = new Map<string, number>();
    function* recorded(inputs: Iterable<EnqueueInput>): Generator<EnqueueInput> {
      for (const input of inputs) {
        const key = input.event.orderingKey ?? null;
        if (key !== null) {
          const sequence = (countOfKey.get(key) ?? 0) + 1;
          countOfKey.set(key, sequence);
          keyed.set(input.event.id, { key, sequence });
        }
        yield input;
      }
    }
    const fillStart = performance.now();
    await instance.storage.fill(recorded(enqueueInputs(events, () => null, (n) => keys[n]!)));
    const fillMs = performance.now() - fillStart;
    collectGarbage();
    await receiver.reset();
    const cpu = process.cpuUsage();
    const start = performance.now();
    await instance.webhooks.start();
    await instance.webhooks.drain({ timeoutMs: 300_000 });
    const elapsedMs = performance.now() - start;
    const usage = process.cpuUsage(cpu);
    const report = await receiver.report();
    const metrics = await instance.webhooks.metrics();
    if (metrics.deliveriesSucceeded !== events) context.log(`ordering ${entry.name}: ${metrics.deliveriesSucceeded} of ${events} deliveries succeeded`);
    const ordered = keyed.size > 0;
    return {
      ...fromReport(report, events, elapsedMs, usage),
      fillMs,
      order: ordered ? checkOrder(report.sequenced, keyed) : null,
      sequencedUnordered: ordered ? 0 : report.sequenced.length,
    };
  } finally {
    await instance.close();
  }
}

/** The hot key's limit: the same bodies posted one at a time over one connection. */
async function bareOneAtATime(receiver: ReceiverProcess, requests: ReturnType<typeof bareRequests>): Promise<TrialResult> {
  collectGarbage();
  await receiver.reset();
  const cpu = process.cpuUsage();
  const elapsedMs = await bareUndiciLoop(receiver.url, requests, 1);
  const report = await receiver.report();
  return { ...fromReport(report, requests.length, elapsedMs, process.cpuUsage(cpu)), fillMs: 0, order: null, sequencedUnordered: report.sequenced.length };
}

interface Round {
  ordered: TrialResult;
  unordered: TrialResult;
  hot: TrialResult;
  bare: TrialResult;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

function summary(trials: readonly TrialResult[]): Record<string, unknown> {
  return {
    ratesPerRound: trials.map((t) => Math.round(t.rate)),
    arrived: trials.map((t) => `${t.arrived}/${t.expected}`),
    receiverCpuShare: round3(median(trials.map((t) => t.receiverCpu))),
    senderCpuShare: round3(median(trials.map((t) => t.senderCpu))),
  };
}

/** Why a figure is invalid, from its trials. */
function invalidNote(trials: readonly TrialResult[]): string | undefined {
  if (!trials.every(complete)) return 'not every delivery arrived at the receiver';
  const broken = trials.find((t) => !sound(t));
  if (broken === undefined) return undefined;
  if (broken.order === null) return `${broken.sequencedUnordered} unordered deliveries carried a webhook-sequence`;
  const { sequenced, outOfOrder, misnumbered, keysIncomplete, unknown } = broken.order;
  return `order broken at the receiver: ${sequenced}/${broken.expected} sequenced, ${outOfOrder} out of order, ${misnumbered} misnumbered, ${keysIncomplete} keys incomplete, ${unknown} unknown`;
}

function addFigures(context: BenchContext, name: string, rounds: readonly Round[], keyCount: number, perKey: readonly number[]): void {
  const { concurrency } = context.sizes.ordering;
  const ordered = rounds.map((r) => r.ordered);
  const unordered = rounds.map((r) => r.unordered);
  const keyNote = invalidNote([...ordered, ...unordered]);
  context.add({
    id: `ordering.${name}`,
    section: 'ordering',
    storage: name,
    title: `ordered dispatch, ${keyCount.toLocaleString('en-US')} keys, ${name} storage, backlog of ${ordered[0]!.expected}, concurrency ${concurrency}`,
    unit: 'deliveries/s',
    better: 'higher',
    value: median(ordered.map((t) => t.rate)),
    valid: keyNote === undefined,
    limit: {
      kind: 'reference',
      label: 'the same backlog without orderingKey',
      value: median(unordered.map((t) => t.rate)),
      ratio: median(rounds.map((r) => r.ordered.rate / r.unordered.rate)),
      target: { on: 'ratio', op: '>=', value: 0.7 },
    },
    ...(keyNote === undefined ? {} : { note: keyNote }),
    detail: {
      rounds: rounds.length,
      roundRatios: rounds.map((r) => round3(r.ordered.rate / r.unordered.rate)),
      keys: keyCount,
      eventsPerKey: { min: Math.min(...perKey), median: median(perKey), max: Math.max(...perKey) },
      ...summary(ordered),
      order: ordered.map((t) => t.order),
      backlogFillMs: ordered.map((t) => Math.round(t.fillMs)),
      unordered: { ...summary(unordered), backlogFillMs: unordered.map((t) => Math.round(t.fillMs)) },
    },
  });

  const hot = rounds.map((r) => r.hot);
  const bare = rounds.map((r) => r.bare);
  const hotNote = invalidNote([...hot, ...bare]);
  const msPer = (t: TrialResult) => t.elapsedMs / t.expected;
  const bareLabel = 'bare undici.request, one request at a time (Pool of 1)';
  context.add({
    id: `ordering.${name}.hot-key`,
    section: 'ordering',
    storage: name,
    title: `ordered dispatch, one hot key (one request at a time), ${name} storage, backlog of ${hot[0]!.expected}, concurrency ${concurrency}`,
    unit: 'deliveries/s',
    better: 'higher',
    value: median(hot.map((t) => t.rate)),
    valid: hotNote === undefined,
    limit: {
      label: bareLabel,
      value: median(bare.map((t) => t.rate)),
      ratio: median(rounds.map((r) => r.hot.rate / r.bare.rate)),
    },
    ...(hotNote === undefined ? {} : { note: hotNote }),
    detail: {
      rounds: rounds.length,
      roundRatios: rounds.map((r) => round3(r.hot.rate / r.bare.rate)),
      ...summary(hot),
      order: hot.map((t) => t.order),
      limit: summary(bare),
    },
  });
  context.add({
    id: `ordering.${name}.hot-key.ms-per-delivery`,
    section: 'ordering',
    storage: name,
    title: `ordered dispatch, one hot key: mean time per delivery (a round trip, a settle, the next head's claim), ${name} storage`,
    unit: 'ms',
    better: 'lower',
    value: median(hot.map(msPer)),
    valid: hotNote === undefined,
    limit: {
      label: `one round trip: ${bareLabel}`,
      value: median(bare.map(msPer)),
      ratio: median(rounds.map((r) => msPer(r.hot) / msPer(r.bare))),
    },
    ...(hotNote === undefined ? {} : { note: hotNote }),
    detail: {
      rounds: rounds.length,
      msPerDeliveryPerRound: hot.map((t) => round3(msPer(t))),
      roundTripMsPerRound: bare.map((t) => round3(msPer(t))),
      // What a delivery of the hot key costs beyond its round trip: the settle, the head's advance, the next claim.
      beyondRoundTripMs: round3(median(rounds.map((r) => msPer(r.hot) - msPer(r.bare)))),
    },
  });
}

export async function runOrdering(context: BenchContext): Promise<void> {
  const sizes = context.sizes.ordering;
  const receiver = await context.receiver();
  // The same draw of keys for every storage and round; the hot key's backlog is one key.
  const pick = tenantPicker(sizes.keys, keySeed);
  const keyed = Array.from({ length: sizes.events }, () => keyName(pick()));
  const unkeyed = new Array<null>(sizes.events).fill(null);
  const hot = new Array<string>(sizes.hotKeyEvents).fill(hotKey);
  const perKey = [...keyed.reduce((counts, key) => counts.set(key, (counts.get(key) ?? 0) + 1), new Map<string, number>()).values()];
  const bare = bareRequests(sizes.hotKeyEvents);
  const rounds = new Map<string, Round[]>();
  const failed = new Set<string>();

  // Warm-up: connections, JIT.
  await bareUndiciLoop(receiver.url, bare, sizes.concurrency);
  for (let round = 0; round < sizes.rounds; round++) {
    for (const entry of context.storages) {
      if (failed.has(entry.name)) continue;
      try {
        // Each side of a pair runs first on alternate rounds, so a drift in the machine's load cancels out.
        const flip = round % 2 === 1;
        context.log(`ordering: round ${round + 1}/${sizes.rounds}: ${entry.name}, backlog of ${sizes.events} over ${perKey.length} keys, paired with it unordered`);
        const unorderedFirst = flip ? null : await oursTrial(context, entry, receiver, unkeyed);
        const ordered = await oursTrial(context, entry, receiver, keyed);
        const unordered = unorderedFirst ?? (await oursTrial(context, entry, receiver, unkeyed));
        context.log(`ordering: round ${round + 1}: ${entry.name}, ${sizes.hotKeyEvents} events on one key, paired with bare posts one at a time`);
        const bareFirst = flip ? await bareOneAtATime(receiver, bare) : null;
        const hotTrial = await oursTrial(context, entry, receiver, hot);
        const bareTrial = bareFirst ?? (await bareOneAtATime(receiver, bare));
        const list = rounds.get(entry.name) ?? [];
        list.push({ ordered, unordered, hot: hotTrial, bare: bareTrial });
        rounds.set(entry.name, list);
      } catch (error) {
        failed.add(entry.name);
        context.fail('ordering', entry.name, error);
      }
    }
  }
  for (const [name, list] of rounds) addFigures(context, name, list, perKey.length, perKey);
}
