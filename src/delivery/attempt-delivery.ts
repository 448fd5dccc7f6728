/**
 * One attempt at a claimed delivery: its headers, its signature, the post through the
 * transport, and the classification of the answer into the settlement the storage
 * records. Never throws: whatever the receiver or the transport does becomes data.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { ENVIRONMENT_HEADER } from '../signing/environment-name.js';
import { SEQUENCE_HEADER } from '../signing/sequence-header.js';
import { createId } from '../ids.js';
import type { PayloadCodec } from '../payload-codec.js';
import { signatureHeader } from '../signing/sign-webhook.js';
import type { ClaimedDelivery, Settlement } from '../storage/storage-adapter.js';
import { normalizeStoredRetryPolicy } from './retry-options.js';
import { computeBackoff, defaultRetryPolicy, guardRetryPolicy, type RetryFunctionFailure, type RetryPolicy } from './backoff.js';
import { classifyResponse } from './classify-response.js';
import { isReservedHeader } from './reserved-headers.js';
import type { SubscriptionSigningKeys } from './signing-key-cache.js';
import type { AddressGuard } from './ssrf-guard.js';
import type { ResolvedProxy } from './proxy-options.js';
import type { Transport, TransportResult } from './transport.js';
import { responseSnippet } from './utf8-snippet.js';

/** What an attempt needs beside the delivery and its keys. */
export interface AttemptOptions {
  transport: Transport;
  clock: Clock;
  random: () => number;
  /** The global retry policy, for subscriptions without their own. */
  retry: RetryPolicy;
  guard: AddressGuard | null;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Bytes of a response body kept in the attempt log; `0`: none (`http.responseSnippetBytes`). */
  responseSnippetBytes: number;
  maxRetryAfterMs: number;
  userAgent: string;
  /** The header (lower case) that carries the event's tenant id; `null`: none (`http.tenantHeader`). */
  tenantHeader: string | null;
  /** The instance's `environment`, sent as the `bookkeeper-environment` header; `null`: none. */
  environment: string | null;
  /** Opens the event's stored payload (`security.payloadKey`): what is signed and sent is the payload as published. */
  payloadCodec: PayloadCodec;
  /** The egress proxy (`http.proxy`); `null`: direct. */
  proxy: ResolvedProxy | null;
  /** Where a failing `retry` function, and an attempt that failed inside the library, are logged (at `error`). */
  logger: Logger;
}

/** An attempt made, with the delivery it was made for. */
export interface CompletedAttempt {
  readonly claimed: ClaimedDelivery;
  readonly settlement: Settlement;
}


/**
 * Posts `claimed` once, signed with `signing`, and returns what to settle: the outcome
 * (delivered, retry at a time, dead, disable) and the attempt's record.
 *
 * Never throws (rejects). A `retry` function that throws or answers other than a wait or
 * `null` is logged at `error` and the attempt is retried on the default schedule
 * (`guardRetryPolicy`); anything else that throws in the attempt (a bug, a stored retry policy
 * that no longer parses) is logged at `error` and settled as a failed attempt (`config`,
 * with the error's message) retried on the default schedule — so the delivery is neither lost
 * nor left under its lease.
 */
export async function attemptDelivery(claimed: ClaimedDelivery, signing: SubscriptionSigningKeys, options: AttemptOptions): Promise<Settlement> {
  const startedAt = options.clock.now();
  try {
    return await attemptOnce(claimed, signing, options, startedAt);
  } catch (error) {
    return failedInside(claimed, error, startedAt, options);
  }
}

/**
 * The settlement of an attempt that failed inside the library rather than at the endpoint:
 * logged at `error`, recorded as a failed attempt of class `config`, retried on the default
 * schedule (dead once it is spent). Whether the request went out is not known: at least once.
 *
 * @internal Used by the dispatcher for a failure before the attempt (its keys).
 */
export function failedInside(claimed: ClaimedDelivery, error: unknown, startedAt: number, options: Pick<AttemptOptions, 'clock' | 'random' | 'logger'>): Settlement {
  const { delivery } = claimed;
  const attempt = delivery.attempts + 1;
  options.logger.error(
    { err: error, deliveryId: delivery.id, subscriptionId: delivery.subscriptionId, attempt },
    'webhooks: an attempt failed inside the library; it is recorded as a failed attempt, and the wait after it is taken from the default schedule',
  );
  const delay = computeBackoff(defaultRetryPolicy, { attempt, statusCode: null, errorClass: 'config' }, options.random);
  const message = error instanceof Error ? error.message : String(error);
  return {
    deliveryId: delivery.id,
    leaseToken: claimed.leaseToken,
    outcome: delay === null ? { kind: 'dead' } : { kind: 'retry', nextAttemptAt: options.clock.now() + delay },
    orderingKey: delivery.orderingKey,
    attempt: {
      id: createId('att', startedAt),
      startedAt,
      durationMs: 0,
      statusCode: null,
      errorClass: 'config',
      errorMessage: `the attempt failed inside the library: ${message}`.slice(0, 1000),
      responseSnippet: null,
    },
  };
}

