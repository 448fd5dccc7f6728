/**
 * Fetch handlers of the main entry (the event feed) on Node's `http` server and in Express:
 * `toNodeHandler` and `toExpressMiddleware`, the same shapes as the receiver's
 * `createNodeHandler` (`(req, res) => void`) and `expressWebhook` (`(req, res, next) => void`).
 *
 * The request URL is the path and query the client asked for (Express: `req.originalUrl`, so
 * a handler mounted with `app.use('/feed', …)` sees `/feed/events`, the path a consumer signs),
 * on the origin of the `Host` header (or `localhost` when it does not parse), never on a host
 * the request target names. Its body is streamed for methods that have one; the response is
 * written whole.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { ValidationError } from '../errors.js';

/** A Fetch handler, such as `createEventFeedHandler` returns. */
export type FetchHandler = (request: Request) => Promise<Response>;

/** The part of an Express request the middleware reads. */
export interface ExpressFeedRequest extends IncomingMessage {
  /** The URL before Express's routers cut the mount path off it. */
  originalUrl?: string;
  /** What a body parser (`express.json()`, `express.urlencoded()`) made of the body, when one ran first. */
  body?: unknown;
}

/**
 * The body when a parser mounted before the handler already read it off the stream
 * (`express.json()`, `express.urlencoded()`, `express.text()`, `express.raw()`): the stream
 * has ended, so the body goes on as the parser left it — an object as JSON, text and bytes
 * as they are under their own content type — or as no body when nothing was kept of it.
 * `undefined` while the stream is unread (it is then streamed).
 *
 * Ended is the test, not a parser's mark: body-parser 1 (Express 4) sets `req._body`,
 * body-parser 2 (Express 5) sets nothing, and a stream read to its end cannot be read again
 * (a Request over it throws).
 */
function consumedBody(req: ExpressFeedRequest): { body: string | Uint8Array<ArrayBuffer> | null; type: string | null } | undefined {
  if (!req.readableEnded) return undefined;
  const { body } = req;
  if (Buffer.isBuffer(body)) return { body: new Uint8Array(body), type: null };
  if (typeof body === 'string') return { body, type: null };
  if (typeof body === 'object' && body !== null) return { body: writtenBack(body), type: 'application/json' };
  return { body: null, type: null };
}

/**
 * What a JSON parser made of a body, as JSON again. A body nested deeper than the stack that
 * writing it takes (body-parser reads any depth) is a bad request, as one it could not parse
 * is: `INPUT_INVALID`, with `status` 400 as body-parser's own errors have, so that Express
 * answers 400.
 */
function writtenBack(body: object): string {
  try {
    return JSON.stringify(body);
  } catch (cause) {
    const error = new ValidationError('INPUT_INVALID', 'Expected a request body that JSON can write back, got one nested deeper than the stack allows', { cause });
    throw Object.assign(error, { status: 400 });
  }
}

/**
 * The origin of a `Host` header on `scheme` (`http`, `https`); `null` when it is not a host with
 * an optional port (a path, a user or a fragment in it is refused, not cut off).
 *
 * @internal Shared with the dashboard's gate.
 */
