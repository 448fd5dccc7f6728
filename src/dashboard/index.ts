/**
 * `@bookkeeper/webhooks/dashboard`: the operator's dashboard and the customer portal of a
 * webhooks instance, mounted in the host's app (Express, Fastify, Node `http`, or any
 * Fetch-based framework).
 */
export { createDashboard } from './create-dashboard.js';
export type { Dashboard } from './create-dashboard.js';
export type { DashboardAuthorization, DashboardOptions, DashboardPrincipal } from './dashboard-options.js';
export type { DashboardResponseCode, DashboardSource } from './dashboard-context.js';
export type { FastifyDashboardInstance, FastifyDashboardPlugin, FastifyDashboardReply, FastifyDashboardRequest } from './fastify-adapter.js';
