/**
 * Events too old to act on: `maxEventAgeSeconds` and its `onStale` hook, shared by every
 * receiver adapter.
 *
 * The age is read from the envelope's `timestamp` (when the event happened at the
 * sender), not from `webhook-timestamp`: every retry and redelivery is signed afresh, so
 * the signature time says when this copy was sent, never how old the event is. A
 * consumer that must not act on a week-old `balance.depleted` after an outage sets the
 * window here; the signature tolerance cannot express it.
 */
import { ConfigError, describeValue } from '../errors.js';
import type { WebhookEvent } from '../signing/verify-signature.js';

/** The staleness settings every adapter takes. */
export interface StaleEventOptions {
  /**
   * The oldest event handed to `onEvent`, in seconds, by the envelope's `timestamp` (not
   * the `webhook-timestamp` of the signature, which is fresh on every retry). An older
   * event, or one whose `timestamp` is not a date, is *stale*: `onEvent` does not see it,
   * `onStale` does, and the outcome is `stale` (answered `200 {"outcome":"stale"}` by the
   * HTTP adapters). Its `webhook-id` is remembered like a processed one, so a redelivery
   * is a `duplicate`.
   * @defaultValue none: events of any age are handled
   */
  maxEventAgeSeconds?: number;
  /**
   * Decides what happens to a stale event: park it for review, log it, or handle it after
   * all. Resolve to acknowledge it (the sender stops retrying); throw to refuse it like a
   * throwing `onEvent` (answered 500, the id released, the sender retries until it is dead
   * in its delivery log). Needs `maxEventAgeSeconds`.
   * @defaultValue none: a stale event is acknowledged and skipped
   */
  onStale?(event: WebhookEvent): unknown;
}

/** {@link StaleEventOptions} validated. @internal */
export interface ResolvedStaleEvents {
  readonly maxEventAgeSeconds: number;
  readonly onStale: ((event: WebhookEvent) => unknown) | undefined;
}

/**
 * Validates the staleness options.
 *
 * @returns `undefined` when no window is set (every event is fresh).
 * @throws ConfigError `CONFIG_INVALID` for a window that is not a whole number of seconds ≥ 1,
 *   an `onStale` that is not a function, or an `onStale` without a window (it would never run).
 * @internal Shared by every adapter.
 */
export function resolveStaleEvents(options: StaleEventOptions): ResolvedStaleEvents | undefined {
  const { maxEventAgeSeconds, onStale } = options;
  if (onStale !== undefined && typeof onStale !== 'function') {
    throw new ConfigError('CONFIG_INVALID', `Expected \`onStale\` to be a function, got ${describeValue(onStale)}`, { field: 'onStale' });
  }
  if (maxEventAgeSeconds === undefined) {
    if (onStale !== undefined) {
      throw new ConfigError('CONFIG_INVALID', 'Expected `maxEventAgeSeconds` with `onStale`: without a window no event is stale, and `onStale` would never run', {
        field: 'maxEventAgeSeconds',
      });
    }
    return undefined;
  }
  if (typeof maxEventAgeSeconds !== 'number' || !Number.isSafeInteger(maxEventAgeSeconds) || maxEventAgeSeconds < 1) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`maxEventAgeSeconds\` to be a whole number of seconds ≥ 1, got ${describeValue(maxEventAgeSeconds)}`, {
      field: 'maxEventAgeSeconds',
    });
  }
  return { maxEventAgeSeconds, onStale };
}

/**
 * True when an event's envelope `timestamp` is more than `maxEventAgeSeconds` before
 * `nowMs`, or is not a date at all: an age that cannot be read cannot be shown to be
 * within the window. An event dated in the future (a skewed sender clock) is not stale.
 *
 * @internal Shared by every adapter; exported for its unit test.
 */
export function isStaleEvent(timestamp: string, maxEventAgeSeconds: number, nowMs: number): boolean {
  const happenedAtMs = Date.parse(timestamp);
  if (Number.isNaN(happenedAtMs)) return true;
  return nowMs - happenedAtMs > maxEventAgeSeconds * 1000;
}
