/**
 * Backlog scale: a stored log of 10k, 1M and 10M delivered deliveries (capped per storage),
 * each with its event and attempt, and a pending backlog beside it; over it, the time of a
 * claim of 100, `stats()`, the delivery log's first page and a page deep in it,
 * `undelivered()`, and a batch of retention's purge. Each size runs in a fresh child
 * process (bench/backlog-process.ts), for its RSS and its fill time.
 *
 * The cost of every operation must stay flat as the log grows: each growth figure compares
 * the largest log with the smallest, in pairs of calls taken side by side in the largest
 * size's process, where a second storage holds the smallest log. Medians from separate
 * processes minutes apart swung the claim's ratio between 0.9× and 2.3× on the same code.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { operationNames, purgeBatch, type BacklogRequest, type BacklogResult, type LogSize, type OperationName, type OperationTimes } from '../backlog-trial.js';
import type { BenchContext } from '../context.js';
import { tsxLoader } from '../receiver.js';
import { distribution, median } from '../stats.js';
import type { StorageEntry } from '../storages.js';

const script = fileURLToPath(new URL('../backlog-process.ts', import.meta.url));

function runChild(request: BacklogRequest): Promise<BacklogResult> {
  return new Promise((resolve, reject) => {
    // A heap large enough for a million 1 KB events and their records held in memory;
    // --expose-gc so RSS is read after a full collection.
    const child = fork(script, [JSON.stringify(request)], {
      execArgv: ['--max-old-space-size=12288', '--expose-gc', '--import', tsxLoader],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: BacklogResult | null = null;
    child.on('message', (message: BacklogResult) => {
      if (message.type === 'result') result = message;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (result !== null) resolve(result);
      else reject(new Error(`backlog trial ${request.storage}/${request.delivered} exited with code ${String(code)} and no result`));
    });
  });
}

/** `10k`, `1M`. */
export function label(count: number): string {
  return count >= 1_000_000 ? `${count / 1_000_000}M` : count >= 1000 ? `${count / 1000}k` : String(count);
}

const titles: Record<OperationName, string> = {
  claim: 'claimDue(100)',
  stats: 'stats()',
  list: 'deliveries.list() first page of 100',
  deep: 'deliveries.list() page of 100 after a cursor mid-log',
  undelivered: 'deliveries.undelivered() first page of 100',
  purge: `purgeRetention() batch of ${purgeBatch}`,
};

function sizeOf(delivered: number, sizes: BenchContext['sizes']['backlog']): LogSize {
  return { delivered, pending: Math.max(sizes.minPending, Math.round(delivered * sizes.pendingShare)) };
}

function describe(size: LogSize): string {
  return `${label(size.delivered)} delivered + ${label(size.pending)} pending`;
}

/** The per-size figures of one process: each operation's median, the purge's rate, the fill, RSS. */
function addSizeFigures(context: BenchContext, entry: StorageEntry, result: BacklogResult): void {
  const name = `backlog.${entry.name}.${label(result.delivered)}`;
  for (const operation of operationNames) {
    const times = result.operations[operation];
    const calls = distribution(times.ms);
    const valid = times.complete.every(Boolean);
    const detail = { calls: times.ms.length, p50Ms: calls.p50, p99Ms: calls.p99, maxMs: calls.max };
    const note = valid ? {} : { note: `a call did not do all its work (items: ${times.items.join(',')})` };
    if (operation === 'purge') {
      const rows = times.items.reduce((a, b) => a + b, 0);
      const ms = times.ms.reduce((a, b) => a + b, 0);
      const rowsPerSecond = (rows / ms) * 1000;
      context.add({
        id: `${name}.purge`,
        section: 'backlog',
        storage: entry.name,
        title: `retention purge rate (${titles.purge}), ${entry.name}, ${describe(result)}`,
        unit: 'rows/s',
        better: 'higher',
        value: rowsPerSecond,
        valid,
        ...note,
        // A delivered delivery goes with its attempt and its event: three rows a delivery.
        detail: { ...detail, rowsRemoved: rows },
      });
      continue;
    }
    context.add({
      id: `${name}.${operation}`,
      section: 'backlog',
      storage: entry.name,
      title: `${titles[operation]} median, ${entry.name}, ${describe(result)}`,
      unit: 'ms',
      better: 'lower',
      value: calls.p50,
      valid,
      ...note,
      detail,
    });
  }
  const rows = 3 * result.delivered + 2 * result.pending;
  context.add({
    id: `${name}.fill`,
    section: 'backlog',
    storage: entry.name,
    title: `fill time (bulk, bypassing publish), ${entry.name}, ${describe(result)}`,
    unit: 's',
    better: 'lower',
    value: result.fillMs / 1000,
    detail: {
      rows,
      rowsPerSecond: Math.round(rows / (result.fillMs / 1000)),
      storedMB: result.storedBytes === null ? null : Math.round(result.storedBytes / 1e6),
    },
  });
  const rssGrowth = result.rssAfterBytes - result.rssBeforeBytes;
  context.add({
    id: `${name}.rss`,
    section: 'backlog',
    storage: entry.name,
    title: `RSS growth over the fill, ${entry.name}, ${describe(result)}`,
    unit: 'MB',
    better: 'lower',
    value: rssGrowth / 1e6,
    detail: {
      bytesPerDelivery: Math.round(rssGrowth / (result.delivered + result.pending)),
      rssAfterMB: Math.round(result.rssAfterBytes / 1e6),
      heapUsedAfterMB: Math.round(result.heapUsedAfterBytes / 1e6),
      storedMB: result.storedBytes === null ? null : Math.round(result.storedBytes / 1e6),
    },
  });
}

