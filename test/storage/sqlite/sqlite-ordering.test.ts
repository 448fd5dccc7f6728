/**
 * Per-key ordering on the SQLite storage (storage/shared/ordering.ts, migration 0015), at the
 * adapter: every write the rule set names, each in its own transaction — the fan-out of a
 * publish (enqueue, and enqueueSync inside the host's db.transaction), settle, skipDelivery,
 * redeliver, replay, enable, expunge, retention, deletion — and the reads that must never hand
 * out a waiting delivery (claims, nextDueAt), with listBlockedKeys.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import type { SqliteStorage } from '../../../src/storage/sqlite/index.js';
import type { DeliveryRecord, EnqueueInput, SettleOutcome, SubscriptionRecord } from '../../../src/storage/storage-adapter.js';
import { closeTracked, migratedOnHandle, openRaw } from '../../support/sqlite-fixtures.js';
import { NOW, subscription } from '../../support/storage-records.js';
import { rejectionOf } from '../../support/rejections.js';

const ACTIVE_LEASE_MS = 60_000;
let directory: string;
let clock: number;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bookkeeper-webhooks-sqlite-ordering-'));
  clock = NOW;
});

afterEach(async () => {
  await closeTracked();
  await rm(directory, { recursive: true, force: true });
});

/** A fresh time for each step, so that ids and due times follow the order of the test. */
function tick(): number {
  clock += 1_000;
  return clock;
}

async function fixture(overrides: Partial<SubscriptionRecord> = {}) {
  const db = openRaw(join(directory, 'webhooks.db'));
  const storage = await migratedOnHandle(db);
  const sub = await storage.createSubscription(subscription({ id: 'sub_a', ...overrides }));
  return { db, storage, sub };
}

function orderedInput(orderingKey: string | null, extra: Partial<EnqueueInput> = {}, type = 'payment.succeeded'): EnqueueInput {
  const now = tick();
  const id = createId('evt', now);
  return {
    event: { id, type, timestamp: now, payload: JSON.stringify({ id, type, data: {} }), idempotencyKey: null, tenantId: null, orderingKey },
    now,
    ...extra,
  };
}

/** Publishes one event with `orderingKey`; its delivery to `subscriptionId` (sub_a unless told). */
async function publish(storage: SqliteStorage, orderingKey: string | null, subscriptionId = 'sub_a'): Promise<DeliveryRecord> {
  const { event } = await storage.enqueue(orderedInput(orderingKey));
  const [delivery] = (await storage.listDeliveries({ eventId: event.id, subscriptionId, limit: 1 })).items;
  return delivery!;
}

async function reread(storage: SqliteStorage, delivery: DeliveryRecord): Promise<DeliveryRecord> {
  return (await storage.getDelivery(delivery.id))!;
}

/** Claims everything due now; the ids claimed. */
async function claimIds(storage: SqliteStorage, now = clock): Promise<string[]> {
  return (await storage.claimDue({ limit: 100, leaseMs: ACTIVE_LEASE_MS, now })).map((c) => c.delivery.id).sort();
}

/** Claims `delivery` (it must be due) and settles its attempt with `outcome`. */
async function attempt(storage: SqliteStorage, delivery: DeliveryRecord, outcome: SettleOutcome): Promise<DeliveryRecord> {
  const now = tick();
  const claimed = await storage.claimDue({ limit: 100, leaseMs: ACTIVE_LEASE_MS, now });
  const mine = claimed.find((c) => c.delivery.id === delivery.id);
  expect(mine, `${delivery.id} was not claimable`).toBeDefined();
  const others = claimed.filter((c) => c !== mine);
  if (others.length > 0) await storage.releaseLeases(others.map((c) => ({ deliveryId: c.delivery.id, leaseToken: c.leaseToken })), now);
  const [result] = await storage.settle(
    [
      {
        deliveryId: delivery.id,
        leaseToken: mine!.leaseToken,
        attempt: { id: createId('att', now), startedAt: now, durationMs: 5, statusCode: 500, errorClass: 'http', errorMessage: 'HTTP 500', responseSnippet: null },
        outcome,
      },
    ],
    now,
  );
  if (!result!.ok) throw new Error('lease lost');
  return result!.delivery;
}

