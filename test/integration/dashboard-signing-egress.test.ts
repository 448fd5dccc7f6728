/**
 * The dashboard's side of signing schemes and egress, over real loopback HTTP (the Node
 * adapter on a loopback server, a loopback receiver): the create form's choice of `v1` or
 * `v1a`, a rotation that moves a subscription from one to the other with an overlap, a
 * subscription's TLS identity shown read-only (a certificate near or past its end flagged),
 * an attempt that failed at the egress proxy labelled as such — and no page, HTML or JSON,
 * operator's or portal's, that shows a `whsk_` secret key or a TLS private key.
 */
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type DashboardOptions } from '../../src/dashboard/index.js';
import { createMemoryStorage, createWebhooks, type BookkeeperEvents, type DashboardActionEvent, type Webhooks, type WebhooksOptions } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver, type ReceivedRequest } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';
import { createTestCa, type TestCa, type TestIdentity } from '../support/test-certificates.js';

const cleanups = registerCleanups();
const BASE_PATH = '/admin/webhooks';
const DAY_MS = 86_400_000;

let ca: TestCa;
let client: TestIdentity;
beforeAll(() => {
  ca = createTestCa();
  client = ca.issue({ commonName: 'bookkeeper-sender', usage: 'client', notAfter: new Date(Date.now() + 90 * DAY_MS) });
});

interface Served {
  webhooks: Webhooks;
  clock: FakeClock;
  actions: DashboardActionEvent[];
  /** The dashboard's origin and base path on its loopback server. */
  base: string;
  /** Another dashboard of the same instance on its own server (the portal). */
  serve(options: Partial<DashboardOptions>): Promise<string>;
}

