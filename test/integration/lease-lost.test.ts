/**
 * A lease that runs out while its request is under way: another instance on the same
 * SQLite file claims the delivery and delivers it; the first instance's settle is refused,
 * and that is never silent — warned through the logger with the delivery id, counted in
 * `metrics().leasesLost`, and announced on the bus as `delivery:lease-lost`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createWebhooks, type DeliveryLeaseLostEvent } from '../../src/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { registerCleanups } from '../support/cleanups.js';
import { samplePayment } from '../support/sample-payment.js';
import { recordingLogger } from '../support/recording-logger.js';

const dir = mkdtempSync(join(tmpdir(), 'webhooks-lease-lost-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cleanups = registerCleanups();

const payment = samplePayment();

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('a lease lost while its request is under way', () => {
  it('is warned with the delivery id, counted in metrics() and announced on the bus; the delivery is delivered once by the new holder', async () => {
    const filename = join(dir, 'lease-lost.db');
    const answers: Array<() => void> = [];
    // The first request (instance A's) is held until instance B has delivered the same delivery.
    const server = await LoopbackReceiver.start((_request, index, res) => {
      if (index > 0) return undefined;
      answers.push(() => res.writeHead(204).end());
      return 'hang';
    });
    cleanups.push(() => server.close());

    const leaseMs = 60_000;
    const start = Date.UTC(2026, 10, 26, 12);
    const common = { security: { allowPrivateNetworks: true }, pollIntervalMs: 3_600_000, leaseMs, meter: false as const };
    const a = recordingLogger();
    const storageA = createSqliteStorage({ filename });
    const webhooksA = createWebhooks({ ...common, storage: storageA, clock: new FakeClock(start), logger: a.logger });
    cleanups.push(() => webhooksA.close());
    await webhooksA.start();
    const lost: DeliveryLeaseLostEvent[] = [];
    webhooksA.bus.on('delivery:lease-lost', (event) => lost.push(event));

    await webhooksA.subscriptions.create({ url: server.url, eventTypes: ['payment.*'] });
    const published = await webhooksA.publish('payment.succeeded', payment);
    await server.waitFor(1);

    // B's clock is past A's lease: to B the delivery is due again.
    const webhooksB = createWebhooks({ ...common, storage: createSqliteStorage({ filename }), clock: new FakeClock(start + leaseMs + 1) });
    cleanups.push(() => webhooksB.close());
    const deliveredByB = new Promise((resolve) => webhooksB.bus.once('delivery:succeeded', resolve));
    await webhooksB.start();
    await deliveredByB;

    answers[0]!();
    await waitUntil(async () => (await webhooksA.metrics()).leasesLost > 0, 5_000);

    const [delivery] = (await webhooksA.deliveries.list({ eventId: published.id })).items;
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(server.requests).toHaveLength(2);

    expect(lost).toEqual([
      expect.objectContaining({ deliveryId: delivery!.id, eventId: published.id, attempt: 1, outcome: 'delivered', statusCode: 204, errorClass: null }),
    ]);
    expect((await webhooksA.metrics()).leasesLost).toBe(1);
    expect((await webhooksB.metrics()).leasesLost).toBe(0);
    expect(a.warnings.filter((warning) => warning.fields.deliveryId === delivery!.id)).toHaveLength(1);
  });
});
