/**
 * publish() latency per storage: sequential single publishes (the dispatcher stopped,
 * so publish is measured alone) with one matching subscription, p50/p99/max in µs;
 * and batch throughput with 1,000 publishes in flight. The reference is the storage's
 * own `enqueue()` of a record prepared beforehand — what publish adds on top of it is
 * validation, serialization, ids and the bus — run in alternating blocks with publish.
 *
 * A third block per round times fixed work calibrated to publish's median: work that
 * allocates nothing and never varies, so its p99 is what this machine's own
 * jitter (interrupts, a virtualised clock, the other tenants) does to any code of that
 * length — the floor under publish's p99, measured in the same run.
 */
import { Buffer } from 'node:buffer';
import { PerformanceObserver } from 'node:perf_hooks';
import type { BenchContext } from '../context.js';
import { scaled } from '../config.js';
import { enqueueInputs, eventType, paddingFor, paymentData } from '../payload.js';
import { collectGarbage, distribution, sleep, type Distribution } from '../stats.js';
import { createInstance, dataObjects, type Instance } from '../trial-helpers.js';
import type { StorageEntry } from '../storages.js';

const p99TargetsMicros: Record<string, number> = { memory: 50, sqlite: 1000, postgres: 5000 };
const blocks = 10;

function rounded(d: Distribution): Record<string, number> {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}

/**
 * Fixed work: `calls` comparisons of two equal 16 KB buffers (a native memcmp over data
 * that stays in cache; the same instructions every time, no allocation). A pure
 * JavaScript loop was tried first and is no good as a yardstick: V8 ran the same
 * optimised loop at 1.1 or 4.9 ns an iteration from one block to the next.
 */
const left = Buffer.alloc(16_384, 7);
const right = Buffer.alloc(16_384, 7);
let fixedWorkSink = 0;

function fixedWork(calls: number): void {
  let sum = 0;
  for (let i = 0; i < calls; i++) sum += left.compare(right);
  fixedWorkSink += sum;
}

/** Calls of {@link fixedWork} whose median time is `targetMicros`. */
function calibrateFixedWork(targetMicros: number): number {
  const micros: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const start = performance.now();
    fixedWork(16);
    micros.push((performance.now() - start) * 1000);
  }
  return Math.max(1, Math.round((16 * targetMicros) / distribution(micros.slice(500)).p50));
}

