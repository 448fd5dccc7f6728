/**
 * `createEventFeedHandler` as a Fetch handler, on the memory storage: the page it answers
 * (`data`, `next`, `hasMore`, the page size capped), what it refuses and with which status
 * and code (method, path, query, host authentication, another subscription), a failing
 * storage answered 500 and logged without a secret, the signed-request scheme exactly as
 * documented (the nonce window, a secret of a rotation's overlap), and its options.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEventFeedHandler, createMemoryStorage, createWebhooks, signWebhook, type StorageAdapter, type Webhooks } from '../../src/index.js';
import { createMemoryDedupeStore, type DedupeStore } from '../../src/receiver/index.js';
import { signFeedRequest } from '../../src/signing/feed-request.js';
import { FakeClock } from '../support/fake-clock.js';
import { recordingLogger } from '../support/recording-logger.js';
import { samplePayment } from '../support/sample-payment.js';

const instances: Webhooks[] = [];
afterEach(async () => {
  for (const webhooks of instances.splice(0)) await webhooks.close();
});

async function setup(storage: StorageAdapter = createMemoryStorage()) {
  const clock = new FakeClock();
  const webhooks = createWebhooks({ storage, clock, meter: false });
  instances.push(webhooks);
  const subscription = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
  return { webhooks, clock, subscription };
}

const origin = 'https://bookkeeper.example';

async function signed(path: string, as: { id: string; secret: string }, clock: { now(): number }, init: { nonce?: string; method?: string } = {}): Promise<Request> {
  const url = new URL(path, origin);
  const headers = await signFeedRequest({
    url,
    method: init.method ?? 'GET',
    subscriptionId: as.id,
    secret: as.secret,
    timestampSeconds: Math.floor(clock.now() / 1000),
    id: init.nonce ?? `feedreq_${crypto.randomUUID()}`,
  });
  return new Request(url, { method: init.method ?? 'GET', headers });
}

async function answer(response: Response): Promise<[number, Record<string, unknown>]> {
  return [response.status, (await response.json()) as Record<string, unknown>];
}

describe('createEventFeedHandler', () => {
  it('answers a page of signed events with the cursor to come back from, capping the page at maxPageSize', async () => {
    const { webhooks, clock, subscription } = await setup();
    const ids: string[] = [];
    for (let n = 1; n <= 3; n++) {
      ids.push((await webhooks.publish('payment.succeeded', samplePayment(n))).id);
      await clock.advance(1);
    }
    // settleMs 0: every event counts as settled at once (the cursor's hold on young ones has its own test).
    const feed = createEventFeedHandler(webhooks, { basePath: '/webhooks/feed/', maxPageSize: 2, clock, settleMs: 0 });

    const [status, first] = await answer(await feed(await signed('/webhooks/feed/events?limit=50', subscription, clock)));
    expect(status).toBe(200);
    expect((first.data as Array<{ id: string }>).map((item) => item.id)).toEqual(ids.slice(0, 2));
    expect(first.hasMore).toBe(true);
    const [item] = first.data as Array<Record<string, unknown>>;
    expect(Object.keys(item!)).toEqual(['id', 'type', 'timestamp', 'tenantId', 'body', 'headers', 'expungedAt']);
    expect(item).toMatchObject({ type: 'payment.succeeded', timestamp: new Date(clock.now() - 3).toISOString(), tenantId: null, expungedAt: null });
    const headers = item!.headers as Record<string, string>;
    expect(headers['webhook-signature']).toBe(signWebhook({ id: ids[0]!, timestamp: Number(headers['webhook-timestamp']), body: item!.body as string, secrets: subscription.secret }));

    const [, second] = await answer(await feed(await signed(`/webhooks/feed/events?after=${first.next as string}`, subscription, clock)));
    expect((second.data as Array<{ id: string }>).map((entry) => entry.id)).toEqual([ids[2]]);
    // The last page still says where to come back from, for what is published later.
    expect(second).toMatchObject({ hasMore: false, next: expect.any(String) });
    const [, empty] = await answer(await feed(await signed(`/webhooks/feed/events?after=${second.next as string}`, subscription, clock)));
    expect(empty).toEqual({ data: [], next: null, hasMore: false });
    const later = await webhooks.publish('payment.succeeded', samplePayment(4));
    const [, fresh] = await answer(await feed(await signed(`/webhooks/feed/events?after=${second.next as string}`, subscription, clock)));
    expect((fresh.data as Array<{ id: string }>).map((entry) => entry.id)).toEqual([later.id]);
  });

  it('serves young events at once but moves its cursor only past events older than settleMs, so a late commit is not skipped', async () => {
    const { webhooks, clock, subscription } = await setup();
    const old = await webhooks.publish('payment.succeeded', samplePayment(1));
    await clock.advance(10_000);
    const young = await webhooks.publish('payment.succeeded', samplePayment(2));
    const feed = createEventFeedHandler(webhooks, { clock, settleMs: 5_000, maxPageSize: 1 });

    const [, first] = await answer(await feed(await signed('/events', subscription, clock)));
    expect(first).toMatchObject({ data: [{ id: old.id }], next: expect.any(String), hasMore: true });
    const [, second] = await answer(await feed(await signed(`/events?after=${first.next as string}`, subscription, clock)));
    // Served, yet not passed: no more pages now, and no cursor past it.
    expect(second).toMatchObject({ data: [{ id: young.id }], next: null, hasMore: false });
    await clock.advance(5_000);
    const [, settled] = await answer(await feed(await signed(`/events?after=${first.next as string}`, subscription, clock)));
    expect(settled).toMatchObject({ data: [{ id: young.id }], next: expect.any(String), hasMore: false });
    expect(settled.next).not.toBe(first.next);
    expect(() => createEventFeedHandler(webhooks, { settleMs: -1 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('refuses other methods, other paths and malformed queries with their status and code', async () => {
    const { webhooks, clock, subscription } = await setup();
    const feed = createEventFeedHandler(webhooks, { clock });
    const post = await feed(await signed('/events', subscription, clock, { method: 'POST' }));
    expect([post.status, post.headers.get('allow'), await post.json()]).toEqual([405, 'GET', { error: 'METHOD_NOT_ALLOWED' }]);
    expect(await answer(await feed(await signed('/other', subscription, clock)))).toEqual([404, { error: 'NOT_FOUND' }]);

    const refused = async (query: string) => {
      const [status, body] = await answer(await feed(await signed(`/events?${query}`, subscription, clock)));
      return [status, body.error, body.field];
    };
    expect({
      unknownParameter: await refused('cursor=abc'),
      limitZero: await refused('limit=0'),
      limitText: await refused('limit=ten'),
      twice: await refused('after=a&after=b'),
      since: await refused('since=yesterday'),
      cursor: await refused('after=not-a-cursor'),
      wildcard: await refused('types=payment.*'),
    }).toEqual({
      unknownParameter: [400, 'INPUT_INVALID', 'cursor'],
      limitZero: [400, 'INPUT_INVALID', 'limit'],
      limitText: [400, 'INPUT_INVALID', 'limit'],
      twice: [400, 'INPUT_INVALID', 'after'],
      since: [400, 'INPUT_INVALID', 'since'],
      cursor: [400, 'CURSOR_INVALID', 'after'],
      wildcard: [400, 'INPUT_INVALID', 'types.0'],
    });
    const [, body] = await answer(await feed(await signed('/events?limit=0', subscription, clock)));
    expect(body.message).toEqual(expect.stringContaining('limit'));
  });

  it('accepts since as epoch milliseconds or ISO 8601, and types as a comma-separated list', async () => {
    const { webhooks, clock, subscription } = await setup();
    const succeeded = await webhooks.publish('payment.succeeded', samplePayment(1));
    await clock.advance(1_000);
    const { paymentId, customerId, amount, occurredAt } = samplePayment(2);
    const failed = await webhooks.publish('payment.failed', { paymentId, customerId, amount, occurredAt, failureCode: 'card_declined' });
    const feed = createEventFeedHandler(webhooks, { clock });
    const ids = async (query: string) => {
      const [, body] = await answer(await feed(await signed(`/events?${query}`, subscription, clock)));
      return (body.data as Array<{ id: string }>).map((item) => item.id);
    };
    expect(await ids(`since=${clock.now()}`)).toEqual([failed.id]);
    expect(await ids(`since=${encodeURIComponent(new Date(clock.now()).toISOString())}`)).toEqual([failed.id]);
    expect(await ids('types=payment.failed')).toEqual([failed.id]);
    expect(await ids('types=payment.failed,payment.succeeded')).toEqual([succeeded.id, failed.id]);
    expect(await ids('types=payment.failed&types=payment.succeeded')).toEqual([succeeded.id, failed.id]);
  });

  it('with a host authenticate callback: 401 for no one, 403 for a request naming another subscription or one that is gone', async () => {
    const { webhooks, subscription } = await setup();
    const other = await webhooks.subscriptions.create({ url: 'https://erp.example.com/other', eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    const keys: Record<string, string> = { 'key-a': subscription.id, 'key-other': other.id, 'key-gone': 'sub_gone' };
    const feed = createEventFeedHandler(webhooks, {
      authenticate: async (request) => {
        const key = request.headers.get('authorization')?.replace('Bearer ', '') ?? '';
        return key in keys ? { subscriptionId: keys[key]! } : null;
      },
    });
    const get = (key: string, headers: Record<string, string> = {}) => feed(new Request(`${origin}/events`, { headers: { authorization: `Bearer ${key}`, ...headers } }));

    const [status, page] = await answer(await get('key-a'));
    expect([status, (page.data as unknown[]).length]).toEqual([200, 1]);
    expect(await answer(await get('nobody'))).toEqual([401, { error: 'FEED_UNAUTHORIZED' }]);
    const [forbidden, body] = await answer(await get('key-a', { 'bookkeeper-subscription': other.id }));
    expect([forbidden, body.error]).toEqual([403, 'FEED_FORBIDDEN']);
    expect((await get('key-a', { 'bookkeeper-subscription': subscription.id })).status).toBe(200);
    const [missing, gone] = await answer(await get('key-gone'));
    expect([missing, gone.error]).toEqual([403, 'SUBSCRIPTION_NOT_FOUND']);
    await webhooks.subscriptions.delete(other.id);
    const [deleted, deletedBody] = await answer(await get('key-other'));
    expect([deleted, deletedBody.error]).toEqual([403, 'SUBSCRIPTION_DELETED']);
  });

  it('serves a disabled subscription (an endpoint disabled by an outage catches up), and refuses a deleted one', async () => {
    const { webhooks, clock, subscription } = await setup();
    await webhooks.publish('payment.succeeded', samplePayment(1));
    const feed = createEventFeedHandler(webhooks, { clock });
    await webhooks.subscriptions.disable(subscription.id, { reason: 'failing for 5 days' });
    const [status, page] = await answer(await feed(await signed('/events', subscription, clock)));
    expect([status, (page.data as unknown[]).length]).toEqual([200, 1]);
    await webhooks.subscriptions.delete(subscription.id);
    const [deleted, body] = await answer(await feed(await signed('/events', subscription, clock)));
    expect([deleted, body.error]).toEqual([403, 'SUBSCRIPTION_DELETED']);
    await webhooks.subscriptions.delete(subscription.id, { hard: true });
    expect(await answer(await feed(await signed('/events', subscription, clock)))).toEqual([401, { error: 'WEBHOOK_NO_MATCHING_SIGNATURE' }]);
  });

  it('answers 500 when the storage fails, logging the error but no secret, and tells onError', async () => {
    const memory = createMemoryStorage();
    const storage = new Proxy(memory, {
      get(target, property, receiver) {
        if (property === 'listEvents') return async () => Promise.reject(new Error('disk on fire'));
        return Reflect.get(target, property, receiver);
      },
    });
    const { webhooks, clock, subscription } = await setup(storage);
    const { logger, errors, lines } = recordingLogger();
    const seen: unknown[] = [];
    const feed = createEventFeedHandler(webhooks, { clock, logger, onError: (error) => seen.push(error) });
    expect(await answer(await feed(await signed('/events', subscription, clock)))).toEqual([500, { error: 'INTERNAL_ERROR' }]);
    expect(errors).toHaveLength(1);
    expect((errors[0]!.fields.err as Error).message).toBe('disk on fire');
    expect(seen).toHaveLength(1);
    const request = await signed('/events', subscription, clock);
    expect(JSON.stringify(lines)).not.toContain(subscription.secret.slice('whsec_'.length));
    expect(JSON.stringify(lines)).not.toContain(request.headers.get('webhook-signature'));
  });

  it('checks the documented scheme: HMAC of "id.timestamp.GET path?query", a nonce remembered for twice the tolerance, any secret of a rotation', async () => {
    const { webhooks, clock, subscription } = await setup();
    const claims: Array<[string, number]> = [];
    const store = createMemoryDedupeStore({ clock });
    const nonces: DedupeStore = { ...store, claim: (id, leaseSeconds, token) => (claims.push([id, leaseSeconds]), store.claim(id, leaseSeconds, token)) };
    const feed = createEventFeedHandler(webhooks, { clock, nonces, toleranceSeconds: 60 });
    const timestamp = Math.floor(clock.now() / 1000);
    // Signed with the public signWebhook, as any Standard Webhooks library would.
    const byHand = (nonce: string, path: string, secret = subscription.secret) =>
      new Request(`${origin}${path}`, {
        headers: {
          'webhook-id': nonce,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook({ id: nonce, timestamp, body: `GET ${path}`, secrets: secret }),
          'bookkeeper-subscription': subscription.id,
        },
      });
    expect((await feed(byHand('n1', '/events?limit=5'))).status).toBe(200);
    expect(claims).toEqual([[`${subscription.id}\nn1`, 120]]);
    // The query is covered: the same signature on another query fails.
    const tampered = byHand('n2', '/events?limit=5');
    const moved = new Request(`${origin}/events?limit=6`, { headers: tampered.headers });
    expect(await answer(await feed(moved))).toEqual([401, { error: 'WEBHOOK_NO_MATCHING_SIGNATURE' }]);
    expect(await answer(await feed(byHand('n1', '/events?limit=5')))).toEqual([401, { error: 'FEED_REQUEST_REPLAYED' }]);
    // Past twice the tolerance the nonce is forgotten, and the timestamp is stale by then.
    await clock.advance(121_000);
    expect(await answer(await feed(byHand('n1', '/events?limit=5')))).toEqual([401, { error: 'WEBHOOK_TIMESTAMP_TOO_OLD' }]);

    const rotated = await webhooks.subscriptions.rotateSecret(subscription.id, { overlapMs: 3_600_000 });
    const fresh = (secret: string, nonce: string) => signed('/events', { id: subscription.id, secret }, clock, { nonce });
    expect((await feed(await fresh(subscription.secret, 'old'))).status).toBe(200);
    expect((await feed(await fresh(rotated.secret, 'new'))).status).toBe(200);
    await clock.advance(3_600_000);
    expect(await answer(await feed(await fresh(subscription.secret, 'old-again')))).toEqual([401, { error: 'WEBHOOK_NO_MATCHING_SIGNATURE' }]);
  });

  it('refuses bad options with CONFIG_INVALID', () => {
    const webhooks = createWebhooks({ meter: false });
    instances.push(webhooks);
    const refusal = (options: unknown, ...extra: unknown[]) => {
      try {
        (createEventFeedHandler as (...args: unknown[]) => unknown)(webhooks, options, ...extra);
        return 'created';
      } catch (error) {
        return [(error as { code: string }).code, (error as { field?: string }).field];
      }
    };
    expect({
      unknown: refusal({ basepath: '/feed' }),
      basePath: refusal({ basePath: 'feed' }),
      maxPageSize: refusal({ maxPageSize: 0 }),
      authenticate: refusal({ authenticate: 'yes' }),
      nonces: refusal({ nonces: {} }),
      extraArgument: refusal({}, { basePath: '/feed' }),
    }).toEqual({
      unknown: ['CONFIG_INVALID', 'basepath'],
      basePath: ['CONFIG_INVALID', 'basePath'],
      maxPageSize: ['CONFIG_INVALID', 'maxPageSize'],
      authenticate: ['CONFIG_INVALID', 'authenticate'],
      nonces: ['CONFIG_INVALID', 'nonces'],
      extraArgument: ['CONFIG_INVALID', undefined],
    });
  });
});
