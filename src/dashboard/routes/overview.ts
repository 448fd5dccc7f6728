/**
 * The operator's overview (`/`): the delivery figures of `webhooks.metrics()`, attempts by
 * outcome and status class, the backlog of the first subscriptions, the signature
 * verification failures the host reported, and the latency of the window's deliveries —
 * over a window the reader picks (`?range=1h|24h|7d`). It reloads itself every 30 s.
 */
import { describeValue, isWebhookError } from '../../errors.js';
import type { MetricsSnapshot } from '../../metrics/delivery-metrics.js';
import type { Subscription } from '../../registry/subscription-registry.js';
import { DashboardRefusal, type DashboardContext, type Reply, type Route } from '../dashboard-context.js';
import { maxDeliveredRead, readDeliveredInWindow, type DeliveredTimes } from '../delivered-in-window.js';
import { html, type Html } from '../html.js';
import { latencySeries, latencyWindow, type LatencyRange, type LatencyWindow } from '../latency-series.js';
import { formatCount, formatDurationMs, formatRatio, statusBadge } from '../render.js';
import { chartTable, lineChart } from '../svg-chart.js';

type Range = LatencyRange;
const rangeLabels: Record<Range, string> = { '1h': 'the last hour', '24h': 'the last 24 hours', '7d': 'the last 7 days' };
const defaultRange: Range = '1h';
/** Subscriptions whose backlog the overview shows, each one read of the storage's counts. */
const backlogSubscriptions = 50;

function isRange(value: string): value is Range {
  return Object.hasOwn(rangeLabels, value);
}

/** The window of `?range=` (1 hour by default): whole buckets of the chart, the last one holding now. */
function readWindow(context: DashboardContext): LatencyWindow & { range: Range } {
  const value = context.url.searchParams.get('range') ?? defaultRange;
  if (!isRange(value)) {
    throw new DashboardRefusal(400, 'INPUT_INVALID', `Expected \`range\` to be one of ${Object.keys(rangeLabels).join(', ')}, got ${describeValue(value)}`);
  }
  return { range: value, ...latencyWindow(value, context.now()) };
}

const twoDigits = (n: number) => String(n).padStart(2, '0');
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A bucket's start as a tick label, in UTC (the server cannot know the reader's zone): `14:30`, or `Dec 4 14:00` over a week. */
function timeLabel(range: Range): (ms: number) => string {
  return (ms) => {
    const date = new Date(ms);
    const time = `${twoDigits(date.getUTCHours())}:${twoDigits(date.getUTCMinutes())}`;
    return range === '7d' ? `${months[date.getUTCMonth()]} ${date.getUTCDate()} ${time}` : time;
  };
}

function card(label: string, value: string, note?: string): Html {
  return html`<div class="card"><div class="label">${label}</div><div class="value">${value}</div>${note === undefined ? '' : html`<div class="muted">${note}</div>`}</div>`;
}

function countsTable(caption: string, heading: string, counts: Record<string, number>): Html {
  return html`<table>
<caption>${caption}</caption>
<thead><tr><th scope="col">${heading}</th><th scope="col" class="num">Attempts</th></tr></thead>
<tbody>${Object.entries(counts).map(([key, count]) => html`<tr><td>${key}</td><td class="num">${formatCount(count)}</td></tr>`)}</tbody>
</table>`;
}

interface SubscriptionBacklog {
  subscription: Subscription;
  metrics: MetricsSnapshot;
}

