/**
 * How an adapter asks the core about a subscription's payload filter, decided once for every
 * adapter. The storage keeps a filter as opaque text and never reads it: the one evaluator is
 * the core's, handed over as `matchesFilter` in the enqueue's or the replay's input. Here:
 * - a subscription without a filter receives without asking (and costs nothing more);
 * - with a filter and no callback, it receives nothing — a filter that nobody evaluates must
 *   not let everything through;
 * - only `true` accepts (the callback is typed boolean; anything else refuses);
 * - what the callback throws reaches the caller unchanged (shared/host-callbacks.ts).
 */
import type { EnqueueInput, EventRecord, ReplayInput } from '../storage-adapter.js';
import { callHost } from './host-callbacks.js';

function ask(call: () => boolean): boolean {
  return callHost(call) === true;
}

/** Whether a publish creates a delivery for a matching active subscription with this `filter`. */
export function enqueueAccepts(input: Pick<EnqueueInput, 'matchesFilter'>, filter: string | null, subscriptionId: string): boolean {
  if (filter === null) return true;
  const matches = input.matchesFilter;
  return matches !== undefined && ask(() => matches(filter, subscriptionId));
}

/**
 * Whether a replay to a subscription with this `filter` creates or requeues the delivery of
 * `event` (the stored record): ask only for what would otherwise be created or requeued.
 */
export function replayAccepts(input: Pick<ReplayInput, 'matchesFilter'>, filter: string | null, event: EventRecord): boolean {
  if (filter === null) return true;
  const matches = input.matchesFilter;
  return matches !== undefined && ask(() => matches(filter, event));
}

/** True when a replay to a subscription with this `filter` can queue nothing (it has one, and no callback decides): nothing to read. */
export function replayRefusesAll(input: Pick<ReplayInput, 'matchesFilter'>, filter: string | null): boolean {
  return filter !== null && input.matchesFilter === undefined;
}
