/**
 * SQL of publishing: the event (deduplicated by its idempotency key) and its fan-out to
 * the active subscriptions whose filters match its type.
 */
import type { SqliteTables } from './tables.js';

export function enqueueSql(t: SqliteTables) {
  const E = t.events;
  const F = t.filters;
  return {
    // The idempotency key's UNIQUE index decides; under BEGIN IMMEDIATE a concurrent
    // publish with the same key waits for us and then finds our row.
    insertEvent: `INSERT INTO ${E} (id, type, published_at, payload, idempotency_key) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (idempotency_key) DO NOTHING`,
    getEvent: `SELECT * FROM ${E} WHERE id = ?`,
    getEventByKey: `SELECT * FROM ${E} WHERE idempotency_key = ?`,
    // Fan-out: the candidate filters (see candidateFilters) are looked up through the
    // (filter, subscription_id) primary key; DISTINCT because one subscription may hold
    // several matching filters (`payment.*` and `payment.succeeded`) and gets one delivery.
    matchingSubscriptions: `SELECT DISTINCT f.subscription_id FROM ${F} f JOIN ${t.subscriptions} s ON s.id = f.subscription_id
       WHERE f.filter IN (SELECT value FROM json_each(?)) AND s.status = 'active'
       ORDER BY f.subscription_id`,
    // One statement for the whole fan-out: [deliveryId, subscriptionId] pairs as JSON.
    insertDeliveries: `INSERT INTO ${t.deliveries} (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at,
         due_at, created_at, updated_at)
       SELECT j.value ->> 0, @event_id, @event_type, j.value ->> 1, @status, 0, @next, @next, @now, @now
       FROM json_each(@pairs) j`,
  };
}
