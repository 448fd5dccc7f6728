/**
 * The bound on one `expungeEvents` call, checked alike by every adapter before it opens its
 * transaction: an erasure request names its events, and a batch of them must stay one
 * bounded transaction (and one bounded `IN (…)` / `= ANY(…)` list).
 */
import { ValidationError } from '../../errors.js';

/** The most event ids one `expungeEvents` call takes. */
export const maxExpungeIds = 1000;

/**
 * @throws ValidationError `INPUT_INVALID` for more than {@link maxExpungeIds} ids.
 */
export function assertExpungeIds(ids: readonly string[]): void {
  if (ids.length > maxExpungeIds) {
    throw new ValidationError('INPUT_INVALID', `Expected at most ${maxExpungeIds} event ids to expunge in one call, got ${ids.length}.`, {
      field: 'ids',
    });
  }
}
