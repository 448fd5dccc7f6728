import { request as httpRequest, createServer, type IncomingMessage, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import { createNodeHandler, createWebHandler, verifyWebRequest, type WebhookEvent } from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

const secret = generateSecret();
const otherSecret = generateSecret();

type PaymentSucceeded = WebhookEvent<'payment.succeeded', { amountMinor: number; currency: string }>;

const event = { id: 'evt_01JXYZ0000000000000000000B', type: 'payment.succeeded', timestamp: new Date().toISOString(), data: { amountMinor: 1250, currency: 'EUR' } };
const body = JSON.stringify(event);

function signedHeaders(
  options: { id?: string; body?: string; secrets?: string | string[]; timestampSeconds?: number } = {},
): Record<string, string> {
  const timestampSeconds = options.timestampSeconds ?? Math.floor(Date.now() / 1000);
  const id = options.id ?? event.id;
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook({ id, timestamp: timestampSeconds, body: options.body ?? body, secrets: options.secrets ?? secret }),
  };
}

function codeOf(error: unknown): string | undefined {
  return isWebhookError(error) ? error.code : undefined;
}

interface RunningServer {
  url: string;
  close(): Promise<void>;
}

const servers: RunningServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(listener: RequestListener): Promise<string> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  servers.push({
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return `http://127.0.0.1:${port}/webhooks`;
}

interface Recorder {
  events: PaymentSucceeded[];
  errors: unknown[];
  requests: IncomingMessage[];
}

async function serveHandler(
  options: { onEvent?: Parameters<typeof createNodeHandler<PaymentSucceeded>>[0]['onEvent']; maxBodyBytes?: number; secrets?: string | string[] } = {},
): Promise<{ url: string } & Recorder> {
  const recorder: Recorder = { events: [], errors: [], requests: [] };
  const handler = createNodeHandler<PaymentSucceeded>({
    secrets: options.secrets ?? secret,
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    onEvent:
      options.onEvent ??
      ((received, req) => {
        recorder.events.push(received);
        recorder.requests.push(req);
      }),
    onError: (error) => recorder.errors.push(error),
  });
  return { url: await serve(handler), ...recorder };
}

/** A raw `node:http` request, for what fetch cannot send: repeated headers. */
function rawPost(url: string, headers: Record<string, string | string[]>, payload: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('createNodeHandler over loopback HTTP', () => {
  it('answers 204 to a signed request and gives onEvent the typed event and the request', async () => {
    const server = await serveHandler();
    const response = await fetch(server.url, { method: 'POST', headers: signedHeaders(), body });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    expect(server.events).toEqual([event]);
    expect(server.events[0]!.data.amountMinor).toBe(1250);
    expect(server.requests[0]!.url).toBe('/webhooks');
    expect(server.errors).toEqual([]);
  });

  it('accepts a request signed with either secret during a rotation', async () => {
    const server = await serveHandler({ secrets: [secret, otherSecret] });
    for (const one of [secret, otherSecret]) {
      // Two events (two ids): the same id twice would be answered as a duplicate.
      const response = await fetch(server.url, { method: 'POST', headers: signedHeaders({ id: `evt_rotation_${one === secret ? 1 : 2}`, secrets: one }), body });
      expect(response.status).toBe(204);
    }
    expect(server.events).toHaveLength(2);
  });

  it.each([
    ['a tampered body', () => ({ headers: signedHeaders(), body: body.replace('1250', '9250') }), 'WEBHOOK_NO_MATCHING_SIGNATURE'],
    ['a wrong secret', () => ({ headers: signedHeaders({ secrets: otherSecret }), body }), 'WEBHOOK_NO_MATCHING_SIGNATURE'],
    [
      'no signature header',
      () => {
        const { 'webhook-signature': _dropped, ...headers } = signedHeaders();
        return { headers, body };
      },
      'WEBHOOK_MISSING_HEADER',
    ],
    [
      'a timestamp ten minutes old',
      () => ({ headers: signedHeaders({ timestampSeconds: Math.floor(Date.now() / 1000) - 600 }), body }),
      'WEBHOOK_TIMESTAMP_TOO_OLD',
    ],
    [
      'a timestamp ten minutes ahead',
      () => ({ headers: signedHeaders({ timestampSeconds: Math.floor(Date.now() / 1000) + 600 }), body }),
      'WEBHOOK_TIMESTAMP_TOO_NEW',
    ],
    ['a malformed signature', () => ({ headers: { ...signedHeaders(), 'webhook-signature': 'v1,' }, body }), 'WEBHOOK_INVALID_SIGNATURE'],
  ])('answers 401 with only the code to %s', async (_name, make, code) => {
    const server = await serveHandler();
    const { headers, body: sent } = make();
    const response = await fetch(server.url, { method: 'POST', headers, body: sent });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ error: code });
    expect(server.events).toEqual([]);
    expect(server.errors.map(codeOf)).toEqual([code]);
  });

  it('answers 401 to a signature header sent twice with different values', async () => {
    const server = await serveHandler();
    const headers = signedHeaders();
    const decoy = signedHeaders({ secrets: otherSecret })['webhook-signature']!;
    const response = await rawPost(server.url, { ...headers, 'webhook-signature': [headers['webhook-signature']!, decoy] }, body);
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body)).toEqual({ error: 'WEBHOOK_INVALID_SIGNATURE' });
  });

  it('answers 400 to a signed body that is not JSON', async () => {
    const server = await serveHandler();
    const payload = 'amount=1250&currency=EUR';
    const response = await fetch(server.url, { method: 'POST', headers: signedHeaders({ body: payload }), body: payload });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'WEBHOOK_INVALID_PAYLOAD' });
    expect(server.events).toEqual([]);
  });

  it('answers 413 to a body over maxBodyBytes announced by content-length, before reading it', async () => {
    const server = await serveHandler({ maxBodyBytes: 64 });
    const response = await fetch(server.url, { method: 'POST', headers: signedHeaders(), body });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: 'PAYLOAD_TOO_LARGE' });
    expect(server.events).toEqual([]);
    expect(server.errors.map(codeOf)).toEqual(['PAYLOAD_TOO_LARGE']);
  });

  it('answers 413 to a chunked body that grows over maxBodyBytes', async () => {
    const server = await serveHandler({ maxBodyBytes: 64 });
    const chunks = [body.slice(0, 50), body.slice(50)].map((part) => new TextEncoder().encode(part));
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(next);
      },
    });
    const response = await fetch(server.url, { method: 'POST', headers: signedHeaders(), body: stream, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: 'PAYLOAD_TOO_LARGE' });
    expect(server.events).toEqual([]);
  });

  it('answers 405 to anything but POST', async () => {
    const server = await serveHandler();
    const response = await fetch(server.url, { method: 'GET' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await response.json()).toEqual({ error: 'METHOD_NOT_ALLOWED' });
  });

  it('answers 500 without detail when onEvent throws, and reports the error', async () => {
    const failure = new Error('ledger unavailable at db-internal-7:5432');
    const errors: unknown[] = [];
    const url = await serve(
      createNodeHandler({
        secrets: secret,
        onEvent: async () => {
          throw failure;
        },
        onError: (error) => errors.push(error),
      }),
    );
    const response = await fetch(url, { method: 'POST', headers: signedHeaders(), body });
    expect(response.status).toBe(500);
    expect(await response.text()).toBe(JSON.stringify({ error: 'INTERNAL_ERROR' }));
    expect(errors).toEqual([failure]);
  });

  it('keeps the response onEvent wrote itself', async () => {
    const server = await serveHandler({
      onEvent: (_event, _req, res) => {
        res.writeHead(202, { 'content-type': 'text/plain' });
        res.end('queued');
      },
    });
    const response = await fetch(server.url, { method: 'POST', headers: signedHeaders(), body });
    expect(response.status).toBe(202);
    expect(await response.text()).toBe('queued');
  });

  it('answers 500 and reports CONFIG_INVALID when a body parser consumed the body first', async () => {
    const errors: unknown[] = [];
    const handler = createNodeHandler({ secrets: secret, onEvent: () => undefined, onError: (error) => errors.push(error) });
    const url = await serve((req, res) => {
      req.resume();
      req.on('end', () => handler(req, res));
    });
    const response = await fetch(url, { method: 'POST', headers: signedHeaders(), body });
    expect(response.status).toBe(500);
    expect(errors.map(codeOf)).toEqual(['CONFIG_INVALID']);
  });

  it('answers a redelivered event 200 { outcome: duplicate } without calling onEvent again', async () => {
    const server = await serveHandler();
    expect((await fetch(server.url, { method: 'POST', headers: signedHeaders(), body })).status).toBe(204);
    const again = await fetch(server.url, { method: 'POST', headers: signedHeaders(), body });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ outcome: 'duplicate' });
    expect(server.events).toHaveLength(1);
  });

  it('answers 409 to a copy arriving while the first is still handled, and 200 once it is processed', async () => {
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    let calls = 0;
    const server = await serveHandler({
      onEvent: async () => {
        calls += 1;
        await gate;
      },
    });
    const first = fetch(server.url, { method: 'POST', headers: signedHeaders(), body });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const concurrent = await fetch(server.url, { method: 'POST', headers: signedHeaders(), body });
    expect(concurrent.status).toBe(409);
    expect(await concurrent.json()).toEqual({ error: 'DUPLICATE_IN_FLIGHT' });
    finish();
    expect((await first).status).toBe(204);
    expect((await fetch(server.url, { method: 'POST', headers: signedHeaders(), body })).status).toBe(200);
    expect(calls).toBe(1);
  });

  it('releases the id when onEvent answers 503 itself, so the retry is processed', async () => {
    let calls = 0;
    const server = await serveHandler({
      onEvent: (_event, _req, res) => {
        calls += 1;
        if (calls === 1) res.writeHead(503).end('busy');
      },
    });
    expect((await fetch(server.url, { method: 'POST', headers: signedHeaders(), body })).status).toBe(503);
    expect((await fetch(server.url, { method: 'POST', headers: signedHeaders(), body })).status).toBe(204);
    expect(calls).toBe(2);
  });

  it('hands every copy to onEvent when dedupe is false', async () => {
    const events: unknown[] = [];
    const url = await serve(createNodeHandler({ secrets: secret, dedupe: false, onEvent: (received) => void events.push(received) }));
    for (let i = 0; i < 2; i++) expect((await fetch(url, { method: 'POST', headers: signedHeaders(), body })).status).toBe(204);
    expect(events).toHaveLength(2);
  });

  it.each([
    ['no secret', { secrets: [] }, 'SECRET_INVALID'],
    ['a malformed secret', { secrets: 'whsec_!!' }, 'SECRET_INVALID'],
    ['a zero maxBodyBytes', { maxBodyBytes: 0 }, 'CONFIG_INVALID'],
    ['a negative toleranceSeconds', { toleranceSeconds: -5 }, 'CONFIG_INVALID'],
    ['no onEvent', { onEvent: undefined }, 'CONFIG_INVALID'],
    ['an unknown option', { maxBodySize: 10 }, 'CONFIG_INVALID'],
  ])('refuses %s at creation', (_name, override, code) => {
    const options = { secrets: secret, onEvent: () => undefined, ...override } as Parameters<typeof createNodeHandler>[0];
    let thrown: unknown;
    try {
      createNodeHandler(options);
    } catch (error) {
      thrown = error;
    }
    expect(codeOf(thrown)).toBe(code);
  });
});

