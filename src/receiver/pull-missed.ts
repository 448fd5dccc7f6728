/**
 * `pullMissed`: the consumer's side of the event feed. After an outage it walks the sender's
 * feed (`createEventFeedHandler`) from where it stopped, and hands every event through the
 * same verification, dedupe store and handler as the pushed ones: an event pulled now and
 * pushed again later by the sender's retries is booked once.
 *
 * Runtime-neutral: global `fetch` (or an injected one) and Web Crypto.
 */
import { ConfigError, FeedError, closestName, describeValue } from '../errors.js';
import { signFeedRequest } from '../signing/feed-request.js';
import { keyBytes } from '../signing/secret.js';
import { PUBLIC_KEY_PREFIX, SECRET_KEY_PREFIX, publicKeyBytes, secretKeyGivenToVerifier } from '../signing/signing-key.js';
import type { WebhookEvent } from '../signing/verify-signature.js';
import { createMemoryDedupeStore, type DedupeStore } from './dedupe-store.js';
import { readCappedStream } from './web-handler.js';
import { receiverKeys, receiverSteps, requireFunction, type ReceiverOptions, type WebhookReceiverOptions } from './webhook-receiver.js';

/** Options of {@link pullMissed}. */
export interface PullMissedOptions<TEvent extends WebhookEvent = WebhookEvent> extends Omit<ReceiverOptions, 'secrets'> {
  /** The feed's events URL: `https://<host><basePath>/events`, as the sender publishes it. */
  feedUrl: string | URL;
  /** The subscription whose events to pull: the sender gave you its id with the secret. */
  subscriptionId: string;
  /**
   * The subscription's `whsec_…` secret; during a rotation several (the first signs the
   * requests, any of them verifies the events). For a `v1a` subscription its `whpk_…` public
   * key: it verifies the events but cannot sign a request, so the requests go unsigned and
   * the sender's feed must authenticate them otherwise (its `authenticate`, reading what you
   * pass in `headers`).
   */
  secret: string | readonly string[];
  /**
   * Where to go on from: the `next` a previous call returned. Without it, the walk starts at
   * `since` (or at the oldest event the sender keeps).
   */
  after?: string | null;
  /** Only events published at or after this time (Date or epoch ms). */
  since?: Date | number;
  /** Only these event types (exact names, among those the subscription receives). */
  types?: readonly string[];
  /**
   * Events asked per page (the feed may serve fewer).
   * @defaultValue 100
   */
  limit?: number;
  /**
   * Where processed ids are remembered: give the store your push handler uses, so that a copy
   * pushed later by the sender's retries is a duplicate (a shared one across instances).
   * `false` turns dedupe off.
   * @defaultValue one memory store for every `pullMissed` of this process given none, per
   *   subscription and feed URL
   */
  dedupe?: DedupeStore | false;
  /**
   * Called once per verified event not yet processed (by this walk, an earlier one or the
   * push handler sharing the `dedupe` store), unless it is stale (`maxEventAgeSeconds`: it goes
   * to `onStale`). Throw to stop the walk: the id is released and the error is passed on.
   */
  onEvent(event: TEvent): unknown;
  /** Called with errors that do not change the outcome (the dedupe store failing to record one). */
  onError?(error: unknown): void;
  /** Extra request headers, e.g. the credential a host's own `authenticate` reads. */
  headers?: Readonly<Record<string, string>>;
  /**
   * How long one page may take to come, headers and body, in ms: a feed that does not answer
   * in time, or trickles its answer, is `FEED_UNAVAILABLE`.
   * @defaultValue 30000
   */
  timeoutMs?: number;
  /**
   * The `fetch` to call the feed with (it is given the timeout as `signal`).
   * @defaultValue `globalThis.fetch`
   */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

/** What {@link pullMissed} did. */
export interface PullMissedResult {
  /** Events handed to `onEvent` (and completed in the dedupe store). */
  processed: number;
  /** Events the dedupe store had seen processed: pushed, or pulled before. */
  duplicates: number;
  /**
   * Events being handled elsewhere right now (a pushed copy in flight). The walk stopped at
   * their page, and `next` points before it, so the next call looks at them again.
   */
  inFlight: number;
  /**
   * Events older than `maxEventAgeSeconds` by their envelope `timestamp` (or not dated):
   * handed to `onStale` instead of `onEvent` and remembered in the dedupe store like
   * processed ones. The walk goes on past them, as past processed ones.
   */
  stale: number;
  /** Events whose content the sender erased (tombstones): nothing to verify or handle. */
  expunged: number;
  /**
   * Where to go on from next time (`after`): after the last event handled (processed,
   * duplicate, stale or expunged). `null` when the walk got past nothing: call again with
   * the same `after`/`since`.
   */
  next: string | null;
}

const allowedKeys = receiverKeys('feedUrl', 'subscriptionId', 'secret', 'after', 'since', 'types', 'limit', 'onEvent', 'onError', 'headers', 'fetch', 'timeoutMs');
// Taken from the receiver's own list, so that every receiver option accepted here reaches it
// rather than being silently ignored. `secret` goes as `secrets`.
const passedToReceiver = [...receiverKeys('onError')].filter((key) => key !== 'secrets') as Array<Exclude<keyof PullMissedOptions, 'secret'>>;

const isTime = (value: number) => Number.isSafeInteger(value) && value >= 0;
/** The checks of the options `pullMissed` reads itself: what each must be, as said in the error. */
const optionChecks: Array<[keyof PullMissedOptions, string, (value: unknown) => boolean]> = [
  ['subscriptionId', 'a non-empty string', (value) => typeof value === 'string' && value !== ''],
  ['after', 'a cursor from a previous call (a string), or null', (value) => value == null || (typeof value === 'string' && value !== '')],
  ['since', 'a valid Date or epoch milliseconds', (value) => value === undefined || isTime(value instanceof Date ? value.getTime() : (value as number))],
  ['types', 'a non-empty array of event type names', (value) => value === undefined || (Array.isArray(value) && value.length > 0 && value.every((type) => typeof type === 'string' && type !== ''))],
  ['limit', 'a whole number from 1 to 1000', (value) => value === undefined || (Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= 1000)],
  ['timeoutMs', 'a whole number ≥ 1', (value) => value === undefined || (Number.isSafeInteger(value) && (value as number) >= 1)],
  ['headers', 'an object of header names and string values', (value) => value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value))],
];

