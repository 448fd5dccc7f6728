/**
 * The small pieces every dashboard page writes the same way: times, durations, counts,
 * ratios, status badges, an attempt's error class, the pager of a cursor-paged list, and a form field with its
 * error message. Each returns escaped markup or plain text for `html`.
 */
import { failingSinceNeutralClasses } from '../storage/shared/settlement.js';
import type { AttemptErrorClass } from '../storage/storage-adapter.js';
import type { DashboardContext } from './dashboard-context.js';
import { html, type Html } from './html.js';

/** What pages show for a figure that has no value (no latency yet, no pending delivery). */
export const noValue = '—';

/** An epoch-ms time as `<time datetime="ISO">ISO</time>` (the script shows it in the reader's zone); {@link noValue} for none. */
export function timeTag(epochMs: number | null | undefined): Html {
  if (epochMs === null || epochMs === undefined) return html`${noValue}`;
  const iso = new Date(epochMs).toISOString();
  return html`<time datetime="${iso}">${iso}</time>`;
}

const units: ReadonlyArray<[name: string, ms: number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['min', 60_000],
  ['s', 1_000],
];

/**
 * A duration for people: `850 ms`, `4.2 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h` (the two
 * largest units); {@link noValue} for `null`.
 */
export function formatDurationMs(ms: number | null): string {
  if (ms === null) return noValue;
  if (ms < 1_000) return `${Number(ms.toPrecision(3))} ms`;
  if (ms < 60_000) return `${Number((ms / 1_000).toPrecision(3))} s`;
  const total = Math.round(ms / 1_000) * 1_000;
  const index = units.findIndex(([, size]) => total >= size);
  const [name, size] = units[index]!;
  const whole = Math.floor(total / size);
  const next = units[index + 1]!;
  const rest = Math.floor((total - whole * size) / next[1]);
  return rest === 0 ? `${whole} ${name}` : `${whole} ${name} ${rest} ${next[0]}`;
}

const countFormat = new Intl.NumberFormat('en');

/** A count with thousands separators: `12,345`. */
export function formatCount(count: number): string {
  return countFormat.format(count);
}

/** A count with its noun: `1 delivery`, `12,345 deliveries`. */
export function formatCountOf(count: number, one: string, many: string): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}

/** A ratio 0–1 as a percentage with one decimal (`87.5 %`); {@link noValue} for `null`. */
export function formatRatio(ratio: number | null): string {
  return ratio === null ? noValue : `${(ratio * 100).toFixed(1)} %`;
}

/**
 * A status as a badge: `<span class="badge dead">dead</span>` (the stylesheet colours
 * delivered/active/closed, pending/held/half-open/expiring, dead/disabled/open/cancelled/deleted/expired).
 */
export function statusBadge(status: string): Html {
  return html`<span class="badge ${status}">${status}</span>`;
}

/** What an error class is called where its name alone would puzzle a reader. */
const errorClassLabels: Partial<Record<AttemptErrorClass, string>> = { proxy: 'proxy failure' };

/**
 * An attempt's error class as a tag: `<span class="mono">timeout</span>`; a class that says
 * nothing of the endpoint (the settlement rule's `failingSinceNeutralClasses`: `proxy`, the
 * sender's own egress proxy failing) says so, since it moves neither the endpoint's circuit
 * breaker nor its auto-disable.
 */
export function errorClassTag(errorClass: AttemptErrorClass): Html {
  const label = errorClassLabels[errorClass];
  const neutral = failingSinceNeutralClasses.includes(errorClass);
  if (label === undefined && !neutral) return html`<span class="mono">${errorClass}</span>`;
  const note = [label, neutral ? 'not counted against the endpoint' : undefined].filter((part) => part !== undefined).join(' — ');
  return html`<span class="mono">${errorClass}</span> <span class="muted">(${note})</span>`;
}

/**
 * The links of a cursor-paged list: "Next page" with `nextCursor` (when there is one) and
 * "First page" when this page was reached with a cursor. `query` is the list's filters,
 * kept in both links.
 */
export function pager(context: DashboardContext, path: string, query: Record<string, string | undefined>, nextCursor: string | null): Html {
  const paged = context.url.searchParams.has('cursor');
  if (!paged && nextCursor === null) return html``;
  return html`<nav class="pager" aria-label="Pages">${paged ? html`<a href="${context.href(path, query)}">First page</a>` : ''}${
    nextCursor === null ? '' : html`<a href="${context.href(path, { ...query, cursor: nextCursor })}" rel="next">Next page</a>`
  }</nav>`;
}

/** A labelled form field: the control is given its `id`, and its error (if any) is tied to it for screen readers. */
export interface FieldInput {
  /** The control's `name` and `id`. */
  name: string;
  label: string;
  /** The control, given the attributes of {@link fieldAttributes} (its `id`, `name` and the references to its hint and error). */
  control: (attributes: Html) => Html;
  /** A line under the label: what to enter. */
  hint?: string | undefined;
  /** The error message of the last submission for this field. */
  error?: string | undefined;
}

/** The attributes of a field's control: `id`, `name`, and with an error `aria-invalid` and `aria-describedby`. */
export function fieldAttributes(name: string, error: string | undefined, hint: string | undefined): Html {
  const described = [hint === undefined ? '' : `${name}-hint`, error === undefined ? '' : `${name}-error`].filter(Boolean).join(' ');
  return html`id="${name}" name="${name}"${described === '' ? '' : html` aria-describedby="${described}"`}${error === undefined ? '' : html` aria-invalid="true"`}`;
}

/** A field: label, hint, control, and the error under it. */
export function formField(input: FieldInput): Html {
  const { name, label, hint, error } = input;
  return html`<div class="field">
<label for="${name}">${label}</label>
${hint === undefined ? '' : html`<div class="muted" id="${name}-hint">${hint}</div>`}
${input.control(fieldAttributes(name, error, hint))}
${error === undefined ? '' : html`<p class="notice error" id="${name}-error">${error}</p>`}
</div>`;
}

/**
 * The line above a refused form, announced to screen readers: its error, linked to where
 * the form shows it again (`#<field>-error`) when it is about a field.
 */
export function formErrorSummary(message: string, field: string | undefined): Html {
  return html`<p class="notice error" role="alert">${field === undefined ? message : html`<a href="#${field}-error">${message}</a>`}</p>`;
}
