/**
 * `@bookkeeper/webhooks/receiver`: verify and handle Standard Webhooks 1.0
 * webhooks in a consumer app.
 *
 * Runtime-neutral: no zod, no storage, no driver, no framework and no static
 * `node:` import, so it bundles for edge runtimes. `verifyWebhook` and
 * `verifyWebhookSignature` (sync) need node:crypto at call time; their async twins,
 * `createWebHandler` and `createWebhookReceiver` run anywhere with Web Crypto. The Express and Fastify
 * adapters are typed structurally and import nothing from their frameworks.
 */
export { verifyWebhook } from './verify-webhook.js';
export { verifyWebhookAsync } from './verify-webhook-async.js';
export { verifyWebhookSignature } from './verify-webhook-signature.js';
export { verifyWebhookSignatureAsync } from './verify-webhook-signature-async.js';
export {
  createWebhookReceiver,
  type ReceiverOptions,
  type WebhookOutcome,
  type WebhookReceipt,
  type WebhookReceiver,
  type WebhookReceiverOptions,
} from './webhook-receiver.js';
export { createNodeHandler, type NodeHandlerOptions } from './node-handler.js';
export { createWebHandler, verifyWebRequest, type VerifyWebRequestOptions, type WebHandlerOptions } from './web-handler.js';
export { expressWebhook, type ExpressNextFunction, type ExpressRequestLike, type ExpressWebhookOptions } from './express-middleware.js';
export {
  fastifyWebhook,
  type FastifyErrorLike,
  type FastifyInstanceLike,
  type FastifyReplyLike,
  type FastifyRequestLike,
  type FastifyWebhookOptions,
  type FastifyWebhookPlugin,
} from './fastify-plugin.js';
export {
  createWebhookRouter,
  type EventMapOf,
  type EventTypesOf,
  type WebhookEventHandler,
  type WebhookEventOf,
  type WebhookRouter,
  type WebhookRouterOptions,
} from './webhook-router.js';
export {
  DEFAULT_MAX_ORDERING_KEYS,
  createMemoryOrderingStore,
  type MemoryOrderingStoreOptions,
  type OrderedWebhookEvent,
  type OrderingOptions,
  type OrderingStore,
} from './ordering-store.js';
export {
  DEFAULT_DEDUPE_LEASE_SECONDS,
  DEFAULT_DEDUPE_TTL_SECONDS,
  createMemoryDedupeStore,
  type DedupeClaim,
  type DedupeOptions,
  type DedupeStore,
  type MemoryDedupeStoreOptions,
} from './dedupe-store.js';
export {
  createSqlInbox,
  type InboxEvent,
  type InboxPurgeOptions,
  type InboxReceipt,
  type SqlClient,
  type SqlInbox,
  type SqlInboxOptions,
  type SqlQuery,
  type SqlQueryResult,
} from './sql-inbox.js';
export { DEFAULT_INBOX_TABLE, inboxMigrationSql, type InboxMigrationSqlOptions, type SqlInboxDialect } from './inbox-statements.js';
export type { StaleEventOptions } from './stale-events.js';
export { pullMissed, type PullMissedOptions, type PullMissedResult } from './pull-missed.js';
export type { ReceiverLogger } from './receiver-logger.js';
export {
  SIGNATURE_VERIFICATION_FAILURES_METRIC,
  type ReceiverCounter,
  type ReceiverMeter,
  type VerificationFailureHook,
  type VerificationFailureOptions,
} from './verification-failure-counter.js';
export type {
  VerifiedWebhookMessage,
  VerifyWebhookOptions,
  VerifyWebhookSignatureOptions,
  WebhookEvent,
  WebhookHeaderValue,
  WebhookHeaders,
  WebhookMessage,
} from '../signing/verify-signature.js';
export {
  FeedError,
  SignatureVerificationError,
  StorageError,
  WebhookError,
  isWebhookError,
  type FeedErrorCode,
  type SignatureVerificationErrorCode,
  type StorageErrorCode,
  type WebhookErrorCode,
} from '../errors.js';