/**
 * A header `fetch` refuses (no token name, a line break) or a value that is not a string: a
 * mistake no retry mends, refused before any request; the value (a credential) is not echoed.
 */
function checkHeaders(headers: Readonly<Record<string, unknown>>): void {
  for (const [name, value] of Object.entries(headers)) {
    try {
      new Headers([[name, typeof value === 'string' ? value : '\0']]);
    } catch {
      throw new ConfigError('CONFIG_INVALID', `Expected \`headers.${name}\` to be a header fetch can send (a token name, a string value)`, { field: `headers.${name}` });
    }
  }
}

/** One event of a feed page, as the feed sends it. */
interface FeedItem {
  id: string;
  body: string | null;
  headers: Record<string, string> | null;
}

interface FeedPage {
  data: FeedItem[];
  next: string | null;
  hasMore: boolean;
}

/** The dedupe stores of the pulls given none: one per subscription and feed URL in a process. */
const processDedupe = new Map<string, DedupeStore>();

function configError(field: string, expected: string, got: unknown): ConfigError {
  return new ConfigError('CONFIG_INVALID', `Expected \`${field}\` to be ${expected}, got ${describeValue(got)}`, { field });
}

/**
 * Walks the sender's event feed and handles each event as a pushed one: verified with the
 * subscription's secret (the feed signs each event afresh, as a push), claimed in the dedupe
 * store (pass the store your push handler uses, so a copy pushed later by the sender's
 * retries is a duplicate), handed to `onEvent`, completed. Pages are read oldest first until
 * the feed has no more; store the `next` it returns and pass it as `after` next time.
 *
 * With `maxEventAgeSeconds`, an event older than the window goes to `onStale` instead of
 * `onEvent`, is counted `stale` and walked past.
 *
 * The requests are signed with the subscription's secret (the scheme is in the README,
 * "Catching up after an outage"). An event whose signature fails stops the walk with its
 * `SignatureVerificationError`; a throwing `onEvent` or `onStale` with its error. Either way,
 * calling again with the same `after` is safe: what was processed comes back as duplicates.
 *
 * @throws ConfigError `CONFIG_INVALID` or `SECRET_INVALID` for bad options.
 * @throws FeedError `FEED_REFUSED` (a 4xx: `status` and the feed's `feedCode`),
 *   `FEED_UNAVAILABLE` (no answer, or a 5xx), `FEED_RESPONSE_INVALID`.
 *
 * @example
 * ```ts
 * const dedupe = createMemoryDedupeStore(); // the push handler's store too
 * const { processed, next } = await pullMissed({
 *   feedUrl: 'https://api.bookkeeper.example/webhooks/feed/events',
 *   subscriptionId: process.env.BOOKKEEPER_SUBSCRIPTION_ID!,
 *   secret: process.env.BOOKKEEPER_WEBHOOK_SECRET!,
 *   after: await loadCursor(),
 *   dedupe,
 *   onEvent: router.handle,
 * });
 * await saveCursor(next);
 * ```
 */
