/**
 * The dashboard, the customer portal and the event feed attacked as a hostile client (and a
 * careless host) would, over real node:http servers on 127.0.0.1: cross-site posts on every
 * action of the route table, methods a Fetch `Request` cannot carry, bodies that are not
 * UTF-8, `authorize` and `scope` hooks that throw or answer what they should not, stored
 * markup in the places the other tests do not put it, the headers of the page that shows a
 * secret, the assets' path, and the feed's query and host `authenticate` hook.
 */
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardAssets } from '../../src/dashboard/assets.js';
import { createDashboard } from '../../src/dashboard/index.js';
import type { DashboardOptions } from '../../src/dashboard/dashboard-options.js';
import { dashboardRoutes } from '../../src/dashboard/routes/index.js';
import { createEventFeedHandler, createWebhooks, toNodeHandler, type DashboardActionEvent, type EventFeedOptions, type Webhooks } from '../../src/index.js';
import { signedGet } from '../support/event-feed.js';
import { rawRequest } from '../support/raw-request.js';
import { recordingLogger } from '../support/recording-logger.js';
import { samplePayment } from '../support/sample-payment.js';

const servers: Server[] = [];
const instances: Webhooks[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const webhooks of instances.splice(0)) await webhooks.close();
});

async function listen(listener: RequestListener): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Two tenants' subscriptions, a platform one, and a pending delivery of each tenant (the dispatcher is not started). */
async function world() {
  const webhooks = createWebhooks({ meter: false });
  instances.push(webhooks);
  const acme = await webhooks.subscriptions.create({ tenantId: 'acme', url: 'https://erp.acme.example/hooks', eventTypes: ['payment.*'] });
  const globex = await webhooks.subscriptions.create({ tenantId: 'globex', url: 'https://erp.globex.example/secret-path', eventTypes: ['payment.*'] });
  await webhooks.subscriptions.create({ allTenants: true, url: 'https://audit.platform.example/sink', eventTypes: ['*'] });
  await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'acme' });
  await webhooks.publish('payment.succeeded', samplePayment(2), { tenantId: 'globex' });
  const deliveries = (await webhooks.deliveries.list()).items;
  const acmeDelivery = deliveries.find((delivery) => delivery.subscriptionId === acme.id)!;
  const audit: DashboardActionEvent[] = [];
  webhooks.bus.on('dashboard:action', (event) => void audit.push(event));
  return { webhooks, acme, globex, acmeDelivery, audit };
}

/** What an action could change: every subscription (secrets included) and delivery. */
async function state(webhooks: Webhooks) {
  const subscriptions = (await webhooks.subscriptions.list({ includeDeleted: true })).items;
  return {
    subscriptions,
    secrets: await Promise.all(subscriptions.map((subscription) => webhooks.subscriptions.getSecrets(subscription.id))),
    deliveries: (await webhooks.deliveries.list()).items,
  };
}

function dashboardOf(webhooks: Webhooks, options: Partial<DashboardOptions> = {}) {
  return createDashboard(webhooks, { basePath: '/admin/webhooks', authorize: () => ({ actor: 'ops:alice' }), ...options });
}

const form = 'application/x-www-form-urlencoded';
const postRoutes = dashboardRoutes.filter((route) => route.method === 'POST');

