// The typed router's `ordering`: per key, by `webhook-sequence`, against the last number
// recorded — duplicates acknowledged without the handler, the next one handled then recorded,
// a gap refused (ORDERING_GAP) or, with onGap 'accept', handled; events without a key or a
// sequence pass straight through; one event of a key at a time in a process; coded refusals
// of bad options and of a store or keyOf answering outside their contract.
import { describe, expect, it } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import {
  createMemoryOrderingStore,
  createWebhookRouter,
  type OrderingOptions,
  type OrderingStore,
  type WebhookEvent,
} from '../../src/receiver/index.js';

const codeOf = (error: unknown): string | undefined => (isWebhookError(error) ? error.code : undefined);

async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'resolved';
  } catch (error) {
    return codeOf(error) ?? String(error);
  }
}

/** An event of `orderingKey` (`null`: an unkeyed event) with `sequence` (`null`: no header). */
function event(sequence: number | null, orderingKey: string | null = 'pay_1', type = 'payment.succeeded'): WebhookEvent {
  const base: WebhookEvent = { id: `evt_${orderingKey ?? 'none'}_${String(sequence)}`, type, timestamp: '2026-01-15T10:00:00.000Z', data: { n: sequence } };
  return orderingKey === null ? base : { ...base, orderingKey, sequence };
}

type Payments = { 'payment.succeeded': { n: number } };

/** A router with one handler that logs the sequence numbers it handled. */
function orderedRouter(ordering: Partial<OrderingOptions> = {}) {
  const store = ordering.store ?? createMemoryOrderingStore();
  const handled: Array<number | null | undefined> = [];
  const router = createWebhookRouter<Payments>({ ordering: { ...ordering, store } }).on('payment.succeeded', (e) => {
    handled.push(e.sequence);
  });
  return { router, store, handled };
}

