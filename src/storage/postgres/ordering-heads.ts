/**
 * Moving the heads of ordering keys (storage/shared/ordering.ts) inside the caller's
 * transaction: the keys are locked first, by one of the lock statements of
 * statements/ordering.ts, and only then, in later statements, are the key's deliveries read
 * and changed (why: see that file's header).
 */
import type { PoolClient } from 'pg';
import { dueAfterCancelledHead, isKeyHead, type OrderingKeyState } from '../shared/ordering.js';
import { int, type IntLike } from './rows.js';
import type { StatementRunner } from './statement-runner.js';
import type { Statements } from './statements/index.js';

/** A row of ordering_keys as the lock statements return it. */
export interface KeyRow {
  subscription_id: string;
  ordering_key: string;
  last_seq: IntLike;
  head_seq: IntLike;
}

/** Locked keys by {@link keyOf}, with their state as locked. */
export type LockedKeys = Map<string, OrderingKeyState>;

/** A delivery of a key that left the key's order (delivered, dead under `skip`, skipped, cancelled by an expunge, removed). */
export interface PassingDelivery {
  subscriptionId: string;
  orderingKey: string;
  sequence: number;
  /** When the key's next delivery is due if this one was its head: the caller's `now` when absent (see dueAfterCancelledHead). */
  nextDueAt?: number;
}

/** A delivery an expunge cancelled or a removal deleted, with its key (`null`: unordered). */
export interface CancelledRow {
  subscription_id: string;
  ordering_key: string | null;
  ordering_seq: IntLike | null;
  /**
   * Of a delivery an expunge cancelled: what is left of its lease, ms by the database's
   * clock (`null`: no live lease). A removal's rows have none.
   */
  lease_left_ms?: IntLike | null;
}

/**
 * The keyed ones of `rows`, as deliveries leaving their keys' order; one under a live lease
 * (an expunge cancelled it while its attempt may be in flight) lets the next go only when
 * the lease runs out, counted from `now` on the caller's clock.
 */
export function keyedOf(rows: readonly CancelledRow[], now?: number): PassingDelivery[] {
  return rows.flatMap((row): PassingDelivery[] => {
    if (row.ordering_key === null || row.ordering_seq === null) return [];
    const passing: PassingDelivery = { subscriptionId: row.subscription_id, orderingKey: row.ordering_key, sequence: int(row.ordering_seq) };
    const left = row.lease_left_ms ?? null;
    if (now !== undefined && left !== null) passing.nextDueAt = dueAfterCancelledHead({ leaseExpiresAt: now + int(left) }, now);
    return [passing];
  });
}

/** One key of one subscription as a map key (a subscription id holds no NUL). */
export function keyOf(subscriptionId: string, orderingKey: string): string {
  return `${subscriptionId}\u0000${orderingKey}`;
}

/** Runs a lock statement (`text` with `values`) and returns the keys it locked. */
export async function lockKeys(runner: StatementRunner, client: PoolClient, text: string, values: unknown[]): Promise<LockedKeys> {
  const rows = await runner.query<KeyRow>(client, text, values);
  return new Map(rows.map((row) => [keyOf(row.subscription_id, row.ordering_key), { lastSeq: int(row.last_seq), headSeq: int(row.head_seq) }]));
}

/**
 * Of `passing`, those that are their key's head in `locked` move it on (advanceHead, in the
 * `advanceHeads` statement): the next waiting delivery of the key, if pending, is due at
 * `now`, or at the passing delivery's `nextDueAt`. A delivery already passed (a redelivered one), or of a key not locked, changes
 * nothing. Returns how many keys moved.
 */
export async function advancePassedHeads(
  runner: StatementRunner,
  sql: Statements,
  client: PoolClient,
  locked: LockedKeys,
  passing: readonly PassingDelivery[],
  now: number,
): Promise<number> {
  const heads = new Map<string, PassingDelivery>();
  for (const delivery of passing) {
    const key = keyOf(delivery.subscriptionId, delivery.orderingKey);
    const state = locked.get(key);
    if (state !== undefined && isKeyHead({ orderingSequence: delivery.sequence }, state)) heads.set(key, delivery);
  }
  if (heads.size === 0) return 0;
  const moving = [...heads.values()];
  await runner.query(client, sql.advanceHeads, [
    moving.map((delivery) => delivery.subscriptionId),
    moving.map((delivery) => delivery.orderingKey),
    moving.map((delivery) => delivery.sequence),
    now,
    moving.map((delivery) => delivery.nextDueAt ?? now),
  ]);
  return heads.size;
}
