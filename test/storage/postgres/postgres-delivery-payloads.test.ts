/**
 * What is particular to delivery payloads on the PostgreSQL storage (the shared behaviour is
 * in test/conformance/delivery-payloads.ts): the publish's round trips — one statement when no
 * target has a filter or a transform, two with a transform, still two with a filter and a
 * transform on one subscription, on the pool and on the host's client — the ids made for the
 * rendered deliveries, the payloads kept across a retry in place and a transform changed
 * between rounds, a render throwing inside the host's transaction, and migration 0010. On a
 * real PostgreSQL, in schemas of this file's own.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import { latestSchemaVersion } from '../../../src/storage/postgres/migrations/index.js';
import { postgresStatements } from '../../../src/storage/postgres/statements/index.js';
import type { EnqueueInput, NewEventRecord, SubscriptionRecord } from '../../../src/storage/storage-adapter.js';
import { acceptFilter, enqueueAsker } from '../../support/filter-callbacks.js';
import { admin, migrated, schemaAtVersion, storageOn, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { recordingHostClient, recordingStorage } from '../../support/postgres-recording.js';
import { rejectionOf } from '../../support/rejections.js';
import { NOW, subscription } from '../../support/storage-records.js';

usePostgresDatabase();

async function count(schema: string, table: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".${table}`);
  return Number(rows[0]!.n);
}

function event(type: string): NewEventRecord {
  const id = createId('evt', NOW);
  return { id, type, timestamp: NOW, payload: JSON.stringify({ id, type, data: { amountMinor: 125_000, currency: 'EUR' } }), idempotencyKey: null, tenantId: null };
}

/** A render that records each subscription asked about and renders its transform's name and id. */
function renderer(): { asked: SubscriptionRecord[]; render: (subscription: SubscriptionRecord) => string } {
  const asked: SubscriptionRecord[] = [];
  return {
    asked,
    render: (subscription) => {
      asked.push(subscription);
      return `{"thin":${JSON.stringify(subscription.transform)},"to":${JSON.stringify(subscription.id)}}`;
    },
  };
}

function input(type: string, extra: Partial<EnqueueInput> = {}): EnqueueInput {
  return { event: event(type), now: NOW, ...extra };
}

async function payloadsOf(schema: string, eventId: string): Promise<Record<string, string | null>> {
  const { rows } = await admin.query<{ subscription_id: string; payload: string | null }>(
    `SELECT subscription_id, payload FROM "${schema}".deliveries WHERE event_id = $1`,
    [eventId],
  );
  return Object.fromEntries(rows.map((row) => [row.subscription_id, row.payload]));
}

