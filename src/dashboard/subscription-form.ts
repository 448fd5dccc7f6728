/**
 * The subscription form of the dashboard, for creating and editing: its fields as the
 * page shows them, read back from a post into the API's input, and shown again with the
 * error of a refused post above it and next to the field it names (`error.field`).
 *
 * Field names are the API's paths (`url`, `retry.maxAttempts`, `flowControl.burst`), so an
 * error of the API lands next to the field that caused it. An empty field is the
 * instance's default: a retry policy or flow control with no field filled is `null`.
 *
 * The signing scheme is chosen at creation only (a rotation changes it). The form has no
 * `tls` field: a private key typed into it would be written back into the page that shows
 * a refused post again, so a TLS identity is set through the API.
 */
import { ValidationError, describeValue } from '../errors.js';
import type { SigningScheme } from '../signing/signing-key.js';
import type { PayloadFilter } from '../routing/payload-filter.js';
import type { StoredFlowControl, StoredRetryPolicy } from '../storage/storage-adapter.js';
import { DashboardRefusal } from './dashboard-context.js';
import { html, type Html } from './html.js';
import { formErrorSummary, formField } from './render.js';
import type { ShownSubscription } from './shown-subscription.js';

/** The form as typed: every field as text, the event types as chosen. */
export interface SubscriptionFormValues {
  url: string;
  /** Chosen exact types of the catalog. */
  eventTypes: string[];
  /** Other filters (`payment.*`, `*`), separated by spaces or commas. */
  eventTypeFilters: string;
  /** The payload filter as JSON; empty: none. */
  filter: string;
  /** The name of a transform of the instance; empty: none. */
  transform: string;
  description: string;
  tenantId: string;
  allTenants: boolean;
  metadata: string;
  /** The creation's signing scheme: `v1` (HMAC-SHA256, the default) or `v1a` (Ed25519). */
  signing: string;
  retry: Record<RetryField, string>;
  flowControl: Record<FlowControlField, string>;
  reason: string;
}

/** A refused post: the message, and the field it is about (`undefined`: the form as a whole). */
export interface FormError {
  field: string | undefined;
  message: string;
}

/** Who fills the form in, and for what: the fields differ. */
export interface SubscriptionFormMode {
  kind: 'create' | 'edit';
  /** The customer portal: no tenant, all-tenant or metadata field. */
  portal: boolean;
}

const retryFields = ['delaysMs', 'initialDelayMs', 'factor', 'maxDelayMs', 'maxAttempts', 'jitter'] as const;
type RetryField = (typeof retryFields)[number];
const flowControlFields = ['maxInFlight', 'ratePerSecond', 'burst'] as const;
type FlowControlField = (typeof flowControlFields)[number];

/** What `ratePerSecond` is written as for "no limit" (stored as `null`), so that it survives an edit. */
const noLimit = 'none';

/** The fields each form posts (operator-only ones apart). */
const commonFields = ['url', 'eventTypes', 'eventTypeFilters', 'filter', 'transform', 'description', ...retryFields.map((name) => `retry.${name}`), ...flowControlFields.map((name) => `flowControl.${name}`)];
const operatorCreateFields = ['tenantId', 'allTenants', 'metadata'];
/** The fields of a creation only, whoever creates. */
const createFields = ['signing'];
/** The schemes the form offers, the default first. */
const signingChoices: ReadonlyArray<[scheme: SigningScheme, label: string, hint: string]> = [
  ['v1', 'v1 — HMAC-SHA256', 'The receiver holds a shared whsec_ secret. Fast to verify; every Standard Webhooks library supports it.'],
  [
    'v1a',
    'v1a — Ed25519',
    'The receiver holds only a whpk_ public key, which cannot sign: a leaked receiver configuration forges nothing. Verifying costs more CPU than HMAC.',
  ],
];

