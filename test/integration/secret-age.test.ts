/**
 * The age of a subscription's secrets, on every storage, on a fake clock: `getSecrets`
 * gives each secret's `createdAt`, and every read (`get`, `list`, `create`, `update`,
 * `rotateSecret`) shows `secretsCreatedAt: { newest, oldestActive }`, computed from the
 * stored secrets at read time — enough for a host to enforce a rotation policy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createWebhooks, type Subscription } from '../../src/index.js';
import { openStorage, storageKinds } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';

const DAY = 24 * 3_600_000;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.each(storageKinds)('secret age on %s', (kind) => {
  async function setUp() {
    const { storage, cleanup } = await openStorage[kind]('secret-age');
    cleanups.push(cleanup);
    const clock = new FakeClock();
    const webhooks = createWebhooks({ storage, clock, meter: false });
    cleanups.push(() => webhooks.close());
    await storage.migrate();
    return { webhooks, clock };
  }

  it('gives createdAt for the newest secret and each previous one, before and after a rotation', async () => {
    const { webhooks, clock } = await setUp();
    const createdAt = clock.now();
    const created = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });
    expect(await webhooks.subscriptions.getSecrets(created.id)).toEqual({ secret: created.secret, createdAt, previous: [] });

    await clock.advance(30 * DAY);
    const rotatedAt = clock.now();
    const rotated = await webhooks.subscriptions.rotateSecret(created.id, { overlapMs: DAY });
    expect(await webhooks.subscriptions.getSecrets(created.id)).toEqual({
      secret: rotated.secret,
      createdAt: rotatedAt,
      previous: [{ secret: created.secret, createdAt, expiresAt: rotatedAt + DAY }],
    });

    await clock.advance(DAY);
    expect(await webhooks.subscriptions.getSecrets(created.id)).toEqual({ secret: rotated.secret, createdAt: rotatedAt, previous: [] });
  });

  it('shows secretsCreatedAt on every read: the oldest active secret during an overlap, the newest after it', async () => {
    const { webhooks, clock } = await setUp();
    const createdAt = clock.now();
    const created = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });
    expect(created.secretsCreatedAt).toEqual({ newest: createdAt, oldestActive: createdAt });

    await clock.advance(30 * DAY);
    const rotatedAt = clock.now();
    const rotated = await webhooks.subscriptions.rotateSecret(created.id, { overlapMs: DAY });
    const duringOverlap = { newest: rotatedAt, oldestActive: createdAt };
    expect(rotated.secretsCreatedAt).toEqual(duringOverlap);
    expect((await webhooks.subscriptions.get(created.id))!.secretsCreatedAt).toEqual(duringOverlap);
    expect((await webhooks.subscriptions.list()).items.map((item) => item.secretsCreatedAt)).toEqual([duringOverlap]);

    // The previous secret stops signing when the overlap ends: the read shows it without another write.
    await clock.advance(DAY);
    const afterOverlap = { newest: rotatedAt, oldestActive: rotatedAt };
    expect((await webhooks.subscriptions.get(created.id))!.secretsCreatedAt).toEqual(afterOverlap);
    expect((await webhooks.subscriptions.update(created.id, { description: 'ERP' })).secretsCreatedAt).toEqual(afterOverlap);
    expect((await webhooks.subscriptions.disable(created.id)).secretsCreatedAt).toEqual(afterOverlap);
  });

  it('lets a host find the subscriptions whose oldest signing secret breaks a 90-day policy', async () => {
    const { webhooks, clock } = await setUp();
    const stale = await webhooks.subscriptions.create({ url: 'https://stale.example.com/hooks', eventTypes: ['*'] });
    await clock.advance(60 * DAY);
    const fresh = await webhooks.subscriptions.create({ url: 'https://fresh.example.com/hooks', eventTypes: ['*'] });
    await clock.advance(31 * DAY);

    const maxAgeMs = 90 * DAY;
    const tooOld = (subscription: Subscription) => clock.now() - subscription.secretsCreatedAt.oldestActive > maxAgeMs;
    const overdue = async () => (await webhooks.subscriptions.list()).items.filter(tooOld).map((subscription) => subscription.id);
    expect(await overdue()).toEqual([stale.id]);

    // Rotating starts a new secret, but the old one still signs until the overlap ends: still overdue.
    await webhooks.subscriptions.rotateSecret(stale.id, { overlapMs: DAY });
    expect(await overdue()).toEqual([stale.id]);
    await clock.advance(DAY);
    expect(await overdue()).toEqual([]);
    expect(fresh.secretsCreatedAt.newest).toBe(clock.now() - 32 * DAY);
  });
});
