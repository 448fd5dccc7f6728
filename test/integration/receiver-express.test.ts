// expressWebhook on real Express 4 and Express 5 apps over loopback HTTP: every way
// the raw body can reach it, the parsed-body mistake, refusals, dedupe and retries.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import type { ErrorRequestHandler, Express } from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import { createWebhookRouter, expressWebhook, type ExpressWebhookOptions, type WebhookEvent } from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

const secret = generateSecret();
type Payment = WebhookEvent<'payment.succeeded', { paymentId: string; amount: { amount: number; currency: string } }>;

let sequence = 0;
function delivery(): { id: string; body: string; event: Payment } {
  const id = `evt_express_${++sequence}`;
  const event: Payment = { id, type: 'payment.succeeded', timestamp: new Date().toISOString(), data: { paymentId: `pay_${sequence}`, amount: { amount: 4_200, currency: 'EUR' } } };
  return { id, body: JSON.stringify(event), event };
}

function headersFor(id: string, body: string, options: { contentType?: string } = {}): Record<string, string> {
  const timestampSeconds = Math.floor(Date.now() / 1000);
  return {
    'content-type': options.contentType ?? 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook({ id, timestamp: timestampSeconds, body, secrets: secret }),
  };
}

const codeOf = (error: unknown): string | undefined => (isWebhookError(error) ? error.code : undefined);

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function listen(app: Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
}

function post(url: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers, body });
}

