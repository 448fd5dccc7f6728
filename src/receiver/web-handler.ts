/**
 * Receiving webhooks as Fetch `Request`s (Hono, Next.js route handlers, Bun,
 * Deno, Cloudflare Workers): `createWebHandler` and `verifyWebRequest`, on
 * `verifyWebhookAsync`. Also the HTTP rules every adapter shares.
 */
import { ConfigError, ValidationError, describeValue, isWebhookError } from '../errors.js';
import { resolveVerifyOptions, verifiedEvent, type VerifyWebhookOptions, type WebhookEvent } from '../signing/verify-signature.js';
import { verifySignatureAsync } from './verify-webhook-signature-async.js';
import { createReceiverPipeline, isSuccessStatus, receiverKeys, requireFunction, type ReceiverOptions } from './webhook-receiver.js';

/** The default `maxBodyBytes`: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Options of {@link verifyWebRequest}. */
export interface VerifyWebRequestOptions extends VerifyWebhookOptions {
  /**
   * Largest body read, in bytes; a longer one is refused before it is buffered.
   * @defaultValue 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
}

/** Options of {@link createWebHandler}. */
export interface WebHandlerOptions<TEvent extends WebhookEvent = WebhookEvent> extends ReceiverOptions {
  /**
   * Largest body read, in bytes; a longer one is answered 413.
   * @defaultValue 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Called once with each verified event (never again for a duplicate `webhook-id`).
   * Resolve to answer 204; return a `Response` to send it instead (a non-2xx one
   * releases the id, so the sender's retry is processed); throw to answer 500.
   */
  onEvent(event: TEvent, request: Request): unknown;
  /**
   * Called with every failure (verification, oversize body, a throwing `onEvent`,
   * a failing dedupe store), e.g. to log refused requests or count them. Its own
   * errors are ignored. Those answered 500 are also logged by `logger`.
   */
  onError?(error: unknown, request: Request): void;
}

/**
 * A Fetch handler that verifies webhooks, drops duplicates by `webhook-id`, and
 * passes each new event to `onEvent`. For Hono (`c.req.raw`), Next.js route
 * handlers, Bun, Deno, Cloudflare Workers; verifies with Web Crypto.
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
 * @throws ConfigError `SECRET_INVALID` or `CONFIG_INVALID` for bad options, at creation.
 *
 * @example
 * ```ts
 * // Next.js: app/api/webhooks/route.ts
 * export const POST = createWebHandler({
 *   secrets: process.env.WEBHOOK_SECRET!,
 *   onEvent: async (event) => { await handle(event); },
 * });
 * ```
 */
export function createWebHandler<TEvent extends WebhookEvent = WebhookEvent>(
  options: WebHandlerOptions<TEvent>,
): (request: Request) => Promise<Response> {
  const pipeline = createReceiverPipeline(options, handlerOptionKeys, 'web');
  const maxBodyBytes = resolveMaxBodyBytes(options.maxBodyBytes);
  const { onEvent, onError } = resolveCallbacks(options);

  return async (request: Request): Promise<Response> => {
    if (request.method !== 'POST') return errorResponse(405, 'METHOD_NOT_ALLOWED', { allow: 'POST' });
    let event: TEvent;
    try {
      const body = await readRequestBody(request, maxBodyBytes);
      event = (await pipeline.verify({ body, headers: request.headers })) as TEvent;
    } catch (error) {
      report(onError, error, request);
      const failure = failureOf(error);
      if (failure.status === 500) pipeline.logFailure(error, undefined);
      return errorResponse(failure.status, failure.code);
    }
    try {
      const processed = await pipeline.process(
        event,
        () => onEvent(event, request),
        (result) => !(result instanceof Response) || isSuccessStatus(result.status),
        (error) => report(onError, error, request),
      );
      if (processed.outcome === 'duplicate') return new Response(DUPLICATE_BODY, { status: 200, headers: { 'content-type': 'application/json' } });
      if (processed.outcome === 'in-flight') return errorResponse(409, IN_FLIGHT_ERROR);
      if (processed.outcome === 'stale') return new Response(STALE_BODY, { status: 200, headers: { 'content-type': 'application/json' } });
      return processed.result instanceof Response ? processed.result : new Response(null, { status: 204 });
    } catch (error) {
      report(onError, error, request);
      const failure = handlerFailureOf(error);
      if (failure.status === 500) pipeline.logFailure(error, event);
      return errorResponse(failure.status, failure.code);
    }
  };
}

/**
 * Reads a Fetch `Request`'s raw body (up to `maxBodyBytes`) and verifies it with
 * `verifyWebhookAsync`, for frameworks that route requests themselves. It does not
 * deduplicate: see `createWebhookReceiver` for verify + dedupe in one call.
 *
 * @returns the verified event.
 * @throws SignatureVerificationError with the code of the failed check.
 * @throws ValidationError `PAYLOAD_TOO_LARGE` for a body over `maxBodyBytes`.
 * @throws ConfigError for bad options, or `CONFIG_INVALID` for a body already read.
 *
 * @example
 * ```ts
 * app.post('/webhooks', async (c) => {
 *   const event = await verifyWebRequest(c.req.raw, { secrets: c.env.WEBHOOK_SECRET });
 *   …
 * });
 * ```
 */
export async function verifyWebRequest<TEvent extends WebhookEvent = WebhookEvent>(
  request: Request,
  options: VerifyWebRequestOptions,
): Promise<TEvent> {
  const resolved = resolveVerifyOptions(options, verifyWebRequestOptionKeys);
  const body = await readRequestBody(request, resolveMaxBodyBytes(options.maxBodyBytes));
  return verifiedEvent<TEvent>(await verifySignatureAsync({ body, headers: request.headers }, resolved), resolved.environment);
}

async function readRequestBody(request: Request, maxBodyBytes: number): Promise<Uint8Array> {
  if (declaredTooLarge(request.headers.get('content-length'), maxBodyBytes)) throw payloadTooLarge(maxBodyBytes);
  if (request.bodyUsed) {
    throw new ConfigError(
      'CONFIG_INVALID',
      'The request body was already read (by `c.req.json()`, a validator or a middleware?): verification needs the raw bytes; pass the untouched Request',
      { field: 'body' },
    );
  }
  const body = await readCappedStream(request.body, maxBodyBytes);
  if (body === null) throw payloadTooLarge(maxBodyBytes);
  return body;
}

/**
 * Reads a body stream whole, or stops at `maxBytes` and cancels it: `null` when it is longer
 * (a chunked body has no length to check up front).
 *
 * @internal Shared with the dashboard's form reader.
 */
export async function readCappedStream(stream: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array | null> {
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return concatChunks(chunks, size);
}

const handlerOptionKeys = receiverKeys('maxBodyBytes', 'onEvent', 'onError');
const verifyWebRequestOptionKeys: ReadonlySet<string> = new Set(['secrets', 'toleranceSeconds', 'now', 'environment', 'maxBodyBytes']);

/** The code sent with a 500: nothing about the cause leaves the process. @internal */
export const INTERNAL_ERROR = 'INTERNAL_ERROR';

/**
 * The code sent with a 409 to a request whose `webhook-id` is being handled right now:
 * the sender retries later, and by then it is processed (a duplicate) or released.
 *
 * @internal
 */
export const IN_FLIGHT_ERROR = 'DUPLICATE_IN_FLIGHT';

/** The body of the 200 sent for a duplicate: the sender's delivery log shows why nothing was done. @internal */
export const DUPLICATE_BODY = JSON.stringify({ outcome: 'duplicate' });

/** The body of the 200 sent for an event older than `maxEventAgeSeconds`, acknowledged without `onEvent`. @internal */
export const STALE_BODY = JSON.stringify({ outcome: 'stale' });

/**
 * The HTTP status and the code to answer for a failed request: 401 for a failed
 * header, timestamp or signature check, 400 for an invalid payload, an event of another
 * environment or a malformed `webhook-sequence` (authentic, but not for this endpoint, or
 * malformed: the code tells the sender's delivery log why), 413 for an oversize body, 500
 * (with a generic code) for anything else.
 *
 * @internal Shared by the Node and Fetch handlers.
 */
export function failureOf(error: unknown): { status: number; code: string } {
  if (isWebhookError(error)) {
    if (error.code === 'WEBHOOK_INVALID_PAYLOAD' || error.code === 'WEBHOOK_ENVIRONMENT_MISMATCH' || error.code === 'WEBHOOK_SEQUENCE_INVALID') {
      return { status: 400, code: error.code };
    }
    if (error.code.startsWith('WEBHOOK_')) return { status: 401, code: error.code };
    if (error.code === 'PAYLOAD_TOO_LARGE') return { status: 413, code: error.code };
  }
  return { status: 500, code: INTERNAL_ERROR };
}

/**
 * The HTTP status and code to answer when the handler failed: 400 for data the
 * router's `validate` hook refused (`EVENT_DATA_INVALID`), 409 for an event the router's
 * `ordering` holds back (`ORDERING_GAP`, `ORDERING_KEY_IN_FLIGHT`: the sender retries it
 * later), 500 for anything else.
 *
 * @internal Shared by every adapter.
 */
export function handlerFailureOf(error: unknown): { status: number; code: string } {
  if (isWebhookError(error)) {
    if (error.code === 'EVENT_DATA_INVALID') return { status: 400, code: error.code };
    if (error.code === 'ORDERING_GAP' || error.code === 'ORDERING_KEY_IN_FLIGHT') return { status: 409, code: error.code };
  }
  return { status: 500, code: INTERNAL_ERROR };
}

/**
 * The JSON body of an error response.
 *
 * @internal Shared by the Node and Fetch handlers.
 */
export function errorBody(code: string): string {
  return JSON.stringify({ error: code });
}

function errorResponse(status: number, code: string, headers: Record<string, string> = {}): Response {
  return new Response(errorBody(code), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/**
 * True when a `content-length` header announces more than the cap.
 *
 * @internal Shared by the Node and Fetch handlers.
 */
export function declaredTooLarge(contentLength: string | null | undefined, maxBodyBytes: number): boolean {
  if (contentLength === null || contentLength === undefined) return false;
  const length = Number(contentLength);
  return Number.isFinite(length) && length > maxBodyBytes;
}

/**
 * The error for a body over the cap.
 *
 * @internal Shared by the Node and Fetch handlers.
 */
export function payloadTooLarge(maxBodyBytes: number): ValidationError {
  return new ValidationError('PAYLOAD_TOO_LARGE', `The request body is larger than maxBodyBytes (${maxBodyBytes})`);
}

/**
 * Concatenates body chunks into one array.
 *
 * @internal Shared by the Node and Fetch handlers.
 */
export function concatChunks(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/**
 * Validates `maxBodyBytes`, defaulting to 1 MiB.
 *
 * @internal Shared by the Node and Fetch handlers.
 * @throws ConfigError `CONFIG_INVALID` unless a positive whole number.
 */
export function resolveMaxBodyBytes(maxBodyBytes: number | undefined): number {
  if (maxBodyBytes === undefined) return DEFAULT_MAX_BODY_BYTES;
  if (typeof maxBodyBytes !== 'number' || !Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`maxBodyBytes\` to be a whole number ≥ 1, got ${describeValue(maxBodyBytes)}`, {
      field: 'maxBodyBytes',
    });
  }
  return maxBodyBytes;
}

/**
 * Validates the `onEvent` and `onError` callbacks of a handler.
 *
 * @internal Shared by every adapter.
 * @throws ConfigError `CONFIG_INVALID` unless functions (`onError` may be absent).
 */
export function resolveCallbacks<T extends { onEvent: unknown; onError?: unknown }>(options: T): Pick<T, 'onEvent' | 'onError'> {
  return { onEvent: requireFunction(options.onEvent, 'onEvent'), onError: requireFunction(options.onError, 'onError', true) };
}

/**
 * Passes a failure to `onError`.
 *
 * @internal Shared by the Node and Fetch handlers.
 */
export function report<TRequest>(onError: ((error: unknown, request: TRequest) => void) | undefined, error: unknown, request: TRequest): void {
  if (onError === undefined) return;
  try {
    onError(error, request);
  } catch {
    // A logging hook that throws must not turn a 401 into a crash or a hung request.
  }
}
