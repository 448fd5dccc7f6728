/**
 * `latest.md`: the run's summary, the figures by section, the histogram, and how to reproduce.
 */
import { backlogMatrix } from './backlog-table.js';
import { markdownTable, type Figure, type RunInfo, type Section } from './report.js';

const sectionTitles: Record<Section, string> = {
  signing: 'Sign and verify (1 KB body)',
  dispatch: 'Dispatch throughput (loopback receiver in a separate process)',
  publish: 'publish() latency and batch throughput',
  tenants: 'Tenant-scoped fan-out (many tenants against a few)',
  'end-to-end': 'End-to-end latency (publish() → receiver got the body)',
  backlog: 'Backlog scale (a stored log of delivered deliveries with a pending backlog, 1 KB payloads)',
  retention: 'Retention at scale (purge rate against 10 M attempts a day; dispatch while purging)',
  'host-impact': 'Host impact (a ledger API in the same process and database, during a dispatch burst vs idle)',
  ordering: 'Per-key ordering (dispatch of an ordered backlog against the same backlog unordered; one hot key)',
  peers: 'Against what a user builds instead (graphile-worker on PostgreSQL; p-queue with no storage on memory)',
};

const sectionNotes: Record<Section, string> = {
  signing:
    'Interleaved rounds, medians; the ratio is the median of per-round ratios. Limit = bare node:crypto doing the same work ' +
    '(headers, timestamp window, HMAC-SHA256 + base64, `timingSafeEqual`, `JSON.parse`), its HMAC from `createHmac`; peer = the `standardwebhooks` package. ' +
    'Ours builds the HMAC from two one-shot `hash()` calls; the detail has a bare loop built the same way (`oursVsOneShotLoop`).',
  dispatch:
    'Ours: `start()` → `drain()` over a stored backlog, the same for every storage (claim, sign, post, settle), default undici transport, ' +
    'concurrency 50; every storage runs every round. Limit: `undici.request` loops over a Pool of 50 posting the same 1 KB bodies, ' +
    'run beside each trial of ours. Peer: 50 loops of `ky.post`, once a round. Rates count only distinct deliveries the receiver process ' +
    'reported; sender and receiver CPU shares are in the JSON detail.',
  publish:
    'Single: sequential `await publish()` with the dispatcher stopped (publish alone), one matching subscription. ' +
    'Reference: the storage\'s bare `enqueue()` of a prepared record, in alternating blocks. ' +
    '`floor`: fixed native work (compares of two cached 16 KB buffers) sized to publish\'s median, in a third block each round: ' +
    'its p99 is what this machine\'s own jitter does to any code that long. The p99 figure\'s detail has the garbage collections ' +
    'that started during the publish blocks and the minor page faults per publish. Batch: 1,000 publishes in flight at a time.',
  tenants:
    'Two storages of the same kind side by side: one with 100,000 subscriptions over 50,000 tenants (fewer in a quick run: see the note), ' +
    'two each, their filters a mix of exact types, `prefix.*` and `*`; the reference with 10 over 5 tenants. Each event is published for a ' +
    'random tenant of its store (`tenantId` set) and fans out to that tenant\'s 2 subscriptions in both. Timed: the storage\'s `enqueue()`, ' +
    'where the fan-out is looked up (publish()\'s own work does not depend on the subscriptions). Sequential blocks and batches of 1,000 in ' +
    'flight alternate between the two stores by round; each ratio is the median of the rounds\' ratios, large ÷ reference, target ≤ 1.5×. ' +
    'The batch figure is time per event (throughput\'s inverse); events/s are in the JSON detail.',
  'end-to-end':
    'Latency from just before `publish()` to the receiver process timestamping the fully arrived body, both on ' +
    '`performance.timeOrigin + performance.now()`. Limit: a bare `undici.request` post of the same body, timed the same way. ' +
    'The in-process `delivery:succeeded` `latencyMs` (ms clock, publish → 2xx at the sender) and the time `publish()` took to resolve ' +
    '(`publishResolvedMs`: a tail made by the storage commit, not the dispatch) are in the JSON detail.',
  backlog:
    'Each size in a fresh child process: the storage is filled in bulk (bypassing publish; SQLite and PostgreSQL by SQL in the adapters\' schema, ' +
    'memory through its adapter) with N delivered deliveries, each with its event and one attempt, all a month old, and a pending backlog of N/10 ' +
    '(at least the claims need). Timed: `claimDue` of 100, `stats()`, `deliveries.list()` first page and a page after a cursor in the middle of ' +
    'the log, `deliveries.undelivered()` first page, and `purgeRetention` batches of 500 (last: they remove what the others read). ' +
    'RSS is the process growth over the fill. Growth: in the largest size\'s process a second storage holds the smallest log, and every ' +
    'operation alternates between the two; the ratio is the median of the pairs\' ratios (the ratio of the separate processes\' medians is in the detail).',
  retention:
    'A history of delivered deliveries past every default cutoff (1–3 attempts each, 1 KB events), written by `INSERT … SELECT` ' +
    '(memory: claimed and settled). Purge rate: the real retention task with its runs 1 ms apart (its own pauses between batches kept), for a window or until half the history ' +
    'is gone, against what 10 M attempts a day bring with their deliveries and events in the same mix (the ratio is the headroom). ' +
    'The task paces itself to a twentieth of the process\'s time: each batch that leaves more is followed by a pause of 19 times its own time, and a run ' +
    'that stops on its budget by at least 250 ms (at most `intervalMs`). Default pacing: what the first run removes, times the runs of a day while behind. ' +
    'Dispatch: `start()` → `drain()` of a fresh backlog ' +
    'with the task purging the history against `retention: false`, after one untimed drain, in rounds of three trials; steady: runs as far apart as purges twice what ' +
    '10 M attempts a day need (from the first run\'s size), catch-up: runs 10 ms apart. Each ratio is the median of the rounds\' ratios.',
  'host-impact':
    'The host, a child process: a ledger HTTP API (`POST /ledger/entries`, one journal entry of two lines written per request) beside a ' +
    'webhooks instance on the same database (SQLite: a table in the same file through the host\'s own better-sqlite3 handle; PostgreSQL: a ' +
    'table in the same database through the host\'s own pg pool; memory: the ledger in a SQLite file of its own). A client process loads ' +
    'it at a fixed rate, open loop (latency from each request\'s due time, so a stall is charged to every request that waited). Each round ' +
    'has two windows of the same load: the dispatcher started and idle, and the dispatcher draining a burst stored before the window ' +
    '(from `start()` resolved, a worker being spawned once at a host\'s boot, to `drain()` resolved; to the loopback receiver process), ' +
    'their order flipping by round. Reference = the idle window; each ratio is ' +
    'the median of the rounds\' ratios (burst ÷ idle). Throughput counts the 201 answers completed inside a window; errors are in the detail. ' +
    'Event-loop delay: `monitorEventLoopDelay({ resolution: 1 })` in the host, p99 as Node reports it (each sample includes the 1 ms interval). ' +
    'Modes: `main` (the dispatcher on the host\'s event loop, the default) and `worker` (`dispatcher: { thread: \'worker\' }`), alternating ' +
    'by round. The targets are the worker\'s: throughput ≥ 0.9× idle, p99 ≤ 2× idle, dispatch rate ≥ 1× the main-thread mode\'s, paired by round.',
  ordering:
    'Measured as the dispatch section measures (`start()` → `drain()` over a stored backlog of 1 KB events, one subscription, concurrency 50, ' +
    'the same loopback receiver process). Keys: the backlog\'s events published with an `orderingKey` drawn at random (fixed seed) from 1,000 ' +
    'keys (50 with `--tiny`); reference = the same backlog without a key, drained right beside it (the order flipping by round); the ratio is ' +
    'the median of the rounds\' ratios, target ≥ 0.7×. Hot key: every event on one key, so one request at a time; limit = bare ' +
    '`undici.request` posting the same bodies one at a time (a Pool of 1), beside it; reported, no target: its time per delivery is one round ' +
    'trip plus a settle and the claim of the next head. A figure is invalid unless every delivery arrived and, at the receiver, every key\'s ' +
    '`webhook-sequence` numbers arrived in increasing order with none missing.',
  peers:
    'Ours: the dispatch section\'s trial (`start()` → `drain()` over a stored backlog of 1 KB events, one subscription, concurrency 50). ' +
    'Both peers sign with bare `node:crypto` (HMAC-SHA256 of `id.timestamp.body`, base64, `v1,`) and post with an undici Pool of 50, ' +
    'failing on a non-2xx. graphile-worker (PostgreSQL, same database, a schema of its own per trial): `localQueue`, `completeJobBatchDelay: 0`, ' +
    '`failJobBatchDelay: 0`, 50 concurrent jobs, a pool of 10 (its default and ours), one job per event (`{ id, body }`) added with `addJobs` ' +
    'before the clock; timed from `run()` to no job row left. p-queue (memory): concurrency 50, every post added from an array; no storage. ' +
    'Ours and the peer drain the same size of backlog side by side, ours first on even rounds; the ratio is the median of the rounds\' ratios, ' +
    'target ≥ 1.25× graphile-worker. A figure is invalid unless every delivery arrived with a `webhook-signature` and the first 20 requests of ' +
    'each peer trial verify with `verifyWebhookSignature`.',
};

