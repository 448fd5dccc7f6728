/**
 * Settling a batch of attempts in one transaction, with the effect of settling them one
 * by one in order. What each outcome does (the delivery's status and due time, the
 * subscription's `failingSince`, a 410's disable and its change record, a delivery
 * cancelled while in flight) comes from storage/shared; this module only reads the fences
 * and writes the rows. A delivered head of an ordering key, or a dead one whose subscription
 * skips (passesOnDeath), lets its key's next delivery go (ordering-keys.ts); a retry, a hold
 * and a dead head under `block` keep the key where it is.
 */
import type { SettleResult, Settlement, SubscriptionStatus } from '../storage-adapter.js';
import { dispatcherDisableRecord } from '../shared/change-log.js';
import { recordAttemptInHistory } from '../shared/delivery-history.js';
import { failingSinceAfter, keepsResponseSnippet, settledFields, settledLastError } from '../shared/settlement.js';
import { passesOnDeath } from '../shared/ordering.js';
import { subscriptionStatusChange } from '../shared/subscription-changes.js';
import { passHead } from './ordering-keys.js';
import { changeParams, toHistory, toSubscription, type FenceRow } from './rows.js';
import type { Statements } from './statements/prepared-statements.js';
import { writeStatusChange } from './write-status-change.js';

/** What a settle batch knows of one subscription as its settlements apply in order. */
interface SettlingSubscription {
  status: SubscriptionStatus;
  failingSince: number | null;
  /** The stored value before the batch: written back once, at the end, if it changed. */
  readonly storedFailingSince: number | null;
}

/**
 * Settles `settlements` under the write lock the caller holds, in fewer statements than
 * one by one: one read fences the whole batch (`settleFence`), then each settlement
 * writes its attempt and its delivery, and each subscription's failing_since is written
 * once, at the end, if the batch changed it. Reading every fence up front is the same
 * as reading each just before its write, because nothing else writes meanwhile (the
 * caller holds the write lock) and what the batch itself changes is followed here: a
 * delivery settled earlier in the batch has lost its token (a second settlement of it is
 * stale), a `disable` turns its subscription's later retries into holds, and
 * failing_since evolves item by item. The result's record is computed from the fence row
 * and what this settle wrote, exactly the columns `settleDelivery` sets, so nothing is
 * read back.
 */
export function settleBatch(s: Statements, settlements: Settlement[], now: number): SettleResult[] {
  const fences = new Array<FenceRow | undefined>(settlements.length);
  for (const row of s.settleFence.all(JSON.stringify(settlements.map((x) => [x.deliveryId, x.leaseToken])))) {
    fences[row.item] = row;
  }
  const subscriptions = new Map<string, SettlingSubscription>();
  const settled = new Set<string>();
  const results = new Array<SettleResult>(settlements.length);
  for (let i = 0; i < settlements.length; i++) {
    const settlement = settlements[i]!;
    const fence = fences[i];
    if (fence === undefined || settled.has(settlement.deliveryId)) {
      results[i] = { ok: false, deliveryId: settlement.deliveryId, code: 'STORAGE_LEASE_LOST' };
      continue;
    }
    settled.add(settlement.deliveryId);
    let subscription = subscriptions.get(fence.subscription_id);
    if (subscription === undefined) {
      subscription = { status: fence.subscription_status, failingSince: fence.failing_since, storedFailingSince: fence.failing_since };
      subscriptions.set(fence.subscription_id, subscription);
    }
    const { attempt, outcome } = settlement;
    // The subscription may have been disabled, and the delivery cancelled (its subscription
    // soft-deleted or its event expunged), while this attempt was in flight: the fence's
    // status tells the latter.
    const cancelled = fence.status === 'cancelled';
    const fields = settledFields(outcome, subscription.status === 'active', now, cancelled);
    const lastError = settledLastError(fields.status, attempt.errorMessage, fence.last_error);
    const history = recordAttemptInHistory(toHistory(fence), outcome.kind, attempt.startedAt);
    s.insertAttempt.run(
      attempt.id,
      settlement.deliveryId,
      history.attempts,
      attempt.startedAt,
      attempt.durationMs,
      attempt.statusCode,
      attempt.errorClass,
      attempt.errorMessage,
      keepsResponseSnippet(cancelled) ? attempt.responseSnippet : null,
      outcome.kind,
      outcome.kind === 'retry' ? outcome.nextAttemptAt : null,
    );
    s.settleDelivery.run(
      fields.status,
      fields.nextAttemptAt,
      fields.nextAttemptAt,
      attempt.startedAt,
      attempt.statusCode,
      lastError,
      fields.deliveredAt,
      now,
      history.attempts,
      history.firstFailedAt,
      history.recoveredAt,
      fence.row_id,
    );
    const ordered = { subscriptionId: fence.subscription_id, orderingKey: fence.ordering_key, orderingSequence: fence.ordering_seq };
    if (ordered.orderingKey !== null && (fields.status === 'delivered' || (fields.status === 'dead' && passesOnDeath({ orderingOnDead: fence.ordering_on_dead })))) {
      passHead(s, ordered, now);
    }
    let subscriptionDisabled = false;
    if (outcome.kind === 'disable') {
      // Rare: written in place, after this batch's earlier settlements, so that a retry
      // settled before it (now pending) is held by it, as one by one.
      const change = subscriptionStatusChange(subscription, { status: 'disabled', reason: outcome.reason }, now);
      if (change !== null) {
        const before = toSubscription(s.getSubscription.get(fence.subscription_id)!);
        writeStatusChange(s, fence.subscription_id, change, now);
        // The record as written: its status fields are the change's, the rest as read.
        s.insertChange.run(changeParams(dispatcherDisableRecord(before, { ...before, ...change.fields }, now)));
        subscription.status = change.fields.status;
        subscriptionDisabled = true;
      }
    }
    subscription.failingSince = failingSinceAfter(subscription.failingSince, outcome.kind, attempt.startedAt, attempt.errorClass);
    results[i] = {
      ok: true,
      delivery: {
        id: settlement.deliveryId,
        eventId: fence.event_id,
        eventType: fence.event_type,
        subscriptionId: fence.subscription_id,
        tenantId: fence.tenant_id,
        status: fields.status,
        attempts: fence.attempts + 1,
        nextAttemptAt: fields.nextAttemptAt,
        orderingKey: fence.ordering_key,
        orderingSequence: fence.ordering_seq,
        lastAttemptAt: attempt.startedAt,
        lastStatusCode: attempt.statusCode,
        lastError,
        deliveredAt: fields.deliveredAt,
        leaseExpiresAt: null,
        createdAt: fence.created_at,
        updatedAt: now,
      },
      subscriptionDisabled,
      failingSince: subscription.failingSince,
    };
  }
  // The subscription row is written only when the value changed: a batch of successes
  // to a healthy endpoint rewrites nothing.
  for (const [id, subscription] of subscriptions) {
    if (subscription.failingSince !== subscription.storedFailingSince) s.setFailingSince.run(subscription.failingSince, id);
  }
  return results;
}
