/**
 * The dashboard mounted the ways a host mounts it, over real loopback HTTP: Node `http` at
 * the root, Express 5 and 4 under a mount path (alone, and after `express.urlencoded()` and
 * `express.json()`, or `express.raw()`, have read the body), Fastify 5 under a prefix next to the app's own JSON
 * route, and Hono on @hono/node-server. Through each: a page whose links start with the base
 * path, an asset, an action from the page's origin (303 under the base path, its fields
 * read), a cross-origin action refused (also when its request target names the attacker's
 * host), a JSON field nested past the stack refused with 400, and a body past 64 KiB refused
 * with 413. Without authorization, only a loopback Host is served (DNS rebinding).
 */
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import express5 from 'express';
import type { Express } from 'express';
import express4 from 'express4';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardAssets } from '../../src/dashboard/assets.js';
import { createDashboardWithRoutes, type Dashboard } from '../../src/dashboard/create-dashboard.js';
import type { DashboardActionEvent } from '../../src/events/event-bus.js';
import { createWebhooks, type Webhooks } from '../../src/index.js';
import { gateTestRoutes } from '../support/dashboard-test-routes.js';
import { rawRequest } from '../support/raw-request.js';

const servers: Server[] = [];
const apps: FastifyInstance[] = [];
const instances: Webhooks[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const app of apps.splice(0)) await app.close();
  for (const webhooks of instances.splice(0)) await webhooks.close();
});

async function listen(listener: RequestListener): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A dashboard over the test routes, and the actions it announced. */
function dashboardAt(basePath: string): { dashboard: Dashboard; actions: DashboardActionEvent[] } {
  const webhooks = createWebhooks({ meter: false });
  instances.push(webhooks);
  const actions: DashboardActionEvent[] = [];
  webhooks.bus.on('dashboard:action', (event) => void actions.push(event));
  return { dashboard: createDashboardWithRoutes(webhooks, { basePath, authorize: () => ({ actor: 'user:42' }) }, gateTestRoutes()), actions };
}

interface Mounted {
  /** Scheme, host and port of the server. */
  origin: string;
  basePath: string;
  actions: DashboardActionEvent[];
}

type Mount = () => Promise<Mounted>;

function expressMount(makeApp: () => Express, parsers: (app: Express) => void = () => undefined): Mount {
  return async () => {
    const basePath = '/admin/webhooks';
    const { dashboard, actions } = dashboardAt(basePath);
    const app = makeApp();
    parsers(app);
    app.use(basePath, dashboard.express());
    return { origin: await listen(app), basePath, actions };
  };
}

const express4App = () => express4() as unknown as Express;

