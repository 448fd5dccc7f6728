/**
 * `verifyWebhookSignature`: synchronous Standard Webhooks verification of any signed
 * body, on node:crypto. `verifyWebhook` is built on it.
 */
import {
  resolveVerifyOptions,
  verifiedMessage,
  verifySignature,
  type VerifiedWebhookMessage,
  type VerifyWebhookSignatureOptions,
  type WebhookMessage,
} from '../signing/verify-signature.js';

/**
 * Verifies a Standard Webhooks message's headers, timestamp and signature, and
 * returns it without reading its body: for webhooks from any Standard Webhooks
 * sender, whatever their payload (`verifyWebhook` also requires the Bookkeeper
 * envelope `{ type, timestamp, data }`). Synchronous, on node:crypto (loaded lazily);
 * elsewhere use `verifyWebhookSignatureAsync`, which takes the same arguments.
 *
 * Pass the raw body exactly as received: a body re-serialised after JSON parsing
 * no longer matches its signature.
 *
 * @param message - `{ body, headers }`: the raw body (`string` or `Uint8Array`) and the
 *   request headers (a `Headers` or a plain object such as Node's `req.headers`).
 * @param options - `{ secrets, toleranceSeconds?, now? }`, as `verifyWebhook`.
 * @returns `{ id, timestamp, body }`: the `webhook-id`, the `webhook-timestamp` in unix
 *   seconds, and the raw body as a string (bytes decoded as UTF-8), unparsed.
 * @throws SignatureVerificationError with the `code` of the failed check:
 *   `WEBHOOK_MISSING_HEADER`, `WEBHOOK_INVALID_TIMESTAMP`, `WEBHOOK_TIMESTAMP_TOO_OLD`,
 *   `WEBHOOK_TIMESTAMP_TOO_NEW`, `WEBHOOK_INVALID_SIGNATURE`, `WEBHOOK_NO_MATCHING_SIGNATURE`;
 *   `WEBHOOK_INVALID_PAYLOAD` only for signed bytes that are not UTF-8.
 * @throws ConfigError `SECRET_INVALID` or `CONFIG_INVALID` for bad options (`environment`
 *   among them: only `verifyWebhook` reads the envelope it is checked on), and
 *   `CONFIG_INVALID` in a runtime without node:crypto.
 * @throws ValidationError `INPUT_INVALID` when `body` is not raw (e.g. already parsed).
 *
 * @example
 * ```ts
 * import { verifyWebhookSignature } from '@bookkeeper/webhooks/receiver';
 *
 * const { id, body } = verifyWebhookSignature({ body: rawBody, headers: req.headers }, { secrets: process.env.PARTNER_SECRET! });
 * const payload = JSON.parse(body); // the sender's own format
 * ```
 */
export function verifyWebhookSignature(message: WebhookMessage, options: VerifyWebhookSignatureOptions): VerifiedWebhookMessage {
  return verifiedMessage(verifySignature(message, resolveVerifyOptions(options)));
}
