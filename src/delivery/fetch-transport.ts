/**
 * A transport on `fetch`, through ky: for runtimes without undici (Bun, Deno, edge
 * workers) and for hosts that want ky's hooks. Same rules as the undici transport:
 * whole-request timeout, capped response body, redirects not followed, SSRF guard.
 *
 * The SSRF check differs in one respect: `fetch` offers no connect-time hook, so
 * names are resolved and checked just before the request (where `node:dns` exists).
 * A name that rebinds between that check and fetch's own lookup is only caught by
 * the undici transport, which checks the address it actually connects to.
 *
 * It has no egress settings (`capabilities` absent): `fetch` takes no proxy agent or client
 * certificate that works in every runtime, so `http.proxy` and a subscription's `tls` are
 * refused with `TRANSPORT_UNSUPPORTED` where they are set, never accepted and ignored.
 */
import ky from 'ky';
import { parseHttpDate } from './retry-after.js';
import { checkUrlHost, ipLiteralOf, type AddressGuard } from './ssrf-guard.js';
import {
  classifyTransportError,
  describeTransportError,
  type Transport,
  type TransportRequest,
  type TransportResult,
} from './transport.js';
import { z } from 'zod';
import { checkArgumentCount } from '../check-argument-count.js';
import { ConfigError } from '../errors.js';
import { parseConfig } from '../parse-config.js';

/** Options of {@link createFetchTransport}. */
export interface FetchTransportOptions {
  /**
   * The fetch implementation.
   * @defaultValue `globalThis.fetch`
   */
  fetch?: typeof globalThis.fetch;
  /** Hooks around each request, e.g. for tracing. Retries stay the dispatcher's. */
  hooks?: FetchTransportHooks;
}

const isFunction = (value: unknown): boolean => typeof value === 'function';
const hookList = z.array(z.custom<(...args: never[]) => unknown>(isFunction, { message: 'a function' }));
const fetchTransportOptionsSchema = z.strictObject({
  fetch: z.custom<typeof globalThis.fetch>(isFunction, { message: 'a fetch function' }).optional(),
  hooks: z.strictObject({ beforeRequest: hookList.optional(), afterResponse: hookList.optional() }).optional(),
});

/**
 * What a hook sees of the request's options: ky's normalized options (read them, do
 * not change them).
 */
export interface FetchHookOptions extends RequestInit {
  method: string;
}

/**
 * ky's `beforeRequest` and `afterResponse` hooks, typed here so that the package's types
 * never import ky (it is bundled, and ESM-only). ky's retry and error hooks do not exist
 * here: the transport never retries and never throws on an HTTP status.
 */
export interface FetchTransportHooks {
  /**
   * Run in order before each request. A hook may change `request.headers`, return a
   * `Request` to send instead, or return a `Response` to use without sending.
   */
  beforeRequest?: Array<
    (request: Request, options: FetchHookOptions) => Request | Response | void | Promise<Request | Response | void>
  >;
  /** Run in order on each response. A hook may return a `Response` to use instead. */
  afterResponse?: Array<
    (request: Request, options: FetchHookOptions, response: Response) => Response | void | Promise<Response | void>
  >;
}

interface DnsPromises {
  lookup(hostname: string, options: { all: true }): Promise<Array<{ address: string }>>;
}

function nodeDns(): DnsPromises | null {
  const getBuiltinModule = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  if (typeof getBuiltinModule !== 'function') return null;
  const dns = getBuiltinModule('node:dns') as { promises?: DnsPromises } | undefined;
  return dns?.promises ?? null;
}

async function refusedByDns(url: URL, guard: AddressGuard): Promise<string | null> {
  // An address is checked as it is by checkUrlHost; resolving `[::1]` (the URL's bracketed
  // form) would fail as a name that does not exist.
  if (ipLiteralOf(url.hostname) !== null) return null;
  const dns = nodeDns();
  if (dns === null) return null;
  const addresses = await dns.lookup(url.hostname, { all: true });
  for (const { address } of addresses) {
    if (!guard.allows(address, url.hostname)) return `${url.hostname} resolves to ${address}, a private or reserved address`;
  }
  return null;
}

/**
 * The first `Retry-After` of a response that sent the header more than once, as the undici
 * transport reads it: `Headers.get` joins the lines with ", " (`120, 120`), which no parser
 * reads. A delay-seconds or asctime date has no comma; an IMF-fixdate or RFC 850 date has one,
 * after the day name.
 */
