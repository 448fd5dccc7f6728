/**
 * The subscription registry: endpoints with their URL, event-type filters, secrets
 * (with rotation), custom headers, description, metadata, status and an optional
 * retry policy of their own — validated here, stored through the storage adapter.
 *
 * Every input is checked before anything is stored: a bad URL, a malformed filter,
 * a filter that names no type of the catalog (a typo), reserved or malformed
 * headers — each gets its own `ValidationError` code and leaves storage unchanged.
 */
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { isReservedHeader } from '../delivery/reserved-headers.js';
import { checkUrlHost, ipLiteralOf, type AddressGuard } from '../delivery/ssrf-guard.js';
import { checkArgumentCount } from '../check-argument-count.js';
import { ConfigError, ConflictError, ValidationError, describeValue, isWebhookError } from '../errors.js';
import { eventTypeVersions, hasEventVersions, type EventCatalog, type VersionPinsOf } from '../events/catalog.js';
import { createId } from '../ids.js';
import { jsonCopy } from '../json-value-problem.js';
import { ed25519PrivateKey } from '../signing/ed25519-private-key.js';
import { generateSigningKeyPair } from '../signing/generate-signing-key-pair.js';
import { MAX_ACTIVE_SECRETS, SECRET_PREFIX, SUBSCRIPTION_SECRET_BYTES, decodeSecret, encodeBase64, generateSecret } from '../signing/secret.js';
import { PUBLIC_KEY_PREFIX, SECRET_KEY_PREFIX, type SigningScheme } from '../signing/signing-key.js';
import type { SigningReader, SubscriptionSigning } from './signing-of-secrets.js';
import type {
  ChangeAudit,
  EventRecord,
  Page,
  SecretRecord,
  StorageAdapter,
  SubscriptionChangeAction,
  SubscriptionChangeRecord,
  StoredFlowControl,
  StoredRetryPolicy,
  StoredTlsIdentity,
  SubscriptionPatch,
  OrderingOnDead,
  SubscriptionRecord,
  SubscriptionStatus,
  TestAttemptRecord,
} from '../storage/storage-adapter.js';
import { storedFlowControlSchema } from '../delivery/flow-control-options.js';
import { storedRetryPolicySchema } from '../delivery/retry-options.js';
import { parseInput, unreadableInput } from '../throw-validation.js';
import { eventTypeFilterKind, matchesEventType, matchingEventTypes, type EventTypeFilterOf } from './event-type-filter.js';
import { isStorableText, loneSurrogate, requireId, storableTextMessage } from '../storable-text.js';
import type { SecretCodec } from './secret-codec.js';
import type { EndpointVerifier } from './endpoint-verification.js';
import type { SendTestResult, TestEventExample, TestRequestOptions } from './send-test-request.js';
import type { SubscriptionTestedEvent } from '../events/event-bus.js';
import { REDACTED_HEADER_VALUE, headersToStore, openHeaders, redactHeaders, refuseRepeatedHeaderNames, resealHeaders, type SensitiveHeaderMatcher } from './sensitive-headers.js';
import { secretsCreatedAt, type SecretsCreatedAt } from './secrets-created-at.js';
import { resealedTls, shownTls, storedTlsIdentity, type SubscriptionTls, type TlsIdentityInput } from './client-tls.js';
import { tenantFilterSchema, tenantIdSchema } from '../tenant-id.js';
import { parsePayloadFilter, payloadFilterOf, type PayloadFilter } from '../routing/payload-filter.js';
import type { TransformEvent } from '../routing/payload-transforms.js';
import { defaultVersionPins, parseVersionPins, versionPinsOf, type VersionPins } from '../routing/version-pins.js';

/**
 * A subscription as the API shows it: everything but its secrets (with their age instead),
 * the value of each sensitive header replaced by `"[redacted]"`. Times are epoch ms.
 */
export interface Subscription extends Omit<SubscriptionRecord, 'secrets' | 'filter' | 'orderingOnDead' | 'versions' | 'tls'>, SubscriptionSigning {
  /** Its TLS client identity and trust settings, without the key (`hasClientKey`; see {@link SubscriptionTls}); `null`: none. */
  tls: SubscriptionTls | null;
  /** Its payload filter: only the events it matches get a delivery; `null`: every event of its types. */
  filter: PayloadFilter | null;
  /** What a dead delivery of an ordering key does to the key (README "Ordering"). */
  ordering: SubscriptionOrdering;
  /**
   * Its version pins: versioned event type → the version its deliveries carry (see
   * `CreateSubscriptionInput.versions`); `null`: none, every type in its newest version.
   */
  versions: Readonly<VersionPins> | null;
  /** The names of the headers shown redacted (`security.sensitiveHeaders`); their values come from `getHeaders`. */
  sensitiveHeaders: string[];
  /** When its secrets were created, as of the read: for a rotation policy (see `SecretsCreatedAt`). */
  secretsCreatedAt: SecretsCreatedAt;
}

/**
 * A subscription's policy for events published with an `orderingKey`, whose deliveries it
 * gets strictly in publish order per key.
 */
export interface SubscriptionOrdering {
  /**
   * When a delivery of a key ends dead: `block` (the default) holds the key's later
   * deliveries until an operator redelivers the dead one or skips it
   * (`deliveries.blockedKeys`, `deliveries.skip`); `skip` moves on to the next at once, and
   * the receiver sees a gap in `webhook-sequence`.
   */
  onDead: OrderingOnDead;
}

/**
 * One entry of a subscription's change log (`subscriptions.history`): who changed what,
 * when, and why, with a before/after of each changed field — secrets as their times only,
 * sensitive header values as `"[redacted]"`. Written in the same transaction as the change.
 */
export type SubscriptionChange = SubscriptionChangeRecord;

/**
 * One signed test request sent to a subscription's endpoint (`sendTest`, or the check of a
 * verified URL change), as its test log (`subscriptions.testAttempts`) keeps it: what was
 * sent, by whom, and what came of it, with the start of the response body as a delivery
 * attempt keeps it (`http.responseSnippetBytes`). Times are epoch ms.
 */
export type TestAttempt = TestAttemptRecord;

/** A page of a subscription's test log (`subscriptions.testAttempts`), newest first. */
export interface TestAttemptsQuery {
  /** @defaultValue 100 (at most 1000) */
  limit?: number;
  cursor?: string;
}

/** Who makes a change and why: recorded in the subscription's change log. */
export interface ChangeOptions {
  /** Who makes the change, as the host names them: a user id, an email, a service (1–256 characters). */
  actor?: string;
  /** Why (1–1000 characters). */
  reason?: string;
}

/** Options of `subscriptions.update`. */
export interface UpdateSubscriptionOptions extends ChangeOptions {
  /**
   * When the URL changes, first send the new endpoint a signed test request (a
   * `webhook.test` event) and make the change only if it answers 2xx; otherwise the update
   * is refused with `SUBSCRIPTION_URL_UNVERIFIED` and nothing changes but the test log
   * (`testAttempts`), which records the request either way (reason `url_change`).
   * @defaultValue `security.verifyUrlChanges` (false)
   */
  verifyUrl?: boolean;
}

/** Options of `subscriptions.sendTest`. */
export interface SendTestOptions {
  /** Who sends the test, as the host names them (1–256 characters): announced with it on the bus. */
  actor?: string;
  /**
   * Send this event type of the catalog with its example as `data` (`defineEvents({ type: {
   * schema, example } })`; every type of `bookkeeperEvents` has one) instead of `webhook.test`:
   * the receiver's handler for that type runs on it, as with `stripe trigger`. Whether the
   * subscription's filters match the type is not checked: it is a test. A subscription with a
   * `transform` gets the example as its transform makes it (`TRANSFORM_FAILED` if it fails),
   * and one pinned to an older version of a versioned type gets the (newest) example
   * downgraded to it (`EVENT_DOWNGRADE_FAILED` if that fails), as a real delivery would be.
   */
  type?: string;
}

/** Options of `subscriptions.delete`. */
export interface DeleteSubscriptionOptions extends ChangeOptions {
  /**
   * Remove the subscription with its deliveries, attempts, change log and test log (the
   * offboarding path), instead of the default soft delete, which keeps them readable.
   * @defaultValue false
   */
  hard?: boolean;
}

/** A page of a change log. */
export interface HistoryQuery {
  /** @defaultValue 100 (at most 1000) */
  limit?: number;
  cursor?: string;
}

/** A subscription with its current signing secret: what `create` and `rotateSecret` return. */
export interface SubscriptionWithSecret extends Subscription {
  /**
   * The newest secret: for `v1`, a `whsec_…` secret to give to the receiver; for `v1a`, the
   * `whsk_…` secret key, which stays with the sender (give the receiver `publicKey`).
   */
  secret: string;
  /** For `v1a`, the `whpk_…` public key of `secret`: give it to the receiver. Absent for `v1`. */
  publicKey?: string;
}

