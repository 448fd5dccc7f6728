/**
 * Per-endpoint payload shapes: the host registers named transforms in code
 * (`createWebhooks({ transforms })`) and a subscription names one (`transform: 'thin'`) —
 * never code stored in the database. A transform runs once at fan-out (and when a replay
 * creates a delivery), and what it returns becomes the `data` of that delivery's envelope:
 * the envelope's `id`, `type`, `timestamp`, `environment`, `orderingKey` and `metadata` stay the event's,
 * so receivers verify and deduplicate as always. The envelope is stored with the delivery,
 * so every retry sends the same bytes and the log shows what the endpoint got.
 *
 * A transform that throws, returns a promise, or returns what has no faithful JSON form
 * refuses the whole publish (`TRANSFORM_FAILED`), for every endpoint, storing nothing: a
 * transform is the host's code, and a bug in it must show at the publish that met it, not
 * as one endpoint quietly missing events. The storage asks through `EnqueueInput.render`
 * and `ReplayInput.render` and never runs code itself.
 *
 * Version pins render on the same path (routing/event-versions.ts): for an event of a
 * versioned type, a subscription pinned to an older version than the event's gets the data
 * downgraded to it, and the envelope's `version` says which; its transform, if it has one,
 * then runs on the downgraded event. A subscription that gets the event as it is (no
 * transform, its version the event's) renders nothing: `null`, the delivery sends the
 * event's own payload.
 */
import { ConfigError, ValidationError, describeValue } from '../errors.js';
import { envelopeEnvironmentJson, envelopeJson, envelopeTypeJson } from '../envelope-json.js';
import { jsonValueProblem } from '../json-value-problem.js';
import type { EventCatalog } from '../events/catalog.js';
import type { PayloadCodec } from '../payload-codec.js';
import type { Subscription } from '../registry/subscription-registry.js';
import type { EventRecord, SubscriptionRecord } from '../storage/storage-adapter.js';
import { downgradeData, versionRoute } from './event-versions.js';
import { openStoredEnvelope } from './stored-envelope.js';

/** The event a transform is given: the envelope as published, and the event's tenant. */
export interface TransformEvent {
  id: string;
  type: string;
  /**
   * For a type with versions, the version `data` is in: the one the subscription is pinned
   * to (the event's own when unpinned). Absent for a type without versions.
   */
  version?: number;
  /** The envelope's ISO 8601 timestamp. */
  timestamp: string;
  /** The event's ordering key (`publish(…, { orderingKey })`); `null`: none. */
  orderingKey: string | null;
  /** A copy of the event's metadata (`publish(…, { metadata })`); `null`: none. */
  metadata: Readonly<Record<string, string>> | null;
  /** The tenant it was published for; `null`: none. */
  tenantId: string | null;
  /** A copy of the published `data`: the transform may change it, nobody else sees that. */
  data: unknown;
}

/**
 * A payload transform: returns the `data` an endpoint gets instead of the event's. Runs
 * synchronously inside the publish (and its transaction), once per subscription that names
 * it; keep it pure — the same event must give the same output.
 */
export type PayloadTransform = (event: TransformEvent, subscription: Subscription) => unknown;

/** `createWebhooks({ transforms })`: transforms by name. */
export type PayloadTransforms = Readonly<Record<string, PayloadTransform>>;

/** What renders a delivery's payload for a subscription's version pins and transform. */
export interface TransformRenderer {
  /** The registered names, for messages and forms. */
  readonly names: readonly string[];
  has(name: string): boolean;
  /**
   * The sealed envelope (`security.payloadKey`) of `event` for `subscription`: its data in the
   * version the subscription is pinned to, then as its transform makes it; `null` when that is
   * the event's own envelope (no transform, the event's version). `event.version` is the
   * version of `event.data` (absent for a type without versions).
   * @throws ConfigError `TRANSFORM_MISSING` when the subscription names a transform this instance lacks.
   * @throws ValidationError `TRANSFORM_FAILED` when the transform throws or returns no JSON form,
   *   `EVENT_DOWNGRADE_FAILED` when a downgrade does, `EVENT_VERSION_UNKNOWN` for a pin the
   *   catalog lacks, `PAYLOAD_TOO_LARGE` when the envelope it makes is over `maxPayloadBytes`.
   */
  render(subscription: SubscriptionRecord, event: TransformEvent): string | null;
  /**
   * The same for a stored event (a replay), its envelope opened with the payload key.
   * @throws ConfigError `PAYLOAD_KEY_INVALID` for a payload sealed with a key this instance lacks.
   */
  renderStored(subscription: SubscriptionRecord, event: EventRecord): string | null;
  /** The envelope {@link renderStored} seals, as the endpoint gets it (the event feed's body); `null`: the event's own. */
  storedEnvelope(subscription: SubscriptionRecord, event: EventRecord): string | null;
  /**
   * The version and `data` the subscription gets of `event` (`event.data` in the newest
   * version of its type), checked as {@link render} checks them: a test request's.
   */
  testData(subscription: SubscriptionRecord, event: TransformEvent): { version: number | undefined; data: unknown };
}

export interface TransformRendererDeps {
  /** The catalog: the versions of its types. */
  catalog: EventCatalog;
  transforms: PayloadTransforms;
  environment: string | null;
  maxPayloadBytes: number;
  payloadCodec: PayloadCodec;
  /** The subscription as the API shows it (redacted headers), for the transform's second argument. */
  toSubscription: (record: SubscriptionRecord) => Subscription;
}

function failed(subscription: SubscriptionRecord, name: string, what: string, cause?: unknown): never {
  throw new ValidationError('TRANSFORM_FAILED', `Expected the transform "${name}" of subscription ${subscription.id} to return data with a JSON form, got ${what}; nothing was stored`, {
    field: 'transform',
    ...(cause === undefined ? {} : { cause }),
  });
}

