/**
 * Receiving webhooks in Fastify (v4 and v5): `fastifyWebhook`, a plugin that adds
 * one POST route whose body arrives as raw bytes.
 *
 * Fastify parses JSON bodies before the handler runs, and the signed bytes are
 * gone. The plugin replaces the content-type parsers with a catch-all that keeps
 * the body as a `Buffer`; registered without `fastify-plugin`, it is encapsulated,
 * so the app's other routes keep their JSON parsing.
 *
 * Fastify is not imported, not even its types: the plugin is typed by the few
 * members it uses (see {@link FastifyInstanceLike}), so the receiver entry carries
 * no framework code and its declarations do not require `fastify`.
 */
import { ConfigError, describeValue } from '../errors.js';
import type { WebhookEvent } from '../signing/verify-signature.js';
import { DUPLICATE_BODY, INTERNAL_ERROR, IN_FLIGHT_ERROR, STALE_BODY, errorBody, failureOf, handlerFailureOf, report, resolveCallbacks, resolveMaxBodyBytes } from './web-handler.js';
import { createReceiverPipeline, isSuccessStatus, receiverKeys, type ReceiverOptions } from './webhook-receiver.js';

/** The part of a Fastify request the plugin reads. */
export interface FastifyRequestLike {
  headers: { [name: string]: string | string[] | undefined };
  body?: unknown;
}

/** The part of a Fastify reply the plugin uses. */
export interface FastifyReplyLike {
  readonly sent: boolean;
  statusCode: number;
  code(statusCode: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(payload?: string): FastifyReplyLike;
}

/** An error Fastify raises before the route handler (a body over the limit, a bad content type). */
export interface FastifyErrorLike {
  statusCode?: number;
}

/** The part of a Fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  removeAllContentTypeParsers(): unknown;
  addContentTypeParser(
    contentType: string,
    options: { parseAs: 'buffer'; bodyLimit: number },
    parser: (request: unknown, body: Uint8Array, done: (error: Error | null, body?: unknown) => void) => void,
  ): unknown;
  setErrorHandler(handler: (error: FastifyErrorLike, request: FastifyRequestLike, reply: FastifyReplyLike) => unknown): unknown;
  post(path: string, handler: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
}

/** A Fastify plugin: give it to `app.register`. */
export type FastifyWebhookPlugin = (instance: FastifyInstanceLike, options: unknown) => Promise<void>;

/** Options of {@link fastifyWebhook}. */
export interface FastifyWebhookOptions<TEvent extends WebhookEvent = WebhookEvent> extends ReceiverOptions {
  /**
   * The route's path, under the `prefix` the plugin is registered with.
   * @defaultValue '/'
   */
  path?: string;
  /**
   * Largest body read, in bytes (the route's `bodyLimit`); a longer one is answered 413.
   * @defaultValue 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Called once with each verified event (never again for a duplicate `webhook-id`).
   * Resolve to answer 204 (unless the handler answered through `reply`: a non-2xx
   * answer releases the id for the sender's retry); throw to answer 500.
   */
  onEvent(event: TEvent, request: FastifyRequestLike, reply: FastifyReplyLike): unknown;
  /**
   * Called with every failure (verification, oversize body, a throwing `onEvent`,
   * a failing dedupe store), e.g. to log refused requests or count them. Its own
   * errors are ignored. Those answered 500 are also logged by `logger`.
   */
  onError?(error: unknown, request: FastifyRequestLike): void;
}

const fastifyOptionKeys = receiverKeys('path', 'maxBodyBytes', 'onEvent', 'onError');

/**
 * A Fastify plugin with one POST route that verifies webhooks on their raw body,
 * drops duplicates by `webhook-id`, and passes each new event to `onEvent`.
 *
 * Answers like `createNodeHandler`: 204, 200 for a duplicate, 409 for an id in flight,
 * 401/400/413 with `{ "error": "<code>" }` only, 500 when `onEvent` throws. Fastify's
 * own refusals on this route (a body over `maxBodyBytes`, a malformed content type)
 * are answered in the same shape.
 *
 * @throws ConfigError `SECRET_INVALID` or `CONFIG_INVALID` for bad options, at creation.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { fastifyWebhook } from '@bookkeeper/webhooks/receiver';
 *
 * const app = Fastify();
 * await app.register(fastifyWebhook({ path: '/webhooks', secrets: process.env.WEBHOOK_SECRET!, onEvent: router.handle }));
 * ```
 */
export function fastifyWebhook<TEvent extends WebhookEvent = WebhookEvent>(options: FastifyWebhookOptions<TEvent>): FastifyWebhookPlugin {
  const pipeline = createReceiverPipeline(options, fastifyOptionKeys, 'node');
  const maxBodyBytes = resolveMaxBodyBytes(options.maxBodyBytes);
  const { onEvent, onError } = resolveCallbacks(options);
  const path = options.path ?? '/';
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`path\` to be a route path starting with "/", got ${describeValue(path)}`, { field: 'path' });
  }

  function answer(reply: FastifyReplyLike, status: number, code: string): FastifyReplyLike {
    return reply.code(status).header('content-type', 'application/json').send(errorBody(code));
  }

  async function handle(request: FastifyRequestLike, reply: FastifyReplyLike): Promise<FastifyReplyLike> {
    let event: TEvent;
    try {
      // No body at all (no content-length, no transfer-encoding): Fastify runs no parser.
      const body = request.body instanceof Uint8Array ? request.body : new Uint8Array(0);
      event = (await pipeline.verify({ body, headers: request.headers })) as TEvent;
    } catch (error) {
      report(onError, error, request);
      const failure = failureOf(error);
      if (failure.status === 500) pipeline.logFailure(error, undefined);
      return answer(reply, failure.status, failure.code);
    }
    let processed;
    try {
      processed = await pipeline.process(
        event,
        () => onEvent(event, request, reply),
        () => !reply.sent || isSuccessStatus(reply.statusCode),
        (error) => report(onError, error, request),
      );
    } catch (error) {
      report(onError, error, request);
      const failure = handlerFailureOf(error);
      if (failure.status === 500 || reply.sent) pipeline.logFailure(error, event);
      if (reply.sent) return reply;
      return answer(reply, failure.status, failure.code);
    }
    if (reply.sent) return reply;
    if (processed.outcome === 'duplicate') return reply.code(200).header('content-type', 'application/json').send(DUPLICATE_BODY);
    if (processed.outcome === 'in-flight') return answer(reply, 409, IN_FLIGHT_ERROR);
    if (processed.outcome === 'stale') return reply.code(200).header('content-type', 'application/json').send(STALE_BODY);
    return reply.code(204).send();
  }

  return async (instance) => {
    // Scoped to this plugin's encapsulation context: the app's other routes keep their parsers.
    instance.removeAllContentTypeParsers();
    instance.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_request, body, done) => done(null, body));
    instance.setErrorHandler((error, request, reply) => {
      report(onError, error, request);
      const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
      if (status === 413) return answer(reply, 413, 'PAYLOAD_TOO_LARGE');
      // Fastify's own messages name its internals: only a generic code leaves.
      if (status >= 400 && status < 500) return answer(reply, status, 'BAD_REQUEST');
      pipeline.logFailure(error, undefined);
      return answer(reply, 500, INTERNAL_ERROR);
    });
    instance.post(path, handle);
  };
}