export async function pullMissed<TEvent extends WebhookEvent = WebhookEvent>(options: PullMissedOptions<TEvent>): Promise<PullMissedResult> {
  const { feedUrl, secrets, sinceMs, fetchFeed } = resolveOptions(options);
  const requestSecret = secrets.find((secret) => !secret.startsWith(PUBLIC_KEY_PREFIX));
  const { subscriptionId, after, types, limit = 100, headers = {}, timeoutMs = 30_000 } = options;
  const receiverOptions: Record<string, unknown> = { secrets, onEvent: options.onEvent };
  for (const key of passedToReceiver) if (options[key] !== undefined) receiverOptions[key] = options[key];
  // Without a store of the caller's, the pulls of one subscription's feed in this process share
  // one: the feed serves young events again on the next pull by design, and a store of each
  // call's own would book them again.
  const feedKey = `${subscriptionId} ${feedUrl.href}`;
  if (receiverOptions.dedupe === undefined) {
    let store = processDedupe.get(feedKey);
    if (store === undefined) processDedupe.set(feedKey, (store = createMemoryDedupeStore()));
    receiverOptions.dedupe = store;
  }
  // The push handlers' pipeline: the same verification, dedupe claim and settlement.
  const steps = receiverSteps(receiverOptions as unknown as WebhookReceiverOptions<TEvent>);

  const result: PullMissedResult = { processed: 0, duplicates: 0, inFlight: 0, stale: 0, expunged: 0, next: after ?? null };
  let cursor = result.next;
  // The cursors this walk stood at: a `next` back at one of them (or one that stays put) is a
  // feed going round in a circle, which would otherwise be followed for ever.
  const seen = new Set([null, cursor]);
  for (;;) {
    const url = new URL(feedUrl);
    if (cursor !== null) url.searchParams.set('after', cursor);
    url.searchParams.set('limit', String(limit));
    if (types !== undefined) url.searchParams.set('types', types.join(','));
    if (sinceMs !== undefined) url.searchParams.set('since', String(sinceMs));
    const page = await readPage(fetchFeed, url, timeoutMs, {
      ...headers,
      accept: 'application/json',
      ...(requestSecret === undefined
        ? {}
        : await signFeedRequest({
            url,
            subscriptionId,
            secret: requestSecret,
            timestampSeconds: Math.floor(Date.now() / 1000),
            id: `feedreq_${globalThis.crypto.randomUUID()}`,
          })),
    });
    // Every event of the page is verified as the page arrives, before any is handled: the feed
    // signed them all when it served the page, so their `webhook-timestamp` ages while the
    // events before them are handled, and a slow `onEvent` (a booking that calls the ERP)
    // would otherwise see the last ones of a page refused as too old. The first one that does
    // not verify stops the walk there, after the ones before it are handled.
    const verified: Array<TEvent | null> = [];
    let refusal: { error: unknown } | undefined;
    for (const item of page.data) {
      if (item.body === null || item.headers === null) {
        verified.push(null);
        continue;
      }
      try {
        verified.push(await steps.verify({ body: item.body, headers: item.headers }));
      } catch (error) {
        refusal = { error };
        break;
      }
    }
    let waiting = false;
    for (const event of verified) {
      if (event === null) {
        result.expunged++;
        continue;
      }
      const { outcome } = await steps.handle(event);
      if (outcome === 'processed') result.processed++;
      else if (outcome === 'duplicate') result.duplicates++;
      // `onStale` resolved and the id is completed: handled by skipping, as final as a
      // processed event, so the walk goes on and the cursor may pass it.
      else if (outcome === 'stale') result.stale++;
      else {
        // Refused by the compiler once another outcome exists, until it is given its place here.
        outcome satisfies 'in-flight';
        result.inFlight++;
        waiting = true;
      }
    }
    if (refusal !== undefined) throw refusal.error;
    // A pushed copy still being handled may yet fail and be released: the page is read again
    // next time rather than passed, and what this pass processed comes back as duplicates.
    if (waiting) return result;
    // A page may hold nothing (what the subscription's filter leaves out is not served) and
    // still move on; one that does not move on ends the pull.
    if (seen.has(page.next)) return result;
    seen.add((cursor = result.next = page.next));
    if (!page.hasMore) return result;
  }
}

