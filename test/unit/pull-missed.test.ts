/**
 * `pullMissed` against a scripted feed (an injected `fetch`): each request signed as the feed
 * checks it, pages walked while the feed has more, every event through the receiver's
 * verification and dedupe (a shared store makes pushed and pulled copies one), a page with
 * an event in flight read again next time, tombstones counted, events older than
 * `maxEventAgeSeconds` skipped to `onStale` and walked past, and each way the feed can
 * fail mapped to a `FeedError` code; its options refused with codes.
 */
import { describe, expect, it } from 'vitest';
import { generateSecret, signWebhook } from '../../src/index.js';
import { createMemoryDedupeStore, pullMissed, verifyWebhookSignature, type PullMissedOptions, type WebhookEvent } from '../../src/receiver/index.js';

const secret = generateSecret();
const feedUrl = 'https://bookkeeper.example/webhooks/feed/events';

/** An event of a feed page, signed with `key` now; `happenedAt` is its envelope `timestamp`. */
function item(n: number, key = secret, happenedAt = '2026-12-01T00:00:00.000Z') {
  const id = `evt_${n}`;
  const body = JSON.stringify({ id, type: 'payment.succeeded', timestamp: happenedAt, data: { paymentId: `pay_${n}` } });
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    id,
    type: 'payment.succeeded',
    timestamp: happenedAt,
    tenantId: null,
    body,
    headers: { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook({ id, timestamp, body, secrets: key }) },
    expungedAt: null,
  };
}

const tombstone = (n: number) => ({ ...item(n), body: null, headers: null, expungedAt: '2026-12-02T00:00:00.000Z' });

type Answer = { status?: number; body: unknown } | Error;

/** A fetch that answers the scripted pages in order, keeping each request. */
function scripted(...answers: Answer[]) {
  const requests: Array<{ url: URL; headers: Record<string, string>; redirect: RequestRedirect | undefined }> = [];
  const fetch = async (url: string, init: RequestInit) => {
    requests.push({ url: new URL(url), headers: init.headers as Record<string, string>, redirect: init.redirect });
    const answer = answers[requests.length - 1];
    if (answer === undefined) throw new Error('no more pages scripted');
    if (answer instanceof Error) throw answer;
    return new Response(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body), { status: answer.status ?? 200 });
  };
  return { fetch, requests };
}

// A store of each call's own: the tests are independent pulls (without one, the pulls of a
// subscription's feed share the process's store: tested below).
const base = (fetch: PullMissedOptions['fetch'], onEvent: (event: WebhookEvent) => unknown = () => undefined) => ({
  feedUrl,
  subscriptionId: 'sub_1',
  secret,
  fetch,
  onEvent,
  dedupe: createMemoryDedupeStore(),
});

