/**
 * The event-type filter rule as the property tests search it: arbitrary event types and
 * filters (SQL's LIKE wildcards and case among them), and the property every SQL adapter's
 * fan-out and replay must hold, given how to delete a subscription's deliveries behind its back.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { createId } from '../../src/ids.js';
import { matchesAnyEventType } from '../../src/registry/event-type-filter.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { enqueueInput, NOW, subscription } from './storage-records.js';

const segment = fc.constantFrom('a', 'b', 'ab', 'a_b', 'a%', 'A', '');

/** An event type of one to four segments. */
export const eventType = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('.'));

/** A filter of every shape the rule knows, and some it must refuse to match. */
export const eventTypeFilter = fc.oneof(
  fc.constant('*'),
  eventType,
  eventType.map((t) => `${t}.*`),
  eventType.map((t) => `${t}*`),
  eventType.map((t) => `*.${t}`),
  eventType.map((t) => `${t}.`),
);

/**
 * A subscription with arbitrary filters gets a delivery of exactly the published types
 * matchesAnyEventType accepts, and replaying the types the core matched (after
 * `deleteDeliveriesOf` removed the fan-out) makes as many again. Each run publishes a
 * second later than the one before, on the same migrated `storage`.
 */
export function fansOutAndReplaysAsMatched(
  storage: StorageAdapter,
  deleteDeliveriesOf: (subscriptionId: string) => unknown,
): fc.IAsyncPropertyWithHooks<[string[], string[]]> {
  let now = NOW;
  return fc.asyncProperty(fc.array(eventTypeFilter, { minLength: 1, maxLength: 3 }), fc.array(eventType, { minLength: 1, maxLength: 5 }), async (filters, types) => {
    now += 1000;
    const sub = await storage.createSubscription(subscription({ id: createId('sub', now), eventTypes: filters }));
    const since = now;
    const fannedOut: string[] = [];
    for (const t of types) {
      const input = { ...enqueueInput(t), now };
      input.event.timestamp = now;
      const result = await storage.enqueue(input);
      if (result.deliveryCount > 0) fannedOut.push(t);
    }
    expect(fannedOut).toEqual(types.filter((t) => matchesAnyEventType(filters, t)));
    // Replay looks up the types the core matched with the same rule: delete the fan-out, replay, compare.
    const deliveries = await storage.listDeliveries({ subscriptionId: sub.id, limit: 1000 });
    await deleteDeliveriesOf(sub.id);
    const replayed = await storage.replay({ subscriptionId: sub.id, since, now, eventTypes: [...new Set(types)].filter((t) => matchesAnyEventType(filters, t)) });
    expect(replayed.count).toBe(deliveries.items.length);
    await storage.deleteSubscription(sub.id);
  });
}
