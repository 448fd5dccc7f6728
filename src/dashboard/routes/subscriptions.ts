/**
 * The subscriptions area (the "Endpoints" of the customer portal): the list, a
 * subscription's page (its facts, circuit, backlog, retry policy and flow control, recent
 * test requests, change log), creating and editing one, and the actions — send a test
 * event, disable, enable (with or without the events it missed), rotate the secret, delete.
 *
 * Every id goes through `context.subscription` (the portal's tenant check) before it is
 * read or acted on; every change passes the principal as the change log's actor and is
 * audited. A secret is shown only on the page that answers its creation or rotation.
 */
import { ConflictError, describeValue, isWebhookError } from '../../errors.js';
import type { CircuitStatus } from '../../metrics/delivery-metrics.js';
import type { Subscription, SubscriptionChange, TestAttempt } from '../../registry/subscription-registry.js';
import type { SigningScheme } from '../../signing/signing-key.js';
import type { StoredFlowControl, StoredRetryPolicy } from '../../storage/storage-adapter.js';
import { DashboardRefusal, type DashboardContext, type PageReply, type Reply, type Route } from '../dashboard-context.js';
import { html, type Html } from '../html.js';
import { shownChanges, shownSubscription, type ShownSubscription } from '../shown-subscription.js';
import { errorClassTag, formatCount, formatCountOf, formatDurationMs, formatRatio, noValue, pager, statusBadge, timeTag } from '../render.js';
import {
  emptySubscriptionForm,
  readSubscriptionFormValues,
  subscriptionForm,
  subscriptionFormInput,
  subscriptionFormValues,
  type FormError,
  type SubscriptionFormMode,
  type SubscriptionFormValues,
} from '../subscription-form.js';

const pageSize = 50;
/** Entries of the change log shown on a subscription's page (the newest). */
const changesShown = 50;
/** Entries of the test log shown on a subscription's page (the newest). */
const testAttemptsShown = 10;

/** How the area names a subscription: an "endpoint" in the customer portal. */
function nounOf(context: DashboardContext): { one: string; One: string; Many: string } {
  return context.tenantId === undefined ? { one: 'subscription', One: 'Subscription', Many: 'Subscriptions' } : { one: 'endpoint', One: 'Endpoint', Many: 'Endpoints' };
}

function subscriptionPath(id: string, rest = ''): string {
  return `/subscriptions/${encodeURIComponent(id)}${rest}`;
}

function refuseReadOnly(context: DashboardContext): void {
  if (context.readOnly) throw new DashboardRefusal(403, 'DASHBOARD_READ_ONLY', 'This dashboard is read only');
}

function refuseDeleted(subscription: Subscription): void {
  if (subscription.deletedAt !== null) {
    throw new ConflictError('SUBSCRIPTION_DELETED', `Expected a subscription that is not deleted, got ${subscription.id}, deleted at ${new Date(subscription.deletedAt).toISOString()}`, {
      field: 'id',
    });
  }
}

/** A yes/no field of a form or query: absent, `''`, `0`, `false` is no; `1`, `on`, `true` yes. */
function flagOf(fields: URLSearchParams, name: string): boolean {
  const value = fields.get(name);
  if (value === null || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'on' || value === 'true') return true;
  throw new DashboardRefusal(400, 'INPUT_INVALID', `Expected \`${name}\` to be 1 or 0, got ${describeValue(value)}`);
}

/** The fields of an action's post, refusing any the action does not take (nothing is silently dropped). */
async function actionFields(context: DashboardContext, allowed: readonly string[]): Promise<URLSearchParams> {
  const form = await context.form();
  for (const name of new Set(form.keys())) {
    if (!allowed.includes(name)) {
      throw new DashboardRefusal(400, 'INPUT_INVALID', `Expected no \`${name}\` field${allowed.length === 0 ? '' : ` (fields: ${allowed.join(', ')})`}`);
    }
  }
  return form;
}

function reasonOf(form: URLSearchParams): string | undefined {
  const reason = (form.get('reason') ?? '').trim();
  return reason === '' ? undefined : reason;
}

/**
 * An error of the API that the form can show next to a field: a validation error (not an
 * unknown id: that is a 404), a URL that failed its verification, the tenant's limit.
 */
function formErrorOf(error: unknown): (FormError & { status: number; code: string }) | null {
  if (!isWebhookError(error)) return null;
  const shown = (error.name === 'ValidationError' && !error.code.endsWith('_NOT_FOUND')) || error.code === 'SUBSCRIPTION_URL_UNVERIFIED' || error.code === 'TENANT_SUBSCRIPTION_LIMIT';
  if (!shown) return null;
  return { field: error.field, message: error.message, code: error.code, status: error.name === 'ValidationError' ? 400 : 409 };
}

function tenantText(subscription: ShownSubscription): Html {
  if (subscription.tenantId !== null) return html`<span class="mono">${subscription.tenantId}</span>`;
  return html`<span class="muted">${subscription.allTenants ? 'platform, every tenant’s events' : 'platform'}</span>`;
}

function statusOf(subscription: ShownSubscription): Html {
  return subscription.deletedAt !== null ? statusBadge('deleted') : statusBadge(subscription.status);
}

