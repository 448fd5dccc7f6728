/**
 * Verify + dedupe + handle in one call: `createWebhookReceiver`, and the pipeline
 * every framework adapter runs (Node `http`, Express, Fastify, Fetch `Request`).
 *
 * The adapters differ only in how they read the raw body and write the answer;
 * verification, failure counting, the dedupe claim and its settlement live here,
 * once.
 */
import { ConfigError, describeValue } from '../errors.js';
import {
  resolveVerifyOptions,
  verifiedEvent,
  verifySignature,
  type VerifyWebhookOptions,
  type WebhookEvent,
  type WebhookMessage,
} from '../signing/verify-signature.js';
import { resolveDedupe, type DedupeOptions } from './dedupe-store.js';
import { droppedByNumber, orderingGateOf } from './ordering-store.js';
import { resolveReceiverLogger, type ReceiverLogger } from './receiver-logger.js';
import { isStaleEvent, resolveStaleEvents, type StaleEventOptions } from './stale-events.js';
import { createFailureRecorder, type VerificationFailureOptions } from './verification-failure-counter.js';
import { verifySignatureAsync } from './verify-webhook-signature-async.js';

/** The options every receiver adapter shares: verification, dedupe and failure counting. */
export interface ReceiverOptions extends DedupeOptions, VerificationFailureOptions, StaleEventOptions {
  /** One `whsec_…` secret, or several during a rotation. */
  secrets: string | readonly string[];
  /**
   * How far `webhook-timestamp` may be from now, either way, in seconds.
   * @defaultValue 300
   */
  toleranceSeconds?: number;
  /**
   * The only environment accepted (e.g. `"live"`): a verified event whose signed envelope
   * names another one, or none, is refused with `WEBHOOK_ENVIRONMENT_MISMATCH` (answered
   * 400 by the HTTP adapters, counted as a verification failure) before the dedupe claim
   * and the handler. Never decided from the unsigned `bookkeeper-environment` header.
   * @defaultValue none: every environment, and none, is accepted
   */
  environment?: string;
  /**
   * Where the errors that would otherwise leave no trace are logged: a failure
   * answered 500 (a throwing `onEvent`, a failing dedupe store, a body already
   * consumed), whose cause never reaches the sender, and a dedupe store failing to
   * record an outcome. Pino-compatible (`error(fields, message)`, the error in
   * `fields.err`); `false` logs nothing. `onError`, where an adapter has it, is
   * called as well, with every failure.
   * @defaultValue `console.error`
   */
  logger?: ReceiverLogger | false;
}

/**
 * What happened to a verified webhook:
 * - `processed`: the handler ran and succeeded; the id is remembered.
 * - `duplicate`: the id was already processed; the handler did not run (answer 2xx).
 * - `in-flight`: another request is handling the same id right now; the handler did
 *   not run (adapters answer 409 so that the sender retries later).
 * - `stale`: the event is older than `maxEventAgeSeconds` by its envelope `timestamp`;
 *   the handler did not run, `onStale` did if given; the id is remembered (answer 2xx).
 */
export type WebhookOutcome = 'processed' | 'duplicate' | 'in-flight' | 'stale';

/** The result of {@link WebhookReceiver.receive}. */
export interface WebhookReceipt<TEvent extends WebhookEvent = WebhookEvent> {
  outcome: WebhookOutcome;
  /** The verified event (also for a duplicate, e.g. to log it). */
  event: TEvent;
}

/** Options of {@link createWebhookReceiver}. */
export interface WebhookReceiverOptions<TEvent extends WebhookEvent = WebhookEvent> extends ReceiverOptions {
  /**
   * Called once per verified, not yet processed event. Throw to have the id released
   * (so a retry processes it) and the error passed on to the caller of `receive`.
   */
  onEvent(event: TEvent): unknown;
  /**
   * Called with errors that do not change the outcome: the dedupe store failing to
   * record a processed or released id (also logged by `logger`). Its own errors are ignored.
   */
  onError?(error: unknown): void;
}

/** A verifier with dedupe, made by {@link createWebhookReceiver}. */
export interface WebhookReceiver<TEvent extends WebhookEvent = WebhookEvent> {
  /**
   * Verifies the message, claims its `webhook-id`, runs `onEvent` unless it is a
   * duplicate, and records the outcome.
   *
   * @throws SignatureVerificationError (counted by `onVerificationFailure` and `meter`),
   *   ValidationError `INPUT_INVALID` for a body that is not raw, the error `onEvent`
   *   threw (the id is released first), or the dedupe store's error.
   */
  receive(message: WebhookMessage): Promise<WebhookReceipt<TEvent>>;
}

const receiverOptionKeys = [
  'secrets',
  'toleranceSeconds',
  'environment',
  'dedupe',
  'dedupeTtlSeconds',
  'dedupeLeaseSeconds',
  'onVerificationFailure',
  'meter',
  'logger',
  'maxEventAgeSeconds',
  'onStale',
] as const;

