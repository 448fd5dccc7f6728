// The dashboard mounted in Fastify, Node `http` and Hono: `npx tsx examples/dashboard-frameworks.ts`.
// (Express, with a login in front: examples/dashboard.ts.) Each app serves the same dashboard
// under its own base path; the script reads the overview from each.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createWebhooks } from '../src/index.js';

const webhooks = createWebhooks();
// The host's own check of who is calling (its session, an SSO header set by its proxy, …).
const operatorOf = (request: Request) => (request.headers.get('x-operator') === 'alice' ? { actor: 'user:alice' } : null);

async function origin(server: Server): Promise<string> {
  if (!server.listening) await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

// #region fastify
import Fastify from 'fastify';
import { createDashboard } from '../src/dashboard/index.js';

const fastify = Fastify();
const forFastify = createDashboard(webhooks, { basePath: '/admin/webhooks', authorize: operatorOf });
await fastify.register(forFastify.fastify(), { prefix: '/admin/webhooks' });
// #endregion fastify
await fastify.listen({ port: 0, host: '127.0.0.1' });

// #region node
import { createServer } from 'node:http';

const forNode = createDashboard(webhooks, { authorize: operatorOf }); // basePath '' : the whole server
const nodeServer = createServer(forNode.node()).listen(0, '127.0.0.1');
// #endregion node

// #region hono
import { Hono } from 'hono';

const hono = new Hono();
const forHono = createDashboard(webhooks, { basePath: '/admin/webhooks', authorize: operatorOf });
hono.all('/admin/webhooks', (c) => forHono.fetch(c.req.raw));
hono.all('/admin/webhooks/*', (c) => forHono.fetch(c.req.raw));
// #endregion hono
const honoServer = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' }) as Server;

const apps = {
  fastify: `${await origin(fastify.server)}/admin/webhooks/`,
  node: `${await origin(nodeServer)}/`,
  hono: `${await origin(honoServer)}/admin/webhooks/`,
};
for (const [name, url] of Object.entries(apps)) {
  const signedIn = await fetch(url, { headers: { 'x-operator': 'alice' } });
  const stranger = await fetch(url);
  const page = await signedIn.text();
  console.log(`${name}: overview ${signedIn.status} (${/<h1>([^<]*)<\/h1>/.exec(page)?.[1] ?? 'no heading'}), without the header ${stranger.status}`);
}
await fastify.close();
for (const server of [nodeServer, honoServer]) {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
await webhooks.close();