function keyState(storage: SqliteStorage, subscriptionId: string, key: string): unknown {
  return storage.database
    .prepare('SELECT last_seq AS lastSeq, head_seq AS headSeq FROM webhook_ordering_keys WHERE subscription_id = ? AND ordering_key = ?')
    .get(subscriptionId, key);
}

describe('the fan-out of an ordered event', () => {
  it('numbers each key per subscription: the head due at once, the rest pending with no due time, never claimed nor counted due', async () => {
    const { storage } = await fixture();
    await storage.createSubscription(subscription({ id: 'sub_b' }));
    const input = orderedInput('pay_1');
    const result = await storage.enqueue(input);
    expect(result.event.orderingKey).toBe('pay_1');
    expect(await storage.getEvent(input.event.id)).toMatchObject({ orderingKey: 'pay_1' });
    const first = (await storage.listDeliveries({ eventId: input.event.id, limit: 10 })).items;
    expect(first.map((d) => [d.subscriptionId, d.orderingKey, d.orderingSequence, d.nextAttemptAt])).toEqual([
      ['sub_b', 'pay_1', 1, input.now],
      ['sub_a', 'pay_1', 1, input.now],
    ]);
    const second = await publish(storage, 'pay_1');
    const third = await publish(storage, 'pay_1');
    const otherKey = await publish(storage, 'pay_2');
    const unordered = await publish(storage, null);
    expect([second, third].map((d) => [d.status, d.orderingSequence, d.nextAttemptAt])).toEqual([
      ['pending', 2, null],
      ['pending', 3, null],
    ]);
    expect([otherKey.orderingSequence, otherKey.nextAttemptAt]).toEqual([1, clock - 1_000]);
    expect([unordered.orderingKey, unordered.orderingSequence, unordered.nextAttemptAt]).toEqual([null, null, clock]);
    expect(keyState(storage, 'sub_a', 'pay_1')).toEqual({ lastSeq: 3, headSeq: 1 });
    expect(keyState(storage, 'sub_b', 'pay_1')).toEqual({ lastSeq: 3, headSeq: 1 });

    // nextDueAt answers the heads' time, not the waiting ones (which have none).
    expect(await storage.nextDueAt(clock)).toBe(input.now);
    const claimed = await storage.claimDue({ limit: 100, leaseMs: ACTIVE_LEASE_MS, now: clock + 10 * ACTIVE_LEASE_MS });
    expect(claimed.map((c) => [c.delivery.subscriptionId, c.delivery.orderingKey, c.delivery.orderingSequence]).sort()).toEqual([
      // (sort() compares their text: the unordered one, "sub_a,,", first)
      ['sub_a', null, null],
      ['sub_a', 'pay_1', 1],
      ['sub_a', 'pay_2', 1],
      ['sub_b', null, null],
      ['sub_b', 'pay_1', 1],
      ['sub_b', 'pay_2', 1],
    ]);
    expect(claimed.find((c) => c.delivery.id === first[1]!.id)!.event.orderingKey).toBe('pay_1');
    // With every head leased, nothing else is due: only the leases' expiry.
    expect(await storage.nextDueAt(clock + 10 * ACTIVE_LEASE_MS)).toBe(clock + 11 * ACTIVE_LEASE_MS);
    expect(await storage.claimDue({ limit: 100, leaseMs: ACTIVE_LEASE_MS, now: clock + 10 * ACTIVE_LEASE_MS, excludeSubscriptionIds: ['sub_b'] })).toEqual([]);
    expect((await storage.stats(clock)).pending).toBe(10);
  });

  it('keeps an unordered publish on its own statements: no key record, nothing numbered', async () => {
    const { storage } = await fixture();
    const delivery = await publish(storage, null);
    expect(delivery).toMatchObject({ orderingKey: null, orderingSequence: null, nextAttemptAt: clock });
    expect(storage.database.prepare('SELECT COUNT(*) FROM webhook_ordering_keys').pluck().get()).toBe(0);
    expect(storage.database.prepare('SELECT ordering_key FROM webhook_events').pluck().all()).toEqual([null]);
  });

  it('numbers in enqueueSync inside the host transaction, and a rollback undoes the numbers with the rows', async () => {
    const { db, storage } = await fixture();
    db.exec('CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount_minor INTEGER NOT NULL)');
    const book = (input: EnqueueInput, fail: boolean) =>
      db.transaction(() => {
        db.prepare('INSERT INTO ledger (amount_minor) VALUES (?)').run(100);
        storage.enqueueSync(input);
        if (fail) throw new Error('ledger refused');
      });
    expect(() => book(orderedInput('pay_1', { tx: db }), true)()).toThrow('ledger refused');
    expect(keyState(storage, 'sub_a', 'pay_1')).toBeUndefined();
    const first = orderedInput('pay_1', { tx: db });
    book(first, false)();
    const second = orderedInput('pay_1', { tx: db });
    book(second, false)();
    const deliveries = (await storage.listDeliveries({ subscriptionId: 'sub_a', limit: 10 })).items.reverse();
    expect(deliveries.map((d) => [d.eventId, d.orderingSequence, d.nextAttemptAt])).toEqual([
      [first.event.id, 1, first.now],
      [second.event.id, 2, null],
    ]);
    expect(db.prepare('SELECT COUNT(*) FROM ledger').pluck().get()).toBe(2);
  });

  it('stores nothing new for an idempotency key seen before: no number taken', async () => {
    const { storage } = await fixture();
    const input = orderedInput('pay_1');
    input.event.idempotencyKey = 'order-1';
    await storage.enqueue(input);
    const again = await storage.enqueue({ ...input, event: { ...input.event, id: createId('evt', tick()) } });
    expect(again).toMatchObject({ created: false, deliveryCount: 0, event: { id: input.event.id, orderingKey: 'pay_1' } });
    expect(keyState(storage, 'sub_a', 'pay_1')).toEqual({ lastSeq: 1, headSeq: 1 });
  });
});

