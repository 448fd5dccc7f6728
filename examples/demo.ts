/**
 * The whole flow on one machine: `npm run demo`.
 *
 * Bookkeeper keeps the books of two organisations. Acme runs an ERP, a CRM and a flaky
 * inventory system; Globex runs its own ERP; Bookkeeper's own audit sink takes every
 * tenant's events. Each is a loopback receiver that verifies every request with the
 * receiver helper. Bookkeeper publishes a burst of financial events for both
 * organisations into a SQLite file (the embedded default), the dispatcher delivers each
 * only to its own organisation's endpoints (and the audit sink), with retries; one
 * tampered request is refused; Globex leaves and is removed whole; a summary closes the run.
 *
 * It ends by serving the dashboard on the demo's data, on a loopback port; `npm run demo --
 * --dashboard` keeps it running (Ctrl-C stops it).
 *
 * Options (for tests): DEMO_EVENTS (default 240), DEMO_DIR (default: a new temp folder).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createDashboard } from '../src/dashboard/index.js';
import { createWebhooks, isWebhookError, signWebhook, type BookkeeperEvents, type EventInputOf } from '../src/index.js';
import { createNodeHandler } from '../src/receiver/index.js';
import { createSqliteStorage } from '../src/storage/sqlite/index.js';

const eventCount = Number(process.env.DEMO_EVENTS ?? 240);
const keepDir = process.env.DEMO_DIR !== undefined;
const dir = process.env.DEMO_DIR ?? mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-demo-'));
const isTty = process.stdout.isTTY === true;
const keepDashboard = process.argv.includes('--dashboard');

// A seeded PRNG: the flaky receiver fails the same way on every run.
let seed = 0x2545f491;
function random(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}

interface DemoReceiver {
  name: string;
  /** The organisation whose endpoint it is; `null` for Bookkeeper's own audit sink. */
  tenantId: string | null;
  url: string;
  received: number;
  processed: Set<string>;
  duplicates: number;
  refused: Map<string, number>;
  failRate: number;
  secret: string;
  setSecret(secret: string): void;
  close(): Promise<void>;
}

