// Every example under examples/receivers/, started on 127.0.0.1:0 and fed signed,
// redelivered and tampered requests, in-process and as the program a user would run.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExampleOptions, RunningExample } from '../../examples/receivers/run-example.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

const root = join(import.meta.dirname, '..', '..');
const secret = generateSecret();

type Start = (options: ExampleOptions) => Promise<RunningExample>;

let redisReachable: Promise<boolean> | undefined;

/** Whether Redis answers on 127.0.0.1:6379. In CI it must: a missing Redis fails there instead of skipping. */
function isRedisReachable(): Promise<boolean> {
  redisReachable ??= new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: 6379, timeout: 1_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
  return redisReachable;
}

const examples: { name: string; load: () => Promise<Start>; needsRedis?: boolean }[] = [
  { name: 'express4', load: async () => (await import('../../examples/receivers/express4.js')).start },
  { name: 'express5', load: async () => (await import('../../examples/receivers/express5.js')).start },
  { name: 'fastify', load: async () => (await import('../../examples/receivers/fastify.js')).start },
  { name: 'hono', load: async () => (await import('../../examples/receivers/hono.js')).start },
  { name: 'node-http', load: async () => (await import('../../examples/receivers/node-http.js')).start },
  {
    name: 'redis-dedupe',
    needsRedis: true,
    load: async () => {
      const { start } = await import('../../examples/receivers/redis-dedupe.js');
      // A prefix per run: the shared Redis may hold ids from earlier runs.
      return (options) => start(options, { keyPrefix: `test:${process.pid}:${Date.now()}:` });
    },
  },
];

interface Delivery {
  id: string;
  body: string;
}

function paymentDelivery(id: string): Delivery {
  const event = {
    id,
    type: 'payment.succeeded',
    timestamp: new Date().toISOString(),
    data: {
      paymentId: `pay_${id}`,
      customerId: 'cus_42',
      amount: { amount: 12_300, currency: 'EUR' },
      method: 'card',
      occurredAt: new Date().toISOString(),
    },
  };
  return { id, body: JSON.stringify(event) };
}

/** Posts a delivery as the sender does: signed at the moment of sending (a retry is re-signed). */
function post(url: string, delivery: Delivery, options: { tamper?: boolean } = {}): Promise<Response> {
  const timestampSeconds = Math.floor(Date.now() / 1000);
  const signature = signWebhook({ id: delivery.id, timestamp: timestampSeconds, body: delivery.body, secrets: secret });
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': delivery.id,
      'webhook-timestamp': String(timestampSeconds),
      'webhook-signature': signature,
    },
    body: options.tamper === true ? delivery.body.replace('12300', '99900') : delivery.body,
  });
}

async function skipWithoutRedis(needsRedis: boolean | undefined, skip: (note: string) => void): Promise<void> {
  if (needsRedis !== true || (await isRedisReachable())) return;
  if (process.env.CI) throw new Error('Redis is not reachable on 127.0.0.1:6379, and CI must run the Redis dedupe example');
  skip('Redis is not reachable on 127.0.0.1:6379');
}

describe.each(examples)('examples/receivers/$name.ts', ({ name, load, needsRedis }) => {
  it('books a signed payment once, answers its redelivery 200 without booking again, and refuses a tampered copy with 401', async ({ skip }) => {
    await skipWithoutRedis(needsRedis, skip);
    const start = await load();
    const running = await start({ secret, port: 0 });
    try {
      const delivery = paymentDelivery(`evt_${name}_1`);

      const first = await post(running.url, delivery);
      expect(first.status).toBe(204);

      const redelivered = await post(running.url, delivery);
      expect(redelivered.status).toBe(200);
      expect(await redelivered.json()).toEqual({ outcome: 'duplicate' });

      const tampered = await post(running.url, paymentDelivery(`evt_${name}_2`), { tamper: true });
      expect(tampered.status).toBe(401);
      expect(await tampered.json()).toEqual({ error: 'WEBHOOK_NO_MATCHING_SIGNATURE' });

      expect(running.ledger.bookings).toEqual([{ eventId: delivery.id, paymentId: `pay_${delivery.id}`, amountMinor: 12_300, currency: 'EUR' }]);
    } finally {
      await running.close();
    }
  });

  it('runs as a program: prints its URL and answers a signed request 204', async ({ skip }) => {
    await skipWithoutRedis(needsRedis, skip);
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'examples', 'receivers', `${name}.ts`)], {
      cwd: root,
      env: { ...process.env, WEBHOOK_SECRET: secret, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let output = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          output += chunk;
          const match = /receiving webhooks at (\S+)/.exec(output);
          if (match !== null) resolve(match[1]!);
        });
        let errors = '';
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
        child.once('exit', (code) => reject(new Error(`the example exited with ${code} before listening: ${errors}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/webhooks$/);
      const response = await post(url, paymentDelivery(`evt_${name}_program_${Date.now()}`));
      expect(response.status).toBe(204);
    } finally {
      child.kill();
    }
  });
});
