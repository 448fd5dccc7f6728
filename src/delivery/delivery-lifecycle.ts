/**
 * What follows a settled batch of attempts outside storage: the lifecycle events on the
 * bus and the metrics for each attempt, the report of an attempt whose lease was lost,
 * and the auto-disabling of subscriptions that have failed for too long.
 */
import type { Clock } from '../clock.js';
import type { EventBus } from '../events/event-bus.js';
import { createId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { DeliveryMetrics } from '../metrics/delivery-metrics.js';
import type { ChangeAudit, SettleResult } from '../storage/storage-adapter.js';
import type { DispatchStorage } from './dispatch-storage.js';
import type { CompletedAttempt } from './attempt-delivery.js';
import { failingSinceNeutralClasses } from '../storage/shared/settlement.js';

export interface DeliveryLifecycleOptions {
  storage: DispatchStorage;
  bus: EventBus;
  metrics: DeliveryMetrics;
  clock: Clock;
  logger: Logger;
  /** Disable a subscription failing continuously for this long; `false` never. */
  autoDisableAfterMs: number | false;
  /** For the lease-lost report: what the operator tunes. */
  leaseMs: number;
  timeoutMs: number;
}

/** The fields every delivery lifecycle event carries, for one settled attempt. */
function attemptFields({ claimed, settlement }: CompletedAttempt) {
  return {
    deliveryId: claimed.delivery.id,
    eventId: claimed.event.id,
    eventType: claimed.event.type,
    tenantId: claimed.event.tenantId,
    subscriptionId: claimed.subscription.id,
    attempt: claimed.history.attempts + 1,
    startedAt: settlement.attempt.startedAt,
    durationMs: settlement.attempt.durationMs,
    statusCode: settlement.attempt.statusCode,
  };
}

export class DeliveryLifecycle {
  constructor(private readonly options: DeliveryLifecycleOptions) {}

  /**
   * Announces each attempt of a settled batch (`results[i]` is the storage's answer for
   * `batch[i]`), then disables the subscriptions the batch shows failing for too long.
   */
  async settled(batch: readonly CompletedAttempt[], results: readonly SettleResult[]): Promise<void> {
    // Each subscription's `failingSince` after its last attempt in the batch (the storage
    // settles a batch in its order): a success after a failure clears it, so that a batch
    // of [failed, delivered] does not disable an endpoint that has just answered.
    const failing = new Map<string, number>();
    for (let index = 0; index < batch.length; index++) {
      const item = batch[index]!;
      const result = results[index]!;
      this.announce(item, result);
      // An attempt failed by the egress proxy says nothing of the endpoint: it cannot disable it.
      const counts = !failingSinceNeutralClasses.includes(item.settlement.attempt.errorClass!);
      if (!counts || !result.ok) continue;
      const id = item.claimed.subscription.id;
      if (typeof result.failingSince === 'number' && result.delivery.status !== 'held') failing.set(id, result.failingSince);
      else if (result.failingSince === null) failing.delete(id);
    }
    await this.autoDisable(failing);
  }

  /** Emits lifecycle events and feeds metrics for one settled attempt. */
  private announce(item: CompletedAttempt, result: SettleResult): void {
    const { bus, metrics } = this.options;
    const { settlement, claimed } = item;
    if (!result.ok) {
      this.reportLeaseLost(item);
      return;
    }
    const { attempt, outcome } = settlement;
    const { tenantId } = claimed.event;
    if (outcome.kind === 'delivered') {
      const latencyMs = attempt.startedAt + attempt.durationMs - claimed.event.timestamp;
      metrics.recordAttempt('delivered', claimed.delivery.id, claimed.history, attempt.statusCode, latencyMs, tenantId);
      bus.safeEmit('delivery:succeeded', { ...attemptFields(item), latencyMs });
      return;
    }
    metrics.recordAttempt(outcome.kind, claimed.delivery.id, claimed.history, attempt.statusCode, null, tenantId);
    const failure = { ...attemptFields(item), errorClass: attempt.errorClass, errorMessage: attempt.errorMessage };
    const nextAttemptAt = outcome.kind === 'retry' && result.delivery.status === 'pending' ? outcome.nextAttemptAt : null;
    bus.safeEmit('delivery:failed', { ...failure, nextAttemptAt });
    if (outcome.kind === 'dead') bus.safeEmit('delivery:dead', failure);
    if (outcome.kind === 'disable' && result.subscriptionDisabled) {
      bus.safeEmit('subscription:disabled', {
        subscriptionId: claimed.subscription.id,
        tenantId: claimed.subscription.tenantId,
        reason: outcome.reason,
        at: this.options.clock.now(),
        origin: 'dispatcher',
        actor: null,
        // The settle wrote the change record in its own transaction; it is in the log (history).
        change: null,
      });
    }
  }

  /**
   * The attempt was made (its request may have reached the receiver) but cannot be
   * recorded: the log, the metrics and the bus are all that will ever know of it.
   */
  private reportLeaseLost(item: CompletedAttempt): void {
    const { bus, metrics, logger, leaseMs, timeoutMs } = this.options;
    const { settlement } = item;
    metrics.recordLeaseLost(item.claimed.event.tenantId);
    const lost = {
      ...attemptFields(item),
      outcome: settlement.outcome.kind,
      errorClass: settlement.attempt.errorClass,
      errorMessage: settlement.attempt.errorMessage,
    };
    logger.warn(
      { ...lost, leaseMs, timeoutMs },
      'webhooks: the lease ran out during the attempt and another claim took the delivery over; its outcome is not recorded',
    );
    bus.safeEmit('delivery:lease-lost', lost);
  }

  /**
   * Disables subscriptions whose every attempt has failed for `autoDisableAfterMs`
   * (Svix's rule: 5 days by default). Their deliveries are held, not dropped.
   */
  private async autoDisable(failingSince: Map<string, number>): Promise<void> {
    const { autoDisableAfterMs, storage, clock, bus, logger } = this.options;
    if (autoDisableAfterMs === false || failingSince.size === 0) return;
    const now = clock.now();
    for (const [subscriptionId, since] of failingSince) {
      if (now - since < autoDisableAfterMs) continue;
      const reason = `every attempt has failed since ${new Date(since).toISOString()} (auto-disabled after ${autoDisableAfterMs} ms)`;
      try {
        const before = await storage.getSubscription(subscriptionId);
        if (before === null || before.status !== 'active') continue;
        // A success settled since this batch (another batch, another instance) cleared it: the endpoint answers.
        if (before.failingSince === null || now - before.failingSince < autoDisableAfterMs) continue;
        const audit: ChangeAudit = { id: createId('chg', now), action: 'disabled', actor: null, reason, origin: 'dispatcher', isSensitiveHeader: () => true };
        const updated = await storage.setSubscriptionStatus(subscriptionId, { status: 'disabled', reason }, now, audit);
        if (updated === null) continue;
        logger.warn({ subscriptionId, failingSince: since }, 'webhooks: subscription auto-disabled after sustained failure');
        // Null when another instance disabled it first (this call changed nothing, so it logged nothing).
        const change = await storage.getSubscriptionChange(audit.id);
        if (change === null) continue;
        bus.safeEmit('subscription:disabled', { subscriptionId, tenantId: updated.tenantId, reason, at: now, origin: 'dispatcher', actor: null, change });
      } catch (error) {
        logger.error({ err: error, subscriptionId }, 'webhooks: auto-disabling a failing subscription failed');
      }
    }
  }
}
