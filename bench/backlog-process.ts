/**
 * One backlog trial in a fresh process (so RSS is this trial's alone): fill a storage
 * with N pending deliveries (N events of 1 KB, one subscription), then time
 * `storage.claimDue({ limit: 100, leaseMs: 60000, now })` batch by batch.
 *
 * Run by bench/suites/backlog.ts with `{ storage, pending, claims }` as JSON in argv[2];
 * answers with one {@link BacklogResult} over IPC.
 */
import { createWebhooks } from '../src/create-webhooks.js';
import { enqueueInputs } from './payload.js';
import { storageEntry } from './storages.js';
import { collectGarbage } from './stats.js';

export interface BacklogRequest {
  storage: string;
  pending: number;
  claims: number;
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
}

const claimLimit = 100;
const warmupClaims = 3;

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as BacklogRequest;
  const entry = storageEntry(request.storage);
  const instance = await entry.create();
  try {
    const webhooks = createWebhooks({ storage: instance.storage, security: { allowPrivateNetworks: true } });
    await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/unused', eventTypes: ['*'] });
    collectGarbage();
    const rssBeforeBytes = process.memoryUsage().rss;
    const fillStart = performance.now();
    await instance.fill(enqueueInputs(request.pending));
    const fillMs = performance.now() - fillStart;
    collectGarbage();
    const memory = process.memoryUsage();
    const stats = await instance.storage.stats(Date.now());
    if (stats.pending !== request.pending) throw new Error(`expected ${request.pending} pending deliveries, the storage has ${stats.pending}`);
    const claimMs: number[] = [];
    const claimedPerBatch: number[] = [];
    for (let i = 0; i < warmupClaims + request.claims; i++) {
      const now = Date.now();
      const start = performance.now();
      const claimed = await instance.storage.claimDue({ limit: claimLimit, leaseMs: 60_000, now });
      const ms = performance.now() - start;
      if (i >= warmupClaims) {
        claimMs.push(ms);
        claimedPerBatch.push(claimed.length);
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
    };
    await new Promise<void>((resolve, reject) => process.send!(result, (error: Error | null) => (error ? reject(error) : resolve())));
  } finally {
    await instance.dispose();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