/** The input of `subscriptions.create`; `TCatalog` types `eventTypes` from the catalog's event types. */
export interface CreateSubscriptionInput<TCatalog extends EventCatalog = EventCatalog> {
  /**
   * Where to POST: `https://…` (or `http://` unless `security.requireHttps`). A control
   * character anywhere in it (U+0000 to U+001F, U+007F: a tab, a newline, a NUL), which the
   * URL parser would drop or encode, is refused with `INPUT_INVALID`.
   */
  url: string;
  /**
   * The tenant (the host's organisation id) the subscription belongs to: it receives only
   * events published with this `tenantId`. Without it (or `null`), a platform subscription:
   * it receives events published without a tenant. 1 to 128 characters, no control
   * characters. Fixed for the subscription's life.
   */
  tenantId?: string | null;
  /**
   * A platform-internal consumer (an audit sink) that receives the matching events of every
   * tenant and the tenantless ones — an explicit opt-in, never a default; only without
   * `tenantId`. Fixed for the subscription's life.
   * @defaultValue false
   */
  allTenants?: boolean;
  /** Exact types (`payment.succeeded`), prefixes (`payment.*`) or `*`. */
  eventTypes: readonly EventTypeFilterOf<TCatalog>[];
  /**
   * The signature scheme (Standard Webhooks): `v1`, HMAC-SHA256 with a `whsec_…` secret the
   * receiver also holds; `v1a`, Ed25519 with a `whsk_…` secret key that stays here, the
   * receiver verifying with its `whpk_…` public key (returned as `publicKey`), so nothing a
   * receiver stores can forge an event. Move a subscription from one to the other with
   * `rotateSecret({ signing, overlapMs })`: both signatures go out during the overlap.
   * @defaultValue the scheme of `secret` when given, otherwise `'v1'`
   */
  signing?: SigningScheme;
  /**
   * Bring your own secret (e.g. when migrating): a `whsec_…` secret (`v1`) or a `whsk_…`
   * secret key (`v1a`, as `generateSigningKeyPair` makes it); default: a new random one of
   * the `signing` scheme.
   */
  secret?: string;
  /**
   * Extra request headers. Names are matched without regard to case; refused (`INPUT_INVALID`):
   * the ones the library sets (`webhook-*`, `content-type`, `user-agent` — set it with
   * `http.userAgent`), framing and hop-by-hop ones (`host`, `content-length`,
   * `transfer-encoding`, `content-encoding`, `connection`, `keep-alive`, `upgrade`, `te`,
   * `trailer`, `expect`, `proxy-connection`, `http2-settings`), names that are not HTTP tokens,
   * a name given twice in different cases (`Authorization` and `authorization`), and values
   * with control characters (CR, LF, NUL).
   *
   * The values of sensitive headers (`security.sensitiveHeaders`: `Authorization`, `Cookie`,
   * `*-Token`, `*-Key` by default) are sealed at rest with `security.secretsKey` and read
   * back only by `getHeaders`. In an update, a sensitive header given as `"[redacted]"` keeps
   * the value stored under that name (so redacted headers read back can be written back);
   * the marker is refused (`INPUT_INVALID`) where no such value is stored.
   */
  headers?: Record<string, string>;
  description?: string | null;
  metadata?: Record<string, unknown>;
  /** A retry policy for this endpoint, overriding the global one. */
  retry?: StoredRetryPolicy | null;
  /** Concurrency cap and rate limit for this endpoint, overriding the global defaults. */
  flowControl?: StoredFlowControl | null;
  /**
   * The name of one of the instance's payload transforms (`createWebhooks({ transforms })`):
   * each delivery's envelope carries, as `data`, what it returns for the event — computed
   * once at publish and stored with the delivery, so retries send the same bytes. `null`
   * (the default): the event's own data. An unknown name is refused with `TRANSFORM_UNKNOWN`.
   */
  transform?: string | null;
  /**
   * A payload filter (see `PayloadFilter`): of the events its `eventTypes` match, only those
   * whose envelope the filter matches get a delivery — decided once at publish, so an event
   * it leaves out creates no delivery at all; replay and `enable({ replayMissed })` apply it
   * too. `null` (the default): every event of its types. Refused with
   * `PAYLOAD_FILTER_INVALID`, naming the path, when it is not a valid filter.
   */
  filter?: PayloadFilter | null;
  /** Per-key ordering's policy for a dead delivery (see {@link SubscriptionOrdering}); default `{ onDead: 'block' }`. */
  ordering?: SubscriptionOrdering;
  /**
   * Version pins: for event types with versions (`defineEvents({ type: { versions } })`), the
   * version its deliveries carry, e.g. `{ 'payment.succeeded': 1 }` — each event of a pinned
   * type is downgraded to it at publish (and its envelope's `version` says so). Default at
   * `create`: each versioned type its `eventTypes` match, at its newest version, as Stripe
   * pins an endpoint to the API version of its creation; at `update`, the pins are replaced
   * (`null`: none), and new `eventTypes` pin the versioned types they add at their newest.
   * An unpinned type is sent in its newest version. A type without versions or a version it
   * lacks is refused with `EVENT_VERSION_UNKNOWN` naming `versions.<type>`.
   */
  versions?: VersionPinsOf<TCatalog> | null;
  /**
   * Mutual TLS, a private CA and a server name for this endpoint (an `https:` URL): the
   * client certificate and its key to present, the CA certificates its certificate must
   * chain to instead of the public roots (`ca`), and the name to send as SNI and verify
   * instead of the URL's host (`serverName`). Any of them may be set alone (at least one
   * must: `{}` is refused with `INPUT_INVALID`), except that the certificate and its key
   * come together: one without the other is refused, `TLS_KEY_INVALID` for a certificate
   * without its key, `TLS_CERTIFICATE_INVALID` for a key without its certificate. PEM
   * strings are checked here: a certificate that does not parse or is not valid now is
   * refused with `TLS_CERTIFICATE_INVALID`, a key that does not parse (or is encrypted) with
   * `TLS_KEY_INVALID`, a key that is not the certificate's with `TLS_KEY_MISMATCH`. The key
   * is sealed at rest with `security.secretsKey` (and resealed by `resealSecrets`), used by
   * deliveries and test requests, and never returned: reads show the certificate, its
   * subject, issuer, validity and fingerprint, and `hasClientKey: true` — or, without a
   * client certificate, those as `null` and `hasClientKey: false` ({@link SubscriptionTls});
   * the change log shows the certificate's fingerprint and the key as `"[redacted]"`. Each
   * distinct identity gets its own connection pool. `null` (in an update) removes it. Only
   * the undici transport supports it (`TRANSPORT_UNSUPPORTED` otherwise).
   * @defaultValue null
   */
  tls?: TlsIdentityInput | null;
}

/**
 * The input of `subscriptions.update`: any of the create fields but the secret, its scheme
 * (`signing`: change it with `rotateSecret`) and the tenant (`tenantId`, `allTenants`),
 * which are fixed at creation.
 */
export type UpdateSubscriptionInput<TCatalog extends EventCatalog = EventCatalog> = Partial<
  Omit<CreateSubscriptionInput<TCatalog>, 'secret' | 'signing' | 'tenantId' | 'allTenants'>
>;

/** The query of `subscriptions.list`. */
export interface ListSubscriptionsQuery {
  /** @defaultValue 100 (at most 1000) */
  limit?: number;
  cursor?: string;
  status?: SubscriptionStatus;
  /** Only this tenant's subscriptions; `null`: only the platform's (without a tenant). */
  tenantId?: string | null;
  /** Soft-deleted ones too (with `deletedAt`); by default they are left out. */
  includeDeleted?: boolean;
}

/** Options of `rotateSecret`. */
export interface RotateSecretOptions extends ChangeOptions {
  /**
   * How long the previous secret keeps signing beside the new one, so receivers can
   * switch over: during the overlap every request carries both signatures.
   * @defaultValue 86400000 (24 hours)
   */
  overlapMs?: number;
  /**
   * The scheme the new secret signs with: `'v1a'` moves a `v1` subscription to Ed25519 (and
   * `'v1'` back), both signatures going out during the overlap.
   * @defaultValue the scheme of `secret` when given, otherwise the subscription's current one
   */
  signing?: SigningScheme;
  /** The new secret (`whsec_…` or `whsk_…`); default: a new random one of the `signing` scheme. */
  secret?: string;
}

/** The secrets a subscription currently signs with (`whsec_…` secrets and `whsk_…` secret keys). */
export interface SubscriptionSecrets {
  /** The newest secret. */
  secret: string;
  /** When the newest secret was created (epoch ms). */
  createdAt: number;
  /** Older secrets still signing during a rotation overlap, newest first, with their creation and expiry (epoch ms). */
  previous: Array<{ secret: string; createdAt: number; expiresAt: number | null }>;
}

