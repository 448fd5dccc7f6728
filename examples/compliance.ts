// Credentials in headers, environments and secret age: `npx tsx examples/compliance.ts`.
// #region headers
import { randomBytes } from 'node:crypto';
import { createWebhooks } from '../src/index.js';

const webhooks = createWebhooks({
  environment: 'live', // every envelope carries "environment": "live", signed
  security: { secretsKey: process.env.WEBHOOKS_SECRETS_KEY ?? randomBytes(32).toString('base64') },
});
const erp = await webhooks.subscriptions.create({
  url: 'https://erp.example.com/hooks',
  eventTypes: ['payment.*'],
  headers: { Authorization: 'Bearer sk_live_erp_token', 'x-request-source': 'bookkeeper' },
});
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
