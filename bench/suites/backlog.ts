/**
 * Backlog scale: RSS and the time of one `claimDue` of 100 with 10k, 100k and
 * 1,000,000 pending deliveries (capped per storage), each size in a fresh child
 * process (bench/backlog-process.ts). Claim cost must stay flat as the backlog grows:
 * the growth figure compares the largest backlog with the smallest, in pairs of claims
 * taken side by side in the largest size's process, where a second storage holds the
 * smallest backlog. Medians from separate processes minutes apart swung the ratio
 * between 0.9× and 2.3× on the same code (the 10k median alone 0.22–0.46 ms over runs).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BacklogRequest, BacklogResult } from '../backlog-process.js';
import type { BenchContext } from '../context.js';
import { tsxLoader } from '../receiver.js';
import { distribution, median } from '../stats.js';
import type { StorageEntry } from '../storages.js';

const script = fileURLToPath(new URL('../backlog-process.ts', import.meta.url));

function runChild(request: BacklogRequest): Promise<BacklogResult> {
  return new Promise((resolve, reject) => {
    // A heap large enough for a million 1 KB events held in memory; --expose-gc so
    // RSS is read after a full collection.
    const child = fork(script, [JSON.stringify(request)], {
      execArgv: ['--max-old-space-size=8192', '--expose-gc', '--import', tsxLoader],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: BacklogResult | null = null;
    child.on('message', (message: BacklogResult) => {
      if (message.type === 'result') result = message;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (result !== null) resolve(result);
      else reject(new Error(`backlog trial ${request.storage}/${request.pending} exited with code ${String(code)} and no result`));
    });
  });
}

function label(pending: number): string {
  return pending >= 1_000_000 ? `${pending / 1_000_000}M` : pending >= 1000 ? `${pending / 1000}k` : String(pending);
}

async function runStorage(context: BenchContext, entry: StorageEntry): Promise<void> {
  const sizes = context.sizes.backlog;
  const cap = entry.maxBacklog[sizes.useStorageCap];
  const list = sizes.sizes.filter((n) => n <= cap);
  const results: Array<{ result: BacklogResult; p50: number; p99: number }> = [];
  for (const [index, pending] of list.entries()) {
    // The largest size's process also holds the smallest backlog, for the growth figure.
    const referencePending = list.length >= 2 && index === list.length - 1 ? list[0] : undefined;
    const alongside = referencePending === undefined ? '' : `, claims paired with a second storage of ${label(referencePending)}`;
    context.log(`backlog: ${entry.name}, ${label(pending)} pending${alongside}`);
    const result = await runChild({
      storage: entry.name,
      pending,
      claims: sizes.claims,
      ...(referencePending === undefined ? {} : { referencePending }),
    });
    const claims = distribution(result.claimMs);
    results.push({ result, p50: claims.p50, p99: claims.p99 });
    const valid = [...result.claimedPerBatch, ...(result.referenceClaimedPerBatch ?? [])].every((n) => n === 100);
    const rssGrowth = result.rssAfterBytes - result.rssBeforeBytes;
    context.add({
      id: `backlog.${entry.name}.${label(pending)}.claim`,
      section: 'backlog',
      storage: entry.name,
      title: `claimDue(100) median, ${entry.name}, ${label(pending)} pending`,
      unit: 'ms',
      better: 'lower',
      value: claims.p50,
      valid,
      ...(valid ? {} : { note: `a claim returned fewer than 100: ${result.claimedPerBatch.join(',')}` }),
      detail: { claims: result.claimMs.length, p99Ms: claims.p99, maxMs: claims.max, fillSeconds: Math.round(result.fillMs / 100) / 10 },
    });
    context.add({
      id: `backlog.${entry.name}.${label(pending)}.rss`,
      section: 'backlog',
      storage: entry.name,
      title: `RSS growth over the fill, ${entry.name}, ${label(pending)} pending`,
      unit: 'MB',
      better: 'lower',
      value: rssGrowth / 1e6,
      detail: {
        bytesPerPendingDelivery: Math.round(rssGrowth / pending),
        rssAfterMB: Math.round(result.rssAfterBytes / 1e6),
        heapUsedAfterMB: Math.round(result.heapUsedAfterBytes / 1e6),
        storedMB: result.storedBytes === null ? null : Math.round(result.storedBytes / 1e6),
      },
    });
  }
  if (results.length >= 2) {
    const smallest = results[0]!;
    const largest = results[results.length - 1]!;
    const paired = largest.result.claimMs;
    const reference = largest.result.referenceClaimMs;
    if (reference === null || reference.length !== paired.length) throw new Error('the largest backlog trial returned no paired reference claims');
    const small = label(smallest.result.pending);
    const large = label(largest.result.pending);
    context.add({
      id: `backlog.${entry.name}.claim-growth`,
      section: 'backlog',
      storage: entry.name,
      title: `claimDue(100) at ${large} vs ${small} pending, ${entry.name}, paired in one process`,
      unit: 'ms',
      better: 'lower',
      // Nearest-rank medians, as the per-size figures: this value is the largest size's row.
      value: largest.p50,
      valid: largest.result.claimedPerBatch.every((n) => n === 100) && largest.result.referenceClaimedPerBatch!.every((n) => n === 100),
      limit: {
        kind: 'reference',
        label: `${small} pending, claims alternating`,
        value: distribution(reference).p50,
        // The median of the pairs' ratios: each pair's two claims ran back to back.
        ratio: median(paired.map((ms, i) => ms / reference[i]!)),
        // "Cost must stay flat": within 2× across a 100× larger backlog.
        target: { on: 'ratio', op: '<=', value: 2 },
      },
      detail: {
        pairs: paired.length,
        pairedP99Ms: { [small]: distribution(reference).p99, [large]: distribution(paired).p99 },
        // The same comparison from the separate processes of each size, for reference.
        separateProcessesMedianMs: { [small]: smallest.p50, [large]: largest.p50 },
        separateProcessesRatio: largest.p50 / smallest.p50,
      },
    });
  }
}

export async function runBacklog(context: BenchContext): Promise<void> {
  for (const entry of context.storages) {
    try {
      await runStorage(context, entry);
    } catch (error) {
      context.fail('backlog', entry.name, error);
    }
  }
}