describe('settling the head', () => {
  it('delivered: the next one of the key becomes due at the settle time; a retry keeps the key where it is', async () => {
    const { storage } = await fixture();
    const first = await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    const third = await publish(storage, 'pay_1');
    const retried = await attempt(storage, first, { kind: 'retry', nextAttemptAt: clock + 5_000 });
    expect(retried).toMatchObject({ status: 'pending', orderingKey: 'pay_1', orderingSequence: 1 });
    expect(await reread(storage, second)).toMatchObject({ status: 'pending', nextAttemptAt: null });
    clock += 5_000;
    const delivered = await attempt(storage, first, { kind: 'delivered' });
    expect(await reread(storage, second)).toMatchObject({ status: 'pending', nextAttemptAt: delivered.updatedAt, attempts: 0 });
    expect(await reread(storage, third)).toMatchObject({ nextAttemptAt: null });
    expect(keyState(storage, 'sub_a', 'pay_1')).toEqual({ lastSeq: 3, headSeq: 2 });
    await attempt(storage, second, { kind: 'delivered' });
    await attempt(storage, third, { kind: 'delivered' });
    expect(keyState(storage, 'sub_a', 'pay_1')).toEqual({ lastSeq: 3, headSeq: 4 });
    // The idle key's next delivery is its head at once.
    const fourth = await publish(storage, 'pay_1');
    expect(fourth).toMatchObject({ orderingSequence: 4, nextAttemptAt: clock });
  });

  it("dead under 'block': the key stays blocked, listed with its waiting count; under 'skip' the next one goes", async () => {
    const { storage } = await fixture();
    await storage.createSubscription(subscription({ id: 'sub_skip', orderingOnDead: 'skip' }));
    const first = await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    await publish(storage, 'pay_1');
    const [skipFirst, skipSecond] = (await storage.listDeliveries({ subscriptionId: 'sub_skip', limit: 10 })).items.reverse();
    await attempt(storage, first, { kind: 'dead' });
    await attempt(storage, skipFirst!, { kind: 'dead' });
    expect(await reread(storage, second)).toMatchObject({ status: 'pending', nextAttemptAt: null });
    expect(await reread(storage, skipSecond!)).toMatchObject({ status: 'pending', nextAttemptAt: clock });
    expect(await claimIds(storage)).toEqual([skipSecond!.id]);

    const blocked = await storage.listBlockedKeys({ subscriptionId: 'sub_a', limit: 10 });
    expect(blocked).toEqual({
      items: [{ subscriptionId: 'sub_a', orderingKey: 'pay_1', delivery: await reread(storage, first), waiting: 2 }],
      nextCursor: null,
    });
    expect(await storage.listBlockedKeys({ subscriptionId: 'sub_skip', limit: 10 })).toEqual({ items: [], nextCursor: null });
  });

  it('a hold (410 disable) keeps the head; enable makes it due and leaves the ones behind it waiting', async () => {
    const { storage, sub } = await fixture();
    const first = await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    await attempt(storage, first, { kind: 'disable', reason: 'gone' });
    expect(await reread(storage, first)).toMatchObject({ status: 'held' });
    expect(await reread(storage, second)).toMatchObject({ status: 'held', nextAttemptAt: null });
    const now = tick();
    await storage.setSubscriptionStatus(sub.id, { status: 'active' }, now);
    expect(await reread(storage, first)).toMatchObject({ status: 'pending', nextAttemptAt: now });
    expect(await reread(storage, second)).toMatchObject({ status: 'pending', nextAttemptAt: null });
    expect(await claimIds(storage)).toEqual([first.id]);
  });
});

