/**
 * `createDashboard`: the operator's dashboard and the customer portal of a webhooks
 * instance, as one Fetch handler with adapters for Node's `http`, Express and Fastify.
 *
 * Every request goes through the same gate, in this order: without authorization, the
 * loopback check of the `Host` (against DNS rebinding); the static assets (no data, served to
 * anyone); `authorize` (the host's session); `scope` (the portal's tenant); for an action
 * (POST), the read-only switch and the same-origin check against cross-site forms; then the
 * route, which reads and acts through the instance's public API only, so that it works on
 * every storage. Responses carry a Content-Security-Policy with a nonce per response, and
 * are never cached.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkArgumentCount } from '../check-argument-count.js';
import { systemClock } from '../clock.js';
import { ConfigError, ValidationError, describeValue, isWebhookError } from '../errors.js';
import { silentLogger } from '../logger.js';
import type { EventCatalog } from '../events/catalog.js';
import { parseConfig } from '../parse-config.js';
import { isStorableText } from '../storable-text.js';
import { originOfHost, requestTargetUrl, toExpressMiddleware, toNodeHandler, type ExpressFeedRequest } from '../feed/to-node-handler.js';
import { dashboardAssets } from './assets.js';
import { DashboardRefusal, type DashboardAuditDetails, type DashboardContext, type DashboardSource, type Reply, type Route } from './dashboard-context.js';
import { dashboardOptionsSchema, scopedTenantSchema, type DashboardOptions, type DashboardPrincipal } from './dashboard-options.js';
import { fastifyDashboardPlugin, type FastifyDashboardPlugin } from './fastify-adapter.js';
import { errorBody, layout, refusalDocument } from './layout.js';
import { readForm } from './read-form.js';
import { dashboardRoutes } from './routes/index.js';
import { VerificationFailureLog } from './verification-failures.js';

/** What {@link createDashboard} returns. */
export interface Dashboard {
  /** The Fetch handler: give it every request under the base path (Hono, Next.js, Bun, Deno). */
  fetch(request: Request): Promise<Response>;
  /** A Node `http` request listener (`createServer(dashboard.node())`). */
  node(): (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * Express middleware (4 and 5): `app.use('/admin/webhooks', dashboard.express())`. Requests
   * outside the base path go on to the next handler.
   */
  express(): (req: ExpressFeedRequest, res: ServerResponse, next: (error?: unknown) => void) => void;
  /** A Fastify plugin (4 and 5): `app.register(dashboard.fastify(), { prefix: '/admin/webhooks' })`. */
  fastify(): FastifyDashboardPlugin;
  /**
   * Counts a signature verification failure of one of the host's receivers, for the
   * overview (the receivers' `onVerificationFailure` hook can call it): its error code.
   */
  recordVerificationFailure(code: string): void;
}

const jsonType = 'application/json; charset=utf-8';
const htmlType = 'text/html; charset=utf-8';

/**
 * The principal `authorize` returned, checked: a failure of the host's code otherwise (500,
 * logged). Its actor is what a subscription change's `actor` takes (1 to 256 characters
 * without U+0000), so that no action fails later on the actor alone.
 */
function checkPrincipal(value: unknown): DashboardPrincipal {
  const principal = value as Partial<DashboardPrincipal> | null;
  if (
    typeof principal !== 'object' ||
    principal === null ||
    typeof principal.actor !== 'string' ||
    principal.actor.length === 0 ||
    principal.actor.length > 256 ||
    !isStorableText(principal.actor) ||
    (principal.name !== undefined && typeof principal.name !== 'string')
  ) {
    throw new TypeError(`Expected \`authorize\` to return { actor: string (1–256 characters, no U+0000), name?: string }, null, false or a Response, got ${describeValue(value)}`);
  }
  return principal.name === undefined ? { actor: principal.actor } : { actor: principal.actor, name: principal.name };
}

function nonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes));
}

