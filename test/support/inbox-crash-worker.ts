/**
 * A consumer process for the inbox crash tests: books one payment event in a transaction
 * of its own, through `inbox.handle`, on PostgreSQL or on a SQLite file, and tells the
 * parent over IPC how far it got, so the parent can SIGKILL it at that point.
 *
 * argv: <postgres|sqlite> <database URL | file> <schema (postgres) | -> <event id> <stop>
 * stop:
 * - `before-commit`: the ledger row and the id are written, uncommitted; sends "written" (on
 *   SQLite "written <in transaction> <ledger rows> <inbox rows>", as this connection sees
 *   them), hangs.
 * - `after-commit`: commits, sends "committed <outcome>", hangs.
 * - `none`: commits, sends "done <outcome>", exits.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { createSqlInbox, type InboxEvent, type InboxReceipt, type SqlQuery } from '../../src/receiver/index.js';

const [dialect, target, schema, eventId, stop] = process.argv.slice(2);
if ((dialect !== 'postgres' && dialect !== 'sqlite') || !target || !schema || !eventId || !['before-commit', 'after-commit', 'none'].includes(stop ?? '')) {
  throw new Error('usage: <postgres|sqlite> <url|file> <schema|-> <event id> <before-commit|after-commit|none>');
}

const event: InboxEvent = { id: eventId, type: 'payment.succeeded' };

function tell(message: string): Promise<void> {
  return new Promise((resolve, reject) => process.send!(message, (error: Error | null) => (error ? reject(error) : resolve())));
}

/** Waits for the SIGKILL; the interval keeps the event loop (and the open transaction) alive. */
function hang(): Promise<never> {
  setInterval(() => undefined, 60_000);
  return new Promise<never>(() => undefined);
}

/** Runs the handler's write; at `before-commit`, tells the parent (with `written`, what `report` adds) and hangs. */
async function book(write: () => unknown, report: () => string = () => ''): Promise<void> {
  await write();
  if (stop === 'before-commit') {
    await tell(`written${report()}`);
    await hang();
  }
}

async function onPostgres(): Promise<InboxReceipt<void>> {
  const client = new pg.Client({ connectionString: target });
  await client.connect();
  const inbox = createSqlInbox({ dialect: 'postgres', query: client, table: `${schema}.webhook_inbox` });
  await client.query('BEGIN');
  const receipt = await inbox.handle(event, client, (tx) =>
    book(() => tx.query(`INSERT INTO "${schema}".ledger (event_id, amount_minor) VALUES ($1, $2)`, [eventId, 4_200])),
  );
  await client.query('COMMIT');
  if (stop === 'after-commit') {
    await tell(`committed ${receipt.outcome}`);
    await hang();
  }
  await client.end();
  return receipt;
}

async function onSqlite(): Promise<InboxReceipt<void>> {
  const db = new Database(target);
  db.pragma('busy_timeout = 5000');
  const query: SqlQuery = (text, values) => {
    const statement = db.prepare(text);
    if (!statement.reader) {
      statement.run(...values);
      return [];
    }
    return statement.all(...values);
  };
  const inbox = createSqlInbox({ dialect: 'sqlite', query });
  db.exec('BEGIN IMMEDIATE');
  const rows = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  const receipt = await inbox.handle(event, query, (tx) =>
    book(
      () => tx('INSERT INTO ledger (event_id, amount_minor) VALUES (?, ?)', [eventId, 4_200]),
      () => ` ${db.inTransaction} ${rows('ledger')} ${rows('webhook_inbox')}`,
    ),
  );
  db.exec('COMMIT');
  if (stop === 'after-commit') {
    await tell(`committed ${receipt.outcome}`);
    await hang();
  }
  db.close();
  return receipt;
}

const receipt = dialect === 'postgres' ? await onPostgres() : await onSqlite();
await tell(`done ${receipt.outcome}`);
process.disconnect();
