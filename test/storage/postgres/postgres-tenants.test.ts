/**
 * What is particular to tenants on the PostgreSQL storage (the shared rules are in the
 * conformance suite, test/conformance/tenancy.ts): migration 0003 on an installation of
 * version 2, the fan-out's and the tenant removal's query plans, the subscription limit
 * decided under the tenant's advisory lock across connections, the in-flight check on the
 * database clock, and claims that skip a tenant's backlog without walking over it. On a
 * real PostgreSQL, in schemas of this file's own.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import { candidateFilters } from '../../../src/registry/event-type-filter.js';
import { idempotencyScope } from '../../../src/storage/shared/tenancy.js';
import type { EnqueueInput } from '../../../src/storage/storage-adapter.js';
import { latestSchemaVersion } from '../../../src/storage/postgres/migrations/index.js';
import { postgresStatements } from '../../../src/storage/postgres/statements/index.js';
import { admin, migrated, schemaAtVersion, storageOn, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { genericPlanOf, planNodes, planOf, readsOf, rowsRead } from '../../support/postgres-plans.js';
import { NOW, subscription } from '../../support/storage-records.js';
import { rejectionOf } from '../../support/rejections.js';

usePostgresDatabase();

/** An event of `type` published at NOW, for `tenantId` (`null`: without a tenant). */
function tenantEvent(tenantId: string | null, type = 'payment.succeeded', idempotencyKey: string | null = null): EnqueueInput {
  const id = createId('evt', NOW);
  return { event: { id, type, timestamp: NOW, payload: `{"id":"${id}"}`, idempotencyKey, tenantId }, now: NOW };
}

/** The values of the enqueue statement, as the adapter passes them, for an event of `tenantId` with 16 ids made ahead. */
function enqueueValues(schema: string, tenantId: string | null): unknown[] {
  const { event } = tenantEvent(tenantId);
  const ids = Array.from({ length: 16 }, () => createId('dlv', NOW));
  return [event.id, event.type, event.timestamp, event.payload, null, candidateFilters(event.type), ids, NOW,
    'bookkeeper_webhooks', schema, false, tenantId, idempotencyScope(tenantId), [], [], [], []];
}

