/**
 * The dashboard's gate as a Fetch handler, over a route table of the test's own
 * (`createDashboardWithRoutes`), on the memory storage: its options; `authorize` and
 * `scope` and what their failures answer; the same-origin rule for actions and the read-only
 * switch; the headers of every response (CSP with a fresh nonce, no caching, no framing);
 * the static assets; routing (base path, 404, 405, HEAD); how a route's errors map to
 * statuses without leaking internals; reading forms; the fed verification failures; and
 * the audit of actions on the logger and the bus.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDashboard, type DashboardOptions } from '../../src/dashboard/index.js';
import { createDashboardWithRoutes } from '../../src/dashboard/create-dashboard.js';
import { dashboardAssets } from '../../src/dashboard/assets.js';
import type { DashboardActionEvent } from '../../src/events/event-bus.js';
import { ValidationError, createWebhooks, type Webhooks } from '../../src/index.js';
import { gateTestRoutes, internalMessages } from '../support/dashboard-test-routes.js';
import { FakeClock } from '../support/fake-clock.js';
import { recordingLogger } from '../support/recording-logger.js';
import { configErrorOf, thrownBy } from '../support/rejections.js';
import { samplePayment } from '../support/sample-payment.js';

const instances: Webhooks[] = [];
afterEach(async () => {
  for (const webhooks of instances.splice(0)) await webhooks.close();
});

function instance(): Webhooks {
  const webhooks = createWebhooks({ meter: false });
  instances.push(webhooks);
  return webhooks;
}

const origin = 'https://ops.example';
const operator = { actor: 'user:42', name: 'Ada' };

function setup(options: Partial<DashboardOptions> = {}, webhooks = instance()) {
  const recorded = recordingLogger();
  const clock = new FakeClock();
  const dashboard = createDashboardWithRoutes(webhooks, { authorize: () => operator, logger: recorded.logger, clock, ...options }, gateTestRoutes());
  return { dashboard, webhooks, clock, ...recorded };
}

interface Init {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  /** A form to post, as `application/x-www-form-urlencoded`. */
  form?: Record<string, string>;
}

function request(path: string, init: Init = {}, base = origin): Request {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.form !== undefined) {
    headers.set('content-type', 'application/x-www-form-urlencoded');
    body = new URLSearchParams(init.form).toString();
  }
  return new Request(new URL(path, base), { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body === undefined ? {} : { body }) });
}

/** A POST of a form from the dashboard's own page. */
function action(path: string, form: Record<string, string> = {}, headers: Record<string, string> = { origin }): Request {
  return request(path, { method: 'POST', form, headers });
}

const asJson = { accept: 'application/json' };

async function jsonOf(response: Response): Promise<[number, Record<string, unknown>]> {
  expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
  return [response.status, (await response.json()) as Record<string, unknown>];
}

/** The `nonce-…` of a response's CSP. */
function cspNonce(response: Response): string {
  const match = /script-src 'nonce-([^']+)'/.exec(response.headers.get('content-security-policy') ?? '');
  expect(match).not.toBeNull();
  return match![1]!;
}

