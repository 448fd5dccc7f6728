/**
 * The messages between the host and the dispatcher's worker thread.
 *
 * Host → worker: one message per request ({@link ToWorker}); wakes are coalesced by the
 * host to one per turn of its event loop.
 *
 * Worker → host: one {@link WorkerReport} per turn of the worker's event loop at most,
 * carrying in order everything that happened in it — bus events (those the host's bus has
 * listeners for: the host tells the worker whenever that changes), metric recordings, log
 * lines, answers to requests — and the dispatcher's `inFlight` at the end of it. The host
 * applies the entries in the order they were made, so a bus listener that reads
 * `metrics()` sees the attempt counted, as in-thread.
 */
import type { CircuitStatus } from '../../metrics/delivery-metrics.js';
import type { AttemptOutcome, DeliveryHistory } from '../../storage/storage-adapter.js';
import type { StorageRecipe } from '../../storage/shared/worker-recipe.js';
import type { Logger } from '../../logger.js';
import type { DispatcherSettings } from '../dispatcher-settings.js';
import type { SubscriptionChangeNotice } from '../delivery-dispatcher.js';

/** What the worker is started with (`workerData`). */
export interface WorkerStartData {
  readonly settings: DispatcherSettings;
  readonly recipe: StorageRecipe;
  /** The events the host's bus has listeners for: the only ones the worker sends (see `listening`). */
  readonly listening: readonly string[];
}

export type ToWorker =
  | { readonly kind: 'wake' }
  | { readonly kind: 'forget'; readonly subscriptionId: string }
  /** A subscription changed through the host's API (`DeliveryDispatcher.subscriptionChanged`). */
  | { readonly kind: 'changed'; readonly notice: SubscriptionChangeNotice }
  /** Events expunged through the host's API (`DeliveryDispatcher.eventsExpunged`). */
  | { readonly kind: 'expunged'; readonly eventIds: readonly string[] }
  /** A TLS identity no subscription uses any more: the worker's transport closes its pool. */
  | { readonly kind: 'retire-tls'; readonly tlsId: string }
  /** The events the host's bus has listeners for now: an event nobody listens to is not sent (nor copied). */
  | { readonly kind: 'listening'; readonly names: readonly string[] }
  | { readonly kind: 'circuit'; readonly request: number; readonly subscriptionId: string }
  | { readonly kind: 'when-idle'; readonly request: number }
  | { readonly kind: 'stop' };

/** One thing the worker did, as the host replays it. */
export type ReportEntry =
  /** `bus.safeEmit(name, payload)` (payload through toWire). */
  | readonly ['event', string, unknown]
  /** `metrics.recordAttempt(…)`. */
  | readonly ['attempt', AttemptOutcome, string, DeliveryHistory, number | null, number | null, string | null]
  /** `metrics.recordLeaseLost(tenantId)`. */
  | readonly ['lease-lost', string | null]
  /** `logger[level](fields, message)` (fields through toWire). */
  | readonly ['log', keyof Logger, unknown, string]
  /** The dispatcher started (its storage opened, wake-ups subscribed), or could not (a wire error). */
  | readonly ['started', unknown]
  | readonly ['stopped']
  | readonly ['idle', number]
  | readonly ['circuit', number, CircuitStatus];

export interface WorkerReport {
  readonly entries: readonly ReportEntry[];
  /** The worker dispatcher's `inFlight` when the report was sent. */
  readonly inFlight: number;
}