async function measure(context: BenchContext, entry: StorageEntry, instance: Instance): Promise<void> {
  const sizes = context.sizes.publish;
  const { webhooks, storage } = instance;
  const single = scaled(sizes.single, entry.sizeFactor);
  const perBlock = Math.max(1, Math.floor(single / blocks));
  const warmup = Math.max(50, Math.floor(single / 10));

  const warmData = dataObjects(warmup);
  for (const item of warmData) await webhooks.publish(eventType, item as never);
  for (const input of enqueueInputs(warmup)) await storage.storage.enqueue(input);

  // Each publish's data is built just before it, outside the timing, as a host builds an
  // event's data and publishes it. Built all at once up front, 20,000 objects are in old space
  // by their turn, and V8 flattens an old string into old space: every publish then paid for
  // flattening the bench's own concatenated ids there, with a page fault now and then
  // (paired, publish p98 ~30 µs against ~12 µs built just before).
  const padding = paddingFor();
  const records = [...enqueueInputs(perBlock * blocks)];
  const publishMicros: number[] = [];
  const enqueueMicros: number[] = [];
  const floorMicros: number[] = [];
  const floorSizes: number[] = [];
  // What the publish blocks cost the process besides their own code, for the detail:
  // garbage collections that started inside them, and minor page faults (all threads).
  const publishWindows: Array<[number, number]> = [];
  const collections: Array<[number, number]> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const gc of list.getEntries()) collections.push([gc.startTime, gc.duration]);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  let publishFaults = 0;
  collectGarbage();
  for (let block = 0; block < blocks; block++) {
    const faultsBefore = process.resourceUsage().minorPageFault;
    const blockStart = performance.now();
    for (let i = block * perBlock; i < (block + 1) * perBlock; i++) {
      const data = paymentData(i, padding);
      const start = performance.now();
      await webhooks.publish(eventType, data as never);
      publishMicros.push((performance.now() - start) * 1000);
    }
    publishWindows.push([blockStart, performance.now()]);
    publishFaults += process.resourceUsage().minorPageFault - faultsBefore;
    for (let i = block * perBlock; i < (block + 1) * perBlock; i++) {
      const start = performance.now();
      await storage.storage.enqueue(records[i]!);
      enqueueMicros.push((performance.now() - start) * 1000);
    }
    // Sized to publish's median so far, again each round: it creeps up as the store grows.
    const floorCalls = calibrateFixedWork(distribution(publishMicros).p50);
    floorSizes.push(floorCalls);
    for (let i = 0; i < perBlock; i++) {
      const start = performance.now();
      fixedWork(floorCalls);
      floorMicros.push((performance.now() - start) * 1000);
    }
  }
  if (fixedWorkSink !== 0) throw new Error(`Equal buffers compared unequal (${fixedWorkSink})`);
  // The observer's entries arrive on later turns of the event loop.
  await sleep(50);
  gcObserver.disconnect();
  const publishGcs = collections.filter(([start]) => publishWindows.some(([from, to]) => start >= from && start < to));
  const duringPublish = {
    collections: publishGcs.length,
    collectionMs: Math.round(publishGcs.reduce((sum, [, duration]) => sum + duration, 0) * 100) / 100,
    minorPageFaultsPerPublish: Math.round((publishFaults / publishMicros.length) * 1000) / 1000,
  };
  const ours = distribution(publishMicros);
  const bare = distribution(enqueueMicros);
  const floor = distribution(floorMicros);

  // Batches: `batchSize` publishes in flight, then the next batch.
  const batchTotal = scaled(sizes.batch, entry.sizeFactor);
  const batchData = dataObjects(batchTotal);
  const batchRecords = [...enqueueInputs(batchTotal)];
  collectGarbage();
  let start = performance.now();
  for (let i = 0; i < batchTotal; i += sizes.batchSize) {
    await Promise.all(batchData.slice(i, i + sizes.batchSize).map((item) => webhooks.publish(eventType, item as never)));
  }
  const batchRate = (batchTotal / (performance.now() - start)) * 1000;
  start = performance.now();
  for (let i = 0; i < batchTotal; i += sizes.batchSize) {
    await Promise.all(batchRecords.slice(i, i + sizes.batchSize).map((input) => storage.storage.enqueue(input)));
  }
  const bareBatchRate = (batchTotal / (performance.now() - start)) * 1000;
  const stats = await storage.storage.stats(Date.now());
  const expectedPending = 2 * (warmup + perBlock * blocks + batchTotal);
  const valid = stats.pending === expectedPending;

  const reference = (value: number) => ({ kind: 'reference' as const, label: 'storage.enqueue() alone', value });
  const detail = { samples: publishMicros.length, publishMicros: rounded(ours), enqueueMicros: rounded(bare), duringPublish, pendingAfter: stats.pending, expectedPending };
  const note = valid ? undefined : `the storage holds ${stats.pending} pending deliveries, expected ${expectedPending}`;
  const target = p99TargetsMicros[entry.name];
  context.add({
    id: `publish.${entry.name}.p99`,
    section: 'publish',
    storage: entry.name,
    title: `publish() p99 latency, ${entry.name}, sequential`,
    unit: 'µs',
    better: 'lower',
    value: ours.p99,
    limit: reference(bare.p99),
    ...(target === undefined ? {} : { target: { on: 'value' as const, op: '<' as const, value: target } }),
    valid,
    ...(note === undefined ? {} : { note }),
    detail,
  });
  context.add({
    id: `publish.${entry.name}.p50`,
    section: 'publish',
    storage: entry.name,
    title: `publish() median latency, ${entry.name}, sequential`,
    unit: 'µs',
    better: 'lower',
    value: ours.p50,
    limit: reference(bare.p50),
    valid,
  });
  context.add({
    id: `publish.${entry.name}.floor`,
    section: 'publish',
    storage: entry.name,
    title: `fixed CPU work of publish()'s median, p99 (this machine's jitter), ${entry.name}`,
    unit: 'µs',
    better: 'lower',
    value: floor.p99,
    valid,
    detail: { compares: floorSizes, samples: floorMicros.length, micros: rounded(floor), publishP99OverFloor: ours.p99 / floor.p99 },
  });
  context.add({
    id: `publish.${entry.name}.max`,
    section: 'publish',
    storage: entry.name,
    title: `publish() worst latency, ${entry.name}, sequential`,
    unit: 'µs',
    better: 'lower',
    value: ours.max,
    limit: reference(bare.max),
    valid,
  });
  context.add({
    id: `publish.${entry.name}.batch`,
    section: 'publish',
    storage: entry.name,
    title: `publish() throughput, ${entry.name}, ${sizes.batchSize} in flight`,
    unit: 'events/s',
    better: 'higher',
    value: batchRate,
    limit: { kind: 'reference', label: 'storage.enqueue() alone', value: bareBatchRate },
    valid,
    detail: { events: batchTotal, inFlight: sizes.batchSize },
  });
}

export async function runPublish(context: BenchContext): Promise<void> {
  for (const entry of context.storages) {
    context.log(`publish: ${entry.name}, ${scaled(context.sizes.publish.single, entry.sizeFactor)} sequential + batches`);
    let instance: Instance | null = null;
    try {
      // The dispatcher stays stopped: nothing is posted, the URL is never dialled.
      instance = await createInstance(entry, 'http://127.0.0.1:9/unused', 50);
      await measure(context, entry, instance);
    } catch (error) {
      context.fail('publish', entry.name, error);
    } finally {
      await instance?.close();
    }
  }
}
