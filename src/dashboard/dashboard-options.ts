/**
 * Options of `createDashboard`: who may use it (`authorize`), for which tenant (`scope`:
 * the customer portal), and whether it may act (`readOnly`). Parsed once by a zod schema
 * (a type test keeps the two in step); unknown keys fail loudly.
 */
import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { tenantIdSchema } from '../tenant-id.js';

/** Who is using the dashboard, as `authorize` says. */
export interface DashboardPrincipal {
  /**
   * Who acts: written as `actor` in the change log of every change made through the
   * dashboard, in its log lines and its `dashboard:action` bus events (for example the
   * host's user id, `"user:42"`).
   */
  actor: string;
  /** Shown in the page header; `actor` when absent. */
  name?: string;
}

/**
 * What `authorize` answers: a principal to let the request in; `null` or `false` to refuse
 * it (403); or a `Response` to answer instead (a redirect to the host's login page, say).
 */
export type DashboardAuthorization = DashboardPrincipal | null | false | Response;

export interface DashboardOptions {
  /**
   * The path the dashboard is mounted under: every link and form it renders starts with it,
   * and the requests it is given must start with it (Express's `originalUrl`, the full URL
   * of a Fetch request).
   * @defaultValue '' (the root)
   * @example '/admin/webhooks'
   */
  basePath?: string;
  /**
   * Decides who may use the dashboard, on every request (pages, actions, JSON): return the
   * principal, `null`/`false` to refuse (403), or a `Response` to answer instead. Required:
   * a dashboard can rotate secrets and resend payments. Only
   * {@link DashboardOptions.dangerouslyDisableAuthorization} lets it be left out.
   */
  authorize?: (request: Request) => DashboardAuthorization | Promise<DashboardAuthorization>;
  /**
   * Serves everyone who reaches the dashboard, as the actor `"anonymous"`: for a laptop, never
   * for a server. Only at a loopback `Host` (`localhost`, `127.0.0.1`, `[::1]`, any port): any
   * other is refused with 403 `DASHBOARD_FORBIDDEN`, so that a web page whose name was rebound to
   * 127.0.0.1 (DNS rebinding) cannot use it. Logged as a warning at creation. Refused together
   * with `authorize`.
   * @defaultValue false
   */
  dangerouslyDisableAuthorization?: boolean;
  /**
   * The customer portal: the tenant the request acts for (from the host's session). With it,
   * the dashboard shows and changes only that tenant's endpoints, deliveries and attempts;
   * an id of another tenant's reads as unknown (404). Return `null` to refuse (403).
   */
  scope?: (request: Request, principal: DashboardPrincipal) => string | null | Promise<string | null>;
  /**
   * Reading only: every action (POST) is refused with 403 `DASHBOARD_READ_ONLY`, and no
   * action button is rendered.
   * @defaultValue false
   */
  readOnly?: boolean;
  /** @defaultValue 'Webhooks' */
  title?: string;
  /** Every action, with its actor, is logged at `info` (refusals at `warn`, failures at `error`). @defaultValue silent */
  logger?: Logger;
  /**
   * Origins (`https://admin.example.com`) besides the request's own that may post actions,
   * for a dashboard behind a proxy that rewrites the Host. Actions are refused unless the
   * browser says the form came from the same origin (`Sec-Fetch-Site`) or its `Origin` is
   * the one the request reached (its `Host`) or one of these.
   * @defaultValue []
   */
  trustedOrigins?: string[];
  /** The time pages show and windows are computed from. @defaultValue systemClock */
  clock?: Pick<Clock, 'now'>;
}

const isFunction = (value: unknown) => typeof value === 'function';

/** Parses {@link DashboardOptions}. @internal */
export const dashboardOptionsSchema = z.strictObject({
  basePath: z
    .string()
    .regex(/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*\/?$/, 'a path such as "/admin/webhooks" (or "")')
    .default('')
    .transform((path) => (path.endsWith('/') ? path.slice(0, -1) : path)),
  authorize: z.custom<NonNullable<DashboardOptions['authorize']>>(isFunction, { message: 'a function (request) => principal | null | Response' }).optional(),
  dangerouslyDisableAuthorization: z.boolean().default(false),
  scope: z.custom<NonNullable<DashboardOptions['scope']>>(isFunction, { message: 'a function (request, principal) => tenantId | null' }).optional(),
  readOnly: z.boolean().default(false),
  title: z.string().min(1).max(100).default('Webhooks'),
  logger: z
    .custom<Logger>(
      (value) => typeof value === 'object' && value !== null && ['info', 'warn', 'error'].every((name) => isFunction((value as Record<string, unknown>)[name])),
      { message: 'a logger with info(), warn() and error()' },
    )
    .optional(),
  trustedOrigins: z
    .array(
      z
        .string()
        .refine((origin) => {
          try {
            return new URL(origin).origin === origin;
          } catch {
            return false;
          }
        }, 'an origin such as "https://admin.example.com" (scheme, host, port; no path)'),
    )
    .max(100)
    .default([]),
  clock: z.custom<Pick<Clock, 'now'>>((value) => typeof value === 'object' && value !== null && isFunction((value as Clock).now), { message: 'a clock { now() }' }).optional(),
});

export type ResolvedDashboardOptions = z.output<typeof dashboardOptionsSchema>;

/** A tenant id that `scope` returned, checked as the library checks every tenant id. */
export const scopedTenantSchema = tenantIdSchema;
