/**
 * `@bookkeeper/webhooks`: signed, retried, durable webhooks for financial events.
 * The consumer side lives in `@bookkeeper/webhooks/receiver`.
 */
export { createWebhooks } from './create-webhooks.js';
export type { DrainOptions, Webhooks } from './create-webhooks.js';
export type { PublishOptions, PublishResult } from './publish.js';
export type { BlockedKeysQuery, DeliveryLog, ListDeliveriesQuery, ReplayOptions } from './delivery-log.js';
export type { DeleteTenantOptions, DeletedTenant, Tenants } from './tenants.js';
export type {
  DispatcherOptions,
  ResolvedDispatcherOptions,
  ResolvedTenantLimits,
  ResolvedWebhooksOptions,
  SecurityOptions,
  TenantLimitsOptions,
  WebhooksOptions,
} from './webhooks-options.js';
export type { HttpOptions } from './delivery/http-options.js';
export type { RetryOptions } from './delivery/retry-options.js';

export { defineEvents } from './events/catalog.js';
export { exportCatalog } from './events/export-catalog.js';
export type { CatalogExport, CatalogExportFormat, ExportCatalogOptions, JsonDocument } from './events/export-catalog.js';
export type {
  EventCatalog,
  EventCatalogVersions,
  EventDataOf,
  EventDefinition,
  EventDefinitions,
  EventExamples,
  EventInputOf,
  EventSchemas,
  EventTypeOf,
  EventTypeVersions,
  EventVersionDataOf,
  EventVersionDefinition,
  VersionedEventDefinition,
  VersionPinsOf,
} from './events/catalog.js';
export type { VersionPins } from './routing/version-pins.js';
export { bookkeeperEvents } from './events/bookkeeper-events.js';
export type { BookkeeperEvents } from './events/bookkeeper-events.js';
export { ISO_4217_LIST_DATE, currencyExponent, currencyExponents, isCurrencyCode } from './events/money/currency-exponent.js';
export type { CurrencyExponent } from './events/money/currency-exponent.js';
export {
  currencyCodeSchema,
  decimalStringSchema,
  fxRateSchema,
  moneySchema,
  moneyWithExponentSchema,
  taxLineSchema,
} from './events/money/money-schemas.js';
export type { FxRate, Money, MoneyWithExponent, TaxLine } from './events/money/money-schemas.js';
export { EventBus, createEventBus } from './events/event-bus.js';
export type {
  BusEvents,
  DashboardActionEvent,
  DeliveryDeadEvent,
  DeliveryFailedEvent,
  DeliveryLeaseLostEvent,
  DeliveryLifecycleEvent,
  DeliverySucceededEvent,
  DispatcherCrashedEvent,
  LifecycleEvents,
  PublishedEvent,
  SubscriptionChangedEvent,
  SubscriptionDeletedEvent,
  SubscriptionDisabledEvent,
  SubscriptionTestedEvent,
} from './events/event-bus.js';

export type {
  ChangeOptions,
  CreateSubscriptionInput,
  DeleteSubscriptionOptions,
  HistoryQuery,
  ListSubscriptionsQuery,
  RotateSecretOptions,
  SendTestOptions,
  Subscription,
  SubscriptionOrdering,
  SubscriptionChange,
  SubscriptionRegistry,
  SubscriptionSecrets,
  SubscriptionWithSecret,
  TestAttempt,
  TestAttemptsQuery,
  UpdateSubscriptionInput,
  UpdateSubscriptionOptions,
} from './registry/subscription-registry.js';
export { URL_VERIFICATION_EVENT_TYPE } from './registry/endpoint-verification.js';
export type { SendTestResult } from './registry/send-test-request.js';
export type { ExpungeSelector, ExpungeSummary, ListEventsQuery, ListedEvent, SignedEventHeaders, StoredEvent, StoredEvents } from './stored-events.js';
export { createEventFeedHandler } from './feed/create-event-feed-handler.js';
export type { EventFeedHandler, EventFeedItem, EventFeedOptions, EventFeedPage, EventFeedResponseCode, EventFeedSource } from './feed/create-event-feed-handler.js';
export { toExpressMiddleware, toNodeHandler } from './feed/to-node-handler.js';
export type { ExpressFeedRequest, FetchHandler } from './feed/to-node-handler.js';
export type { SecretsCreatedAt } from './registry/secrets-created-at.js';
export type { SubscriptionTls, SubscriptionTlsWithClientCertificate, SubscriptionTlsWithoutClientCertificate, TlsIdentityInput } from './registry/client-tls.js';
export { matchesEventType } from './registry/event-type-filter.js';
export { REDACTED_HEADER_VALUE } from './registry/sensitive-headers.js';
export type { EventTypeFilterOf, EventTypePrefixes } from './registry/event-type-filter.js';
export type { FilterDocument, PayloadFilter } from './routing/payload-filter.js';
export type { PayloadTransform, PayloadTransforms, TransformEvent } from './routing/payload-transforms.js';

export { generateSecret } from './signing/secret.js';
export { generateSigningKeyPair, type SigningKeyPair } from './signing/generate-signing-key-pair.js';
export type { SigningScheme } from './signing/signing-key.js';
export { signWebhook } from './signing/sign-webhook.js';
export type { SignWebhookInput } from './signing/sign-webhook.js';

export { computeBackoff, standardWebhooksDelaysMs } from './delivery/backoff.js';
export type { RetryContext, RetryPolicy } from './delivery/backoff.js';
export { createUndiciTransport } from './delivery/undici-transport.js';
export type { UndiciTransportOptions } from './delivery/undici-transport.js';
export { createFetchTransport } from './delivery/fetch-transport.js';
export type { FetchHookOptions, FetchTransportHooks, FetchTransportOptions } from './delivery/fetch-transport.js';
export type { Transport, TransportRequest, TransportResult } from './delivery/transport.js';
export { isForbiddenAddress } from './delivery/ssrf-guard.js';
export type { AddressGuard } from './delivery/ssrf-guard.js';

export { createMemoryStorage } from './storage/memory/index.js';
export type * from './storage/storage-adapter.js';
export { CANCELLED_BY_DELETE, CANCELLED_BY_EXPUNGE } from './storage/storage-adapter.js';

export type { CircuitStatus, MetricsSnapshot } from './metrics/delivery-metrics.js';
export type { LatencySummary } from './metrics/latency-histogram.js';
export type { Clock } from './clock.js';
export { systemClock } from './clock.js';
export type { Logger } from './logger.js';

export {
  ConfigError,
  ConflictError,
  FeedError,
  SignatureVerificationError,
  StateError,
  StorageError,
  ValidationError,
  WebhookError,
  isWebhookError,
} from './errors.js';
export type {
  ConfigErrorCode,
  ConflictErrorCode,
  FeedErrorCode,
  SignatureVerificationErrorCode,
  StateErrorCode,
  StorageErrorCode,
  ValidationErrorCode,
  WebhookErrorCode,
} from './errors.js';
