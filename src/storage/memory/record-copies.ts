/**
 * The copies the memory storage hands out and takes in: a caller never shares an object
 * with the store, so neither can change the other's.
 */
import type {
  DeliveryRecord,
  EventRecord,
  StoredFlowControl,
  StoredRetryPolicy,
  SubscriptionChangeRecord,
  SubscriptionRecord,
} from '../storage-adapter.js';

/** A copy of an event record. */
export function copyEvent(e: EventRecord): EventRecord {
  return {
    id: e.id,
    type: e.type,
    timestamp: e.timestamp,
    payload: e.payload,
    idempotencyKey: e.idempotencyKey ?? null,
    tenantId: e.tenantId ?? null,
    orderingKey: e.orderingKey ?? null,
    expungedAt: e.expungedAt,
  };
}

/** The public fields of a delivery, copied (a stored one carries the store's bookkeeping too). */
export function copyDelivery(d: DeliveryRecord): DeliveryRecord {
  return {
    id: d.id,
    eventId: d.eventId,
    eventType: d.eventType,
    subscriptionId: d.subscriptionId,
    tenantId: d.tenantId,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.nextAttemptAt,
    orderingKey: d.orderingKey,
    orderingSequence: d.orderingSequence,
    lastAttemptAt: d.lastAttemptAt,
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    deliveredAt: d.deliveredAt,
    leaseExpiresAt: d.leaseExpiresAt,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

/** A deep copy of a subscription record. */
export function copySubscription(s: SubscriptionRecord): SubscriptionRecord {
  return {
    id: s.id,
    tenantId: s.tenantId ?? null,
    allTenants: s.allTenants === true,
    url: s.url,
    eventTypes: s.eventTypes.slice(),
    filter: s.filter ?? null,
    transform: s.transform ?? null,
    orderingOnDead: s.orderingOnDead ?? 'block',
    versions: s.versions ?? null,
    secrets: s.secrets.map((secret) => ({ value: secret.value, createdAt: secret.createdAt, expiresAt: secret.expiresAt })),
    headers: { ...s.headers },
    description: s.description,
    metadata: copyJson(s.metadata) as Record<string, unknown>,
    status: s.status,
    disabledReason: s.disabledReason,
    disabledAt: s.disabledAt,
    retry: copyRetry(s.retry),
    flowControl: copyFlowControl(s.flowControl),
    tls: s.tls == null ? null : { clientCertificate: s.tls.clientCertificate, clientKey: s.tls.clientKey, ca: s.tls.ca, serverName: s.tls.serverName },
    failingSince: s.failingSince ?? null,
    deletedAt: s.deletedAt ?? null,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

/** A deep copy of a change record. */
export function copyChange(c: SubscriptionChangeRecord): SubscriptionChangeRecord {
  const changes: SubscriptionChangeRecord['changes'] = {};
  for (const [field, change] of Object.entries(c.changes)) changes[field] = { before: copyJson(change.before), after: copyJson(change.after) };
  return { ...c, changes };
}

function copyFlowControl(f: StoredFlowControl | null): StoredFlowControl | null {
  return f === null || f === undefined ? null : { ...f };
}

function copyRetry(r: StoredRetryPolicy | null): StoredRetryPolicy | null {
  if (r === null || r === undefined) return null;
  return 'delaysMs' in r ? { ...r, delaysMs: r.delaysMs.slice() } : { ...r };
}

/** Metadata is JSON-shaped and small: a recursive copy is cheaper than structuredClone. */
function copyJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyJson);
  if (typeof value === 'object' && value !== null) {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = copyJson(v);
    return out;
  }
  return value;
}