describe('pullMissed', () => {
  it('signs every request with the subscription secret and walks the pages while the feed has more', async () => {
    const { fetch, requests } = scripted(
      { body: { data: [item(1), item(2)], next: 'c2', hasMore: true } },
      { body: { data: [item(3), tombstone(4)], next: 'c4', hasMore: false } },
    );
    const handled: string[] = [];
    const result = await pullMissed({
      ...base(fetch, (event) => void handled.push(event.id)),
      since: new Date(Date.UTC(2026, 11, 1)),
      types: ['payment.succeeded', 'payment.failed'],
      limit: 2,
      headers: { 'x-tenant': 'acme' },
    });
    expect(result).toEqual({ processed: 3, duplicates: 0, inFlight: 0, stale: 0, expunged: 1, next: 'c4' });
    expect(handled).toEqual(['evt_1', 'evt_2', 'evt_3']);
    expect(requests.map((request) => request.url.search)).toEqual([
      '?limit=2&types=payment.succeeded%2Cpayment.failed&since=1796083200000',
      '?after=c2&limit=2&types=payment.succeeded%2Cpayment.failed&since=1796083200000',
    ]);
    for (const request of requests) {
      expect(request.redirect).toBe('manual');
      expect(request.headers).toMatchObject({ 'bookkeeper-subscription': 'sub_1', 'x-tenant': 'acme', accept: 'application/json' });
      // The scheme the feed checks: Standard Webhooks over "GET <path>?<query>".
      const verified = verifyWebhookSignature({ body: `GET ${request.url.pathname}${request.url.search}`, headers: request.headers }, { secrets: secret });
      expect(verified.id).toMatch(/^feedreq_/);
    }
    expect(new Set(requests.map((request) => request.headers['webhook-id'])).size).toBe(2);
  });

  it('counts what a shared dedupe store saw as duplicates, and rereads a page whose event is in flight elsewhere', async () => {
    const dedupe = createMemoryDedupeStore();
    await dedupe.claim('evt_1', 60, 'push-1');
    await dedupe.complete('evt_1', 3_600, 'push-1');
    await dedupe.claim('evt_4', 60, 'push-4'); // a pushed copy being handled right now
    const { fetch } = scripted(
      { body: { data: [item(1), item(2)], next: 'c2', hasMore: true } },
      { body: { data: [item(3), item(4), item(5)], next: 'c5', hasMore: true } },
    );
    const handled: string[] = [];
    const result = await pullMissed({ ...base(fetch, (event) => void handled.push(event.id)), after: 'c0', dedupe });
    // The page with evt_4 is not passed: next time it is read again, from c2.
    expect(result).toEqual({ processed: 3, duplicates: 1, inFlight: 1, stale: 0, expunged: 0, next: 'c2' });
    expect(handled).toEqual(['evt_2', 'evt_3', 'evt_5']);

    await dedupe.complete('evt_4', 3_600, 'push-4');
    const again = scripted({ body: { data: [item(3), item(4), item(5)], next: 'c5', hasMore: false } });
    expect(await pullMissed({ ...base(again.fetch), after: result.next, dedupe })).toEqual({ processed: 0, duplicates: 3, inFlight: 0, stale: 0, expunged: 0, next: 'c5' });
    expect(again.requests[0]!.url.searchParams.get('after')).toBe('c2');
  });

  it('hands events older than maxEventAgeSeconds to onStale instead of onEvent, counts them stale and walks on past them', async () => {
    const dayMs = 86_400_000;
    const old = (n: number) => item(n, secret, new Date(Date.now() - 30 * dayMs).toISOString());
    const recent = (n: number) => item(n, secret, new Date(Date.now() - dayMs).toISOString());
    const dedupe = createMemoryDedupeStore();
    const { fetch, requests } = scripted(
      { body: { data: [old(1), recent(2)], next: 'c2', hasMore: true } },
      { body: { data: [old(3), old(4)], next: 'c4', hasMore: true } },
      { body: { data: [recent(5)], next: 'c5', hasMore: false } },
    );
    const handled: string[] = [];
    const stale: string[] = [];
    const result = await pullMissed({
      ...base(fetch, (event) => void handled.push(event.id)),
      dedupe,
      maxEventAgeSeconds: 7 * 86_400,
      onStale: (event) => void stale.push(event.id),
    });
    expect(result).toEqual({ processed: 2, duplicates: 0, inFlight: 0, stale: 3, expunged: 0, next: 'c5' });
    expect(handled).toEqual(['evt_2', 'evt_5']);
    expect(stale).toEqual(['evt_1', 'evt_3', 'evt_4']);
    expect(requests).toHaveLength(3);

    // Remembered like processed ones: pulled again, they are duplicates, and onStale is not asked twice.
    const again = scripted({ body: { data: [old(3), old(4), recent(5)], next: 'c5', hasMore: false } });
    const repeat = await pullMissed({ ...base(again.fetch), after: 'c2', dedupe, maxEventAgeSeconds: 7 * 86_400, onStale: (event) => void stale.push(event.id) });
    expect(repeat).toEqual({ processed: 0, duplicates: 3, inFlight: 0, stale: 0, expunged: 0, next: 'c5' });
    expect(stale).toEqual(['evt_1', 'evt_3', 'evt_4']);
  });

  it("stops at a stale event whose onStale throws, with its error, and releases the id so the next call asks onStale again", async () => {
    const dedupe = createMemoryDedupeStore();
    const old = item(1, secret, new Date(Date.now() - 30 * 86_400_000).toISOString());
    const page = { body: { data: [old, item(2, secret, new Date().toISOString())], next: 'c2', hasMore: false } };
    const handled: string[] = [];
    const refusal = new Error('review queue down');
    const refusing = { ...base(scripted(page).fetch, (event) => void handled.push(event.id)), dedupe, maxEventAgeSeconds: 86_400, onStale: () => Promise.reject(refusal) };
    await expect(pullMissed(refusing)).rejects.toBe(refusal);
    expect(handled).toEqual([]);
    const parked: string[] = [];
    const result = await pullMissed({ ...base(scripted(page).fetch, (event) => void handled.push(event.id)), dedupe, maxEventAgeSeconds: 86_400, onStale: (event) => void parked.push(event.id) });
    expect(result).toMatchObject({ processed: 1, stale: 1, next: 'c2' });
    expect(parked).toEqual(['evt_1']);
  });

  it('refuses a bad maxEventAgeSeconds, or onStale without it, with CONFIG_INVALID before any request', async () => {
    const { fetch, requests } = scripted();
    const refusal = (options: Record<string, unknown>) =>
      pullMissed({ ...base(fetch), ...options } as unknown as PullMissedOptions).then(
        () => 'pulled',
        (error: { code: string; field?: string }) => [error.code, error.field],
      );
    expect(await refusal({ maxEventAgeSeconds: 0 })).toEqual(['CONFIG_INVALID', 'maxEventAgeSeconds']);
    expect(await refusal({ onStale: () => undefined })).toEqual(['CONFIG_INVALID', 'maxEventAgeSeconds']);
    expect(await refusal({ maxEventAgeSeconds: 60, onStale: 'skip' })).toEqual(['CONFIG_INVALID', 'onStale']);
    expect(requests).toHaveLength(0);
  });

  it('keeps the cursor it was given when nothing is new, and null when it started without one', async () => {
    expect(await pullMissed({ ...base(scripted({ body: { data: [], next: null, hasMore: false } }).fetch), after: 'c9' })).toMatchObject({ next: 'c9' });
    expect(await pullMissed({ ...base(scripted({ body: { data: [], next: null, hasMore: false } }).fetch) })).toMatchObject({ next: null });
  });

  it('stops at an event whose signature does not verify, after handling the ones before it', async () => {
    const tampered = { ...item(2), body: item(2).body.replace('pay_2', 'pay_999') };
    const handled: string[] = [];
    const { fetch } = scripted({ body: { data: [item(1), tampered, item(3)], next: 'c3', hasMore: false } });
    await expect(pullMissed(base(fetch, (event) => void handled.push(event.id)))).rejects.toMatchObject({ name: 'SignatureVerificationError', code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    expect(handled).toEqual(['evt_1']);
    const other = scripted({ body: { data: [item(1, generateSecret())], next: 'c1', hasMore: false } });
    await expect(pullMissed(base(other.fetch))).rejects.toMatchObject({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
  });

  it('without a dedupe store, remembers what the pulls of one subscription and feed processed, per process', async () => {
    const page = { body: { data: [item(1), item(2)], next: 'c2', hasMore: false } };
    const { dedupe: _dedupe, ...noStore } = { ...base(scripted(page).fetch), subscriptionId: 'sub_default_store' };
    const pull = (options: Partial<PullMissedOptions>) => pullMissed({ ...noStore, fetch: scripted(page).fetch, ...options });
    // The feed serves young events again on the next pull: they are duplicates, not booked twice.
    expect(await pull({})).toMatchObject({ processed: 2, duplicates: 0 });
    expect(await pull({})).toMatchObject({ processed: 0, duplicates: 2 });
    // Another subscription's pulls, or the same one's from another feed URL, have a store of their own.
    expect(await pull({ subscriptionId: 'sub_default_store_2' })).toMatchObject({ processed: 2 });
    expect(await pull({ feedUrl: `${feedUrl}?copy` })).toMatchObject({ processed: 2 });
    // `false` turns dedupe off.
    expect(await pull({ dedupe: false })).toMatchObject({ processed: 2, duplicates: 0 });
  });

  it("passes on onEvent's error and releases the id, so the next call handles it", async () => {
    const dedupe = createMemoryDedupeStore();
    const page = { body: { data: [item(1)], next: 'c1', hasMore: false } };
    await expect(pullMissed({ ...base(scripted(page).fetch, () => Promise.reject(new Error('ledger locked'))), dedupe })).rejects.toThrow('ledger locked');
    expect(await pullMissed({ ...base(scripted(page).fetch), dedupe })).toMatchObject({ processed: 1 });
  });

  it('maps each way the feed fails to a FeedError code', async () => {
    const failure = async (answer: Answer) =>
      pullMissed(base(scripted(answer).fetch)).then(
        () => 'pulled',
        (error: { name: string; code: string; status: number | null; feedCode: string | null; retryable: boolean }) => [error.name, error.code, error.status, error.feedCode, error.retryable],
      );
    expect({
      refused: await failure({ status: 401, body: { error: 'WEBHOOK_NO_MATCHING_SIGNATURE' } }),
      badCursor: await failure({ status: 400, body: { error: 'CURSOR_INVALID', field: 'after' } }),
      redirected: await failure({ status: 302, body: '' }),
      down: await failure({ status: 503, body: 'Service Unavailable' }),
      throttled: await failure({ status: 429, body: { error: 'RATE_LIMITED' } }),
      unreachable: await failure(new TypeError('fetch failed')),
      notJson: await failure({ body: '<html>' }),
      notAPage: await failure({ body: { items: [] } }),
      badItem: await failure({ body: { data: [{ id: 1, body: 'x', headers: {} }], next: null, hasMore: false } }),
    }).toEqual({
      refused: ['FeedError', 'FEED_REFUSED', 401, 'WEBHOOK_NO_MATCHING_SIGNATURE', false],
      badCursor: ['FeedError', 'FEED_REFUSED', 400, 'CURSOR_INVALID', false],
      redirected: ['FeedError', 'FEED_REFUSED', 302, null, false],
      down: ['FeedError', 'FEED_UNAVAILABLE', 503, null, true],
      throttled: ['FeedError', 'FEED_UNAVAILABLE', 429, 'RATE_LIMITED', true],
      unreachable: ['FeedError', 'FEED_UNAVAILABLE', null, null, true],
      notJson: ['FeedError', 'FEED_RESPONSE_INVALID', 200, null, false],
      notAPage: ['FeedError', 'FEED_RESPONSE_INVALID', 200, null, false],
      badItem: ['FeedError', 'FEED_RESPONSE_INVALID', 200, null, false],
    });
  });

  it("says what feedUrl is when the feed answers 404 (its base path given for its events URL)", async () => {
    const error = await pullMissed(base(scripted({ status: 404, body: { error: 'NOT_FOUND' } }).fetch)).catch((caught: Error) => caught);
    expect(error).toMatchObject({ name: 'FeedError', code: 'FEED_REFUSED', status: 404, feedCode: 'NOT_FOUND' });
    expect((error as Error).message).toMatch(/feedUrl is the feed's events URL, its basePath \+ "\/events"$/);
  });

  it('refuses bad options with codes, before any request', async () => {
    const { fetch, requests } = scripted();
    const refusal = (options: Record<string, unknown>) =>
      pullMissed({ ...base(fetch), ...options } as unknown as PullMissedOptions).then(
        () => 'pulled',
        (error: { code: string; field?: string }) => [error.code, error.field],
      );
    expect({
      unknown: await refusal({ cursor: 'c1' }),
      feedUrl: await refusal({ feedUrl: '/feed/events' }),
      protocol: await refusal({ feedUrl: 'ftp://bookkeeper.example/events' }),
      subscriptionId: await refusal({ subscriptionId: '' }),
      secret: await refusal({ secret: 'not-a-secret' }),
      noSecret: await refusal({ secret: [] }),
      after: await refusal({ after: 42 }),
      since: await refusal({ since: new Date('nope') }),
      types: await refusal({ types: [] }),
      limit: await refusal({ limit: 0 }),
      onEvent: await refusal({ onEvent: undefined }),
      fetch: await refusal({ fetch: 'fetch' }),
    }).toEqual({
      unknown: ['CONFIG_INVALID', 'cursor'],
      feedUrl: ['CONFIG_INVALID', 'feedUrl'],
      protocol: ['CONFIG_INVALID', 'feedUrl'],
      subscriptionId: ['CONFIG_INVALID', 'subscriptionId'],
      secret: ['SECRET_INVALID', 'secret'],
      noSecret: ['SECRET_INVALID', 'secret'],
      after: ['CONFIG_INVALID', 'after'],
      since: ['CONFIG_INVALID', 'since'],
      types: ['CONFIG_INVALID', 'types'],
      limit: ['CONFIG_INVALID', 'limit'],
      onEvent: ['CONFIG_INVALID', 'onEvent'],
      fetch: ['CONFIG_INVALID', 'fetch'],
    });
    expect(requests).toHaveLength(0);
  });
});
