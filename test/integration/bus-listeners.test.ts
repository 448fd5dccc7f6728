import { describe, expect, it } from 'vitest';
import { createWebhooks } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { registerCleanups } from '../support/cleanups.js';
import { samplePayment } from '../support/sample-payment.js';
import { recordingLogger } from '../support/recording-logger.js';

const payment = (n = 1) => samplePayment(n);

const cleanups = registerCleanups();

describe('bus listeners of a webhooks instance', () => {
  it('a throwing business-event listener neither fails publish() nor silences the listeners after it; the exception is logged', async () => {
    const { logger, errors } = recordingLogger();
    const webhooks = createWebhooks({ clock: new FakeClock(), logger, meter: false });
    cleanups.push(() => webhooks.close());
    const boom = new Error('audit sink down');
    const seen: string[] = [];
    webhooks.bus.on('payment.succeeded', () => {
      throw boom;
    });
    webhooks.bus.on('payment.succeeded', async () => {
      await Promise.resolve();
      throw boom;
    });
    webhooks.bus.on('payment.succeeded', (event) => seen.push(event.id));
    const published = await webhooks.publish('payment.succeeded', payment());
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([published.id]);
    expect(errors).toEqual([
      { fields: { err: boom, event: 'payment.succeeded' }, message: expect.any(String) },
      { fields: { err: boom, event: 'payment.succeeded' }, message: expect.any(String) },
    ]);
  });

  it('a throwing lifecycle listener neither stops the dispatcher nor silences the listeners after it', async () => {
    const server = await LoopbackReceiver.start();
    cleanups.push(() => server.close());
    const { logger, errors } = recordingLogger();
    const webhooks = createWebhooks({ clock: new FakeClock(), logger, meter: false, security: { allowPrivateNetworks: true }, pollIntervalMs: 60_000 });
    cleanups.push(() => webhooks.close());
    const boom = new Error('alerting down');
    const succeeded: string[] = [];
    webhooks.bus.on('delivery:succeeded', () => {
      throw boom;
    });
    webhooks.bus.on('delivery:succeeded', (event) => succeeded.push(event.eventId));
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    const first = await webhooks.publish('payment.succeeded', payment(1));
    const second = await webhooks.publish('payment.succeeded', payment(2));
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(succeeded.sort()).toEqual([first.id, second.id].sort());
    expect(errors.filter((entry) => entry.fields.err === boom)).toHaveLength(2);
    const { items } = await webhooks.deliveries.list();
    expect(items.map((delivery) => delivery.status)).toEqual(['delivered', 'delivered']);
  });
});
