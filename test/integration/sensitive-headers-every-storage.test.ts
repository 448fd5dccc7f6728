/**
 * Sensitive custom headers on every storage: an endpoint's credentials (`Authorization`,
 * `x-api-key`) are sealed in the stored row, shown redacted by every read, absent from every
 * event and log line, read in clear only through `getHeaders`, and sent in clear to a real
 * loopback receiver — across key rotation, with values copied elsewhere refusing to open.
 */
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { REDACTED_HEADER_VALUE, type BookkeeperEvents, type Webhooks } from '../../src/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { recordingLogger } from '../support/recording-logger.js';
import { samplePayment } from '../support/sample-payment.js';

const key1 = randomBytes(32).toString('base64');
const key2 = randomBytes(32).toString('base64');

describe.each(storageKinds)('sensitive headers on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'sensitive-headers');
  let token: string;
  let apiKey: string;

  beforeEach(() => {
    token = `sk_live_${randomBytes(18).toString('hex')}`;
    apiKey = `key_${randomBytes(18).toString('hex')}`;
  });

  const credentials = () => ({ Authorization: `Bearer ${token}`, 'x-api-key': apiKey, 'X-Erp-Ledger': 'ledger-7' });

  async function deliverOne(webhooks: Webhooks<BookkeeperEvents>) {
    const before = env.server.requests.length;
    await webhooks.start();
    await webhooks.publish('payment.succeeded', samplePayment());
    await webhooks.drain({ timeoutMs: 5_000 });
    expect(env.server.requests).toHaveLength(before + 1);
    return env.server.requests[before]!;
  }

  it('never shows the token in a read, an event, a log line or the stored row, and sends it in clear', async () => {
    const { logger, lines } = recordingLogger();
    const webhooks = env.instance({ logger, security: { secretsKey: key1 } });
    const seen: unknown[] = [];
    for (const name of [
      'delivery:succeeded',
      'delivery:failed',
      'delivery:dead',
      'delivery:lease-lost',
      'subscription:disabled',
      'subscription:created',
      'subscription:updated',
      'subscription:secret-rotated',
      'subscription:enabled',
      'subscription:deleted',
      'payment.succeeded',
    ] as const) {
      webhooks.bus.on(name, (event: unknown) => seen.push(event));
    }
    const created = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], headers: { ...credentials(), Authorization: 'Bearer sk_live_first' } }, { actor: 'ops@bookkeeper.example' });
    expect(created.headers).toEqual({ Authorization: REDACTED_HEADER_VALUE, 'x-api-key': REDACTED_HEADER_VALUE, 'X-Erp-Ledger': 'ledger-7' });
    expect(created.sensitiveHeaders).toEqual(['Authorization', 'x-api-key']);
    const reads: unknown[] = [
      created,
      // A credential swapped for another: the change log shows that it changed, never either value.
      await webhooks.subscriptions.update(created.id, { headers: credentials() }, { actor: 'ops@bookkeeper.example', reason: 'token rotated by the ERP' }),
      await webhooks.subscriptions.update(created.id, { description: 'ERP' }),
      await webhooks.subscriptions.disable(created.id),
      await webhooks.subscriptions.enable(created.id),
      await webhooks.subscriptions.rotateSecret(created.id, { overlapMs: 0 }),
    ];

    const request = await deliverOne(webhooks);
    expect(request.headers.authorization).toBe(`Bearer ${token}`);
    expect(request.headers['x-api-key']).toBe(apiKey);
    expect(request.headers['x-erp-ledger']).toBe('ledger-7');
    expect(await webhooks.subscriptions.getHeaders(created.id)).toEqual(credentials());

    const deliveries = await webhooks.deliveries.list({ subscriptionId: created.id });
    reads.push(
      await webhooks.subscriptions.get(created.id),
      await webhooks.subscriptions.list(),
      deliveries,
      await webhooks.deliveries.attempts(deliveries.items[0]!.id),
      await webhooks.metrics(),
      await webhooks.subscriptions.history(created.id),
      await env.opened.storage.listSubscriptionChanges({ subscriptionId: created.id, limit: 100 }),
      seen,
      lines,
    );
    expect(seen.length).toBeGreaterThan(0);
    const { items: history } = await webhooks.subscriptions.history(created.id);
    expect(history.map((change) => change.action)).toEqual(['created', 'updated', 'updated', 'disabled', 'enabled', 'secret_rotated']);
    expect(history[1]).toMatchObject({
      actor: 'ops@bookkeeper.example',
      reason: 'token rotated by the ERP',
      changes: { headers: { before: created.headers, after: created.headers } },
    });
    expect(history[0]!.changes.headers).toEqual({ before: null, after: created.headers });
    const row = await env.opened.storage.getSubscription(created.id);
    expect(row!.headers.Authorization).toMatch(/^enc:v1:[0-9a-f]{12}:/);
    expect(row!.headers['X-Erp-Ledger']).toBe('ledger-7');
    const visible = JSON.stringify([reads, row]);
    for (const secret of [token, apiKey, 'sk_live_first']) expect(visible).not.toContain(secret);
  });

  it('keeps credentials out of the change log and its events when they are stored unsealed (no secretsKey)', async () => {
    const webhooks = env.instance();
    const seen: unknown[] = [];
    for (const name of ['subscription:created', 'subscription:updated', 'subscription:deleted'] as const) webhooks.bus.on(name, (event: unknown) => seen.push(event));
    const created = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], headers: credentials() });
    await webhooks.subscriptions.update(created.id, { headers: { ...credentials(), 'x-api-key': 'key_second' } });
    await webhooks.subscriptions.delete(created.id, { actor: 'offboarding' });
    const history = await webhooks.subscriptions.history(created.id);
    expect(history.items.map((change) => change.action)).toEqual(['created', 'updated', 'deleted']);
    expect(history.items[1]!.changes).toEqual({
      headers: { before: created.headers, after: created.headers },
    });
    expect(seen).toHaveLength(3);
    // Stored as they are without a key: the credentials are in the row, never in the log.
    expect((await env.opened.storage.getSubscription(created.id))!.headers.Authorization).toBe(`Bearer ${token}`);
    const visible = JSON.stringify([history, seen]);
    for (const secret of [token, apiKey, 'key_second']) expect(visible).not.toContain(secret);
  });

  it('keeps a stored sensitive value when an update writes the redaction marker back, and refuses the marker where none is stored', async () => {
    const webhooks = env.instance({ security: { secretsKey: key1 } });
    const created = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], headers: credentials() });
    const updated = await webhooks.subscriptions.update(created.id, { headers: { ...created.headers, 'X-Erp-Ledger': 'ledger-8' } });
    expect(updated.headers).toEqual({ Authorization: REDACTED_HEADER_VALUE, 'x-api-key': REDACTED_HEADER_VALUE, 'X-Erp-Ledger': 'ledger-8' });
    expect(await webhooks.subscriptions.getHeaders(created.id)).toEqual({ ...credentials(), 'X-Erp-Ledger': 'ledger-8' });
    expect((await deliverOne(webhooks)).headers.authorization).toBe(`Bearer ${token}`);

    const other = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['refund.*'] });
    await expect(webhooks.subscriptions.update(other.id, { headers: { Authorization: REDACTED_HEADER_VALUE } })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      field: 'headers.Authorization',
    });
    await expect(webhooks.subscriptions.update(created.id, { headers: { 'X-Erp-Ledger': REDACTED_HEADER_VALUE } })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      field: 'headers.X-Erp-Ledger',
    });
    expect(await env.opened.storage.getSubscription(other.id)).toMatchObject({ headers: {} });
  });

  it('reseals header values with a new secretsKey, and they still send once the old key is gone', async () => {
    const before = env.instance({ security: { secretsKey: [{ id: 'k1', key: key1 }] } });
    const { id } = await before.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], headers: credentials() });
    const during = env.instance({ security: { secretsKey: [{ id: 'k2', key: key2 }, { id: 'k1', key: key1 }] } });
    expect(await during.subscriptions.resealSecrets()).toEqual({ resealed: 1 });
    expect(await during.subscriptions.resealSecrets()).toEqual({ resealed: 0 });
    const row = await env.opened.storage.getSubscription(id);
    expect(row!.headers.Authorization).toMatch(/^enc:v1:k2:/);
    expect(row!.headers['x-api-key']).toMatch(/^enc:v1:k2:/);

    const after = env.instance({ security: { secretsKey: [{ id: 'k2', key: key2 }] } });
    expect(await after.subscriptions.getHeaders(id)).toEqual(credentials());
    expect((await deliverOne(after)).headers.authorization).toBe(`Bearer ${token}`);
  });

  it('seals with resealSecrets the clear header values of a subscription stored before, which keep sending and read redacted', async () => {
    const webhooks = env.instance({ security: { secretsKey: key1 } });
    const { id } = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    // A row written before header values were sealed: the credentials in clear.
    await env.opened.storage.updateSubscription(id, { headers: credentials() }, Date.now());
    expect((await webhooks.subscriptions.get(id))!.headers.Authorization).toBe(REDACTED_HEADER_VALUE);
    expect((await deliverOne(webhooks)).headers.authorization).toBe(`Bearer ${token}`);

    expect(await webhooks.subscriptions.resealSecrets()).toEqual({ resealed: 1 });
    expect(JSON.stringify(await env.opened.storage.getSubscription(id))).not.toContain(token);
    expect(await webhooks.subscriptions.getHeaders(id)).toEqual(credentials());
  });

  it('refuses to open a sealed value moved to another subscription or header, failing the attempt as config and sending nothing', async () => {
    const webhooks = env.instance({ security: { secretsKey: key1 }, retry: { delaysMs: [] } });
    const a = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['refund.*'], headers: credentials() });
    const b = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    const sealed = (await env.opened.storage.getSubscription(a.id))!.headers;
    await env.opened.storage.updateSubscription(b.id, { headers: { Authorization: sealed.Authorization! } }, Date.now());
    await expect(webhooks.subscriptions.getHeaders(b.id)).rejects.toMatchObject({ name: 'ConfigError', code: 'SECRET_INVALID' });
    await env.opened.storage.updateSubscription(a.id, { headers: { 'x-api-key': sealed.Authorization! } }, Date.now());
    await expect(webhooks.subscriptions.getHeaders(a.id)).rejects.toMatchObject({ code: 'SECRET_INVALID' });

    await webhooks.start();
    const dead = new Promise((resolve) => webhooks.bus.once('delivery:dead', resolve));
    await webhooks.publish('payment.succeeded', samplePayment());
    await expect(dead).resolves.toMatchObject({ subscriptionId: b.id, errorClass: 'config', statusCode: null });
    expect(env.server.requests).toHaveLength(0);
  });

  it('without a secretsKey stores the values as they are, still redacted on every read', async () => {
    const webhooks = env.instance();
    const created = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], headers: credentials() });
    expect(JSON.stringify([created, await webhooks.subscriptions.list()])).not.toContain(token);
    expect((await env.opened.storage.getSubscription(created.id))!.headers.Authorization).toBe(`Bearer ${token}`);
    expect(await webhooks.subscriptions.resealSecrets()).toEqual({ resealed: 0 });
    expect((await deliverOne(webhooks)).headers.authorization).toBe(`Bearer ${token}`);
  });
});
