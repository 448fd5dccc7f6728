/**
 * `verifyWebhook`: synchronous Standard Webhooks verification of a Bookkeeper event,
 * on node:crypto: the signature, then the envelope parse and its `environment` check.
 */
import {
  resolveVerifyOptions,
  verifiedEvent,
  verifyEventOptionKeys,
  verifySignature,
  type VerifyWebhookOptions,
  type WebhookEvent,
  type WebhookMessage,
} from '../signing/verify-signature.js';

/**
 * Verifies a received webhook and returns its event. Synchronous, on node:crypto
 * (loaded lazily, so importing this module is safe in any runtime); elsewhere use
 * `verifyWebhookAsync`, which takes the same arguments.
 *
 * Pass the raw body exactly as received: a body re-serialised after JSON parsing
 * no longer matches its signature.
 *
 * @typeParam TEvent - the event type the caller expects (not checked at run time).
 * @param message - `{ body, headers }`: the raw body (`string` or `Uint8Array`) and the
 *   request headers (a `Headers` or a plain object such as Node's `req.headers`).
 * @param options - `{ secrets, toleranceSeconds?, now?, environment? }`.
 * @returns `{ id, type, timestamp, environment?, metadata?, data }`, `id` from the
 *   `webhook-id` header, `environment` and `metadata` from the signed envelope when the
 *   sender put them there.
 * @throws SignatureVerificationError with the `code` of the failed check:
 *   `WEBHOOK_MISSING_HEADER`, `WEBHOOK_INVALID_TIMESTAMP`, `WEBHOOK_TIMESTAMP_TOO_OLD`,
 *   `WEBHOOK_TIMESTAMP_TOO_NEW`, `WEBHOOK_INVALID_SIGNATURE`, `WEBHOOK_NO_MATCHING_SIGNATURE`,
 *   `WEBHOOK_INVALID_PAYLOAD` (a body that is not the envelope, or one whose `metadata` is not
 *   an object of strings: use `verifyWebhookSignature` for bodies of other shapes),
 *   `WEBHOOK_ENVIRONMENT_MISMATCH` (with `environment`: the envelope names another one, or none).
 * @throws ConfigError `SECRET_INVALID` or `CONFIG_INVALID` for bad options, and
 *   `CONFIG_INVALID` in a runtime without node:crypto.
 * @throws ValidationError `INPUT_INVALID` when `body` is not raw (e.g. already parsed).
 *
 * @example
 * ```ts
 * import { verifyWebhook } from '@bookkeeper/webhooks/receiver';
 *
 * const event = verifyWebhook({ body: rawBody, headers: req.headers }, { secrets: process.env.WEBHOOK_SECRET!, environment: 'live' });
 * if (event.type === 'payment.succeeded') markPaid(event.data);
 * ```
 */
export function verifyWebhook<TEvent extends WebhookEvent = WebhookEvent>(message: WebhookMessage, options: VerifyWebhookOptions): TEvent {
  const resolved = resolveVerifyOptions(options, verifyEventOptionKeys);
  return verifiedEvent<TEvent>(verifySignature(message, resolved), resolved.environment);
}
