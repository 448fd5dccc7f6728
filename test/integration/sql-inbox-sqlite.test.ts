/**
 * The inbox on real SQLite files (better-sqlite3, WAL): the id and the consumer's writes
 * commit or roll back together — duplicates skipped, a throwing handler and a kill -9
 * before the commit book nothing, a kill -9 after it books once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import { createSqlInbox, inboxMigrationSql, type SqlInbox, type SqlQuery } from '../../src/receiver/index.js';
import { killWorker, runningWorkers, startInboxWorker, workerExit } from '../support/inbox-crash.js';

const dir = mkdtempSync(join(tmpdir(), 'webhooks-inbox-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const databases: Database.Database[] = [];
afterEach(async () => {
  for (const db of databases.splice(0)) db.close();
  for (const child of runningWorkers) await killWorker(child);
});

let files = 0;

/** A fresh database file with a ledger table, its query function and a migrated inbox. */
async function open(options: { table?: string; clock?: { now(): number }; busyTimeoutMs?: number; filename?: string } = {}) {
  const filename = options.filename ?? join(dir, `inbox-${++files}.db`);
  const db = new Database(filename);
  databases.push(db);
  db.pragma('journal_mode = WAL');
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5_000}`);
  db.exec('CREATE TABLE IF NOT EXISTS ledger (event_id TEXT NOT NULL, amount_minor INTEGER NOT NULL)');
  const query: SqlQuery = (text, values) => {
    const statement = db.prepare(text);
    if (!statement.reader) {
      statement.run(...values);
      return [];
    }
    return statement.all(...values);
  };
  const inbox = createSqlInbox({ dialect: 'sqlite', query, ...(options.table ? { table: options.table } : {}), ...(options.clock ? { clock: options.clock } : {}) });
  await inbox.migrate();
  return { filename, db, query, inbox };
}

function count(db: Database.Database, sql: string, ...values: unknown[]): number {
  return (db.prepare(sql).get(...values) as { n: number }).n;
}

/** Books one event in a transaction of its own, the way a consumer would on better-sqlite3. */
async function book(db: Database.Database, inbox: SqlInbox, query: SqlQuery, id: string, fail?: Error) {
  db.exec('BEGIN IMMEDIATE');
  try {
    const receipt = await inbox.handle({ id, type: 'payment.succeeded' }, query, (tx) => {
      tx('INSERT INTO ledger (event_id, amount_minor) VALUES (?, ?)', [id, 4_200]);
      if (fail) throw fail;
      return 'booked';
    });
    db.exec('COMMIT');
    return receipt;
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}

const codeOf = (error: unknown) => (isWebhookError(error) ? error.code : undefined);

describe('createSqlInbox on SQLite', () => {
  it('runs the handler for a new id and skips it for a duplicate: one ledger row, one inbox row with its type', async () => {
    const { db, inbox, query } = await open();
    expect(await book(db, inbox, query, 'evt_1')).toEqual({ outcome: 'processed', result: 'booked' });
    expect(await book(db, inbox, query, 'evt_1')).toEqual({ outcome: 'duplicate' });
    expect(await book(db, inbox, query, 'evt_2')).toEqual({ outcome: 'processed', result: 'booked' });
    expect(count(db, "SELECT count(*) AS n FROM ledger WHERE event_id = 'evt_1'")).toBe(1);
    expect(db.prepare('SELECT id, event_type FROM webhook_inbox ORDER BY id').all()).toEqual([
      { id: 'evt_1', event_type: 'payment.succeeded' },
      { id: 'evt_2', event_type: 'payment.succeeded' },
    ]);
  });

  it('rolls back the id with the writes when the handler throws, so the retry processes the event', async () => {
    const { db, inbox, query } = await open();
    const failure = new Error('ledger check failed');
    await expect(book(db, inbox, query, 'evt_1', failure)).rejects.toBe(failure);
    expect(count(db, 'SELECT count(*) AS n FROM ledger')).toBe(0);
    expect(count(db, 'SELECT count(*) AS n FROM webhook_inbox')).toBe(0);
    expect(await book(db, inbox, query, 'evt_1')).toEqual({ outcome: 'processed', result: 'booked' });
    expect(count(db, 'SELECT count(*) AS n FROM ledger')).toBe(1);
  });

  it('handleSync records and handles inside db.transaction(fn): a duplicate is skipped, a throw rolls both back', async () => {
    const { db, inbox, query } = await open();
    const write = (id: string, fail = false) =>
      db.transaction(() =>
        inbox.handleSync({ id }, query, (tx) => {
          tx('INSERT INTO ledger (event_id, amount_minor) VALUES (?, ?)', [id, 100]);
          if (fail) throw new Error('refused');
          return id;
        }),
      )();
    expect(() => write('evt_1', true)).toThrow('refused');
    expect(count(db, 'SELECT count(*) AS n FROM webhook_inbox')).toBe(0);
    expect(write('evt_1')).toEqual({ outcome: 'processed', result: 'evt_1' });
    expect(write('evt_1')).toEqual({ outcome: 'duplicate' });
    expect(count(db, 'SELECT count(*) AS n FROM ledger')).toBe(1);
    expect(db.prepare('SELECT event_type FROM webhook_inbox').get()).toEqual({ event_type: null });
  });

  it('handleSync refuses an async handler with TX_UNSUPPORTED, and db.transaction rolls the id back', async () => {
    const { db, inbox, query } = await open();
    let error: unknown;
    try {
      db.transaction(() => inbox.handleSync({ id: 'evt_1' }, query, async () => 'later'))();
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ name: 'ConfigError', code: 'TX_UNSUPPORTED', field: 'handler' });
    expect(count(db, 'SELECT count(*) AS n FROM webhook_inbox')).toBe(0);
  });

  it('migrates idempotently, in a table of its own name, and the SQL for a migration tool creates the same table', async () => {
    const { db, inbox, query } = await open({ table: 'erp_webhooks' });
    await inbox.migrate();
    expect(inbox.table).toBe('erp_webhooks');
    expect(await book(db, inbox, query, 'evt_1')).toMatchObject({ outcome: 'processed' });
    expect(count(db, 'SELECT count(*) AS n FROM erp_webhooks')).toBe(1);
    const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'erp_webhooks' AND sql IS NOT NULL").all();
    expect(indexes).toEqual([{ name: 'erp_webhooks_processed_at_idx' }]);

    const other = new Database(join(dir, `tool-${++files}.db`));
    databases.push(other);
    other.exec(inboxMigrationSql({ dialect: 'sqlite', table: 'erp_webhooks' }));
    other.exec(inboxMigrationSql({ dialect: 'sqlite', table: 'erp_webhooks' }));
    const shape = (database: Database.Database) => database.prepare("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'erp_webhooks' ORDER BY name").all();
    expect(shape(other)).toEqual(shape(db));
  });

  it('works in an attached database named in the table (schema.table)', async () => {
    const { db, query } = await open();
    db.exec(`ATTACH DATABASE '${join(dir, `attached-${files}.db`)}' AS erp`);
    const inbox = createSqlInbox({ dialect: 'sqlite', query, table: 'erp.webhook_inbox' });
    await inbox.migrate();
    expect(await book(db, inbox, query, 'evt_1')).toMatchObject({ outcome: 'processed' });
    expect(await book(db, inbox, query, 'evt_1')).toEqual({ outcome: 'duplicate' });
    expect(count(db, 'SELECT count(*) AS n FROM erp.webhook_inbox')).toBe(1);
    expect(count(db, "SELECT count(*) AS n FROM erp.sqlite_master WHERE name = 'webhook_inbox_processed_at_idx'")).toBe(1);
  });

  it('purges ids recorded before olderThan, in batches, and a purged id is processed again', async () => {
    let nowMs = Date.parse('2026-01-01T00:00:00Z');
    const { db, inbox, query } = await open({ clock: { now: () => nowMs } });
    db.exec('BEGIN');
    for (let n = 0; n < 2_500; n++) await inbox.handle({ id: `evt_old_${n}` }, query, () => undefined);
    db.exec('COMMIT');
    nowMs += 31 * 24 * 3_600_000;
    await book(db, inbox, query, 'evt_new');
    expect(await inbox.purge({ olderThan: new Date(nowMs - 30 * 24 * 3_600_000) })).toBe(2_500);
    expect(db.prepare('SELECT id FROM webhook_inbox').all()).toEqual([{ id: 'evt_new' }]);
    expect(await inbox.purge({ olderThan: new Date(nowMs - 30 * 24 * 3_600_000) })).toBe(0);
    expect(await book(db, inbox, query, 'evt_old_7')).toMatchObject({ outcome: 'processed' });
  });

  it('says STORAGE_NOT_MIGRATED before migrate, and STORAGE_BUSY (retryable) when another connection holds the write lock', async () => {
    const filename = join(dir, `unmigrated-${++files}.db`);
    const db = new Database(filename);
    databases.push(db);
    db.pragma('journal_mode = WAL');
    const query: SqlQuery = (text, values) => db.prepare(text).all(...values);
    const inbox = createSqlInbox({ dialect: 'sqlite', query });
    const notMigrated = await inbox.handle({ id: 'evt_1' }, query, () => undefined).catch((error: unknown) => error);
    expect(notMigrated).toMatchObject({ name: 'StorageError', code: 'STORAGE_NOT_MIGRATED', retryable: false });

    const { db: first } = await open({ filename });
    const { db: second, inbox: secondInbox, query: secondQuery } = await open({ filename, busyTimeoutMs: 0 });
    first.exec('BEGIN IMMEDIATE');
    second.exec('BEGIN');
    const busy = await secondInbox.handle({ id: 'evt_1' }, secondQuery, () => undefined).catch((error: unknown) => error);
    second.exec('ROLLBACK');
    first.exec('ROLLBACK');
    expect(busy).toMatchObject({ name: 'StorageError', code: 'STORAGE_BUSY', retryable: true });
    expect((busy as Error).cause).toMatchObject({ code: 'SQLITE_BUSY' });
  });

  it('refuses a query function that does not return the rows of INSERT … RETURNING with CONFIG_INVALID, and the event is not taken for a duplicate', async () => {
    const { db, inbox } = await open();
    const runOnly: SqlQuery = (text, values) => [db.prepare(text).run(...values)];
    db.exec('BEGIN');
    const error = await inbox.handle({ id: 'evt_1' }, runOnly, () => undefined).catch((caught: unknown) => caught);
    db.exec('ROLLBACK');
    expect(codeOf(error)).toBe('CONFIG_INVALID');
    expect(error).toMatchObject({ field: 'tx' });
  });
});

describe('a consumer killed with SIGKILL (SQLite)', () => {
  it('between the handler\'s write and the commit books nothing; the redelivered event is booked once, and again is a duplicate', async () => {
    const { filename, db } = await open();
    const { child, message } = await startInboxWorker(['sqlite', filename, '-', 'evt_crash', 'before-commit']);
    // The worker is inside its transaction and sees its own ledger row and inbox id …
    expect(message).toBe('written true 1 1');
    // … which no other connection sees: they are not committed.
    expect(count(db, 'SELECT count(*) AS n FROM ledger')).toBe(0);
    expect(count(db, 'SELECT count(*) AS n FROM webhook_inbox')).toBe(0);
    expect(await killWorker(child)).toBe('SIGKILL');
    expect(count(db, 'SELECT count(*) AS n FROM ledger')).toBe(0);
    expect(count(db, 'SELECT count(*) AS n FROM webhook_inbox')).toBe(0);

    const redelivered = await startInboxWorker(['sqlite', filename, '-', 'evt_crash', 'none']);
    expect(redelivered.message).toBe('done processed');
    expect(await workerExit(redelivered.child)).toBe(0);
    const again = await startInboxWorker(['sqlite', filename, '-', 'evt_crash', 'none']);
    expect(again.message).toBe('done duplicate');
    expect(await workerExit(again.child)).toBe(0);
    expect(count(db, "SELECT count(*) AS n FROM ledger WHERE event_id = 'evt_crash'")).toBe(1);
    expect(count(db, 'SELECT count(*) AS n FROM webhook_inbox')).toBe(1);
  }, 60_000);

  it('after the commit books once: the redelivered event is a duplicate', async () => {
    const { filename, db } = await open();
    const { child, message } = await startInboxWorker(['sqlite', filename, '-', 'evt_crash', 'after-commit']);
    expect(message).toBe('committed processed');
    expect(await killWorker(child)).toBe('SIGKILL');
    expect(count(db, 'SELECT count(*) AS n FROM ledger')).toBe(1);

    const redelivered = await startInboxWorker(['sqlite', filename, '-', 'evt_crash', 'none']);
    expect(redelivered.message).toBe('done duplicate');
    expect(await workerExit(redelivered.child)).toBe(0);
    expect(count(db, "SELECT count(*) AS n FROM ledger WHERE event_id = 'evt_crash'")).toBe(1);
    expect(count(db, 'SELECT count(*) AS n FROM webhook_inbox')).toBe(1);
  }, 60_000);
});
