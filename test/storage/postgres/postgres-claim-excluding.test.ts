/**
 * What the PostgreSQL claim that skips subscriptions or tenants reads on a host with many
 * subscriptions, most with nothing pending: by its query plans run with EXPLAIN (ANALYZE,
 * BUFFERS), the rows each read returned and the buffers the statement touched, on a table
 * never ANALYZEd (as right after a burst of inserts), with statistics, and in the generic
 * plan a named statement settles on. Bounds on what is read, never on time. On a real
 * PostgreSQL, in schemas of this file's own.
 */
import { describe, expect, it } from 'vitest';
import { postgresStatements } from '../../../src/storage/postgres/statements/index.js';
import { admin, migrated, storageOn, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { buffersTouched, genericPlanOf, mostRowsOneRead, planOf, readsOf, rowsRead, type PlanNode } from '../../support/postgres-plans.js';
import { NOW } from '../../support/storage-records.js';

usePostgresDatabase();

const IDLE_SUBSCRIPTIONS = 10_000;
const LIMIT = 5;

/**
 * A schema with {@link IDLE_SUBSCRIPTIONS} active subscriptions that have nothing pending
 * (`sub_idle_…`, over tenants `t_…`) and 50,000 delivered rows of theirs, and the
 * subscriptions and due deliveries of `due`:
 * per subscription, its tenant and the due times of its pending deliveries (ids in that
 * order, `dlv_<subscription>_<n>`).
 */
async function hostWith(due: Record<string, { tenantId: string | null; dueAt: number[] }>) {
  const storage = await migrated();
  const s = `"${storage.schema}"`;
  const subscriptionRow = `'https://erp.example.com', '["*"]'::jsonb, '[]'::jsonb, '{}'::jsonb, '{}'::jsonb, 'active', ${NOW}, ${NOW}`;
  await admin.query(
    `INSERT INTO ${s}.subscriptions (id, tenant_id, url, event_types, secrets, headers, metadata, status, created_at, updated_at)
     SELECT 'sub_idle_' || lpad(g::text, 6, '0'), 't_' || lpad((g % 5000)::text, 4, '0'), ${subscriptionRow}
     FROM generate_series(1, ${IDLE_SUBSCRIPTIONS}) AS g
     UNION ALL
     SELECT id, tenant_id, ${subscriptionRow} FROM unnest($1::text[], $2::text[]) AS x(id, tenant_id)`,
    [Object.keys(due), Object.values(due).map((sub) => sub.tenantId)],
  );
  const rows = Object.entries(due).flatMap(([subscriptionId, { tenantId, dueAt }]) =>
    dueAt.map((at, n) => ({ id: `dlv_${subscriptionId}_${String(n).padStart(5, '0')}`, subscriptionId, tenantId, at })),
  );
  await admin.query(
    `INSERT INTO ${s}.events (id, type, published_at, payload, tenant_id)
     SELECT 'evt_' || x.id, 'payment.succeeded', ${NOW}, '{}', x.tenant_id FROM unnest($1::text[], $2::text[]) AS x(id, tenant_id)`,
    [rows.map((row) => row.id), rows.map((row) => row.tenantId)],
  );
  await admin.query(
    `INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, tenant_id, status, attempts, next_attempt_at, created_at, updated_at)
     SELECT x.id, 'evt_' || x.id, 'payment.succeeded', x.subscription_id, x.tenant_id, 'pending', 0, x.at, ${NOW}, ${NOW}
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS x(id, tenant_id, subscription_id, at)`,
    [rows.map((row) => row.id), rows.map((row) => row.tenantId), rows.map((row) => row.subscriptionId), rows.map((row) => row.at)],
  );
  // A log with history, as a running system has: 50,000 delivered rows of the idle subscriptions.
  await admin.query(
    `INSERT INTO ${s}.events (id, type, published_at, payload)
     SELECT 'evt_h' || lpad(g::text, 6, '0'), 'payment.succeeded', ${NOW}, '{}' FROM generate_series(1, 50000) AS g;
     INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, tenant_id, status, attempts, next_attempt_at, created_at, updated_at)
     SELECT 'dlv_h' || lpad(g::text, 6, '0'), 'evt_h' || lpad(g::text, 6, '0'), 'payment.succeeded',
       'sub_idle_' || lpad((1 + g % ${IDLE_SUBSCRIPTIONS})::text, 6, '0'), 't_' || lpad(((1 + g % ${IDLE_SUBSCRIPTIONS}) % 5000)::text, 4, '0'),
       'delivered', 1, NULL, ${NOW}, ${NOW}
     FROM generate_series(1, 50000) AS g`,
  );
  return storage;
}

/** `count` due times from `from` on, one millisecond apart. */
function dueTimes(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/**
 * The excluding claim's plans for `values`: as the table is (never ANALYZEd), with
 * statistics, and the generic plan, which PostgreSQL must settle on rather than plan the
 * statement anew on every call.
 */
async function excludingPlans(schema: string, values: unknown[]): Promise<Array<[string, PlanNode]>> {
  const { claimExcluding } = postgresStatements(schema);
  const fresh = await planOf(claimExcluding, values, true, true);
  await admin.query(`ANALYZE "${schema}".deliveries; ANALYZE "${schema}".subscriptions; ANALYZE "${schema}".events`);
  const analyzed = await planOf(claimExcluding, values, true, true);
  const generic = await genericPlanOf(claimExcluding, values);
  expect(generic.genericChosen).toBe(true);
  return [
    ['never ANALYZEd', fresh],
    ['ANALYZEd', analyzed],
    ['generic', generic.plan],
  ];
}

/** No plan reads deliveries or subscriptions by a sequential scan. */
function expectIndexReadsOnly(moment: string, plan: PlanNode): void {
  for (const relation of ['deliveries', 'subscriptions', 'events']) {
    expect(readsOf(plan, relation).filter(([nodeType]) => nodeType === 'Seq Scan'), `${moment}: ${relation}`).toEqual([]);
  }
}

describe('the claim that skips subscriptions or tenants, on a host with many subscriptions', () => {
  it('takes the head of the due order past a few skipped rows, reading nothing of the subscriptions without due work', async () => {
    // Two subscriptions with due work, interleaved, and the skipped one's rows among them.
    const storage = await hostWith({
      sub_a: { tenantId: 't_a', dueAt: dueTimes(NOW - 100, 10) },
      sub_skipped: { tenantId: 't_skipped', dueAt: dueTimes(NOW - 100, 10) },
      sub_b: { tenantId: null, dueAt: dueTimes(NOW - 50, 10) },
    });
    const values = [NOW, LIMIT, 60_000, ['sub_skipped'], ['t_0001']];
    for (const [moment, plan] of await excludingPlans(storage.schema, values)) {
      expectIndexReadsOnly(moment, plan);
      // The window's rows (up to 4 × limit kept) and the claimed ones' joins, nothing per subscription.
      expect(rowsRead(plan, 'subscriptions'), moment).toBeLessThanOrEqual(3 * LIMIT);
      expect(mostRowsOneRead(plan, 'deliveries'), moment).toBeLessThanOrEqual(16 * LIMIT);
      expect(buffersTouched(plan), moment).toBeLessThan(1_000);
    }
    const claimed = await storage.claimDue({ limit: LIMIT, leaseMs: 60_000, now: NOW, excludeSubscriptionIds: ['sub_skipped'], excludeTenantIds: ['t_0001'] });
    expect(claimed.map((c) => c.delivery.id)).toEqual(['dlv_sub_a_00000', 'dlv_sub_a_00001', 'dlv_sub_a_00002', 'dlv_sub_a_00003', 'dlv_sub_a_00004']);
  });

  it("goes per subscription past a 5,000-row skipped backlog at the head, visiting only the subscriptions with pending deliveries", async () => {
    const storage = await hostWith({
      // The skipped backlog, older than everything else: a subscription and a tenant's two.
      sub_busy: { tenantId: null, dueAt: dueTimes(NOW - 10_000, 2_000) },
      sub_busy_t1: { tenantId: 't_busy', dueAt: dueTimes(NOW - 10_000, 1_500) },
      sub_busy_t2: { tenantId: 't_busy', dueAt: dueTimes(NOW - 10_000, 1_500) },
      // Twenty subscriptions with three due deliveries each, the oldest first by name.
      ...Object.fromEntries(
        Array.from({ length: 20 }, (_, i) => [`sub_due_${String(i).padStart(2, '0')}`, { tenantId: i % 2 === 0 ? null : `t_due_${i}`, dueAt: dueTimes(NOW - 1_000 + 10 * i, 3) }]),
      ),
      // One with a retry not due yet.
      sub_later: { tenantId: 't_later', dueAt: [NOW + 60_000] },
    });
    const values = [NOW, LIMIT, 60_000, ['sub_busy'], ['t_busy']];
    for (const [moment, plan] of await excludingPlans(storage.schema, values)) {
      expectIndexReadsOnly(moment, plan);
      // Per subscription with pending rows (24), not per subscription (10,024); nothing of the backlog beyond the window.
      expect(rowsRead(plan, 'subscriptions'), moment).toBeLessThanOrEqual(3 * LIMIT + 2);
      expect(mostRowsOneRead(plan, 'deliveries'), moment).toBeLessThanOrEqual(16 * LIMIT);
      expect(buffersTouched(plan), moment).toBeLessThan(2_000);
    }
    const claimed = await storage.claimDue({ limit: LIMIT, leaseMs: 60_000, now: NOW, excludeSubscriptionIds: ['sub_busy'], excludeTenantIds: ['t_busy'] });
    expect(claimed.map((c) => c.delivery.id)).toEqual([
      'dlv_sub_due_00_00000',
      'dlv_sub_due_00_00001',
      'dlv_sub_due_00_00002',
      'dlv_sub_due_01_00000',
      'dlv_sub_due_01_00001',
    ]);
  });

  it('hands each delivery to exactly one of three racing claimers, whether they claim from the head or per subscription', async () => {
    const storage = await hostWith({
      // Skipped, it fills the window of a claim of 7 (112 rows): such a claim goes per subscription.
      sub_busy: { tenantId: 't_busy', dueAt: dueTimes(NOW - 10_000, 150) },
      sub_x: { tenantId: null, dueAt: dueTimes(NOW - 1_000, 50) },
      ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`sub_due_${String(i).padStart(2, '0')}`, { tenantId: null, dueAt: dueTimes(NOW - 1_000 + i, 10) }])),
    });
    const claimers = [storage, storageOn({ schema: storage.schema }), storageOn({ schema: storage.schema })];
    const exclusions = [{ excludeTenantIds: ['t_busy'] }, { excludeSubscriptionIds: ['sub_x'] }];
    const seen = new Map<string, number>();
    for (let round = 0; round < 1000; round++) {
      const batches = await Promise.all(
        claimers.map(async (claimer, i) => {
          const exclusion = exclusions[(round + i) % 2]!;
          const batch = await claimer.claimDue({ limit: 7, leaseMs: 60_000, now: NOW, ...exclusion });
          // Nothing of what the claimer skipped.
          expect(batch.filter((c) => c.subscription.id === ('excludeTenantIds' in exclusion ? 'sub_busy' : 'sub_x'))).toEqual([]);
          return batch;
        }),
      );
      if (batches.every((batch) => batch.length === 0)) break;
      for (const batch of batches) for (const c of batch) seen.set(c.delivery.id, (seen.get(c.delivery.id) ?? 0) + 1);
    }
    expect(seen.size).toBe(150 + 50 + 300);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });
});
