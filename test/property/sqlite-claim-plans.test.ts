/**
 * The SQLite storage's claim takes exactly the first due rows of the subscriptions not
 * excluded, whichever of its two plans it picks, ties included.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { propertyRuns } from '../support/property-runs.js';
import { closeTracked, migratedOnHandle, openRaw } from '../support/sqlite-fixtures.js';
import { NOW, subscription } from '../support/storage-records.js';

afterEach(closeTracked);

describe('query plans', () => {
  it('claims exactly the first due rows of the subscriptions not excluded, by either plan, ties included', async () => {
    const db = openRaw(':memory:');
    const storage = await migratedOnHandle(db);
    const ids = ['sub_0', 'sub_1', 'sub_2', 'sub_3'];
    for (const id of ids) await storage.createSubscription(subscription({ id }));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        // Per subscription: how many due rows, over a narrow range of due times (many ties).
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 4, maxLength: 4 }),
        fc.subarray(ids),
        fc.integer({ min: 1, max: 12 }),
        // A large backlog for the first excluded subscription forces the per-subscription plan.
        fc.boolean(),
        async (counts, excluded, limit, large) => {
          run++;
          db.exec('DELETE FROM webhook_deliveries');
          db.exec('DELETE FROM webhook_events');
          const rows: Array<{ id: string; subscriptionId: string; dueAt: number }> = [];
          ids.forEach((subscriptionId, s) => {
            const n = large && subscriptionId === excluded[0] ? 1000 : counts[s]!;
            for (let i = 0; i < n; i++) rows.push({ id: `dlv_${run}_${s}_${String(i).padStart(4, '0')}`, subscriptionId, dueAt: NOW - ((i * 7 + s) % 9) });
          });
          const insertEvent = db.prepare(`INSERT INTO webhook_events (id, type, published_at, payload) VALUES (?, 't', ${NOW}, '{}')`);
          const insertDelivery = db.prepare(
            `INSERT INTO webhook_deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, due_at, created_at, updated_at)
             VALUES (?, ?, 't', ?, 'pending', 0, ?, ?, ${NOW}, ${NOW})`,
          );
          db.transaction(() => {
            for (const row of rows) {
              insertEvent.run(`evt_${row.id}`);
              insertDelivery.run(row.id, `evt_${row.id}`, row.subscriptionId, row.dueAt, row.dueAt);
            }
          })();
          const expected = rows
            .filter((row) => !excluded.includes(row.subscriptionId))
            .sort((x, y) => x.dueAt - y.dueAt || (x.id < y.id ? -1 : 1))
            .slice(0, limit)
            .map((row) => row.id);
          const claimed = await storage.claimDue({ limit, leaseMs: 1000, now: NOW, excludeSubscriptionIds: excluded });
          expect(claimed.map((c) => c.delivery.id)).toEqual(expected);
        },
      ),
      { numRuns: propertyRuns(60) },
    );
  });
});
