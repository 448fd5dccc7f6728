/**
 * Peers: what a team builds instead of this library, drained against our dispatch of the
 * same backlog (1 KB events, one subscription), to the same receiver process, at the dispatch
 * section's concurrency. Both peers sign the Standard Webhooks way with bare `node:crypto`
 * (HMAC-SHA256 over `id.timestamp.body`, base64, `v1,`) and post with an undici `Pool`:
 *
 * - `peer.graphile-worker` (PostgreSQL): graphile-worker in its batched mode (a local queue,
 *   completions and failures batched), one job per event carrying its id and body, added in
 *   bulk with `addJobs` into a schema of its own before the clock; timed from `run()` to every
 *   job's row gone from the database (completed, as our `drain()` waits for the settle).
 *   Ours: the dispatch section's PostgreSQL trial (`oursTrial`). Target ≥ 1.25× (issue 26).
 * - `peer.p-queue` (memory): a `p-queue` of the posts fed from an array, no storage: what
 *   durability and bookkeeping cost on the memory storage. Reported, no target.
 *
 * Rounds alternate the order (ours first on even rounds); the ratio is the median of the
 * rounds' ratios. A trial counts only what the receiver says arrived, and the peers' first
 * requests are checked with our verifier (`verifyWebhookSignature`).
 */
import { createHmac } from 'node:crypto';
import PQueue from 'p-queue';
import pg from 'pg';
import { Pool } from 'undici';
import { verifyWebhookSignature } from '../../src/receiver/verify-webhook-signature.js';
import { generateSecret } from '../../src/signing/secret.js';
import type { BenchContext } from '../context.js';
import { enqueueInputs } from '../payload.js';
import type { ReceivedSample, ReceiverProcess } from '../receiver.js';
import { collectGarbage, median } from '../stats.js';
import { postgresUrl } from '../storages.js';
import { databaseCpuFrom, oursTrial, summary, trialResult, type TrialResult } from './dispatch.js';

/** One event as both peers hand it to their sender: its id (the `webhook-id`) and its body. */
interface PeerJob {
  id: string;
  body: string;
}

/** The backlog of `count` events, with bodies as our storage holds them (bench/payload.ts). */
function peerJobs(count: number): PeerJob[] {
  return Array.from(enqueueInputs(count), (input) => ({ id: input.event.id, body: input.event.payload }));
}

/** The requests kept whole at the receiver in each peer trial, to verify their signatures. */
const verifiedSamples = 20;

