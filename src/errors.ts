/**
 * The error hierarchy of `@bookkeeper/webhooks`.
 *
 * Every error the library throws is a {@link WebhookError} with a stable string
 * `code` (part of the public API; messages are not). Subclasses say who must act:
 * {@link ConfigError} the developer, {@link ValidationError} the caller of a public
 * function, {@link ConflictError} the caller again later (the input was right, the
 * moment was not), {@link StateError} the host (the instance is closed, or its backlog
 * did not drain), {@link SignatureVerificationError} the receiver, {@link StorageError}
 * the operator, {@link FeedError} the consumer pulling the sender's event feed.
 *
 * This module is runtime-neutral: the `./receiver` entry imports it.
 */

/** Codes of {@link ConfigError}: options given to a factory are wrong. */
export type ConfigErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_LEASE_TOO_SHORT'
  | 'SECRET_INVALID'
  /**
   * `security.payloadKey` is malformed, or a stored payload sealed with it does not open:
   * sealed with a key not listed, tampered with, or copied from another event.
   */
  | 'PAYLOAD_KEY_INVALID'
  | 'TX_UNSUPPORTED'
  /**
   * `dispatcher: { thread: 'worker' }` with an option the worker thread cannot rebuild from
   * data: the memory storage (or one without a connection the worker can open again), a
   * custom `transport`, `clock` or `random`, a `retry` function. The message names it.
   */
  | 'DISPATCHER_WORKER_UNSUPPORTED'
  /**
   * A publish met a subscription naming a transform this instance does not have
   * (`createWebhooks({ transforms })`): register it on every instance, or update the
   * subscription. Nothing was published.
   */
  | 'TRANSFORM_MISSING'
  /**
   * The transport cannot honour an egress setting: `http.proxy`, or a subscription's `tls`,
   * with a transport other than the undici one (the fetch transport has no way to use a
   * proxy agent or a client certificate). Refused rather than ignored.
   */
  | 'TRANSPORT_UNSUPPORTED';

/** Codes of {@link ValidationError}: input to a public call is wrong. */
export type ValidationErrorCode =
  | 'INPUT_INVALID'
  | 'EVENT_TYPE_UNKNOWN'
  | 'EVENT_DATA_INVALID'
  | 'PAYLOAD_TOO_LARGE'
  | 'SUBSCRIPTION_URL_INVALID'
  | 'SUBSCRIPTION_URL_FORBIDDEN'
  /** A malformed event-type filter in `eventTypes` (`payment*`, `''`). */
  | 'SUBSCRIPTION_FILTER_INVALID'
  | 'SUBSCRIPTION_FILTER_UNMATCHED'
  /**
   * A subscription's `filter` (the payload filter, a query over the envelope) is not one:
   * an unknown operator, an operand of the wrong type, a path outside `type`, `timestamp`
   * and `data`, a limit passed. `field` names the place, e.g. `filter.$or[1].data.amount.$gte`.
   */
  | 'PAYLOAD_FILTER_INVALID'
  /** A subscription's `transform` names none of the instance's `transforms`. */
  | 'TRANSFORM_UNKNOWN'
  /**
   * A subscription's transform threw, returned a promise, or returned data with no faithful
   * JSON form: the whole publish (or replay) is refused, nothing stored. `cause` is what it threw.
   */
  | 'TRANSFORM_FAILED'
  /**
   * A subscription's `versions` pins a type that has no versions in the catalog, or a
   * version the type does not have. `field` names it, e.g. `versions.payment.succeeded`.
   */
  | 'EVENT_VERSION_UNKNOWN'
  /**
   * A type's `downgrade` threw, returned a promise, or returned data that fails the schema of
   * the version below (or has no JSON form), while rendering an event for a subscription
   * pinned to an older version: the whole publish (or replay) is refused, nothing stored.
   * The message names the type, the versions and the subscription; `cause` is what it threw.
   */
  | 'EVENT_DOWNGRADE_FAILED'
  /**
   * A subscription's `tls.clientCertificate` or `tls.ca` is not a PEM certificate, the
   * client certificate is expired or not yet valid, or `tls.clientKey` came without it.
   */
  | 'TLS_CERTIFICATE_INVALID'
  /** A subscription's `tls.clientKey` is not an unencrypted PEM private key, or `tls.clientCertificate` came without it. */
  | 'TLS_KEY_INVALID'
  /** A subscription's `tls.clientKey` is not the private key of `tls.clientCertificate`. */
  | 'TLS_KEY_MISMATCH'
  | 'SUBSCRIPTION_NOT_FOUND'
  | 'DELIVERY_NOT_FOUND'
  | 'EVENT_NOT_FOUND'
  | 'CURSOR_INVALID'
  /**
   * `events.list({ subscriptionId, … })` (and the event feed) asked for a `tenantId` or
   * `types` beyond what the subscription receives: another tenant, or a type its filters
   * do not match.
   */
  | 'SUBSCRIPTION_SCOPE_EXCEEDED';

