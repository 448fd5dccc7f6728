// maxEventAgeSeconds through every HTTP adapter (Node http, Express, Fastify, Fetch):
// a stale event is answered 200 {"outcome":"stale"} without onEvent; a throwing onStale, 500.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler, createWebHandler, expressWebhook, fastifyWebhook, type ReceiverOptions, type WebhookEvent } from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

const secret = generateSecret();
let sequence = 0;

/** A request body and headers signed now, for an event that happened `ageMs` ago. */
function delivery(ageMs: number) {
  const id = `evt_age_${++sequence}`;
  const body = JSON.stringify({ id, type: 'payment.succeeded', timestamp: new Date(Date.now() - ageMs).toISOString(), data: { paymentId: `pay_${sequence}` } });
  const signedAt = Math.floor(Date.now() / 1000);
  const headers = {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(signedAt),
    'webhook-signature': signWebhook({ id, timestamp: signedAt, body, secrets: secret }),
  };
  return { id, body, headers };
}

const fresh = () => delivery(60_000);
const stale = () => delivery(48 * 3_600_000);

function recorder() {
  const handled: string[] = [];
  const parked: string[] = [];
  const options = {
    secrets: secret,
    maxEventAgeSeconds: 24 * 3_600,
    onStale: (event: WebhookEvent) => void parked.push(event.id),
    logger: false as const,
  } satisfies ReceiverOptions;
  return { handled, parked, options };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
}

async function post(url: string, message: { body: string; headers: Record<string, string> }) {
  const response = await fetch(url, { method: 'POST', headers: message.headers, body: message.body });
  return { status: response.status, body: await response.text() };
}

describe('a stale event through the HTTP adapters', () => {
  it('createNodeHandler answers it 200 {"outcome":"stale"} without onEvent, and a fresh one 204', async () => {
    const { handled, parked, options } = recorder();
    const url = await listen(createServer(createNodeHandler({ ...options, onEvent: (event) => void handled.push(event.id) })));
    const old = stale();
    expect(await post(url, old)).toEqual({ status: 200, body: '{"outcome":"stale"}' });
    expect(await post(url, old)).toEqual({ status: 200, body: '{"outcome":"duplicate"}' });
    const recent = fresh();
    expect((await post(url, recent)).status).toBe(204);
    expect({ handled, parked }).toEqual({ handled: [recent.id], parked: [old.id] });
  });

  it('expressWebhook answers it 200 {"outcome":"stale"} without onEvent', async () => {
    const { handled, parked, options } = recorder();
    const app = express();
    app.post('/webhooks', expressWebhook({ ...options, onEvent: (event) => void handled.push(event.id) }));
    const url = await listen(createServer(app));
    const old = stale();
    expect(await post(url, old)).toEqual({ status: 200, body: '{"outcome":"stale"}' });
    expect({ handled, parked }).toEqual({ handled: [], parked: [old.id] });
  });

  it('fastifyWebhook answers it 200 {"outcome":"stale"} without onEvent', async () => {
    const { handled, parked, options } = recorder();
    const app = Fastify();
    try {
      await app.register(fastifyWebhook({ ...options, path: '/webhooks', onEvent: (event) => void handled.push(event.id) }));
      const old = stale();
      const response = await app.inject({ method: 'POST', url: '/webhooks', headers: old.headers, payload: old.body });
      expect({ status: response.statusCode, body: response.body }).toEqual({ status: 200, body: '{"outcome":"stale"}' });
      expect({ handled, parked }).toEqual({ handled: [], parked: [old.id] });
    } finally {
      await app.close();
    }
  });

  it('createWebHandler answers it 200 {"outcome":"stale"} without onEvent, and 500 when onStale throws (retried: the id is released)', async () => {
    const { handled, parked, options } = recorder();
    let refuse = true;
    const handler = createWebHandler({
      ...options,
      onEvent: (event) => void handled.push(event.id),
      onStale: (event) => {
        if (refuse) throw new Error('review queue down');
        parked.push(event.id);
      },
    });
    const request = (message: ReturnType<typeof delivery>) => new Request('https://erp.example/webhooks', { method: 'POST', headers: message.headers, body: message.body });
    const old = stale();
    const refused = await handler(request(old));
    expect({ status: refused.status, body: await refused.text() }).toEqual({ status: 500, body: '{"error":"INTERNAL_ERROR"}' });
    refuse = false;
    const accepted = await handler(request(old));
    expect({ status: accepted.status, body: await accepted.text() }).toEqual({ status: 200, body: '{"outcome":"stale"}' });
    expect({ handled, parked }).toEqual({ handled: [], parked: [old.id] });
  });
});
