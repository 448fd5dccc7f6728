/**
 * One backlog trial in a fresh process (so RSS is this trial's alone): fill a storage with
 * a stored log (bench/log-fill.ts: delivered deliveries with their events and attempts, all
 * past retention, and a pending backlog), then time each operation of
 * {@link operationNames} over it, one after the other, retention's purge last since it
 * removes what the others read.
 *
 * With `reference`, a second storage of the same kind is filled with that smaller log
 * after the RSS reading, and every operation alternates between the two, one call on each
 * per pair (the order flipped from pair to pair): the growth figures are taken from these
 * pairs, so a slow spell of the machine lands on both sides of a ratio instead of on one
 * size's process.
 *
 * Run by bench/suites/backlog.ts with a {@link BacklogRequest} as JSON in argv[2]; answers
 * with one {@link BacklogResult} over IPC.
 */
import { createWebhooks, type Webhooks } from '../src/create-webhooks.js';
import { encodeCursor } from '../src/storage/shared/cursor.js';
import { retentionAgeMs, type LogLayout, type LogPlan } from './log-fill.js';
import { collectGarbage } from './stats.js';
import { storageEntry, type BenchStorageInstance } from './storages.js';
import { purgeBatch, type BacklogRequest, type BacklogResult, type LogSize, type OperationName, type OperationTimes, operationNames } from './backlog-trial.js';

const pageSize = 100;
const claimLimit = 100;
const warmups: Record<OperationName, number> = { claim: 3, stats: 3, list: 3, deep: 3, undelivered: 3, purge: 1 };

/** A filled storage and what the operations need to address it. */
interface Target {
  instance: BenchStorageInstance;
  webhooks: Webhooks;
  plan: LogPlan;
  layout: LogLayout;
}

/** An operation's call: how many items it returned or removed, and whether that is all it should have. */
type Operation = (target: Target) => Promise<{ items: number; complete: boolean }>;

const operations: Record<OperationName, Operation> = {
  async claim({ instance }) {
    const claimed = await instance.storage.claimDue({ limit: claimLimit, leaseMs: 60_000, now: Date.now() });
    return { items: claimed.length, complete: claimed.length === claimLimit };
  },
  async stats({ instance, plan }) {
    const stats = await instance.storage.stats(Date.now());
    return { items: 1, complete: stats.pending === plan.pending && stats.delivered === plan.delivered };
  },
  async list({ webhooks }) {
    const page = await webhooks.deliveries.list({ limit: pageSize });
    return { items: page.items.length, complete: page.items.length === pageSize };
  },
  async deep({ webhooks, layout }) {
    const page = await webhooks.deliveries.list({ limit: pageSize, cursor: encodeCursor('deliveries', layout.middleDeliveryId) });
    return { items: page.items.length, complete: page.items.length === pageSize && page.items.every((d) => d.id < layout.middleDeliveryId) };
  },
  async undelivered({ webhooks }) {
    const page = await webhooks.deliveries.undelivered({ limit: pageSize });
    return { items: page.items.length, complete: page.items.length === pageSize };
  },
  async purge({ instance, plan }) {
    // Everything delivered is a month old: a day of retention puts all of it past.
    const cutoff = plan.now - retentionAgeMs / 30;
    const removed = await instance.storage.purgeRetention({ deliveredBefore: cutoff, deadBefore: cutoff, eventsBefore: cutoff, limit: purgeBatch, now: Date.now() });
    return { items: removed.deliveries + removed.attempts + removed.events, complete: removed.deliveries === purgeBatch };
  },
};

