// The transactional outbox on SQLite: `npx tsx examples/sqlite-outbox.ts`.
// The ledger and the webhooks share one better-sqlite3 database; the event commits or
// rolls back with the ledger write, because publishSync runs inside the same transaction.
// #region outbox
import Database from 'better-sqlite3';
import { createWebhooks } from '../src/index.js';
import { createSqliteStorage } from '../src/storage/sqlite/index.js';

const db = new Database(process.env.LEDGER_DB ?? 'bookkeeper.db');
db.pragma('journal_mode = WAL'); // the adapter leaves a database you hand in as it is: WAL is yours to set
db.exec('CREATE TABLE IF NOT EXISTS ledger (id TEXT PRIMARY KEY, amount INTEGER NOT NULL, currency TEXT NOT NULL)');

const webhooks = createWebhooks({ storage: createSqliteStorage({ database: db }) });
await webhooks.start(); // creates the webhook_* tables beside yours
// #endregion outbox

// An endpoint to fan out to; the dispatcher is stopped, as this example only shows what gets stored.
await webhooks.subscriptions.create({ url: 'https://erp.example.com/webhooks', eventTypes: ['payment.*'] });
await webhooks.stop();

// #region outbox
const payment = {
  paymentId: `pay_${Date.now()}`,
  customerId: 'cus_42',
  amount: { amount: 12_300, currency: 'EUR' },
  method: 'card',
  occurredAt: new Date().toISOString(),
} as const;

const event = db.transaction(() => {
  db.prepare('INSERT INTO ledger (id, amount, currency) VALUES (?, ?, ?)').run(payment.paymentId, payment.amount.amount, payment.amount.currency);
  return webhooks.publishSync('payment.succeeded', payment, { tx: db }); // synchronous, in the same transaction
})();
// #endregion outbox

// A ledger write that fails after the publish: its event rolls back with it.
let rolledBack: { id: string } | undefined;
try {
  db.transaction(() => {
    db.prepare('INSERT INTO ledger (id, amount, currency) VALUES (?, ?, ?)').run(`${payment.paymentId}_rolled_back`, 99_900, 'EUR');
    rolledBack = webhooks.publishSync('payment.succeeded', { ...payment, paymentId: `${payment.paymentId}_rolled_back` }, { tx: db });
    throw new Error('ledger check failed: rolling back');
  })();
} catch (error) {
  console.log((error as Error).message);
}

const ledger = db.prepare('SELECT id FROM ledger WHERE id LIKE ? ORDER BY id').all(`${payment.paymentId}%`) as Array<{ id: string }>;
const deliveries = (await webhooks.deliveries.list({ eventId: event.id })).items;
const rolledBackDeliveries = (await webhooks.deliveries.list({ eventId: rolledBack!.id })).items;
console.log(`ledger rows: ${ledger.map((row) => row.id).join(', ')}`);
console.log(`deliveries queued: ${deliveries.length} (${deliveries.map((delivery) => delivery.eventType).join(', ')})`);
console.log(`deliveries of the rolled-back event: ${rolledBackDeliveries.length}`);
await webhooks.close(); // leaves db open: it is yours
db.close();
