/**
 * The signed test request: one Standard Webhooks request of type `webhook.test`, posted to
 * a subscription's endpoint at once, as a delivery to it would be — its custom headers, a
 * signature by each of its active secrets, through the instance's transport, SSRF guard and
 * timeout. `subscriptions.sendTest` sends it, and so does a verified URL change before the
 * change (endpoint-verification.ts). It is no delivery: nothing is stored, and whatever the
 * endpoint answers comes back as data.
 */
import type { Clock } from '../clock.js';
import { isReservedHeader } from '../delivery/reserved-headers.js';
import type { AddressGuard } from '../delivery/ssrf-guard.js';
import type { Transport, TransportResult } from '../delivery/transport.js';
import { createId } from '../ids.js';
import { ENVIRONMENT_HEADER } from '../signing/environment-name.js';
import { createSigningKeys, signatureHeader, wipeSigningKeys } from '../signing/sign-webhook.js';
import type { SubscriptionRecord } from '../storage/storage-adapter.js';
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
  userAgent: string;
  environment: string | null;
}

/** `data.reason` of a test request: `test` from `sendTest`, `url_change` before a verified URL change. */
export type TestRequestReason = 'test' | 'url_change';

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
   * transport's message (`connect failure (…)`); `null` when ok. The response body is not kept.
   */
  error: string | null;
  /** The request's `webhook-id` (and the envelope's `id`): a fresh `msg_…` id per test. */
  webhookId: string;
}

/** An event of the catalog sent as a test instead of `webhook.test`: its type and example data. */
export interface TestEventExample {
  type: string;
  data: unknown;
}

/**
 * Posts `{ id, type: "webhook.test", timestamp, environment?, data: { subscriptionId, url,
 * reason } }` to `url` — or, with `example`, that type and data — signed with `record`'s
 * active secrets and carrying its custom headers. A transport that throws counts as a
 * network failure.
 *
 * @throws what opening the record's secrets or sealed headers throws (a ConfigError when
 *   `security.secretsKey` does not open them): no request can be signed then.
 */
export async function sendTestRequest(
  deps: TestRequestDeps,
  record: SubscriptionRecord,
  url: string,
  reason: TestRequestReason,
  example?: TestEventExample,
): Promise<SendTestResult> {
  const now = deps.clock.now();
  const secrets = activeSecrets(record, now).map((secret) => deps.codec.open(secret.value, record.id));
  const id = createId('msg', now);
  const envelope: Record<string, unknown> = { id, type: example?.type ?? TEST_EVENT_TYPE, timestamp: new Date(now).toISOString() };
  if (deps.environment !== null) envelope.environment = deps.environment;
  envelope.data = example === undefined ? { subscriptionId: record.id, url, reason } : example.data;
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
    result = await deps.transport.send({ url, headers, body, timeoutMs: deps.timeoutMs, maxResponseBytes: 1024, guard: deps.guard });
  } catch (error) {
    result = { kind: 'error', errorClass: 'network', message: error instanceof Error ? error.message : String(error) };
  }
  const durationMs = Math.round((performance.now() - wallStart) * 1000) / 1000;
  if (result.kind === 'error') return { ok: false, statusCode: null, durationMs, error: `${result.errorClass} failure (${result.message})`, webhookId: id };
  const ok = result.statusCode >= 200 && result.statusCode < 300;
  return { ok, statusCode: result.statusCode, durationMs, error: ok ? null : `HTTP ${result.statusCode}`, webhookId: id };
}