const mounts: Array<[string, Mount]> = [
  [
    'Node http at the root',
    async () => {
      const { dashboard, actions } = dashboardAt('');
      return { origin: await listen(dashboard.node()), basePath: '', actions };
    },
  ],
  ['Express 5', expressMount(() => express5())],
  [
    'Express 5 after express.urlencoded() and express.json()',
    expressMount(
      () => express5(),
      (app) => app.use(express5.urlencoded({ extended: false }), express5.json()),
    ),
  ],
  ['Express 5 after express.raw() of every type', expressMount(() => express5(), (app) => app.use(express5.raw({ type: '*/*' })))],
  ['Express 4', expressMount(express4App)],
  [
    'Express 4 after express.urlencoded() and express.json()',
    expressMount(express4App, (app) => app.use(express4.urlencoded({ extended: false }) as never, express4.json() as never)),
  ],
  [
    'Fastify 5 under a prefix',
    async () => {
      const basePath = '/admin/webhooks';
      const { dashboard, actions } = dashboardAt(basePath);
      const app = Fastify();
      apps.push(app);
      await app.register(dashboard.fastify(), { prefix: basePath });
      app.post('/api/orders', async (request) => ({ parsed: request.body }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { origin: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, basePath, actions };
    },
  ],
  [
    'Hono on @hono/node-server',
    async () => {
      const basePath = '/admin/webhooks';
      const { dashboard, actions } = dashboardAt(basePath);
      const app = new Hono();
      app.all(basePath, (c) => dashboard.fetch(c.req.raw));
      app.all(`${basePath}/*`, (c) => dashboard.fetch(c.req.raw));
      app.get('/', (c) => c.text('the host app'));
      return { origin: await listen(getRequestListener(app.fetch)), basePath, actions };
    },
  ],
];

function post(url: string, body: string | Uint8Array<ArrayBuffer>, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', body, headers, redirect: 'manual' });
}

/** The `error` code of a JSON refusal; `undefined` for a body that is not one (a framework's own 404). */
function errorCodeOf(text: string): unknown {
  try {
    return (JSON.parse(text) as { error?: unknown }).error;
  } catch {
    return undefined;
  }
}

const form = 'application/x-www-form-urlencoded';

describe.each(mounts)('the dashboard on %s', (_name, mount) => {
  it('serves a page whose links, stylesheet and script start with the base path, with its CSP', async () => {
    const { origin, basePath } = await mount();
    for (const path of [basePath === '' ? '/' : basePath, `${basePath}/`]) {
      const response = await fetch(`${origin}${path}`, { redirect: 'manual' });
      expect([path, response.status, response.headers.get('content-type')]).toEqual([path, 200, 'text/html; charset=utf-8']);
      const nonce = /'nonce-([^']+)'/.exec(response.headers.get('content-security-policy') ?? '')?.[1];
      const text = await response.text();
      expect(text).toContain(`<script nonce="${nonce}" src="${basePath}/assets/${dashboardAssets.js.name}" defer>`);
      const links = [...text.matchAll(/(?:href|src|action)="([^"]*)"/g)].map((match) => match[1]!).filter((link) => !link.startsWith('#'));
      expect(links.length).toBeGreaterThan(5);
      for (const link of links) expect(link.startsWith(`${basePath}/`) || link === basePath).toBe(true);
      expect(links).toContain(`${basePath}/items/42?tab=attempts`);
    }
    const item = await fetch(`${origin}${basePath}/items/a%20b?format=json`);
    expect([item.status, ((await item.json()) as { id: string }).id]).toEqual([200, 'a b']);
  });

  it('serves an asset with its type, cached for good, and HEAD without a body', async () => {
    const { origin, basePath } = await mount();
    const response = await fetch(`${origin}${basePath}/assets/${dashboardAssets.css.name}`);
    expect([response.status, response.headers.get('content-type'), response.headers.get('cache-control')]).toEqual([
      200,
      'text/css; charset=utf-8',
      'public, max-age=31536000, immutable',
    ]);
    expect(await response.text()).toBe(dashboardAssets.css.body);
    const head = await fetch(`${origin}${basePath}/assets/${dashboardAssets.js.name}`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, 'text/javascript; charset=utf-8', '']);
  });

  it('answers another method on a page with 405 and the methods it takes', async () => {
    const { origin, basePath } = await mount();
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const response = await fetch(`${origin}${basePath}/items/1`, { method, body: '{}', headers: { 'content-type': 'application/json', accept: 'application/json', origin } });
      expect([method, response.status, response.headers.get('allow'), ((await response.json()) as { error: string }).error]).toEqual([method, 405, 'GET, HEAD', 'METHOD_NOT_ALLOWED']);
    }
  });

  it('takes an action posted from its own origin: 303 to a path under the base path, its fields read', async () => {
    const { origin, basePath, actions } = await mount();
    const response = await post(`${origin}${basePath}/items/sub_1/poke`, 'note=caf%C3%A9&tag=a&tag=b', { 'content-type': form, origin });
    expect([response.status, response.headers.get('location')]).toEqual([303, `${basePath}/items/sub_1?done=updated`]);
    expect(actions.map((event) => [event.subscriptionId, event.details])).toEqual([['sub_1', { note: 'café', tags: 2 }]]);
    const json = await post(`${origin}${basePath}/items/sub_2/poke`, JSON.stringify({ note: 'from an API client', tag: ['x'] }), {
      'content-type': 'application/json',
      accept: 'application/json',
      origin,
    });
    expect([json.status, await json.json()]).toEqual([200, { poked: 'sub_2', fields: [['note', 'from an API client'], ['tag', 'x']] }]);
  });

  it('refuses an action posted from another origin with 403 DASHBOARD_CSRF', async () => {
    const { origin, basePath, actions } = await mount();
    for (const headers of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }, {}] as Array<Record<string, string>>) {
      const response = await post(`${origin}${basePath}/items/sub_1/poke`, 'note=x', { 'content-type': form, accept: 'application/json', ...headers });
      expect([response.status, ((await response.json()) as { error: string }).error]).toEqual([403, 'DASHBOARD_CSRF']);
    }
    expect(actions).toEqual([]);
  });

  it('refuses an action whose request target names the attacker’s host, posted with that host as its Origin', async () => {
    const { origin, basePath, actions } = await mount();
    const headers = { origin: 'http://evil.example', 'content-type': form, accept: 'application/json' };
    // A browser sends the path of https://dashboard.example//evil.example/… as it is: a path, under no base path.
    const doubleSlash = await rawRequest(origin, `//evil.example${basePath}/items/sub_1/poke`, { method: 'POST', headers, body: 'note=x' });
    expect(doubleSlash.status).toBe(404);
    // The absolute form names a host too; the server was reached at the Host's.
    const absolute = await rawRequest(origin, `http://evil.example${basePath}/items/sub_1/poke`, { method: 'POST', headers, body: 'note=x' });
    expect([absolute.status, errorCodeOf(absolute.text)]).toEqual([403, 'DASHBOARD_CSRF']);
    expect(actions).toEqual([]);
  });

  it('refuses a JSON field nested deeper than the stack with 400, and takes no action', async () => {
    const { origin, basePath, actions } = await mount();
    const depth = 20_000;
    const response = await post(`${origin}${basePath}/items/sub_1/poke`, `{"note":${'['.repeat(depth)}${']'.repeat(depth)}}`, {
      'content-type': 'application/json',
      accept: 'application/json',
      origin,
    });
    expect(response.status).toBe(400);
    // INPUT_INVALID from the dashboard; behind express.json(), which read the body, Express's own 400 page.
    expect(['INPUT_INVALID', undefined]).toContain(errorCodeOf(await response.text()));
    expect(actions).toEqual([]);
  });

  it.each([70_000, 1_000_000, 8_000_000])('refuses a form of %i bytes with 413', async (size) => {
    const { origin, basePath, actions } = await mount();
    const response = await post(`${origin}${basePath}/items/sub_1/poke`, `note=${'a'.repeat(size - 5)}`, { 'content-type': form, accept: 'application/json', origin });
    expect(response.status).toBe(413);
    await response.arrayBuffer();
    expect(actions).toEqual([]);
    // The server still answers.
    expect((await fetch(`${origin}${basePath}/items/1`)).status).toBe(200);
  });
});

