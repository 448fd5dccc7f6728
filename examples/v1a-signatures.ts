// Standard Webhooks v1a (Ed25519) signatures: `npx tsx examples/v1a-signatures.ts`.
// The sender keeps the secret key; the receiver holds only the public key, so nothing it
// stores can forge an event. Then a rotation, whose overlap carries both keys' signatures.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createWebhooks, generateSigningKeyPair } from '../src/index.js';
import { createNodeHandler } from '../src/receiver/index.js';

// #region keys
// A key pair of your own, e.g. to register one key for several endpoints (or let `signing: 'v1a'` make one):
const { secretKey, publicKey } = generateSigningKeyPair(); // 'whsk_…' stays here, 'whpk_…' goes to the receiver
// #endregion keys
console.log(`key pair: ${secretKey.slice(0, 5)}… and ${publicKey.slice(0, 5)}…`);

// The receiver (the ERP), on its own port; it is handed its key below.
const booked: string[] = [];
let verifyWith: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
const erp = createServer((req, res) => verifyWith(req, res)).listen(0, '127.0.0.1');
await once(erp, 'listening');
const { port } = erp.address() as { port: number };

const webhooks = createWebhooks({ security: { allowPrivateNetworks: true } });
// #region subscription
const subscription = await webhooks.subscriptions.create({ url: `http://127.0.0.1:${port}/webhooks`, eventTypes: ['payment.*'], signing: 'v1a' });
// subscription.secret ('whsk_…') never leaves the sender; the receiver gets subscription.publicKey ('whpk_…')
// #endregion subscription
// #region receiver
verifyWith = createNodeHandler({ secrets: subscription.publicKey!, onEvent: (event) => void booked.push(event.type) });
// #endregion receiver
console.log(`subscription signs ${subscription.signing}; reads show its public keys: ${(await webhooks.subscriptions.get(subscription.id))!.publicKeys.length}`);

const payment = (n: number) => ({ paymentId: `pay_${n}`, customerId: 'cus_1', amount: { amount: 500, currency: 'EUR' }, method: 'card' as const, occurredAt: new Date().toISOString() });
await webhooks.start();
await webhooks.publish('payment.succeeded', payment(1));
await webhooks.drain({ timeoutMs: 10_000 });

// #region rotation
// Rotate: for an hour both keys sign; the receiver switches to the new public key when it likes.
const rotated = await webhooks.subscriptions.rotateSecret(subscription.id, { overlapMs: 3_600_000 });
verifyWith = createNodeHandler({ secrets: rotated.publicKey!, onEvent: (event) => void booked.push(event.type) });
// #endregion rotation
await webhooks.publish('payment.succeeded', payment(2));
await webhooks.drain({ timeoutMs: 10_000 });

const statuses = (await webhooks.deliveries.list()).items.map((delivery) => delivery.status);
console.log(`deliveries: ${statuses.join(', ')}; booked: ${booked.length}`);
await webhooks.close();
erp.close();
