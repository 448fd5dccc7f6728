/**
 * The dispatcher's settings as data, and the one mapping from them (with the parts that
 * are objects: storage, transport, bus, …) to the {@link DispatcherOptions}. Both places
 * that build a dispatcher use it: `createWebhooks` on the host's thread, and the worker
 * thread of `dispatcher: { thread: 'worker' }`, which receives these settings by
 * structured clone and builds its parts from them.
 */
import { createPayloadCodec } from '../payload-codec.js';
import { createSecretCodec, normalizeSecretsKeys } from '../registry/secret-codec.js';
import type { ResolvedWebhooksOptions } from '../webhooks-options.js';
import type { DispatcherOptions } from './dispatcher.js';
import { FlowControl } from './flow-control.js';
import { createAddressGuard } from './ssrf-guard.js';

/** The resolved options a dispatcher reads: every one of them data, but a `retry` function. */
export type DispatcherSettings = Pick<
  ResolvedWebhooksOptions,
  | 'retry'
  | 'flowControl'
  | 'circuitBreaker'
  | 'tenantLimits'
  | 'autoDisableAfterMs'
  | 'concurrency'
  | 'leaseMs'
  | 'pollIntervalMs'
  | 'http'
  | 'environment'
> & {
  readonly security: Pick<ResolvedWebhooksOptions['security'], 'allowPrivateNetworks' | 'allowedHosts' | 'secretsKey' | 'payloadKey'>;
};

/** The dispatcher's parts that are objects, made by whoever builds it. */
export type DispatcherParts = Pick<
  DispatcherOptions,
  'storage' | 'transport' | 'bus' | 'metrics' | 'clock' | 'random' | 'logger' | 'guard' | 'codec' | 'payloadCodec'
>;

/** Only the settings, for a worker thread: nothing else of the resolved options crosses. */
export function pickDispatcherSettings(resolved: ResolvedWebhooksOptions): DispatcherSettings {
  const { allowPrivateNetworks, allowedHosts, secretsKey, payloadKey } = resolved.security;
  return {
    retry: resolved.retry,
    flowControl: resolved.flowControl,
    circuitBreaker: resolved.circuitBreaker,
    tenantLimits: resolved.tenantLimits,
    autoDisableAfterMs: resolved.autoDisableAfterMs,
    concurrency: resolved.concurrency,
    leaseMs: resolved.leaseMs,
    pollIntervalMs: resolved.pollIntervalMs,
    http: resolved.http,
    environment: resolved.environment,
    security: {
      allowPrivateNetworks,
      allowedHosts,
      ...(secretsKey === undefined ? {} : { secretsKey }),
      ...(payloadKey === undefined ? {} : { payloadKey }),
    },
  };
}

/** The SSRF guard and the two codecs the security settings call for. */
export function securityParts(security: DispatcherSettings['security']): Pick<DispatcherParts, 'guard' | 'codec' | 'payloadCodec'> {
  return {
    guard: security.allowPrivateNetworks ? null : createAddressGuard(security.allowedHosts),
    codec: createSecretCodec(security.secretsKey === undefined ? [] : normalizeSecretsKeys(security.secretsKey)),
    payloadCodec: createPayloadCodec(security.payloadKey === undefined ? [] : normalizeSecretsKeys(security.payloadKey)),
  };
}

/** The dispatcher's options from its settings and parts. */
export function dispatcherOptions(settings: DispatcherSettings, parts: DispatcherParts): DispatcherOptions {
  return {
    ...parts,
    retry: settings.retry,
    flow: new FlowControl(parts.clock, settings.flowControl, settings.circuitBreaker, settings.tenantLimits),
    autoDisableAfterMs: settings.autoDisableAfterMs,
    concurrency: settings.concurrency,
    leaseMs: settings.leaseMs,
    pollIntervalMs: settings.pollIntervalMs,
    timeoutMs: settings.http.timeoutMs,
    maxResponseBytes: settings.http.maxResponseBytes,
    responseSnippetBytes: settings.http.responseSnippetBytes,
    maxRetryAfterMs: settings.http.maxRetryAfterMs,
    userAgent: settings.http.userAgent,
    tenantHeader: settings.http.tenantHeader,
    environment: settings.environment,
    proxy: settings.http.proxy,
  };
}
