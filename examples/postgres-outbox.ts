// The transactional outbox on PostgreSQL:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx examples/postgres-outbox.ts
// The ledger write and the webhook event share the host's own transaction, on the host's
// own pg client: a rolled-back payment emits nothing, a committed one is delivered —
// by this process or by any other Bookkeeper instance running a dispatcher on the database.
// #region instance
import pg from 'pg';
import { createWebhooks } from '../src/index.js';
import { createPostgresStorage } from '../src/storage/postgres/index.js';
// #endregion instance
import { once } from 'node:events';
import { createServer } from 'node:http';
import { verifyWebhook } from '../src/receiver/index.js';

// #region instance
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
pool.on('error', (error) => console.error('idle client lost:', error.message)); // a restart must not crash the app
const ledger = process.env.LEDGER_TABLE ?? 'ledger_entries';

const webhooks = createWebhooks({
  storage: createPostgresStorage({ pool, schema: process.env.WEBHOOKS_SCHEMA ?? 'webhooks' }),
  security: { allowPrivateNetworks: true }, // only because the ERP below is on 127.0.0.1
});
await webhooks.start(); // on every instance: migrates the schema (under an advisory lock), then dispatches
// #endregion instance
await pool.query(`CREATE TABLE IF NOT EXISTS ${ledger} (id text PRIMARY KEY, amount_minor bigint NOT NULL, currency text NOT NULL)`);

// ── The customer's ERP: verifies each webhook and books it ─────────
let secret = '';
const booked: string[] = [];
const erp = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const event = verifyWebhook({ body: Buffer.concat(chunks), headers: request.headers as Record<string, string> }, { secrets: secret });
    booked.push(`${event.type} ${(event.data as { paymentId: string }).paymentId}`);
    response.writeHead(204).end();
  });
}).listen(0, '127.0.0.1');
await once(erp, 'listening');
const { port } = erp.address() as { port: number };
({ secret } = await webhooks.subscriptions.create({ url: `http://127.0.0.1:${port}/webhooks`, eventTypes: ['payment.*'] }));

// ── Bookkeeper: one transaction for the ledger row and its event ──
// #region transaction
async function recordPayment(paymentId: string, amountMinor: number, ledgerCheckFails: boolean): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`INSERT INTO ${ledger} (id, amount_minor, currency) VALUES ($1, $2, 'EUR')`, [paymentId, amountMinor]);
    await webhooks.publish(
      'payment.succeeded',
      { paymentId, customerId: 'cus_42', amount: { amount: amountMinor, currency: 'EUR' }, method: 'card', occurredAt: new Date().toISOString() },
      { tx: client }, // the event and its deliveries are written by this client, in this transaction
    );
    if (ledgerCheckFails) throw new Error('ledger check failed: rolling back');
    await client.query('COMMIT'); // the event becomes visible (and the dispatchers are notified) only now
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}
// #endregion transaction

await recordPayment('pay_ok', 12_300, false);
try {
  await recordPayment('pay_rolled_back', 99_900, true);
} catch (error) {
  console.log((error as Error).message);
}

await webhooks.drain({ timeoutMs: 10_000 });
const rows = (await pool.query<{ id: string }>(`SELECT id FROM ${ledger} ORDER BY id`)).rows;
const deliveries = (await webhooks.deliveries.list()).items;
console.log(`ledger rows: ${rows.map((row) => row.id).join(', ')}`);
console.log(`deliveries: ${deliveries.length} (${deliveries.map((delivery) => `${delivery.eventType} ${delivery.status}`).join(', ')})`);
console.log(`ERP booked: ${booked.join(', ')}`);
await webhooks.close(); // leaves the pool open: it is ours, not the storage's
erp.close();
await pool.end();
