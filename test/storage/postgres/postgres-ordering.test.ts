/**
 * Per-key ordering on the PostgreSQL storage (the rules: src/storage/shared/ordering.ts), at
 * the adapter's level, on a real PostgreSQL, in schemas of this file's own: a keyed publish
 * appends in its one statement (an unordered one keeps the statement it had), settles move
 * the head (an unordered batch still one statement), skip and listBlockedKeys, enable,
 * redeliver, replay, expunge, retention and the removals, and the race the key lock exists
 * for — a settle that passes a head while a host transaction's publish of the key is open.
 */
import { describe, expect, it } from 'vitest';
import { createId } from '../../../src/ids.js';
import type { PostgresStorage } from '../../../src/storage/postgres/index.js';
import { postgresStatements } from '../../../src/storage/postgres/statements/index.js';
import type { ClaimedDelivery, DeliveryRecord, EnqueueInput, Settlement, StorageAdapter, SubscriptionRecord } from '../../../src/storage/storage-adapter.js';
import { admin, migrated, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { recordingHostClient, recordingStorage } from '../../support/postgres-recording.js';
import { NOW, subscription } from '../../support/storage-records.js';

usePostgresDatabase();

const LEASE_MS = 30_000;

function keyed(orderingKey: string | null, extra: Partial<EnqueueInput> & { tenantId?: string | null; type?: string; at?: number } = {}): EnqueueInput {
  const { tenantId = null, type = 'payment.succeeded', at = NOW, ...rest } = extra;
  const id = createId('evt', at);
  return {
    event: { id, type, timestamp: at, payload: JSON.stringify({ id, type, data: {} }), idempotencyKey: null, tenantId, orderingKey },
    now: at,
    ...rest,
  };
}

function settlement(claimed: ClaimedDelivery, outcome: Settlement['outcome'], at = NOW + 1): Settlement {
  return {
    deliveryId: claimed.delivery.id,
    leaseToken: claimed.leaseToken,
    attempt: {
      id: createId('att', at),
      startedAt: at,
      durationMs: 5,
      statusCode: outcome.kind === 'delivered' ? 200 : 503,
      errorClass: outcome.kind === 'delivered' ? null : 'http',
      errorMessage: outcome.kind === 'delivered' ? null : 'HTTP 503',
      responseSnippet: null,
    },
    outcome,
  };
}

/** The subscription's deliveries of events published with `orderingKey`, in sequence order. */
async function keyDeliveries(storage: StorageAdapter, subscriptionId: string, orderingKey: string): Promise<DeliveryRecord[]> {
  const { items } = await storage.listDeliveries({ subscriptionId, limit: 500 });
  return items.filter((d) => d.orderingKey === orderingKey).sort((a, b) => a.orderingSequence! - b.orderingSequence!);
}

async function claimAll(storage: StorageAdapter, now = NOW): Promise<ClaimedDelivery[]> {
  return storage.claimDue({ now, limit: 100, leaseMs: LEASE_MS });
}

/** A storage whose pool statements are recorded, with an unordered subscription and one taking the `invoice.*` events. */
async function recordedPair() {
  const schema = (await migrated()).schema;
  const { storage, texts } = await recordingStorage(schema);
  const plain = await storage.createSubscription(subscription());
  const ordered = await storage.createSubscription(subscription({ eventTypes: ['invoice.*'] }));
  return { storage, texts, sql: postgresStatements(schema), plain, ordered };
}

/** Two events of key `inv_1` for `ordered` and one unordered for `plain`, claimed at NOW + 5: the key's head and the unordered delivery. */
async function headAndOther(storage: StorageAdapter, ordered: SubscriptionRecord, plain: SubscriptionRecord) {
  await storage.enqueue(keyed('inv_1', { type: 'invoice.paid' }));
  await storage.enqueue(keyed('inv_1', { type: 'invoice.paid' }));
  await storage.enqueue(keyed(null));
  const claimed = await claimAll(storage, NOW + 5);
  return { head: claimed.find((c) => c.delivery.subscriptionId === ordered.id)!, other: claimed.find((c) => c.delivery.subscriptionId === plain.id)! };
}

async function keyRow(storage: PostgresStorage, subscriptionId: string, orderingKey: string): Promise<{ last_seq: string; head_seq: string } | undefined> {
  const { rows } = await admin.query(`SELECT last_seq, head_seq FROM "${storage.schema}".ordering_keys WHERE subscription_id = $1 AND ordering_key = $2`, [
    subscriptionId,
    orderingKey,
  ]);
  return rows[0];
}

describe('a keyed publish', () => {
  it('numbers each subscription’s deliveries of a key 1, 2, 3 in publish order: the first due, the rest waiting with no next attempt, in one statement', async () => {
    const schema = (await migrated()).schema;
    const { storage, texts } = await recordingStorage(schema);
    const sql = postgresStatements(schema);
    const a = await storage.createSubscription(subscription());
    const b = await storage.createSubscription(subscription());
    texts.length = 0;
    const first = await storage.enqueue(keyed('pay_1'));
    expect(texts).toEqual([sql.enqueueOrdered]);
    expect(first).toMatchObject({ created: true, deliveryCount: 2, event: { orderingKey: 'pay_1' } });
    await storage.enqueue(keyed('pay_1'));
    await storage.enqueue(keyed('pay_1'));
    texts.length = 0;
    await storage.enqueue(keyed(null));
    // An unordered event keeps the publish statement it always had.
    expect(texts).toEqual([sql.enqueue]);
    expect(await storage.getEvent(first.event.id)).toMatchObject({ orderingKey: 'pay_1' });
    for (const sub of [a, b]) {
      const deliveries = await keyDeliveries(storage, sub.id, 'pay_1');
      expect(deliveries.map((d) => [d.orderingSequence, d.status, d.nextAttemptAt])).toEqual([
        [1, 'pending', NOW],
        [2, 'pending', null],
        [3, 'pending', null],
      ]);
    }
    // Claims, nextDueAt and stats: the waiting ones are pending, never due.
    const claimed = await claimAll(storage);
    expect(claimed.map((c) => [c.delivery.subscriptionId, c.delivery.orderingSequence, c.event.orderingKey]).sort()).toEqual(
      [
        [a.id, 1, 'pay_1'],
        [b.id, 1, 'pay_1'],
        [a.id, null, null],
        [b.id, null, null],
      ].sort(),
    );
    expect(await storage.nextDueAt(NOW)).toBeGreaterThan(NOW + LEASE_MS / 2);
    expect(await storage.stats(NOW, { subscriptionId: a.id })).toMatchObject({ pending: 4, leased: 2 });
  });

  it('inside the host’s transaction: one statement, and a rollback leaves no number taken', async () => {
    const storage = await migrated();
    const sql = postgresStatements(storage.schema);
    const sub = await storage.createSubscription(subscription());
    const { client, tx, texts } = await recordingHostClient();
    await client.query('BEGIN');
    await storage.enqueue(keyed('pay_1', { tx }));
    expect(texts).toEqual([sql.enqueueOrdered]);
    await client.query('ROLLBACK');
    expect(await keyRow(storage, sub.id, 'pay_1')).toBeUndefined();
    await client.query('BEGIN');
    await storage.enqueue(keyed('pay_1', { tx }));
    await client.query('COMMIT');
    expect((await keyDeliveries(storage, sub.id, 'pay_1')).map((d) => [d.orderingSequence, d.nextAttemptAt])).toEqual([[1, NOW]]);
  });
});

describe('settling the head of a key', () => {
  it('delivered: the next waiting one is due at the settle’s now; retry keeps the head; the key goes idle when nothing waits', async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription());
    for (let i = 0; i < 3; i++) await storage.enqueue(keyed('pay_1'));
    let [head] = await claimAll(storage);
    expect(head!.delivery.orderingSequence).toBe(1);
    expect(await storage.settle([settlement(head!, { kind: 'retry', nextAttemptAt: NOW + 60_000 })], NOW + 1)).toMatchObject([{ ok: true }]);
    // Retrying: still the head, and the others still wait.
    expect((await keyDeliveries(storage, sub.id, 'pay_1')).map((d) => d.nextAttemptAt)).toEqual([NOW + 60_000, null, null]);
    expect(await claimAll(storage, NOW + 30_000)).toEqual([]);
    [head] = await claimAll(storage, NOW + 60_000);
    expect(await storage.settle([settlement(head!, { kind: 'delivered' }, NOW + 60_001)], NOW + 60_002)).toMatchObject([
      { ok: true, delivery: { status: 'delivered', orderingSequence: 1 } },
    ]);
    expect((await keyDeliveries(storage, sub.id, 'pay_1')).map((d) => [d.status, d.nextAttemptAt])).toEqual([
      ['delivered', null],
      ['pending', NOW + 60_002],
      ['pending', null],
    ]);
    for (const expected of [2, 3]) {
      const at = NOW + expected * 70_000;
      const [next] = await claimAll(storage, at);
      expect(next!.delivery.orderingSequence).toBe(expected);
      await storage.settle([settlement(next!, { kind: 'delivered' }, at + 1)], at + 2);
    }
    expect(await keyRow(storage, sub.id, 'pay_1')).toEqual({ last_seq: '3', head_seq: '4' });
    // Idle: the next publish of the key is due at once.
    await storage.enqueue(keyed('pay_1', { at: NOW + 300_000 }));
    expect((await keyDeliveries(storage, sub.id, 'pay_1')).at(-1)).toMatchObject({ orderingSequence: 4, nextAttemptAt: NOW + 300_000 });
  });

  it('keeps an unordered batch to one statement, and settles a mixed batch right: each result in its place, failingSince folded in batch order', async () => {
    const { storage, texts, sql, plain, ordered } = await recordedPair();
    await storage.enqueue(keyed(null));
    await storage.enqueue(keyed(null));
    const claimedPlain = await claimAll(storage);
    texts.length = 0;
    await storage.settle(claimedPlain.map((c) => settlement(c, { kind: 'delivered' })), NOW + 2);
    expect(texts).toEqual([sql.settle]);

    const { head, other } = await headAndOther(storage, ordered, plain);
    // The ordered subscription's settlements come first in batch order: a retry of the
    // unordered one (start), then the keyed delivered (clear) of the other subscription.
    const results = await storage.settle(
      [settlement(other, { kind: 'retry', nextAttemptAt: NOW + 99_000 }, NOW + 6), settlement(head, { kind: 'delivered' }, NOW + 7)],
      NOW + 8,
    );
    expect(results).toMatchObject([
      { ok: true, delivery: { id: other.delivery.id, status: 'pending' }, failingSince: NOW + 6 },
      { ok: true, delivery: { id: head.delivery.id, status: 'delivered' }, failingSince: null },
    ]);
    expect(await storage.getSubscription(plain.id)).toMatchObject({ failingSince: NOW + 6 });
    expect((await keyDeliveries(storage, ordered.id, 'inv_1')).map((d) => d.nextAttemptAt)).toEqual([null, NOW + 8]);
    // A lost lease is still reported as lost.
    expect(await storage.settle([settlement(head, { kind: 'delivered' })], NOW + 9)).toMatchObject([{ ok: false, code: 'STORAGE_LEASE_LOST' }]);
  });

  it('takes a batch whose settlements name a passing head’s key (Settlement.orderingKey) to the keyed transaction at once: no settle statement first, the same results', async () => {
    const { storage, texts, sql, plain, ordered } = await recordedPair();
    const { head, other } = await headAndOther(storage, ordered, plain);
    const named = (c: ClaimedDelivery, s: Settlement): Settlement => ({ ...s, orderingKey: c.delivery.orderingKey });
    // A retry names its key too, but cannot pass a head: that batch keeps its one statement.
    texts.length = 0;
    const retried = await storage.settle([named(head, settlement(head, { kind: 'retry', nextAttemptAt: NOW + 6 }, NOW + 6))], NOW + 6);
    expect(retried).toMatchObject([{ ok: true, delivery: { id: head.delivery.id, status: 'pending', nextAttemptAt: NOW + 6 } }]);
    expect(texts).toEqual([sql.settle]);
    const again = (await claimAll(storage, NOW + 6)).find((c) => c.delivery.id === head.delivery.id)!;
    texts.length = 0;
    const results = await storage.settle(
      [named(other, settlement(other, { kind: 'retry', nextAttemptAt: NOW + 99_000 }, NOW + 7)), named(again, settlement(again, { kind: 'delivered' }, NOW + 8))],
      NOW + 9,
    );
    // Every statement ran on the transaction's own client; none on the pool.
    expect(texts).toEqual([]);
    expect(results).toMatchObject([
      { ok: true, delivery: { id: other.delivery.id, status: 'pending' }, failingSince: NOW + 7 },
      { ok: true, delivery: { id: head.delivery.id, status: 'delivered' }, failingSince: null },
    ]);
    expect(await storage.getSubscription(plain.id)).toMatchObject({ failingSince: NOW + 7 });
    expect((await keyDeliveries(storage, ordered.id, 'inv_1')).map((d) => [d.status, d.nextAttemptAt])).toEqual([
      ['delivered', null],
      ['pending', NOW + 9],
    ]);
    expect(await storage.settle([named(again, settlement(again, { kind: 'delivered' }))], NOW + 10)).toMatchObject([{ ok: false, code: 'STORAGE_LEASE_LOST' }]);
  });

  it('dead under block holds the key (listBlockedKeys, paged); skipDelivery moves it on; dead under skip moves on by itself', async () => {
    const storage = await migrated();
    const blocking = await storage.createSubscription(subscription());
    const skipping = await storage.createSubscription(subscription({ orderingOnDead: 'skip' }));
    expect(skipping.orderingOnDead).toBe('skip');
    for (const key of ['k_a', 'k_b']) for (let i = 0; i < 3; i++) await storage.enqueue(keyed(key));
    const heads = await claimAll(storage);
    expect(heads).toHaveLength(4);
    await storage.settle(
      heads.map((c) => settlement(c, { kind: 'dead' })),
      NOW + 2,
    );
    // skip: the second of each key is due.
    for (const key of ['k_a', 'k_b']) {
      expect((await keyDeliveries(storage, skipping.id, key)).map((d) => [d.status, d.nextAttemptAt])).toEqual([
        ['dead', null],
        ['pending', NOW + 2],
        ['pending', null],
      ]);
    }
    // block: both keys blocked, each with two waiting.
    const first = await storage.listBlockedKeys({ subscriptionId: blocking.id, limit: 1 });
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).not.toBeNull();
    const second = await storage.listBlockedKeys({ subscriptionId: blocking.id, limit: 1, cursor: first.nextCursor! });
    expect(second.nextCursor).toBeNull();
    const blocked = [...first.items, ...second.items];
    expect(blocked.map((b) => [b.subscriptionId, b.orderingKey, b.delivery.status, b.delivery.orderingSequence, b.waiting])).toEqual([
      [blocking.id, 'k_a', 'dead', 1, 2],
      [blocking.id, 'k_b', 'dead', 1, 2],
    ]);
    expect(blocked[0]!.delivery.id < blocked[1]!.delivery.id).toBe(true);
    expect(await storage.listBlockedKeys({ subscriptionId: skipping.id, limit: 10 })).toEqual({ items: [], nextCursor: null });
    await expect(storage.listBlockedKeys({ subscriptionId: blocking.id, limit: 1, cursor: 'nope!' })).rejects.toMatchObject({ code: 'CURSOR_INVALID' });

    // skipDelivery: the dead one stays as it is, the key moves on.
    const [aHead] = await keyDeliveries(storage, blocking.id, 'k_a');
    expect(await storage.skipDelivery(aHead!.id, NOW + 3)).toEqual(aHead);
    expect((await keyDeliveries(storage, blocking.id, 'k_a')).map((d) => [d.status, d.nextAttemptAt])).toEqual([
      ['dead', null],
      ['pending', NOW + 3],
      ['pending', null],
    ]);
    expect(await storage.skipDelivery(aHead!.id, NOW + 4)).toBe('not_blocking');
    const waiting = (await keyDeliveries(storage, blocking.id, 'k_b'))[2]!;
    expect(await storage.skipDelivery(waiting.id, NOW + 4)).toBe('not_blocking');
    expect(await storage.skipDelivery('dlv_missing', NOW + 4)).toBe('not_found');
    await storage.enqueue(keyed(null));
    const unordered = (await storage.listDeliveries({ subscriptionId: blocking.id, limit: 100 })).items.find((d) => d.orderingKey === null)!;
    expect(await storage.skipDelivery(unordered.id, NOW + 4)).toBe('not_blocking');
    expect((await storage.listBlockedKeys({ subscriptionId: blocking.id, limit: 10 })).items.map((b) => b.orderingKey)).toEqual(['k_b']);
  });

  it('waits for a host transaction that is publishing the key, then makes its delivery due: no delivery is left waiting for ever', async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription());
    await storage.enqueue(keyed('pay_1'));
    const [head] = await claimAll(storage);
    const { client, tx } = await recordingHostClient();
    await client.query('BEGIN');
    await storage.enqueue(keyed('pay_1', { tx }));
    let settled = false;
    const settling = storage.settle([settlement(head!, { kind: 'delivered' })], NOW + 2).then((results) => {
      settled = true;
      return results;
    });
    // The settle waits for the key's row the host's publish holds.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(settled).toBe(false);
    await client.query('COMMIT');
    expect(await settling).toMatchObject([{ ok: true }]);
    expect((await keyDeliveries(storage, sub.id, 'pay_1')).map((d) => [d.orderingSequence, d.status, d.nextAttemptAt])).toEqual([
      [1, 'delivered', null],
      [2, 'pending', NOW + 2],
    ]);
  });
});

