/**
 * The host of the host-impact suite, in a process of its own (so that its event loop is
 * measured alone): a ledger HTTP API (`POST /ledger/entries`, one journal entry written per
 * request: bench/host-impact-ledger.ts) and a webhooks instance in the same process and
 * database, dispatching to the loopback receiver, as Bookkeeper would embed the library.
 *
 * Run by bench/suites/host-impact.ts with a {@link HostRequest} as JSON in argv[2]; sends
 * `{ type: 'ready', port }` once the API listens, then answers commands over IPC:
 * - `open`: a fresh storage, its ledger and a webhooks instance (dispatcher started, idle);
 *   `{ type: 'opened', available: false, reason }` when `createWebhooks` refuses the mode;
 * - `phases`: windows of the same load, the dispatcher idle or draining a burst (stored with
 *   the dispatcher stopped, the window opening once `start()` resolved and closing when
 *   `drain()` does), in the order given; each window with the event loop's delay over it;
 * - `close`: the instance, the ledger and the storage; `exit`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { monitorEventLoopDelay, performance as perfHooks } from 'node:perf_hooks';
import { ConfigError } from '../src/errors.js';
import { serveCommands } from './host-impact-child.js';
import { openLedger, parseLedgerEntry, type Ledger } from './host-impact-ledger.js';
import { enqueueInputs } from './payload.js';
import { distribution, sleep } from './stats.js';
import { storageEntry } from './storages.js';
import { createInstance, dataObjects, publishAll, type Instance, type InstanceOptions } from './trial-helpers.js';

/** `main`: the dispatcher on the host's event loop (the default); `worker`: `dispatcher.thread: 'worker'`. */
export type DispatcherMode = 'main' | 'worker';
export type Phase = 'idle' | 'burst';

export interface HostRequest {
  storage: string;
  mode: DispatcherMode;
  receiverUrl: string;
  concurrency: number;
}

export type HostCommand =
  | { type: 'open' }
  | { type: 'phases'; order: Phase[]; idleMs: number; deliveries: number; gapMs: number }
  | { type: 'close' }
  | { type: 'exit' };

export interface HostReady {
  type: 'ready';
  port: number;
}

export type HostOpened = { type: 'opened'; available: true; ledger: string } | { type: 'opened'; available: false; reason: string };

/** The event loop's delay over a window, ms (as Node reports it: each sample includes the 1 ms sampling interval). */
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

export interface PhaseWindow {
  phase: Phase;
  /** Epoch ms on `performance.timeOrigin + performance.now()`, the clock the load client stamps with. */
  startAt: number;
  endAt: number;
  loopDelayMs: LoopDelay;
  /** The ledger writes' own time (the insert, not the wait to be served), ms. */
  ledgerWriteMs: { p50: number; p99: number; max: number };
  /** The share of the window the host's event loop was busy (`perfHooks.eventLoopUtilization`), 0–1: the main thread's own work. */
  loopUtilization: number;
  /** The share of the machine's CPU time (every core, every process) that was busy over the window, 0–1. */
  machineCpuBusy: number;
}

export interface HostPhases {
  type: 'phases';
  windows: PhaseWindow[];
  burst: {
    deliveries: number;
    /** Succeeded in this instance's metrics. */
    succeeded: number;
    /** `start()` resolved → `drain()` resolved: the burst window. */
    elapsedMs: number;
    /** How long `start()` took to resolve, before the window (with a worker: spawning it). */
    startMs: number;
    /** Filling the backlog, before the window. */
    fillMs: number;
  };
}

/** Deliveries dispatched once when a storage is opened, before any window. */
const warmupDeliveries = 200;

/** The sampling interval of the event-loop delay histogram, ms. */
const loopDelayResolutionMs = 1;

const request = JSON.parse(process.argv[2] ?? '{}') as HostRequest;
const now = (): number => performance.timeOrigin + performance.now();
const loopDelay = monitorEventLoopDelay({ resolution: loopDelayResolutionMs });
loopDelay.enable();

let instance: Instance | null = null;
/** How long each ledger write took since the window opened, ms: on SQLite, a wait for another connection's write lock shows here. */
let ledgerWriteMs: number[] = [];
let ledger: Ledger | null = null;

async function answer(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
  if (req.method !== 'POST' || req.url !== '/ledger/entries') {
    res.writeHead(404).end();
    return;
  }
  if (ledger === null) {
    res.writeHead(503).end();
    return;
  }
  let entry;
  try {
    entry = parseLedgerEntry(body);
  } catch (error) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(error instanceof Error ? error.message : String(error));
    return;
  }
  const writeStart = performance.now();
  const id = await ledger.record(entry);
  ledgerWriteMs.push(performance.now() - writeStart);
  res.writeHead(201, { 'content-type': 'application/json' }).end(`{"id":"${id}"}`);
}

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    answer(req, res, Buffer.concat(chunks).toString('utf8')).catch((error: unknown) => {
      // A failed write is the ledger's answer to the load, counted by the client as an error.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(error instanceof Error ? error.message : String(error));
    });
  });
});
server.headersTimeout = 60_000;
server.requestTimeout = 0;

function modeOptions(mode: DispatcherMode): InstanceOptions {
  // `dispatcher` comes with the worker option; until then createWebhooks refuses the key,
  // and the suite reports the mode as not available.
  return mode === 'worker' ? ({ dispatcher: { thread: 'worker' } } as unknown as InstanceOptions) : {};
}

