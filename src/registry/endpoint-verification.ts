/**
 * The check of a verified URL change (`subscriptions.update(id, { url }, { verifyUrl: true
 * })`): before a subscription's deliveries go to a new endpoint, that endpoint must answer
 * the signed test request (send-test-request.ts) with a 2xx, signed with the subscription's
 * own secrets as a delivery would be. Quietly pointing an endpoint elsewhere is a known fraud
 * path (payment data redirected); a URL that cannot show it holds the secret is refused
 * instead.
 */
import { ConflictError } from '../errors.js';
import type { SubscriptionRecord } from '../storage/storage-adapter.js';
import { TEST_EVENT_TYPE, sendTestRequest, type TestRequestDeps } from './send-test-request.js';

/** The event type of the test request sent to verify a new URL (`webhook.test`, as every test request). */
export const URL_VERIFICATION_EVENT_TYPE = TEST_EVENT_TYPE;

/**
 * Makes the verifier: it sends the test request, with `data: { subscriptionId, url, reason:
 * "url_change" }`, to the new URL, and resolves when the answer is a 2xx.
 * @throws ConflictError `SUBSCRIPTION_URL_UNVERIFIED` naming the status or the failure.
 */
export function createEndpointVerifier(deps: TestRequestDeps): (url: string, record: SubscriptionRecord) => Promise<void> {
  return async (url, record) => {
    const outcome = await sendTestRequest(deps, record, url, 'url_change');
    if (outcome.ok) return;
    throw new ConflictError(
      'SUBSCRIPTION_URL_UNVERIFIED',
      `Expected the new URL to answer the signed ${URL_VERIFICATION_EVENT_TYPE} request with a 2xx before the change, got ${outcome.error}; the subscription is unchanged`,
      { field: 'url' },
    );
  };
}
