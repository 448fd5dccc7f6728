/**
 * Tenant-scoped fan-out (issue 17): an event published for a tenant must cost in proportion
 * to that tenant's subscriptions, not to every subscription stored. Two storages of the same
 * kind side by side in one process: the large one holds `subscriptions` (100,000 in the full
 * run) over half as many tenants, two each; the baseline holds 10 over 5 tenants. Every event
 * is published for a tenant picked at random from its store's set and fans out to that
 * tenant's 2 subscriptions in both (no all-tenant consumer), so the two stores do the same
 * work and grow alike: only the subscriptions they hold differ.
 *
 * What is timed is the storage's `enqueue()` of an event with `tenantId` set, where the
 * fan-out is looked up and written. publish()'s own work (validation, serialization, ids)
 * does not depend on the subscriptions stored: it would add the same microseconds to both
 * sides and only dilute the ratio.
 *
 * Sequential: rounds of single enqueues, one block per store per round, in an order that
 * alternates by round; the ratio is the median of the rounds' p99 ratios (large ÷ baseline).
 * Batch: rounds of `batchSize` enqueues in flight, alternating likewise; the figure is the
 * time per event (throughput's inverse, so that its ratio reads against the same ≤ 1.5×
 * target), the ratio again the median of the rounds' ratios.
 */
import type { BenchContext } from '../context.js';
import { scaled, sizesByMode } from '../config.js';
import { enqueueInputs } from '../payload.js';
import { collectGarbage, distribution, median, type Distribution } from '../stats.js';
import type { BenchStorageInstance, StorageEntry } from '../storages.js';
import { storeSubscriptions, subscriptionsPerTenant, tenantId, tenantPicker, tenantSubscriptions } from '../tenant-subscriptions.js';

/** The baseline store's subscriptions. */
const baselineSubscriptions = 10;
/** Large ÷ baseline, for the p99 and for the time per event in batches. */
const costTarget = { on: 'ratio' as const, op: '<=' as const, value: 1.5 };
/** Subscriptions created at once while filling a store (a PostgreSQL pool's worth). */
const createsInFlight = 10;

/** One of the two stores and what it has been asked to do so far. */
interface Side {
  label: string;
  instance: BenchStorageInstance;
  subscriptions: number;
  pick: () => number;
  setupMs: number;
  events: number;
  deliveries: number;
  singleMicros: number[];
  /** Per round: p50 and p99 of its sequential block, µs. */
  rounds: Array<{ p50: number; p99: number }>;
  /** Per round: batch wall time per event, µs. */
  batchMicros: number[];
}

function rounded(d: Distribution): Record<string, number> {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

async function openSide(entry: StorageEntry, label: string, subscriptions: number, seed: number): Promise<Side> {
  const instance = await entry.create();
  try {
    const tenants = subscriptions / subscriptionsPerTenant;
    const start = performance.now();
    await storeSubscriptions(instance.storage, tenantSubscriptions(tenants, Date.now()), createsInFlight);
    // Statistics as autovacuum gathers them after a bulk load; without them PostgreSQL plans
    // the publish statement anew on every call on the large store (bench/README, "Tenants").
    await instance.analyze?.();
    const setupMs = performance.now() - start;
    return { label, instance, subscriptions, pick: tenantPicker(tenants, seed), setupMs, events: 0, deliveries: 0, singleMicros: [], rounds: [], batchMicros: [] };
  } catch (error) {
    await instance.dispose().catch(() => undefined);
    throw error;
  }
}

/** Events for `count` tenants picked at random from the side's set, built outside any timing. */
function inputsFor(side: Side, count: number) {
  return [...enqueueInputs(count, () => tenantId(side.pick()))];
}

/**
 * Refuses to go on when a tenant's event reached other tenants' subscriptions: with an
 * adapter that does not scope its fan-out, every event of the large store would make a
 * delivery per subscription stored, and the run would measure (and fill memory with) that.
 */
function checkFanOut(side: Side): void {
  const expected = side.events * subscriptionsPerTenant;
  if (side.deliveries !== expected) {
    throw new Error(
      `Expected ${side.label}'s ${side.events} event(s) to make ${expected} deliveries (${subscriptionsPerTenant} each: their tenant's subscriptions), ` +
        `got ${side.deliveries}: the storage's fan-out does not keep to the event's tenant`,
    );
  }
}

async function sequentialBlock(side: Side, count: number): Promise<number[]> {
  const inputs = inputsFor(side, count);
  const { storage } = side.instance;
  const micros = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const result = await storage.enqueue(inputs[i]!);
    micros[i] = (performance.now() - start) * 1000;
    side.deliveries += result.deliveryCount;
  }
  side.events += count;
  return micros;
}

