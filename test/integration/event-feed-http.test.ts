/**
 * The event feed mounted the ways a host mounts it, over real loopback HTTP: on Node `http`
 * (`toNodeHandler`) and in Express 4 and 5 under a router's mount path
 * (`toExpressMiddleware`, which reads `req.originalUrl`, the path the consumer signed), with
 * `pullMissed` reading it through each; what the bridges carry (status, headers, repeated
 * cookies, the request URL on the Host's origin whatever the request target names) and where
 * their failures go.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import type { ErrorRequestHandler, Express } from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { createEventFeedHandler, createWebhooks, toExpressMiddleware, toNodeHandler, type Webhooks } from '../../src/index.js';
import { pullMissed } from '../../src/receiver/index.js';
import { rawRequest } from '../support/raw-request.js';
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

async function listen(server: Server): Promise<string> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function withEvent() {
  const webhooks = createWebhooks({ meter: false });
  instances.push(webhooks);
  const subscription = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
  const published = await webhooks.publish('payment.succeeded', samplePayment(1));
  return { webhooks, subscription, published };
}

describe('the event feed on Node http', () => {
  it('serves pullMissed through toNodeHandler, and answers 405 and 404 as the Fetch handler does', async () => {
    const { webhooks, subscription, published } = await withEvent();
    const origin = await listen(createServer(toNodeHandler(createEventFeedHandler(webhooks, { basePath: '/feed' }))));
    const handled: string[] = [];
    const result = await pullMissed({ feedUrl: `${origin}/feed/events`, subscriptionId: subscription.id, secret: subscription.secret, onEvent: (event) => void handled.push(event.id) });
    expect(result).toMatchObject({ processed: 1 });
    expect(handled).toEqual([published.id]);

    const post = await fetch(`${origin}/feed/events`, { method: 'POST', body: '{}' });
    expect([post.status, post.headers.get('allow'), post.headers.get('content-type'), await post.json()]).toEqual([405, 'GET', 'application/json', { error: 'METHOD_NOT_ALLOWED' }]);
    const elsewhere = await fetch(`${origin}/events`);
    expect([elsewhere.status, await elsewhere.json()]).toEqual([404, { error: 'NOT_FOUND' }]);
  });

  it('carries a Fetch handler’s status, headers, repeated cookies and streamed request body', async () => {
    const origin = await listen(
      createServer(
        toNodeHandler(async (request) => {
          const headers = new Headers({ 'x-seen': `${request.method} ${new URL(request.url).pathname}` });
          headers.append('set-cookie', 'a=1');
          headers.append('set-cookie', 'b=2');
          return new Response(`echo:${await request.text()}`, { status: 201, headers });
        }),
      ),
    );
    const response = await fetch(`${origin}/some/path?q=1`, { method: 'PUT', body: 'payload' });
    expect([response.status, response.headers.get('x-seen'), response.headers.getSetCookie(), await response.text()]).toEqual([201, 'PUT /some/path', ['a=1', 'b=2'], 'echo:payload']);
  });

  it('builds the request URL from the path and query alone, on the Host’s origin: a target never names its host', async () => {
    const origin = await listen(createServer(toNodeHandler(async (request) => new Response(request.url))));
    const { port } = new URL(origin);
    for (const [target, host, url] of [
      ['/feed/events?after=1', undefined, `${origin}/feed/events?after=1`],
      ['//evil.example/feed/events?after=1', undefined, `${origin}//evil.example/feed/events?after=1`],
      ['http://evil.example/feed/events?after=1', undefined, `${origin}/feed/events?after=1`],
      ['/feed/events', `localhost:${port}`, `http://localhost:${port}/feed/events`],
      ['/feed/events', 'localhost:80', 'http://localhost/feed/events'],
      ['//evil.example/feed/events', `localhost:${port}`, `http://localhost:${port}//evil.example/feed/events`],
      ['/feed/events', 'evil.example/x', 'http://localhost/feed/events'],
      ['/feed/events', `user@127.0.0.1:${port}`, 'http://localhost/feed/events'],
    ] as const) {
      const response = await rawRequest(origin, target, host === undefined ? {} : { headers: { host } });
      expect([target, host, response.status, response.text]).toEqual([target, host, 200, url]);
    }
  });

  it('answers 500 when the Fetch handler itself rejects', async () => {
    const origin = await listen(createServer(toNodeHandler(() => Promise.reject(new Error('broken')))));
    const response = await fetch(`${origin}/feed/events`);
    expect([response.status, await response.json()]).toEqual([500, { error: 'INTERNAL_ERROR' }]);
  });
});

describe.each([
  ['Express 4', () => express4() as unknown as Express, express4.Router as unknown as typeof express5.Router],
  ['Express 5', () => express5(), express5.Router],
])('the event feed in %s', (_name, makeApp, Router) => {
  it('serves pullMissed under a router mount path, the path the consumer signs', async () => {
    const { webhooks, subscription, published } = await withEvent();
    const app = makeApp();
    const router = Router();
    router.get('/events', toExpressMiddleware(createEventFeedHandler(webhooks, { basePath: '/webhooks/feed' })));
    app.use('/webhooks/feed', router);
    const origin = await listen(createServer(app));
    const handled: string[] = [];
    const result = await pullMissed({ feedUrl: `${origin}/webhooks/feed/events`, subscriptionId: subscription.id, secret: subscription.secret, onEvent: (event) => void handled.push(event.id) });
    expect(result).toMatchObject({ processed: 1 });
    expect(handled).toEqual([published.id]);
  });

  it("passes a failure to bridge the request to Express's error handling", async () => {
    const app = makeApp();
    app.get('/feed/events', toExpressMiddleware(() => Promise.reject(new Error('broken'))));
    const onError: ErrorRequestHandler = (error: Error, _req, res, _next) => void res.status(502).json({ handledBy: 'express', message: error.message });
    app.use(onError);
    const origin = await listen(createServer(app));
    const response = await fetch(`${origin}/feed/events`);
    expect([response.status, await response.json()]).toEqual([502, { handledBy: 'express', message: 'broken' }]);
  });
});
