/**
 * The event feed: `GET <basePath>/events` for one subscription's consumer, so that an ERP
 * back from an outage catches up by itself (`pullMissed`) instead of waiting for the
 * operator's `replay` — the events it receives, oldest first, each with the exact body it is
 * pushed with and Standard Webhooks headers signed with its current secrets, so the
 * consumer verifies a pulled event exactly as a pushed one.
 *
 * A Fetch handler (`(request) => Promise<Response>`); `toNodeHandler` and
 * `toExpressMiddleware` mount it on Node `http` and Express.
 */
import { z } from 'zod';
import { checkArgumentCount } from '../check-argument-count.js';
import { isWebhookError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseConfig } from '../parse-config.js';
import type { DedupeStore } from '../receiver/dedupe-store.js';
import type { SubscriptionRegistry } from '../registry/subscription-registry.js';
import { FEED_SUBSCRIPTION_HEADER } from '../signing/feed-request.js';
import { DEFAULT_TOLERANCE_SECONDS } from '../signing/verify-signature.js';
import { feedCursorAfter, listOnPrimary, type ListedEvent, type ListEventsQuery, type StoredEvents } from '../stored-events.js';
import { createSignedRequestAuth } from './authenticate-feed-request.js';
import { schemeOfSecret } from '../signing/signing-key.js';
import { FeedRefusal } from './feed-refusal.js';
import { createNonceMemory } from './nonce-memory.js';

/** What the feed reads of a webhooks instance: any `createWebhooks()` result. */
export interface EventFeedSource {
  readonly events: Pick<StoredEvents, 'list'>;
  readonly subscriptions: Pick<SubscriptionRegistry, 'getSecrets'>;
}

/** Options of {@link createEventFeedHandler}. */
export interface EventFeedOptions {
  /**
   * Decides who a request is, instead of the signed request: resolve to the subscription
   * it may read, or `null` to answer 401 (`FEED_UNAUTHORIZED`). For hosts that already
   * authenticate their customers (a session, an API key). A request that also names a
   * subscription in `bookkeeper-subscription` must name the same one (403 `FEED_FORBIDDEN`).
   * Required for the consumers of `v1a` subscriptions: they hold a public key only, which
   * cannot sign a request, so the default check refuses them (401 `WEBHOOK_NO_MATCHING_SIGNATURE`).
   * @defaultValue the consumer signs each request with its subscription's `whsec_…` secret (see the README, "Catching up after an outage")
   */
  authenticate?: (request: Request) => Promise<{ subscriptionId: string } | null> | { subscriptionId: string } | null;
  /**
   * The path the feed is mounted at: it serves `<basePath>/events`.
   * @defaultValue '' (it serves `/events`)
   */
  basePath?: string;
  /**
   * Most events in one page; a larger `limit` is served this many.
   * @defaultValue 100 (at most 1000)
   */
  maxPageSize?: number;
  /**
   * How long after its publication an event may still appear behind the feed's cursor, in ms.
   * Event ids are made when `publish` is called, before the commit, so an event published in a
   * transaction that commits late (a host's `tx`, a slow instance) can land before events a
   * consumer has read past. The feed serves young events at once, but its `next` cursor moves
   * only past events at least this old: the young ones are served again on the next call (the
   * consumer's dedupe drops them), and a late commit within this window is not skipped. Raise
   * it above the longest transaction that publishes.
   * @defaultValue 60000
   */
  settleMs?: number;
  /**
   * How far a signed request's `webhook-timestamp` may be from now, either way, in seconds.
   * @defaultValue 300
   */
  toleranceSeconds?: number;
  /**
   * Where the nonces of signed requests are remembered (for twice `toleranceSeconds`), to
   * refuse a replayed request: a receiver's dedupe store fits (`claim` is all it uses).
   * Share one (Redis, a table) between the instances behind a load balancer. A store that
   * drops live entries when full (a bounded memory store) lets one consumer's flood of
   * requests push out the nonces of others: the default keeps each subscription's apart.
   * @defaultValue a memory of this handler's, up to 100,000 nonces per subscription (a flood pushes out only its own)
   */
  nonces?: DedupeStore;
  /**
   * The time source (epoch ms) for the timestamp check and the nonce window: the instance's
   * `clock` when a test injects one.
   * @defaultValue the wall clock
   */
  clock?: { now(): number };
  /** Where failures answered 500 are logged (pino-compatible); never with a secret. @defaultValue silent */
  logger?: Pick<Logger, 'error'>;
  /**
   * Called with the error behind every answer but a 200, e.g. to count refusals by `code`:
   * a `WebhookError`, or an error with `status` and `code` for the feed's own refusals
   * (`FEED_REQUEST_REPLAYED`, …). Its own errors are ignored.
   */
  onError?: (error: unknown, request: Request) => void;
}