function securityHeaders(scriptNonce: string | null): Record<string, string> {
  const script = scriptNonce === null ? "'none'" : `'nonce-${scriptNonce}'`;
  return {
    'content-security-policy': `default-src 'none'; script-src ${script}; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
  };
}

/** Does the client ask for JSON rather than a page? `?format=json`, or `application/json` before any HTML type in `Accept`. */
function wantsJson(request: Request, url: URL): boolean {
  if (url.searchParams.get('format') === 'json') return true;
  const accept = request.headers.get('accept') ?? '';
  const json = accept.indexOf('application/json');
  const page = accept.indexOf('text/html');
  return json !== -1 && (page === -1 || json < page);
}

/**
 * The origin the client reached the server at: its `Host` header on the URL's scheme, the
 * name it connected to. Not the URL's own origin, which an adapter may have taken from the
 * request target, a part of the request the client chooses (`http://evil.example/admin`, the
 * absolute form). The URL's origin for a request without a Host (a `Request` made in the
 * process); `null` for a Host that is not a host with an optional port.
 */
function reachedOrigin(request: Request, url: URL): URL | null {
  const host = request.headers.get('host');
  if (host === null) return new URL(url.origin);
  const origin = originOfHost(host, url.protocol.slice(0, -1));
  return origin === null ? null : new URL(origin);
}

/**
 * The names of this machine, which a DNS-rebinding page cannot put in the `Host` its browser
 * sends (that is the page's own name, resolved to 127.0.0.1).
 */
const loopbackHostnames = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Matches `/a/:id/b` against a path; `null` when it does not match (or a segment does not decode). */
function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i]!.startsWith(':')) {
      if (got[i] === '') return null;
      try {
        params[want[i]!.slice(1)] = decodeURIComponent(got[i]!);
      } catch {
        return null;
      }
    } else if (want[i] !== got[i]) return null;
  }
  return params;
}

/** The HTTP status of a library error an API call threw. */
function statusOf(code: string, name: string): number {
  if (code.endsWith('_NOT_FOUND')) return 404;
  if (name === 'ValidationError') return 400;
  if (name === 'ConflictError') return 409;
  return 500;
}

/**
 * Creates the dashboard of a webhooks instance.
 *
 * @throws ConfigError `CONFIG_INVALID` for bad options, when `authorize` is missing
 * without `dangerouslyDisableAuthorization`, and when both are given.
 *
 * @example
 * ```ts
 * const dashboard = createDashboard(webhooks, {
 *   basePath: '/admin/webhooks',
 *   authorize: (request) => (isOperator(request) ? { actor: userIdOf(request) } : null),
 * });
 * app.use('/admin/webhooks', dashboard.express());
 * ```
 */
export function createDashboard<TCatalog extends EventCatalog>(webhooks: DashboardSource<TCatalog>, options: DashboardOptions): Dashboard {
  checkArgumentCount(arguments.length, 2, 'createDashboard(webhooks, options)', 'factory');
  return createDashboardWithRoutes(webhooks, options, dashboardRoutes);
}

/**
 * {@link createDashboard} over a given route table, so that the gate is tested with routes
 * of the test's own, apart from the pages.
 *
 * @internal Not exported from the subpath.
 */