function eventTypesText(subscription: ShownSubscription): Html {
  return html`${subscription.eventTypes.map((filter, index) => html`${index === 0 ? '' : ', '}<span class="mono">${filter}</span>`)}`;
}

// ---- list -----------------------------------------------------------------------------

async function listPage(context: DashboardContext): Promise<Reply> {
  const query = context.url.searchParams;
  const portal = context.tenantId !== undefined;
  if (portal && (query.has('tenantId') || query.has('deleted'))) {
    throw new DashboardRefusal(400, 'INPUT_INVALID', `Expected no \`${query.has('tenantId') ? 'tenantId' : 'deleted'}\` filter in the portal: it lists this tenant’s endpoints`);
  }
  const cursor = query.get('cursor') || undefined;
  const status = query.get('status') || undefined;
  const tenantFilter = portal ? context.tenantId : query.get('tenantId') || undefined;
  const includeDeleted = flagOf(query, 'deleted');
  const page = await context.webhooks.subscriptions.list({
    limit: pageSize,
    ...(cursor === undefined ? {} : { cursor }),
    ...(status === undefined ? {} : { status: status as Subscription['status'] }),
    ...(tenantFilter === undefined ? {} : { tenantId: tenantFilter }),
    ...(includeDeleted ? { includeDeleted } : {}),
  });
  const noun = nounOf(context);
  const filters = { status, tenantId: portal ? undefined : tenantFilter, deleted: includeDeleted ? '1' : undefined };
  const rows = page.items.map(
    (subscription) => html`<tr>
<td>${statusOf(subscription)}</td>
<td><a class="mono" href="${context.href(subscriptionPath(subscription.id))}">${subscription.url}</a>${
      subscription.description === null ? '' : html`<br><span class="muted">${subscription.description}</span>`
    }</td>
<td>${eventTypesText(subscription)}</td>
${portal ? '' : html`<td>${tenantText(subscription)}</td>`}
<td>${timeTag(subscription.failingSince)}</td>
<td>${timeTag(subscription.createdAt)}</td>
</tr>`,
  );
  const body = html`<h1>${noun.Many}</h1>
${context.readOnly ? '' : html`<div class="actions"><a class="button" href="${context.href('/subscriptions/new')}">New ${noun.one}</a></div>`}
<form method="get" class="filters" action="${context.href('/subscriptions')}">
<div><label for="status">Status</label><select id="status" name="status">
${['', 'active', 'disabled'].map((value) => html`<option value="${value}"${value === (status ?? '') ? html` selected` : ''}>${value === '' ? 'any' : value}</option>`)}
</select></div>
${
  portal
    ? ''
    : html`<div><label for="tenantId">Tenant</label><input id="tenantId" name="tenantId" value="${tenantFilter ?? ''}"></div>
<div><label><input type="checkbox" name="deleted" value="1"${includeDeleted ? html` checked` : ''}> Deleted ones too</label></div>`
}
<button type="submit">Filter</button>
</form>
${
  page.items.length === 0
    ? html`<p class="muted">No ${noun.one}s${cursor === undefined ? '' : ' on this page'}.</p>`
    : html`<table>
<thead><tr><th scope="col">Status</th><th scope="col">URL</th><th scope="col">Event types</th>${portal ? '' : html`<th scope="col">Tenant</th>`}<th scope="col">Failing since</th><th scope="col">Created</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
}
${pager(context, '/subscriptions', filters, page.nextCursor)}`;
  return { kind: 'page', title: noun.Many, body, data: { items: page.items.map((subscription) => shownSubscription(context, subscription)), nextCursor: page.nextCursor } };
}

// ---- one subscription -------------------------------------------------------------------

/** The newest entries of a change log (which pages oldest first) that this request may see, newest first. */
async function newestChanges(context: DashboardContext, id: string): Promise<SubscriptionChange[]> {
  let kept: SubscriptionChange[] = [];
  let cursor: string | undefined;
  do {
    const page = await context.webhooks.subscriptions.history(id, { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    kept = [...kept, ...shownChanges(context, page.items)].slice(-changesShown);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return kept.reverse();
}

function setting(value: number | null | undefined, show: (value: number) => string, nullText = noValue): string {
  if (value === undefined) return 'instance default';
  return value === null ? nullText : show(value);
}

function retryFacts(retry: StoredRetryPolicy | null): Html {
  if (retry === null) return html`<p>The instance’s policy.</p>`;
  if ('delaysMs' in retry) {
    return html`<dl class="facts">
<dt>Kind</dt><dd>fixed schedule</dd>
<dt>Delays</dt><dd>${retry.delaysMs.length === 0 ? 'none' : retry.delaysMs.map(formatDurationMs).join(', ')}</dd>
<dt>Attempts</dt><dd>${retry.delaysMs.length + 1}</dd>
<dt>Jitter</dt><dd>${setting(retry.jitter, formatRatio)}</dd>
</dl>`;
  }
  return html`<dl class="facts">
<dt>Kind</dt><dd>exponential backoff</dd>
<dt>First delay</dt><dd>${formatDurationMs(retry.initialDelayMs)}</dd>
<dt>Factor</dt><dd>${setting(retry.factor, String)}</dd>
<dt>Longest delay</dt><dd>${setting(retry.maxDelayMs, formatDurationMs)}</dd>
<dt>Attempts</dt><dd>${retry.maxAttempts}</dd>
<dt>Jitter</dt><dd>${setting(retry.jitter, formatRatio)}</dd>
</dl>`;
}

function flowControlFacts(flowControl: StoredFlowControl | null): Html {
  if (flowControl === null) return html`<p>The instance’s defaults.</p>`;
  return html`<dl class="facts">
