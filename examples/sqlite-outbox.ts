// The transactional outbox on SQLite: `npx tsx examples/sqlite-outbox.ts`.
// The ledger and the webhooks share one better-sqlite3 database; the event commits or
// rolls back with the ledger write, because publishSync runs inside the same transaction.
import Database from 'better-sqlite3';
import { createWebhooks } from '../src/index.js';
import { createSqliteStorage } from '../src/storage/sqlite/index.js';

const db = new Database(process.env.LEDGER_DB ?? ':memory:');
db.pragma('journal_mode = WAL');
db.exec('CREATE TABLE IF NOT EXISTS ledger (id TEXT PRIMARY KEY, amount INTEGER NOT NULL, currency TEXT NOT NULL)');

const webhooks = createWebhooks({ storage: createSqliteStorage({ database: db }) });
await webhooks.start();
await webhooks.subscriptions.create({ url: 'https://erp.example.com/webhooks', eventTypes: ['payment.*'] });
await webhooks.stop(); // this example only shows what gets stored; nothing is sent

const recordPayment = db.transaction((id: string, amount: number, fail: boolean) => {
  db.prepare('INSERT INTO ledger (id, amount, currency) VALUES (?, ?, ?)').run(id, amount, 'EUR');
  webhooks.publishSync(
    'payment.succeeded',
    { paymentId: id, customerId: 'cus_42', amount: { amount, currency: 'EUR' }, method: 'card', occurredAt: new Date().toISOString() },
    { tx: db },
  );
  if (fail) throw new Error('ledger check failed: rolling back');
});

recordPayment('pay_ok', 12_300, false);
try {
  recordPayment('pay_rolled_back', 99_900, true);
} catch (error) {
  console.log((error as Error).message);
}

const ledger = db.prepare('SELECT id FROM ledger ORDER BY id').all() as Array<{ id: string }>;
const events = (await webhooks.deliveries.list()).items.map((delivery) => delivery.eventType);
console.log(`ledger rows: ${ledger.map((row) => row.id).join(', ')}`);
console.log(`deliveries queued: ${events.length} (${events.join(', ')})`);
await webhooks.close();
db.close();
