// The receiver's logger: a failure answered 500 (a throwing onEvent, a failing dedupe
// store) is logged — to console.error by default — so that it leaves a trace even when
// the app passed no onError. Every adapter, over its real request path.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createMemoryDedupeStore,
  createNodeHandler,
  createWebHandler,
  createWebhookReceiver,
  expressWebhook,
  fastifyWebhook,
  type ReceiverLogger,
  type ReceiverOptions,
} from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

const secret = generateSecret();

let sequence = 0;
function delivery(): { id: string; body: string; headers: Record<string, string> } {
  const id = `evt_logging_${++sequence}`;
  const body = JSON.stringify({ id, type: 'payment.succeeded', timestamp: new Date().toISOString(), data: { paymentId: `pay_${sequence}` } });
  const timestampSeconds = Math.floor(Date.now() / 1000);
  return {
    id,
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestampSeconds),
      'webhook-signature': signWebhook({ id, timestamp: timestampSeconds, body, secrets: secret }),
    },
  };
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
}

type AdapterOptions = Pick<ReceiverOptions, 'logger'> & { onEvent(): unknown; onError?(error: unknown): void };

/** Each adapter mounted on its framework, answering one POST: status and body. */
const adapters: { name: string; post(options: AdapterOptions, id: string, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> }[] = [
  {
    name: 'createNodeHandler',
    async post(options, _id, body, headers) {
      const url = await listen(createServer(createNodeHandler({ secrets: secret, ...options })));
      const response = await fetch(url, { method: 'POST', headers, body });
      return { status: response.status, text: await response.text() };
    },
  },
  {
    name: 'expressWebhook',
    async post(options, _id, body, headers) {
      const app = express();
      app.post('/webhooks', expressWebhook({ secrets: secret, ...options }));
      const url = await listen(createServer(app));
      const response = await fetch(url, { method: 'POST', headers, body });
      return { status: response.status, text: await response.text() };
    },
  },
  {
    name: 'fastifyWebhook',
    async post(options, _id, body, headers) {
      const app = Fastify();
      closers.push(() => app.close());
      await app.register(fastifyWebhook({ path: '/webhooks', secrets: secret, ...options }));
      const response = await app.inject({ method: 'POST', url: '/webhooks', headers, payload: body });
      return { status: response.statusCode, text: response.body };
    },
  },
  {
    name: 'createWebHandler',
    async post(options, _id, body, headers) {
      const response = await createWebHandler({ secrets: secret, ...options })(new Request('http://127.0.0.1/webhooks', { method: 'POST', headers, body }));
      return { status: response.status, text: await response.text() };
    },
  },
];

function recordingLogger(): ReceiverLogger & { lines: { fields: Record<string, unknown>; message: string }[] } {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  return { lines, error: (fields, message) => lines.push({ fields, message }) };
}

describe.each(adapters)('$name', ({ post }) => {
  it('logs a throwing onEvent to console.error by default, with the webhook id, when the app passed no onError', async () => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const failure = new Error('ledger unavailable');
    const { id, body, headers } = delivery();
    const answer = await post({ onEvent: () => Promise.reject(failure) }, id, body, headers);
    expect(answer).toEqual({ status: 500, text: JSON.stringify({ error: 'INTERNAL_ERROR' }) });
    expect(consoleError).toHaveBeenCalledTimes(1);
    expect(consoleError).toHaveBeenCalledWith(expect.stringContaining(id), { err: failure, webhookId: id, eventType: 'payment.succeeded' });
  });

  it('logs a throwing onEvent to the logger given, and still passes it to onError', async () => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const logger = recordingLogger();
    const errors: unknown[] = [];
    const failure = new Error('ledger unavailable');
    const { id, body, headers } = delivery();
    const answer = await post({ logger, onError: (error) => errors.push(error), onEvent: () => Promise.reject(failure) }, id, body, headers);
    expect(answer.status).toBe(500);
    expect(logger.lines).toEqual([{ fields: { err: failure, webhookId: id, eventType: 'payment.succeeded' }, message: expect.stringContaining(id) }]);
    expect(errors).toEqual([failure]);
    expect(consoleError).not.toHaveBeenCalled();
  });

  it('logs nothing with logger: false', async () => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const { id, body, headers } = delivery();
    const answer = await post({ logger: false, onEvent: () => Promise.reject(new Error('ledger unavailable')) }, id, body, headers);
    expect(answer.status).toBe(500);
    expect(consoleError).not.toHaveBeenCalled();
  });

  it('does not log a request it refuses with 401: the sender sees the code, onError gets the error', async () => {
    const logger = recordingLogger();
    const errors: unknown[] = [];
    const { id, body, headers } = delivery();
    const answer = await post({ logger, onError: (error) => errors.push(error), onEvent: () => undefined }, id, body.replace('pay_', 'pay_X'), headers);
    expect(answer.status).toBe(401);
    expect(logger.lines).toEqual([]);
    expect(errors).toHaveLength(1);
  });

  it('answers the same when the logger itself throws', async () => {
    const { id, body, headers } = delivery();
    const logger: ReceiverLogger = {
      error: () => {
        throw new Error('log sink down');
      },
    };
    const answer = await post({ logger, onEvent: () => Promise.reject(new Error('ledger unavailable')) }, id, body, headers);
    expect(answer).toEqual({ status: 500, text: JSON.stringify({ error: 'INTERNAL_ERROR' }) });
  });
});

describe('createWebhookReceiver', () => {
  it('logs a dedupe store that fails to record a processed event, by default to console.error', async () => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const lost = new Error('redis down after the booking');
    const inner = createMemoryDedupeStore();
    const receiver = createWebhookReceiver({
      secrets: secret,
      dedupe: { claim: (...args) => inner.claim(...args), complete: () => Promise.reject(lost), release: (...args) => inner.release(...args) },
      onEvent: () => undefined,
    });
    const { id, body, headers } = delivery();
    expect((await receiver.receive({ body, headers })).outcome).toBe('processed');
    expect(consoleError).toHaveBeenCalledTimes(1);
    expect(consoleError).toHaveBeenCalledWith(expect.stringContaining(id), { err: lost, webhookId: id, eventType: 'payment.succeeded' });
  });

  it('leaves a throwing onEvent to the caller of receive, who gets the error, without logging it', async () => {
    const logger = recordingLogger();
    const failure = new Error('ledger unavailable');
    const receiver = createWebhookReceiver({ secrets: secret, logger, onEvent: () => Promise.reject(failure) });
    const { body, headers } = delivery();
    await expect(receiver.receive({ body, headers })).rejects.toBe(failure);
    expect(logger.lines).toEqual([]);
  });

  it.each([
    ['a string', 'console'],
    ['an object without error', { warn: () => undefined }],
    ['null', null],
  ])('refuses %s as logger with CONFIG_INVALID at creation', (_name, logger) => {
    expect(() => createWebhookReceiver({ secrets: secret, logger: logger as unknown as ReceiverLogger, onEvent: () => undefined })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', field: 'logger' }),
    );
  });
});
