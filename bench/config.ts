/**
 * Command line and sizes of `npm run bench`.
 *
 *   npm run bench                     full run (10 minutes, and the backlog section's 10 M logs beside: see bench/README.md)
 *   npm run bench -- --quick          reduced run (under a minute)
 *   npm run bench -- --tiny           seconds; what the smoke test runs (or BENCH_SIZE=tiny)
 *   --out <dir>                       where latest.json, latest.md, latency.svg go (default bench/results)
 *   --only signing,dispatch,…         sections to run (signing, dispatch, publish, tenants, end-to-end, backlog, retention, host-impact, ordering, peers)
 *   --storages memory,sqlite,…        storages to run (default: every one discovered)
 *   --receiver raw|http               the loopback receiver's server (default raw: node:net)
 */
import { fileURLToPath } from 'node:url';
import type { Section } from './report.js';
import type { ReceiverKind } from './receiver.js';

export type Mode = 'full' | 'quick' | 'tiny';

export const allSections: readonly Section[] = ['signing', 'dispatch', 'publish', 'tenants', 'end-to-end', 'backlog', 'retention', 'host-impact', 'ordering', 'peers'];

/**
 * Sizes at a storage factor of 1 (memory). Durable storages scale publish counts down
 * by their `sizeFactor`; the dispatch backlog and rounds and the end-to-end scenarios
 * are the same for every storage.
 */
export interface Sizes {
  signing: { rounds: number; batchMs: number; warmupMs: number; messages: number };
  /** Backlog drained per dispatch trial, rounds of (limit, each storage, peer). */
  dispatch: { events: number; peerEvents: number; rounds: number; concurrency: number };
  /** Sequential single publishes (half measured against bare enqueue), then batches of concurrent ones. */
  publish: { single: number; batch: number; batchSize: number };
  /**
   * Subscriptions of the large store (2 per tenant, the same for every storage), sequential
   * enqueues and batch events per store (scaled per storage), `batchSize` in flight, rounds.
   */
  tenants: { subscriptions: number; single: number; batch: number; batchSize: number; rounds: number };
  /** Steady: `rate` events/s for `seconds`; burst: `burst` events published at once. */
  endToEnd: { rate: number; seconds: number; burst: number };
  /**
   * Delivered deliveries stored (with their events and attempts; capped per storage), and
   * beside them a pending backlog of `pendingShare` of that, at least `minPending`; claims
   * of 100, calls of each other operation, and retention batches (fewer: at 10 M one takes
   * seconds) timed at each size.
   */
  backlog: { sizes: number[]; pendingShare: number; minPending: number; claims: number; rounds: number; purgeBatches: number; useStorageCap: 'full' | 'quick' };
  /**
   * Delivered deliveries of the history past retention (memory's own count, smaller: it is
   * held in the bench's heap), the purge window, single batches timed, and the dispatch
   * trials with and without purging: backlog, rounds, concurrency, the catching-up trial's window.
   * A history must outlast the shipped task's first run (20 batches of 500) and the timed
   * batches, or the purge-rate window finds nothing left (measurePurge refuses to run then).
   */
  retention: {
    deliveries: number;
    memoryDeliveries: number;
    purgeWindowMs: number;
    timedBatches: number;
    events: number;
    rounds: number;
    concurrency: number;
    /** A catching-up trial's cut: its dispatch may be too slow to drain in the section's time. */
    catchUpWindowMs: number;
  };
  /**
   * The host's ledger API loaded at `rate` requests/s while idle for `idleMs` and while
   * `deliveries` dispatch (the same for every storage), `rounds` per dispatcher mode;
   * `gapMs` before each window, `warmupMs` of load before the first.
   */
  hostImpact: { deliveries: number; rate: number; rounds: number; idleMs: number; gapMs: number; warmupMs: number; concurrency: number };
  /**
   * Per-key ordering: a backlog of `events` spread over `keys` ordering keys (seeded), paired
   * with the same backlog published without a key, `rounds` times at `concurrency` (the
   * dispatch section's backlog, rounds and concurrency); and `hotKeyEvents` on a single key.
   */
  ordering: { events: number; keys: number; hotKeyEvents: number; rounds: number; concurrency: number };
  /**
   * What a user builds instead (graphile-worker on PostgreSQL, p-queue on memory): a backlog of
   * `events` drained by ours and by the peer, beside each other, `rounds` times, at the dispatch
   * section's concurrency.
   */
  peers: { events: number; rounds: number };
}

