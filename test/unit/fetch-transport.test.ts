import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFetchTransport } from '../../src/delivery/fetch-transport.js';
import { privateNetworkGuard } from '../../src/delivery/ssrf-guard.js';
import type { TransportRequest } from '../../src/delivery/transport.js';

// msw intercepts global fetch: unit tests of the fetch transport's own logic. The wire
// itself is covered by test/integration/transports.test.ts over real loopback servers.
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const transport = createFetchTransport({ fetch: (input, init) => globalThis.fetch(input, init) });
const request = (overrides: Partial<TransportRequest> = {}): TransportRequest => ({
  url: 'https://erp.example.com/hooks?tenant=7',
  headers: { 'content-type': 'application/json', 'webhook-id': 'evt_1' },
  body: '{"id":"evt_1"}',
  timeoutMs: 1_000,
  maxResponseBytes: 16,
  guard: null,
  ...overrides,
});

describe('fetch transport (ky)', () => {
  it('posts the body and headers as given and reports the status and body', async () => {
    let seen: { method: string; url: string; id: string | null; body: string } | undefined;
    server.use(
      http.post('https://erp.example.com/hooks', async ({ request: incoming }) => {
        seen = { method: incoming.method, url: incoming.url, id: incoming.headers.get('webhook-id'), body: await incoming.text() };
        return HttpResponse.text('ok', { status: 200 });
      }),
    );
    await expect(transport.send(request())).resolves.toEqual({ kind: 'response', statusCode: 200, retryAfter: null, body: 'ok' });
    expect(seen).toEqual({ method: 'POST', url: 'https://erp.example.com/hooks?tenant=7', id: 'evt_1', body: '{"id":"evt_1"}' });
  });

  it('reads at most maxResponseBytes of the body', async () => {
    server.use(http.post('https://erp.example.com/hooks', () => HttpResponse.text('x'.repeat(10_000), { status: 500 })));
    const result = await transport.send(request());
    expect(result).toMatchObject({ kind: 'response', statusCode: 500, body: 'x'.repeat(16) });
  });

  it('passes Retry-After through', async () => {
    server.use(http.post('https://erp.example.com/hooks', () => new HttpResponse(null, { status: 429, headers: { 'retry-after': '30' } })));
    await expect(transport.send(request())).resolves.toMatchObject({ statusCode: 429, retryAfter: '30' });
  });

  it('does not retry by itself: one request per send, whatever the status', async () => {
    let calls = 0;
    server.use(
      http.post('https://erp.example.com/hooks', () => {
        calls += 1;
        return new HttpResponse(null, { status: 503 });
      }),
    );
    await transport.send(request());
    expect(calls).toBe(1);
  });

  it('reports a response slower than the timeout as a timeout, not a throw', async () => {
    server.use(
      http.post('https://erp.example.com/hooks', async () => {
        await delay(2_000);
        return new HttpResponse(null, { status: 200 });
      }),
    );
    await expect(transport.send(request({ timeoutMs: 50 }))).resolves.toMatchObject({ kind: 'error', errorClass: 'timeout' });
  });

  it('reports a network failure as data with its class', async () => {
    server.use(http.post('https://erp.example.com/hooks', () => HttpResponse.error()));
    await expect(transport.send(request())).resolves.toMatchObject({ kind: 'error', errorClass: 'network' });
  });

  it('refuses an internal address literal before sending anything when the guard is on', async () => {
    let calls = 0;
    server.use(
      http.post('http://169.254.169.254/latest', () => {
        calls += 1;
        return new HttpResponse(null, { status: 200 });
      }),
    );
    await expect(transport.send(request({ url: 'http://169.254.169.254/latest', guard: privateNetworkGuard }))).resolves.toMatchObject({
      kind: 'error',
      errorClass: 'ssrf',
    });
    expect(calls).toBe(0);
  });
});
