/**
 * The event feed (`createEventFeedHandler`) and its consumer (`pullMissed`) attacked by a
 * hostile or careless puller, over real loopback HTTP and real storages: a slow consumer
 * whose page outlives the signature tolerance; one tenant's consumer flooding the feed's
 * nonce memory to reopen another's captured requests, or filling it with long nonces;
 * refusals that name the parameter the consumer sent; a `since` whose instant depended on
 * the server's time zone; options no retry mends reported as retryable; and, on PostgreSQL,
 * a host transaction that commits after later events were pulled.
 */
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEventFeedHandler, createWebhooks, toNodeHandler, type Webhooks } from '../../src/index.js';
import { createMemoryDedupeStore, pullMissed, type WebhookEvent } from '../../src/receiver/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { closeWithConnections } from '../support/close-with-connections.js';
import { startFeed, signedGet } from '../support/event-feed.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { testDatabaseUrl } from '../support/postgres.js';
import { samplePayment } from '../support/sample-payment.js';

const cleanups = registerCleanups();
afterEach(() => {
  vi.useRealTimers();
});

describe.each(storageKinds)('pulling the event feed on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'attack-feed');

  it('hands a slow consumer every event of a page, though handling it takes longer than the signature tolerance', async () => {
    const webhooks = env.instance();
    const subscription = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const published: string[] = [];
    for (let n = 1; n <= 3; n++) published.push((await webhooks.publish('payment.succeeded', samplePayment(n))).id);
    const feed = await startFeed(webhooks, { settleMs: 0 });
    cleanups.push(() => feed.close());
    // Only Date is faked: each booking "takes" 200 s of the wall clock (an ERP call), so the
    // third event of the page is handled 400 s after the feed signed it (tolerance: 300 s).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now());
    const booked: string[] = [];
    const onEvent = (event: WebhookEvent) => {
      booked.push(event.id);
      vi.setSystemTime(Date.now() + 200_000);
    };
    const result = await pullMissed({ feedUrl: feed.url, subscriptionId: subscription.id, secret: subscription.secret, dedupe: createMemoryDedupeStore(), onEvent });
    expect(booked).toEqual(published);
    expect(result).toMatchObject({ processed: 3, duplicates: 0 });
    expect(result.next).not.toBeNull();
  });
});

