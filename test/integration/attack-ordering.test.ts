/**
 * Per-key ordering attacked as a hostile or careless host would, on every storage (memory, a
 * SQLite file, a PostgreSQL schema of its own), through the public API and the storage's own
 * calls, over real loopback HTTP, on an injected clock where backoff is involved: redeliver and
 * skip of deliveries in every state, bad keys and bad queries, disable, enable with
 * `replayMissed`, delete, policy changes, retention and replay around a key, a lease that
 * expires under a head, a custom retry function that answers nonsense, and the numbers the
 * receiver sees; on PostgreSQL two storages (two pools) racing on one key.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { ServerResponse } from 'node:http';
import { bookkeeperEvents, createWebhooks, type AttemptInput, type BookkeeperEvents, type DeliveryRecord, type Webhooks } from '../../src/index.js';
import { createId } from '../../src/ids.js';
import { createPostgresStorage } from '../../src/storage/postgres/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock, flush } from '../support/fake-clock.js';
import { LoopbackReceiver, type ReceivedRequest } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from '../support/postgres.js';

/** The key, number and event id a request carries (the key from its body, the number from its header). */
function orderingOf(request: ReceivedRequest): { key: string | undefined; sequence: number | null; id: string } {
  const envelope = JSON.parse(request.body.toString()) as { id: string; orderingKey?: string };
  const header = request.headers['webhook-sequence'];
  return { key: envelope.orderingKey, sequence: header === undefined ? null : Number(header), id: envelope.id };
}

/** A fake clock that can step back, as a host's clock does on an NTP correction. */
class SteppingClock extends FakeClock {
  stepBackMs = 0;
  override now(): number {
    return super.now() - this.stepBackMs;
  }
}

/** The deliveries of `eventIds` to `subscriptionId`, in the order of the ids. */
async function deliveriesOf(webhooks: Webhooks<BookkeeperEvents>, subscriptionId: string, eventIds: readonly string[]): Promise<DeliveryRecord[]> {
  const out: DeliveryRecord[] = [];
  for (const eventId of eventIds) {
    const { items } = await webhooks.deliveries.list({ eventId, subscriptionId });
    out.push(items[0]!);
  }
  return out;
}