/** The `error` codes the feed answers with, beside the codes of the errors it maps (`INPUT_INVALID`, `CURSOR_INVALID`, `SUBSCRIPTION_SCOPE_EXCEEDED`, `WEBHOOK_*`, …). */
export type EventFeedResponseCode =
  | 'FEED_UNAUTHORIZED'
  | 'FEED_FORBIDDEN'
  | 'FEED_REQUEST_REPLAYED'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_FOUND'
  | 'INTERNAL_ERROR';

/** One event of a feed page, as JSON. */
export interface EventFeedItem {
  id: string;
  type: string;
  /** Publication time, ISO 8601 (the envelope's `timestamp`). */
  timestamp: string;
  tenantId: string | null;
  /** The exact body it is pushed with; `null` once expunged (a tombstone). */
  body: string | null;
  /** `webhook-id`, `webhook-timestamp`, `webhook-signature` over `body`, signed when served; `null` once expunged. */
  headers: Record<string, string> | null;
  /** When its content was erased, ISO 8601; `null` while it is kept. */
  expungedAt: string | null;
}

/** A page of the feed, as JSON. */
export interface EventFeedPage {
  data: EventFeedItem[];
  /**
   * Where to come back from (`after=`): after the last event of `data` older than `settleMs`
   * (younger ones are served again next time); `null` when there is none (keep the cursor you had).
   */
  next: string | null;
  /** More settled events were there when this page was read: ask again with `next` now. */
  hasMore: boolean;
}

/** A Fetch handler: what {@link createEventFeedHandler} returns. */
export type EventFeedHandler = (request: Request) => Promise<Response>;

const isFunction = (value: unknown) => typeof value === 'function';
/** Parses {@link EventFeedOptions} (a type test keeps the two in step). @internal */
export const eventFeedOptionsSchema = z.strictObject({
  authenticate: z.custom<NonNullable<EventFeedOptions['authenticate']>>(isFunction, { message: 'a function (request) => { subscriptionId } | null' }).optional(),
  basePath: z
    .string()
    .regex(/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*\/?$/, 'a path such as "/webhooks/feed" (or "")')
    .default('')
    .transform((path) => (path.endsWith('/') ? path.slice(0, -1) : path)),
  maxPageSize: z.int().min(1).max(1000).default(100),
  settleMs: z.int().min(0).max(24 * 3_600_000).default(60_000),
  toleranceSeconds: z.number().min(0).max(86_400).default(DEFAULT_TOLERANCE_SECONDS),
  nonces: z
    .custom<DedupeStore>((value) => typeof value === 'object' && value !== null && isFunction((value as DedupeStore).claim), {
      message: 'a DedupeStore { claim, complete, release }',
    })
    .optional(),
  clock: z.custom<{ now(): number }>((value) => typeof value === 'object' && value !== null && isFunction((value as { now?: unknown }).now), { message: 'a clock { now() }' }).optional(),
  logger: z.custom<Pick<Logger, 'error'>>((value) => typeof value === 'object' && value !== null && isFunction((value as Logger).error), { message: 'a logger { error(fields, message) }' }).optional(),
  onError: z.custom<NonNullable<EventFeedOptions['onError']>>(isFunction, { message: 'a function (error, request) => void' }).optional(),
});

