/**
 * The seam between the dispatcher and the wire. A transport posts one signed body
 * and reports what happened as data: a response (any status) or a classified
 * failure. It never throws for a failed delivery — a failed delivery is data.
 */
import type { AttemptErrorClass } from '../storage/storage-adapter.js';
import type { AddressGuard } from './ssrf-guard.js';
import type { ResolvedProxy } from './proxy-options.js';

/** A subscription's TLS client identity and trust settings, opened, for one request. */
export interface TransportTls {
  /** Names the identity (delivery/tls-identity.ts): requests with the same id share a connection pool. */
  readonly id: string;
  /** The client certificate (PEM); `null`: none is presented (a CA or server name only). */
  readonly certificate: string | null;
  /** Its private key (PEM), in clear; `null` exactly when `certificate` is. */
  readonly key: string | null;
  /** CA certificates (PEM) instead of the public roots; `null`: the public roots. */
  readonly ca: string | null;
  /** SNI and the name the server's certificate is checked against; `null`: the URL's host. */
  readonly serverName: string | null;
}

export interface TransportRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /**
   * The same body as UTF-8 bytes, when the caller has them (the dispatcher always
   * does: it signs these bytes). A transport that sends bytes should send these rather
   * than encode `body` again.
   */
  bodyBytes?: Uint8Array;
  /** The whole request — connect, send, headers and body — must finish within this. */
  timeoutMs: number;
  /** Read at most this many bytes of the response body; the rest is discarded. */
  maxResponseBytes: number;
  /** The SSRF guard to apply at connect time; `null` allows every address. */
  guard: AddressGuard | null;
  /**
   * The egress proxy (`http.proxy`); absent or `null`: direct. A transport without
   * `capabilities.proxy` must fail a request that has one (error class `config`), never send it direct.
   */
  proxy?: ResolvedProxy | null;
  /**
   * The subscription's TLS identity; absent or `null`: none. A transport without
   * `capabilities.tls` must fail a request that has one (error class `config`), never send it without.
   */
  tls?: TransportTls | null;
}

export type TransportResult =
  | {
      kind: 'response';
      statusCode: number;
      /** The `Retry-After` header, when present. */
      retryAfter: string | null;
      /** The start of the body, decoded as UTF-8, at most `maxResponseBytes`. */
      body: string;
    }
  | { kind: 'error'; errorClass: Exclude<AttemptErrorClass, 'http'>; message: string };

/** Posts webhooks. Redirects are never followed; a 3xx is an answer like any other. */
export interface Transport {
  send(request: TransportRequest): Promise<TransportResult>;
  /** Closes pooled connections. */
  close(): Promise<void>;
  /**
   * The egress settings it honours: `proxy` (`http.proxy`) and `tls` (a subscription's client
   * certificate, CA and server name). Absent: neither — `createWebhooks` and
   * `subscriptions.create/update` refuse them with `TRANSPORT_UNSUPPORTED` rather than let
   * them be ignored.
   */
  readonly capabilities?: { readonly proxy?: boolean; readonly tls?: boolean };
  /** Closes the connections pooled for a TLS identity (its `TransportTls.id`) no subscription uses any more. */
  retireTls?(id: string): void;
}

/**
 * OpenSSL's certificate verification failures as Node names them (`tls` `error.code`) that
 * do not start with `CERT_`: an untrusted chain (a private CA without `ca`), an expired or
 * misnamed server certificate.
 */
const certificateVerifyCodes: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
]);

/** Maps a low-level error (Node, undici, fetch) to an attempt error class. */
export function classifyTransportError(error: unknown): Exclude<AttemptErrorClass, 'http'> {
  let current: unknown = error;
  // fetch wraps the socket error in `cause`; walk down to the first code we know.
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    const name = (current as { name?: unknown }).name;
    if (code === 'ERR_WEBHOOK_FORBIDDEN_ADDRESS') return 'ssrf';
    if (code === 'ERR_WEBHOOK_PROXY') return 'proxy';
    if (
      name === 'TimeoutError' ||
      name === 'AbortError' ||
      code === 'UND_ERR_CONNECT_TIMEOUT' ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT' ||
      code === 'UND_ERR_ABORTED' ||
      code === 'ETIMEDOUT'
    ) {
      return 'timeout';
    }
    if (code === 'ERR_WEBHOOK_LOOKUP_INVALID') return 'dns';
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NODATA') return 'dns';
    if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') {
      return 'connect';
    }
    if (typeof code === 'string' && (code.startsWith('ERR_TLS') || code.startsWith('CERT_') || code.includes('SSL') || certificateVerifyCodes.has(code))) {
      return 'tls';
    }
    if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') {
      return 'network';
    }
    current = (current as { cause?: unknown }).cause;
  }
  return 'network';
}

/** A short, secret-free description of a transport failure for the attempt log. */
export function describeTransportError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current !== null && typeof current === 'object'; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    const text = typeof message === 'string' ? message : '';
    parts.push(typeof code === 'string' && !text.includes(code) ? `${code}: ${text}` : text);
    current = (current as { cause?: unknown }).cause;
  }
  return parts.filter(Boolean).join(' <- ').slice(0, 500);
}