/** `count` enqueues with at most `inFlight` pending, one group after another; returns µs per event. */
async function batchBlock(side: Side, count: number, inFlight: number): Promise<number> {
  const inputs = inputsFor(side, count);
  const { storage } = side.instance;
  const start = performance.now();
  for (let i = 0; i < count; i += inFlight) {
    const results = await Promise.all(inputs.slice(i, i + inFlight).map((input) => storage.enqueue(input)));
    for (const result of results) side.deliveries += result.deliveryCount;
  }
  const micros = ((performance.now() - start) * 1000) / count;
  side.events += count;
  return micros;
}

/** The two sides in this round's order: the large store first on even rounds. */
function inOrder(round: number, large: Side, baseline: Side): [Side, Side] {
  return round % 2 === 0 ? [large, baseline] : [baseline, large];
}

async function measure(context: BenchContext, entry: StorageEntry, large: Side, baseline: Side): Promise<void> {
  const sizes = context.sizes.tenants;
  const perRound = Math.max(10, Math.round(scaled(sizes.single, entry.sizeFactor) / sizes.rounds));
  const batchPerRound = Math.max(sizes.batchSize, Math.round(scaled(sizes.batch, entry.sizeFactor) / sizes.rounds));

  // One event each first: an unscoped fan-out shows at once, before it can fill the store.
  for (const side of [large, baseline]) {
    await sequentialBlock(side, 1);
    checkFanOut(side);
  }
  for (const side of [large, baseline]) await sequentialBlock(side, Math.max(50, perRound));

  for (let round = 0; round < sizes.rounds; round++) {
    collectGarbage();
    for (const side of inOrder(round, large, baseline)) {
      const micros = await sequentialBlock(side, perRound);
      side.singleMicros.push(...micros);
      const block = distribution(micros);
      side.rounds.push({ p50: block.p50, p99: block.p99 });
    }
  }
  for (let round = 0; round < sizes.rounds; round++) {
    collectGarbage();
    for (const side of inOrder(round, large, baseline)) side.batchMicros.push(await batchBlock(side, batchPerRound, sizes.batchSize));
  }

  const now = Date.now();
  const pendingAfter = { large: (await large.instance.storage.stats(now)).pending, baseline: (await baseline.instance.storage.stats(now)).pending };
  const expected = { large: large.events * subscriptionsPerTenant, baseline: baseline.events * subscriptionsPerTenant };
  const problems: string[] = [];
  for (const side of [large, baseline]) {
    const key = side === large ? 'large' : 'baseline';
    if (side.deliveries !== expected[key]) problems.push(`${side.label} made ${side.deliveries} deliveries, expected ${expected[key]}`);
    if (pendingAfter[key] !== expected[key]) problems.push(`${side.label} holds ${pendingAfter[key]} pending deliveries, expected ${expected[key]}`);
  }
  const valid = problems.length === 0;

  const full = sizesByMode.full.tenants.subscriptions;
  const scale = `${formatCount(large.subscriptions)} subscriptions over ${formatCount(large.subscriptions / subscriptionsPerTenant)} tenants`;
  const reduced =
    large.subscriptions < full
      ? `${context.options.mode} run: ${scale} (the full run has ${formatCount(full)} over ${formatCount(full / subscriptionsPerTenant)})`
      : null;
  const note = valid ? reduced : [...problems, ...(reduced === null ? [] : [reduced])].join('; ');
  const reference = (value: number, ratio: number) => ({
    kind: 'reference' as const,
    label: `${baselineSubscriptions} subscriptions, ${baselineSubscriptions / subscriptionsPerTenant} tenants`,
    value,
    ratio,
    target: costTarget,
  });
  const common = {
    subscriptions: large.subscriptions,
    tenants: large.subscriptions / subscriptionsPerTenant,
    baselineSubscriptions,
    fanOut: subscriptionsPerTenant,
    rounds: sizes.rounds,
    setupMs: { large: Math.round(large.setupMs), baseline: Math.round(baseline.setupMs) },
    events: { large: large.events, baseline: baseline.events },
    pendingAfter,
  };

  const largeSingle = distribution(large.singleMicros);
  const baselineSingle = distribution(baseline.singleMicros);
  const p99Ratios = large.rounds.map((r, i) => r.p99 / baseline.rounds[i]!.p99);
  context.add({
    id: `tenants.${entry.name}.p99`,
    section: 'tenants',
    storage: entry.name,
    title: `enqueue() p99 of a tenant's event (fan-out ${subscriptionsPerTenant}), ${scale}, ${entry.name}, sequential`,
    unit: 'µs',
    better: 'lower',
    value: largeSingle.p99,
    limit: reference(baselineSingle.p99, median(p99Ratios)),
    valid,
    ...(note === null ? {} : { note }),
    detail: {
      ...common,
      perRound,
      largeMicros: rounded(largeSingle),
      baselineMicros: rounded(baselineSingle),
      roundP99Ratios: p99Ratios.map((r) => Math.round(r * 1000) / 1000),
      p50Ratio: median(large.rounds.map((r, i) => r.p50 / baseline.rounds[i]!.p50)),
    },
  });

  const batchRatios = large.batchMicros.map((micros, i) => micros / baseline.batchMicros[i]!);
  const perSecond = (micros: number) => Math.round(1_000_000 / micros);
  context.add({
    id: `tenants.${entry.name}.batch`,
    section: 'tenants',
    storage: entry.name,
    title: `enqueue() batch time per event (1/throughput), ${sizes.batchSize} in flight, ${scale}, ${entry.name}`,
    unit: 'µs/event',
    better: 'lower',
    value: median(large.batchMicros),
    limit: reference(median(baseline.batchMicros), median(batchRatios)),
    valid,
    ...(note === null ? {} : { note }),
    detail: {
      ...common,
      eventsPerRound: batchPerRound,
      inFlight: sizes.batchSize,
      eventsPerSecond: { large: perSecond(median(large.batchMicros)), baseline: perSecond(median(baseline.batchMicros)) },
      roundRatios: batchRatios.map((r) => Math.round(r * 1000) / 1000),
    },
  });
}

