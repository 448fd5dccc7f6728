/**
 * The signed test request: one Standard Webhooks request of type `webhook.test`, posted to
 * a subscription's endpoint at once, as a delivery to it would be — its custom headers, a
 * signature by each of its active secrets, through the instance's transport, SSRF guard and
 * timeout. `subscriptions.sendTest` sends it, and so does a verified URL change before the
 * change (endpoint-verification.ts). It is no delivery: no event or delivery is stored and
 * nothing is retried; whatever the endpoint answers comes back as data — the record that
 * the subscription's test log keeps (record-test-attempt.ts), with the start of the response
 * body by the rule of a delivery attempt's snippet (delivery/utf8-snippet.ts).
 */
import type { Clock } from '../clock.js';
import { isReservedHeader } from '../delivery/reserved-headers.js';
import type { AddressGuard } from '../delivery/ssrf-guard.js';
import type { Transport, TransportResult } from '../delivery/transport.js';
import type { ResolvedProxy } from '../delivery/proxy-options.js';
import { transportTls } from '../delivery/tls-identity.js';
import { responseSnippet } from '../delivery/utf8-snippet.js';
import { createId } from '../ids.js';
import { ENVIRONMENT_HEADER } from '../signing/environment-name.js';
import { createSigningKeys, signatureHeader, wipeSigningKeys } from '../signing/sign-webhook.js';
import type { SubscriptionRecord, TestAttemptReason, TestAttemptRecord } from '../storage/storage-adapter.js';
import type { SecretCodec } from './secret-codec.js';
import { openHeaders } from './sensitive-headers.js';
import { activeSecrets } from './subscription-registry.js';

/** The event type of a test request. */
export const TEST_EVENT_TYPE = 'webhook.test';

/** What a test request needs of the instance: the delivery path's own settings. */
export interface TestRequestDeps {
  transport: Transport;
  guard: AddressGuard | null;
  codec: SecretCodec;
  clock: Clock;
  timeoutMs: number;
  /** Response bytes read at most (`http.maxResponseBytes`), as for a delivery. */
  maxResponseBytes: number;
  /** Bytes of the response body kept (`http.responseSnippetBytes`; `0`: none), as for a delivery attempt. */
  responseSnippetBytes: number;
  userAgent: string;
  environment: string | null;
  /** The egress proxy (`http.proxy`); `null`: direct. */
  proxy: ResolvedProxy | null;
}

/** `data.reason` of a test request: `test` from `sendTest`, `url_change` before a verified URL change. */
export type TestRequestReason = TestAttemptReason;

/** What came of a test request (`subscriptions.sendTest`). */
export interface SendTestResult {
  /** The endpoint answered with a 2xx within `http.timeoutMs` (a redirect is not followed: a 3xx is not ok). */
  ok: boolean;
  /** The status of the answer; `null` when none came (refused connection, timeout, DNS, TLS, SSRF guard, …). */
  statusCode: number | null;
  /** How long the request took, ms. */
  durationMs: number;
  /**
   * Why it was not ok: `HTTP <status>` for an answer, or the failure class and the
   * transport's message (`connect failure (…)`); `null` when ok. The start of the response
   * body is in the test log (`subscriptions.testAttempts`), not here.
   */
  error: string | null;
  /** The request's `webhook-id` (and the envelope's `id`): a fresh `msg_…` id per test, the id of its test-log record. */
  webhookId: string;
  /**
   * The request is in the subscription's test log (`subscriptions.testAttempts`). `false`
   * when it could not be recorded — the subscription was removed (hard delete) while the
   * request was in flight, or the storage failed (logged at error level through the
   * instance's `logger`): the request was sent all the same, and this is what came of it.
   */
  recorded: boolean;
}

/** An event of the catalog sent as a test instead of `webhook.test`: its type and example data. */
export interface TestEventExample {
  type: string;
  data: unknown;
  /**
   * What the subscription gets of the test event, as a real delivery would: its data in the
   * version it is pinned to (the envelope's `version`, for a type with versions) and as its
   * transform makes it. Absent: the example as it is.
   * @throws what rendering refuses with (`TRANSFORM_FAILED`, `TRANSFORM_MISSING`, `EVENT_DOWNGRADE_FAILED`).
   */
  render?: ((event: { id: string; type: string; timestamp: string; data: unknown }) => { version: number | undefined; data: unknown }) | undefined;
}

