/**
 * How an adapter asks the core about a subscription's payload filter, decided once for every
 * adapter. The storage keeps a filter as opaque text and never reads it: the one evaluator is
 * the core's, handed over as `matchesFilter` in the enqueue's or the replay's input. Here:
 * - a subscription without a filter receives without asking (and costs nothing more);
 * - with a filter and no callback, it receives nothing — a filter that nobody evaluates must
 *   not let everything through;
 * - only `true` accepts (the callback is typed boolean; anything else refuses);
 * - what the callback throws reaches the caller unchanged: it travels wrapped in a
 *   {@link FilterCallbackFailure} through the adapter's driver-error mapping and busy
 *   retries (which would turn it into a `StorageError` or run it again), and the adapter
 *   unwraps it with {@link thrownByFilterCallback} at its public boundary, after its
 *   transaction rolled back.
 */
import type { EnqueueInput, EventRecord, ReplayInput } from '../storage-adapter.js';

/** What a `matchesFilter` callback threw, carried through the adapter to its caller. */
export class FilterCallbackFailure extends Error {
  /** The callback's own error, rethrown as it was. */
  readonly thrown: unknown;
  constructor(thrown: unknown) {
    super('A payload-filter callback threw');
    this.name = 'FilterCallbackFailure';
    this.thrown = thrown;
  }
}

/** What the adapter's caller gets: the callback's own error for a {@link FilterCallbackFailure}, `error` otherwise. */
export function thrownByFilterCallback(error: unknown): unknown {
  return error instanceof FilterCallbackFailure ? error.thrown : error;
}

function ask(call: () => boolean): boolean {
  let verdict: boolean;
  try {
    verdict = call();
  } catch (error) {
    throw new FilterCallbackFailure(error);
  }
  return verdict === true;
}

/** Whether a publish creates a delivery for a matching active subscription with this `filter`. */
export function enqueueAccepts(input: Pick<EnqueueInput, 'matchesFilter'>, filter: string | null): boolean {
  if (filter === null) return true;
  const matches = input.matchesFilter;
  return matches !== undefined && ask(() => matches(filter));
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
