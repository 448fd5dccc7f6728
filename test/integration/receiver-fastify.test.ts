// fastifyWebhook on a real Fastify 5 app, through its full request pipeline (inject):
// the raw-body parser scoped to the plugin, refusals in one shape, dedupe and retries.
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import { fastifyWebhook, type FastifyWebhookOptions, type WebhookEvent } from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

const secret = generateSecret();
type Payment = WebhookEvent<'payment.succeeded', { paymentId: string; amountMinor: number }>;

let sequence = 0;
function delivery(): { id: string; body: string; event: Payment } {
  const id = `evt_fastify_${++sequence}`;
  const event: Payment = { id, type: 'payment.succeeded', timestamp: new Date().toISOString(), data: { paymentId: `pay_${sequence}`, amountMinor: 4_200 } };
  return { id, body: JSON.stringify(event), event };
}

function headersFor(id: string, body: string, contentType = 'application/json'): Record<string, string> {
  const timestampSeconds = Math.floor(Date.now() / 1000);
  return {
    'content-type': contentType,
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook({ id, timestamp: timestampSeconds, body, secrets: secret }),
  };
}

const codeOf = (error: unknown): string | undefined => (isWebhookError(error) ? error.code : undefined);

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function build(overrides: Partial<FastifyWebhookOptions<Payment>> = {}) {
  const recorded = { events: [] as Payment[], errors: [] as unknown[], failures: [] as string[] };
  const app = Fastify();
  apps.push(app);
  await app.register(
    fastifyWebhook<Payment>({
      path: '/webhooks',
      secrets: secret,
      onEvent: (event) => {
        recorded.events.push(event);
      },
      onError: (error) => recorded.errors.push(error),
      onVerificationFailure: (code) => recorded.failures.push(code),
      ...overrides,
    }),
  );
  app.post('/orders', async (request) => ({ parsed: request.body }));
  return { app, ...recorded };
}

describe('fastifyWebhook', () => {
  it('verifies the raw body and hands onEvent the typed event', async () => {
    const server = await build();
    const { id, body, event } = delivery();
    const response = await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body), payload: body });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expect(server.events).toEqual([event]);
  });

  it("leaves the app's other routes parsing JSON as before", async () => {
    const server = await build();
    const response = await server.app.inject({ method: 'POST', url: '/orders', payload: { orderId: 'ord_1' } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ parsed: { orderId: 'ord_1' } });
  });

  it('verifies a body whatever its content type, since the bytes are what was signed', async () => {
    const server = await build();
    const { id, body } = delivery();
    const response = await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body, 'text/plain'), payload: body });
    expect(response.statusCode).toBe(204);
  });

  it('answers 401 with only the code to a tampered body, and counts the failure', async () => {
    const server = await build();
    const { id, body } = delivery();
    const response = await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body), payload: body.replace('4200', '9900') });
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json()).toEqual({ error: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    expect(server.failures).toEqual(['WEBHOOK_NO_MATCHING_SIGNATURE']);
    expect(server.events).toEqual([]);
  });

  it('verifies a request without a body as an empty one: signed, it is still no event (400)', async () => {
    const server = await build();
    const { 'content-type': _none, ...headers } = headersFor('evt_fastify_empty', '');
    const response = await server.app.inject({ method: 'POST', url: '/webhooks', headers });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'WEBHOOK_INVALID_PAYLOAD' });
    expect(server.events).toEqual([]);
  });

  it('answers 413 in the same shape when Fastify refuses a body over maxBodyBytes', async () => {
    const server = await build({ maxBodyBytes: 32 });
    const { id, body } = delivery();
    const response = await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body), payload: body });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toEqual({ error: 'PAYLOAD_TOO_LARGE' });
    expect(server.events).toEqual([]);
  });

  it("answers Fastify's own refusal of a malformed content type (415) without its internal message", async () => {
    const server = await build();
    const { id, body } = delivery();
    const response = await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body, 'json'), payload: body });
    expect(response.statusCode).toBe(415);
    expect(response.json()).toEqual({ error: 'BAD_REQUEST' });
    expect(server.events).toEqual([]);
  });

  it('answers a redelivered event 200 without calling onEvent again', async () => {
    const server = await build();
    const { id, body } = delivery();
    expect((await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body), payload: body })).statusCode).toBe(204);
    const again = await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body), payload: body });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ outcome: 'duplicate' });
    expect(server.events).toHaveLength(1);
  });

  it('answers 500 without detail when onEvent throws, and processes the retry', async () => {
    let calls = 0;
    const server = await build({
      onEvent: () => {
        calls += 1;
        if (calls === 1) throw new Error('ledger down at 10.0.0.7');
      },
    });
    const { id, body } = delivery();
    const failed = await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body), payload: body });
    expect(failed.statusCode).toBe(500);
    expect(failed.body).toBe('{"error":"INTERNAL_ERROR"}');
    expect(server.errors.map((error) => (error as Error).message)).toEqual(['ledger down at 10.0.0.7']);
    expect((await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body), payload: body })).statusCode).toBe(204);
    expect(calls).toBe(2);
  });

  it('keeps the reply onEvent sent, and releases the id when it was not a 2xx', async () => {
    let calls = 0;
    const server = await build({
      onEvent: (_event, _request, reply) => {
        calls += 1;
        reply.code(calls === 1 ? 503 : 202).send('queued');
      },
    });
    const { id, body } = delivery();
    const busy = await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body), payload: body });
    expect(busy.statusCode).toBe(503);
    const accepted = await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body), payload: body });
    expect(accepted.statusCode).toBe(202);
    expect(accepted.body).toBe('queued');
    expect((await server.app.inject({ method: 'POST', url: '/webhooks', headers: headersFor(id, body), payload: body })).statusCode).toBe(200);
    expect(calls).toBe(2);
  });

  it.each([
    ['a path without a leading slash', { path: 'webhooks' }, 'CONFIG_INVALID'],
    ['a zero maxBodyBytes', { maxBodyBytes: 0 }, 'CONFIG_INVALID'],
    ['no secret', { secrets: [] }, 'SECRET_INVALID'],
  ])('refuses %s at creation', (_name, override, code) => {
    let thrown: unknown;
    try {
      fastifyWebhook({ secrets: secret, onEvent: () => undefined, ...override } as FastifyWebhookOptions);
    } catch (error) {
      thrown = error;
    }
    expect(codeOf(thrown)).toBe(code);
  });
});