// Both majors, one suite: the middleware must behave the same on each.
describe.each([
  { major: 'Express 4', express: express4 as unknown as typeof express5 },
  { major: 'Express 5', express: express5 },
])('expressWebhook on $major', ({ express }) => {
  interface Recorded {
    events: Payment[];
    errors: unknown[];
    failures: string[];
    nextErrors: unknown[];
  }

  type Setup = (app: Express, webhook: ReturnType<typeof expressWebhook<Payment>>) => void;

  async function serve(
    setup: Setup = (app, webhook) => app.post('/webhooks', webhook),
    overrides: Partial<ExpressWebhookOptions<Payment>> = {},
  ): Promise<{ url: string } & Recorded> {
    const recorded: Recorded = { events: [], errors: [], failures: [], nextErrors: [] };
    const webhook = expressWebhook<Payment>({
      secrets: secret,
      onEvent: (event) => {
        recorded.events.push(event);
      },
      onError: (error) => recorded.errors.push(error),
      onVerificationFailure: (code) => recorded.failures.push(code),
      ...overrides,
    });
    const app = express();
    setup(app, webhook);
    const errorHandler: ErrorRequestHandler = (error, _req, res, _next) => {
      recorded.nextErrors.push(error);
      res.status(500).json({ error: 'APP_ERROR_HANDLER' });
    };
    app.use(errorHandler);
    return { url: await listen(app), ...recorded };
  }

  it('reads the raw body itself when no parser ran, and hands onEvent the typed event', async () => {
    const server = await serve((app, webhook) => {
      app.post('/webhooks', webhook);
      app.use(express.json()); // after the webhook route: never reached by it
    });
    const { id, body, event } = delivery();
    const response = await post(server.url, body, headersFor(id, body));
    expect(response.status).toBe(204);
    expect(server.events).toEqual([event]);
    expect(server.events[0]!.data.amount.amount).toBe(4_200);
  });

  it('verifies the Buffer that express.raw() left in req.body', async () => {
    const server = await serve((app, webhook) => app.post('/webhooks', express.raw({ type: 'application/json' }), webhook));
    const { id, body, event } = delivery();
    expect((await post(server.url, body, headersFor(id, body))).status).toBe(204);
    expect(server.events).toEqual([event]);
  });

  it('verifies the raw copy an app keeps in req.rawBody through express.json({ verify })', async () => {
    const server = await serve((app, webhook) => {
      app.use(
        express.json({
          verify: (req, _res, buf) => {
            (req as { rawBody?: Buffer }).rawBody = buf;
          },
        }),
      );
      app.post('/webhooks', webhook);
    });
    const { id, body, event } = delivery();
    expect((await post(server.url, body, headersFor(id, body))).status).toBe(204);
    expect(server.events).toEqual([event]);
  });

  it('passes a ConfigError naming the fix to next when express.json() consumed the body, instead of answering 401', async () => {
    const server = await serve((app, webhook) => {
      app.use(express.json());
      app.post('/webhooks', webhook);
    });
    const { id, body } = delivery();
    const response = await post(server.url, body, headersFor(id, body));
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: 'APP_ERROR_HANDLER' });
    expect(server.nextErrors.map(codeOf)).toEqual(['CONFIG_INVALID']);
    expect((server.nextErrors[0] as { field?: string }).field).toBe('body');
    expect(server.events).toEqual([]);
    expect(server.failures).toEqual([]);
  });

  it('reads the body itself when express.json() skipped it for another content type', async () => {
    const server = await serve((app, webhook) => {
      app.use(express.json());
      app.post('/webhooks', webhook);
    });
    const { id, body, event } = delivery();
    expect((await post(server.url, body, headersFor(id, body, { contentType: 'application/webhook+json' }))).status).toBe(204);
    expect(server.events).toEqual([event]);
  });

  it('answers 401 with only the code to a tampered body, and counts the failure', async () => {
    const server = await serve();
    const { id, body } = delivery();
    const response = await post(server.url, body.replace('4200', '9900'), headersFor(id, body));
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ error: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    expect(server.failures).toEqual(['WEBHOOK_NO_MATCHING_SIGNATURE']);
    expect(server.events).toEqual([]);
  });

  it('answers 400 to a signed body that is not an event', async () => {
    const server = await serve();
    const response = await post(server.url, '[1,2]', headersFor('evt_express_array', '[1,2]'));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'WEBHOOK_INVALID_PAYLOAD' });
  });

  it.each([
    ['read from the stream', (app: Express, webhook: Parameters<Setup>[1]) => app.post('/webhooks', webhook)],
    ['given by express.raw()', (app: Express, webhook: Parameters<Setup>[1]) => app.post('/webhooks', express.raw({ type: 'application/json' }), webhook)],
  ])('answers 413 to a body over maxBodyBytes %s', async (_how, setup) => {
    const server = await serve(setup, { maxBodyBytes: 32 });
    const { id, body } = delivery();
    const response = await post(server.url, body, headersFor(id, body));
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: 'PAYLOAD_TOO_LARGE' });
    expect(server.events).toEqual([]);
  });

  it('answers a redelivered event 200 without calling onEvent again', async () => {
    const server = await serve();
    const { id, body } = delivery();
    expect((await post(server.url, body, headersFor(id, body))).status).toBe(204);
    const again = await post(server.url, body, headersFor(id, body));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ outcome: 'duplicate' });
    expect(server.events).toHaveLength(1);
  });

  it('answers 500 without detail when onEvent throws, and processes the retry', async () => {
    let calls = 0;
    const server = await serve(undefined, {
      onEvent: () => {
        calls += 1;
        if (calls === 1) throw new Error('ledger down at 10.0.0.7');
      },
    });
    const { id, body } = delivery();
    const failed = await post(server.url, body, headersFor(id, body));
    expect(failed.status).toBe(500);
    expect(await failed.text()).toBe('{"error":"INTERNAL_ERROR"}');
    expect((await post(server.url, body, headersFor(id, body))).status).toBe(204);
    expect(calls).toBe(2);
  });

  it('releases the id when onEvent answers 503 itself, so the retry is processed', async () => {
    let calls = 0;
    const server = await serve(undefined, {
      onEvent: (_event, _req, res) => {
        calls += 1;
        if (calls === 1) res.writeHead(503).end('busy');
      },
    });
    const { id, body } = delivery();
    expect((await post(server.url, body, headersFor(id, body))).status).toBe(503);
    expect((await post(server.url, body, headersFor(id, body))).status).toBe(204);
    expect((await post(server.url, body, headersFor(id, body))).status).toBe(200);
    expect(calls).toBe(2);
  });

  it('answers 400 EVENT_DATA_INVALID when the router refuses the data, and lets the retry through', async () => {
    let valid = false;
    const booked: string[] = [];
    const router = createWebhookRouter<{ 'payment.succeeded': Payment['data'] }>({
      validate: (_type, data) => {
        if (!valid) throw new Error('amount.currency must be ISO 4217');
        return data;
      },
    }).on('payment.succeeded', (event) => {
      booked.push(event.data.paymentId);
    });
    const server = await serve(undefined, { onEvent: router.handle });
    const { id, body, event } = delivery();
    const refused = await post(server.url, body, headersFor(id, body));
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: 'EVENT_DATA_INVALID' });
    expect(server.errors.map(codeOf)).toEqual(['EVENT_DATA_INVALID']);
    valid = true;
    expect((await post(server.url, body, headersFor(id, body))).status).toBe(204);
    expect(booked).toEqual([event.data.paymentId]);
  });

  it('answers 405 when mounted with app.use and called with GET', async () => {
    const server = await serve((app, webhook) => app.use('/webhooks', webhook));
    const response = await fetch(server.url);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });
});

describe('expressWebhook options', () => {
  it.each([
    ['no onEvent', { onEvent: undefined }, 'CONFIG_INVALID'],
    ['a malformed secret', { secrets: 'whsec_%%' }, 'SECRET_INVALID'],
    ['an unknown option', { limit: '1mb' }, 'CONFIG_INVALID'],
    ['a dedupe store without release', { dedupe: { claim: () => 'claimed', complete: () => undefined } }, 'CONFIG_INVALID'],
  ])('refuses %s at creation', (_name, override, code) => {
    const options = { secrets: secret, onEvent: () => undefined, ...override } as unknown as ExpressWebhookOptions;
    expect(() => expressWebhook(options)).toThrow(expect.objectContaining({ code }));
  });
});