/** Codes of {@link ConflictError}: a well-formed call that the record's current state refuses. */
export type ConflictErrorCode =
  | 'DELIVERY_IN_FLIGHT'
  | 'SUBSCRIPTION_DISABLED'
  /** The tenant has `tenantLimits.maxSubscriptions` subscriptions already. */
  | 'TENANT_SUBSCRIPTION_LIMIT'
  /** `tenants.delete` without `force` while one of the tenant's deliveries is being attempted. */
  | 'TENANT_IN_FLIGHT'
  /** The subscription was deleted: it cannot be changed, enabled or sent to again. */
  | 'SUBSCRIPTION_DELETED'
  /** The event's content was erased (`events.expunge`): it cannot be sent again. */
  | 'EVENT_EXPUNGED'
  /** A URL change that had to be verified: the new endpoint did not answer the signed test request with a 2xx. */
  | 'SUBSCRIPTION_URL_UNVERIFIED'
  /** `deliveries.skip` of a delivery that does not block its ordering key (not a dead head of one). */
  | 'DELIVERY_NOT_BLOCKING'
  /**
   * The typed router's `ordering`: the event's `webhook-sequence` is past the next one its key
   * expects (an earlier delivery of the key has not been handled). Answered 409 so that the
   * sender retries it later, after the missing one.
   */
  | 'ORDERING_GAP'
  /**
   * The typed router's `ordering`: another event of the same key is being handled in this
   * process right now. Answered 409 so that the sender retries it later.
   */
  | 'ORDERING_KEY_IN_FLIGHT';

/** Codes of {@link StateError}: the webhooks instance cannot do it in its current state. */
export type StateErrorCode = 'WEBHOOKS_STOPPED' | 'DRAIN_TIMEOUT';

/** Codes of {@link SignatureVerificationError}: one per failed check of a received webhook. */
export type SignatureVerificationErrorCode =
  | 'WEBHOOK_MISSING_HEADER'
  | 'WEBHOOK_INVALID_TIMESTAMP'
  | 'WEBHOOK_TIMESTAMP_TOO_OLD'
  | 'WEBHOOK_TIMESTAMP_TOO_NEW'
  | 'WEBHOOK_INVALID_SIGNATURE'
  | 'WEBHOOK_NO_MATCHING_SIGNATURE'
  | 'WEBHOOK_INVALID_PAYLOAD'
  /**
   * The receiver expects an `environment` (`verifyWebhook(…, { environment })`) and the
   * signed envelope names another one, or none.
   */
  | 'WEBHOOK_ENVIRONMENT_MISMATCH'
  /**
   * The unsigned `webhook-sequence` header is not a positive whole number in plain decimal,
   * is repeated with different values, or comes with an event whose envelope has no `orderingKey`.
   */
  | 'WEBHOOK_SEQUENCE_INVALID';

/** Codes of {@link FeedError}: `pullMissed` could not read the sender's event feed. */
export type FeedErrorCode =
  /** The feed answered 4xx: a wrong secret or subscription, a stale clock, a bad cursor (see `status` and `feedCode`). */
  | 'FEED_REFUSED'
  /** The feed could not be reached, or answered 5xx: try again later (`retryable`). */
  | 'FEED_UNAVAILABLE'
  /** The feed answered 2xx with something that is not a page of events. */
  | 'FEED_RESPONSE_INVALID';

/** Codes of {@link StorageError}: the storage could not do what was asked. */
export type StorageErrorCode =
  | 'STORAGE_LEASE_LOST'
  | 'STORAGE_UNAVAILABLE'
  | 'STORAGE_BUSY'
  | 'STORAGE_CONFLICT'
  | 'STORAGE_CLOSED'
  | 'STORAGE_NOT_MIGRATED'
  | 'STORAGE_SCHEMA_TOO_OLD'
  | 'STORAGE_SCHEMA_TOO_NEW'
  /** A migration step kept hitting its lock timeout: a long transaction holds its table; retry `migrate()` (`retryable`). */
  | 'STORAGE_MIGRATION_LOCKED'
  | 'STORAGE_FAILED';

/** Every code the library can throw: one union, the one home of the codes. */
export type WebhookErrorCode =
  | ConfigErrorCode
  | ValidationErrorCode
  | ConflictErrorCode
  | SignatureVerificationErrorCode
  | StorageErrorCode
  | StateErrorCode
  | FeedErrorCode;

// A brand rather than `instanceof` alone, so that `isWebhookError()` holds across
// two copies of the package in one process (ESM + CJS, or nested installs).
const brand = Symbol.for('@bookkeeper/webhooks/error');

/** Options shared by every error constructor. */
export interface WebhookErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** The field of the input that was wrong, e.g. `"url"` or `"retry.maxAttempts"`. */
  field?: string;
}

/** Base class of every error thrown by `@bookkeeper/webhooks`. */
export class WebhookError extends Error {
  /** Stable machine-readable code; assert on this, never on `message`. */
  readonly code: WebhookErrorCode;
  /** The input field at fault, where there is one. */
  readonly field: string | undefined;

  constructor(code: WebhookErrorCode, message: string, options: WebhookErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WebhookError';
    this.code = code;
    this.field = options.field;
    Object.defineProperty(this, brand, { value: true });
  }
}

