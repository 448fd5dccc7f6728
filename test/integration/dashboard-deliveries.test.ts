/**
 * The dashboard's delivery log, delivery page, redeliver and replay, over real loopback
 * HTTP with a real instance, through `dashboard.fetch` as a host's router would call it:
 * a dead delivery found by its status, read attempt by attempt, redelivered and seen
 * delivered; filters combined and paged by cursor; a replay counted, then queued, the same
 * number; stored markup shown as text; JSON; the portal's tenant boundary; read-only pages.
 * The dead → redeliver → delivered path runs on every storage.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMemoryStorage, createWebhooks, type BookkeeperEvents, type DashboardActionEvent, type DeliveryRecord, type Webhooks, type WebhooksOptions } from '../../src/index.js';
import { createDashboard, type Dashboard, type DashboardOptions } from '../../src/dashboard/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

const cleanups = registerCleanups();

const ORIGIN = 'http://localhost';
const BASE_PATH = '/admin/webhooks';
const MINUTE_MS = 60_000;
const START = Date.UTC(2026, 10, 26, 12, 0, 0);

function openDashboard(webhooks: Webhooks, options: Partial<DashboardOptions> = {}): Dashboard {
  return createDashboard(webhooks, { basePath: BASE_PATH, authorize: () => ({ actor: 'ops:alice' }), ...options });
}

function get(dashboard: Dashboard, path: string): Promise<Response> {
  return dashboard.fetch(new Request(`${ORIGIN}${BASE_PATH}${path}`));
}

function post(dashboard: Dashboard, path: string, fields: Record<string, string> = {}): Promise<Response> {
  return dashboard.fetch(
    new Request(`${ORIGIN}${BASE_PATH}${path}`, {
      method: 'POST',
      headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    }),
  );
}

/** The page's HTML, checked to be one that the CSP lets run as written: no inline style or handler on any tag. */
async function pageOf(response: Response, status = 200): Promise<string> {
  expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
  const text = await response.text();
  expect(response.status, text).toBe(status);
  for (const tag of text.match(/<[a-zA-Z][^>]*>/g) ?? []) expect(tag).not.toMatch(/\s(style|on[a-z]+)\s*=/i);
  return text;
}

async function jsonOf<T>(response: Response, status = 200): Promise<T> {
  expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
  const body = (await response.json()) as T;
  expect(response.status, JSON.stringify(body)).toBe(status);
  return body;
}

function unescapeHtml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[name]!);
}

/** The ids of the deliveries a list page links to, in order. */
function listedDeliveryIds(page: string): string[] {
  return [...page.matchAll(/<a class="mono" href="\/admin\/webhooks\/deliveries\/([^"?/]+)">/g)].map((match) => decodeURIComponent(match[1]!));
}

/** The cells (inner HTML) of each row of the table after `heading`. */
function tableRowsAfter(page: string, heading: string): string[][] {
  const from = page.indexOf(heading);
  expect(from, `no ${heading} on the page`).toBeGreaterThan(-1);
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(page.slice(from));
  if (body === null) return [];
  return body[1]!
    .split('</tr>')
    .filter((row) => row.includes('<td'))
    .map((row) => [...row.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((cell) => cell[1]!));
}

/** The path (under the origin) of the link with `rel="next"`, or `null`. */
function olderLink(page: string): string | null {
  const match = /<a href="([^"]+)" rel="next">Older →<\/a>/.exec(page);
  return match === null ? null : unescapeHtml(match[1]!);
}

