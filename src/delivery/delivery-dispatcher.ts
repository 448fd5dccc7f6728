/**
 * What `createWebhooks` asks of a dispatcher, wherever it runs: the in-thread
 * {@link Dispatcher} (`dispatcher.ts`) or the host's side of one in a worker thread
 * (`worker/worker-dispatcher.ts`).
 */
import type { CircuitStatus } from '../metrics/delivery-metrics.js';
import type { StoredFlowControl, SubscriptionChangeRecord } from '../storage/storage-adapter.js';

/** A change to a subscription made through this process's API, as the dispatcher must take it. */
export interface SubscriptionChangeNotice {
  readonly subscriptionId: string;
  /** When the change was made (epoch ms): the record's `updatedAt` from then on. */
  readonly at: number;
  /** Its `flowControl` as stored now (`null`: none of its own) when the change set it; absent otherwise. */
  readonly flowControl?: StoredFlowControl | null;
  /** The endpoint is not the one its circuit breaker judged: the URL changed, or it was enabled. */
  readonly endpointChanged: boolean;
}

/** What a change recorded in a subscription's log means for the dispatcher. */
export function changeNotice(change: SubscriptionChangeRecord): SubscriptionChangeNotice {
  const flowControl = change.changes['flowControl'];
  return {
    subscriptionId: change.subscriptionId,
    at: change.at,
    ...(flowControl === undefined ? {} : { flowControl: (flowControl.after ?? null) as StoredFlowControl | null }),
    endpointChanged: change.action === 'enabled' || change.changes['url'] !== undefined,
  };
}

export interface DeliveryDispatcher {
  /** Posts in flight, attempts not yet settled, and deliveries claimed ahead. */
  readonly inFlight: number;
  start(): Promise<void>;
  /** Stops claiming; resolves once posts in flight are settled. */
  stop(): Promise<void>;
  /** Something may be due now (publish, enable, redeliver, a registry change). */
  wake(): void;
  /** A subscription was deleted: what is cached for it goes, and what is claimed ahead for it is given back. */
  forgetSubscription(subscriptionId: string): void;
  /**
   * A subscription changed (its URL, secrets, headers, flow control, status, …): the deliveries
   * claimed ahead for it, which carry the record as it was, go back to storage to be claimed
   * afresh, and its flow control takes the change at once (see {@link SubscriptionChangeNotice}).
   */
  subscriptionChanged(notice: SubscriptionChangeNotice): void;
  /**
   * Events were expunged through this process's API (the storage cancelled their open
   * deliveries): what is claimed ahead of them, which holds the erased payload, goes back
   * unsent, and so does what a claim under way brings of them.
   */
  eventsExpunged(eventIds: readonly string[]): void;
  /**
   * A TLS identity (its `TransportTls.id`) no subscription uses any more: the connections the
   * dispatcher's transport pools for it close — in a worker thread, the worker's own transport.
   */
  retireTls(tlsId: string): void;
  /** This process's circuit breaker for a subscription (a worker's answers asynchronously). */
  circuit(subscriptionId: string): CircuitStatus | Promise<CircuitStatus>;
  /** Resolves when no post is in flight and every attempt is settled and announced. */
  whenIdle(): Promise<void>;
}
