/**
 * The customer portal's tenant boundary, over every route the dashboard has (the route
 * table itself, so a page added later is covered without a new test): in Acme's portal, an
 * id of Globex's subscription or delivery, or of the platform's, answers the same 404 as an
 * unknown id, on every page and every action, and nothing changes — no record, no request
 * to an endpoint, no audit entry, and each refused action is logged at `warn`. Operator-only
 * pages are not served at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { dashboardRoutes } from '../../src/dashboard/routes/index.js';
import { createWebhooks, type DashboardActionEvent, type Webhooks } from '../../src/index.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { recordingLogger, type LoggedLine } from '../support/recording-logger.js';
import { samplePayment } from '../support/sample-payment.js';

const base = 'http://localhost/portal';
let webhooks: Webhooks;
let receiver: LoopbackReceiver;
let portal: ReturnType<typeof createDashboard>;
const audit: DashboardActionEvent[] = [];
let warnings: LoggedLine[];
const foreign = { subscriptions: [] as string[], deliveries: [] as string[] };

async function state() {
  const subscriptions = (await webhooks.subscriptions.list({ includeDeleted: true })).items;
  return {
    subscriptions,
    secrets: await Promise.all(subscriptions.map((subscription) => webhooks.subscriptions.getSecrets(subscription.id))),
    deliveries: (await webhooks.deliveries.list()).items,
  };
}

beforeAll(async () => {
  receiver = await LoopbackReceiver.start(() => ({ status: 500 }));
  webhooks = createWebhooks({ meter: false, security: { allowPrivateNetworks: true }, retry: { delaysMs: [] } });
  const acme = await webhooks.subscriptions.create({ tenantId: 'acme', url: receiver.url, eventTypes: ['payment.*'] });
  const globex = await webhooks.subscriptions.create({ tenantId: 'globex', url: receiver.url, eventTypes: ['payment.*'] });
  const platform = await webhooks.subscriptions.create({ allTenants: true, url: receiver.url, eventTypes: ['*'] });
  await webhooks.start();
  await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'acme' });
  await webhooks.publish('payment.succeeded', samplePayment(2), { tenantId: 'globex' });
  await webhooks.drain();
  await webhooks.stop();
  const deliveries = (await webhooks.deliveries.list()).items;
  expect(deliveries.map((delivery) => delivery.status).sort()).toEqual(['dead', 'dead', 'dead', 'dead']);
  foreign.subscriptions.push(globex.id, platform.id, 'sub_unknown');
  foreign.deliveries.push(...deliveries.filter((delivery) => delivery.subscriptionId !== acme.id).map((delivery) => delivery.id), 'dlv_unknown');
  receiver.requests.length = 0;
  const recorded = recordingLogger();
  warnings = recorded.warnings;
  portal = createDashboard(webhooks, { basePath: '/portal', authorize: () => ({ actor: 'user:acme-admin' }), scope: () => 'acme', logger: recorded.logger });
  webhooks.bus.on('dashboard:action', (event) => audit.push(event));
});

afterAll(async () => {
  await webhooks?.close();
  await receiver?.close();
});

/** Every route with an id in its path, with the ids of other tenants' records it must not reach. */
const routesWithIds = dashboardRoutes.filter((route) => route.path.includes(':id') && route.operatorOnly !== true);

describe('the customer portal on every route of the dashboard', () => {
  it('has routes with ids to check (the table is read, not a list written here)', () => {
    expect(routesWithIds.length).toBeGreaterThanOrEqual(10);
    expect(routesWithIds.every((route) => route.path.startsWith('/subscriptions/') || route.path.startsWith('/deliveries/'))).toBe(true);
  });

  it('answers 404 for another tenant’s or the platform’s ids on every page and action, and changes nothing', async () => {
    const before = await state();
    warnings.length = 0;
    const refusedActions: unknown[] = [];
    for (const route of routesWithIds) {
      const ids = route.path.startsWith('/deliveries/') ? foreign.deliveries : foreign.subscriptions;
      for (const id of ids) {
        const path = route.path.replace(':id', encodeURIComponent(id));
        const response = await portal.fetch(
          new Request(`${base}${path}`, {
            method: route.method,
            headers: { accept: 'application/json', origin: 'http://localhost', ...(route.method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
            ...(route.method === 'POST' ? { body: '' } : {}),
          }),
        );
        expect(response.status, `${route.method} ${path}`).toBe(404);
        expect(await response.json(), `${route.method} ${path}`).toEqual({ error: 'NOT_FOUND', message: expect.any(String) });
        if (route.method === 'POST') refusedActions.push({ code: 'NOT_FOUND', path, actor: 'user:acme-admin' });
      }
    }
    // Each refused action at warn (a probe of another tenant's ids leaves a trace); a page read is not logged.
    expect(refusedActions.length).toBeGreaterThan(10);
    expect(warnings.map((line) => line.fields)).toEqual(refusedActions);
    expect(await state()).toEqual(before);
    expect(receiver.requests).toEqual([]);
    expect(audit).toEqual([]);
  });

  it('does not serve the operator-only pages', async () => {
    const operatorOnly = dashboardRoutes.filter((route) => route.operatorOnly === true);
    expect(operatorOnly.length).toBeGreaterThan(0);
    for (const route of operatorOnly) {
      const response = await portal.fetch(new Request(`${base}${route.path}`, { method: route.method, headers: { accept: 'application/json', origin: 'http://localhost' } }));
      if (route.method === 'GET' && route.path === '/') {
        // The overview's address is the portal's root, which sends the customer to their endpoints.
        expect(response.status, route.path).toBe(303);
        expect(response.headers.get('location'), route.path).toBe('/portal/subscriptions');
        expect(await response.text(), route.path).toBe('');
      } else {
        expect(response.status, route.path).toBe(404);
      }
    }
  });

  it('lists only the tenant’s deliveries, refuses a tenant filter and another tenant’s subscription filter', async () => {
    const list = (await (await portal.fetch(new Request(`${base}/deliveries?format=json`))).json()) as { items: Array<{ tenantId: string | null }> };
    expect(list.items.length).toBe(1);
    expect(list.items.every((item) => item.tenantId === 'acme')).toBe(true);
    expect((await portal.fetch(new Request(`${base}/deliveries?format=json&tenantId=globex`))).status).toBe(400);
    expect((await portal.fetch(new Request(`${base}/subscriptions?format=json&tenantId=globex`))).status).toBe(400);
    expect((await portal.fetch(new Request(`${base}/deliveries?format=json&subscriptionId=${foreign.subscriptions[0]}`))).status).toBe(404);
  });
});
