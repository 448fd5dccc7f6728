/**
 * Receiving webhooks on Node's `http` server (and what builds on it: Express,
 * Fastify's raw handler, Koa): `createNodeHandler`. Only types come from
 * `node:http`, so the `./receiver` entry stays free of Node imports.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../errors.js';
import type { WebhookEvent } from '../signing/verify-signature.js';
import {
  DUPLICATE_BODY,
  IN_FLIGHT_ERROR,
  STALE_BODY,
  concatChunks,
  declaredTooLarge,
  errorBody,
  failureOf,
  handlerFailureOf,
  payloadTooLarge,
  report,
  resolveCallbacks,
  resolveMaxBodyBytes,
} from './web-handler.js';
import { createReceiverPipeline, isSuccessStatus, receiverKeys, type ReceiverOptions } from './webhook-receiver.js';

/** Options of {@link createNodeHandler}. */
export interface NodeHandlerOptions<TEvent extends WebhookEvent = WebhookEvent> extends ReceiverOptions {
  /**
   * Largest body read, in bytes; a longer one is answered 413 without being buffered.
   * @defaultValue 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Called once with each verified event (never again for a duplicate `webhook-id`).
   * Resolve to answer 204 (unless the handler has already answered through `res`);
   * throw to answer 500 (the id is released and the sender retries).
   */
  onEvent(event: TEvent, req: IncomingMessage, res: ServerResponse): unknown;
  /**
   * Called with every failure (verification, oversize or unreadable body, a throwing
   * `onEvent`, a failing dedupe store), e.g. to log refused requests or count them.
   * Its own errors are ignored. Those answered 500 are also logged by `logger`.
   */
  onError?(error: unknown, req: IncomingMessage): void;
}

const handlerOptionKeys = receiverKeys('maxBodyBytes', 'onEvent', 'onError');

/**
 * A Node `http` request listener that reads the raw body, verifies the webhook,
 * drops duplicates by `webhook-id`, and passes each new event to `onEvent`.
 *
 * Answers: 204 once `onEvent` resolves; 200 `{ "outcome": "duplicate" }` to an id already
 * processed (without calling `onEvent`); 200 `{ "outcome": "stale" }` to an event older than
 * `maxEventAgeSeconds` (without calling `onEvent`); 409 to an id being processed right now,
 * and when `onEvent` throws the router's `ORDERING_GAP` or `ORDERING_KEY_IN_FLIGHT`; 405 to
 * anything but POST; 413 to a body over `maxBodyBytes`; 401 when a header, the timestamp
 * or the signature fails; 400 for a signed body that is not an event envelope, names
 * another `environment` than the option's or comes with a malformed `webhook-sequence`
 * (`WEBHOOK_SEQUENCE_INVALID`); 500 when `onEvent` throws (logged by `logger`).
 * Error responses carry only `{ "error": "<code>" }`.
 *
 * Mount it before any body parser: it needs the raw bytes (with Express, use
 * `expressWebhook`, which also accepts a body from `express.raw()`).
 *
 * @throws ConfigError `SECRET_INVALID` or `CONFIG_INVALID` for bad options, at creation.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createNodeHandler } from '@bookkeeper/webhooks/receiver';
 *
 * createServer(createNodeHandler({
 *   secrets: process.env.WEBHOOK_SECRET!,
 *   onEvent: async (event) => { if (event.type === 'payment.succeeded') await markPaid(event.data); },
 *   onError: (error) => logger.warn({ err: error }, 'webhook not processed'),
 *   logger, // pino: failures answered 500 are logged with `logger.error` (default: console.error)
 * })).listen(3000);
 * ```
 */
export function createNodeHandler<TEvent extends WebhookEvent = WebhookEvent>(
  options: NodeHandlerOptions<TEvent>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = createNodeFlow<TEvent, IncomingMessage, ServerResponse>(options, handlerOptionKeys, readNodeBody);
  return (req, res) => void handle(req, res);
}

/**
 * The request flow shared by the Node `http` handler and the Express middleware:
 * read, verify, dedupe, handle, answer. Never rejects.
 *
 * @internal
 */