describe('enabling a subscription', () => {
  it('resumes the head, a passed one and unordered ones due at once; a held one behind its head keeps waiting', async () => {
    const { storage, sub } = await fixture();
    const first = await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    const unordered = await publish(storage, null);
    await storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, tick());
    // Published while disabled: none, the subscription receives nothing then.
    const now = tick();
    await storage.setSubscriptionStatus(sub.id, { status: 'active' }, now);
    expect(await reread(storage, first)).toMatchObject({ status: 'pending', nextAttemptAt: now });
    expect(await reread(storage, second)).toMatchObject({ status: 'pending', nextAttemptAt: null });
    expect(await reread(storage, unordered)).toMatchObject({ status: 'pending', nextAttemptAt: now });
  });

  it('a head delivered while the subscription was disabled moves to the held next one, which is due on enable', async () => {
    const { storage, sub } = await fixture();
    const first = await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    const third = await publish(storage, 'pay_1');
    const now = tick();
    const [claimed] = await storage.claimDue({ limit: 1, leaseMs: ACTIVE_LEASE_MS, now });
    expect(claimed!.delivery.id).toBe(first.id);
    await storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, tick());
    const [settled] = await storage.settle(
      [
        {
          deliveryId: first.id,
          leaseToken: claimed!.leaseToken,
          attempt: { id: createId('att', clock), startedAt: now, durationMs: 5, statusCode: 200, errorClass: null, errorMessage: null, responseSnippet: null },
          outcome: { kind: 'delivered' },
        },
      ],
      tick(),
    );
    expect(settled).toMatchObject({ ok: true, delivery: { status: 'delivered' } });
    expect(keyState(storage, 'sub_a', 'pay_1')).toEqual({ lastSeq: 3, headSeq: 2 });
    expect(await reread(storage, second)).toMatchObject({ status: 'held', nextAttemptAt: null });
    const enabled = tick();
    await storage.setSubscriptionStatus(sub.id, { status: 'active' }, enabled);
    expect(await reread(storage, second)).toMatchObject({ status: 'pending', nextAttemptAt: enabled });
    expect(await reread(storage, third)).toMatchObject({ status: 'pending', nextAttemptAt: null });
  });
});