describe('cross-site actions, on every POST route of the dashboard and the portal', () => {
  it('has the actions to check (the route table is read, not a list written here)', () => {
    expect(postRoutes.length).toBeGreaterThanOrEqual(10);
  });

  it.each([
    ['the operator’s dashboard', undefined],
    ['the customer portal', 'acme'],
  ])('refuses every forged post in %s with 403 DASHBOARD_CSRF, changing nothing', async (_name, tenant) => {
    const { webhooks, acme, acmeDelivery, audit } = await world();
    const origin = await listen(dashboardOf(webhooks, tenant === undefined ? {} : { scope: () => tenant }).node());
    const forgeries: Array<[string, Record<string, string>]> = [
      ['another site’s form', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }],
      ['a sandboxed frame (Origin: null)', { origin: 'null', 'sec-fetch-site': 'cross-site' }],
      ['a sibling subdomain', { origin: 'http://evil.127.0.0.1.nip.io', 'sec-fetch-site': 'same-site' }],
      ['the same host on another port', { origin: 'http://127.0.0.1:1' }],
      ['the right origin in another scheme', { origin: origin.replace('http:', 'https:') }],
      ['no Origin and no Sec-Fetch-Site', {}],
    ];
    const before = await state(webhooks);
    for (const route of postRoutes) {
      const id = route.path.startsWith('/deliveries/') ? acmeDelivery.id : acme.id;
      const path = `/admin/webhooks${route.path.replace(':id', encodeURIComponent(id))}`;
      for (const [forgery, headers] of forgeries) {
        const response = await fetch(`${origin}${path}`, {
          method: 'POST',
          redirect: 'manual',
          headers: { accept: 'application/json', 'content-type': form, ...headers },
          body: 'reason=forged&replayMissed=1&hard=1&since=2020-01-01T00%3A00',
        });
        expect([route.path, forgery, response.status, ((await response.json()) as { error: string }).error]).toEqual([route.path, forgery, 403, 'DASHBOARD_CSRF']);
      }
    }
    expect(await state(webhooks)).toEqual(before);
    expect(audit).toEqual([]);
  });

  it('answers a GET or HEAD of an action with 405 and Allow: POST, and a page with no body for HEAD, changing nothing', async () => {
    const { webhooks, acme, acmeDelivery, audit } = await world();
    const origin = await listen(dashboardOf(webhooks).node());
    const before = await state(webhooks);
    const actionsOnly = postRoutes.filter((route) => !dashboardRoutes.some((other) => other.method === 'GET' && other.path === route.path));
    expect(actionsOnly.length).toBeGreaterThanOrEqual(7);
    for (const route of actionsOnly) {
      const id = route.path.startsWith('/deliveries/') ? acmeDelivery.id : acme.id;
      for (const method of ['GET', 'HEAD']) {
        const response = await fetch(`${origin}/admin/webhooks${route.path.replace(':id', id)}?reason=x&hard=1`, { method, headers: { origin } });
        expect([route.path, method, response.status, response.headers.get('allow')]).toEqual([route.path, method, 405, 'POST']);
      }
    }
    const head = await rawRequest(origin, `/admin/webhooks/subscriptions/${acme.id}`, { method: 'HEAD' });
    expect([head.status, head.text]).toEqual([200, '']);
    expect(await state(webhooks)).toEqual(before);
    expect(audit).toEqual([]);
  });

  it('redirects an action only under the base path: a field naming somewhere else is refused, not followed', async () => {
    const { webhooks, acme } = await world();
    const origin = await listen(dashboardOf(webhooks).node());
    const post = (target: string, body: string) => rawRequest(origin, target, { method: 'POST', headers: { origin, 'content-type': form, accept: 'application/json' }, body });
    for (const field of ['next', 'returnTo', 'redirect', 'location']) {
      const refused = await post(`/admin/webhooks/subscriptions/${acme.id}/disable`, `${field}=https%3A%2F%2Fevil.example%2F`);
      expect([field, refused.status, (JSON.parse(refused.text) as { error: string }).error]).toEqual([field, 400, 'INPUT_INVALID']);
    }
    // The request target names the attacker's host: it is a path here, under no route.
    const elsewhere = await post(`//evil.example/admin/webhooks/subscriptions/${acme.id}/disable`, '');
    expect(elsewhere.status).toBe(404);
    const response = await fetch(`${origin}/admin/webhooks/subscriptions/${acme.id}/disable`, { method: 'POST', redirect: 'manual', headers: { origin, 'content-type': form }, body: '' });
    expect([response.status, response.headers.get('location')]).toEqual([303, `/admin/webhooks/subscriptions/${acme.id}?done=disabled`]);
  });
});

