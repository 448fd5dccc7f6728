/**
 * Order per key on the receiving side, for the typed router's `ordering` option: the
 * {@link OrderingStore} contract, its in-memory implementation, and the one rule the router
 * applies to an event with an `orderingKey` and a `webhook-sequence`.
 *
 * The sender numbers its subscription's deliveries of each key 1, 2, 3, … and sends them one
 * at a time, so a receiver normally sees every number once, in order. It sees a number again
 * after a crash or a lost 2xx (a duplicate), and sees one skipped only when the sender's
 * subscription skips a dead delivery (`ordering: { onDead: 'skip' }`) or an operator skips
 * one. The rule, against the last number recorded for the key:
 * - `sequence ≤ last`: a duplicate, acknowledged without running the handler;
 * - `sequence = last + 1`, or nothing recorded yet: handled, then recorded once the handler
 *   succeeded (a crash in between means the retry runs the handler again: at-least-once);
 * - `sequence > last + 1`: a gap. Refused (`ORDERING_GAP`, answered 409, so that the sender
 *   retries it after the missing one), or, with `onGap: 'accept'`, handled and recorded.
 *
 * `webhook-sequence` is not covered by the signature: the rule orders and drops, but only the
 * dedupe on `webhook-id` (on by default in every adapter) stops a captured request replayed
 * with a forged number from being handled twice. And because the number cannot be trusted to
 * say which event it is, an event dropped by its number is not remembered as processed: the
 * adapters release its `webhook-id` (see {@link droppedByNumber}), so a replay given an old
 * number cannot stand in for the event it carries, whose real delivery is then handled.
 */
import { ConfigError, ConflictError, describeValue } from '../errors.js';
import type { WebhookEvent } from '../signing/verify-signature.js';

/**
 * Where the router keeps the last sequence number handled for each ordering key. Implement
 * it over a table or Redis so that every instance of the consumer shares it; the router
 * calls `last`, then the handler, then `record`.
 *
 * A store that throws makes the adapter answer 500, so the sender retries later. `last` and
 * `record` are not one atomic step: within one process the router never handles two events
 * of a key at once (`ORDERING_KEY_IN_FLIGHT`), across processes the dedupe store's claim on
 * `webhook-id` keeps a retry from running beside its first copy.
 */
export interface OrderingStore {
  /** The last sequence number recorded for `key`, or `null` when none is. */
  last(key: string): number | null | Promise<number | null>;
  /** Records `sequence` as the last one handled for `key`; called after the handler succeeded. */
  record(key: string, sequence: number): void | Promise<void>;
}

/** The rule as the router applies it: `run` in the event's turn, then its number recorded. */
export type OrderingGate = (event: WebhookEvent, run: () => Promise<void>) => Promise<void>;

// Events the rule dropped as duplicates by their number, and the routers' gates by their
// `handle`: how the adapters' pipeline (webhook-receiver.ts) learns of both without a
// change to what `router.handle` resolves to for a caller of its own.
const dropped = new WeakSet<WebhookEvent>();
const gates = new WeakMap<object, OrderingGate>();

/**
 * Whether the ordering rule dropped `event` as a duplicate by its `webhook-sequence` alone.
 * The adapters then answer it as a duplicate but release its `webhook-id` instead of
 * remembering it as processed: a captured request replayed with a forged, old number must not
 * make the event it carries count as handled.
 *
 * @internal
 */
export function droppedByNumber(event: WebhookEvent): boolean {
  return dropped.has(event);
}

/**
 * The ordering gate of a router whose `handle` is `onEvent`, for the adapters' stale events:
 * one older than `maxEventAgeSeconds` is acknowledged without its handler, and its number
 * must still be recorded in its turn, or the key's next event would wait for it for ever.
 *
 * @internal
 */
export function orderingGateOf(onEvent: unknown): OrderingGate | undefined {
  return typeof onEvent === 'function' ? gates.get(onEvent) : undefined;
}

/** @internal Registers `gate` as the ordering gate of the router whose handle is `handle`. */
export function registerOrderingGate(handle: object, gate: OrderingGate): void {
  gates.set(handle, gate);
}

/** An event the router orders: one with an `orderingKey`. */
export type OrderedWebhookEvent = WebhookEvent & { orderingKey: string };

/** The typed router's `ordering` option. */
export interface OrderingOptions {
  /** Where the last sequence number of each key is kept (e.g. {@link createMemoryOrderingStore}). */
  store: OrderingStore;
  /**
   * The store's key for an event. Sequence numbers count per subscription and key, so when
   * one store serves several senders, subscriptions or endpoints, put their identity in the
   * key: `keyOf: (event) => \`erp-live:${event.orderingKey}\``.
   * @defaultValue the event's `orderingKey`
   */
  keyOf?: (event: OrderedWebhookEvent) => string;
  /**
   * What a gap does (an event whose number is past the next one expected):
   * - `'refuse'`: `ORDERING_GAP`, answered 409; the sender retries it, by which time the
   *   missing one has come. For subscriptions that block on a dead delivery (the default).
   * - `'accept'`: handled and recorded; the missing number, should it come later, is then a
   *   duplicate. For subscriptions that skip dead deliveries (`onDead: 'skip'`), whose gaps
   *   are never filled: under `'refuse'` their key would stay stuck. The number is not signed:
   *   a captured request replayed with a number far ahead is accepted as well, and the key's
   *   events below it then count as duplicates (README "On the receiver", Trade-offs).
   * @defaultValue 'refuse'
   */
  onGap?: 'refuse' | 'accept';
}