async function listen(listener: ReturnType<ReturnType<typeof createDashboard>['node']>): Promise<string> {
  const server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}${BASE_PATH}`;
}

/** A memory instance on a fake clock at the real time (test certificates are valid from an hour ago), and its operator's dashboard served on loopback. */
async function setup(options: Omit<WebhooksOptions<BookkeeperEvents>, 'storage' | 'clock'> = {}): Promise<Served> {
  const clock = new FakeClock(Date.now());
  const webhooks = createWebhooks<BookkeeperEvents>({ storage: createMemoryStorage(), clock, meter: false, pollIntervalMs: 60_000, retry: { delaysMs: [] }, ...options });
  cleanups.push(() => webhooks.close());
  const actions: DashboardActionEvent[] = [];
  webhooks.bus.on('dashboard:action', (event) => actions.push(event));
  const serve = (dashboardOptions: Partial<DashboardOptions>) =>
    listen(createDashboard(webhooks, { basePath: BASE_PATH, clock, authorize: () => ({ actor: 'ops:alice' }), ...dashboardOptions }).node());
  return { webhooks, clock, actions, base: await serve({}), serve };
}

function get(base: string, path: string, accept = 'text/html'): Promise<Response> {
  return fetch(`${base}${path}`, { headers: { accept }, redirect: 'manual' });
}

function post(base: string, path: string, fields: Record<string, string>, accept = 'text/html'): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { origin: new URL(base).origin, 'content-type': 'application/x-www-form-urlencoded', accept },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
}

async function pageOf(response: Response, status = 200): Promise<string> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  return text;
}

/** The scheme of each entry of the request's `webhook-signature`. */
function schemesOf(request: ReceivedRequest): string[] {
  return String(request.headers['webhook-signature']).split(' ').map((entry) => entry.slice(0, entry.indexOf(',')));
}

function messageOf(request: ReceivedRequest) {
  return { body: request.body, headers: request.headers as Record<string, string> };
}

/** Lines of a PEM block's body long enough to be unmistakable (a key's text anywhere on a page). */
function pemBodyLines(pem: string): string[] {
  return pem.split('\n').filter((line) => line.length >= 40 && !line.startsWith('-----'));
}

describe('choosing the signing scheme when creating', () => {
  it('offers v1 (chosen) and v1a; a v1a creation shows its public key, never its secret key, and its page shows the key again', async () => {
    const { webhooks, base } = await setup();
    const form = await pageOf(await get(base, '/subscriptions/new'));
    expect(form).toContain('<input type="radio" name="signing" value="v1" checked> v1 — HMAC-SHA256');
    expect(form).toContain('<input type="radio" name="signing" value="v1a"> v1a — Ed25519');

    const page = await pageOf(await post(base, '/subscriptions', { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', signing: 'v1a' }));
    const [created] = (await webhooks.subscriptions.list()).items;
    expect(created).toMatchObject({ signing: 'v1a', publicKeys: [expect.stringMatching(/^whpk_/)] });
    const { secret } = await webhooks.subscriptions.getSecrets(created!.id);
    expect(secret).toMatch(/^whsk_/);
    expect(page).toContain('<h1>Subscription created</h1>');
    expect(page).toContain(`<code class="secret" id="secret">${created!.publicKeys[0]}</code>`);
    expect(page).not.toContain('whsk_');
    const detail = await pageOf(await get(base, `/subscriptions/${created!.id}`));
    expect(detail).toContain('<dt>Signing</dt><dd>v1a (Ed25519)</dd>');
    expect(detail).toContain(`<dt>Public key</dt><dd><code class="mono">${created!.publicKeys[0]}</code></dd>`);

    // A JSON client gets the public key with the subscription, and no secret key.
    const json = await pageOf(await post(base, '/subscriptions', { url: 'https://crm.example.com/hooks', eventTypes: 'payment.succeeded', signing: 'v1a' }, 'application/json'));
    const body = JSON.parse(json) as { subscription: { id: string; publicKey: string; signing: string }; secret?: string };
    expect(body.subscription).toMatchObject({ signing: 'v1a', publicKey: (await webhooks.subscriptions.get(body.subscription.id))!.publicKeys[0] });
    expect(body).not.toHaveProperty('secret');
    expect(json).not.toContain('whsk_');

    // Without a choice: v1, whose whsec_ secret is shown once.
    const plain = await pageOf(await post(base, '/subscriptions', { url: 'https://inventory.example.com/hooks', eventTypes: 'payment.succeeded' }));
    const v1 = (await webhooks.subscriptions.list()).items.find((item) => item.url === 'https://inventory.example.com/hooks')!;
    expect(v1).toMatchObject({ signing: 'v1', publicKeys: [] });
    expect(plain).toContain(`<code class="secret" id="secret">${(await webhooks.subscriptions.getSecrets(v1.id)).secret}</code>`);
  });

  it('shows the form again with the error next to the scheme for an unknown one, creates nothing, and refuses a scheme on an edit', async () => {
    const { webhooks, base } = await setup();
    const fields = { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', signing: 'v2' };
    const page = await pageOf(await post(base, '/subscriptions', fields), 400);
    expect(page).toMatch(/<p class="notice error" id="signing-error">Expected `signing` to be v1 or v1a, got [^<]+<\/p>/);
    expect(page).toContain('<p class="notice error" role="alert"><a href="#signing-error">');
    expect(JSON.parse(await pageOf(await post(base, '/subscriptions', fields, 'application/json'), 400))).toMatchObject({ error: 'INPUT_INVALID', field: 'signing' });
    expect((await webhooks.subscriptions.list()).items).toEqual([]);

    const created = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    const edit = await pageOf(await get(base, `/subscriptions/${created.id}/edit`));
    expect(edit).not.toContain('name="signing"');
    const refused = await post(base, `/subscriptions/${created.id}`, { url: created.url, eventTypeFilters: 'payment.*', signing: 'v1a' }, 'application/json');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'INPUT_INVALID' });
    expect(await webhooks.subscriptions.get(created.id)).toMatchObject({ signing: 'v1' });
  });

  it('lets the portal create a v1a endpoint for its tenant', async () => {
    const { webhooks, serve } = await setup();
    const portal = await serve({ scope: () => 'acme' });
    const page = await pageOf(await post(portal, '/subscriptions', { url: 'https://acme.example.com/hooks', eventTypes: 'payment.succeeded', signing: 'v1a' }));
    const [created] = (await webhooks.subscriptions.list({ tenantId: 'acme' })).items;
    expect(created).toMatchObject({ tenantId: 'acme', signing: 'v1a' });
    expect(page).toContain('<h1>Endpoint created</h1>');
    expect(page).toContain(created!.publicKeys[0]);
    expect(page).not.toContain('whsk_');
  });
});

describe('moving a subscription to another scheme by a rotation', () => {
  it('moves v1 to v1a with an overlap: the page gives the public key, and a request then carries a v1 and a v1a signature', async () => {
    const receiver = await LoopbackReceiver.start();
    cleanups.push(() => receiver.close());
    const { webhooks, base, actions } = await setup({ security: { allowPrivateNetworks: true } });
    const created = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    const before = await pageOf(await get(base, `/subscriptions/${created.id}`));
    expect(before).toContain('<option value="" selected>keep v1 (HMAC-SHA256)</option>');
    expect(before).toContain('<option value="v1a">switch to v1a (Ed25519): the receiver gets a public key</option>');

    const page = await pageOf(await post(base, `/subscriptions/${created.id}/rotate-secret`, { signing: 'v1a', overlapMs: '3600000', reason: 'move to Ed25519' }));
    const moved = (await webhooks.subscriptions.get(created.id))!;
    expect(moved).toMatchObject({ signing: 'v1a', publicKeys: [expect.stringMatching(/^whpk_/)] });
    expect(page).toContain('<p>Signing moved from v1 (HMAC-SHA256) to v1a (Ed25519).</p>');
    expect(page).toContain(`<code class="secret" id="secret">${moved.publicKeys[0]}</code>`);
    expect(page).toContain('keeps signing beside the new one for 1 h');
    expect(page).not.toContain('whsk_');
    expect(actions).toEqual([expect.objectContaining({ action: 'subscription.rotate-secret', subscriptionId: created.id, details: { overlapMs: 3_600_000, signing: 'v1a' } })]);
    expect((await webhooks.subscriptions.history(created.id)).items.at(-1)).toMatchObject({ action: 'secret_rotated', actor: 'ops:alice', reason: 'move to Ed25519' });

    // A test request from the page: each receiver, switched or not, verifies with what it holds.
    await pageOf(await post(base, `/subscriptions/${created.id}/test`, { type: '' }));
    expect(receiver.requests).toHaveLength(1);
    const request = receiver.requests[0]!;
    expect(schemesOf(request)).toEqual(['v1a', 'v1']);
    expect(verifyWebhook(messageOf(request), { secrets: moved.publicKeys[0]! }).type).toBe('webhook.test');
    expect(verifyWebhook(messageOf(request), { secrets: created.secret }).type).toBe('webhook.test');

    const after = await pageOf(await get(base, `/subscriptions/${created.id}`));
    expect(after).toContain('<option value="" selected>keep v1a (Ed25519)</option>');
    expect(after).toContain('<option value="v1">switch to v1 (HMAC-SHA256): the receiver gets a shared secret</option>');
  });

  it('keeps the scheme when none is chosen, and refuses an unknown one changing nothing', async () => {
    const { webhooks, base, actions } = await setup();
    const created = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'], signing: 'v1a' });
    const page = await pageOf(await post(base, `/subscriptions/${created.id}/rotate-secret`, { signing: '', overlapMs: '0' }));
    const rotated = (await webhooks.subscriptions.get(created.id))!;
    expect(rotated.signing).toBe('v1a');
    expect(rotated.publicKeys).toHaveLength(1);
    expect(rotated.publicKeys[0]).not.toBe(created.publicKey);
    expect(page).not.toContain('Signing moved');
    expect(page).toContain(rotated.publicKeys[0]);
    expect(actions.map((action) => action.details)).toEqual([{ overlapMs: 0 }]);

    const refused = await post(base, `/subscriptions/${created.id}/rotate-secret`, { signing: 'v3' }, 'application/json');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'INPUT_INVALID' });
    expect((await webhooks.subscriptions.get(created.id))!.publicKeys).toEqual(rotated.publicKeys);
  });
});

describe('a subscription’s TLS identity', () => {
  it('shows the certificate’s subject, issuer, validity and fingerprint, a key held but never the key, the CA and the server name, and that the API sets them', async () => {
    const { webhooks, base } = await setup();
    const created = await webhooks.subscriptions.create({
      url: 'https://erp.example.com/hooks',
      eventTypes: ['payment.*'],
      tls: { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate, serverName: 'receiver.internal' },
    });
    const page = await pageOf(await get(base, `/subscriptions/${created.id}`));
    const certificate = new X509Certificate(client.certificate);
    const tls = page.slice(page.indexOf('<h2>TLS</h2>'), page.indexOf('<h2>Actions</h2>'));
    expect(tls).toContain('<dt>Client certificate</dt><dd><span class="mono">CN=bookkeeper-sender</span></dd>');
    expect(tls).toContain('<dt>Issuer</dt><dd><span class="mono">CN=Bookkeeper Test CA</span></dd>');
    expect(tls).toContain(`<dt>Valid from</dt><dd><time datetime="${new Date(certificate.validFrom).toISOString()}">`);
    expect(tls).toMatch(new RegExp(`<dt>Valid until</dt><dd><time datetime="${new Date(certificate.validTo).toISOString()}">[^<]+</time></dd>`));
    expect(tls).toContain(`<dt>SHA-256 fingerprint</dt><dd class="mono">${certificate.fingerprint256}</dd>`);
    expect(tls).toContain('<dt>Client key</dt><dd>held, sealed at rest; never shown</dd>');
    expect(tls).toContain('<dt>CA</dt><dd>a private CA bundle of 1 certificate: the endpoint’s certificate must chain to it</dd>');
    expect(tls).toContain('<dt>Server name</dt><dd><span class="mono">receiver.internal</span></dd>');
    expect(tls).toContain('subscriptions.update(id, { tls })');
    for (const line of pemBodyLines(client.key)) expect(page).not.toContain(line);

    // The edit form has no TLS field, and a post with one is refused rather than dropped.
    expect(await pageOf(await get(base, `/subscriptions/${created.id}/edit`))).not.toContain('name="tls');
    const refused = await post(base, `/subscriptions/${created.id}`, { url: created.url, eventTypeFilters: 'payment.*', tls: '' }, 'application/json');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'INPUT_INVALID' });

    const plain = await webhooks.subscriptions.create({ url: 'https://crm.example.com/hooks', eventTypes: ['payment.*'] });
    expect(await pageOf(await get(base, `/subscriptions/${plain.id}`))).toContain('<h2>TLS</h2>\n<p>None: no client certificate is presented, and the endpoint’s certificate is checked against the public roots.</p>');
  });

  it('flags a client certificate that ends within 30 days, and one that has ended', async () => {
    const { webhooks, base, clock } = await setup();
    const shortLived = ca.issue({ commonName: 'short-lived', usage: 'client', notAfter: new Date(clock.now() + 10 * DAY_MS) });
    const lasting = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'], tls: { clientCertificate: client.certificate, clientKey: client.key } });
    const ending = await webhooks.subscriptions.create({ url: 'https://crm.example.com/hooks', eventTypes: ['payment.*'], tls: { clientCertificate: shortLived.certificate, clientKey: shortLived.key } });

    expect(await pageOf(await get(base, `/subscriptions/${lasting.id}`))).not.toMatch(/badge expir/);
    expect(await pageOf(await get(base, `/subscriptions/${ending.id}`))).toMatch(/<span class="badge expiring">expires in (9 d 23 h|10 d)<\/span>/);

    await clock.advance(11 * DAY_MS);
    const expired = await pageOf(await get(base, `/subscriptions/${ending.id}`));
    expect(expired).toContain('<span class="badge expired">expired</span>');
    expect(expired).not.toContain('badge expiring');
    // 79 days left: not yet flagged.
    expect(await pageOf(await get(base, `/subscriptions/${lasting.id}`))).not.toMatch(/badge expir/);
    await clock.advance(61 * DAY_MS);
    expect(await pageOf(await get(base, `/subscriptions/${lasting.id}`))).toMatch(/<span class="badge expiring">expires in 1[78] d/);
  });
});

describe('an attempt that failed at the egress proxy', () => {
  it('is labelled a proxy failure not counted against the endpoint, on the delivery’s page and in the test requests; other classes carry no such note', async () => {
    // A proxy that refuses connections (a closed port), and a target the proxy is bypassed for that refuses them too.
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const proxyPort = (closed.address() as AddressInfo).port;
    const bypassed = await LoopbackReceiver.start();
    const bypassedUrl = bypassed.url;
    await bypassed.close();
    await new Promise((resolve) => closed.close(resolve));
    const receiver = await LoopbackReceiver.start();
    cleanups.push(() => receiver.close());
    const { webhooks, base } = await setup({
      security: { allowPrivateNetworks: true },
      http: { proxy: { url: `http://127.0.0.1:${proxyPort}`, noProxy: [new URL(bypassedUrl).host] } },
    });
    const proxied = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    const direct = await webhooks.subscriptions.create({ url: bypassedUrl, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const proxyNote = '<span class="mono">proxy</span> <span class="muted">(proxy failure — not counted against the endpoint)</span>';

    const [proxiedDelivery] = (await webhooks.deliveries.list({ subscriptionId: proxied.id })).items;
    expect((await webhooks.deliveries.attempts(proxiedDelivery!.id)).map((attempt) => attempt.errorClass)).toEqual(['proxy']);
    const proxiedPage = await pageOf(await get(base, `/deliveries/${proxiedDelivery!.id}`));
    const proxiedCell = proxiedPage.slice(proxiedPage.indexOf('<h2>Attempts</h2>'));
    expect(proxiedCell).toContain(`<td>${proxyNote} `);
    expect(proxiedCell).toContain(`the proxy http://127.0.0.1:${proxyPort} failed`);
    expect(receiver.requests).toEqual([]);
    // Not counted: the endpoint is not failing.
    expect((await webhooks.subscriptions.get(proxied.id))!.failingSince).toBeNull();
    expect(await pageOf(await get(base, `/subscriptions/${proxied.id}`))).toContain('<dt>Failing since</dt><dd>—</dd>');

    const [directDelivery] = (await webhooks.deliveries.list({ subscriptionId: direct.id })).items;
    const directPage = await pageOf(await get(base, `/deliveries/${directDelivery!.id}`));
    expect(directPage).toMatch(/<span class="mono">connect<\/span> [^<(]*ECONNREFUSED/);
    expect(directPage).not.toContain('not counted against the endpoint');
    expect((await webhooks.subscriptions.get(direct.id))!.failingSince).not.toBeNull();

    // A test request through the same proxy.
    await pageOf(await post(base, `/subscriptions/${proxied.id}/test`, { type: '' }));
    const detail = await pageOf(await get(base, `/subscriptions/${proxied.id}`));
    const tests = detail.slice(detail.indexOf('<h2>Test requests</h2>'), detail.indexOf('<h2>Change log</h2>'));
    expect(tests).toContain(proxyNote);
  });
});

