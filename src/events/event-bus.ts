/**
 * The typed in-process event bus (eventemitter3). Business events come out under
 * their type (`payment.succeeded`) once they are durable in storage; lifecycle
 * events (`delivery:succeeded`, `delivery:failed` — once per failed attempt —,
 * `delivery:dead`, `delivery:lease-lost`, `subscription:disabled`) come out of the
 * dispatcher, carrying enough for an audit trail; the subscriptions API announces each
 * change it records (`subscription:created`, `…:updated`, `…:secret-rotated`, `…:enabled`,
 * `…:disabled`, `…:deleted`) with the change record, and each test request it sends
 * (`subscription:tested`); the dashboard announces each action done through it
 * (`dashboard:action`); a dispatcher running in a worker thread announces its crashes
 * (`dispatcher:crashed`), whatever else it does reaching this bus as if it ran in-thread.
 * Payloads never carry secrets.
 */
import { EventEmitter } from 'eventemitter3';
import type { SendTestResult } from '../registry/send-test-request.js';
import type { AttemptErrorClass, AttemptOutcome, SubscriptionChangeRecord } from '../storage/storage-adapter.js';
import type { EventCatalog, EventDataOf, EventTypeOf } from './catalog.js';

/** An event as published: the envelope every subscriber receives. */
export interface PublishedEvent<TType extends string = string, TData = unknown> {
  id: string;
  type: TType;
  /** ISO 8601, as in the envelope. */
  timestamp: string;
  /** The envelope's `metadata` (`publish(…, { metadata })`); `null` when it has none. */
  metadata: Record<string, string> | null;
  /** The envelope's `orderingKey` (`publish(…, { orderingKey })`); `null` when it has none. */
  orderingKey: string | null;
  data: TData;
  idempotencyKey: string | null;
  /** The tenant it was published for; `null` without one. Not part of the envelope. */
  tenantId: string | null;
}

/** Shared by the delivery lifecycle events. */
export interface DeliveryLifecycleEvent {
  deliveryId: string;
  eventId: string;
  eventType: string;
  /** The tenant the event was published for (`publish(…, { tenantId })`); `null`: none. */
  tenantId: string | null;
  subscriptionId: string;
  /**
   * The attempt's number in the delivery's log, 1-based: a redelivery goes on counting
   * (it restarts the retry schedule, not the numbering), as `deliveries.attempts(id)` shows.
   */
  attempt: number;
  /** Epoch ms at which the attempt started. */
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
}

export interface DeliverySucceededEvent extends DeliveryLifecycleEvent {
  /** Publish → 2xx, in ms. */
  latencyMs: number;
}

export interface DeliveryFailedEvent extends DeliveryLifecycleEvent {
  errorClass: AttemptErrorClass | null;
  errorMessage: string | null;
  /** Epoch ms of the next attempt; `null` when this was the last one (a `delivery:dead` follows) or the subscription was disabled. */
  nextAttemptAt: number | null;
}

export interface DeliveryDeadEvent extends DeliveryLifecycleEvent {
  errorClass: AttemptErrorClass | null;
  errorMessage: string | null;
}

export interface SubscriptionDisabledEvent {
  subscriptionId: string;
  /** The subscription's tenant; `null` for a subscription without one. */
  tenantId: string | null;
  reason: string;
  /** Epoch ms. */
  at: number;
  /** `api`: `subscriptions.disable`; `dispatcher`: the library (a 410 Gone, or failing past `autoDisableAfterMs`). */
  origin: 'api' | 'dispatcher';
  /** Who disabled it (`subscriptions.disable(id, { actor })`); `null` for the dispatcher or when not given. */
  actor: string | null;
  /** The change log's record of it (`subscriptions.history`); `null` from the dispatcher, whose record is in the log all the same. */
  change: SubscriptionChangeRecord | null;
}

/** A change of a subscription, as its change log recorded it (`subscriptions.history`). */
export interface SubscriptionChangedEvent {
  subscriptionId: string;
  /** The subscription's tenant; `null` for a subscription without one. */
  tenantId: string | null;
  change: SubscriptionChangeRecord;
}

