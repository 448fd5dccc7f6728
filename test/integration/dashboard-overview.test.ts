/**
 * The dashboard's overview (`/`) through `dashboard.fetch`, on a real instance delivering
 * over loopback: the figures of `metrics()`, attempts by outcome and status class, the
 * backlog of the first subscriptions, the verification failures the host fed and the
 * deliveries of the window chosen, as a page that reloads itself and as JSON; the window
 * refused when unknown; the operator's page only.
 */
import { describe, expect, it } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import type { DashboardOptions } from '../../src/dashboard/dashboard-options.js';
import { createWebhooks, type BookkeeperEvents, type MetricsSnapshot, type Webhooks, type WebhooksOptions } from '../../src/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { LoopbackReceiver, type Responder } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

const base = 'http://localhost/admin/webhooks';
const hourMs = 3_600_000;

const cleanups = registerCleanups();

async function receiver(responder?: Responder): Promise<LoopbackReceiver> {
  const server = await LoopbackReceiver.start(responder);
  cleanups.push(() => server.close());
  return server;
}

/** The dashboard's clock: the wall clock, moved by `offsetMs` when a test looks at a later window. */
const dashboardClock = { offsetMs: 0, now: () => Date.now() + dashboardClock.offsetMs };

function setup(options: Partial<DashboardOptions> = {}, webhooksOptions: WebhooksOptions<BookkeeperEvents> = {}) {
  const webhooks = createWebhooks({ meter: false, security: { allowPrivateNetworks: true }, ...webhooksOptions });
  cleanups.push(() => webhooks.close());
  dashboardClock.offsetMs = 0;
  const dashboard = createDashboard(webhooks, {
    basePath: '/admin/webhooks',
    authorize: () => ({ actor: 'ops:alice' }),
    clock: dashboardClock,
    ...options,
  });
  return { webhooks, dashboard };
}

function get(dashboard: ReturnType<typeof createDashboard>, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return dashboard.fetch(new Request(`${base}${path}`, { headers }));
}

interface OverviewData {
  range: string;
  fromMs: number;
  toMs: number;
  metrics: MetricsSnapshot;
  subscriptions: Array<{ subscriptionId: string; backlog: MetricsSnapshot['backlog']; circuit: unknown }>;
  moreSubscriptions: boolean;
  verificationFailures: { total: number; byCode: Record<string, number> };
  deliveredInWindow: number;
}

async function overviewData(dashboard: ReturnType<typeof createDashboard>, query = ''): Promise<OverviewData> {
  const response = await get(dashboard, `/${query}`, { accept: 'application/json' });
  expect(response.status).toBe(200);
  return (await response.json()) as OverviewData;
}

/** A card's value as the page shows it. */
function cardValue(page: string, label: string): string | undefined {
  return new RegExp(`<div class="label">${label}</div><div class="value">([^<]*)</div>`).exec(page)?.[1];
}

