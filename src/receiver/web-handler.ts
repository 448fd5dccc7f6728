/**
 * Receiving webhooks as Fetch `Request`s (Hono, Next.js route handlers, Bun,
 * Deno, Cloudflare Workers): `createWebHandler` and `verifyWebRequest`, on
 * `verifyWebhookAsync`. Also the HTTP rules both handlers share.
 */
import { ConfigError, ValidationError, describeValue, isWebhookError } from '../errors.js';
import {
  parseWebhookEvent,
  resolveVerifyOptions,
  type ResolvedVerifyOptions,
  type VerifyWebhookOptions,
  type WebhookEvent,
} from '../signing/verify-signature.js';
import { verifySignatureAsync } from './verify-webhook-async.js';

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
export interface WebHandlerOptions<TEvent extends WebhookEvent = WebhookEvent> {
  /** One `whsec_…` secret, or several during a rotation. */
  secrets: string | readonly string[];
  /**
   * How far `webhook-timestamp` may be from now, either way, in seconds.
   * @defaultValue 300
   */
  toleranceSeconds?: number;
  /**
   * Largest body read, in bytes; a longer one is answered 413.
   * @defaultValue 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Called with each verified event. Resolve to answer 204; return a `Response`
   * to send it instead; throw to answer 500 (the sender retries).
   */
  onEvent(event: TEvent, request: Request): void | Response | Promise<void | Response>;
  /**
   * Called with every failure (verification, oversize body, a throwing `onEvent`),
   * for logging and for counting verification failures by `code`. Its own errors are ignored.
   */
  onError?(error: unknown, request: Request): void;
}

/**
 * A Fetch handler that verifies webhooks and passes their events to `onEvent`.
 *
 * Answers: 204 once `onEvent` resolves; 405 to anything but POST; 413 to a body over
 * `maxBodyBytes`; 401 when a header, the timestamp or the signature fails; 400 for a
 * signed body that is not an event envelope; 500 when `onEvent` throws. Error
 * responses carry only `{ "error": "<code>" }`.
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
  const resolved = resolveVerifyOptions(options, handlerOptionKeys);
  const maxBodyBytes = resolveMaxBodyBytes(options.maxBodyBytes);
  const { onEvent, onError } = resolveCallbacks(options);

  return async (request: Request): Promise<Response> => {
    if (request.method !== 'POST') return errorResponse(405, 'METHOD_NOT_ALLOWED', { allow: 'POST' });
    let event: TEvent;
    try {
      event = await verifyResolved<TEvent>(request, resolved, maxBodyBytes);
    } catch (error) {
      report(onError, error, request);
      const failure = failureOf(error);
      return errorResponse(failure.status, failure.code);
    }
    try {
      const response = await onEvent(event, request);
      return response instanceof Response ? response : new Response(null, { status: 204 });
    } catch (error) {
      report(onError, error, request);
      return errorResponse(500, INTERNAL_ERROR);
    }
  };
}

/**
 * Reads a Fetch `Request`'s raw body (up to `maxBodyBytes`) and verifies it with
 * `verifyWebhookAsync`, for frameworks that route requests themselves.
 *
 * @returns the verified event.
 * @throws SignatureVerificationError with the code of the failed check.
 * @throws ValidationError `PAYLOAD_TOO_LARGE` for a body over `maxBodyBytes`.
 * @throws ConfigError for bad options.
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
  return verifyResolved<TEvent>(request, resolved, resolveMaxBodyBytes(options.maxBodyBytes));
}

async function verifyResolved<TEvent extends WebhookEvent>(
  request: Request,
  options: ResolvedVerifyOptions,
  maxBodyBytes: number,
): Promise<TEvent> {
  const body = await readRequestBody(request, maxBodyBytes);
  return parseWebhookEvent<TEvent>(await verifySignatureAsync({ body, headers: request.headers }, options));
}

async function readRequestBody(request: Request, maxBodyBytes: number): Promise<Uint8Array> {
  if (declaredTooLarge(request.headers.get('content-length'), maxBodyBytes)) throw payloadTooLarge(maxBodyBytes);
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBodyBytes) {
      // A chunked body has no length to check up front: stop reading at the cap.
      await reader.cancel().catch(() => undefined);
      throw payloadTooLarge(maxBodyBytes);
    }
    chunks.push(value);
  }
  return concatChunks(chunks, size);
}

const handlerOptionKeys: ReadonlySet<string> = new Set(['secrets', 'toleranceSeconds', 'maxBodyBytes', 'onEvent', 'onError']);
const verifyWebRequestOptionKeys: ReadonlySet<string> = new Set(['secrets', 'toleranceSeconds', 'now', 'maxBodyBytes']);

/** The code sent with a 500: nothing about the cause leaves the process. @internal */
export const INTERNAL_ERROR = 'INTERNAL_ERROR';

/**
 * The HTTP status and the code to answer for a failed request: 401 for a failed
 * header, timestamp or signature check, 400 for an invalid payload, 413 for an
 * oversize body, 500 (with a generic code) for anything else.
 *
 * @internal Shared by the Node and Fetch handlers.
 */
export function failureOf(error: unknown): { status: number; code: string } {
  if (isWebhookError(error)) {
    if (error.code === 'WEBHOOK_INVALID_PAYLOAD') return { status: 400, code: error.code };
    if (error.code.startsWith('WEBHOOK_')) return { status: 401, code: error.code };
    if (error.code === 'PAYLOAD_TOO_LARGE') return { status: 413, code: error.code };
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
 * @internal Shared by the Node and Fetch handlers.
 * @throws ConfigError `CONFIG_INVALID` unless functions (`onError` may be absent).
 */
export function resolveCallbacks<T extends { onEvent: unknown; onError?: unknown }>(options: T): Pick<T, 'onEvent' | 'onError'> {
  if (typeof options.onEvent !== 'function') {
    throw new ConfigError('CONFIG_INVALID', `Expected \`onEvent\` to be a function, got ${describeValue(options.onEvent)}`, { field: 'onEvent' });
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new ConfigError('CONFIG_INVALID', `Expected \`onError\` to be a function, got ${describeValue(options.onError)}`, { field: 'onError' });
  }
  return { onEvent: options.onEvent, onError: options.onError };
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