<dt>Posts in flight at once</dt><dd>${setting(flowControl.maxInFlight, formatCount)}</dd>
<dt>Posts per second</dt><dd>${setting(flowControl.ratePerSecond, String, 'no limit')}</dd>
<dt>Burst above the rate</dt><dd>${setting(flowControl.burst, formatCount)}</dd>
</dl>`;
}

function circuitFacts(circuit: CircuitStatus | null): Html {
  // `metrics({ subscriptionId })` always has it; `null` is only the unscoped snapshot's.
  if (circuit === null) return html``;
  return html`<dl class="facts">
<dt>State</dt><dd>${statusBadge(circuit.state)}${circuit.openUntil === null ? '' : html` until ${timeTag(circuit.openUntil)}`}</dd>
<dt>Posts in flight</dt><dd>${formatCount(circuit.inFlight)}</dd>
</dl>`;
}

function changeLog(changes: readonly SubscriptionChange[]): Html {
  if (changes.length === 0) return html`<p class="muted">No changes recorded.</p>`;
  return html`<table>
<thead><tr><th scope="col">Time</th><th scope="col">Action</th><th scope="col">Actor</th><th scope="col">Reason</th><th scope="col">Fields</th></tr></thead>
<tbody>${changes.map(
    (change) => html`<tr>
<td>${timeTag(change.at)}</td>
<td>${change.action.replaceAll('_', ' ')}</td>
<td>${change.origin === 'dispatcher' ? html`<span class="muted">the library</span>` : change.actor === null ? html`<span class="muted">${noValue}</span>` : html`<span class="mono">${change.actor}</span>`}</td>
<td>${change.reason ?? noValue}</td>
<td class="mono">${Object.keys(change.changes).join(', ')}</td>
</tr>`,
  )}</tbody>
</table>`;
}

function testAttemptsTable(attempts: readonly TestAttempt[]): Html {
  if (attempts.length === 0) return html`<p class="muted">No test request sent.</p>`;
  return html`<table>
<thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Reason</th><th scope="col" class="num">Status</th><th scope="col">Error</th><th scope="col" class="num">Duration (ms)</th><th scope="col">Actor</th></tr></thead>
<tbody>${attempts.map(
    (attempt) => html`<tr>
<td>${timeTag(attempt.startedAt)}</td>
<td class="mono">${attempt.type}</td>
<td>${attempt.reason === 'url_change' ? html`URL change to <span class="mono">${attempt.url}</span>` : 'test'}</td>
<td class="num">${attempt.statusCode ?? noValue}</td>
<td>${
      attempt.error === null
        ? noValue
        : attempt.errorClass === 'http'
          ? html`<span class="muted">HTTP error</span>`
          : html`${attempt.errorClass === null ? '' : html`${errorClassTag(attempt.errorClass)} `}${attempt.error}`
    }</td>
<td class="num">${Math.round(attempt.durationMs)}</td>
<td>${attempt.actor === null ? html`<span class="muted">${noValue}</span>` : html`<span class="mono">${attempt.actor}</span>`}</td>
</tr>`,
  )}</tbody>
</table>`;
}

function signingText(signing: SigningScheme | null): string {
  return signing === 'v1a' ? 'v1a (Ed25519)' : signing === 'v1' ? 'v1 (HMAC-SHA256)' : 'unknown (the secret does not open)';
}

/** Within this of its end a client certificate is flagged on the page: time to renew it. */
const certificateRenewalNoticeMs = 30 * 86_400_000;

/** A distinguished name as node:crypto prints it (one attribute a line), on one line. */
function distinguishedName(name: string | null): Html {
  return name === null ? html`<span class="muted">${noValue}</span>` : html`<span class="mono">${name.split('\n').filter(Boolean).join(', ')}</span>`;
}

/** The end of a certificate's validity, flagged when it is past or near. */
function validUntil(validTo: number, now: number): Html {
  if (validTo <= now) return html`${timeTag(validTo)} ${statusBadge('expired')} <span class="muted">the endpoint refuses it: set a new certificate</span>`;
  if (validTo - now <= certificateRenewalNoticeMs) return html`${timeTag(validTo)} <span class="badge expiring">expires in ${formatDurationMs(validTo - now)}</span>`;
  return timeTag(validTo);
}

/**
 * A subscription's TLS identity and trust settings, as reads give them: what the client
 * certificate says (never the key: only that one is held), the CA and the server name.
 * Setting them takes PEM text, a private key among it, which this page does not take.
 */
function tlsFacts(tls: Subscription['tls'], now: number): Html {
  const how = html`<p class="muted">Set, replaced or removed through the API (<span class="mono">subscriptions.update(id, { tls })</span>), not here.</p>`;
  if (tls === null) return html`<p>None: no client certificate is presented, and the endpoint’s certificate is checked against the public roots.</p>
${how}`;
  // Read through nullable names: a TLS setting may carry a CA or server name without a certificate.
  const certificate: string | null = tls.clientCertificate;
  const validFrom: number | null = tls.validFrom;
  const validTo: number | null = tls.validTo;
  const caCount = tls.ca === null ? 0 : (tls.ca.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;
  return html`<dl class="facts">