/** A storage of the request's kind holding a log of `size`, to one subscription. */
async function filledTarget(request: BacklogRequest, size: LogSize): Promise<{ target: Target; fillMs: number; rssBeforeBytes: number }> {
  const instance = await storageEntry(request.storage).create();
  try {
    const webhooks = createWebhooks({ storage: instance.storage, retention: false, security: { allowPrivateNetworks: true } });
    const subscription = await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/unused', eventTypes: ['*'] });
    collectGarbage();
    const rssBeforeBytes = process.memoryUsage().rss;
    const plan: LogPlan = { subscriptionId: subscription.id, ...size, now: Date.now() };
    const fillStart = performance.now();
    const layout = await instance.fillLog(plan);
    const fillMs = performance.now() - fillStart;
    const stats = await instance.storage.stats(Date.now());
    if (stats.pending !== size.pending || stats.delivered !== size.delivered) {
      throw new Error(`expected ${size.delivered} delivered and ${size.pending} pending deliveries, the storage has ${stats.delivered} and ${stats.pending}`);
    }
    return { target: { instance, webhooks, plan, layout }, fillMs, rssBeforeBytes };
  } catch (error) {
    await instance.dispose().catch(() => undefined);
    throw error;
  }
}

async function timed(operation: Operation, target: Target): Promise<[number, { items: number; complete: boolean }]> {
  const start = performance.now();
  const outcome = await operation(target);
  return [performance.now() - start, outcome];
}

/** How many timed calls of `name`: a purge takes only as many batches as the smaller log holds. */
function callsOf(name: OperationName, request: BacklogRequest): number {
  if (name === 'claim') return request.claims;
  if (name !== 'purge') return request.rounds;
  const batches = Math.floor((request.reference ?? request).delivered / purgeBatch) - warmups.purge;
  return Math.max(1, Math.min(request.purgeBatches, batches));
}

/** Times `name` on `ours`, in pairs with `reference` when there is one (the order flipped each pair). */
async function timeOperation(name: OperationName, request: BacklogRequest, ours: Target, reference: Target | null): Promise<OperationTimes> {
  const operation = operations[name];
  const times: OperationTimes = { ms: [], items: [], complete: [], reference: reference === null ? null : { ms: [], items: [], complete: [] } };
  const calls = callsOf(name, request);
  for (let i = 0; i < warmups[name] + calls; i++) {
    let theirs: Awaited<ReturnType<typeof timed>> | null = null;
    let mine: Awaited<ReturnType<typeof timed>>;
    if (reference !== null && i % 2 === 1) {
      theirs = await timed(operation, reference);
      mine = await timed(operation, ours);
    } else {
      mine = await timed(operation, ours);
      if (reference !== null) theirs = await timed(operation, reference);
    }
    if (i < warmups[name]) continue;
    times.ms.push(mine[0]);
    times.items.push(mine[1].items);
    times.complete.push(mine[1].complete);
    if (theirs !== null) {
      times.reference!.ms.push(theirs[0]);
      times.reference!.items.push(theirs[1].items);
      times.reference!.complete.push(theirs[1].complete);
    }
  }
  return times;
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as BacklogRequest;
  const { target, fillMs, rssBeforeBytes } = await filledTarget(request, request);
  let reference: Target | null = null;
  try {
    collectGarbage();
    const memory = process.memoryUsage();
    const storedBytes = await target.instance.storedBytes();
    // Filled after the RSS reading, which stays the trial's own.
    if (request.reference !== undefined) reference = (await filledTarget(request, request.reference)).target;
    const timings = {} as Record<OperationName, OperationTimes>;
    for (const name of operationNames) {
      const start = performance.now();
      timings[name] = await timeOperation(name, request, target, reference);
      process.stderr.write(`[bench] backlog: ${request.storage}/${request.delivered} ${name} timed in ${((performance.now() - start) / 1000).toFixed(1)} s\n`);
    }
    const result: BacklogResult = {
      type: 'result',
      storage: request.storage,
      delivered: request.delivered,
      pending: request.pending,
      fillMs,
      rssBeforeBytes,
      rssAfterBytes: memory.rss,
      heapUsedAfterBytes: memory.heapUsed,
      storedBytes,
      operations: timings,
    };
    await new Promise<void>((resolve, reject) => process.send!(result, (error: Error | null) => (error ? reject(error) : resolve())));
  } finally {
    // Both, even when one fails: a PostgreSQL trial drops its schemas here.
    const disposed = await Promise.allSettled([reference?.instance.dispose(), target.instance.dispose()]);
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
