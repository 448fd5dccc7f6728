/**
 * `readDeliveredInWindow`, the read behind the overview's latency chart, on the memory
 * storage through a webhooks instance: the deliveries created and delivered in the window,
 * newest first, at most 5,000 of them; bad windows refused with a code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStorage, createWebhooks, ValidationError, type StorageAdapter, type Webhooks } from '../../src/index.js';
import { maxDeliveredRead, readDeliveredInWindow } from '../../src/dashboard/delivered-in-window.js';
import { createId } from '../../src/ids.js';
import { rejectionOf } from '../support/rejections.js';
import { NOW, publish, subscriptionAt } from '../support/storage-records.js';

const instances: Webhooks[] = [];
afterEach(async () => {
  for (const webhooks of instances.splice(0)) await webhooks.close();
});

function instanceOn(storage: StorageAdapter): Webhooks {
  const webhooks = createWebhooks({ storage, meter: false });
  instances.push(webhooks);
  return webhooks;
}

/** Publishes `count` events at `createdAt` (one delivery each) and settles them: delivered at `deliveredAt`, or left as told. */
async function deliveries(storage: StorageAdapter, count: number, createdAt: number, outcome: { deliveredAt: number } | 'dead' | 'pending'): Promise<void> {
  for (let i = 0; i < count; i++) await publish(storage, createdAt);
  if (outcome === 'pending') return;
  const settleAt = outcome === 'dead' ? createdAt + 1 : outcome.deliveredAt;
  for (;;) {
    const claimed = await storage.claimDue({ limit: 1000, leaseMs: 60_000, now: settleAt });
    if (claimed.length === 0) return;
    await storage.settle(
      claimed.map(({ delivery, leaseToken }) => ({
        deliveryId: delivery.id,
        leaseToken,
        attempt: {
          id: createId('att', settleAt),
          startedAt: settleAt,
          durationMs: 1,
          statusCode: outcome === 'dead' ? 500 : 204,
          errorClass: outcome === 'dead' ? 'http' : null,
          errorMessage: null,
          responseSnippet: null,
        },
        outcome: outcome === 'dead' ? { kind: 'dead' } : { kind: 'delivered' },
      })),
      settleAt,
    );
  }
}

describe('readDeliveredInWindow', () => {
  it('returns the deliveries created and delivered in the window, newest first, and no others', async () => {
    const storage = createMemoryStorage();
    await storage.createSubscription(subscriptionAt(NOW));
    const fromMs = NOW + 60_000;
    const toMs = NOW + 120_000;
    await deliveries(storage, 2, NOW, { deliveredAt: fromMs + 10 }); // created before the window
    await deliveries(storage, 1, fromMs, { deliveredAt: fromMs + 250 });
    await deliveries(storage, 1, fromMs + 1_000, { deliveredAt: fromMs + 1_400 });
    await deliveries(storage, 1, fromMs + 2_000, { deliveredAt: toMs }); // delivered when the window has ended
    await deliveries(storage, 1, fromMs + 3_000, 'dead');
    await deliveries(storage, 1, fromMs + 4_000, 'pending');
    await deliveries(storage, 1, toMs, { deliveredAt: toMs + 5 }); // created after it

    const delivered = await readDeliveredInWindow(instanceOn(storage), fromMs, toMs);
    expect(delivered).toEqual([
      { createdAt: fromMs + 1_000, deliveredAt: fromMs + 1_400 },
      { createdAt: fromMs, deliveredAt: fromMs + 250 },
    ]);
  });

  it(`reads at most ${maxDeliveredRead} deliveries, the newest ones`, async () => {
    const storage = createMemoryStorage();
    await storage.createSubscription(subscriptionAt(NOW));
    await deliveries(storage, 1, NOW, { deliveredAt: NOW + 10 });
    await deliveries(storage, maxDeliveredRead, NOW + 1, { deliveredAt: NOW + 20 });

    const delivered = await readDeliveredInWindow(instanceOn(storage), NOW, NOW + 60_000);
    expect(delivered).toHaveLength(maxDeliveredRead);
    expect(delivered.every((times) => times.createdAt === NOW + 1)).toBe(true);
  });

  it('refuses a window that is not epoch ms or ends before it starts', async () => {
    const webhooks = instanceOn(createMemoryStorage());
    for (const [fromMs, toMs, field] of [
      [-1, NOW, 'fromMs'],
      [NOW, 1.5, 'toMs'],
      [NOW, NOW - 1, 'toMs'],
    ] as const) {
      const error = await rejectionOf(readDeliveredInWindow(webhooks, fromMs, toMs));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ code: 'INPUT_INVALID', field });
    }
  });
});