/**
 * The `webhooks.subscriptions` API; `TCatalog` types the `eventTypes` of `create` and `update`.
 * Every change takes `{ actor, reason }` and is recorded in the subscription's change log
 * (`history`) in the same transaction, then announced on the bus (`subscription:created`,
 * `…:updated`, `…:secret-rotated`, `…:disabled`, `…:enabled`, `…:deleted`). A deleted
 * subscription refuses changes with `SUBSCRIPTION_DELETED`.
 */
export interface SubscriptionRegistry<TCatalog extends EventCatalog = EventCatalog> {
  create(input: CreateSubscriptionInput<TCatalog>, options?: ChangeOptions): Promise<SubscriptionWithSecret>;
  /** The subscription (a deleted one too, with `deletedAt`), or `null` when there is none with this id. */
  get(id: string): Promise<Subscription | null>;
  /** A page, oldest first: `limit` default 100, at most 1000. Deleted ones only with `includeDeleted`. */
  list(query?: ListSubscriptionsQuery): Promise<Page<Subscription>>;
  update(id: string, patch: UpdateSubscriptionInput<TCatalog>, options?: UpdateSubscriptionOptions): Promise<Subscription>;
  /**
   * Deletes the subscription. By default a soft delete: it gets no new delivery, its open
   * ones are `cancelled`, and it stays readable (`get`, `history`, its deliveries and
   * attempts, test log) until its tenant is removed or a hard delete. `{ hard: true }`
   * removes it with its deliveries, attempts, change log and test log. Deleting a deleted
   * subscription softly again changes nothing.
   */
  delete(id: string, options?: DeleteSubscriptionOptions): Promise<void>;
  /** Stops deliveries: pending ones are held (not dropped) until `enable`. `reason` is kept as the subscription's `disabledReason`. */
  disable(id: string, options?: ChangeOptions): Promise<Subscription>;
  /**
   * Resumes deliveries: held ones become due at once. With `replayMissed`, events
   * published while it was disabled (which it did not get) are sent too. See
   * {@link SubscriptionRegistry.previewEnable} for the counts first.
   *
   * With `replayMissed`, all or nothing: the missed events are rendered and queued before the
   * subscription is enabled, so when that fails — its transform throws (`TRANSFORM_FAILED`) or
   * is not registered here (`TRANSFORM_MISSING`), a downgrade to its pinned version fails
   * (`EVENT_DOWNGRADE_FAILED`), its stored filter is no filter (`PAYLOAD_FILTER_INVALID`), the
   * storage fails — the call rejects with that error and nothing changed: it is still disabled,
   * nothing is sent, logged or announced, and the same call replays once the cause is fixed.
   * The events published while the enable itself runs are queued in the transaction that
   * enables it (on PostgreSQL under a short lock of the events table that waits for publishes
   * being written and holds new ones), so a key's missed events go before any published after
   * the enable; a lock not had within its timeout rejects with `STORAGE_BUSY` (retryable),
   * the subscription still disabled.
   */
  enable(id: string, options?: ChangeOptions & { replayMissed?: boolean }): Promise<Subscription & { resumed: number; replayed: number }>;
  /** What `enable` would send: held deliveries, and events missed while disabled. */
  previewEnable(id: string): Promise<{ held: number; missed: number }>;
  rotateSecret(id: string, options?: RotateSecretOptions): Promise<SubscriptionWithSecret>;
  /** The secrets — asked for explicitly; no other call returns them. */
  getSecrets(id: string): Promise<SubscriptionSecrets>;
  /**
   * The custom headers with every value in clear, sensitive ones included — asked for
   * explicitly; every other call shows sensitive values redacted.
   */
  getHeaders(id: string): Promise<Record<string, string>>;
  /**
   * Re-encrypts every stored secret and sensitive header value with the current
   * `security.secretsKey` (after adding a new key first in the list, or after switching
   * encryption on). Returns how many subscriptions were rewritten (each one logged as
   * `secrets_resealed`).
   */
  resealSecrets(options?: Pick<ChangeOptions, 'actor'>): Promise<{ resealed: number }>;
  /** The subscription's change log, oldest first (a deleted one's too, until a hard delete). */
  history(id: string, query?: HistoryQuery): Promise<Page<SubscriptionChange>>;
  /**
   * Sends the endpoint one signed test request now: a Standard Webhooks request of type
   * `webhook.test` with `data: { subscriptionId, url, reason: "test" }`, to the
   * subscription's URL, with its custom headers and a signature by each of its active
   * secrets, through the instance's transport, SSRF guard and `http.timeoutMs` — what its
   * deliveries get, so a receiver verifies it the same way. It is not a delivery: no event
   * or delivery is stored, nothing is retried, and a failed test is the result, not an
   * exception.
   *
   * Once it is answered, the request is recorded in the subscription's test log
   * (`testAttempts`: who sent it, what came of it, the start of the response body as a
   * delivery attempt keeps it). A storage failure while recording does not make the call
   * throw — the request was sent: the result comes back with `recorded: false` and the
   * failure is logged at error level through the instance's `logger`. The test log goes
   * with the subscription (hard delete, its tenant's removal) and with retention (an ok
   * test by `retention.deliveredMs`, a failed one by `retention.deadMs`).
   *
   * A disabled subscription may be tested: check the endpoint before enabling it. The test
   * is announced on the bus as `subscription:tested`, with `actor`. With `type`, the request
   * carries that catalog type and its example instead.
   *
   * @throws ValidationError `SUBSCRIPTION_NOT_FOUND` for an unknown id; `EVENT_TYPE_UNKNOWN`
   *   for a `type` not in the catalog, `INPUT_INVALID` for one without an example;
   *   ConflictError `SUBSCRIPTION_DELETED` for a deleted subscription.
   */
  sendTest(id: string, options?: SendTestOptions): Promise<SendTestResult>;
  /**
   * The subscription's test log, newest first (a deleted one's too, until a hard delete):
   * the test requests of `sendTest` (reason `test`) and of verified URL changes (reason
   * `url_change`, to the new URL). A page: `limit` default 100, at most 1000.
   *
   * @throws ValidationError `SUBSCRIPTION_NOT_FOUND` for an unknown id; `INPUT_INVALID` for a
   *   bad query; `CURSOR_INVALID` for a cursor that is not from a previous page of it.
   */
  testAttempts(id: string, query?: TestAttemptsQuery): Promise<Page<TestAttempt>>;
}

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerValue = /^[\t\x20-\x7e\x80-\xff]*$/;

const headersSchema = z
  .record(z.string(), z.string().max(4096))
  .superRefine((headers, context) => {
    const names = Object.keys(headers);
    if (names.length > 50) context.addIssue({ code: 'custom', message: `at most 50 headers (got ${names.length})` });
    for (const name of names) {
      // What came is named by the header's name: its value may be a credential, never repeated in an error.
      const got = { got: `the header ${describeValue(name)}` };
      if (!headerName.test(name)) context.addIssue({ code: 'custom', message: 'a header whose name is a token (letters, digits and !#$%&\'*+-.^_`|~)', path: [name], params: got });
      else if (isReservedHeader(name)) {
        context.addIssue({ code: 'custom', message: 'a header the library does not set itself (not webhook-*, content-type, content-length, host, connection, …)', path: [name], params: got });
      } else if (!headerValue.test(headers[name]!)) {
        const at = headers[name]!.search(/[^\t\x20-\x7e\x80-\xff]/);
        context.addIssue({
          code: 'custom',
          message: 'a header value without control characters or characters past U+00FF',
          path: [name],
          params: { got: `a value with one at position ${at} (not shown: it may be a secret)` },
        });
      }
    }
  });

const metadataSchema = z.record(z.string(), z.unknown()).superRefine((metadata, context) => {
  let size: number;
  try {
    size = JSON.stringify(metadata).length;
  } catch {
    context.addIssue({ code: 'custom', message: 'a JSON-serializable object' });
    return;
  }
  if (size > 16_384) context.addIssue({ code: 'custom', message: `at most 16 KiB as JSON (this is ${size} bytes)` });
});