describe('skipDelivery', () => {
  it('lets a blocked key move on: the dead delivery stays as it is, the next one is due at `now`', async () => {
    const { storage } = await fixture();
    const first = await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    const dead = await attempt(storage, first, { kind: 'dead' });
    const now = tick();
    const stored = await reread(storage, first);
    expect(await storage.skipDelivery(first.id, now)).toEqual(stored);
    expect(await reread(storage, first)).toEqual(stored);
    expect(stored).toMatchObject({ status: 'dead', updatedAt: dead.updatedAt });
    expect(await reread(storage, second)).toMatchObject({ status: 'pending', nextAttemptAt: now });
    expect(await storage.listBlockedKeys({ subscriptionId: 'sub_a', limit: 10 })).toEqual({ items: [], nextCursor: null });
    // Skipped once: it no longer blocks.
    expect(await storage.skipDelivery(first.id, tick())).toBe('not_blocking');
  });

  it("answers 'not_found', and 'not_blocking' for an unordered dead delivery, a pending head and a waiting one", async () => {
    const { storage } = await fixture();
    expect(await storage.skipDelivery('dlv_missing', tick())).toBe('not_found');
    const unordered = await publish(storage, null);
    await attempt(storage, unordered, { kind: 'dead' });
    const head = await publish(storage, 'pay_1');
    const waiting = await publish(storage, 'pay_1');
    expect(await storage.skipDelivery(unordered.id, tick())).toBe('not_blocking');
    expect(await storage.skipDelivery(head.id, tick())).toBe('not_blocking');
    expect(await storage.skipDelivery(waiting.id, tick())).toBe('not_blocking');
    expect(keyState(storage, 'sub_a', 'pay_1')).toEqual({ lastSeq: 2, headSeq: 1 });
  });

  it('with nothing behind the dead head, leaves the key idle: its next delivery is due at once', async () => {
    const { storage } = await fixture();
    const only = await publish(storage, 'pay_1');
    await attempt(storage, only, { kind: 'dead' });
    await storage.skipDelivery(only.id, tick());
    expect(keyState(storage, 'sub_a', 'pay_1')).toEqual({ lastSeq: 1, headSeq: 2 });
    expect(await publish(storage, 'pay_1')).toMatchObject({ orderingSequence: 2, nextAttemptAt: clock });
  });
});

describe('redeliver', () => {
  it('of a dead head: due at once, and its delivery unblocks the key', async () => {
    const { storage } = await fixture();
    const first = await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    await attempt(storage, first, { kind: 'dead' });
    const now = tick();
    expect(await storage.redeliver(first.id, now)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: now, orderingSequence: 1 });
    expect(await reread(storage, second)).toMatchObject({ nextAttemptAt: null });
    await attempt(storage, first, { kind: 'delivered' });
    expect(await reread(storage, second)).toMatchObject({ nextAttemptAt: clock });
  });

  it('of a waiting one: a fresh cycle, still waiting', async () => {
    const { storage } = await fixture();
    await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    const redelivered = await storage.redeliver(second.id, tick());
    expect(redelivered).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: null, orderingSequence: 2 });
    expect(await claimIds(storage)).not.toContain(second.id);
  });

  it('of a passed one: sent at once, outside the order, and its delivery moves no head', async () => {
    const { storage } = await fixture();
    const first = await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    const third = await publish(storage, 'pay_1');
    await attempt(storage, first, { kind: 'delivered' });
    const now = tick();
    expect(await storage.redeliver(first.id, now)).toMatchObject({ nextAttemptAt: now });
    await attempt(storage, first, { kind: 'delivered' });
    expect(keyState(storage, 'sub_a', 'pay_1')).toEqual({ lastSeq: 3, headSeq: 2 });
    expect(await reread(storage, second)).toMatchObject({ status: 'pending' });
    expect((await reread(storage, second)).nextAttemptAt).not.toBeNull();
    expect(await reread(storage, third)).toMatchObject({ nextAttemptAt: null });
  });
});