const expectedCsp = (nonce: string) =>
  `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

describe('createDashboard options', () => {
  it('refuses a dashboard without authorize, naming the field', () => {
    const webhooks = instance();
    for (const options of [{}, { dangerouslyDisableAuthorization: false }, { authorize: undefined }, undefined]) {
      const error = configErrorOf(() => createDashboard(webhooks, options as DashboardOptions));
      expect([error.code, error.field]).toEqual(['CONFIG_INVALID', 'authorize']);
    }
  });

  it('serves everyone as "anonymous" with dangerouslyDisableAuthorization, and says so on the logger at creation', async () => {
    const { logger, warnings } = recordingLogger();
    const dashboard = createDashboardWithRoutes(instance(), { dangerouslyDisableAuthorization: true, logger, basePath: '/admin' }, gateTestRoutes());
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.fields).toEqual({ basePath: '/admin' });
    const [status, body] = await jsonOf(await dashboard.fetch(request('/admin', { headers: asJson }, 'http://127.0.0.1:8080')));
    expect([status, body.actor]).toEqual([200, 'anonymous']);
    expect(warnings).toHaveLength(1);
  });

  it('answers only a loopback Host with dangerouslyDisableAuthorization: 403 DASHBOARD_FORBIDDEN elsewhere, logged, assets included', async () => {
    const { logger, warnings } = recordingLogger();
    const dashboard = createDashboardWithRoutes(instance(), { dangerouslyDisableAuthorization: true, logger }, gateTestRoutes());
    for (const base of ['http://localhost:3000', 'http://127.0.0.1', 'http://[::1]:8080']) {
      expect([base, (await dashboard.fetch(request('/items/1', { headers: asJson }, base))).status]).toEqual([base, 200]);
    }
    for (const [base, headers] of [
      ['https://ops.example', {}],
      ['http://127.0.0.1:8080', { host: 'rebind.attacker.example:8080' }],
      ['http://localhost:8080', { host: 'localhost:8080@evil.example' }],
    ] as const) {
      for (const path of ['/items/1', `/assets/${dashboardAssets.css.name}`]) {
        const [status, body] = await jsonOf(await dashboard.fetch(request(path, { headers: { ...headers, ...asJson } }, base)));
        expect([base, path, status, body.error]).toEqual([base, path, 403, 'DASHBOARD_FORBIDDEN']);
      }
    }
    expect(warnings.slice(1).map((line) => line.fields.host)).toEqual([
      'ops.example',
      'ops.example',
      'rebind.attacker.example:8080',
      'rebind.attacker.example:8080',
      'localhost:8080@evil.example',
      'localhost:8080@evil.example',
    ]);
  });

  it('refuses authorize together with dangerouslyDisableAuthorization: one of them would be ignored', () => {
    const error = configErrorOf(() => createDashboard(instance(), { authorize: () => operator, dangerouslyDisableAuthorization: true }));
    expect([error.code, error.field]).toEqual(['CONFIG_INVALID', 'dangerouslyDisableAuthorization']);
  });

  it.each([
    ['an unknown key', { basepath: '/admin' }, 'basepath'],
    ['a base path without its leading slash', { basePath: 'admin/webhooks' }, 'basePath'],
    ['a base path with an empty segment', { basePath: '/admin//webhooks' }, 'basePath'],
    ['a base path with a space', { basePath: '/admin webhooks' }, 'basePath'],
    ['a base path with a query', { basePath: '/admin?x=1' }, 'basePath'],
    ['a base path that is not a string', { basePath: 5 }, 'basePath'],
    ['trusted origins given as one string', { trustedOrigins: 'https://admin.example' }, 'trustedOrigins'],
    ['a trusted origin with a path', { trustedOrigins: ['https://admin.example/'] }, 'trustedOrigins.0'],
    ['a trusted origin that is no URL', { trustedOrigins: ['https://ok.example', 'admin.example'] }, 'trustedOrigins.1'],
    ['a trusted origin "null"', { trustedOrigins: ['null'] }, 'trustedOrigins.0'],
    ['authorize that is not a function', { authorize: { actor: 'x' } }, 'authorize'],
    ['scope that is not a function', { scope: 'tenant_1' }, 'scope'],
    ['readOnly that is not a boolean', { readOnly: 'yes' }, 'readOnly'],
    ['an empty title', { title: '' }, 'title'],
    ['a logger without warn', { logger: { info() {}, error() {} } }, 'logger'],
    ['a clock without now', { clock: {} }, 'clock'],
  ])('refuses %s with CONFIG_INVALID on its field', (_name, options, field) => {
    const error = configErrorOf(() => createDashboard(instance(), { authorize: () => operator, ...(options as object) } as DashboardOptions));
    expect([error.code, error.field]).toEqual(['CONFIG_INVALID', field]);
  });

  it('refuses a second options argument with CONFIG_INVALID', () => {
    const webhooks = instance();
    const error = thrownBy(() => (createDashboard as (...args: unknown[]) => unknown)(webhooks, { authorize: () => operator }, { readOnly: true }));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
  });

  it('takes a base path with or without its trailing slash, and "/" as the root', async () => {
    for (const [basePath, path] of [
      ['/admin/webhooks/', '/admin/webhooks/items/7'],
      ['/admin/webhooks', '/admin/webhooks/items/7'],
      ['/', '/items/7'],
      [undefined, '/items/7'],
    ] as const) {
      const { dashboard } = setup(basePath === undefined ? {} : { basePath });
      const [status, body] = await jsonOf(await dashboard.fetch(request(path, { headers: asJson })));
      expect([basePath, status, body.id]).toEqual([basePath, 200, '7']);
    }
  });
});

describe('authorize', () => {
  it.each([null, false] as const)('answers %s with 403 DASHBOARD_FORBIDDEN: JSON when asked, a page otherwise', async (refusal) => {
    const { dashboard, warnings } = setup({ authorize: () => refusal });
    const [status, body] = await jsonOf(await dashboard.fetch(request('/items/1', { headers: asJson })));
    expect([status, body.error]).toEqual([403, 'DASHBOARD_FORBIDDEN']);

    const page = await dashboard.fetch(request('/items/1', { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } }));
    expect(page.status).toBe(403);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(expectedCsp(cspNonce(page)));
    const text = await page.text();
    expect(text).toMatch(/^<!doctype html>/);
    expect(text).toContain('DASHBOARD_FORBIDDEN');
    expect(text).toContain(`<script nonce="${cspNonce(page)}" src="/assets/${dashboardAssets.js.name}" defer>`);
    // Nobody is known yet: no navigation, no name.
    expect(text).not.toContain('<nav');
    expect(text).not.toContain('class="who"');
    expect(warnings.map((line) => line.fields)).toEqual([
      { path: '/items/1', method: 'GET' },
      { path: '/items/1', method: 'GET' },
    ]);
  });

  it('refuses before routing: an unknown page and an action answer 403 too, and no route runs', async () => {
    const events: DashboardActionEvent[] = [];
    const { dashboard, webhooks } = setup({ authorize: () => null });
    webhooks.bus.on('dashboard:action', (event) => void events.push(event));
    expect((await dashboard.fetch(request('/no/such/page', { headers: asJson }))).status).toBe(403);
    expect((await dashboard.fetch(action('/items/1/poke'))).status).toBe(403);
    expect(events).toEqual([]);
  });

  it('is given the request, and a principal’s name is shown in the header (its actor when it has none)', async () => {
    const authorize = vi.fn((incoming: Request) => (new URL(incoming.url).searchParams.has('anonymous') ? { actor: 'user:<7>' } : operator));
    const { dashboard } = setup({ authorize });
    const named = await (await dashboard.fetch(request('/items/1?x=1'))).text();
    expect(authorize.mock.calls[0]![0].url).toBe(`${origin}/items/1?x=1`);
    expect(named).toContain('<span class="who">Ada</span>');
    const unnamed = await (await dashboard.fetch(request('/items/1?anonymous'))).text();
    expect(unnamed).toContain('<span class="who">user:&lt;7&gt;</span>');
  });

  it('passes a Response it returns through as it is (a redirect to the login page)', async () => {
    const { dashboard } = setup({
      authorize: async (incoming) => new Response(null, { status: 302, headers: { location: `/login?next=${encodeURIComponent(new URL(incoming.url).pathname)}`, 'set-cookie': 'flow=1' } }),
    });
    const response = await dashboard.fetch(request('/items/1'));
    expect([response.status, response.headers.get('location'), response.headers.get('set-cookie')]).toEqual([302, '/login?next=%2Fitems%2F1', 'flow=1']);
  });

  it.each([
    ['throws', () => {
      throw new Error('session store at redis://10.0.0.3 is down');
    }],
    ['rejects', () => Promise.reject(new Error('session store at redis://10.0.0.3 is down'))],
  ])('answers 500 INTERNAL_ERROR when it %s, logs the error and shows none of its message', async (_name, authorize) => {
    const { dashboard, errors } = setup({ authorize: authorize as DashboardOptions['authorize'] });
    const response = await dashboard.fetch(request('/items/1', { headers: asJson }));
    const text = await response.text();
    expect([response.status, JSON.parse(text).error]).toEqual([500, 'INTERNAL_ERROR']);
    expect(text).not.toContain('redis');
    expect(errors).toHaveLength(1);
    expect((errors[0]!.fields.err as Error).message).toBe('session store at redis://10.0.0.3 is down');

    const page = await dashboard.fetch(request('/items/1'));
    expect([page.status, page.headers.get('content-type')]).toEqual([500, 'text/html; charset=utf-8']);
    const pageText = await page.text();
    expect(pageText).toContain('INTERNAL_ERROR');
    expect(pageText).not.toContain('redis');
  });

  it.each([
    ['undefined', undefined],
    ['a string', 'user:42'],
    ['an object without actor', { name: 'Ada' }],
    ['an empty actor', { actor: '' }],
    ['a numeric actor', { actor: 42 }],
    ['an actor of 257 characters', { actor: 'a'.repeat(257) }],
    ['an actor with U+0000', { actor: 'user:\u00004' }],
    ['a numeric name', { actor: 'user:42', name: 42 }],
  ])('answers 500 INTERNAL_ERROR and logs it when it returns %s', async (_name, principal) => {
    const { dashboard, errors } = setup({ authorize: () => principal as never });
    const [status, body] = await jsonOf(await dashboard.fetch(request('/items/1', { headers: asJson })));
    expect([status, body.error]).toEqual([500, 'INTERNAL_ERROR']);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fields.err).toBeInstanceOf(TypeError);
  });

  it('takes an actor of 256 characters, the longest a change log keeps', async () => {
    const { dashboard } = setup({ authorize: () => ({ actor: 'a'.repeat(256) }) });
    const [status, body] = await jsonOf(await dashboard.fetch(request('/items/1', { headers: asJson })));
    expect([status, body.actor]).toEqual([200, 'a'.repeat(256)]);
  });
});

describe('scope (the customer portal)', () => {
  it('gives the route the tenant it returns, and is given the request and the principal', async () => {
    const scope = vi.fn(async (_request: Request, _principal: unknown) => 'org_acme');
    const { dashboard } = setup({ scope });
    const [status, body] = await jsonOf(await dashboard.fetch(request('/items/3', { headers: asJson })));
    expect([status, body.tenantId, body.actor]).toEqual([200, 'org_acme', 'user:42']);
    expect(scope.mock.calls[0]![0]).toBeInstanceOf(Request);
    expect(scope.mock.calls[0]![1]).toEqual(operator);
  });

  it('answers null with 403 DASHBOARD_FORBIDDEN, logged', async () => {
    const { dashboard, warnings } = setup({ scope: () => null });
    const [status, body] = await jsonOf(await dashboard.fetch(request('/items/3', { headers: asJson })));
    expect([status, body.error]).toEqual([403, 'DASHBOARD_FORBIDDEN']);
    expect(warnings.map((line) => line.fields)).toEqual([{ actor: 'user:42', path: '/items/3' }]);
    const page = await dashboard.fetch(request('/items/3'));
    expect([page.status, page.headers.get('content-type')]).toEqual([403, 'text/html; charset=utf-8']);
  });

  it.each([
    ['an empty tenant id', ''],
    ['a tenant id with a control character', 'org\u0007'],
    ['a tenant id of 129 characters', 't'.repeat(129)],
    ['a number', 42],
    ['undefined', undefined],
  ])('answers 500 INTERNAL_ERROR and logs it when it returns %s', async (_name, tenant) => {
    const { dashboard, errors } = setup({ scope: () => tenant as never });
    const [status, body] = await jsonOf(await dashboard.fetch(request('/items/3', { headers: asJson })));
    expect([status, body.error]).toEqual([500, 'INTERNAL_ERROR']);
    expect(errors).toHaveLength(1);
  });

  it('answers 500 INTERNAL_ERROR when it throws', async () => {
    const { dashboard, errors } = setup({
      scope: () => {
        throw new Error('tenant lookup failed');
      },
    });
    const response = await dashboard.fetch(request('/items/3', { headers: asJson }));
    const text = await response.text();
    expect([response.status, JSON.parse(text).error, text.includes('tenant lookup')]).toEqual([500, 'INTERNAL_ERROR', false]);
    expect(errors).toHaveLength(1);
  });

  it('answers an operator-only page with 404 in the portal and serves it to the operator', async () => {
    const portal = setup({ scope: () => 'org_acme' }).dashboard;
    const [status, body] = await jsonOf(await portal.fetch(request('/operations', { headers: asJson })));
    expect([status, body.error]).toEqual([404, 'NOT_FOUND']);
    const [operatorStatus] = await jsonOf(await setup().dashboard.fetch(request('/operations', { headers: asJson })));
    expect(operatorStatus).toBe(200);
  });

  it('answers another tenant’s subscription and delivery as it answers an unknown id', async () => {
    const webhooks = instance();
    const theirs = await webhooks.subscriptions.create({ url: 'https://erp.globex.example/hooks', eventTypes: ['payment.*'], tenantId: 'org_globex' });
    const published = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_globex' });
    const [delivery] = (await webhooks.deliveries.list({ eventId: published.id })).items;
    expect(delivery).toBeDefined();

    const globex = setup({ scope: () => 'org_globex' }, webhooks).dashboard;
    const acme = setup({ scope: () => 'org_acme' }, webhooks).dashboard;
    const operatorView = setup({}, webhooks).dashboard;
    for (const [kind, id] of [
      ['subscription', theirs.id],
      ['delivery', delivery!.id],
    ] as const) {
      expect((await globex.fetch(request(`/lookup/${kind}/${id}`, { headers: asJson }))).status).toBe(200);
      expect((await operatorView.fetch(request(`/lookup/${kind}/${id}`, { headers: asJson }))).status).toBe(200);
      const foreign = await jsonOf(await acme.fetch(request(`/lookup/${kind}/${id}`, { headers: asJson })));
      const unknown = await jsonOf(await acme.fetch(request(`/lookup/${kind}/${kind}_unknown`, { headers: asJson })));
      expect([foreign[0], foreign[1].error]).toEqual([404, 'NOT_FOUND']);
      expect([unknown[0], unknown[1].error]).toEqual([404, 'NOT_FOUND']);
      // The same answer but for the id it echoes: nothing tells a guessed id from a foreign one.
      expect(String(foreign[1].message).replace(id, '<id>')).toBe(String(unknown[1].message).replace(`${kind}_unknown`, '<id>'));
    }
  });
});

describe('the same-origin rule for actions', () => {
  async function poke(headers: Record<string, string>, options: Partial<DashboardOptions> = {}, base = origin) {
    const events: DashboardActionEvent[] = [];
    const { dashboard, webhooks, warnings } = setup(options);
    webhooks.bus.on('dashboard:action', (event) => void events.push(event));
    const response = await dashboard.fetch(request('/items/9/poke', { method: 'POST', form: { note: 'x' }, headers: { ...headers, ...asJson } }, base));
    return { response, events, warnings };
  }

  it.each([
    ['neither Origin nor Sec-Fetch-Site', {}],
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['a foreign Origin on the same site', { origin: 'https://evil.ops.example', 'sec-fetch-site': 'same-site' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: cross-site with a foreign Origin', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }],
    ['Origin: null (a sandboxed frame, a data: URL)', { origin: 'null' }],
    ['the right host on another scheme', { origin: 'http://ops.example' }],
    ['the right host on another port', { origin: 'https://ops.example:8443' }],
    ['a Referer of the dashboard without Origin', { referer: `${origin}/items/9` }],
  ])('refuses a POST with %s: 403 DASHBOARD_CSRF, before the route runs', async (_name, headers) => {
    const { response, events, warnings } = await poke(headers as Record<string, string>);
    const [status, body] = await jsonOf(response);
    expect([status, body.error]).toEqual([403, 'DASHBOARD_CSRF']);
    expect(events).toEqual([]);
    expect(warnings).toHaveLength(1);
  });

  it.each([
    ['its own Origin', { origin }, {}, origin],
    ['its own Origin and Sec-Fetch-Site: same-origin', { origin, 'sec-fetch-site': 'same-origin' }, {}, origin],
    ['an Origin in trustedOrigins', { origin: 'https://admin.example' }, { trustedOrigins: ['https://other.example', 'https://admin.example'] }, origin],
    // A proxy rewrote the Host (the handler sees http://127.0.0.1:3000); the browser still says same-origin.
    ['Sec-Fetch-Site: same-origin where a proxy rewrote the Host', { origin, 'sec-fetch-site': 'same-origin' }, {}, 'http://127.0.0.1:3000'],
  ])('takes a POST with %s', async (_name, headers, options, base) => {
    const { response, events } = await poke(headers, options, base);
    expect(response.status).toBe(200);
    expect(events).toHaveLength(1);
  });

  it('compares Origin with the Host the server was reached at, not with a host the request target named', async () => {
    // An adapter that took the URL from the absolute form (`POST http://evil.example/… HTTP/1.1`).
    const refused = await poke({ host: 'ops.example', origin: 'http://evil.example' }, {}, 'http://evil.example');
    expect([refused.response.status, (await refused.response.json()).error]).toEqual([403, 'DASHBOARD_CSRF']);
    expect(refused.events).toEqual([]);
    const malformed = await poke({ host: 'evil.example/x', origin: 'http://evil.example' }, {}, 'http://evil.example');
    expect(malformed.response.status).toBe(403);
    const taken = await poke({ host: 'ops.example', origin: 'http://ops.example' }, {}, 'http://evil.example');
    expect([taken.response.status, taken.events.length]).toEqual([200, 1]);
  });

  it('refuses a rewritten Host without Sec-Fetch-Site unless the origin is trusted', async () => {
    const refused = await poke({ origin }, {}, 'http://127.0.0.1:3000');
    expect(refused.response.status).toBe(403);
    const trusted = await poke({ origin }, { trustedOrigins: [origin] }, 'http://127.0.0.1:3000');
    expect(trusted.response.status).toBe(200);
  });

  it('never asks it of a GET', async () => {
    const { dashboard } = setup();
    const response = await dashboard.fetch(request('/items/1', { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } }));
    expect(response.status).toBe(200);
  });

  it('answers a refused action with a page for a browser', async () => {
    const { dashboard } = setup();
    const response = await dashboard.fetch(request('/items/9/poke', { method: 'POST', form: {}, headers: { origin: 'https://evil.example' } }));
    expect([response.status, response.headers.get('content-type')]).toEqual([403, 'text/html; charset=utf-8']);
    expect(await response.text()).toContain('DASHBOARD_CSRF');
  });
});