describe('requests a Fetch handler cannot be given', () => {
  it('answers TRACE with 405 METHOD_NOT_ALLOWED, not a 500, on Node http, in Express and on the feed', async () => {
    const { webhooks, acme } = await world();
    const node = await listen(dashboardOf(webhooks, { basePath: '' }).node());
    const app = express();
    app.use('/admin/webhooks', dashboardOf(webhooks).express());
    const inExpress = await listen(app);
    const feed = await listen(toNodeHandler(createEventFeedHandler(webhooks)));
    for (const [origin, path] of [
      [node, `/subscriptions/${acme.id}`],
      [inExpress, `/admin/webhooks/subscriptions/${acme.id}`],
      [feed, '/events'],
    ] as const) {
      const response = await rawRequest(origin, path, { method: 'TRACE', headers: { cookie: 'session=s3cr3t' } });
      expect([path, response.status, response.text]).toEqual([path, 405, '{"error":"METHOD_NOT_ALLOWED"}']);
    }
  });

  it('refuses a form whose bytes are not UTF-8 with 400 INPUT_INVALID instead of storing U+FFFD, changing nothing', async () => {
    const { webhooks, acme, audit } = await world();
    const origin = await listen(dashboardOf(webhooks).node());
    const latin1 = new Uint8Array([...new TextEncoder().encode('reason=Caf'), 0xe9, 0x20, 0xff]);
    for (const [type, body] of [
      [form, latin1],
      ['application/json', new Uint8Array([...new TextEncoder().encode('{"reason":"Caf'), 0xe9, ...new TextEncoder().encode('"}')])],
    ] as const) {
      const response = await fetch(`${origin}/admin/webhooks/subscriptions/${acme.id}/disable`, { method: 'POST', redirect: 'manual', headers: { origin, 'content-type': type, accept: 'application/json' }, body });
      expect([type, response.status, ((await response.json()) as { error: string }).error]).toEqual([type, 400, 'INPUT_INVALID']);
    }
    expect((await webhooks.subscriptions.get(acme.id))!.status).toBe('active');
    expect(audit).toEqual([]);
    // Percent-encoded UTF-8 is text like any other.
    const encoded = await fetch(`${origin}/admin/webhooks/subscriptions/${acme.id}/disable`, { method: 'POST', redirect: 'manual', headers: { origin, 'content-type': form }, body: 'reason=Caf%C3%A9' });
    expect(encoded.status).toBe(303);
    expect((await webhooks.subscriptions.get(acme.id))!.disabledReason).toBe('Café');
  });
});

describe('authorize and scope hooks that misbehave', () => {
  it('lets nobody in when authorize throws or answers what is no principal, and says nothing of why', async () => {
    const { webhooks } = await world();
    const secretInError = 'pg://webhooks:hunter2@10.0.0.7/sessions';
    const answers: Array<[string, DashboardOptions['authorize']]> = [
      ['throws', () => {
        throw new Error(secretInError);
      }],
      ['rejects late', () => new Promise((_resolve, reject) => setTimeout(() => reject(new Error(secretInError)), 30))],
      ['returns undefined', (() => undefined) as never],
      ['returns true', (() => true) as never],
      ['returns an empty actor', () => ({ actor: '' })],
      ['returns an actor with U+0000', () => ({ actor: 'user:\u0000root' })],
      ['returns a name that is no string', (() => ({ actor: 'user:1', name: { toString: () => 'x' } })) as never],
    ];
    for (const [what, authorize] of answers) {
      const { logger, errors } = recordingLogger();
      const origin = await listen(dashboardOf(webhooks, { authorize, logger }).node());
      for (const path of ['/admin/webhooks/subscriptions?format=json', '/admin/webhooks/subscriptions']) {
        const response = await fetch(`${origin}${path}`);
        const text = await response.text();
        expect([what, path, response.status]).toEqual([what, path, 500]);
        expect(text).toContain('INTERNAL_ERROR');
        expect(text).not.toContain('hunter2');
        expect(text).not.toContain('erp.acme.example');
        expect(response.headers.get('cache-control')).toBe('no-store');
      }
      expect(errors.length, what).toBe(2);
    }
    // A slow but good answer is waited for.
    const slow = await listen(dashboardOf(webhooks, { authorize: () => new Promise((resolve) => setTimeout(() => resolve({ actor: 'ops:slow' }), 50)) }).node());
    expect((await fetch(`${slow}/admin/webhooks/subscriptions?format=json`)).status).toBe(200);
  });

  it('never serves a portal whose scope answers no tenant id as the operator’s dashboard of every tenant', async () => {
    const { webhooks, globex } = await world();
    for (const [what, answer] of [
      ['undefined', undefined],
      ['an empty string', ''],
      ['a number', 42],
      ['an object', { tenantId: 'acme' }],
      ['a tenant id with a control character', 'acme\n'],
    ] as const) {
      const origin = await listen(dashboardOf(webhooks, { scope: () => answer as never }).node());
      for (const path of ['/admin/webhooks/subscriptions?format=json', `/admin/webhooks/subscriptions/${globex.id}?format=json`, '/admin/webhooks/?format=json']) {
        const response = await fetch(`${origin}${path}`, { redirect: 'manual' });
        const text = await response.text();
        expect([what, path, response.status]).toEqual([what, path, 500]);
        expect(text).not.toContain(globex.url);
      }
    }
    const refused = await listen(dashboardOf(webhooks, { scope: () => null }).node());
    const response = await fetch(`${refused}/admin/webhooks/subscriptions?format=json`);
    expect([response.status, ((await response.json()) as { error: string }).error]).toEqual([403, 'DASHBOARD_FORBIDDEN']);
  });
});

