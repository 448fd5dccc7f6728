/**
 * Deduplication of received webhooks by `webhook-id`: the {@link DedupeStore}
 * interface and its in-memory implementation, the default of every adapter.
 *
 * Delivery is at-least-once: the sender retries until it sees a 2xx, so the same
 * event can arrive twice (a timeout after the work was done, a redelivery from
 * the operator). Keyed by `webhook-id` (the event id, the same on every retry),
 * the store makes "book this payment" happen once.
 *
 * Why three states and not a boolean: a retry can arrive while the first request is
 * still being handled (the sender timed out and tried again). Answering it 2xx as a
 * duplicate would be wrong if the first then fails: the sender would stop, and the
 * event would be lost. So an id is first `in-flight` (for a short lease), then
 * `processed` (for the dedupe window); a retry meeting `in-flight` is answered 409
 * and comes back later.
 */
import { ConfigError, describeValue } from '../errors.js';

/** What {@link DedupeStore.claim} found. */
export type DedupeClaim =
  /** The id was free: this caller now owns it, `in-flight` until `complete` or `release`. */
  | 'claimed'
  /** Another request is handling the id right now (its lease has not expired). */
  | 'in-flight'
  /** The id was processed within the dedupe window: a duplicate. */
  | 'processed';

/**
 * Where received webhook ids are remembered. Implement it over Redis
 * (`SET key token NX EX leaseSeconds`, see `examples/receivers/redis-dedupe.ts`)
 * or a database table with a unique key, so that every instance of a consumer app
 * shares it.
 *
 * Every claim comes with a `token`, unique to it, which `release` and `complete` pass
 * back. Store it with the in-flight entry: a handler can outlive its lease, and by the
 * time it fails another request may have claimed the id. Its `release` must then
 * leave the newer claim alone (delete only if the entry still holds this token, e.g.
 * with a compare-and-delete script); freeing it would let a third copy run beside
 * the second.
 *
 * A store that throws makes the adapter answer 500, so the sender retries later:
 * an unavailable store never lets a webhook through undeduplicated.
 */
export interface DedupeStore {
  /**
   * Atomically: when `id` is unknown (or its entry expired), record it as
   * `in-flight` under `token` for `leaseSeconds` and return `'claimed'`; otherwise
   * return its state, leaving it as it is.
   *
   * @param token - this claim's token (a random UUID), passed back to `release` and `complete`.
   */
  claim(id: string, leaseSeconds: number, token: string): Promise<DedupeClaim>;
  /**
   * The handler of claim `token` succeeded: remember `id` as `processed` for
   * `ttlSeconds`, even if its lease ran out and another claim holds the id now. The
   * event was handled, so no later failure of that other claim may open it again
   * (its `release` no longer finds its token, and leaves the entry).
   */
  complete(id: string, ttlSeconds: number, token: string): Promise<void>;
  /**
   * The handler of claim `token` failed: forget `id` so that the sender's retry
   * processes it, but only if the id is still in flight under `token`. Otherwise
   * (the lease ran out and another request claimed the id, or it was processed) do nothing.
   */
  release(id: string, token: string): Promise<void>;
}

/** The dedupe settings every adapter takes. */
export interface DedupeOptions {
  /**
   * Where received ids are remembered, or `false` to hand every verified request
   * to the handler (when it deduplicates itself, e.g. with a unique key in the
   * same transaction as the booking).
   * @defaultValue a new {@link createMemoryDedupeStore} per handler: per process, bounded.
   */
  dedupe?: DedupeStore | false;
  /**
   * How long a processed id is remembered, in seconds. Cover the sender's retry
   * schedule (about 3 days by default) and the window in which an operator may redeliver.
   * @defaultValue 604800 (7 days)
   */
  dedupeTtlSeconds?: number;
  /**
   * How long a claimed id stays `in-flight`, in seconds: longer than the handler can take.
   * If the process dies mid-handler, the id is free again after this.
   * @defaultValue 60
   */
  dedupeLeaseSeconds?: number;
}

/** The default `dedupeTtlSeconds`: 7 days. */
export const DEFAULT_DEDUPE_TTL_SECONDS = 7 * 24 * 60 * 60;
/** The default `dedupeLeaseSeconds`: 60 s. */
export const DEFAULT_DEDUPE_LEASE_SECONDS = 60;
/** The default `maxEntries` of {@link createMemoryDedupeStore}. */
export const DEFAULT_MAX_DEDUPE_ENTRIES = 100_000;

