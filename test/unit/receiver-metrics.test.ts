// Verification failures counted by code, on every adapter: through the
// onVerificationFailure hook, and through an OpenTelemetry meter read back with the
// real SDK and an in-memory reader.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SIGNATURE_VERIFICATION_FAILURES_METRIC,
  createNodeHandler,
  createWebHandler,
  createWebhookReceiver,
  expressWebhook,
  fastifyWebhook,
  type ReceiverMeter,
  type VerificationFailureOptions,
} from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

/** Collects on demand: no export interval, no timers. */
class InMemoryReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function failureCounts(reader: InMemoryReader): Promise<Record<string, number>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const counts: Record<string, number> = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== SIGNATURE_VERIFICATION_FAILURES_METRIC) continue;
      for (const point of metric.dataPoints as DataPoint<number>[]) counts[String(point.attributes.code)] = point.value;
    }
  }
  return counts;
}

const secret = generateSecret();
let sequence = 0;

interface Sent {
  body: string;
  headers: Record<string, string>;
}

function signed(options: { timestampSeconds?: number; tamper?: boolean; dropSignature?: boolean } = {}): Sent {
  const id = `evt_metrics_${++sequence}`;
  const body = JSON.stringify({ id, type: 'payment.succeeded', timestamp: new Date().toISOString(), data: { amountMinor: 100 } });
  const timestampSeconds = options.timestampSeconds ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook({ id, timestamp: timestampSeconds, body, secrets: secret }),
  };
  if (options.dropSignature === true) delete headers['webhook-signature'];
  return { body: options.tamper === true ? body.replace('100', '900') : body, headers };
}

// One of each: two tampered, one stale, one unsigned, one good.
function traffic(): Sent[] {
  return [
    signed({ tamper: true }),
    signed({ tamper: true }),
    signed({ timestampSeconds: Math.floor(Date.now() / 1000) - 3_600 }),
    signed({ dropSignature: true }),
    signed(),
  ];
}
const expectedCounts = { WEBHOOK_NO_MATCHING_SIGNATURE: 2, WEBHOOK_TIMESTAMP_TOO_OLD: 1, WEBHOOK_MISSING_HEADER: 1 };

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function listen(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
}

/** Sends the traffic through one adapter built with `counting`, returning each status. */
type Adapter = (counting: VerificationFailureOptions) => Promise<(sent: Sent) => Promise<number>>;

const onEvent = (): void => undefined;

const adapters: { name: string; make: Adapter }[] = [
  {
    name: 'createNodeHandler',
    make: async (counting) => {
      const url = await listen(createNodeHandler({ secrets: secret, onEvent, ...counting }));
      return async (sent) => (await fetch(url, { method: 'POST', ...sent })).status;
    },
  },
  {
    name: 'createWebHandler',
    make: async (counting) => {
      const handle = createWebHandler({ secrets: secret, onEvent, ...counting });
      return async (sent) => (await handle(new Request('https://erp.example/webhooks', { method: 'POST', ...sent }))).status;
    },
  },
  {
    name: 'expressWebhook',
    make: async (counting) => {
      const app = express();
      app.post('/webhooks', expressWebhook({ secrets: secret, onEvent, ...counting }));
      const url = await listen(app);
      return async (sent) => (await fetch(url, { method: 'POST', ...sent })).status;
    },
  },
  {
    name: 'fastifyWebhook',
    make: async (counting) => {
      const app = Fastify();
      closers.push(() => app.close());
      await app.register(fastifyWebhook({ path: '/webhooks', secrets: secret, onEvent, ...counting }));
      return async (sent) => (await app.inject({ method: 'POST', url: '/webhooks', headers: sent.headers, payload: sent.body })).statusCode;
    },
  },
  {
    name: 'createWebhookReceiver',
    make: async (counting) => {
      const receiver = createWebhookReceiver({ secrets: secret, onEvent, ...counting });
      return (sent) => receiver.receive(sent).then(
        () => 204,
        () => 401,
      );
    },
  },
];

describe.each(adapters)('verification failures through $name', ({ make }) => {
  it('calls onVerificationFailure with the code of each refused request, and never for an accepted one', async () => {
    const seen: string[] = [];
    const send = await make({ onVerificationFailure: (code, error) => seen.push(`${code}=${error.code}`) });
    const statuses = [];
    for (const sent of traffic()) statuses.push(await send(sent));
    expect(statuses).toEqual([401, 401, 401, 401, 204]);
    expect(seen.sort()).toEqual(
      [
        'WEBHOOK_MISSING_HEADER=WEBHOOK_MISSING_HEADER',
        'WEBHOOK_NO_MATCHING_SIGNATURE=WEBHOOK_NO_MATCHING_SIGNATURE',
        'WEBHOOK_NO_MATCHING_SIGNATURE=WEBHOOK_NO_MATCHING_SIGNATURE',
        'WEBHOOK_TIMESTAMP_TOO_OLD=WEBHOOK_TIMESTAMP_TOO_OLD',
      ].sort(),
    );
  });

  it('adds each refusal to the OpenTelemetry counter webhooks.signature_verification_failures by code', async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    closers.push(() => provider.shutdown());
    const send = await make({ meter: provider.getMeter('erp') });
    for (const sent of traffic()) await send(sent);
    expect(await failureCounts(reader)).toEqual(expectedCounts);
  });
});

describe('verification failure counting', () => {
  it('counts through the global meter provider once the app registers an SDK', async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    closers.push(async () => {
      metrics.disable();
      await provider.shutdown();
    });
    const handle = createWebHandler({ secrets: secret, onEvent, meter: metrics.getMeter('erp') });
    await handle(new Request('https://erp.example/webhooks', { method: 'POST', ...signed({ tamper: true }) }));
    expect(await failureCounts(reader)).toEqual({ WEBHOOK_NO_MATCHING_SIGNATURE: 1 });
  });

  it('does not count an oversize body, a handler failure or a duplicate as verification failures', async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    closers.push(() => provider.shutdown());
    const seen: string[] = [];
    let calls = 0;
    const handle = createWebHandler({
      secrets: secret,
      maxBodyBytes: 400,
      meter: provider.getMeter('erp'),
      onVerificationFailure: (code) => seen.push(code),
      onEvent: () => {
        calls += 1;
        if (calls === 1) throw new Error('handler failed');
      },
    });
    const request = (sent: Sent): Request => new Request('https://erp.example/webhooks', { method: 'POST', ...sent });
    const good = signed();
    expect((await handle(request(good))).status).toBe(500);
    expect((await handle(request(good))).status).toBe(204);
    expect((await handle(request(good))).status).toBe(200);
    const big = signed();
    expect((await handle(request({ ...big, body: big.body + ' '.repeat(500) }))).status).toBe(413);
    expect(seen).toEqual([]);
    expect(await failureCounts(reader)).toEqual({});
  });

  it('still answers 401 when the hook or the meter throws', async () => {
    const brokenMeter: ReceiverMeter = {
      createCounter: () => ({
        add: () => {
          throw new Error('exporter down');
        },
      }),
    };
    const handle = createWebHandler({
      secrets: secret,
      onEvent,
      meter: brokenMeter,
      onVerificationFailure: () => {
        throw new Error('hook bug');
      },
    });
    const response = await handle(new Request('https://erp.example/webhooks', { method: 'POST', ...signed({ tamper: true }) }));
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
  });
});
