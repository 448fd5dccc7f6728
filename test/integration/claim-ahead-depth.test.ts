/**
 * The claim-ahead buffer's depth on a real dispatch: once its posts have been starting
 * fast for a window, a busy dispatcher claims into a room of up to four `concurrency`
 * (three of them ahead), so a claim starts while a whole `concurrency` is still buffered;
 * an idle one starts shallow again; and what is buffered fills the slots that free while a
 * claim is under way. Real loopback HTTP; the memory storage underneath, wrapped to record
 * each claim's `limit` (or to make claims slow, as PostgreSQL's take milliseconds).
 */
import { describe, expect, it } from 'vitest';
import { createUndiciTransport, createWebhooks } from '../../src/index.js';
import { createMemoryStorage } from '../../src/storage/memory/index.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { registerCleanups } from '../support/cleanups.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

const cleanups = registerCleanups();
const concurrency = 8;

describe('the claim-ahead depth of a busy dispatcher', () => {
  it('claims past twice the concurrency once posts start fast, never past four times, and starts shallow after a quiet spell', async () => {
    const server = await LoopbackReceiver.start();
    cleanups.push(() => server.close());
    const base = createMemoryStorage();
    const claimLimits: number[] = [];
    const storage: StorageAdapter = {
      ...base,
      claimDue: async (input) => {
        claimLimits.push(input.limit);
        return base.claimDue(input);
      },
    };
    const webhooks = createWebhooks({
      storage,
      security: { allowPrivateNetworks: true },
      concurrency,
      flowControl: { maxInFlightPerSubscription: concurrency },
    });
    cleanups.push(() => webhooks.close());
    await webhooks.start();
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    await webhooks.stop();
    const burst = async (events: number) => {
      for (let n = 0; n < events; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
      claimLimits.length = 0;
      await webhooks.start();
      await webhooks.drain({ timeoutMs: 60_000 });
      await webhooks.stop();
    };

    // Long enough for several 200 ms windows on a slow machine: thousands of posts.
    await burst(4_000);
    expect(server.requests).toHaveLength(4_000);
    // The first claim of a burst asks for the shallow room; later ones for the deep one.
    expect(claimLimits[0]).toBe(2 * concurrency);
    expect(Math.max(...claimLimits)).toBeGreaterThan(2 * concurrency);
    expect(Math.max(...claimLimits)).toBeLessThanOrEqual(4 * concurrency);

    // After the quiet spell, the next burst's first claim is shallow again.
    await burst(10);
    expect(server.requests).toHaveLength(4_010);
    expect(claimLimits[0]).toBe(2 * concurrency);
    expect(Math.max(...claimLimits)).toBe(2 * concurrency);
  }, 120_000);

  it('fills the slots that free while a claim is under way from the buffer, not once the claim returns', async () => {
    const server = await LoopbackReceiver.start();
    cleanups.push(() => server.close());
    const base = createMemoryStorage();
    // Every claim takes 25 ms, as a claim's round trips do on a busy PostgreSQL; the posts ~1 ms.
    let claimsUnderWay = 0;
    let claimsMade = 0;
    const storage: StorageAdapter = {
      ...base,
      claimDue: async (input) => {
        claimsUnderWay += 1;
        claimsMade += 1;
        try {
          await new Promise((resolve) => setTimeout(resolve, 25));
          return await base.claimDue(input);
        } finally {
          claimsUnderWay -= 1;
        }
      },
    };
    const undici = createUndiciTransport();
    let startedDuringClaims = 0;
    const webhooks = createWebhooks({
      storage,
      security: { allowPrivateNetworks: true },
      concurrency,
      flowControl: { maxInFlightPerSubscription: concurrency },
      transport: {
        send: (request) => {
          if (claimsUnderWay > 0) startedDuringClaims += 1;
          return undici.send(request);
        },
        close: () => undici.close(),
      },
    });
    cleanups.push(() => webhooks.close());
    await webhooks.start();
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    await webhooks.stop();
    const events = 2_000;
    for (let n = 0; n < events; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    claimsMade = 0;
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 60_000 });

    // Once the buffer is deep, a claim starts with a whole `concurrency` still buffered, and
    // those start as the posts in flight finish: with the slots waiting for the pump, none did.
    expect(claimsMade).toBeGreaterThan(10);
    expect(startedDuringClaims).toBeGreaterThan(events / 10);
    const ids = server.requests.map((request) => request.headers['webhook-id']);
    expect(new Set(ids).size).toBe(events);
    expect(ids).toHaveLength(events);
  }, 60_000);

  it('an endpoint that turns slow under a deep buffer: what waited too long goes back unsent, and every event arrives exactly once', async () => {
    // maxWaitMs = (leaseMs - timeoutMs) / 2 = 750 ms. Fast answers fill the deep buffer (3 × 4
    // ahead); then each answer takes 400 ms, so the buffered ones wait up to 1.2 s for a slot.
    const fastRequests = 400;
    const slowMs = 400;
    const events = fastRequests + 60;
    const server = await LoopbackReceiver.start((_request, index, res) => {
      if (index < fastRequests) return undefined;
      setTimeout(() => res.writeHead(204).end(), slowMs);
      return 'hang';
    });
    cleanups.push(() => server.close());
    const base = createMemoryStorage();
    let givenBack = 0;
    const storage: StorageAdapter = {
      ...base,
      releaseLeases: async (leases, now) => {
        givenBack += leases.length;
        return base.releaseLeases(leases, now);
      },
    };
    const webhooks = createWebhooks({
      storage,
      security: { allowPrivateNetworks: true },
      concurrency: 4,
      leaseMs: 2_500,
      http: { timeoutMs: 1_000 },
      flowControl: { maxInFlightPerSubscription: 4 },
    });
    cleanups.push(() => webhooks.close());
    await webhooks.start();
    await webhooks.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    await webhooks.stop();
    for (let n = 0; n < events; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 60_000 });

    expect(givenBack).toBeGreaterThan(0);
    const ids = server.requests.map((request) => request.headers['webhook-id']);
    expect(new Set(ids).size).toBe(events);
    expect(ids).toHaveLength(events);
    expect((await webhooks.metrics()).deliveriesSucceeded).toBe(events);
  }, 60_000);
});
