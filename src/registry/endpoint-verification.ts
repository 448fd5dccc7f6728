/**
 * The check of a verified URL change (`subscriptions.update(id, { url }, { verifyUrl: true
 * })`): before a subscription's deliveries go to a new endpoint, that endpoint must answer
 * the signed test request (send-test-request.ts) with a 2xx, signed with the subscription's
 * own secrets as a delivery would be. Quietly pointing an endpoint elsewhere is a known fraud
 * path (payment data redirected); a URL that cannot show it holds the secret is refused
 * instead. The request goes in the subscription's test log (reason `url_change`) either way.
 */
import { ConflictError } from '../errors.js';
import type { SubscriptionRecord, TestAttemptRecord } from '../storage/storage-adapter.js';
import { TEST_EVENT_TYPE, sendTestRequest, type TestRequestDeps } from './send-test-request.js';

/** The event type of the test request sent to verify a new URL (`webhook.test`, as every test request). */
export const URL_VERIFICATION_EVENT_TYPE = TEST_EVENT_TYPE;

/** Verifies `url` for `record`'s URL change made by `actor` (`null`: not named). */
export type EndpointVerifier = (url: string, record: SubscriptionRecord, actor: string | null) => Promise<void>;

/**
 * Makes the verifier: it sends the test request, with `data: { subscriptionId, url, reason:
 * "url_change" }`, to the new URL, has `record` put it in the test log (a failure to record
 * it does not change the verdict: see record-test-attempt.ts), and resolves when the answer
 * is a 2xx.
 * @throws ConflictError `SUBSCRIPTION_URL_UNVERIFIED` naming the status or the failure.
 */
export function createEndpointVerifier(deps: TestRequestDeps, record: (attempt: TestAttemptRecord) => Promise<boolean>): EndpointVerifier {
  return async (url, subscription, actor) => {
    const attempt = await sendTestRequest(deps, subscription, url, 'url_change', { actor });
    await record(attempt);
    if (attempt.ok) return;
    throw new ConflictError(
      'SUBSCRIPTION_URL_UNVERIFIED',
      `Expected the new URL to answer the signed ${URL_VERIFICATION_EVENT_TYPE} request with a 2xx before the change, got ${attempt.error}; the subscription is unchanged`,
      { field: 'url' },
    );
  };
}
