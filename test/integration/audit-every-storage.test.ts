/**
 * Audit and compliance through the public API on every storage, over real loopback HTTP:
 * the change log of a subscription's life (who, why, what, announced on the bus), soft
 * delete (no new delivery, open ones cancelled, still readable) and hard delete, a
 * verified URL change, and erasure of events (payloads and response snippets gone, never
 * sent again).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ValidationError, type StoredEvent } from '../../src/index.js';
import { verifyWebhookSignature } from '../../src/receiver/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { rejectionOf } from '../support/rejections.js';
import { samplePayment } from '../support/sample-payment.js';

describe.each(storageKinds)('audit and erasure on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'audit');

  it('records each change with its actor and reason, pages the history, and announces each on the bus', async () => {
    const clock = new FakeClock(Date.parse('2026-12-01T09:00:00Z'));
    const webhooks = env.instance({ clock });
    const announced: Array<{ name: string; action: string; actor: string | null }> = [];
    for (const name of ['subscription:created', 'subscription:updated', 'subscription:secret-rotated', 'subscription:disabled', 'subscription:enabled', 'subscription:deleted'] as const) {
      webhooks.bus.on(name, (event) => announced.push({ name, action: event.change!.action, actor: event.change!.actor }));
    }
    const sub = await webhooks.subscriptions.create({ url: `${env.server.url}/erp`, eventTypes: ['payment.*'] }, { actor: 'alice', reason: 'ERP go-live' });
    await clock.advance(1_000);
    await webhooks.subscriptions.update(sub.id, { url: `${env.server.url}/erp-v2`, description: 'ERP v2' }, { actor: 'bob', reason: 'ERP moved' });
    await clock.advance(1_000);
    await webhooks.subscriptions.rotateSecret(sub.id, { actor: 'carol', overlapMs: 60_000 });
    await webhooks.subscriptions.disable(sub.id, { actor: 'dave', reason: 'ERP maintenance' });
    // A second disable changes nothing, so it records nothing.
    await webhooks.subscriptions.disable(sub.id, { actor: 'dave' });
    await webhooks.subscriptions.enable(sub.id, { actor: 'dave' });

    const { items } = await webhooks.subscriptions.history(sub.id);
    expect(items.map(({ action, actor, origin }) => ({ action, actor, origin }))).toEqual([
      { action: 'created', actor: 'alice', origin: 'api' },
      { action: 'updated', actor: 'bob', origin: 'api' },
      { action: 'secret_rotated', actor: 'carol', origin: 'api' },
      { action: 'disabled', actor: 'dave', origin: 'api' },
      { action: 'enabled', actor: 'dave', origin: 'api' },
    ]);
    expect(items[0]).toMatchObject({ subscriptionId: sub.id, tenantId: null, reason: 'ERP go-live', at: Date.parse('2026-12-01T09:00:00Z') });
    expect(items[1]).toMatchObject({
      reason: 'ERP moved',
      at: Date.parse('2026-12-01T09:00:01Z'),
      changes: { url: { before: `${env.server.url}/erp`, after: `${env.server.url}/erp-v2` }, description: { before: null, after: 'ERP v2' } },
    });
    expect(Object.keys(items[1]!.changes).sort()).toEqual(['description', 'url']);
    // The rotation shows the secrets' times, never a secret.
    const rotatedAt = Date.parse('2026-12-01T09:00:02Z');
    expect(items[2]!.changes.secrets).toEqual({
      before: [{ createdAt: sub.createdAt, expiresAt: null }],
      after: [
        { createdAt: rotatedAt, expiresAt: null },
        { createdAt: sub.createdAt, expiresAt: rotatedAt + 60_000 },
      ],
    });
    expect(items[3]!.changes).toEqual({ status: { before: 'active', after: 'disabled' }, disabledReason: { before: null, after: 'ERP maintenance' } });
    expect(announced).toEqual([
      { name: 'subscription:created', action: 'created', actor: 'alice' },
      { name: 'subscription:updated', action: 'updated', actor: 'bob' },
      { name: 'subscription:secret-rotated', action: 'secret_rotated', actor: 'carol' },
      { name: 'subscription:disabled', action: 'disabled', actor: 'dave' },
      { name: 'subscription:enabled', action: 'enabled', actor: 'dave' },
    ]);

    const first = await webhooks.subscriptions.history(sub.id, { limit: 2 });
    const second = await webhooks.subscriptions.history(sub.id, { limit: 2, cursor: first.nextCursor! });
    const third = await webhooks.subscriptions.history(sub.id, { limit: 2, cursor: second.nextCursor! });
    expect([...first.items, ...second.items, ...third.items].map((change) => change.id)).toEqual(items.map((change) => change.id));
    expect(third.nextCursor).toBeNull();
    await expect(webhooks.subscriptions.history('sub_missing')).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_FOUND' });
    await expect(webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] }, { actor: '' })).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(webhooks.subscriptions.update(sub.id, { description: 'x' }, { actor: 'eve', sneaky: true } as never)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    // Refused input records nothing.
    expect((await webhooks.subscriptions.history(sub.id)).items).toHaveLength(5);
  });

  it('chains the records of changes racing from two instances: each one\'s before is the last one\'s after', async () => {
    const [a, b] = [env.instance(), env.instance()];
    const sub = await a.subscriptions.create({ url: `${env.server.url}/0`, eventTypes: ['payment.*'] });
    await Promise.all(Array.from({ length: 12 }, (_, n) => (n % 2 === 0 ? a : b).subscriptions.update(sub.id, { url: `${env.server.url}/${n + 1}` }, { actor: `admin-${n}` })));
    const { items } = await a.subscriptions.history(sub.id);
    expect(items).toHaveLength(13);
    for (let i = 2; i < items.length; i++) expect(items[i]!.changes.url?.before ?? items[i - 1]!.changes.url!.after).toBe(items[i - 1]!.changes.url!.after);
    expect(items.at(-1)!.changes.url?.after ?? items.at(-2)!.changes.url!.after).toBe((await a.subscriptions.get(sub.id))!.url);
  });

  it('soft-deletes: no new delivery, open ones cancelled, still readable; a hard delete removes it with its log', async () => {
    env.server.responder = () => ({ status: 500 });
    const webhooks = env.instance({ retry: { delaysMs: [3_600_000] } });
    const sub = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    await webhooks.publish('payment.succeeded', samplePayment(1));
    await env.server.waitFor(1);
    // The first attempt failed; the delivery waits an hour for its retry.
    await expect.poll(async () => (await webhooks.deliveries.list({ subscriptionId: sub.id })).items[0]?.attempts).toBe(1);

    await webhooks.subscriptions.delete(sub.id, { actor: 'alice', reason: 'customer closed the ERP account' });
    const [cancelled] = (await webhooks.deliveries.list({ subscriptionId: sub.id })).items;
    expect(cancelled).toMatchObject({ status: 'cancelled', nextAttemptAt: null, lastError: 'cancelled: its subscription was deleted' });
    await expect(webhooks.deliveries.redeliver(cancelled!.id)).rejects.toMatchObject({ code: 'SUBSCRIPTION_DELETED' });
    expect(await webhooks.deliveries.attempts(cancelled!.id)).toHaveLength(1);
    await webhooks.publish('payment.succeeded', samplePayment(2));
    expect((await webhooks.deliveries.list({ subscriptionId: sub.id })).items).toHaveLength(1);

    const deleted = await webhooks.subscriptions.get(sub.id);
    expect(deleted).toMatchObject({ status: 'disabled', deletedAt: expect.any(Number) });
    expect((await webhooks.subscriptions.list()).items).toEqual([]);
    expect((await webhooks.subscriptions.list({ includeDeleted: true })).items.map((item) => item.id)).toEqual([sub.id]);
    expect((await webhooks.subscriptions.history(sub.id)).items.at(-1)).toMatchObject({ action: 'deleted', actor: 'alice', changes: { deletedAt: { before: null } } });
    for (const change of [
      () => webhooks.subscriptions.update(sub.id, { description: 'x' }),
      () => webhooks.subscriptions.enable(sub.id),
      () => webhooks.subscriptions.disable(sub.id),
      () => webhooks.subscriptions.rotateSecret(sub.id),
      () => webhooks.deliveries.replay({ subscriptionId: sub.id, since: 0 }),
    ]) {
      await expect(change()).rejects.toMatchObject({ code: 'SUBSCRIPTION_DELETED' });
    }
    expect((await webhooks.metrics({ subscriptionId: sub.id })).backlog).toMatchObject({ pending: 0, cancelled: 1 });
    // Deleting it again softly changes nothing.
    await webhooks.subscriptions.delete(sub.id);
    expect((await webhooks.subscriptions.history(sub.id)).items.filter((change) => change.action === 'deleted')).toHaveLength(1);

    const hard: boolean[] = [];
    webhooks.bus.on('subscription:deleted', (event) => hard.push(event.hard));
    await webhooks.subscriptions.delete(sub.id, { hard: true, actor: 'alice' });
    expect(hard).toEqual([true]);
    expect(await webhooks.subscriptions.get(sub.id)).toBeNull();
    expect(await webhooks.deliveries.get(cancelled!.id)).toBeNull();
    // Gone for good: the calls that name it refuse it, rather than answer zeros or null as if it sent its event's body.
    await expect(webhooks.metrics({ subscriptionId: sub.id })).rejects.toMatchObject({ name: 'ValidationError', code: 'SUBSCRIPTION_NOT_FOUND', field: 'subscriptionId' });
    await expect(webhooks.deliveries.sentBody(cancelled!.id)).rejects.toMatchObject({ name: 'ValidationError', code: 'DELIVERY_NOT_FOUND', field: 'id' });
    expect((await env.opened.storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 10 })).items).toEqual([]);
    await expect(webhooks.subscriptions.delete(sub.id)).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_FOUND' });
  });

  it('changes a URL only after the new endpoint answers a request signed with the subscription secret', async () => {
    const newEndpoint = await LoopbackReceiver.start(() => ({ status: 503 }));
    try {
      const webhooks = env.instance({ environment: 'test' });
      const sub = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], headers: { 'x-erp-tenant': 'acme' } });
      const { secret } = await webhooks.subscriptions.getSecrets(sub.id);

      await expect(webhooks.subscriptions.update(sub.id, { url: `${newEndpoint.url}/hooks` }, { verifyUrl: true, actor: 'mallory' })).rejects.toMatchObject({
        name: 'ConflictError',
        code: 'SUBSCRIPTION_URL_UNVERIFIED',
        message: expect.stringContaining('HTTP 503'),
      });
      expect((await webhooks.subscriptions.get(sub.id))!.url).toBe(env.server.url);
      expect((await webhooks.subscriptions.history(sub.id)).items.map((change) => change.action)).toEqual(['created']);

      newEndpoint.responder = () => ({ status: 204 });
      await webhooks.subscriptions.update(sub.id, { url: `${newEndpoint.url}/hooks` }, { verifyUrl: true, actor: 'alice' });
      expect((await webhooks.subscriptions.get(sub.id))!.url).toBe(`${newEndpoint.url}/hooks`);
      expect(newEndpoint.requests).toHaveLength(2);
      const request = newEndpoint.requests[1]!;
      expect(request.url).toBe('/webhooks/hooks');
      expect(request.headers['x-erp-tenant']).toBe('acme');
      const verified = verifyWebhookSignature({ body: request.body, headers: request.headers }, { secrets: [secret] });
      expect(JSON.parse(verified.body)).toMatchObject({ type: 'webhook.test', environment: 'test', data: { subscriptionId: sub.id, url: `${newEndpoint.url}/hooks`, reason: 'url_change' } });
      // Without verifyUrl (and without security.verifyUrlChanges) nothing is sent.
      await webhooks.subscriptions.update(sub.id, { url: env.server.url });
      expect(newEndpoint.requests).toHaveLength(2);
      expect(env.server.requests).toHaveLength(0);

      const strict = env.instance({ security: { verifyUrlChanges: true } });
      await expect(strict.subscriptions.update(sub.id, { url: `${env.server.url}/x` })).resolves.toMatchObject({ url: `${env.server.url}/x` });
      expect(env.server.requests).toHaveLength(1);
      env.server.responder = () => 'reset';
      await expect(strict.subscriptions.update(sub.id, { url: `${env.server.url}/y` })).rejects.toMatchObject({ code: 'SUBSCRIPTION_URL_UNVERIFIED' });
      await expect(strict.subscriptions.update(sub.id, { url: `${env.server.url}/y` }, { verifyUrl: false })).resolves.toMatchObject({ url: `${env.server.url}/y` });
    } finally {
      await newEndpoint.close();
    }
  });

  it('expunges what a selector matches: payloads and response snippets erased, open deliveries cancelled, never sent again', async () => {
    env.server.responder = (request) => ({ status: 200, body: `received ${JSON.parse(request.body.toString()).data.paymentId} for Jane Doe` });
    const webhooks = env.instance();
    const sub = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    const jane = await webhooks.publish('payment.succeeded', { ...samplePayment(1), customerId: 'cus_jane' });
    const other = await webhooks.publish('payment.succeeded', samplePayment(2));
    await webhooks.drain({ timeoutMs: 5_000 });
    const janeDelivery = (await webhooks.deliveries.list({ eventId: jane.id })).items[0]!;
    expect((await webhooks.deliveries.attempts(janeDelivery.id))[0]!.responseSnippet).toContain('Jane Doe');

    await webhooks.subscriptions.disable(sub.id);
    const heldJane = await webhooks.publish('payment.succeeded', { ...samplePayment(3), customerId: 'cus_jane' });
    await expect(webhooks.events.expunge({})).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    const summary = await webhooks.events.expunge({ filter: (event) => (event.data as { customerId?: string }).customerId === 'cus_jane' });
    // The held delivery of the third event was never created (the subscription was disabled), so nothing is cancelled here.
    expect(summary).toEqual({ expunged: 2, cancelled: 0, snippets: 1 });
    expect(await webhooks.events.get(jane.id)).toMatchObject({ id: jane.id, type: 'payment.succeeded', data: null, expungedAt: expect.any(Number) });
    expect(await webhooks.events.get(heldJane.id)).toMatchObject({ data: null });
    expect(await webhooks.events.get(other.id)).toMatchObject({ data: { paymentId: 'pay_2' }, expungedAt: null });
    expect((await webhooks.deliveries.attempts(janeDelivery.id))[0]).toMatchObject({ responseSnippet: null, statusCode: 200 });
    expect(await webhooks.deliveries.get(janeDelivery.id)).toMatchObject({ status: 'delivered' });
    await webhooks.subscriptions.enable(sub.id);
    await expect(webhooks.deliveries.redeliver(janeDelivery.id)).rejects.toMatchObject({ name: 'ConflictError', code: 'EVENT_EXPUNGED' });
    // A replay over the whole window sends the kept event's... nothing: it was delivered; and never the expunged ones.
    expect(await webhooks.deliveries.replay({ subscriptionId: sub.id, since: 0, dryRun: true })).toEqual({ count: 0 });
    await expect(webhooks.events.expunge(jane.id)).resolves.toEqual({ expunged: 0, cancelled: 0, snippets: 0 });
    await expect(webhooks.events.expunge('evt_missing')).rejects.toMatchObject({ code: 'EVENT_NOT_FOUND' });
    const stored = JSON.stringify([await env.opened.storage.getEvent(jane.id), await env.opened.storage.listAttempts(janeDelivery.id)]);
    expect(stored).not.toContain('cus_jane');
    expect(stored).not.toContain('Jane Doe');
  });

  it('reads and filters sealed payloads (security.payloadKey) opened, and erases them', async () => {
    const webhooks = env.instance({ security: { payloadKey: randomBytes(32).toString('base64') } });
    const jane = await webhooks.publish('payment.succeeded', { ...samplePayment(1), customerId: 'cus_jane' });
    const other = await webhooks.publish('payment.succeeded', samplePayment(2));
    expect((await env.opened.storage.getEvent(jane.id))!.payload).not.toContain('cus_jane');
    expect(await webhooks.events.get(jane.id)).toMatchObject({ data: { customerId: 'cus_jane' } });
    expect(await webhooks.events.expunge({ filter: (event) => (event.data as { customerId: string }).customerId === 'cus_jane' })).toMatchObject({ expunged: 1 });
    expect(await webhooks.events.get(jane.id)).toMatchObject({ data: null });
    expect(await webhooks.events.get(other.id)).toMatchObject({ data: { paymentId: 'pay_2' } });
    expect((await env.opened.storage.getEvent(jane.id))!.payload).toBe('');
  });

  it('refuses a filter that returns anything but a boolean (an async one first) with INPUT_INVALID, before erasing or cancelling anything of its page', async () => {
    const webhooks = env.instance();
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const first = await webhooks.publish('payment.succeeded', samplePayment(1));
    const second = await webhooks.publish('payment.succeeded', samplePayment(2));
    const filters: Array<[string, (event: StoredEvent) => unknown]> = [
      // A promise is truthy: taken as a match, it would erase every event.
      ['an async filter returning false', async () => false],
      ['a string', () => 'yes'],
      ['undefined', () => undefined],
      ['a number', () => 1],
      // Newest first: the second event is said true, then the first gets a string. The page is
      // judged whole before any of it is erased, so the second is not erased either.
      ['true, then a string', (event) => (event.id === first.id ? 'yes' : true)],
    ];
    for (const [what, filter] of filters) {
      const error = await rejectionOf(webhooks.events.expunge({ filter: filter as (event: StoredEvent) => boolean }));
      expect(error, what).toBeInstanceOf(ValidationError);
      expect(error, what).toMatchObject({ code: 'INPUT_INVALID', field: 'filter', message: expect.stringContaining('Expected `filter` to return a boolean') });
      expect((error as Error).message, what).toContain('nothing was expunged');
    }
    for (const [event, paymentId] of [[first, 'pay_1'], [second, 'pay_2']] as const) {
      expect(await webhooks.events.get(event.id)).toMatchObject({ data: { paymentId }, expungedAt: null });
    }
    expect((await webhooks.deliveries.list()).items.map((delivery) => delivery.status)).toEqual(['pending', 'pending']);
  });

  it('judges each page of 500 whole: a bad answer on a later page leaves that page as it was, says what earlier pages erased, and a second run goes on', async () => {
    const webhooks = env.instance();
    const oldest = await webhooks.publish('payment.succeeded', samplePayment(0));
    for (let n = 1; n <= 500; n++) await webhooks.publish('payment.succeeded', samplePayment(n));
    const error = await rejectionOf(webhooks.events.expunge({ filter: ((event: StoredEvent) => (event.id === oldest.id ? 'yes' : true)) as never }));
    expect(error).toMatchObject({ name: 'ValidationError', code: 'INPUT_INVALID', field: 'filter' });
    expect((error as Error).message).toContain(`for event ${oldest.id}`);
    expect((error as Error).message).toContain('the 500 events erased from earlier pages stay erased');
    expect(await webhooks.events.get(oldest.id)).toMatchObject({ data: { paymentId: 'pay_0' }, expungedAt: null });
    expect(await webhooks.events.expunge({ filter: () => true })).toEqual({ expunged: 1, cancelled: 0, snippets: 0 });
  });

  it('cancels the open deliveries of an expunged event', async () => {
    env.server.responder = () => ({ status: 500, body: 'ledger of Jane Doe unavailable' });
    const webhooks = env.instance({ retry: { delaysMs: [3_600_000] } });
    await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    await webhooks.start();
    const event = await webhooks.publish('payment.succeeded', samplePayment(1), { tenantId: 'org_1' });
    const platform = await webhooks.publish('payment.succeeded', samplePayment(2));
    await env.server.waitFor(1);
    await webhooks.stop();
    // The tenant's event reached no subscription (the only one is the platform's): erasing by tenant leaves the platform's alone.
    expect(await webhooks.events.expunge({ tenantId: 'org_1' })).toEqual({ expunged: 1, cancelled: 0, snippets: 0 });
    expect(await webhooks.events.get(event.id)).toMatchObject({ data: null });
    const [delivery] = (await webhooks.deliveries.list({ eventId: platform.id })).items;
    expect(delivery).toMatchObject({ status: 'pending', attempts: 1 });
    expect(await webhooks.events.expunge({ before: Date.now() + 1 })).toEqual({ expunged: 1, cancelled: 1, snippets: 1 });
    expect(await webhooks.deliveries.get(delivery!.id)).toMatchObject({ status: 'cancelled', lastError: 'cancelled: its event was expunged' });
    expect((await webhooks.deliveries.attempts(delivery!.id))[0]).toMatchObject({ statusCode: 500, responseSnippet: null });
  });
});