describe('replay', () => {
  it('appends the created deliveries in event order and requeues a dead head due at once', async () => {
    const { storage } = await fixture();
    const since = clock;
    // Published before sub_b existed: replayed to it later.
    const events = [orderedInput('pay_1'), orderedInput('pay_1'), orderedInput('pay_2')];
    for (const input of events) await storage.enqueue(input);
    await storage.createSubscription(subscription({ id: 'sub_b' }));
    const now = tick();
    expect(await storage.replay({ subscriptionId: 'sub_b', since, eventTypes: ['payment.succeeded'], now, dryRun: true })).toEqual({ count: 3 });
    expect(keyState(storage, 'sub_b', 'pay_1')).toBeUndefined();
    expect(await storage.replay({ subscriptionId: 'sub_b', since, eventTypes: ['payment.succeeded'], now })).toEqual({ count: 3 });
    const created = (await storage.listDeliveries({ subscriptionId: 'sub_b', limit: 10 })).items;
    const byEvent = new Map(created.map((d) => [d.eventId, d]));
    expect(events.map((input) => byEvent.get(input.event.id)).map((d) => [d!.orderingKey, d!.orderingSequence, d!.nextAttemptAt])).toEqual([
      ['pay_1', 1, now],
      ['pay_1', 2, null],
      ['pay_2', 1, now],
    ]);

    // sub_a's head of pay_1 dies, blocking; a replay requeues it due at once, the next still waits.
    const [headA, nextA] = events.slice(0, 2).map((input) => input.event.id);
    const head = (await storage.listDeliveries({ eventId: headA!, subscriptionId: 'sub_a', limit: 1 })).items[0]!;
    await attempt(storage, head, { kind: 'dead' });
    const later = tick();
    expect(await storage.replay({ subscriptionId: 'sub_a', since, eventTypes: ['payment.succeeded'], now: later })).toEqual({ count: 1 });
    expect(await reread(storage, head)).toMatchObject({ status: 'pending', nextAttemptAt: later });
    expect((await storage.listDeliveries({ eventId: nextA!, subscriptionId: 'sub_a', limit: 1 })).items[0]).toMatchObject({ nextAttemptAt: null });
  });

  it('to a disabled subscription, creates held deliveries numbered in order, the head due on enable', async () => {
    const { storage } = await fixture();
    const since = clock;
    const events = [orderedInput('pay_1'), orderedInput('pay_1')];
    for (const input of events) await storage.enqueue(input);
    await storage.createSubscription(subscription({ id: 'sub_b', status: 'disabled', disabledReason: 'new', disabledAt: clock }));
    await storage.replay({ subscriptionId: 'sub_b', since, eventTypes: ['payment.succeeded'], now: tick() });
    const held = (await storage.listDeliveries({ subscriptionId: 'sub_b', limit: 10 })).items.reverse();
    expect(held.map((d) => [d.status, d.orderingSequence, d.nextAttemptAt])).toEqual([
      ['held', 1, null],
      ['held', 2, null],
    ]);
    const now = tick();
    await storage.setSubscriptionStatus('sub_b', { status: 'active' }, now);
    expect((await storage.listDeliveries({ subscriptionId: 'sub_b', limit: 10 })).items.reverse().map((d) => d.nextAttemptAt)).toEqual([now, null]);
  });
});