/** One operation's growth figure: the largest log against the smallest, from the pairs of the largest's process. */
function addGrowthFigure(context: BenchContext, entry: StorageEntry, operation: OperationName, smallest: BacklogResult, largest: BacklogResult): void {
  const times: OperationTimes = largest.operations[operation];
  const reference = times.reference;
  if (reference === null || reference.ms.length !== times.ms.length) throw new Error(`the largest backlog trial returned no paired ${operation} calls`);
  const small = label(smallest.delivered);
  const large = label(largest.delivered);
  const ours = distribution(times.ms);
  const theirs = distribution(reference.ms);
  context.add({
    id: `backlog.${entry.name}.${operation}-growth`,
    section: 'backlog',
    storage: entry.name,
    title: `${titles[operation]} at ${large} vs ${small} delivered, ${entry.name}, paired in one process`,
    unit: 'ms',
    better: 'lower',
    // Nearest-rank medians, as the per-size figures: this value is the largest size's row.
    value: ours.p50,
    valid: times.complete.every(Boolean) && reference.complete.every(Boolean),
    limit: {
      kind: 'reference',
      label: `${describe(smallest)}, calls alternating`,
      value: theirs.p50,
      // The median of the pairs' ratios: each pair's two calls ran back to back.
      ratio: median(times.ms.map((ms, i) => ms / reference.ms[i]!)),
      // "Cost must stay flat": within 2× across a 1000× larger log.
      target: { on: 'ratio', op: '<=', value: 2 },
    },
    detail: {
      pairs: times.ms.length,
      pairedP99Ms: { [small]: theirs.p99, [large]: ours.p99 },
      // The same comparison from the separate processes of each size, for reference.
      separateProcessesMedianMs: { [small]: distribution(smallest.operations[operation].ms).p50, [large]: ours.p50 },
      separateProcessesRatio: ours.p50 / distribution(smallest.operations[operation].ms).p50,
    },
  });
}

async function runStorage(context: BenchContext, entry: StorageEntry): Promise<void> {
  const sizes = context.sizes.backlog;
  const cap = entry.maxBacklog[sizes.useStorageCap];
  const list = sizes.sizes.filter((n) => n <= cap).map((n) => sizeOf(n, sizes));
  const results: BacklogResult[] = [];
  for (const [index, size] of list.entries()) {
    // The largest size's process also holds the smallest log, for the growth figures.
    const reference = list.length >= 2 && index === list.length - 1 ? list[0] : undefined;
    const alongside = reference === undefined ? '' : `, calls paired with a second storage of ${describe(reference)}`;
    const start = performance.now();
    context.log(`backlog: ${entry.name}, ${describe(size)}${alongside}`);
    const result = await runChild({
      storage: entry.name,
      ...size,
      claims: sizes.claims,
      rounds: sizes.rounds,
      purgeBatches: sizes.purgeBatches,
      ...(reference === undefined ? {} : { reference }),
    });
    context.log(`backlog: ${entry.name}, ${describe(size)}: filled in ${(result.fillMs / 1000).toFixed(1)} s, done in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    results.push(result);
    addSizeFigures(context, entry, result);
  }
  if (results.length >= 2) {
    for (const operation of operationNames) addGrowthFigure(context, entry, operation, results[0]!, results[results.length - 1]!);
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