function backlogTable(context: DashboardContext, rows: readonly SubscriptionBacklog[], more: boolean): Html {
  if (rows.length === 0) return html`<p class="muted">No subscriptions yet.</p>`;
  return html`${more ? html`<p class="muted">The first ${backlogSubscriptions} subscriptions; the rest are under <a href="${context.href('/subscriptions')}">Subscriptions</a>.</p>` : ''}
<table>
<thead><tr><th scope="col">Subscription</th><th scope="col">Status</th><th scope="col">Circuit</th><th scope="col">Tenant</th><th scope="col" class="num">Pending</th><th scope="col" class="num">Held</th><th scope="col" class="num">Dead</th><th scope="col" class="num">Oldest pending</th><th scope="col">Deliveries</th></tr></thead>
<tbody>${rows.map(
    ({ subscription, metrics }) => html`<tr>
<td><a class="mono" href="${context.href(`/subscriptions/${encodeURIComponent(subscription.id)}`)}">${subscription.url}</a>${
      subscription.description === null ? '' : html`<br><span class="muted">${subscription.description}</span>`
    }</td>
<td>${statusBadge(subscription.status)}</td>
<td>${metrics.circuit === null ? '' : statusBadge(metrics.circuit.state)}</td>
<td>${subscription.tenantId === null ? html`<span class="muted">platform</span>` : html`<span class="mono">${subscription.tenantId}</span>`}</td>
<td class="num">${formatCount(metrics.backlog.pending)}</td>
<td class="num">${formatCount(metrics.backlog.held)}</td>
<td class="num">${formatCount(metrics.backlog.dead)}</td>
<td class="num">${formatDurationMs(metrics.oldestPendingAgeMs)}</td>
<td><a href="${context.href('/deliveries', { subscriptionId: subscription.id })}">Deliveries</a></td>
</tr>`,
  )}</tbody>
</table>`;
}

/**
 * The latency section: the deliveries of the window, read for the chart of their latency
 * over time (latency-series.ts buckets them, svg-chart.ts draws it at the end of this section).
 */
function latencySection(window: LatencyWindow & { range: Range }, delivered: readonly DeliveredTimes[]): Html {
  const { fromMs, toMs, bucketMs } = window;
  const buckets = latencySeries(delivered, { fromMs, toMs, bucketMs });
  const series = (['p50', 'p95', 'p99'] as const).map((key) => ({ label: key, points: buckets.map((bucket) => ({ x: bucket.startMs, y: bucket[key] })) }));
  const xFormat = timeLabel(window.range);
  const yFormat = (ms: number) => formatDurationMs(ms);
  const title = `Delivery latency (publish to 2xx) over ${rangeLabels[window.range]}, per ${formatDurationMs(window.bucketMs)}, UTC`;
  return html`<section class="chart" id="latency" aria-labelledby="latency-heading">
<h2 id="latency-heading">Delivery latency over ${rangeLabels[window.range]}</h2>
<p>${formatCount(delivered.length)} deliveries created and delivered in ${rangeLabels[window.range]}${
    delivered.length < maxDeliveredRead ? '' : html` (the newest ${formatCount(maxDeliveredRead)} are read)`
  }, from the delivery log (every process). Times in UTC.</p>
${lineChart({ id: 'latency-chart', title, series, xFormat, yFormat, yLabel: 'latency', width: 960, height: 260 })}
<details><summary>The chart's figures as a table</summary>
${chartTable({ title, xLabel: 'Minute starting (UTC)', series, xFormat, yFormat })}
</details>
</section>`;
}

