/**
 * What is particular to the change log, soft delete and erasure on the PostgreSQL storage
 * (the shared rules are in the conformance suite, test/conformance/audit.ts): migration
 * 0004 on an installation of version 3, and the races PostgreSQL's concurrency opens — a
 * delivery cancelled while its settle waits for it, a redeliver or a replay while an
 * expunge of the event is in progress, a publish racing a soft delete — each decided on
 * the row version the statement waited for. On a real PostgreSQL, in schemas of this
 * file's own.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import { latestSchemaVersion } from '../../../src/storage/postgres/migrations/index.js';
import { postgresStatements } from '../../../src/storage/postgres/statements/index.js';
import type { PostgresStorage } from '../../../src/storage/postgres/index.js';
import {
  CANCELLED_BY_DELETE,
  CANCELLED_BY_EXPUNGE,
  type ChangeAudit,
  type Settlement,
} from '../../../src/storage/storage-adapter.js';
import { admin, migrated, schemaAtVersion, storageOn, url, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { findNode, planOf } from '../../support/postgres-plans.js';
import { rejectionOf } from '../../support/rejections.js';
import { enqueueInput, NOW, subscription } from '../../support/storage-records.js';

usePostgresDatabase();

/** A change made through the API by an operator, with no sensitive header. */
function audit(action: ChangeAudit['action']): ChangeAudit {
  return { id: createId('chg', NOW), action, actor: 'ops@example.com', reason: null, isSensitiveHeader: () => false };
}

/** The test URL with an application_name, to find exactly these connections in pg_stat_activity. */
function urlNamed(applicationName: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('application_name', applicationName);
  return parsed.toString();
}

