/**
 * The PostgreSQL storage's `stats()` (the counter rows and the lease rows of migration 0007,
 * kept by triggers) agrees with a count of the delivery rows after any sequence of publishes
 * (tenants' and tenantless, a rolled-back host transaction's included), claims left in flight,
 * settles, releases, expired leases, holds and resumes, replays, redeliveries, purges,
 * retention batches, deletions (soft and hard), expunges, a cancel landing while an attempt is
 * in flight, a tenant's removal, and operations of two instances (two pools) at once: of
 * everything, of each subscription, of each tenant and of the platform (`tenantId: null`).
 * On a real PostgreSQL, in a fresh schema per run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { PostgresStorage } from '../../src/storage/postgres/index.js';
import { dbNowMs } from '../../src/storage/postgres/statements/sql-parts.js';
import type { SettleOutcome, StorageStats } from '../../src/storage/storage-adapter.js';
import { admin, migrated, storageOn } from '../support/postgres-fixtures.js';
import { usePostgresDatabase } from '../support/postgres-fixtures.js';
import { propertyRuns } from '../support/property-runs.js';
import { NOW, subscription } from '../support/storage-records.js';

usePostgresDatabase();

type OutcomeKind = SettleOutcome['kind'];
type Scope = { subscriptionId?: string; tenantId?: string | null };

const subscriptions = [
  { id: 'sub_a', tenantId: null, allTenants: false, eventTypes: ['*'] },
  { id: 'sub_b', tenantId: 't1', allTenants: false, eventTypes: ['payment.*'] },
  { id: 'sub_c', tenantId: 't2', allTenants: false, eventTypes: ['refund.initiated'] },
  { id: 'sub_d', tenantId: null, allTenants: true, eventTypes: ['*'] },
];
// What the core passes to replay: the published types each subscription's filters match.
const replayTypes: Record<string, string[]> = {
  sub_a: ['payment.succeeded', 'refund.initiated'],
  sub_b: ['payment.succeeded'],
  sub_c: ['refund.initiated'],
  sub_d: ['payment.succeeded', 'refund.initiated'],
};
const scopes: Scope[] = [
  {},
  ...subscriptions.map((s) => ({ subscriptionId: s.id })),
  { tenantId: null },
  { tenantId: 't1' },
  { tenantId: 't2' },
  { subscriptionId: 'sub_b', tenantId: 't1' },
  { subscriptionId: 'sub_b', tenantId: null },
];

/** The stats as a walk of the delivery rows gives them: what the counters must agree with. */
async function recount(schema: string, scope: Scope): Promise<StorageStats> {
  const clauses: string[] = [];
  const values: unknown[] = [];
  if (scope.subscriptionId !== undefined) clauses.push(`subscription_id = $${values.push(scope.subscriptionId)}`);
  if (scope.tenantId === null) clauses.push('tenant_id IS NULL');
  else if (scope.tenantId !== undefined) clauses.push(`tenant_id = $${values.push(scope.tenantId)}`);
  const where = clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
  const { rows } = await admin.query<Record<string, string | null>>(
    `SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'pending' AND lease_token IS NOT NULL AND lease_expires_at > ${dbNowMs}) AS leased,
       count(*) FILTER (WHERE status = 'pending' AND next_attempt_at IS NULL) AS waiting,
       count(*) FILTER (WHERE status = 'held') AS held, count(*) FILTER (WHERE status = 'dead') AS dead,
       count(*) FILTER (WHERE status = 'delivered') AS delivered, count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       min(created_at) FILTER (WHERE status = 'pending') AS oldest
     FROM "${schema}".deliveries ${where}`,
    values,
  );
  const row = rows[0]!;
  const n = (key: string): number => Number(row[key]);
  return {
    pending: n('pending'),
    leased: n('leased'),
    waiting: n('waiting'),
    held: n('held'),
    dead: n('dead'),
    delivered: n('delivered'),
    cancelled: n('cancelled'),
    oldestPendingCreatedAt: row.oldest === null ? null : Number(row.oldest),
  };
}

type Step =
  | { op: 'publish'; type: string; tenant: number }
  | { op: 'publishRolledBack'; type: string }
  | { op: 'claimAndSettle'; limit: number; outcomes: OutcomeKind[]; meanwhile: 'nothing' | 'expunge' | 'softDelete' }
  | { op: 'claimAndLeave' | 'claimAndRelease'; limit: number }
  | { op: 'expireLeases' }
  | { op: 'disable' | 'enable' | 'delete' | 'softDelete'; sub: number }
  | { op: 'expungeOldest' }
  | { op: 'replay'; sub: number }
  | { op: 'redeliverFirst'; status: 'dead' | 'delivered' }
  | { op: 'purge' }
  | { op: 'purgeRetention'; limit: number }
  | { op: 'purgeTenant'; tenant: 't1' | 't2'; limit: number }
  | { op: 'twoInstances'; limit: number; outcomes: OutcomeKind[] };

