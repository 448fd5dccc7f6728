/**
 * What a dashboard route is given: the request, who makes it and for which tenant, the
 * instance to read and act through, and the shared rules every page follows (links under
 * the base path, the scope check on every id, the audit of every action).
 */
import type { Webhooks } from '../create-webhooks.js';
import type { EventCatalog } from '../events/catalog.js';
import type { Subscription } from '../registry/subscription-registry.js';
import type { DeliveryRecord } from '../storage/storage-adapter.js';
import type { DashboardPrincipal } from './dashboard-options.js';
import type { Html } from './html.js';
import type { VerificationFailureLog } from './verification-failures.js';

/**
 * The part of a webhooks instance the dashboard uses: its public API only. Any
 * `createWebhooks()` result, whatever its catalog (`createDashboard` takes the catalog as a
 * type parameter; the routes see the instance as `DashboardSource`, with event types as
 * strings checked at run time, since they come from forms).
 */
export type DashboardSource<TCatalog extends EventCatalog = EventCatalog> = Pick<Webhooks<TCatalog>, 'subscriptions' | 'deliveries' | 'events' | 'metrics' | 'bus'>;

/** An action done through the dashboard, as logged and announced on the bus (`dashboard:action`). */
export interface DashboardAuditDetails {
  subscriptionId?: string;
  deliveryId?: string;
  /** Anything else worth keeping (counts, a time range); never a secret. */
  [key: string]: string | number | boolean | null | undefined;
}

export interface DashboardContext {
  readonly request: Request;
  readonly url: URL;
  readonly basePath: string;
  readonly principal: DashboardPrincipal;
  /** `undefined` for the operator's dashboard (every tenant); the tenant of the customer portal. */
  readonly tenantId: string | undefined;
  readonly readOnly: boolean;
  readonly title: string;
  readonly webhooks: DashboardSource;
  /** Signature verification failures the host reported (`dashboard.recordVerificationFailure`). */
  readonly verificationFailures: VerificationFailureLog;
  /** The script nonce of this response (the layout's `<script>`). */
  readonly nonce: string;
  now(): number;
  /** A link under the base path; `query` entries that are `undefined`, `null` or `''` are left out. */
  href(path: string, query?: Record<string, string | number | null | undefined>): string;
  /** The fields of a POST (form-encoded or a flat JSON object), read once. */
  form(): Promise<URLSearchParams>;
  /**
   * The subscription with this id if this request may see it (in the portal: its tenant's);
   * otherwise a 404 refusal — the same for an id of another tenant's as for an unknown one.
   */
  subscription(id: string): Promise<Subscription>;
  /** The delivery with this id under the same rule as {@link DashboardContext.subscription}. */
  delivery(id: string): Promise<DeliveryRecord>;
  /** Records a completed action: the logger at `info` and `dashboard:action` on the bus. */
  audit(action: string, details: DashboardAuditDetails): void;
}

/** A page: rendered in the layout, or its `data` as JSON for a client that asks for JSON. */
export interface PageReply {
  kind: 'page';
  title: string;
  body: Html;
  data: unknown;
  status?: number;
}

/** After an action: 303 to `location` (a path under the base path, with `?done=` for the notice). */
export interface RedirectReply {
  kind: 'redirect';
  location: string;
  /** What a JSON client gets instead of the redirect. */
  data: unknown;
}

export type Reply = PageReply | RedirectReply;

export interface Route {
  method: 'GET' | 'POST';
  /** Under the base path, with `:name` segments: `/deliveries/:id/redeliver`. */
  path: string;
  /** An operator's page or action: not served in the customer portal (404 there). */
  operatorOnly?: boolean;
  handle(context: DashboardContext, params: Record<string, string>): Promise<Reply>;
}

/**
 * A request refused for a reason of the dashboard's own: the status and the `error` code
 * to answer with (a page, or `{ "error": code }` as JSON).
 */
export class DashboardRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: DashboardResponseCode,
    message: string,
  ) {
    super(message);
    this.name = 'DashboardRefusal';
  }
}

/** The `error` codes the dashboard answers with besides the library's own error codes. */
export type DashboardResponseCode =
  | 'DASHBOARD_FORBIDDEN'
  | 'DASHBOARD_CSRF'
  | 'DASHBOARD_READ_ONLY'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'INPUT_INVALID'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INTERNAL_ERROR';
