/**
 * What `createWebhooks` asks of a dispatcher, wherever it runs: the in-thread
 * {@link Dispatcher} (`dispatcher.ts`) or the host's side of one in a worker thread
 * (`worker/worker-dispatcher.ts`).
 */
import type { CircuitStatus } from '../metrics/delivery-metrics.js';

export interface DeliveryDispatcher {
  /** Posts in flight, attempts not yet settled, and deliveries claimed ahead. */
  readonly inFlight: number;
  start(): Promise<void>;
  /** Stops claiming; resolves once posts in flight are settled. */
  stop(): Promise<void>;
  /** Something may be due now (publish, enable, redeliver, a registry change). */
  wake(): void;
  /** A subscription was deleted: what is cached for it goes. */
  forgetSubscription(subscriptionId: string): void;
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
