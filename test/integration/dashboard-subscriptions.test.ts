/**
 * The dashboard's subscriptions area through `dashboard.fetch`, on a real instance: the
 * list with its filters and cursor paging, a subscription's page, creating and editing
 * (errors shown next to their field, with a 400), the actions with their change log and
 * audit, the secret shown only right after a creation or a rotation, stored markup shown
 * as text, the customer portal's tenant boundary, and read-only mode. Create → list →
 * detail → disable → enable once on every storage.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { z } from 'zod';
import { createWebhooks, defineEvents, type BookkeeperEvents, type DashboardActionEvent, type Transport, type Webhooks, type WebhooksOptions } from '../../src/index.js';
import type { DashboardOptions } from '../../src/dashboard/dashboard-options.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { rejectionOf } from '../support/rejections.js';
import { samplePayment } from '../support/sample-payment.js';

const base = 'http://localhost/admin/webhooks';
const scriptMarkup = '<script>alert(1)</script>';
const imageMarkup = '"><img src=x onerror=alert(1)>';
const escapedScript = '&lt;script&gt;alert(1)&lt;/script&gt;';
const escapedImage = '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;';

type Fields = Record<string, string | string[]>;
type Dashboard = ReturnType<typeof createDashboard>;

function formBody(fields: Fields): string {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const item of Array.isArray(value) ? value : [value]) body.append(name, item);
  return body.toString();
}

function get(dashboard: Dashboard, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return dashboard.fetch(new Request(`${base}${path}`, { headers }));
}

function getJson(dashboard: Dashboard, path: string): Promise<Response> {
  return get(dashboard, path, { accept: 'application/json' });
}

function post(dashboard: Dashboard, path: string, fields: Fields = {}, headers: Record<string, string> = {}): Promise<Response> {
  return dashboard.fetch(
    new Request(`${base}${path}`, {
      method: 'POST',
      headers: { origin: 'http://localhost', 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: formBody(fields),
    }),
  );
}

/** The `?done=` notice code of a redirect, after checking it is a 303 to `path`. */
function redirectedTo(response: Response, path: string): string | null {
  expect(response.status).toBe(303);
  const location = new URL(response.headers.get('location')!, base);
  expect(location.pathname).toBe(`/admin/webhooks${path}`);
  return location.searchParams.get('done');
}

/** What `dashboard:action` carried during a test. */
function auditTrail(webhooks: Webhooks): DashboardActionEvent[] {
  const events: DashboardActionEvent[] = [];
  webhooks.bus.on('dashboard:action', (event) => events.push(event));
  return events;
}

const instances: Webhooks[] = [];
afterEach(async () => {
  for (const webhooks of instances.splice(0)) await webhooks.close();
});

/** The dashboard of `webhooks` under /admin/webhooks, used by ops:alice. */
function dashboardOf(webhooks: Webhooks, options: Partial<DashboardOptions> = {}): Dashboard {
  return createDashboard(webhooks, { basePath: '/admin/webhooks', authorize: () => ({ actor: 'ops:alice' }), ...options });
}

function setup(options: Partial<DashboardOptions> = {}, webhooksOptions: WebhooksOptions<BookkeeperEvents> = {}) {
  const webhooks = createWebhooks({ meter: false, ...webhooksOptions });
  instances.push(webhooks);
  return { webhooks, dashboard: dashboardOf(webhooks, options), audit: auditTrail(webhooks) };
}

const subscribe = (webhooks: Webhooks, extra: Partial<Parameters<Webhooks['subscriptions']['create']>[0]> = {}) =>
  webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'], ...extra });

describe('the subscriptions list', () => {
  it('shows every subscription with its status, URL, event types and tenant, as HTML and as JSON', async () => {
    const { webhooks, dashboard } = setup();
    const acme = await subscribe(webhooks, { tenantId: 'acme', description: 'Acme ERP' });
    const platform = await subscribe(webhooks, { url: 'https://audit.example.com/sink', eventTypes: ['*'], allTenants: true });
    await webhooks.subscriptions.disable(platform.id, { reason: 'maintenance' });

    const response = await get(dashboard, '/subscriptions');
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toContain('<h1>Subscriptions</h1>');
    expect(page).toContain(`href="/admin/webhooks/subscriptions/${acme.id}"`);
    expect(page).toContain('https://erp.example.com/hooks');
    expect(page).toContain('Acme ERP');
    expect(page).toContain('<span class="badge active">active</span>');
    expect(page).toContain('<span class="badge disabled">disabled</span>');
    expect(page).toContain('<span class="mono">payment.*</span>');
    expect(page).toContain('<span class="mono">acme</span>');
    expect(page).toContain('platform, every tenant’s events');
    expect(page).toContain('href="/admin/webhooks/subscriptions/new"');

    const json = (await (await getJson(dashboard, '/subscriptions')).json()) as { items: Array<{ id: string }>; nextCursor: string | null };
    expect(json.items.map((item) => item.id)).toEqual([acme.id, platform.id]);
    expect(json.nextCursor).toBeNull();
  });

  it('filters by tenant and status, and shows deleted subscriptions only when asked', async () => {
    const { webhooks, dashboard } = setup();
    const acme = await subscribe(webhooks, { tenantId: 'acme' });
    const globex = await subscribe(webhooks, { tenantId: 'globex' });
    const gone = await subscribe(webhooks, { tenantId: 'acme', url: 'https://old.example.com/hooks' });
    await webhooks.subscriptions.disable(globex.id);
    await webhooks.subscriptions.delete(gone.id);

    const ids = async (path: string) => ((await (await getJson(dashboard, path)).json()) as { items: Array<{ id: string }> }).items.map((item) => item.id);
    expect(await ids('/subscriptions?tenantId=acme')).toEqual([acme.id]);
    expect(await ids('/subscriptions?status=disabled')).toEqual([globex.id]);
    expect(await ids('/subscriptions')).toEqual([acme.id, globex.id]);
    expect(await ids('/subscriptions?deleted=1')).toEqual([acme.id, globex.id, gone.id]);
    const page = await (await get(dashboard, '/subscriptions?deleted=1')).text();
    expect(page).toContain('<span class="badge deleted">deleted</span>');

    const refused = await getJson(dashboard, '/subscriptions?status=paused');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'INPUT_INVALID' });
  });

  it('pages with a cursor, keeping the filters in the links', async () => {
    const { webhooks, dashboard } = setup();
    const ids: string[] = [];
    for (let i = 0; i < 51; i++) ids.push((await subscribe(webhooks, { tenantId: 'acme', description: `endpoint ${i}` })).id);
    await subscribe(webhooks, { tenantId: 'globex' });

    const first = await (await get(dashboard, '/subscriptions?tenantId=acme')).text();
    const next = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(first);
    expect(next).not.toBeNull();
    const nextPath = next![1]!.replaceAll('&amp;', '&').slice('/admin/webhooks'.length);
    expect(new URL(nextPath, base).searchParams.get('tenantId')).toBe('acme');
    expect(first).not.toContain(`/subscriptions/${ids[50]}"`);

    const second = await (await get(dashboard, nextPath)).text();
    expect(second).toContain(`/subscriptions/${ids[50]}"`);
    expect(second).not.toContain(`/subscriptions/${ids[0]}"`);
    expect(second).not.toContain('rel="next"');
    expect(second).toContain('>First page</a>');
  });
});

