/**
 * Typed handlers per event type: `createWebhookRouter<BookkeeperEvents>()`.
 *
 * `event.data` is typed from the catalog's zod schemas (their output type) by the
 * compiler alone: the receiver loads no zod. Consumers who also want the data
 * checked at run time pass a `validate` hook, which they may back with zod
 * themselves. Consumers who want the events of each ordering key handled in order pass
 * `ordering` (the rule is in ordering-store.ts).
 */
import { ConfigError, ValidationError, describeValue } from '../errors.js';
import type { WebhookEvent } from '../signing/verify-signature.js';
import type { EventCatalog, EventDataOf, EventVersionDataOf } from './event-catalog-types.js';
import { registerOrderingGate, resolveOrdering, type OrderingOptions } from './ordering-store.js';

/**
 * Event type → type of its `data`: from a catalog made by `defineEvents`
 * (`BookkeeperEvents`, i.e. `typeof bookkeeperEvents`), or from a plain map you
 * write, e.g. `{ 'order.created': { orderId: string } }`.
 */
export type EventMapOf<TEvents> =
  TEvents extends EventCatalog<infer TSchemas>
    ? { [TType in keyof TSchemas & string]: EventDataOf<TEvents, TType> }
    : { [TType in keyof TEvents & string]: TEvents[TType] };

/** The event types of a catalog or event map. */
export type EventTypesOf<TEvents> = keyof EventMapOf<TEvents> & string;

/**
 * A verified event of one type: for a type of a catalog with versions, a union discriminated
 * by `version`, each member's `data` that version's (narrow it with `event.version === 1`);
 * otherwise the type's data.
 */
type WebhookEventOfType<TEvents, TType extends string> = [EventVersionDataOf<TEvents, TType>] extends [never]
  ? WebhookEvent<TType, EventMapOf<TEvents>[TType & keyof EventMapOf<TEvents>]>
  : {
      [TVersion in keyof EventVersionDataOf<TEvents, TType> & number]: WebhookEvent<TType, EventVersionDataOf<TEvents, TType>[TVersion]> & { version: TVersion };
    }[keyof EventVersionDataOf<TEvents, TType> & number];

/**
 * A verified event of a catalog or event map, as a union discriminated by `type`
 * (narrow it with `switch (event.type)`), or of the types given. A type with versions is
 * itself a union discriminated by `version` (the version the subscription is pinned to).
 *
 * @example
 * ```ts
 * createNodeHandler<WebhookEventOf<BookkeeperEvents>>({ secrets, onEvent: (event) => {
 *   if (event.type === 'payment.succeeded') book(event.data.amount); // typed
 * } });
 * ```
 */
export type WebhookEventOf<TEvents, TType extends EventTypesOf<TEvents> = EventTypesOf<TEvents>> = {
  [K in TType]: WebhookEventOfType<TEvents, K>;
}[TType];

/** A handler of one event type. Its result is ignored; throw to fail the request (500, retried). */
export type WebhookEventHandler<TEvent extends WebhookEvent> = (event: TEvent) => unknown;

/** Options of {@link createWebhookRouter}. */
export interface WebhookRouterOptions<TEvents> {
  /**
   * Checks (and may transform) `data` before a handler sees it; returns the data to
   * pass on, or a promise of it. A throw refuses the event: the request is answered
   * 400 `EVENT_DATA_INVALID`, the id is released, and the sender retries it until it
   * is dead in its delivery log. Called only for types that have a handler. `version` is the
   * signed `version` of a versioned type's envelope (`undefined` for other types): check the
   * data against that version's schema, since a subscription pinned to an older version gets it.
   *
   * @example
   * ```ts
   * import { bookkeeperEvents } from '@bookkeeper/webhooks'; // zod, on your side
   * createWebhookRouter<BookkeeperEvents>({
   *   validate: (type, data) => bookkeeperEvents.schemas[type].parse(data),
   * });
   * ```
   */
  validate?: (type: EventTypesOf<TEvents>, data: unknown, version: number | undefined) => unknown;
  /**
   * Called with an event whose type has no handler (e.g. a type the sender added
   * after your catalog). Throw to refuse it (500, retried).
   * @defaultValue none: the event is acknowledged (2xx) and ignored, as Standard
   *   Webhooks senders expect, so a new event type never fails your endpoint.
   */
  onUnknown?: (event: WebhookEvent) => unknown;
  /**
   * Handles the events of each ordering key in the sender's order, by their
   * `webhook-sequence`, whatever their type (an event without a handler counts too): a
   * number already handled is acknowledged without running anything (a duplicate); the
   * next one is handled, then recorded in `store`; one past it is a gap, refused with
   * `ORDERING_GAP` (answered 409: the sender retries it after the missing one) unless
   * `onGap: 'accept'`. Events without an `orderingKey`, or without a `webhook-sequence`
   * header (a forwarded or pulled copy), are handled as they come.
   *
   * The header is not signed: keep the dedupe on `webhook-id` on (the adapters' default),
   * which is what keeps a replayed request with a forged number from being handled twice.
   * @defaultValue none: events are handled in the order they arrive
   *
   * @example
   * ```ts
   * createWebhookRouter<BookkeeperEvents>({ ordering: { store: createMemoryOrderingStore() } });
   * ```
   */
  ordering?: OrderingOptions;
}