describe('the round trips of a publish with transforms', () => {
  it('takes one statement when no target has a filter or a transform (a transformed subscription of another type included), two with a transform, two with a filter and a transform', async () => {
    const schema = (await migrated()).schema;
    const { storage, texts } = await recordingStorage(schema);
    const sql = postgresStatements(schema);
    const plain = await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    const thin = await storage.createSubscription(subscription({ eventTypes: ['invoice.*'], transform: 'thin' }));
    const both = await storage.createSubscription(subscription({ eventTypes: ['refund.*'], transform: 'thin', filter: acceptFilter('refund.created') }));
    texts.length = 0;

    const none = renderer();
    const payment = await storage.enqueue(input('payment.succeeded', { render: none.render }));
    expect(payment).toMatchObject({ created: true, deliveryCount: 1 });
    expect(texts).toEqual([sql.enqueue]);
    expect(none.asked).toEqual([]);
    expect(await payloadsOf(schema, payment.event.id)).toEqual({ [plain.id]: null });

    texts.length = 0;
    const one = renderer();
    const invoice = await storage.enqueue(input('invoice.paid', { render: one.render }));
    expect(invoice).toMatchObject({ created: true, deliveryCount: 1 });
    expect(texts).toEqual([sql.enqueue, sql.enqueue]);
    // The record the statement returned as JSON is the stored one.
    expect(one.asked).toEqual([await storage.getSubscription(thin.id)]);
    expect(await payloadsOf(schema, invoice.event.id)).toEqual({ [thin.id]: one.render(thin) });

    texts.length = 0;
    const filtered = renderer();
    const asker = enqueueAsker('refund.created');
    const refund = await storage.enqueue(input('refund.created', { render: filtered.render, matchesFilter: asker.matchesFilter }));
    expect(refund).toMatchObject({ created: true, deliveryCount: 1 });
    expect(texts).toEqual([sql.enqueue, sql.enqueue]);
    expect(asker.asked).toEqual([both.filter]);
    expect(filtered.asked.map((s) => s.id)).toEqual([both.id]);
    expect(await storage.getDeliveryPayload((await storage.listDeliveries({ eventId: refund.event.id, limit: 10 })).items[0]!.id)).toBe(filtered.render(both));
  });

  it('renders nothing for a target its filter refuses, and gives a transformed target no delivery without a render, in two statements', async () => {
    const schema = (await migrated()).schema;
    const { storage, publishStatements } = await recordingStorage(schema);
    const plain = await storage.createSubscription(subscription());
    await storage.createSubscription(subscription({ transform: 'thin', filter: acceptFilter('refund.created') }));
    await storage.createSubscription(subscription({ transform: 'thin' }));
    const r = renderer();
    const refused = await storage.enqueue(input('payment.succeeded', { render: r.render, matchesFilter: enqueueAsker('payment.succeeded').matchesFilter }));
    expect(r.asked).toHaveLength(1);
    expect(refused.deliveryCount).toBe(2);
    const unrendered = await storage.enqueue(input('payment.succeeded', { matchesFilter: () => true }));
    expect(unrendered.deliveryCount).toBe(1);
    expect(await payloadsOf(schema, unrendered.event.id)).toEqual({ [plain.id]: null });
    expect(publishStatements()).toBe(4);
  });

  it('takes the same statements on the host client, inside its transaction, and stores the rendered payloads at its commit', async () => {
    const storage = await migrated();
    const sql = postgresStatements(storage.schema);
    const thin = await storage.createSubscription(subscription({ transform: 'thin' }));
    const { client, tx, texts } = await recordingHostClient();
    await client.query('BEGIN');
    const r = renderer();
    const result = await storage.enqueue(input('payment.succeeded', { render: r.render, tx }));
    expect(texts).toEqual([sql.enqueue, sql.enqueue]);
    expect(await count(storage.schema, 'events')).toBe(0);
    await client.query('COMMIT');
    expect(await payloadsOf(storage.schema, result.event.id)).toEqual({ [thin.id]: r.render(thin) });
  });

  it('makes enough delivery ids: rendered targets beyond the ids made ahead are stored in the second round, and the fan-out is remembered', async () => {
    const schema = (await migrated()).schema;
    const { storage, publishStatements } = await recordingStorage(schema);
    // More than the ids made ahead for a first publish of a type (its slack, 16).
    for (let i = 0; i < 12; i++) await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    for (let i = 0; i < 10; i++) await storage.createSubscription(subscription({ eventTypes: ['payment.*'], transform: 'thin' }));
    for (let i = 0; i < 4; i++) await storage.createSubscription(subscription({ eventTypes: ['payment.*'], transform: 'thin', filter: acceptFilter('payment.succeeded') }));
    for (let i = 0; i < 3; i++) await storage.createSubscription(subscription({ eventTypes: ['payment.*'], transform: 'thin', filter: acceptFilter('refund.created') }));
    const r = renderer();
    const first = await storage.enqueue(input('payment.succeeded', { render: r.render, matchesFilter: enqueueAsker('payment.succeeded').matchesFilter }));
    expect(first).toMatchObject({ created: true, deliveryCount: 26 });
    expect(r.asked).toHaveLength(14);
    expect(publishStatements()).toBe(2);
    expect(Object.values(await payloadsOf(schema, first.event.id)).filter((payload) => payload !== null)).toHaveLength(14);
    const second = await storage.enqueue(input('payment.succeeded', { render: renderer().render, matchesFilter: enqueueAsker('payment.succeeded').matchesFilter }));
    expect(second.deliveryCount).toBe(26);
    expect(publishStatements()).toBe(4);
  });
});

