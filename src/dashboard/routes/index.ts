/** Every page and action of the dashboard, by area (each file owns its paths). */
import type { Route } from '../dashboard-context.js';

export const dashboardRoutes: readonly Route[] = [];
