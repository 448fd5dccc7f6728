/**
 * Storage conformance cases for the subscriptions' test log (`recordTestAttempt`,
 * `listTestAttempts`): every field read back as written, newest first in pages that cover
 * each record once, nothing stored for a subscription that is gone, a reused id refused, and
 * the log removed with its subscription (hard delete, a tenant's removal) and by retention
 * (ok ones by the delivered cutoff, failed ones by the dead cutoff, `limit` per batch).
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';
import type { PurgeRetentionInput, TestAttemptRecord } from '../../src/storage/storage-adapter.js';
import type { ConformanceContext } from './conformance-context.js';

const ACME = 'org_acme';
const GLOBEX = 'org_globex';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeTestAttempts(t: ConformanceContext): void {
  const { createSubscription, publishFor, claimOne, settle, rejectionOf } = t;

  /** A test attempt of `subscriptionId` started at `now`: an ok `webhook.test` unless overridden. */
  function testAttempt(subscriptionId: string, overrides: Partial<TestAttemptRecord> = {}): TestAttemptRecord {
    return {
      id: createId('msg', t.now),
      subscriptionId,
      tenantId: null,
      type: 'webhook.test',
      reason: 'test',
      actor: 'ops@bookkeeper.example',
      url: 'https://erp.example.com/hooks',
      startedAt: t.now,
      durationMs: 12.345,
      statusCode: 204,
      ok: true,
      errorClass: null,
      error: null,
      responseSnippet: null,
      ...overrides,
    };
  }

  /** A failed test attempt: the endpoint answered 500 with a body. */
  function failedAttempt(subscriptionId: string, overrides: Partial<TestAttemptRecord> = {}): TestAttemptRecord {
    return testAttempt(subscriptionId, { statusCode: 500, ok: false, errorClass: 'http', error: 'HTTP 500', responseSnippet: 'upstream down', ...overrides });
  }

  async function record(attempt: TestAttemptRecord): Promise<TestAttemptRecord> {
    expect(await t.storage.recordTestAttempt(attempt)).toBe(true);
    return attempt;
  }

  /** Every page of a subscription's test log, with the page size given. */
  async function testLogOf(subscriptionId: string, limit = 100): Promise<TestAttemptRecord[]> {
    const all: TestAttemptRecord[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const result = await t.storage.listTestAttempts({ subscriptionId, limit, ...(cursor === undefined ? {} : { cursor }) });
      expect(result.items.length).toBeLessThanOrEqual(limit);
      all.push(...result.items);
      if (result.nextCursor === null) return all;
      expect(result.items).toHaveLength(limit);
      cursor = result.nextCursor;
    }
    throw new Error('paging did not end');
  }

  describe('test log', () => {
    it('reads every field back as written: an ok test, a failed catalog-type one without actor, a refused connection before a URL change', async () => {
      const sub = await createSubscription({ tenantId: ACME });
      const ok = await record(testAttempt(sub.id, { tenantId: ACME }));
      t.now += 1000;
      const failed = await record(failedAttempt(sub.id, { tenantId: ACME, type: 'refund.initiated', actor: null, responseSnippet: '{"error":"café ☕"}' }));
      t.now += 1000;
      const refused = await record(
        testAttempt(sub.id, {
          tenantId: ACME,
          reason: 'url_change',
          url: 'https://erp.example.com/v2/hooks',
          durationMs: 0.5,
          statusCode: null,
          ok: false,
          errorClass: 'connect',
          error: 'connect failure (connect ECONNREFUSED 127.0.0.1:9)',
        }),
      );

      expect(await t.storage.listTestAttempts({ subscriptionId: sub.id, limit: 10 })).toEqual({ items: [refused, failed, ok], nextCursor: null });
    });

    it("lists a subscription's log newest first, in pages that cover each record exactly once, and no other subscription's", async () => {
      const sub = await createSubscription();
      const other = await createSubscription();
      const recorded: TestAttemptRecord[] = [];
      for (let i = 0; i < 7; i++) {
        recorded.push(await record(i % 3 === 0 ? failedAttempt(sub.id) : testAttempt(sub.id)));
        await record(testAttempt(other.id));
        // Two records in one millisecond too: ids keep their order.
        if (i % 2 === 1) t.now += 1;
      }
      const newestFirst = [...recorded].reverse();

      for (const limit of [1, 2, 3, 7, 100]) expect(await testLogOf(sub.id, limit)).toEqual(newestFirst);
      expect(await testLogOf(other.id, 4)).toHaveLength(7);
      const first = await t.storage.listTestAttempts({ subscriptionId: sub.id, limit: 7 });
      expect(first.nextCursor).toBeNull();
    });

    it('keeps the records it hands out apart from the stored ones', async () => {
      const sub = await createSubscription();
      const stored = await record(testAttempt(sub.id));
      const given = testAttempt(sub.id, { id: createId('msg', t.now) });
      await record(given);
      given.error = 'changed by the caller';
      const [read] = (await t.storage.listTestAttempts({ subscriptionId: sub.id, limit: 1 })).items;
      read!.statusCode = 418;
      expect(await testLogOf(sub.id)).toEqual([{ ...given, error: null }, stored]);
    });

    it('stores nothing for an unknown subscription (false), and lists an unknown one as an empty page', async () => {
      const sub = await createSubscription();
      const unknown = createId('sub', t.now);
      expect(await t.storage.recordTestAttempt(testAttempt(unknown))).toBe(false);
      expect(await t.storage.listTestAttempts({ subscriptionId: unknown, limit: 10 })).toEqual({ items: [], nextCursor: null });
      expect(await testLogOf(sub.id)).toEqual([]);
    });

    it('records the test of a soft-deleted subscription, whose log stays readable with it', async () => {
      const sub = await createSubscription();
      const before = await record(testAttempt(sub.id));
      await t.storage.softDeleteSubscription(sub.id, t.now);
      t.now += 1;
      const after = await record(failedAttempt(sub.id));
      expect(await testLogOf(sub.id)).toEqual([after, before]);
    });

    it('refuses a record whose id is in the log with STORAGE_CONFLICT, and keeps the log as it was', async () => {
      const sub = await createSubscription();
      const first = await record(testAttempt(sub.id));
      const error = await rejectionOf(t.storage.recordTestAttempt(failedAttempt(sub.id, { id: first.id })));
      expect(error).toMatchObject({ name: 'StorageError', code: 'STORAGE_CONFLICT' });
      expect(await testLogOf(sub.id)).toEqual([first]);
    });

    it('refuses a cursor of another list, or none at all, with CURSOR_INVALID', async () => {
      const sub = await createSubscription();
      await record(testAttempt(sub.id));
      t.now += 1;
      await record(testAttempt(sub.id));
      const { nextCursor } = await t.storage.listTestAttempts({ subscriptionId: sub.id, limit: 1 });
      expect(nextCursor).not.toBeNull();
      await publishFor(sub.id);
      await publishFor(sub.id);
      const deliveryCursor = (await t.storage.listDeliveries({ limit: 1 })).nextCursor!;
      for (const cursor of [deliveryCursor, 'not-a-cursor', '', Buffer.from('t:').toString('base64url')]) {
        const error = await rejectionOf(t.storage.listTestAttempts({ subscriptionId: sub.id, limit: 1, cursor }));
        expect(error, cursor).toMatchObject({ name: 'ValidationError', code: 'CURSOR_INVALID' });
      }
      // A test-log cursor is no delivery cursor either.
      expect(await rejectionOf(t.storage.listDeliveries({ limit: 1, cursor: nextCursor! }))).toMatchObject({ code: 'CURSOR_INVALID' });
    });

    it("goes with a hard delete, the other subscriptions' logs staying; a test that ends after it stores nothing", async () => {
      const doomed = await createSubscription();
      const kept = await createSubscription();
      await record(testAttempt(doomed.id));
      await record(failedAttempt(doomed.id));
      const keptLog = [await record(testAttempt(kept.id))];

      expect(await t.storage.deleteSubscription(doomed.id)).toBe(true);
      expect(await testLogOf(doomed.id)).toEqual([]);
      expect(await testLogOf(kept.id)).toEqual(keptLog);
      expect(await t.storage.recordTestAttempt(testAttempt(doomed.id))).toBe(false);
      expect(await testLogOf(doomed.id)).toEqual([]);
    });

    it("goes with its tenant's subscriptions in a tenant's removal, soft-deleted ones included; other tenants' and the platform's stay", async () => {
      const acme = await createSubscription({ tenantId: ACME });
      const acmeDeleted = await createSubscription({ tenantId: ACME });
      const globex = await createSubscription({ tenantId: GLOBEX });
      const platform = await createSubscription();
      await record(testAttempt(acme.id, { tenantId: ACME }));
      await record(failedAttempt(acmeDeleted.id, { tenantId: ACME }));
      await t.storage.softDeleteSubscription(acmeDeleted.id, t.now);
      const globexLog = [await record(testAttempt(globex.id, { tenantId: GLOBEX }))];
      const platformLog = [await record(testAttempt(platform.id))];

      for (let batch = 0; batch < 10; batch++) {
        const result = await t.storage.purgeTenant({ tenantId: ACME, limit: 1, now: t.now, force: false });
        if (result === 'in_flight') return expect.fail('nothing of acme is in flight');
        if (result.done) break;
      }
      expect(await t.storage.getSubscription(acme.id)).toBeNull();
      expect(await testLogOf(acme.id)).toEqual([]);
      expect(await testLogOf(acmeDeleted.id)).toEqual([]);
      expect(await testLogOf(globex.id)).toEqual(globexLog);
      expect(await testLogOf(platform.id)).toEqual(platformLog);
    });
  });

  describe('test log retention', () => {
    /** One retention batch with no cutoff but those given. */
    function retain(input: Partial<PurgeRetentionInput>) {
      return t.storage.purgeRetention({ deliveredBefore: null, deadBefore: null, eventsBefore: null, limit: 100, now: t.now, ...input });
    }

    it('removes ok test attempts that started before the delivered cutoff and failed ones before the dead cutoff, keeping newer ones', async () => {
      const sub = await createSubscription();
      const oldOk = await record(testAttempt(sub.id));
      t.now += 1000;
      const oldFailed = await record(failedAttempt(sub.id));
      t.now += 1000;
      const okCutoff = t.now;
      const newerOk = await record(testAttempt(sub.id));
      t.now += 1000;
      const failedCutoff = t.now;
      const newerFailed = await record(failedAttempt(sub.id));
      t.now += 1000;

      expect(await retain({ deliveredBefore: okCutoff, deadBefore: failedCutoff })).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 2, more: false });
      expect(await testLogOf(sub.id)).toEqual([newerFailed, newerOk]);
      // A cutoff equal to the start keeps it: only what started before it goes.
      expect(await retain({ deliveredBefore: newerOk.startedAt, deadBefore: newerFailed.startedAt })).toMatchObject({ testAttempts: 0 });
      expect(await testLogOf(sub.id)).toEqual([newerFailed, newerOk]);
      expect([oldOk.startedAt, oldFailed.startedAt]).toEqual([okCutoff - 2000, okCutoff - 1000]);
    });

    it('keeps a kind whose cutoff is null', async () => {
      const sub = await createSubscription();
      const ok = await record(testAttempt(sub.id));
      await record(failedAttempt(sub.id));
      t.now += 5000;

      expect(await retain({ deliveredBefore: null, deadBefore: t.now })).toMatchObject({ testAttempts: 1, more: false });
      expect(await testLogOf(sub.id)).toEqual([ok]);
      const laterFailed = await record(failedAttempt(sub.id));
      t.now += 5000;
      expect(await retain({ deliveredBefore: t.now, deadBefore: null })).toMatchObject({ testAttempts: 1, more: false });
      expect(await testLogOf(sub.id)).toEqual([laterFailed]);
    });

    it('takes at most `limit` test attempts per batch, the oldest of both kinds, says `more` while some are left, and the next batch goes on', async () => {
      const subs = [await createSubscription(), await createSubscription()];
      const recorded: TestAttemptRecord[] = [];
      for (let i = 0; i < 5; i++) {
        recorded.push(await record(i % 2 === 0 ? testAttempt(subs[i % 2]!.id) : failedAttempt(subs[i % 2]!.id)));
        t.now += 10;
      }
      t.now += 1000;
      const both = { deliveredBefore: t.now, deadBefore: t.now, limit: 2 };

      expect(await retain(both)).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 2, more: true });
      const left = async () => [...(await testLogOf(subs[0]!.id)), ...(await testLogOf(subs[1]!.id))].map((a) => a.id).sort();
      expect(await left()).toEqual(recorded.slice(2).map((a) => a.id).sort());
      expect(await retain(both)).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 2, more: true });
      expect(await left()).toEqual([recorded[4]!.id]);
      expect(await retain(both)).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 1, more: false });
      expect(await left()).toEqual([]);
      expect(await retain(both)).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 0, more: false });
    });

    it('says `more` for test attempts left over even when no delivery is, and removes them beside deliveries in one batch', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const d = await publishFor(sub.id);
      await settle(await claimOne(d.id), { kind: 'delivered' });
      await record(testAttempt(sub.id));
      await record(testAttempt(sub.id));
      t.now += 1000;

      expect(await retain({ deliveredBefore: t.now, eventsBefore: t.now, limit: 1 })).toEqual({ deliveries: 1, attempts: 1, events: 1, testAttempts: 1, more: true });
      expect(await retain({ deliveredBefore: t.now, eventsBefore: t.now, limit: 1 })).toEqual({ deliveries: 0, attempts: 0, events: 0, testAttempts: 1, more: false });
      expect(await testLogOf(sub.id)).toEqual([]);
      // The subscription stays: retention takes logs, never subscriptions.
      expect(await t.storage.getSubscription(sub.id)).toMatchObject({ id: sub.id });
    });

    it('goes in a purge({ olderThan }) by when it started, ok and failed alike, keeping newer ones', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      await record(testAttempt(sub.id));
      await record(failedAttempt(sub.id));
      t.now += 1000;
      const cutoff = t.now;
      const newer = await record(testAttempt(sub.id));

      expect(await t.storage.purge({ olderThan: cutoff })).toEqual({ events: 0, deliveries: 0, attempts: 0, testAttempts: 2 });
      expect((await testLogOf(sub.id)).map((a) => a.id)).toEqual([newer.id]);
      expect(await t.storage.purge({ olderThan: cutoff })).toEqual({ events: 0, deliveries: 0, attempts: 0, testAttempts: 0 });
    });
  });
}
