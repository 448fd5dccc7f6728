// Credentials in headers, the change log, deletion, erasure, environments and secret age: `npx tsx examples/compliance.ts`.
// #region headers
import { randomBytes } from 'node:crypto';
import { createWebhooks } from '../src/index.js';

const webhooks = createWebhooks({
  environment: 'live', // every envelope carries "environment": "live", signed
  security: { secretsKey: process.env.WEBHOOKS_SECRETS_KEY ?? randomBytes(32).toString('base64') },
});
const erp = await webhooks.subscriptions.create(
  { url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'], headers: { Authorization: 'Bearer sk_live_erp_token', 'x-request-source': 'bookkeeper' } },
  { actor: 'alice@bookkeeper.example', reason: 'ERP go-live' }, // recorded in its change log
);
console.log(erp.headers); // { Authorization: '[redacted]', 'x-request-source': 'bookkeeper' }
console.log(erp.sensitiveHeaders); // [ 'Authorization' ]
const clear = await webhooks.subscriptions.getHeaders(erp.id); // asked for explicitly; no other call returns them
// #endregion headers
import { signWebhook } from '../src/index.js';
import { verifyWebhook } from '../src/receiver/index.js';
console.log(`getHeaders: ${clear.Authorization === 'Bearer sk_live_erp_token' ? 'the token in clear' : 'unexpected'}`);

// #region rotation
const maxAgeMs = 90 * 24 * 3_600_000;
for (const subscription of (await webhooks.subscriptions.list()).items) {
  if (Date.now() - subscription.secretsCreatedAt.oldestActive > maxAgeMs) {
    await webhooks.subscriptions.rotateSecret(subscription.id, { overlapMs: 24 * 3_600_000 });
  }
}
// #endregion rotation
console.log(`secret age: ${Date.now() - erp.secretsCreatedAt.newest < maxAgeMs ? 'within policy' : 'overdue'}`);

// #region history
webhooks.bus.on('subscription:updated', ({ change }) => {
  // Each recorded change, once committed: forward it to the platform's own audit trail here.
  if (change.changes.url) console.log(`audit: ${change.actor} moved ${change.subscriptionId}`);
});
await webhooks.subscriptions.update(erp.id, { url: 'https://erp.example.com/hooks/v2' }, { actor: 'bob@bookkeeper.example', reason: 'ERP migrated (ticket 4711)' });
await webhooks.subscriptions.disable(erp.id, { actor: 'bob@bookkeeper.example', reason: 'ERP maintenance window' });
await webhooks.subscriptions.enable(erp.id, { actor: 'bob@bookkeeper.example' });
for (const change of (await webhooks.subscriptions.history(erp.id)).items) {
  console.log(change.action, change.actor, Object.keys(change.changes).join(' '));
}
// #endregion history

// #region erasure
const payment = await webhooks.publish('payment.succeeded', {
  paymentId: 'pay_1',
  customerId: 'cus_jane_doe',
  amount: { amount: 12_30, currency: 'EUR' },
  method: 'card',
  occurredAt: new Date().toISOString(),
});
// A GDPR request about one counterparty: erase every event that names it.
const erased = await webhooks.events.expunge({ filter: (event) => (event.data as { customerId?: string }).customerId === 'cus_jane_doe' });
console.log(erased); // its delivery was still pending: cancelled, never sent
console.log((await webhooks.events.get(payment.id))?.data); // null; the id, type, times and statuses stay
// #endregion erasure

// #region delete
await webhooks.subscriptions.delete(erp.id, { actor: 'alice@bookkeeper.example', reason: 'customer closed the ERP account' });
console.log(`deleted, still readable: ${(await webhooks.subscriptions.get(erp.id))?.deletedAt !== null}`); // with its history and deliveries
await webhooks.subscriptions.delete(erp.id, { hard: true }); // offboarding: removes it with its deliveries, attempts and change log
// #endregion delete
await webhooks.close();

// A request from the sandbox instance reaches the production ERP: signed, but for "test".
const { secret } = erp;
const timestamp = Math.floor(Date.now() / 1000);
const body = JSON.stringify({ id: 'evt_sandbox_1', type: 'payment.succeeded', timestamp: new Date().toISOString(), environment: 'test', data: {} });
const headers = { 'webhook-id': 'evt_sandbox_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook({ id: 'evt_sandbox_1', timestamp, body, secrets: secret }) };
try {
  // #region consumer
  const event = verifyWebhook({ body, headers }, { secrets: secret, environment: 'live' }); // refuses another environment, or none
  // #endregion consumer
  console.log(`accepted ${event.id}`);
} catch (error) {
  console.log(`refused: ${(error as { code?: string }).code}`);
}