describe('expungeEvents', () => {
  it('a cancelled head passes to the next waiting one; a cancelled waiting one is stepped over', async () => {
    const { storage } = await fixture();
    const first = await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    const third = await publish(storage, 'pay_1');
    const now = tick();
    expect(await storage.expungeEvents([second.eventId], now)).toMatchObject({ events: 1, cancelled: 1 });
    expect(keyState(storage, 'sub_a', 'pay_1')).toEqual({ lastSeq: 3, headSeq: 1 });
    const later = tick();
    expect(await storage.expungeEvents([first.eventId], later)).toMatchObject({ events: 1, cancelled: 1 });
    expect(await reread(storage, third)).toMatchObject({ status: 'pending', nextAttemptAt: later });
    expect(keyState(storage, 'sub_a', 'pay_1')).toEqual({ lastSeq: 3, headSeq: 3 });
  });

  it('expunging the head and the next one in one call moves the head past both', async () => {
    const { storage } = await fixture();
    const first = await publish(storage, 'pay_1');
    const second = await publish(storage, 'pay_1');
    const third = await publish(storage, 'pay_1');
    const now = tick();
    await storage.expungeEvents([second.eventId, first.eventId], now);
    expect(await reread(storage, third)).toMatchObject({ nextAttemptAt: now });
    expect(await claimIds(storage)).toEqual([third.id]);
  });
});

describe('retention and deletion', () => {
  it('purgeRetention and purge never remove a dead delivery that blocks its key; a passed dead one goes', async () => {
    const { storage } = await fixture({ orderingOnDead: 'skip' });
    await storage.createSubscription(subscription({ id: 'sub_block' }));
    const skipped = await publish(storage, 'pay_1');
    const [blocking] = (await storage.listDeliveries({ subscriptionId: 'sub_block', limit: 1 })).items;
    await attempt(storage, skipped, { kind: 'dead' });
    await attempt(storage, blocking!, { kind: 'dead' });
    const cutoff = clock + 1;
    const result = await storage.purgeRetention({ deliveredBefore: cutoff, deadBefore: cutoff, eventsBefore: cutoff, limit: 10, now: cutoff });
    expect(result).toMatchObject({ deliveries: 1, events: 0, more: false });
    expect(await storage.getDelivery(skipped.id)).toBeNull();
    expect(await storage.getDelivery(blocking!.id)).toMatchObject({ status: 'dead' });
    expect(await storage.purge({ olderThan: cutoff })).toMatchObject({ deliveries: 0, events: 0 });
    expect(await storage.getDelivery(blocking!.id)).toMatchObject({ status: 'dead' });
    // Skipped, it no longer blocks: retention takes it.
    await storage.skipDelivery(blocking!.id, tick());
    expect(await storage.purge({ olderThan: cutoff })).toMatchObject({ deliveries: 1, events: 1 });
  });

  it('deleteSubscription and purgeTenant remove the subscriptions\' key records', async () => {
    const { storage } = await fixture();
    await storage.createSubscription(subscription({ id: 'sub_t', tenantId: 'acme' }));
    await publish(storage, 'pay_1');
    const tenantInput = orderedInput('pay_1');
    tenantInput.event.tenantId = 'acme';
    await storage.enqueue(tenantInput);
    expect(keyState(storage, 'sub_t', 'pay_1')).toEqual({ lastSeq: 1, headSeq: 1 });
    expect(await storage.deleteSubscription('sub_a')).toBe(true);
    expect(keyState(storage, 'sub_a', 'pay_1')).toBeUndefined();
    expect(await storage.purgeTenant({ tenantId: 'acme', limit: 100, now: tick(), force: false })).toMatchObject({ subscriptions: 1, done: true });
    expect(storage.database.prepare('SELECT COUNT(*) FROM webhook_ordering_keys').pluck().get()).toBe(0);
    expect(storage.database.pragma('foreign_key_check')).toEqual([]);
  });
});

