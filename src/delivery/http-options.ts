/**
 * The dispatcher's HTTP options (`createWebhooks({ http })`): the public interface and
 * the zod schema that holds their defaults.
 */
import { z } from 'zod';
import { isReservedHeader } from './reserved-headers.js';
import type { ProxyOption } from './proxy-options.js';

// RFC 9110 §5.6.2: a field name is a token.
const headerToken = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** HTTP settings of the dispatcher. */
export interface HttpOptions {
  /**
   * The whole request (connect, send, response headers and body) must finish within this;
   * past it the attempt fails with error class `timeout`.
   * @defaultValue 15000
   */
  timeoutMs?: number;
  /**
   * Response bytes read at most; the rest is discarded (the start of it is kept in the
   * attempt log: see `responseSnippetBytes`).
   * @defaultValue 65536
   */
  maxResponseBytes?: number;
  /**
   * Bytes of each response body kept in the attempt log (`deliveries.attempts(id)`), cut on
   * a UTF-8 character boundary; `0` keeps none — for hosts that must not store what
   * receivers answer (it may name a counterparty). At most 16384.
   * @defaultValue 1024
   */
  responseSnippetBytes?: number;
  /**
   * Upper bound on a receiver's `Retry-After` (429/503).
   * @defaultValue 3600000 (1 hour)
   */
  maxRetryAfterMs?: number;
  /**
   * The `user-agent` header.
   * @defaultValue "Bookkeeper-Webhooks/1"
   */
  userAgent?: string;
  /**
   * The name of a request header that carries the event's tenant id on each delivery of
   * an event published for a tenant (`publish(type, data, { tenantId })`); absent on
   * deliveries of events without a tenant. The tenant is never added to the envelope: the
   * body and the signature are the same with or without the header, which the signature
   * does not cover. A subscription's own header of this name is not sent. An HTTP token,
   * none of the headers the library sets or refuses (`content-type`, `user-agent`,
   * `webhook-*`, `host`, …), in any case (sent in lower case). `null`: no such header.
   * @defaultValue null
   * @example "x-tenant-id"
   */
  tenantHeader?: string | null;
  /**
   * An HTTP(S) forward proxy every delivery and test request goes through (an HTTP
   * `CONNECT` tunnel, for `http:` and `https:` targets alike): a URL (credentials as
   * `http://user:pass@proxy:3128`, never logged nor shown in errors), `{ url, noProxy }`
   * with `NO_PROXY` patterns of targets that go direct (`"*"`, `"host"` — and its
   * subdomains —, `".domain"`/`"*.domain"`, an IP address or CIDR range, each with an
   * optional `":port"`), or `'env'`: `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (lower-case
   * names first; https targets fall back to `HTTP_PROXY`), read once when the instance is
   * created. With a proxy, the SSRF guard resolves and checks each target name before
   * sending; the address the proxy connects to is the proxy's to check. A failure of the
   * proxy itself (refused, timed out, or a `CONNECT` answered other than 200, e.g. 407 or
   * 502) is an attempt of error class `proxy`: retried, but not counted against the
   * endpoint (circuit breaker, auto-disable). Only the undici transport supports it.
   * @defaultValue null
   * @example "http://egress.internal:3128"
   */
  proxy?: ProxyOption | null;
}

/** The `http` option, every field defaulted. */
export const httpOptionsSchema = z
  .strictObject({
    timeoutMs: z.int().min(1).max(3_600_000).default(15_000),
    maxResponseBytes: z.int().min(0).max(64 * 1024 * 1024).default(65_536),
    responseSnippetBytes: z.int().min(0).max(16_384).default(1024),
    maxRetryAfterMs: z.number().int().min(0).max(365 * 24 * 3_600_000).default(3_600_000),
    userAgent: z.string().min(1).max(200).regex(/^[\x20-\x7e]+$/).default('Bookkeeper-Webhooks/1'),
    tenantHeader: z
      .string()
      .max(200)
      .regex(headerToken)
      .describe('an HTTP header name (an RFC 9110 token) of at most 200 characters')
      .refine((name) => !isReservedHeader(name), 'a header name the library does not set or refuse (not content-type, user-agent, webhook-*, host, …)')
      .toLowerCase()
      .nullable()
      .default(null),
    // Checked by resolveProxyOption, whose messages never show a proxy password.
    proxy: z.custom<ProxyOption | null>(() => true).optional(),
  })
  .prefault({});