describe('readOnly', () => {
  it('refuses every action with 403 DASHBOARD_READ_ONLY, even from its own origin, and still serves pages', async () => {
    const events: DashboardActionEvent[] = [];
    const { dashboard, webhooks } = setup({ readOnly: true });
    webhooks.bus.on('dashboard:action', (event) => void events.push(event));
    const [status, body] = await jsonOf(await dashboard.fetch(action('/items/9/poke', {}, { origin, 'sec-fetch-site': 'same-origin', ...asJson })));
    expect([status, body.error]).toEqual([403, 'DASHBOARD_READ_ONLY']);
    expect(events).toEqual([]);
    const [pageStatus, page] = await jsonOf(await dashboard.fetch(request('/items/9', { headers: asJson })));
    expect([pageStatus, page.readOnly]).toEqual([200, true]);
  });
});

describe('response headers', () => {
  it('sends a CSP with a fresh nonce per page, the nonce of the layout’s script, and forbids framing and caching', async () => {
    const { dashboard } = setup();
    const nonces: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await dashboard.fetch(request('/'));
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const nonce = cspNonce(response);
      expect(nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      const csp = response.headers.get('content-security-policy')!;
      expect(csp).toBe(expectedCsp(nonce));
      expect(csp).not.toContain('unsafe-inline');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('same-origin');
      const text = await response.text();
      const scripts = [...text.matchAll(/<script\b[^>]*>/g)].map((match) => match[0]);
      expect(scripts).toEqual([`<script nonce="${nonce}" src="/assets/${dashboardAssets.js.name}" defer>`]);
      nonces.push(nonce);
    }
    expect(new Set(nonces).size).toBe(3);
  });

  it('sends the same headers on refusals, errors and JSON', async () => {
    const { dashboard } = setup();
    for (const path of ['/no/such/page', '/fail/plain', '/fail/validation', '/items/1?format=json']) {
      for (const accept of ['text/html', 'application/json']) {
        const response = await dashboard.fetch(request(path, { headers: { accept } }));
        expect(response.headers.get('cache-control')).toBe('no-store');
        expect(response.headers.get('x-frame-options')).toBe('DENY');
        expect(response.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src '[^']+'; /);
      }
    }
  });

  it('serves the stylesheet and the script without authorize, cached for good, with their content types', async () => {
    const authorize = vi.fn(() => null);
    const { dashboard } = setup({ authorize, basePath: '/admin/webhooks' });
    for (const asset of [dashboardAssets.css, dashboardAssets.js]) {
      for (const method of ['GET', 'HEAD']) {
        const response = await dashboard.fetch(request(`/admin/webhooks/assets/${asset.name}`, { method }));
        expect([response.status, response.headers.get('content-type'), response.headers.get('cache-control'), response.headers.get('x-content-type-options')]).toEqual([
          200,
          asset.type,
          'public, max-age=31536000, immutable',
          'nosniff',
        ]);
        if (method === 'GET') expect(await response.text()).toBe(asset.body);
      }
    }
    expect(dashboardAssets.css.type).toBe('text/css; charset=utf-8');
    expect(dashboardAssets.js.type).toBe('text/javascript; charset=utf-8');
    expect(authorize).not.toHaveBeenCalled();
  });

  it('answers an unknown asset through the gate: 403 to a stranger, 404 to a user', async () => {
    const stranger = setup({ authorize: () => null }).dashboard;
    expect((await stranger.fetch(request('/assets/dashboard.00000000.css', { headers: asJson }))).status).toBe(403);
    const user = setup().dashboard;
    const [status, body] = await jsonOf(await user.fetch(request('/assets/dashboard.00000000.css', { headers: asJson })));
    expect([status, body.error]).toEqual([404, 'NOT_FOUND']);
    // An asset's name on another method is no asset.
    expect((await user.fetch(request(`/assets/${dashboardAssets.css.name}`, { method: 'POST', body: '', headers: { origin } }))).status).toBe(404);
  });

  it('links its stylesheet, script and pages under the base path', async () => {
    const { dashboard } = setup({ basePath: '/admin/webhooks' });
    const text = await (await dashboard.fetch(request('/admin/webhooks'))).text();
    const links = [...text.matchAll(/(?:href|src|action)="([^"]*)"/g)].map((match) => match[1]!).filter((link) => !link.startsWith('#'));
    expect(links.length).toBeGreaterThan(5);
    for (const link of links) expect(link).toMatch(/^\/admin\/webhooks(\/|$)/);
    expect(links).toContain(`/admin/webhooks/assets/${dashboardAssets.css.name}`);
    expect(links).toContain('/admin/webhooks/items/42?tab=attempts');
    expect(links).toContain('/admin/webhooks/items/42/poke');
  });
});

