/**
 * The delivery log: the list with its filters (subscription, event type, status, time range,
 * and the tenant for the operator) paged by cursor, newest first; a delivery's page with its
 * envelope and every attempt; and the redeliver action. In the portal every read is held to
 * the tenant: the list is always asked for `tenantId: ctx.tenantId`, and a `tenantId` in the
 * query is refused rather than ignored, so a link never shows something other than it says.
 */
import { ValidationError, describeValue, isWebhookError } from '../../errors.js';
import type { StoredEvent } from '../../stored-events.js';
import { shownEvent } from '../shown-subscription.js';
import type { AttemptRecord, DeliveryRecord, DeliveryStatus } from '../../storage/storage-adapter.js';
import { DashboardRefusal, type DashboardContext, type PageReply, type Route } from '../dashboard-context.js';
import { html, type Html } from '../html.js';
import { parseUtcDateTime, utcDateTimeExample } from '../parse-utc-date-time.js';
import { errorClassTag, noValue, statusBadge, timeTag } from '../render.js';

const deliveryStatuses: readonly DeliveryStatus[] = ['pending', 'held', 'delivered', 'dead', 'cancelled'];
const defaultPageSize = 50;
const maxPageSize = 200;
/** Characters of a delivery's last error shown in the list (its page shows all of it). */
const listedErrorLength = 120;

/** The filters as the query string gave them: what the form shows again and the pager's links carry. */
interface FilterFields {
  subscriptionId: string;
  eventType: string;
  status: string[];
  since: string;
  until: string;
  tenantId: string;
  limit: string;
}

/** The filters, checked: what `deliveries.list` is asked. */
interface DeliveryFilters {
  subscriptionId?: string;
  eventType?: string;
  status?: DeliveryStatus[];
  since?: number;
  until?: number;
  tenantId?: string;
  cursor?: string;
  limit: number;
}

function deliveryPath(id: string): string {
  return `/deliveries/${encodeURIComponent(id)}`;
}

function subscriptionPath(id: string): string {
  return `/subscriptions/${encodeURIComponent(id)}`;
}

function readFilterFields(url: URL): FilterFields {
  const get = (name: string) => (url.searchParams.get(name) ?? '').trim();
  return {
    subscriptionId: get('subscriptionId'),
    eventType: get('eventType'),
    status: url.searchParams.getAll('status').filter((status) => status !== ''),
    since: get('since'),
    until: get('until'),
    tenantId: get('tenantId'),
    limit: get('limit'),
  };
}

/** The checked filters, or what is wrong with them (every problem, each a sentence). */
function checkFilters(context: DashboardContext, fields: FilterFields): { filters: DeliveryFilters } | { problems: string[] } {
  const problems: string[] = [];
  const filters: DeliveryFilters = { limit: defaultPageSize };
  if (fields.subscriptionId !== '') {
    if (fields.subscriptionId.length > 255) problems.push(`Expected \`subscriptionId\` to be an id of at most 255 characters, got ${describeValue(fields.subscriptionId)}`);
    else filters.subscriptionId = fields.subscriptionId;
  }
  if (fields.eventType !== '') {
    if (context.webhooks.events.types.includes(fields.eventType)) filters.eventType = fields.eventType;
    else problems.push(`Expected \`eventType\` to be one of the catalog's event types, got ${describeValue(fields.eventType)}`);
  }
  if (fields.status.length > 0) {
    const unknown = fields.status.filter((status) => !deliveryStatuses.includes(status as DeliveryStatus));
    if (unknown.length > 0) problems.push(`Expected \`status\` to be among ${deliveryStatuses.join(', ')}, got ${unknown.map((status) => describeValue(status)).join(', ')}`);
    else filters.status = [...new Set(fields.status as DeliveryStatus[])];
  }
  for (const field of ['since', 'until'] as const) {
    if (fields[field] === '') continue;
    const parsed = parseUtcDateTime(fields[field], field);
    if ('problem' in parsed) problems.push(parsed.problem);
    else filters[field] = parsed.ms;
  }
  if (filters.since !== undefined && filters.until !== undefined && filters.since >= filters.until) {
    problems.push(`Expected \`since\` to be before \`until\`, got ${fields.since} and ${fields.until}`);
  }
  if (fields.tenantId !== '') filters.tenantId = fields.tenantId;
  if (fields.limit !== '') {
    const limit = /^[0-9]{1,4}$/.test(fields.limit) ? Number(fields.limit) : Number.NaN;
    if (limit >= 1 && limit <= maxPageSize) filters.limit = limit;
    else problems.push(`Expected \`limit\` to be a whole number from 1 to ${maxPageSize}, got ${describeValue(fields.limit)}`);
  }
  const cursor = context.url.searchParams.get('cursor');
  if (cursor !== null && cursor !== '') filters.cursor = cursor;
  return problems.length > 0 ? { problems } : { filters };
}

