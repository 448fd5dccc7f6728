/**
 * The host's own ledger in the host-impact suite: what Bookkeeper's API writes per request,
 * on the host's own connection to the database the webhooks instance uses.
 *
 * - sqlite: a `ledger_lines` table in the webhooks storage's file, through a better-sqlite3
 *   handle of the host's own (WAL, `synchronous = NORMAL`, a 5 s busy timeout, as a host
 *   would open it), so that a write lock held by the dispatcher is the host's to wait for;
 * - postgres: a `ledger_lines` table in a schema of its own in the same database, through
 *   the host's own `pg.Pool`;
 * - memory (a reference: there is no shared database): a SQLite file of the host's own.
 *
 * One request writes one journal entry: its debit and credit lines in one statement.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { SqliteStorage } from '../src/storage/sqlite/index.js';
import type { StorageAdapter } from '../src/storage/storage-adapter.js';
import { postgresUrl } from './storages.js';

/** One journal entry, as the host's API receives it. */
export interface LedgerEntry {
  debit: string;
  credit: string;
  amountMinor: number;
  currency: string;
}

export interface Ledger {
  /** Where the lines go, for the report. */
  readonly where: string;
  /** Writes the entry's two lines; resolves with the entry's id. */
  record(entry: LedgerEntry): Promise<string>;
  close(): Promise<void>;
}

const lineColumns = '(entry_id, account, amount_minor, currency, created_at)';

function sqliteLedger(filename: string, where: string, onClose: () => Promise<void>): Ledger {
  const database = new Database(filename, { timeout: 5000 });
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.exec(
    `create table if not exists ledger_lines (id integer primary key, entry_id text not null, account text not null,
       amount_minor integer not null, currency text not null, created_at integer not null);
     create index if not exists ledger_lines_account on ledger_lines (account, id);`,
  );
  const insert = database.prepare(`insert into ledger_lines ${lineColumns} values (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)`);
  return {
    where,
    async record(entry) {
      const id = randomUUID();
      const now = Date.now();
      insert.run(id, entry.debit, entry.amountMinor, entry.currency, now, id, entry.credit, -entry.amountMinor, entry.currency, now);
      return id;
    },
    async close() {
      database.close();
      await onClose();
    },
  };
}

async function postgresLedger(): Promise<Ledger> {
  const schema = `ledger_bench_${process.pid}_${Date.now().toString(36)}`;
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 10 });
  // An idle client that loses its connection emits here; without a listener the host would crash.
  pool.on('error', () => undefined);
  await pool.query(
    `create schema "${schema}";
     create table "${schema}".ledger_lines (id bigserial primary key, entry_id uuid not null, account text not null,
       amount_minor bigint not null, currency text not null, created_at timestamptz not null);
     create index on "${schema}".ledger_lines (account, id);`,
  );
  const text = `insert into "${schema}".ledger_lines ${lineColumns} values ($1, $2, $3, $4, $5), ($1, $6, $7, $4, $5)`;
  return {
    where: `table ledger_lines in schema ${schema} of the webhooks database, the host's own pg.Pool of 10`,
    async record(entry) {
      const id = randomUUID();
      // Named: prepared once per connection, as a host's hot statement would be.
      await pool.query({ name: 'ledger-insert', text, values: [id, entry.debit, entry.amountMinor, entry.currency, new Date(), entry.credit, -entry.amountMinor] });
      return id;
    },
    async close() {
      try {
        await pool.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await pool.end();
      }
    },
  };
}

/** Opens the host's ledger beside `storage` (a bench storage of kind `storageName`). */
export async function openLedger(storageName: string, storage: StorageAdapter): Promise<Ledger> {
  if (storageName === 'sqlite') {
    if (!(storage instanceof SqliteStorage)) throw new Error('the sqlite bench storage is not a SqliteStorage');
    return sqliteLedger(storage.database.name, 'table ledger_lines in the webhooks SQLite file, the host\'s own better-sqlite3 handle', async () => undefined);
  }
  if (storageName === 'postgres') return postgresLedger();
  if (storageName === 'memory') {
    const folder = await mkdtemp(join(tmpdir(), 'webhooks-bench-ledger-'));
    return sqliteLedger(join(folder, 'ledger.db'), 'a SQLite file of the host\'s own (the webhooks storage is in memory)', () =>
      rm(folder, { recursive: true, force: true }),
    );
  }
  throw new Error(`no ledger for storage "${storageName}"; expected sqlite, postgres or memory`);
}

/** The entry in a request body, or an error saying what was wrong with it. */
export function parseLedgerEntry(body: string): LedgerEntry {
  const value = JSON.parse(body) as Partial<Record<keyof LedgerEntry, unknown>>;
  const { debit, credit, amountMinor, currency } = value;
  if (typeof debit !== 'string' || typeof credit !== 'string' || typeof currency !== 'string' || !Number.isSafeInteger(amountMinor)) {
    throw new Error(`Expected { debit, credit, currency: string, amountMinor: integer }, got ${body.slice(0, 200)}`);
  }
  return { debit, credit, amountMinor: amountMinor as number, currency };
}
