/**
 * What a verifier made of a request, as data that two verifiers' answers can be compared
 * by: the event it returned, or the code of the `WebhookError` it threw.
 */
import { isWebhookError } from '../../src/errors.js';

export type Outcome = { event: unknown } | { code: string };

export async function outcomeOf(run: () => unknown): Promise<Outcome> {
  try {
    return { event: await run() };
  } catch (error) {
    if (isWebhookError(error)) return { code: error.code };
    throw error;
  }
}