/** The query string of the list with these filters (and a cursor): the pager's links. */
function listHref(context: DashboardContext, fields: FilterFields, cursor?: string): string {
  const search = new URLSearchParams();
  for (const name of ['subscriptionId', 'eventType', 'since', 'until', 'tenantId', 'limit'] as const) {
    if (fields[name] !== '') search.set(name, fields[name]);
  }
  for (const status of fields.status) search.append('status', status);
  if (cursor !== undefined) search.set('cursor', cursor);
  const text = search.toString();
  return text === '' ? context.href('/deliveries') : `${context.href('/deliveries')}?${text}`;
}

function filterForm(context: DashboardContext, fields: FilterFields): Html {
  const portal = context.tenantId !== undefined;
  const types = context.webhooks.events.types.map(
    (type) => html`<option value="${type}"${type === fields.eventType ? html` selected` : ''}>${type}</option>`,
  );
  const statusBoxes = deliveryStatuses.map(
    (status) =>
      html`<label><input type="checkbox" name="status" value="${status}"${fields.status.includes(status) ? html` checked` : ''}> ${status}</label>`,
  );
  return html`<form class="filters" method="get" action="${context.href('/deliveries')}" aria-label="Filter deliveries">
<div class="field"><label for="filter-subscription">${portal ? 'Endpoint id' : 'Subscription id'}</label><input id="filter-subscription" class="mono" name="subscriptionId" value="${fields.subscriptionId}" size="28"></div>
<div class="field"><label for="filter-event-type">Event type</label><select id="filter-event-type" name="eventType"><option value="">any</option>${types}</select></div>
<fieldset class="field"><legend>Status</legend>${statusBoxes}</fieldset>
<div class="field"><label for="filter-since">Created since (UTC)</label><input id="filter-since" type="datetime-local" step="1" name="since" value="${fields.since}" placeholder="${utcDateTimeExample}"></div>
<div class="field"><label for="filter-until">Created before (UTC)</label><input id="filter-until" type="datetime-local" step="1" name="until" value="${fields.until}" placeholder="${utcDateTimeExample}"></div>
${portal ? '' : html`<div class="field"><label for="filter-tenant">Tenant id</label><input id="filter-tenant" class="mono" name="tenantId" value="${fields.tenantId}" size="16"></div>`}
${fields.limit === '' ? '' : html`<input type="hidden" name="limit" value="${fields.limit}">`}
<div class="field"><button type="submit" class="primary">Filter</button> <a class="button" href="${context.href('/deliveries')}">Clear</a></div>
</form>`;
}

/** The last response of a delivery in a list cell: its status code and the start of its error. */
function lastResponse(delivery: DeliveryRecord): Html {
  const error =
    delivery.lastError === null
      ? ''
      : delivery.lastError.length > listedErrorLength
        ? `${delivery.lastError.slice(0, listedErrorLength)}…`
        : delivery.lastError;
  if (delivery.lastStatusCode === null && error === '') return html`${noValue}`;
  // The dispatcher records an HTTP failure as "HTTP <status>": the status alone says it.
  if (delivery.lastStatusCode !== null && error === `HTTP ${delivery.lastStatusCode}`) return html`<span class="mono">${delivery.lastStatusCode}</span>`;
  return html`${delivery.lastStatusCode === null ? '' : html`<span class="mono">${delivery.lastStatusCode}</span> `}${error === '' ? '' : html`<span class="muted">${error}</span>`}`;
}

