/**
 * Receiving webhooks on Node's `http` server (and what builds on it: Express,
 * Fastify's raw handler, Koa): `createNodeHandler`. Only types come from
 * `node:http`, so the `./receiver` entry stays free of Node imports.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../errors.js';
import { parseWebhookEvent, resolveVerifyOptions, verifySignature, type WebhookEvent } from '../signing/verify-signature.js';
import {
  INTERNAL_ERROR,
  concatChunks,
  declaredTooLarge,
  errorBody,
  failureOf,
  payloadTooLarge,
  report,
  resolveCallbacks,
  resolveMaxBodyBytes,
} from './web-handler.js';

/** Options of {@link createNodeHandler}. */
export interface NodeHandlerOptions<TEvent extends WebhookEvent = WebhookEvent> {
  /** One `whsec_…` secret, or several during a rotation. */
  secrets: string | readonly string[];
  /**
   * How far `webhook-timestamp` may be from now, either way, in seconds.
   * @defaultValue 300
   */
  toleranceSeconds?: number;
  /**
   * Largest body read, in bytes; a longer one is answered 413 without being buffered.
   * @defaultValue 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Called with each verified event. Resolve to answer 204 (unless the handler has
   * already answered through `res`); throw to answer 500 (the sender retries).
   */
  onEvent(event: TEvent, req: IncomingMessage, res: ServerResponse): void | Promise<void>;
  /**
   * Called with every failure (verification, oversize or unreadable body, a throwing
   * `onEvent`), for logging and for counting verification failures by `code`.
   * Its own errors are ignored.
   */
  onError?(error: unknown, req: IncomingMessage): void;
}

const handlerOptionKeys: ReadonlySet<string> = new Set(['secrets', 'toleranceSeconds', 'maxBodyBytes', 'onEvent', 'onError']);

/**
 * A Node `http` request listener that reads the raw body, verifies the webhook
 * and passes its event to `onEvent`.
 *
 * Answers: 204 once `onEvent` resolves; 405 to anything but POST; 413 to a body over
 * `maxBodyBytes`; 401 when a header, the timestamp or the signature fails; 400 for a
 * signed body that is not an event envelope; 500 when `onEvent` throws. Error
 * responses carry only `{ "error": "<code>" }`.
 *
 * Mount it before any body parser: it needs the raw bytes (with Express, on the
 * route itself, not after `express.json()`).
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
 *   onError: (error) => logger.warn({ error }, 'webhook refused'),
 * })).listen(3000);
 * ```
 */
export function createNodeHandler<TEvent extends WebhookEvent = WebhookEvent>(
  options: NodeHandlerOptions<TEvent>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const resolved = resolveVerifyOptions(options, handlerOptionKeys);
  const maxBodyBytes = resolveMaxBodyBytes(options.maxBodyBytes);
  const { onEvent, onError } = resolveCallbacks(options);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      reply(res, 405, 'METHOD_NOT_ALLOWED', { allow: 'POST' });
      return;
    }
    let event: TEvent;
    try {
      const body = await readBody(req, maxBodyBytes);
      event = parseWebhookEvent<TEvent>(verifySignature({ body, headers: req.headers }, resolved));
    } catch (error) {
      report(onError, error, req);
      if (req.destroyed && !req.complete) {
        // The client went away mid-body: there is nobody to answer.
        res.destroy();
        return;
      }
      const failure = failureOf(error);
      // The rest of an oversize body is not worth reading: close the connection after answering.
      reply(res, failure.status, failure.code, failure.status === 413 ? { connection: 'close' } : undefined);
      return;
    }
    try {
      await onEvent(event, req, res);
    } catch (error) {
      report(onError, error, req);
      if (res.headersSent) res.destroy();
      else reply(res, 500, INTERNAL_ERROR);
      return;
    }
    if (!res.headersSent && !res.writableEnded) {
      res.statusCode = 204;
      res.end();
    }
  }

  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      // Only reached if answering itself failed (e.g. the socket closed under us).
      report(onError, error, req);
      res.destroy();
    });
  };
}

function reply(res: ServerResponse, status: number, code: string, headers?: Record<string, string>): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = errorBody(code);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(body.length), ...headers });
  res.end(body);
}

const encoder = new TextEncoder();

function readBody(req: IncomingMessage, maxBodyBytes: number): Promise<Uint8Array> {
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
