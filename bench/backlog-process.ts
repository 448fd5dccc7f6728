/**
 * One backlog trial in a fresh process (so RSS is this trial's alone): fill a storage
 * with N pending deliveries (N events of 1 KB, one subscription), then time
 * `storage.claimDue({ limit: 100, leaseMs: 60000, now })` batch by batch.
 *
 * With `referencePending`, a second storage of the same kind is filled with that many
 * after the RSS reading, and the claims alternate between the two, one of each per pair
 * (the order flipped from pair to pair): the growth figure is taken from these pairs, so a
 * slow spell of the machine lands on both sides of a ratio instead of on one size's process.
 *
 * Run by bench/suites/backlog.ts with `{ storage, pending, claims }` as JSON in argv[2];
 * answers with one {@link BacklogResult} over IPC.
 */
import { createWebhooks } from '../src/create-webhooks.js';
import { enqueueInputs } from './payload.js';
import { storageEntry, type BenchStorageInstance } from './storages.js';
import { collectGarbage } from './stats.js';

export interface BacklogRequest {
  storage: string;
  pending: number;
  claims: number;
  /** Pending deliveries of a second storage whose claims alternate with the first's. */
  referencePending?: number;
}

export interface BacklogResult {
  type: 'result';
  storage: string;
  pending: number;
  fillMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  heapUsedAfterBytes: number;
  storedBytes: number | null;
  /** Wall ms of each timed claim of 100. */
  claimMs: number[];
  claimedPerBatch: number[];
  /** With `referencePending`: wall ms of the reference's claims, pair by pair with `claimMs`. */
  referenceClaimMs: number[] | null;
  referenceClaimedPerBatch: number[] | null;
}

const claimLimit = 100;
const warmupClaims = 3;

/** A storage of the request's kind with `pending` deliveries of 1 KB events to one subscription. */
async function filledStorage(
  request: BacklogRequest,
  pending: number,
): Promise<{ instance: BenchStorageInstance; fillMs: number; rssBeforeBytes: number }> {
  const instance = await storageEntry(request.storage).create();
  try {
    const webhooks = createWebhooks({ storage: instance.storage, security: { allowPrivateNetworks: true } });
    await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/unused', eventTypes: ['*'] });
    collectGarbage();
    const rssBeforeBytes = process.memoryUsage().rss;
    const fillStart = performance.now();
    await instance.fill(enqueueInputs(pending));
    const fillMs = performance.now() - fillStart;
    const stats = await instance.storage.stats(Date.now());
    if (stats.pending !== pending) throw new Error(`expected ${pending} pending deliveries, the storage has ${stats.pending}`);
    return { instance, fillMs, rssBeforeBytes };
  } catch (error) {
    await instance.dispose().catch(() => undefined);
    throw error;
  }
}

/** Times one claim of {@link claimLimit}; returns [ms, deliveries claimed]. */
async function timedClaim(instance: BenchStorageInstance): Promise<[number, number]> {
  const now = Date.now();
  const start = performance.now();
  const claimed = await instance.storage.claimDue({ limit: claimLimit, leaseMs: 60_000, now });
  return [performance.now() - start, claimed.length];
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as BacklogRequest;
  const { instance, fillMs, rssBeforeBytes } = await filledStorage(request, request.pending);
  let reference: BenchStorageInstance | null = null;
  try {
    collectGarbage();
    const memory = process.memoryUsage();
    // Filled after the RSS reading, which stays the trial's own.
    if (request.referencePending !== undefined) reference = (await filledStorage(request, request.referencePending)).instance;
    const claimMs: number[] = [];
    const claimedPerBatch: number[] = [];
    const referenceClaimMs: number[] = [];
    const referenceClaimedPerBatch: number[] = [];
    for (let i = 0; i < warmupClaims + request.claims; i++) {
      let ours: [number, number];
      let theirs: [number, number] | null = null;
      if (reference !== null && i % 2 === 1) {
        theirs = await timedClaim(reference);
        ours = await timedClaim(instance);
      } else {
        ours = await timedClaim(instance);
        if (reference !== null) theirs = await timedClaim(reference);
      }
      if (i < warmupClaims) continue;
      claimMs.push(ours[0]);
      claimedPerBatch.push(ours[1]);
      if (theirs !== null) {
        referenceClaimMs.push(theirs[0]);
        referenceClaimedPerBatch.push(theirs[1]);
      }
    }
    const result: BacklogResult = {
      type: 'result',
      storage: request.storage,
      pending: request.pending,
      fillMs,
      rssBeforeBytes,
      rssAfterBytes: memory.rss,
      heapUsedAfterBytes: memory.heapUsed,
      storedBytes: await instance.storedBytes(),
      claimMs,
      claimedPerBatch,
      referenceClaimMs: reference === null ? null : referenceClaimMs,
      referenceClaimedPerBatch: reference === null ? null : referenceClaimedPerBatch,
    };
    await new Promise<void>((resolve, reject) => process.send!(result, (error: Error | null) => (error ? reject(error) : resolve())));
  } finally {
    // Both, even when one fails: a PostgreSQL trial drops its schemas here.
    const disposed = await Promise.allSettled([reference?.dispose(), instance.dispose()]);
    for (const outcome of disposed) if (outcome.status === 'rejected') throw outcome.reason;
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