/**
 * A subscription deleted: softly (it stays readable) or, with `hard`, removed with its log —
 * then `change` is in no log, and its `sequence` is 0.
 */
export interface SubscriptionDeletedEvent extends SubscriptionChangedEvent {
  hard: boolean;
}

/**
 * A test request sent to a subscription's endpoint (`subscriptions.sendTest`): who sent it
 * and what came of it, and whether its test log has it (`recorded`; then
 * `subscriptions.testAttempts` reads it by `webhookId`).
 */
export interface SubscriptionTestedEvent extends SendTestResult {
  subscriptionId: string;
  /** The subscription's tenant; `null` for a subscription without one. */
  tenantId: string | null;
  /** Who sent it (`sendTest(id, { actor })`); `null` when not given. */
  actor: string | null;
  /** Epoch ms at which it was sent. */
  at: number;
}

/**
 * An attempt whose outcome could not be recorded: its lease ran out while it was under
 * way and another claim (another worker's, or this one's once the lease had expired)
 * took the delivery over, so the settle was refused. The request may have reached the
 * receiver, yet it is not in the attempt log; the delivery stays with whoever holds it
 * now. A sign that `leaseMs` does not cover `http.timeoutMs` and the settle after it.
 */
export interface DeliveryLeaseLostEvent extends DeliveryLifecycleEvent {
  /** What the unrecorded attempt came to. */
  outcome: AttemptOutcome;
  errorClass: AttemptErrorClass | null;
  errorMessage: string | null;
}

/**
 * An action done through the dashboard (`@bookkeeper/webhooks/dashboard`): who did what to
 * which subscription or delivery. Changes of subscriptions are in their change log too.
 */
export interface DashboardActionEvent {
  /** `delivery.redeliver`, `subscription.replay`, `subscription.disable`, … */
  action: string;
  /** The principal `authorize` returned. */
  actor: string;
  /** The customer portal's tenant; `null` for the operator's dashboard. */
  tenantId: string | null;
  subscriptionId: string | null;
  deliveryId: string | null;
  /** Epoch ms. */
  at: number;
  /** Anything else the action reports (counts, a time range); never a secret. */
  details: Record<string, string | number | boolean | null>;
}

/**
 * The dispatcher's worker thread (`dispatcher: { thread: 'worker' }`) exited unexpectedly
 * or threw: it is started again after `restartInMs`. Deliveries it had claimed keep their
 * leases until they expire, then are claimed and sent again (at-least-once).
 */
export interface DispatcherCrashedEvent {
  /** What the worker threw, or why it exited. */
  error: Error;
  /** The wait before the restart, in ms: `restartDelayMs`, doubled after each crash in a row (capped), reset after a healthy run. */
  restartInMs: number;
}

/** Lifecycle events and their payloads. */
export interface LifecycleEvents {
  'delivery:succeeded': DeliverySucceededEvent;
  'delivery:failed': DeliveryFailedEvent;
  'delivery:dead': DeliveryDeadEvent;
  'delivery:lease-lost': DeliveryLeaseLostEvent;
  'subscription:disabled': SubscriptionDisabledEvent;
  'subscription:created': SubscriptionChangedEvent;
  /** An update, or a reseal of its secrets (`change.action` says which). */
  'subscription:updated': SubscriptionChangedEvent;
  'subscription:secret-rotated': SubscriptionChangedEvent;
  'subscription:enabled': SubscriptionChangedEvent;
  'subscription:deleted': SubscriptionDeletedEvent;
  'subscription:tested': SubscriptionTestedEvent;
  'dashboard:action': DashboardActionEvent;
  'dispatcher:crashed': DispatcherCrashedEvent;
}

/** Every event of the bus: the catalog's business events and the lifecycle events. */
export type BusEvents<TCatalog extends EventCatalog> = LifecycleEvents & {
  [K in EventTypeOf<TCatalog>]: PublishedEvent<K, EventDataOf<TCatalog, K>>;
};

type ListenerMap<TEvents> = { [K in keyof TEvents]: [payload: TEvents[K]] };

/** A listener as eventemitter3 keeps it (`EE` in its source): the function, its `this`, and whether it is a `once`. */
interface RegisteredListener {
  fn: (payload: unknown) => unknown;
  context: unknown;
  once: boolean;
}