/** Handlers by event type; pass `router.handle` as an adapter's `onEvent`. */
export interface WebhookRouter<TEvents> {
  /**
   * Registers the handler of one event type; `event.data` is typed from the catalog. For a
   * type with versions, `event` is a union discriminated by `event.version`: narrow it
   * (`if (event.version === 1) …`) to the data of the version your endpoint is pinned to.
   *
   * @throws ConfigError `CONFIG_INVALID` when the type already has a handler (one
   *   handler per type, so a payment is never booked by two of them) or the handler
   *   is not a function.
   */
  on<TType extends EventTypesOf<TEvents>>(type: TType, handler: WebhookEventHandler<WebhookEventOf<TEvents, TType>>): WebhookRouter<TEvents>;
  /**
   * Runs the handler of the event's type (after `validate`), or `onUnknown`; with
   * `ordering`, only for an event in its key's order (and skips a duplicate).
   * Bound: pass it as it is, `onEvent: router.handle`.
   *
   * @throws ValidationError `EVENT_DATA_INVALID` when `validate` throws (the original error as `cause`);
   *   ConflictError `ORDERING_GAP` (an earlier event of the key has not been handled) or
   *   `ORDERING_KEY_IN_FLIGHT` (another event of the key is being handled), both answered
   *   409 by the adapters; ConfigError `CONFIG_INVALID` when the ordering store's `last()` or
   *   `keyOf` returns something else than documented; whatever the handler or the store throws.
   */
  readonly handle: (event: WebhookEvent) => Promise<void>;
}

/**
 * Creates a router of typed handlers. Name the catalog's type; nothing of it is
 * loaded at run time.
 *
 * @example
 * ```ts
 * import type { BookkeeperEvents } from '@bookkeeper/webhooks';
 * import { createNodeHandler, createWebhookRouter } from '@bookkeeper/webhooks/receiver';
 *
 * const router = createWebhookRouter<BookkeeperEvents>()
 *   .on('payment.succeeded', async (event) => {
 *     await ledger.book(event.data.paymentId, event.data.amount); // { amount: number; currency: string }
 *   })
 *   .on('refund.initiated', (event) => ledger.hold(event.data.refundId));
 *
 * createServer(createNodeHandler({ secrets, onEvent: router.handle }));
 * ```
 * @throws ConfigError `CONFIG_INVALID` for a `validate` or `onUnknown` that is not a function,
 *   or an `ordering` that is not `{ store, keyOf?, onGap? }`.
 */
export function createWebhookRouter<TEvents>(options: WebhookRouterOptions<TEvents> = {}): WebhookRouter<TEvents> {
  let validate: WebhookRouterOptions<TEvents>['validate'];
  let onUnknown: WebhookRouterOptions<TEvents>['onUnknown'];
  let given: WebhookRouterOptions<TEvents>['ordering'];
  try {
    // Null, or a getter that throws: a coded error, not the host's TypeError.
    ({ validate, onUnknown, ordering: given } = options);
  } catch (cause) {
    throw new ConfigError('CONFIG_INVALID', `Expected readable router options, got ${describeValue(options)}`, { cause });
  }
  const ordering = given === undefined ? undefined : resolveOrdering(given);
  for (const [field, value] of [
    ['validate', validate],
    ['onUnknown', onUnknown],
  ] as const) {
    if (value !== undefined && typeof value !== 'function') {
      throw new ConfigError('CONFIG_INVALID', `Expected \`${field}\` to be a function, got ${describeValue(value)}`, { field });
    }
  }
  for (const key of Object.keys(options)) {
    if (key !== 'validate' && key !== 'onUnknown' && key !== 'ordering') throw new ConfigError('CONFIG_INVALID', `Unknown option \`${key}\``, { field: key });
  }
  const handlers = new Map<string, (event: WebhookEvent) => unknown>();

  async function dispatch(event: WebhookEvent): Promise<void> {
    const handler = handlers.get(event.type);
    if (handler === undefined) {
      await onUnknown?.(event);
      return;
    }
    if (validate === undefined) {
      await handler(event);
      return;
    }
    let data: unknown;
    try {
      data = await validate(event.type as EventTypesOf<TEvents>, event.data, event.version);
    } catch (cause) {
      throw new ValidationError('EVENT_DATA_INVALID', `The data of event ${event.id} (${event.type}) failed the router's validate hook`, {
        cause,
        field: 'data',
      });
    }
    await handler({ ...event, data });
  }

  const router: WebhookRouter<TEvents> = {
    on(type, handler) {
      if (typeof type !== 'string' || type.length === 0) {
        throw new ConfigError('CONFIG_INVALID', `Expected an event type such as "payment.succeeded", got ${describeValue(type)}`, { field: 'type' });
      }
      if (typeof handler !== 'function') {
        throw new ConfigError('CONFIG_INVALID', `Expected the handler of "${type}" to be a function, got ${describeValue(handler)}`, { field: type });
      }
      if (handlers.has(type)) {
        throw new ConfigError('CONFIG_INVALID', `"${type}" already has a handler: one handler per event type`, { field: type });
      }
      handlers.set(type, handler as (event: WebhookEvent) => unknown);
      return router;
    },
    handle: (event) => (ordering === undefined || event.orderingKey === undefined ? dispatch(event) : ordering(event, () => dispatch(event))),
  };
  if (ordering !== undefined) registerOrderingGate(router.handle, ordering);
  return router;
}