describe('stored and requested markup where the pages put it', () => {
  const markup = '"><img src=x onerror=alert(1)>';
  const escaped = '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;';

  it('escapes the principal’s name, the tenant id in the portal’s header and an id echoed in a 404', async () => {
    const { webhooks } = await world();
    await webhooks.subscriptions.create({ tenantId: markup, url: 'https://erp.markup.example/hooks', eventTypes: ['payment.*'] });
    const origin = await listen(dashboardOf(webhooks, { authorize: () => ({ actor: 'user:1', name: markup }), scope: () => markup }).node());
    const list = await (await fetch(`${origin}/admin/webhooks/subscriptions`)).text();
    expect(list).toContain(`<span class="who">${escaped} · tenant <span class="mono">${escaped}</span></span>`);
    expect(list).toContain('https://erp.markup.example/hooks');
    expect(list).not.toContain('<img');
    const missing = await fetch(`${origin}/admin/webhooks/subscriptions/${encodeURIComponent(markup)}`);
    const page = await missing.text();
    expect(missing.status).toBe(404);
    expect(page).toContain(`No subscription with id &quot;\\&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&quot;`);
    expect(page).not.toContain('<img');
  });
});

describe('the page that shows a secret', () => {
  it('is never cached, framed or given a cookie, and its script runs only with the response’s nonce', async () => {
    const { webhooks, acme } = await world();
    const origin = await listen(dashboardOf(webhooks, { scope: () => 'acme' }).node());
    const response = await fetch(`${origin}/admin/webhooks/subscriptions/${acme.id}/rotate-secret`, { method: 'POST', headers: { origin, 'content-type': form }, body: 'overlapMs=0' });
    const page = await response.text();
    const { secret } = await webhooks.subscriptions.getSecrets(acme.id);
    expect(response.status).toBe(200);
    expect(page).toContain(`<code class="secret" id="secret">${secret}</code>`);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('same-origin');
    expect(response.headers.get('set-cookie')).toBeNull();
    const nonce = /<script nonce="([^"]+)"/.exec(page)![1]!;
    expect(response.headers.get('content-security-policy')).toContain(`script-src 'nonce-${nonce}';`);
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // Its page and list afterwards never show it again.
    for (const path of [`/subscriptions/${acme.id}`, `/subscriptions/${acme.id}?format=json`, '/subscriptions?format=json', `/subscriptions/${acme.id}/edit?format=json`]) {
      expect(await (await fetch(`${origin}/admin/webhooks${path}`)).text(), path).not.toContain(secret);
    }
  });
});

describe('the assets’ path', () => {
  it('serves only the two hashed files to someone authorize refuses; every other name under /assets/ is behind authorize', async () => {
    const { webhooks } = await world();
    const origin = await listen(dashboardOf(webhooks, { authorize: () => null }).node());
    const script = await fetch(`${origin}/admin/webhooks/assets/${dashboardAssets.js.name}`);
    expect([script.status, script.headers.get('content-type'), script.headers.get('x-content-type-options')]).toEqual([200, 'text/javascript; charset=utf-8', 'nosniff']);
    for (const target of [
      '/admin/webhooks/assets/..%2f..%2fpackage.json',
      `/admin/webhooks/assets/${dashboardAssets.js.name}/`,
      `/admin/webhooks/assets/${dashboardAssets.js.name}%00.html`,
      '/admin/webhooks/assets/',
      `/admin/webhooks/assets//${dashboardAssets.css.name}`,
    ]) {
      const response = await rawRequest(origin, target);
      expect([target, response.status]).toEqual([target, 403]);
      expect(response.text).not.toContain('"dependencies"');
    }
    // Dot segments, plain or percent-encoded, are resolved by the URL parser: outside the base path, a 404.
    for (const target of ['/admin/webhooks/assets/../../../package.json', '/admin/webhooks/assets/%2e%2e/%2e%2e/%2e%2e/package.json']) {
      const traversal = await rawRequest(origin, target);
      expect([target, traversal.status]).toEqual([target, 404]);
      expect(traversal.text).not.toContain('"dependencies"');
    }
  });
});

