/**
 * `@bookkeeper/webhooks/receiver`: verify and handle Standard Webhooks 1.0
 * webhooks in a consumer app.
 *
 * Runtime-neutral: no zod, no storage, no driver and no static `node:` import, so
 * it bundles for edge runtimes. `verifyWebhook` (sync) needs node:crypto at call
 * time; `verifyWebhookAsync` and the Fetch handler run anywhere with Web Crypto.
 */
export { verifyWebhook } from './verify-webhook.js';
export { verifyWebhookAsync } from './verify-webhook-async.js';
export { createNodeHandler, type NodeHandlerOptions } from './node-handler.js';
export { createWebHandler, verifyWebRequest, type VerifyWebRequestOptions, type WebHandlerOptions } from './web-handler.js';
export type {
  VerifyWebhookOptions,
  WebhookEvent,
  WebhookHeaderValue,
  WebhookHeaders,
  WebhookMessage,
} from '../signing/verify-signature.js';
export {
  SignatureVerificationError,
  WebhookError,
  isWebhookError,
  type SignatureVerificationErrorCode,
  type WebhookErrorCode,
} from '../errors.js';
