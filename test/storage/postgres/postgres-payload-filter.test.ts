/**
 * What is particular to payload filters on the PostgreSQL storage (the shared behaviour is in
 * test/conformance/payload-filter.ts): the publish's round trips — one statement when no
 * target has a filter, one more when one has, on the pool and on the host's client — and its
 * rounds staying atomic while subscriptions are created or changed between them, or a round
 * is retried; the filter asked inside the host's transaction; the filtered replay's batches;
 * and migration 0009. On a real PostgreSQL, in schemas of this file's own.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import { candidateFilters } from '../../../src/registry/event-type-filter.js';
import { latestSchemaVersion } from '../../../src/storage/postgres/migrations/index.js';
import { postgresStatements } from '../../../src/storage/postgres/statements/index.js';
import type { EnqueueInput, NewEventRecord } from '../../../src/storage/storage-adapter.js';
import { acceptFilter, enqueueAsker, FilterEvaluationError, replayAsker } from '../../support/filter-callbacks.js';
import { admin, migrated, schemaAtVersion, storageOn, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { recordingHostClient, recordingStorage } from '../../support/postgres-recording.js';
import { planNodes, planOf } from '../../support/postgres-plans.js';
import { rejectionOf } from '../../support/rejections.js';
import { NOW, subscription } from '../../support/storage-records.js';

usePostgresDatabase();

async function count(schema: string, table: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".${table}`);
  return Number(rows[0]!.n);
}

function event(type: string, idempotencyKey: string | null = null): NewEventRecord {
  const id = createId('evt', NOW);
  return { id, type, timestamp: NOW, payload: JSON.stringify({ id, type, data: { amountMinor: 125_000, currency: 'EUR' } }), idempotencyKey, tenantId: null };
}

function input(type: string, matchesFilter?: (filter: string) => boolean, extra: Partial<EnqueueInput> = {}): EnqueueInput {
  return { event: event(type), now: NOW, ...(matchesFilter === undefined ? {} : { matchesFilter }), ...extra };
}

describe('the round trips of a publish', () => {
  it('takes one statement when no target has a filter (a filtered subscription of another type included), two when one has', async () => {
    const schema = (await migrated()).schema;
    const { storage, texts, publishStatements } = await recordingStorage(schema);
    const sql = postgresStatements(schema);
    const unfiltered = await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    const filtered = await storage.createSubscription(subscription({ eventTypes: ['invoice.*'], filter: acceptFilter('invoice.paid') }));
    texts.length = 0;

    const asker = enqueueAsker('payment.succeeded');
    const payment = await storage.enqueue(input('payment.succeeded', asker.matchesFilter));
    expect(payment).toMatchObject({ created: true, deliveryCount: 1 });
    expect(texts).toEqual([sql.enqueue]);
    expect(asker.asked).toEqual([]);

    texts.length = 0;
    const invoiceAsker = enqueueAsker('invoice.paid');
    const invoice = await storage.enqueue(input('invoice.paid', invoiceAsker.matchesFilter));
    expect(invoice).toMatchObject({ created: true, deliveryCount: 1 });
    expect(texts).toEqual([sql.enqueue, sql.enqueue]);
    expect(invoiceAsker.asked).toEqual([filtered.filter]);
    expect((await storage.listDeliveries({ eventId: invoice.event.id, limit: 10 })).items.map((d) => d.subscriptionId)).toEqual([filtered.id]);
    expect((await storage.listDeliveries({ eventId: payment.event.id, limit: 10 })).items.map((d) => d.subscriptionId)).toEqual([unfiltered.id]);
    expect(publishStatements()).toBe(2);
  });

  it('takes the same statements on the host client, inside its transaction, and stores all of it at its commit', async () => {
    const storage = await migrated();
    const sql = postgresStatements(storage.schema);
    await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    const filtered = await storage.createSubscription(subscription({ eventTypes: ['invoice.*'], filter: acceptFilter('invoice.paid') }));
    const { client, tx, texts } = await recordingHostClient();
    await client.query('BEGIN');
    const payment = await storage.enqueue(input('payment.succeeded', () => true, { tx }));
    expect(texts).toEqual([sql.enqueue]);
    texts.length = 0;
    const asker = enqueueAsker('invoice.paid');
    const invoice = await storage.enqueue(input('invoice.paid', asker.matchesFilter, { tx }));
    expect(texts).toEqual([sql.enqueue, sql.enqueue]);
    expect(asker.asked).toEqual([filtered.filter]);
    expect(await count(storage.schema, 'events')).toBe(0);
    await client.query('COMMIT');
    expect(await storage.getEvent(payment.event.id)).toEqual(payment.event);
    expect((await storage.listDeliveries({ eventId: invoice.event.id, limit: 10 })).items.map((d) => d.subscriptionId)).toEqual([filtered.id]);
    expect(await count(storage.schema, 'deliveries')).toBe(2);
  });

  it('never runs its idempotency probe when no target has a filter; with one, the probe is one read of events_idempotency', async () => {
    const storage = await migrated();
    await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    await storage.createSubscription(subscription({ eventTypes: ['invoice.*'], filter: acceptFilter('invoice.paid') }));
    const values = (type: string): unknown[] => {
      const e = event(type, 'order-1');
      const ids = Array.from({ length: 16 }, () => createId('dlv', NOW));
      return [e.id, e.type, e.timestamp, e.payload, e.idempotencyKey, candidateFilters(e.type), ids, NOW, 'bookkeeper_webhooks', storage.schema, false, null, '', [], [], [], []];
    };
    const probes = async (type: string) =>
      planNodes(await planOf(postgresStatements(storage.schema).enqueue, values(type), true))
        .filter((node) => node['Index Name'] === 'events_idempotency' && node['Node Type'] !== 'ModifyTable')
        .map((node) => node['Actual Loops']);
    expect(await probes('payment.succeeded')).toEqual([0]);
    expect(await probes('invoice.paid')).toEqual([1]);
  });

  it('makes enough delivery ids for the deliveries to insert: filtered targets beyond the ids made ahead are stored in the second round', async () => {
    const schema = (await migrated()).schema;
    const { storage, publishStatements } = await recordingStorage(schema);
    // More than the ids made ahead for a first publish of a type (its slack, 16).
    for (let i = 0; i < 20; i++) await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    for (let i = 0; i < 5; i++) await storage.createSubscription(subscription({ eventTypes: ['payment.*'], filter: acceptFilter('payment.succeeded') }));
    for (let i = 0; i < 3; i++) await storage.createSubscription(subscription({ eventTypes: ['payment.*'], filter: acceptFilter('payment.refunded') }));
    const asker = enqueueAsker('payment.succeeded');
    const first = await storage.enqueue(input('payment.succeeded', asker.matchesFilter));
    expect(first).toMatchObject({ created: true, deliveryCount: 25 });
    expect(asker.asked).toHaveLength(8);
    expect(publishStatements()).toBe(2);
    expect(await count(schema, 'deliveries')).toBe(25);
    // Remembered as 25 deliveries: the next publish of the type has ids enough, and asks again.
    const second = await storage.enqueue(input('payment.succeeded', enqueueAsker('payment.succeeded').matchesFilter));
    expect(second.deliveryCount).toBe(25);
    expect(publishStatements()).toBe(4);
  });
});

describe('the rounds of a publish under concurrent changes', () => {
  it('asks about a subscription created between two rounds in a third, and stores the event with every delivery at once', async () => {
    const schema = (await migrated()).schema;
    const other = storageOn({ schema });
    const eventsBefore: number[] = [];
    const created: string[] = [];
    const { storage, publishStatements } = await recordingStorage(schema, {
      before: async (round) => {
        eventsBefore.push(await count(schema, 'events'));
        if (round !== 2) return;
        created.push((await other.createSubscription(subscription({ eventTypes: ['payment.*'] }))).id);
        created.push((await other.createSubscription(subscription({ eventTypes: ['payment.*'], filter: acceptFilter('payment.succeeded', 'late') }))).id);
      },
    });
    const plain = await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    const filtered = await storage.createSubscription(subscription({ eventTypes: ['payment.*'], filter: acceptFilter('payment.succeeded') }));
    const asker = enqueueAsker('payment.succeeded');
    const result = await storage.enqueue(input('payment.succeeded', asker.matchesFilter));
    expect(publishStatements()).toBe(3);
    // Nothing stored before the round that stores everything.
    expect(eventsBefore).toEqual([0, 0, 0]);
    expect(asker.asked).toEqual([filtered.filter, acceptFilter('payment.succeeded', 'late')]);
    expect(result).toMatchObject({ created: true, deliveryCount: 4 });
    const targets = (await storage.listDeliveries({ eventId: result.event.id, limit: 10 })).items.map((d) => d.subscriptionId).sort();
    expect(targets).toEqual([plain.id, filtered.id, ...created].sort());
    expect(await count(schema, 'events')).toBe(1);
    expect(await count(schema, 'deliveries')).toBe(4);
  });

  it('serves a subscription whose filter changed between two rounds by the verdict on its filter of the first', async () => {
    const schema = (await migrated()).schema;
    const other = storageOn({ schema });
    const ids: { accepted?: string; refused?: string } = {};
    const { storage } = await recordingStorage(schema, {
      before: async (round) => {
        if (round !== 2) return;
        await other.updateSubscription(ids.accepted!, { filter: acceptFilter('refund.created') }, NOW + 1);
        await other.updateSubscription(ids.refused!, { filter: null }, NOW + 1);
      },
    });
    ids.accepted = (await storage.createSubscription(subscription({ filter: acceptFilter('payment.succeeded') }))).id;
    ids.refused = (await storage.createSubscription(subscription({ filter: acceptFilter('refund.created') }))).id;
    const asker = enqueueAsker('payment.succeeded');
    const result = await storage.enqueue(input('payment.succeeded', asker.matchesFilter));
    // As if the publish came before the updates: asked once each, about the filters it read.
    expect(asker.asked.sort()).toEqual([acceptFilter('payment.succeeded'), acceptFilter('refund.created')].sort());
    expect(result.deliveryCount).toBe(1);
    expect((await storage.listDeliveries({ eventId: result.event.id, limit: 10 })).items.map((d) => d.subscriptionId)).toEqual([ids.accepted]);
  });

  it('keeps the verdicts when a round lost a race and the publish is retried in place: each filter is asked once', async () => {
    const schema = (await migrated()).schema;
    const race = Object.assign(new Error('could not serialize access due to concurrent update'), { code: '40001' });
    const { storage, publishStatements } = await recordingStorage(schema, { fail: (round) => (round === 2 ? race : null) });
    const filtered = await storage.createSubscription(subscription({ filter: acceptFilter('payment.succeeded') }));
    const asker = enqueueAsker('payment.succeeded');
    const result = await storage.enqueue(input('payment.succeeded', asker.matchesFilter));
    expect(result).toMatchObject({ created: true, deliveryCount: 1 });
    expect(asker.asked).toEqual([filtered.filter]);
    // The first round, the refused second, and the retry's one round: the verdicts were kept.
    expect(publishStatements()).toBe(3);
  });
});

describe('a payload filter inside the host transaction', () => {
  it('rejects with what the callback threw, stores nothing of the event, and leaves the host free to commit its own writes', async () => {
    const storage = await migrated();
    const s = `"${storage.schema}"`;
    await admin.query(`CREATE TABLE ${s}.ledger (id text PRIMARY KEY, amount_minor bigint NOT NULL)`);
    await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    await storage.createSubscription(subscription({ filter: acceptFilter('payment.succeeded') }));
    const { client, tx } = await recordingHostClient();
    const thrown = new FilterEvaluationError();
    await client.query('BEGIN');
    await client.query(`INSERT INTO ${s}.ledger VALUES ('entry_1', 125000)`);
    const failed = input('payment.succeeded', () => {
      throw thrown;
    }, { tx });
    expect(await rejectionOf(storage.enqueue(failed))).toBe(thrown);
    // The host's transaction is not aborted: nothing of ours failed in it.
    await client.query(`INSERT INTO ${s}.ledger VALUES ('entry_2', 5000)`);
    await client.query('COMMIT');
    expect(await count(storage.schema, 'ledger')).toBe(2);
    expect(await storage.getEvent(failed.event.id)).toBeNull();
    expect(await count(storage.schema, 'events')).toBe(0);
    expect(await count(storage.schema, 'deliveries')).toBe(0);
  });
});

describe('a filtered replay', () => {
  it("walks a window larger than one batch, ties of publication time across batches included, asking about each event once in the window's order", async () => {
    const storage = await migrated();
    const s = `"${storage.schema}"`;
    const sub = await storage.createSubscription(subscription({ eventTypes: ['payment.*'], filter: acceptFilter('payment.even') }));
    // 1,203 events, seven to a millisecond, ids not in publication order; the even ones of a type the filter accepts.
    await admin.query(
      `INSERT INTO ${s}.events (id, type, published_at, payload)
       SELECT 'evt_' || lpad(((g * 7919) % 1203)::text, 5, '0'), CASE WHEN g % 2 = 0 THEN 'payment.even' ELSE 'payment.odd' END,
         ${NOW} + g / 7, '{"n":' || g || '}'
       FROM generate_series(1, 1203) AS g`,
    );
    const expectedOrder = (await admin.query<{ id: string }>(`SELECT id FROM ${s}.events ORDER BY published_at, id`)).rows.map((row) => row.id);
    const replay = { subscriptionId: sub.id, eventTypes: ['payment.even', 'payment.odd'], since: NOW, now: NOW + 10_000 };
    const dry = replayAsker();
    expect(await storage.replay({ ...replay, dryRun: true, matchesFilter: dry.matchesFilter })).toEqual({ count: 601 });
    expect(dry.asked.map((a) => a.event.id)).toEqual(expectedOrder);
    const real = replayAsker();
    expect(await storage.replay({ ...replay, matchesFilter: real.matchesFilter })).toEqual({ count: 601 });
    expect(real.asked.map((a) => a.event.id)).toEqual(expectedOrder);
    expect(real.asked.every((a) => a.filter === sub.filter && a.event.payload.startsWith('{"n":'))).toBe(true);
    const { rows } = await admin.query<{ type: string; n: string }>(
      `SELECT e.type, count(*) AS n FROM ${s}.deliveries AS d JOIN ${s}.events AS e ON e.id = d.event_id GROUP BY e.type`,
    );
    expect(rows).toEqual([{ type: 'payment.even', n: '601' }]);
  });
});

describe('migration 0009: payload filters', () => {
  it('upgrades a version-8 installation: its subscriptions read no filter and receive every event of their types, unasked', async () => {
    const schema = await schemaAtVersion(8);
    const s = `"${schema}"`;
    await admin.query(
      `INSERT INTO ${s}.subscriptions (id, url, event_types, secrets, headers, metadata, status, created_at, updated_at)
       VALUES ('sub_pay', 'https://erp.example.com', '["payment.*"]', '[]', '{}', '{}', 'active', ${NOW}, ${NOW});
       INSERT INTO ${s}.subscription_event_types (filter, subscription_id) VALUES ('payment.*', 'sub_pay');`,
    );
    const storage = storageOn({ schema });
    await storage.migrate();
    expect((await admin.query(`SELECT max(version) AS v FROM ${s}.migrations`)).rows[0].v).toBe(latestSchemaVersion);
    expect(await storage.getSubscription('sub_pay')).toMatchObject({ filter: null, eventTypes: ['payment.*'] });
    const { rows } = await admin.query(
      `SELECT data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = 'subscriptions' AND column_name = 'payload_filter'`,
      [schema],
    );
    expect(rows).toEqual([{ data_type: 'text', is_nullable: 'YES', column_default: null }]);
    const asker = enqueueAsker('payment.succeeded');
    expect(await storage.enqueue(input('payment.succeeded', asker.matchesFilter))).toMatchObject({ created: true, deliveryCount: 1 });
    expect(asker.asked).toEqual([]);
    expect(await storage.updateSubscription('sub_pay', { filter: acceptFilter('payment.refunded') }, NOW + 1)).toMatchObject({ filter: acceptFilter('payment.refunded') });
    expect(await storage.enqueue(input('payment.succeeded', asker.matchesFilter))).toMatchObject({ created: true, deliveryCount: 0 });
    expect(asker.asked).toEqual([acceptFilter('payment.refunded')]);
  });
});
