/**
 * The dashboard and the customer portal in a real browser (Debian's Chromium through
 * playwright-core), mounted in the example host app (examples/dashboard.ts) behind its own
 * login page, on a real instance — a SQLite file, the wall clock, one retry 50 ms after a
 * failure — posting over loopback to receivers the test scripts (500 until told to answer
 * 200). Each scenario is what a person does: signs in on the login page, follows links,
 * ticks filters, fills and submits forms, accepts the confirmation. Every page visited is
 * checked to load without a console error, CSP violation, uncaught exception or failed
 * request, and without a serious accessibility violation (axe-core, WCAG 2.x A and AA).
 * The last test saves screenshots of the main pages under test-results/screenshots/.
 */
import { randomUUID } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import { mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startHostApp, type HostApp } from '../../examples/dashboard.js';
import { createUndiciTransport, createWebhooks, systemClock, type Clock, type Webhooks, type WebhooksOptions } from '../../src/index.js';
import { verifyWebhookSignature } from '../../src/receiver/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { checkAccessibility, openPage, saveScreenshot, useChromium, type OpenedPage, type PageOptions } from '../support/browser.js';
import { registerCleanups } from '../support/cleanups.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

const browser = useChromium();
const cleanups = registerCleanups();
const dir = mkdtempSync(join(tmpdir(), 'webhooks-dashboard-browser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const viewport = { width: 1280, height: 800 };
/** How long real deliveries over loopback may take to settle (each is a few ms; one retry waits 50 ms). */
const deliveryTimeoutMs = 10_000;
const testTimeoutMs = 30_000;

/** A loopback receiver whose answer the test changes (`answer`), and the ids of the events it accepted (2xx). */
interface Endpoint {
  url: string;
  answer: { status: number; body: string };
  accepted: string[];
  receiver: LoopbackReceiver;
}

/** Started before the instance, so that it closes after it (clean-ups run last first). */
async function startEndpoint(status: number, body: string): Promise<Endpoint> {
  const answer = { status, body };
  const accepted: string[] = [];
  const receiver = await LoopbackReceiver.start((request) => {
    if (answer.status < 300) accepted.push(String(request.headers['webhook-id']));
    return { status: answer.status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: answer.body };
  });
  cleanups.push(() => receiver.close());
  return { url: receiver.url, answer, accepted, receiver };
}

/** A started instance on its own SQLite file, mounted in the host app (operators at /admin/webhooks, customers at /portal). */
async function startInstance(options: Pick<WebhooksOptions, 'transport' | 'clock' | 'pollIntervalMs'> = {}): Promise<{ webhooks: Webhooks; host: HostApp }> {
  const webhooks = createWebhooks({
    storage: createSqliteStorage({ filename: join(dir, `${randomUUID()}.db`) }),
    security: { allowPrivateNetworks: true },
    retry: { delaysMs: [50] },
    meter: false,
    ...options,
  });
  cleanups.push(() => webhooks.close());
  await webhooks.start();
  const host = await startHostApp(webhooks);
  cleanups.push(() => host.close());
  return { webhooks, host };
}

/**
 * The wall clock set back by `behindMs`, for an instance whose events the test publishes
 * "earlier" in the overview's window (it only ever moves forward: `behindMs` only shrinks).
 */
const pastClock: Clock & { behindMs: number } = {
  behindMs: 0,
  now: () => Date.now() - pastClock.behindMs,
  setTimeout: (callback, ms) => systemClock.setTimeout(callback, ms),
  clearTimeout: (handle) => systemClock.clearTimeout(handle),
};

/** A DNS lookup that answers 127.0.0.1 for every name. */
const everyNameIsLoopback = ((_hostname: string, options: object, callback: (...args: unknown[]) => void) =>
  dnsLookup('127.0.0.1', options as never, callback as never)) as unknown as typeof dnsLookup;

async function settled(webhooks: Webhooks): Promise<void> {
  await webhooks.drain({ timeoutMs: deliveryTimeoutMs });
}

interface Visit extends OpenedPage {
  /** The messages of the dialogs the page opened (each accepted, as a person clicking OK). */
  dialogs: string[];
}

/**
 * Opens `path` signed out, is sent to the host's login page, picks `username` there and
 * signs in; waits to be back on `landsOn` (by default `path`).
 */
async function signIn(host: HostApp, username: string, path: string, options: PageOptions & { landsOn?: string } = {}): Promise<Visit> {
  const { landsOn = path, ...pageOptions } = options;
  const opened = await openPage(browser(), `${host.url}${path}`, { viewport, ...pageOptions });
  const { page } = opened;
  expect(new URL(page.url()).pathname).toBe('/login');
  await page.getByLabel('User').selectOption(username);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${host.url}${landsOn}`);
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.accept();
  });
  return { ...opened, dialogs };
}

/** Nothing went wrong in the page so far, and axe finds no serious violation in it as it is now. */
async function expectClean(visit: OpenedPage): Promise<void> {
  expect(visit.problems()).toEqual([]);
  expect(await checkAccessibility(visit.page)).toEqual([]);
}

/** Clicks `target` and waits for the page it leads to. */
async function follow(page: Page, target: Locator, to: string | RegExp): Promise<void> {
  await target.click();
  await page.waitForURL(to);
}

async function headingOf(page: Page): Promise<string> {
  return ((await page.getByRole('heading', { level: 1 }).textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

/** The text of each cell of each body row of `table`, as rendered (a line break is a space). */
async function rowsOf(table: Locator): Promise<string[][]> {
  return table
    .locator('tbody tr')
    .evaluateAll((rows) => rows.map((row) => Array.from(row.querySelectorAll('td'), (cell) => cell.innerText.replace(/\s+/g, ' ').trim())));
}

/** The value of the overview's card labelled `label`. */
async function cardValue(page: Page, label: string): Promise<string | null> {
  return page.locator('.card').filter({ has: page.getByText(label, { exact: true }) }).locator('.value').textContent();
}

/** The first status badge of the page's facts: the delivery's or the subscription's status. */
async function statusOnPage(page: Page): Promise<string | null> {
  return page.locator('dl.facts dd .badge').first().textContent();
}

/** The UTC date and time to the second, as a `datetime-local` field takes it. */
function utcField(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

describe('the dashboard in Chromium', () => {
  it(
    'operator: finds the dead delivery from the overview, reads its attempts, redelivers it and sees it delivered',
    async () => {
      const ledger = await startEndpoint(500, 'ledger service unavailable');
      const crm = await startEndpoint(200, 'ok');
      const { webhooks, host } = await startInstance();
      const failing = await webhooks.subscriptions.create({ url: ledger.url, eventTypes: ['payment.*'], description: 'Ledger sync' });
      await webhooks.subscriptions.create({ url: crm.url, eventTypes: ['payment.*'], description: 'CRM' });
      const event = await webhooks.publish('payment.succeeded', samplePayment(1));
      await settled(webhooks);
      const [dead] = (await webhooks.deliveries.list({ subscriptionId: failing.id })).items;
      expect(dead?.status).toBe('dead');

      const visit = await signIn(host, 'alice', '/admin/webhooks/');
      const { page } = visit;
      expect(await headingOf(page)).toBe('Overview');
      expect(await cardValue(page, 'Dead')).toBe('1');
      await expectClean(visit);

      await follow(page, page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Deliveries' }), `${host.url}/admin/webhooks/deliveries`);
      expect(await rowsOf(page.getByRole('table'))).toHaveLength(2);
      const filters = page.getByRole('form', { name: 'Filter deliveries' });
      await filters.getByRole('checkbox', { name: 'dead' }).check();
      await follow(page, filters.getByRole('button', { name: 'Filter' }), /\/admin\/webhooks\/deliveries\?.*status=dead/);
      const deadRows = await rowsOf(page.getByRole('table'));
      expect(deadRows.map((cells) => [cells[0], cells[2], cells[3], cells[4], cells[5], cells[6]])).toEqual([[dead!.id, 'payment.succeeded', event.id, failing.id, 'dead', '2']]);
      await expectClean(visit);

      await follow(page, page.getByRole('link', { name: dead!.id }), `${host.url}/admin/webhooks/deliveries/${dead!.id}`);
      expect(await headingOf(page)).toBe(`Delivery ${dead!.id}`);
      expect(await statusOnPage(page)).toBe('dead');
      const attempts = page.getByRole('table');
      const failedAttempts = await rowsOf(attempts);
      // #, status, outcome, response snippet
      expect(failedAttempts.map((cells) => [cells[0], cells[3], cells[4], cells[6]])).toEqual([
        ['1', '500', 'retry', 'ledger service unavailable'],
        ['2', '500', 'dead', 'ledger service unavailable'],
      ]);
      expect(JSON.parse((await page.locator('pre').first().textContent()) ?? '')).toEqual({ id: event.id, type: 'payment.succeeded', timestamp: expect.any(String), data: samplePayment(1) });
      await expectClean(visit);

      // The ledger is back; the operator redelivers, confirming the dialog.
      ledger.answer.status = 200;
      ledger.answer.body = 'recorded';
      await follow(page, page.getByRole('button', { name: 'Redeliver' }), `${host.url}/admin/webhooks/deliveries/${dead!.id}?done=redelivered`);
      expect(visit.dialogs).toEqual(['Send this delivery again now?']);
      expect(await page.getByRole('status').textContent()).toBe('The delivery was queued to be sent again.');
      await expect
        .poll(
          async () => {
            await page.reload();
            return statusOnPage(page);
          },
          { timeout: deliveryTimeoutMs, interval: 100 },
        )
        .toBe('delivered');
      const allAttempts = await rowsOf(page.getByRole('table'));
      expect(allAttempts.map((cells) => [cells[0], cells[3], cells[4], cells[6]])).toEqual([
        ['1', '500', 'retry', 'ledger service unavailable'],
        ['2', '500', 'dead', 'ledger service unavailable'],
        ['3', '200', 'delivered', 'recorded'],
      ]);
      expect(ledger.accepted).toEqual([event.id]);
      await expectClean(visit);
    },
    testTimeoutMs,
  );

  it(
    'operator: counts a time range on the replay page, replays it, and the endpoint gets those events',
    async () => {
      const ledger = await startEndpoint(500, 'maintenance');
      const { webhooks, host } = await startInstance();
      const subscription = await webhooks.subscriptions.create({ url: ledger.url, eventTypes: ['payment.*'], description: 'Ledger sync' });
      // The window starts at a whole second (the field's precision) before the events.
      const since = Math.floor(Date.now() / 1_000) * 1_000 - 1_000;
      const eventIds: string[] = [];
      for (let n = 1; n <= 3; n++) eventIds.push((await webhooks.publish('payment.succeeded', samplePayment(n))).id);
      await settled(webhooks);
      expect((await webhooks.deliveries.list({ subscriptionId: subscription.id, status: ['dead'] })).items).toHaveLength(3);

      const visit = await signIn(host, 'alice', '/admin/webhooks/');
      const { page } = visit;
      await follow(page, page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Subscriptions' }), `${host.url}/admin/webhooks/subscriptions`);
      await follow(page, page.getByRole('link', { name: ledger.url }), `${host.url}/admin/webhooks/subscriptions/${subscription.id}`);
      await expectClean(visit);
      await follow(page, page.getByRole('link', { name: 'Replay a time range' }), `${host.url}/admin/webhooks/subscriptions/${subscription.id}/replay`);
      await expectClean(visit);

      await page.getByLabel('Published since (UTC)').fill(utcField(since));
      await follow(page, page.getByRole('button', { name: 'Count' }), new RegExp(`/subscriptions/${subscription.id}/replay\\?since=`));
      const shown = await page.getByRole('status').locator('strong').textContent();
      const { count } = await webhooks.deliveries.replay({ subscriptionId: subscription.id, since, dryRun: true });
      expect(count).toBe(3);
      expect(shown).toBe(String(count));
      await expectClean(visit);

      ledger.answer.status = 200;
      await follow(page, page.getByRole('button', { name: `Replay these ${count} events` }), `${host.url}/admin/webhooks/deliveries?subscriptionId=${subscription.id}&done=replayed`);
      expect(visit.dialogs).toEqual([`Send ${count} events again?`]);
      expect(await page.getByRole('status').textContent()).toBe('The replay was queued.');
      await expectClean(visit);
      await vi.waitFor(() => expect(ledger.accepted.toSorted()).toEqual(eventIds.toSorted()), { timeout: deliveryTimeoutMs, interval: 50 });
    },
    testTimeoutMs,
  );

  it(
    'portal: a customer creates an endpoint in their tenant, copies its secret, tests it, and sees nothing of another tenant',
    async () => {
      const acmeErp = await startEndpoint(200, 'ok');
      const acmeBilling = await startEndpoint(200, 'ok');
      const globexErp = await startEndpoint(200, 'ok');
      const { webhooks, host } = await startInstance();
      const acme = await webhooks.subscriptions.create({ tenantId: 'org_acme', url: acmeErp.url, eventTypes: ['payment.*'], description: 'Acme ERP' });
      const globex = await webhooks.subscriptions.create({ tenantId: 'org_globex', url: globexErp.url, eventTypes: ['payment.*'], description: 'Globex ERP' });
      await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_acme' });
      await webhooks.publish('payment.succeeded', samplePayment(2), { tenantId: 'org_globex' });
      await settled(webhooks);
      const [acmeDelivery] = (await webhooks.deliveries.list({ subscriptionId: acme.id })).items;
      const [globexDelivery] = (await webhooks.deliveries.list({ subscriptionId: globex.id })).items;

      const visit = await signIn(host, 'acme-admin', '/portal', { landsOn: '/portal/subscriptions', permissions: ['clipboard-read', 'clipboard-write'] });
      const { page } = visit;
      expect(await headingOf(page)).toBe('Endpoints');
      expect(await rowsOf(page.getByRole('table'))).toEqual([['active', `${acmeErp.url} Acme ERP`, 'payment.*', expect.any(String), expect.any(String)]]);
      await expectClean(visit);

      await follow(page, page.getByRole('link', { name: 'New endpoint' }), `${host.url}/portal/subscriptions/new`);
      await expectClean(visit);
      await page.getByLabel('URL').fill(acmeBilling.url);
      await page.getByRole('checkbox', { name: 'invoice.paid' }).check();
      await page.getByLabel('Description').fill('Acme billing');
      await follow(page, page.getByRole('button', { name: 'Create endpoint' }), `${host.url}/portal/subscriptions`);
      expect(await headingOf(page)).toBe('Endpoint created');
      const secret = (await page.locator('#secret').textContent()) ?? '';
      expect(secret).toMatch(/^whsec_/);
      // The script shows the Copy button; clicking it copies the secret and says so.
      await page.getByRole('button', { name: 'Copy' }).click();
      await page.getByRole('button', { name: 'Copied' }).waitFor();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
      await expectClean(visit);

      await follow(page, page.getByRole('link', { name: 'Go to the endpoint’s page' }), /\/portal\/subscriptions\/[^/?]+$/);
      const createdId = decodeURIComponent(new URL(page.url()).pathname.split('/').at(-1)!);
      expect(await webhooks.subscriptions.get(createdId)).toMatchObject({ tenantId: 'org_acme', url: acmeBilling.url, eventTypes: ['invoice.paid'], description: 'Acme billing' });
      await expectClean(visit);

      await follow(page, page.getByRole('button', { name: 'Send the test event' }), `${host.url}/portal/subscriptions/${createdId}/test`);
      expect(await headingOf(page)).toBe('Test event delivered');
      expect(acmeBilling.receiver.requests).toHaveLength(1);
      // Signed with the secret the page showed.
      const [test] = acmeBilling.receiver.requests;
      expect(verifyWebhookSignature({ body: test!.body, headers: test!.headers }, { secrets: secret }).id).toBe(test!.headers['webhook-id']);
      await expectClean(visit);

      // Acme's lists show Acme's only.
      await follow(page, page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Endpoints' }), `${host.url}/portal/subscriptions`);
      expect((await rowsOf(page.getByRole('table'))).map((cells) => cells[1]).toSorted()).toEqual([`${acmeBilling.url} Acme billing`, `${acmeErp.url} Acme ERP`].toSorted());
      await follow(page, page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Deliveries' }), `${host.url}/portal/deliveries`);
      expect((await rowsOf(page.getByRole('table'))).map((cells) => cells[0])).toEqual([acmeDelivery!.id]);
      for (const text of [globex.id, globexErp.url, 'Globex ERP', globexDelivery!.id]) expect(await page.content()).not.toContain(text);
      await expectClean(visit);

      // Globex's ids typed into the address bar: the same 404 as an id that does not exist.
      const expectedProblems: string[] = [];
      for (const path of [`/portal/subscriptions/${globex.id}`, `/portal/deliveries/${globexDelivery!.id}`, '/portal/subscriptions/sub_does_not_exist']) {
        const response = await page.goto(`${host.url}${path}`);
        expect(response?.status()).toBe(404);
        expect(await headingOf(page)).toBe('Not found');
        expect(await page.content()).not.toContain('Globex');
        expect(await checkAccessibility(page)).toEqual([]);
        expectedProblems.push(`console.error: Failed to load resource: the server responded with a status of 404 (Not Found) (${host.url}${path})`);
      }
      // The operator's dashboard is not for a customer.
      const operator = await page.goto(`${host.url}/admin/webhooks/`);
      expect(operator?.status()).toBe(403);
      expect(await headingOf(page)).toBe('Not allowed');
      expectedProblems.push(`console.error: Failed to load resource: the server responded with a status of 403 (Forbidden) (${host.url}/admin/webhooks/)`);
      expect(visit.problems()).toEqual(expectedProblems);
      expect(visit.dialogs).toEqual([]);
      expect(globexErp.receiver.requests).toHaveLength(1);
    },
    testTimeoutMs,
  );

  it(
    'with JavaScript off: the overview, a filtered delivery log and a delivery read in full, and disabling with a reason works',
    async () => {
      // axe-core cannot run with scripting off (AXE_NEEDS_JAVASCRIPT): these pages' markup is
      // the same as with JavaScript on, where the other tests check it; here each page is
      // checked for problems.
      const ledger = await startEndpoint(500, 'ledger service unavailable');
      const { webhooks, host } = await startInstance();
      const subscription = await webhooks.subscriptions.create({ url: ledger.url, eventTypes: ['payment.*', 'invoice.*'], description: 'Ledger sync' });
      await webhooks.publish('payment.succeeded', samplePayment(1));
      await webhooks.publish('invoice.paid', webhooks.events.examples['invoice.paid']);
      await settled(webhooks);

      const visit = await signIn(host, 'alice', '/admin/webhooks/', { javaScriptEnabled: false });
      const { page } = visit;
      expect(await headingOf(page)).toBe('Overview');
      expect(await cardValue(page, 'Dead')).toBe('2');
      expect(await rowsOf(page.getByRole('table').last())).toEqual([expect.arrayContaining([`${ledger.url} Ledger sync`, 'active'])]);
      expect(visit.problems()).toEqual([]);

      await follow(page, page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Deliveries' }), `${host.url}/admin/webhooks/deliveries`);
      const filters = page.getByRole('form', { name: 'Filter deliveries' });
      await filters.getByLabel('Event type').selectOption('invoice.paid');
      await filters.getByRole('checkbox', { name: 'dead' }).check();
      await follow(page, filters.getByRole('button', { name: 'Filter' }), /\/admin\/webhooks\/deliveries\?.*eventType=invoice\.paid&status=dead/);
      const [row, ...more] = await rowsOf(page.getByRole('table'));
      expect(more).toEqual([]);
      expect(row![2]).toBe('invoice.paid');
      // No script ran: times stay as the server wrote them (ISO, UTC).
      expect(row![1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(visit.problems()).toEqual([]);

      await follow(page, page.getByRole('link', { name: row![0]! }), `${host.url}/admin/webhooks/deliveries/${row![0]}`);
      expect(await statusOnPage(page)).toBe('dead');
      expect((await rowsOf(page.getByRole('table'))).map((cells) => [cells[0], cells[3], cells[6]])).toEqual([
        ['1', '500', 'ledger service unavailable'],
        ['2', '500', 'ledger service unavailable'],
      ]);
      expect(JSON.parse((await page.locator('pre').first().textContent()) ?? '')).toMatchObject({ type: 'invoice.paid', data: webhooks.events.examples['invoice.paid'] });
      expect(visit.problems()).toEqual([]);

      // An action is a plain form post: no confirmation without the script, the reason kept.
      await follow(page, page.getByRole('link', { name: subscription.id }), `${host.url}/admin/webhooks/subscriptions/${subscription.id}`);
      const disableForm = page.locator('form').filter({ has: page.getByRole('heading', { name: 'Disable', exact: true }) });
      await disableForm.getByLabel('Reason (optional)').fill('ledger migration this weekend');
      await follow(page, disableForm.getByRole('button', { name: 'Disable', exact: true }), `${host.url}/admin/webhooks/subscriptions/${subscription.id}?done=disabled`);
      expect(await page.getByRole('status').textContent()).toBe('The subscription was disabled: its deliveries are held until it is enabled.');
      expect(await statusOnPage(page)).toBe('disabled');
      expect(await webhooks.subscriptions.get(subscription.id)).toMatchObject({ status: 'disabled', disabledReason: 'ledger migration this weekend' });
      expect(visit.dialogs).toEqual([]);
      expect(visit.problems()).toEqual([]);
    },
    testTimeoutMs,
  );

  it(
    'shows stored markup as text: a description, a metadata value and a response snippet run nothing',
    async () => {
      const hostile = await startEndpoint(500, '<script>window.__xss=2</script>');
      const { webhooks, host } = await startInstance();
      const description = '<img src=x onerror="window.__xss=1">';
      const note = '<svg onload="window.__xss=3;alert(3)"></svg>';
      const subscription = await webhooks.subscriptions.create({ url: hostile.url, eventTypes: ['payment.*'], description, metadata: { note } });
      await webhooks.publish('payment.succeeded', samplePayment(1));
      await settled(webhooks);
      const [delivery] = (await webhooks.deliveries.list({ subscriptionId: subscription.id })).items;

      const visit = await signIn(host, 'alice', '/admin/webhooks/');
      const { page } = visit;
      const pages: Array<[path: string, shown: string[]]> = [
        ['/admin/webhooks/', [description]],
        ['/admin/webhooks/subscriptions', [description]],
        // The metadata is shown as JSON: the note's quotes escaped.
        [`/admin/webhooks/subscriptions/${subscription.id}`, [description, JSON.stringify(note).slice(1, -1)]],
        [`/admin/webhooks/subscriptions/${subscription.id}/edit`, [description]],
        ['/admin/webhooks/deliveries', []],
        [`/admin/webhooks/deliveries/${delivery!.id}`, ['<script>window.__xss=2</script>']],
      ];
      for (const [path, shown] of pages) {
        if (page.url() !== `${host.url}${path}`) await page.goto(`${host.url}${path}`);
        for (const text of shown) {
          const where = page.getByText(text).or(page.locator('textarea', { hasText: text }));
          expect(await where.count(), `${path} shows ${text}`).toBeGreaterThan(0);
        }
        expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss), path).toBeUndefined();
        expect(await page.locator('main img, main script, main svg[onload]').count(), path).toBe(0);
        await expectClean(visit);
      }
      expect(visit.dialogs).toEqual([]);
    },
    testTimeoutMs,
  );

  it(
    'saves screenshots of the main pages, over an hour of a few tenants’ deliveries',
    async () => {
      // Receivers that take their time (a real latency for the chart): Acme's ERP 10–100 ms
      // and now and then 300 ms; Globex's fails each event's first attempt and accepts the retry.
      const later = (res: ServerResponse, delayMs: number, status: number, body: string) => {
        setTimeout(() => res.writeHead(status, { 'content-type': 'text/plain' }).end(body), delayMs);
        return 'hang' as const;
      };
      const acmeErp = await LoopbackReceiver.start((_request, index, res) => later(res, index % 11 === 5 ? 300 : 10 + ((index * 37) % 90), 200, 'ok'));
      const globexFirstTries = new Set<string>();
      const globexErp = await LoopbackReceiver.start((request, index, res) => {
        const id = String(request.headers['webhook-id']);
        if (globexFirstTries.has(id)) return later(res, 5 + ((index * 13) % 40), 200, 'ok');
        globexFirstTries.add(id);
        return { status: 503, body: 'upstream timeout' };
      });
      cleanups.push(() => acmeErp.close(), () => globexErp.close());
      const ledger = await startEndpoint(500, 'ledger service unavailable');
      const audit = await startEndpoint(204, '');
      // Hosts as a customer's would read; each name resolves to the loopback receivers.
      const transport = createUndiciTransport({ lookup: everyNameIsLoopback });
      cleanups.push(() => transport.close());
      // The clock jumps a minute forward between events; the dispatcher's timer armed before a
      // jump keeps its real delay, so a short poll keeps each retry near its 50 ms.
      const { webhooks, host } = await startInstance({ transport, clock: pastClock, pollIntervalMs: 20 });
      const at = (endpoint: { url: string }, name: string, path: string) => `http://${name}:${new URL(endpoint.url).port}${path}`;
      const acme = await webhooks.subscriptions.create({ tenantId: 'org_acme', url: at(acmeErp, 'erp.acme.example', '/hooks/bookkeeper'), eventTypes: ['payment.*', 'invoice.*'], description: 'Acme ERP' });
      const warehouse = await webhooks.subscriptions.create({ tenantId: 'org_acme', url: at(acmeErp, 'warehouse.acme.example', '/ingest'), eventTypes: ['*'], description: 'Acme data warehouse' });
      await webhooks.subscriptions.disable(warehouse.id, { actor: 'user:acme-admin', reason: 'warehouse migration' });
      await webhooks.subscriptions.create({ tenantId: 'org_globex', url: at(globexErp, 'ap.globex.example', '/webhooks'), eventTypes: ['payment.*'], description: 'Globex accounts payable', retry: { delaysMs: [50, 50] } });
      const ledgerSync = await webhooks.subscriptions.create({ url: at(ledger, 'ledger.internal.example', '/sync'), eventTypes: ['payment.succeeded'], description: 'Ledger sync (staging)' });
      await webhooks.subscriptions.create({ url: at(audit, 'audit.internal.example', '/events'), eventTypes: ['*'], allTenants: true, description: 'Audit sink (every tenant)' });
      // An event a minute over the last hour (one in each of the chart's minutes), each
      // delivered before the next is published.
      const types = ['payment.succeeded', 'invoice.created', 'invoice.paid', 'payment.failed', 'refund.succeeded'] as const;
      const startMs = Date.now();
      for (let minutesAgo = 58; minutesAgo >= 0; minutesAgo--) {
        pastClock.behindMs = minutesAgo * 60_000 + (Date.now() - startMs);
        const type = types[minutesAgo % types.length]!;
        await webhooks.publish(type, webhooks.events.examples[type] as never, { tenantId: minutesAgo % 3 === 0 ? 'org_globex' : 'org_acme' });
        if (minutesAgo % 20 === 0) await webhooks.publish('payment.succeeded', samplePayment(minutesAgo));
        await settled(webhooks);
      }
      const [dead] = (await webhooks.deliveries.list({ subscriptionId: ledgerSync.id, status: ['dead'], limit: 1 })).items;

      const operator = await signIn(host, 'alice', '/admin/webhooks/');
      const { page } = operator;
      await saveScreenshot(page, 'dashboard-overview');
      await follow(page, page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Deliveries' }), `${host.url}/admin/webhooks/deliveries`);
      await saveScreenshot(page, 'dashboard-deliveries');
      await page.goto(`${host.url}/admin/webhooks/deliveries/${dead!.id}`);
      expect((await rowsOf(page.getByRole('table'))).map((cells) => cells[3])).toEqual(['500', '500']);
      await saveScreenshot(page, 'dashboard-delivery');
      await page.goto(`${host.url}/admin/webhooks/subscriptions/${acme.id}`);
      await saveScreenshot(page, 'dashboard-subscription');
      await expectClean(operator);

      const customer = await signIn(host, 'acme-admin', '/portal/subscriptions');
      await follow(customer.page, customer.page.getByRole('link', { name: 'New endpoint' }), `${host.url}/portal/subscriptions/new`);
      await customer.page.getByLabel('URL').fill(at(acmeErp, 'billing.acme.example', '/webhooks'));
      await customer.page.getByRole('checkbox', { name: 'invoice.paid' }).check();
      await customer.page.getByLabel('Description').fill('Acme billing');
      await saveScreenshot(customer.page, 'portal-new-endpoint');
      await follow(customer.page, customer.page.getByRole('button', { name: 'Create endpoint' }), `${host.url}/portal/subscriptions`);
      await saveScreenshot(customer.page, 'portal-secret');
      await follow(customer.page, customer.page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Endpoints' }), `${host.url}/portal/subscriptions`);
      expect(await rowsOf(customer.page.getByRole('table'))).toHaveLength(3);
      await saveScreenshot(customer.page, 'portal-endpoints');
      await expectClean(customer);
    },
    testTimeoutMs,
  );
});
