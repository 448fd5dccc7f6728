/**
 * What the SQLite storage spends on the dispatcher's two hot calls, the storage alone (no
 * HTTP, no dispatcher): a backlog stored through the bench's fast path, then claims of
 * `batch` and the settle of each claim (delivered), one after the other until the backlog
 * is gone. Prints, per delivery, the wall time of each call, and the time of every
 * prepared statement better-sqlite3 ran inside them (its `run`/`all`/`get`/`iterate`,
 * grouped by the statement's text; BEGIN and COMMIT are better-sqlite3's own). With
 * `keys` > 0 the backlog is the ordering suite's (that many ordering keys). `--after-fill <sql>`
 * runs statements (separated by `;;`) on the storage's connection once the backlog is stored,
 * for attribution only: dropping an index or a trigger shows what it costs the two calls (the
 * storage is then no longer one the library would make).
 *
 *   npx tsx bench/profile-sqlite-storage.ts [events] [batch] [keys] [--after-fill "DROP INDEX …"]   (20000, 100, 0 by default)
 */
import { createRequire } from 'node:module';
import { createId } from '../src/ids.js';
import type { ClaimedDelivery, Settlement } from '../src/storage/storage-adapter.js';
import { enqueueInputs } from './payload.js';
import { storageEntry } from './storages.js';
import { tenantPicker } from './tenant-subscriptions.js';
import { createInstance } from './trial-helpers.js';

const argv = process.argv.slice(2);
const afterFillAt = argv.indexOf('--after-fill');
const afterFill = afterFillAt === -1 ? [] : (argv.splice(afterFillAt, 2)[1] ?? '').split(';;').filter((sql) => sql.trim() !== '');
const events = Number(argv[0] ?? 20_000);
const batch = Number(argv[1] ?? 100);
const keyCount = Number(argv[2] ?? 0);
if (![events, batch].every((n) => Number.isInteger(n) && n >= 1) || !Number.isInteger(keyCount) || keyCount < 0) {
  throw new Error(`Expected positive integers for events and batch and a count of keys ≥ 0, got ${argv.join(' ')}`);
}

/** Time spent in each statement (by the start of its text) while `measuring` is on. */
const statementMs = new Map<string, { calls: number; ms: number }>();
let measuring = false;
const Database = createRequire(import.meta.url)('better-sqlite3') as { prototype: object };
const probe = new (Database as unknown as new (path: string) => { prepare(sql: string): object; close(): void })(':memory:');
const statementPrototype = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, (...args: unknown[]) => unknown>;
probe.close();
for (const method of ['run', 'all', 'get', 'iterate']) {
  const original = statementPrototype[method]!;
  statementPrototype[method] = function (this: { source: string }, ...args: unknown[]) {
    if (!measuring) return original.apply(this, args);
    const start = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const name = this.source.replace(/\s+/g, ' ').trim().slice(0, 70);
      const spent = statementMs.get(name) ?? { calls: 0, ms: 0 };
      spent.calls += 1;
      spent.ms += performance.now() - start;
      statementMs.set(name, spent);
    }
  };
}

function delivered(claimed: ClaimedDelivery, now: number): Settlement {
  return {
    deliveryId: claimed.delivery.id,
    leaseToken: claimed.leaseToken,
    orderingKey: claimed.delivery.orderingKey,
    attempt: { id: createId('att', now), startedAt: now, durationMs: 1.2, statusCode: 204, errorClass: null, errorMessage: null, responseSnippet: '' },
    outcome: { kind: 'delivered' },
  };
}

const instance = await createInstance(storageEntry('sqlite'), 'http://127.0.0.1:9/unused', 50);
try {
  const { storage } = instance.storage;
  const pick = tenantPicker(Math.max(1, keyCount), 23);
  const keys = Array.from({ length: events }, () => (keyCount === 0 ? null : `acct_${String(pick()).padStart(4, '0')}`));
  await instance.storage.fill(enqueueInputs(events, () => null, (n) => keys[n]!));
  const { database } = storage as unknown as { database: { exec(sql: string): void } };
  for (const sql of afterFill) database.exec(sql);
  let claimMs = 0;
  let settleMs = 0;
  let settled = 0;
  measuring = true;
  for (;;) {
    let start = performance.now();
    const claimed = await storage.claimDue({ limit: batch, leaseMs: 600_000, now: Date.now() });
    claimMs += performance.now() - start;
    if (claimed.length === 0) break;
    const now = Date.now();
    start = performance.now();
    const results = await storage.settle(claimed.map((c) => delivered(c, now)), now);
    settleMs += performance.now() - start;
    const refused = results.filter((result) => !result.ok).length;
    if (refused > 0) throw new Error(`${refused} of ${results.length} settlements were refused`);
    settled += results.length;
  }
  measuring = false;
  if (settled !== events) throw new Error(`Expected ${events} deliveries settled, got ${settled}`);
  const perDelivery = (ms: number) => ((ms * 1000) / settled).toFixed(1);
  console.log(`${settled} deliveries${keyCount > 0 ? ` on ${keyCount} keys` : ''}, claims of ${batch}, each settled whole (µs a delivery):`);
  console.log(`  claim ${perDelivery(claimMs)}, settle ${perDelivery(settleMs)}; statements:`);
  for (const [name, spent] of [...statementMs].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`  ${perDelivery(spent.ms).padStart(6)}  ${String(spent.calls).padStart(6)} calls  ${name}`);
  }
} finally {
  await instance.close();
}