/** The twenty lines a user writes: sign with node:crypto, post with an undici Pool, 2xx or throw. */
function createSender(url: string, secret: string, connections: number): { send(job: PeerJob): Promise<void>; close(): Promise<void> } {
  const target = new URL(url);
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const pool = new Pool(target.origin, { connections, pipelining: 1 });
  return {
    async send({ id, body }) {
      const timestamp = Math.floor(Date.now() / 1000);
      const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
      const response = await pool.request({
        path: target.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` },
        body,
      });
      await response.body.dump();
      if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`receiver answered ${response.statusCode}`);
    },
    close: () => pool.close(),
  };
}

interface PeerTrial extends TrialResult {
  /** Of the requests kept whole at the receiver, those our verifier accepted with the peer's secret. */
  verified: number;
  sampled: number;
  /** Time to store the backlog before the clock (graphile-worker: `addJobs`), ms. */
  fillMs: number;
}

function verifiedCount(samples: readonly ReceivedSample[], secret: string): number {
  let verified = 0;
  for (const sample of samples) {
    try {
      verifyWebhookSignature({ body: sample.body, headers: sample.headers }, { secrets: secret });
      verified += 1;
    } catch {
      // Counted as not verified: the figure is then invalid.
    }
  }
  return verified;
}

async function timedPeer(storage: string, receiver: ReceiverProcess, secret: string, expected: number, fillMs: number, run: () => Promise<number>): Promise<PeerTrial> {
  collectGarbage();
  await receiver.reset(false, verifiedSamples);
  const cpu = process.cpuUsage();
  const databaseCpu = databaseCpuFrom(storage);
  const elapsedMs = await run();
  const usage = process.cpuUsage(cpu);
  const databaseMs = databaseCpu();
  const report = await receiver.report();
  return { ...trialResult(report, expected, elapsedMs, usage, databaseMs), verified: verifiedCount(report.samples, secret), sampled: report.samples.length, fillMs };
}

/** `p-queue` at `concurrency`, every job added from the array at once: the memory-side peer. */
async function pQueueTrial(receiver: ReceiverProcess, jobs: readonly PeerJob[], concurrency: number): Promise<PeerTrial> {
  const secret = generateSecret();
  const sender = createSender(receiver.url, secret, concurrency);
  try {
    return await timedPeer('memory', receiver, secret, jobs.length, 0, async () => {
      const start = performance.now();
      const queue = new PQueue({ concurrency });
      await queue.addAll(jobs.map((job) => () => sender.send(job)));
      return performance.now() - start;
    });
  } finally {
    await sender.close();
  }
}

/**
 * graphile-worker's batched mode, as its performance page configures it: a local queue that
 * fetches and locks jobs in batches, and completions and failures written in batches (delay
 * 0: whatever finished in the same tick). The pool of 10 connections is graphile-worker's
 * default and our adapter's.
 */
function graphileSettings(concurrency: number, localQueueSize: number) {
  return { concurrentJobs: concurrency, maxPoolSize: 10, localQueue: { size: localQueueSize }, completeJobBatchDelay: 0, failJobBatchDelay: 0 };
}

/** graphile-worker's `localQueue.size` (see bench/README.md for the sizes tried). */
const graphileLocalQueueSize = 500;

/** Jobs per `addJobs` call while filling (one statement each). */
const addJobsChunk = 5_000;

/** How often the finished trial asks whether graphile-worker's last completions are written, ms. */
const completionPollMs = 2;

async function graphileTrial(context: BenchContext, receiver: ReceiverProcess, jobs: readonly PeerJob[], concurrency: number, localQueueSize: number): Promise<PeerTrial & { errors: number }> {
  // Success lines are logged per job unless NO_LOG_SUCCESS is set (read when the module loads): a
  // deployment that runs thousands of jobs a second sets it.
  process.env.NO_LOG_SUCCESS ??= '1';
  const { Logger, makeWorkerUtils, run } = await import('graphile-worker');
  const logger = new Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') context.log(`graphile-worker ${level}: ${message}`);
  });
  const schema = `graphile_bench_${process.pid}_${Date.now().toString(36)}`;
  const secret = generateSecret();
  const sender = createSender(receiver.url, secret, concurrency);
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    const utils = await makeWorkerUtils({ connectionString: postgresUrl, schema, logger });
    const fillStart = performance.now();
    try {
      await utils.migrate();
      for (let first = 0; first < jobs.length; first += addJobsChunk) {
        await utils.addJobs(jobs.slice(first, first + addJobsChunk).map((job) => ({ identifier: 'deliver', payload: job })));
      }
    } finally {
      await utils.release();
    }
    // As ours after its bulk fill (bench/storages.ts): the planner's statistics, as autovacuum would.
    await client.query(`analyze "${schema}"._private_jobs`);
    const fillMs = performance.now() - fillStart;
    let errors = 0;
    const result = await timedPeer('postgres', receiver, secret, jobs.length, fillMs, async () => {
      let succeeded = 0;
      let allSucceeded!: () => void;
      const done = new Promise<void>((resolve) => (allSucceeded = resolve));
      const start = performance.now();
      const runner = await run({
        connectionString: postgresUrl,
        schema,
        logger,
        noHandleSignals: true,
        preset: { worker: graphileSettings(concurrency, localQueueSize) },
        taskList: {
          async deliver(payload) {
            await sender.send(payload as PeerJob);
            if (++succeeded === jobs.length) allSucceeded();
          },
        },
      });
      runner.events.on('job:error', () => (errors += 1));
      try {
        await Promise.race([done, runner.promise.then(() => Promise.reject(new Error('graphile-worker stopped before every job succeeded')))]);
        // The last completions are written in a batch after the task returns: done when no row is left.
        for (;;) {
          const left = await client.query<{ n: number }>(`select count(*)::int as n from "${schema}"._private_jobs`);
          if (left.rows[0]!.n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, completionPollMs));
        }
        return performance.now() - start;
      } finally {
        await runner.stop();
      }
    });
    return { ...result, errors };
  } finally {
    await sender.close();
    await client.query(`drop schema if exists "${schema}" cascade`).catch(() => undefined);
    await client.end();
  }
}

interface Round {
  ours: TrialResult;
  peer: PeerTrial & { errors?: number };
}

/** A side's trials valid: every delivery arrived, signed, and the sampled peer signatures verified. */
function roundValid(round: Round): boolean {
  const complete = (trial: TrialResult) => trial.arrived === trial.expected && trial.signed === trial.requests;
  return complete(round.ours) && complete(round.peer) && round.peer.sampled > 0 && round.peer.verified === round.peer.sampled;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/** The peer each storage is measured against here. */
const peerOf: Record<string, 'graphile-worker' | 'p-queue'> = { postgres: 'graphile-worker', memory: 'p-queue' };

export async function runPeers(context: BenchContext): Promise<void> {
  const { events, rounds } = context.sizes.peers;
  const localQueueSize = graphileLocalQueueSize;
  const { concurrency } = context.sizes.dispatch;
  const receiver = await context.receiver();
  const entries = context.storages.filter((entry) => peerOf[entry.name] !== undefined);
  const results = new Map<string, Round[]>();
  const failed = new Set<string>();

  for (let round = 0; round < rounds; round++) {
    for (const entry of entries) {
      if (failed.has(entry.name)) continue;
      const peer = peerOf[entry.name]!;
      const runPeer = (): Promise<PeerTrial> => {
        const jobs = peerJobs(events);
        return peer === 'graphile-worker' ? graphileTrial(context, receiver, jobs, concurrency, localQueueSize) : pQueueTrial(receiver, jobs, concurrency);
      };
      const runOurs = (): Promise<TrialResult> => oursTrial(context, entry, receiver, events);
      try {
        context.log(`peers: round ${round + 1}/${rounds}: ${entry.name}, backlog of ${events}, ${round % 2 === 0 ? `ours, then ${peer}` : `${peer}, then ours`}`);
        const peerFirst = round % 2 === 1 ? await runPeer() : null;
        const ours = await runOurs();
        const peerResult = peerFirst ?? (await runPeer());
        const list = results.get(entry.name) ?? [];
        list.push({ ours, peer: peerResult });
        results.set(entry.name, list);
      } catch (error) {
        failed.add(entry.name);
        context.fail('peers', entry.name, error);
      }
    }
  }

  for (const [name, list] of results) addPeerFigure(context, name, list, events, concurrency, localQueueSize);
}

function addPeerFigure(context: BenchContext, name: string, list: readonly Round[], events: number, concurrency: number, localQueueSize: number): void {
  const peer = peerOf[name]!;
  const valid = list.every(roundValid);
  const ratios = list.map((round) => round.ours.rate / round.peer.rate);
  const graphile = peer === 'graphile-worker';
  const peerSummary = {
    ...summary(list.map((round) => round.peer)),
    verifiedSignatures: list.map((round) => `${round.peer.verified}/${round.peer.sampled}`),
    ...(graphile
      ? {
          settings: graphileSettings(concurrency, localQueueSize),
          addJobsMs: list.map((round) => Math.round(round.peer.fillMs)),
          jobErrors: list.map((round) => round.peer.errors ?? 0),
        }
      : {}),
  };
  context.add({
    id: `peer.${peer}`,
    section: 'peers',
    storage: name,
    title: graphile
      ? `dispatch throughput, ${name} storage, against graphile-worker (batched) with a node:crypto + undici task, backlog of ${events}, concurrency ${concurrency}`
      : `dispatch throughput, ${name} storage, against p-queue of node:crypto + undici posts (no storage), backlog of ${events}, concurrency ${concurrency}`,
    unit: 'deliveries/s',
    better: 'higher',
    value: median(list.map((round) => round.ours.rate)),
    valid,
    peer: {
      label: graphile
        ? `graphile-worker 0.17, localQueue ${localQueueSize}, batched completion, concurrency ${concurrency}`
        : `p-queue, concurrency ${concurrency}, undici Pool of ${concurrency}`,
      value: median(list.map((round) => round.peer.rate)),
      ratio: median(ratios),
      ...(graphile ? { target: { on: 'ratio' as const, op: '>=' as const, value: 1.25 } } : {}),
    },
    ...(valid ? {} : { note: 'not every delivery arrived signed, or a sampled peer signature did not verify' }),
    detail: {
      rounds: list.length,
      roundRatios: ratios.map(round3),
      ...summary(list.map((round) => round.ours)),
      peer: peerSummary,
    },
  });
}