describe('routing', () => {
  it('answers 404 outside its base path, whoever asks', async () => {
    const authorize = vi.fn(() => operator);
    const { dashboard } = setup({ authorize, basePath: '/admin/webhooks' });
    for (const path of ['/', '/admin', '/admin/webhooksx', '/other/admin/webhooks']) {
      const [status, body] = await jsonOf(await dashboard.fetch(request(path, { headers: asJson })));
      expect([path, status, body.error]).toEqual([path, 404, 'NOT_FOUND']);
    }
    expect(authorize).not.toHaveBeenCalled();
  });

  it('answers an unknown page with 404 NOT_FOUND, in its layout for a browser', async () => {
    const { dashboard } = setup({ basePath: '/admin/webhooks' });
    for (const path of ['/admin/webhooks/nothing', '/admin/webhooks/items', '/admin/webhooks/items/', '/admin/webhooks/items/1/2']) {
      const [status, body] = await jsonOf(await dashboard.fetch(request(path, { headers: asJson })));
      expect([path, status, body.error]).toEqual([path, 404, 'NOT_FOUND']);
    }
    const page = await dashboard.fetch(request('/admin/webhooks/nothing'));
    expect(page.status).toBe(404);
    const text = await page.text();
    expect(text).toContain('<nav aria-label="Sections">');
    expect(text).toContain('NOT_FOUND');
  });

  it('answers another method with 405 METHOD_NOT_ALLOWED and the methods it takes', async () => {
    const { dashboard } = setup();
    for (const [method, path, allow] of [
      ['PUT', '/items/1', 'GET, HEAD'],
      ['DELETE', '/items/1', 'GET, HEAD'],
      ['GET', '/items/1/poke', 'POST'],
      ['POST', '/items/1', 'GET, HEAD'],
    ] as const) {
      const response = await dashboard.fetch(request(path, { method, headers: { origin, ...asJson }, ...(method === 'GET' ? {} : { body: '' }) }));
      const [status, body] = await jsonOf(response);
      expect([method, path, status, body.error, response.headers.get('allow')]).toEqual([method, path, 405, 'METHOD_NOT_ALLOWED', allow]);
    }
  });

  it('answers HEAD as GET', async () => {
    const { dashboard } = setup();
    const head = await dashboard.fetch(request('/items/1', { method: 'HEAD' }));
    expect([head.status, head.headers.get('content-type'), head.headers.get('cache-control')]).toEqual([200, 'text/html; charset=utf-8', 'no-store']);
    expect(cspNonce(head)).toBeTruthy();
  });

  it('decodes path parameters, and answers 404 to one that does not decode', async () => {
    const { dashboard } = setup();
    const [status, body] = await jsonOf(await dashboard.fetch(request('/items/a%20b%2Fc', { headers: asJson })));
    expect([status, body.id]).toEqual([200, 'a b/c']);
    expect((await dashboard.fetch(request('/items/%E0%A4%A', { headers: asJson }))).status).toBe(404);
  });

  it('answers JSON for ?format=json or an Accept that puts JSON first, a page otherwise', async () => {
    const { dashboard } = setup();
    for (const [query, accept, json] of [
      ['?format=json', 'text/html', true],
      ['', 'application/json', true],
      ['', 'application/json, text/html', true],
      ['', 'text/html, application/json', false],
      ['', '*/*', false],
      ['', '', false],
    ] as const) {
      const response = await dashboard.fetch(request(`/items/1${query}`, { headers: accept === '' ? {} : { accept } }));
      expect([query, accept, response.headers.get('content-type')]).toEqual([query, accept, json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8']);
    }
  });

  it('answers an action with 303 to its location, and a JSON client with its data', async () => {
    const { dashboard } = setup({ basePath: '/admin/webhooks' });
    const response = await dashboard.fetch(action('/admin/webhooks/items/9/poke', { note: 'hello' }));
    expect([response.status, response.headers.get('location'), response.headers.get('cache-control')]).toEqual([303, '/admin/webhooks/items/9?done=updated', 'no-store']);
    const [status, body] = await jsonOf(await dashboard.fetch(action('/admin/webhooks/items/9/poke', { note: 'hello' }, { origin, ...asJson })));
    expect([status, body]).toEqual([200, { poked: '9', fields: [['note', 'hello']] }]);
  });
});

describe('errors of a route', () => {
  it.each([
    ['validation', 400, 'INPUT_INVALID'],
    ['not-found', 404, 'SUBSCRIPTION_NOT_FOUND'],
    ['conflict', 409, 'DELIVERY_IN_FLIGHT'],
    ['refusal', 404, 'NOT_FOUND'],
  ])('answers a %s error with %i and its code and message', async (kind, status, code) => {
    const { dashboard, errors } = setup();
    const [answered, body] = await jsonOf(await dashboard.fetch(request(`/fail/${kind}`, { headers: asJson })));
    expect([answered, body.error, typeof body.message]).toEqual([status, code, 'string']);
    const page = await dashboard.fetch(request(`/fail/${kind}`));
    expect([page.status, page.headers.get('content-type')]).toEqual([status, 'text/html; charset=utf-8']);
    expect(await page.text()).toContain(code);
    expect(errors).toEqual([]);
  });

  it.each([
    ['a StorageError', 'storage', internalMessages.storage],
    ['a plain Error', 'plain', internalMessages.plain],
  ])('answers %s with 500 INTERNAL_ERROR, logs it and shows nothing of it', async (_name, kind, message) => {
    const { dashboard, errors } = setup();
    const response = await dashboard.fetch(request(`/fail/${kind}`, { headers: asJson }));
    const text = await response.text();
    expect([response.status, JSON.parse(text).error]).toEqual([500, 'INTERNAL_ERROR']);
    const page = await dashboard.fetch(request(`/fail/${kind}`));
    const pageText = await page.text();
    expect([page.status, pageText.includes('INTERNAL_ERROR')]).toEqual([500, true]);
    for (const shown of [text, pageText]) {
      expect(shown).not.toContain(message.slice(0, 20));
      expect(shown).not.toContain('STORAGE_');
    }
    expect(errors).toHaveLength(2);
    expect(errors[0]!.fields).toMatchObject({ path: `/fail/${kind}`, actor: 'user:42' });
    expect((errors[0]!.fields.err as Error).message).toBe(message);
  });
});

describe('reading a form', () => {
  async function echo(body: string | Uint8Array<ArrayBuffer>, contentType?: string) {
    const { dashboard } = setup();
    const headers: Record<string, string> = { origin, ...asJson };
    if (contentType !== undefined) headers['content-type'] = contentType;
    return jsonOf(await dashboard.fetch(request('/echo', { method: 'POST', body, headers })));
  }

  it('reads a url-encoded form, repeated fields and UTF-8 included, once', async () => {
    const [status, body] = await echo('tag=a&tag=b&note=caf%C3%A9+%26+cr%C3%A8me&empty=', 'application/x-www-form-urlencoded; charset=UTF-8');
    expect([status, body]).toEqual([
      200,
      {
        fields: [
          ['tag', 'a'],
          ['tag', 'b'],
          ['note', 'café & crème'],
          ['empty', ''],
        ],
        sameObject: true,
      },
    ]);
  });

  it('reads a flat JSON object: arrays as repeated fields, objects as their JSON, null left out', async () => {
    const [status, body] = await echo(JSON.stringify({ note: 'x', tag: ['a', 'b'], count: 3, on: true, off: null, retry: { maxAttempts: 5 } }), 'application/json');
    expect([status, body.fields]).toEqual([
      200,
      [
        ['note', 'x'],
        ['tag', 'a'],
        ['tag', 'b'],
        ['count', '3'],
        ['on', 'true'],
        ['retry', '{"maxAttempts":5}'],
      ],
    ]);
  });

  it('reads an empty body as no fields', async () => {
    expect(await echo('', 'application/x-www-form-urlencoded')).toEqual([200, { fields: [], sameObject: true }]);
  });

  it('takes 64 KiB and answers 413 PAYLOAD_TOO_LARGE past it', async () => {
    const at = `note=${'a'.repeat(65_536 - 5)}`;
    expect((await echo(at, 'application/x-www-form-urlencoded'))[0]).toBe(200);
    const [status, body] = await echo(`${at}a`, 'application/x-www-form-urlencoded');
    expect([status, body.error]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const [bigStatus] = await echo(new Uint8Array(1_000_000).fill(97), 'application/x-www-form-urlencoded');
    expect(bigStatus).toBe(413);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['multipart/form-data', 'multipart/form-data; boundary=x'],
    ['no content type', undefined],
  ])('answers a body of %s with 415 UNSUPPORTED_MEDIA_TYPE', async (_name, type) => {
    const [status, body] = await echo('note=x', type);
    expect([status, body.error]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it.each([
    ['malformed JSON', '{"note": '],
    ['a JSON array', '["note"]'],
    ['a JSON string', '"note"'],
    ['JSON null', 'null'],
  ])('answers %s with 400 INPUT_INVALID', async (_name, text) => {
    const [status, body] = await echo(text, 'application/json');
    expect([status, body.error]).toEqual([400, 'INPUT_INVALID']);
  });

  it('takes a JSON field nested 64 deep and answers one nested deeper (past the stack too) with 400 INPUT_INVALID, logging no error', async () => {
    const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
    const { dashboard, errors } = setup();
    const post = async (text: string) => jsonOf(await dashboard.fetch(request('/echo', { method: 'POST', body: text, headers: { origin, ...asJson, 'content-type': 'application/json' } })));
    const [status, body] = await post(`{"note":${nested(64)}}`);
    expect([status, body.fields]).toEqual([200, [['note', nested(63)]]]);
    for (const text of [`{"note":${nested(65)}}`, `{"tag":["a",${nested(65)}]}`, `{"note":{"a":${nested(20_000)}}}`]) {
      const [refused, answer] = await post(text);
      expect([refused, answer.error]).toEqual([400, 'INPUT_INVALID']);
    }
    expect(errors).toEqual([]);
  });
});

describe('recordVerificationFailure', () => {
  it.each<[unknown, string]>([['', 'an empty code'], ['WEBHOOK NO MATCH', 'a code with a space'], ['W'.repeat(101), 'a code of 101 characters'], [42, 'a number'], [null, 'null'], ['<script>', 'markup']])(
    'refuses %j (%s) with INPUT_INVALID on code',
    (code) => {
      const { dashboard } = setup();
      const error = thrownBy(() => dashboard.recordVerificationFailure(code as string));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ code: 'INPUT_INVALID', field: 'code' });
    },
  );

  it('counts failures by code at the clock’s time, for the pages to read; wired unbound as a receiver’s onVerificationFailure', async () => {
    const { dashboard, clock } = setup();
    const hook: (code: string, error: Error) => void = dashboard.recordVerificationFailure;
    const start = clock.now();
    hook('WEBHOOK_NO_MATCHING_SIGNATURE', new Error('no match'));
    hook('WEBHOOK_NO_MATCHING_SIGNATURE', new Error('no match'));
    await clock.advance(120_000);
    dashboard.recordVerificationFailure('WEBHOOK_TIMESTAMP_TOO_OLD');
    const window = async (from: number, to: number) => (await jsonOf(await dashboard.fetch(request(`/failures?from=${from}&to=${to}`, { headers: asJson }))))[1];
    expect(await window(start, clock.now() + 60_000)).toEqual({ total: 3, byCode: { WEBHOOK_NO_MATCHING_SIGNATURE: 2, WEBHOOK_TIMESTAMP_TOO_OLD: 1 } });
    expect(await window(start + 60_000, clock.now() + 60_000)).toEqual({ total: 1, byCode: { WEBHOOK_TIMESTAMP_TOO_OLD: 1 } });
    expect(await window(start - 60_000, start)).toEqual({ total: 0, byCode: {} });
  });
});

describe('the log of refused actions', () => {
  it.each([
    ['400 INPUT_INVALID', 'application/json', '["note"]', 400, 'INPUT_INVALID'],
    ['415 UNSUPPORTED_MEDIA_TYPE', 'text/plain', 'note=x', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['413 PAYLOAD_TOO_LARGE', 'application/x-www-form-urlencoded', `note=${'s'.repeat(70_000)}`, 413, 'PAYLOAD_TOO_LARGE'],
  ])('logs an action the dashboard refuses with %s at warn: its code, path and actor, not its body', async (_name, type, text, status, code) => {
    const { dashboard, warnings, errors } = setup({ basePath: '/admin' });
    const [answered, body] = await jsonOf(await dashboard.fetch(request('/admin/echo', { method: 'POST', body: text, headers: { origin, ...asJson, 'content-type': type } })));
    expect([answered, body.error]).toEqual([status, code]);
    expect(warnings.map((line) => line.fields)).toEqual([{ code, path: '/echo', actor: 'user:42' }]);
    expect(JSON.stringify(warnings)).not.toContain('note');
    expect(errors).toEqual([]);
  });

  it('does not log a refusal of a page (a GET)', async () => {
    const { dashboard, warnings } = setup();
    expect((await dashboard.fetch(request('/fail/refusal', { headers: asJson }))).status).toBe(404);
    expect(warnings).toEqual([]);
  });
});

describe('the audit of actions', () => {
  it('logs an action at info with its actor and announces it on the bus as dashboard:action', async () => {
    const events: DashboardActionEvent[] = [];
    const { dashboard, webhooks, lines, clock } = setup();
    webhooks.bus.on('dashboard:action', (event) => void events.push(event));
    const response = await dashboard.fetch(action('/items/sub_9/poke', { note: 'retry thresholds', tag: 'a' }));
    expect(response.status).toBe(303);
    const expected: DashboardActionEvent = {
      action: 'item.poke',
      actor: 'user:42',
      tenantId: null,
      subscriptionId: 'sub_9',
      deliveryId: null,
      at: clock.now(),
      details: { note: 'retry thresholds', tags: 1 },
    };
    expect(events).toEqual([expected]);
    const info = lines.filter((line) => line.level === 'info');
    expect(info).toHaveLength(1);
    expect(info[0]!.fields).toEqual(expected);
    expect(info[0]!.message).toContain('item.poke');
  });

  it('names the portal’s tenant in the event', async () => {
    const events: DashboardActionEvent[] = [];
    const { dashboard, webhooks } = setup({ scope: () => 'org_acme' });
    webhooks.bus.on('dashboard:action', (event) => void events.push(event));
    expect((await dashboard.fetch(action('/items/sub_9/poke'))).status).toBe(303);
    expect(events.map((event) => [event.tenantId, event.details])).toEqual([['org_acme', { note: null, tags: 0 }]]);
  });
});
