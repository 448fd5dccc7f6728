/**
 * The event feed's default authentication: a request signed with the subscription's own
 * secret, Standard Webhooks style (the scheme: signing/feed-request.ts). Checked in the
 * order that costs least first: the headers and the timestamp (no storage read), then the
 * signature against the subscription's active secrets (any of them, during a rotation), and
 * last the nonce, so that only an authentic request can use one up.
 */
import { isWebhookError } from '../errors.js';
import type { DedupeStore } from '../receiver/dedupe-store.js';
import { FEED_SUBSCRIPTION_HEADER, feedRequestContent } from '../signing/feed-request.js';
import { readSignedMessage, verifySignature, type ResolvedVerifyOptions, type WebhookMessage } from '../signing/verify-signature.js';
import { FeedRefusal } from './feed-refusal.js';

/** What the signed-request check needs. */
export interface SignedRequestAuthDeps {
  /**
   * The secrets the subscription signs with now (`whsec_…`), or `null` when there is no such
   * subscription: an unknown id is refused like a wrong signature, so ids cannot be probed.
   */
  secretsOf(subscriptionId: string): Promise<readonly string[] | null>;
  toleranceSeconds: number;
  /** Remembers nonces (`webhook-id`) per subscription for twice the tolerance. */
  nonces: DedupeStore;
  clock: { now(): number };
}

/**
 * The check of a signed feed request: resolves to the subscription it names.
 *
 * @throws FeedRefusal 401 with the code of the failed check (`WEBHOOK_MISSING_HEADER`,
 *   `WEBHOOK_TIMESTAMP_TOO_OLD`, `WEBHOOK_NO_MATCHING_SIGNATURE`, …, `FEED_REQUEST_REPLAYED`).
 * @throws what `secretsOf` or the nonce store throw (answered 500): a storage or key problem
 *   on the sender's side is not the consumer's fault.
 */
export function createSignedRequestAuth(deps: SignedRequestAuthDeps): (request: Request, url: URL) => Promise<string> {
  const { secretsOf, toleranceSeconds, nonces, clock } = deps;
  // A timestamp up to the tolerance ahead stays acceptable until it is the tolerance old: a
  // nonce must be remembered that long, and no longer.
  const nonceSeconds = Math.max(1, Math.ceil(2 * toleranceSeconds));

  return async (request, url) => {
    const subscriptionId = request.headers.get(FEED_SUBSCRIPTION_HEADER);
    if (subscriptionId === null || subscriptionId === '') {
      throw new FeedRefusal(401, 'WEBHOOK_MISSING_HEADER', `Missing the \`${FEED_SUBSCRIPTION_HEADER}\` header`);
    }
    const message: WebhookMessage = { body: feedRequestContent(request.method, url), headers: request.headers };
    const options: ResolvedVerifyOptions = { secrets: [], publicKeys: [], toleranceSeconds, now: new Date(clock.now()), environment: undefined };
    let nonce: string;
    try {
      readSignedMessage(message, options);
      const secrets = await secretsOf(subscriptionId);
      if (secrets === null || secrets.length === 0) {
        throw new FeedRefusal(401, 'WEBHOOK_NO_MATCHING_SIGNATURE', 'No signature in `webhook-signature` matches a secret of the subscription named');
      }
      nonce = verifySignature(message, { ...options, secrets }).id;
    } catch (error) {
      if (isWebhookError(error) && error.code.startsWith('WEBHOOK_')) throw new FeedRefusal(401, error.code, error.message, { cause: error });
      throw error;
    }
    const claim = await nonces.claim(`${subscriptionId}\n${nonce}`, nonceSeconds, globalThis.crypto.randomUUID());
    if (claim !== 'claimed') throw new FeedRefusal(401, 'FEED_REQUEST_REPLAYED', `The request id ${JSON.stringify(nonce)} was already used within the tolerance window`);
    return subscriptionId;
  };
}
