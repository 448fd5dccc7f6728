import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStorage, createWebhooks } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { collect, meterProvider as newMeterProvider, points } from '../support/otel-reader.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const payment = (n: number) => ({
  paymentId: `pay_${n}`,
  customerId: 'cus_1',
  amount: { amount: 100, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00Z',
});

/** A meter provider shut down after the test. */
function meterProvider(): ReturnType<typeof newMeterProvider> {
  const made = newMeterProvider();
  cleanups.push(() => made.provider.shutdown());
  return made;
}

describe('delivery metrics through OpenTelemetry', () => {
  it('records latency, attempts by outcome and status class, completions, retry success rate and the backlog', async () => {
    const { reader, provider } = meterProvider();
    // Request 1 fails once (503), the rest succeed; event 3 goes to a subscription that always fails → dead.
    const server = await LoopbackReceiver.start((request, index) => (index === 0 ? { status: 503 } : request.url.includes('broken') ? { status: 500 } : undefined));
    cleanups.push(() => server.close());
    const clock = new FakeClock();
    const webhooks = createWebhooks({
      clock,
      meter: provider.getMeter('bookkeeper'),
      security: { allowPrivateNetworks: true },
      retry: { delaysMs: [1_000] },
    });
    cleanups.push(() => webhooks.close());
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.subscriptions.create({ url: server.url.replace('/webhooks', '/broken'), eventTypes: ['payment.failed'] });
    await webhooks.start();
    let failures = 0;
    let secondFailure: () => void = () => undefined;
    const twoFailures = new Promise<void>((resolve) => (secondFailure = resolve));
    webhooks.bus.on('delivery:failed', () => {
      failures += 1;
      if (failures === 2) secondFailure();
    });
    const firstFailure = new Promise((resolve) => webhooks.bus.once('delivery:failed', resolve));
    await webhooks.publish('payment.succeeded', payment(1));
    await firstFailure;
    await webhooks.publish('payment.succeeded', payment(2));
    const { method: _method, ...failed } = payment(3);
    await webhooks.publish('payment.failed', { ...failed, failureCode: 'card_declined' });
    // Both first attempts that fail must be settled (their retries scheduled) before time moves.
    await twoFailures;
    await clock.advance(1_000);
    await webhooks.drain({ timeoutMs: 5_000 });

    const metrics = await collect(reader);
    const latency = metrics.get('webhooks.delivery.latency');
    expect(latency?.descriptor.unit).toBe('ms');
    expect((latency?.dataPoints[0]?.value as { count: number }).count).toBe(2);

    expect(points(metrics.get('webhooks.delivery.attempts'))).toEqual(
      expect.arrayContaining([
        { attributes: { outcome: 'delivered', status_class: '2xx' }, value: 2 },
        { attributes: { outcome: 'retry', status_class: '5xx' }, value: 2 },
        { attributes: { outcome: 'dead', status_class: '5xx' }, value: 1 },
      ]),
    );
    expect(points(metrics.get('webhooks.deliveries.completed'))).toEqual(
      expect.arrayContaining([
        { attributes: { result: 'delivered', after_retry: true }, value: 1 },
        { attributes: { result: 'delivered', after_retry: false }, value: 1 },
        { attributes: { result: 'dead', after_retry: true }, value: 1 },
      ]),
    );
    // One delivery recovered (503 then 204), one died: 1 of 2 that had a failure.
    expect(points(metrics.get('webhooks.delivery.retry_success_rate'))).toEqual([{ attributes: {}, value: 0.5 }]);
    expect(points(metrics.get('webhooks.backlog'))).toEqual(
      expect.arrayContaining([
        { attributes: { state: 'pending' }, value: 0 },
        { attributes: { state: 'dead' }, value: 1 },
      ]),
    );
    expect((await webhooks.metrics()).retrySuccessRate).toBe(0.5);
  });

  it('reads the storage once per collection for both backlog gauges, and again at the next collection', async () => {
    const { reader, provider } = meterProvider();
    const storage = createMemoryStorage();
    const stats = vi.spyOn(storage, 'stats');
    const clock = new FakeClock();
    const webhooks = createWebhooks({ storage, clock, meter: provider.getMeter('bookkeeper') });
    cleanups.push(() => webhooks.close());
    await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });
    await webhooks.publish('payment.succeeded', payment(1));
    await clock.advance(250);

    let metrics = await collect(reader);
    expect(stats).toHaveBeenCalledTimes(1);
    expect(points(metrics.get('webhooks.backlog'))).toContainEqual({ attributes: { state: 'pending' }, value: 1 });
    expect(points(metrics.get('webhooks.backlog.oldest_pending_age'))).toEqual([{ attributes: {}, value: 250 }]);

    await webhooks.publish('payment.succeeded', payment(2));
    metrics = await collect(reader);
    expect(stats).toHaveBeenCalledTimes(2);
    expect(points(metrics.get('webhooks.backlog'))).toContainEqual({ attributes: { state: 'pending' }, value: 2 });
  });

  it('uses no meter at all with meter: false', async () => {
    const webhooks = createWebhooks({ meter: false });
    cleanups.push(() => webhooks.close());
    await webhooks.start();
    expect((await webhooks.metrics()).deliveriesSucceeded).toBe(0);
  });

  it('counts what retention removed by kind and observes its lag', async () => {
    const { reader, provider } = meterProvider();
    const server = await LoopbackReceiver.start();
    cleanups.push(() => server.close());
    const clock = new FakeClock();
    const webhooks = createWebhooks({
      clock,
      meter: provider.getMeter('bookkeeper'),
      security: { allowPrivateNetworks: true },
      retention: { deliveredMs: 60_000, eventsMs: 60_000, intervalMs: 30_000 },
    });
    cleanups.push(() => webhooks.close());
    const sub = await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.succeeded'] });
    await webhooks.start();
    await clock.advance(0);
    await expect.poll(async () => (await webhooks.metrics()).retention.lastRunAt).toBe(clock.now());
    // The first run found nothing to remove: no purge counted, and it caught up.
    expect((await collect(reader)).get('webhooks.retention.purged')).toBeUndefined();
    expect(points((await collect(reader)).get('webhooks.retention.lag'))).toEqual([{ attributes: {}, value: 0 }]);
    await webhooks.publish('payment.succeeded', payment(1));
    await webhooks.publish('payment.succeeded', payment(2));
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(await webhooks.subscriptions.sendTest(sub.id)).toMatchObject({ ok: true, recorded: true });
    await clock.advance(90_000);
    await expect.poll(async () => (await webhooks.metrics()).retention.deliveriesPurged).toBe(2);
    const metrics = await collect(reader);
    expect(points(metrics.get('webhooks.retention.purged'))).toEqual(
      expect.arrayContaining([
        { attributes: { kind: 'deliveries' }, value: 2 },
        { attributes: { kind: 'attempts' }, value: 2 },
        { attributes: { kind: 'events' }, value: 2 },
        { attributes: { kind: 'test_attempts' }, value: 1 },
      ]),
    );
    expect(points(metrics.get('webhooks.retention.lag'))).toEqual([{ attributes: {}, value: 0 }]);
  });
});