function deliveryTable(context: DashboardContext, deliveries: readonly DeliveryRecord[]): Html {
  if (deliveries.length === 0) return html`<p class="muted">No deliveries match these filters.</p>`;
  const portal = context.tenantId !== undefined;
  const rows = deliveries.map(
    (delivery) => html`<tr>
<td><a class="mono" href="${context.href(deliveryPath(delivery.id))}">${delivery.id}</a></td>
<td>${timeTag(delivery.createdAt)}</td>
<td class="mono">${delivery.eventType}</td>
<td class="mono">${delivery.eventId}</td>
<td><a class="mono" href="${context.href(subscriptionPath(delivery.subscriptionId))}">${delivery.subscriptionId}</a></td>
<td>${statusBadge(delivery.status)}</td>
<td class="num">${delivery.attempts}</td>
<td>${lastResponse(delivery)}</td>
<td>${timeTag(delivery.nextAttemptAt)}</td>
</tr>`,
  );
  return html`<table>
<thead><tr><th scope="col">Delivery</th><th scope="col">Created</th><th scope="col">Event type</th><th scope="col">Event id</th><th scope="col">${portal ? 'Endpoint' : 'Subscription'}</th><th scope="col">Status</th><th scope="col" class="num">Attempts</th><th scope="col">Last response</th><th scope="col">Next attempt</th></tr></thead>
<tbody>${rows}</tbody>
</table>`;
}

/** The list's page again, its filters as typed, with a 400 and what is wrong (the library's code when it refused them). */
function problemPage(context: DashboardContext, fields: FilterFields, code: string, message: string): PageReply {
  return {
    kind: 'page',
    status: 400,
    title: 'Deliveries',
    data: { error: code, message },
    body: html`<h1>Deliveries</h1>
${filterForm(context, fields)}
<p class="notice error" role="alert"><span class="mono">${code}</span>: ${message}</p>`,
  };
}

async function listPage(context: DashboardContext): Promise<PageReply> {
  if (context.tenantId !== undefined && context.url.searchParams.has('tenantId')) {
    // The portal shows one tenant: a link naming another (or the same) is refused, never
    // quietly answered with the portal's own tenant instead.
    throw new DashboardRefusal(400, 'INPUT_INVALID', 'Expected no `tenantId` in the portal: it lists this tenant’s deliveries only');
  }
  const fields = readFilterFields(context.url);
  const checked = checkFilters(context, fields);
  if ('problems' in checked) return problemPage(context, fields, 'INPUT_INVALID', checked.problems.join('; '));
  const { filters } = checked;
  const tenantId = context.tenantId ?? filters.tenantId;
  let subscription;
  let page;
  try {
    // The scope check of the id: another tenant's subscription is as unknown as a made-up one (404).
    subscription = filters.subscriptionId === undefined ? undefined : await context.subscription(filters.subscriptionId);
    page = await context.webhooks.deliveries.list({
      limit: filters.limit,
      ...(filters.subscriptionId === undefined ? {} : { subscriptionId: filters.subscriptionId }),
      ...(filters.eventType === undefined ? {} : { eventType: filters.eventType }),
      ...(filters.status === undefined ? {} : { status: filters.status }),
      ...(filters.since === undefined ? {} : { since: filters.since }),
      ...(filters.until === undefined ? {} : { until: filters.until }),
      ...(tenantId === undefined ? {} : { tenantId }),
      ...(filters.cursor === undefined ? {} : { cursor: filters.cursor }),
    });
  } catch (error) {
    // A malformed id or tenant id, or a cursor that is not one: the same page, told what is wrong.
    if (error instanceof ValidationError) return problemPage(context, fields, error.code, error.message);
    throw error;
  }
  const pager =
    filters.cursor === undefined && page.nextCursor === null
      ? ''
      : html`<nav class="pager" aria-label="Pages">${filters.cursor === undefined ? '' : html`<a href="${listHref(context, fields)}">← Newest</a>`}${
          page.nextCursor === null ? '' : html`<a href="${listHref(context, fields, page.nextCursor)}" rel="next">Older →</a>`
        }</nav>`;
  const about =
    subscription === undefined
      ? ''
      : html`<p>To <span class="mono">${subscription.url}</span> · <a href="${context.href(subscriptionPath(subscription.id))}">${context.tenantId === undefined ? 'Subscription' : 'Endpoint'}</a> · <a href="${context.href(`${subscriptionPath(subscription.id)}/replay`)}">Replay a time range</a></p>`;
  return {
    kind: 'page',
    title: 'Deliveries',
    data: { items: page.items, nextCursor: page.nextCursor },
    body: html`<h1>Deliveries</h1>
${about}
${filterForm(context, fields)}
${deliveryTable(context, page.items)}
${pager}`,
  };
}