export function createTransformRenderer(deps: TransformRendererDeps): TransformRenderer {
  const { transforms, environment, maxPayloadBytes, payloadCodec } = deps;
  const names = Object.freeze(Object.keys(transforms));
  const environmentJson = envelopeEnvironmentJson(environment);

  /** What the transform makes of `event`, refused unless it has a faithful JSON form. */
  function transformed(subscription: SubscriptionRecord, event: TransformEvent): unknown {
    const name = subscription.transform!;
    const transform = Object.hasOwn(transforms, name) ? transforms[name] : undefined;
    if (transform === undefined) {
      throw new ConfigError(
        'TRANSFORM_MISSING',
        `Subscription ${subscription.id} names the transform ${describeValue(name)}, which this instance does not have (registered: ${names.length === 0 ? 'none' : names.join(', ')}): register it with createWebhooks({ transforms }) on every instance, or update the subscription; nothing was stored`,
        { field: 'transform' },
      );
    }
    let data: unknown;
    try {
      // Copies of what a transform could change: the metadata, read again by the filters and
      // envelopes of the publish's other subscriptions, and the data.
      const metadata = event.metadata === null ? null : { ...event.metadata };
      data = transform({ ...event, metadata, data: structuredClone(event.data) }, deps.toSubscription(subscription));
    } catch (cause) {
      failed(subscription, name, `an error (${cause instanceof Error ? cause.message : String(cause)})`, cause);
    }
    if (typeof (data as { then?: unknown } | null)?.then === 'function') failed(subscription, name, 'a promise (a transform runs inside the publish: it must be synchronous)');
    if (data === undefined) failed(subscription, name, 'undefined');
    let problem: ReturnType<typeof jsonValueProblem>;
    try {
      problem = jsonValueProblem(data, { key: 'data' });
    } catch (cause) {
      // A getter or toJSON in what it returned threw, or it nests deeper than the stack
      // (a RangeError): as the publish's own data is (publish.ts), refused with the code.
      failed(subscription, name, `data whose JSON form could not be read (${cause instanceof Error ? cause.message : String(cause)})`, cause);
    }
    if (problem !== null) failed(subscription, name, `${problem.found} at \`${['data', ...problem.path].join('.')}\``);
    return data;
  }

  /** The version and data `subscription` gets of `event`: downgraded to its pin, then transformed. */
  function rendered(subscription: SubscriptionRecord, event: TransformEvent): { version: number | undefined; data: unknown } {
    const route = versionRoute(deps.catalog, event.type, event.version, subscription);
    const version = route?.to;
    const data = route === null ? event.data : downgradeData(route, event.type, event.data, subscription.id);
    if (subscription.transform === null) return { version, data };
    const { version: _eventVersion, ...rest } = event;
    return { version, data: transformed(subscription, { ...rest, ...(version === undefined ? {} : { version }), data }) };
  }

  /** The envelope, unsealed; `null` when it is the event's own. */
  function envelope(subscription: SubscriptionRecord, event: TransformEvent): string | null {
    if (subscription.transform === null) {
      const route = versionRoute(deps.catalog, event.type, event.version, subscription);
      // The event's own envelope: a type without versions, or its version and it says so.
      if (route === null || (route.to === route.from && event.version !== undefined)) return null;
    }
    const { version, data } = rendered(subscription, event);
    const what = subscription.transform === null ? `version ${version}` : `the transform "${subscription.transform}"`;
    let payload: string;
    try {
      payload = envelopeJson(event.id, event.type, envelopeTypeJson(event.type, version ?? null), event.timestamp, environment, environmentJson, event.orderingKey, event.metadata, data, version ?? null);
    } catch (cause) {
      const refused = `data JSON.stringify refused (${cause instanceof Error ? cause.message : String(cause)})`;
      if (subscription.transform !== null) failed(subscription, subscription.transform, refused, cause);
      // A `toJSON` that threw this time, or nesting past the stack: refused with the code, as a failing downgrade is.
      throw new ValidationError(
        'EVENT_DOWNGRADE_FAILED',
        `Expected the data of ${JSON.stringify(event.type)} in version ${version} for subscription ${subscription.id} to have a JSON form, got ${refused}; nothing was stored`,
        { field: `versions.${event.type}`, cause },
      );
    }
    const bytes = Buffer.byteLength(payload);
    if (bytes > maxPayloadBytes) {
      throw new ValidationError(
        'PAYLOAD_TOO_LARGE',
        `Expected the envelope ${what} makes for subscription ${subscription.id} to be at most ${maxPayloadBytes} bytes, got ${bytes}; nothing was stored`,
        { field: subscription.transform === null ? `versions.${event.type}` : 'transform' },
      );
    }
    return payload;
  }

  function storedEnvelope(subscription: SubscriptionRecord, event: EventRecord): string | null {
    const stored = openStoredEnvelope(payloadCodec, event);
    return envelope(subscription, {
      id: event.id,
      type: stored.type,
      ...(typeof stored.version === 'number' ? { version: stored.version } : {}),
      timestamp: stored.timestamp,
      orderingKey: stored.orderingKey ?? null,
      metadata: stored.metadata ?? null,
      tenantId: event.tenantId,
      data: stored.data,
    });
  }

  const seal = (payload: string | null, eventId: string) => (payload === null ? null : payloadCodec.seal(payload, eventId));

  return {
    names,
    has: (name) => Object.hasOwn(transforms, name),
    render: (subscription, event) => seal(envelope(subscription, event), event.id),
    renderStored: (subscription, event) => seal(storedEnvelope(subscription, event), event.id),
    storedEnvelope,
    testData: rendered,
  };
}