async function startReceiver(name: string, tenantId: string | null, failRate: number): Promise<DemoReceiver> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const receiver: DemoReceiver = {
    name,
    tenantId,
    url: '',
    received: 0,
    processed: new Set(),
    duplicates: 0,
    refused: new Map(),
    failRate,
    secret: '',
    setSecret(secret) {
      receiver.secret = secret;
      handler = createNodeHandler({
        secrets: secret,
        onEvent(event, _req, res) {
          // The flaky system answers 503 now and then, before doing any work.
          if (random() < receiver.failRate) {
            res.writeHead(503).end('inventory sync busy');
            return;
          }
          // Dedupe by webhook-id: a redelivered payment is never booked twice.
          if (receiver.processed.has(event.id)) receiver.duplicates += 1;
          receiver.processed.add(event.id);
        },
        onError(error) {
          const code = isWebhookError(error) ? error.code : 'UNKNOWN';
          receiver.refused.set(code, (receiver.refused.get(code) ?? 0) + 1);
        },
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    receiver.received += 1;
    if (handler) handler(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
  return receiver;
}

type Publishable = { [K in keyof BookkeeperEvents['schemas'] & string]: [K, EventInputOf<BookkeeperEvents, K>] }[keyof BookkeeperEvents['schemas'] & string];

function makeEvent(n: number): Publishable {
  const occurredAt = new Date(Date.now() - (eventCount - n) * 1000).toISOString();
  const amount = { amount: 1_000 + ((n * 7_919) % 250_000), currency: n % 5 === 0 ? 'USD' : 'EUR' };
  switch (n % 7) {
    case 0:
    case 1:
      return ['payment.succeeded', { paymentId: `pay_${n}`, customerId: `cus_${n % 40}`, invoiceId: `inv_${n}`, amount, method: n % 2 ? 'card' : 'bank_transfer', occurredAt }];
    case 2:
      return ['payment.failed', { paymentId: `pay_${n}`, customerId: `cus_${n % 40}`, amount, failureCode: 'card_declined', occurredAt }];
    case 3:
      return ['refund.initiated', { refundId: `ref_${n}`, paymentId: `pay_${n - 3}`, amount, reason: 'requested_by_customer', occurredAt }];
    case 4:
      return ['refund.succeeded', { refundId: `ref_${n - 1}`, paymentId: `pay_${n - 4}`, amount, occurredAt }];
    case 5:
      return ['transaction.created', { transactionId: `txn_${n}`, accountId: `acc_${n % 3}`, direction: n % 2 ? 'credit' : 'debit', amount, occurredAt }];
    default:
      return ['balance.depleted', { accountId: `acc_${n % 3}`, balance: { amount: 1_250, currency: 'EUR' }, threshold: { amount: 5_000, currency: 'EUR' }, occurredAt }];
  }
}

function postTampered(url: string, secret: string): Promise<number> {
  const id = 'evt_tampered_demo';
  const timestamp = Math.floor(Date.now() / 1000);
  const genuine = JSON.stringify({ id, type: 'payment.succeeded', timestamp: new Date().toISOString(), data: { amount: { amount: 1_000, currency: 'EUR' } } });
  const signature = signWebhook({ id, timestamp, body: genuine, secrets: secret });
  // An attacker in the middle adds two zeros to the amount; the signature no longer matches.
  const forged = genuine.replace('"amount":1000', '"amount":100000');
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(forged);
  });
}

const pct = (values: Array<number | null>) => values.map((value) => (value === null ? '–' : `${value.toFixed(1)} ms`));

async function main(): Promise<void> {
  const started = performance.now();
  const filename = join(dir, 'webhooks.db');
  console.log('Bookkeeper webhooks demo');
  console.log(`  storage: SQLite (WAL) at ${filename}`);

  const erp = await startReceiver('Acme ERP', 'org_acme', 0);
  const crm = await startReceiver('Acme CRM', 'org_acme', 0);
  const inventory = await startReceiver('Acme Inventory (flaky)', 'org_acme', 0.35);
  const globexErp = await startReceiver('Globex ERP', 'org_globex', 0);
  const audit = await startReceiver('Bookkeeper audit sink', null, 0);
  const receivers = [erp, crm, inventory, globexErp, audit];

  const webhooks = createWebhooks({
    storage: createSqliteStorage({ filename }),
    // The demo posts to 127.0.0.1: allowed explicitly; the SSRF guard refuses it by default.
    security: { allowPrivateNetworks: true },
    // A short schedule so that retries play out in seconds (the default is the Standard Webhooks one, over days).
    retry: { delaysMs: [100, 250, 500], jitter: 0.2 },
    http: { timeoutMs: 5_000 },
    concurrency: 32,
  });
  await webhooks.start();

  const subscriptions = [
    { receiver: erp, eventTypes: ['payment.*', 'refund.*', 'transaction.created'], description: 'ERP: the general ledger' },
    { receiver: crm, eventTypes: ['payment.succeeded', 'payment.failed', 'refund.initiated'], description: 'CRM: customer timeline' },
    { receiver: inventory, eventTypes: ['payment.succeeded', 'balance.depleted'], description: 'Inventory: release stock, pause purchasing' },
    { receiver: globexErp, eventTypes: ['payment.*', 'refund.*', 'transaction.created'], description: 'ERP: the general ledger' },
  ] as const;
  for (const { receiver, eventTypes, description } of subscriptions) {
    // Each organisation's endpoint belongs to its tenant: it receives that tenant's events only.
    const subscription = await webhooks.subscriptions.create({ tenantId: receiver.tenantId, url: receiver.url, eventTypes, description }, { actor: 'onboarding@bookkeeper.example' });
    receiver.setSecret(subscription.secret);
    console.log(`  ${receiver.tenantId!.padEnd(10)} subscribed ${receiver.name.padEnd(24)} ${eventTypes.join(', ')}`);
  }
  // Bookkeeper's own audit sink opts in explicitly to every tenant's events.
  audit.setSecret((await webhooks.subscriptions.create({ allTenants: true, url: audit.url, eventTypes: ['*'], description: 'Bookkeeper: audit of every tenant' })).secret);
  console.log(`  ${'all'.padEnd(10)} subscribed ${audit.name.padEnd(24)} * (allTenants)`);

  let retried = 0;
  let dead = 0;
  webhooks.bus.on('delivery:failed', (event) => {
    if (event.nextAttemptAt !== null) retried += 1;
  });
  webhooks.bus.on('delivery:dead', () => (dead += 1));

  console.log(`\nPublishing ${eventCount} financial events for two organisations…`);
  let fanOut = 0;
  const publishedFor = new Map<string, Set<string>>([
    ['org_acme', new Set()],
    ['org_globex', new Set()],
  ]);
  for (let n = 0; n < eventCount; n++) {
    // Bookkeeper publishes from its request handlers, between other I/O; a tight loop of
    // synchronous SQLite commits would keep the dispatcher's sockets from running at all.
    if (n % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
    const [type, data] = makeEvent(n);
    // Two of three events are Acme's; every event belongs to the organisation whose books it is in.
    const tenantId = n % 3 === 2 ? 'org_globex' : 'org_acme';
    const published = await webhooks.publish(type, data as never, { tenantId, idempotencyKey: `ledger-entry-${n}` });
    publishedFor.get(tenantId)!.add(published.id);
    fanOut += published.deliveryCount;
  }
  console.log(`  ${eventCount} events stored (${publishedFor.get('org_acme')!.size} Acme, ${publishedFor.get('org_globex')!.size} Globex), ${fanOut} deliveries queued`);

  const progress = setInterval(() => {
    void webhooks.metrics().then((metrics) => {
      const line = `  delivered ${metrics.deliveriesSucceeded}/${fanOut}  pending ${metrics.backlog.pending}  retries ${retried}  dead ${metrics.deliveriesDead}`;
      if (isTty) process.stdout.write(`\r${line}   `);
      else console.log(line);
    });
  }, 250);
  await webhooks.drain({ timeoutMs: 45_000 });
  clearInterval(progress);
  if (isTty) process.stdout.write('\n');

  const tamperedStatus = await postTampered(erp.url, erp.secret);
  console.log(`\nA tampered request (amount ×100, original signature) to the ERP: HTTP ${tamperedStatus} — refused`);

  // Every endpoint got its own organisation's events and no other's; the audit sink got them all.
  const foreign = receivers
    .filter((receiver) => receiver.tenantId !== null)
    .reduce((sum, receiver) => sum + [...receiver.processed].filter((id) => id !== 'evt_tampered_demo' && !publishedFor.get(receiver.tenantId!)!.has(id)).length, 0);
  const auditMissing = eventCount - audit.processed.size;

  const metrics = await webhooks.metrics();
  const globexBacklog = await webhooks.metrics({ tenantId: 'org_globex' });
  // A GDPR request from one of Acme's customers: its events' payloads and receivers' answers are erased; the log of deliveries stays.
  const erased = await webhooks.events.expunge({ tenantId: 'org_acme', filter: (event) => (event.data as { customerId?: string }).customerId === 'cus_7' });
  // The CRM integration is retired: a soft delete keeps its deliveries and change log readable.
  const crmSubscription = (await webhooks.subscriptions.list({ tenantId: 'org_acme' })).items.find((item) => item.url === crm.url)!;
  await webhooks.subscriptions.delete(crmSubscription.id, { actor: 'ops@acme.example', reason: 'CRM integration retired' });
  const crmHistory = (await webhooks.subscriptions.history(crmSubscription.id)).items.map((change) => `${change.action} by ${change.actor}`);
  // Globex leaves: its endpoint, events, deliveries and attempts go, in bounded batches.
  const offboarded = await webhooks.tenants.delete('org_globex');
  const [p50, p99] = pct([metrics.deliveryLatencyMs.p50, metrics.deliveryLatencyMs.p99]);
  const verificationFailures = receivers.reduce((sum, receiver) => sum + [...receiver.refused.values()].reduce((a, b) => a + b, 0), 0);
  console.log('\nSummary');
  console.log(`  events published           ${eventCount}`);
  console.log(`  deliveries                 ${fanOut}`);
  console.log(`  delivered                  ${metrics.deliveriesSucceeded}`);
  console.log(`  retried (failed attempts)  ${retried}`);
  console.log(`  dead (redeliverable)       ${dead}`);
  console.log(`  latency p50 / p99          ${p50} / ${p99}   (publish → 2xx)`);
  console.log(`  retry success rate         ${metrics.retrySuccessRate === null ? '–' : `${(metrics.retrySuccessRate * 100).toFixed(1)} %`}`);
  console.log(`  signature verification failures  ${verificationFailures} (${[...new Set(receivers.flatMap((r) => [...r.refused.keys()]))].join(', ') || 'none'})`);
  for (const receiver of receivers) {
    console.log(`  ${receiver.name.padEnd(24)} received ${receiver.received} requests, processed ${receiver.processed.size} events, duplicates ${receiver.duplicates}`);
  }
  console.log(`  events delivered to another organisation  ${foreign}`);
  console.log(`  Globex's backlog before it left  ${globexBacklog.backlog.pending} pending, ${globexBacklog.backlog.delivered} delivered`);
  console.log(
    `  Globex offboarded: removed ${offboarded.subscriptions} subscription, ${offboarded.events} events, ${offboarded.deliveries} deliveries, ${offboarded.attempts} attempts`,
  );

  console.log(`  erased for customer cus_7  ${erased.expunged} events, ${erased.snippets} response snippets`);
  console.log(`  CRM endpoint's change log  ${crmHistory.join(', ')}`);

  const lost = fanOut - metrics.deliveriesSucceeded - dead;

  // The dashboard on the demo's data. It listens on 127.0.0.1 only, so the demo opts out of
  // authorization explicitly; a real host passes `authorize` (see examples/dashboard.ts).
  const dashboard = createDashboard(webhooks, { title: 'Bookkeeper webhooks (demo)', dangerouslyDisableAuthorization: true });
  // The receivers' verification failures, fed to the overview as a host would from its receivers' `onVerificationFailure`.
  for (const receiver of receivers) for (const [code, count] of receiver.refused) for (let n = 0; n < count; n++) dashboard.recordVerificationFailure(code);
  const dashboardServer = createServer(dashboard.node()).listen(Number(process.env.DEMO_DASHBOARD_PORT ?? 0), '127.0.0.1');
  await once(dashboardServer, 'listening');
  const dashboardUrl = `http://127.0.0.1:${(dashboardServer.address() as AddressInfo).port}/`;
  const overview = await fetch(dashboardUrl);
  await overview.arrayBuffer();
  console.log(`\nDashboard: ${dashboardUrl}  (overview HTTP ${overview.status}; loopback only, no authorization: demo use)`);
  if (keepDashboard) {
    console.log('  serving the demo data until Ctrl-C');
    await once(process, 'SIGINT');
  } else {
    console.log('  closed with the demo: `npm run demo -- --dashboard` keeps it running');
  }
  dashboardServer.closeAllConnections();
  await new Promise((resolve) => dashboardServer.close(resolve));
  await webhooks.close();
  await Promise.all(receivers.map((receiver) => receiver.close()));
  if (!keepDir) rmSync(dir, { recursive: true, force: true });
  console.log(`\nDone in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
  const globexEvents = publishedFor.get('org_globex')!.size;
  if (overview.status !== 200 || lost !== 0 || tamperedStatus !== 401 || verificationFailures !== 1 || foreign !== 0 || auditMissing !== 0 || offboarded.events !== globexEvents) {
    console.error(
      `Unexpected: dashboard overview status=${overview.status}, lost=${lost}, tampered status=${tamperedStatus}, verification failures=${verificationFailures}, foreign deliveries=${foreign}, missing at the audit sink=${auditMissing}, Globex events removed=${offboarded.events} of ${globexEvents}`,
    );
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