describe.each(storageKinds)('ordering attacked on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'attack-ordering');

  /** Publishes `count` events of `key` and returns their ids, in publish order. */
  async function publishKey(webhooks: Webhooks<BookkeeperEvents>, key: string, count: number, from = 0): Promise<string[]> {
    const ids: string[] = [];
    for (let n = from; n < from + count; n++) ids.push((await webhooks.publish('payment.succeeded', samplePayment(n), { orderingKey: key })).id);
    return ids;
  }

  it('refuses every malformed ordering key with INPUT_INVALID and stores nothing; a 200-character key round-trips', async () => {
    const webhooks = env.instance();
    await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const bad: unknown[] = [
      '',
      'a\u0000b',
      '\u0000',
      'a\u007fb',
      'a\u0085b',
      'lone \ud800 high',
      'lone \udc00 low',
      '\ud83d',
      '😀'.repeat(201), // 201 characters (code points)
      'x'.repeat(201),
      42,
      0,
      true,
      {},
      ['acct_1'],
      Object('acct_1'),
      Symbol('k'),
      1n,
    ];
    for (const orderingKey of bad) {
      await expect(webhooks.publish('payment.succeeded', samplePayment(1), { orderingKey: orderingKey as never })).rejects.toMatchObject({
        code: 'INPUT_INVALID',
        field: 'options.orderingKey',
      });
    }
    expect((await webhooks.events.list()).items).toEqual([]);
    expect((await webhooks.deliveries.list()).items).toEqual([]);
    // The longest key, 200 characters (400 UTF-16 code units, 800 bytes of UTF-8), is stored and sent as given.
    const longest = `'"${'😀'.repeat(198)}`;
    expect([...longest]).toHaveLength(200);
    const event = await webhooks.publish('payment.succeeded', samplePayment(1), { orderingKey: longest });
    expect((await webhooks.events.get(event.id))!.orderingKey).toBe(longest);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(orderingOf(env.server.requests[0]!)).toMatchObject({ key: longest, sequence: 1 });
  });

  it('refuses bad blockedKeys and skip input with coded errors', async () => {
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    for (const query of [
      { subscriptionId: sub.id, limit: 0 },
      { subscriptionId: sub.id, limit: 1001 },
      { subscriptionId: sub.id, limit: 1.5 },
      { subscriptionId: sub.id, limit: '10' },
      { subscriptionId: sub.id, cursor: '' },
      { subscriptionId: sub.id, extra: true },
      { subscriptionId: '' },
      { subscriptionId: 'sub_\u0000' },
      { subscriptionId: 42 },
    ]) {
      await expect(webhooks.deliveries.blockedKeys(query as never), JSON.stringify(query)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    }
    await expect(webhooks.deliveries.blockedKeys(null as never)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(webhooks.deliveries.blockedKeys({ subscriptionId: sub.id, cursor: 'garbage' })).rejects.toMatchObject({ code: 'CURSOR_INVALID' });
    for (const id of ['', 42, null, undefined, 'dlv_\u0000']) {
      await expect(webhooks.deliveries.skip(id as never)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    }
  });

  it('refuses to skip anything but a dead head, with DELIVERY_NOT_BLOCKING, and moves nothing', async () => {
    env.server.responder = (request) => (orderingOf(request).key === 'acct_dead' ? { status: 500 } : { status: 204 });
    const webhooks = env.instance({ retry: { delaysMs: [] } });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const [head, waiting] = await publishKey(webhooks, 'acct_1', 2);
    const unordered = (await webhooks.publish('payment.succeeded', samplePayment(7))).id;
    const [pendingHead, waitingOne, unorderedOne] = await deliveriesOf(webhooks, sub.id, [head!, waiting!, unordered]);
    for (const d of [pendingHead!, waitingOne!, unorderedOne!]) {
      await expect(webhooks.deliveries.skip(d.id)).rejects.toMatchObject({ code: 'DELIVERY_NOT_BLOCKING' });
    }
    // Nothing moved: the waiting one still waits.
    expect(await webhooks.deliveries.get(waitingOne!.id)).toMatchObject({ status: 'pending', nextAttemptAt: null });
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const [delivered] = await deliveriesOf(webhooks, sub.id, [head!]);
    expect(delivered!.status).toBe('delivered');
    await expect(webhooks.deliveries.skip(delivered!.id)).rejects.toMatchObject({ code: 'DELIVERY_NOT_BLOCKING' });
    // An unordered dead one, and a dead one of a key that already moved on (skip policy).
    const skipping = await webhooks.subscriptions.create({ url: `${env.server.url}/skip`, eventTypes: ['refund.initiated'], ordering: { onDead: 'skip' } });
    const refund = await webhooks.publish('refund.initiated', bookkeeperEvents.examples['refund.initiated'], { orderingKey: 'acct_dead' });
    await webhooks.drain({ timeoutMs: 10_000 });
    const [passedDead] = await deliveriesOf(webhooks, skipping.id, [refund.id]);
    expect(passedDead!.status).toBe('dead');
    await expect(webhooks.deliveries.skip(passedDead!.id)).rejects.toMatchObject({ code: 'DELIVERY_NOT_BLOCKING' });
  });

  it('redelivers a delivered delivery at once, outside the order, while the key’s head is in flight; the next still waits for the head', async () => {
    const release = env.server.holdAnswers();
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const ids = await publishKey(webhooks, 'acct_1', 3);
    await webhooks.start();
    await env.server.waitFor(1);
    release();
    // The first delivered, the second in flight (held by the receiver), the third waiting.
    await env.server.waitFor(2);
    const [d1, d2, d3] = await deliveriesOf(webhooks, sub.id, ids);
    await expect.poll(async () => (await webhooks.deliveries.get(d1!.id))!.status).toBe('delivered');
    await expect(webhooks.deliveries.redeliver(d2!.id)).rejects.toMatchObject({ code: 'DELIVERY_IN_FLIGHT' });
    expect(await webhooks.deliveries.redeliver(d3!.id)).toMatchObject({ status: 'pending', nextAttemptAt: null });
    expect(await webhooks.deliveries.redeliver(d1!.id)).toMatchObject({ status: 'pending', orderingSequence: 1 });
    // The redelivered one goes at once, with its own number; the third does not.
    await env.server.waitFor(3);
    await flush(20);
    expect(env.server.requests.map((r) => orderingOf(r).sequence)).toEqual([1, 2, 1]);
    expect(orderingOf(env.server.requests[2]!).id).toBe(ids[0]);
    release();
    await env.server.waitFor(4);
    release();
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests.map((r) => orderingOf(r).sequence)).toEqual([1, 2, 1, 3]);
    expect((await deliveriesOf(webhooks, sub.id, ids)).map((d) => d.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect((await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id })).items).toEqual([]);
  });

  it('keeps the same key on two subscriptions independent: one blocked, the other flows, each numbered from 1', async () => {
    env.server.responder = (request) => (request.url.endsWith('/down') ? { status: 500 } : { status: 204 });
    const webhooks = env.instance({ retry: { delaysMs: [] } });
    const down = await webhooks.subscriptions.create({ url: `${env.server.url}/down`, eventTypes: ['payment.succeeded'] });
    const up = await webhooks.subscriptions.create({ url: `${env.server.url}/up`, eventTypes: ['payment.succeeded'] });
    const ids = await publishKey(webhooks, 'acct_1', 3);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const toUp = env.server.requests.filter((r) => r.url.endsWith('/up')).map(orderingOf);
    expect(toUp.map((o) => [o.id, o.sequence])).toEqual(ids.map((id, i) => [id, i + 1]));
    expect(env.server.requests.filter((r) => r.url.endsWith('/down')).map((r) => orderingOf(r).sequence)).toEqual([1]);
    expect((await webhooks.deliveries.blockedKeys({ subscriptionId: down.id })).items).toEqual([
      expect.objectContaining({ orderingKey: 'acct_1', waiting: 2 }),
    ]);
    expect((await webhooks.deliveries.blockedKeys({ subscriptionId: up.id })).items).toEqual([]);
  });

  it('keeps a key blocked when the policy moves from block to skip, and lets it go on a skip; the receiver sees the gap', async () => {
    env.server.responder = (request) => (orderingOf(request).sequence === 1 ? { status: 500 } : { status: 204 });
    const webhooks = env.instance({ retry: { delaysMs: [] } });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const ids = await publishKey(webhooks, 'acct_1', 3);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const [blocked] = (await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id })).items;
    expect(blocked).toMatchObject({ orderingKey: 'acct_1', waiting: 2, delivery: { eventId: ids[0] } });
    await webhooks.subscriptions.update(sub.id, { ordering: { onDead: 'skip' } });
    await webhooks.drain({ timeoutMs: 10_000 });
    // README: a key blocked already stays so until it is redelivered or skipped.
    expect((await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id })).items).toHaveLength(1);
    expect(env.server.requests).toHaveLength(1);
    await webhooks.deliveries.skip(blocked!.delivery.id);
    await webhooks.drain({ timeoutMs: 10_000 });
    const seen = env.server.requests.map((request) => verifyWebhook({ body: request.body, headers: request.headers }, { secrets: sub.secret }));
    expect(seen.map((event) => [event.id, event.orderingKey, event.sequence])).toEqual([
      [ids[0], 'acct_1', 1],
      [ids[1], 'acct_1', 2],
      [ids[2], 'acct_1', 3],
    ]);
    // A later redeliver of the skipped one repeats its number (the receiver takes it for a copy).
    await webhooks.deliveries.redeliver(blocked!.delivery.id);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(orderingOf(env.server.requests[3]!)).toMatchObject({ id: ids[0], sequence: 1 });
    // Numbers are never reused: the key's next event is 4.
    await publishKey(webhooks, 'acct_1', 1, 10);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(orderingOf(env.server.requests[4]!).sequence).toBe(4);
  });

  it('numbers on past purged deliveries: retention removes what passed, never what waits, and never reuses a number', async () => {
    const release = env.server.holdAnswers();
    const webhooks = env.instance({ retention: false });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const ids = await publishKey(webhooks, 'acct_1', 4);
    await webhooks.start();
    await env.server.waitFor(1);
    release();
    await env.server.waitFor(2);
    await expect.poll(async () => (await webhooks.deliveries.list({ status: 'delivered' })).items.length).toBe(1);
    // The first delivered, the second in flight, two waiting: purge everything final.
    const purged = await env.opened.storage.purge({ olderThan: Date.now() + 60_000 });
    expect(purged.deliveries).toBe(1);
    const left = await deliveriesOf(webhooks, sub.id, ids.slice(1));
    expect(left.map((d) => [d.orderingSequence, d.status])).toEqual([
      [2, 'pending'],
      [3, 'pending'],
      [4, 'pending'],
    ]);
    expect(left.slice(1).map((d) => d.nextAttemptAt)).toEqual([null, null]);
    release();
    await env.server.waitFor(3);
    release();
    await env.server.waitFor(4);
    release();
    await webhooks.drain({ timeoutMs: 10_000 });
    await env.opened.storage.purge({ olderThan: Date.now() + 60_000 });
    expect((await webhooks.deliveries.list()).items).toEqual([]);
    await publishKey(webhooks, 'acct_1', 1, 10);
    await env.server.waitFor(5);
    release();
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests.map((r) => orderingOf(r).sequence)).toEqual([1, 2, 3, 4, 5]);
  });

  it('a lease that expires under a head lets another claim take the head again, never the next; the stale settle is lost', async () => {
    const { storage } = env.opened;
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const ids = await publishKey(webhooks, 'acct_1', 2);
    const [d1, d2] = await deliveriesOf(webhooks, sub.id, ids);
    // On PostgreSQL leases run on the database clock: claim at the real time.
    const t0 = Date.now();
    const [first] = await storage.claimDue({ limit: 10, now: t0, leaseMs: 1 });
    expect(first!.delivery.id).toBe(d1!.id);
    while (Date.now() < t0 + 20) await new Promise((resolve) => setTimeout(resolve, 5));
    const again = await storage.claimDue({ limit: 10, now: Date.now(), leaseMs: 60_000 });
    expect(again.map((c) => c.delivery.id)).toEqual([d1!.id]);
    const attempt = (): AttemptInput => ({ id: createId('att'), startedAt: t0, durationMs: 1, statusCode: 204, errorClass: null, errorMessage: null, responseSnippet: null });
    const stale = await storage.settle([{ deliveryId: d1!.id, leaseToken: first!.leaseToken, attempt: attempt(), outcome: { kind: 'delivered' } }], Date.now());
    expect(stale).toEqual([{ ok: false, deliveryId: d1!.id, code: 'STORAGE_LEASE_LOST' }]);
    expect(await webhooks.deliveries.get(d2!.id)).toMatchObject({ status: 'pending', nextAttemptAt: null });
    expect(await storage.claimDue({ limit: 10, now: Date.now(), leaseMs: 60_000 })).toEqual([]);
    const fresh = await storage.settle([{ deliveryId: d1!.id, leaseToken: again[0]!.leaseToken, attempt: attempt(), outcome: { kind: 'delivered' } }], Date.now());
    expect(fresh[0]!.ok).toBe(true);
    expect((await storage.claimDue({ limit: 10, now: Date.now(), leaseMs: 60_000 })).map((c) => c.delivery.id)).toEqual([d2!.id]);
  });

  it('a deleted subscription blocks no key: blockedKeys lists nothing, skip refuses, and retention removes its dead deliveries', async () => {
    env.server.responder = () => ({ status: 500 });
    const webhooks = env.instance({ retry: { delaysMs: [] }, retention: false });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const ids = await publishKey(webhooks, 'acct_1', 3);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    const [blocked] = (await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id })).items;
    expect(blocked).toMatchObject({ orderingKey: 'acct_1', waiting: 2 });
    await webhooks.subscriptions.delete(sub.id);
    expect((await deliveriesOf(webhooks, sub.id, ids)).map((d) => d.status)).toEqual(['dead', 'cancelled', 'cancelled']);
    // Nothing can unblock it any more (redeliver refuses a deleted subscription's deliveries):
    // it blocks nothing, and is not kept as if an operator could still act on it.
    await expect(webhooks.deliveries.redeliver(blocked!.delivery.id)).rejects.toMatchObject({ code: 'SUBSCRIPTION_DELETED' });
    expect((await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id })).items).toEqual([]);
    await expect(webhooks.deliveries.skip(blocked!.delivery.id)).rejects.toMatchObject({ code: 'DELIVERY_NOT_BLOCKING' });
    const later = Date.now() + 60_000;
    expect((await env.opened.storage.purge({ olderThan: later })).deliveries).toBe(3);
    expect((await webhooks.deliveries.list({ subscriptionId: sub.id })).items).toEqual([]);
    expect((await webhooks.events.list()).items).toEqual([]);
  });

  it('a deleted subscription’s dead key head goes with retention batches too', async () => {
    env.server.responder = () => ({ status: 500 });
    const webhooks = env.instance({ retry: { delaysMs: [] }, retention: false });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    await publishKey(webhooks, 'acct_1', 2);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    await webhooks.subscriptions.delete(sub.id);
    const later = Date.now() + 60_000;
    const batch = await env.opened.storage.purgeRetention({ deliveredBefore: later, deadBefore: later, eventsBefore: null, limit: 100, now: Date.now() });
    expect(batch.deliveries).toBe(2);
  });

  it('keeps the order through a custom retry function that answers nonsense: the head is retried on the default schedule, the next waits', async () => {
    const clock = new FakeClock(Date.now());
    const answers: unknown[] = [Number.NaN, -1, 'soon', Number.POSITIVE_INFINITY, undefined, Promise.resolve(5)];
    let calls = 0;
    env.server.responder = (_request, index) => (index < answers.length ? { status: 503 } : { status: 204 });
    const webhooks = env.instance({ clock, random: () => 0.5, pollIntervalMs: 3_600_000, retry: () => answers[calls++] as never });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const ids = await publishKey(webhooks, 'acct_1', 2);
    const [d1, d2] = await deliveriesOf(webhooks, sub.id, ids);
    await webhooks.start();
    for (let failed = 1; failed <= answers.length; failed++) {
      await env.server.waitFor(failed);
      await expect.poll(async () => (await webhooks.deliveries.get(d1!.id))!.attempts).toBe(failed);
      const head = (await webhooks.deliveries.get(d1!.id))!;
      expect(head.status).toBe('pending');
      // The default schedule's wait after this attempt, not NaN, not now, not never.
      expect(head.nextAttemptAt! - clock.now()).toBe([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000][failed - 1]);
      expect(await webhooks.deliveries.get(d2!.id)).toMatchObject({ status: 'pending', nextAttemptAt: null });
      expect(env.server.requests.map((r) => orderingOf(r).sequence)).toEqual(Array.from({ length: failed }, () => 1));
      await clock.advance(head.nextAttemptAt! - clock.now());
    }
    await env.server.waitFor(answers.length + 2);
    expect(env.server.requests.map((r) => orderingOf(r).sequence)).toEqual([...answers.map(() => 1), 1, 2]);
  });

  it('holds a blocked key through disable and enable with replayMissed: the missed events queue behind it, in publish order', async () => {
    env.server.responder = (request) => (orderingOf(request).sequence === 1 ? { status: 500 } : { status: 204 });
    const webhooks = env.instance({ retry: { delaysMs: [] } });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const before = await publishKey(webhooks, 'acct_1', 2);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    await webhooks.subscriptions.disable(sub.id);
    const missed = await publishKey(webhooks, 'acct_1', 2, 10);
    const enabled = await webhooks.subscriptions.enable(sub.id, { replayMissed: true });
    expect(enabled.replayed).toBe(2);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests).toHaveLength(1);
    const [blocked] = (await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id })).items;
    expect(blocked).toMatchObject({ orderingKey: 'acct_1', waiting: 3, delivery: { eventId: before[0] } });
    await webhooks.deliveries.skip(blocked!.delivery.id);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests.map((r) => [orderingOf(r).id, orderingOf(r).sequence])).toEqual([
      [before[0], 1],
      [before[1], 2],
      [missed[0], 3],
      [missed[1], 4],
    ]);
  });

  it('takes no number for a publish repeated with its idempotency key, nor for one its host transaction rolled back', async () => {
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const first = await webhooks.publish('payment.succeeded', samplePayment(1), { orderingKey: 'acct_1', idempotencyKey: 'pay_1' });
    const again = await webhooks.publish('payment.succeeded', samplePayment(1), { orderingKey: 'acct_1', idempotencyKey: 'pay_1' });
    expect(again.id).toBe(first.id);
    // The same idempotency key with another ordering key is the first event, not a new one.
    expect((await webhooks.publish('payment.succeeded', samplePayment(1), { orderingKey: 'acct_2', idempotencyKey: 'pay_1' })).id).toBe(first.id);
    const rolledBack = new Error('the ledger write failed');
    if (kind === 'sqlite') {
      const db = (env.opened.storage as unknown as { database: { transaction: (fn: () => unknown) => () => unknown } }).database;
      expect(() =>
        db.transaction(() => {
          webhooks.publishSync('payment.succeeded', samplePayment(2), { orderingKey: 'acct_1', tx: db });
          throw rolledBack;
        })(),
      ).toThrow(rolledBack);
    } else if (kind === 'postgres') {
      const client = new pg.Client({ connectionString: testDatabaseUrl() });
      await client.connect();
      try {
        await client.query('BEGIN');
        await webhooks.publish('payment.succeeded', samplePayment(2), { orderingKey: 'acct_1', tx: client });
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
    }
    const next = await webhooks.publish('payment.succeeded', samplePayment(3), { orderingKey: 'acct_1' });
    expect((await deliveriesOf(webhooks, sub.id, [first.id, next.id])).map((d) => d.orderingSequence)).toEqual([1, 2]);
    expect((await webhooks.events.list()).items).toHaveLength(2);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests.map((r) => orderingOf(r).sequence)).toEqual([1, 2]);
  });

  it('a blocked key whose dead head is expunged stays blocked until skipped; a skip while disabled lets the next go on enable', async () => {
    env.server.responder = (request) => (orderingOf(request).sequence === 1 ? { status: 500 } : { status: 204 });
    const webhooks = env.instance({ retry: { delaysMs: [] } });
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const ids = await publishKey(webhooks, 'acct_1', 3);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    await webhooks.events.expunge(ids[0]!);
    const [blocked] = (await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id })).items;
    expect(blocked).toMatchObject({ orderingKey: 'acct_1', waiting: 2, delivery: { eventId: ids[0], status: 'dead' } });
    await expect(webhooks.deliveries.redeliver(blocked!.delivery.id)).rejects.toMatchObject({ code: 'EVENT_EXPUNGED' });
    await webhooks.subscriptions.disable(sub.id);
    expect(await webhooks.deliveries.skip(blocked!.delivery.id)).toMatchObject({ id: blocked!.delivery.id, status: 'dead' });
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests).toHaveLength(1);
    expect((await deliveriesOf(webhooks, sub.id, ids.slice(1))).map((d) => d.status)).toEqual(['held', 'held']);
    await webhooks.subscriptions.enable(sub.id);
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests.map((r) => [orderingOf(r).id, orderingOf(r).sequence])).toEqual([
      [ids[0], 1],
      [ids[1], 2],
      [ids[2], 3],
    ]);
  });

  it('numbers a replayed key by event time then id on every storage, even after the clock stepped back', async () => {
    const clock = new SteppingClock(Date.now());
    const webhooks = env.instance({ clock });
    const first = await webhooks.publish('payment.succeeded', samplePayment(1), { orderingKey: 'acct_1' });
    // The host's clock steps back a minute (an NTP correction): ids stay in publish order, times do not.
    clock.stepBackMs = 60_000;
    const second = await webhooks.publish('payment.succeeded', samplePayment(2), { orderingKey: 'acct_1' });
    expect(second.id > first.id).toBe(true);
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    expect(await webhooks.deliveries.replay({ subscriptionId: sub.id, since: 0 })).toEqual({ count: 2 });
    expect((await deliveriesOf(webhooks, sub.id, [second.id, first.id])).map((d) => d.orderingSequence)).toEqual([1, 2]);
  });

  // Fails today on every storage: the fix belongs in src/registry/subscription-registry.ts (see the report); flip to `it` with it.
  it('replays a keyed window behind the key’s head, and a dead head requeued by the replay goes first', async () => {
    env.server.responder = (request) => (request.url.endsWith('/erp') && orderingOf(request).sequence === 1 && env.server.requests.length <= 1 ? { status: 500 } : { status: 204 });
    const webhooks = env.instance({ retry: { delaysMs: [] } });
    const early = await publishKey(webhooks, 'acct_1', 2);
    // Created after those events: a replay gives it their deliveries, numbered in event order.
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.succeeded'] });
    const late = await publishKey(webhooks, 'acct_1', 2, 10);
    await webhooks.start();
    await webhooks.drain({ timeoutMs: 10_000 });
    // The first of the late ones died (500): the key is blocked.
    expect((await webhooks.deliveries.blockedKeys({ subscriptionId: sub.id })).items).toHaveLength(1);
    expect(await webhooks.deliveries.replay({ subscriptionId: sub.id, since: 0 })).toEqual({ count: 3 });
    await webhooks.drain({ timeoutMs: 10_000 });
    expect(env.server.requests.map((r) => [orderingOf(r).id, orderingOf(r).sequence])).toEqual([
      [late[0], 1],
      [late[0], 1],
      [late[1], 2],
      [early[0], 3],
      [early[1], 4],
    ]);
    // A second replay finds nothing to do.
    expect(await webhooks.deliveries.replay({ subscriptionId: sub.id, since: 0 })).toEqual({ count: 0 });
  });
});

