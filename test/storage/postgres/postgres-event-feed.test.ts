/**
 * What is particular to the event feed's reads on the PostgreSQL storage (the shared rules
 * are in the conformance suite, test/conformance/event-feed.ts): migration 0005 on an
 * installation of version 4, and the query plans of a page read oldest first by types for a
 * tenant, for the tenantless events and for every event, with the values PostgreSQL plans
 * for and as the generic plan of the named statement. On a real PostgreSQL, in schemas of
 * this file's own.
 */
import { describe, expect, it } from 'vitest';
import { decodeCursor } from '../../../src/storage/shared/cursor.js';
import { latestSchemaVersion } from '../../../src/storage/postgres/migrations/index.js';
import { listEventsSql, tablesOf } from '../../../src/storage/postgres/statements/index.js';
import type { EventQuery } from '../../../src/storage/storage-adapter.js';
import { admin, migrated, schemaAtVersion, storageOn, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { genericPlanOf, planNodes, planOf, readsOf, type PlanNode } from '../../support/postgres-plans.js';
import { NOW } from '../../support/storage-records.js';

usePostgresDatabase();

describe('migration 0005: the tenantless events in id order', () => {
  it('upgrades a version-4 installation holding events: every row as stored, the tenantless ones read oldest first through the new index', async () => {
    const schema = await schemaAtVersion(4);
    const s = `"${schema}"`;
    await admin.query(
      `INSERT INTO ${s}.events (id, type, published_at, payload, idempotency_key, tenant_id, expunged_at)
       VALUES ('evt_4', 'payment.succeeded', ${NOW + 3}, '{"n":4}', NULL, NULL, NULL),
              ('evt_1', 'payment.succeeded', ${NOW}, '{"n":1}', 'order-1', NULL, NULL),
              ('evt_3', 'invoice.paid', ${NOW + 2}, '', NULL, NULL, ${NOW + 5}),
              ('evt_2', 'payment.succeeded', ${NOW + 1}, '{"n":2}', NULL, 'acme', NULL)`,
    );
    const rows = `SELECT * FROM ${s}.events ORDER BY id`;
    const before = (await admin.query(rows)).rows;
    const storage = storageOn({ schema });
    await storage.migrate();
    expect((await admin.query(`SELECT max(version) AS v FROM ${s}.migrations`)).rows[0].v).toBe(latestSchemaVersion);

    // Every row as stored, with the ordering key that migration 0011 adds null.
    expect((await admin.query(rows)).rows).toEqual(before.map((row) => ({ ...row, ordering_key: null })));
    const { rows: indexes } = await admin.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'events_tenantless'`,
      [schema],
    );
    expect(indexes.map((i) => i.indexdef)).toEqual([`CREATE INDEX events_tenantless ON ${schema}.events USING btree (id) WHERE (tenant_id IS NULL)`]);
    const ids = async (query: EventQuery) => (await storage.listEvents(query)).items.map((e) => e.id);
    expect(await ids({ tenantId: null, order: 'asc', limit: 10 })).toEqual(['evt_1', 'evt_3', 'evt_4']);
    expect(await ids({ tenantId: null, types: ['payment.succeeded'], order: 'asc', limit: 10 })).toEqual(['evt_1', 'evt_4']);
    expect(await ids({ tenantId: null, limit: 10 })).toEqual(['evt_4', 'evt_3', 'evt_1']);
    expect(await ids({ tenantId: 'acme', order: 'asc', limit: 10 })).toEqual(['evt_2']);
    expect(await ids({ order: 'asc', limit: 10 })).toEqual(['evt_1', 'evt_2', 'evt_3', 'evt_4']);
  });
});

describe("the event feed's query plans", () => {
  it("reads a page oldest first by types, from a cursor and a time, through its scope's index only: a tenant's events_tenant, the tenantless events_tenantless, every event the primary key; never a sequential scan", async () => {
    const storage = await migrated();
    const { schema } = storage;
    const s = `"${schema}"`;
    // 40,000 events over 200 tenants, one in 20 tenantless, of three types, one ms apart.
    await admin.query(
      `INSERT INTO ${s}.events (id, type, published_at, payload, tenant_id)
       SELECT 'evt_' || lpad(g::text, 8, '0'), (ARRAY['payment.succeeded', 'invoice.paid', 'refund.created'])[1 + g % 3],
         ${NOW} + g, '{}', CASE WHEN g % 20 = 0 THEN NULL ELSE 't' || (g % 200) END
       FROM generate_series(1, 40000) AS g;
       ANALYZE ${s}.events;`,
    );
    const types = ['payment.succeeded', 'invoice.paid'];
    const expectations: Array<[string, Omit<EventQuery, 'limit'>, string]> = [
      ['a tenant', { tenantId: 't3' }, 'events_tenant'],
      ['the tenantless', { tenantId: null }, 'events_tenantless'],
      ['every event', {}, 'events_pkey'],
    ];
    for (const [scope, query, index] of expectations) {
      // The first page, then the next from its cursor, as the feed walks them.
      const first = await storage.listEvents({ ...query, types, order: 'asc', limit: 50 });
      expect(first.items).toHaveLength(50);
      const lastId = decodeCursor('feed', first.nextCursor!);
      const pages = [
        ['first page', {}],
        ['next page', { lastId }],
        ['first page since', { since: NOW + 10_000 }],
        ['next page since', { since: NOW + 10_000, lastId }],
      ] as const;
      for (const [page, extra] of pages) {
        const { text, values } = listEventsSql(tablesOf(schema), { ...query, types, order: 'asc', limit: 50, ...extra });
        const plans: Array<[string, PlanNode]> = [
          ['for the values', await planOf(text, values, true)],
          ['generic', (await genericPlanOf(text, values)).plan],
        ];
        for (const [moment, plan] of plans) {
          const where = `${scope}, ${page}, ${moment}`;
          // In id order, or by a bitmap of the index and a sort of what it names: a cost
          // question for PostgreSQL, either way reading the scope's events alone.
          expect(readsOf(plan, 'events').filter(([nodeType]) => nodeType === 'Seq Scan'), where).toEqual([]);
          expect([...new Set(planNodes(plan).flatMap((node) => node['Index Name'] ?? []))], where).toEqual([index]);
        }
      }
    }
  });
});