/** Resolves once a connection named `applicationName` waits for a lock. */
async function waitingForLock(applicationName: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
      [applicationName],
    );
    if (rows[0]!.n > 0) return;
    if (Date.now() > deadline) throw new Error(`${applicationName} did not wait for a lock within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An adapter on its own named connections, migrated, in a fresh schema. */
async function namedStorage(applicationName: string): Promise<PostgresStorage> {
  const storage = storageOn({ connectionString: urlNamed(applicationName) });
  await storage.migrate();
  return storage;
}

/** A settlement of a claimed delivery with a response snippet. */
function settlement(deliveryId: string, leaseToken: string, outcome: Settlement['outcome']): Settlement {
  return {
    deliveryId,
    leaseToken,
    attempt: {
      id: createId('att', NOW),
      startedAt: NOW + 1,
      durationMs: 12,
      statusCode: outcome.kind === 'delivered' ? 200 : 503,
      errorClass: outcome.kind === 'delivered' ? null : 'http',
      errorMessage: outcome.kind === 'delivered' ? null : 'HTTP 503',
      responseSnippet: '{"customer":"Ada Lovelace"}',
    },
    outcome,
  };
}

describe('migration 0004: change log, soft delete, erasure', () => {
  it('upgrades a version-3 installation with every row intact, the new columns null, and cancelled allowed', async () => {
    const schema = await schemaAtVersion(3);
    const s = `"${schema}"`;
    await admin.query(
      `INSERT INTO ${s}.subscriptions (id, tenant_id, url, event_types, secrets, headers, metadata, status, disabled_reason, disabled_at, created_at, updated_at)
       VALUES ('sub_pay', 'acme', 'https://erp.example.com', '["payment.*"]', '[]', '{"X-Env":"live"}', '{"team":"billing"}', 'active', NULL, NULL, ${NOW}, ${NOW}),
              ('sub_off', 'acme', 'https://crm.example.com', '["*"]', '[]', '{}', '{}', 'disabled', 'gone', ${NOW}, ${NOW}, ${NOW});
       INSERT INTO ${s}.subscription_event_types (filter, subscription_id, tenant_key) VALUES ('payment.*', 'sub_pay', 'acme'), ('*', 'sub_off', 'acme');
       INSERT INTO ${s}.events (id, type, published_at, payload, idempotency_key, tenant_id)
       VALUES ('evt_1', 'payment.succeeded', ${NOW}, '{"id":"evt_1"}', 'order-1', 'acme'),
              ('evt_2', 'payment.succeeded', ${NOW}, '{"id":"evt_2"}', NULL, 'acme');
       INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, tenant_id, status, attempts, next_attempt_at, delivered_at, created_at, updated_at)
       VALUES ('dlv_pending', 'evt_1', 'payment.succeeded', 'sub_pay', 'acme', 'pending', 1, ${NOW}, NULL, ${NOW}, ${NOW}),
              ('dlv_held', 'evt_1', 'payment.succeeded', 'sub_off', 'acme', 'held', 0, NULL, NULL, ${NOW}, ${NOW}),
              ('dlv_delivered', 'evt_2', 'payment.succeeded', 'sub_pay', 'acme', 'delivered', 1, NULL, ${NOW}, ${NOW}, ${NOW}),
              ('dlv_dead', 'evt_2', 'payment.succeeded', 'sub_off', 'acme', 'dead', 1, NULL, NULL, ${NOW}, ${NOW});
       INSERT INTO ${s}.attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code, response_snippet, outcome)
       VALUES ('att_1', 'dlv_delivered', 1, ${NOW}, 5, 200, 'ok', 'delivered');`,
    );

    const storage = storageOn({ schema });
    await storage.migrate();
    expect((await admin.query(`SELECT max(version) AS v FROM ${s}.migrations`)).rows[0].v).toBe(latestSchemaVersion);

    // Rows intact, none deleted, expunged or cancelled.
    expect(await storage.getSubscription('sub_pay')).toMatchObject({
      tenantId: 'acme', status: 'active', headers: { 'X-Env': 'live' }, metadata: { team: 'billing' }, deletedAt: null,
    });
    expect(await storage.getSubscription('sub_off')).toMatchObject({ status: 'disabled', disabledReason: 'gone', deletedAt: null });
    expect(await storage.getEvent('evt_1')).toEqual({
      id: 'evt_1', type: 'payment.succeeded', timestamp: NOW, payload: '{"id":"evt_1"}', idempotencyKey: 'order-1', tenantId: 'acme', orderingKey: null, expungedAt: null,
    });
    expect((await storage.listDeliveries({ limit: 10 })).items.map((d) => [d.id, d.status])).toEqual([
      ['dlv_pending', 'pending'], ['dlv_held', 'held'], ['dlv_delivered', 'delivered'], ['dlv_dead', 'dead'],
    ]);
    expect(await storage.listAttempts('dlv_delivered')).toMatchObject([{ id: 'att_1', responseSnippet: 'ok' }]);
    const nulls = await admin.query(
      `SELECT (SELECT count(*)::int FROM ${s}.subscriptions WHERE deleted_at IS NOT NULL) AS deleted,
              (SELECT count(*)::int FROM ${s}.events WHERE expunged_at IS NOT NULL) AS expunged,
              (SELECT count(*)::int FROM ${s}.deliveries WHERE cancelled_at IS NOT NULL) AS cancelled,
              (SELECT count(*)::int FROM ${s}.subscription_changes) AS changes`,
    );
    expect(nulls.rows[0]).toEqual({ deleted: 0, expunged: 0, cancelled: 0, changes: 0 });
    expect(await storage.stats(NOW)).toMatchObject({ pending: 1, held: 1, delivered: 1, dead: 1, cancelled: 0 });
    expect(await storage.listSubscriptionChanges({ subscriptionId: 'sub_pay', limit: 10 })).toEqual({ items: [], nextCursor: null });

    // Every stored row satisfies the new status constraint, added NOT VALID: validating it finds none that does not.
    await admin.query(`ALTER TABLE ${s}.deliveries VALIDATE CONSTRAINT deliveries_status_check`);
    // 'cancelled' is allowed; a status the contract does not know still is not.
    const deleted = await storage.softDeleteSubscription('sub_pay', NOW + 1, audit('deleted'));
    expect(deleted).toMatchObject({ subscription: { deletedAt: NOW + 1, status: 'disabled' }, cancelled: 1 });
    expect(await storage.getDelivery('dlv_pending')).toMatchObject({ status: 'cancelled', lastError: CANCELLED_BY_DELETE, nextAttemptAt: null });
    expect((await storage.softDeleteSubscription('sub_off', NOW + 2))?.cancelled).toBe(1);
    expect(await storage.getDelivery('dlv_held')).toMatchObject({ status: 'cancelled' });
    expect(await rejectionOf(admin.query(`UPDATE ${s}.deliveries SET status = 'lost' WHERE id = 'dlv_dead'`))).toMatchObject({ code: '23514' });

    // The old idempotency key still finds its event, and an expunge erases it.
    expect(await storage.expungeEvents(['evt_1', 'evt_2'], NOW + 3)).toEqual({ events: 2, cancelled: 0, snippets: 1 });
    const input = enqueueInput();
    const again = await storage.enqueue({ ...input, event: { ...input.event, idempotencyKey: 'order-1', tenantId: 'acme' } });
    expect(again).toMatchObject({ created: false, event: { id: 'evt_1', payload: '', expungedAt: NOW + 3 } });
    expect((await storage.listSubscriptionChanges({ subscriptionId: 'sub_pay', limit: 10 })).items).toMatchObject([
      { action: 'deleted', origin: 'api', actor: 'ops@example.com', changes: { deletedAt: { before: null, after: NOW + 1 } } },
    ]);
  });

  it('counts towards the tenant limit, index-only, the subscriptions not deleted', async () => {
    const storage = await migrated();
    const plan = await planOf(postgresStatements(storage.schema).countTenantSubscriptions, ['acme']);
    expect(findNode(plan, (node) => node['Index Name'] === 'subscriptions_tenant_live')?.['Node Type']).toBe('Index Only Scan');
    const first = await storage.createSubscription(subscription({ tenantId: 'acme' }), { maxPerTenant: 1 });
    await storage.softDeleteSubscription(first.id, NOW + 1);
    const second = await storage.createSubscription(subscription({ tenantId: 'acme' }), { maxPerTenant: 1 });
    expect(await rejectionOf(storage.createSubscription(subscription({ tenantId: 'acme' }), { maxPerTenant: 1 }))).toMatchObject({
      code: 'TENANT_SUBSCRIPTION_LIMIT',
    });
    expect((await storage.listSubscriptions({ limit: 10, tenantId: 'acme' })).items.map((sub) => sub.id)).toEqual([second.id]);
  });
});

describe('races with a soft delete or an expunge', () => {
  it("settles a delivery cancelled after the settle's snapshot by the row it waited for: delivered or still cancelled, and no snippet kept", async () => {
    const storage = await namedStorage('bk_settle_race');
    const sql = postgresStatements(storage.schema);
    await storage.createSubscription(subscription());
    const events = [(await storage.enqueue(enqueueInput())).event.id, (await storage.enqueue(enqueueInput())).event.id];
    const claimed = await storage.claimDue({ limit: 10, leaseMs: 60_000, now: NOW });
    expect(claimed).toHaveLength(2);
    const [first, second] = claimed;

    // An expunge's cancel holds both rows, uncommitted, while the settle of their attempts starts.
    const client = await admin.connect();
    try {
      await client.query('BEGIN');
      await client.query(sql.cancelEventDeliveries, [events, CANCELLED_BY_EXPUNGE, NOW + 5]);
      const settling = storage.settle(
        [
          settlement(first!.delivery.id, first!.leaseToken, { kind: 'delivered' }),
          settlement(second!.delivery.id, second!.leaseToken, { kind: 'retry', nextAttemptAt: NOW + 60_000 }),
        ],
        NOW + 10,
      );
      await waitingForLock('bk_settle_race');
      await client.query('COMMIT');
      const results = await settling;
      expect(results).toMatchObject([
        { ok: true, delivery: { status: 'delivered', deliveredAt: NOW + 10, nextAttemptAt: null } },
        { ok: true, delivery: { status: 'cancelled', nextAttemptAt: null, leaseExpiresAt: null, lastError: CANCELLED_BY_EXPUNGE } },
      ]);
    } finally {
      client.release();
    }
    for (const { delivery } of claimed) {
      expect(await storage.listAttempts(delivery.id)).toMatchObject([{ responseSnippet: null }]);
    }
  });

  it('makes a redeliver wait for an expunge of its event in progress, then answers expunged', async () => {
    const storage = await namedStorage('bk_redeliver_race');
    const sql = postgresStatements(storage.schema);
    await storage.createSubscription(subscription());
    const { event } = await storage.enqueue(enqueueInput());
    const [claimed] = await storage.claimDue({ limit: 1, leaseMs: 60_000, now: NOW });
    await storage.settle([settlement(claimed!.delivery.id, claimed!.leaseToken, { kind: 'dead' })], NOW + 2);

    const client = await admin.connect();
    try {
      await client.query('BEGIN');
      await client.query(sql.eraseEvents, [[event.id], NOW + 5]);
      const redelivering = storage.redeliver(claimed!.delivery.id, NOW + 10);
      await waitingForLock('bk_redeliver_race');
      await client.query('COMMIT');
      expect(await redelivering).toBe('expunged');
    } finally {
      client.release();
    }
    expect(await storage.getDelivery(claimed!.delivery.id)).toMatchObject({ status: 'dead' });
  });

  it('makes a replay wait for an expunge of its events in progress, then leaves them out', async () => {
    const storage = await namedStorage('bk_replay_race');
    const sql = postgresStatements(storage.schema);
    // One event published before the subscription existed (no delivery), one it got and that died.
    const before = (await storage.enqueue(enqueueInput())).event;
    const sub = await storage.createSubscription(subscription());
    const dead = (await storage.enqueue(enqueueInput())).event;
    const [claimed] = await storage.claimDue({ limit: 1, leaseMs: 60_000, now: NOW });
    await storage.settle([settlement(claimed!.delivery.id, claimed!.leaseToken, { kind: 'dead' })], NOW + 2);
    const replay = { subscriptionId: sub.id, since: NOW - 1, eventTypes: ['payment.succeeded'], now: NOW + 10 };
    expect(await storage.replay({ ...replay, dryRun: true })).toEqual({ count: 2 });

    const client = await admin.connect();
    try {
      await client.query('BEGIN');
      await client.query(sql.eraseEvents, [[before.id, dead.id], NOW + 5]);
      const replaying = storage.replay(replay);
      await waitingForLock('bk_replay_race');
      await client.query('COMMIT');
      expect(await replaying).toEqual({ count: 0 });
    } finally {
      client.release();
    }
    expect((await storage.listDeliveries({ subscriptionId: sub.id, limit: 10 })).items.map((d) => [d.eventId, d.status])).toEqual([
      [dead.id, 'dead'],
    ]);
  });

  it('cancels at the claim a pending delivery that a publish racing a soft delete left', async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription());
    await storage.enqueue(enqueueInput());
    await storage.softDeleteSubscription(sub.id, NOW + 1);
    // What a publish that read the subscription as active before the delete committed inserts after it.
    const s = `"${storage.schema}"`;
    const stray = createId('dlv', NOW + 2);
    const other = (await storage.enqueue(enqueueInput())).event;
    await admin.query(
      `INSERT INTO ${s}.deliveries (id, event_id, event_type, subscription_id, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES ($1, $2, 'payment.succeeded', $3, 'pending', 0, ${NOW + 2}, ${NOW + 2}, ${NOW + 2})`,
      [stray, other.id, sub.id],
    );
    expect(await storage.claimDue({ limit: 10, leaseMs: 60_000, now: NOW + 3 })).toEqual([]);
    expect(await storage.getDelivery(stray)).toMatchObject({ status: 'cancelled', lastError: CANCELLED_BY_DELETE, nextAttemptAt: null, updatedAt: NOW + 3 });
    expect(await storage.stats(NOW + 3)).toMatchObject({ pending: 0, held: 0, cancelled: 2 });
  });

  it("answers in_flight to a tenant's removal while a delivery cancelled under a live lease may still settle", async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription({ tenantId: 'acme' }));
    const input = enqueueInput();
    await storage.enqueue({ ...input, event: { ...input.event, tenantId: 'acme' } });
    const [claimed] = await storage.claimDue({ limit: 1, leaseMs: 60_000, now: NOW });
    await storage.softDeleteSubscription(sub.id, NOW + 1);
    expect(await storage.getDelivery(claimed!.delivery.id)).toMatchObject({ status: 'cancelled' });
    expect(await storage.purgeTenant({ tenantId: 'acme', limit: 10, now: NOW + 2, force: false })).toBe('in_flight');
    await storage.settle([settlement(claimed!.delivery.id, claimed!.leaseToken, { kind: 'delivered' })], NOW + 3);
    expect(await storage.purgeTenant({ tenantId: 'acme', limit: 10, now: NOW + 4, force: false })).toMatchObject({
      deliveries: 1, attempts: 1, subscriptions: 1, events: 1, done: true,
    });
  });

  it("removes a soft-deleted subscription's filter rows: publishes no longer read it", async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription({ eventTypes: ['payment.*', 'refund.*'] }));
    const s = `"${storage.schema}"`;
    const filters = async (): Promise<number> =>
      (await admin.query(`SELECT count(*)::int AS n FROM ${s}.subscription_event_types WHERE subscription_id = $1`, [sub.id])).rows[0].n;
    const changes = async (): Promise<number> => (await admin.query(`SELECT count(*)::int AS n FROM ${s}.subscription_changes`)).rows[0].n;
    expect(await filters()).toBe(2);
    await storage.softDeleteSubscription(sub.id, NOW + 1, audit('deleted'));
    expect(await filters()).toBe(0);
    expect(await storage.enqueue(enqueueInput())).toMatchObject({ created: true, deliveryCount: 0 });
    // A hard delete still removes the soft-deleted subscription, with its change log (ON DELETE CASCADE).
    expect(await changes()).toBe(1);
    expect(await storage.deleteSubscription(sub.id)).toBe(true);
    expect(await changes()).toBe(0);
  });
});
