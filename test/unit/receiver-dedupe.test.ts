// Dedupe by webhook-id: the in-memory store (TTL, lease, bound) and verify + dedupe
// + handle in one call (createWebhookReceiver), on an injected clock.
import { describe, expect, it, vi } from 'vitest';
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
    expect(await store.claim('evt_1', 60, 'token')).toBe('claimed');
    expect(await store.claim('evt_1', 60, 'token')).toBe('in-flight');
    await store.complete('evt_1', 3_600, 'token');
    expect(await store.claim('evt_1', 60, 'token')).toBe('processed');
    expect(await store.claim('evt_2', 60, 'token')).toBe('claimed');
  });

  it('frees a released id for the next claim', async () => {
    const store = createMemoryDedupeStore();
    await store.claim('evt_1', 60, 'token');
    await store.release('evt_1', 'token');
    expect(await store.claim('evt_1', 60, 'token')).toBe('claimed');
  });

  it('frees an in-flight id once its lease has expired (the process handling it died)', async () => {
    const clock = fakeClock();
    const store = createMemoryDedupeStore({ clock });
    await store.claim('evt_1', 60, 'token');
    clock.advanceSeconds(59);
    expect(await store.claim('evt_1', 60, 'token')).toBe('in-flight');
    clock.advanceSeconds(1);
    expect(await store.claim('evt_1', 60, 'token')).toBe('claimed');
  });

  it('leaves the claim taken since alone when a claim whose lease ran out is released', async () => {
    const clock = fakeClock();
    const store = createMemoryDedupeStore({ clock });
    expect(await store.claim('evt_1', 60, 'first')).toBe('claimed');
    clock.advanceSeconds(60);
    expect(await store.claim('evt_1', 60, 'second')).toBe('claimed');
    await store.release('evt_1', 'first');
    expect(await store.claim('evt_1', 60, 'third')).toBe('in-flight');
    await store.release('evt_1', 'second');
    expect(await store.claim('evt_1', 60, 'third')).toBe('claimed');
  });

  it('records processed on a complete by a claim whose lease ran out, which the claim taken since cannot release', async () => {
    const clock = fakeClock();
    const store = createMemoryDedupeStore({ clock });
    await store.claim('evt_1', 60, 'first');
    clock.advanceSeconds(61);
    await store.claim('evt_1', 60, 'second');
    await store.complete('evt_1', 3_600, 'first');
    await store.release('evt_1', 'second');
    expect(await store.claim('evt_1', 60, 'third')).toBe('processed');
  });

  it('forgets a processed id after its ttl, not before', async () => {
    const clock = fakeClock();
    const store = createMemoryDedupeStore({ clock });
    await store.claim('evt_1', 60, 'token');
    await store.complete('evt_1', 7 * 24 * 3_600, 'token');
    clock.advanceSeconds(7 * 24 * 3_600 - 1);
    expect(await store.claim('evt_1', 60, 'token')).toBe('processed');
    clock.advanceSeconds(1);
    expect(await store.claim('evt_1', 60, 'token')).toBe('claimed');
  });

  it('keeps at most maxEntries ids, dropping the oldest', async () => {
    const store = createMemoryDedupeStore({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      await store.claim(id, 60, 'token');
      await store.complete(id, 3_600, 'token');
    }
    expect(await Promise.all(['c', 'd', 'e'].map((id) => store.claim(id, 60, 'token')))).toEqual(['processed', 'processed', 'processed']);
    // a and b were dropped to make room; claiming them now makes room again in turn.
    expect(await store.claim('a', 60, 'token')).toBe('claimed');
  });

  it('drops the entry least recently claimed or completed when full, so a just-processed id stays', async () => {
    const store = createMemoryDedupeStore({ maxEntries: 2 });
    await store.claim('a', 60, 'token');
    await store.claim('b', 60, 'token');
    await store.complete('a', 3_600, 'token');
    await store.claim('c', 60, 'token');
    expect(await store.claim('a', 60, 'token')).toBe('processed');
    expect(await store.claim('c', 60, 'token')).toBe('in-flight');
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
  /** The token each call carried, in call order. */
  const tokens: string[] = [];
  const store: DedupeStore = {
    async claim(id, leaseSeconds, token) {
      calls.push(`claim ${id} ${leaseSeconds}`);
      tokens.push(token);
      if (fail.claim) throw fail.claim;
      return inner.claim(id, leaseSeconds, token);
    },
    async complete(id, ttlSeconds, token) {
      calls.push(`complete ${id} ${ttlSeconds}`);
      tokens.push(token);
      if (fail.complete) throw fail.complete;
      await inner.complete(id, ttlSeconds, token);
    },
    async release(id, token) {
      calls.push(`release ${id}`);
      tokens.push(token);
      if (fail.release) throw fail.release;
      await inner.release(id, token);
    },
  };
  return { store, calls, tokens };
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

  it('settles each claim with the token it claimed with, a new one per claim', async () => {
    const { store, calls, tokens } = spyStore();
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
    await instance.receive(message);
    expect(calls).toEqual([`claim ${id} 60`, `release ${id}`, `claim ${id} 60`, `complete ${id} 604800`]);
    expect(tokens[1]).toBe(tokens[0]);
    expect(tokens[3]).toBe(tokens[2]);
    expect(tokens[2]).not.toBe(tokens[0]);
    expect(tokens.every((token) => typeof token === 'string' && token.length > 0)).toBe(true);
  });

  it('never runs a third copy beside the second when a handler outlives its lease and then throws', async () => {
    const clock = fakeClock(Date.now());
    const gates: { release: (error?: Error) => void }[] = [];
    let runs = 0;
    const { instance } = receiver({
      dedupe: createMemoryDedupeStore({ clock }),
      dedupeLeaseSeconds: 60,
      onEvent: () => {
        runs += 1;
        // The first two copies wait for the test; a third, if one ran, would finish at once.
        if (gates.length === 2) return undefined;
        return new Promise<void>((resolve, reject) => gates.push({ release: (error) => (error ? reject(error) : resolve()) }));
      },
    });
    const { message } = signedMessage();
    const first = instance.receive(message);
    await vi.waitFor(() => expect(gates).toHaveLength(1));
    clock.advanceSeconds(61); // the first handler outlives its lease: the sender's retry claims the id
    const second = instance.receive(message);
    await vi.waitFor(() => expect(gates).toHaveLength(2));
    gates[0]!.release(new Error('ledger timeout'));
    await expect(first).rejects.toThrow('ledger timeout');
    // The first claim's release must not have freed the second's: a third copy waits.
    expect((await instance.receive(message)).outcome).toBe('in-flight');
    expect(runs).toBe(2);
    gates[1]!.release();
    expect((await second).outcome).toBe('processed');
    expect((await instance.receive(message)).outcome).toBe('duplicate');
    expect(runs).toBe(2);
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
