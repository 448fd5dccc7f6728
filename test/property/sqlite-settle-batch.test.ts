/**
 * The SQLite storage settles a batch as it would settle its items one by one: the same
 * results and the same stored rows, repeats, stale tokens and held subscriptions included.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { SettleOutcome, Settlement } from '../../src/storage/storage-adapter.js';
import type { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { propertyRuns } from '../support/property-runs.js';
import { claimedFixture, closeTracked, LATER } from '../support/sqlite-fixtures.js';
import { NOW } from '../support/storage-records.js';

afterEach(closeTracked);

describe('settling in batches', () => {
  function storedState(storage: SqliteStorage) {
    const db = storage.database;
    return {
      deliveries: db
        .prepare(
          `SELECT id, status, attempts, next_attempt_at, due_at, last_attempt_at, last_status_code, last_error,
             delivered_at, lease_token IS NULL AS unleased, lease_expires_at, updated_at
           FROM webhook_deliveries ORDER BY id`,
        )
        .all(),
      attempts: db.prepare('SELECT * FROM webhook_attempts ORDER BY id').all(),
      subscriptions: db.prepare('SELECT * FROM webhook_subscriptions ORDER BY id').all(),
    };
  }

  const outcome: fc.Arbitrary<SettleOutcome> = fc.oneof(
    fc.constant<SettleOutcome>({ kind: 'delivered' }),
    fc.constant<SettleOutcome>({ kind: 'dead' }),
    fc.integer({ min: 1, max: 5000 }).map<SettleOutcome>((ms) => ({ kind: 'retry', nextAttemptAt: LATER + ms })),
    fc.constantFrom<SettleOutcome>({ kind: 'disable', reason: 'HTTP 410 Gone' }),
  );

  it('leaves the same results and the same stored state as settling the items one by one', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(null, NOW - 1000),
        fc.boolean(),
        // Items name a delivery by index (repeats and stale tokens included), with an outcome and a start time.
        fc.array(fc.record({ delivery: fc.nat(), stale: fc.boolean(), outcome, startedAt: fc.integer({ min: 0, max: 50 }) }), {
          minLength: 1,
          maxLength: 16,
        }),
        async (events, failingSince, disableB, items) => {
          const batch = await claimedFixture(events, failingSince, disableB);
          const single = await claimedFixture(events, failingSince, disableB);
          const ids = [...batch.tokens.keys()].sort();
          const settlementsFor = (tokens: Map<string, string>): Settlement[] =>
            items.map((item, i) => {
              const deliveryId = ids[item.delivery % ids.length]!;
              return {
                deliveryId,
                leaseToken: item.stale ? 'stale-token' : tokens.get(deliveryId)!,
                attempt: {
                  id: `att_${String(i).padStart(3, '0')}`,
                  startedAt: NOW + item.startedAt,
                  durationMs: 12.5,
                  statusCode: item.outcome.kind === 'delivered' ? 200 : 500,
                  errorClass: item.outcome.kind === 'delivered' ? null : 'http',
                  errorMessage: item.outcome.kind === 'delivered' ? null : 'HTTP 500',
                  responseSnippet: i % 2 === 0 ? 'body' : null,
                },
                outcome: item.outcome,
              };
            });
          const together = await batch.storage.settle(settlementsFor(batch.tokens), LATER);
          const oneByOne: unknown[] = [];
          for (const settlement of settlementsFor(single.tokens)) oneByOne.push(...(await single.storage.settle([settlement], LATER)));
          expect(together).toEqual(oneByOne);
          expect(storedState(batch.storage)).toEqual(storedState(single.storage));
          // The record a settle returns is the row as stored (when nothing later in the batch changed it).
          for (const [i, result] of together.entries()) {
            const later = together.slice(i + 1).some((r) => r.ok && r.delivery.subscriptionId === (result.ok ? result.delivery.subscriptionId : ''));
            if (result.ok && !later) expect(result.delivery).toEqual(await batch.storage.getDelivery(result.delivery.id));
          }
        },
      ),
      { numRuns: propertyRuns(60) },
    );
  });
});
