/**
 * A subscription's `metadata` is the operator's (account manager, plan, risk flags): over
 * real loopback HTTP, the customer portal shows it on no page and in no action's answer, as
 * HTML or as JSON — not its value, not its changes in the change log — and an edit saved in
 * the portal keeps it as stored. The operator's dashboard on the same instance shows it all.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { dashboardRoutes } from '../../src/dashboard/routes/index.js';
import { createWebhooks, type Subscription, type SubscriptionChange, type Webhooks } from '../../src/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { closeWithConnections } from '../support/close-with-connections.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

/** The operator's notes, as stored after the two changes the fixture makes. */
const metadata = { accountManager: 'Dana Scully', plan: 'enterprise-biennial', riskFlags: ['chargeback-watch', 'fraud-review'] };
/** The reason of the change that touched the metadata alone: the operator's note too. */
const metadataReason = 'Risk review after a chargeback';
/** Every text of the operator's that no portal answer may carry. */
const operatorTexts = ['ledger-INTERNAL-42', 'accountManager', 'Dana Scully', 'enterprise-annual', 'enterprise-biennial', 'riskFlags', 'chargeback-watch', 'fraud-review', metadataReason];

type Fields = Record<string, string | string[]>;

interface Site {
  origin: string;
  basePath: string;
}

interface Fixture {
  webhooks: Webhooks;
  portal: Site;
  operator: Site;
  own: Subscription;
  deliveryId: string;
}

// Run last first: the dashboards' servers, then the instance, then the receiver it posts to.
const cleanups = registerCleanups();

async function serve(dashboard: ReturnType<typeof createDashboard>, basePath: string): Promise<Site> {
  const server = createServer(dashboard.node());
  cleanups.push(closeWithConnections(server));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, basePath };
}

/**
 * Acme's endpoint with the operator's metadata, set at creation, then changed alone (with a
 * reason), then changed with the description; one delivered event; Acme's portal and the
 * operator's dashboard over the same instance.
 */
async function setup(): Promise<Fixture> {
  const receiver = await LoopbackReceiver.start(() => ({ status: 200 }));
  cleanups.push(() => receiver.close());
  const webhooks = createWebhooks({ meter: false, security: { allowPrivateNetworks: true }, retry: { delaysMs: [] } });
  cleanups.push(() => webhooks.close());
  const created = await webhooks.subscriptions.create(
    { tenantId: 'acme', url: receiver.url, eventTypes: ['payment.*'], metadata: { accountManager: 'Dana Scully', plan: 'enterprise-annual', riskFlags: ['chargeback-watch'] } },
    { actor: 'ops:alice' },
  );
  await webhooks.subscriptions.update(created.id, { metadata: { accountManager: 'Dana Scully', plan: 'enterprise-annual', riskFlags: metadata.riskFlags } }, { actor: 'ops:alice', reason: metadataReason });
  await webhooks.subscriptions.update(created.id, { description: 'Acme ERP', metadata }, { actor: 'ops:alice' });
  await webhooks.start();
  await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'acme', idempotencyKey: 'ledger-INTERNAL-42' });
  await webhooks.drain();
  await webhooks.stop();
  const [delivery] = (await webhooks.deliveries.list({ subscriptionId: created.id })).items;
  expect(delivery?.status).toBe('delivered');
  const own = (await webhooks.subscriptions.get(created.id))!;
  expect(own.metadata).toEqual(metadata);
  const portal = await serve(createDashboard(webhooks, { basePath: '/portal', authorize: () => ({ actor: 'user:acme-admin' }), scope: () => 'acme' }), '/portal');
  const operator = await serve(createDashboard(webhooks, { basePath: '/admin', authorize: () => ({ actor: 'ops:alice' }) }), '/admin');
  return { webhooks, portal, operator, own, deliveryId: delivery!.id };
}

function get(site: Site, path: string, json = false): Promise<Response> {
  return fetch(`${site.origin}${site.basePath}${path}`, { headers: json ? { accept: 'application/json' } : {}, redirect: 'manual' });
}