/** Checks what `pullMissed` reads itself (the receiver checks the rest). @throws ConfigError. */
function resolveOptions(options: PullMissedOptions<never>): { feedUrl: URL; secrets: readonly string[]; sinceMs: number | undefined; fetchFeed: NonNullable<PullMissedOptions['fetch']> } {
  if (typeof options !== 'object' || options === null) throw configError('options', 'an object { feedUrl, subscriptionId, secret, onEvent, … }', options);
  for (const key in options) {
    if (!allowedKeys.has(key)) {
      const guess = closestName(key, [...allowedKeys]);
      throw new ConfigError('CONFIG_INVALID', `Unknown option \`${key}\`${guess === undefined ? '' : ` (did you mean \`${guess}\`?)`}`, { field: key });
    }
  }
  let feedUrl: URL | undefined;
  try {
    feedUrl = new URL(options.feedUrl);
  } catch {
    // Refused below, with the other kinds of URL it cannot use.
  }
  if (feedUrl === undefined || (feedUrl.protocol !== 'https:' && feedUrl.protocol !== 'http:')) throw configError('feedUrl', 'an absolute http(s) URL', options.feedUrl);
  // `fetch` refuses such a URL on every call. (Not echoed: it holds a credential.)
  if (feedUrl.username + feedUrl.password !== '') throw new ConfigError('CONFIG_INVALID', 'Expected `feedUrl` without credentials (send them in `headers`)', { field: 'feedUrl' });
  for (const [field, expected, check] of optionChecks) if (!check(options[field])) throw configError(field, expected, options[field]);
  if (options.headers !== undefined) checkHeaders(options.headers);
  const secrets: readonly string[] = typeof options.secret === 'string' ? [options.secret] : Array.isArray(options.secret) ? options.secret : [];
  if (secrets.length === 0) {
    throw new ConfigError('SECRET_INVALID', `Expected \`secret\` to be a \`whsec_…\` or \`whpk_…\` string or a non-empty array of them, got ${describeValue(options.secret)}`, { field: 'secret' });
  }
  // Decoded here, so that a bad one is named by this option; the receiver finds them cached.
  for (let i = 0; i < secrets.length; i++) {
    const secret = secrets[i]!;
    const field = secrets.length === 1 ? 'secret' : `secret[${i}]`;
    if (typeof secret === 'string' && secret.startsWith(PUBLIC_KEY_PREFIX)) publicKeyBytes(secret, field);
    else if (typeof secret === 'string' && secret.startsWith(SECRET_KEY_PREFIX)) throw secretKeyGivenToVerifier(field);
    else keyBytes(secret, field);
  }
  const { since } = options;
  return { feedUrl, secrets, sinceMs: since instanceof Date ? since.getTime() : since, fetchFeed: requireFunction(options.fetch ?? globalThis.fetch, 'fetch') };
}

// The most bytes read of one answer: a page of 100 events at the sender's default 256 KiB
// payload cap is under 32 MiB, JSON escapes included. A longer one is never buffered whole.
const MAX_PAGE_BYTES = 2 ** 26; // 64 MiB

async function readPage(fetchFeed: NonNullable<PullMissedOptions['fetch']>, url: URL, timeoutMs: number, headers: Record<string, string>): Promise<FeedPage> {
  let response: Response | undefined;
  let bytes: Uint8Array | null;
  try {
    // A redirect is not followed: the signature covers this path, and the headers are for this feed only.
    response = await fetchFeed(url.href, { method: 'GET', headers, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    // Within the same deadline, and never more than MAX_PAGE_BYTES: a feed that trickles its
    // answer, or sends one without end, does not hold the walk or fill the memory.
    bytes = await readCappedStream(response.body, MAX_PAGE_BYTES);
  } catch (cause) {
    throw new FeedError('FEED_UNAVAILABLE', `The event feed at ${url.origin}${url.pathname} could not be read`, { cause, status: response?.status });
  }
  const { status } = response;
  if (bytes === null) {
    throw new FeedError('FEED_RESPONSE_INVALID', `Expected the event feed to answer at most ${MAX_PAGE_BYTES} bytes`, { status });
  }
  const text = new TextDecoder().decode(bytes);
  if (status < 200 || status > 299) {
    const feedCode = errorCodeOf(text);
    const unavailable = status >= 500 || status === 429;
    throw new FeedError(
      unavailable ? 'FEED_UNAVAILABLE' : 'FEED_REFUSED',
      `The event feed answered HTTP ${status}${feedCode === null ? '' : ` ${feedCode}`}${
        // The one mistake a 404 almost always is: the feed's base path given for its events URL.
        status === 404 ? ` for ${url.origin}${url.pathname}: feedUrl is the feed's events URL, its basePath + "/events"` : ''
      }`,
      { status, feedCode },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new FeedError('FEED_RESPONSE_INVALID', 'Expected the event feed to answer JSON, got text that does not parse', { cause, status });
  }
  if (!isFeedPage(value)) {
    throw new FeedError('FEED_RESPONSE_INVALID', 'Expected the event feed to answer { data: [{ id, body, headers }], next, hasMore }', { status });
  }
  return value;
}

function errorCodeOf(text: string): string | null {
  try {
    const value = JSON.parse(text) as { error?: unknown };
    return typeof value?.error === 'string' ? value.error : null;
  } catch {
    return null;
  }
}

function isFeedPage(value: unknown): value is FeedPage {
  // Read off a primitive or `null` too: `?.` and `?? 0` make every property of one undefined.
  // (`headers` may be `null`, a tombstone's: `typeof null` is 'object'.)
  const page = value as Record<string, unknown> | null;
  return (
    typeof page?.hasMore === 'boolean' &&
    (page.next === null || typeof page.next === 'string') &&
    Array.isArray(page.data) &&
    page.data.every((item: unknown) => {
      const { id, body, headers } = (item ?? 0) as Record<string, unknown>;
      return typeof id === 'string' && (body === null || typeof body === 'string') && typeof headers === 'object' && !Array.isArray(headers);
    })
  );
}
