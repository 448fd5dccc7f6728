/**
 * publish() latency per storage: sequential single publishes (the dispatcher stopped,
 * so publish is measured alone) with one matching subscription, p50/p99/max in µs;
 * and batch throughput with 1,000 publishes in flight. The reference is the storage's
 * own `enqueue()` of a record prepared beforehand — what publish adds on top of it is
 * validation, serialization, ids and the bus — run in alternating blocks with publish.
 */
import type { BenchContext } from '../context.js';
import { scaled } from '../config.js';
import { enqueueInputs, eventType } from '../payload.js';
import { collectGarbage, distribution, type Distribution } from '../stats.js';
import { createInstance, dataObjects, type Instance } from '../trial-helpers.js';
import type { StorageEntry } from '../storages.js';

const p99TargetsMicros: Record<string, number> = { memory: 50, sqlite: 1000, postgres: 5000 };
const blocks = 10;

function rounded(d: Distribution): Record<string, number> {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Math.round(v * 100) / 100]));
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

  const data = dataObjects(perBlock * blocks);
  const records = [...enqueueInputs(perBlock * blocks)];
  const publishMicros: number[] = [];
  const enqueueMicros: number[] = [];
  collectGarbage();
  for (let block = 0; block < blocks; block++) {
    for (let i = block * perBlock; i < (block + 1) * perBlock; i++) {
      const start = performance.now();
      await webhooks.publish(eventType, data[i] as never);
      publishMicros.push((performance.now() - start) * 1000);
    }
    for (let i = block * perBlock; i < (block + 1) * perBlock; i++) {
      const start = performance.now();
      await storage.storage.enqueue(records[i]!);
      enqueueMicros.push((performance.now() - start) * 1000);
    }
  }
  const ours = distribution(publishMicros);
  const bare = distribution(enqueueMicros);

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
  const detail = { samples: publishMicros.length, publishMicros: rounded(ours), enqueueMicros: rounded(bare), pendingAfter: stats.pending, expectedPending };
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
