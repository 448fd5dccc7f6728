/**
 * The bus event of each change the subscriptions API records: the change record itself,
 * under the name of its action, after the transaction that wrote it has committed.
 */
import type { EventBus } from '../events/event-bus.js';
import type { SubscriptionChangeRecord } from '../storage/storage-adapter.js';

/** Emits `change` as `subscription:<action>`; `hard` for a hard delete (its record is gone with the log). */
export function announceChange(bus: EventBus, change: SubscriptionChangeRecord, hard: boolean): void {
  const { subscriptionId, tenantId } = change;
  switch (change.action) {
    case 'created':
      bus.safeEmit('subscription:created', { subscriptionId, tenantId, change });
      return;
    case 'updated':
    case 'secrets_resealed':
      bus.safeEmit('subscription:updated', { subscriptionId, tenantId, change });
      return;
    case 'secret_rotated':
      bus.safeEmit('subscription:secret-rotated', { subscriptionId, tenantId, change });
      return;
    case 'enabled':
      bus.safeEmit('subscription:enabled', { subscriptionId, tenantId, change });
      return;
    case 'disabled':
      bus.safeEmit('subscription:disabled', { subscriptionId, tenantId, reason: change.reason ?? '', at: change.at, origin: change.origin, actor: change.actor, change });
      return;
    case 'deleted':
      bus.safeEmit('subscription:deleted', { subscriptionId, tenantId, change, hard });
      return;
  }
}