${
  certificate === null
    ? html`<dt>Client certificate</dt><dd><span class="muted">none</span></dd>`
    : html`<dt>Client certificate</dt><dd>${distinguishedName(tls.subject)}</dd>
<dt>Issuer</dt><dd>${distinguishedName(tls.issuer)}</dd>
<dt>Valid from</dt><dd>${timeTag(validFrom)}</dd>
<dt>Valid until</dt><dd>${validTo === null ? noValue : validUntil(validTo, now)}</dd>
<dt>SHA-256 fingerprint</dt><dd class="mono">${tls.fingerprint256 ?? noValue}</dd>`
}
<dt>Client key</dt><dd>${tls.hasClientKey ? 'held, sealed at rest; never shown' : html`<span class="muted">none</span>`}</dd>
<dt>CA</dt><dd>${tls.ca === null ? html`<span class="muted">the public roots</span>` : `a private CA bundle of ${formatCountOf(caCount, 'certificate', 'certificates')}: the endpoint’s certificate must chain to it`}</dd>
<dt>Server name</dt><dd>${tls.serverName === null ? html`<span class="muted">the URL’s host</span>` : html`<span class="mono">${tls.serverName}</span>`}</dd>
</dl>
${how}`;
}

/** The scheme choices of a rotation: keep the current one (empty), or move to the other. */
function rotationSigningChoices(current: SigningScheme | null): Array<[value: '' | SigningScheme, label: string]> {
  const others = (['v1', 'v1a'] as const).filter((scheme) => scheme !== current);
  return [
    ['', current === null ? 'keep its scheme' : `keep ${signingText(current)}`],
    ...others.map((scheme): ['' | SigningScheme, string] => [scheme, `${current === null ? '' : 'switch to '}${signingText(scheme)}${scheme === 'v1a' ? ': the receiver gets a public key' : ': the receiver gets a shared secret'}`]),
  ];
}

/** A field for an action's reason (optional; kept in the change log). */
function reasonField(id: string): Html {
  return html`<div class="field"><label for="${id}">Reason (optional)</label><input id="${id}" name="reason" maxlength="500"></div>`;
}

/** The overlaps the rotation form offers, and the one it selects first. */
const suggestedOverlapMs = 86_400_000;
const overlapChoices: ReadonlyArray<[ms: number, label: string]> = [
  [0, 'no time: it stops signing now'],
  [3_600_000, '1 hour'],
  [suggestedOverlapMs, '24 hours'],
  [7 * suggestedOverlapMs, '7 days'],
];

function actionsSection(context: DashboardContext, subscription: ShownSubscription, preview: { held: number; missed: number } | null): Html {
  const noun = nounOf(context);
  const path = (rest: string) => context.href(subscriptionPath(subscription.id, rest));
  const operator = context.tenantId === undefined;
  if (subscription.deletedAt !== null) {
    if (!operator) return html``;
    return html`<h2>Actions</h2>
<form method="post" action="${path('/delete')}" data-confirm="Remove this ${noun.one} with its deliveries, attempts and change log? This cannot be undone.">
<input type="hidden" name="hard" value="1">
${reasonField('hard-delete-reason')}
<button type="submit" class="danger">Delete for good</button>
</form>`;
  }
  const statusAction =
    subscription.status === 'active'
      ? html`<form method="post" action="${path('/disable')}" data-confirm="Disable this ${noun.one}? Its deliveries are held until it is enabled.">
<h3>Disable</h3>
<p class="muted">Deliveries are held, not dropped, until it is enabled again.</p>
${reasonField('disable-reason')}
<button type="submit" class="danger">Disable</button>
</form>`
      : html`<form method="post" action="${path('/enable')}">
<h3>Enable</h3>
<p>${formatCountOf(preview?.held ?? 0, 'held delivery', 'held deliveries')} will be sent. ${formatCountOf(preview?.missed ?? 0, 'event was', 'events were')} published while it was disabled, which it did not get.</p>
${reasonField('enable-reason')}
<div class="actions">
<button type="submit" class="primary" name="replayMissed" value="0">Enable</button>
${(preview?.missed ?? 0) > 0 ? html`<button type="submit" name="replayMissed" value="1">Enable and replay the ${formatCount(preview!.missed)} missed</button>` : ''}
</div>
</form>`;
  const exampleTypes = context.webhooks.events.types.filter((type) => Object.hasOwn(context.webhooks.events.examples, type));
  return html`<h2>Actions</h2>