export function createDashboardWithRoutes<TCatalog extends EventCatalog>(instance: DashboardSource<TCatalog>, options: DashboardOptions, routes: readonly Route[]): Dashboard {
  // A catalog's subscription input is narrower than the default catalog's (`eventTypes` of
  // its own names), so an instance of any catalog is no `DashboardSource<EventCatalog>` to
  // the compiler; the routes pass what forms say, which the instance checks at run time.
  const webhooks = instance as unknown as DashboardSource;
  if (typeof webhooks !== 'object' || webhooks === null || !['subscriptions', 'deliveries', 'events', 'bus'].every((key) => typeof (webhooks as unknown as Record<string, unknown>)[key] === 'object') || typeof webhooks.metrics !== 'function') {
    throw new ConfigError('CONFIG_INVALID', `Expected \`webhooks\` to be an instance made by createWebhooks(), got ${describeValue(instance)}`, { field: 'webhooks' });
  }
  const resolved = parseConfig(dashboardOptionsSchema, options);
  const { basePath, readOnly, title, trustedOrigins } = resolved;
  const logger = resolved.logger ?? silentLogger;
  const clock = resolved.clock ?? systemClock;
  if (resolved.authorize === undefined && !resolved.dangerouslyDisableAuthorization) {
    throw new ConfigError(
      'CONFIG_INVALID',
      'Expected `authorize` to be a function (request) => principal | null | Response, got undefined: a dashboard can rotate secrets and resend payments, so it decides who may use it (for a laptop only: `dangerouslyDisableAuthorization: true`)',
      { field: 'authorize' },
    );
  }
  if (resolved.authorize !== undefined && resolved.dangerouslyDisableAuthorization) {
    // One of the two would be ignored: a host that sets the opt-out from an environment
    // flag while passing authorize would believe either that it is off or that it is on.
    throw new ConfigError(
      'CONFIG_INVALID',
      'Expected `dangerouslyDisableAuthorization` to be false or absent when `authorize` is given, got true: pass one of them',
      { field: 'dangerouslyDisableAuthorization' },
    );
  }
  const authorize =
    resolved.authorize ??
    (() => {
      logger.warn({ basePath }, 'webhooks dashboard: authorization is disabled (dangerouslyDisableAuthorization): anyone who reaches it can read and act');
      return () => ({ actor: 'anonymous' }) satisfies DashboardPrincipal;
    })();
  const verificationFailures = new VerificationFailureLog();

  function isSameOrigin(request: Request, url: URL): boolean {
    const origin = request.headers.get('origin');
    if (origin !== null && (origin === reachedOrigin(request, url)?.origin || trustedOrigins.includes(origin))) return true;
    // Behind a proxy that rewrites the Host, the browser's own word: a cross-site page
    // cannot make it say same-origin.
    return request.headers.get('sec-fetch-site') === 'same-origin';
  }

  function respond(status: number, body: string, type: string, scriptNonce: string | null, extra: Record<string, string> = {}): Response {
    return new Response(body, { status, headers: { 'content-type': type, ...securityHeaders(scriptNonce), ...extra } });
  }

  function isUnderBasePath(pathname: string): boolean {
    return pathname === basePath || pathname.startsWith(`${basePath}/`);
  }

  /**
   * Express middleware that passes on what is not under the base path: mounted at the root
   * (`app.use(dashboard.express())`), the dashboard must not answer 404 for the app's own
   * routes after it.
   */
  function expressMiddleware(): ReturnType<Dashboard['express']> {
    const middleware = toExpressMiddleware(fetchHandler);
    return (req, res, next) => {
      let pathname: string;
      try {
        // As the middleware will read it: `//x/admin` is a path, not a host and `/admin`.
        pathname = requestTargetUrl('http://localhost', req.originalUrl ?? req.url ?? '/').pathname;
      } catch {
        return next();
      }
      if (isUnderBasePath(pathname)) middleware(req, res, next);
      else next();
    };
  }

  function href(path: string, query?: Record<string, string | number | null | undefined>): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
    }
    const text = search.toString();
    return `${basePath}${path === '/' && basePath !== '' ? '' : path}${text === '' ? '' : `?${text}`}` || '/';
  }

  /**
   * A refusal: JSON for a client that asks for it; otherwise a page, in the layout when the
   * principal is known (`context`), else a bare page (authorize or scope refused or failed).
   */
  function refusalResponse(context: DashboardContext | null, json: boolean, status: number, code: string, message: string, extra: Record<string, string> = {}): Response {
    if (json) return respond(status, JSON.stringify({ error: code, message }), jsonType, null, extra);
    if (context !== null) return respond(status, layout(context, 'Error', errorBody(status, code, message)).value, htmlType, context.nonce, extra);
    const scriptNonce = nonce();
    return respond(status, refusalDocument({ href, title, nonce: scriptNonce }, status, code, message).value, htmlType, scriptNonce, extra);
  }

  function serveAsset(path: string): Response | null {
    for (const asset of Object.values(dashboardAssets)) {
      if (path === `/assets/${asset.name}`) {
        return new Response(asset.body, {
          status: 200,
          headers: { 'content-type': asset.type, 'cache-control': 'public, max-age=31536000, immutable', 'x-content-type-options': 'nosniff' },
        });
      }
    }
    return null;
  }

  function makeContext(request: Request, url: URL, principal: DashboardPrincipal, tenantId: string | undefined): DashboardContext {
    let fields: Promise<URLSearchParams> | undefined;
    const scriptNonce = nonce();
    const visible = (recordTenant: string | null) => tenantId === undefined || recordTenant === tenantId;
    return {
      request,
      url,
      basePath,
      principal,
      tenantId,
      readOnly,
      title,
      webhooks,
      verificationFailures,
      nonce: scriptNonce,
      now: () => clock.now(),
      href,
      form: () => (fields ??= readForm(request)),
      async subscription(id) {
        const subscription = await webhooks.subscriptions.get(id);
        if (subscription === null || !visible(subscription.tenantId)) throw new DashboardRefusal(404, 'NOT_FOUND', `No subscription with id ${describeValue(id)}`);
        return subscription;
      },
      async delivery(id) {
        const delivery = await webhooks.deliveries.get(id);
        if (delivery === null || !visible(delivery.tenantId)) throw new DashboardRefusal(404, 'NOT_FOUND', `No delivery with id ${describeValue(id)}`);
        return delivery;
      },
      audit(action: string, details: DashboardAuditDetails) {
        const { subscriptionId, deliveryId, ...rest } = details;
        const extra: Record<string, string | number | boolean | null> = {};
        for (const [key, value] of Object.entries(rest)) if (value !== undefined) extra[key] = value;
        const event = {
          action,
          actor: principal.actor,
          tenantId: tenantId ?? null,
          subscriptionId: subscriptionId ?? null,
          deliveryId: deliveryId ?? null,
          at: clock.now(),
          details: extra,
        };
        logger.info({ ...event }, `webhooks dashboard: ${action}`);
        // safeEmit: a listener that throws is the bus's to report; the action is done and its answer stands.
        webhooks.bus.safeEmit('dashboard:action', event);
      },
    };
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const json = wantsJson(request, url);
    if (resolved.dangerouslyDisableAuthorization && !loopbackHostnames.has(reachedOrigin(request, url)?.hostname ?? '')) {
      const host = request.headers.get('host') ?? url.host;
      logger.warn({ path: url.pathname, method: request.method, host }, 'webhooks dashboard: request refused: authorization is disabled and the Host is not a loopback name');
      return refusalResponse(
        null,
        json,
        403,
        'DASHBOARD_FORBIDDEN',
        `Without authorization this dashboard answers only at localhost, 127.0.0.1 or [::1], got the Host ${describeValue(host)}`,
      );
    }
    if (!isUnderBasePath(url.pathname)) {
      return refusalResponse(null, true, 404, 'NOT_FOUND', `Not under the dashboard's base path ${describeValue(basePath || '/')}`);
    }
    const path = url.pathname.slice(basePath.length) || '/';
    if (path.startsWith('/assets/') && (request.method === 'GET' || request.method === 'HEAD')) {
      const asset = serveAsset(path);
      if (asset !== null) return asset;
    }

    const authorization = await authorize(request);
    if (authorization instanceof Response) return authorization;
    if (authorization === null || authorization === false) {
      logger.warn({ path, method: request.method }, 'webhooks dashboard: request refused by authorize');
      return refusalResponse(null, json, 403, 'DASHBOARD_FORBIDDEN', 'This dashboard is not open to you');
    }
    const principal = checkPrincipal(authorization);
    let tenantId: string | undefined;
    if (resolved.scope !== undefined) {
      const scoped = await resolved.scope(request, principal);
      if (scoped === null) {
        logger.warn({ actor: principal.actor, path }, 'webhooks dashboard: request refused by scope');
        return refusalResponse(null, json, 403, 'DASHBOARD_FORBIDDEN', 'This portal is not open to you');
      }
      const parsed = scopedTenantSchema.safeParse(scoped);
      if (!parsed.success) throw new TypeError(`Expected \`scope\` to return a tenant id or null, got ${describeValue(scoped)}`);
      tenantId = parsed.data;
    }
    const context = makeContext(request, url, principal, tenantId);

    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const candidates = routes
      .filter((route) => !(tenantId !== undefined && route.operatorOnly === true))
      .map((route) => ({ route, params: match(route.path, path) }))
      .filter((candidate) => candidate.params !== null);
    const found = candidates.find((candidate) => candidate.route.method === method);
    if (found === undefined) {
      if (candidates.length > 0) {
        // RFC 9110 §15.5.6: a 405 says which methods the resource takes.
        const methods = new Set(candidates.flatMap(({ route }) => (route.method === 'GET' ? ['GET', 'HEAD'] : [route.method])));
        return refusalResponse(context, json, 405, 'METHOD_NOT_ALLOWED', `${request.method} is not answered here`, { allow: [...methods].join(', ') });
      }
      return refusalResponse(context, json, 404, 'NOT_FOUND', 'There is no such page');
    }
    if (method === 'POST') {
      if (readOnly) {
        logger.warn({ actor: principal.actor, path }, 'webhooks dashboard: action refused: read only');
        return refusalResponse(context, json, 403, 'DASHBOARD_READ_ONLY', 'This dashboard is read only');
      }
      if (!isSameOrigin(request, url)) {
        logger.warn({ actor: principal.actor, path, origin: request.headers.get('origin') }, 'webhooks dashboard: action refused: not from this origin');
        return refusalResponse(context, json, 403, 'DASHBOARD_CSRF', 'Actions are taken only from the dashboard’s own pages');
      }
    }

    let reply: Reply;
    try {
      reply = await found.route.handle(context, found.params!);
    } catch (error) {
      if (error instanceof DashboardRefusal) {
        if (method === 'POST') logger.warn({ code: error.code, path, actor: principal.actor }, 'webhooks dashboard: action refused');
        return refusalResponse(context, json, error.status, error.code, error.message);
      }
      if (isWebhookError(error) && statusOf(error.code, error.name) < 500) {
        if (method === 'POST') logger.warn({ code: error.code, path, actor: principal.actor }, 'webhooks dashboard: action refused');
        return refusalResponse(context, json, statusOf(error.code, error.name), error.code, error.message);
      }
      // A failure of the storage or of the code (StorageError, ConfigError, a plain Error):
      // the log has it; the response says nothing of it, not even the storage's code.
      logger.error({ err: error, path, actor: principal.actor }, 'webhooks dashboard: request failed');
      return refusalResponse(context, json, 500, 'INTERNAL_ERROR', 'The request failed; it was logged');
    }

    if (reply.kind === 'redirect') {
      // A JSON client of an action gets its result; a page that is elsewhere (a GET) is elsewhere for every client.
      if (json && method === 'POST') return respond(200, JSON.stringify(reply.data), jsonType, null);
      return respond(303, '', 'text/plain; charset=utf-8', null, { location: reply.location });
    }
    if (json) return respond(reply.status ?? 200, JSON.stringify(reply.data), jsonType, null);
    return respond(reply.status ?? 200, layout(context, reply.title, reply.body).value, htmlType, context.nonce);
  }

  async function fetchHandler(request: Request): Promise<Response> {
    try {
      return await handle(request);
    } catch (error) {
      // authorize or scope threw, or returned what is not a principal or a tenant id: a
      // failure of the host's code, logged; the response says nothing of it.
      const json = wantsJson(request, new URL(request.url));
      if (error instanceof DashboardRefusal) return refusalResponse(null, json, error.status, error.code, error.message);
      logger.error({ err: error }, 'webhooks dashboard: request failed');
      return refusalResponse(null, json, 500, 'INTERNAL_ERROR', 'The request failed; it was logged');
    }
  }

  return {
    fetch: fetchHandler,
    node: () => toNodeHandler(fetchHandler),
    express: expressMiddleware,
    fastify: () => fastifyDashboardPlugin(fetchHandler),
    recordVerificationFailure(code) {
      if (typeof code !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(code)) {
        throw new ValidationError('INPUT_INVALID', `Expected \`code\` to be an error code such as "WEBHOOK_NO_MATCHING_SIGNATURE", got ${describeValue(code)}`, { field: 'code' });
      }
      verificationFailures.record(code, clock.now());
    },
  };
}