export const sizesByMode: Record<Mode, Sizes> = {
  full: {
    signing: { rounds: 41, batchMs: 20, warmupMs: 300, messages: 256 },
    dispatch: { events: 20_000, peerEvents: 2_000, rounds: 5, concurrency: 50 },
    publish: { single: 20_000, batch: 20_000, batchSize: 1_000 },
    tenants: { subscriptions: 100_000, single: 20_000, batch: 20_000, batchSize: 1_000, rounds: 10 },
    endToEnd: { rate: 200, seconds: 5, burst: 2_000 },
    backlog: { sizes: [10_000, 1_000_000, 10_000_000], pendingShare: 0.1, minPending: 5_000, claims: 30, rounds: 15, purgeBatches: 15, useStorageCap: 'full' },
    retention: { deliveries: 500_000, memoryDeliveries: 100_000, purgeWindowMs: 6_000, timedBatches: 30, events: 20_000, rounds: 5, concurrency: 50, catchUpWindowMs: 3_000 },
    hostImpact: { deliveries: 20_000, rate: 400, rounds: 4, idleMs: 3_000, gapMs: 400, warmupMs: 500, concurrency: 50 },
    ordering: { events: 20_000, keys: 1_000, hotKeyEvents: 2_000, rounds: 5, concurrency: 50 },
    peers: { events: 20_000, rounds: 5 },
  },
  quick: {
    signing: { rounds: 15, batchMs: 10, warmupMs: 150, messages: 256 },
    dispatch: { events: 4_000, peerEvents: 600, rounds: 1, concurrency: 50 },
    publish: { single: 3_000, batch: 3_000, batchSize: 1_000 },
    tenants: { subscriptions: 10_000, single: 3_000, batch: 3_000, batchSize: 1_000, rounds: 5 },
    endToEnd: { rate: 200, seconds: 1.5, burst: 500 },
    backlog: { sizes: [5_000, 50_000], pendingShare: 0.1, minPending: 5_000, claims: 20, rounds: 9, purgeBatches: 5, useStorageCap: 'quick' },
    retention: { deliveries: 100_000, memoryDeliveries: 40_000, purgeWindowMs: 3_000, timedBatches: 10, events: 2_000, rounds: 3, concurrency: 50, catchUpWindowMs: 1_500 },
    hostImpact: { deliveries: 5_000, rate: 400, rounds: 2, idleMs: 1_500, gapMs: 300, warmupMs: 500, concurrency: 50 },
    ordering: { events: 4_000, keys: 1_000, hotKeyEvents: 500, rounds: 1, concurrency: 50 },
    peers: { events: 4_000, rounds: 2 },
  },
  tiny: {
    signing: { rounds: 3, batchMs: 2, warmupMs: 10, messages: 16 },
    dispatch: { events: 200, peerEvents: 100, rounds: 1, concurrency: 50 },
    publish: { single: 200, batch: 200, batchSize: 100 },
    tenants: { subscriptions: 200, single: 200, batch: 200, batchSize: 100, rounds: 2 },
    endToEnd: { rate: 200, seconds: 0.25, burst: 50 },
    backlog: { sizes: [1_000, 2_000], pendingShare: 0.1, minPending: 1_000, claims: 3, rounds: 3, purgeBatches: 3, useStorageCap: 'quick' },
    retention: { deliveries: 30_000, memoryDeliveries: 15_000, purgeWindowMs: 300, timedBatches: 2, events: 200, rounds: 1, concurrency: 50, catchUpWindowMs: 1_000 },
    hostImpact: { deliveries: 500, rate: 200, rounds: 1, idleMs: 300, gapMs: 100, warmupMs: 200, concurrency: 50 },
    ordering: { events: 200, keys: 50, hotKeyEvents: 50, rounds: 1, concurrency: 50 },
    peers: { events: 200, rounds: 1 },
  },
};

export interface BenchOptions {
  mode: Mode;
  sizes: Sizes;
  outDir: string;
  sections: Section[];
  storages: string[] | undefined;
  receiver: ReceiverKind;
}

export const defaultOutDir = fileURLToPath(new URL('./results/', import.meta.url));

function listArg(value: string | undefined, flag: string): string[] {
  if (value === undefined || value.startsWith('--')) throw new Error(`Expected a comma-separated list after ${flag}`);
  return value.split(',').map((item) => item.trim()).filter(Boolean);
}

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  let mode: Mode = env.BENCH_SIZE === 'tiny' ? 'tiny' : env.BENCH_SIZE === 'quick' ? 'quick' : 'full';
  let outDir = defaultOutDir;
  let sections: Section[] = [...allSections];
  let storages: string[] | undefined;
  let receiver: ReceiverKind = 'raw';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') mode = 'quick';
    else if (arg === '--tiny') mode = 'tiny';
    else if (arg === '--full') mode = 'full';
    else if (arg === '--out') {
      const value = argv[++i];
      if (value === undefined) throw new Error('Expected a folder after --out');
      outDir = value;
    } else if (arg === '--only') {
      const names = listArg(argv[++i], '--only');
      for (const name of names) {
        if (!allSections.includes(name as Section)) throw new Error(`Unknown section "${name}"; expected some of ${allSections.join(', ')}`);
      }
      sections = names as Section[];
    } else if (arg === '--storages') {
      storages = listArg(argv[++i], '--storages');
    } else if (arg === '--receiver') {
      const value = argv[++i];
      if (value !== 'raw' && value !== 'http') throw new Error(`Expected --receiver raw or http, got ${String(value)}`);
      receiver = value;
    } else if (arg === '--help' || arg === '-h') {
      throw new Error('help');
    } else {
      throw new Error(`Unknown argument "${arg}"`);
    }
  }
  return { mode, sizes: sizesByMode[mode], outDir, sections, storages, receiver };
}

/** `n` scaled by a storage's size factor, at least `min`. */
export function scaled(n: number, factor: number, min = 50): number {
  return Math.max(Math.min(n, min), Math.round(n * factor));
}