function firstRetryAfter(combined: string | null): string | null {
  if (combined === null || !combined.includes(',') || parseHttpDate(combined.trim()) !== null) return combined;
  const [first = '', second = ''] = combined.split(',');
  return /^\s*\d+\s*$/.test(first) || parseHttpDate(first.trim()) !== null ? first.trim() : `${first},${second}`.trim();
}

/**
 * Rejects when `signal` aborts. The deadline is enforced with this rather than left to
 * fetch: ky hands fetch `AbortSignal.any([ours, ky's])`, and Node keeps such a composite
 * signal only weakly, so after a garbage collection an abort may never reach fetch or the
 * response body. A receiver that trickles bytes would then hold a delivery for ever.
 */
function whenAborted(signal: AbortSignal): Promise<never> {
  const aborted = new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(new Error('deadline reached')), { once: true });
  });
  aborted.catch(() => undefined);
  return aborted;
}

async function readCapped(response: Response, maxBytes: number, deadline: Promise<never>): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await Promise.race([reader.read(), deadline]);
      if (done) break;
      const room = maxBytes - size;
      chunks.push(value.length > room ? value.subarray(0, room) : value);
      size += Math.min(value.length, room);
    }
  } finally {
    // Not awaited: some stream sources settle a cancel only when their producer next runs,
    // and the rest of the body is not worth waiting for.
    reader.cancel().catch(() => undefined);
  }
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(joined);
}

/** Creates a transport that posts with ky over `fetch`. */
export function createFetchTransport(options: FetchTransportOptions = {}): Transport {
  checkArgumentCount(arguments.length, 1, 'createFetchTransport(options?)', 'factory');
  const parsed = parseConfig(fetchTransportOptionsSchema, options);
  const fetchImpl = parsed.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') {
    throw new ConfigError('CONFIG_INVALID', 'Expected `fetch` to be a function: this runtime has no global fetch, pass one', { field: 'fetch' });
  }
  const client = ky.create({
    fetch: fetchImpl,
    retry: 0,
    timeout: false,
    throwHttpErrors: false,
    redirect: 'manual',
    ...(options.hooks ? { hooks: options.hooks } : {}),
  });

  return {
    async send(request: TransportRequest): Promise<TransportResult> {
      let url: URL;
      try {
        url = new URL(request.url);
      } catch (error) {
        return { kind: 'error', errorClass: 'network', message: `invalid URL: ${describeTransportError(error)}` };
      }
      // fetch has no proxy agent nor client certificate to give: refused, never sent without them.
      // createWebhooks and subscriptions.create/update refuse them first (TRANSPORT_UNSUPPORTED).
      if ((request.proxy ?? null) !== null || (request.tls ?? null) !== null) {
        const what = (request.proxy ?? null) !== null ? 'an egress proxy (http.proxy)' : "a subscription's tls";
        return { kind: 'error', errorClass: 'config', message: `the fetch transport cannot use ${what}: use the undici transport` };
      }
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), request.timeoutMs);
      const deadline = whenAborted(controller.signal);
      try {
        if (request.guard !== null) {
          // The lookup is inside the deadline: a resolver that never answers ends the attempt at timeoutMs.
          const refused = checkUrlHost(url, request.guard) ?? (await Promise.race([refusedByDns(url, request.guard), deadline]));
          if (refused !== null) {
            return { kind: 'error', errorClass: 'ssrf', message: `refused by the SSRF guard: ${refused}` };
          }
        }
        const posted = client.post(url, {
          headers: request.headers,
          body: (request.bodyBytes as Uint8Array<ArrayBuffer> | undefined) ?? request.body,
          signal: controller.signal,
        });
        // A response that comes after the deadline is not read: release its connection.
        posted.then(
          (late) => {
            if (controller.signal.aborted) late.body?.cancel().catch(() => undefined);
          },
          () => undefined,
        );
        const response = await Promise.race([posted, deadline]);
        const body = await readCapped(response, request.maxResponseBytes, deadline);
        return {
          kind: 'response',
          statusCode: response.status,
          retryAfter: firstRetryAfter(response.headers.get('retry-after')),
          body,
        };
      } catch (error) {
        const errorClass = controller.signal.aborted ? 'timeout' : classifyTransportError(error);
        const message =
          errorClass === 'timeout' ? `no complete response within ${request.timeoutMs} ms` : describeTransportError(error);
        return { kind: 'error', errorClass, message };
      } finally {
        clearTimeout(timer);
      }
    },
    async close(): Promise<void> {
      // fetch owns its connections; nothing to release.
    },
  };
}
