/**
 * Which class each kind of refusal comes as: a state conflict (`DELIVERY_IN_FLIGHT`,
 * `SUBSCRIPTION_DISABLED`) is a
 * `ConflictError`, not a `ValidationError`, and the instance's own state
 * (`WEBHOOKS_STOPPED`, `DRAIN_TIMEOUT`) a `StateError`; every one is still a
 * `WebhookError` with its stable code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConflictError,
  StateError,
  ValidationError,
  WebhookError,
  createMemoryStorage,
  createWebhooks,
  isWebhookError,
  type StorageAdapter,
  type Webhooks,
} from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { samplePayment } from '../support/sample-payment.js';
import { rejectionOf } from '../support/rejections.js';

let storage: StorageAdapter;
let webhooks: Webhooks;
const clock = new FakeClock();

function setUp(): void {
  storage = createMemoryStorage();
  webhooks = createWebhooks({ storage, clock, meter: false, security: { allowPrivateNetworks: true } });
}

afterEach(async () => {
  await webhooks.close();
});


describe('error classes', () => {
  it('refuses to redeliver a delivery under a lease with a ConflictError DELIVERY_IN_FLIGHT, not a ValidationError', async () => {
    setUp();
    await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['*'] });
    await webhooks.publish('payment.succeeded', samplePayment());
    const [claimed] = await storage.claimDue({ limit: 10, leaseMs: 60_000, now: clock.now() });
    expect(claimed).toBeDefined();

    const error = await rejectionOf(webhooks.deliveries.redeliver(claimed!.delivery.id));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toBeInstanceOf(WebhookError);
    expect(error).not.toBeInstanceOf(ValidationError);
    expect(isWebhookError(error)).toBe(true);
    expect(error).toMatchObject({ name: 'ConflictError', code: 'DELIVERY_IN_FLIGHT', field: 'id' });
  });

  it('refuses to redeliver a delivery held by a disabled subscription with a ConflictError SUBSCRIPTION_DISABLED, changing nothing', async () => {
    setUp();
    const subscription = await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['*'] });
    await webhooks.publish('payment.succeeded', samplePayment());
    await webhooks.subscriptions.disable(subscription.id, { reason: 'maintenance' });
    const [held] = (await webhooks.deliveries.list({ subscriptionId: subscription.id })).items;
    expect(held).toMatchObject({ status: 'held' });

    const error = await rejectionOf(webhooks.deliveries.redeliver(held!.id));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).not.toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ name: 'ConflictError', code: 'SUBSCRIPTION_DISABLED', field: 'id' });
    expect(await webhooks.deliveries.get(held!.id)).toEqual(held);
  });

  it('refuses publish and start on a closed instance with a StateError WEBHOOKS_STOPPED', async () => {
    setUp();
    await webhooks.close();
    const fromPublish = await rejectionOf(webhooks.publish('payment.succeeded', samplePayment()));
    const fromStart = await rejectionOf(webhooks.start());
    for (const error of [fromPublish, fromStart]) {
      expect(error).toBeInstanceOf(StateError);
      expect(error).toBeInstanceOf(WebhookError);
      expect(error).toMatchObject({ name: 'StateError', code: 'WEBHOOKS_STOPPED' });
    }
  });

  it('times a drain out with a StateError DRAIN_TIMEOUT while a delivery is pending', async () => {
    setUp();
    await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['*'] });
    await webhooks.publish('payment.succeeded', samplePayment());

    const error = await rejectionOf(webhooks.drain({ timeoutMs: 0 }));
    expect(error).toBeInstanceOf(StateError);
    expect(error).toMatchObject({ name: 'StateError', code: 'DRAIN_TIMEOUT' });
  });
});