/** The headers of a feed request signed with `secret`, with node:crypto (a flood signs fast). */
function signedHeaders(url: URL, subscriptionId: string, secret: string, nonce: string, timestampSeconds: number): Record<string, string> {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signature = createHmac('sha256', key).update(`${nonce}.${timestampSeconds}.GET ${url.pathname}${url.search}`).digest('base64');
  return { 'webhook-id': nonce, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': `v1,${signature}`, 'bookkeeper-subscription': subscriptionId };
}

describe('the feed’s replay protection', () => {
  const instances: Webhooks[] = [];
  afterEach(async () => {
    for (const webhooks of instances.splice(0)) await webhooks.close();
  });

  it('keeps refusing a captured request of one subscription while another subscription’s consumer floods the feed with requests', async () => {
    const webhooks = createWebhooks({ meter: false });
    instances.push(webhooks);
    const victim = await webhooks.subscriptions.create({ url: 'https://erp.victim.example/hooks', eventTypes: ['payment.*'], tenantId: 'victim' });
    const flooder = await webhooks.subscriptions.create({ url: 'https://erp.flooder.example/hooks', eventTypes: ['payment.*'], tenantId: 'flooder' });
    await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'victim' });
    // One feed: served over loopback HTTP to the victim, and called directly by the flood (fast).
    const handler = createEventFeedHandler(webhooks, { basePath: '/feed' });
    const server = createServer(toNodeHandler(handler));
    cleanups.push(closeWithConnections(server));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const feed = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed/events` };
    const now = Math.floor(Date.now() / 1000);

    // The victim's consumer pulls; an eavesdropper keeps its request (a proxy log, a packet capture).
    const captured = { id: 'feedreq_captured', timestampSeconds: now };
    const genuine = await signedGet(feed.url, { subscriptionId: victim.id, secret: victim.secret, ...captured });
    expect([genuine.status, genuine.body.data.length]).toEqual([200, 1]);

    // Another tenant's consumer, holding only its own secret, signs requests as fast as it can,
    // each of them authentic (it gets a 400 for the query, after its nonce is used up).
    const url = new URL('http://feed.example/feed/events?flood=1');
    for (let i = 0; i < 100_001; i++) {
      const response = await handler(new Request(url, { headers: signedHeaders(url, flooder.id, flooder.secret, `feedreq_${i}`, now) }));
      if (i === 0) expect(response.status).toBe(400);
    }

    // The captured request sent again within the window is still a replay, and the flood's own first nonces are
    // what made room: its own replays go through, which gives it nothing it could not sign itself.
    const replayed = await signedGet(feed.url, { subscriptionId: victim.id, secret: victim.secret, ...captured });
    expect([replayed.status, replayed.body.error]).toEqual([401, 'FEED_REQUEST_REPLAYED']);
    const ownFirst = await handler(new Request(url, { headers: signedHeaders(url, flooder.id, flooder.secret, 'feedreq_0', now) }));
    expect(ownFirst.status).toBe(400);
    const ownLast = await handler(new Request(url, { headers: signedHeaders(url, flooder.id, flooder.secret, 'feedreq_100000', now) }));
    expect([ownLast.status, await ownLast.json()]).toEqual([401, { error: 'FEED_REQUEST_REPLAYED' }]);
  }, 60_000);
});

/** A full garbage collection (the flag is set for this process, then `gc` is taken from a new context). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('the feed’s nonce memory', () => {
  const instances: Webhooks[] = [];
  afterEach(async () => {
    for (const webhooks of instances.splice(0)) await webhooks.close();
  });

  it('keeps what a consumer’s long nonces cost the sender’s memory small', async () => {
    const webhooks = createWebhooks({ meter: false });
    instances.push(webhooks);
    const consumer = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    const handler = createEventFeedHandler(webhooks, { basePath: '/feed' });
    const url = new URL('http://feed.example/feed/events?flood=1');
    const now = Math.floor(Date.now() / 1000);
    // Each nonce just under what Node's 16 KiB of headers lets through.
    const padding = 'n'.repeat(15_000);
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 3_000; i++) {
      const response = await handler(new Request(url, { headers: signedHeaders(url, consumer.id, consumer.secret, `${i}_${padding}`, now) }));
      if (i === 0) expect(response.status).toBe(400);
    }
    collectGarbage();
    const grown = process.memoryUsage().heapUsed - before;
    // Kept whole, the 3,000 nonces would hold 45 MB; as digests, well under 1 MB.
    expect(grown).toBeLessThan(15_000_000);
    // Each is still remembered: a long nonce used again is a replay.
    const again = await handler(new Request(url, { headers: signedHeaders(url, consumer.id, consumer.secret, `0_${padding}`, now) }));
    expect([again.status, await again.json()]).toEqual([401, { error: 'FEED_REQUEST_REPLAYED' }]);
  });
});

describe('what the feed answers a careless puller', () => {
  const instances: Webhooks[] = [];
  afterEach(async () => {
    for (const webhooks of instances.splice(0)) await webhooks.close();
  });

  async function withFeed() {
    const webhooks = createWebhooks({ meter: false });
    instances.push(webhooks);
    const subscription = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    const feed = await startFeed(webhooks, { settleMs: 0 });
    cleanups.push(() => feed.close());
    const get = (query: Record<string, string>) => signedGet(feed.url, { subscriptionId: subscription.id, secret: subscription.secret, query });
    return { webhooks, subscription, get };
  }

  it('names `after`, the parameter the puller sent, in the field and the message of a bad cursor', async () => {
    const { webhooks, get } = await withFeed();
    const published = await webhooks.publish('payment.succeeded', samplePayment(1));
    const [delivery] = (await webhooks.deliveries.list()).items;
    const deliveriesCursor = Buffer.from(`d:${delivery!.id}`).toString('base64url');
    for (const after of ['', deliveriesCursor, 'A'.repeat(1001)]) {
      const answer = await get({ after });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ field: 'after' });
      const { message } = answer.body as unknown as { message: string };
      expect(message).toContain('`after`');
      expect(message).not.toContain('`cursor`');
    }
    // A cursor of the feed itself is read.
    expect((await get({ after: Buffer.from(`f:${published.id}`).toString('base64url') })).status).toBe(200);
  });

  it('tells onError of every answer but a 200, a wrong method or path included, with its status and code', async () => {
    const webhooks = createWebhooks({ meter: false });
    instances.push(webhooks);
    const seen: Array<[number, string, string]> = [];
    const feed = await startFeed(webhooks, {
      onError: (error, request) => void seen.push([(error as { status: number }).status, (error as { code: string }).code, `${request.method} ${new URL(request.url).pathname}`]),
    });
    cleanups.push(() => feed.close());
    const origin = new URL(feed.url).origin;
    const answers = [
      await fetch(feed.url, { method: 'POST', body: '{}' }),
      await fetch(feed.url, { method: 'DELETE' }),
      await fetch(`${origin}/feed/events/`),
      await fetch(`${origin}/admin`),
      await fetch(feed.url),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([405, 405, 404, 404, 401]);
    expect(seen).toEqual([
      [405, 'METHOD_NOT_ALLOWED', 'POST /feed/events'],
      [405, 'METHOD_NOT_ALLOWED', 'DELETE /feed/events'],
      [404, 'NOT_FOUND', 'GET /feed/events/'],
      [404, 'NOT_FOUND', 'GET /admin'],
      [401, 'WEBHOOK_MISSING_HEADER', 'GET /feed/events'],
    ]);
  });

  it('refuses a `since` whose instant depends on the server (no offset) or that names no day (February 30), and says how to send a `+`', async () => {
    const { webhooks, get } = await withFeed();
    const published = await webhooks.publish('payment.succeeded', samplePayment(1));
    const at = new Date(Date.now() - 3_600_000);
    const refused = {
      noOffset: await get({ since: at.toISOString().slice(0, 19) }),
      february30: await get({ since: '2026-02-30T00:00:00Z' }),
      hour25: await get({ since: '2026-02-03T25:00:00Z' }),
      plusAsSpace: await get({ since: `${at.toISOString().slice(0, 19)} 00:00` }),
    };
    for (const answer of Object.values(refused)) expect([answer.status, answer.body.error, answer.body.field]).toEqual([400, 'INPUT_INVALID', 'since']);
    expect((refused.plusAsSpace.body as unknown as { message: string }).message).toContain('%2B');
    // With an offset, or as epoch milliseconds: served.
    // (Python's `isoformat()` writes microseconds.)
    for (const since of [at.toISOString(), `${at.toISOString().slice(0, 19)}+00:00`, `${at.toISOString().slice(0, 19)}.123456+00:00`, String(at.getTime())]) {
      const answer = await get({ since });
      expect([answer.status, answer.body.data.map((item) => item.id)]).toEqual([200, [published.id]]);
    }
  });
});

describe('pullMissed given options no retry mends', () => {
  it('refuses credentials in feedUrl and headers fetch cannot send with CONFIG_INVALID, before any request and without echoing them', async () => {
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      res.writeHead(500).end();
    });
    cleanups.push(closeWithConnections(server));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const origin = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const secret = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
    const pull = (options: Record<string, unknown>) =>
      pullMissed({ feedUrl: `http://${origin}/feed/events`, subscriptionId: 'sub_1', secret, onEvent: () => undefined, timeoutMs: 2_000, ...options }).then(
        () => 'resolved',
        (error: { name: string; code: string; field?: string; message: string }) => [error.name, error.code, error.field, error.message.includes('s3cr3t')],
      );
    expect({
      credentials: await pull({ feedUrl: `http://erp:s3cr3t@${origin}/feed/events` }),
      headerName: await pull({ headers: { 'x api key': 's3cr3t' } }),
      lineBreak: await pull({ headers: { authorization: 'Bearer s3cr3t\r\nx-injected: 1' } }),
      notAString: await pull({ headers: { 'x-api-key': 12345 } }),
      anArray: await pull({ headers: ['authorization: s3cr3t'] }),
    }).toEqual({
      credentials: ['ConfigError', 'CONFIG_INVALID', 'feedUrl', false],
      headerName: ['ConfigError', 'CONFIG_INVALID', 'headers.x api key', false],
      lineBreak: ['ConfigError', 'CONFIG_INVALID', 'headers.authorization', false],
      notAString: ['ConfigError', 'CONFIG_INVALID', 'headers.x-api-key', false],
      anArray: ['ConfigError', 'CONFIG_INVALID', 'headers', false],
    });
    expect(requests).toBe(0);
    // A good header goes with every request (the feed's 500 is then the feed's: retryable).
    await expect(pullMissed({ feedUrl: `http://${origin}/feed/events`, subscriptionId: 'sub_1', secret, onEvent: () => undefined, headers: { 'x-api-key': 'k' } })).rejects.toMatchObject({
      code: 'FEED_UNAVAILABLE',
      retryable: true,
    });
    expect(requests).toBe(1);
  });
});