describe('the other writes of a key', () => {
  it('enable: the head is due, the ones behind it keep waiting', async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription());
    for (let i = 0; i < 3; i++) await storage.enqueue(keyed('pay_1'));
    await storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, NOW + 1);
    expect((await keyDeliveries(storage, sub.id, 'pay_1')).map((d) => [d.status, d.nextAttemptAt])).toEqual([
      ['held', null],
      ['held', null],
      ['held', null],
    ]);
    await storage.setSubscriptionStatus(sub.id, { status: 'active' }, NOW + 2);
    expect((await keyDeliveries(storage, sub.id, 'pay_1')).map((d) => [d.status, d.nextAttemptAt])).toEqual([
      ['pending', NOW + 2],
      ['pending', null],
      ['pending', null],
    ]);
  });

  it('redeliver: a waiting one gets a fresh cycle and keeps waiting; a dead head is due at once and unblocks its key once delivered', async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription());
    for (let i = 0; i < 3; i++) await storage.enqueue(keyed('pay_1'));
    const [head] = await claimAll(storage);
    await storage.settle([settlement(head!, { kind: 'dead' })], NOW + 2);
    const [, second] = await keyDeliveries(storage, sub.id, 'pay_1');
    expect(await storage.redeliver(second!.id, NOW + 3)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: null });
    expect(await storage.redeliver(head!.delivery.id, NOW + 4)).toMatchObject({ status: 'pending', nextAttemptAt: NOW + 4 });
    const [again] = await claimAll(storage, NOW + 4);
    expect(again!.delivery.id).toBe(head!.delivery.id);
    await storage.settle([settlement(again!, { kind: 'delivered' }, NOW + 5)], NOW + 6);
    expect((await keyDeliveries(storage, sub.id, 'pay_1')).map((d) => d.nextAttemptAt)).toEqual([null, NOW + 6, null]);
  });

  it('replay: the deliveries it creates are appended to the key in event order, the first due only if the key was idle', async () => {
    const storage = await migrated();
    const early = await storage.createSubscription(subscription({ eventTypes: ['invoice.*'] }));
    const published = [];
    for (let i = 0; i < 3; i++) published.push(await storage.enqueue(keyed('pay_1', { at: NOW + i })));
    const late = await storage.createSubscription(subscription({ createdAt: NOW + 10 }));
    const replayed = await storage.replay({ subscriptionId: late.id, since: NOW - 1, eventTypes: ['payment.succeeded'], now: NOW + 20 });
    expect(replayed).toEqual({ count: 3 });
    const created = await keyDeliveries(storage, late.id, 'pay_1');
    expect(created.map((d) => [d.eventId, d.orderingSequence, d.nextAttemptAt])).toEqual([
      [published[0]!.event.id, 1, NOW + 20],
      [published[1]!.event.id, 2, null],
      [published[2]!.event.id, 3, null],
    ]);
    expect(early.id).not.toBe(late.id);
    // A second replay finds nothing missing, and takes no number.
    expect(await storage.replay({ subscriptionId: late.id, since: NOW - 1, eventTypes: ['payment.succeeded'], now: NOW + 21 })).toEqual({ count: 0 });
    expect(await keyRow(storage, late.id, 'pay_1')).toEqual({ last_seq: '3', head_seq: '1' });
  });

  it('expunge: a cancelled head lets the key move on; a cancelled waiting one is stepped over', async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription());
    const events = [];
    for (let i = 0; i < 4; i++) events.push((await storage.enqueue(keyed('pay_1'))).event.id);
    expect(await storage.expungeEvents([events[0]!, events[1]!], NOW + 1)).toMatchObject({ events: 2, cancelled: 2 });
    expect((await keyDeliveries(storage, sub.id, 'pay_1')).map((d) => [d.status, d.nextAttemptAt])).toEqual([
      ['cancelled', null],
      ['cancelled', null],
      ['pending', NOW + 1],
      ['pending', null],
    ]);
    expect(await storage.expungeEvents([events[3]!], NOW + 2)).toMatchObject({ cancelled: 1 });
    const [head] = await claimAll(storage, NOW + 2);
    await storage.settle([settlement(head!, { kind: 'delivered' }, NOW + 3)], NOW + 4);
    expect(await keyRow(storage, sub.id, 'pay_1')).toEqual({ last_seq: '4', head_seq: '5' });
  });

  it('retention and purge never remove a dead delivery that blocks its key; once skipped, they may', async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription());
    await storage.enqueue(keyed('pay_1'));
    await storage.enqueue(keyed('pay_1'));
    const [head] = await claimAll(storage);
    await storage.settle([settlement(head!, { kind: 'dead' })], NOW + 2);
    const later = NOW + 10 * 86_400_000;
    expect(await storage.purgeRetention({ now: later, limit: 100, deliveredBefore: later, deadBefore: later, eventsBefore: null })).toMatchObject({
      deliveries: 0,
    });
    expect(await storage.purge({ olderThan: later })).toMatchObject({ deliveries: 0 });
    expect(await storage.getDelivery(head!.delivery.id)).toMatchObject({ status: 'dead' });
    await storage.skipDelivery(head!.delivery.id, NOW + 3);
    expect(await storage.purge({ olderThan: later })).toMatchObject({ deliveries: 1 });
    expect((await keyDeliveries(storage, sub.id, 'pay_1')).map((d) => [d.orderingSequence, d.nextAttemptAt])).toEqual([[2, NOW + 3]]);
  });

  it('a key’s record goes with its subscription; a tenant’s removal that takes a consumer’s head moves the consumer’s key on', async () => {
    const storage = await migrated();
    const consumer = await storage.createSubscription(subscription({ allTenants: true }));
    const own = await storage.createSubscription(subscription({ tenantId: 'acme' }));
    await storage.enqueue(keyed('pay_1', { tenantId: 'acme' }));
    await storage.enqueue(keyed('pay_1', { tenantId: 'globex' }));
    expect((await keyDeliveries(storage, consumer.id, 'pay_1')).map((d) => d.nextAttemptAt)).toEqual([NOW, null]);
    let result;
    do result = await storage.purgeTenant({ tenantId: 'acme', limit: 100, now: NOW + 1, force: false });
    while (result !== 'in_flight' && !result.done);
    expect((await keyDeliveries(storage, consumer.id, 'pay_1')).map((d) => [d.orderingSequence, d.nextAttemptAt])).toEqual([[2, NOW + 1]]);
    expect(await keyRow(storage, own.id, 'pay_1')).toBeUndefined();
    expect(await storage.deleteSubscription(consumer.id)).toBe(true);
    expect(await keyRow(storage, consumer.id, 'pay_1')).toBeUndefined();
  });

  it('keeps orderingOnDead: created, patched, logged', async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription());
    expect(await storage.getSubscription(sub.id)).toMatchObject({ orderingOnDead: 'block' });
    const audit = { id: createId('chg', NOW + 1), action: 'updated' as const, actor: 'ops', reason: null, isSensitiveHeader: () => false };
    const updated = await storage.updateSubscription(sub.id, { orderingOnDead: 'skip' }, NOW + 1, audit);
    expect(updated).toMatchObject({ orderingOnDead: 'skip', updatedAt: NOW + 1 });
    const { items } = await storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 10 });
    expect(items.at(-1)!.changes).toMatchObject({ orderingOnDead: { before: 'block', after: 'skip' } });
    await expect(admin.query(`UPDATE "${storage.schema}".subscriptions SET ordering_on_dead = 'drop'`)).rejects.toMatchObject({ code: '23514' });
  });
});

describe('migration 0011', () => {
  it('refuses a pending unordered delivery without a next attempt, and a key without a number', async () => {
    const storage = await migrated();
    const sub = await storage.createSubscription(subscription());
    const { event } = await storage.enqueue(keyed(null));
    const s = `"${storage.schema}"`;
    await expect(admin.query(`UPDATE ${s}.deliveries SET next_attempt_at = NULL WHERE event_id = $1`, [event.id])).rejects.toMatchObject({ code: '23514' });
    await expect(admin.query(`UPDATE ${s}.deliveries SET ordering_key = 'k' WHERE event_id = $1`, [event.id])).rejects.toMatchObject({ code: '23514' });
    expect(sub.orderingOnDead).toBe('block');
  });
});
