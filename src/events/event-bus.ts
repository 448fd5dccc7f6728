/**
 * The typed in-process event bus (eventemitter3). Business events come out under
 * their type (`payment.succeeded`) once they are durable in storage; lifecycle
 * events (`delivery:succeeded`, `delivery:failed` — once per failed attempt —,
 * `delivery:dead`, `subscription:disabled`) come out of the dispatcher, carrying
 * enough for an audit trail. Payloads never carry secrets.
 */
import { EventEmitter } from 'eventemitter3';
import type { AttemptErrorClass } from '../storage/storage-adapter.js';
import type { EventCatalog, EventDataOf, EventTypeOf } from './catalog.js';

/** An event as published: the envelope every subscriber receives. */
export interface PublishedEvent<TType extends string = string, TData = unknown> {
  id: string;
  type: TType;
  /** ISO 8601, as in the envelope. */
  timestamp: string;
  data: TData;
  idempotencyKey: string | null;
}

/** Shared by the delivery lifecycle events. */
export interface DeliveryLifecycleEvent {
  deliveryId: string;
  eventId: string;
  eventType: string;
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
  reason: string;
  /** Epoch ms. */
  at: number;
}

/** Lifecycle events and their payloads. */
export interface LifecycleEvents {
  'delivery:succeeded': DeliverySucceededEvent;
  'delivery:failed': DeliveryFailedEvent;
  'delivery:dead': DeliveryDeadEvent;
  'subscription:disabled': SubscriptionDisabledEvent;
}

/** Every event of the bus: the catalog's business events and the lifecycle events. */
export type BusEvents<TCatalog extends EventCatalog> = LifecycleEvents & {
  [K in EventTypeOf<TCatalog>]: PublishedEvent<K, EventDataOf<TCatalog, K>>;
};

type ListenerMap<TEvents> = { [K in keyof TEvents]: [payload: TEvents[K]] };

/** The typed bus. Listeners that throw are reported to `onListenerError`, never to the publisher or the dispatcher. */
export class EventBus<TCatalog extends EventCatalog = EventCatalog> extends EventEmitter<
  ListenerMap<BusEvents<TCatalog>> & Record<string, [unknown]>
> {
  /** Called when a listener throws. */
  onListenerError: (error: unknown, eventName: string) => void = () => undefined;

  /** Emits without letting a listener's exception escape. */
  safeEmit<K extends keyof BusEvents<TCatalog> & string>(name: K, payload: BusEvents<TCatalog>[K]): void {
    if ((this.listenerCount as (name: string) => number)(name) === 0) return;
    try {
      (this.emit as (name: string, payload: unknown) => boolean)(name, payload);
    } catch (error) {
      this.onListenerError(error, name);
    }
  }
}

/** Creates a typed bus for a catalog. */
export function createEventBus<TCatalog extends EventCatalog>(): EventBus<TCatalog> {
  return new EventBus<TCatalog>();
}