export function markdownReport(info: RunInfo, figures: readonly Figure[]): string {
  const out: string[] = [];
  out.push('# Benchmark report', '');
  out.push(
    `${info.mode} run (\`npm run bench${info.mode === 'full' ? '' : ` -- --${info.mode}`}\`), ${info.date}, Node ${info.node}, ` +
      `${info.cpuCount} × ${info.cpuModel}, ${info.platform}, ${info.durationSeconds} s. Storages: ${info.storages.available.join(', ') || 'none'}.`,
    '',
  );
  for (const skipped of info.storages.skipped) out.push(`- ${skipped.name} skipped: ${skipped.reason}`);
  if (info.storages.skipped.length > 0) out.push('');
  out.push(
    'Every figure is paired with its limit (the bare mechanism on this machine) or peer (what a user would pick instead), ' +
      'measured in the same run: absolute numbers drift on a shared machine, ratios taken side by side hold. ' +
      `The receiver is a ${info.receiver}.`,
    '',
  );
  const targeted = figures.filter((f) => f.pass !== null);
  const missed = targeted.filter((f) => f.pass === false);
  const invalid = figures.filter((f) => !f.valid);
  out.push(
    `**Targets: ${targeted.length - missed.length} of ${targeted.length} met.**` +
      `${missed.length > 0 ? ` Missed: ${missed.map((f) => `\`${f.id}\``).join(', ')}.` : ''}` +
      `${invalid.length > 0 ? ` Invalid (a trial did not do what it claims): ${invalid.map((f) => `\`${f.id}\``).join(', ')}.` : ''}`,
    '',
  );
  if (info.errors.length > 0) {
    out.push('Errors during the run (their figures are missing):', '');
    for (const error of info.errors) out.push(`- ${error.section}${error.storage ? ` (${error.storage})` : ''}: ${error.message}`);
    out.push('');
  }
  out.push('![End-to-end latency histogram](latency.svg)', '');
  for (const section of Object.keys(sectionTitles) as Section[]) {
    const list = figures.filter((f) => f.section === section);
    if (list.length === 0) continue;
    out.push(`## ${sectionTitles[section]}`, '', sectionNotes[section], '');
    // The backlog's per-size figures read best side by side; its growth figures carry the targets.
    const matrix = section === 'backlog' ? backlogMatrix(list) : '';
    if (matrix !== '') out.push(matrix, '');
    out.push(markdownTable(matrix === '' ? list : list.filter((f) => f.limit !== null)), '');
    const notes = list.filter((f) => f.note !== null);
    for (const figure of notes) out.push(`- \`${figure.id}\`: ${figure.note}`);
    if (notes.length > 0) out.push('');
  }
  out.push('## Reproduce', '');
  out.push('```sh', 'npm ci', 'npm run bench -- --quick   # under a minute', 'npm run bench             # full, under 10 minutes', '```', '');
  out.push(`Each figure, its limit/peer, the ratio, the target and the verdict are in \`latest.json\` (${figures.length} figures).`, '');
  return out.join('\n');
}
