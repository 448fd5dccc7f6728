/** Every page and action of the dashboard, by area (each file owns its paths). */
import type { Route } from '../dashboard-context.js';
import { overviewRoutes } from './overview.js';
import { subscriptionRoutes } from './subscriptions.js';

export const dashboardRoutes: readonly Route[] = [...overviewRoutes, ...subscriptionRoutes];