<form method="post" action="${path('/test')}">
<h3>Send a test event</h3>
<p class="muted">One signed request to the endpoint now, as a delivery would be sent; it is recorded under Test requests and never retried.</p>
<div class="field"><label for="test-type">Event</label><select id="test-type" name="type">
<option value="">${TEST_EVENT_LABEL}</option>
${exampleTypes.map((type) => html`<option value="${type}">${type} (example)</option>`)}
</select></div>
<button type="submit">Send the test event</button>
</form>
${statusAction}
<form method="post" action="${path('/rotate-secret')}" data-confirm="Rotate the signing secret of this ${noun.one}? The new secret is shown once.">
<h3>Rotate the secret</h3>
<div class="field"><label for="rotate-signing">Signing scheme</label><select id="rotate-signing" name="signing">
${rotationSigningChoices(subscription.signing).map(([value, label]) => html`<option value="${value}"${value === '' ? html` selected` : ''}>${label}</option>`)}
</select></div>
<div class="field"><label for="overlapMs">The previous secret keeps signing for</label><select id="overlapMs" name="overlapMs">
${overlapChoices.map(([ms, label]) => html`<option value="${ms}"${ms === suggestedOverlapMs ? html` selected` : ''}>${label}</option>`)}
</select></div>
<p class="muted">During the overlap every request carries a signature of each: a receiver verifying with the previous secret or key, or with the new one, accepts it.</p>
${reasonField('rotate-reason')}
<button type="submit">Rotate the secret</button>
</form>
<form method="post" action="${path('/delete')}" data-confirm="Delete this ${noun.one}? It gets no new deliveries and its open ones are cancelled.">
<h3>Delete</h3>
<p class="muted">Its deliveries, attempts and change log stay readable${operator ? ' unless it is deleted for good' : ''}.</p>
${reasonField('delete-reason')}
${operator ? html`<div class="field"><label><input type="checkbox" name="hard" value="1"> For good: remove its deliveries, attempts and change log too</label></div>` : ''}
<button type="submit" class="danger">Delete</button>
</form>`;
}

async function detailPage(context: DashboardContext, params: Record<string, string>): Promise<Reply> {
  const subscription = shownSubscription(context, await context.subscription(params.id!));
  const { webhooks } = context;
  const deleted = subscription.deletedAt !== null;
  const [metrics, changes, tests, preview] = await Promise.all([
    webhooks.metrics({ subscriptionId: subscription.id }),
    newestChanges(context, subscription.id),
    webhooks.subscriptions.testAttempts(subscription.id, { limit: testAttemptsShown }),
    subscription.status === 'disabled' && !deleted ? webhooks.subscriptions.previewEnable(subscription.id) : Promise.resolve(null),
  ]);
  const noun = nounOf(context);
  const { backlog } = metrics;
  const headerNames = Object.keys(subscription.headers);
  const { metadata } = subscription;
  const body = html`<h1>${noun.One} ${statusOf(subscription)}</h1>
<p class="mono">${subscription.url}</p>
<div class="actions">
<a class="button" href="${context.href('/deliveries', { subscriptionId: subscription.id })}">Its deliveries</a>
${context.readOnly || deleted ? '' : html`<a class="button" href="${context.href(subscriptionPath(subscription.id, '/edit'))}">Edit</a>
<a class="button" href="${context.href(subscriptionPath(subscription.id, '/replay'))}">Replay a time range</a>`}
</div>
<dl class="facts">
<dt>Id</dt><dd class="mono">${subscription.id}</dd>
<dt>Status</dt><dd>${statusOf(subscription)}</dd>
${context.tenantId === undefined ? html`<dt>Tenant</dt><dd>${tenantText(subscription)}</dd>` : ''}
<dt>URL</dt><dd class="mono">${subscription.url}</dd>
<dt>Event types</dt><dd>${eventTypesText(subscription)}</dd>
<dt>Payload filter</dt><dd>${subscription.filter === null ? html`<span class="muted">none: every event of its types</span>` : html`<pre>${JSON.stringify(subscription.filter, null, 2)}</pre>`}</dd>
<dt>Payload transform</dt><dd>${subscription.transform === null ? html`<span class="muted">none: the event as published</span>` : html`<span class="mono">${subscription.transform}</span>`}</dd>
<dt>Event versions</dt><dd>${
    subscription.versions === null
      ? html`<span class="muted">none: every type in its newest version</span>`
      : Object.entries(subscription.versions).map(([type, version]) => html`<span class="mono">${type}</span> version ${String(version)}<br>`)
  }</dd>
<dt>Description</dt><dd>${subscription.description ?? html`<span class="muted">${noValue}</span>`}</dd>
${
  metadata === undefined
    ? ''
    : html`<dt>Metadata</dt><dd>${Object.keys(metadata).length === 0 ? html`<span class="muted">${noValue}</span>` : html`<pre>${JSON.stringify(metadata, null, 2)}</pre>`}</dd>`
}
<dt>Headers</dt><dd>${
    headerNames.length === 0
      ? html`<span class="muted">${noValue}</span>`
      : html`<table><tbody>${headerNames.map((name) => html`<tr><th scope="row" class="mono">${name}</th><td class="mono">${subscription.headers[name]}</td></tr>`)}</tbody></table>`
  }</dd>