export async function runTenants(context: BenchContext): Promise<void> {
  const sizes = context.sizes.tenants;
  for (const entry of context.storages) {
    const tenants = sizes.subscriptions / subscriptionsPerTenant;
    context.log(
      `tenants: ${entry.name}, ${formatCount(sizes.subscriptions)} subscriptions over ${formatCount(tenants)} tenants ` +
        `against ${baselineSubscriptions} over ${baselineSubscriptions / subscriptionsPerTenant}` +
        `${context.options.mode === 'full' ? '' : ` (${context.options.mode} run; the full run has ${formatCount(sizesByMode.full.tenants.subscriptions)})`}`,
    );
    let large: Side | null = null;
    let baseline: Side | null = null;
    try {
      // The same seed for every storage: the same tenants in the same order.
      large = await openSide(entry, 'the large store', sizes.subscriptions, 17);
      context.log(`tenants: ${entry.name}, ${formatCount(sizes.subscriptions)} subscriptions created in ${(large.setupMs / 1000).toFixed(1)} s`);
      baseline = await openSide(entry, 'the baseline store', baselineSubscriptions, 17);
      await measure(context, entry, large, baseline);
    } catch (error) {
      context.fail('tenants', entry.name, error);
    } finally {
      await large?.instance.dispose();
      await baseline?.instance.dispose();
    }
  }
}