function post(site: Site, path: string, fields: Fields = {}, json = false): Promise<Response> {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const item of Array.isArray(value) ? value : [value]) body.append(name, item);
  return fetch(`${site.origin}${site.basePath}${path}`, {
    method: 'POST',
    headers: { origin: site.origin, 'content-type': 'application/x-www-form-urlencoded', ...(json ? { accept: 'application/json' } : {}) },
    body: body.toString(),
    redirect: 'manual',
  });
}

/** The body of a 200 (or the given status), checked to carry none of the operator's texts. */
async function portalText(response: Response, what: string, status = 200): Promise<string> {
  const text = await response.text();
  expect(response.status, `${what}: ${text.slice(0, 300)}`).toBe(status);
  for (const operatorText of operatorTexts) expect(text, `${what} shows ${operatorText}`).not.toContain(operatorText);
  return text;
}

/** A JSON answer of the portal: none of the operator's texts, parsed. */
async function portalJson<T>(response: Response, what: string, status = 200): Promise<T> {
  expect(response.headers.get('content-type'), what).toBe('application/json; charset=utf-8');
  return JSON.parse(await portalText(response, what, status)) as T;
}

describe('the operator’s metadata in the customer portal', () => {
  it('lists the tenant’s endpoints without their metadata, as HTML and JSON; the operator’s list carries it', async () => {
    const { portal, operator, own } = await setup();
    const page = await portalText(await get(portal, '/subscriptions'), 'the list');
    expect(page).toContain(own.url);
    const list = await portalJson<{ items: Array<Record<string, unknown>> }>(await get(portal, '/subscriptions', true), 'the list as JSON');
    expect(list.items.map((item) => item.id)).toEqual([own.id]);
    expect(list.items[0]).not.toHaveProperty('metadata');
    expect(list.items[0]).toMatchObject({ url: own.url, description: 'Acme ERP', tenantId: 'acme' });

    const operatorList = (await (await get(operator, '/subscriptions', true)).json()) as { items: Subscription[] };
    expect(operatorList.items.map((item) => item.metadata)).toEqual([metadata]);
  });

  it('shows an endpoint’s page without its metadata or the changes to it, as HTML and JSON; the operator’s page shows both', async () => {
    const { portal, operator, own } = await setup();
    const page = await portalText(await get(portal, `/subscriptions/${own.id}`), 'the endpoint’s page');
    expect(page).not.toMatch(/metadata/i);
    expect(page).toContain('Acme ERP');
    // The change log: the creation and the description's change, not the change of the metadata alone.
    expect(page.match(/<td>(created|updated)<\/td>/g)).toEqual(['<td>updated</td>', '<td>created</td>']);
    const data = await portalJson<{ subscription: Record<string, unknown>; changes: SubscriptionChange[] }>(await get(portal, `/subscriptions/${own.id}?format=json`), 'the endpoint’s page as JSON');
    expect(data.subscription).not.toHaveProperty('metadata');
    expect(data.subscription).toMatchObject({ id: own.id, url: own.url, description: 'Acme ERP' });
    expect(data.changes.map((change) => [change.action, Object.keys(change.changes).includes('metadata')])).toEqual([
      ['updated', false],
      ['created', false],
    ]);
    expect(data.changes[0]!.changes.description).toEqual({ before: null, after: 'Acme ERP' });
    expect(Object.keys(data.changes[1]!.changes)).toEqual(expect.arrayContaining(['url', 'eventTypes', 'tenantId']));

    const operatorPage = await (await get(operator, `/subscriptions/${own.id}`)).text();
    expect(operatorPage).toContain('<dt>Metadata</dt>');
    for (const text of ['Dana Scully', 'enterprise-biennial', 'fraud-review', metadataReason]) expect(operatorPage).toContain(text);
    const operatorData = (await (await get(operator, `/subscriptions/${own.id}?format=json`)).json()) as { subscription: Subscription; changes: SubscriptionChange[] };
    expect(operatorData.subscription.metadata).toEqual(metadata);
    expect(operatorData.changes.map((change) => [change.action, change.reason, Object.keys(change.changes).includes('metadata')])).toEqual([
      ['updated', null, true],
      ['updated', metadataReason, true],
      ['created', null, true],
    ]);
  });

  it('opens the edit form without the metadata, and an edit saved in the portal keeps the stored metadata', async () => {
    const { webhooks, portal, operator, own } = await setup();
    const form = await portalText(await get(portal, `/subscriptions/${own.id}/edit`), 'the edit form');
    expect(form).not.toMatch(/metadata/i);
    expect(form).toContain('Acme ERP');
    const values = await portalJson<{ values: Record<string, unknown> }>(await get(portal, `/subscriptions/${own.id}/edit`, true), 'the edit form as JSON');
    expect(values.values).toMatchObject({ url: own.url, description: 'Acme ERP', metadata: '' });

    const fields = { url: own.url, eventTypeFilters: 'payment.*', description: 'Acme ERP, second line' };
    const saved = await post(portal, `/subscriptions/${own.id}`, { ...fields, reason: 'new description' });
    expect([saved.status, saved.headers.get('location')]).toEqual([303, `/portal/subscriptions/${own.id}?done=updated`]);
    const savedJson = await portalJson<{ subscription: Record<string, unknown> }>(await post(portal, `/subscriptions/${own.id}`, { ...fields, description: 'Acme ERP, third line' }, true), 'the saved edit as JSON');
    expect(savedJson.subscription).not.toHaveProperty('metadata');
    expect(savedJson.subscription).toMatchObject({ id: own.id, description: 'Acme ERP, third line' });

    const stored = await webhooks.subscriptions.get(own.id);
    expect(stored).toMatchObject({ description: 'Acme ERP, third line', metadata });
    const history = (await webhooks.subscriptions.history(own.id)).items;
    expect(history.slice(-2).map((change) => [change.actor, Object.keys(change.changes)])).toEqual([
      ['user:acme-admin', ['description']],
      ['user:acme-admin', ['description']],
    ]);

    const operatorForm = await (await get(operator, `/subscriptions/${own.id}/edit`)).text();
    expect(operatorForm).toContain('name="metadata"');
    expect(operatorForm).toContain('Dana Scully');
    const operatorValues = (await (await get(operator, `/subscriptions/${own.id}/edit`, true)).json()) as { values: { metadata: string } };
    expect(JSON.parse(operatorValues.values.metadata)).toEqual(metadata);
  });

  it('answers every action on an endpoint without its metadata, as HTML and JSON; the operator’s page keeps showing it', async () => {
    const { portal, operator, own } = await setup();
    const path = (rest: string) => `/subscriptions/${own.id}${rest}`;
    for (const json of [true, false]) {
      const how = json ? 'as JSON' : 'as a page';
      const disabled = await post(portal, path('/disable'), { reason: 'maintenance' }, json);
      const enabled = await post(portal, path('/enable'), { replayMissed: '0' }, json);
      if (json) {
        for (const [response, what] of [
          [disabled, 'disable'],
          [enabled, 'enable'],
        ] as const) {
          const data = await portalJson<{ subscription: Record<string, unknown> }>(response, `${what} ${how}`);
          expect(data.subscription).not.toHaveProperty('metadata');
          expect(data.subscription.id).toBe(own.id);
        }
      } else {
        expect(await portalText(disabled, `disable ${how}`, 303)).toBe('');
        expect(await portalText(enabled, `enable ${how}`, 303)).toBe('');
      }
      const rotated = await post(portal, path('/rotate-secret'), { overlapMs: '0' }, json);
      const tested = await post(portal, path('/test'), {}, json);
      const created = await post(portal, '/subscriptions', { url: `${own.url}/${json ? 'json' : 'page'}`, eventTypeFilters: 'payment.*' }, json);
      const replayed = await post(portal, path('/replay'), { since: '2020-01-01T00:00' }, json);
      if (json) {
        const rotation = await portalJson<{ subscription: Record<string, unknown>; secret: string }>(rotated, `rotate ${how}`);
        expect(rotation.subscription).not.toHaveProperty('metadata');
        expect(rotation.secret).toMatch(/^whsec_/);
        expect(await portalJson<{ ok: boolean }>(tested, `test ${how}`)).toMatchObject({ ok: true });
        const creation = await portalJson<{ subscription: Record<string, unknown> }>(created, `create ${how}`);
        expect(creation.subscription).not.toHaveProperty('metadata');
        expect(creation.subscription.tenantId).toBe('acme');
        await portalJson(replayed, `replay ${how}`);
      } else {
        expect(await portalText(rotated, `rotate ${how}`)).toContain('<h1>Secret rotated</h1>');
        expect(await portalText(tested, `test ${how}`)).toContain('<h1>Test event delivered</h1>');
        expect(await portalText(created, `create ${how}`)).toContain('<h1>Endpoint created</h1>');
        await portalText(replayed, `replay ${how}`, 303);
      }
    }
    const deleted = await portalJson<{ deleted: string }>(await post(portal, path('/delete'), {}, true), 'delete as JSON');
    expect(deleted.deleted).toBe(own.id);
    const gone = await portalJson<{ subscription: Record<string, unknown> }>(await get(portal, path(''), true), 'the deleted endpoint’s page as JSON');
    expect(gone.subscription).not.toHaveProperty('metadata');
    expect(gone.subscription.deletedAt).toEqual(expect.any(Number));

    const operatorPage = (await (await get(operator, path(''), true)).json()) as { subscription: Subscription };
    expect(operatorPage.subscription.metadata).toEqual(metadata);
  });

  it('shows the operator’s answers to actions with the metadata', async () => {
    const { portal, operator, own } = await setup();
    const path = (rest: string) => `/subscriptions/${own.id}${rest}`;
    for (const [rest, fields] of [
      ['/disable', {}],
      ['/enable', {}],
      ['/rotate-secret', {}],
      ['', { url: own.url, eventTypeFilters: 'payment.*', metadata: JSON.stringify(metadata) }],
    ] as const) {
      const data = (await (await post(operator, path(rest), fields, true)).json()) as { subscription: Subscription };
      expect(data.subscription.metadata, rest).toEqual(metadata);
    }
    // The same instance, the portal's answer: without it.
    const portalDisable = await portalJson<{ subscription: Record<string, unknown> }>(await post(portal, path('/disable'), {}, true), 'disable as JSON');
    expect(portalDisable.subscription).not.toHaveProperty('metadata');
  });

  it('shows the metadata on no page of the portal, HTML or JSON, over every page of the route table', async () => {
    const { portal, operator, own, deliveryId } = await setup();
    const pages = dashboardRoutes.filter((route) => route.method === 'GET' && route.operatorOnly !== true);
    expect(pages.length).toBeGreaterThanOrEqual(7);
    const paths = pages.flatMap((route) => {
      const path = route.path.replace(':id', encodeURIComponent(route.path.startsWith('/deliveries/') ? deliveryId : own.id));
      if (route.path === '/deliveries') return [path, `${path}?subscriptionId=${own.id}`];
      if (route.path.endsWith('/replay')) return [path, `${path}?since=2020-01-01T00:00`];
      return [path];
    });
    let shownOnOperator = 0;
    for (const path of paths) {
      const status = path === '/' ? 303 : 200;
      await portalText(await get(portal, path), `${path} as a page`, status);
      const separator = path.includes('?') ? '&' : '?';
      const json = await get(portal, `${path}${separator}format=json`);
      if (status === 303) await portalText(json, `${path} as JSON`, 303);
      else await portalJson(json, `${path} as JSON`);
      // The operator's dashboard shows the same pages with the metadata where it shows the subscription.
      if (path !== '/' && (await (await get(operator, path)).text()).includes('Dana Scully')) shownOnOperator += 1;
    }
    expect(shownOnOperator).toBeGreaterThanOrEqual(2);
  });

  it('gives the delivery’s event without the idempotency key the host published it with; the operator’s JSON has it', async () => {
    const { portal, operator, deliveryId } = await setup();
    const shown = await portalJson<{ event: Record<string, unknown> }>(await get(portal, `/deliveries/${deliveryId}?format=json`), 'the delivery as JSON');
    expect(shown.event).not.toHaveProperty('idempotencyKey');
    expect(shown.event.data).toEqual(samplePayment(1));
    const full = (await (await get(operator, `/deliveries/${deliveryId}?format=json`)).json()) as { event: Record<string, unknown> };
    expect(full.event.idempotencyKey).toBe('ledger-INTERNAL-42');
  });
});