export function createNodeFlow<TEvent extends WebhookEvent, TReq extends IncomingMessage, TRes extends ServerResponse>(
  options: ReceiverOptions & {
    maxBodyBytes?: number;
    onEvent(event: TEvent, req: TReq, res: TRes): unknown;
    onError?(error: unknown, req: TReq): void;
  },
  allowedKeys: ReadonlySet<string>,
  readBody: (req: TReq, maxBodyBytes: number) => Promise<Uint8Array>,
): (req: TReq, res: TRes) => Promise<void> {
  const pipeline = createReceiverPipeline(options, allowedKeys, 'node');
  const maxBodyBytes = resolveMaxBodyBytes(options.maxBodyBytes);
  const { onEvent, onError } = resolveCallbacks(options);

  async function handle(req: TReq, res: TRes): Promise<void> {
    if (req.method !== 'POST') {
      reply(res, 405, 'METHOD_NOT_ALLOWED', { allow: 'POST' });
      return;
    }
    let event: TEvent;
    try {
      const body = await readBody(req, maxBodyBytes);
      event = (await pipeline.verify({ body, headers: req.headers })) as TEvent;
    } catch (error) {
      report(onError, error, req);
      if (req.destroyed && !req.complete) {
        // The client went away mid-body: there is nobody to answer.
        res.destroy();
        return;
      }
      const failure = failureOf(error);
      if (failure.status === 500) pipeline.logFailure(error, undefined);
      // The rest of an oversize body is not worth reading: close the connection after answering.
      reply(res, failure.status, failure.code, failure.status === 413 ? { connection: 'close' } : undefined);
      return;
    }
    let processed;
    try {
      processed = await pipeline.process(
        event,
        () => onEvent(event, req, res),
        () => !res.headersSent || isSuccessStatus(res.statusCode),
        (error) => report(onError, error, req),
      );
    } catch (error) {
      report(onError, error, req);
      const failure = handlerFailureOf(error);
      if (failure.status === 500 || res.headersSent) pipeline.logFailure(error, event);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      reply(res, failure.status, failure.code);
      return;
    }
    if (processed.outcome === 'duplicate') replyJson(res, 200, DUPLICATE_BODY);
    else if (processed.outcome === 'in-flight') reply(res, 409, IN_FLIGHT_ERROR);
    else if (processed.outcome === 'stale') replyJson(res, 200, STALE_BODY);
    else if (!res.headersSent && !res.writableEnded) {
      res.statusCode = 204;
      res.end();
    }
  }

  return (req, res) =>
    handle(req, res).catch((error: unknown) => {
      // Only reached if answering itself failed (e.g. the socket closed under us).
      report(onError, error, req);
      res.destroy();
    });
}

/** Answers `{ "error": code }` with `status`, unless an answer was already started. */
function reply(res: ServerResponse, status: number, code: string, headers?: Record<string, string>): void {
  replyJson(res, status, errorBody(code), headers);
}

function replyJson(res: ServerResponse, status: number, body: string, headers?: Record<string, string>): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(body.length), ...headers });
  res.end(body);
}

const encoder = new TextEncoder();

/**
 * Reads a Node request's raw body, up to `maxBodyBytes`.
 *
 * @internal Shared with the Express middleware.
 * @throws ValidationError `PAYLOAD_TOO_LARGE`; ConfigError `CONFIG_INVALID` when the body was already consumed.
 */
export function readNodeBody(req: IncomingMessage, maxBodyBytes: number): Promise<Uint8Array> {
  if (declaredTooLarge(req.headers['content-length'], maxBodyBytes)) return Promise.reject(payloadTooLarge(maxBodyBytes));
  if (req.readableEnded) {
    return Promise.reject(
      new ConfigError(
        'CONFIG_INVALID',
        'The request body was already read (by a body parser?): mount createNodeHandler before any body parser, it needs the raw bytes',
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const onData = (chunk: Uint8Array | string): void => {
      const bytes = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
      size += bytes.byteLength;
      if (size > maxBodyBytes) {
        // Stop buffering; Node discards the rest once the 413 is sent.
        cleanup();
        chunks.length = 0;
        req.resume();
        reject(payloadTooLarge(maxBodyBytes));
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(concatChunks(chunks, size));
    };
    const onFailure = (error?: unknown): void => {
      cleanup();
      reject(error instanceof Error ? error : new Error('The request was aborted before its body was read'));
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onFailure);
      req.off('close', onFailure);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onFailure);
    req.on('close', onFailure);
  });
}
