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
 */
import { ConfigError, ValidationError, describeValue } from '../errors.js';
import { envelopeEnvironmentJson, envelopeJson, envelopeTypeJson } from '../envelope-json.js';
import { jsonValueProblem } from '../json-value-problem.js';
import type { PayloadCodec } from '../payload-codec.js';
import type { Subscription } from '../registry/subscription-registry.js';
import type { EventRecord, SubscriptionRecord } from '../storage/storage-adapter.js';
import { openStoredEnvelope } from './stored-envelope.js';

/** The event a transform is given: the envelope as published, and the event's tenant. */
export interface TransformEvent {
  id: string;
  type: string;
  /** The envelope's ISO 8601 timestamp. */
  timestamp: string;
  /** The event's ordering key (`publish(…, { orderingKey })`); `null`: none. */
  orderingKey: string | null;
  /** The event's metadata (`publish(…, { metadata })`); `null`: none. */
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

/** What renders a delivery's payload with a subscription's transform. */
export interface TransformRenderer {
  /** The registered names, for messages and forms. */
  readonly names: readonly string[];
  has(name: string): boolean;
  /**
   * The sealed envelope (`security.payloadKey`) of `event` for `subscription`, its `data` the
   * transform's output.
   * @throws ConfigError `TRANSFORM_MISSING` when the subscription names a transform this instance lacks.
   * @throws ValidationError `TRANSFORM_FAILED` when the transform throws or returns no JSON form,
   *   `PAYLOAD_TOO_LARGE` when the envelope it makes is over `maxPayloadBytes`.
   */
  render(subscription: SubscriptionRecord, event: TransformEvent): string;
  /**
   * The same for a stored event (a replay), its envelope opened with the payload key.
   * @throws ConfigError `PAYLOAD_KEY_INVALID` for a payload sealed with a key this instance lacks.
   */
  renderStored(subscription: SubscriptionRecord, event: EventRecord): string;
  /** The envelope {@link renderStored} seals, as the endpoint gets it: the event feed's body. */
  storedEnvelope(subscription: SubscriptionRecord, event: EventRecord): string;
  /** The `data` the subscription's transform makes of `event`, checked as {@link render} checks it (a test request's). */
  data(subscription: SubscriptionRecord, event: TransformEvent): unknown;
}

export interface TransformRendererDeps {
  transforms: PayloadTransforms;
  environment: string | null;
  maxPayloadBytes: number;
  payloadCodec: PayloadCodec;
  /** The subscription as the API shows it (redacted headers), for the transform's second argument. */
  toSubscription: (record: SubscriptionRecord) => Subscription;
}

function failed(subscription: SubscriptionRecord, name: string, what: string, cause?: unknown): never {
  throw new ValidationError('TRANSFORM_FAILED', `Expected the transform "${name}" of subscription ${subscription.id} to return data with a JSON form, got ${what}; nothing was published`, {
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
        `Subscription ${subscription.id} names the transform ${describeValue(name)}, which this instance does not have (registered: ${names.length === 0 ? 'none' : names.join(', ')}): register it with createWebhooks({ transforms }) on every instance, or update the subscription; nothing was published`,
        { field: 'transform' },
      );
    }
    let data: unknown;
    try {
      data = transform({ ...event, data: structuredClone(event.data) }, deps.toSubscription(subscription));
    } catch (cause) {
      failed(subscription, name, `an error (${cause instanceof Error ? cause.message : String(cause)})`, cause);
    }
    if (typeof (data as { then?: unknown } | null)?.then === 'function') failed(subscription, name, 'a promise (a transform runs inside the publish: it must be synchronous)');
    if (data === undefined) failed(subscription, name, 'undefined');
    const problem = jsonValueProblem(data, { key: 'data' });
    if (problem !== null) failed(subscription, name, `${problem.found} at \`${['data', ...problem.path].join('.')}\``);
    return data;
  }

  /** The envelope, unsealed. */
  function envelope(subscription: SubscriptionRecord, event: TransformEvent): string {
    const name = subscription.transform!;
    const data = transformed(subscription, event);
    let payload: string;
    try {
      payload = envelopeJson(event.id, event.type, envelopeTypeJson(event.type), event.timestamp, environment, environmentJson, event.orderingKey, event.metadata, data);
    } catch (cause) {
      failed(subscription, name, `data JSON.stringify refused (${cause instanceof Error ? cause.message : String(cause)})`, cause);
    }
    const bytes = Buffer.byteLength(payload);
    if (bytes > maxPayloadBytes) {
      throw new ValidationError(
        'PAYLOAD_TOO_LARGE',
        `Expected the envelope the transform "${name}" makes for subscription ${subscription.id} to be at most ${maxPayloadBytes} bytes, got ${bytes}; nothing was published`,
        { field: 'transform' },
      );
    }
    return payload;
  }

  function storedEnvelope(subscription: SubscriptionRecord, event: EventRecord): string {
    const stored = openStoredEnvelope(payloadCodec, event);
    return envelope(subscription, {
      id: event.id,
      type: stored.type,
      timestamp: stored.timestamp,
      orderingKey: stored.orderingKey ?? null,
      metadata: stored.metadata ?? null,
      tenantId: event.tenantId,
      data: stored.data,
    });
  }

  return {
    names,
    has: (name) => Object.hasOwn(transforms, name),
    render: (subscription, event) => payloadCodec.seal(envelope(subscription, event), event.id),
    renderStored: (subscription, event) => payloadCodec.seal(storedEnvelope(subscription, event), event.id),
    storedEnvelope,
    data: transformed,
  };
}
