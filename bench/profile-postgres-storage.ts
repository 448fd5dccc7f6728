/**
 * What the PostgreSQL server spends on the dispatcher's two hot statements, the storage
 * alone (no HTTP, no dispatcher): a backlog stored through the bench's fast path, then
 * claims of `batch` and the settle of each claim (delivered), one after the other until
 * the backlog is gone. Prints, per delivery, the wall time of each call and the server's
 * CPU over it (every `postgres` process on this machine, from /proc: database-cpu.ts);
 * then how many of the deliveries' updates were HOT (a claim's lease can be: see the claim
 * statement) and the table's heap size.
 *
 *   npx tsx bench/profile-postgres-storage.ts [events] [batch]      (20000 and 100 by default)
 *
 * Run it on a machine where nothing else uses the database server: its CPU is read whole.
 */
import pg from 'pg';
import { createId } from '../src/ids.js';
import type { ClaimedDelivery, Settlement } from '../src/storage/storage-adapter.js';
import { postgresCpuMs } from './database-cpu.js';
import { enqueueInputs } from './payload.js';
import { postgresUrl, storageEntry } from './storages.js';
import { createInstance } from './trial-helpers.js';

const events = Number(process.argv[2] ?? 20_000);
const batch = Number(process.argv[3] ?? 100);
if (!Number.isInteger(events) || events < 1 || !Number.isInteger(batch) || batch < 1) {
  throw new Error(`Expected positive integers for events and batch, got ${process.argv[2]} and ${process.argv[3]}`);
}
if (postgresCpuMs() === null) throw new Error('No postgres process is readable in /proc: the server must run on this machine.');

/** Wall ms and server CPU ms of one kind of call, summed. */
interface Spent {
  wallMs: number;
  serverMs: number;
}

async function timed<T>(spent: Spent, call: () => Promise<T>): Promise<T> {
  const cpu = postgresCpuMs()!;
  const start = performance.now();
  const result = await call();
  spent.wallMs += performance.now() - start;
  spent.serverMs += postgresCpuMs()! - cpu;
  return result;
}

function delivered(claimed: ClaimedDelivery, now: number): Settlement {
  return {
    deliveryId: claimed.delivery.id,
    leaseToken: claimed.leaseToken,
    attempt: { id: createId('att', now), startedAt: now, durationMs: 1.2, statusCode: 204, errorClass: null, errorMessage: null, responseSnippet: '' },
    outcome: { kind: 'delivered' },
  };
}

const instance = await createInstance(storageEntry('postgres'), 'http://127.0.0.1:9/unused', 50);
const admin = new pg.Client({ connectionString: postgresUrl });
await admin.connect();
try {
  const { storage } = instance.storage;
  await instance.storage.fill(enqueueInputs(events));
  await instance.storage.analyze?.();
  const schema = await newestBenchSchema();
  const claims: Spent = { wallMs: 0, serverMs: 0 };
  const settles: Spent = { wallMs: 0, serverMs: 0 };
  let settled = 0;
  for (;;) {
    const claimed = await timed(claims, () => storage.claimDue({ limit: batch, leaseMs: 600_000, now: Date.now() }));
    if (claimed.length === 0) break;
    const now = Date.now();
    const results = await timed(settles, () => storage.settle(claimed.map((c) => delivered(c, now)), now));
    const refused = results.filter((result) => !result.ok).length;
    if (refused > 0) throw new Error(`${refused} of ${results.length} settlements were refused`);
    settled += results.length;
  }
  if (settled !== events) throw new Error(`Expected ${events} deliveries settled, got ${settled}`);
  const perDelivery = (ms: number) => ((ms * 1000) / settled).toFixed(1);
  console.log(`${settled} deliveries, claims of ${batch}, each settled whole (µs a delivery):`);
  console.log(`  claim:  ${perDelivery(claims.wallMs)} wall, ${perDelivery(claims.serverMs)} server CPU`);
  console.log(`  settle: ${perDelivery(settles.wallMs)} wall, ${perDelivery(settles.serverMs)} server CPU`);
  const table = `"${schema}".deliveries`;
  // The storage's backends report their counters as they exit (pg_stat_* lag otherwise).
  await instance.webhooks.close();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const { rows } = await admin.query<{ updated: string; hot: string; heap: string }>(
    `SELECT n_tup_upd AS updated, n_tup_hot_upd AS hot, pg_relation_size($1::regclass) AS heap
     FROM pg_stat_user_tables WHERE relid = $1::regclass`,
    [table],
  );
  const row = rows[0]!;
  console.log(`  deliveries: ${row.updated} updates, ${row.hot} of them HOT; heap ${(Number(row.heap) / 1024 / 1024).toFixed(1)} MiB`);
} finally {
  await admin.end();
  await instance.close();
}

/** The schema the bench storage made last in this process (its name carries the pid). */
async function newestBenchSchema(): Promise<string> {
  const { rows } = await admin.query<{ nspname: string }>(
    `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'webhooks_bench_' || $1 || '_%' ORDER BY oid DESC LIMIT 1`,
    [String(process.pid)],
  );
  if (rows[0] === undefined) throw new Error('The bench storage made no schema');
  return rows[0].nspname;
}
