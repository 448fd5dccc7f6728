/**
 * Standard Webhooks `v1a` (Ed25519) subscriptions on every storage, over real loopback HTTP:
 * a receiver that verifies every request with the subscription's `whpk_…` public key (and
 * answers 401 otherwise) gets its deliveries; a rotation's overlap carries both keys'
 * signatures; a move from `v1` to `v1a` carries a `v1,` and a `v1a,` entry; the secret key
 * is sealed at rest and never shown by a read, while the public keys are.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BookkeeperEvents, Webhooks } from '../../src/index.js';
import { verifyWebhook, verifyWebhookAsync } from '../../src/receiver/index.js';
import { storageKinds, useInstancesOnStorage } from '../support/every-storage.js';
import { messageOf, schemesOf, verifyingWith } from '../support/verifying-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

async function deliverOne(webhooks: Webhooks<BookkeeperEvents>, n: number): Promise<void> {
  await webhooks.publish('payment.succeeded', samplePayment(n));
  await webhooks.start();
  await webhooks.drain({ timeoutMs: 10_000 });
}

describe.each(storageKinds)('v1a signatures on the %s storage', (kind) => {
  const env = useInstancesOnStorage(kind, 'v1a');

  it('delivers a v1a subscription to a receiver that holds only its public key, and reads show the public key, never the secret key', async () => {
    const webhooks = env.instance();
    const created = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], signing: 'v1a' });
    expect(created.secret).toMatch(/^whsk_[A-Za-z0-9+/]{86}==$/);
    expect(created.publicKey).toMatch(/^whpk_[A-Za-z0-9+/]{43}=$/);
    expect(created.signing).toBe('v1a');
    expect(created.publicKeys).toEqual([created.publicKey]);
    verifyingWith(env.server, () => [created.publicKey!]);

    await deliverOne(webhooks, 1);

    expect(env.server.requests).toHaveLength(1);
    const request = env.server.requests[0]!;
    expect(schemesOf(request)).toEqual(['v1a']);
    expect((await webhooks.deliveries.list()).items.map((delivery) => delivery.status)).toEqual(['delivered']);
    expect(await verifyWebhookAsync(messageOf(request), { secrets: created.publicKey! })).toMatchObject({ type: 'payment.succeeded' });
    const read = await webhooks.subscriptions.get(created.id);
    expect(read).toMatchObject({ signing: 'v1a', publicKeys: [created.publicKey] });
    const listed = (await webhooks.subscriptions.list()).items[0]!;
    expect(listed).toMatchObject({ signing: 'v1a', publicKeys: [created.publicKey] });
    const shown = JSON.stringify([read, listed, await webhooks.subscriptions.history(created.id)]);
    expect(shown).not.toContain(created.secret.slice('whsk_'.length, 40));
    expect((await webhooks.subscriptions.getSecrets(created.id)).secret).toBe(created.secret);
  });

  it('sends both keys’ signatures during a rotation’s overlap, and a receiver holding only the new public key accepts', async () => {
    const webhooks = env.instance();
    const created = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], signing: 'v1a' });
    const rotated = await webhooks.subscriptions.rotateSecret(created.id, { overlapMs: 3_600_000 });
    expect(rotated.secret).toMatch(/^whsk_/);
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.publicKey).toMatch(/^whpk_/);
    expect(rotated.publicKeys).toEqual([rotated.publicKey, created.publicKey]);
    verifyingWith(env.server, () => [rotated.publicKey!]);

    await deliverOne(webhooks, 1);

    const request = env.server.requests[0]!;
    expect(schemesOf(request)).toEqual(['v1a', 'v1a']);
    expect((await webhooks.deliveries.list()).items.map((delivery) => delivery.status)).toEqual(['delivered']);
    // The receiver that has not switched yet accepts the same request with the old key.
    expect(verifyWebhook(messageOf(request), { secrets: created.publicKey! })).toMatchObject({ type: 'payment.succeeded' });
  });

  it('moves a v1 subscription to v1a with an overlap: both a v1 and a v1a signature go out, each receiver verifies its own', async () => {
    const webhooks = env.instance();
    const created = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'] });
    expect(created).toMatchObject({ signing: 'v1', publicKeys: [] });
    expect(created.publicKey).toBeUndefined();
    const moved = await webhooks.subscriptions.rotateSecret(created.id, { signing: 'v1a', overlapMs: 3_600_000 });
    expect(moved).toMatchObject({ signing: 'v1a', publicKeys: [moved.publicKey] });
    verifyingWith(env.server, () => [moved.publicKey!]);

    await deliverOne(webhooks, 1);

    const request = env.server.requests[0]!;
    expect(schemesOf(request)).toEqual(['v1a', 'v1']);
    expect((await webhooks.deliveries.list()).items.map((delivery) => delivery.status)).toEqual(['delivered']);
    expect(verifyWebhook(messageOf(request), { secrets: created.secret })).toMatchObject({ type: 'payment.succeeded' });
    expect(await verifyWebhookAsync(messageOf(request), { secrets: [created.secret, moved.publicKey!] })).toMatchObject({ type: 'payment.succeeded' });
    const secrets = await webhooks.subscriptions.getSecrets(created.id);
    expect(secrets.secret).toBe(moved.secret);
    expect(secrets.previous.map((old) => old.secret)).toEqual([created.secret]);

    // Without an overlap the move is immediate: only v1a from then on.
    await webhooks.subscriptions.rotateSecret(created.id, { overlapMs: 0 });
    const after = await webhooks.subscriptions.get(created.id);
    expect(after!.signing).toBe('v1a');
    expect(after!.publicKeys).toHaveLength(1);
    expect(after!.publicKeys[0]).not.toBe(moved.publicKey);
  });

  it('seals the secret key at rest with security.secretsKey, signs with it, and shows the public key on reads', async () => {
    const webhooks = env.instance({ security: { secretsKey: randomBytes(32).toString('base64') } });
    const created = await webhooks.subscriptions.create({ url: env.server.url, eventTypes: ['payment.*'], signing: 'v1a' });
    const stored = (await env.opened.storage.getSubscription(created.id))!.secrets;
    expect(stored).toHaveLength(1);
    expect(stored[0]!.value).toMatch(/^enc:v1:[0-9a-f]{12}:/);
    expect(stored[0]!.value).not.toContain(created.secret.slice('whsk_'.length, 40));
    expect(await webhooks.subscriptions.get(created.id)).toMatchObject({ signing: 'v1a', publicKeys: [created.publicKey] });
    verifyingWith(env.server, () => [created.publicKey!]);

    await deliverOne(webhooks, 1);

    expect((await webhooks.deliveries.list()).items.map((delivery) => delivery.status)).toEqual(['delivered']);
    expect(schemesOf(env.server.requests[0]!)).toEqual(['v1a']);
  });
});
