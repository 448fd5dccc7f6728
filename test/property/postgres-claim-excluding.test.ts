/**
 * The PostgreSQL storage's claim that skips subscriptions or tenants takes exactly the oldest
 * claimable rows of the others, whichever way it finds them: from the head of the due order,
 * or per subscription past a skipped backlog that fills the head. Ties, rows in flight, rows
 * whose lease has expired and rows not due yet included. On a real PostgreSQL, in a schema
 * of this file's own.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { admin, migrated, usePostgresDatabase } from '../support/postgres-fixtures.js';
import { propertyRuns } from '../support/property-runs.js';
import { NOW, subscription } from '../support/storage-records.js';

usePostgresDatabase();

type RowState = 'free' | 'inFlight' | 'expired' | 'later';

interface Row {
  id: string;
  subscriptionId: string;
  tenantId: string | null;
  dueAt: number;
  state: RowState;
}

// More subscriptions than a claim of 1 or 2 gathers candidates from (4 × limit), so which
// subscriptions' heads are read further matters.
const subscriptions: Array<{ id: string; tenantId: string | null }> = ['t_a', 't_a', 't_b', null, null, 't_c', null, 't_b', 't_c', null, 't_a', null].map(
  (tenantId, i) => ({ id: `sub_${String(i).padStart(2, '0')}`, tenantId }),
);

// More than the window a claim of at most 8 reads at the head (16 × 8 rows).
const BACKLOG = 200;

function claimable(row: Row): boolean {
  return (row.state === 'free' || row.state === 'expired') && row.dueAt <= NOW;
}

describe('the claim that skips subscriptions or tenants', () => {
  it('claims exactly the oldest claimable rows not skipped, from the head or per subscription, ties and rows in flight included', async () => {
    const storage = await migrated();
    const s = `"${storage.schema}"`;
    for (const { id, tenantId } of subscriptions) await storage.createSubscription(subscription({ id, tenantId }));
    const ids = subscriptions.map((sub) => sub.id);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        // Per subscription, its pending rows: due times over a narrow range (many ties), and their state.
        fc.array(
          fc.array(fc.record({ dueAt: fc.integer({ min: 0, max: 8 }), state: fc.constantFrom<RowState>('free', 'free', 'free', 'inFlight', 'expired', 'later') }), {
            maxLength: 10,
          }),
          { minLength: subscriptions.length, maxLength: subscriptions.length },
        ),
        fc.subarray(ids),
        fc.subarray(['t_a', 't_b', 't_c']),
        fc.integer({ min: 1, max: 8 }),
        // A backlog older than every other row, for one subscription; skipped, it fills the head.
        fc.option(fc.constantFrom(...ids), { nil: null }),
        fc.boolean(),
        async (pending, skipped, skippedTenants, limit, backlogOf, skipBacklog) => {
          const skippedIds = skipBacklog && backlogOf !== null ? [...skipped, backlogOf] : skipped;
          run++;
          const rows: Row[] = subscriptions.flatMap(({ id, tenantId }, s) => [
            ...(id === backlogOf
              ? Array.from({ length: BACKLOG }, (_, i): Row => ({ id: `dlv_${run}_${s}_b${String(i).padStart(3, '0')}`, subscriptionId: id, tenantId, dueAt: NOW - 1_000 + i, state: 'free' }))
              : []),
            ...pending[s]!.map(({ dueAt, state }, i): Row => ({
              id: `dlv_${run}_${s}_${String(i).padStart(3, '0')}`,
              subscriptionId: id,
              tenantId,
              dueAt: state === 'later' ? NOW + 1_000 + dueAt : NOW - 100 + dueAt,
              state,
            })),
          ]);
          await admin.query(`DELETE FROM ${s}.deliveries; DELETE FROM ${s}.events`);
          await admin.query(
            `INSERT INTO ${s}.events (id, type, published_at, payload, tenant_id)
             SELECT 'evt_' || x.id, 'payment.succeeded', ${NOW}, '{}', x.tenant_id FROM unnest($1::text[], $2::text[]) AS x(id, tenant_id)`,
            [rows.map((row) => row.id), rows.map((row) => row.tenantId)],
          );
          // In flight: a lease far ahead on the database clock; expired: a lease long gone.
          await admin.query(
            `INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, tenant_id, status, attempts, next_attempt_at,
               lease_token, lease_expires_at, created_at, updated_at)
             SELECT x.id, 'evt_' || x.id, 'payment.succeeded', x.subscription_id, x.tenant_id, 'pending', 0, x.due_at,
               CASE WHEN x.state IN ('inFlight', 'expired') THEN 'token' END,
               CASE x.state WHEN 'inFlight' THEN 9000000000000000 WHEN 'expired' THEN 1 END, ${NOW}, ${NOW}
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS x(id, subscription_id, tenant_id, due_at, state)`,
            [rows.map((row) => row.id), rows.map((row) => row.subscriptionId), rows.map((row) => row.tenantId), rows.map((row) => row.dueAt), rows.map((row) => row.state)],
          );
          const expected = rows
            .filter((row) => claimable(row) && !skippedIds.includes(row.subscriptionId) && !(row.tenantId !== null && skippedTenants.includes(row.tenantId)))
            .sort((x, y) => x.dueAt - y.dueAt || (x.id < y.id ? -1 : 1))
            .slice(0, limit)
            .map((row) => row.id);
          // A tenant without subscriptions is always skipped too, so the claim is always the excluding one.
          const claimed = await storage.claimDue({
            limit,
            leaseMs: 60_000,
            now: NOW,
            excludeSubscriptionIds: skippedIds,
            excludeTenantIds: [...skippedTenants, 't_none'],
          });
          expect(claimed.map((c) => c.delivery.id)).toEqual(expected);
        },
      ),
      { numRuns: propertyRuns(60) },
    );
  });
});