/** The query parameters the feed reads; any other is refused, so that a misspelt one (`cursor=`) does not restart the walk. */
const queryParameters = new Set(['after', 'limit', 'types', 'since', 'tenantId']);

/**
 * The event feed of a webhooks instance, as a Fetch handler: `GET <basePath>/events?after=&limit=&types=&since=&tenantId=`
 * answers `{ data: [{ id, type, timestamp, tenantId, body, headers, expungedAt }], next, hasMore }`
 * for the one subscription the request authenticates as — oldest first, only what that
 * subscription receives (its tenant, the types its filters match), each `body` the exact
 * string it is pushed with and `headers` its `webhook-*` headers, signed now with the
 * subscription's current secrets; expunged events as tombstones (`body: null`).
 *
 * Answers 401 for a request that does not authenticate (the code of the failed check:
 * `WEBHOOK_MISSING_HEADER`, `WEBHOOK_TIMESTAMP_TOO_OLD`, `WEBHOOK_NO_MATCHING_SIGNATURE`,
 * `FEED_REQUEST_REPLAYED`, `FEED_UNAUTHORIZED`, …), 403 for one reaching beyond its
 * subscription (`SUBSCRIPTION_SCOPE_EXCEEDED`, `FEED_FORBIDDEN`, or a host-authenticated
 * subscription that is gone: `SUBSCRIPTION_NOT_FOUND`, `SUBSCRIPTION_DELETED`), 400 for a
 * malformed query (`INPUT_INVALID`, `CURSOR_INVALID`, with `message` and `field`), 404
 * elsewhere, 405 for anything but GET, 500 (`INTERNAL_ERROR`, logged) when the storage fails.
 * Error bodies are `{ "error": "<code>" }`; nothing about a secret is ever in one, or logged.
 *
 * @throws ConfigError `CONFIG_INVALID` for bad options, at creation.
 *
 * @example
 * ```ts
 * const feed = createEventFeedHandler(webhooks, { basePath: '/webhooks/feed' });
 * createServer(toNodeHandler(feed)).listen(8080); // or: export const GET = feed (Next.js), app.get('/webhooks/feed/events', toExpressMiddleware(feed))
 * ```
 */