<dt>Created</dt><dd>${timeTag(subscription.createdAt)}</dd>
<dt>Updated</dt><dd>${timeTag(subscription.updatedAt)}</dd>
<dt>Failing since</dt><dd>${timeTag(subscription.failingSince)}</dd>
${subscription.disabledAt === null ? '' : html`<dt>Disabled</dt><dd>${timeTag(subscription.disabledAt)}${subscription.disabledReason === null ? '' : html` — ${subscription.disabledReason}`}</dd>`}
${deleted ? html`<dt>Deleted</dt><dd>${timeTag(subscription.deletedAt)}</dd>` : ''}
<dt>Signing</dt><dd>${signingText(subscription.signing)}</dd>
${subscription.publicKeys.map((key) => html`<dt>Public key</dt><dd><code class="mono">${key}</code></dd>`)}
<dt>Secret created</dt><dd>${timeTag(subscription.secretsCreatedAt.newest)}</dd>
${
  subscription.secretsCreatedAt.oldestActive === subscription.secretsCreatedAt.newest
    ? ''
    : html`<dt>Previous secret, still signing</dt><dd>created ${timeTag(subscription.secretsCreatedAt.oldestActive)}</dd>`
}
</dl>
<h2>Circuit breaker <span class="muted">(this process)</span></h2>
${circuitFacts(metrics.circuit)}
<h2>Backlog</h2>
<div class="cards">
<div class="card"><div class="label">Pending</div><div class="value">${formatCount(backlog.pending)}</div></div>
<div class="card"><div class="label">In flight (leased)</div><div class="value">${formatCount(backlog.leased)}</div></div>
<div class="card"><div class="label">Held</div><div class="value">${formatCount(backlog.held)}</div></div>
<div class="card"><div class="label">Dead</div><div class="value">${formatCount(backlog.dead)}</div></div>
<div class="card"><div class="label">Delivered</div><div class="value">${formatCount(backlog.delivered)}</div></div>
<div class="card"><div class="label">Oldest pending</div><div class="value">${formatDurationMs(metrics.oldestPendingAgeMs)}</div></div>
</div>
<h2>Retry policy</h2>
${retryFacts(subscription.retry)}
<h2>Flow control</h2>
${flowControlFacts(subscription.flowControl)}
<h2>TLS</h2>
${tlsFacts(subscription.tls, context.now())}
${context.readOnly ? '' : actionsSection(context, subscription, preview)}
<h2>Test requests</h2>
${tests.nextCursor === null ? '' : html`<p class="muted">The newest ${testAttemptsShown}.</p>`}
${testAttemptsTable(tests.items)}
<h2>Change log</h2>
${changes.length === changesShown ? html`<p class="muted">The newest ${changesShown} changes.</p>` : ''}
${changeLog(changes)}`;
  return {
    kind: 'page',
    title: `${noun.One} ${subscription.url}`,
    body,
    data: { subscription, circuit: metrics.circuit, backlog, oldestPendingAgeMs: metrics.oldestPendingAgeMs, enablePreview: preview, testAttempts: tests.items, changes },
  };
}

// ---- create and edit --------------------------------------------------------------------

function formPage(context: DashboardContext, kind: SubscriptionFormMode['kind'], values: SubscriptionFormValues, subscription: Subscription | null, error?: FormError & { status: number; code: string }): PageReply {
  const noun = nounOf(context);
  const mode: SubscriptionFormMode = { kind, portal: context.tenantId !== undefined };
  const title = kind === 'create' ? `New ${noun.one}` : `Edit ${noun.one}`;
  const body = html`<h1>${title}</h1>
${subscription === null ? '' : html`<p class="mono">${subscription.url}</p>`}
${subscriptionForm({
  mode,
  action: context.href(subscription === null ? '/subscriptions' : subscriptionPath(subscription.id)),
  cancel: context.href(subscription === null ? '/subscriptions' : subscriptionPath(subscription.id)),
  values,
  catalogTypes: context.webhooks.events.types,
  noun: noun.one,
  error,
})}`;
  return {
    kind: 'page',
    title,
    body,
    status: error?.status ?? 200,
    data: error === undefined ? { values, catalogTypes: context.webhooks.events.types } : { error: error.code, message: error.message, field: error.field ?? null },
  };
}

/**
 * The page that shows a secret, the one time it is shown: after a creation, or after a
 * rotation with the overlap during which the previous secret still signs.
 */
function secretPage(
  context: DashboardContext,
  subscription: ShownSubscription<Subscription & { publicKey?: string }>,
  secret: string,
  rotation: { overlapMs: number | undefined; from: SigningScheme | null } | null,
): PageReply {
  const noun = nounOf(context);
  const title = rotation === null ? `${noun.One} created` : 'Secret rotated';
  const { publicKey } = subscription;
  // A v1a secret key never leaves the sender: the receiver needs the public key, which is no secret.
  const shown =
    publicKey === undefined
      ? html`<p>The signing secret of <span class="mono">${subscription.url}</span> is shown this once: copy it to the receiver now. It cannot be read here again.</p>
<p><code class="secret" id="secret">${secret}</code> <button type="button" data-copy="secret" hidden>Copy</button></p>`
      : html`<p><span class="mono">${subscription.url}</span> is signed with Ed25519 (v1a): give the receiver this public key. It is not a secret, and the ${noun.one}’s page shows it again.</p>
<p><code class="secret" id="secret">${publicKey}</code> <button type="button" data-copy="secret" hidden>Copy</button></p>`;
  const moved = rotation !== null && rotation.from !== subscription.signing;
  const body = html`<h1>${title}</h1>