const fieldsSchema = z.strictObject({
  url: z.string().min(1).max(2048),
  // Emptiness is checked with the filters, so that it gets the filter code.
  eventTypes: z.array(z.string().max(255)).max(100),
  tenantId: tenantIdSchema.nullable().optional(),
  allTenants: z.boolean().optional(),
  secret: z.string().optional(),
  signing: z.enum(['v1', 'v1a']).optional(),
  headers: headersSchema.optional(),
  description: z.string().max(1000).refine(isStorableText, storableTextMessage).nullable().optional(),
  metadata: metadataSchema.optional(),
  retry: storedRetryPolicySchema.nullable().optional(),
  flowControl: storedFlowControlSchema.nullable().optional(),
  // Checked by parsePayloadFilter, which names the path of what is wrong.
  filter: z.unknown().optional(),
  // Checked against the instance's transforms, with their names in the message.
  transform: z.string().max(64).nullable().optional(),
  ordering: z.strictObject({ onDead: z.enum(['block', 'skip']) }).optional(),
  // Checked against the catalog by parseVersionPins, which names the type.
  versions: z.unknown().optional(),
  // Checked by storedTlsIdentity, whose messages never show a key.
  tls: z.unknown().optional(),
});

const createSchema = fieldsSchema;
const updateSchema = fieldsSchema.omit({ secret: true, signing: true, tenantId: true, allTenants: true }).partial();
const listSchema = z.strictObject({
  limit: z.int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(1000).optional(),
  status: z.enum(['active', 'disabled']).optional(),
  tenantId: tenantFilterSchema.optional(),
  includeDeleted: z.boolean().optional(),
});
const actorSchema = z.string().min(1).max(256).refine(isStorableText, storableTextMessage);
const reasonSchema = z.string().min(1).max(1000).refine(isStorableText, storableTextMessage);
const changeFields = { actor: actorSchema.optional(), reason: reasonSchema.optional() };
const changeSchema = z.strictObject(changeFields);
const updateOptionsSchema = z.strictObject({ ...changeFields, verifyUrl: z.boolean().optional() });
const deleteSchema = z.strictObject({ ...changeFields, hard: z.boolean().optional() });
const resealSchema = z.strictObject({ actor: actorSchema.optional() });
const historySchema = z.strictObject({ limit: z.int().min(1).max(1000).default(100), cursor: z.string().min(1).max(1000).optional() });
const testAttemptsSchema = historySchema;
/** The fields `update` refuses by name, with the reason: a subscription's tenant is for life. */
const tenantFields = ['tenantId', 'allTenants'] as const;
const rotateSchema = z.strictObject({
  overlapMs: z.int().min(0).max(30 * 24 * 3_600_000).default(24 * 3_600_000),
  secret: z.string().optional(),
  signing: z.enum(['v1', 'v1a']).optional(),
  ...changeFields,
});
const disableSchema = z.strictObject({ actor: actorSchema.optional(), reason: z.string().min(1).max(500).refine(isStorableText, storableTextMessage).optional() });
const enableSchema = z.strictObject({ replayMissed: z.boolean().optional(), ...changeFields });
const sendTestSchema = z.strictObject({ actor: actorSchema.optional(), type: z.string().min(1).max(255).optional() });

export interface SubscriptionRegistryDeps {
  storage: StorageAdapter;
  catalog: EventCatalog;
  clock: Clock;
  security: { requireHttps: boolean };
  /** The SSRF guard for registration; `null` when private networks are allowed. */
  guard: AddressGuard | null;
  codec: SecretCodec;
  /** What reads show of the signing keys (scheme, public keys): `createSigningReader(codec)`. */
  readSigning: SigningReader;
  /** Which headers are sensitive (`security.sensitiveHeaders`). */
  isSensitiveHeader: SensitiveHeaderMatcher;
  /** Called after a change that may make deliveries due (enable). */
  onChange: () => void;
  /** Most subscriptions one tenant may have (`tenantLimits.maxSubscriptions`); `undefined`: no limit. */
  maxSubscriptionsPerTenant?: number | undefined;
  /** `http.tenantHeader`: the header that carries the event's tenant, which a subscription may not set itself. */
  tenantHeader?: string | null;
  /** Announces a change recorded in the log (on the bus); `hard` for a hard delete. */
  announce: (change: SubscriptionChange, hard: boolean) => void;
  /** `security.verifyUrlChanges`: the default of `update`'s `verifyUrl`. */
  verifyUrlChanges: boolean;
  /**
   * Sends the signed test request of a verified URL change to `url`, signed as `record`'s
   * deliveries are, and records it in the test log (registry/endpoint-verification.ts);
   * resolves when it was answered 2xx.
   * @throws ConflictError `SUBSCRIPTION_URL_UNVERIFIED` otherwise.
   */
  verifyEndpoint: EndpointVerifier;
  /** Sends `record`'s endpoint the signed test request of `sendTest` (registry/send-test-request.ts); stores nothing. */
  sendTestRequest: (record: SubscriptionRecord, options: TestRequestOptions) => Promise<TestAttemptRecord>;
  /** Puts a test request sent in its subscription's test log; never throws (registry/record-test-attempt.ts). */
  recordTestAttempt: (attempt: TestAttemptRecord) => Promise<boolean>;
  /** Announces a test request sent (on the bus). */
  announceTest: (event: SubscriptionTestedEvent) => void;
  /** Evaluates a payload filter on a stored event (routing/filter-callbacks.ts): `enable({ replayMissed })` and its preview apply it. */
  replayFilter: (filter: string, event: EventRecord, subscriptionId: string) => boolean;
  /** The names of the instance's payload transforms (`createWebhooks({ transforms })`): a subscription's `transform` must be one. */
  transformNames: readonly string[];
  /** Renders a replayed delivery's payload for its subscription's version pins and transform (routing/payload-transforms.ts); `null`: the event's own. */
  replayRender: (subscription: SubscriptionRecord, event: EventRecord) => string | null;
  /** The version and data a subscription gets of an event (a typed test request's): downgraded to its pin, then transformed. */
  testData: (subscription: SubscriptionRecord, event: TransformEvent) => { version: number | undefined; data: unknown };
  /** Whether the instance's transport can present a subscription's `tls` (the undici transport can; others are refused). */
  tlsSupported: boolean;
  /** Called when a subscription's TLS identity is replaced or removed, or the subscription deleted, with the identity it had: its pooled connections may close. */
  onTlsRetired?: (retired: StoredTlsIdentity) => void;
}

/**
 * Metadata in its JSON form (a Date as its ISO string), as a durable storage reads it back:
 * written once here so the memory storage keeps the same value as SQLite and PostgreSQL.
 */
function asStored(metadata: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(metadata)) as Record<string, unknown>;
}

/**
 * What every read returns: the record without its secrets (their age as of `now` instead,
 * their scheme and the public keys of `v1a` ones) and with its sensitive headers redacted.
 */
export function toRedactedSubscription(record: SubscriptionRecord, isSensitiveHeader: SensitiveHeaderMatcher, readSigning: SigningReader, now: number): Subscription {
  const { secrets, headers: stored, filter, orderingOnDead, versions, tls, ...rest } = record;
  const { headers, sensitiveHeaders } = redactHeaders(stored, isSensitiveHeader);
  return {
    ...rest,
    ...readSigning(activeSecrets(record, now), record.id),
    tls: tls == null ? null : shownTls(tls),
    headers,
    filter: filter === null ? null : shownFilter(filter),
    ordering: { onDead: orderingOnDead },
    versions: versions === null ? null : versionPinsOf(versions),
    sensitiveHeaders,
    secretsCreatedAt: secretsCreatedAt(secrets, now),
  };
}

/**
 * A stored filter as the API shows it: the object. One changed outside the API that is no
 * valid filter any more is shown as it is stored (its JSON, or its text), so that reading
 * the subscription, its log, and setting it again still work; publishing refuses it.
 */
function shownFilter(stored: string): PayloadFilter {
  try {
    return payloadFilterOf(stored);
  } catch {
    try {
      return JSON.parse(stored) as PayloadFilter;
    } catch {
      return stored as unknown as PayloadFilter;
    }
  }
}

/**
 * A change record as the API shows it: the payload filter's and the version pins' before and
 * after as the objects they are (`subscription.filter`'s and `.versions`' form), not the text
 * the storage keeps and logs.
 */
function shownChange(change: SubscriptionChangeRecord): SubscriptionChangeRecord {
  const { filter, versions } = change.changes;
  if (filter === undefined && versions === undefined) return change;
  const changes = { ...change.changes };
  if (filter !== undefined) {
    const shown = (logged: unknown) => (typeof logged === 'string' ? shownFilter(logged) : logged);
    changes.filter = { before: shown(filter.before), after: shown(filter.after) };
  }
  if (versions !== undefined) {
    const shown = (logged: unknown) => (typeof logged === 'string' ? versionPinsOf(logged) : logged);
    changes.versions = { before: shown(versions.before), after: shown(versions.after) };
  }
  return { ...change, changes };
}

/** What `sendTest` tells its caller of a test request: its record without the log's fields, and whether the log has it. */
function sendTestResultOf(attempt: TestAttemptRecord, recorded: boolean): SendTestResult {
  return { ok: attempt.ok, statusCode: attempt.statusCode, durationMs: attempt.durationMs, error: attempt.error, webhookId: attempt.id, recorded };
}

