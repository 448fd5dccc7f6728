/**
 * The dispatcher's worker thread (`createWebhooks({ dispatcher: { thread: 'worker' } })`):
 * an entry of its own in the build, started by worker-dispatcher.ts. It rebuilds the
 * dispatcher from data — its storage from the adapter's recipe, the undici transport, the
 * SSRF guard and the codecs from the settings — and runs it as `createWebhooks` would
 * in-thread. What the dispatcher hands its bus, metrics and logger is collected in an
 * outbox and sent to the host once per turn of this thread's event loop
 * (worker-messages.ts), where the host's own bus, metrics and logger take it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../../clock.js';
import { EventBus, type BusEvents } from '../../events/event-bus.js';
import type { EventCatalog } from '../../events/catalog.js';
import type { Logger } from '../../logger.js';
import { DeliveryMetrics } from '../../metrics/delivery-metrics.js';
import type { AttemptOutcome, DeliveryHistory, StorageAdapter } from '../../storage/storage-adapter.js';
import { Dispatcher } from '../dispatcher.js';
import { dispatcherOptions, securityParts } from '../dispatcher-settings.js';
import { createUndiciTransport } from '../undici-transport.js';
import { openRecipeStorage, type RecipeStorage } from './open-recipe-storage.js';
import { toWire } from './wire-values.js';
import type { ReportEntry, ToWorker, WorkerReport, WorkerStartData } from './worker-messages.js';

/** Entries made in this turn, sent together at its end with the dispatcher's `inFlight`. */
class Outbox {
  #entries: ReportEntry[] = [];
  #scheduled = false;
  #reportedInFlight = 0;

  constructor(
    private readonly port: NonNullable<typeof parentPort>,
    private readonly inFlight: () => number,
  ) {}

  push(entry: ReportEntry): void {
    this.#entries.push(entry);
    this.schedule();
  }

  /** `inFlight` may have changed: report it at the end of the turn. */
  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.#scheduled = false;
    const inFlight = this.inFlight();
    if (this.#entries.length === 0 && inFlight === this.#reportedInFlight) return;
    const report: WorkerReport = { entries: this.#entries, inFlight };
    this.#entries = [];
    this.#reportedInFlight = inFlight;
    this.port.postMessage(report);
  }
}

/**
 * The bus the worker's dispatcher emits on: every event the host's bus has listeners for
 * goes to it; the others are dropped here, before they are copied and sent (a burst emits
 * one per attempt).
 */
class RelayBus extends EventBus {
  constructor(
    private readonly outbox: Outbox,
    /** The events the host listens to, as it last said. */
    public listening: ReadonlySet<string>,
  ) {
    super();
  }

  override safeEmit<K extends keyof BusEvents<EventCatalog> & string>(name: K, payload: BusEvents<EventCatalog>[K]): void {
    if (this.listening.has(name)) this.outbox.push(['event', name, toWire(payload)]);
  }
}

/** The metrics the worker's dispatcher records into: every recording is made again on the host's. */
class RelayMetrics extends DeliveryMetrics {
  constructor(private readonly outbox: Outbox) {
    super();
  }

  override recordAttempt(outcome: AttemptOutcome, deliveryId: string, before: DeliveryHistory, statusCode: number | null, latencyMs: number | null, tenantId: string | null = null): void {
    this.outbox.push(['attempt', outcome, deliveryId, before, statusCode, latencyMs, tenantId]);
  }

  override recordLeaseLost(tenantId: string | null = null): void {
    this.outbox.push(['lease-lost', tenantId]);
  }
}

function relayLogger(outbox: Outbox): Logger {
  const level =
    (name: keyof Logger) =>
    (fields: Record<string, unknown>, message: string): void =>
      outbox.push(['log', name, toWire(fields), message]);
  return { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
}

/**
 * The storage as the dispatcher sees it, with each claim, settle and release followed by a
 * report: those are what change `inFlight`, which the host keeps current from the reports.
 */
function reportingStorage(storage: StorageAdapter, outbox: Outbox): StorageAdapter {
  const bound = new Map<PropertyKey, unknown>();
  const reporting = new Set<PropertyKey>(['claimDue', 'settle', 'releaseLeases']);
  return new Proxy(storage, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== 'function') return value;
      let method = bound.get(key);
      if (method === undefined) {
        const fn = value as (...args: unknown[]) => unknown;
        method = reporting.has(key)
          ? async (...args: unknown[]) => {
              try {
                return await fn.apply(target, args);
              } finally {
                outbox.schedule();
              }
            }
          : fn.bind(target);
        bound.set(key, method);
      }
      return method;
    },
  });
}

async function run(port: NonNullable<typeof parentPort>, data: WorkerStartData): Promise<void> {
  let dispatcher: Dispatcher | null = null;
  const outbox = new Outbox(port, () => dispatcher?.inFlight ?? 0);
  const { settings } = data;
  let opened: RecipeStorage | null = null;
  const transport = createUndiciTransport({ connectionsPerOrigin: settings.concurrency });
  const bus = new RelayBus(outbox, new Set(data.listening));
  const ready = (async () => {
    opened = openRecipeStorage(data.recipe);
    dispatcher = new Dispatcher(
      dispatcherOptions(settings, {
        storage: reportingStorage(opened.storage, outbox),
        transport,
        bus,
        metrics: new RelayMetrics(outbox),
        clock: systemClock,
        random: Math.random,
        logger: relayLogger(outbox),
        ...securityParts(settings.security),
      }),
    );
    await dispatcher.start();
    return dispatcher;
  })();
  ready.then(
    () => outbox.push(['started', null]),
    (error: unknown) => outbox.push(['started', toWire(error)]),
  );

  const stop = async (): Promise<void> => {
    const started = await ready.catch(() => null);
    await started?.stop();
    await transport.close();
    await (opened as RecipeStorage | null)?.close();
    outbox.push(['stopped']);
    outbox.flush();
  };

  // Handled in the order they came: each waits for the start, whose continuations run first come, first served.
  port.on('message', (message: ToWorker) => {
    if (message.kind === 'stop') {
      void stop();
      return;
    }
    if (message.kind === 'listening') {
      // At once, not after the start: an event the dispatcher emits next is sent as the host now wants.
      bus.listening = new Set(message.names);
      return;
    }
    void ready.then((started) => {
      switch (message.kind) {
        case 'wake':
          started.wake();
          return;
        case 'forget':
          started.forgetSubscription(message.subscriptionId);
          return;
        case 'changed':
          started.subscriptionChanged(message.notice);
          return;
        case 'expunged':
          started.eventsExpunged(message.eventIds);
          return;
        case 'retire-tls':
          started.retireTls(message.tlsId);
          return;
        case 'circuit':
          outbox.push(['circuit', message.request, started.circuit(message.subscriptionId)]);
          return;
        case 'when-idle':
          void started.whenIdle().then(() => outbox.push(['idle', message.request]));
          return;
      }
    }, () => undefined);
  });
}

if (parentPort !== null) void run(parentPort, workerData as WorkerStartData);