/**
 * The option keys an adapter accepts: the shared ones plus its own.
 *
 * @internal
 */
export function receiverKeys(...own: string[]): ReadonlySet<string> {
  return new Set<string>([...receiverOptionKeys, ...own]);
}

/**
 * Verification, failure counting and dedupe, resolved once per adapter.
 *
 * @internal Shared by every adapter.
 */
export interface ReceiverPipeline {
  /** Verifies and parses; a verification failure is counted, then rethrown. */
  verify(message: WebhookMessage): Promise<WebhookEvent>;
  /**
   * Claims `event.id`, runs `run` if the claim was won, then completes the id when
   * `acknowledged(result)` (the sender will see a 2xx) or releases it otherwise.
   * A stale event (`maxEventAgeSeconds`) goes to `onStale` instead of `run`, and its id is
   * completed. Errors of `complete`/`release` are logged and go to `report`: the handler's verdict stands.
   *
   * @throws the store's error from `claim`; the error `run` or `onStale` threw (after releasing the id).
   */
  process<TResult>(
    event: WebhookEvent,
    run: () => TResult | Promise<TResult>,
    acknowledged: (result: TResult) => boolean,
    report: (error: unknown) => void,
  ): Promise<{ outcome: 'processed'; result: TResult } | { outcome: 'duplicate' } | { outcome: 'in-flight' } | { outcome: 'stale' }>;
  /**
   * Logs a failure the adapter answers 500, whose cause the sender never sees.
   *
   * @param event - the verified event, when the failure came after verification.
   */
  logFailure(error: unknown, event: WebhookEvent | undefined): void;
}

/**
 * Resolves the shared options of an adapter.
 *
 * @param options - the adapter's options.
 * @param allowedKeys - every key the adapter accepts (see {@link receiverKeys}).
 * @param crypto - `node` verifies synchronously with node:crypto (Node adapters);
 *   `web` with Web Crypto (every runtime).
 * @throws ConfigError for bad options.
 * @internal
 */
export function createReceiverPipeline(options: ReceiverOptions, allowedKeys: ReadonlySet<string>, crypto: 'node' | 'web'): ReceiverPipeline {
  const verifyOptions = resolveVerifyOptions(options as VerifyWebhookOptions, allowedKeys);
  const recordFailure = createFailureRecorder(options);
  const { store, ttlSeconds, leaseSeconds } = resolveDedupe(options);
  const staleEvents = resolveStaleEvents(options);
  const logger = resolveReceiverLogger(options.logger);
  // A typed router with `ordering` given as `onEvent` (its `handle`, as the README passes it):
  // a stale event's number is recorded in its turn by the router's rule.
  const ordering = orderingGateOf((options as { onEvent?: unknown }).onEvent);

  function log(fields: Record<string, unknown>, message: string): void {
    try {
      logger?.error(fields, message);
    } catch {
      // A logger that throws must not turn an answered request into a crash.
    }
  }

  async function settle(step: () => Promise<void>, event: WebhookEvent, outcome: string, report: (error: unknown) => void): Promise<void> {
    try {
      await step();
    } catch (error) {
      log(
        { err: error, webhookId: event.id, eventType: event.type },
        `webhooks receiver: the dedupe store failed to record webhook ${event.id} as ${outcome}; the answer stands`,
      );
      report(error);
    }
  }

  /**
   * An event the router's ordering dropped by its number alone (ordering-store.ts): answered
   * as a duplicate, its id released rather than remembered, since the number is not signed.
   */
  async function dropped(event: WebhookEvent, token: string, report: (error: unknown) => void): Promise<{ outcome: 'duplicate' }> {
    if (store !== undefined) await settle(() => store.release(event.id, token), event, 'released', report);
    return { outcome: 'duplicate' };
  }

  return {
    async verify(message) {
      try {
        const signed = crypto === 'node' ? verifySignature(message, verifyOptions) : await verifySignatureAsync(message, verifyOptions);
        return verifiedEvent(signed, verifyOptions.environment);
      } catch (error) {
        recordFailure(error);
        throw error;
      }
    },
    async process(event, run, acknowledged, report) {
      // One token per claim: a release or complete names the claim it settles, so a
      // handler that outlived its lease cannot free the claim another request took since.
      const token = store === undefined ? '' : globalThis.crypto.randomUUID();
      if (store !== undefined) {
        const claim: unknown = await store.claim(event.id, leaseSeconds, token);
        if (claim === 'processed') return { outcome: 'duplicate' };
        if (claim === 'in-flight') return { outcome: 'in-flight' };
        if (claim !== 'claimed') {
          // A store answering `false` for "seen" must not be read as a won claim: that would book twice.
          throw new ConfigError(
            'CONFIG_INVALID',
            `Expected the dedupe store's claim() to resolve to 'claimed', 'in-flight' or 'processed', got ${describeValue(claim)}`,
            { field: 'dedupe' },
          );
        }
      }
      if (staleEvents !== undefined && isStaleEvent(event.timestamp, staleEvents.maxEventAgeSeconds, Date.now())) {
        const skip = async (): Promise<void> => {
          await staleEvents.onStale?.(event);
        };
        try {
          // Under the router's ordering, acknowledging a stale event passes its number: it goes
          // through the rule (a gap or a key in flight is refused, 409, like a fresh event's).
          await (ordering === undefined ? skip() : ordering(event, skip));
        } catch (error) {
          if (store !== undefined) await settle(() => store.release(event.id, token), event, 'released', report);
          throw error;
        }
        if (droppedByNumber(event)) return await dropped(event, token, report);
        if (store !== undefined) await settle(() => store.complete(event.id, ttlSeconds, token), event, 'processed', report);
        return { outcome: 'stale' };
      }
      let result;
      try {
        result = await run();
      } catch (error) {
        if (store !== undefined) await settle(() => store.release(event.id, token), event, 'released', report);
        throw error;
      }
      if (droppedByNumber(event)) return await dropped(event, token, report);
      if (store !== undefined) {
        // Processed means the sender is told 2xx. A handler that answered 503 itself
        // wants a retry, and the retry must not be taken for a duplicate.
        if (acknowledged(result)) await settle(() => store.complete(event.id, ttlSeconds, token), event, 'processed', report);
        else await settle(() => store.release(event.id, token), event, 'released', report);
      }
      return { outcome: 'processed', result };
    },
    logFailure(error, event) {
      if (event === undefined) {
        log({ err: error }, 'webhooks receiver: a request failed before its webhook was verified; answered 500');
      } else {
        log(
          { err: error, webhookId: event.id, eventType: event.type },
          `webhooks receiver: handling webhook ${event.id} (${event.type}) failed; the sender will retry it`,
        );
      }
    },
  };
}