describe('the dashboard in Fastify', () => {
  it('leaves the app’s own routes their JSON parser', async () => {
    const { dashboard } = dashboardAt('/admin/webhooks');
    const app = Fastify();
    apps.push(app);
    await app.register(dashboard.fastify(), { prefix: '/admin/webhooks' });
    app.post('/api/orders', async (request) => ({ parsed: request.body }));
    const response = await app.inject({ method: 'POST', url: '/api/orders', payload: { orderId: 'o_1' } });
    expect([response.statusCode, response.json()]).toEqual([200, { parsed: { orderId: 'o_1' } }]);
  });
});

describe('the dashboard in Express', () => {
  it.each([
    ['Express 5', () => express5()],
    ['Express 4', express4App],
  ])('mounted at the root of %s, leaves what is outside its base path to the app', async (_name, makeApp) => {
    const { dashboard } = dashboardAt('/admin/webhooks');
    const app = makeApp();
    app.use(dashboard.express());
    app.get('/health', (_request, response) => void response.send('ok'));
    app.get('/admin/webhooksx', (_request, response) => void response.send('a neighbour'));
    const origin = await listen(app);
    const health = await fetch(`${origin}/health`);
    expect([health.status, await health.text()]).toEqual([200, 'ok']);
    const neighbour = await fetch(`${origin}/admin/webhooksx`);
    expect([neighbour.status, await neighbour.text()]).toEqual([200, 'a neighbour']);
    const page = await fetch(`${origin}/admin/webhooks/items/7?format=json`);
    expect([page.status, ((await page.json()) as { id: string }).id]).toEqual([200, '7']);
    const unknown = await fetch(`${origin}/admin/webhooks/nothing`, { headers: { accept: 'application/json' } });
    expect([unknown.status, ((await unknown.json()) as { error: string }).error]).toEqual([404, 'NOT_FOUND']);
  });

  it.each([
    ['Express 5', () => express5()],
    ['Express 4', express4App],
  ])('mounted at the root of %s, passes on a path that starts with // and names another host, and takes no action', async (_name, makeApp) => {
    const { dashboard, actions } = dashboardAt('/admin/webhooks');
    const app = makeApp();
    app.use(dashboard.express());
    app.use((_request, response) => void response.status(404).send('the app’s own 404'));
    const origin = await listen(app);
    const response = await rawRequest(origin, '//evil.example/admin/webhooks/items/sub_1/poke', {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': form, accept: 'application/json' },
      body: 'note=x',
    });
    expect([response.status, response.text]).toEqual([404, 'the app’s own 404']);
    expect(actions).toEqual([]);
  });

  it('reads the request URL from originalUrl under a router mounted inside another', async () => {
    const { dashboard } = dashboardAt('/admin/webhooks');
    const app = express5();
    const admin = express5.Router();
    admin.use('/webhooks', dashboard.express());
    app.use('/admin', admin);
    const origin = await listen(app);
    const response = await fetch(`${origin}/admin/webhooks/items/7?format=json`);
    expect([response.status, ((await response.json()) as { id: string }).id]).toEqual([200, '7']);
  });
});