/** The options given to a factory are wrong: the developer must fix the code. */
export class ConfigError extends WebhookError {
  declare readonly code: ConfigErrorCode;
  constructor(code: ConfigErrorCode, message: string, options?: WebhookErrorOptions) {
    super(code, message, options);
    this.name = 'ConfigError';
  }
}

/** The input to a public call (publish, subscriptions.create, …) is wrong; nothing was stored. */
export class ValidationError extends WebhookError {
  declare readonly code: ValidationErrorCode;
  constructor(code: ValidationErrorCode, message: string, options?: WebhookErrorOptions) {
    super(code, message, options);
    this.name = 'ValidationError';
  }
}

/**
 * The call was well-formed but the record is in a state that refuses it right now
 * (`DELIVERY_IN_FLIGHT`: an attempt is under way); the same call may succeed later.
 */
export class ConflictError extends WebhookError {
  declare readonly code: ConflictErrorCode;
  constructor(code: ConflictErrorCode, message: string, options?: WebhookErrorOptions) {
    super(code, message, options);
    this.name = 'ConflictError';
  }
}

/**
 * The webhooks instance cannot do it in its current state: it is closed
 * (`WEBHOOKS_STOPPED`), or `drain` ran out of time with deliveries pending (`DRAIN_TIMEOUT`).
 */
export class StateError extends WebhookError {
  declare readonly code: StateErrorCode;
  constructor(code: StateErrorCode, message: string, options?: WebhookErrorOptions) {
    super(code, message, options);
    this.name = 'StateError';
  }
}

/** A received webhook failed verification: answer 400/401 and do not act on it. */
export class SignatureVerificationError extends WebhookError {
  declare readonly code: SignatureVerificationErrorCode;
  constructor(code: SignatureVerificationErrorCode, message: string, options?: WebhookErrorOptions) {
    super(code, message, options);
    this.name = 'SignatureVerificationError';
  }
}

/** Options of a {@link StorageError}. */
export interface StorageErrorOptions extends WebhookErrorOptions {
  /** Whether the same call may succeed if tried again (busy, serialization failure, lost connection). */
  retryable?: boolean;
}

/** The storage failed; `retryable` says whether trying again may help. No raw driver error escapes. */
export class StorageError extends WebhookError {
  declare readonly code: StorageErrorCode;
  readonly retryable: boolean;
  constructor(code: StorageErrorCode, message: string, options: StorageErrorOptions = {}) {
    super(code, message, options);
    this.name = 'StorageError';
    this.retryable = options.retryable ?? false;
  }
}

/** Options of a {@link FeedError}. */
export interface FeedErrorOptions extends WebhookErrorOptions {
  /** The feed's HTTP status; `null` when no answer came. */
  status?: number | null;
  /** The `error` code of the feed's JSON answer, when it sent one (`WEBHOOK_NO_MATCHING_SIGNATURE`, `CURSOR_INVALID`, …). */
  feedCode?: string | null;
}

/**
 * `pullMissed` could not read the sender's event feed: refused (`FEED_REFUSED`, with the
 * feed's `status` and `feedCode`: fix the secret, the subscription id or the clock),
 * unreachable (`FEED_UNAVAILABLE`, `retryable`), or answering something else than a page
 * (`FEED_RESPONSE_INVALID`). What was processed before it stays processed.
 */
export class FeedError extends WebhookError {
  declare readonly code: FeedErrorCode;
  readonly status: number | null;
  readonly feedCode: string | null;
  /** Whether the same call may succeed later (no answer, or a 5xx). */
  readonly retryable: boolean;
  constructor(code: FeedErrorCode, message: string, options: FeedErrorOptions = {}) {
    super(code, message, options);
    this.name = 'FeedError';
    this.status = options.status ?? null;
    this.feedCode = options.feedCode ?? null;
    this.retryable = code === 'FEED_UNAVAILABLE';
  }
}

/** True for any error thrown by this package, even from another copy of it. */
export function isWebhookError(value: unknown): value is WebhookError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** Renders a value for an error message: what came, briefly, never a secret. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length > 60 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : value.toISOString();
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype === null || prototype === Object.prototype) {
    // The keys, not the values: a value may be a credential.
    const keys = Object.keys(value);
    if (keys.length === 0) return 'an empty object';
    const shown = keys.slice(0, 6).join(', ') + (keys.length > 6 ? ', …' : '');
    return `an object { ${shown} }`;
  }
  const name = (value as { constructor?: { name?: string } }).constructor?.name || 'object';
  return `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name}`;
}

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(previous[j]! + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/**
 * The valid name a mistyped one most likely meant: within a third of its length in
 * edits (case aside), or one a prefix of the other (`timeout` → `timeoutMs`);
 * `undefined` when none is close.
 */
export function closestName(given: string, valid: readonly string[]): string | undefined {
  const lower = given.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of valid) {
    const other = candidate.toLowerCase();
    const distance = editDistance(lower, other);
    const related = lower.length >= 3 && other.length >= 3 && (other.startsWith(lower) || lower.startsWith(other));
    const threshold = Math.max(1, Math.floor(Math.max(lower.length, other.length) / 3));
    if ((distance <= threshold || related) && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