/** The default `maxKeys` of {@link createMemoryOrderingStore}. */
export const DEFAULT_MAX_ORDERING_KEYS = 100_000;

/** Options of {@link createMemoryOrderingStore}. */
export interface MemoryOrderingStoreOptions {
  /**
   * Most keys kept. Past it, the key least recently recorded is forgotten: its next event
   * counts as its first (handled whatever its number), so memory stays bounded.
   * @defaultValue 100000
   */
  maxKeys?: number;
}

/**
 * An {@link OrderingStore} in this process's memory, bounded. For one process and for tests:
 * a consumer with several instances, or one that restarts, needs a shared, durable store.
 *
 * @example
 * ```ts
 * const router = createWebhookRouter<BookkeeperEvents>({ ordering: { store: createMemoryOrderingStore() } });
 * ```
 * @throws ConfigError `CONFIG_INVALID` for a `maxKeys` that is not a whole number ≥ 1, or an unknown option.
 */
export function createMemoryOrderingStore(options: MemoryOrderingStoreOptions = {}): OrderingStore {
  const { maxKeys = DEFAULT_MAX_ORDERING_KEYS, ...unknown } = options;
  const extra = Object.keys(unknown)[0];
  if (extra !== undefined) throw new ConfigError('CONFIG_INVALID', `Unknown option \`${extra}\`; expected maxKeys`, { field: extra });
  if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`maxKeys\` to be a whole number ≥ 1, got ${describeValue(maxKeys)}`, { field: 'maxKeys' });
  }
  // Insertion order is record order (a key is re-inserted on every record): the first is the oldest.
  const lastByKey = new Map<string, number>();
  return {
    last: (key) => lastByKey.get(key) ?? null,
    record(key, sequence) {
      lastByKey.delete(key);
      if (lastByKey.size >= maxKeys) lastByKey.delete(lastByKey.keys().next().value!);
      lastByKey.set(key, sequence);
    },
  };
}

/**
 * Runs a handler under the ordering rule: `(event, run)` calls `run` for an event in order
 * (or past a gap, with `onGap: 'accept'`) and records its number after, skips it for a
 * duplicate, and throws for a gap. Events without a key or without a sequence go straight to `run`.
 *
 * @internal The typed router's `ordering`.
 * @throws ConfigError `CONFIG_INVALID` for options that are not {@link OrderingOptions}.
 */
export function resolveOrdering(options: OrderingOptions): OrderingGate {
  const { store, keyOf, onGap = 'refuse', ...unknown } = (typeof options === 'object' && options) || ({} as OrderingOptions);
  const fail = (field: string, expected: string, value: unknown): ConfigError =>
    new ConfigError('CONFIG_INVALID', `Expected \`${field}\` to be ${expected}, got ${describeValue(value)}`, { field });
  if (typeof store !== 'object' || store === null || typeof store.last !== 'function' || typeof store.record !== 'function') {
    throw fail('ordering.store', 'an OrderingStore { last, record }', store);
  }
  if (keyOf !== undefined && typeof keyOf !== 'function') throw fail('ordering.keyOf', 'a function', keyOf);
  if (onGap !== 'refuse' && onGap !== 'accept') throw fail('ordering.onGap', "'refuse' or 'accept'", onGap);
  const extra = Object.keys(unknown)[0];
  if (extra !== undefined) {
    throw new ConfigError('CONFIG_INVALID', `Unknown option \`ordering.${extra}\`; expected store, keyOf, onGap`, { field: `ordering.${extra}` });
  }
  // Keys being handled in this process: a second event of one of them waits for the sender's retry.
  const busy = new Set<string>();

  return async (event, run) => {
    const sequence = event.sequence;
    if (event.orderingKey === undefined || sequence == null) return run();
    const key = keyOf === undefined ? event.orderingKey : keyOf(event as OrderedWebhookEvent);
    if (typeof key !== 'string' || key.length === 0) throw fail('ordering.keyOf', 'a function returning a non-empty string', key);
    if (busy.has(key)) {
      throw new ConflictError('ORDERING_KEY_IN_FLIGHT', `Another event of ordering key ${JSON.stringify(key)} is being handled; retry later`);
    }
    busy.add(key);
    try {
      const last: unknown = await store.last(key);
      if (last !== null && !(Number.isSafeInteger(last) && (last as number) > 0)) {
        // A store answering `undefined` or `"3"` must not be read as "nothing yet": that would reorder.
        throw new ConfigError('CONFIG_INVALID', `Expected the ordering store's last() to resolve to null or a whole number ≥ 1, got ${describeValue(last)}`, {
          field: 'ordering.store',
        });
      }
      if (last !== null && sequence <= (last as number)) {
        dropped.add(event);
        return;
      }
      if (last !== null && sequence > (last as number) + 1 && onGap === 'refuse') {
        throw new ConflictError(
          'ORDERING_GAP',
          `Event ${event.id} is number ${sequence} of ordering key ${JSON.stringify(key)}, but the last one handled is ${last as number}: waiting for ${(last as number) + 1}`,
        );
      }
      await run();
      await store.record(key, sequence);
    } finally {
      busy.delete(key);
    }
  };
}