/** A field of the POST form whose action is `action`. */
function hiddenField(page: string, action: string, name: string): string {
  const form = new RegExp(`<form[^>]*method="post" action="${action.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"[^>]*>([\\s\\S]*?)</form>`).exec(page);
  expect(form, `no POST form to ${action}`).not.toBeNull();
  const field = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`).exec(form![1]!);
  expect(field, `no field ${name}`).not.toBeNull();
  return unescapeHtml(field![1]!);
}

/** The UTC `datetime-local` text of a time, as the filter inputs take it. */
function utcInput(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16);
}

interface Setup {
  clock: FakeClock;
  webhooks: Webhooks;
  receiver: LoopbackReceiver;
  /** The operator's dashboard on the instance's clock. */
  dashboard: Dashboard;
  /** Another dashboard on the same instance and clock (the portal, a read-only one). */
  open(options: Partial<DashboardOptions>): Dashboard;
  actions: DashboardActionEvent[];
}

/**
 * A memory instance on a fake clock that tries each delivery once (dead after a failure),
 * a loopback receiver (204 unless a test scripts it), and the operator's dashboard. The
 * dispatcher is not started: a test publishes first, then starts it.
 */
async function setup(options: Omit<WebhooksOptions<BookkeeperEvents>, 'storage'> = {}): Promise<Setup> {
  const receiver = await LoopbackReceiver.start();
  cleanups.push(() => receiver.close());
  const clock = new FakeClock(START);
  const webhooks = createWebhooks<BookkeeperEvents>({
    storage: createMemoryStorage(),
    clock,
    security: { allowPrivateNetworks: true },
    pollIntervalMs: 60_000,
    meter: false,
    retry: { delaysMs: [] },
    ...options,
  });
  cleanups.push(() => webhooks.close());
  const actions: DashboardActionEvent[] = [];
  webhooks.bus.on('dashboard:action', (event) => actions.push(event));
  const open = (dashboardOptions: Partial<DashboardOptions>) => openDashboard(webhooks, { clock, ...dashboardOptions });
  return { clock, webhooks, receiver, dashboard: open({}), open, actions };
}

async function onlyDelivery(webhooks: Webhooks, subscriptionId: string): Promise<DeliveryRecord> {
  const { items } = await webhooks.deliveries.list({ subscriptionId });
  expect(items).toHaveLength(1);
  return items[0]!;
}

const failedPayment = (n: number) => ({ paymentId: `pay_${n}`, customerId: 'cus_1', amount: { amount: 500, currency: 'EUR' }, failureCode: 'card_declined', occurredAt: '2026-11-26T12:00:00.000Z' });

describe('the delivery log and a delivery’s page', () => {
  it('finds a dead delivery by its status, shows every attempt with its status and response, and redelivers it until it is delivered', async () => {
    const { webhooks, receiver, dashboard, actions } = await setup();
    let failing = true;
    receiver.responder = (request) => (request.url.includes('fail') && failing ? { status: 500, body: 'upstream down' } : undefined);
    const failingSubscription = await webhooks.subscriptions.create({ url: `${receiver.url}?fail=1`, eventTypes: ['payment.*'] });
    const healthy = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const dead = await onlyDelivery(webhooks, failingSubscription.id);
    const delivered = await onlyDelivery(webhooks, healthy.id);
    expect([dead.status, delivered.status]).toEqual(['dead', 'delivered']);

    const deadList = await pageOf(await get(dashboard, '/deliveries?status=dead'));
    expect(listedDeliveryIds(deadList)).toEqual([dead.id]);
    expect(deadList).toContain('<input type="checkbox" name="status" value="dead" checked>');
    expect(listedDeliveryIds(await pageOf(await get(dashboard, '/deliveries')))).toEqual(expect.arrayContaining([dead.id, delivered.id]));

    // Redelivered while the endpoint still fails: dead again, with a second attempt.
    const again = await post(dashboard, `/deliveries/${dead.id}/redeliver`);
    expect(again.status).toBe(303);
    expect(again.headers.get('location')).toBe(`${BASE_PATH}/deliveries/${dead.id}?done=redelivered`);
    await webhooks.drain({ timeoutMs: 5_000 });
    const twiceDead = await pageOf(await get(dashboard, `/deliveries/${dead.id}`));
    expect(twiceDead).toContain('<span class="badge dead">dead</span>');
    const failedAttempts = tableRowsAfter(twiceDead, '<h2>Attempts</h2>');
    expect(failedAttempts.map((cells) => [cells[0], cells[3], cells[4], cells[6]])).toEqual([
      ['1', '500', 'dead', '<pre>upstream down</pre>'],
      ['2', '500', 'dead', '<pre>upstream down</pre>'],
    ]);

    failing = false;
    const redelivered = await post(dashboard, `/deliveries/${dead.id}/redeliver`);
    expect(redelivered.status).toBe(303);
    await webhooks.drain({ timeoutMs: 5_000 });
    const after = await pageOf(await get(dashboard, redelivered.headers.get('location')!.slice(BASE_PATH.length)));
    expect(after).toContain('The delivery was queued to be sent again.');
    expect(after).toContain('<span class="badge delivered">delivered</span>');
    expect(tableRowsAfter(after, '<h2>Attempts</h2>').map((cells) => [cells[0], cells[3], cells[4]])).toEqual([
      ['1', '500', 'dead'],
      ['2', '500', 'dead'],
      ['3', '204', 'delivered'],
    ]);
    expect(listedDeliveryIds(await pageOf(await get(dashboard, '/deliveries?status=dead')))).toEqual([]);
    expect(actions).toEqual([
      expect.objectContaining({ action: 'delivery.redeliver', actor: 'ops:alice', tenantId: null, deliveryId: dead.id, subscriptionId: failingSubscription.id }),
      expect.objectContaining({ action: 'delivery.redeliver', actor: 'ops:alice', tenantId: null, deliveryId: dead.id, subscriptionId: failingSubscription.id }),
    ]);
  });

  it('combines the filters and pages through them by cursor, each page carrying the filters to the next', async () => {
    const { clock, webhooks, receiver, dashboard } = await setup();
    receiver.responder = (request) => (request.url.includes('fail') ? { status: 500, body: 'no' } : undefined);
    const failing = await webhooks.subscriptions.create({ url: `${receiver.url}?fail=1`, eventTypes: ['payment.*'] });
    await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    // Minute m: payment.succeeded when m is even, payment.failed when odd.
    const eventAt: string[] = [];
    for (let minute = 0; minute < 12; minute++) {
      const event = minute % 2 === 0 ? await webhooks.publish('payment.succeeded', samplePayment(minute)) : await webhooks.publish('payment.failed', failedPayment(minute));
      eventAt.push(event.id);
      await clock.advance(MINUTE_MS);
    }
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const deliveryOf = new Map((await webhooks.deliveries.list({ subscriptionId: failing.id })).items.map((delivery) => [delivery.eventId, delivery.id]));

    // Dead deliveries to the failing subscription of payment.succeeded created in [minute 2, minute 10): minutes 8, 6, 4, 2, newest first.
    const expected = [8, 6, 4, 2].map((minute) => deliveryOf.get(eventAt[minute]!)!);
    const query = new URLSearchParams({
      subscriptionId: failing.id,
      eventType: 'payment.succeeded',
      status: 'dead',
      since: utcInput(START + 2 * MINUTE_MS),
      until: utcInput(START + 10 * MINUTE_MS),
      limit: '3',
    });
    const first = await pageOf(await get(dashboard, `/deliveries?${query}`));
    expect(first).toContain('<option value="payment.succeeded" selected>payment.succeeded</option>');
    expect(listedDeliveryIds(first)).toEqual(expected.slice(0, 3));
    const next = olderLink(first);
    expect(next).not.toBeNull();
    const carried = new URL(next!, ORIGIN).searchParams;
    for (const [name, value] of query) expect(carried.get(name)).toBe(value);
    expect(carried.get('cursor')).not.toBeNull();

    const second = await pageOf(await get(dashboard, next!.slice(BASE_PATH.length)));
    expect(listedDeliveryIds(second)).toEqual(expected.slice(3));
    expect(olderLink(second)).toBeNull();
    expect(second).toContain('← Newest</a>');

    // One filter less (any status): the healthy subscription's deliveries stay out, the type and window still hold.
    const anyStatus = new URLSearchParams(query);
    anyStatus.delete('status');
    anyStatus.set('limit', '50');
    expect(listedDeliveryIds(await pageOf(await get(dashboard, `/deliveries?${anyStatus}`)))).toEqual(expected);
    // Two statuses at once.
    const twoStatuses = `/deliveries?status=delivered&status=dead&eventType=payment.failed&limit=50&until=${utcInput(START + 2 * MINUTE_MS)}`;
    expect(listedDeliveryIds(await pageOf(await get(dashboard, twoStatuses)))).toHaveLength(2);

    const json = await jsonOf<{ items: DeliveryRecord[]; nextCursor: string | null }>(await get(dashboard, `/deliveries?${query}&format=json`));
    expect(json.items.map((delivery) => delivery.id)).toEqual(expected.slice(0, 3));
    expect(json.items.every((delivery) => delivery.status === 'dead' && delivery.eventType === 'payment.succeeded')).toBe(true);
    expect(json.nextCursor).toBe(carried.get('cursor'));
  });

  it('answers a bad filter with the page again, a 400 and what is wrong, and an unknown subscription with a 404', async () => {
    const { dashboard } = await setup();
    const refused: Array<[string, string]> = [
      ['since=yesterday', 'INPUT_INVALID'],
      ['until=2026-02-30T10:00', 'INPUT_INVALID'],
      ['status=lost', 'INPUT_INVALID'],
      ['status=dead&status=gone', 'INPUT_INVALID'],
      ['eventType=payment.nope', 'INPUT_INVALID'],
      ['limit=0', 'INPUT_INVALID'],
      ['limit=many', 'INPUT_INVALID'],
      [`since=${utcInput(START)}&until=${utcInput(START)}`, 'INPUT_INVALID'],
      [`tenantId=${'t'.repeat(129)}`, 'INPUT_INVALID'],
      ['cursor=not-a-cursor', 'CURSOR_INVALID'],
    ];
    for (const [query, code] of refused) {
      const page = await pageOf(await get(dashboard, `/deliveries?${query}`), 400);
      expect(page, query).toContain('<form class="filters" method="get"');
      expect(page, query).toContain(`<span class="mono">${code}</span>`);
      expect(await jsonOf<{ error: string }>(await get(dashboard, `/deliveries?${query}&format=json`), 400)).toMatchObject({ error: code });
    }
    // The typed text is shown again as text.
    const typed = await pageOf(await get(dashboard, `/deliveries?since=${encodeURIComponent('"><b>x')}`), 400);
    expect(typed).toContain('value="&quot;&gt;&lt;b&gt;x"');
    expect(typed).not.toContain('<b>x');

    expect(await jsonOf<{ error: string }>(await get(dashboard, '/deliveries?subscriptionId=sub_unknown&format=json'), 404)).toMatchObject({ error: 'NOT_FOUND' });
    expect(await jsonOf<{ error: string }>(await get(dashboard, '/deliveries/dlv_unknown?format=json'), 404)).toMatchObject({ error: 'NOT_FOUND' });
    expect((await post(dashboard, '/deliveries/dlv_unknown/redeliver')).status).toBe(404);
  });

  it('answers JSON for the list and a delivery: the record, the event as stored and every attempt', async () => {
    const { webhooks, receiver, dashboard } = await setup({ security: { allowPrivateNetworks: true, payloadKey: randomBytes(32).toString('base64') } });
    receiver.responder = () => ({ status: 503, body: 'busy' });
    const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    const data = { ...samplePayment(7), reference: 'INV-7' };
    const event = await webhooks.publish('payment.succeeded', data);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const delivery = await onlyDelivery(webhooks, subscription.id);

    const list = await jsonOf<{ items: DeliveryRecord[]; nextCursor: string | null }>(await get(dashboard, '/deliveries?format=json'));
    expect(list).toEqual({ items: [expect.objectContaining({ id: delivery.id, status: 'dead', eventId: event.id, subscriptionId: subscription.id })], nextCursor: null });

    const detail = await jsonOf<{ delivery: DeliveryRecord; event: { id: string; data: unknown; expungedAt: number | null }; attempts: Array<Record<string, unknown>> }>(
      await dashboard.fetch(new Request(`${ORIGIN}${BASE_PATH}/deliveries/${delivery.id}`, { headers: { accept: 'application/json' } })),
    );
    expect(detail.delivery).toMatchObject({ id: delivery.id, status: 'dead', attempts: 1, lastStatusCode: 503 });
    // Sealed at rest with payloadKey, opened for the reader.
    expect(detail.event).toMatchObject({ id: event.id, data, expungedAt: null });
    expect(detail.attempts).toEqual([expect.objectContaining({ attemptNumber: 1, statusCode: 503, responseSnippet: 'busy', outcome: 'dead' })]);

    const page = await pageOf(await get(dashboard, `/deliveries/${delivery.id}`));
    const envelope = /<h2>Envelope<\/h2>\s*<pre>([\s\S]*?)<\/pre>/.exec(page);
    expect(JSON.parse(unescapeHtml(envelope![1]!))).toEqual({ id: event.id, type: 'payment.succeeded', timestamp: event.timestamp, data });
  });

  it('shows the event\'s metadata in the envelope of a delivery, between the timestamp and the data', async () => {
    const { webhooks, receiver, dashboard } = await setup();
    receiver.responder = () => ({ status: 204 });
    const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    const data = samplePayment(8);
    const event = await webhooks.publish('payment.succeeded', data, { metadata: { region: 'eu', source: 'pos' } });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const delivery = await onlyDelivery(webhooks, subscription.id);
    const page = await pageOf(await get(dashboard, `/deliveries/${delivery.id}`));
    const envelope = /<h2>Envelope<\/h2>\s*<pre>([\s\S]*?)<\/pre>/.exec(page);
    const shown = JSON.parse(unescapeHtml(envelope![1]!)) as Record<string, unknown>;
    expect(shown).toEqual({ id: event.id, type: 'payment.succeeded', timestamp: event.timestamp, metadata: { region: 'eu', source: 'pos' }, data });
    expect(Object.keys(shown)).toEqual(['id', 'type', 'timestamp', 'metadata', 'data']);
  });

  it('shows the envelope a transformed subscription got, as its transform made it, and the transform on the subscription page', async () => {
    const { webhooks, receiver, dashboard } = await setup({ transforms: { thin: (event) => ({ paymentId: (event.data as { paymentId: string }).paymentId }) } });
    receiver.responder = () => ({ status: 204 });
    const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], transform: 'thin' });
    const event = await webhooks.publish('payment.succeeded', samplePayment(9));
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const delivery = await onlyDelivery(webhooks, subscription.id);
    const page = await pageOf(await get(dashboard, `/deliveries/${delivery.id}`));
    const envelope = /<h2>Envelope<\/h2>\s*<p class="muted">As the subscription’s transform made it at publish: what every attempt sends.<\/p>\s*<pre>([\s\S]*?)<\/pre>/.exec(page);
    expect(JSON.parse(unescapeHtml(envelope![1]!))).toEqual({ id: event.id, type: 'payment.succeeded', timestamp: event.timestamp, data: { paymentId: 'pay_9' } });
    expect(JSON.parse(unescapeHtml(envelope![1]!))).toEqual(JSON.parse(receiver.requests[0]!.body.toString()));
    expect(await pageOf(await get(dashboard, `/subscriptions/${subscription.id}`))).toContain('<dt>Payload transform</dt><dd><span class="mono">thin</span></dd>');
  });

  it('shows stored markup — a response snippet, a payload, an error — as text', async () => {
    const { webhooks, receiver, dashboard } = await setup();
    receiver.responder = () => ({ status: 500, body: '<script>alert(1)</script>' });
    const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', { ...samplePayment(1), reference: '<img src=x onerror=alert(2)>', metadata: { note: '</pre><script>alert(3)</script>' } });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const delivery = await onlyDelivery(webhooks, subscription.id);

    for (const path of [`/deliveries/${delivery.id}`, '/deliveries', '/deliveries?status=dead']) {
      const page = await pageOf(await get(dashboard, path));
      // The layout's own script is the only one.
      expect(page.match(/<script/g), path).toHaveLength(1);
      expect(page, path).not.toContain('<img');
    }
    const page = await pageOf(await get(dashboard, `/deliveries/${delivery.id}`));
    expect(page).toContain('<pre>&lt;script&gt;alert(1)&lt;/script&gt;</pre>');
    expect(page).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(page).toContain('&lt;/pre&gt;&lt;script&gt;alert(3)&lt;/script&gt;');
  });

  it('shows an expunged event as such, and answers a redeliver the library refuses with a 409 page naming the code', async () => {
    const { webhooks, receiver, dashboard, actions } = await setup();
    receiver.responder = () => ({ status: 500 });
    const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    const event = await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const delivery = await onlyDelivery(webhooks, subscription.id);

    await webhooks.subscriptions.disable(subscription.id, { actor: 'test' });
    const disabled = await pageOf(await post(dashboard, `/deliveries/${delivery.id}/redeliver`), 409);
    expect(disabled).toContain('<span class="mono">SUBSCRIPTION_DISABLED</span>');
    await webhooks.subscriptions.enable(subscription.id, { actor: 'test' });

    await webhooks.events.expunge(event.id);
    const expunged = await pageOf(await get(dashboard, `/deliveries/${delivery.id}`));
    expect(expunged).toMatch(/<h2>Envelope<\/h2>\s*<p class="muted">Content expunged at <time datetime="[^"]+">/);
    expect(await jsonOf<{ error: string }>(await post(dashboard, `/deliveries/${delivery.id}/redeliver?format=json`), 409)).toMatchObject({ error: 'EVENT_EXPUNGED' });
    expect(actions).toEqual([]);
  });

  it('shows an ordered delivery’s key and number, a waiting one as waiting, and skips a dead one that blocks its key', async () => {
    const { webhooks, receiver, dashboard, actions } = await setup();
    receiver.responder = (request) => (request.headers['webhook-sequence'] === '1' ? { status: 500 } : undefined);
    const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    const first = await webhooks.publish('payment.succeeded', samplePayment(1), { orderingKey: 'acct_7' });
    const second = await webhooks.publish('payment.succeeded', samplePayment(2), { orderingKey: 'acct_7' });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const [dead] = (await webhooks.deliveries.list({ eventId: first.id })).items;
    const [waiting] = (await webhooks.deliveries.list({ eventId: second.id })).items;
    expect([dead!.status, waiting!.status, waiting!.nextAttemptAt]).toEqual(['dead', 'pending', null]);

    const deadPage = await pageOf(await get(dashboard, `/deliveries/${dead!.id}`));
    expect(deadPage).toContain('<dt>Ordering key</dt><dd><span class="mono">acct_7</span> <span class="muted">#1</span></dd>');
    expect(deadPage).toContain('&quot;orderingKey&quot;: &quot;acct_7&quot;');
    expect(deadPage).toContain(`action="${BASE_PATH}/deliveries/${dead!.id}/skip"`);
    const waitingPage = await pageOf(await get(dashboard, `/deliveries/${waiting!.id}`));
    expect(waitingPage).toContain('waiting behind the earlier deliveries of its ordering key');
    expect(waitingPage).not.toContain('/skip"');

    const skipped = await post(dashboard, `/deliveries/${dead!.id}/skip`);
    expect(skipped.status).toBe(303);
    expect(skipped.headers.get('location')).toBe(`${BASE_PATH}/deliveries/${dead!.id}?done=skipped`);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect((await webhooks.deliveries.get(waiting!.id))!.status).toBe('delivered');
    expect(actions).toContainEqual(expect.objectContaining({ action: 'delivery.skip', deliveryId: dead!.id, subscriptionId: subscription.id }));
    // Skipped already: it no longer blocks anything, and the refusal says so.
    const again = await post(dashboard, `/deliveries/${dead!.id}/skip`);
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('DELIVERY_NOT_BLOCKING');
  });
});

describe('replaying a time range', () => {
  it('counts first, then queues the same events the count showed, and lists them', async () => {
    const { clock, webhooks, receiver, dashboard, actions } = await setup();
    let failing = true;
    receiver.responder = () => (failing ? { status: 500 } : undefined);
    // Minutes 0 and 1: published before the subscription existed (no delivery); minutes 2–5: dead.
    const eventAt: string[] = [];
    const publishAMinute = async () => {
      eventAt.push((await webhooks.publish('payment.succeeded', samplePayment(eventAt.length))).id);
      await clock.advance(MINUTE_MS);
    };
    await publishAMinute();
    await publishAMinute();
    const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    for (let minute = 2; minute < 6; minute++) await publishAMinute();
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const sent = receiver.requests.length;
    expect(sent).toBe(4);

    const replayPath = `/subscriptions/${subscription.id}/replay`;
    const form = await pageOf(await get(dashboard, replayPath));
    expect(form).toContain(`<form class="filters" method="get" action="${BASE_PATH}${replayPath}"`);
    expect(form).not.toContain('method="post"');

    // [minute 1, minute 5): minute 1 never delivered, minutes 2–4 dead.
    const window = `since=${utcInput(START + MINUTE_MS)}&until=${utcInput(START + 5 * MINUTE_MS)}`;
    const counted = await pageOf(await get(dashboard, `${replayPath}?${window}`));
    expect(counted).toContain('<strong>4</strong> events');
    expect(counted).toContain('Replay these 4 events</button>');
    const fields = { since: hiddenField(counted, `${BASE_PATH}${replayPath}`, 'since'), until: hiddenField(counted, `${BASE_PATH}${replayPath}`, 'until') };
    expect(fields).toEqual({ since: new Date(START + MINUTE_MS).toISOString(), until: new Date(START + 5 * MINUTE_MS).toISOString() });
    expect(await jsonOf(await get(dashboard, `${replayPath}?${window}&format=json`))).toEqual({
      subscriptionId: subscription.id,
      since: START + MINUTE_MS,
      until: START + 5 * MINUTE_MS,
      count: 4,
    });
    // Counting changed nothing.
    expect((await webhooks.deliveries.list({ subscriptionId: subscription.id, status: 'pending' })).items).toEqual([]);

    failing = false;
    const replayed = await post(dashboard, replayPath, fields);
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get('location')).toBe(`${BASE_PATH}/deliveries?subscriptionId=${subscription.id}&done=replayed`);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(receiver.requests.slice(sent).map((request) => request.headers['webhook-id']).sort()).toEqual(eventAt.slice(1, 5).sort());
    const list = await pageOf(await get(dashboard, replayed.headers.get('location')!.slice(BASE_PATH.length)));
    expect(list).toContain('The replay was queued.');
    expect(actions).toEqual([
      expect.objectContaining({ action: 'subscription.replay', actor: 'ops:alice', subscriptionId: subscription.id, details: { since: START + MINUTE_MS, until: START + 5 * MINUTE_MS, count: 4 } }),
    ]);

    // Nothing is left to replay in that window.
    expect(await pageOf(await get(dashboard, `${replayPath}?${window}`))).toContain('Nothing to replay');
  });

  it('replays up to now when the form leaves the end empty, and refuses a window without a start', async () => {
    const { webhooks, dashboard } = await setup();
    const subscription = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    const replayPath = `/subscriptions/${subscription.id}/replay`;
    expect(await jsonOf(await get(dashboard, `${replayPath}?since=${utcInput(START - MINUTE_MS)}&until=&format=json`))).toMatchObject({ until: START, count: 0 });
    for (const query of ['since=', 'until=2026-11-26T12:00', 'since=nope', `since=${utcInput(START + MINUTE_MS)}`]) {
      const page = await pageOf(await get(dashboard, `${replayPath}?${query}`), 400);
      expect(page, query).toContain('<span class="mono">INPUT_INVALID</span>');
    }
    expect(await jsonOf<{ error: string }>(await post(dashboard, `${replayPath}?format=json`, { until: utcInput(START) }), 400)).toMatchObject({ error: 'INPUT_INVALID' });
    expect(await jsonOf<{ error: string }>(await post(dashboard, '/subscriptions/sub_unknown/replay?format=json', { since: utcInput(START) }), 404)).toMatchObject({ error: 'NOT_FOUND' });
  });
});

describe('the customer portal', () => {
  it('shows a tenant its own deliveries and refuses another tenant’s delivery, redeliver and replay with the 404 of an unknown id', async () => {
    const { webhooks, receiver, open, actions } = await setup();
    receiver.responder = () => ({ status: 500 });
    const own = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tenantId: 'org_a' });
    const foreign = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'], tenantId: 'org_b' });
    await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_a' });
    await webhooks.publish('payment.succeeded', samplePayment(2), { tenantId: 'org_b' });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const ownDelivery = await onlyDelivery(webhooks, own.id);
    const foreignDelivery = await onlyDelivery(webhooks, foreign.id);
    const portal = open({ scope: () => 'org_a' });

    const list = await pageOf(await get(portal, '/deliveries'));
    expect(listedDeliveryIds(list)).toEqual([ownDelivery.id]);
    expect(list).not.toContain('name="tenantId"');
    expect(listedDeliveryIds(await pageOf(await get(portal, `/deliveries?subscriptionId=${own.id}`)))).toEqual([ownDelivery.id]);

    const unknown = await jsonOf<{ error: string }>(await get(portal, '/deliveries/dlv_unknown?format=json'), 404);
    for (const response of [
      await get(portal, `/deliveries/${foreignDelivery.id}?format=json`),
      await post(portal, `/deliveries/${foreignDelivery.id}/redeliver?format=json`),
      await get(portal, `/subscriptions/${foreign.id}/replay?since=${utcInput(START - MINUTE_MS)}&format=json`),
      await post(portal, `/subscriptions/${foreign.id}/replay?format=json`, { since: utcInput(START - MINUTE_MS) }),
      await get(portal, `/deliveries?subscriptionId=${foreign.id}&format=json`),
    ]) {
      expect(await jsonOf<{ error: string }>(response, 404)).toEqual({ error: unknown.error, message: expect.any(String) });
    }
    const refusedPage = await pageOf(await get(portal, `/deliveries/${foreignDelivery.id}`), 404);
    expect(refusedPage).not.toContain(foreignDelivery.eventId);
    // The other tenant's delivery was neither redelivered nor replayed.
    expect(await webhooks.deliveries.get(foreignDelivery.id)).toMatchObject({ status: 'dead', updatedAt: foreignDelivery.updatedAt });
    expect(await webhooks.deliveries.attempts(foreignDelivery.id)).toHaveLength(1);

    // A tenant in the query is refused, even the portal's own: the scope is never changed by a link.
    for (const tenantId of ['org_b', 'org_a', '']) {
      expect(await jsonOf<{ error: string }>(await get(portal, `/deliveries?tenantId=${tenantId}&format=json`), 400)).toMatchObject({ error: 'INPUT_INVALID' });
    }

    // Its own: read, redeliver, count a replay.
    expect(await pageOf(await get(portal, `/deliveries/${ownDelivery.id}`))).toContain('<span class="badge dead">dead</span>');
    expect((await post(portal, `/deliveries/${ownDelivery.id}/redeliver`)).status).toBe(303);
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(await webhooks.deliveries.attempts(ownDelivery.id)).toHaveLength(2);
    expect(await jsonOf(await get(portal, `/subscriptions/${own.id}/replay?since=${utcInput(START - MINUTE_MS)}&until=${utcInput(START + MINUTE_MS)}&format=json`))).toMatchObject({ count: 1 });
    expect(actions).toEqual([expect.objectContaining({ action: 'delivery.redeliver', tenantId: 'org_a', deliveryId: ownDelivery.id, subscriptionId: own.id })]);
  });

  it('lets the operator filter by tenant', async () => {
    const { webhooks, dashboard } = await setup();
    const a = await webhooks.subscriptions.create({ url: 'https://a.example.com/hooks', eventTypes: ['payment.*'], tenantId: 'org_a' });
    await webhooks.subscriptions.create({ url: 'https://b.example.com/hooks', eventTypes: ['payment.*'], tenantId: 'org_b' });
    await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_a' });
    await webhooks.publish('payment.succeeded', samplePayment(2), { tenantId: 'org_b' });
    const ofA = await onlyDelivery(webhooks, a.id);
    const page = await pageOf(await get(dashboard, '/deliveries?tenantId=org_a'));
    expect(page).toContain('name="tenantId" value="org_a"');
    expect(listedDeliveryIds(page)).toEqual([ofA.id]);
    expect(listedDeliveryIds(await pageOf(await get(dashboard, '/deliveries')))).toHaveLength(2);
  });
});

describe('a read-only dashboard', () => {
  it('renders the filters and the replay count but no action form', async () => {
    const { webhooks, receiver, open } = await setup();
    receiver.responder = () => ({ status: 500 });
    const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const delivery = await onlyDelivery(webhooks, subscription.id);
    const readOnly = open({ readOnly: true });
    const writable = open({});

    const detailPath = `/deliveries/${delivery.id}`;
    const countPath = `/subscriptions/${subscription.id}/replay?since=${utcInput(START - MINUTE_MS)}&until=${utcInput(START + MINUTE_MS)}`;
    // The same pages with actions, so that their absence below is the switch's doing.
    expect(await pageOf(await get(writable, detailPath))).toContain(`method="post" action="${BASE_PATH}${detailPath}/redeliver"`);
    expect(await pageOf(await get(writable, countPath))).toContain('Replay this event</button>');

    const detail = await pageOf(await get(readOnly, detailPath));
    expect(detail).toContain('<span class="badge dead">dead</span>');
    const counted = await pageOf(await get(readOnly, countPath));
    expect(counted).toContain('<strong>1</strong> event');
    const list = await pageOf(await get(readOnly, '/deliveries'));
    expect(list).toContain('<form class="filters" method="get"');
    for (const page of [detail, counted, list]) {
      expect(page).not.toContain('method="post"');
      expect(page).not.toContain('Redeliver');
    }
    expect(await jsonOf<{ error: string }>(await post(readOnly, `${detailPath}/redeliver?format=json`), 403)).toMatchObject({ error: 'DASHBOARD_READ_ONLY' });
  });
});

describe.each(storageKinds)('dead → redeliver → delivered through the dashboard on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'dashboard-deliveries');

  it('lists the dead delivery, redelivers it and shows it delivered with both attempts', async () => {
    let failing = true;
    env.server.responder = () => (failing ? { status: 500, body: 'down' } : undefined);
    const webhooks = env.instance({ retry: { delaysMs: [] }, security: { payloadKey: randomBytes(32).toString('base64') } });
    const dashboard = openDashboard(webhooks);
    const subscription = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const data = { ...samplePayment(1), reference: 'INV-<1>' };
    await webhooks.publish('payment.succeeded', data);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 5_000 });
    const [dead] = (await webhooks.deliveries.list({ subscriptionId: subscription.id })).items;

    expect(listedDeliveryIds(await pageOf(await get(dashboard, '/deliveries?status=dead')))).toEqual([dead!.id]);
    const before = await pageOf(await get(dashboard, `/deliveries/${dead!.id}`));
    expect(tableRowsAfter(before, '<h2>Attempts</h2>').map((cells) => [cells[3], cells[6]])).toEqual([['500', '<pre>down</pre>']]);
    expect(before).toContain('&quot;reference&quot;: &quot;INV-&lt;1&gt;&quot;');

    failing = false;
    const redelivered = await post(dashboard, `/deliveries/${dead!.id}/redeliver`);
    expect(redelivered.status).toBe(303);
    await webhooks.drain({ timeoutMs: 5_000 });
    const after = await pageOf(await get(dashboard, `/deliveries/${dead!.id}`));
    expect(after).toContain('<span class="badge delivered">delivered</span>');
    expect(tableRowsAfter(after, '<h2>Attempts</h2>').map((cells) => [cells[0], cells[3], cells[4]])).toEqual([
      ['1', '500', 'dead'],
      ['2', '204', 'delivered'],
    ]);
    expect(listedDeliveryIds(await pageOf(await get(dashboard, '/deliveries?status=delivered')))).toEqual([dead!.id]);
  });
});