const outcomes = fc.array(fc.constantFrom<OutcomeKind>('delivered', 'retry', 'dead', 'disable'), { minLength: 4, maxLength: 4 });
const sub = fc.integer({ min: 0, max: subscriptions.length - 1 });
const type = fc.constantFrom('payment.succeeded', 'refund.initiated');

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('publish' as const), type, tenant: fc.integer({ min: 0, max: 2 }) }), weight: 3 },
  fc.record({ op: fc.constant('publishRolledBack' as const), type }),
  {
    arbitrary: fc.record({
      op: fc.constant('claimAndSettle' as const),
      limit: fc.integer({ min: 1, max: 4 }),
      outcomes,
      meanwhile: fc.constantFrom('nothing' as const, 'expunge' as const, 'softDelete' as const),
    }),
    weight: 3,
  },
  // Leases left in flight, then run out or taken over: weighted so that runs often hold some.
  { arbitrary: fc.record({ op: fc.constant('claimAndLeave' as const), limit: fc.integer({ min: 1, max: 3 }) }), weight: 2 },
  fc.record({ op: fc.constant('claimAndRelease' as const), limit: fc.integer({ min: 1, max: 3 }) }),
  { arbitrary: fc.record({ op: fc.constant('expireLeases' as const) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constantFrom('disable' as const, 'enable' as const, 'softDelete' as const), sub }), weight: 2 },
  fc.record({ op: fc.constant('delete' as const), sub }),
  fc.record({ op: fc.constant('expungeOldest' as const) }),
  fc.record({ op: fc.constant('replay' as const), sub }),
  fc.record({ op: fc.constant('redeliverFirst' as const), status: fc.constantFrom('dead' as const, 'delivered' as const) }),
  fc.record({ op: fc.constant('purge' as const) }),
  fc.record({ op: fc.constant('purgeRetention' as const), limit: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant('purgeTenant' as const), tenant: fc.constantFrom('t1' as const, 't2' as const), limit: fc.integer({ min: 1, max: 3 }) }),
  { arbitrary: fc.record({ op: fc.constant('twoInstances' as const), limit: fc.integer({ min: 1, max: 4 }), outcomes }), weight: 2 },
);

/** Claims up to `limit` deliveries and settles them with `kinds` (by position), as a dispatcher would. */
async function claimAndSettle(storage: PostgresStorage, limit: number, kinds: readonly OutcomeKind[], clock: number): Promise<void> {
  const claimed = await storage.claimDue({ limit, leaseMs: 60_000, now: clock });
  await storage.settle(
    claimed.map((c, i) => ({
      deliveryId: c.delivery.id,
      leaseToken: c.leaseToken,
      attempt: { id: createId('att', clock), startedAt: clock, durationMs: 5, statusCode: 500, errorClass: null, errorMessage: null, responseSnippet: null },
      outcome: outcomeOf(kinds[i % kinds.length]!, clock),
    })),
    clock,
  );
}

function outcomeOf(kind: OutcomeKind, clock: number): SettleOutcome {
  if (kind === 'retry') return { kind: 'retry', nextAttemptAt: clock + 500 };
  if (kind === 'disable') return { kind: 'disable', reason: 'gone' };
  return { kind };
}

function publishInput(type: string, tenantId: string | null, clock: number) {
  const id = createId('evt', clock);
  return { event: { id, type, timestamp: clock, payload: JSON.stringify({ id, type, data: {} }), idempotencyKey: null, tenantId }, now: clock };
}