/** Polls `condition` every 20 ms for at most `timeoutMs`. */
async function eventually(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * `perTenant` active subscriptions to `payment.*` for each of `tenants` tenants (`t_0001`,
 * …), `allTenants` all-tenant consumers of `*` and `platform` tenantless subscriptions of
 * `payment.*`, written in bulk as createSubscription writes them, then ANALYZEd or not.
 */
async function fillSubscriptions(
  schema: string,
  counts: { tenants: number; perTenant: number; allTenants: number; platform: number },
): Promise<void> {
  const s = `"${schema}"`;
  await admin.query(
    `INSERT INTO ${s}.subscriptions (id, tenant_id, all_tenants, url, event_types, secrets, headers, metadata, status, created_at, updated_at)
     SELECT 'sub_t_' || lpad(g::text, 6, '0'), 't_' || lpad((1 + (g - 1) / $2)::text, 4, '0'), false,
       'https://erp.example.com', '["payment.*"]'::jsonb, '[]'::jsonb, '{}'::jsonb, '{}'::jsonb, 'active', ${NOW}, ${NOW}
     FROM generate_series(1, $1::int * $2::int) AS g
     UNION ALL
     SELECT 'sub_all_' || lpad(g::text, 6, '0'), NULL, true, 'https://audit.example.com', '["*"]', '[]', '{}', '{}', 'active', ${NOW}, ${NOW}
     FROM generate_series(1, $3::int) AS g
     UNION ALL
     SELECT 'sub_p_' || lpad(g::text, 6, '0'), NULL, false, 'https://ops.example.com', '["payment.*"]', '[]', '{}', '{}', 'active', ${NOW}, ${NOW}
     FROM generate_series(1, $4::int) AS g`,
    [counts.tenants, counts.perTenant, counts.allTenants, counts.platform],
  );
  await admin.query(
    `INSERT INTO ${s}.subscription_event_types (filter, subscription_id, tenant_key, all_tenants)
     SELECT CASE WHEN all_tenants THEN '*' ELSE 'payment.*' END, id, COALESCE(tenant_id, ''), all_tenants FROM ${s}.subscriptions`,
  );
}

describe('migration 0003: tenants', () => {
  it('upgrades a version-2 installation with every row tenantless, fanning out, deduplicating and reading as before', async () => {
    const schema = await schemaAtVersion(2);
    const s = `"${schema}"`;
    await admin.query(
      `INSERT INTO ${s}.subscriptions (id, url, event_types, secrets, headers, metadata, status, created_at, updated_at)
       VALUES ('sub_pay', 'https://erp.example.com', '["payment.*"]', '[]', '{}', '{}', 'active', ${NOW}, ${NOW}),
              ('sub_refund', 'https://erp.example.com', '["refund.*"]', '[]', '{}', '{}', 'active', ${NOW}, ${NOW});
       INSERT INTO ${s}.subscription_event_types (filter, subscription_id) VALUES ('payment.*', 'sub_pay'), ('refund.*', 'sub_refund');
       INSERT INTO ${s}.events (id, type, published_at, payload, idempotency_key)
       VALUES ('evt_old', 'payment.succeeded', ${NOW}, '{}', 'order-1');
       INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES ('dlv_old', 'evt_old', 'payment.succeeded', 'sub_pay', 'pending', 0, ${NOW}, ${NOW}, ${NOW});`,
    );

    const storage = storageOn({ schema });
    // 0003 is a contract step (it drops the idempotency constraint version 2 named): explicit.
    expect(await rejectionOf(storage.migrate())).toMatchObject({ code: 'STORAGE_SCHEMA_TOO_OLD' });
    await storage.migrate({ phase: 'contract' });
    expect((await admin.query(`SELECT max(version) AS v FROM ${s}.migrations`)).rows[0].v).toBe(latestSchemaVersion);

    // Every row tenantless.
    expect(await storage.getSubscription('sub_pay')).toMatchObject({ tenantId: null, allTenants: false, eventTypes: ['payment.*'] });
    expect(await storage.getEvent('evt_old')).toMatchObject({ tenantId: null, idempotencyKey: 'order-1' });
    expect(await storage.getDelivery('dlv_old')).toMatchObject({ tenantId: null, status: 'pending' });
    expect((await admin.query(`SELECT DISTINCT tenant_key, all_tenants FROM ${s}.subscription_event_types`)).rows).toEqual([
      { tenant_key: '', all_tenants: false },
    ]);
    // Read as the platform's, and as no tenant's.
    expect((await storage.listSubscriptions({ limit: 10, tenantId: null })).items.map((sub) => sub.id)).toEqual(['sub_pay', 'sub_refund']);
    expect((await storage.listSubscriptions({ limit: 10, tenantId: 'acme' })).items).toEqual([]);
    expect((await storage.listDeliveries({ limit: 10, tenantId: null })).items.map((d) => d.id)).toEqual(['dlv_old']);
    expect(await storage.stats(NOW, { tenantId: null })).toMatchObject({ pending: 1 });
    expect(await storage.stats(NOW, { tenantId: 'acme' })).toMatchObject({ pending: 0 });

    // A tenantless publish fans out as before; a tenant's reaches no tenantless subscription.
    const tenantless = await storage.enqueue(tenantEvent(null));
    expect(tenantless).toMatchObject({ created: true, deliveryCount: 1 });
    expect((await storage.listDeliveries({ eventId: tenantless.event.id, limit: 10 })).items).toMatchObject([
      { subscriptionId: 'sub_pay', tenantId: null },
    ]);
    expect(await storage.enqueue(tenantEvent('acme'))).toMatchObject({ created: true, deliveryCount: 0 });

    // The old idempotency key still dedupes in the tenantless scope; in a tenant's it is a new event.
    const again = await storage.enqueue(tenantEvent(null, 'payment.succeeded', 'order-1'));
    expect(again).toMatchObject({ created: false, deliveryCount: 0, event: { id: 'evt_old', tenantId: null } });
    const acme = tenantEvent('acme', 'payment.succeeded', 'order-1');
    expect(await storage.enqueue(acme)).toMatchObject({ created: true, event: { id: acme.event.id, tenantId: 'acme' } });

    // The old pending delivery is claimed as before, with its tenantless event and subscription.
    const claimed = await storage.claimDue({ limit: 10, leaseMs: 60_000, now: NOW });
    expect(claimed.map((c) => c.delivery.id)).toContain('dlv_old');
    expect(claimed.find((c) => c.delivery.id === 'dlv_old')).toMatchObject({
      event: { id: 'evt_old', tenantId: null },
      subscription: { id: 'sub_pay', tenantId: null, allTenants: false },
    });
  });

  it('lets two adapters upgrade a version-2 schema at once: one applies 0003 and what follows, the other finds it done', async () => {
    const schema = await schemaAtVersion(2);
    const storages = [storageOn({ schema }), storageOn({ schema })];
    await Promise.all(storages.map((storage) => storage.migrate({ phase: 'contract' })));
    const { rows } = await admin.query(`SELECT version FROM "${schema}".migrations ORDER BY version`);
    expect(rows.map((row) => row.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    const created = await storages[0]!.createSubscription(subscription({ tenantId: 'acme' }));
    expect(await storages[1]!.getSubscription(created.id)).toEqual(created);
  });
});

describe('the fan-out by (tenant, type)', () => {
  it("reads only the event's tenant's filter rows and the all-tenant rows, by index, with thousands of subscriptions over many tenants", async () => {
    const schema = (await migrated()).schema;
    await fillSubscriptions(schema, { tenants: 1500, perTenant: 2, allTenants: 3, platform: 5 });
    const { enqueue } = postgresStatements(schema);
    const values = (tenantId: string | null): unknown[] => enqueueValues(schema, tenantId);
    // Before any statistics (a fresh install, or a bulk load autovacuum has not reached yet),
    // then with them, as autovacuum gathers them after a bulk change. The plan for these
    // values, and the generic plan that a named statement runs after its first few calls:
    // PostgreSQL must settle on it rather than plan this statement anew on every publish.
    const beforeAnalyze = await planOf(enqueue, values('t_0742'), true);
    await admin.query(`ANALYZE "${schema}".subscriptions; ANALYZE "${schema}".subscription_event_types`);
    const generic = await genericPlanOf(enqueue, values('t_0742'));
    expect(generic.genericChosen).toBe(true);
    const plans = [
      ['never ANALYZEd', beforeAnalyze],
      ['for the values', await planOf(enqueue, values('t_0742'), true)],
      ['generic', generic.plan],
    ] as const;
    for (const [moment, plan] of plans) {
      const filterReads = readsOf(plan, 'subscription_event_types');
      expect(filterReads.length, moment).toBeGreaterThan(0);
      for (const [nodeType, index] of filterReads) {
        expect(['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan'], moment).toContain(nodeType);
        if (nodeType !== 'Bitmap Heap Scan') {
          expect(['subscription_event_types_pkey', 'subscription_event_types_all_tenants'], moment).toContain(index);
        }
      }
      expect(readsOf(plan, 'subscriptions').filter(([nodeType]) => nodeType === 'Seq Scan'), moment).toEqual([]);
      // The tenant's 2 rows and the 3 all-tenant consumers' rows: nothing of the other 1,499 tenants.
      expect(rowsRead(plan, 'subscription_event_types'), moment).toBe(5);
      expect(rowsRead(plan, 'subscriptions'), moment).toBe(5);
    }
    // And it runs so: the tenant's 2 subscriptions and the 3 all-tenant consumers, each delivery of its subscription's tenant.
    const storage = storageOn({ schema });
    const published = await storage.enqueue(tenantEvent('t_0742'));
    expect(published.deliveryCount).toBe(5);
    const tenants = (await storage.listDeliveries({ eventId: published.event.id, limit: 10 })).items.map((d) => [d.subscriptionId, d.tenantId]);
    expect(tenants.sort()).toEqual([
      ['sub_all_000001', null],
      ['sub_all_000002', null],
      ['sub_all_000003', null],
      ['sub_t_001483', 't_0742'],
      ['sub_t_001484', 't_0742'],
    ]);
    // A tenantless event: the platform's 5 and the all-tenant consumers.
    expect((await storage.enqueue(tenantEvent(null))).deliveryCount).toBe(8);
  });

  it('is planned once per connection: with one subscription, never ANALYZEd, PostgreSQL settles on the generic plan', async () => {
    // As the publish bench runs it. A shape whose generic plan costs more than the plan for
    // the values (a lateral probe per matched row did) is planned anew on every publish.
    const storage = await migrated();
    await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    for (const tenantId of [null, 'acme']) {
      expect((await genericPlanOf(postgresStatements(storage.schema).enqueue, enqueueValues(storage.schema, tenantId))).genericChosen).toBe(true);
    }
  });

  it("fans out to a tenant with more subscriptions than the pre-generated ids, and another tenant's publish of the type is not held to it", async () => {
    const storage = await migrated();
    for (let i = 0; i < 40; i++) await storage.createSubscription(subscription({ id: createId('sub', NOW), tenantId: 'big' }));
    await storage.createSubscription(subscription({ id: createId('sub', NOW), tenantId: 'small' }));
    for (let round = 0; round < 2; round++) {
      expect(await storage.enqueue(tenantEvent('big'))).toMatchObject({ created: true, deliveryCount: 40 });
      expect(await storage.enqueue(tenantEvent('small'))).toMatchObject({ created: true, deliveryCount: 1 });
      expect(await storage.enqueue(tenantEvent(null))).toMatchObject({ created: true, deliveryCount: 0 });
    }
  });
});

describe('the subscription limit per tenant', () => {
  /** Subscriptions of `tenantId` in the schema, counted by the test's own connection. */
  async function countOf(schema: string, tenantId: string): Promise<number> {
    const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".subscriptions WHERE tenant_id = $1`, [tenantId]);
    return Number(rows[0]!.n);
  }

  it("decides two creates racing for a tenant's last place on two connections one after the other: one wins, the other gets TENANT_SUBSCRIPTION_LIMIT", async () => {
    const storage = await migrated({ poolSize: 4 });
    const { schema } = storage;
    const limits = { maxPerTenant: 3 };
    for (let i = 0; i < 2; i++) await storage.createSubscription(subscription({ id: createId('sub', NOW), tenantId: 'acme' }), limits);

    // Hold the tenant's lock, so that both creates are under way before either may count.
    const holder: pg.PoolClient = await admin.connect();
    let racing: Array<Promise<unknown>> = [];
    try {
      await holder.query('BEGIN');
      await holder.query(postgresStatements(schema).lockTenant, ['acme']);
      const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      racing = [0, 1].map(() => storage.createSubscription(subscription({ id: createId('sub', NOW), tenantId: 'acme' }), limits));
      await eventually(async () => {
        const { rows } = await admin.query<{ n: string }>(
          'SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))',
          [holderPid],
        );
        return Number(rows[0]!.n) === 2;
      });
      // Another tenant's create does not wait for it.
      await storage.createSubscription(subscription({ id: createId('sub', NOW), tenantId: 'globex' }), limits);
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    const outcomes = await Promise.allSettled(racing);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect(refused.map((outcome) => outcome.reason)).toMatchObject([{ name: 'ConflictError', code: 'TENANT_SUBSCRIPTION_LIMIT' }]);
    expect(await countOf(schema, 'acme')).toBe(3);
  });

  it('lets exactly one of many concurrent creates per tenant take its one place, across two adapters', async () => {
    const first = await migrated({ poolSize: 4 });
    const second = storageOn({ schema: first.schema, poolSize: 4 });
    const tenants = ['t1', 't2', 't3', 't4', 't5'];
    const creates = tenants.flatMap((tenantId) =>
      [first, second, first, second].map((storage) =>
        storage.createSubscription(subscription({ id: createId('sub', NOW), tenantId }), { maxPerTenant: 1 }),
      ),
    );
    const outcomes = await Promise.allSettled(creates);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(tenants.length);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ code: 'TENANT_SUBSCRIPTION_LIMIT' });
    }
    for (const tenantId of tenants) expect(await countOf(first.schema, tenantId)).toBe(1);
  });
});

describe("a tenant's removal", () => {
  it('answers in_flight by the database clock, whatever the caller clock says', async () => {
    const storage = await migrated();
    await storage.createSubscription(subscription({ tenantId: 'acme' }));
    await storage.enqueue(tenantEvent('acme'));
    const [claimed] = await storage.claimDue({ limit: 1, leaseMs: 60_000, now: NOW });
    expect(claimed!.delivery.tenantId).toBe('acme');
    // The caller's clock is hours past the lease's end; the database's is not.
    const farAhead = claimed!.delivery.leaseExpiresAt! + 3_600_000;
    expect(await storage.purgeTenant({ tenantId: 'acme', limit: 10, now: farAhead, force: false })).toBe('in_flight');
    expect(await storage.getDelivery(claimed!.delivery.id)).not.toBeNull();
    expect(await storage.purgeTenant({ tenantId: 'acme', limit: 10, now: NOW, force: true })).toEqual({
      subscriptions: 1,
      events: 1,
      deliveries: 1,
      attempts: 0,
      done: true,
    });
  });

  it("reads and removes by the tenant's indexes: no statement of a batch scans deliveries, events or subscriptions", async () => {
    const storage = await migrated();
    const { schema } = storage;
    const s = `"${schema}"`;
    await fillSubscriptions(schema, { tenants: 2000, perTenant: 2, allTenants: 1, platform: 0 });
    // 20,000 events over 200 of the tenants, each delivered to one of its subscriptions (after
    // one attempt) and to the all-tenant consumer.
    await admin.query(
      `INSERT INTO ${s}.events (id, type, published_at, payload, tenant_id)
       SELECT 'evt_' || lpad(g::text, 8, '0'), 'payment.succeeded', ${NOW}, '{}', 't_' || lpad((1 + g % 200)::text, 4, '0')
       FROM generate_series(1, 20000) AS g;
       INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, tenant_id, status, attempts, next_attempt_at, created_at, updated_at)
       SELECT 'dlv_' || lpad(g::text, 8, '0'), e.id, e.type, 'sub_t_' || lpad((2 * (1 + g % 200))::text, 6, '0'), e.tenant_id,
         CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'delivered' END, 0, CASE WHEN g % 10 = 0 THEN ${NOW} END, ${NOW}, ${NOW}
       FROM generate_series(1, 20000) AS g JOIN ${s}.events AS e ON e.id = 'evt_' || lpad(g::text, 8, '0');
       INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, tenant_id, status, attempts, next_attempt_at, created_at, updated_at)
       SELECT 'dlv_a' || substr(e.id, 5), e.id, e.type, 'sub_all_000001', NULL, 'delivered', 0, NULL, ${NOW}, ${NOW}
       FROM ${s}.events AS e;
       INSERT INTO ${s}.attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code, outcome)
       SELECT 'att_' || substr(d.id, 5), d.id, 1, ${NOW}, 5, 200, 'delivered' FROM ${s}.deliveries AS d WHERE d.tenant_id IS NOT NULL;
       ANALYZE ${s}.events; ANALYZE ${s}.deliveries; ANALYZE ${s}.subscriptions; ANALYZE ${s}.attempts;`,
    );
    const sql = postgresStatements(schema);
    const tenant = 't_0042';
    const plans = {
      tenantInFlight: await planOf(sql.tenantInFlight, [tenant]),
      tenantLeft: await planOf(sql.tenantLeft, [tenant]),
      purgeTenantDeliveries: await planOf(sql.purgeTenantDeliveries, [tenant, 50, false]),
      lockTenantSubscriptions: await planOf(sql.lockTenantSubscriptions, [tenant, 50]),
      purgeTenantSubscriptions: await planOf(sql.purgeTenantSubscriptions, [['sub_t_000083', 'sub_t_000084']]),
      lockTenantEvents: await planOf(sql.lockTenantEvents, [tenant, 50]),
      purgeTenantEvents: await planOf(sql.purgeTenantEvents, [['evt_00000041', 'evt_00000241']]),
    };
    for (const [name, plan] of Object.entries(plans)) {
      for (const relation of ['deliveries', 'events', 'subscriptions', 'attempts']) {
        expect(readsOf(plan, relation).filter(([nodeType]) => nodeType === 'Seq Scan'), `${name} on ${relation}`).toEqual([]);
      }
    }
    // And the batches take the tenant's rows only, in the order of the steps, until it is gone.
    const batches: Array<Awaited<ReturnType<typeof storage.purgeTenant>>> = [];
    for (let i = 0; i < 10; i++) {
      const batch = await storage.purgeTenant({ tenantId: tenant, limit: 40, now: NOW, force: false });
      batches.push(batch);
      if (batch !== 'in_flight' && batch.done) break;
    }
    expect(batches).toEqual([
      { deliveries: 40, attempts: 40, subscriptions: 0, events: 0, done: false },
      { deliveries: 40, attempts: 40, subscriptions: 0, events: 0, done: false },
      // The last 20 of its deliveries, its 2 subscriptions, then 40 of its events with the all-tenant consumer's deliveries of them.
      { deliveries: 60, attempts: 20, subscriptions: 2, events: 40, done: false },
      { deliveries: 40, attempts: 0, subscriptions: 0, events: 40, done: false },
      { deliveries: 20, attempts: 0, subscriptions: 0, events: 20, done: true },
    ]);
    // Nothing of the other tenants.
    expect(await storage.stats(NOW, { tenantId: 't_0011' })).toMatchObject({ pending: 100, delivered: 0 });
    expect(await storage.stats(NOW, { tenantId: 't_0043' })).toMatchObject({ pending: 0, delivered: 100 });
    expect((await admin.query(`SELECT count(*)::int AS n FROM ${s}.events`)).rows[0].n).toBe(19_900);
    expect((await admin.query(`SELECT count(*)::int AS n FROM ${s}.attempts`)).rows[0].n).toBe(19_900);
  });
});

describe('claims that skip tenants', () => {
  it("skips an excluded tenant's backlog without walking over it, and never skips the platform's deliveries", async () => {
    const storage = await migrated();
    const { schema } = storage;
    const s = `"${schema}"`;
    const busy = await storage.createSubscription(subscription({ tenantId: 'busy' }));
    const platform = await storage.createSubscription(subscription({ id: createId('sub', NOW) }));
    // 3,000 due deliveries of the excluded tenant, all older than the platform's 10.
    await admin.query(
      `INSERT INTO ${s}.events (id, type, published_at, payload, tenant_id)
       SELECT 'evt_' || lpad(g::text, 8, '0'), 'payment.succeeded', ${NOW}, '{}', CASE WHEN g <= 3000 THEN 'busy' END
       FROM generate_series(1, 3010) AS g;
       INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, tenant_id, status, attempts, next_attempt_at, created_at, updated_at)
       SELECT 'dlv_' || lpad(g::text, 8, '0'), 'evt_' || lpad(g::text, 8, '0'), 'payment.succeeded',
         CASE WHEN g <= 3000 THEN '${busy.id}' ELSE '${platform.id}' END, CASE WHEN g <= 3000 THEN 'busy' END,
         'pending', 0, ${NOW} + g, ${NOW}, ${NOW}
       FROM generate_series(1, 3010) AS g;
       ANALYZE ${s}.deliveries;`,
    );
    const plan = await planOf(postgresStatements(schema).claimExcluding, [NOW + 10_000, 5, 60_000, [], ['busy']], true);
    const reads = planNodes(plan).filter((node) => node['Relation Name'] === 'deliveries' && node['Node Type'] !== 'ModifyTable');
    // No read of deliveries returned more than the window at the head of the due order
    // (16 × limit): nothing like the 3,000-row backlog.
    expect(Math.max(...reads.map((node) => (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1)))).toBeLessThanOrEqual(80);
    const claimed = await storage.claimDue({ limit: 5, leaseMs: 60_000, now: NOW + 10_000, excludeTenantIds: ['busy'] });
    expect(claimed.map((c) => [c.delivery.id, c.delivery.tenantId])).toEqual(
      ['dlv_00003001', 'dlv_00003002', 'dlv_00003003', 'dlv_00003004', 'dlv_00003005'].map((id) => [id, null]),
    );
    // Excluding another tenant leaves the busy tenant's oldest first.
    const next = await storage.claimDue({ limit: 2, leaseMs: 60_000, now: NOW + 10_000, excludeTenantIds: ['globex'] });
    expect(next.map((c) => c.delivery.id)).toEqual(['dlv_00000001', 'dlv_00000002']);
  });
});