describe('createWebhookRouter<Payments>({ ordering })', () => {
  it('handles a key in order and records each number after its handler', async () => {
    const { router, store, handled } = orderedRouter();
    for (const n of [1, 2, 3]) await router.handle(event(n));
    expect(handled).toEqual([1, 2, 3]);
    expect(await store.last('pay_1')).toBe(3);
  });

  it('acknowledges a number already handled without running the handler (a duplicate)', async () => {
    const { router, handled } = orderedRouter();
    await router.handle(event(1));
    await router.handle(event(2));
    expect(await outcome(() => router.handle(event(2)))).toBe('resolved');
    expect(await outcome(() => router.handle(event(1)))).toBe('resolved');
    expect(handled).toEqual([1, 2]);
  });

  it('refuses a gap with ORDERING_GAP without running the handler, then takes the missing one and the refused one in order', async () => {
    const { router, store, handled } = orderedRouter();
    await router.handle(event(1));
    expect(await outcome(() => router.handle(event(3)))).toBe('ORDERING_GAP');
    expect(handled).toEqual([1]);
    expect(await store.last('pay_1')).toBe(1);
    await router.handle(event(2));
    await router.handle(event(3));
    expect(handled).toEqual([1, 2, 3]);
  });

  it("with onGap: 'accept', handles past a gap and records it; the skipped number is then a duplicate", async () => {
    const { router, store, handled } = orderedRouter({ onGap: 'accept' });
    await router.handle(event(1));
    await router.handle(event(3));
    expect(await store.last('pay_1')).toBe(3);
    await router.handle(event(2));
    expect(handled).toEqual([1, 3]);
  });

  it('handles the first event it sees of a key whatever its number (a consumer starting mid-stream)', async () => {
    const { router, store, handled } = orderedRouter();
    await router.handle(event(41));
    await router.handle(event(42));
    expect(handled).toEqual([41, 42]);
    expect(await store.last('pay_1')).toBe(42);
  });

  it('keeps keys apart: a gap on one key does not hold another', async () => {
    const { router, handled } = orderedRouter();
    await router.handle(event(1, 'pay_1'));
    expect(await outcome(() => router.handle(event(3, 'pay_1')))).toBe('ORDERING_GAP');
    await router.handle(event(1, 'pay_2'));
    await router.handle(event(2, 'pay_2'));
    expect(handled).toEqual([1, 1, 2]);
  });

  it('does not record a number whose handler threw: the retry runs the handler again', async () => {
    const store = createMemoryOrderingStore();
    let failures = 1;
    const handled: number[] = [];
    const router = createWebhookRouter<Payments>({ ordering: { store } }).on('payment.succeeded', (e) => {
      if (e.sequence === 2 && failures-- > 0) throw new Error('ledger unavailable');
      handled.push(e.sequence!);
    });
    await router.handle(event(1));
    expect(await outcome(() => router.handle(event(2)))).toBe('Error: ledger unavailable');
    expect(await store.last('pay_1')).toBe(1);
    await router.handle(event(2));
    expect(handled).toEqual([1, 2]);
  });

  it('does not record a number whose data the validate hook refused (EVENT_DATA_INVALID)', async () => {
    const store = createMemoryOrderingStore();
    const router = createWebhookRouter<Payments>({
      ordering: { store },
      validate: () => {
        throw new Error('bad data');
      },
    }).on('payment.succeeded', () => undefined);
    expect(await outcome(() => router.handle(event(1)))).toBe('EVENT_DATA_INVALID');
    expect(await store.last('pay_1')).toBeNull();
  });

  it('records an event of a type without a handler, so that it leaves no gap behind', async () => {
    const { router, store, handled } = orderedRouter();
    await router.handle(event(1));
    await router.handle(event(2, 'pay_1', 'payment.refunded.v2'));
    await router.handle(event(3));
    expect(handled).toEqual([1, 3]);
    expect(await store.last('pay_1')).toBe(3);
  });

  it('passes events without a key, and keyed events without a sequence, straight to the handler without the store', async () => {
    const untouchable: OrderingStore = {
      last: () => {
        throw new Error('store read');
      },
      record: () => {
        throw new Error('store written');
      },
    };
    const { router, handled } = orderedRouter({ store: untouchable });
    await router.handle(event(null, null));
    await router.handle(event(null));
    await router.handle(event(null));
    expect(handled).toEqual([undefined, null, null]);
  });

  it('refuses a second event of a key while one is being handled with ORDERING_KEY_IN_FLIGHT; other keys go on', async () => {
    const store = createMemoryOrderingStore();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handled: string[] = [];
    const router = createWebhookRouter<Payments>({ ordering: { store } }).on('payment.succeeded', async (e) => {
      if (e.orderingKey === 'pay_1' && e.sequence === 1) await gate;
      handled.push(`${e.orderingKey} ${e.sequence}`);
    });
    const first = router.handle(event(1));
    expect(await outcome(() => router.handle(event(1)))).toBe('ORDERING_KEY_IN_FLIGHT');
    expect(await outcome(() => router.handle(event(2)))).toBe('ORDERING_KEY_IN_FLIGHT');
    await router.handle(event(1, 'pay_2'));
    release();
    await first;
    await router.handle(event(2));
    expect(handled).toEqual(['pay_2 1', 'pay_1 1', 'pay_1 2']);
  });

  it('frees the key after a refusal or a failure', async () => {
    const { router, handled } = orderedRouter();
    await router.handle(event(1));
    expect(await outcome(() => router.handle(event(3)))).toBe('ORDERING_GAP');
    await router.handle(event(2));
    expect(handled).toEqual([1, 2]);
  });

  it('works with an asynchronous store', async () => {
    const map = new Map<string, number>();
    const store: OrderingStore = {
      last: async (key) => map.get(key) ?? null,
      record: async (key, sequence) => {
        map.set(key, sequence);
      },
    };
    const { router, handled } = orderedRouter({ store });
    await router.handle(event(1));
    await router.handle(event(1));
    expect(await outcome(() => router.handle(event(3)))).toBe('ORDERING_GAP');
    await router.handle(event(2));
    expect(handled).toEqual([1, 2]);
    expect(map.get('pay_1')).toBe(2);
  });

  it('keys the store by keyOf, so one store can serve two subscriptions whose numbers overlap', async () => {
    const store = createMemoryOrderingStore();
    const live = orderedRouter({ store, keyOf: (e) => `live:${e.orderingKey}` });
    const test = orderedRouter({ store, keyOf: (e) => `test:${e.orderingKey}` });
    await live.router.handle(event(1));
    await live.router.handle(event(2));
    await test.router.handle(event(1));
    expect(live.handled).toEqual([1, 2]);
    expect(test.handled).toEqual([1]);
    expect([await store.last('live:pay_1'), await store.last('test:pay_1'), await store.last('pay_1')]).toEqual([2, 1, null]);
  });

  it('passes a store failure on: an unreadable store refuses the event, a failed record fails it after its handler ran', async () => {
    const handled: number[] = [];
    const failing = (which: 'last' | 'record'): OrderingStore => ({
      last: () => {
        if (which === 'last') throw new Error('store down');
        return null;
      },
      record: () => {
        if (which === 'record') throw new Error('store down');
      },
    });
    for (const which of ['last', 'record'] as const) {
      const router = createWebhookRouter<Payments>({ ordering: { store: failing(which) } }).on('payment.succeeded', (e) => {
        handled.push(e.sequence!);
      });
      expect(await outcome(() => router.handle(event(1)))).toBe('Error: store down');
    }
    expect(handled).toEqual([1]);
  });

  it.each([
    ['undefined', undefined],
    ['a string', '3'],
    ['zero', 0],
    ['a fraction', 1.5],
  ])('refuses a store whose last() answers %s with CONFIG_INVALID, without running the handler', async (_case, last) => {
    const { router, handled } = orderedRouter({ store: { last: () => last as number, record: () => undefined } });
    const error = await router.handle(event(2)).catch((caught: unknown) => caught);
    expect(codeOf(error)).toBe('CONFIG_INVALID');
    expect((error as { field?: string }).field).toBe('ordering.store');
    expect(handled).toEqual([]);
  });

  it('refuses a keyOf that returns no non-empty string with CONFIG_INVALID', async () => {
    const { router, handled } = orderedRouter({ keyOf: () => '' });
    expect(await outcome(() => router.handle(event(1)))).toBe('CONFIG_INVALID');
    expect(handled).toEqual([]);
  });

  it.each([
    ['null', null, 'ordering.store'],
    ['without a store', {}, 'ordering.store'],
    ['with a store missing record', { store: { last: () => null } }, 'ordering.store'],
    ['with a keyOf that is not a function', { store: createMemoryOrderingStore(), keyOf: 'orderingKey' }, 'ordering.keyOf'],
    ["with onGap 'skip'", { store: createMemoryOrderingStore(), onGap: 'skip' }, 'ordering.onGap'],
    ['with an unknown key', { store: createMemoryOrderingStore(), onDead: 'skip' }, 'ordering.onDead'],
  ])('refuses an ordering option %s with CONFIG_INVALID naming the field', (_case, ordering, field) => {
    let caught: unknown;
    try {
      createWebhookRouter({ ordering: ordering as unknown as OrderingOptions });
    } catch (error) {
      caught = error;
    }
    expect(codeOf(caught)).toBe('CONFIG_INVALID');
    expect((caught as { field?: string }).field).toBe(field);
  });
});