describe('creating a subscription', () => {
  it('offers the catalog’s event types and creates what was posted, showing its secret once', async () => {
    const { webhooks, dashboard, audit } = setup();
    const form = await (await get(dashboard, '/subscriptions/new')).text();
    expect(form).toContain('<form method="post" action="/admin/webhooks/subscriptions"');
    for (const type of webhooks.events.types) expect(form).toContain(`name="eventTypes" value="${type}"`);
    expect(form).toContain('name="tenantId"');
    expect(form).toContain('name="metadata"');

    const response = await post(dashboard, '/subscriptions', {
      url: 'https://erp.example.com/hooks',
      eventTypes: ['payment.succeeded', 'refund.failed'],
      eventTypeFilters: 'invoice.*',
      description: 'Acme ERP',
      tenantId: 'acme',
      metadata: '{"plan": "gold"}',
      filter: '{\r\n  "data.amount.currency": "EUR",\r\n  "data.amount.amount": { "$gte": 100000 }\r\n}',
      'retry.delaysMs': '1000, 60000',
      'flowControl.maxInFlight': '4',
    });
    expect(response.status).toBe(200);
    const page = await response.text();
    const [subscription] = (await webhooks.subscriptions.list()).items;
    expect(subscription).toMatchObject({
      url: 'https://erp.example.com/hooks',
      eventTypes: ['payment.succeeded', 'refund.failed', 'invoice.*'],
      description: 'Acme ERP',
      tenantId: 'acme',
      allTenants: false,
      metadata: { plan: 'gold' },
      filter: { 'data.amount.currency': 'EUR', 'data.amount.amount': { $gte: 100_000 } },
      retry: { delaysMs: [1000, 60000] },
      flowControl: { maxInFlight: 4 },
    });
    const { secret } = await webhooks.subscriptions.getSecrets(subscription!.id);
    expect(page).toContain(`<code class="secret" id="secret">${secret}</code>`);
    expect(page).toContain('data-copy="secret"');
    expect(page).toContain(`href="/admin/webhooks/subscriptions/${subscription!.id}"`);

    const [created] = (await webhooks.subscriptions.history(subscription!.id)).items;
    expect(created).toMatchObject({ action: 'created', actor: 'ops:alice' });
    expect(audit).toEqual([expect.objectContaining({ action: 'subscription.create', actor: 'ops:alice', subscriptionId: subscription!.id, tenantId: null })]);
  });

  it('gives a JSON client the subscription and its secret', async () => {
    const { webhooks, dashboard } = setup();
    const response = await post(dashboard, '/subscriptions', { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded' }, { accept: 'application/json' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { subscription: { id: string }; secret: string };
    expect(body.secret).toBe((await webhooks.subscriptions.getSecrets(body.subscription.id)).secret);
    expect(body.subscription).not.toHaveProperty('secret');
  });

  it('shows the form again with the error next to its field and a 400, keeping what was typed', async () => {
    const { webhooks, dashboard } = setup();
    const cases: Array<{ fields: Fields; code: string; field: string }> = [
      { fields: { url: 'not a url', eventTypes: 'payment.succeeded', description: 'typed text' }, code: 'SUBSCRIPTION_URL_INVALID', field: 'url' },
      // The SSRF guard applies: the dashboard creates through the API.
      { fields: { url: 'http://127.0.0.1:8080/hooks', eventTypes: 'payment.succeeded', description: 'typed text' }, code: 'SUBSCRIPTION_URL_FORBIDDEN', field: 'url' },
      { fields: { url: 'https://erp.example.com/hooks', description: 'typed text' }, code: 'SUBSCRIPTION_FILTER_INVALID', field: 'eventTypes' },
      { fields: { url: 'https://erp.example.com/hooks', eventTypeFilters: 'nothing.*', description: 'typed text' }, code: 'SUBSCRIPTION_FILTER_UNMATCHED', field: 'eventTypes' },
      { fields: { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', metadata: '{plan', description: 'typed text' }, code: 'INPUT_INVALID', field: 'metadata' },
      { fields: { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', filter: '{"data.method"', description: 'typed text' }, code: 'INPUT_INVALID', field: 'filter' },
      { fields: { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', filter: '[]', description: 'typed text' }, code: 'INPUT_INVALID', field: 'filter' },
      { fields: { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', 'retry.maxAttempts': 'many', description: 'typed text' }, code: 'INPUT_INVALID', field: 'retry.maxAttempts' },
      {
        fields: { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', 'retry.delaysMs': '1000', 'retry.maxAttempts': '3', description: 'typed text' },
        code: 'INPUT_INVALID',
        field: 'retry.delaysMs',
      },
      { fields: { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', 'flowControl.burst': '0', description: 'typed text' }, code: 'INPUT_INVALID', field: 'flowControl.burst' },
    ];
    for (const { fields, code, field } of cases) {
      const response = await post(dashboard, '/subscriptions', fields);
      expect(response.status, code).toBe(400);
      const page = await response.text();
      const id = `${field.replaceAll('.', '\\.')}-error`;
      expect(page).toMatch(new RegExp(`<p class="notice error" role="alert"><a href="#${id}">[^<]+</a></p>`));
      expect(page).toMatch(new RegExp(`<p class="notice error" id="${id}">[^<]+</p>`));
      expect(page).toContain('>typed text</textarea>');
      const json = await post(dashboard, '/subscriptions', fields, { accept: 'application/json' });
      expect(json.status).toBe(400);
      expect(await json.json()).toMatchObject({ error: code, field });
    }
    // A filter the API refuses: its message next to the filter field, the path in the JSON answer.
    const badFilter = { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', filter: '{"data.amount.amount": {"$gte": "a lot", "$like": 1}}' };
    const filterPage = await post(dashboard, '/subscriptions', badFilter);
    expect(filterPage.status).toBe(400);
    expect(await filterPage.text()).toContain('<p class="notice error" id="filter-error">Expected an operator of $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists at `filter.data.amount.amount`, got &quot;$like&quot;</p>');
    expect(await (await post(dashboard, '/subscriptions', badFilter, { accept: 'application/json' })).json()).toMatchObject({
      error: 'PAYLOAD_FILTER_INVALID',
      field: 'filter.data.amount.amount.$like',
    });
    // The message shown is the API's own.
    const refusal = await rejectionOf(subscribe(webhooks, { url: 'http://127.0.0.1:8080/hooks' }));
    const page = await (await post(dashboard, '/subscriptions', { url: 'http://127.0.0.1:8080/hooks', eventTypes: 'payment.*' })).text();
    expect(page).toContain(`<p class="notice error" id="url-error">${(refusal as Error).message.replaceAll('"', '&quot;')}</p>`);
    expect(page).toContain('aria-invalid="true"');
    expect((await webhooks.subscriptions.list()).items).toEqual([]);
  });

  it('refuses a field the form does not have, creating nothing', async () => {
    const { webhooks, dashboard } = setup();
    const posts: Fields[] = [
      { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
      { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', reason: 'why not' },
    ];
    for (const fields of posts) {
      const response = await post(dashboard, '/subscriptions', fields, { accept: 'application/json' });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'INPUT_INVALID' });
    }
    expect((await webhooks.subscriptions.list()).items).toEqual([]);
  });
});

describe('a subscription’s page', () => {
  it('shows its facts, backlog, retry policy, flow control, change log and links, and never its secret', async () => {
    const { webhooks, dashboard } = setup();
    const created = await subscribe(webhooks, {
      tenantId: 'acme',
      description: 'Acme ERP',
      metadata: { plan: 'gold' },
      headers: { 'X-Account': 'acme-1', Authorization: 'Bearer sk_live_1' },
      retry: { initialDelayMs: 2_000, maxAttempts: 6 },
      flowControl: { ratePerSecond: null, burst: 5 },
    });
    await webhooks.subscriptions.update(created.id, { description: 'Acme ERP (prod)' }, { actor: 'ops:bob', reason: 'rename' });
    await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'acme' });

    const page = await (await get(dashboard, `/subscriptions/${created.id}`)).text();
    expect(page).toContain('Acme ERP (prod)');
    expect(page).toContain('<span class="mono">acme</span>');
    expect(page).toContain('&quot;plan&quot;: &quot;gold&quot;');
    expect(page).toContain('<th scope="row" class="mono">X-Account</th><td class="mono">acme-1</td>');
    // Sensitive header values come redacted from the API.
    expect(page).toContain('<td class="mono">[redacted]</td>');
    expect(page).not.toContain('sk_live_1');
    expect(page).toMatch(/<div class="label">Pending<\/div><div class="value">1<\/div>/);
    expect(page).toContain('<dt>Kind</dt><dd>exponential backoff</dd>');
    expect(page).toContain('<dt>First delay</dt><dd>2 s</dd>');
    expect(page).toContain('<dt>Attempts</dt><dd>6</dd>');
    expect(page).toContain('<dt>Factor</dt><dd>instance default</dd>');
    expect(page).toContain('<dt>Posts per second</dt><dd>no limit</dd>');
    expect(page).toContain('<dt>Burst above the rate</dt><dd>5</dd>');
    expect(page).toContain('<span class="mono">ops:bob</span>');
    expect(page).toContain('<td>rename</td>');
    expect(page).toContain(`href="/admin/webhooks/deliveries?subscriptionId=${created.id}"`);
    expect(page).toContain(`href="/admin/webhooks/subscriptions/${created.id}/replay"`);
    expect(page).toContain(`href="/admin/webhooks/subscriptions/${created.id}/edit"`);
    expect(page).not.toContain(created.secret);

    const json = await (await getJson(dashboard, `/subscriptions/${created.id}`)).text();
    expect(json).not.toContain(created.secret);
    const data = JSON.parse(json) as { subscription: { id: string }; backlog: { pending: number }; changes: Array<{ action: string; actor: string }> };
    expect(data.subscription.id).toBe(created.id);
    expect(data.backlog.pending).toBe(1);
    expect(data.changes.map((change) => [change.action, change.actor])).toEqual([
      ['updated', 'ops:bob'],
      ['created', null],
    ]);
    for (const path of ['/subscriptions', '/subscriptions?format=json', `/subscriptions/${created.id}/edit`]) {
      expect(await (await get(dashboard, path)).text()).not.toContain(created.secret);
    }

    const unknown = await getJson(dashboard, '/subscriptions/sub_unknown');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'NOT_FOUND' });
  });

  it('says when the instance’s retry policy and flow control apply', async () => {
    const { webhooks, dashboard } = setup();
    const created = await subscribe(webhooks);
    const page = await (await get(dashboard, `/subscriptions/${created.id}`)).text();
    expect(page).toContain('<p>The instance’s policy.</p>');
    expect(page).toContain('<p>The instance’s defaults.</p>');
  });
});

describe('a subscription’s event versions', () => {
  it('shows its version pins on its page and in its JSON, and none for one without', async () => {
    const events = defineEvents({
      'payment.succeeded': {
        versions: {
          1: { schema: z.object({ amountMinor: z.int() }) },
          2: { schema: z.object({ netMinor: z.int() }), downgrade: (data: { netMinor: number }) => ({ amountMinor: data.netMinor }) },
        },
      },
      'refund.created': z.object({ refundId: z.string() }),
    });
    const webhooks = createWebhooks({ meter: false, events }) as unknown as Webhooks;
    instances.push(webhooks);
    const dashboard = dashboardOf(webhooks);
    const pinned = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], versions: { 'payment.succeeded': 1 } });
    const plain = await webhooks.subscriptions.create({ url: 'https://crm.example.com/hooks', eventTypes: ['refund.*'] });
    const page = await (await get(dashboard, `/subscriptions/${pinned.id}`)).text();
    expect(page).toContain('<dt>Event versions</dt><dd><span class="mono">payment.succeeded</span> version 1<br></dd>');
    expect(((await (await getJson(dashboard, `/subscriptions/${pinned.id}`)).json()) as { subscription: { versions: unknown } }).subscription.versions).toEqual({ 'payment.succeeded': 1 });
    expect(await (await get(dashboard, `/subscriptions/${plain.id}`)).text()).toContain('<dt>Event versions</dt><dd><span class="muted">none: every type in its newest version</span></dd>');
  });
});

describe('sending a test event', () => {
  it('posts one signed request to the endpoint and shows its answer; a failing endpoint is shown as the result, not an error page', async () => {
    let status = 204;
    const server = await LoopbackReceiver.start(() => ({ status }));
    const { webhooks, dashboard, audit } = setup({}, { security: { allowPrivateNetworks: true } });
    try {
      const created = await subscribe(webhooks, { url: server.url });
      const detail = await (await get(dashboard, `/subscriptions/${created.id}`)).text();
      expect(detail).toContain(`action="/admin/webhooks/subscriptions/${created.id}/test"`);
      expect(detail).toContain('<option value="refund.initiated">refund.initiated (example)</option>');

      const ping = await post(dashboard, `/subscriptions/${created.id}/test`, { type: '' });
      expect(ping.status).toBe(200);
      const page = await ping.text();
      expect(page).toContain('<h1>Test event delivered</h1>');
      expect(page).toContain('answered 204 in');
      expect(JSON.parse(server.requests[0]!.body.toString())).toMatchObject({ type: 'webhook.test', data: { subscriptionId: created.id, reason: 'test' } });

      status = 500;
      const refund = await post(dashboard, `/subscriptions/${created.id}/test`, { type: 'refund.initiated' }, { accept: 'application/json' });
      expect(refund.status).toBe(200);
      expect(await refund.json()).toMatchObject({ ok: false, statusCode: 500, error: 'HTTP 500' });
      expect(JSON.parse(server.requests[1]!.body.toString())).toMatchObject({ type: 'refund.initiated', data: webhooks.events.examples['refund.initiated'] });
      expect(await (await post(dashboard, `/subscriptions/${created.id}/test`, { type: 'refund.teleported' }, { accept: 'application/json' })).json()).toMatchObject({ error: 'EVENT_TYPE_UNKNOWN' });
      expect((await post(dashboard, `/subscriptions/${created.id}/test`, { type: '', url: 'https://evil.example/' })).status).toBe(400);

      expect(audit.map((event) => [event.action, event.actor, event.details])).toEqual([
        ['subscription.test', 'ops:alice', { type: 'webhook.test', ok: true, statusCode: 204 }],
        ['subscription.test', 'ops:alice', { type: 'refund.initiated', ok: false, statusCode: 500 }],
      ]);
      expect(server.requests).toHaveLength(2);
      expect((await webhooks.deliveries.list()).items).toEqual([]);

      // The page lists them newest first, and so does its JSON.
      const after = await (await get(dashboard, `/subscriptions/${created.id}`)).text();
      const section = after.slice(after.indexOf('<h2>Test requests</h2>'), after.indexOf('<h2>Change log</h2>'));
      const rows = section.split('<tr>').slice(2);
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatch(/<td class="mono">refund\.initiated<\/td>\n<td>test<\/td>\n<td class="num">500<\/td>\n<td><span class="muted">HTTP error<\/span><\/td>\n<td class="num">\d+<\/td>\n<td><span class="mono">ops:alice<\/span><\/td>/);
      expect(rows[1]).toMatch(/<td class="mono">webhook\.test<\/td>\n<td>test<\/td>\n<td class="num">204<\/td>\n<td>—<\/td>/);
      const data = (await (await getJson(dashboard, `/subscriptions/${created.id}`)).json()) as { testAttempts: Array<{ type: string; ok: boolean; actor: string }> };
      expect(data.testAttempts.map((attempt) => [attempt.type, attempt.ok, attempt.actor])).toEqual([
        ['refund.initiated', false, 'ops:alice'],
        ['webhook.test', true, 'ops:alice'],
      ]);
    } finally {
      await server.close();
    }
  });

  it('shows the newest 10 test requests on the page, a URL change with its new URL, and what a failure says as text', async () => {
    let failure: string | null = null;
    const transport: Transport = {
      async send() {
        return failure === null ? { kind: 'response', statusCode: 204, retryAfter: null, body: '' } : { kind: 'error', errorClass: 'network', message: failure };
      },
      async close() {},
    };
    const { webhooks, dashboard } = setup({}, { transport });
    const created = await subscribe(webhooks);
    const ids: string[] = [];
    for (let i = 0; i < 11; i++) ids.push((await webhooks.subscriptions.sendTest(created.id, { actor: imageMarkup })).webhookId);
    failure = `socket closed ${scriptMarkup}`;
    await rejectionOf(webhooks.subscriptions.update(created.id, { url: 'https://erp.example.com/v2' }, { verifyUrl: true, actor: 'ops:bob' }));

    const page = await (await get(dashboard, `/subscriptions/${created.id}`)).text();
    const section = page.slice(page.indexOf('<h2>Test requests</h2>'), page.indexOf('<h2>Change log</h2>'));
    expect(section).toContain('<p class="muted">The newest 10.</p>');
    expect(section.split('<tr>').slice(2)).toHaveLength(10);
    expect(section).toContain('<td>URL change to <span class="mono">https://erp.example.com/v2</span></td>');
    expect(section).toContain(`<td><span class="mono">network</span> network failure (socket closed ${escapedScript})</td>`);
    expect(section).toContain(`<span class="mono">${escapedImage}</span>`);
    expect(page).not.toContain(scriptMarkup);
    expect(page).not.toContain('<img');
    const data = (await (await getJson(dashboard, `/subscriptions/${created.id}`)).json()) as { testAttempts: Array<{ id: string; reason: string }> };
    expect(data.testAttempts).toHaveLength(10);
    expect(data.testAttempts[0]).toMatchObject({ reason: 'url_change' });
    // The oldest test is the one left out.
    expect(data.testAttempts.map((attempt) => attempt.id)).not.toContain(ids[0]);
  });
});

describe('a subscription’s circuit breaker', () => {
  it('is shown as this process has it: closed, then open until its cool-down ends', async () => {
    const server = await LoopbackReceiver.start(() => ({ status: 500 }));
    const clock = new FakeClock();
    const { webhooks, dashboard } = setup(
      {},
      { clock, pollIntervalMs: 60_000, security: { allowPrivateNetworks: true }, circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 }, retry: { delaysMs: [1_000] } },
    );
    try {
      const created = await subscribe(webhooks, { url: server.url });
      expect(await (await get(dashboard, `/subscriptions/${created.id}`)).text()).toContain('<dt>State</dt><dd><span class="badge closed">closed</span></dd>');
      let failed = 0;
      webhooks.bus.on('delivery:failed', () => (failed += 1));
      await webhooks.start();
      await webhooks.publish('payment.succeeded', samplePayment(1));
      await vi.waitFor(() => expect(failed).toBe(1), { timeout: 10_000 });

      const openUntil = clock.now() + 60_000;
      const page = await (await get(dashboard, `/subscriptions/${created.id}`)).text();
      expect(page).toContain(`<dt>State</dt><dd><span class="badge open">open</span> until <time datetime="${new Date(openUntil).toISOString()}">`);
      expect(((await (await getJson(dashboard, `/subscriptions/${created.id}`)).json()) as { circuit: unknown }).circuit).toEqual({ state: 'open', openUntil, inFlight: 0 });
      expect(await (await get(dashboard, '/')).text()).toContain('<td><span class="badge open">open</span></td>');
    } finally {
      await webhooks.stop();
      await server.close();
    }
  });
});

describe('editing a subscription', () => {
  it('fills the form in, saves what was posted (an empty setting is the instance default) with the actor and reason', async () => {
    const { webhooks, dashboard, audit } = setup();
    const created = await subscribe(webhooks, {
      eventTypes: ['refund.*', 'invoice.paid', 'payment.succeeded'],
      description: 'old\nlines',
      metadata: { plan: 'gold' },
      filter: { 'data.amount.currency': 'EUR' },
      retry: { delaysMs: [1_000, 5_000], jitter: 0 },
      flowControl: { ratePerSecond: null },
    });
    expect(await (await get(dashboard, `/subscriptions/${created.id}`)).text()).toContain('<dt>Payload filter</dt><dd><pre>{\n  &quot;data.amount.currency&quot;: &quot;EUR&quot;\n}</pre></dd>');
    const form = await (await get(dashboard, `/subscriptions/${created.id}/edit`)).text();
    expect(form).toMatch(/name="filter"[^>]*>\{\n {2}&quot;data\.amount\.currency&quot;: &quot;EUR&quot;\n\}<\/textarea>/);
    expect(form).toContain(`<form method="post" action="/admin/webhooks/subscriptions/${created.id}"`);
    expect(form).toContain('name="eventTypes" value="payment.succeeded" checked');
    expect(form).toMatch(/name="eventTypeFilters"[^>]* value="refund\.\*"/);
    expect(form).toMatch(/name="retry\.delaysMs"[^>]* value="1000, 5000"/);
    expect(form).toMatch(/name="flowControl\.ratePerSecond"[^>]* value="none"/);
    expect(form).not.toContain('name="tenantId"');

    // Posting the form back unchanged (as a browser does: checkboxes in the catalog's order, CRLF line breaks) changes nothing.
    const same = await post(dashboard, `/subscriptions/${created.id}`, {
      url: created.url,
      eventTypes: ['payment.succeeded', 'invoice.paid'],
      eventTypeFilters: 'refund.*',
      description: 'old\r\nlines',
      metadata: '{\r\n  "plan": "gold"\r\n}',
      filter: '{\r\n  "data.amount.currency": "EUR"\r\n}',
      'retry.delaysMs': '1000, 5000',
      'retry.jitter': '0',
      'flowControl.ratePerSecond': 'none',
    });
    expect(redirectedTo(same, `/subscriptions/${created.id}`)).toBe('updated');
    const [unchanged] = (await webhooks.subscriptions.history(created.id)).items.slice(1);
    expect(unchanged?.action).toBe('updated');
    expect(unchanged?.changes).toEqual({});

    const response = await post(dashboard, `/subscriptions/${created.id}`, {
      url: 'https://erp.example.com/v2/hooks',
      eventTypes: ['invoice.paid'],
      description: '',
      metadata: '',
      'retry.initialDelayMs': '500',
      'retry.maxAttempts': '3',
      reason: 'fewer retries',
    });
    expect(redirectedTo(response, `/subscriptions/${created.id}`)).toBe('updated');
    expect(await webhooks.subscriptions.get(created.id)).toMatchObject({
      url: 'https://erp.example.com/v2/hooks',
      eventTypes: ['invoice.paid'],
      description: null,
      metadata: {},
      filter: null,
      retry: { initialDelayMs: 500, maxAttempts: 3 },
      flowControl: null,
    });
    const changes = (await webhooks.subscriptions.history(created.id)).items;
    expect(changes.at(-1)).toMatchObject({ action: 'updated', actor: 'ops:alice', reason: 'fewer retries' });
    expect(Object.keys(changes.at(-1)!.changes).sort()).toEqual(['description', 'eventTypes', 'filter', 'flowControl', 'metadata', 'retry', 'url']);
    expect(audit.map((event) => [event.action, event.actor, event.subscriptionId])).toEqual([
      ['subscription.update', 'ops:alice', created.id],
      ['subscription.update', 'ops:alice', created.id],
    ]);

    const notice = await (await get(dashboard, `/subscriptions/${created.id}?done=updated`)).text();
    expect(notice).toContain('<p class="notice" role="status">The subscription was saved.</p>');
  });

  it('shows the form again with the error next to its field and a 400, changing nothing', async () => {
    const { webhooks, dashboard } = setup();
    const created = await subscribe(webhooks);
    const response = await post(dashboard, `/subscriptions/${created.id}`, { url: 'https://erp.example.com/hooks', eventTypes: 'payment.succeeded', 'retry.initialDelayMs': '500' });
    expect(response.status).toBe(400);
    const page = await response.text();
    expect(page).toMatch(/<p class="notice error" role="alert"><a href="#retry-error">[^<]+<\/a><\/p>/);
    expect(page).toMatch(/<p class="notice error" id="retry-error">[^<]+<\/p>/);
    expect(page).toMatch(/name="retry\.initialDelayMs"[^>]* value="500"/);
    expect((await webhooks.subscriptions.get(created.id))?.retry).toBeNull();

    const tenant = await post(dashboard, `/subscriptions/${created.id}`, { url: created.url, eventTypes: 'payment.succeeded', tenantId: 'acme' }, { accept: 'application/json' });
    expect(tenant.status).toBe(400);
    expect(await tenant.json()).toMatchObject({ error: 'INPUT_INVALID' });
  });

  it('refuses to edit a deleted subscription', async () => {
    const { webhooks, dashboard } = setup();
    const created = await subscribe(webhooks);
    await webhooks.subscriptions.delete(created.id);
    const form = await getJson(dashboard, `/subscriptions/${created.id}/edit`);
    expect(form.status).toBe(409);
    expect(await form.json()).toMatchObject({ error: 'SUBSCRIPTION_DELETED' });
    const save = await post(dashboard, `/subscriptions/${created.id}`, { url: created.url, eventTypes: 'payment.succeeded' }, { accept: 'application/json' });
    expect(save.status).toBe(409);
    expect(await save.json()).toMatchObject({ error: 'SUBSCRIPTION_DELETED' });
  });
});

describe('the actions on a subscription', () => {
  it('disables with a reason, shows what enabling would send, and enables replaying what was missed', async () => {
    const { webhooks, dashboard, audit } = setup();
    const created = await subscribe(webhooks);
    await webhooks.publish('payment.succeeded', samplePayment(1));

    const disabled = await post(dashboard, `/subscriptions/${created.id}/disable`, { reason: 'receiver migration' });
    expect(redirectedTo(disabled, `/subscriptions/${created.id}`)).toBe('disabled');
    expect(await webhooks.subscriptions.get(created.id)).toMatchObject({ status: 'disabled', disabledReason: 'receiver migration' });
    await webhooks.publish('payment.succeeded', samplePayment(2));
    await webhooks.publish('payment.succeeded', samplePayment(4));

    const page = await (await get(dashboard, `/subscriptions/${created.id}`)).text();
    expect(page).toContain('1 held delivery will be sent. 2 events were published while it was disabled');
    expect(page).toContain('<button type="submit" name="replayMissed" value="1">Enable and replay the 2 missed</button>');
    expect(page).not.toContain(`action="/admin/webhooks/subscriptions/${created.id}/disable"`);

    const enabled = await post(dashboard, `/subscriptions/${created.id}/enable`, { replayMissed: '1', reason: 'migrated' });
    expect(redirectedTo(enabled, `/subscriptions/${created.id}`)).toBe('enabled-and-replayed');
    expect((await webhooks.subscriptions.get(created.id))?.status).toBe('active');
    expect((await webhooks.metrics({ subscriptionId: created.id })).backlog.pending).toBe(3);
    const changes = (await webhooks.subscriptions.history(created.id)).items.slice(1);
    expect(changes.map((change) => [change.action, change.actor, change.reason])).toEqual([
      ['disabled', 'ops:alice', 'receiver migration'],
      ['enabled', 'ops:alice', 'migrated'],
    ]);
    expect(audit).toEqual([
      expect.objectContaining({ action: 'subscription.disable', actor: 'ops:alice', subscriptionId: created.id }),
      expect.objectContaining({ action: 'subscription.enable', actor: 'ops:alice', subscriptionId: created.id, details: { resumed: 1, replayed: 2 } }),
    ]);
    const notice = await (await get(dashboard, `/subscriptions/${created.id}?done=enabled-and-replayed`)).text();
    expect(notice).toContain('<p class="notice" role="status">The subscription was enabled, and the events it missed while disabled were queued.</p>');
  });

  it('enables without replaying when asked to, and answers a JSON client with the counts', async () => {
    const { webhooks, dashboard } = setup();
    const created = await subscribe(webhooks);
    await webhooks.subscriptions.disable(created.id);
    await webhooks.publish('payment.succeeded', samplePayment(1));
    const response = await post(dashboard, `/subscriptions/${created.id}/enable`, { replayMissed: '0' }, { accept: 'application/json' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ subscription: { id: created.id, status: 'active' }, resumed: 0, replayed: 0 });
    expect((await webhooks.metrics({ subscriptionId: created.id })).backlog.pending).toBe(0);

    const bad = await post(dashboard, `/subscriptions/${created.id}/enable`, { replayMissed: 'maybe' }, { accept: 'application/json' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'INPUT_INVALID' });
  });

  it('rotates the secret, showing the new one once, with the overlap chosen', async () => {
    // A day between the creation and the rotation: the page tells the two secrets apart by their creation times.
    const clock = new FakeClock();
    const { webhooks, dashboard, audit } = setup({ clock }, { clock });
    const created = await subscribe(webhooks);
    await clock.advance(86_400_000);
    const response = await post(dashboard, `/subscriptions/${created.id}/rotate-secret`, { overlapMs: '3600000', reason: 'yearly rotation' });
    expect(response.status).toBe(200);
    const page = await response.text();
    const secrets = await webhooks.subscriptions.getSecrets(created.id);
    expect(secrets.secret).not.toBe(created.secret);
    expect(page).toContain(`<code class="secret" id="secret">${secrets.secret}</code>`);
    expect(page).toContain('for 1 h');
    expect(page).not.toContain(created.secret);
    expect(secrets.previous).toEqual([{ secret: created.secret, createdAt: expect.any(Number), expiresAt: expect.any(Number) }]);
    expect(secrets.previous[0]!.expiresAt! - secrets.createdAt).toBe(3_600_000);
    expect((await webhooks.subscriptions.history(created.id)).items.at(-1)).toMatchObject({ action: 'secret_rotated', actor: 'ops:alice', reason: 'yearly rotation' });
    expect(audit).toEqual([expect.objectContaining({ action: 'subscription.rotate-secret', subscriptionId: created.id, details: { overlapMs: 3_600_000 } })]);
    const detail = await (await get(dashboard, `/subscriptions/${created.id}`)).text();
    expect(detail).not.toContain(secrets.secret);
    expect(detail).toContain('Previous secret, still signing');
  });

  it('shows a v1a subscription’s public key after a rotation, never its secret key, and its scheme and public keys on its page', async () => {
    const { webhooks, dashboard } = setup();
    const created = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'], signing: 'v1a' });
    const response = await post(dashboard, `/subscriptions/${created.id}/rotate-secret`, { overlapMs: '3600000' });
    expect(response.status).toBe(200);
    const page = await response.text();
    const rotated = (await webhooks.subscriptions.get(created.id))!;
    const secrets = await webhooks.subscriptions.getSecrets(created.id);
    expect(page).toContain(`<code class="secret" id="secret">${rotated.publicKeys[0]}</code>`);
    expect(page).not.toContain(secrets.secret);
    const detail = await (await get(dashboard, `/subscriptions/${created.id}`)).text();
    expect(detail).toContain('v1a (Ed25519)');
    for (const key of [...rotated.publicKeys, created.publicKey!]) expect(detail).toContain(key);
    expect(detail).not.toContain(secrets.secret);
    expect(detail).not.toContain(created.secret);
  });

  it('deletes softly (still readable, only a hard delete left) and for good', async () => {
    const { webhooks, dashboard, audit } = setup();
    const created = await subscribe(webhooks);
    const deleted = await post(dashboard, `/subscriptions/${created.id}/delete`, { reason: 'customer left' });
    expect(redirectedTo(deleted, '/subscriptions')).toBe('deleted');
    expect((await webhooks.subscriptions.get(created.id))?.deletedAt).not.toBeNull();

    const page = await (await get(dashboard, `/subscriptions/${created.id}`)).text();
    expect(page).toContain('<span class="badge deleted">deleted</span>');
    expect(page.match(/<form method="post"/g)).toHaveLength(1);
    expect(page).toContain(`action="/admin/webhooks/subscriptions/${created.id}/delete"`);
    expect(page).toContain('<input type="hidden" name="hard" value="1">');
    expect(page).not.toContain(`/subscriptions/${created.id}/edit"`);
    const disable = await post(dashboard, `/subscriptions/${created.id}/disable`, {}, { accept: 'application/json' });
    expect(disable.status).toBe(409);
    expect(await disable.json()).toMatchObject({ error: 'SUBSCRIPTION_DELETED' });

    const removed = await post(dashboard, `/subscriptions/${created.id}/delete`, { hard: '1' });
    expect(redirectedTo(removed, '/subscriptions')).toBe('removed');
    expect(await webhooks.subscriptions.get(created.id)).toBeNull();
    expect((await get(dashboard, `/subscriptions/${created.id}`)).status).toBe(404);
    expect(audit.map((event) => [event.action, event.details])).toEqual([
      ['subscription.delete', { hard: false }],
      ['subscription.delete', { hard: true }],
    ]);
  });

  it('refuses a field an action does not take', async () => {
    const { webhooks, dashboard } = setup();
    const created = await subscribe(webhooks);
    const response = await post(dashboard, `/subscriptions/${created.id}/disable`, { reason: 'x', replayMissed: '1' }, { accept: 'application/json' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'INPUT_INVALID' });
    expect((await webhooks.subscriptions.get(created.id))?.status).toBe('active');
  });
});

describe('stored markup', () => {
  it('is shown as text on the list, the page, the edit form and the overview', async () => {
    const { webhooks, dashboard } = setup();
    const created = await subscribe(webhooks, {
      url: `https://erp.example.com/it's/${scriptMarkup}?q=${imageMarkup}`,
      description: `${scriptMarkup} ${imageMarkup}`,
      metadata: { note: `${scriptMarkup} ${imageMarkup}` },
      headers: { 'X-Note': `${scriptMarkup} ${imageMarkup}` },
    });
    // The URL is stored percent-encoded where the URL standard says so (`<`, `>`, `"`); its `'` is left, for the page to escape.
    expect(created.url).toContain("/it's/");
    for (const path of ['/subscriptions', `/subscriptions/${created.id}`, `/subscriptions/${created.id}/edit`, '/']) {
      const page = await (await get(dashboard, path)).text();
      expect(page, path).not.toContain(scriptMarkup);
      expect(page, path).not.toContain('<img');
      expect(page, path).not.toContain(imageMarkup);
      expect(page, path).toContain(escapedScript);
      expect(page, path).toContain(escapedImage);
      expect(page, path).not.toContain("/it's/");
      expect(page, path).toContain('/it&#39;s/');
    }
  });
});

describe('the customer portal', () => {
  const portal = () => setup({ scope: () => 'acme' });

  it('lists and creates only the tenant’s endpoints', async () => {
    const { webhooks, dashboard, audit } = portal();
    const own = await subscribe(webhooks, { tenantId: 'acme' });
    await subscribe(webhooks, { tenantId: 'globex', url: 'https://globex.example.com/hooks' });
    await subscribe(webhooks, { url: 'https://platform.example.com/hooks' });

    const list = await (await get(dashboard, '/subscriptions')).text();
    expect(list).toContain('<h1>Endpoints</h1>');
    expect(list).toContain(`/subscriptions/${own.id}"`);
    expect(list).not.toContain('globex.example.com');
    expect(list).not.toContain('platform.example.com');
    expect(list).not.toContain('name="tenantId"');
    expect(list).toContain('New endpoint');

    const form = await (await get(dashboard, '/subscriptions/new')).text();
    expect(form).not.toContain('name="tenantId"');
    expect(form).not.toContain('name="allTenants"');
    expect(form).not.toContain('name="metadata"');
    const response = await post(dashboard, '/subscriptions', { url: 'https://acme.example.com/hooks', eventTypes: 'payment.succeeded' });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('<h1>Endpoint created</h1>');
    const created = (await webhooks.subscriptions.list({ tenantId: 'acme' })).items.find((item) => item.url === 'https://acme.example.com/hooks');
    expect(created).toMatchObject({ tenantId: 'acme', allTenants: false });
    expect(audit).toEqual([expect.objectContaining({ action: 'subscription.create', tenantId: 'acme', subscriptionId: created!.id })]);
  });

  it('refuses the operator’s fields and filters instead of applying or dropping them', async () => {
    const { webhooks, dashboard } = portal();
    const own = await subscribe(webhooks, { tenantId: 'acme' });
    const extras: Fields[] = [{ tenantId: 'globex' }, { tenantId: 'acme' }, { allTenants: '1' }, { allTenants: '0' }, { metadata: '{}' }];
    for (const extra of extras) {
      const response = await post(dashboard, '/subscriptions', { url: 'https://acme.example.com/hooks', eventTypes: 'payment.succeeded', ...extra }, { accept: 'application/json' });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'INPUT_INVALID' });
    }
    const edit = await post(dashboard, `/subscriptions/${own.id}`, { url: own.url, eventTypes: 'payment.succeeded', metadata: '{"x":1}' }, { accept: 'application/json' });
    expect(edit.status).toBe(400);
    const hard = await post(dashboard, `/subscriptions/${own.id}/delete`, { hard: '1' }, { accept: 'application/json' });
    expect(hard.status).toBe(400);
    for (const path of ['/subscriptions?tenantId=globex', '/subscriptions?deleted=1']) {
      const response = await getJson(dashboard, path);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'INPUT_INVALID' });
    }
    expect((await webhooks.subscriptions.list({ includeDeleted: true })).items).toEqual([expect.objectContaining({ id: own.id, deletedAt: null })]);
  });

  it('answers 404 for another tenant’s subscription on every route, as for an unknown id, changing nothing', async () => {
    const { webhooks, dashboard, audit } = portal();
    const foreign = await subscribe(webhooks, { tenantId: 'globex' });
    const platform = await subscribe(webhooks);
    const before = [await webhooks.subscriptions.get(foreign.id), await webhooks.subscriptions.get(platform.id)];
    for (const id of [foreign.id, platform.id, 'sub_unknown']) {
      for (const path of [`/subscriptions/${id}`, `/subscriptions/${id}/edit`]) {
        const response = await getJson(dashboard, path);
        expect(response.status, path).toBe(404);
        expect(await response.json()).toEqual({ error: 'NOT_FOUND', message: expect.any(String) });
        expect((await get(dashboard, path)).status).toBe(404);
      }
      for (const [path, fields] of [
        [`/subscriptions/${id}`, { url: 'https://evil.example.com/', eventTypes: 'payment.succeeded' }],
        [`/subscriptions/${id}/disable`, {}],
        [`/subscriptions/${id}/enable`, {}],
        [`/subscriptions/${id}/rotate-secret`, {}],
        [`/subscriptions/${id}/test`, {}],
        [`/subscriptions/${id}/delete`, {}],
      ] as const) {
        const response = await post(dashboard, path, fields, { accept: 'application/json' });
        expect(response.status, path).toBe(404);
        expect(await response.json()).toEqual({ error: 'NOT_FOUND', message: expect.any(String) });
      }
    }
    expect([await webhooks.subscriptions.get(foreign.id), await webhooks.subscriptions.get(platform.id)]).toEqual(before);
    expect(audit).toEqual([]);
  });
});

describe('read-only mode', () => {
  it('renders no form or action button, and refuses the form pages', async () => {
    const { webhooks, dashboard } = setup({ readOnly: true });
    const created = await subscribe(webhooks);
    await webhooks.subscriptions.disable(created.id);
    for (const path of ['/subscriptions', `/subscriptions/${created.id}`]) {
      const page = await (await get(dashboard, path)).text();
      expect(page, path).toContain('https://erp.example.com/hooks');
      expect(page, path).not.toContain('method="post"');
      expect(page, path).not.toContain('/subscriptions/new');
      expect(page, path).not.toContain('/edit"');
      expect(page, path).not.toContain('<button type="submit" class="primary"');
    }
    for (const path of ['/subscriptions/new', `/subscriptions/${created.id}/edit`]) {
      const response = await getJson(dashboard, path);
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ error: 'DASHBOARD_READ_ONLY' });
    }
    const enable = await post(dashboard, `/subscriptions/${created.id}/enable`, {}, { accept: 'application/json' });
    expect(enable.status).toBe(403);
    expect((await webhooks.subscriptions.get(created.id))?.status).toBe('disabled');
  });
});

describe.each(storageKinds)('the subscriptions area on the %s storage', (kind) => {
  const storage = useInstancesOnStorage(kind, 'dashboard-subscriptions');

  it('creates, lists, shows, disables and enables a subscription through the dashboard', async () => {
    const webhooks = storage.instance();
    const dashboard = dashboardOf(webhooks);
    const audit = auditTrail(webhooks);

    const created = await post(dashboard, '/subscriptions', { url: storage.server.url, eventTypes: ['payment.succeeded'], description: 'loopback', tenantId: 'acme' });
    expect(created.status).toBe(200);
    const [subscription] = (await webhooks.subscriptions.list()).items;
    expect(subscription).toMatchObject({ url: storage.server.url, tenantId: 'acme', description: 'loopback' });
    const id = subscription!.id;

    const list = await (await get(dashboard, '/subscriptions')).text();
    expect(list).toContain(`href="/admin/webhooks/subscriptions/${id}"`);
    const detail = await (await get(dashboard, `/subscriptions/${id}`)).text();
    expect(detail).toContain('loopback');
    expect(detail).toContain(`action="/admin/webhooks/subscriptions/${id}/disable"`);

    expect(redirectedTo(await post(dashboard, `/subscriptions/${id}/disable`, { reason: 'pause' }), `/subscriptions/${id}`)).toBe('disabled');
    expect(await webhooks.subscriptions.get(id)).toMatchObject({ status: 'disabled', disabledReason: 'pause' });
    await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'acme' });
    const disabledPage = await (await get(dashboard, `/subscriptions/${id}`)).text();
    expect(disabledPage).toContain('Enable and replay the 1 missed');

    expect(redirectedTo(await post(dashboard, `/subscriptions/${id}/enable`, { replayMissed: '1' }), `/subscriptions/${id}`)).toBe('enabled-and-replayed');
    expect((await webhooks.subscriptions.get(id))?.status).toBe('active');
    await webhooks.start();
    await storage.server.waitFor(1);
    await webhooks.drain();
    expect((await webhooks.metrics({ subscriptionId: id })).backlog.delivered).toBe(1);

    const changes = (await webhooks.subscriptions.history(id)).items;
    expect(changes.map((change) => [change.action, change.actor])).toEqual([
      ['created', 'ops:alice'],
      ['disabled', 'ops:alice'],
      ['enabled', 'ops:alice'],
    ]);
    expect(audit.map((event) => event.action)).toEqual(['subscription.create', 'subscription.disable', 'subscription.enable']);
  });
});