/** The secrets that sign at `now`, newest first. */
export function activeSecrets(record: SubscriptionRecord, now: number): SecretRecord[] {
  return record.secrets
    .filter((secret) => secret.expiresAt === null || secret.expiresAt > now)
    .sort((a, b) => b.createdAt - a.createdAt);
}

/**
 * The input of `create` or `update` read once: its own keys copied (each getter run once),
 * `headers` and `metadata` replaced by their JSON copies. What is checked next is what is
 * stored: a getter cannot answer one value to the checks and another to the storage.
 *
 * Refuses what zod's record cannot show: the raw `headers` or `metadata` as given must be
 * JSON as it is, with no `__proto__` key (the record drops it silently), and metadata has
 * no U+0000 or lone surrogate (PostgreSQL's jsonb cannot hold them) — checked here, above
 * every storage.
 * Anything but a plain object is given back as it is, for the schema to refuse.
 * @throws ValidationError `INPUT_INVALID` (also when reading the input threw: a getter, a Proxy trap).
 */
function readInputOnce(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  let copy: Record<string, unknown>;
  try {
    copy = { ...input };
  } catch (cause) {
    throw unreadableInput('INPUT_INVALID', cause);
  }
  for (const field of ['headers', 'metadata'] as const) {
    if (!Object.hasOwn(copy, field) || copy[field] === undefined) continue;
    let copied: ReturnType<typeof jsonCopy>;
    try {
      // Header names and values with U+0000 or past U+00FF are refused by the schema, whose
      // message never repeats a value (it may be a credential).
      copied = jsonCopy(copy[field], { forJsonb: field === 'metadata', key: field });
    } catch (cause) {
      throw new ValidationError('INPUT_INVALID', `Expected \`${field}\` to serialize to JSON, got an error (${cause instanceof Error ? cause.message : String(cause)})`, { field, cause });
    }
    if (!copied.ok) {
      const at = [field, ...copied.problem.path].join('.');
      throw new ValidationError('INPUT_INVALID', `Expected \`${at}\` to have a JSON form that reads back the same, got ${copied.problem.found}`, { field: at });
    }
    copy[field] = copied.value;
  }
  return copy;
}

/**
 * How far back from its start `enable({ replayMissed })`'s last replay looks: an event whose
 * publish began up to this long before the enable and committed while it ran (a host's
 * transaction) is queued by it; the events table lock waits for any still being written.
 * The event feed's `settleMs` default, for the same late commits.
 */
const lateCommitMs = 60_000;