${moved ? html`<p>Signing moved from ${signingText(rotation.from)} to ${signingText(subscription.signing)}.</p>` : ''}
${shown}
${
  rotation === null
    ? ''
    : rotation.overlapMs === 0
      ? html`<p>The previous secret no longer signs.</p>`
      : html`<p>The previous secret keeps signing beside the new one for ${rotation.overlapMs === undefined ? 'the default overlap' : formatDurationMs(rotation.overlapMs)}.</p>`
}
<p><a href="${context.href(subscriptionPath(subscription.id))}">Go to the ${noun.one}’s page</a></p>`;
  return { kind: 'page', title, body, data: publicKey === undefined ? { subscription, secret } : { subscription } };
}

async function newPage(context: DashboardContext): Promise<Reply> {
  refuseReadOnly(context);
  return formPage(context, 'create', emptySubscriptionForm(), null);
}

async function create(context: DashboardContext): Promise<Reply> {
  const mode: SubscriptionFormMode = { kind: 'create', portal: context.tenantId !== undefined };
  const values = readSubscriptionFormValues(await context.form(), mode);
  let created;
  try {
    const input = subscriptionFormInput(values, mode);
    created = await context.webhooks.subscriptions.create(
      {
        url: input.url,
        eventTypes: input.eventTypes,
        filter: input.filter,
        transform: input.transform,
        description: input.description,
        retry: input.retry,
        flowControl: input.flowControl,
        ...(input.signing === undefined ? {} : { signing: input.signing }),
        ...(mode.portal ? { tenantId: context.tenantId } : { tenantId: input.tenantId ?? null, allTenants: input.allTenants ?? false, metadata: input.metadata ?? {} }),
      },
      { actor: context.principal.actor },
    );
  } catch (error) {
    const shown = formErrorOf(error);
    if (shown === null) throw error;
    return formPage(context, 'create', values, null, shown);
  }
  const { secret, ...subscription } = created;
  context.audit('subscription.create', { subscriptionId: subscription.id });
  return secretPage(context, shownSubscription(context, subscription), secret, null);
}

async function editPage(context: DashboardContext, params: Record<string, string>): Promise<Reply> {
  refuseReadOnly(context);
  const subscription = await context.subscription(params.id!);
  refuseDeleted(subscription);
  return formPage(context, 'edit', subscriptionFormValues(shownSubscription(context, subscription), context.webhooks.events.types), subscription);
}

async function update(context: DashboardContext, params: Record<string, string>): Promise<Reply> {
  const subscription = await context.subscription(params.id!);
  const mode: SubscriptionFormMode = { kind: 'edit', portal: context.tenantId !== undefined };
  const values = readSubscriptionFormValues(await context.form(), mode);
  let updated: Subscription;
  try {
    const input = subscriptionFormInput(values, mode);
    // The checkboxes post in the catalog's order: the same filters in another order are no change.
    const sameFilters = input.eventTypes.length === subscription.eventTypes.length && input.eventTypes.every((filter) => subscription.eventTypes.includes(filter));
    updated = await context.webhooks.subscriptions.update(
      subscription.id,
      {
        url: input.url,
        eventTypes: sameFilters ? subscription.eventTypes : input.eventTypes,
        filter: input.filter,
        transform: input.transform,
        description: input.description,
        retry: input.retry,
        flowControl: input.flowControl,
        ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
      },
      { actor: context.principal.actor, ...(input.reason === undefined ? {} : { reason: input.reason }) },
    );
  } catch (error) {
    const shown = formErrorOf(error);
    if (shown === null) throw error;
    return formPage(context, 'edit', values, subscription, shown);
  }
  context.audit('subscription.update', { subscriptionId: updated.id });
  return { kind: 'redirect', location: context.href(subscriptionPath(updated.id), { done: 'updated' }), data: { subscription: shownSubscription(context, updated) } };
}

// ---- actions ----------------------------------------------------------------------------

function changeOptions(context: DashboardContext, form: URLSearchParams): { actor: string; reason?: string } {
  const reason = reasonOf(form);
  return { actor: context.principal.actor, ...(reason === undefined ? {} : { reason }) };
}

const TEST_EVENT_LABEL = 'webhook.test (a ping)';

/** Sends the test request and shows what came of it: the endpoint's answer is the page, not a notice (a failed test is data). */
async function sendTest(context: DashboardContext, params: Record<string, string>): Promise<Reply> {
  const subscription = await context.subscription(params.id!);
  const form = await actionFields(context, ['type']);
  const type = (form.get('type') ?? '').trim();
  const result = await context.webhooks.subscriptions.sendTest(subscription.id, { actor: context.principal.actor, ...(type === '' ? {} : { type }) });
  context.audit('subscription.test', { subscriptionId: subscription.id, type: type === '' ? 'webhook.test' : type, ok: result.ok, statusCode: result.statusCode });
  const noun = nounOf(context);
  const title = result.ok ? 'Test event delivered' : 'Test event not delivered';
  const body = html`<h1>${title}</h1>
<p class="notice${result.ok ? '' : ' error'}" role="status">${
    result.ok
      ? html`<span class="mono">${subscription.url}</span> answered ${result.statusCode} in ${formatDurationMs(result.durationMs)}.`
      : html`<span class="mono">${subscription.url}</span> did not accept it: ${result.error} (after ${formatDurationMs(result.durationMs)}).`
  }</p>