/**
 * True for a status the sender counts as delivered.
 *
 * @internal
 */
export function isSuccessStatus(status: number): boolean {
  return status >= 200 && status < 300;
}

/**
 * Verify + dedupe + handle in one call, for any framework or queue consumer: give
 * it the raw body and the headers, it tells you whether the event was `processed`,
 * a `duplicate` (a redelivered payment is never booked twice) or `in-flight`.
 * Verifies with Web Crypto, so it runs in every runtime.
 *
 * @throws ConfigError `SECRET_INVALID` or `CONFIG_INVALID` for bad options, at creation.
 *
 * @example
 * ```ts
 * const receiver = createWebhookReceiver({ secrets: process.env.WEBHOOK_SECRET!, onEvent: router.handle });
 * // Koa, with a raw-body parser:
 * router.post('/webhooks', async (ctx) => {
 *   try {
 *     const { outcome } = await receiver.receive({ body: ctx.request.rawBody, headers: ctx.headers });
 *     ctx.status = outcome === 'in-flight' ? 409 : 204;
 *   } catch (error) {
 *     // With the router's `ordering`: ORDERING_GAP and ORDERING_KEY_IN_FLIGHT ask for a retry later.
 *     ctx.status = !isWebhookError(error) ? 500 : error.code.startsWith('WEBHOOK_') ? 401 : error.code.startsWith('ORDERING_') ? 409 : 500;
 *   }
 * });
 * ```
 */
export function createWebhookReceiver<TEvent extends WebhookEvent = WebhookEvent>(options: WebhookReceiverOptions<TEvent>): WebhookReceiver<TEvent> {
  const steps = receiverSteps(options);
  return {
    async receive(message) {
      const event = await steps.verify(message);
      const processed = await steps.handle(event);
      return { outcome: processed.outcome, event };
    },
  };
}

/**
 * {@link createWebhookReceiver}'s two steps apart: verify a message; claim, handle and settle
 * its event. `pullMissed` verifies a whole page as it arrives before handling any of it.
 *
 * @internal
 */
export function receiverSteps<TEvent extends WebhookEvent>(options: WebhookReceiverOptions<TEvent>) {
  const pipeline = createReceiverPipeline(options, receiverKeys('onEvent', 'onError'), 'web');
  const onEvent = requireFunction(options.onEvent, 'onEvent');
  const onError = requireFunction(options.onError, 'onError', true);
  const report = (error: unknown): void => {
    try {
      onError?.(error);
    } catch {
      // A logging hook that throws must not undo a processed event.
    }
  };
  return {
    verify: async (message: WebhookMessage): Promise<TEvent> => (await pipeline.verify(message)) as TEvent,
    handle: (event: TEvent) => pipeline.process(event, () => onEvent(event), () => true, report),
  };
}

/**
 * Validates a callback option.
 *
 * @internal
 * @throws ConfigError `CONFIG_INVALID` unless a function (or absent, when optional).
 */
export function requireFunction<T>(value: T, field: string, optional = false): T {
  if (typeof value !== 'function' && !(optional && value === undefined)) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`${field}\` to be a function, got ${describeValue(value)}`, { field });
  }
  return value;
}