/** Creates the registry over a storage adapter. */
export function createSubscriptionRegistry<TCatalog extends EventCatalog = EventCatalog>(deps: SubscriptionRegistryDeps): SubscriptionRegistry<TCatalog> {
  const { storage, catalog, clock, security, guard, codec } = deps;
  const sealing = { codec, isSensitive: deps.isSensitiveHeader };
  const toSubscription = (record: SubscriptionRecord, now: number): Subscription => toRedactedSubscription(record, deps.isSensitiveHeader, deps.readSigning, now);

  function checkUrl(url: string): string {
    // The URL parser would drop a tab or a newline anywhere and C0 controls and spaces around
    // it, and percent-encode the others: the subscription would post somewhere else than it says.
    const control = /[\u0000-\u001f\u007f]/.exec(url);
    if (control !== null) {
      throw new ValidationError(
        'INPUT_INVALID',
        `Expected \`url\` without control characters (U+0000 to U+001F, U+007F), got ${describeValue(url)}, with U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at index ${control.index}`,
        { field: 'url' },
      );
    }
    // The URL parser writes a lone surrogate as U+FFFD (%EF%BF%BD): the stored URL would not be the one given.
    const surrogate = loneSurrogate.exec(url);
    if (surrogate !== null) {
      throw new ValidationError('INPUT_INVALID', `Expected \`url\` to be well-formed Unicode, got ${describeValue(url)}, with a lone surrogate at index ${surrogate.index}`, { field: 'url' });
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ValidationError('SUBSCRIPTION_URL_INVALID', `Expected \`url\` to be an absolute http(s) URL, got ${describeValue(url)}`, {
        field: 'url',
      });
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new ValidationError('SUBSCRIPTION_URL_INVALID', `Expected \`url\` to use http: or https:, got ${parsed.protocol}`, {
        field: 'url',
      });
    }
    if (security.requireHttps && parsed.protocol !== 'https:') {
      throw new ValidationError('SUBSCRIPTION_URL_INVALID', 'Expected `url` to use https: (security.requireHttps is on), got http:', {
        field: 'url',
      });
    }
    if (parsed.username !== '' || parsed.password !== '') {
      // Credentials in a URL end up in logs and attempt records; use `headers` instead.
      throw new ValidationError('SUBSCRIPTION_URL_INVALID', 'Expected `url` without credentials: put them in `headers`', {
        field: 'url',
      });
    }
    if (parsed.hash !== '') {
      throw new ValidationError('SUBSCRIPTION_URL_INVALID', 'Expected `url` without a #fragment', { field: 'url' });
    }
    const refused = checkUrlHost(parsed, guard);
    if (refused !== null) {
      throw new ValidationError(
        'SUBSCRIPTION_URL_FORBIDDEN',
        `Expected \`url\` to point outside private networks (SSRF guard): ${refused}; to allow this host only, add ${JSON.stringify(
          ipLiteralOf(parsed.hostname) ?? parsed.hostname,
        )} to security.allowedHosts (or set security.allowPrivateNetworks to allow every private address)`,
        { field: 'url' },
      );
    }
    return parsed.href;
  }

  function checkFilters(filters: string[]): string[] {
    if (filters.length === 0) {
      throw new ValidationError('SUBSCRIPTION_FILTER_INVALID', 'Expected `eventTypes` to name at least one event type, prefix.* or *, got none', {
        field: 'eventTypes',
      });
    }
    const unique = [...new Set(filters)];
    for (const filter of unique) {
      const kind = eventTypeFilterKind(filter);
      if (kind === 'invalid') {
        throw new ValidationError(
          'SUBSCRIPTION_FILTER_INVALID',
          `Expected each of \`eventTypes\` to be an event type, "prefix.*" or "*", got ${describeValue(filter)}`,
          { field: 'eventTypes' },
        );
      }
      if (kind !== 'all' && !catalog.types.some((type) => matchesEventType(filter, type))) {
        throw new ValidationError(
          'SUBSCRIPTION_FILTER_UNMATCHED',
          `Expected each of \`eventTypes\` to match an event type of the catalog, got ${describeValue(filter)} (known: ${catalog.types.join(', ')})`,
          { field: 'eventTypes' },
        );
      }
    }
    return unique;
  }

  // The longest `whsec_` string of at most SUBSCRIPTION_SECRET_BYTES.max bytes (base64 with padding).
  const longestSecret = SECRET_PREFIX.length + 4 * Math.ceil(SUBSCRIPTION_SECRET_BYTES.max / 3);

  /**
   * The secret a create or a rotation stores: the one given, checked, or a new one of
   * `signing`'s scheme; and the public key to return with a `v1a` one.
   */
  function newSecret(secret: string | undefined, signing: SigningScheme | undefined): { secret: string; publicKey?: string } {
    if (secret === undefined) {
      if (signing !== 'v1a') return { secret: generateSecret() };
      const pair = generateSigningKeyPair();
      return { secret: pair.secretKey, publicKey: pair.publicKey };
    }
    const scheme = typeof secret === 'string' && (secret.startsWith(SECRET_KEY_PREFIX) || secret.startsWith(PUBLIC_KEY_PREFIX)) ? 'v1a' : 'v1';
    if (signing !== undefined && signing !== scheme) {
      throw new ValidationError(
        'INPUT_INVALID',
        `Expected \`secret\` to be ${signing === 'v1a' ? 'a `whsk_…` secret key' : 'a `whsec_…` secret'} for \`signing: '${signing}'\`, got a ${scheme === 'v1a' ? '`whsk_…`/`whpk_…` key' : 'secret'} of the other scheme`,
        { field: 'secret' },
      );
    }
    if (scheme === 'v1') return { secret: checkSecret(secret) };
    let publicKey: Uint8Array;
    try {
      publicKey = ed25519PrivateKey(secret, 'secret').publicKey;
    } catch (error) {
      // The cause's message says what is wrong (a public key given, the length, halves that do not match).
      throw new ValidationError('INPUT_INVALID', `Expected \`secret\` to be a whole \`whsk_…\` secret key: ${(error as Error).message}`, {
        field: 'secret',
        cause: error,
      });
    }
    return { secret, publicKey: PUBLIC_KEY_PREFIX + encodeBase64(publicKey) };
  }

  function checkSecret(secret: string): string {
    const tooLong = (): never => {
      throw new ValidationError(
        'INPUT_INVALID',
        `Expected \`secret\` to be \`whsec_\` + base64 of ${SUBSCRIPTION_SECRET_BYTES.min} to ${SUBSCRIPTION_SECRET_BYTES.max} bytes, got a string of ${secret.length} characters`,
        { field: 'secret' },
      );
    };
    // Measured before decoding: a 10 MB string is refused by its length, not decoded first.
    if (secret.length > longestSecret) tooLong();
    let bytes: Uint8Array;
    try {
      bytes = decodeSecret(secret);
    } catch (error) {
      throw new ValidationError('INPUT_INVALID', 'Expected `secret` to be a `whsec_` + base64 secret', { field: 'secret', cause: error });
    }
    if (!secret.startsWith(SECRET_PREFIX) || bytes.length < SUBSCRIPTION_SECRET_BYTES.min) {
      throw new ValidationError('INPUT_INVALID', 'Expected `secret` to be `whsec_` + base64 of at least 24 bytes', { field: 'secret' });
    }
    if (bytes.length > SUBSCRIPTION_SECRET_BYTES.max) tooLong();
    return secret;
  }

  /** Refuses a subscription header named as `http.tenantHeader`: the tenant's header is the library's to send. */
  /** The scheme of a stored secret; `v1` when it does not open (the rotation replaces it anyway). */
  function schemeOfStored(stored: SecretRecord, id: string): SigningScheme {
    return deps.readSigning([stored], id).signing ?? 'v1';
  }

  function checkTenantHeader(headers: Record<string, string> | undefined): void {
    const tenantHeader = deps.tenantHeader;
    if (headers === undefined || tenantHeader == null) return;
    const clash = Object.keys(headers).find((name) => name.toLowerCase() === tenantHeader);
    if (clash !== undefined) {
      throw new ValidationError(
        'INPUT_INVALID',
        `Expected \`headers\` without ${JSON.stringify(clash)}: it is http.tenantHeader, which carries the event's tenant and is set by the library`,
        { field: `headers.${clash}` },
      );
    }
  }

  /**
   * The secret writes under way, by subscription. A rotation reads the secrets, adds one and
   * writes the list whole: two at once in this process would each write the list without
   * the other's new secret, and one caller would hold a secret that never signs. So they run
   * one after the other (and a reseal's write of the same list with them). Instances on one
   * database do not share this: rotate a subscription from one place at a time.
   */
  const secretWrites = new Map<string, Promise<unknown>>();
  function oneSecretWriteAtATime<T>(id: string, write: () => Promise<T>): Promise<T> {
    const result = (secretWrites.get(id) ?? Promise.resolve()).then(write, write);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    secretWrites.set(id, settled);
    void settled.then(() => {
      if (secretWrites.get(id) === settled) secretWrites.delete(id);
    });
    return result;
  }

  async function requireRecord(id: string): Promise<SubscriptionRecord> {
    const record = await storage.getSubscription(id);
    if (record === null) throw new ValidationError('SUBSCRIPTION_NOT_FOUND', `No subscription with id ${describeValue(id)}`, { field: 'id' });
    return record;
  }

  function notFound(id: string): never {
    throw new ValidationError('SUBSCRIPTION_NOT_FOUND', `No subscription with id ${describeValue(id)}`, { field: 'id' });
  }

  /** Refuses a change of a deleted subscription (read before, or returned unchanged by the storage after a race). */
  function refuseDeleted(record: SubscriptionRecord, what: string): SubscriptionRecord {
    if (record.deletedAt !== null) {
      throw new ConflictError('SUBSCRIPTION_DELETED', `Expected a subscription that is not deleted to ${what}, got ${record.id}, deleted at ${new Date(record.deletedAt).toISOString()}`, {
        field: 'id',
      });
    }
    return record;
  }

  /** The change record a mutation writes with it. */
  function auditOf(action: SubscriptionChangeAction, options: { actor?: string | undefined; reason?: string | undefined }, now: number): ChangeAudit {
    return { id: createId('chg', now), action, actor: options.actor ?? null, reason: options.reason ?? null, isSensitiveHeader: deps.isSensitiveHeader };
  }

  /**
   * A subscription's `transform`: one of the instance's transforms, or `null`.
   * @throws ValidationError `TRANSFORM_UNKNOWN` naming the registered ones.
   */
  function checkTransform(transform: string | null): string | null {
    if (transform === null || deps.transformNames.includes(transform)) return transform;
    const known = deps.transformNames.length === 0 ? 'none are registered: createWebhooks({ transforms })' : `registered: ${deps.transformNames.join(', ')}`;
    throw new ValidationError('TRANSFORM_UNKNOWN', `Expected \`transform\` to name one of the instance's transforms (${known}), got ${describeValue(transform)}`, {
      field: 'transform',
    });
  }

  /** Announces the change the storage recorded under `audit` (none when the call changed nothing). */
  async function announce(audit: ChangeAudit): Promise<void> {
    const change = await storage.getSubscriptionChange(audit.id);
    if (change !== null) deps.announce(shownChange(change), false);
  }

  /**
   * A subscription's `tls` as stored, checked (registry/client-tls.ts) against the transport
   * and the URL it will be used with: a client certificate on an `http:` URL would be accepted
   * and never presented.
   * @throws ConfigError `TRANSPORT_UNSUPPORTED`; ValidationError (see storedTlsIdentity), `INPUT_INVALID`.
   */
  function checkTls(tls: unknown, subscriptionId: string, url: string, now: number): StoredTlsIdentity | null {
    if (tls === null) return null;
    if (!deps.tlsSupported) {
      throw new ConfigError('TRANSPORT_UNSUPPORTED', "Expected a transport that can honour `tls` (the default undici transport), got a custom `transport`: it would be ignored", {
        field: 'tls',
      });
    }
    const stored = storedTlsIdentity(tls, subscriptionId, codec, now);
    refuseTlsOverHttp(url);
    return stored;
  }

  function refuseTlsOverHttp(url: string): void {
    if (new URL(url).protocol !== 'https:') {
      throw new ValidationError('INPUT_INVALID', `Expected an https: \`url\` for a subscription with \`tls\`, got ${new URL(url).protocol}: a client certificate, a CA and a server name apply only over TLS`, {
        field: 'tls',
      });
    }
  }

  /**
   * `read()`, which reads a field the schema took as it came (`versions`, `tls`): what reading
   * it throws (a getter, a Proxy trap) becomes `INPUT_INVALID` on `field`; coded errors pass.
   */
  function readField<T>(field: string, read: () => T): T {
    try {
      return read();
    } catch (error) {
      throw isWebhookError(error) ? error : unreadableInput('INPUT_INVALID', error, field);
    }
  }

  function parseOptions<T extends z.ZodType>(schema: T, options: unknown): z.output<T> {
    return parseInput('INPUT_INVALID', schema, options);
  }

  return {
    async create(input, options = {}) {
      checkArgumentCount(arguments.length, 2, 'subscriptions.create(input, options?)', 'call');
      const change = parseOptions(changeSchema, options);
      const fields = parseInput('INPUT_INVALID', createSchema, readInputOnce(input));
      if (fields.headers !== undefined) refuseRepeatedHeaderNames(fields.headers);
      checkTenantHeader(fields.headers);
      const tenantId = fields.tenantId ?? null;
      const allTenants = fields.allTenants ?? false;
      if (allTenants && tenantId !== null) {
        throw new ValidationError(
          'INPUT_INVALID',
          `Expected \`allTenants\` only on a platform subscription (without \`tenantId\`), got tenantId ${describeValue(tenantId)}: a tenant's subscription receives its own tenant's events only`,
          { field: 'allTenants' },
        );
      }
      const url = checkUrl(fields.url);
      const eventTypes = checkFilters(fields.eventTypes);
      const { secret, publicKey } = newSecret(fields.secret, fields.signing);
      const now = clock.now();
      const id = createId('sub', now);
      // Checked before the record is built: a refused `tls` creates nothing.
      const record: SubscriptionRecord = {
        id,
        tenantId,
        allTenants,
        url,
        eventTypes,
        secrets: [{ value: codec.seal(secret, id), createdAt: now, expiresAt: null }],
        headers: headersToStore(fields.headers ?? {}, id, null, sealing),
        description: fields.description ?? null,
        metadata: fields.metadata === undefined ? {} : asStored(fields.metadata),
        status: 'active',
        disabledReason: null,
        disabledAt: null,
        retry: fields.retry ?? null,
        flowControl: fields.flowControl ?? null,
        filter: fields.filter == null ? null : parsePayloadFilter(fields.filter),
        transform: checkTransform(fields.transform ?? null),
        orderingOnDead: fields.ordering?.onDead ?? 'block',
        versions: fields.versions === undefined ? defaultVersionPins(catalog, eventTypes) : readField('versions', () => parseVersionPins(catalog, fields.versions)),
        tls: fields.tls === undefined ? null : readField('tls', () => checkTls(fields.tls, id, url, now)),
        failingSince: null,
        deletedAt: null,
        createdAt: now,
        updatedAt: now,
      };
      const maxPerTenant = deps.maxSubscriptionsPerTenant;
      const audit = auditOf('created', change, now);
      const stored = await storage.createSubscription(record, maxPerTenant === undefined ? {} : { maxPerTenant }, audit);
      await announce(audit);
      return { ...toSubscription(stored, now), secret, ...(publicKey === undefined ? {} : { publicKey }) };
    },

    async get(id) {
      checkArgumentCount(arguments.length, 1, 'subscriptions.get(id)', 'call');
      const record = await storage.getSubscription(requireId(id, 'id'));
      return record === null ? null : toSubscription(record, clock.now());
    },

    async list(query = {}) {
      checkArgumentCount(arguments.length, 1, 'subscriptions.list(query?)', 'call');
      const page = await storage.listSubscriptions(parseInput('INPUT_INVALID', listSchema, query));
      const now = clock.now();
      return { items: page.items.map((record) => toSubscription(record, now)), nextCursor: page.nextCursor };
    },

    async update(id, patch, options = {}) {
      checkArgumentCount(arguments.length, 3, 'subscriptions.update(id, patch, options?)', 'call');
      requireId(id, 'id');
      const { verifyUrl = deps.verifyUrlChanges, ...changeOptions } = parseOptions(updateOptionsSchema, options);
      const given = readInputOnce(patch);
      for (const field of tenantFields) {
        if (typeof given === 'object' && given !== null && field in given) {
          throw new ValidationError(
            'INPUT_INVALID',
            `Expected no \`${field}\` in an update: a subscription's tenant is fixed at creation (create a new subscription for another tenant), got ${describeValue((given as Record<string, unknown>)[field])}`,
            { field },
          );
        }
      }
      const fields = parseInput('INPUT_INVALID', updateSchema, given);
      if (fields.headers !== undefined) refuseRepeatedHeaderNames(fields.headers);
      checkTenantHeader(fields.headers);
      const change: SubscriptionPatch = {};
      if (fields.url !== undefined) change.url = checkUrl(fields.url);
      if (fields.eventTypes !== undefined) change.eventTypes = checkFilters(fields.eventTypes);
      if (fields.headers !== undefined) {
        // The stored headers are read only when a redacted value is written back, to keep it.
        const stored = Object.values(fields.headers).includes(REDACTED_HEADER_VALUE) ? (await requireRecord(id)).headers : null;
        change.headers = headersToStore(fields.headers, id, stored, sealing);
      }
      if (fields.description !== undefined) change.description = fields.description;
      if (fields.metadata !== undefined) change.metadata = asStored(fields.metadata);
      if (fields.retry !== undefined) change.retry = fields.retry;
      if (fields.flowControl !== undefined) change.flowControl = fields.flowControl;
      if (fields.filter !== undefined) change.filter = fields.filter === null ? null : parsePayloadFilter(fields.filter);
      if (fields.transform !== undefined) change.transform = checkTransform(fields.transform);
      if (fields.ordering !== undefined) change.orderingOnDead = fields.ordering.onDead;
      if (fields.versions !== undefined) change.versions = readField('versions', () => parseVersionPins(catalog, fields.versions));
      else if (change.eventTypes !== undefined && hasEventVersions(catalog)) {
        // New event types pin the versioned types they add at their newest, as create does.
        const current = await requireRecord(id);
        const versions = defaultVersionPins(catalog, change.eventTypes, current.versions);
        if (versions !== current.versions) change.versions = versions;
      }
      let before: SubscriptionRecord | null = null;
      if (fields.tls !== undefined || (change.url !== undefined && deps.tlsSupported)) {
        before = await requireRecord(id);
        if (fields.tls !== undefined) change.tls = readField('tls', () => checkTls(fields.tls, id, change.url ?? before!.url, clock.now()));
        else if (before.tls !== null && change.url !== undefined) refuseTlsOverHttp(change.url);
      }
      if (verifyUrl && change.url !== undefined) {
        const current = refuseDeleted(await requireRecord(id), 'change its URL');
        if (current.url !== change.url) {
          await deps.verifyEndpoint(change.url, { ...current, headers: change.headers ?? current.headers, tls: change.tls === undefined ? current.tls : change.tls }, changeOptions.actor ?? null);
        }
      }
      const now = clock.now();
      const audit = auditOf('updated', changeOptions, now);
      const updated = await storage.updateSubscription(id, change, now, audit);
      if (updated === null) notFound(id);
      refuseDeleted(updated, 'update it');
      if (change.tls !== undefined && before?.tls != null) deps.onTlsRetired?.(before.tls);
      await announce(audit);
      return toSubscription(updated, now);
    },

    async delete(id, options = {}) {
      checkArgumentCount(arguments.length, 2, 'subscriptions.delete(id, options?)', 'call');
      requireId(id, 'id');
      const { hard = false, ...changeOptions } = parseOptions(deleteSchema, options);
      const now = clock.now();
      const audit = auditOf('deleted', changeOptions, now);
      if (!hard) {
        const deleted = await storage.softDeleteSubscription(id, now, audit);
        if (deleted === null) notFound(id);
        if (deleted.subscription.tls !== null) deps.onTlsRetired?.(deleted.subscription.tls);
        await announce(audit);
        return;
      }
      const record = await storage.getSubscription(id);
      if (record === null || !(await storage.deleteSubscription(id))) notFound(id);
      if (record.tls !== null) deps.onTlsRetired?.(record.tls);
      // Its change log goes with it: the announcement is the last word of it (for the host's own audit trail).
      deps.announce(
        // Sequence 0: this record is in no log (the log went with the subscription).
        { id: audit.id, subscriptionId: id, sequence: 0, tenantId: record.tenantId, action: 'deleted', origin: 'api', actor: audit.actor, reason: audit.reason, changes: {}, at: now },
        true,
      );
    },

    async disable(id, options = {}) {
      checkArgumentCount(arguments.length, 2, 'subscriptions.disable(id, options?)', 'call');
      requireId(id, 'id');
      const parsed = parseOptions(disableSchema, options);
      const now = clock.now();
      const reason = parsed.reason ?? 'disabled by the operator';
      const audit = auditOf('disabled', { actor: parsed.actor, reason }, now);
      const updated = await storage.setSubscriptionStatus(id, { status: 'disabled', reason }, now, audit);
      if (updated === null) notFound(id);
      refuseDeleted(updated, 'disable it');
      await announce(audit);
      return toSubscription(updated, now);
    },

    async enable(id, options = {}) {
      checkArgumentCount(arguments.length, 2, 'subscriptions.enable(id, options?)', 'call');
      requireId(id, 'id');
      const parsed = parseOptions(enableSchema, options);
      const before = refuseDeleted(await requireRecord(id), 'enable it');
      const now = clock.now();
      const { held } = before.status === 'disabled' ? await storage.stats(now, { subscriptionId: id }) : { held: 0 };
      const since = parsed.replayMissed && before.status === 'disabled' ? before.disabledAt : null;
      const replayMissed = (from: number, at: number, activate?: ChangeAudit) =>
        storage.replay({
          subscriptionId: id,
          since: from,
          eventTypes: matchingEventTypes(catalog.types, before.eventTypes),
          matchesFilter: (filter, event) => deps.replayFilter(filter, event, id),
          render: deps.replayRender,
          now: at,
          ...(activate === undefined ? {} : { activate }),
        });
      const audit = auditOf('enabled', parsed, now);
      let replayed = 0;
      let updated: SubscriptionRecord | null | undefined;
      if (since === null) {
        updated = await storage.setSubscriptionStatus(id, { status: 'active', reason: null }, now, audit);
      } else {
        // All or nothing, in two replays. The first queues the missed events while the
        // subscription is still disabled (what it queues is held), outside any lock: a long
        // outage's replay holds up no publish. The second enables the subscription in its own
        // transaction after queuing what was published since the first began (or was still
        // being written then: a publish straddling the enable is waited for, on PostgreSQL by
        // locking the events table), so no publish falls between the replay and the enable,
        // and a key's missed events are numbered before the first event published after it.
        // What either throws (a transform, a downgrade, a stored filter, the storage) leaves it
        // disabled with nothing logged or announced: the same call can be made again (what the
        // first replay queued waits held, and is skipped by the next replay).
        ({ count: replayed } = await replayMissed(since, now));
        const last = await replayMissed(Math.max(since, now - lateCommitMs), clock.now(), audit);
        replayed += last.count;
        updated = last.subscription;
      }
      if (updated === null || updated === undefined) notFound(id);
      refuseDeleted(updated, 'enable it');
      try {
        await announce(audit);
      } finally {
        // Enabled: what it holds and what was queued is due, even if what follows the enable failed.
        deps.onChange();
      }
      return { ...toSubscription(updated, now), resumed: held, replayed };
    },

    async previewEnable(id) {
      checkArgumentCount(arguments.length, 1, 'subscriptions.previewEnable(id)', 'call');
      const record = await requireRecord(requireId(id, 'id'));
      if (record.status !== 'disabled') return { held: 0, missed: 0 };
      const now = clock.now();
      const { held } = await storage.stats(now, { subscriptionId: id });
      const missed =
        record.disabledAt === null
          ? 0
          : (
              await storage.replay({
                subscriptionId: id,
                since: record.disabledAt,
                eventTypes: matchingEventTypes(catalog.types, record.eventTypes),
                matchesFilter: (filter, event) => deps.replayFilter(filter, event, record.id),
                render: deps.replayRender,
                now,
                dryRun: true,
              })
            ).count;
      return { held, missed };
    },

    async rotateSecret(id, options = {}) {
      checkArgumentCount(arguments.length, 2, 'subscriptions.rotateSecret(id, options?)', 'call');
      requireId(id, 'id');
      const parsed = parseOptions(rotateSchema, options);
      return oneSecretWriteAtATime(id, async () => {
        const record = refuseDeleted(await requireRecord(id), 'rotate its secret');
        const now = clock.now();
        const current = activeSecrets(record, now)[0];
        // The scheme stays the subscription's unless the caller names one (or gives a secret of one).
        const signing = parsed.signing ?? (parsed.secret === undefined && current !== undefined ? schemeOfStored(current, id) : undefined);
        const { secret, publicKey } = newSecret(parsed.secret, signing);
        const overlapEnds = now + parsed.overlapMs;
        // Old secrets keep signing until the overlap ends (never beyond an earlier expiry they had).
        const previous = activeSecrets(record, now).map((old) => ({
          ...old,
          expiresAt: old.expiresAt === null ? overlapEnds : Math.min(old.expiresAt, overlapEnds),
        }));
        const secrets: SecretRecord[] = [
          { value: codec.seal(secret, id), createdAt: now, expiresAt: null },
          ...previous.filter((old) => old.expiresAt > now),
        ];
        if (secrets.length > MAX_ACTIVE_SECRETS) {
          // Enough of the earlier ones must end for this one to fit: the time the last of those does.
          const ends = secrets
            .slice(1)
            .map((old) => old.expiresAt!)
            .sort((a, b) => a - b);
          const fitsAt = ends[secrets.length - MAX_ACTIVE_SECRETS - 1]!;
          throw new ValidationError(
            'INPUT_INVALID',
            `Expected a rotation to leave at most ${MAX_ACTIVE_SECRETS} secrets signing at once, got ${secrets.length}: ${secrets.length - 1} earlier secrets are still in their overlap (a receiver checks at most ${MAX_ACTIVE_SECRETS} signatures of a request). Rotate from ${new Date(fitsAt).toISOString()}, when enough of them have ended, or with \`overlapMs: 0\`, which ends them now`,
            { field: 'overlapMs' },
          );
        }
        const audit = auditOf('secret_rotated', parsed, now);
        const updated = await storage.updateSubscription(id, { secrets }, now, audit);
        if (updated === null) notFound(id);
        refuseDeleted(updated, 'rotate its secret');
        await announce(audit);
        return { ...toSubscription(updated, now), secret, ...(publicKey === undefined ? {} : { publicKey }) };
      });
    },

    async getSecrets(id) {
      checkArgumentCount(arguments.length, 1, 'subscriptions.getSecrets(id)', 'call');
      const record = await requireRecord(requireId(id, 'id'));
      const [newest, ...previous] = activeSecrets(record, clock.now());
      if (!newest) throw new ConfigError('SECRET_INVALID', `Subscription ${id} has no active secret`);
      return {
        secret: codec.open(newest.value, record.id),
        createdAt: newest.createdAt,
        previous: previous.map((old) => ({ secret: codec.open(old.value, record.id), createdAt: old.createdAt, expiresAt: old.expiresAt })),
      };
    },

    async getHeaders(id) {
      checkArgumentCount(arguments.length, 1, 'subscriptions.getHeaders(id)', 'call');
      const record = await requireRecord(requireId(id, 'id'));
      return openHeaders(record.headers, record.id, codec);
    },

    async history(id, query = {}) {
      checkArgumentCount(arguments.length, 2, 'subscriptions.history(id, query?)', 'call');
      requireId(id, 'id');
      const parsed = parseOptions(historySchema, query);
      await requireRecord(id);
      const page = await storage.listSubscriptionChanges({ subscriptionId: id, ...parsed });
      return { items: page.items.map(shownChange), nextCursor: page.nextCursor };
    },

    async sendTest(id, options = {}) {
      checkArgumentCount(arguments.length, 2, 'subscriptions.sendTest(id, options?)', 'call');
      requireId(id, 'id');
      const { actor = null, type } = parseOptions(sendTestSchema, options);
      let example: TestEventExample | undefined;
      if (type !== undefined) {
        if (!catalog.has(type)) throw new ValidationError('EVENT_TYPE_UNKNOWN', `Expected \`type\` to be an event type of the catalog, got ${describeValue(type)}`, { field: 'type' });
        if (!Object.hasOwn(catalog.examples, type)) {
          throw new ValidationError('INPUT_INVALID', `Expected \`type\` to be an event type with an example in the catalog (defineEvents({ [type]: { schema, example } })), got ${describeValue(type)}, which has none`, { field: 'type' });
        }
        example = { type, data: (catalog.examples as Record<string, unknown>)[type] };
      }
      const record = refuseDeleted(await requireRecord(id), 'send it a test request');
      // A typed test looks like a real delivery: in the version the subscription is pinned to, through its transform, if any.
      const typeVersions = type === undefined ? undefined : eventTypeVersions(catalog, type);
      if (example !== undefined && (record.transform !== null || typeVersions !== undefined)) {
        const version = typeVersions?.newest;
        example.render = (event) => deps.testData(record, { ...event, ...(version === undefined ? {} : { version }), orderingKey: null, metadata: null, tenantId: record.tenantId });
      }
      const attempt = await deps.sendTestRequest(record, { actor, example });
      const result = sendTestResultOf(attempt, await deps.recordTestAttempt(attempt));
      deps.announceTest({ subscriptionId: record.id, tenantId: record.tenantId, actor, at: attempt.startedAt, ...result });
      return result;
    },

    async testAttempts(id, query = {}) {
      checkArgumentCount(arguments.length, 2, 'subscriptions.testAttempts(id, query?)', 'call');
      requireId(id, 'id');
      const parsed = parseOptions(testAttemptsSchema, query);
      await requireRecord(id);
      return storage.listTestAttempts({ subscriptionId: id, ...parsed });
    },

    async resealSecrets(options = {}) {
      checkArgumentCount(arguments.length, 1, 'subscriptions.resealSecrets(options?)', 'call');
      const { actor } = parseOptions(resealSchema, options);
      let resealed = 0;
      let cursor: string | undefined;
      do {
        // Deleted subscriptions are left out: they never sign again, and a deleted one cannot be
        // changed (a hard delete removes what they keep at rest).
        const page = await storage.listSubscriptions({ limit: 500, ...(cursor === undefined ? {} : { cursor }) });
        for (const listed of page.items) {
          // Read again under the secret lock: a rotation since the page was read must not be written over.
          const done = await oneSecretWriteAtATime(listed.id, async () => {
            const record = await storage.getSubscription(listed.id);
            if (record === null || record.deletedAt !== null) return false;
            const change: SubscriptionPatch = {};
            if (record.secrets.some((secret) => codec.needsReseal(secret.value))) {
              change.secrets = record.secrets.map((secret) => ({ ...secret, value: codec.seal(codec.open(secret.value, record.id), record.id) }));
            }
            const headers = resealHeaders(record.headers, record.id, sealing);
            if (headers !== null) change.headers = headers;
            const tls = resealedTls(record.tls, record.id, codec);
            if (tls !== null) change.tls = tls;
            if (change.secrets === undefined && change.headers === undefined && change.tls === undefined) return false;
            const now = clock.now();
            const audit = auditOf('secrets_resealed', { actor }, now);
            const updated = await storage.updateSubscription(record.id, change, now, audit);
            // A deleted subscription is returned unchanged: nothing was rewritten.
            if (updated === null || updated.deletedAt !== null) return false;
            await announce(audit);
            return true;
          });
          if (done) resealed += 1;
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      return { resealed };
    },
  };
}
