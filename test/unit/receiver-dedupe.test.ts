// Dedupe by webhook-id: the in-memory store (TTL, lease, bound) and verify + dedupe
// + handle in one call (createWebhookReceiver), on an injected clock.
import { describe, expect, it } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import {
  createMemoryDedupeStore,
  createWebhookReceiver,
  type DedupeClaim,
  type DedupeStore,
  type WebhookEvent,
  type WebhookReceiverOptions,
} from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

function fakeClock(startMs = 1_750_000_000_000) {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advanceSeconds(seconds: number) {
      nowMs += seconds * 1000;
    },
  };
}

const codeOf = (error: unknown): string | undefined => (isWebhookError(error) ? error.code : undefined);

describe('createMemoryDedupeStore', () => {
  it('claims a new id once: the next claim finds it in flight, and after complete, processed', async () => {
    const store = createMemoryDedupeStore();
    expect(await store.claim('evt_1', 60)).toBe('claimed');
    expect(await store.claim('evt_1', 60)).toBe('in-flight');
    await store.complete('evt_1', 3_600);
    expect(await store.claim('evt_1', 60)).toBe('processed');
    expect(await store.claim('evt_2', 60)).toBe('claimed');
  });

  it('frees a released id for the next claim', async () => {
    const store = createMemoryDedupeStore();
    await store.claim('evt_1', 60);
    await store.release('evt_1');
    expect(await store.claim('evt_1', 60)).toBe('claimed');
  });

  it('frees an in-flight id once its lease has expired (the process handling it died)', async () => {
    const clock = fakeClock();
    const store = createMemoryDedupeStore({ clock });
    await store.claim('evt_1', 60);
    clock.advanceSeconds(59);
    expect(await store.claim('evt_1', 60)).toBe('in-flight');
    clock.advanceSeconds(1);
    expect(await store.claim('evt_1', 60)).toBe('claimed');
  });

  it('forgets a processed id after its ttl, not before', async () => {
    const clock = fakeClock();
    const store = createMemoryDedupeStore({ clock });
    await store.claim('evt_1', 60);
    await store.complete('evt_1', 7 * 24 * 3_600);
    clock.advanceSeconds(7 * 24 * 3_600 - 1);
    expect(await store.claim('evt_1', 60)).toBe('processed');
    clock.advanceSeconds(1);
    expect(await store.claim('evt_1', 60)).toBe('claimed');
  });

  it('keeps at most maxEntries ids, dropping the oldest', async () => {
    const store = createMemoryDedupeStore({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      await store.claim(id, 60);
      await store.complete(id, 3_600);
    }
    expect(await Promise.all(['c', 'd', 'e'].map((id) => store.claim(id, 60)))).toEqual(['processed', 'processed', 'processed']);
    // a and b were dropped to make room; claiming them now makes room again in turn.
    expect(await store.claim('a', 60)).toBe('claimed');
  });

  it('drops the entry least recently claimed or completed when full, so a just-processed id stays', async () => {
    const store = createMemoryDedupeStore({ maxEntries: 2 });
    await store.claim('a', 60);
    await store.claim('b', 60);
    await store.complete('a', 3_600);
    await store.claim('c', 60);
    expect(await store.claim('a', 60)).toBe('processed');
    expect(await store.claim('c', 60)).toBe('in-flight');
  });

  it('refuses a maxEntries below 1', () => {
    expect(() => createMemoryDedupeStore({ maxEntries: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', field: 'maxEntries' }));
  });
});

const secret = generateSecret();
let sequence = 0;

function signedMessage(id = `evt_dedupe_${++sequence}`) {
  const body = JSON.stringify({ id, type: 'payment.succeeded', timestamp: new Date().toISOString(), data: { paymentId: `pay_${id}` } });
  const timestampSeconds = Math.floor(Date.now() / 1000);
  return {
    id,
    message: {
      body,
      headers: {
        'webhook-id': id,
        'webhook-timestamp': String(timestampSeconds),
        'webhook-signature': signWebhook({ id, timestamp: timestampSeconds, body, secrets: secret }),
      },
    },
  };
}

/** A store that records calls and can be made to fail, around a real memory store. */
function spyStore(fail: Partial<Record<keyof DedupeStore, Error>> = {}) {
  const inner = createMemoryDedupeStore();
  const calls: string[] = [];
  const store: DedupeStore = {
    async claim(id, leaseSeconds) {
      calls.push(`claim ${id} ${leaseSeconds}`);
      if (fail.claim) throw fail.claim;
      return inner.claim(id, leaseSeconds);
    },
    async complete(id, ttlSeconds) {
      calls.push(`complete ${id} ${ttlSeconds}`);
      if (fail.complete) throw fail.complete;
      inner.complete(id, ttlSeconds);
    },
    async release(id) {
      calls.push(`release ${id}`);
      if (fail.release) throw fail.release;
      inner.release(id);
    },
  };
  return { store, calls };
}

describe('createWebhookReceiver (verify + dedupe in one call)', () => {
  function receiver(overrides: Partial<WebhookReceiverOptions> = {}) {
    const handled: WebhookEvent[] = [];
    const errors: unknown[] = [];
    const instance = createWebhookReceiver({
      secrets: secret,
      onEvent: (event) => {
        handled.push(event);
      },
      onError: (error) => errors.push(error),
      ...overrides,
    });
    return { instance, handled, errors };
  }

  it('processes a new event, then answers its redelivery as a duplicate without handling it again', async () => {
    const { instance, handled } = receiver();
    const { id, message } = signedMessage();
    const first = await instance.receive(message);
    expect(first.outcome).toBe('processed');
    expect(first.event.id).toBe(id);
    const second = await instance.receive(message);
    expect(second.outcome).toBe('duplicate');
    expect(second.event.id).toBe(id);
    expect(handled.map((event) => event.id)).toEqual([id]);
  });

  it('claims with the lease and completes with the ttl it was given', async () => {
    const { store, calls } = spyStore();
    const { instance } = receiver({ dedupe: store, dedupeLeaseSeconds: 30, dedupeTtlSeconds: 86_400 });
    const { id, message } = signedMessage();
    await instance.receive(message);
    expect(calls).toEqual([`claim ${id} 30`, `complete ${id} 86400`]);
  });

  it('releases the id when the handler throws and rethrows, so the retry is processed', async () => {
    const { store, calls } = spyStore();
    let attempts = 0;
    const { instance } = receiver({
      dedupe: store,
      onEvent: () => {
        attempts += 1;
        if (attempts === 1) throw new Error('ledger unavailable');
      },
    });
    const { id, message } = signedMessage();
    await expect(instance.receive(message)).rejects.toThrow('ledger unavailable');
    expect(calls).toEqual([`claim ${id} 60`, `release ${id}`]);
    expect((await instance.receive(message)).outcome).toBe('processed');
    expect(attempts).toBe(2);
  });

  it('answers a concurrent copy of an event being handled as in-flight, not as a duplicate', async () => {
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    let calls = 0;
    const { instance } = receiver({
      onEvent: () => {
        calls += 1;
        return gate;
      },
    });
    const { message } = signedMessage();
    const first = instance.receive(message);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await instance.receive(message)).outcome).toBe('in-flight');
    finish();
    expect((await first).outcome).toBe('processed');
    expect((await instance.receive(message)).outcome).toBe('duplicate');
    expect(calls).toBe(1);
  });

  it('hands every copy to the handler when dedupe is false', async () => {
    const { instance, handled } = receiver({ dedupe: false });
    const { message } = signedMessage();
    await instance.receive(message);
    expect((await instance.receive(message)).outcome).toBe('processed');
    expect(handled).toHaveLength(2);
  });

  it('does not run the handler when the store cannot claim, and rejects with its error (the sender retries)', async () => {
    const unavailable = new Error('redis down');
    const { store } = spyStore({ claim: unavailable });
    const { instance, handled } = receiver({ dedupe: store });
    await expect(instance.receive(signedMessage().message)).rejects.toBe(unavailable);
    expect(handled).toEqual([]);
  });

  it('refuses a claim that is not one of the three states (a boolean store), without running the handler', async () => {
    const booleanStore = { claim: async () => false, complete: async () => undefined, release: async () => undefined } as unknown as DedupeStore;
    const { instance, handled } = receiver({ dedupe: booleanStore });
    expect(await instance.receive(signedMessage().message).catch(codeOf)).toBe('CONFIG_INVALID');
    expect(handled).toEqual([]);
  });

  it('still reports processed when the store fails to record it, and passes the error to onError', async () => {
    const lost = new Error('redis down after the booking');
    const { store } = spyStore({ complete: lost });
    const { instance, handled, errors } = receiver({ dedupe: store });
    expect((await instance.receive(signedMessage().message)).outcome).toBe('processed');
    expect(handled).toHaveLength(1);
    expect(errors).toEqual([lost]);
  });

  it('never touches the store for a request that fails verification', async () => {
    const { store, calls } = spyStore();
    const { instance } = receiver({ dedupe: store });
    const { message } = signedMessage();
    const outcome = await instance.receive({ ...message, body: message.body.replace('pay_', 'pay_X') }).catch(codeOf);
    expect(outcome).toBe('WEBHOOK_NO_MATCHING_SIGNATURE');
    expect(calls).toEqual([]);
  });

  it.each([
    ['a store missing complete', { dedupe: { claim: async (): Promise<DedupeClaim> => 'claimed', release: async () => undefined } }],
    ['a zero ttl', { dedupeTtlSeconds: 0 }],
    ['a fractional lease', { dedupeLeaseSeconds: 1.5 }],
    ['an onError that is not a function', { onError: 'log' }],
    ['a meter without createCounter', { meter: {} }],
  ])('refuses %s at creation with CONFIG_INVALID', (_name, override) => {
    expect(() => receiver(override as Partial<WebhookReceiverOptions>)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