/** An empty form. */
export function emptySubscriptionForm(): SubscriptionFormValues {
  return {
    url: '',
    eventTypes: [],
    eventTypeFilters: '',
    filter: '',
    transform: '',
    description: '',
    tenantId: '',
    allTenants: false,
    metadata: '',
    signing: 'v1',
    retry: { delaysMs: '', initialDelayMs: '', factor: '', maxDelayMs: '', maxAttempts: '', jitter: '' },
    flowControl: { maxInFlight: '', ratePerSecond: '', burst: '' },
    reason: '',
  };
}

/** The form filled in with a subscription as the request may see it, to edit it (no metadata where it is not shown). */
export function subscriptionFormValues(subscription: ShownSubscription, catalogTypes: readonly string[]): SubscriptionFormValues {
  const values = emptySubscriptionForm();
  values.url = subscription.url;
  values.eventTypes = subscription.eventTypes.filter((filter) => catalogTypes.includes(filter));
  values.eventTypeFilters = subscription.eventTypes.filter((filter) => !catalogTypes.includes(filter)).join(' ');
  values.filter = subscription.filter === null ? '' : JSON.stringify(subscription.filter, null, 2);
  values.transform = subscription.transform ?? '';
  values.description = subscription.description ?? '';
  values.tenantId = subscription.tenantId ?? '';
  values.allTenants = subscription.allTenants;
  values.metadata = subscription.metadata === undefined || Object.keys(subscription.metadata).length === 0 ? '' : JSON.stringify(subscription.metadata, null, 2);
  const retry = (subscription.retry ?? {}) as Partial<Record<RetryField, number | number[]>>;
  for (const name of retryFields) {
    const value = retry[name];
    values.retry[name] = value === undefined ? '' : Array.isArray(value) ? value.join(', ') : String(value);
  }
  const flowControl = subscription.flowControl ?? {};
  for (const name of flowControlFields) {
    const value = flowControl[name];
    values.flowControl[name] = value === undefined ? '' : value === null ? noLimit : String(value);
  }
  return values;
}

/** The API's input, read from the form's values. */
export interface SubscriptionFormInput {
  url: string;
  eventTypes: string[];
  /** Parsed from the JSON typed, checked by the API (which names the path of what is wrong). */
  filter: PayloadFilter | null;
  /** Checked by the API against the instance's transforms. */
  transform: string | null;
  description: string | null;
  retry: StoredRetryPolicy | null;
  flowControl: StoredFlowControl | null;
  /** The operator's creation only. */
  tenantId?: string | null;
  /** The operator's creation only. */
  allTenants?: boolean;
  /** The operator's only. */
  metadata?: Record<string, unknown>;
  /** The creation's only. */
  signing?: SigningScheme;
  reason: string | undefined;
}

function invalid(field: string, message: string): never {
  throw new ValidationError('INPUT_INVALID', message, { field });
}

function numberOf(field: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) invalid(field, `Expected \`${field}\` to be a number, got ${describeValue(text)}`);
  return value;
}

function whyRefused(name: string, mode: SubscriptionFormMode): string {
  if (name === 'signing') return 'the signing scheme changes with a rotation of the secret';
  if (operatorCreateFields.includes(name)) {
    if (mode.portal) return 'it is the operator’s to set, not the portal’s';
    if (name !== 'metadata') return 'a subscription’s tenant is fixed at creation';
  }
  return 'the form has no such field';
}

/**
 * The values of a post of the form, as typed. A field the form does not have in this mode
 * is refused rather than dropped — in the portal, `tenantId`, `allTenants` and `metadata`
 * are the operator's.
 *
 * @throws DashboardRefusal 400 `INPUT_INVALID` for a field the form does not have.
 */
