/**
 * The signed test request of a verified URL change (`subscriptions.update(id, { url },
 * { verifyUrl: true })`): before a subscription's deliveries go to a new endpoint, that
 * endpoint must answer a request signed with the subscription's own secrets, as a delivery
 * would be. Quietly pointing an endpoint elsewhere is a known fraud path (payment data
 * redirected); a URL that cannot show it holds the secret is refused instead.
 */
import type { Clock } from '../clock.js';
import { isReservedHeader } from '../delivery/reserved-headers.js';
import type { AddressGuard } from '../delivery/ssrf-guard.js';
import type { Transport } from '../delivery/transport.js';
import { ConflictError } from '../errors.js';
import { createId } from '../ids.js';
import { ENVIRONMENT_HEADER } from '../signing/environment-name.js';
import { createSigningKeys, signatureHeader, wipeSigningKeys } from '../signing/sign-webhook.js';
import type { SubscriptionRecord } from '../storage/storage-adapter.js';
import type { SecretCodec } from './secret-codec.js';
import { openHeaders } from './sensitive-headers.js';
import { activeSecrets } from './subscription-registry.js';

/** The event type of the test request. */
export const URL_VERIFICATION_EVENT_TYPE = 'webhook.test';

/** What the verifier needs of the instance: the delivery path's own settings. */
export interface EndpointVerifierDeps {
  transport: Transport;
  guard: AddressGuard | null;
  codec: SecretCodec;
  clock: Clock;
  timeoutMs: number;
  userAgent: string;
  environment: string | null;
}

/**
 * Makes the verifier: it posts `{ id, type: "webhook.test", timestamp, environment?, data:
 * { subscriptionId, url, reason: "url_change" } }` to the new URL, with the subscription's
 * custom headers and a Standard Webhooks signature by each of its active secrets, and
 * resolves when the answer is a 2xx.
 * @throws ConflictError `SUBSCRIPTION_URL_UNVERIFIED` naming the status or the failure.
 */
export function createEndpointVerifier(deps: EndpointVerifierDeps): (url: string, record: SubscriptionRecord) => Promise<void> {
  return async (url, record) => {
    const now = deps.clock.now();
    const secrets = activeSecrets(record, now).map((secret) => deps.codec.open(secret.value, record.id));
    const id = createId('msg', now);
    const envelope: Record<string, unknown> = { id, type: URL_VERIFICATION_EVENT_TYPE, timestamp: new Date(now).toISOString() };
    if (deps.environment !== null) envelope.environment = deps.environment;
    envelope.data = { subscriptionId: record.id, url, reason: 'url_change' };
    const body = JSON.stringify(envelope);
    const timestampSeconds = Math.floor(now / 1000);
    const keys = createSigningKeys(secrets);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(openHeaders(record.headers, record.id, deps.codec))) {
      if (!isReservedHeader(name)) headers[name] = value;
    }
    if (deps.environment !== null) headers[ENVIRONMENT_HEADER] = deps.environment;
    headers['content-type'] = 'application/json';
    headers['user-agent'] = deps.userAgent;
    headers['webhook-id'] = id;
    headers['webhook-timestamp'] = String(timestampSeconds);
    try {
      headers['webhook-signature'] = signatureHeader(keys, id, timestampSeconds, body);
    } finally {
      wipeSigningKeys(keys);
    }
    const result = await deps.transport.send({ url, headers, body, timeoutMs: deps.timeoutMs, maxResponseBytes: 1024, guard: deps.guard });
    if (result.kind === 'response' && result.statusCode >= 200 && result.statusCode < 300) return;
    const got = result.kind === 'response' ? `HTTP ${result.statusCode}` : `${result.errorClass} failure (${result.message})`;
    throw new ConflictError(
      'SUBSCRIPTION_URL_UNVERIFIED',
      `Expected the new URL to answer the signed ${URL_VERIFICATION_EVENT_TYPE} request with a 2xx before the change, got ${got}; the subscription is unchanged`,
      { field: 'url' },
    );
  };
}
