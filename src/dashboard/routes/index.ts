/** Every page and action of the dashboard, by area (each file owns its paths). */
import type { Route } from '../dashboard-context.js';
import { deliveriesRoutes } from './deliveries.js';
import { replayRoutes } from './replay.js';

export const dashboardRoutes: readonly Route[] = [
  ...deliveriesRoutes,
  ...replayRoutes,
];
