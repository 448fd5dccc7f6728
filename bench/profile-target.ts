/**
 * Runs only our side of one benchmark, so a CPU profile shows our code and not the
 * baselines beside it. With `--cpu-prof`, the whole process is profiled (set-up and
 * backlog publishing included); with `--profile <file>`, only the timed part is (V8's
 * same sampling profiler, started and stopped through node:inspector):
 *
 *   npx tsx bench/profile-target.ts dispatch memory [events] --profile /tmp/dispatch.cpuprofile
 *   npx tsx bench/profile-target.ts ordered sqlite [events] [keys] --profile /tmp/ordered.cpuprofile   (the ordering suite's backlog; keys 0: unkeyed)
 *   npx tsx bench/profile-target.ts bare [events] --profile /tmp/bare.cpuprofile   (the limit, for comparison)
 *   npx tsx bench/profile-target.ts publish sqlite [events] --profile /tmp/publish.cpuprofile
 *   npx tsx bench/profile-target.ts sign|verify [ops] --profile /tmp/sign.cpuprofile
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-target.ts dispatch memory
 *   npx tsx bench/profile-summary.ts /tmp/dispatch.cpuprofile
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, performance as perfHooks } from 'node:perf_hooks';
import { verifyWebhook } from '../src/receiver/index.js';
import { generateSecret } from '../src/signing/secret.js';
import { signWebhook } from '../src/signing/sign-webhook.js';
import { postgresCpuMs } from './database-cpu.js';
import { enqueueInputs, eventType, signedSamples } from './payload.js';
import { ReceiverProcess } from './receiver.js';
import { distribution } from './stats.js';
import { storageEntry } from './storages.js';
import { tenantPicker } from './tenant-subscriptions.js';
import { bareRequests, bareUndiciLoop, createInstance, dataObjects, publishAll } from './trial-helpers.js';

const argv = process.argv.slice(2);
const profileAt = argv.indexOf('--profile');
const profileFile = profileAt === -1 ? undefined : argv.splice(profileAt, 2)[1];
const positional = argv;
const target = positional[0] ?? 'dispatch';
const single = target === 'sign' || target === 'verify' || target === 'bare';
const storageName = single ? 'memory' : (positional[1] ?? 'memory');
const count = single ? positional[1] : positional[2];
/** `ordered` only: the number of ordering keys (0: the same backlog without keys). */
const keyCount = Number(positional[3] ?? 1000);

interface CallCount {
  calls: number;
  /** Items in (settlements) or out (claimed deliveries). */
  items: number;
  /** Wall ms from call to resolution, summed. */
  ms: number;
}

/** Wraps storage methods on the instance to count calls, batch sizes and time. */
function countCalls(storage: object, methods: string[]): Record<string, CallCount> {
  const counts: Record<string, CallCount> = {};
  const target = storage as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const method of methods) {
    const original = target[method]!.bind(storage);
    const count: CallCount = { calls: 0, items: 0, ms: 0 };
    counts[method] = count;
    target[method] = async (...args: unknown[]) => {
      const start = performance.now();
      const result = await original(...args);
      count.calls += 1;
      count.ms = Math.round((count.ms + performance.now() - start) * 10) / 10;
      if (Array.isArray(result)) count.items += result.length;
      return result;
    };
  }
  return counts;
}

let session: Session | null = null;

/** Starts sampling (when `--profile` was given). */
async function profileStart(): Promise<void> {
  if (profileFile === undefined || session !== null) return;
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
}

/** Pauses sampling (the profile keeps what was taken) — V8 has no pause, so this stops and merges. */
const taken: unknown[] = [];
async function profileStop(): Promise<void> {
  if (session === null) return;
  const { profile } = await session.post('Profiler.stop');
  taken.push(profile);
  session.disconnect();
  session = null;
}

function writeProfile(): void {
  if (profileFile === undefined || taken.length === 0) return;
  // The last (largest, warmest) timed section is written; earlier ones warmed the JIT.
  writeFileSync(profileFile, JSON.stringify(taken[taken.length - 1]));
  process.stderr.write(`profile of the timed section written to ${profileFile}\n`);
}