export function createEventFeedHandler(webhooks: EventFeedSource, options: EventFeedOptions = {}): EventFeedHandler {
  checkArgumentCount(arguments.length, 2, 'createEventFeedHandler(webhooks, options?)', 'factory');
  const resolved = parseConfig(eventFeedOptionsSchema, options);
  const { basePath, maxPageSize, settleMs, authenticate, logger, onError } = resolved;
  const eventsPath = `${basePath}/events`;
  const clock = resolved.clock ?? { now: () => Date.now() };
  const signedRequest = createSignedRequestAuth({
    secretsOf: async (subscriptionId) => {
      try {
        const { secret, previous } = await webhooks.subscriptions.getSecrets(subscriptionId);
        // Only `v1` secrets: a consumer signs its reads with a secret it shares with the sender,
        // and the consumer of a `v1a` subscription holds a public key only (use `authenticate`).
        return [secret, ...previous.map((old) => old.secret)].filter((value) => schemeOfSecret(value) === 'v1');
      } catch (error) {
        // An id that names nothing (or could name nothing) is answered like a wrong signature.
        if (isWebhookError(error) && (error.code === 'SUBSCRIPTION_NOT_FOUND' || error.code === 'INPUT_INVALID')) return null;
        throw error;
      }
    },
    toleranceSeconds: resolved.toleranceSeconds,
    nonces: resolved.nonces ?? createNonceMemory(clock),
    clock,
  });

  function report(error: unknown, request: Request): void {
    try {
      onError?.(error, request);
    } catch {
      // A counting hook that throws must not turn a refusal into a crash.
    }
  }

  /** The subscription the request may read. @throws FeedRefusal 401 or 403. */
  async function identify(request: Request, url: URL): Promise<string> {
    if (authenticate === undefined) return signedRequest(request, url);
    const identity = await authenticate(request);
    if (identity === null) throw new FeedRefusal(401, 'FEED_UNAUTHORIZED', 'authenticate() did not recognise the request');
    if (typeof identity !== 'object' || typeof identity.subscriptionId !== 'string' || identity.subscriptionId === '') {
      throw new TypeError('authenticate() must resolve to { subscriptionId: string } or null');
    }
    const named = request.headers.get(FEED_SUBSCRIPTION_HEADER);
    if (named !== null && named !== identity.subscriptionId) {
      throw new FeedRefusal(403, 'FEED_FORBIDDEN', 'The request names another subscription than the one it authenticates as');
    }
    return identity.subscriptionId;
  }

  async function serve(request: Request): Promise<Response> {
    // Told to onError as every other answer but a 200 is (a scanner trying paths is worth counting).
    if (request.method !== 'GET') {
      report(new FeedRefusal(405, 'METHOD_NOT_ALLOWED', `Expected a GET, got ${request.method}`), request);
      return errorResponse(405, { error: 'METHOD_NOT_ALLOWED' }, { allow: 'GET' });
    }
    const url = new URL(request.url);
    if (url.pathname !== eventsPath) {
      report(new FeedRefusal(404, 'NOT_FOUND', `Expected the path ${eventsPath}, got another`), request);
      return errorResponse(404, { error: 'NOT_FOUND' });
    }
    const subscriptionId = await identify(request, url);
    const query = readQuery(url.searchParams, maxPageSize);
    const page = await listOnPrimary(webhooks.events, { ...query, subscriptionId });
    // What the subscription's payload filter leaves out is not served, but the cursor moves past it.
    const data = page.items.filter((event) => !event.filteredOut).map(toFeedItem);
    // The cursor moves past settled events only (see settleMs); oldest first, so they lead the page.
    const settledBefore = clock.now() - settleMs;
    let settled = 0;
    while (settled < page.items.length && page.items[settled]!.timestamp <= settledBefore) settled++;
    const body: EventFeedPage = {
      data,
      next: settled === 0 ? null : feedCursorAfter(page.items[settled - 1]!.id),
      hasMore: settled === page.items.length && page.nextCursor !== null,
    };
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
  }

  return async (request) => {
    try {
      return await serve(request);
    } catch (error) {
      report(error, request);
      // A failed authentication says which check failed, and nothing more (as the receivers do).
      if (error instanceof FeedRefusal) return errorResponse(error.status, error.status === 401 ? { error: error.code } : described(error));
      if (isWebhookError(error)) {
        const status = refusalStatus(error.code);
        // `events.list` calls the position `cursor`; the feed's parameter is `after`, in the field and in the message.
        if (status !== null) {
          const onCursor = error.field === 'cursor';
          return errorResponse(status, described({ code: error.code, message: onCursor ? error.message.replaceAll('`cursor`', '`after`') : error.message, field: onCursor ? 'after' : error.field }));
        }
      }
      try {
        logger?.error({ err: error, method: request.method }, 'webhooks feed: a request failed; answered 500');
      } catch {
        // A logger that throws must not keep the consumer from its answer.
      }
      return errorResponse(500, { error: 'INTERNAL_ERROR' });
    }
  };
}

/** The status of a refusal the consumer can act on, or `null` for a failure of the sender's (500). */
function refusalStatus(code: string): number | null {
  if (code === 'INPUT_INVALID' || code === 'CURSOR_INVALID') return 400;
  if (code === 'SUBSCRIPTION_SCOPE_EXCEEDED' || code === 'SUBSCRIPTION_NOT_FOUND' || code === 'SUBSCRIPTION_DELETED') return 403;
  return null;
}