async function open(): Promise<HostOpened> {
  if (instance !== null) throw new Error('open: already open');
  const entry = storageEntry(request.storage);
  let opened: Instance;
  try {
    opened = await createInstance(entry, request.receiverUrl, request.concurrency, undefined, modeOptions(request.mode));
  } catch (error) {
    // Refused by createWebhooks (an unknown option, or a storage the worker cannot re-open): the
    // mode is not available here. Anything else is a failure of the run.
    if (!(error instanceof ConfigError)) throw error;
    return { type: 'opened', available: false, reason: `${error.code}: ${error.message}` };
  }
  instance = opened;
  try {
    ledger = await openLedger(request.storage, opened.storage.storage);
    // A first dispatch loads and compiles the transport and the dispatcher's path and opens
    // the receiver's connections: done here, before any window, so that no round pays for it.
    // Published, not filled: the PostgreSQL fill numbers its rows from 1, and the burst fills.
    await opened.webhooks.start();
    await publishAll(opened.webhooks, dataObjects(warmupDeliveries), 50);
    await opened.webhooks.drain({ timeoutMs: 60_000 });
    // Left started and idle, as a host's dispatcher waits between bursts.
  } catch (error) {
    await close();
    throw error;
  }
  return { type: 'opened', available: true, ledger: ledger.where };
}

/**
 * Stores `count` pending deliveries (1 KB events) with the dispatcher stopped, through the
 * storage's fast path: a burst's backlog is in place before its window, which times its
 * dispatch alone.
 */
async function storeBacklog({ webhooks, storage }: Instance, count: number): Promise<void> {
  await webhooks.stop();
  await storage.fill(enqueueInputs(count));
}

/**
 * The wait before a window: requests held up by the previous window or by a fill clear
 * first. The host answers them at several times the offered rate, so a wait as long as the
 * fill does.
 */
function gap(command: Extract<HostCommand, { type: 'phases' }>, fillMs: number): number {
  return command.gapMs + fillMs;
}

async function timed(run: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

/** Busy and total CPU time of every core so far, ms. */
function machineCpu(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

/** The machine's busy share since `start`: a host delayed while the machine is saturated waits for a CPU, not for its own work. */
function machineCpuBusySince(start: { busy: number; total: number }): number {
  const end = machineCpu();
  return end.total === start.total ? 0 : (end.busy - start.busy) / (end.total - start.total);
}

function writeTimes(samples: readonly number[]): { p50: number; p99: number; max: number } {
  const { p50, p99, max } = distribution(samples);
  const ms = (value: number): number => Math.round(value * 1000) / 1000;
  return { p50: ms(p50), p99: ms(p99), max: ms(max) };
}

function readLoopDelay(): LoopDelay {
  const ms = (ns: number): number => Math.round(ns / 1000) / 1000;
  return { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) };
}

async function phases(command: Extract<HostCommand, { type: 'phases' }>): Promise<HostPhases> {
  const current = instance;
  if (current === null) throw new Error('phases: not open');
  const { webhooks } = current;
  const windows: PhaseWindow[] = [];
  let burst: HostPhases['burst'] | null = null;
  for (const phase of command.order) {
    let fillMs = 0;
    let startMs = 0;
    const before = await webhooks.metrics();
    if (phase === 'burst') {
      fillMs = await timed(() => storeBacklog(current, command.deliveries));
      await sleep(gap(command, fillMs));
      // A host starts its dispatcher once, at boot (a worker thread is spawned then), not for
      // each burst: the window opens once the dispatcher runs again.
      startMs = await timed(() => webhooks.start());
    } else {
      await sleep(gap(command, 0));
    }
    loopDelay.reset();
    ledgerWriteMs = [];
    const utilization = perfHooks.eventLoopUtilization();
    const machine = machineCpu();
    const startAt = now();
    if (phase === 'idle') {
      await sleep(command.idleMs);
    } else {
      await webhooks.drain({ timeoutMs: 300_000 });
      const after = await webhooks.metrics();
      const succeeded = after.deliveriesSucceeded - before.deliveriesSucceeded;
      burst = { deliveries: command.deliveries, succeeded, elapsedMs: now() - startAt, startMs, fillMs };
    }
    windows.push({
      phase,
      startAt,
      endAt: now(),
      loopDelayMs: readLoopDelay(),
      ledgerWriteMs: writeTimes(ledgerWriteMs),
      loopUtilization: perfHooks.eventLoopUtilization(utilization).utilization,
      machineCpuBusy: machineCpuBusySince(machine),
    });
  }
  if (burst === null) throw new Error('phases: the order has no burst');
  return { type: 'phases', windows, burst };
}

async function close(): Promise<void> {
  const closing = [ledger?.close(), instance?.close()];
  ledger = null;
  instance = null;
  // Both, even when one fails: a PostgreSQL trial drops its schemas here.
  const outcomes = await Promise.allSettled(closing);
  for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
}

serveCommands<HostCommand>(async (command) => {
  switch (command.type) {
    case 'open':
      return open();
    case 'phases':
      return phases(command);
    case 'close':
      await close();
      return { type: 'closed' };
    case 'exit':
      await close().catch(() => undefined);
      server.close();
      process.exit(0);
  }
});

server.listen(0, '127.0.0.1', () => {
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port } satisfies HostReady);
});