describe('createMemoryOrderingStore', () => {
  it('answers null for a key never recorded, and the last number recorded otherwise', () => {
    const store = createMemoryOrderingStore();
    expect(store.last('pay_1')).toBeNull();
    store.record('pay_1', 1);
    store.record('pay_1', 2);
    expect(store.last('pay_1')).toBe(2);
  });

  it('forgets the key least recently recorded past maxKeys', () => {
    const store = createMemoryOrderingStore({ maxKeys: 2 });
    store.record('a', 1);
    store.record('b', 1);
    store.record('a', 2);
    store.record('c', 1);
    expect([store.last('a'), store.last('b'), store.last('c')]).toEqual([2, null, 1]);
  });

  it.each([
    ['maxKeys 0', { maxKeys: 0 }, 'maxKeys'],
    ['a fractional maxKeys', { maxKeys: 1.5 }, 'maxKeys'],
    ['an unknown option', { maxEntries: 10 }, 'maxEntries'],
  ])('refuses %s with CONFIG_INVALID', (_case, options, field) => {
    let caught: unknown;
    try {
      createMemoryOrderingStore(options as { maxKeys?: number });
    } catch (error) {
      caught = error;
    }
    expect(codeOf(caught)).toBe('CONFIG_INVALID');
    expect((caught as { field?: string }).field).toBe(field);
  });
});