describe("a tenant's removal", () => {
  it("passes an all-tenant consumer's key head that goes with the tenant's events: the next one, of another tenant, is due", async () => {
    const { storage } = await fixture();
    await storage.createSubscription(subscription({ id: 'sub_all', allTenants: true }));
    const tenantEvent = (tenantId: string) => {
      const input = orderedInput('acct_1');
      input.event.tenantId = tenantId;
      return input;
    };
    const acme = tenantEvent('acme');
    const globex = tenantEvent('globex');
    const acmeLater = tenantEvent('acme');
    for (const input of [acme, globex, acmeLater]) await storage.enqueue(input);
    const consumer = async (input: EnqueueInput) => (await storage.listDeliveries({ eventId: input.event.id, subscriptionId: 'sub_all', limit: 1 })).items[0];
    expect((await consumer(globex))!).toMatchObject({ orderingSequence: 2, nextAttemptAt: null });
    const now = tick();
    expect(await storage.purgeTenant({ tenantId: 'acme', limit: 100, now, force: false })).toMatchObject({ events: 2, deliveries: 2, done: true });
    expect(await consumer(acme)).toBeUndefined();
    expect((await consumer(globex))!).toMatchObject({ status: 'pending', orderingSequence: 2, nextAttemptAt: now });
    expect(keyState(storage, 'sub_all', 'acct_1')).toEqual({ lastSeq: 3, headSeq: 2 });
  });
});

describe('listBlockedKeys', () => {
  it('pages by the blocking delivery id, oldest first, and refuses an unreadable cursor', async () => {
    const { storage } = await fixture();
    const heads: DeliveryRecord[] = [];
    for (const key of ['k1', 'k2', 'k3']) {
      heads.push(await publish(storage, key));
      await publish(storage, key);
    }
    await publish(storage, 'k3');
    for (const head of heads) await attempt(storage, head, { kind: 'dead' });
    const first = await storage.listBlockedKeys({ subscriptionId: 'sub_a', limit: 2 });
    expect(first.items.map((b) => [b.orderingKey, b.delivery.id, b.waiting])).toEqual([
      ['k1', heads[0]!.id, 1],
      ['k2', heads[1]!.id, 1],
    ]);
    expect(first.nextCursor).not.toBeNull();
    const second = await storage.listBlockedKeys({ subscriptionId: 'sub_a', limit: 2, cursor: first.nextCursor! });
    expect(second.items.map((b) => [b.orderingKey, b.waiting])).toEqual([['k3', 2]]);
    expect(second.nextCursor).toBeNull();
    expect(await rejectionOf(storage.listBlockedKeys({ subscriptionId: 'sub_a', limit: 2, cursor: 'nope!' }))).toMatchObject({ code: 'CURSOR_INVALID' });
    // A cursor of the delivery log names a delivery id too, but belongs to another list.
    const logCursor = (await storage.listDeliveries({ subscriptionId: 'sub_a', limit: 1 })).nextCursor!;
    expect(await rejectionOf(storage.listBlockedKeys({ subscriptionId: 'sub_a', limit: 2, cursor: logCursor }))).toMatchObject({ code: 'CURSOR_INVALID' });
    expect(await storage.listBlockedKeys({ subscriptionId: 'sub_missing', limit: 2 })).toEqual({ items: [], nextCursor: null });
  });
});

describe('the subscription record', () => {
  it('keeps orderingOnDead as created and patched, logged in the change log', async () => {
    const { storage, sub } = await fixture({ orderingOnDead: 'skip' });
    expect(sub.orderingOnDead).toBe('skip');
    const audit = { id: createId('chg', tick()), action: 'updated' as const, actor: 'ops', reason: null, isSensitiveHeader: () => false };
    const updated = await storage.updateSubscription(sub.id, { orderingOnDead: 'block' }, clock, audit);
    expect(updated).toMatchObject({ orderingOnDead: 'block' });
    expect(await storage.getSubscriptionChange(audit.id)).toMatchObject({ changes: { orderingOnDead: { before: 'skip', after: 'block' } } });
    expect((await storage.listSubscriptions({ limit: 10 })).items[0]).toMatchObject({ orderingOnDead: 'block' });
  });

  it("refuses a stored orderingOnDead other than 'block' or 'skip' (the column's CHECK)", async () => {
    const { storage } = await fixture();
    expect(() => storage.database.prepare("UPDATE webhook_subscriptions SET ordering_on_dead = 'drop'").run()).toThrow(/CHECK/);
  });
});
