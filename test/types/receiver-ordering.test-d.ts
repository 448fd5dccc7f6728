// Type tests of per-key ordering on the receiving side: the verified event's orderingKey and
// sequence, the router's `ordering` option, the store contract. Run by `vitest --typecheck` and by `tsc`.
import { describe, expectTypeOf, it } from 'vitest';
import type { BookkeeperEvents } from '../../src/index.js';
import {
  createMemoryOrderingStore,
  createWebhookRouter,
  verifyWebhook,
  type OrderedWebhookEvent,
  type OrderingOptions,
  type OrderingStore,
  type WebhookEvent,
  type WebhookRouterOptions,
} from '../../src/receiver/index.js';

describe('the verified event', () => {
  it('has an optional orderingKey and an optional sequence that may be null', () => {
    const event = verifyWebhook({ body: '', headers: {} }, { secrets: 'whsec_x' });
    expectTypeOf(event.orderingKey).toEqualTypeOf<string | undefined>();
    expectTypeOf(event.sequence).toEqualTypeOf<number | null | undefined>();
  });

  it('still lets a consumer write an event without them (tests, replays from its own storage)', () => {
    const event: WebhookEvent = { id: 'evt_1', type: 'payment.succeeded', timestamp: '2026-01-15T10:00:00.000Z', data: {} };
    expectTypeOf(event).toEqualTypeOf<WebhookEvent>();
  });

  it('gives a typed handler the fields too', () => {
    createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', (event) => {
      expectTypeOf(event.orderingKey).toEqualTypeOf<string | undefined>();
      expectTypeOf(event.sequence).toEqualTypeOf<number | null | undefined>();
    });
  });
});

describe('the router ordering option', () => {
  it('takes a store, keyOf and onGap', () => {
    expectTypeOf<WebhookRouterOptions<BookkeeperEvents>['ordering']>().toEqualTypeOf<OrderingOptions | undefined>();
    expectTypeOf<OrderingOptions['onGap']>().toEqualTypeOf<'refuse' | 'accept' | undefined>();
    createWebhookRouter<BookkeeperEvents>({
      ordering: {
        store: createMemoryOrderingStore({ maxKeys: 10_000 }),
        keyOf: (event) => {
          expectTypeOf(event).toEqualTypeOf<OrderedWebhookEvent>();
          expectTypeOf(event.orderingKey).toEqualTypeOf<string>();
          return `erp-live:${event.orderingKey}`;
        },
        onGap: 'accept',
      },
    });
  });

  it('refuses what is not an ordering option', () => {
    // @ts-expect-error the store is required
    createWebhookRouter({ ordering: {} });
    // @ts-expect-error onGap is 'refuse' or 'accept'
    createWebhookRouter({ ordering: { store: createMemoryOrderingStore(), onGap: 'skip' } });
    // @ts-expect-error keyOf returns a string
    createWebhookRouter({ ordering: { store: createMemoryOrderingStore(), keyOf: () => 1 } });
    // @ts-expect-error maxKeys is a number
    createMemoryOrderingStore({ maxKeys: '10' });
  });
});

describe('OrderingStore', () => {
  it('may be synchronous or asynchronous', () => {
    const map = new Map<string, number>();
    const sync: OrderingStore = { last: (key) => map.get(key) ?? null, record: (key, sequence) => void map.set(key, sequence) };
    const async: OrderingStore = {
      last: async (key) => map.get(key) ?? null,
      record: async (key, sequence) => {
        map.set(key, sequence);
      },
    };
    expectTypeOf(sync).toEqualTypeOf(async);
    expectTypeOf<OrderingStore['last']>().returns.toEqualTypeOf<number | null | Promise<number | null>>();
    expectTypeOf<OrderingStore['record']>().parameters.toEqualTypeOf<[key: string, sequence: number]>();
    // @ts-expect-error last() answers a number or null, not a string
    const wrong: OrderingStore = { last: () => '3', record: () => undefined };
    void wrong;
  });
});
