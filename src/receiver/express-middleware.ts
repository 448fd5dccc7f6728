/**
 * Receiving webhooks in Express 4 and 5: `expressWebhook`.
 *
 * Express is not imported, not even its types: an Express request is a Node
 * `IncomingMessage` and its response a `ServerResponse`, which is all this needs,
 * so the receiver entry stays free of framework code and its declarations do not
 * require `@types/express`.
 *
 * The body is where verification breaks in the wild: `app.use(express.json())`
 * parses it before the route runs, and the bytes that were signed are gone
 * (re-serialising the parsed object does not give them back). This middleware
 * takes the raw bytes from wherever they still are, and says so loudly when they
 * are not anywhere.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../errors.js';
import type { WebhookEvent } from '../signing/verify-signature.js';
import { createNodeFlow, readNodeBody } from './node-handler.js';
import { payloadTooLarge } from './web-handler.js';
import { receiverKeys, type ReceiverOptions } from './webhook-receiver.js';

/** The part of an Express request this middleware reads. */
export interface ExpressRequestLike extends IncomingMessage {
  /** Set by a body parser: a `Buffer` from `express.raw()`, an object from `express.json()`. */
  body?: unknown;
  /** The raw bytes, if the app keeps them (`express.json({ verify: (req, _res, buf) => { req.rawBody = buf } })`). */
  rawBody?: unknown;
}

/** Express's `next`. */
export type ExpressNextFunction = (error?: unknown) => void;

/** Options of {@link expressWebhook}. */
export interface ExpressWebhookOptions<TEvent extends WebhookEvent = WebhookEvent> extends ReceiverOptions {
  /**
   * Largest body read, in bytes; a longer one is answered 413. (A body from
   * `express.raw()` is also capped by its own `limit`, 100 kB by default.)
   * @defaultValue 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Called once with each verified event (never again for a duplicate `webhook-id`).
   * Resolve to answer 204 (unless the handler answered through `res`: a non-2xx
   * answer releases the id for the sender's retry); throw to answer 500.
   */
  onEvent(event: TEvent, req: ExpressRequestLike, res: ServerResponse): unknown;
  /**
   * Called with every failure (verification, oversize body, a throwing `onEvent`,
   * a failing dedupe store), e.g. to log refused requests or count them. Its own
   * errors are ignored. Those answered 500 are also logged by `logger`.
   */
  onError?(error: unknown, req: ExpressRequestLike): void;
}

const expressOptionKeys = receiverKeys('maxBodyBytes', 'onEvent', 'onError');

/**
 * Express middleware (Express 4 and 5) that verifies a webhook, drops duplicates by
 * `webhook-id`, and passes each new event to `onEvent`.
 *
 * The raw body is taken from, in order: `req.body` when it is a `Buffer` (from
 * `express.raw({ type: 'application/json' })` on the route), `req.rawBody` when the
 * app keeps it, or the request stream itself when no parser has read it. When a
 * parser such as `express.json()` consumed the body and no raw copy is left, it
 * calls `next` with a `ConfigError` `CONFIG_INVALID` that says how to fix the app,
 * rather than failing every request with a signature mismatch.
 *
 * Answers like `createNodeHandler`: 204, 200 for a duplicate, 409 for an id in flight,
 * 401/400/413 with `{ "error": "<code>" }` only, 500 when `onEvent` throws.
 *
 * @throws ConfigError `SECRET_INVALID` or `CONFIG_INVALID` for bad options, at creation.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { expressWebhook } from '@bookkeeper/webhooks/receiver';
 *
 * const app = express();
 * // Before app.use(express.json()), or with express.raw({ type: 'application/json' }) on the route:
 * app.post('/webhooks', expressWebhook({ secrets: process.env.WEBHOOK_SECRET!, onEvent: router.handle }));
 * app.use(express.json());
 * ```
 */
export function expressWebhook<TEvent extends WebhookEvent = WebhookEvent>(
  options: ExpressWebhookOptions<TEvent>,
): (req: ExpressRequestLike, res: ServerResponse, next: ExpressNextFunction) => void {
  const handle = createNodeFlow<TEvent, ExpressRequestLike, ServerResponse>(options, expressOptionKeys, readExpressBody);
  return (req, res, next) => {
    const misuse = parsedBodyError(req);
    if (misuse !== undefined) {
      // A bug in the app, not a bad request: Express's error handling shows it to the developer.
      next(misuse);
      return;
    }
    void handle(req, res);
  };
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function readExpressBody(req: ExpressRequestLike, maxBodyBytes: number): Promise<Uint8Array> {
  const raw = isBytes(req.body) ? req.body : isBytes(req.rawBody) ? req.rawBody : undefined;
  if (raw === undefined) return readNodeBody(req, maxBodyBytes);
  return raw.byteLength > maxBodyBytes ? Promise.reject(payloadTooLarge(maxBodyBytes)) : Promise.resolve(raw);
}

/**
 * The error for a request whose body a parser consumed, leaving no raw bytes:
 * `undefined` when the raw body is still available.
 */
function parsedBodyError(req: ExpressRequestLike): ConfigError | undefined {
  if (isBytes(req.body) || isBytes(req.rawBody)) return undefined;
  // body-parser (behind express.json/urlencoded/text) marks the requests it read with `_body`.
  const consumed = (req as { _body?: unknown })._body === true || req.readableEnded;
  if (!consumed) return undefined;
  const parsedAs = typeof req.body === 'string' ? 'a string (express.text()?)' : 'an object (express.json()?)';
  return new ConfigError(
    'CONFIG_INVALID',
    `expressWebhook needs the raw request body to verify the signature, but a body parser already read it into ${parsedAs}. ` +
      "Mount the webhook route before app.use(express.json()), or give it express.raw({ type: 'application/json' }): " +
      "app.post('/webhooks', express.raw({ type: 'application/json' }), expressWebhook(options))",
    { field: 'body' },
  );
}
