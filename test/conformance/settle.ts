/**
 * Storage conformance cases for settlement: what each outcome does to a delivery, its subscription and its attempt log.
 */
import { describe, expect, it } from 'vitest';
import type { DeliveryStatus, SettleOutcome } from '../../src/storage/storage-adapter.js';
import type { ConformanceContext } from './conformance-context.js';

/**
 * What each outcome makes of the delivery, by the subscription's state when the attempt
 * settles (disabled meanwhile: by an operator while the attempt was in flight).
 */
const settledStatusTable: ReadonlyArray<{ kind: SettleOutcome['kind']; disabledMeanwhile: boolean; status: DeliveryStatus }> = [
  { kind: 'delivered', disabledMeanwhile: false, status: 'delivered' },
  { kind: 'delivered', disabledMeanwhile: true, status: 'delivered' },
  { kind: 'retry', disabledMeanwhile: false, status: 'pending' },
  { kind: 'retry', disabledMeanwhile: true, status: 'held' },
  { kind: 'dead', disabledMeanwhile: false, status: 'dead' },
  { kind: 'dead', disabledMeanwhile: true, status: 'dead' },
  { kind: 'disable', disabledMeanwhile: false, status: 'held' },
  { kind: 'disable', disabledMeanwhile: true, status: 'held' },
];

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeSettle(t: ConformanceContext): void {
  const { createSubscription, publish, publishFor, claim, claimOne, attempt, settle, deliveriesOfEvent, delivery } = t;

  describe('settle', () => {
    it('records a delivered attempt with every field and makes the delivery final', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const claimed = await claimOne(d.id);
      const startedAt = t.now;
      t.now += 42;
      const input = attempt({ startedAt, durationMs: 42, statusCode: 204, responseSnippet: 'accepted' });
      const [result] = await t.storage.settle(
        [{ deliveryId: d.id, leaseToken: claimed.leaseToken, attempt: input, outcome: { kind: 'delivered' } }],
        t.now,
      );
      const stored = await delivery(d.id);
      expect(result).toEqual({ ok: true, delivery: stored, subscriptionDisabled: false, failingSince: null });
      expect(stored).toEqual({
        ...d,
        status: 'delivered',
        attempts: 1,
        nextAttemptAt: null,
        lastAttemptAt: startedAt,
        lastStatusCode: 204,
        lastError: null,
        deliveredAt: t.now,
        leaseExpiresAt: null,
        updatedAt: t.now,
      });
      expect(await t.storage.listAttempts(d.id)).toEqual([
        {
          id: input.id,
          deliveryId: d.id,
          attemptNumber: 1,
          startedAt,
          durationMs: 42,
          statusCode: 204,
          errorClass: null,
          errorMessage: null,
          responseSnippet: 'accepted',
          outcome: 'delivered',
          nextAttemptAt: null,
        },
      ]);
      expect(await claim()).toEqual([]);
      expect(await settle(claimed, { kind: 'delivered' })).toMatchObject({ ok: false, code: 'STORAGE_LEASE_LOST' });
    });

    it('schedules a retry at T: attempts and nextAttemptAt persist, and it is claimable at T, not before', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const first = await claimOne(d.id);
      const retryAt = t.now + 5000;
      const result = await settle(
        first,
        { kind: 'retry', nextAttemptAt: retryAt },
        { statusCode: 500, errorClass: 'http', errorMessage: 'HTTP 500', responseSnippet: 'boom' },
      );
      expect(result).toMatchObject({ ok: true, subscriptionDisabled: false });
      expect(await delivery(d.id)).toMatchObject({
        status: 'pending',
        attempts: 1,
        nextAttemptAt: retryAt,
        leaseExpiresAt: null,
        lastStatusCode: 500,
        lastError: 'HTTP 500',
        deliveredAt: null,
      });
      t.now = retryAt - 1;
      expect(await claim()).toEqual([]);
      t.now = retryAt;
      const second = await claimOne(d.id);
      expect(second.delivery.attempts).toBe(1);
      await settle(
        second,
        { kind: 'retry', nextAttemptAt: t.now + 10_000 },
        { statusCode: null, errorClass: 'timeout', errorMessage: 'timed out after 15000 ms', responseSnippet: null },
      );
      const attempts = await t.storage.listAttempts(d.id);
      expect(attempts.map((a) => [a.attemptNumber, a.outcome, a.statusCode, a.errorClass, a.nextAttemptAt])).toEqual([
        [1, 'retry', 500, 'http', retryAt],
        [2, 'retry', null, 'timeout', retryAt + 10_000],
      ]);
      expect((await delivery(d.id)).attempts).toBe(2);
    });

    it('marks a delivery dead: final, not claimable, attempt recorded', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const claimed = await claimOne(d.id);
      const result = await settle(claimed, { kind: 'dead' }, { statusCode: 400, errorClass: 'http', errorMessage: 'HTTP 400' });
      expect(result).toMatchObject({ ok: true, delivery: { status: 'dead', attempts: 1, nextAttemptAt: null, leaseExpiresAt: null } });
      expect((await t.storage.listAttempts(d.id)).map((a) => a.outcome)).toEqual(['dead']);
      t.now += 100_000;
      expect(await claim()).toEqual([]);
      expect(await t.storage.nextDueAt(t.now)).toBeNull();
    });

    it('disables the subscription, holds this and its other pending deliveries, and enabling brings them back due now', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const other = await createSubscription({ eventTypes: ['payment.*'] });
      const d1 = await publishFor(sub.id);
      const d2 = await publishFor(sub.id);
      const d3 = await publishFor(sub.id);
      const claimedAll = await claim(100);
      const c1 = claimedAll.find((c) => c.delivery.id === d1.id)!;
      const c2 = claimedAll.find((c) => c.delivery.id === d2.id)!;
      const c3 = claimedAll.find((c) => c.delivery.id === d3.id)!;
      // d3 goes back to waiting, so that it is an unleased pending delivery at disable time.
      await settle(c3, { kind: 'retry', nextAttemptAt: t.now + 1000 }, { statusCode: 500 });
      t.now += 10;

      const result = await settle(c1, { kind: 'disable', reason: 'HTTP 410 Gone' }, { statusCode: 410 });
      expect(result).toMatchObject({ ok: true, subscriptionDisabled: true, delivery: { status: 'held', attempts: 1 } });
      expect(await t.storage.getSubscription(sub.id)).toMatchObject({
        status: 'disabled',
        disabledReason: 'HTTP 410 Gone',
        disabledAt: t.now,
      });
      expect((await t.storage.listAttempts(d1.id)).map((a) => a.outcome)).toEqual(['disable']);
      expect((await delivery(d2.id)).status).toBe('held');
      expect((await delivery(d3.id)).status).toBe('held');
      // The other in-flight delivery may still settle; the subscription was already disabled.
      expect(await settle(c2, { kind: 'disable', reason: 'HTTP 410 Gone' }, { statusCode: 410 })).toMatchObject({
        ok: true,
        subscriptionDisabled: false,
        delivery: { status: 'held' },
      });

      const later = await publish('payment.succeeded');
      expect((await deliveriesOfEvent(later.event.id)).map((d) => d.subscriptionId)).toEqual([other.id]);
      t.now += 5000;
      expect((await claim()).every((c) => c.delivery.subscriptionId === other.id)).toBe(true);

      t.now += 1000;
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      for (const [id, attempts] of [
        [d1.id, 1],
        [d2.id, 1],
        [d3.id, 1],
      ] as const) {
        expect(await delivery(id)).toMatchObject({ status: 'pending', nextAttemptAt: t.now, attempts });
      }
      expect((await claim()).map((c) => c.delivery.id).sort()).toEqual([d1.id, d2.id, d3.id].sort());
    });

    it('keeps a leased delivery held when it settles with a retry after its subscription was disabled, but delivered is still final', async () => {
      const sub = await createSubscription();
      const a = await publishFor(sub.id);
      const b = await publishFor(sub.id);
      const [ca, cb] = await claim(2);
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'operator' }, t.now);
      expect((await delivery(a.id)).status).toBe('held');
      expect((await delivery(b.id)).status).toBe('held');
      const retried = await settle(ca!, { kind: 'retry', nextAttemptAt: t.now + 1000 }, { statusCode: 500 });
      expect(retried).toMatchObject({ ok: true, delivery: { status: 'held', attempts: 1, leaseExpiresAt: null } });
      const delivered = await settle(cb!, { kind: 'delivered' });
      expect(delivered).toMatchObject({ ok: true, delivery: { status: 'delivered' } });
      t.now += 10_000;
      expect(await claim()).toEqual([]);
      const stats = await t.storage.stats(t.now);
      expect(stats).toMatchObject({ pending: 0, held: 1, delivered: 1 });
    });

    for (const { kind, disabledMeanwhile, status } of settledStatusTable) {
      it(`settles ${kind} on a subscription ${disabledMeanwhile ? 'disabled meanwhile' : 'still active'} as ${status}: one attempt more, lease cleared, due again only when pending, failingSince by the outcome`, async () => {
        // One subscription with no failure yet, one whose first attempt failed at firstFailure.
        const fresh = await createSubscription({ eventTypes: ['payment.*'] });
        const failing = await createSubscription({ eventTypes: ['refund.*'] });
        const retried = await publishFor(failing.id, 'refund.created');
        const firstFailure = t.now - 500;
        await settle(await claimOne(retried.id), { kind: 'retry', nextAttemptAt: t.now + 1000 }, { startedAt: firstFailure, statusCode: 500 });
        t.now += 1000;
        const first = await publishFor(fresh.id, 'payment.succeeded');
        const claimed = await claim(10);
        expect(claimed.map((c) => c.delivery.id).sort()).toEqual([first.id, retried.id].sort());
        const disabledAt = t.now;
        if (disabledMeanwhile) {
          for (const sub of [fresh, failing]) await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'operator' }, t.now);
        }

        t.now += 10;
        const startedAt = t.now - 5;
        const retryAt = t.now + 5000;
        const outcome: SettleOutcome =
          kind === 'retry' ? { kind, nextAttemptAt: retryAt } : kind === 'disable' ? { kind, reason: 'HTTP 410 Gone' } : { kind };
        const cases = [
          { sub: fresh, deliveryId: first.id, attemptsBefore: 0, failingSinceBefore: null },
          { sub: failing, deliveryId: retried.id, attemptsBefore: 1, failingSinceBefore: firstFailure },
        ];
        for (const { sub, deliveryId, attemptsBefore, failingSinceBefore } of cases) {
          const leased = claimed.find((c) => c.delivery.id === deliveryId)!;
          const result = await settle(leased, outcome, { startedAt, statusCode: kind === 'delivered' ? 200 : kind === 'disable' ? 410 : 500 });
          const failingSince = kind === 'delivered' ? null : kind === 'disable' ? failingSinceBefore : (failingSinceBefore ?? startedAt);
          const stored = await delivery(deliveryId);
          expect(result).toEqual({ ok: true, delivery: stored, subscriptionDisabled: kind === 'disable' && !disabledMeanwhile, failingSince });
          expect(stored).toMatchObject({
            status,
            attempts: attemptsBefore + 1,
            leaseExpiresAt: null,
            nextAttemptAt: status === 'pending' ? retryAt : null,
            deliveredAt: kind === 'delivered' ? t.now : null,
            lastAttemptAt: startedAt,
            updatedAt: t.now,
          });
          expect(await t.storage.getSubscription(sub.id)).toMatchObject({
            failingSince,
            ...(disabledMeanwhile
              ? { status: 'disabled', disabledReason: 'operator', disabledAt }
              : kind === 'disable'
                ? { status: 'disabled', disabledReason: 'HTTP 410 Gone', disabledAt: t.now }
                : { status: 'active', disabledReason: null, disabledAt: null }),
          });
        }
      });
    }

    it('settles a batch mixing current and stale tokens with one result per item, in order', async () => {
      const sub = await createSubscription();
      const ds = [await publishFor(sub.id), await publishFor(sub.id), await publishFor(sub.id)];
      const claimed = await claim(3);
      expect(claimed.map((c) => c.delivery.id)).toEqual(ds.map((d) => d.id));
      const before = await delivery(ds[1]!.id);
      const results = await t.storage.settle(
        [
          { deliveryId: ds[0]!.id, leaseToken: claimed[0]!.leaseToken, attempt: attempt(), outcome: { kind: 'delivered' } },
          { deliveryId: ds[1]!.id, leaseToken: 'stale-token', attempt: attempt(), outcome: { kind: 'delivered' } },
          { deliveryId: ds[2]!.id, leaseToken: claimed[2]!.leaseToken, attempt: attempt({ statusCode: 500 }), outcome: { kind: 'dead' } },
        ],
        t.now,
      );
      expect(results.map((r) => r.ok)).toEqual([true, false, true]);
      expect(results[1]).toEqual({ ok: false, deliveryId: ds[1]!.id, code: 'STORAGE_LEASE_LOST' });
      expect(results[0]).toMatchObject({ delivery: { id: ds[0]!.id, status: 'delivered' } });
      expect(results[2]).toMatchObject({ delivery: { id: ds[2]!.id, status: 'dead' } });
      expect(await t.storage.getDelivery(ds[1]!.id)).toEqual(before);
      expect(await t.storage.listAttempts(ds[1]!.id)).toEqual([]);
    });

    it('answers STORAGE_LEASE_LOST for a delivery that no longer exists', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const claimed = await claimOne(d.id);
      await t.storage.deleteSubscription(sub.id);
      expect(await settle(claimed, { kind: 'delivered' })).toEqual({ ok: false, deliveryId: d.id, code: 'STORAGE_LEASE_LOST' });
    });

    it('sets failingSince to the start of the first failed attempt, keeps it through more failures, clears it on success', async () => {
      const sub = await createSubscription();
      const other = await createSubscription({ eventTypes: ['refund.*'] });
      const d1 = await publishFor(sub.id);
      const d2 = await publishFor(sub.id);
      expect((await t.storage.getSubscription(sub.id))!.failingSince).toBeNull();

      const firstStart = t.now - 250;
      const [c1, c2] = await claim(2);
      expect([c1!.delivery.id, c2!.delivery.id]).toEqual([d1.id, d2.id]);
      const failed = await settle(c1!, { kind: 'retry', nextAttemptAt: t.now + 1000 }, { startedAt: firstStart, statusCode: 503 });
      expect(failed).toMatchObject({ ok: true, failingSince: firstStart });
      expect((await t.storage.getSubscription(sub.id))!.failingSince).toBe(firstStart);
      expect((await t.storage.getSubscription(other.id))!.failingSince).toBeNull();

      t.now += 1000;
      const again = await claimOne(d1.id);
      const dead = await settle(again, { kind: 'dead' }, { startedAt: t.now, statusCode: 500 });
      expect(dead).toMatchObject({ ok: true, failingSince: firstStart });
      expect((await t.storage.getSubscription(sub.id))!.failingSince).toBe(firstStart);

      const ok = await settle(c2!, { kind: 'delivered' }, { startedAt: t.now });
      expect(ok).toMatchObject({ ok: true, failingSince: null });
      expect((await t.storage.getSubscription(sub.id))!.failingSince).toBeNull();

      t.now += 1000;
      await t.storage.redeliver(d1.id, t.now);
      const later = await settle(await claimOne(d1.id), { kind: 'dead' }, { startedAt: t.now - 5, statusCode: 500 });
      expect(later).toMatchObject({ ok: true, failingSince: t.now - 5 });
      expect((await t.storage.getSubscription(sub.id))!.failingSince).toBe(t.now - 5);
    });

    it('applies the settlements of one batch to failingSince in order, each result carrying the value after it', async () => {
      const sub = await createSubscription();
      for (let i = 0; i < 5; i++) await publishFor(sub.id);
      const claimed = await claim(5);
      expect(claimed).toHaveLength(5);
      const item = (i: number, outcome: SettleOutcome, startedAt: number) => ({
        deliveryId: claimed[i]!.delivery.id,
        leaseToken: claimed[i]!.leaseToken,
        attempt: attempt({ startedAt, statusCode: outcome.kind === 'delivered' ? 200 : 500 }),
        outcome,
      });
      const first = await t.storage.settle(
        [
          item(0, { kind: 'retry', nextAttemptAt: t.now + 1000 }, t.now - 30),
          item(1, { kind: 'dead' }, t.now - 20),
          item(2, { kind: 'delivered' }, t.now - 10),
        ],
        t.now,
      );
      expect(first.map((r) => (r.ok ? r.failingSince : 'lost'))).toEqual([t.now - 30, t.now - 30, null]);
      expect((await t.storage.getSubscription(sub.id))!.failingSince).toBeNull();

      const second = await t.storage.settle([item(3, { kind: 'delivered' }, t.now - 9), item(4, { kind: 'dead' }, t.now - 8)], t.now);
      expect(second.map((r) => (r.ok ? r.failingSince : 'lost'))).toEqual([null, t.now - 8]);
      expect((await t.storage.getSubscription(sub.id))!.failingSince).toBe(t.now - 8);
    });

    it('leaves failingSince alone on a lost lease and on a disabling settle', async () => {
      const sub = await createSubscription();
      const healthy = await createSubscription({ eventTypes: ['refund.*'] });
      const a = await publishFor(sub.id);
      const b = await publishFor(sub.id);
      const gone = await publishFor(healthy.id, 'refund.created');
      const claimed = await claim(10);
      const byId = (id: string) => claimed.find((x) => x.delivery.id === id)!;
      const failingAt = t.now - 100;
      await settle(byId(a.id), { kind: 'retry', nextAttemptAt: t.now + 1000 }, { startedAt: failingAt, statusCode: 500 });

      const lost = await settle({ delivery: { id: b.id }, leaseToken: 'not-the-token' }, { kind: 'delivered' });
      expect(lost).toEqual({ ok: false, deliveryId: b.id, code: 'STORAGE_LEASE_LOST' });
      expect((await t.storage.getSubscription(sub.id))!.failingSince).toBe(failingAt);

      const disabled = await settle(byId(b.id), { kind: 'disable', reason: 'HTTP 410 Gone' }, { statusCode: 410 });
      expect(disabled).toMatchObject({ ok: true, subscriptionDisabled: true, failingSince: failingAt });
      expect(await t.storage.getSubscription(sub.id)).toMatchObject({ status: 'disabled', failingSince: failingAt });

      const healthyGone = await settle(byId(gone.id), { kind: 'disable', reason: 'HTTP 410 Gone' }, { statusCode: 410 });
      expect(healthyGone).toMatchObject({ ok: true, subscriptionDisabled: true, failingSince: null });
      expect((await t.storage.getSubscription(healthy.id))!.failingSince).toBeNull();
    });
  });
}