/** The body of a 4xx about the query: the code, what was expected, the parameter at fault. */
function described(error: { code: string; message: string; field?: string | undefined }): Record<string, string> {
  return { error: error.code, message: error.message, ...(error.field === undefined ? {} : { field: error.field }) };
}

function invalid(field: string, message: string): FeedRefusal {
  return new FeedRefusal(400, 'INPUT_INVALID', message, { field });
}

/** The `events.list` query a feed request asks for (the subscription comes from its authentication). */
function readQuery(params: URLSearchParams, maxPageSize: number): Omit<ListEventsQuery, 'subscriptionId'> {
  for (const name of params.keys()) {
    if (!queryParameters.has(name)) throw invalid(name, `Unknown query parameter \`${name}\`; expected any of: ${[...queryParameters].join(', ')}`);
  }
  const query: Omit<ListEventsQuery, 'subscriptionId'> = { limit: maxPageSize };
  const one = (name: string): string | undefined => {
    const values = params.getAll(name);
    if (values.length > 1) throw invalid(name, `Expected \`${name}\` once, got it ${values.length} times`);
    return values[0];
  };
  const after = one('after');
  if (after !== undefined) query.cursor = after;
  const limit = one('limit');
  if (limit !== undefined) {
    if (!/^[1-9][0-9]*$/.test(limit)) throw invalid('limit', `Expected \`limit\` to be a whole number ≥ 1, got ${JSON.stringify(limit.slice(0, 20))}`);
    // Any larger one is served the page size (`Number` of a long run of digits is Infinity, still capped).
    query.limit = Math.min(Number(limit), maxPageSize);
  }
  const types = params.getAll('types').flatMap((value) => value.split(','));
  if (types.length > 0) query.types = types;
  const since = one('since');
  if (since !== undefined) {
    const ms = /^[0-9]{1,15}$/.test(since) ? Number(since) : isoMilliseconds(since);
    if (!Number.isSafeInteger(ms) || ms < 0) {
      throw invalid(
        'since',
        `Expected \`since\` to be epoch milliseconds or an ISO 8601 date-time with its offset (\`Z\` or \`+hh:mm\`), got ${JSON.stringify(since.slice(0, 40))}` +
          // `+` in a query string is a space: an offset written as it is arrives so.
          (since.includes(' ') ? ' (send a `+` in a query as `%2B`)' : ''),
      );
    }
    query.since = ms;
  }
  const tenantId = one('tenantId');
  if (tenantId !== undefined) query.tenantId = tenantId;
  return query;
}

/** An ISO 8601 date-time with its offset (a fraction of up to 9 digits, as Python's `isoformat()` writes 6; read to the millisecond). */
const isoDateTime = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))$/i;

/**
 * The epoch ms of an ISO 8601 date-time, `NaN` unless it names one instant: with its offset
 * (without one, `Date.parse` reads the server's local time, so the window would move with
 * the server's time zone) and a day the month has (`Date.parse` reads February 30 as March 2).
 */
function isoMilliseconds(text: string): number {
  const parts = isoDateTime.exec(text);
  if (parts === null) return Number.NaN;
  const [, year, month, day, hours, minutes, seconds = '0', offsetHours = '0', offsetMinutes = '0'] = parts;
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  const real = date.getUTCFullYear() === Number(year) && date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day);
  if (!real || Number(hours) > 23 || Number(minutes) > 59 || Number(seconds) > 59 || Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return Number.NaN;
  return Date.parse(text);
}

function toFeedItem(event: ListedEvent): EventFeedItem {
  return {
    id: event.id,
    type: event.type,
    timestamp: new Date(event.timestamp).toISOString(),
    tenantId: event.tenantId,
    body: event.body,
    headers: event.headers === null ? null : { ...event.headers },
    expungedAt: event.expungedAt === null ? null : new Date(event.expungedAt).toISOString(),
  };
}

function errorResponse(status: number, body: Record<string, string>, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers } });
}
