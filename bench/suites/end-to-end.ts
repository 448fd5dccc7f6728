/**
 * End-to-end latency, publish() → the receiver process got the whole body, per
 * storage: at a light steady rate and under a burst of events published at once.
 *
 * Both ends read the same clock: `performance.timeOrigin + performance.now()` (epoch
 * ms with sub-millisecond resolution), taken here just before `publish()` and in the
 * receiver process when the body has fully arrived. The limit is a bare
 * `undici.request` post of the same body, timed the same way (the network and
 * receiver floor). The in-process `delivery:succeeded` `latencyMs` (publish → 2xx at
 * the sender, on the millisecond clock) is kept in the detail as a cross-check.
 */
import { Pool } from 'undici';
import type { DeliverySucceededEvent } from '../../src/events/event-bus.js';
import type { BenchContext } from '../context.js';
import { eventType } from '../payload.js';
import type { ReceiverProcess } from '../receiver.js';
import { collectGarbage, distribution, sleep, type Distribution } from '../stats.js';
import { bareRequests, createInstance, dataObjects } from '../trial-helpers.js';
import type { StorageEntry } from '../storages.js';

const now = (): number => performance.timeOrigin + performance.now();

interface Latencies {
  samplesMs: number[];
  expected: number;
  arrived: number;
}

/** Publish (or post) times by id, matched with the receiver's arrivals. */
async function collect(receiver: ReceiverProcess, sentAt: Map<string, number>): Promise<Latencies> {
  const report = await receiver.report();
  const samplesMs: number[] = [];
  const seen = new Set<string>();
  for (const [id, arrivedAt] of report.arrivals) {
    const sent = sentAt.get(id);
    if (sent === undefined || seen.has(id)) continue;
    seen.add(id);
    samplesMs.push(arrivedAt - sent);
  }
  return { samplesMs, expected: sentAt.size, arrived: seen.size };
}

/** Calls `send(i)` at `rate` per second for `count` calls, on schedule (not after the previous one resolves). */
async function steady(count: number, rate: number, send: (i: number) => Promise<void>): Promise<void> {
  const intervalMs = 1000 / rate;
  const start = performance.now();
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const wait = start + i * intervalMs - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(send(i));
  }
  await Promise.all(pending);
}

async function waitForArrivals(receiver: ReceiverProcess, expected: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const report = await receiver.report();
    if (report.distinctIds >= expected) return;
    await sleep(20);
  }
}

async function oursTrial(entry: StorageEntry, receiver: ReceiverProcess, mode: 'steady' | 'burst', count: number, rate: number) {
  const instance = await createInstance(entry, receiver.url, 50);
  const inProcess: number[] = [];
  try {
    const { webhooks } = instance;
    webhooks.bus.on('delivery:succeeded', (event: DeliverySucceededEvent) => inProcess.push(event.latencyMs));
    const data = dataObjects(count);
    await webhooks.start();
    // Warm the connection and the code path before timing.
    const warm = dataObjects(20);
    for (const item of warm) await webhooks.publish(eventType, item as never);
    await webhooks.drain({ timeoutMs: 60_000 });
    inProcess.length = 0;
    collectGarbage();
    await receiver.reset(true);
    const sentAt = new Map<string, number>();
    // How long each publish() took to resolve, part of its end-to-end latency: it tells a
    // tail made by the storage's commit from one made by the dispatch after it.
    const publishMs: number[] = [];
    const publishOne = async (i: number): Promise<void> => {
      const at = now();
      const event = await webhooks.publish(eventType, data[i] as never);
      publishMs.push(now() - at);
      sentAt.set(event.id, at);
    };
    if (mode === 'steady') await steady(count, rate, publishOne);
    else await Promise.all(data.map((_, i) => publishOne(i)));
    await webhooks.drain({ timeoutMs: 300_000 });
    await waitForArrivals(receiver, count, 5000);
    return { ...(await collect(receiver, sentAt)), inProcess: distribution(inProcess), publish: distribution(publishMs) };
  } finally {
    await instance.close();
  }
}

async function limitTrial(receiver: ReceiverProcess, mode: 'steady' | 'burst', count: number, rate: number): Promise<Latencies> {
  const requests = bareRequests(count + 20);
  const target = new URL(receiver.url);
  const pool = new Pool(target.origin, { connections: 50, pipelining: 1 });
  try {
    const post = async (i: number): Promise<void> => {
      const request = requests[i]!;
      const response = await pool.request({ path: target.pathname, method: 'POST', headers: request.headers, body: request.body });
      await response.body.dump();
    };
    for (let i = count; i < count + 20; i++) await post(i);
    collectGarbage();
    await receiver.reset(true);
    const sentAt = new Map<string, number>();
    const timedPost = async (i: number): Promise<void> => {
      sentAt.set(requests[i]!.id, now());
      await post(i);
    };
    if (mode === 'steady') await steady(count, rate, timedPost);
    else await Promise.all(Array.from({ length: count }, (_, i) => timedPost(i)));
    await waitForArrivals(receiver, count, 5000);
    return collect(receiver, sentAt);
  } finally {
    await pool.close();
  }
}

function rounded(d: Distribution): Record<string, number> {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
}

export async function runEndToEnd(context: BenchContext): Promise<void> {
  const sizes = context.sizes.endToEnd;
  const receiver = await context.receiver();
  const steadyCount = Math.max(10, Math.round(sizes.rate * sizes.seconds));
  const scenarios = [
    { mode: 'steady' as const, count: steadyCount, label: `steady ${sizes.rate}/s`, chart: `steady ${sizes.rate} events/s` },
    { mode: 'burst' as const, count: sizes.burst, label: `burst of ${sizes.burst}`, chart: `burst of ${sizes.burst} events` },
  ];
  for (const scenario of scenarios) {
    context.log(`end-to-end: ${scenario.label}, bare undici`);
    const limit = await limitTrial(receiver, scenario.mode, scenario.count, sizes.rate);
    const limitDist = distribution(limit.samplesMs);
    context.chart(scenario.chart, { label: 'bare undici', samplesMs: limit.samplesMs });
    for (const entry of context.storages) {
      context.log(`end-to-end: ${scenario.label}, ${entry.name}`);
      try {
        const ours = await oursTrial(entry, receiver, scenario.mode, scenario.count, sizes.rate);
        const dist = distribution(ours.samplesMs);
        const valid = ours.arrived === ours.expected && limit.arrived === limit.expected;
        context.chart(scenario.chart, { label: entry.name, samplesMs: ours.samplesMs });
        const detail = {
          events: scenario.count,
          arrived: `${ours.arrived}/${ours.expected}`,
          receiverClockMs: rounded(dist),
          limitMs: rounded(limitDist),
          inProcessDeliverySucceededLatencyMs: rounded(ours.inProcess),
          publishResolvedMs: rounded(ours.publish),
        };
        for (const quantile of ['p50', 'p99'] as const) {
          context.add({
            id: `e2e.${scenario.mode}.${entry.name}.${quantile}`,
            section: 'end-to-end',
            storage: entry.name,
            title: `end-to-end ${quantile}, ${entry.name}, ${scenario.label}`,
            unit: 'ms',
            better: 'lower',
            value: dist[quantile],
            limit: { label: 'bare undici post', value: limitDist[quantile] },
            valid,
            ...(valid ? {} : { note: `arrived ${ours.arrived}/${ours.expected} (limit ${limit.arrived}/${limit.expected})` }),
            ...(quantile === 'p99' ? { detail } : {}),
          });
        }
      } catch (error) {
        context.fail('end-to-end', entry.name, error);
      }
    }
  }
}
