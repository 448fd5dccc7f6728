// Tenants: each organisation's events reach only its own endpoints. `npx tsx examples/tenants.ts`.
// #region tenants
import { createWebhooks } from '../src/index.js';

const webhooks = createWebhooks({ tenantLimits: { maxSubscriptions: 20 } });

// Each customer's endpoint belongs to its organisation (the tenant id is yours: the organisation id).
await webhooks.subscriptions.create({ tenantId: 'org_acme', url: 'https://erp.acme.example/hooks', eventTypes: ['payment.*'] });
await webhooks.subscriptions.create({ tenantId: 'org_globex', url: 'https://erp.globex.example/hooks', eventTypes: ['payment.*'] });
// Bookkeeper's own audit sink sees every tenant's events: an explicit opt-in, never a default.
await webhooks.subscriptions.create({ allTenants: true, url: 'https://audit.bookkeeper.example/hooks', eventTypes: ['*'] });

// An event published for Acme goes to Acme's ERP (and the audit sink), never to Globex's.
const payment = { paymentId: 'pay_1', customerId: 'cus_1', amount: { amount: 12_300, currency: 'EUR' }, method: 'card', occurredAt: new Date().toISOString() } as const;
const published = await webhooks.publish('payment.succeeded', payment, { tenantId: 'org_acme', idempotencyKey: 'ledger-entry-1' });
console.log(`deliveries: ${published.deliveryCount}`); // 2

// Reads scoped to a tenant: what a customer portal shows Acme.
const acme = await webhooks.deliveries.list({ tenantId: 'org_acme' });
const backlog = await webhooks.metrics({ tenantId: 'org_acme' });
console.log(`acme: ${acme.items.length} delivery, ${backlog.backlog.pending} pending`);

// Globex leaves: its subscriptions, events, deliveries and attempts go, in bounded batches.
const removed = await webhooks.tenants.delete('org_globex');
console.log(`globex removed: ${removed.subscriptions} subscription`);
// #endregion tenants
await webhooks.close();