export function originOfHost(host: string, scheme: string): string | null {
  if (/[\s/\\?#@]/.test(host)) return null;
  try {
    return new URL(`${scheme}://${host}`).origin;
  } catch {
    return null;
  }
}

/**
 * The URL of a request target on `origin`: its path and query only. The host is never the
 * target's: `new URL(target, base)` reads `//evil.example/admin` as a URL of that host (a path
 * a browser sends as it is, `https://dashboard.example//evil.example/admin`), and the absolute
 * form (`http://evil.example/admin`) names one too; a same-origin check against such a URL
 * compares the attacker's `Origin` with the attacker's host.
 *
 * @internal Shared with the dashboard's Express middleware.
 */
export function requestTargetUrl(origin: string, target: string): URL {
  if (target.startsWith('/')) return new URL(`${origin}${target}`);
  try {
    const absolute = new URL(target);
    if (absolute.protocol === 'http:' || absolute.protocol === 'https:') return new URL(`${origin}${absolute.pathname}${absolute.search}`);
  } catch {
    // Neither a path nor a URL (`*`): a path it is.
  }
  return new URL(`${origin}/${target}`);
}

/**
 * The URL (`path` on the origin of the `Host` header, `localhost` when it does not parse) and
 * the headers of a Node request, as a Fetch `Request` takes them.
 *
 * @internal Shared with the dashboard's Fastify plugin.
 */
export function urlAndHeadersOf(req: IncomingMessage, path: string): { url: URL; headers: Headers } {
  const protocol = (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
  const hostOrigin = req.headers.host === undefined ? null : originOfHost(req.headers.host, protocol);
  const url = requestTargetUrl(hostOrigin ?? `${protocol}://localhost`, path);
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    // HTTP/2 pseudo-headers (`:path`) are not headers a Request can hold.
    if (!req.rawHeaders[i]!.startsWith(':')) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  return { url, headers };
}

function toRequest(req: ExpressFeedRequest, path: string): Request {
  const { url, headers } = urlAndHeadersOf(req, path);
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') return new Request(url, { method, headers });
  const consumed = consumedBody(req);
  if (consumed !== undefined) {
    // What the parser left is decoded (body-parser inflates gzip) and of another length.
    for (const name of ['content-length', 'content-encoding', 'transfer-encoding']) headers.delete(name);
    if (consumed.type !== null) headers.set('content-type', consumed.type);
    return new Request(url, { method, headers, body: consumed.body });
  }
  return new Request(url, { method, headers, body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' } as RequestInit);
}

async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const body = response.body === null ? null : Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  if (body !== null) headers['content-length'] = String(body.length);
  res.writeHead(response.status, headers);
  res.end(body);
}

/**
 * Methods a Fetch `Request` cannot be made with (the Fetch standard's forbidden methods; Node's
 * parser takes `TRACE`): no Fetch handler can be asked about them, so the bridge answers them.
 */
const unbridgeableMethods = new Set(['CONNECT', 'TRACE', 'TRACK']);

/**
 * The answer to a method no handler can be given: a 405, as the handlers answer a method they
 * do not take, and not a failure (the `Request` constructor throws on it, which a host's error
 * handler would log and answer with a 500, in Express's development mode with the stack).
 */
function methodNotAllowed(res: ServerResponse): void {
  const body = JSON.stringify({ error: 'METHOD_NOT_ALLOWED' });
  res.writeHead(405, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

async function bridge(handler: FetchHandler, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (unbridgeableMethods.has((req.method ?? 'GET').toUpperCase())) {
    methodNotAllowed(res);
    return;
  }
  const response = await handler(toRequest(req, path));
  await writeResponse(response, res);
}

/**
 * A Node `http` request listener that serves a Fetch handler.
 *
 * @example
 * ```ts
 * createServer(toNodeHandler(createEventFeedHandler(webhooks, { basePath: '/feed' }))).listen(8080);
 * ```
 */
export function toNodeHandler(handler: FetchHandler): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    bridge(handler, req, res, req.url ?? '/').catch(() => {
      // Only reached when the request cannot be turned into a Request or the answer cannot be
      // written (the client went away): nobody is left to answer but the socket.
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'INTERNAL_ERROR' }));
      } else {
        res.destroy();
      }
    });
  };
}

/**
 * Express middleware (Express 4 and 5) that serves a Fetch handler; a failure to bridge the
 * request goes to `next(error)`. Mount it where the handler's `basePath` says.
 *
 * @example
 * ```ts
 * app.get('/webhooks/feed/events', toExpressMiddleware(createEventFeedHandler(webhooks, { basePath: '/webhooks/feed' })));
 * ```
 */
export function toExpressMiddleware(handler: FetchHandler): (req: ExpressFeedRequest, res: ServerResponse, next: (error?: unknown) => void) => void {
  return (req, res, next) => {
    bridge(handler, req, res, req.originalUrl ?? req.url ?? '/').catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else next(error);
    });
  };
}