/** Publishes `count` payments, delivers them (a healthy and a failing receiver) and waits until nothing is pending. */
async function deliveredAndDead(webhooks: Webhooks, count: number) {
  const healthy = await receiver();
  const failing = await receiver(() => ({ status: 500, body: 'down' }));
  const ok = await webhooks.subscriptions.create({ url: healthy.url, eventTypes: ['payment.*'], description: 'healthy' });
  const broken = await webhooks.subscriptions.create({ url: failing.url, eventTypes: ['payment.*'], allTenants: true, retry: { delaysMs: [] } });
  await webhooks.start();
  for (let n = 1; n <= count; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
  await webhooks.drain({ timeoutMs: 10_000 });
  return { ok, broken };
}

describe('the overview', () => {
  it('draws the latency of the window’s deliveries as a chart, with its figures as a table', async () => {
    const { webhooks, dashboard } = setup();
    await deliveredAndDead(webhooks, 3);
    const delivered = (await webhooks.deliveries.list({ status: 'delivered' })).items;
    expect(delivered).toHaveLength(3);
    const page = await (await get(dashboard, '/')).text();
    expect(page).toContain('<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="latency-chart"');
    expect(page).toContain('<title id="latency-chart-title">Delivery latency (publish to 2xx) over the last hour, per 1 min, UTC</title>');
    // The three deliveries land in one or two minutes' buckets: a row of the table each, with p50, p95 and p99.
    const table = /<table class="chart-table">[\s\S]*?<\/table>/.exec(page)![0];
    const rows = [...table.matchAll(/<tr><th scope="row">(\d\d:\d\d)<\/th><td>([^<]+)<\/td><td>([^<]+)<\/td><td>([^<]+)<\/td><\/tr>/g)];
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.length).toBeLessThanOrEqual(2);
    for (const row of rows) expect(row.slice(2).every((cell) => / (ms|s)$/.test(cell))).toBe(true);
    expect(page).not.toMatch(/NaN|Infinity/);
    // A window without deliveries says so instead of drawing lines.
    dashboardClock.offsetMs = 3 * 3_600_000;
    expect(await (await get(dashboard, '/')).text()).toContain('No deliveries in this window');
  });

  it('shows the delivery figures, attempts, backlog per subscription and the verification failures, reloading itself', async () => {
    const { webhooks, dashboard } = setup();
    const { ok, broken } = await deliveredAndDead(webhooks, 3);
    dashboard.recordVerificationFailure('WEBHOOK_NO_MATCHING_SIGNATURE');
    dashboard.recordVerificationFailure('WEBHOOK_NO_MATCHING_SIGNATURE');
    dashboard.recordVerificationFailure('WEBHOOK_TIMESTAMP_TOO_OLD');

    const response = await get(dashboard, '/');
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toContain('<div data-refresh-seconds="30">');
    expect(cardValue(page, 'Delivered')).toBe('3');
    expect(cardValue(page, 'Dead')).toBe('3');
    expect(cardValue(page, 'Pending')).toBe('0');
    expect(cardValue(page, 'Held')).toBe('0');
    expect(cardValue(page, 'Oldest pending')).toBe('—');
    expect(cardValue(page, 'Retry success rate')).toBe('0.0 %');
    expect(cardValue(page, 'Latency p50')).toMatch(/^[\d.]+ (ms|s)$/);
    expect(cardValue(page, 'Latency p99')).toMatch(/^[\d.]+ (ms|s)$/);
    expect(page).toContain('<tr><td>delivered</td><td class="num">3</td></tr>');
    expect(page).toContain('<tr><td>dead</td><td class="num">3</td></tr>');
    expect(page).toContain('<tr><td>2xx</td><td class="num">3</td></tr>');
    expect(page).toContain('<tr><td>5xx</td><td class="num">3</td></tr>');
    expect(page).toContain(`href="/admin/webhooks/subscriptions/${ok.id}"`);
    expect(page).toContain(`href="/admin/webhooks/deliveries?subscriptionId=${broken.id}"`);
    expect(page).toMatch(new RegExp(`${broken.id}">[^<]+</a></td>\\s*<td><span class="badge active">active</span></td>\\s*<td><span class="badge closed">closed</span></td>\\s*<td><span class="muted">platform</span></td>\\s*<td class="num">0</td>\\s*<td class="num">0</td>\\s*<td class="num">3</td>`));
    expect(page).toContain('3 deliveries created and delivered in the last hour');
    expect(page).toContain('<tr><td class="mono">WEBHOOK_NO_MATCHING_SIGNATURE</td><td class="num">2</td></tr>');
    expect(page).toContain('<tr><td class="mono">WEBHOOK_TIMESTAMP_TOO_OLD</td><td class="num">1</td></tr>');
    expect(page).toContain('<option value="1h" selected>');
  });

  it('answers the same figures as JSON', async () => {
    const { webhooks, dashboard } = setup();
    const { ok, broken } = await deliveredAndDead(webhooks, 2);
    dashboard.recordVerificationFailure('WEBHOOK_INVALID_SIGNATURE');

    const data = await overviewData(dashboard, '?format=json');
    expect(data.range).toBe('1h');
    expect(data.toMs - data.fromMs).toBe(hourMs);
    expect(data.metrics).toMatchObject({ deliveriesSucceeded: 2, deliveriesDead: 2, backlog: { delivered: 2, dead: 2, pending: 0 } });
    expect(data.subscriptions).toEqual([
      expect.objectContaining({ subscriptionId: ok.id, backlog: expect.objectContaining({ delivered: 2, dead: 0 }), circuit: { state: 'closed', openUntil: null, inFlight: 0 } }),
      expect.objectContaining({ subscriptionId: broken.id, backlog: expect.objectContaining({ delivered: 0, dead: 2 }) }),
    ]);
    expect(data.moreSubscriptions).toBe(false);
    expect(data.verificationFailures).toEqual({ total: 1, byCode: { WEBHOOK_INVALID_SIGNATURE: 1 } });
    expect(data.deliveredInWindow).toBe(2);
  });

  it('counts the verification failures and deliveries of the window chosen', async () => {
    const { webhooks, dashboard } = setup();
    await deliveredAndDead(webhooks, 2);
    dashboard.recordVerificationFailure('WEBHOOK_NO_MATCHING_SIGNATURE');

    dashboardClock.offsetMs = 2 * hourMs;
    const lastHour = await overviewData(dashboard);
    expect(lastHour.verificationFailures.total).toBe(0);
    expect(lastHour.deliveredInWindow).toBe(0);
    const lastDay = await overviewData(dashboard, '?range=24h');
    expect(lastDay.range).toBe('24h');
    expect(lastDay.toMs - lastDay.fromMs).toBe(24 * hourMs);
    expect(lastDay.verificationFailures.total).toBe(1);
    expect(lastDay.deliveredInWindow).toBe(2);
    const page = await (await get(dashboard, '/?range=24h')).text();
    expect(page).toContain('<option value="24h" selected>');
    expect(page).toContain('2 deliveries created and delivered in the last 24 hours');
  });

  it('refuses an unknown window with a 400', async () => {
    const { dashboard } = setup();
    for (const query of ['?range=2h', '?range=', '?range=toString']) {
      const response = await get(dashboard, `/${query}`, { accept: 'application/json' });
      expect(response.status, query).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'INPUT_INVALID' });
      expect((await get(dashboard, `/${query}`)).status).toBe(400);
    }
  });

  it('shows the backlog of the first 50 subscriptions and says there are more', async () => {
    const { webhooks, dashboard } = setup();
    for (let i = 0; i < 51; i++) await webhooks.subscriptions.create({ url: `https://erp.example.com/hooks/${i}`, eventTypes: ['payment.*'] });
    const page = await (await get(dashboard, '/')).text();
    expect(page.match(/>Deliveries<\/a><\/td>/g)).toHaveLength(50);
    expect(page).toContain('https://erp.example.com/hooks/49');
    expect(page).not.toContain('https://erp.example.com/hooks/50');
    expect(page).toContain('The first 50 subscriptions');
    expect((await overviewData(dashboard)).moreSubscriptions).toBe(true);
  });

  it('shows no figure it does not have on a fresh instance', async () => {
    const { dashboard } = setup();
    const page = await (await get(dashboard, '/')).text();
    expect(cardValue(page, 'Retry success rate')).toBe('—');
    expect(cardValue(page, 'Latency p50')).toBe('—');
    expect(page).toContain('No subscriptions yet.');
    expect(page).toContain('0 deliveries created and delivered in the last hour');
  });

  it('is not served in the customer portal, whose root sends the customer to their endpoints', async () => {
    const { dashboard } = setup({ scope: () => 'acme' });
    for (const accept of ['application/json', 'text/html']) {
      const response = await get(dashboard, '/', { accept });
      expect(response.status, accept).toBe(303);
      expect(response.headers.get('location'), accept).toBe('/admin/webhooks/subscriptions');
      expect(await response.text(), accept).toBe('');
    }
  });
});
