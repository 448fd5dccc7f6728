/**
 * The SQLite storage's delivery counts (migration 0004's triggers, made again by 0008) agree
 * with a count of the rows after any sequence of publishes, settles, holds, replays,
 * redeliveries, purges, retention batches, deletions (soft and hard) and expunges, a cancel landing while an
 * attempt is in flight included.
 */
import type Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { SettleOutcome } from '../../src/storage/storage-adapter.js';
import { propertyRuns } from '../support/property-runs.js';
import { closeTracked, migratedOnHandle, openRaw } from '../support/sqlite-fixtures.js';
import { enqueueInput, NOW, subscription } from '../support/storage-records.js';

afterEach(closeTracked);

describe('delivery counts (migration 0004)', () => {
  /** The counts as a walk of the rows gives them: what the triggers must agree with. */
  function counted(db: Database.Database, subscriptionId?: string): Record<'pending' | 'held' | 'dead' | 'delivered' | 'cancelled', number> {
    const where = subscriptionId === undefined ? '' : 'WHERE subscription_id = ?';
    const rows = db
      .prepare(`SELECT status, COUNT(*) AS n FROM webhook_deliveries ${where} GROUP BY status`)
      .all(...(subscriptionId === undefined ? [] : [subscriptionId])) as Array<{ status: string; n: number }>;
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    return {
      pending: byStatus.pending ?? 0,
      held: byStatus.held ?? 0,
      dead: byStatus.dead ?? 0,
      delivered: byStatus.delivered ?? 0,
      cancelled: byStatus.cancelled ?? 0,
    };
  }

  type Step =
    | { op: 'publish'; type: string }
    | { op: 'publishRolledBack'; type: string }
    | { op: 'claimAndSettle'; limit: number; outcomes: Array<SettleOutcome['kind']>; meanwhile: 'nothing' | 'expunge' | 'softDelete' }
    | { op: 'disable' | 'enable' | 'delete' | 'softDelete'; sub: number }
    | { op: 'expungeOldest' }
    | { op: 'replay'; sub: number }
    | { op: 'redeliverFirst'; status: 'dead' | 'delivered' }
    | { op: 'purge' }
    | { op: 'purgeRetention'; limit: number };

  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ op: fc.constant('publish' as const), type: fc.constantFrom('payment.succeeded', 'refund.initiated') }),
    fc.record({ op: fc.constant('publishRolledBack' as const), type: fc.constant('payment.succeeded') }),
    fc.record({
      op: fc.constant('claimAndSettle' as const),
      limit: fc.integer({ min: 1, max: 4 }),
      outcomes: fc.array(fc.constantFrom('delivered', 'retry', 'dead', 'disable'), { minLength: 4, maxLength: 4 }),
      meanwhile: fc.constantFrom('nothing' as const, 'expunge' as const, 'softDelete' as const),
    }),
    fc.record({
      op: fc.constantFrom('disable' as const, 'enable' as const, 'delete' as const, 'softDelete' as const),
      sub: fc.integer({ min: 0, max: 2 }),
    }),
    fc.record({ op: fc.constant('expungeOldest' as const) }),
    fc.record({ op: fc.constant('replay' as const), sub: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ op: fc.constant('redeliverFirst' as const), status: fc.constantFrom('dead' as const, 'delivered' as const) }),
    fc.record({ op: fc.constant('purge' as const) }),
    fc.record({ op: fc.constant('purgeRetention' as const), limit: fc.integer({ min: 1, max: 3 }) }),
  );

  it('agree with a count of the rows after any sequence of publishes, settles, holds, replays, redeliveries, purges, retention batches, deletions and expunges', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const db = openRaw(':memory:');
        const storage = await migratedOnHandle(db);
        const subs = ['sub_a', 'sub_b', 'sub_c'];
        await storage.createSubscription(subscription({ id: 'sub_a' }));
        await storage.createSubscription(subscription({ id: 'sub_b', eventTypes: ['payment.*'] }));
        await storage.createSubscription(subscription({ id: 'sub_c', eventTypes: ['refund.initiated'] }));
        // What the core passes to replay: the published types each subscription's filters match.
        const replayTypes: Record<string, string[]> = { sub_a: ['payment.succeeded', 'refund.initiated'], sub_b: ['payment.succeeded'], sub_c: ['refund.initiated'] };
        let clock = NOW;
        for (const s of steps) {
          clock += 1000;
          const input = () => ({ ...enqueueInput(s.op === 'publish' || s.op === 'publishRolledBack' ? s.type : 'payment.succeeded'), now: clock });
          switch (s.op) {
            case 'publish':
              await storage.enqueue(input());
              break;
            case 'publishRolledBack':
              expect(() =>
                db.transaction(() => {
                  storage.enqueueSync({ ...input(), tx: db });
                  throw new Error('the host changes its mind');
                })(),
              ).toThrow('the host changes its mind');
              break;
            case 'claimAndSettle': {
              const claimed = await storage.claimDue({ limit: s.limit, leaseMs: 60_000, now: clock });
              // A cancel while the attempts are in flight: of the first one's event, or of its subscription.
              if (claimed.length > 0 && s.meanwhile === 'expunge') await storage.expungeEvents([claimed[0]!.event.id], clock);
              if (claimed.length > 0 && s.meanwhile === 'softDelete') await storage.softDeleteSubscription(claimed[0]!.subscription.id, clock);
              await storage.settle(
                claimed.map((c, i) => ({
                  deliveryId: c.delivery.id,
                  leaseToken: c.leaseToken,
                  attempt: { id: createId('att', clock), startedAt: clock, durationMs: 5, statusCode: 500, errorClass: null, errorMessage: null, responseSnippet: null },
                  outcome:
                    s.outcomes[i] === 'retry'
                      ? { kind: 'retry', nextAttemptAt: clock + 500 }
                      : s.outcomes[i] === 'disable'
                        ? { kind: 'disable', reason: 'gone' }
                        : { kind: s.outcomes[i] as 'delivered' | 'dead' },
                })),
                clock,
              );
              break;
            }
            case 'disable':
            case 'enable':
              await storage.setSubscriptionStatus(subs[s.sub]!, { status: s.op === 'disable' ? 'disabled' : 'active' }, clock);
              break;
            case 'delete':
              await storage.deleteSubscription(subs[s.sub]!);
              break;
            case 'softDelete':
              await storage.softDeleteSubscription(subs[s.sub]!, clock);
              break;
            case 'expungeOldest': {
              const oldest = db.prepare('SELECT id FROM webhook_events WHERE expunged_at IS NULL ORDER BY id LIMIT 1').pluck().get() as string | undefined;
              if (oldest !== undefined) await storage.expungeEvents([oldest], clock);
              break;
            }
            case 'replay':
              await storage.replay({ subscriptionId: subs[s.sub]!, since: 0, now: clock, eventTypes: replayTypes[subs[s.sub]!]! });
              break;
            case 'redeliverFirst': {
              const first = db.prepare('SELECT id FROM webhook_deliveries WHERE status = ? ORDER BY id LIMIT 1').pluck().get(s.status) as string | undefined;
              if (first !== undefined) await storage.redeliver(first, clock);
              break;
            }
            case 'purge':
              await storage.purge({ olderThan: clock - 2500 });
              break;
            case 'purgeRetention':
              await storage.purgeRetention({ deliveredBefore: clock - 2500, deadBefore: clock - 1500, eventsBefore: clock - 2500, limit: s.limit, now: clock });
              break;
          }
          expect(await storage.stats(clock)).toMatchObject(counted(db));
          for (const id of subs) expect(await storage.stats(clock, { subscriptionId: id })).toMatchObject(counted(db, id));
        }
        // A deleted subscription leaves no rows of zeros behind.
        const left = db.prepare('SELECT DISTINCT subscription_id FROM webhook_delivery_counts').pluck().all();
        const existing = db.prepare('SELECT id FROM webhook_subscriptions').pluck().all();
        expect(left.every((id) => existing.includes(id))).toBe(true);
        db.close();
      }),
      { numRuns: propertyRuns(60) },
    );
  });
});