describe('delivery counts on PostgreSQL (migration 0007)', () => {
  it('agree with a count of the rows, of everything, per subscription and per tenant, after any sequence of operations, two instances at once included', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
        const storage = await migrated();
        const other = storageOn({ schema: storage.schema });
        const s = `"${storage.schema}"`;
        try {
          for (const { id, tenantId, allTenants, eventTypes } of subscriptions) {
            await storage.createSubscription(subscription({ id, tenantId, allTenants, eventTypes }));
          }
          let clock = NOW;
          for (const st of steps) {
            clock += 1000;
            await apply(st);
            const [stats, recounts] = await Promise.all([
              Promise.all(scopes.map((scope) => storage.stats(clock, scope))),
              Promise.all(scopes.map((scope) => recount(storage.schema, scope))),
            ]);
            scopes.forEach((scope, i) => expect(stats[i], JSON.stringify(scope)).toEqual(recounts[i]));
          }
          // A deleted subscription leaves no counter rows behind, and no lease row outlives its delivery's lease token.
          const { rows: orphans } = await admin.query(
            `SELECT subscription_id FROM ${s}.delivery_counts AS c WHERE NOT EXISTS (SELECT 1 FROM ${s}.subscriptions AS x WHERE x.id = c.subscription_id)`,
          );
          expect(orphans).toEqual([]);
          const { rows: leases } = await admin.query(
            `SELECT (SELECT count(*) FROM ${s}.delivery_leases) AS kept,
               (SELECT count(*) FROM ${s}.deliveries WHERE status = 'pending' AND lease_token IS NOT NULL) AS carried`,
          );
          expect(leases[0].kept).toBe(leases[0].carried);

          async function apply(st: Step): Promise<void> {
            switch (st.op) {
              case 'publish':
                await storage.enqueue(publishInput(st.type, [null, 't1', 't2'][st.tenant]!, clock));
                return;
              case 'publishRolledBack': {
                const client = await admin.connect();
                try {
                  await client.query('BEGIN');
                  await storage.enqueue({ ...publishInput(st.type, null, clock), tx: client });
                } finally {
                  await client.query('ROLLBACK');
                  client.release();
                }
                return;
              }
              case 'claimAndSettle': {
                const claimed = await storage.claimDue({ limit: st.limit, leaseMs: 60_000, now: clock });
                // A cancel while the attempts are in flight: of the first one's event, or of its subscription.
                if (claimed.length > 0 && st.meanwhile === 'expunge') await storage.expungeEvents([claimed[0]!.event.id], clock);
                if (claimed.length > 0 && st.meanwhile === 'softDelete') await storage.softDeleteSubscription(claimed[0]!.subscription.id, clock);
                await storage.settle(
                  claimed.map((c, i) => ({
                    deliveryId: c.delivery.id,
                    leaseToken: c.leaseToken,
                    attempt: { id: createId('att', clock), startedAt: clock, durationMs: 5, statusCode: 500, errorClass: null, errorMessage: null, responseSnippet: null },
                    outcome: outcomeOf(st.outcomes[i]!, clock),
                  })),
                  clock,
                );
                return;
              }
              case 'claimAndLeave':
                await storage.claimDue({ limit: st.limit, leaseMs: 60_000, now: clock });
                return;
              case 'claimAndRelease': {
                const claimed = await storage.claimDue({ limit: st.limit, leaseMs: 60_000, now: clock });
                await storage.releaseLeases(claimed.map((c) => ({ deliveryId: c.delivery.id, leaseToken: c.leaseToken })), clock);
                return;
              }
              case 'expireLeases':
                // A crashed dispatcher's leases, run out by the database clock: no longer counted as leased.
                await admin.query(`UPDATE ${s}.deliveries SET lease_expires_at = ${dbNowMs} - 1 WHERE lease_token IS NOT NULL`);
                return;
              case 'disable':
              case 'enable':
                await storage.setSubscriptionStatus(subscriptions[st.sub]!.id, { status: st.op === 'disable' ? 'disabled' : 'active' }, clock);
                return;
              case 'delete':
                await storage.deleteSubscription(subscriptions[st.sub]!.id);
                return;
              case 'softDelete':
                await storage.softDeleteSubscription(subscriptions[st.sub]!.id, clock);
                return;
              case 'expungeOldest': {
                const { rows } = await admin.query<{ id: string }>(`SELECT id FROM ${s}.events WHERE expunged_at IS NULL ORDER BY id LIMIT 1`);
                if (rows[0] !== undefined) await storage.expungeEvents([rows[0].id], clock);
                return;
              }
              case 'replay': {
                const id = subscriptions[st.sub]!.id;
                await storage.replay({ subscriptionId: id, since: 0, now: clock, eventTypes: replayTypes[id]! });
                return;
              }
              case 'redeliverFirst': {
                const { rows } = await admin.query<{ id: string }>(`SELECT id FROM ${s}.deliveries WHERE status = $1 ORDER BY id LIMIT 1`, [st.status]);
                if (rows[0] !== undefined) await storage.redeliver(rows[0].id, clock);
                return;
              }
              case 'purge':
                await storage.purge({ olderThan: clock - 2500 });
                return;
              case 'purgeRetention':
                await storage.purgeRetention({ deliveredBefore: clock - 2500, deadBefore: clock - 1500, eventsBefore: clock - 2500, limit: st.limit, now: clock });
                return;
              case 'purgeTenant':
                await storage.purgeTenant({ tenantId: st.tenant, limit: st.limit, now: clock, force: true });
                return;
              case 'twoInstances':
                // Two instances (two pools, so two backends) claim, settle and publish at once.
                await Promise.all([
                  claimAndSettle(storage, st.limit, st.outcomes, clock),
                  claimAndSettle(other, st.limit, [...st.outcomes].reverse(), clock),
                  other.enqueue(publishInput('payment.succeeded', 't1', clock)),
                  storage.enqueue(publishInput('refund.initiated', null, clock)),
                ]);
                return;
            }
          }
        } finally {
          await other.close();
          await storage.close();
        }
      }),
      { numRuns: propertyRuns(40) },
    );
    // A fresh schema per run, migrated: about half a second each on a busy machine.
  }, 120_000);
});
