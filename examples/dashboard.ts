// The dashboard and the customer portal in a host app: `npx tsx examples/dashboard.ts`.
// Bookkeeper's Express app has its own login. Operators get the dashboard at /admin/webhooks;
// each customer gets the portal at /portal, scoped to their organisation, to manage their own
// endpoints and see their own deliveries. Run with KEEP_OPEN=1 to browse it.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { createWebhooks, type Webhooks } from '../src/index.js';
import { createDashboard } from '../src/dashboard/index.js';

/** The host's users: who they are and, for a customer, which organisation they belong to. */
const users: Record<string, { name: string; role: 'operator' | 'customer'; tenantId?: string }> = {
  alice: { name: 'Alice (Bookkeeper operations)', role: 'operator' },
  'acme-admin': { name: 'Acme’s finance admin', role: 'customer', tenantId: 'org_acme' },
  'globex-admin': { name: 'Globex’s finance admin', role: 'customer', tenantId: 'org_globex' },
};

export interface HostApp {
  url: string;
  webhooks: Webhooks;
  close(): Promise<void>;
}

/** Starts the host app on a loopback port, on the given instance (a new in-memory one by default). */
export async function startHostApp(webhooks: Webhooks = createWebhooks({ security: { allowPrivateNetworks: true } })): Promise<HostApp> {
  // The host's sessions: a random cookie per login (a real app keeps them in its session store).
  const sessions = new Map<string, string>();
  const userOf = (request: Request) => {
    const cookie = /(?:^|;\s*)session=([A-Za-z0-9_-]+)/.exec(request.headers.get('cookie') ?? '')?.[1];
    const username = cookie === undefined ? undefined : sessions.get(cookie);
    return username === undefined ? undefined : { username, ...users[username]! };
  };
  const toLogin = (request: Request) => Response.redirect(new URL(`/login?next=${encodeURIComponent(new URL(request.url).pathname)}`, request.url), 303);

  // #region mount
  const app = express();
  // Operators: the whole dashboard, every tenant.
  const dashboard = createDashboard(webhooks, {
    basePath: '/admin/webhooks',
    authorize: (request) => {
      const user = userOf(request);
      if (user === undefined) return toLogin(request); // not signed in: to the host's login page
      return user.role === 'operator' ? { actor: `user:${user.username}`, name: user.name } : null; // a customer: 403
    },
  });
  app.use('/admin/webhooks', dashboard.express());

  // Customers: the portal, scoped to the organisation of whoever is signed in.
  const portal = createDashboard(webhooks, {
    basePath: '/portal',
    title: 'Your webhooks',
    authorize: (request) => {
      const user = userOf(request);
      if (user === undefined) return toLogin(request);
      return { actor: `user:${user.username}`, name: user.name };
    },
    scope: (request) => userOf(request)?.tenantId ?? null, // an operator without a tenant: 403
  });
  app.use('/portal', portal.express());
  // #endregion mount

  // Where to go after signing in: a path on this site only. `//evil.example/` and `/\evil.example/`
  // start with a slash too, and a browser reads both as another site (an open redirect).
  const localPath = (next: unknown) =>
    typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/portal';

  app.get('/login', (req, res) => {
    const next = localPath(req.query.next);
    const options = Object.entries(users)
      .map(([username, user]) => `<option value="${username}">${user.name}</option>`)
      .join('');
    res.type('html').send(`<!doctype html><html lang="en"><head><title>Sign in</title></head><body><main><h1>Sign in to Bookkeeper</h1>
<form method="post" action="/login"><input type="hidden" name="next" value="${next.replace(/[^A-Za-z0-9/_-]/g, '')}">
<label for="user">User</label> <select id="user" name="user">${options}</select> <button type="submit">Sign in</button></form></main></body></html>`);
  });
  app.post('/login', express.urlencoded({ extended: false }), (req, res) => {
    const { user, next } = req.body as { user?: string; next?: string };
    if (user === undefined || users[user] === undefined) return void res.status(401).send('unknown user');
    const session = randomBytes(18).toString('base64url');
    sessions.set(session, user);
    res.cookie('session', session, { httpOnly: true, sameSite: 'lax', path: '/' });
    res.redirect(303, localPath(next));
  });

  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    webhooks,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Signs in as `username` and returns the session cookie. */
export async function signIn(url: string, username: string): Promise<string> {
  const response = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ user: username }), redirect: 'manual' });
  const cookie = response.headers.getSetCookie()[0];
  if (cookie === undefined) throw new Error(`could not sign in as ${username}: ${response.status}`);
  return cookie.split(';')[0]!;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const webhooks = createWebhooks({ security: { allowPrivateNetworks: true } });
  await webhooks.subscriptions.create({ tenantId: 'org_acme', url: 'https://erp.acme.example/hooks', eventTypes: ['payment.*'], description: 'Acme ERP' });
  await webhooks.subscriptions.create({ tenantId: 'org_globex', url: 'https://erp.globex.example/hooks', eventTypes: ['payment.*'], description: 'Globex ERP' });
  const host = await startHostApp(webhooks);
  const get = async (path: string, cookie?: string) => {
    const response = await fetch(`${host.url}${path}`, { headers: cookie === undefined ? {} : { cookie }, redirect: 'manual' });
    return { status: response.status, location: response.headers.get('location'), text: await response.text() };
  };
  const anonymous = await get('/portal/subscriptions');
  console.log(`signed out, /portal: ${anonymous.status} to ${anonymous.location}`);
  const acme = await signIn(host.url, 'acme-admin');
  const acmePortal = await get('/portal/subscriptions', acme);
  console.log(`acme-admin, /portal: ${acmePortal.status}, shows Acme ERP: ${acmePortal.text.includes('Acme ERP')}, shows Globex ERP: ${acmePortal.text.includes('Globex ERP')}`);
  console.log(`acme-admin, /admin/webhooks: ${(await get('/admin/webhooks/', acme)).status}`);
  const alice = await signIn(host.url, 'alice');
  const overview = await get('/admin/webhooks/', alice);
  console.log(`alice, /admin/webhooks: ${overview.status}`);
  const offsite = await fetch(`${host.url}/login`, { method: 'POST', body: new URLSearchParams({ user: 'alice', next: '//evil.example/' }), redirect: 'manual' });
  console.log(`sign-in with next=//evil.example/: ${offsite.status} to ${offsite.headers.get('location')}`);
  if (process.env.KEEP_OPEN === '1') {
    console.log(`open ${host.url}/login (Ctrl-C to stop)`);
    await once(process, 'SIGINT');
  }
  await host.close();
  await webhooks.close();
}