function webRequest(headers: Record<string, string>, payload: BodyInit | null, method = 'POST'): Request {
  return new Request('https://receiver.example/webhooks', { method, headers, body: payload, ...(payload instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
}

describe('createWebHandler with Fetch Request objects', () => {
  function webHandler(overrides: Partial<Parameters<typeof createWebHandler<PaymentSucceeded>>[0]> = {}) {
    const recorded = { events: [] as PaymentSucceeded[], errors: [] as unknown[], requests: [] as Request[] };
    const handle = createWebHandler<PaymentSucceeded>({
      secrets: secret,
      onEvent: (received, request) => {
        recorded.events.push(received);
        recorded.requests.push(request);
      },
      onError: (error) => recorded.errors.push(error),
      ...overrides,
    });
    return { handle, ...recorded };
  }

  it('answers 204 to a signed request and gives onEvent the typed event and the request', async () => {
    const web = webHandler();
    const request = webRequest(signedHeaders(), body);
    const response = await web.handle(request);
    expect(response.status).toBe(204);
    expect(web.events).toEqual([event]);
    expect(web.events[0]!.type).toBe('payment.succeeded');
    expect(web.requests).toEqual([request]);
  });

  it('answers 401 with only the code to a tampered body', async () => {
    const web = webHandler();
    const response = await web.handle(webRequest(signedHeaders(), body.replace('EUR', 'USD')));
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    expect(web.events).toEqual([]);
    expect(web.errors.map(codeOf)).toEqual(['WEBHOOK_NO_MATCHING_SIGNATURE']);
  });

  it('answers 401 to a timestamp ten minutes old', async () => {
    const web = webHandler();
    const response = await web.handle(webRequest(signedHeaders({ timestampSeconds: Math.floor(Date.now() / 1000) - 600 }), body));
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: 'WEBHOOK_TIMESTAMP_TOO_OLD' });
  });

  it('answers 400 to a signed body that is not JSON', async () => {
    const web = webHandler();
    const response = await web.handle(webRequest(signedHeaders({ body: 'not json' }), 'not json'));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'WEBHOOK_INVALID_PAYLOAD' });
  });

  it('answers 413 to a body over maxBodyBytes, announced or streamed', async () => {
    const web = webHandler({ maxBodyBytes: 64 });
    const announced = await web.handle(webRequest(signedHeaders(), body));
    expect(announced.status).toBe(413);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < body.length; i += 40) controller.enqueue(new TextEncoder().encode(body.slice(i, i + 40)));
        controller.close();
      },
    });
    const streamed = await web.handle(webRequest(signedHeaders(), stream));
    expect(streamed.status).toBe(413);
    expect(await streamed.json()).toEqual({ error: 'PAYLOAD_TOO_LARGE' });
    expect(web.events).toEqual([]);
  });

  it('answers 405 to anything but POST', async () => {
    const response = await webHandler().handle(webRequest({}, null, 'GET'));
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('answers 500 without detail when onEvent throws', async () => {
    const failure = new Error('secret internals');
    const web = webHandler({
      onEvent: () => {
        throw failure;
      },
    });
    const response = await web.handle(webRequest(signedHeaders(), body));
    expect(response.status).toBe(500);
    expect(await response.text()).toBe(JSON.stringify({ error: 'INTERNAL_ERROR' }));
    expect(web.errors).toEqual([failure]);
  });

  it('answers a redelivered event 200 without calling onEvent again', async () => {
    const web = webHandler();
    expect((await web.handle(webRequest(signedHeaders(), body))).status).toBe(204);
    const again = await web.handle(webRequest(signedHeaders(), body));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ outcome: 'duplicate' });
    expect(web.events).toHaveLength(1);
  });

  it('releases the id when onEvent returns a non-2xx Response, so the retry is processed', async () => {
    let calls = 0;
    const web = webHandler({
      onEvent: () => {
        calls += 1;
        return new Response(null, { status: calls === 1 ? 503 : 202 });
      },
    });
    expect((await web.handle(webRequest(signedHeaders(), body))).status).toBe(503);
    expect((await web.handle(webRequest(signedHeaders(), body))).status).toBe(202);
    expect((await web.handle(webRequest(signedHeaders(), body))).status).toBe(200);
    expect(calls).toBe(2);
  });

  it('answers 500 and reports CONFIG_INVALID when the body was already read (c.req.json() before the handler)', async () => {
    const web = webHandler();
    const request = webRequest(signedHeaders(), body);
    await request.json();
    const response = await web.handle(request);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: 'INTERNAL_ERROR' });
    expect(web.errors.map(codeOf)).toEqual(['CONFIG_INVALID']);
    expect(web.events).toEqual([]);
  });

  it('sends the Response onEvent returns', async () => {
    const web = webHandler({ onEvent: () => new Response('queued', { status: 202 }) });
    const response = await web.handle(webRequest(signedHeaders(), body));
    expect(response.status).toBe(202);
    expect(await response.text()).toBe('queued');
  });

  it('serves a real Node server through Request objects, as Bun or Deno would', async () => {
    const web = webHandler();
    const url = await serve(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
      const response = await web.handle(new Request(`http://127.0.0.1${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, body: Buffer.concat(chunks) }));
      response.headers.forEach((value, name) => res.setHeader(name, value));
      res.statusCode = response.status;
      res.end(Buffer.from(await response.arrayBuffer()));
    });
    expect((await fetch(url, { method: 'POST', headers: signedHeaders(), body })).status).toBe(204);
    expect((await fetch(url, { method: 'POST', headers: signedHeaders(), body: `${body} ` })).status).toBe(401);
    expect(web.events).toEqual([event]);
  });
});

describe('verifyWebRequest', () => {
  it('resolves to the event of a signed Request', async () => {
    const verified = await verifyWebRequest<PaymentSucceeded>(webRequest(signedHeaders(), body), { secrets: [otherSecret, secret] });
    expect(verified).toEqual(event);
  });

  it('rejects with the code of the failed check', async () => {
    const outcome = await verifyWebRequest(webRequest(signedHeaders({ secrets: otherSecret }), body), { secrets: secret }).catch(codeOf);
    expect(outcome).toBe('WEBHOOK_NO_MATCHING_SIGNATURE');
  });

  it('rejects a body over maxBodyBytes with PAYLOAD_TOO_LARGE', async () => {
    const outcome = await verifyWebRequest(webRequest(signedHeaders(), body), { secrets: secret, maxBodyBytes: 10 }).catch(codeOf);
    expect(outcome).toBe('PAYLOAD_TOO_LARGE');
  });

  it('honours an injected now', async () => {
    const timestampSeconds = 1_700_000_000;
    const request = webRequest(signedHeaders({ timestampSeconds }), body);
    expect(await verifyWebRequest(request, { secrets: secret, now: new Date(timestampSeconds * 1000) })).toEqual(event);
  });
});
