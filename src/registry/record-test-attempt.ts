/**
 * Puts a test request that was sent (send-test-request.ts) in its subscription's test log.
 * The request has reached the endpoint by then, so what came of it is the caller's answer
 * whatever the storage does: a failure to record it is logged, never thrown.
 */
import { isWebhookError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StorageAdapter, TestAttemptRecord } from '../storage/storage-adapter.js';

/**
 * Stores `attempt` in the test log; resolves to whether it is there. `false` when the
 * subscription is gone (hard-deleted while the request was in flight), and when the
 * storage failed — then logged at error level with the subscription and the request's id.
 */
export async function recordTestAttempt(storage: StorageAdapter, logger: Logger, attempt: TestAttemptRecord): Promise<boolean> {
  try {
    return await storage.recordTestAttempt(attempt);
  } catch (error) {
    logger.error(
      { err: error, code: isWebhookError(error) ? error.code : null, subscriptionId: attempt.subscriptionId, webhookId: attempt.id },
      'webhooks: a test request was sent but could not be recorded in the test log',
    );
    return false;
  }
}