async function overviewPage(context: DashboardContext): Promise<Reply> {
  const { webhooks } = context;
  const window = readWindow(context);
  const [metrics, subscriptions, delivered] = await Promise.all([
    webhooks.metrics(),
    webhooks.subscriptions.list({ limit: backlogSubscriptions }),
    readDeliveredInWindow(webhooks, window.fromMs, window.toMs),
  ]);
  // A subscription hard-deleted between the list and its figures has none (SUBSCRIPTION_NOT_FOUND): it is left out.
  const backlogs: SubscriptionBacklog[] = (
    await Promise.all(
      subscriptions.items.map(async (subscription) => {
        try {
          return { subscription, metrics: await webhooks.metrics({ subscriptionId: subscription.id }) };
        } catch (error) {
          if (isWebhookError(error) && error.code === 'SUBSCRIPTION_NOT_FOUND') return null;
          throw error;
        }
      }),
    )
  ).filter((backlog): backlog is SubscriptionBacklog => backlog !== null);
  const failures = context.verificationFailures.countBetween(window.fromMs, window.toMs);
  const latency = metrics.deliveryLatencyMs;
  const { backlog } = metrics;
  const body = html`<div data-refresh-seconds="30">
<h1>Overview</h1>
<form method="get" class="filters" action="${context.href('/')}">
<div><label for="range">Window</label><select id="range" name="range">
${(Object.keys(rangeLabels) as Range[]).map((range) => html`<option value="${range}"${range === window.range ? html` selected` : ''}>${rangeLabels[range]}</option>`)}
</select></div>
<button type="submit">Show</button>
</form>
<h2>Deliveries</h2>
<div class="cards">
${card('Delivered', formatCount(metrics.deliveriesSucceeded), 'this process')}
${card('Retry success rate', formatRatio(metrics.retrySuccessRate), `${formatCount(metrics.deliveriesSucceededAfterRetry)} of ${formatCount(metrics.deliveriesWithFailedAttempt)} that failed once`)}
${card('Dead', formatCount(backlog.dead))}
${card('Held', formatCount(backlog.held), 'disabled subscriptions')}
${card('Pending', formatCount(backlog.pending))}
${card('Oldest pending', formatDurationMs(metrics.oldestPendingAgeMs))}
${card('In flight', formatCount(metrics.inFlight), 'this process')}
${card('Leases lost', formatCount(metrics.leasesLost), 'this process')}
${card('Latency p50', formatDurationMs(latency.p50), 'publish → 2xx, this process')}
${card('Latency p90', formatDurationMs(latency.p90), 'publish → 2xx, this process')}
${card('Latency p95', formatDurationMs(latency.p95), 'publish → 2xx, this process')}
${card('Latency p99', formatDurationMs(latency.p99), 'publish → 2xx, this process')}
</div>
<p class="muted">Dead, held, pending and the oldest pending are the storage’s, across every process; the other figures count what this process did since it started.</p>
${latencySection(window, delivered)}
<h2>Attempts</h2>
${countsTable('By outcome (this process)', 'Outcome', metrics.attemptsByOutcome)}
${countsTable('By status class (this process)', 'Status class', metrics.attemptsByStatusClass)}
<h2>Backlog per subscription</h2>
${backlogTable(context, backlogs, subscriptions.nextCursor !== null)}
<h2>Signature verification failures</h2>
<p>${formatCount(failures.total)} reported by the receivers in ${rangeLabels[window.range]} <span class="muted">(fed by the host through <span class="mono">dashboard.recordVerificationFailure</span>, kept by this process)</span>.</p>
${
  failures.total === 0
    ? ''
    : html`<table>
<thead><tr><th scope="col">Code</th><th scope="col" class="num">Failures</th></tr></thead>
<tbody>${Object.entries(failures.byCode)
        .sort(([, a], [, b]) => b - a)
        .map(([code, count]) => html`<tr><td class="mono">${code}</td><td class="num">${formatCount(count)}</td></tr>`)}</tbody>
</table>`
}
</div>`;
  return {
    kind: 'page',
    title: 'Overview',
    body,
    data: {
      range: window.range,
      fromMs: window.fromMs,
      toMs: window.toMs,
      metrics,
      subscriptions: backlogs.map(({ subscription, metrics: scoped }) => ({
        subscriptionId: subscription.id,
        tenantId: subscription.tenantId,
        url: subscription.url,
        status: subscription.status,
        circuit: scoped.circuit,
        backlog: scoped.backlog,
        oldestPendingAgeMs: scoped.oldestPendingAgeMs,
      })),
      moreSubscriptions: subscriptions.nextCursor !== null,
      verificationFailures: failures,
      deliveredInWindow: delivered.length,
    },
  };
}

/** The overview: the operator's only. */
export const overviewRoutes: readonly Route[] = [{ method: 'GET', path: '/', operatorOnly: true, handle: overviewPage }];
