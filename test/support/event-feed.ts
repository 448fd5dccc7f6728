/**
 * The event feed over real loopback HTTP for tests: a node:http server mounting
 * `createEventFeedHandler` through `toNodeHandler`, a consumer endpoint that can be down,
 * and a signed GET made by hand (to send a stale timestamp, a reused nonce, a wrong secret).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEventFeedHandler, toNodeHandler, type EventFeedOptions, type EventFeedPage, type EventFeedSource } from '../../src/index.js';
import { createNodeHandler, type DedupeStore, type WebhookEvent } from '../../src/receiver/index.js';
import { signFeedRequest } from '../../src/signing/feed-request.js';

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A feed served on 127.0.0.1 at `<origin>/feed/events`. */
export interface FeedServer {
  /** The events URL, for `pullMissed({ feedUrl })`. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startFeed(webhooks: EventFeedSource, options: EventFeedOptions = {}): Promise<FeedServer> {
  const server = createServer(toNodeHandler(createEventFeedHandler(webhooks, { basePath: '/feed', ...options })));
  const origin = await listen(server);
  return { url: `${origin}/feed/events`, close: () => close(server) };
}

/** A consumer's webhook endpoint: 503 while `down`, else the receiver's Node handler with the given dedupe store. */
export interface Consumer {
  readonly url: string;
  down: boolean;
  /** Requests that reached it, answered or not. */
  readonly arrived: string[];
  close(): Promise<void>;
}

export async function startConsumer(options: { secret: string; dedupe: DedupeStore; onEvent: (event: WebhookEvent) => unknown }): Promise<Consumer> {
  const handle = createNodeHandler({ secrets: options.secret, dedupe: options.dedupe, logger: false, onEvent: options.onEvent });
  const consumer = {
    url: '',
    down: true,
    arrived: [] as string[],
    close: async (): Promise<void> => undefined,
  };
  const server = createServer((req, res) => {
    consumer.arrived.push(String(req.headers['webhook-id']));
    if (consumer.down) {
      req.resume();
      res.writeHead(503).end();
      return;
    }
    handle(req, res);
  });
  consumer.url = `${await listen(server)}/webhooks`;
  consumer.close = () => close(server);
  return consumer;
}

/** What a hand-made feed request got. */
export interface FeedAnswer {
  status: number;
  body: EventFeedPage & { error?: string; field?: string };
}

/**
 * A GET of the feed signed by hand with `secret` as `subscriptionId`: `timestampSeconds` and
 * `id` (the nonce) as given, or now and a fresh one; `named` overrides the subscription header.
 */
export async function signedGet(
  url: string,
  options: { subscriptionId: string; secret: string; timestampSeconds?: number; id?: string; named?: string | null; query?: Record<string, string> },
): Promise<FeedAnswer> {
  const target = new URL(url);
  for (const [name, value] of Object.entries(options.query ?? {})) target.searchParams.set(name, value);
  const headers = await signFeedRequest({
    url: target,
    subscriptionId: options.subscriptionId,
    secret: options.secret,
    timestampSeconds: options.timestampSeconds ?? Math.floor(Date.now() / 1000),
    id: options.id ?? `feedreq_${crypto.randomUUID()}`,
  });
  if (options.named === null) delete headers['bookkeeper-subscription'];
  else if (options.named !== undefined) headers['bookkeeper-subscription'] = options.named;
  const response = await fetch(target, { headers });
  return { status: response.status, body: (await response.json()) as FeedAnswer['body'] };
}
