import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { bookkeeperEvents } from '../../src/events/bookkeeper-events.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'webhooks-examples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runExample(file: string, env: Record<string, string>, args: string[] = []) {
  return run(process.execPath, ['--import', 'tsx', join(root, 'examples', file), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
}

describe('examples', () => {
  it('runs the README quick start: the ERP verifies and books the payment, delivered on the first attempt', async () => {
    const { stdout } = await runExample('quick-start.ts', { WEBHOOKS_DB: join(dir, 'quick-start.db') });
    expect(stdout).toContain('ERP booked payment.succeeded {"paymentId":"pay_123"');
    expect(stdout).toContain('"amount":{"amount":12300,"currency":"EUR"}');
    expect(stdout).toContain('delivery delivered after 1 attempt(s)');
  }, 60_000);

  it('runs the SQLite outbox example: the rolled-back ledger write left no event, the committed one has its delivery, in a database switched to WAL', async () => {
    const filename = join(dir, 'ledger.db');
    const { stdout } = await runExample('sqlite-outbox.ts', { LEDGER_DB: filename });
    expect(stdout).toContain('ledger check failed: rolling back');
    expect(stdout).toMatch(/^ledger rows: pay_\d+$/m);
    expect(stdout).toContain('deliveries queued: 1 (payment.succeeded)\n');
    expect(stdout).toContain('deliveries of the rolled-back event: 0\n');
    // What the file holds: the ledger row and its event side by side, in WAL mode as the example set it.
    const db = new Database(filename, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
      expect({ ledger: count('SELECT count(*) AS n FROM ledger'), events: count('SELECT count(*) AS n FROM webhook_events') }).toEqual({ ledger: 1, events: 1 });
    } finally {
      db.close();
    }
  }, 60_000);

  it('runs the inbox example on SQLite: the redelivery is not booked twice, the month-old event is left for review; run again on the same file (a restart), it books nothing', async () => {
    const filename = join(dir, 'erp-inbox.db');
    const first = await runExample('inbox.ts', { ERP_DB: filename, DATABASE_URL: '' });
    expect(first.stdout.trim().split('\n')).toEqual([
      'booked pay_1',
      'duplicate: evt_inbox_1 is booked already',
      'booked pay_2',
      expect.stringMatching(/^stale: evt_inbox_3 of \d{4}-\d\d-\d\dT[\d:.]+Z left for review$/),
      'ledger: pay_1, pay_2',
      'purged: 0',
    ]);
    const restarted = await runExample('inbox.ts', { ERP_DB: filename, DATABASE_URL: '' });
    expect(restarted.stdout.trim().split('\n').slice(0, 3)).toEqual([
      'duplicate: evt_inbox_1 is booked already',
      'duplicate: evt_inbox_1 is booked already',
      'duplicate: evt_inbox_2 is booked already',
    ]);
    const db = new Database(filename, { readonly: true });
    try {
      expect(db.prepare('SELECT id, event_type FROM webhook_inbox ORDER BY id').all()).toEqual([
        { id: 'evt_inbox_1', event_type: 'payment.succeeded' },
        { id: 'evt_inbox_2', event_type: 'payment.succeeded' },
      ]);
      expect(db.prepare('SELECT count(*) AS n FROM ledger').get()).toEqual({ n: 2 });
    } finally {
      db.close();
    }
  }, 60_000);

  it('runs the compliance example: a sensitive header redacted on read and given by getHeaders, a secret within its age policy, the change log, an erasure, a soft then hard delete, a test-environment event refused by a live consumer', async () => {
    const { stdout } = await runExample('compliance.ts', {});
    expect(stdout.trim().split('\n')).toEqual([
      "{ Authorization: '[redacted]', 'x-request-source': 'bookkeeper' }",
      "[ 'Authorization' ]",
      'getHeaders: the token in clear',
      'secret age: within policy',
      expect.stringMatching(/^audit: bob@bookkeeper\.example moved sub_[0-9A-Z]{26}$/),
      'created alice@bookkeeper.example tenantId allTenants url eventTypes filter transform versions orderingOnDead headers description metadata retry flowControl tls secrets status disabledReason deletedAt',
      'updated bob@bookkeeper.example url',
      'disabled bob@bookkeeper.example status disabledReason',
      'enabled bob@bookkeeper.example status disabledReason',
      '{ expunged: 1, cancelled: 1, snippets: 0 }',
      'null',
      'deleted, still readable: true',
      'refused: WEBHOOK_ENVIRONMENT_MISMATCH',
    ]);
  }, 60_000);

  it("runs the tenants example: an organisation's event reaches its own endpoint and the audit sink, its reads are scoped, a departing tenant is removed", async () => {
    const { stdout } = await runExample('tenants.ts', {});
    expect(stdout).toContain('deliveries: 2\n');
    expect(stdout).toContain('acme: 1 delivery, 1 pending\n');
    expect(stdout).toContain('globex removed: 1 subscription\n');
  }, 60_000);

  it('runs the custom catalog example: its own event types publish, bad data and unknown types are refused with codes', async () => {
    const { stdout } = await runExample('custom-catalog.ts', {});
    expect(stdout.trim().split('\n')).toEqual(['catalog: invoice.paid, invoice.voided', 'refused: EVENT_DATA_INVALID', 'refused: EVENT_TYPE_UNKNOWN']);
  }, 60_000);

  it('runs the export example: a JSON Schema per type and the OpenAPI and AsyncAPI documents, written as files', async () => {
    const out = join(dir, 'schemas');
    const { stdout } = await runExample('export-catalog.ts', {}, [out]);
    expect(stdout.trim()).toBe(`wrote ${bookkeeperEvents.types.length} schemas, openapi.json and asyncapi.json to ${out}`);
    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['openapi.json', 'asyncapi.json', 'payment.succeeded.schema.json', 'reconciliation.completed.schema.json']));
    expect(files).toHaveLength(bookkeeperEvents.types.length + 2);
    const openapi = JSON.parse(await readFile(join(out, 'openapi.json'), 'utf8')) as { openapi: string; info: { title: string }; webhooks: Record<string, unknown> };
    expect(openapi).toMatchObject({ openapi: '3.1.0', info: { title: 'Acme ledger events' } });
    expect(Object.keys(openapi.webhooks)).toEqual([...bookkeeperEvents.types]);
  }, 60_000);

  it('runs the money example: exponents from the shipped table, an unknown code and a float refused, amounts shown, tax summed and an exchange rate applied without floats', async () => {
    const { stdout } = await runExample('money.ts', {});
    expect(stdout.trim().split('\n')).toEqual([
      '2 0 3',
      'false',
      'true',
      'false',
      'true',
      'false',
      'INV-2026-0042: 93.00 EUR received, 0.00 due',
      'VAT 19 %: 19.64 EUR',
      // 250.00 × 0.9223 = 230.575 exactly, rounded half to even.
      'CH-2026-11-0193: 250.00 USD = 230.58 EUR at 0.9223',
    ]);
  }, 60_000);

  it('runs the typed router example: each type reaches its handler, and validate refuses a float amount before the handler', async () => {
    const { stdout } = await runExample('typed-router.ts', {});
    expect(stdout.trim().split('\n')).toEqual([
      'booked pay_123: 12300 EUR minor units',
      'held ref_7',
      'booked pay_124: 12300 EUR minor units',
      'refused evt_5: EVENT_DATA_INVALID',
    ]);
  }, 60_000);

  it('runs the delivery log example: the dead deliveries are listed with their attempts, one redelivered, the rest replayed, all delivered', async () => {
    const { stdout } = await runExample('delivery-log.ts', {});
    expect(stdout).toContain('undelivered: 3, dead: dead, dead, dead\n');
    expect(stdout).toMatch(/^attempts of dlv_\w+: 503 http, 503 http$/m);
    expect(stdout).toContain('replay would re-send 2\n');
    expect(stdout).toContain('3 of 3 events delivered');
  }, 60_000);

  it('runs the event feed example: the ERP, down for three payments, pulls them from the feed, and the later retries book nothing twice', async () => {
    const { stdout } = await runExample('event-feed.ts', {});
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, 5)).toEqual([
      'ERP down: 3 deliveries failed',
      'pulled: 3 processed, 0 duplicates',
      'retries: 3 delivered, answered as duplicates',
      'booked: pay_1×1, pay_2×1, pay_3×1',
      'pulled again: 0 processed, cursor kept: true',
    ]);
    expect(lines.slice(5)).toHaveLength(3);
    for (const line of lines.slice(5)) expect(line).toMatch(/^evt_[0-9A-Z]{26} payment\.succeeded v1,[A-Za-z0-9+/]{43}=$/);
  }, 60_000);

  it('runs the other-sender example: a partner message signed by the standardwebhooks package verifies without our envelope, a tampered copy is refused', async () => {
    const { stdout } = await runExample('other-sender.ts', {});
    expect(stdout).toMatch(/^verified msg_2KWPBgLlAfxdpx2AI54pPJ85f4W signed at \d{10}: \{"object":"shipment","status":"delivered","ref":"SHP-1042"\}$/m);
    expect(stdout).toContain('tampered copy refused: WEBHOOK_NO_MATCHING_SIGNATURE\n');
  }, 60_000);

  it('runs the v1a signatures example: a receiver holding only the public key gets both deliveries, before and after a rotation', async () => {
    const { stdout } = await runExample('v1a-signatures.ts', {});
    expect(stdout).toBe('key pair: whsk_… and whpk_…\nsubscription signs v1a; reads show its public keys: 1\ndeliveries: delivered, delivered; booked: 2\n');
  }, 60_000);

  it('runs the egress example: both deliveries go through the CONNECT proxy, the ERP gets our client certificate, the CA-only CRM none', async () => {
    const { stdout } = await runExample('egress.ts', {});
    expect(stdout.trim().split('\n')).toEqual([
      'erp tls: client certificate CN=bookkeeper-sender, hasClientKey true',
      'crm tls: client certificate null, hasClientKey false',
      'erp received a request from client certificate CN=bookkeeper-sender',
      'erp booked payment.succeeded pay_1',
      'crm received a request without a client certificate',
      'crm booked payment.succeeded pay_1',
      'deliveries: delivered, delivered',
      expect.stringMatching(/^proxy CONNECT log: CONNECT 127\.0\.0\.1:\d+ \(crm\), CONNECT 127\.0\.0\.1:\d+ \(erp\)$/),
    ]);
  }, 60_000);

  it('runs the local development example: a receiver on localhost gets the delivery with only localhost allowed, a private address stays refused', async () => {
    const { stdout } = await runExample('local-development.ts', { PORT: '0' });
    expect(stdout).toContain('a private address stays refused: SUBSCRIPTION_URL_FORBIDDEN\n');
    expect(stdout).toContain('delivery to localhost: delivered\n');
  }, 60_000);

  it('runs the verification failures example: a forged and a stale request are refused 401 and counted by code', async () => {
    const { stdout } = await runExample('verification-failures.ts', {});
    expect(stdout).toContain('genuine: HTTP 204\n');
    expect(stdout).toContain('forged: HTTP 401\n');
    expect(stdout).toContain('stale: HTTP 401\n');
    const counted = stdout.split('\n').filter((line) => line.startsWith('webhooks.signature_verification_failures'));
    expect(counted.sort()).toEqual([
      'webhooks.signature_verification_failures{code="WEBHOOK_NO_MATCHING_SIGNATURE"} 1',
      'webhooks.signature_verification_failures{code="WEBHOOK_TIMESTAMP_TOO_OLD"} 1',
    ]);
  }, 60_000);

  it('runs the Next.js route example: POST books a signed payment once, answers its redelivery 200 and refuses a tampered copy 401', async () => {
    const secret = generateSecret();
    vi.stubEnv('BOOKKEEPER_WEBHOOK_SECRET', secret);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const { POST } = await import('../../examples/nextjs-route.js');
      const request = (id: string, tamper = false) => {
        const body = JSON.stringify({
          id,
          type: 'payment.succeeded',
          timestamp: new Date().toISOString(),
          data: { paymentId: 'pay_123', customerId: 'cus_42', amount: { amount: 12_300, currency: 'EUR' }, method: 'card', occurredAt: new Date().toISOString() },
        });
        const timestamp = Math.floor(Date.now() / 1000);
        return new Request('https://erp.example.com/api/webhooks', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook({ id, timestamp, body, secrets: secret }) },
          body: tamper ? body.replace('12300', '99900') : body,
        });
      };
      expect((await POST(request('evt_next_1'))).status).toBe(204);
      const redelivered = await POST(request('evt_next_1'));
      expect(redelivered.status).toBe(200);
      expect(await redelivered.json()).toEqual({ outcome: 'duplicate' });
      const tampered = await POST(request('evt_next_2', true));
      expect(tampered.status).toBe(401);
      expect(await tampered.json()).toEqual({ error: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
      expect(log.mock.calls).toEqual([['booked pay_123: 12300 EUR']]);
    } finally {
      log.mockRestore();
      vi.unstubAllEnvs();
    }
  });

  it('runs the audit-trail example: one JSON line per attempt with ids, attempt number, outcome and timing', async () => {
    const { stdout } = await runExample('audit-trail.ts', {});
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.lifecycle, line.attempt, line.statusCode])).toEqual([
      ['delivery:failed', 1, 503],
      ['delivery:succeeded', 2, 204],
    ]);
    for (const line of lines) {
      expect(line).toMatchObject({ eventId: expect.stringMatching(/^evt_/), subscriptionId: expect.stringMatching(/^sub_/), deliveryId: expect.stringMatching(/^dlv_/) });
      expect(typeof line.durationMs).toBe('number');
    }
  }, 60_000);

  it('runs the payload-filter example: the small payment gets no delivery, the wider filter and its replay take it', async () => {
    const { stdout } = await runExample('payload-filters.ts', {});
    expect(stdout.trim().split('\n')).toEqual(['large: 1 delivery, small: 0', 'now: 1', 'replay would send 1']);
  });

  it('runs the payload-transform example: the ERP gets its own field names, stored with the delivery', async () => {
    const { stdout } = await runExample('payload-transforms.ts', {});
    const [sent, count] = stdout.trim().split('\n');
    expect(JSON.parse(sent!)).toMatchObject({ type: 'payment.succeeded', data: { payment_ref: 'pay_1', total: 123.45, ccy: 'EUR' } });
    expect(count).toBe('1');
  });

  it('runs the ordering example: the refund waits behind the dead payment, which is redelivered, and the ERP books them in order', async () => {
    const { stdout } = await runExample('ordering.ts', {});
    expect(stdout.trim().split('\n')).toEqual(['pay_1 blocked by payment.succeeded #1, 1 waiting', 'booked pay_1 (#1)', 'refunded pay_1 (#2)']);
  });

  it('runs the event-versions example: the ERP pinned to version 1 gets the event downgraded, the new endpoint is pinned to 2, the router narrows by version', async () => {
    const { stdout } = await runExample('event-versions.ts', {});
    const [pins, sent, handled] = stdout.trim().split('\n');
    expect(JSON.parse(pins!)).toEqual([{ 'payment.succeeded': 1 }, { 'payment.succeeded': 2 }]);
    expect(JSON.parse(sent!)).toMatchObject({ type: 'payment.succeeded', version: 1, data: { paymentId: 'pay_2', amountMinor: 2000 } });
    expect(handled).toBe('v1 2000');
  });

  it('runs the retention example: the task runs once at start on a new SQLite database and removes nothing', async () => {
    const { stdout } = await runExample('retention.ts', { WEBHOOKS_DB: join(dir, 'retention.db') });
    expect(stdout.trim()).toBe('retention ran: true, removed 0 deliveries, 0 events, last error null');
  }, 60_000);

  it('runs the dashboard example: signed out, the portal sends to the login page; Acme’s admin sees Acme’s endpoint only and not the operator dashboard; the operator sees it; the sign-in never redirects off the site', async () => {
    const { stdout } = await runExample('dashboard.ts', {});
    expect(stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^signed out, \/portal: 303 to http:\/\/127\.0\.0\.1:\d+\/login\?next=%2Fportal%2Fsubscriptions$/),
      'acme-admin, /portal: 200, shows Acme ERP: true, shows Globex ERP: false',
      'acme-admin, /admin/webhooks: 403',
      'alice, /admin/webhooks: 200',
      'sign-in with next=//evil.example/: 303 to /portal',
    ]);
  }, 60_000);

  it('runs the dashboard frameworks example: the overview served by Fastify, Node http and Hono, refused without the operator header', async () => {
    const { stdout } = await runExample('dashboard-frameworks.ts', {});
    expect(stdout.trim().split('\n')).toEqual([
      'fastify: overview 200 (Overview), without the header 403',
      'node: overview 200 (Overview), without the header 403',
      'hono: overview 200 (Overview), without the header 403',
    ]);
  }, 60_000);

  it("runs the demo to completion on SQLite: nothing lost, each organisation's events at its own endpoints only, the tampered request refused, a customer's events erased, the CRM soft-deleted with its change log, Globex offboarded, a summary printed, the dashboard served on its data", async () => {
    const { stdout } = await runExample('demo.ts', { DEMO_EVENTS: '70', DEMO_DIR: dir });
    expect(stdout).toContain(`storage: SQLite (WAL) at ${join(dir, 'webhooks.db')}`);
    expect(stdout).toMatch(/HTTP 401 — refused/);
    const deliveries = Number(/deliveries\s+(\d+)/.exec(stdout)?.[1]);
    const delivered = Number(/delivered\s+(\d+)\n/.exec(stdout)?.[1]);
    const dead = Number(/dead \(redeliverable\)\s+(\d+)/.exec(stdout)?.[1]);
    expect(deliveries).toBeGreaterThan(70);
    expect(delivered + dead).toBe(deliveries);
    expect(stdout).toMatch(/signature verification failures\s+1 \(WEBHOOK_NO_MATCHING_SIGNATURE\)/);
    expect(stdout).toMatch(/latency p50 \/ p99\s+[\d.]+ ms \/ [\d.]+ ms/);
    expect(stdout).toMatch(/events delivered to another organisation\s+0\n/);
    const globexEvents = Number(/\((\d+) Acme, (\d+) Globex\)/.exec(stdout)?.[2]);
    expect(globexEvents).toBe(23);
    expect(stdout).toContain(`Globex offboarded: removed 1 subscription, ${globexEvents} events,`);
    expect(stdout).toMatch(/Bookkeeper audit sink\s+received \d+ requests, processed 70 events/);
    // Acme's events for cus_7 (a payment.succeeded or payment.failed every 40th n, two of three Acme's) erased.
    expect(stdout).toMatch(/erased for customer cus_7\s+[1-9]\d* events, \d+ response snippets/);
    expect(stdout).toContain("CRM endpoint's change log  created by onboarding@bookkeeper.example, deleted by ops@acme.example");
    expect(stdout).toMatch(/Dashboard: http:\/\/127\.0\.0\.1:\d+\/ {2}\(overview HTTP 200;/);
    expect(stdout).toContain('`npm run demo -- --dashboard` keeps it running');
  }, 60_000);
});