export function readSubscriptionFormValues(form: URLSearchParams, mode: SubscriptionFormMode): SubscriptionFormValues {
  const allowed = new Set([...commonFields, ...(mode.kind === 'edit' ? ['reason'] : createFields), ...(mode.portal ? [] : mode.kind === 'create' ? operatorCreateFields : ['metadata'])]);
  for (const name of new Set(form.keys())) {
    if (!allowed.has(name)) {
      throw new DashboardRefusal(400, 'INPUT_INVALID', `Expected no \`${name}\` field: ${whyRefused(name, mode)} (fields: ${[...allowed].join(', ')})`);
    }
  }
  const text = (name: string) => form.get(name) ?? '';
  const values = emptySubscriptionForm();
  values.url = text('url').trim();
  values.eventTypes = form.getAll('eventTypes');
  values.eventTypeFilters = text('eventTypeFilters');
  values.filter = text('filter').replaceAll('\r\n', '\n');
  values.transform = text('transform').trim();
  // Browsers post a textarea's line breaks as CRLF: read back as they were written.
  values.description = text('description').replaceAll('\r\n', '\n');
  values.tenantId = text('tenantId').trim();
  values.allTenants = ['1', 'on', 'true'].includes(text('allTenants'));
  values.metadata = text('metadata').replaceAll('\r\n', '\n');
  values.signing = text('signing').trim();
  for (const name of retryFields) values.retry[name] = text(`retry.${name}`).trim();
  for (const name of flowControlFields) values.flowControl[name] = text(`flowControl.${name}`).trim();
  values.reason = text('reason').trim();
  return values;
}

/**
 * The API's input from the form's values: an empty retry policy or flow control is `null`
 * (the instance's default), an empty description `null`, empty metadata `{}`.
 *
 * @throws ValidationError `INPUT_INVALID` naming a field that does not parse (a number, the metadata JSON, a retry policy of both kinds).
 */
export function subscriptionFormInput(values: SubscriptionFormValues, mode: SubscriptionFormMode): SubscriptionFormInput {
  const input: SubscriptionFormInput = {
    url: values.url,
    eventTypes: [...values.eventTypes, ...values.eventTypeFilters.split(/[\s,]+/).filter(Boolean)],
    filter: readFilter(values.filter),
    transform: values.transform === '' ? null : values.transform,
    description: values.description.trim() === '' ? null : values.description,
    retry: readRetry(values.retry),
    flowControl: readFlowControl(values.flowControl),
    reason: values.reason === '' ? undefined : values.reason,
  };
  if (mode.kind === 'create') input.signing = readSigning(values.signing);
  if (!mode.portal) {
    if (mode.kind === 'create') {
      input.tenantId = values.tenantId === '' ? null : values.tenantId;
      input.allTenants = values.allTenants;
    }
    input.metadata = readMetadata(values.metadata);
  }
  return input;
}

function readSigning(text: string): SigningScheme | undefined {
  if (text === '') return undefined;
  if (text !== 'v1' && text !== 'v1a') invalid('signing', `Expected \`signing\` to be v1 or v1a, got ${describeValue(text)}`);
  return text;
}

function readRetry(fields: Record<RetryField, string>): StoredRetryPolicy | null {
  const given = retryFields.filter((name) => fields[name] !== '');
  if (given.length === 0) return null;
  const policy: Record<string, number | number[]> = {};
  for (const name of given) {
    policy[name] =
      name === 'delaysMs'
        ? fields.delaysMs
            .split(/[\s,]+/)
            .filter(Boolean)
            .map((delay, index) => numberOf(`retry.delaysMs.${index}`, delay))
        : numberOf(`retry.${name}`, fields[name]);
  }
  if (policy.delaysMs !== undefined && given.some((name) => name !== 'delaysMs' && name !== 'jitter')) {
    invalid(
      'retry.delaysMs',
      'Expected either `retry.delaysMs` (a fixed schedule) or `retry.initialDelayMs` with `retry.maxAttempts` (exponential backoff), got fields of both',
    );
  }
  // Incomplete policies (no maxAttempts, say) are the API's to refuse, with its message.
  return policy as StoredRetryPolicy;
}

function readFlowControl(fields: Record<FlowControlField, string>): StoredFlowControl | null {
  const given = flowControlFields.filter((name) => fields[name] !== '');
  if (given.length === 0) return null;
  const flowControl: StoredFlowControl = {};
  for (const name of given) {
    if (name === 'ratePerSecond' && fields.ratePerSecond.toLowerCase() === noLimit) flowControl.ratePerSecond = null;
    else flowControl[name] = numberOf(`flowControl.${name}`, fields[name]);
  }
  return flowControl;
}