/** Options of {@link createMemoryDedupeStore}. */
export interface MemoryDedupeStoreOptions {
  /**
   * Most ids kept. Past it, expired entries are swept, then the entry least recently
   * claimed or completed is dropped, so memory stays bounded whatever arrives.
   * @defaultValue 100000
   */
  maxEntries?: number;
  /**
   * The source of time (epoch milliseconds), for tests.
   * @defaultValue the wall clock
   */
  clock?: { now(): number };
}

interface Entry {
  state: 'in-flight' | 'processed';
  expiresAtMs: number;
  /** The token of the claim that holds an in-flight entry. */
  token?: string;
}

/**
 * A {@link DedupeStore} in this process's memory, with a TTL per entry and a
 * bound on the number of entries. It protects one process: an app running several
 * instances behind a load balancer needs a shared store (Redis, a database).
 *
 * @example
 * ```ts
 * const dedupe = createMemoryDedupeStore({ maxEntries: 10_000 });
 * createNodeHandler({ secrets, dedupe, onEvent });
 * ```
 * @throws ConfigError `CONFIG_INVALID` for a `maxEntries` that is not a whole number ≥ 1.
 */
export function createMemoryDedupeStore(options: MemoryDedupeStoreOptions = {}): DedupeStore {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_DEDUPE_ENTRIES;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`maxEntries\` to be a whole number ≥ 1, got ${describeValue(maxEntries)}`, { field: 'maxEntries' });
  }
  const clock = options.clock ?? { now: () => Date.now() };
  // Insertion order is update order (entries are re-inserted on every change), so the
  // first entries are the oldest: expired ones are swept from the front.
  const entries = new Map<string, Entry>();

  function set(id: string, entry: Entry): void {
    entries.delete(id);
    if (entries.size >= maxEntries) makeRoom();
    entries.set(id, entry);
  }

  function makeRoom(): void {
    const now = clock.now();
    for (const [id, entry] of entries) {
      if (entries.size < maxEntries) return;
      if (entry.expiresAtMs > now) break;
      entries.delete(id);
    }
    // Still full of live entries: drop the oldest. Bounded memory wins over a longer window.
    while (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
  }

  return {
    async claim(id, leaseSeconds, token) {
      const now = clock.now();
      const entry = entries.get(id);
      if (entry !== undefined && entry.expiresAtMs > now) return entry.state;
      set(id, { state: 'in-flight', expiresAtMs: now + leaseSeconds * 1000, token });
      return 'claimed';
    },
    async complete(id, ttlSeconds) {
      set(id, { state: 'processed', expiresAtMs: clock.now() + ttlSeconds * 1000 });
    },
    async release(id, token) {
      const entry = entries.get(id);
      if (entry !== undefined && entry.state === 'in-flight' && entry.token === token) entries.delete(id);
    },
  };
}

/** {@link DedupeOptions} validated, with defaults applied. @internal */
export interface ResolvedDedupe {
  readonly store: DedupeStore | undefined;
  readonly ttlSeconds: number;
  readonly leaseSeconds: number;
}

/**
 * Validates the dedupe options and creates the default memory store.
 *
 * @internal Shared by every adapter.
 * @throws ConfigError `CONFIG_INVALID` for a store without the three methods or a bad duration.
 */
export function resolveDedupe(options: DedupeOptions): ResolvedDedupe {
  const { dedupe, dedupeTtlSeconds = DEFAULT_DEDUPE_TTL_SECONDS, dedupeLeaseSeconds = DEFAULT_DEDUPE_LEASE_SECONDS } = options;
  if (
    dedupe !== undefined &&
    dedupe !== false &&
    (typeof dedupe !== 'object' ||
      dedupe === null ||
      typeof dedupe.claim !== 'function' ||
      typeof dedupe.complete !== 'function' ||
      typeof dedupe.release !== 'function')
  ) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`dedupe\` to be a DedupeStore { claim, complete, release } or false, got ${describeValue(dedupe)}`, {
      field: 'dedupe',
    });
  }
  for (const [field, value] of [
    ['dedupeTtlSeconds', dedupeTtlSeconds],
    ['dedupeLeaseSeconds', dedupeLeaseSeconds],
  ] as const) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError('CONFIG_INVALID', `Expected \`${field}\` to be a whole number of seconds ≥ 1, got ${describeValue(value)}`, { field });
    }
  }
  return {
    store: dedupe === false ? undefined : (dedupe ?? createMemoryDedupeStore()),
    ttlSeconds: dedupeTtlSeconds,
    leaseSeconds: dedupeLeaseSeconds,
  };
}