describe('ordering attacked by two PostgreSQL storages (two pools) on one schema', () => {
  it('numbers one key once across both, and never has two of its deliveries in flight at once', async () => {
    const connectionString = testDatabaseUrl();
    const schema = randomSchemaName('attack_ordering_race');
    const one = createPostgresStorage({ connectionString, schema, poolSize: 3 });
    const two = createPostgresStorage({ connectionString, schema, poolSize: 3 });
    const server = await LoopbackReceiver.start();
    const instances: Array<Webhooks<BookkeeperEvents>> = [];
    try {
      await one.migrate();
      let inFlight = 0;
      let overlapping = 0;
      server.responder = (_request: ReceivedRequest, index: number, res: ServerResponse) => {
        inFlight++;
        if (inFlight > 1) overlapping++;
        setTimeout(() => {
          inFlight--;
          // Every fifth answer fails: the retry must keep the key's order.
          res.writeHead(index % 5 === 4 ? 503 : 204).end();
        }, 1 + (index % 3));
        return 'hang';
      };
      for (const storage of [one, two]) {
        instances.push(createWebhooks<BookkeeperEvents>({ meter: false, storage, concurrency: 8, retry: { delaysMs: [0, 0, 0] }, security: { allowPrivateNetworks: true } }));
      }
      const [a, b] = instances as [Webhooks<BookkeeperEvents>, Webhooks<BookkeeperEvents>];
      const sub = await a.subscriptions.create({ url: `${server.url}/erp`, eventTypes: ['payment.succeeded'] });
      await Promise.all([a.start(), b.start()]);
      // Both publish the one key at once, 30 each, while both dispatch.
      const published = await Promise.all(
        [a, b].map(async (webhooks, side) => {
          const ids: string[] = [];
          for (let n = 0; n < 30; n++) ids.push((await webhooks.publish('payment.succeeded', samplePayment(side * 100 + n), { orderingKey: 'acct_hot' })).id);
          return ids;
        }),
      );
      await expect.poll(async () => (await a.deliveries.list({ subscriptionId: sub.id, status: 'delivered', limit: 1000 })).items.length, { timeout: 20_000 }).toBe(60);
      const deliveries = (await a.deliveries.list({ subscriptionId: sub.id, limit: 1000 })).items;
      expect(deliveries.map((d) => d.orderingSequence).sort((x, y) => x! - y!)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      // Each side's publishes are numbered in its own publish order.
      for (const ids of published) {
        const seqs = ids.map((id) => deliveries.find((d) => d.eventId === id)!.orderingSequence!);
        expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
      }
      // At the receiver: a number is followed by itself (its retry) or the next one, never another; no overlap.
      const seen = server.requests.map((r) => orderingOf(r).sequence!);
      expect(seen[0]).toBe(1);
      for (let i = 1; i < seen.length; i++) expect(seen[i] === seen[i - 1] || seen[i] === seen[i - 1]! + 1, `${seen[i - 1]} then ${seen[i]}`).toBe(true);
      expect(seen[seen.length - 1]).toBe(60);
      expect(overlapping).toBe(0);
    } finally {
      for (const webhooks of instances) await webhooks.stop();
      await server.close();
      await one.close();
      await two.close();
      await dropSchema(connectionString, schema);
    }
  });
});