describe('secret keys and private keys', () => {
  it('appear on no page, HTML or JSON, of the operator or the portal, whatever link is followed', async () => {
    const { webhooks, base, serve } = await setup();
    const portal = await serve({ scope: () => 'acme' });
    const tls = { clientCertificate: client.certificate, clientKey: client.key, ca: ca.certificate };
    const secretKeys: string[] = [];
    const pages: string[] = [];
    // Creations and rotations through the dashboard, their answers kept.
    for (const [at, tenant] of [
      [base, 'acme'],
      [portal, null],
    ] as const) {
      const fields = { url: `https://${tenant ?? 'portal'}.example.com/hooks`, eventTypes: 'payment.succeeded', signing: 'v1a', ...(tenant === null ? {} : { tenantId: tenant }) };
      pages.push(await pageOf(await post(at, '/subscriptions', fields)));
      pages.push(await pageOf(await post(at, '/subscriptions', fields, 'application/json')));
    }
    const subscriptions = (await webhooks.subscriptions.list({ tenantId: 'acme' })).items;
    expect(subscriptions).toHaveLength(4);
    for (const subscription of subscriptions) {
      await webhooks.subscriptions.update(subscription.id, { tls });
      pages.push(await pageOf(await post(base, `/subscriptions/${subscription.id}/rotate-secret`, { overlapMs: '3600000' })));
      pages.push(await pageOf(await post(portal, `/subscriptions/${subscription.id}/rotate-secret`, { overlapMs: '3600000' }, 'application/json')));
      const secrets = await webhooks.subscriptions.getSecrets(subscription.id);
      secretKeys.push(secrets.secret, ...secrets.previous.map((old) => old.secret));
    }
    await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'acme' });
    expect(secretKeys.every((key) => key.startsWith('whsk_'))).toBe(true);

    // Every page each dashboard links to, as HTML and as JSON.
    for (const at of [base, portal]) {
      const seen = new Set<string>();
      const queue = ['/', '/subscriptions', '/deliveries', ...subscriptions.map((subscription) => `/subscriptions/${subscription.id}`)];
      while (queue.length > 0 && seen.size < 200) {
        const path = queue.shift()!;
        if (seen.has(path)) continue;
        seen.add(path);
        const html = await get(at, path);
        const text = await html.text();
        if (html.status >= 300 && html.status < 400) continue;
        expect([path, html.status]).toEqual([path, 200]);
        pages.push(text, await (await get(at, path, 'application/json')).text());
        for (const match of text.matchAll(/href="([^"#]+)"/g)) {
          const link = new URL(match[1]!.replaceAll('&amp;', '&'), at);
          if (link.origin === new URL(at).origin && link.pathname.startsWith(BASE_PATH) && !link.pathname.startsWith(`${BASE_PATH}/assets/`)) {
            queue.push(link.pathname.slice(BASE_PATH.length) + link.search);
          }
        }
      }
      expect(seen.size).toBeGreaterThan(10);
    }
    const forbidden = ['whsk_', 'PRIVATE KEY', ...pemBodyLines(client.key), ...secretKeys.map((key) => key.slice('whsk_'.length, 40))];
    for (const text of pages) for (const value of forbidden) expect(text).not.toContain(value);
    // What they do show: the public keys and the certificate's fingerprint.
    expect(pages.join('\n')).toContain((await webhooks.subscriptions.get(subscriptions[0]!.id))!.publicKeys[0]);
    expect(pages.join('\n')).toContain(new X509Certificate(client.certificate).fingerprint256);
  });
});