/** Who sent a test request and what to send instead of `webhook.test`. */
export interface TestRequestOptions {
  /** Who sent it, as the host names them; `null` when not given. */
  actor: string | null;
  /** Send this catalog type with its example data. */
  example?: TestEventExample | undefined;
}

/**
 * Posts `{ id, type: "webhook.test", timestamp, environment?, data: { subscriptionId, url,
 * reason } }` to `url` — or, with `example`, that type and data — signed with `record`'s
 * active secrets and carrying its custom headers, and returns the record of it for the test
 * log (not stored here). A transport that throws counts as a network failure.
 *
 * @throws what opening the record's secrets or sealed headers throws (a ConfigError when
 *   `security.secretsKey` does not open them): no request can be signed then.
 */
export async function sendTestRequest(
  deps: TestRequestDeps,
  record: SubscriptionRecord,
  url: string,
  reason: TestRequestReason,
  options: TestRequestOptions,
): Promise<TestAttemptRecord> {
  const { example } = options;
  const now = deps.clock.now();
  const secrets = activeSecrets(record, now).map((secret) => deps.codec.open(secret.value, record.id));
  // The client certificate its deliveries present: a test without it would test another request.
  const tls = record.tls === null ? null : transportTls(record.tls, (sealed) => deps.codec.open(sealed, record.id));
  const id = createId('msg', now);
  const type = example?.type ?? TEST_EVENT_TYPE;
  const timestamp = new Date(now).toISOString();
  const rendered =
    example === undefined
      ? { version: undefined, data: { subscriptionId: record.id, url, reason } }
      : example.render === undefined
        ? { version: undefined, data: example.data }
        : example.render({ id, type, timestamp, data: example.data });
  // The envelope's keys in the order a delivery's has them (envelope-json.ts).
  const envelope: Record<string, unknown> = { id, type };
  if (rendered.version !== undefined) envelope.version = rendered.version;
  envelope.timestamp = timestamp;
  if (deps.environment !== null) envelope.environment = deps.environment;
  envelope.data = rendered.data;
  const body = JSON.stringify(envelope);
  const timestampSeconds = Math.floor(now / 1000);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(openHeaders(record.headers, record.id, deps.codec))) {
    if (!isReservedHeader(name)) headers[name] = value;
  }
  if (deps.environment !== null) headers[ENVIRONMENT_HEADER] = deps.environment;
  headers['content-type'] = 'application/json';
  headers['user-agent'] = deps.userAgent;
  headers['webhook-id'] = id;
  headers['webhook-timestamp'] = String(timestampSeconds);
  const keys = createSigningKeys(secrets);
  try {
    headers['webhook-signature'] = signatureHeader(keys, id, timestampSeconds, body);
  } finally {
    wipeSigningKeys(keys);
  }
  const wallStart = performance.now();
  let result: TransportResult;
  try {
    result = await deps.transport.send({ url, headers, body, timeoutMs: deps.timeoutMs, maxResponseBytes: deps.maxResponseBytes, guard: deps.guard, proxy: deps.proxy, tls });
  } catch (error) {
    result = { kind: 'error', errorClass: 'network', message: error instanceof Error ? error.message : String(error) };
  }
  const durationMs = Math.round((performance.now() - wallStart) * 1000) / 1000;
  const sent = { id, subscriptionId: record.id, tenantId: record.tenantId, type, reason, actor: options.actor, url, startedAt: now, durationMs };
  if (result.kind === 'error') {
    return { ...sent, statusCode: null, ok: false, errorClass: result.errorClass, error: `${result.errorClass} failure (${result.message})`, responseSnippet: null };
  }
  const ok = result.statusCode >= 200 && result.statusCode < 300;
  return {
    ...sent,
    statusCode: result.statusCode,
    ok,
    errorClass: ok ? null : 'http',
    error: ok ? null : `HTTP ${result.statusCode}`,
    responseSnippet: responseSnippet(result.body, deps.responseSnippetBytes),
  };
}