async function main(): Promise<void> {
  if (target === 'sign' || target === 'verify') {
    const secret = generateSecret();
    const samples = signedSamples(256, secret, Math.floor(Date.now() / 1000));
    let sink = 0;
    const ops = Number(count ?? 500_000);
    await profileStart();
    const start = performance.now();
    for (let i = 0; i < ops; i++) {
      const sample = samples[i & 255]!;
      if (target === 'sign') {
        sink += signWebhook({ id: sample.id, timestamp: sample.timestampSeconds, body: sample.body, secrets: secret }).length;
      } else {
        sink += verifyWebhook({ body: sample.body, headers: sample.headers }, { secrets: secret }).id.length;
      }
    }
    const ms = performance.now() - start;
    await profileStop();
    process.stdout.write(`${target}: ${Math.round((ops / ms) * 1000)} ops/s (checksum ${sink})\n`);
    return;
  }
  const entry = storageEntry(storageName);
  const events = Number(count ?? 20_000);
  if (target === 'publish') {
    const instance = await createInstance(entry, 'http://127.0.0.1:9/unused', 50);
    const data = dataObjects(events);
    await profileStart();
    const start = performance.now();
    for (const item of data) await instance.webhooks.publish(eventType, item as never);
    const ms = performance.now() - start;
    await profileStop();
    process.stdout.write(`publish ${storageName}: ${Math.round((events / ms) * 1000)} events/s sequential\n`);
    await instance.close();
    return;
  }
  if (target !== 'dispatch' && target !== 'bare' && target !== 'ordered') throw new Error(`Unknown target "${target}": dispatch, ordered, bare, publish, sign or verify`);
  const receiver = await ReceiverProcess.start();
  if (target === 'bare') {
    // The limit the dispatcher is judged against, profiled the same way, for comparison.
    try {
      const requests = bareRequests(events);
      for (let round = 0; round < 2; round++) {
        await receiver.reset();
        await profileStart();
        const cpu = process.cpuUsage();
        const elu = perfHooks.eventLoopUtilization();
        const ms = await bareUndiciLoop(receiver.url, requests, 50);
        const used = process.cpuUsage(cpu);
        const loop = perfHooks.eventLoopUtilization(elu);
        await profileStop();
        const report = await receiver.report();
        const perPost = (cpuMs: number) => Math.round((cpuMs * 1000) / Math.max(1, report.distinctIds));
        process.stdout.write(`bare undici: ${report.distinctIds}/${events} arrived, ${Math.round((report.distinctIds / ms) * 1000)} posts/s\n`);
        process.stdout.write(`  CPU µs a post: this process ${perPost((used.user + used.system) / 1000)}, main thread busy ${perPost(loop.active)} (utilization ${loop.utilization.toFixed(2)})\n`);
      }
    } finally {
      await receiver.stop();
    }
    return;
  }
  try {
    for (let round = 0; round < 2; round++) {
      const instance = await createInstance(entry, receiver.url, 50);
      if (target === 'ordered') {
        // The ordering suite's backlog: stored through the fast path, keys drawn as it draws them.
        const pick = tenantPicker(keyCount, 23);
        const keys = Array.from({ length: events }, () => (keyCount === 0 ? null : `acct_${String(pick()).padStart(4, '0')}`));
        await instance.storage.fill(enqueueInputs(events, () => null, (n) => keys[n]!));
      } else {
        await publishAll(instance.webhooks, dataObjects(events), 16);
      }
      const calls = countCalls(instance.storage.storage, ['claimDue', 'settle', 'nextDueAt', 'stats']);
      // Per delivery: how long its post took, and how long after the response its settle was announced.
      const postMs: number[] = [];
      const settledAfterMs: number[] = [];
      instance.webhooks.bus.on('delivery:succeeded', (event) => {
        postMs.push(event.durationMs);
        settledAfterMs.push(Date.now() - event.startedAt - event.durationMs);
      });
      const loopDelay = monitorEventLoopDelay({ resolution: 5 });
      loopDelay.enable();
      await receiver.reset();
      await profileStart();
      const cpu = process.cpuUsage();
      const elu = perfHooks.eventLoopUtilization();
      const databaseStart = postgresCpuMs();
      const start = performance.now();
      await instance.webhooks.start();
      await instance.webhooks.drain({ timeoutMs: 300_000 });
      const ms = performance.now() - start;
      const databaseEnd = postgresCpuMs();
      const used = process.cpuUsage(cpu);
      const loop = perfHooks.eventLoopUtilization(elu);
      await profileStop();
      const report = await receiver.report();
      process.stdout.write(`dispatch ${storageName}: ${report.distinctIds}/${events} arrived, ${Math.round((report.distinctIds / ms) * 1000)} deliveries/s\n`);
      // CPU µs a delivery: this process (every thread), and PostgreSQL's server (every postgres process of the machine).
      const perDelivery = (cpuMs: number) => Math.round((cpuMs * 1000) / Math.max(1, report.distinctIds));
      const database = storageName === 'postgres' && databaseStart !== null && databaseEnd !== null ? `, PostgreSQL server ${perDelivery(databaseEnd - databaseStart)}` : '';
      process.stdout.write(`  CPU µs a delivery: this process ${perDelivery((used.user + used.system) / 1000)}, main thread busy ${perDelivery(loop.active)} (utilization ${loop.utilization.toFixed(2)})${database}\n`);
      loopDelay.disable();
      process.stdout.write(`  storage calls: ${JSON.stringify(calls)}\n`);
      const spread = (values: number[]) => {
        const { p50, p90, p99 } = distribution(values);
        return `p50 ${p50.toFixed(2)}, p90 ${p90.toFixed(2)}, p99 ${p99.toFixed(2)}`;
      };
      process.stdout.write(`  post ms: ${spread(postMs)}; settled after the response, ms: ${spread(settledAfterMs)}\n`);
      process.stdout.write(`  event-loop delay ms: p50 ${(loopDelay.percentile(50) / 1e6).toFixed(2)}, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(2)}, max ${(loopDelay.max / 1e6).toFixed(2)}\n`);
      await instance.close();
    }
  } finally {
    await receiver.stop();
  }
}

await main();
writeProfile();
process.exit();
