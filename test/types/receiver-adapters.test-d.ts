// Type tests of the framework adapters against the frameworks' own types: the
// adapters import nothing from Express, Fastify or OpenTelemetry, so these check that
// their structural types accept the real things.
import type { Meter } from '@opentelemetry/api';
import express5 from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { describe, expectTypeOf, it } from 'vitest';
import {
  createWebHandler,
  createWebhookReceiver,
  expressWebhook,
  fastifyWebhook,
  type DedupeStore,
  type ReceiverMeter,
  type WebhookEvent,
  type WebhookReceipt,
} from '../../src/receiver/index.js';

const secrets = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
type Payment = WebhookEvent<'payment.succeeded', { amountMinor: number }>;

describe('adapter types', () => {
  it('mounts expressWebhook on Express 4 and 5 routes, alone or after express.raw()', () => {
    const onEvent = (event: Payment): void => {
      expectTypeOf(event.data.amountMinor).toEqualTypeOf<number>();
    };
    express5().post('/webhooks', expressWebhook<Payment>({ secrets, onEvent }));
    express5().post('/webhooks', express5.raw({ type: 'application/json' }), expressWebhook<Payment>({ secrets, onEvent }));
    express4().post('/webhooks', expressWebhook<Payment>({ secrets, onEvent }));
    express5().use('/webhooks', expressWebhook({ secrets, onEvent: () => undefined }));
  });

  it('registers fastifyWebhook as a Fastify plugin', async () => {
    const app = Fastify();
    await app.register(
      fastifyWebhook<Payment>({
        path: '/webhooks',
        secrets,
        onEvent: (event) => {
          expectTypeOf(event.type).toEqualTypeOf<'payment.succeeded'>();
        },
      }),
    );
  });

  it('answers a Hono route from createWebHandler', () => {
    const webhook = createWebHandler({ secrets, onEvent: () => undefined });
    new Hono().post('/webhooks', (c) => webhook(c.req.raw));
    expectTypeOf(webhook).returns.toEqualTypeOf<Promise<Response>>();
  });

  it("accepts an OpenTelemetry Meter as the receiver's meter", () => {
    expectTypeOf<Meter>().toMatchTypeOf<ReceiverMeter>();
  });

  it('accepts a store of async methods, a single literal returned included', () => {
    const store: DedupeStore = { claim: async () => 'processed', complete: async () => undefined, release: async () => undefined };
    createWebHandler({ secrets, dedupe: store, onEvent: () => undefined });
    // @ts-expect-error a claim answers one of three states, not a boolean
    const boolean: DedupeStore = { claim: async () => true, complete: async () => undefined, release: async () => undefined };
    void boolean;
  });

  it('returns a receipt whose outcome is processed, duplicate, in-flight or stale', () => {
    const receiver = createWebhookReceiver<Payment>({ secrets, onEvent: () => undefined });
    expectTypeOf(receiver.receive).returns.resolves.toEqualTypeOf<WebhookReceipt<Payment>>();
    expectTypeOf<WebhookReceipt['outcome']>().toEqualTypeOf<'processed' | 'duplicate' | 'in-flight' | 'stale'>();
  });
});
