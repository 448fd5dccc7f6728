// Exactly-once processing on the receiving side: the ERP books each payment and records its
// webhook-id in one transaction, so a redelivery — even after a crash, even months later — is
// never booked twice, and a booking that rolled back is processed again when the sender retries.
//   npx tsx examples/inbox.ts                                  (SQLite: erp.db, or ERP_DB)
//   DATABASE_URL=postgres://… npx tsx examples/inbox.ts       (PostgreSQL)
// #region postgres
import pg from 'pg';
// #endregion postgres
// #region sqlite
import Database from 'better-sqlite3';
// #endregion sqlite
// #region postgres
// #region sqlite
import { createSqlInbox, type WebhookEvent } from '../src/receiver/index.js';
// #endregion sqlite
// #endregion postgres
// #region receiver
import { createWebhookReceiver } from '../src/receiver/index.js';
// #endregion receiver
import { generateSecret, signWebhook } from '../src/index.js';

// #region postgres
// #region sqlite
type PaymentSucceeded = WebhookEvent<'payment.succeeded', { paymentId: string; amount: { amount: number; currency: string } }>;
// #endregion sqlite
// #endregion postgres

async function onPostgres() {
  // #region postgres

  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  const inbox = createSqlInbox({ dialect: 'postgres', query: pool }); // migrate() and purge() run on the pool
  await inbox.migrate(); // creates webhook_inbox if it is not there: safe on every start, from every instance
  // #endregion postgres
  await pool.query('CREATE TABLE IF NOT EXISTS ledger (payment_id text PRIMARY KEY, amount_minor bigint NOT NULL, currency text NOT NULL)');
  // #region postgres

  async function book(event: PaymentSucceeded) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const receipt = await inbox.handle(event, client, (tx) =>
        tx.query('INSERT INTO ledger (payment_id, amount_minor, currency) VALUES ($1, $2, $3)', [
          event.data.paymentId,
          event.data.amount.amount,
          event.data.amount.currency,
        ]),
      );
      await client.query('COMMIT'); // the webhook-id and the ledger row, together
      return receipt;
    } catch (error) {
      await client.query('ROLLBACK'); // neither: the sender's retry processes the event again
      throw error;
    } finally {
      client.release();
    }
  }
  // #endregion postgres
  const ledger = async () => (await pool.query<{ payment_id: string }>('SELECT payment_id FROM ledger ORDER BY payment_id')).rows.map((row) => row.payment_id);
  return { inbox, book, ledger, close: () => pool.end() };
}

async function onSqlite() {
  // #region sqlite

  const db = new Database(process.env.ERP_DB ?? 'erp.db');
  db.pragma('journal_mode = WAL');
  // better-sqlite3 as a query function: the rows of a statement that returns some, none otherwise.
  const query = (text: string, values: unknown[]) => {
    const statement = db.prepare(text);
    if (statement.reader) return statement.all(...values);
    statement.run(...values);
    return [];
  };
  const inbox = createSqlInbox({ dialect: 'sqlite', query });
  await inbox.migrate();
  // #endregion sqlite
  db.exec('CREATE TABLE IF NOT EXISTS ledger (payment_id TEXT PRIMARY KEY, amount_minor INTEGER NOT NULL, currency TEXT NOT NULL)');
  // #region sqlite

  // db.transaction(fn) cannot await: handleSync records the id and books without a promise.
  const book = (event: PaymentSucceeded) =>
    db.transaction(() =>
      inbox.handleSync(event, query, (tx) =>
        tx('INSERT INTO ledger (payment_id, amount_minor, currency) VALUES (?, ?, ?)', [
          event.data.paymentId,
          event.data.amount.amount,
          event.data.amount.currency,
        ]),
      ),
    )();
  // #endregion sqlite
  const ledger = async () => (db.prepare('SELECT payment_id FROM ledger ORDER BY payment_id').all() as Array<{ payment_id: string }>).map((row) => row.payment_id);
  return { inbox, book, ledger, close: async () => db.close() };
}

const { inbox, book, ledger, close } = process.env.DATABASE_URL ? await onPostgres() : await onSqlite();
process.env.WEBHOOK_SECRET ??= generateSecret();

// #region receiver

const receiver = createWebhookReceiver<PaymentSucceeded>({
  secrets: process.env.WEBHOOK_SECRET!,
  dedupe: false, // the inbox dedupes: in your database, in the booking's own transaction
  maxEventAgeSeconds: 7 * 24 * 60 * 60, // a payment a week old is checked by hand, not booked
  onStale: (event) => console.log(`stale: ${event.id} of ${event.timestamp} left for review`),
  onEvent: async (event) => {
    const receipt = await book(event);
    console.log(receipt.outcome === 'processed' ? `booked ${event.data.paymentId}` : `duplicate: ${event.id} is booked already`);
  },
});
// #endregion receiver

// What the sender does: sign each delivery afresh, with the same webhook-id on every retry.
async function deliver(id: string, paymentId: string, happenedAt = new Date()) {
  const body = JSON.stringify({ id, type: 'payment.succeeded', timestamp: happenedAt.toISOString(), data: { paymentId, amount: { amount: 12_300, currency: 'EUR' } } });
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook({ id, timestamp, body, secrets: process.env.WEBHOOK_SECRET! }) };
  return (await receiver.receive({ body, headers })).outcome;
}

await deliver('evt_inbox_1', 'pay_1');
await deliver('evt_inbox_1', 'pay_1'); // redelivered: the sender timed out, or its operator clicked "redeliver"
await deliver('evt_inbox_2', 'pay_2');
await deliver('evt_inbox_3', 'pay_3', new Date(Date.now() - 30 * 24 * 60 * 60 * 1000));
console.log(`ledger: ${(await ledger()).join(', ')}`);

// #region purge
// Keep ids for longer than the sender retries (3 days) and its operators may redeliver, then let them go:
const purged = await inbox.purge({ olderThan: new Date(Date.now() - 90 * 24 * 60 * 60 * 1000) });
// #endregion purge
console.log(`purged: ${purged}`);
await close();
