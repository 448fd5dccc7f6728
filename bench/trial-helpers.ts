/**
 * Pieces shared by the suites that run the whole library: a webhooks instance on a
 * bench storage, publishing a backlog, and the bare loops the dispatcher is judged against.
 */
import ky from 'ky';
import { Pool } from 'undici';
import { createWebhooks, type Webhooks } from '../src/create-webhooks.js';
import type { BookkeeperEvents } from '../src/events/bookkeeper-events.js';
import type { WebhooksOptions } from '../src/webhooks-options.js';
import type { BenchStorageInstance, StorageEntry } from './storages.js';
import { eventType, paddingFor, paymentData, signedSamples, type SignedSample } from './payload.js';
import { generateSecret } from '../src/signing/secret.js';

/** Options of `createWebhooks` that {@link createInstance} leaves to its caller. */
export type InstanceOptions = Omit<WebhooksOptions<BookkeeperEvents>, 'storage' | 'security' | 'concurrency' | 'flowControl' | 'events'>;

export interface Instance {
  webhooks: Webhooks;
  storage: BenchStorageInstance;
  close(): Promise<void>;
}

/**
 * A webhooks instance on a fresh storage, migrated, dispatcher stopped, with one
 * subscription to `url` for every event type; `payloadKey` for `security.payloadKey`; `more`:
 * further options of `createWebhooks` (a ConfigError it throws comes out of this call).
 */
export async function createInstance(
  entry: StorageEntry,
  url: string,
  concurrency: number,
  payloadKey?: string,
  more: InstanceOptions = {},
): Promise<Instance> {
  const storage = await entry.create();
  try {
    // One receiver, compared with a bare loop of `concurrency` connections: let this one
    // subscription use every slot (the default caps a subscription at half of them, so
    // that one slow receiver cannot hold them all).
    const webhooks = createWebhooks({
      ...more,
      storage: storage.storage,
      security: { allowPrivateNetworks: true, ...(payloadKey === undefined ? {} : { payloadKey }) },
      concurrency,
      flowControl: { maxInFlightPerSubscription: concurrency },
    });
    // start() migrates and opens; stop() again so that publishes queue up until the trial starts.
    await webhooks.start();
    await webhooks.stop();
    await webhooks.subscriptions.create({ url, eventTypes: ['*'] });
    return {
      webhooks,
      storage,
      async close() {
        await webhooks.close().catch(() => undefined);
        await storage.dispose();
      },
    };
  } catch (error) {
    await storage.dispose().catch(() => undefined);
    throw error;
  }
}

/** `count` payment.succeeded data objects of 1 KB envelopes, built before any timing. */
export function dataObjects(count: number): Array<Record<string, unknown>> {
  const padding = paddingFor();
  return Array.from({ length: count }, (_, n) => paymentData(n, padding));
}

/** Publishes every item with at most `inFlight` publishes pending; returns the event ids. */
export async function publishAll(webhooks: Webhooks, data: ReadonlyArray<Record<string, unknown>>, inFlight: number): Promise<string[]> {
  const ids = new Array<string>(data.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, data.length) }, async () => {
      while (next < data.length) {
        const index = next++;
        const event = await webhooks.publish(eventType, data[index] as never);
        ids[index] = event.id;
      }
    }),
  );
  return ids;
}

/** Signed 1 KB bodies with the headers the dispatcher would send, for the bare loops. */
export function bareRequests(count: number): SignedSample[] {
  const samples = signedSamples(count, generateSecret(), Math.floor(Date.now() / 1000));
  for (const sample of samples) {
    sample.headers = {
      'content-type': 'application/json',
      'user-agent': 'bookkeeper-webhooks-bench',
      'webhook-id': sample.headers['webhook-id']!,
      'webhook-timestamp': sample.headers['webhook-timestamp']!,
      'webhook-signature': sample.headers['webhook-signature']!,
    };
  }
  return samples;
}

/**
 * The limit: `undici.request` over a Pool of `concurrency` connections, `concurrency`
 * loops posting the given requests. Returns the elapsed ms.
 */
export async function bareUndiciLoop(url: string, requests: readonly SignedSample[], concurrency: number): Promise<number> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1 });
  let next = 0;
  const start = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests.length) {
          const request = requests[next++]!;
          const response = await pool.request({ path: target.pathname, method: 'POST', headers: request.headers, body: request.body });
          await response.body.dump();
          if (response.statusCode >= 300) throw new Error(`receiver answered ${response.statusCode}`);
        }
      }),
    );
    return performance.now() - start;
  } finally {
    await pool.close();
  }
}

/** The peer: what a user would glue together — `concurrency` loops of `ky.post`. Returns the elapsed ms. */
export async function kyLoop(url: string, requests: readonly SignedSample[], concurrency: number): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const request = requests[next++]!;
        await ky.post(url, { headers: request.headers, body: request.body, retry: 0 });
      }
    }),
  );
  return performance.now() - start;
}
