/** Every page and action of the dashboard, by area (each file owns its paths). */
import type { Route } from '../dashboard-context.js';
import { deliveriesRoutes } from './deliveries.js';
import { overviewRoutes } from './overview.js';
import { replayRoutes } from './replay.js';
import { subscriptionRoutes } from './subscriptions.js';

export const dashboardRoutes: readonly Route[] = [...overviewRoutes, ...subscriptionRoutes, ...replayRoutes, ...deliveriesRoutes];
