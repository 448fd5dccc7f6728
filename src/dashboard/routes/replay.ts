/**
 * Replaying a time range to one subscription: its page counts first — a dry run, asked by
 * a GET form, so reading the count changes nothing — and a button then posts the same
 * window (its end fixed when counted) to replay it. The POST needs no count before it: the
 * server keeps no state between the two. Open in the portal too, as Svix's portal lets a
 * customer recover what their endpoint missed, within the tenant's own subscriptions (the
 * scope check on the id).
 */
import type { Subscription } from '../../registry/subscription-registry.js';
import { DashboardRefusal, type DashboardContext, type PageReply, type Route } from '../dashboard-context.js';
import { html, type Html } from '../html.js';
import { parseUtcDateTime, utcDateTimeExample } from '../parse-utc-date-time.js';
import { timeTag } from '../render.js';

/** A window of publication times, `[since, until)`, in epoch ms. */
interface ReplayWindow {
  since: number;
  until: number;
}

function replayPath(subscriptionId: string): string {
  return `/subscriptions/${encodeURIComponent(subscriptionId)}/replay`;
}

/** The window of a form (`since` required, `until` now when left empty), or what is wrong with it. */
function readWindow(fields: URLSearchParams, now: number): { window: ReplayWindow } | { problem: string } {
  const sinceText = (fields.get('since') ?? '').trim();
  const untilText = (fields.get('until') ?? '').trim();
  if (sinceText === '') return { problem: `Expected \`since\`: the start of the window, a date and time in UTC such as ${utcDateTimeExample}` };
  const since = parseUtcDateTime(sinceText, 'since');
  if ('problem' in since) return since;
  let until = now;
  if (untilText !== '') {
    const parsed = parseUtcDateTime(untilText, 'until');
    if ('problem' in parsed) return parsed;
    until = parsed.ms;
  }
  if (since.ms >= until) {
    return { problem: `Expected \`since\` to be before \`until\` (${untilText === '' ? 'now' : untilText}), got ${sinceText}` };
  }
  return { window: { since: since.ms, until } };
}

function windowForm(context: DashboardContext, subscription: Subscription, fields: URLSearchParams): Html {
  return html`<form class="filters" method="get" action="${context.href(replayPath(subscription.id))}" aria-label="Window to replay">
<div class="field"><label for="replay-since">Published since (UTC)</label><input id="replay-since" type="datetime-local" step="1" name="since" value="${fields.get('since') ?? ''}" placeholder="${utcDateTimeExample}" required></div>
<div class="field"><label for="replay-until">Published before (UTC; empty: now)</label><input id="replay-until" type="datetime-local" step="1" name="until" value="${fields.get('until') ?? ''}" placeholder="${utcDateTimeExample}"></div>
<div class="field"><button type="submit">Count</button></div>
</form>`;
}

function countSection(context: DashboardContext, subscription: Subscription, window: ReplayWindow, count: number): Html {
  const range = html`published from ${timeTag(window.since)} to before ${timeTag(window.until)}`;
  if (count === 0) return html`<p role="status">Nothing to replay: no event ${range} is missing or dead here.</p>`;
  const events = count === 1 ? 'event' : 'events';
  const button = context.readOnly
    ? ''
    : html`<form class="inline" method="post" action="${context.href(replayPath(subscription.id))}" data-confirm="Send ${count} ${events} again?">
<input type="hidden" name="since" value="${new Date(window.since).toISOString()}">
<input type="hidden" name="until" value="${new Date(window.until).toISOString()}">
<button type="submit" class="primary">${count === 1 ? 'Replay this event' : `Replay these ${count} events`}</button>
</form>`;
  return html`<p role="status"><strong>${count}</strong> ${events} ${range} would be sent again.</p>
<div class="actions">${button}</div>`;
}

async function replayPage(context: DashboardContext, id: string): Promise<PageReply> {
  const subscription = await context.subscription(id);
  const fields = context.url.searchParams;
  const portal = context.tenantId !== undefined;
  const target = html`<a href="${context.href(`/subscriptions/${encodeURIComponent(subscription.id)}`)}" class="mono">${subscription.url}</a>`;
  const intro = html`<h1>Replay to ${portal ? 'an endpoint' : 'a subscription'}</h1>
<p>${target}</p>
<p class="muted">Sends again every event of the window that it did not get: its dead deliveries, and the events of its types it never had a delivery of. Delivered, pending and expunged events are not sent again.${
    subscription.status === 'active' ? '' : ' It is disabled: what is replayed is held until it is enabled.'
  }</p>
${windowForm(context, subscription, fields)}`;
  const submitted = fields.has('since') || fields.has('until');
  if (!submitted) return { kind: 'page', title: 'Replay', data: { subscriptionId: subscription.id, since: null, until: null, count: null }, body: intro };
  const read = readWindow(fields, context.now());
  if ('problem' in read) {
    return {
      kind: 'page',
      status: 400,
      title: 'Replay',
      data: { error: 'INPUT_INVALID', message: read.problem },
      body: html`${intro}<p class="notice error" role="alert"><span class="mono">INPUT_INVALID</span>: ${read.problem}</p>`,
    };
  }
  const { window } = read;
  const { count } = await context.webhooks.deliveries.replay({ subscriptionId: subscription.id, since: window.since, until: window.until, dryRun: true });
  return {
    kind: 'page',
    title: 'Replay',
    data: { subscriptionId: subscription.id, since: window.since, until: window.until, count },
    body: html`${intro}${countSection(context, subscription, window, count)}`,
  };
}

/** The replay page and action (the portal's too, for the tenant's own subscriptions). */
export const replayRoutes: readonly Route[] = [
  { method: 'GET', path: '/subscriptions/:id/replay', handle: (context, params) => replayPage(context, params.id!) },
  {
    method: 'POST',
    path: '/subscriptions/:id/replay',
    async handle(context, params) {
      const subscription = await context.subscription(params.id!);
      const read = readWindow(await context.form(), context.now());
      if ('problem' in read) throw new DashboardRefusal(400, 'INPUT_INVALID', read.problem);
      const { since, until } = read.window;
      const { count } = await context.webhooks.deliveries.replay({ subscriptionId: subscription.id, since, until });
      context.audit('subscription.replay', { subscriptionId: subscription.id, since, until, count });
      return {
        kind: 'redirect',
        location: context.href('/deliveries', { subscriptionId: subscription.id, done: 'replayed' }),
        data: { subscriptionId: subscription.id, since, until, count },
      };
    },
  },
];