describe('the rounds of a publish with transforms under concurrent changes', () => {
  it('keeps the rendered payloads when a round lost a race and the publish is retried in place: each is rendered once', async () => {
    const schema = (await migrated()).schema;
    const race = Object.assign(new Error('could not serialize access due to concurrent update'), { code: '40001' });
    const { storage, publishStatements } = await recordingStorage(schema, { fail: (round) => (round === 2 ? race : null) });
    const thin = await storage.createSubscription(subscription({ transform: 'thin', filter: acceptFilter('payment.succeeded') }));
    const r = renderer();
    const asker = enqueueAsker('payment.succeeded');
    const result = await storage.enqueue(input('payment.succeeded', { render: r.render, matchesFilter: asker.matchesFilter }));
    expect(result).toMatchObject({ created: true, deliveryCount: 1 });
    expect(r.asked.map((s) => s.id)).toEqual([thin.id]);
    expect(asker.asked).toEqual([thin.filter]);
    // The first round, the refused second, and the retry's one round: the answers were kept.
    expect(publishStatements()).toBe(3);
    expect(await payloadsOf(schema, result.event.id)).toEqual({ [thin.id]: r.render(thin) });
  });

  it('stores the payload rendered in the first round when the transform changed or went before the second, and renders one given a transform meanwhile', async () => {
    const schema = (await migrated()).schema;
    const other = storageOn({ schema });
    const ids: { changed?: string; cleared?: string; given?: string } = {};
    const { storage, publishStatements } = await recordingStorage(schema, {
      before: async (round) => {
        if (round !== 2) return;
        await other.updateSubscription(ids.changed!, { transform: 'full' }, NOW + 1);
        await other.updateSubscription(ids.cleared!, { transform: null }, NOW + 1);
        await other.updateSubscription(ids.given!, { transform: 'thin' }, NOW + 1);
      },
    });
    ids.changed = (await storage.createSubscription(subscription({ transform: 'thin' }))).id;
    ids.cleared = (await storage.createSubscription(subscription({ transform: 'thin' }))).id;
    ids.given = (await storage.createSubscription(subscription({ filter: acceptFilter('payment.succeeded') }))).id;
    const r = renderer();
    const result = await storage.enqueue(input('payment.succeeded', { render: r.render, matchesFilter: () => true }));
    expect(result.deliveryCount).toBe(3);
    expect(publishStatements()).toBe(3);
    expect(r.asked.map((s) => [s.id, s.transform])).toEqual(
      expect.arrayContaining([
        [ids.changed, 'thin'],
        [ids.cleared, 'thin'],
        [ids.given, 'thin'],
      ]),
    );
    expect(r.asked).toHaveLength(3);
    const payloads = await payloadsOf(schema, result.event.id);
    expect(Object.values(payloads).every((payload) => payload !== null && payload.includes('"thin":"thin"'))).toBe(true);
  });
});

describe('a render inside the host transaction', () => {
  it('rejects with what the render threw, stores nothing of the event, and leaves the host free to commit its own writes', async () => {
    const storage = await migrated();
    const s = `"${storage.schema}"`;
    await admin.query(`CREATE TABLE ${s}.ledger (id text PRIMARY KEY, amount_minor bigint NOT NULL)`);
    await storage.createSubscription(subscription({ eventTypes: ['payment.*'] }));
    await storage.createSubscription(subscription({ transform: 'thin' }));
    const { client, tx } = await recordingHostClient();
    const thrown = new Error('the transform could not render the payload');
    await client.query('BEGIN');
    await client.query(`INSERT INTO ${s}.ledger VALUES ('entry_1', 125000)`);
    const failed = input('payment.succeeded', {
      tx,
      render: () => {
        throw thrown;
      },
    });
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

describe('migration 0010: delivery payloads', () => {
  it('upgrades a version-9 installation: its subscriptions have no transform and its deliveries send their events\' payloads', async () => {
    const schema = await schemaAtVersion(9);
    const s = `"${schema}"`;
    await admin.query(
      `INSERT INTO ${s}.subscriptions (id, url, event_types, secrets, headers, metadata, status, created_at, updated_at)
       VALUES ('sub_pay', 'https://erp.example.com', '["payment.*"]', '[]', '{}', '{}', 'active', ${NOW}, ${NOW});
       INSERT INTO ${s}.subscription_event_types (filter, subscription_id) VALUES ('payment.*', 'sub_pay');
       INSERT INTO ${s}.events (id, type, published_at, payload) VALUES ('evt_old', 'payment.succeeded', ${NOW}, '{"old":true}');
       INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES ('dlv_old', 'evt_old', 'payment.succeeded', 'sub_pay', 'pending', 0, ${NOW}, ${NOW}, ${NOW});`,
    );
    const storage = storageOn({ schema });
    await storage.migrate();
    expect((await admin.query(`SELECT max(version) AS v FROM ${s}.migrations`)).rows[0].v).toBe(latestSchemaVersion);
    expect(await storage.getSubscription('sub_pay')).toMatchObject({ transform: null, filter: null });
    const { rows } = await admin.query(
      `SELECT table_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = $1 AND ((table_name = 'subscriptions' AND column_name = 'transform') OR (table_name = 'deliveries' AND column_name = 'payload'))
       ORDER BY table_name`,
      [schema],
    );
    expect(rows).toEqual([
      { table_name: 'deliveries', data_type: 'text', is_nullable: 'YES', column_default: null },
      { table_name: 'subscriptions', data_type: 'text', is_nullable: 'YES', column_default: null },
    ]);
    expect(await storage.getDeliveryPayload('dlv_old')).toBeNull();
    const [claimed] = await storage.claimDue({ limit: 10, leaseMs: 60_000, now: NOW + 1 });
    expect(claimed).toMatchObject({ delivery: { id: 'dlv_old' }, event: { payload: '{"old":true}' }, subscription: { transform: null } });
  });
});