<dl class="facts">
<dt>Event</dt><dd class="mono">${type === '' ? 'webhook.test' : type}</dd>
<dt>webhook-id</dt><dd class="mono">${result.webhookId}</dd>
<dt>Status</dt><dd>${result.statusCode ?? noValue}</dd>
<dt>Test log</dt><dd>${result.recorded ? 'recorded' : html`<span class="muted">not recorded</span>`}</dd>
</dl>
<p><a href="${context.href(subscriptionPath(subscription.id))}">Back to the ${noun.one}</a></p>`;
  return { kind: 'page', title, body, data: result };
}

async function disable(context: DashboardContext, params: Record<string, string>): Promise<Reply> {
  const { id } = await context.subscription(params.id!);
  const form = await actionFields(context, ['reason']);
  const subscription = await context.webhooks.subscriptions.disable(id, changeOptions(context, form));
  context.audit('subscription.disable', { subscriptionId: id });
  return { kind: 'redirect', location: context.href(subscriptionPath(id), { done: 'disabled' }), data: { subscription: shownSubscription(context, subscription) } };
}

async function enable(context: DashboardContext, params: Record<string, string>): Promise<Reply> {
  const { id } = await context.subscription(params.id!);
  const form = await actionFields(context, ['reason', 'replayMissed']);
  const replayMissed = flagOf(form, 'replayMissed');
  const { resumed, replayed, ...subscription } = await context.webhooks.subscriptions.enable(id, { ...changeOptions(context, form), replayMissed });
  context.audit('subscription.enable', { subscriptionId: id, resumed, replayed });
  return {
    kind: 'redirect',
    location: context.href(subscriptionPath(id), { done: replayMissed ? 'enabled-and-replayed' : 'enabled' }),
    data: { subscription: shownSubscription(context, subscription), resumed, replayed },
  };
}

async function rotateSecret(context: DashboardContext, params: Record<string, string>): Promise<Reply> {
  const { id, signing: from } = await context.subscription(params.id!);
  const form = await actionFields(context, ['reason', 'overlapMs', 'signing']);
  const signingField = (form.get('signing') ?? '').trim();
  if (signingField !== '' && signingField !== 'v1' && signingField !== 'v1a') {
    throw new DashboardRefusal(400, 'INPUT_INVALID', `Expected \`signing\` to be v1 or v1a (or empty: the current scheme), got ${describeValue(signingField)}`);
  }
  const signing = signingField === '' ? undefined : signingField;
  const overlapText = (form.get('overlapMs') ?? '').trim();
  const overlapMs = overlapText === '' ? undefined : Number(overlapText);
  if (overlapMs !== undefined && !Number.isInteger(overlapMs)) {
    throw new DashboardRefusal(400, 'INPUT_INVALID', `Expected \`overlapMs\` to be an integer of milliseconds, got ${describeValue(overlapText)}`);
  }
  const { secret, ...subscription } = await context.webhooks.subscriptions.rotateSecret(id, {
    ...changeOptions(context, form),
    ...(overlapMs === undefined ? {} : { overlapMs }),
    ...(signing === undefined ? {} : { signing }),
  });
  context.audit('subscription.rotate-secret', { subscriptionId: id, overlapMs: overlapMs ?? null, ...(signing === undefined ? {} : { signing }) });
  return secretPage(context, shownSubscription(context, subscription), secret, { overlapMs, from });
}

async function remove(context: DashboardContext, params: Record<string, string>): Promise<Reply> {
  const { id } = await context.subscription(params.id!);
  const portal = context.tenantId !== undefined;
  const form = await actionFields(context, portal ? ['reason'] : ['reason', 'hard']);
  const hard = flagOf(form, 'hard');
  await context.webhooks.subscriptions.delete(id, { ...changeOptions(context, form), hard });
  context.audit('subscription.delete', { subscriptionId: id, hard });
  return { kind: 'redirect', location: context.href('/subscriptions', { done: hard ? 'removed' : 'deleted' }), data: { deleted: id, hard } };
}

/**
 * The portal's root, where the host sends a customer after signing in: its endpoints. The
 * operator's root is the overview (routes/overview.ts, `operatorOnly`), which comes first in
 * the route table; in the portal it is left out, so this is the portal's only `/`.
 */
async function portalRoot(context: DashboardContext): Promise<Reply> {
  if (context.tenantId === undefined) throw new DashboardRefusal(404, 'NOT_FOUND', 'There is no such page');
  const location = context.href('/subscriptions');
  return { kind: 'redirect', location, data: { location } };
}

/** The routes of the subscriptions area. `/subscriptions/new` comes before `/subscriptions/:id`. */
export const subscriptionRoutes: readonly Route[] = [
  { method: 'GET', path: '/', handle: portalRoot },
  { method: 'GET', path: '/subscriptions', handle: listPage },
  { method: 'GET', path: '/subscriptions/new', handle: newPage },
  { method: 'POST', path: '/subscriptions', handle: create },
  { method: 'GET', path: '/subscriptions/:id', handle: detailPage },
  { method: 'POST', path: '/subscriptions/:id', handle: update },
  { method: 'GET', path: '/subscriptions/:id/edit', handle: editPage },
  { method: 'POST', path: '/subscriptions/:id/test', handle: sendTest },
  { method: 'POST', path: '/subscriptions/:id/disable', handle: disable },
  { method: 'POST', path: '/subscriptions/:id/enable', handle: enable },
  { method: 'POST', path: '/subscriptions/:id/rotate-secret', handle: rotateSecret },
  { method: 'POST', path: '/subscriptions/:id/delete', handle: remove },
];