/** The retry policy of `claimed`'s subscription, its own or the global one, with a `retry` function guarded. */
function policyFor(claimed: ClaimedDelivery, options: AttemptOptions): RetryPolicy {
  const { delivery, subscription } = claimed;
  const policy = subscription.retry === null ? options.retry : normalizeStoredRetryPolicy(subscription.retry);
  // Only a function needs a guard (and the report closure): a schedule is data, checked when given.
  if (policy.kind !== 'custom') return policy;
  return guardRetryPolicy(policy, options.random, ({ problem, error }: RetryFunctionFailure) => {
    options.logger.error(
      { ...(error === undefined ? {} : { err: error }), deliveryId: delivery.id, subscriptionId: subscription.id, attempt: delivery.attempts + 1 },
      `webhooks: the \`retry\` function ${problem}; expected it to return synchronously a wait in ms (a finite number ≥ 0) or null — the wait after this attempt is taken from the default schedule (Standard Webhooks) instead`,
    );
  });
}

async function attemptOnce(claimed: ClaimedDelivery, signing: SubscriptionSigningKeys, options: AttemptOptions, startedAt: number): Promise<Settlement> {
  const { delivery } = claimed;
  const wallStart = performance.now();
  const result = await post(claimed, signing, Math.floor(startedAt / 1000), options);
  const durationMs = Math.round((performance.now() - wallStart) * 1000) / 1000;
  const classification = classifyResponse(result, {
    attempt: delivery.attempts + 1,
    policy: policyFor(claimed, options),
    now: options.clock.now(),
    random: options.random,
    maxRetryAfterMs: options.maxRetryAfterMs,
  });
  const body = result.kind === 'response' ? result.body : null;
  return {
    deliveryId: delivery.id,
    leaseToken: claimed.leaseToken,
    outcome: classification.outcome,
    // Lets a storage settle a batch in which a key's head passes on its ordered path at once.
    orderingKey: delivery.orderingKey,
    attempt: {
      id: createId('att', startedAt),
      startedAt,
      durationMs,
      statusCode: classification.statusCode,
      errorClass: classification.errorClass,
      errorMessage: classification.errorMessage,
      responseSnippet: responseSnippet(body, options.responseSnippetBytes),
    },
  };
}

async function post(claimed: ClaimedDelivery, signing: SubscriptionSigningKeys, timestampSeconds: number, options: AttemptOptions): Promise<TransportResult> {
  const { event, subscription, delivery } = claimed;
  if (signing.keys === null) {
    // Nothing can be signed: an operator must fix `security.secretsKey`. The attempt
    // fails (and is retried on the schedule) rather than sending an unsigned request.
    return { kind: 'error', errorClass: 'config', message: signing.keysError ?? 'no signing secret' };
  }
  if (signing.headers === null) {
    // A sealed header value that does not open: sending without it would fail (or mislead)
    // the receiver, so the attempt fails like a secret that does not open.
    return { kind: 'error', errorClass: 'config', message: signing.headersError ?? 'a sealed header value does not open' };
  }
  if (signing.tlsError !== null) {
    // Sending without the client certificate would only be refused by the receiver (or worse, accepted).
    return { kind: 'error', errorClass: 'config', message: `the subscription's TLS key does not open: ${signing.tlsError}` };
  }
  let body: string;
  try {
    body = options.payloadCodec.open(event.payload, event.id);
  } catch (error) {
    // A sealed payload that does not open (another key, tampered with): failed like a secret
    // that does not open, and retried on the schedule. The message names the event and the
    // key id, never the payload or the key.
    return { kind: 'error', errorClass: 'config', message: error instanceof Error ? error.message : String(error) };
  }
  const headers: Record<string, string> = {};
  const { tenantHeader } = options;
  // A reserved name stored before the registry refused it is never sent beside the library's
  // own; nor is one named as the tenant header, whose value only the event's tenant sets.
  for (const [name, value] of Object.entries(signing.headers)) {
    if (!isReservedHeader(name) && (tenantHeader === null || name.toLowerCase() !== tenantHeader)) headers[name] = value;
  }
  if (tenantHeader !== null && event.tenantId !== null) headers[tenantHeader] = event.tenantId;
  // Unsigned, like the tenant header: the envelope's signed `environment` is what a receiver checks.
  if (options.environment !== null) headers[ENVIRONMENT_HEADER] = options.environment;
  // Unsigned too: the key is in the signed envelope; the number lets a consumer tell a duplicate from a gap.
  if (delivery.orderingSequence !== null) headers[SEQUENCE_HEADER] = String(delivery.orderingSequence);
  headers['content-type'] = 'application/json';
  headers['user-agent'] = options.userAgent;
  headers['webhook-id'] = event.id;
  headers['webhook-timestamp'] = String(timestampSeconds);
  // Re-signed on every attempt: the timestamp is fresh, so receivers' tolerance windows hold on retries.
  headers['webhook-signature'] = signatureHeader(signing.keys, event.id, timestampSeconds, body);
  try {
    return await options.transport.send({
      url: subscription.url,
      headers,
      body,
      timeoutMs: options.timeoutMs,
      maxResponseBytes: options.maxResponseBytes,
      guard: options.guard,
      proxy: options.proxy,
      tls: signing.tls,
    });
  } catch (error) {
    // A transport must report failures as data; one that throws is treated as a network failure.
    return { kind: 'error', errorClass: 'network', message: error instanceof Error ? error.message : String(error) };
  }
}