describe('the event feed’s query and host authentication', () => {
  async function feedWorld(options: EventFeedOptions = {}) {
    const { webhooks, acme, globex } = await world();
    const origin = await listen(toNodeHandler(createEventFeedHandler(webhooks, { basePath: '/feed', ...options })));
    return { webhooks, acme, globex, url: `${origin}/feed/events` };
  }

  it('serves a limit above the page size capped at it, however many digits it has', async () => {
    const { acme, url } = await feedWorld({ maxPageSize: 1 });
    for (const limit of ['1', '2', '1000000', '99999999999', '9'.repeat(400)]) {
      const answer = await signedGet(url, { subscriptionId: acme.id, secret: acme.secret, query: { limit } });
      expect([limit.slice(0, 12), answer.status, answer.body.data?.length]).toEqual([limit.slice(0, 12), 200, 1]);
    }
  });

  it('refuses a malformed query with 400 and the parameter at fault, after the signature is checked', async () => {
    const { acme, url } = await feedWorld();
    for (const [query, code, field] of [
      ['limit=0', 'INPUT_INVALID', 'limit'],
      ['limit=-1', 'INPUT_INVALID', 'limit'],
      ['limit=1.5', 'INPUT_INVALID', 'limit'],
      ['limit=1e3', 'INPUT_INVALID', 'limit'],
      ['limit=', 'INPUT_INVALID', 'limit'],
      ['limit=1&limit=2', 'INPUT_INVALID', 'limit'],
      ['since=-1', 'INPUT_INVALID', 'since'],
      ['since=2026-02-30Tnonsense', 'INPUT_INVALID', 'since'],
      ['since=99999999999999999', 'INPUT_INVALID', 'since'],
      ['after=not-a-cursor', 'CURSOR_INVALID', 'after'],
      [`after=${Buffer.from('d:dlv_1').toString('base64url')}`, 'CURSOR_INVALID', 'after'],
      ['after=a&after=b', 'INPUT_INVALID', 'after'],
      ['types=', 'INPUT_INVALID', 'types.0'],
      ['tenantId=', 'INPUT_INVALID', 'tenantId'],
      ['cursor=x', 'INPUT_INVALID', 'cursor'],
      ['__proto__=x', 'INPUT_INVALID', '__proto__'],
    ] as const) {
      const target = new URL(`${url}?${query}`);
      const answer = await signedGet(target.href, { subscriptionId: acme.id, secret: acme.secret });
      expect([query, answer.status, answer.body.error, answer.body.field]).toEqual([query, 400, code, field]);
    }
    const unsigned = await fetch(`${url}?limit=0`);
    expect([unsigned.status, await unsigned.json()]).toEqual([401, { error: 'WEBHOOK_MISSING_HEADER' }]);
  });

  it('answers a host authenticate hook that throws or answers no identity with 500 or 401, never another subscription’s events', async () => {
    const cases: Array<[string, EventFeedOptions['authenticate'], number, string]> = [
      ['throws', () => {
        throw new Error('session store at 10.0.0.9 said hunter2');
      }, 500, 'INTERNAL_ERROR'],
      ['returns undefined', (() => undefined) as never, 500, 'INTERNAL_ERROR'],
      ['returns an empty id', () => ({ subscriptionId: '' }), 500, 'INTERNAL_ERROR'],
      ['returns null', () => null, 401, 'FEED_UNAUTHORIZED'],
      ['returns an unknown id', () => ({ subscriptionId: 'sub_unknown' }), 403, 'SUBSCRIPTION_NOT_FOUND'],
    ];
    for (const [what, authenticate, status, code] of cases) {
      const { url } = await feedWorld({ authenticate });
      const response = await fetch(url);
      const text = await response.text();
      expect([what, response.status, (JSON.parse(text) as { error: string }).error]).toEqual([what, status, code]);
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('"data"');
    }
    // A session of Acme's naming Globex's subscription in the header is refused, not served either one.
    const { acme, globex, url } = await feedWorld({ authenticate: () => ({ subscriptionId: acme.id }) });
    const named = await fetch(url, { headers: { 'bookkeeper-subscription': globex.id } });
    expect([named.status, await named.json()]).toEqual([403, { error: 'FEED_FORBIDDEN', message: expect.any(String) }]);
    const own = (await (await fetch(`${url}?tenantId=globex`)).json()) as { error: string };
    expect(own.error).toBe('SUBSCRIPTION_SCOPE_EXCEEDED');
  });
});