/**
 * The typed bus. Listeners that throw, or return a promise that rejects, are reported to
 * `onListenerError`, never to the publisher or the dispatcher, and never keep the
 * listeners after them from running.
 */
export class EventBus<TCatalog extends EventCatalog = EventCatalog> extends EventEmitter<
  ListenerMap<BusEvents<TCatalog>> & Record<string, [unknown]>
> {
  /** Called when a listener throws or its promise rejects. */
  onListenerError: (error: unknown, eventName: string) => void = () => undefined;

  /** Told after each change of the listeners (see {@link watchListeners}). */
  readonly #listenerWatchers = new Set<() => void>();

  /**
   * Calls `onChange` after every listener added or removed (a `once` listener too, when its
   * event removes it); `eventNames()` then gives the events that have listeners. The
   * dispatcher's worker thread sends the host only the events someone listens to. Returns
   * the function that stops watching.
   */
  watchListeners(onChange: () => void): () => void {
    if (this.#listenerWatchers.size === 0 && !this.#watching) this.#watchMethods();
    this.#listenerWatchers.add(onChange);
    return () => this.#listenerWatchers.delete(onChange);
  }

  #watching = false;

  /**
   * eventemitter3 has no hook of its own, and its aliases (`addListener`, `off`) are the
   * same functions as `on` and `removeListener`, not calls of them: each method that adds or
   * removes listeners is wrapped on this bus, once something watches (a bus nobody watches
   * keeps the plain methods).
   */
  #watchMethods(): void {
    this.#watching = true;
    for (const name of ['on', 'addListener', 'once', 'removeListener', 'off', 'removeAllListeners'] as const) {
      const original = this[name] as unknown as (...args: unknown[]) => this;
      Object.defineProperty(this, name, {
        configurable: true,
        writable: true,
        value: (...args: unknown[]): this => {
          const result = original.apply(this, args);
          for (const watcher of this.#listenerWatchers) watcher();
          return result;
        },
      });
    }
  }

  /** Emits to every listener, each on its own: one listener's exception or rejection reaches {@link onListenerError} alone. */
  safeEmit<K extends keyof BusEvents<TCatalog> & string>(name: K, payload: BusEvents<TCatalog>[K]): void {
    // eventemitter3's emit() calls the listeners in one loop, so the first throw would end
    // it. Its registry is read instead (the structure its emit() walks: one listener or an
    // array, under the prefixed name), with the same order and `once` handling.
    const registered = (this as unknown as { _events: Record<string, RegisteredListener | RegisteredListener[] | undefined> })._events[
      typeof EventEmitter.prefixed === 'string' ? EventEmitter.prefixed + name : name
    ];
    if (registered === undefined) return;
    if (!Array.isArray(registered)) {
      this.callListener(registered, name, payload);
      return;
    }
    // As in emit(): the listeners present when the emit began. removeListener replaces the
    // array; on() appends to it, hence the length read once.
    const length = registered.length;
    for (let i = 0; i < length; i++) this.callListener(registered[i]!, name, payload);
  }

  private callListener(listener: RegisteredListener, name: string, payload: unknown): void {
    if (listener.once) (this.removeListener as (name: string, fn: unknown, context: unknown, once: boolean) => this)(name, listener.fn, undefined, true);
    try {
      const result = listener.fn.call(listener.context, payload);
      // An async listener's rejection would otherwise be unhandled, which ends a Node process.
      if (typeof result === 'object' && result !== null && typeof (result as PromiseLike<unknown>).then === 'function') {
        (result as PromiseLike<unknown>).then(undefined, (error: unknown) => this.reportListenerError(error, name));
      }
    } catch (error) {
      this.reportListenerError(error, name);
    }
  }

  private reportListenerError(error: unknown, name: string): void {
    try {
      this.onListenerError(error, name);
    } catch {
      // The error reporter itself failed (a throwing logger): nothing is left to tell.
    }
  }
}

/** Creates a typed bus for a catalog. */
export function createEventBus<TCatalog extends EventCatalog>(): EventBus<TCatalog> {
  return new EventBus<TCatalog>();
}