describe('the feed beside a host transaction on PostgreSQL', () => {
  const env = useInstancesOnStorage('postgres', 'attack-feed-tx');

  it('serves an event whose host transaction commits after later events were pulled, within settleMs, and moves past it only then', async () => {
    const clock = new FakeClock(Date.now());
    const webhooks = env.instance({ clock });
    const subscription = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const feed = await startFeed(webhooks, { clock, settleMs: 60_000 });
    cleanups.push(() => feed.close());
    const booked: string[] = [];
    const dedupe = createMemoryDedupeStore();
    const pull = (after: string | null) => pullMissed({ feedUrl: feed.url, subscriptionId: subscription.id, secret: subscription.secret, after, dedupe, onEvent: (event) => void booked.push(event.id) });

    const client = new pg.Client({ connectionString: testDatabaseUrl() });
    await client.connect();
    cleanups.push(() => client.end());
    await client.query('BEGIN');
    // Its id is made now, before the events published after it: it sorts first, but commits last.
    const late = await webhooks.publish('payment.succeeded', samplePayment(1), { tx: client });
    await clock.advance(1_000);
    const early = await webhooks.publish('payment.succeeded', samplePayment(2));
    expect(late.id < early.id).toBe(true);

    // 30 s on, the consumer pulls: the committed event is served, the cursor stays put (it is young).
    await clock.advance(30_000);
    const first = await pull(null);
    expect([booked, first.next]).toEqual([[early.id], null]);
    await client.query('COMMIT');

    // Both settled now: the late commit is served, then the cursor moves past both.
    await clock.advance(31_000);
    const second = await pull(first.next);
    expect(booked).toEqual([early.id, late.id]);
    expect(second).toMatchObject({ processed: 1, duplicates: 1 });
    expect(second.next).not.toBeNull();
    const third = await pull(second.next);
    expect(third).toMatchObject({ processed: 0, duplicates: 0, next: second.next });
  });
});