describe('the dashboard without authorization (dangerouslyDisableAuthorization)', () => {
  async function anonymousDashboard() {
    const webhooks = createWebhooks({ meter: false });
    instances.push(webhooks);
    const actions: DashboardActionEvent[] = [];
    webhooks.bus.on('dashboard:action', (event) => void actions.push(event));
    const dashboard = createDashboardWithRoutes(webhooks, { dangerouslyDisableAuthorization: true }, gateTestRoutes());
    return { origin: await listen(dashboard.node()), actions };
  }

  it.each(['localhost', '127.0.0.1', '[::1]', 'LOCALHOST'])('serves a request whose Host is %s, with any port', async (hostname) => {
    const { origin, actions } = await anonymousDashboard();
    const port = new URL(origin).port;
    for (const host of [`${hostname}:${port}`, hostname]) {
      const page = await rawRequest(origin, '/items/7', { headers: { host, accept: 'application/json' } });
      expect([host, page.status, (JSON.parse(page.text) as { actor: string }).actor]).toEqual([host, 200, 'anonymous']);
    }
    const action = await rawRequest(origin, '/items/sub_1/poke', {
      method: 'POST',
      headers: { host: `${hostname}:${port}`, origin: `http://${hostname.toLowerCase()}:${port}`, 'content-type': form, accept: 'application/json' },
      body: 'note=x',
    });
    expect(action.status).toBe(200);
    expect(actions).toHaveLength(1);
  });

  it.each([
    ['a DNS-rebound name', (port: string) => `rebind.attacker.example:${port}`],
    ['a name under localhost’s', (port: string) => `localhost.attacker.example:${port}`],
    ['a LAN address', (port: string) => `192.168.1.20:${port}`],
    ['a Host that is no host', () => 'localhost/evil'],
  ])('refuses a request whose Host is %s with 403 DASHBOARD_FORBIDDEN, pages and actions alike', async (_name, hostOf) => {
    const { origin, actions } = await anonymousDashboard();
    const host = hostOf(new URL(origin).port);
    const page = await rawRequest(origin, '/items/7', { headers: { host, accept: 'application/json' } });
    expect([page.status, errorCodeOf(page.text)]).toEqual([403, 'DASHBOARD_FORBIDDEN']);
    const action = await rawRequest(origin, '/items/sub_1/poke', {
      method: 'POST',
      headers: { host, origin: `http://${host}`, 'content-type': form, accept: 'application/json' },
      body: 'note=x',
    });
    expect([action.status, errorCodeOf(action.text)]).toEqual([403, 'DASHBOARD_FORBIDDEN']);
    expect(actions).toEqual([]);
  });
});