/** The envelope `{ id, type, timestamp, orderingKey?, metadata?, data }` as JSON text, or why there is none. */
function envelopeSection(event: StoredEvent | null): Html {
  if (event === null) return html`<p class="muted">The event is no longer stored.</p>`;
  if (event.expungedAt !== null) return html`<p class="muted">Content expunged at ${timeTag(event.expungedAt)}.</p>`;
  const envelope = {
    id: event.id,
    type: event.type,
    timestamp: new Date(event.timestamp).toISOString(),
    ...(event.orderingKey === null ? {} : { orderingKey: event.orderingKey }),
    ...(event.metadata === null ? {} : { metadata: event.metadata }),
    data: event.data,
  };
  return html`<pre>${JSON.stringify(envelope, null, 2)}</pre>`;
}

function attemptsSection(attempts: readonly AttemptRecord[]): Html {
  if (attempts.length === 0) return html`<p class="muted">No attempt yet.</p>`;
  const rows = attempts.map(
    (attempt) => html`<tr>
<td class="num">${attempt.attemptNumber}</td>
<td>${timeTag(attempt.startedAt)}</td>
<td class="num">${Math.round(attempt.durationMs)}</td>
<td class="num">${attempt.statusCode ?? noValue}</td>
<td>${attempt.outcome}</td>
<td>${
      attempt.errorClass === null && attempt.errorMessage === null
        ? noValue
        : attempt.errorClass === 'http' && attempt.errorMessage === `HTTP ${attempt.statusCode}`
          ? html`<span class="muted">HTTP error</span>`
          : html`${attempt.errorClass === null ? '' : html`${errorClassTag(attempt.errorClass)} `}${attempt.errorMessage ?? ''}`
    }</td>
<td>${attempt.responseSnippet === null || attempt.responseSnippet === '' ? noValue : html`<pre>${attempt.responseSnippet}</pre>`}</td>
<td>${timeTag(attempt.nextAttemptAt)}</td>
</tr>`,
  );
  return html`<table>
<thead><tr><th scope="col" class="num">#</th><th scope="col">Started</th><th scope="col" class="num">Duration (ms)</th><th scope="col" class="num">Status</th><th scope="col">Outcome</th><th scope="col">Error</th><th scope="col">Response</th><th scope="col">Next attempt</th></tr></thead>
<tbody>${rows}</tbody>
</table>`;
}

/**
 * A stored payload this instance cannot open (`PAYLOAD_KEY_INVALID`: sealed with a key
 * it lacks), as the page shows it: by the error's message, which names the event and the
 * key id, never the payload. The rest of the page — the attempts that say why the
 * delivery fails — stays readable.
 */
interface Unopened {
  unopened: string;
}

async function unlessUnopened<T>(read: Promise<T>): Promise<T | Unopened> {
  try {
    return await read;
  } catch (error) {
    if (isWebhookError(error) && error.code === 'PAYLOAD_KEY_INVALID') return { unopened: error.message };
    throw error;
  }
}

function isUnopened(value: unknown): value is Unopened {
  return typeof value === 'object' && value !== null && 'unopened' in value;
}