/** The payload filter typed: empty is none; anything but a JSON object is refused here, the rest by the API. */
function readFilter(text: string): PayloadFilter | null {
  if (text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    invalid('filter', 'Expected `filter` to be a JSON object such as {"data.amount.currency": "EUR"}, got text that is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid('filter', `Expected \`filter\` to be a JSON object, got ${describeValue(value)}`);
  return value as PayloadFilter;
}

function readMetadata(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    invalid('metadata', 'Expected `metadata` to be a JSON object such as {"customer": "acme"}, got text that is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid('metadata', `Expected \`metadata\` to be a JSON object, got ${describeValue(value)}`);
  return value as Record<string, unknown>;
}

/** Where the form shows an error: the field it names, or the nearest group of fields that holds it. */
function placeOf(field: string | undefined, names: readonly string[]): string | undefined {
  if (field === undefined) return undefined;
  return [...names].sort((a, b) => b.length - a.length).find((name) => field === name || field.startsWith(`${name}.`));
}

/** What {@link subscriptionForm} draws. */
export interface SubscriptionFormPage {
  mode: SubscriptionFormMode;
  /** Where the form posts. */
  action: string;
  /** Where "Cancel" goes. */
  cancel: string;
  values: SubscriptionFormValues;
  catalogTypes: readonly string[];
  /** `endpoint` in the portal, `subscription` for the operator. */
  noun: string;
  error?: FormError | undefined;
}

/** The form, with `error` above it and again next to its field. */
export function subscriptionForm(page: SubscriptionFormPage): Html {
  const { mode, values, error, noun } = page;
  const place = placeOf(error?.field, [
    'url',
    'eventTypes',
    'filter',
    'transform',
    'description',
    'tenantId',
    'allTenants',
    'metadata',
    'signing',
    'reason',
    'retry',
    'flowControl',
    ...retryFields.map((name) => `retry.${name}`),
    ...flowControlFields.map((name) => `flowControl.${name}`),
  ]);
  const errorAt = (name: string) => (error !== undefined && place === name ? error.message : undefined);
  const text = (name: string, label: string, value: string, hint?: string, type = 'text', size = 20) =>
    formField({ name, label, hint, error: errorAt(name), control: (attributes) => html`<input type="${type}" ${attributes} size="${size}" value="${value}">` });
  const retryInput = (name: RetryField, label: string, hint?: string) => text(`retry.${name}`, label, values.retry[name], hint);
  const flowInput = (name: FlowControlField, label: string, hint?: string) => text(`flowControl.${name}`, label, values.flowControl[name], hint);
  const groupError = (name: string) => {
    const message = errorAt(name);
    return message === undefined ? '' : html`<p class="notice error" id="${name}-error">${message}</p>`;
  };
  const otherFilters = values.eventTypeFilters;
  return html`<form method="post" action="${page.action}" novalidate>
${error === undefined ? '' : formErrorSummary(error.message, place)}
${text('url', 'URL', values.url, 'Where each event is POSTed: https://…', 'url', 70)}
<fieldset${errorAt('eventTypes') === undefined ? '' : html` aria-describedby="eventTypes-error"`}>
<legend>Event types</legend>
${groupError('eventTypes')}
${page.catalogTypes.map(
  (type) => html`<label><input type="checkbox" name="eventTypes" value="${type}"${values.eventTypes.includes(type) ? html` checked` : ''}> <span class="mono">${type}</span></label>`,
)}
${formField({
  name: 'eventTypeFilters',
  label: 'Other filters',
  hint: 'Prefixes such as payment.* or * for every type, separated by spaces',
  control: (attributes) => html`<input type="text" ${attributes} size="50" value="${otherFilters}">`,
})}
</fieldset>
${formField({
  name: 'filter',
  label: 'Payload filter (JSON)',
  hint: 'Only events this matches are sent, e.g. {"data.amount.currency": "EUR", "data.amount.amount": {"$gte": 100000}}. Empty: every event of the types above',
  error: errorAt('filter'),
  control: (attributes) => html`<textarea class="mono" ${attributes}>${values.filter}</textarea>`,
})}
${text('transform', 'Payload transform', values.transform, 'The name of one of the instance’s transforms: what it makes of each event is what this endpoint gets. Empty: the event as published', 'text', 30)}
${formField({ name: 'description', label: 'Description', error: errorAt('description'), control: (attributes) => html`<textarea ${attributes}>${values.description}</textarea>` })}
${mode.kind === 'create' ? signingFieldset(values.signing, errorAt('signing')) : ''}
${
  mode.portal
    ? ''
    : html`${
        mode.kind === 'create'
          ? html`${text('tenantId', 'Tenant id', values.tenantId, `Empty: a platform ${noun}, which receives events published without a tenant`)}
${formField({
  name: 'allTenants',
  label: 'Every tenant’s events',
  hint: 'A platform-internal consumer (an audit sink) that receives every tenant’s matching events; only without a tenant id',
  error: errorAt('allTenants'),
  control: (attributes) => html`<input type="checkbox" ${attributes} value="1"${values.allTenants ? html` checked` : ''}>`,
})}`
          : ''
      }
${formField({
  name: 'metadata',
  label: 'Metadata (JSON object)',
  error: errorAt('metadata'),
  control: (attributes) => html`<textarea class="mono" ${attributes}>${values.metadata}</textarea>`,
})}`
}
<fieldset>
<legend>Retry policy</legend>
<p class="muted">Leave every field empty to use the instance’s policy. Either a fixed schedule — the waits after each failed attempt — or exponential backoff: the first wait and the attempts (the factor, longest wait and jitter have defaults when empty).</p>
${groupError('retry')}
${retryInput('delaysMs', 'Fixed schedule: delays (ms)', 'For example 5000, 300000, 1800000')}
${retryInput('initialDelayMs', 'Exponential: first delay (ms)')}
${retryInput('factor', 'Exponential: factor (each wait × this)')}
${retryInput('maxDelayMs', 'Exponential: longest delay (ms)')}
${retryInput('maxAttempts', 'Exponential: attempts')}
${retryInput('jitter', 'Jitter (0–1)', 'The fraction each wait is spread by, ±')}
</fieldset>
<fieldset>
<legend>Flow control</legend>
<p class="muted">Leave a field empty to use the instance’s default.</p>
${groupError('flowControl')}
${flowInput('maxInFlight', 'Posts in flight at once')}
${flowInput('ratePerSecond', 'Posts per second', `A number, or ${noLimit} for no limit`)}
${flowInput('burst', 'Burst above the rate')}
</fieldset>
${mode.kind === 'edit' ? text('reason', 'Reason for the change', values.reason, 'Kept in the change log', 'text', 50) : ''}
<div class="actions">
<button type="submit" class="primary">${mode.kind === 'create' ? `Create ${noun}` : 'Save'}</button>
<a class="button" href="${page.cancel}">Cancel</a>
</div>
</form>`;
}


/** The signing scheme of a creation: a radio per scheme, with what it means for the receiver. */
function signingFieldset(chosen: string, error: string | undefined): Html {
  return html`<fieldset${error === undefined ? '' : html` aria-describedby="signing-error"`}>
<legend>Signing scheme</legend>
${error === undefined ? '' : html`<p class="notice error" id="signing-error">${error}</p>`}
${signingChoices.map(
  ([scheme, label, hint]) =>
    html`<div class="field"><label><input type="radio" name="signing" value="${scheme}"${scheme === (chosen === '' ? 'v1' : chosen) ? html` checked` : ''}> ${label}</label> <span class="muted">${hint}</span></div>`,
)}
<p class="muted">A rotation of the secret can change it later, with an overlap during which both signatures are sent.</p>
</fieldset>`;
}