async function detailPage(context: DashboardContext, id: string): Promise<PageReply> {
  const delivery = await context.delivery(id);
  const [read, attempts, subscription, sent] = await Promise.all([
    unlessUnopened(context.webhooks.events.get(delivery.eventId)),
    context.webhooks.deliveries.attempts(delivery.id),
    // The delivery passed the scope check, and its subscription is of the same tenant.
    context.webhooks.subscriptions.get(delivery.subscriptionId),
    unlessUnopened(context.webhooks.deliveries.sentBody(delivery.id)),
  ]);
  const unopened = isUnopened(read) ? read.unopened : isUnopened(sent) ? sent.unopened : null;
  const event = isUnopened(read) ? null : read;
  const sentBody = isUnopened(sent) ? null : sent;
  const portal = context.tenantId !== undefined;
  // A dead delivery of an ordering key may hold the key: it can be skipped (refused if it does not block).
  const skip =
    delivery.status === 'dead' && delivery.orderingKey !== null
      ? html` <form class="inline" method="post" action="${context.href(`${deliveryPath(delivery.id)}/skip`)}" data-confirm="Let the deliveries of its ordering key behind it go on without it?"><button type="submit">Skip</button></form>`
      : '';
  const actions = context.readOnly
    ? ''
    : html`<div class="actions"><form class="inline" method="post" action="${context.href(`${deliveryPath(delivery.id)}/redeliver`)}" data-confirm="Send this delivery again now?"><button type="submit" class="primary">Redeliver</button></form>${skip}</div>`;
  const lease =
    delivery.leaseExpiresAt === null ? noValue : html`being attempted; the worker holds it until ${timeTag(delivery.leaseExpiresAt)}`;
  return {
    kind: 'page',
    title: `Delivery ${delivery.id}`,
    data: { delivery, event: shownEvent(context, event), ...(unopened === null ? {} : { eventUnopened: unopened }), attempts },
    body: html`<h1>Delivery <span class="mono">${delivery.id}</span></h1>
${actions}
<dl class="facts">
<dt>Status</dt><dd>${statusBadge(delivery.status)}</dd>
<dt>Event type</dt><dd class="mono">${delivery.eventType}</dd>
<dt>Event id</dt><dd class="mono">${delivery.eventId}</dd>
<dt>${portal ? 'Endpoint' : 'Subscription'}</dt><dd><a class="mono" href="${context.href(subscriptionPath(delivery.subscriptionId))}">${delivery.subscriptionId}</a>${subscription === null ? '' : html` <span class="mono muted">${subscription.url}</span>`}</dd>
${portal ? '' : html`<dt>Tenant</dt><dd>${delivery.tenantId === null ? html`<span class="muted">none (platform)</span>` : html`<span class="mono">${delivery.tenantId}</span>`}</dd>`}
<dt>Created</dt><dd>${timeTag(delivery.createdAt)}</dd>
<dt>Delivered</dt><dd>${timeTag(delivery.deliveredAt)}</dd>
<dt>Next attempt</dt><dd>${delivery.status === 'pending' && delivery.nextAttemptAt === null && delivery.orderingKey !== null ? html`<span class="muted">waiting behind the earlier deliveries of its ordering key</span>` : timeTag(delivery.nextAttemptAt)}</dd>
${delivery.orderingKey === null ? '' : html`<dt>Ordering key</dt><dd><span class="mono">${delivery.orderingKey}</span> <span class="muted">#${delivery.orderingSequence}</span></dd>`}
<dt>Last attempt</dt><dd>${timeTag(delivery.lastAttemptAt)}</dd>
<dt>Lease</dt><dd>${lease}</dd>
<dt>Attempts</dt><dd>${delivery.attempts} in this cycle, ${attempts.length} in all</dd>
<dt>Last response</dt><dd>${lastResponse(delivery)}</dd>
</dl>
<h2>Envelope</h2>
${
  unopened !== null
    ? html`<p class="muted">Sealed at rest with a key this instance does not have: ${unopened}</p>`
    : sentBody === null
    ? envelopeSection(event)
    : html`<p class="muted">As the subscription’s transform made it at publish: what every attempt sends.</p>
<pre>${JSON.stringify(JSON.parse(sentBody), null, 2)}</pre>`
}
<h2>Attempts</h2>
${attemptsSection(attempts)}
<p><a href="${context.href('/deliveries', { subscriptionId: delivery.subscriptionId })}">All deliveries to this ${portal ? 'endpoint' : 'subscription'}</a></p>`,
  };
}

/** The delivery log's routes (the portal's too: a customer reads and redelivers their own). */
export const deliveriesRoutes: readonly Route[] = [
  { method: 'GET', path: '/deliveries', handle: (context) => listPage(context) },
  { method: 'GET', path: '/deliveries/:id', handle: (context, params) => detailPage(context, params.id!) },
  {
    method: 'POST',
    path: '/deliveries/:id/redeliver',
    async handle(context, params) {
      const delivery = await context.delivery(params.id!);
      const redelivered = await context.webhooks.deliveries.redeliver(delivery.id);
      context.audit('delivery.redeliver', { deliveryId: delivery.id, subscriptionId: delivery.subscriptionId });
      return { kind: 'redirect', location: context.href(deliveryPath(delivery.id), { done: 'redelivered' }), data: { delivery: redelivered } };
    },
  },
  {
    method: 'POST',
    path: '/deliveries/:id/skip',
    async handle(context, params) {
      const delivery = await context.delivery(params.id!);
      const skipped = await context.webhooks.deliveries.skip(delivery.id);
      context.audit('delivery.skip', { deliveryId: delivery.id, subscriptionId: delivery.subscriptionId });
      return { kind: 'redirect', location: context.href(deliveryPath(delivery.id), { done: 'skipped' }), data: { delivery: skipped } };
    },
  },
];
