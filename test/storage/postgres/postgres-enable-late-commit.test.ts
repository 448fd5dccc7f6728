/**
 * `enable({ replayMissed })` on PostgreSQL against a publish in the host's own transaction that
 * straddles it: the event was published while the subscription was disabled (so it got no
 * delivery) and commits while the enable runs. The enable's last replay takes the events table
 * in SHARE mode, which waits for that transaction, so the event is queued; a transaction held
 * open past the wait's bounded retries fails the enable with STORAGE_BUSY and leaves the
 * subscription disabled — never enabled without the event.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWebhooks, type Webhooks } from '../../../src/index.js';
import { createPostgresStorage, type PostgresStorage } from '../../../src/storage/postgres/index.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from '../../support/postgres.js';
import { samplePayment } from '../../support/sample-payment.js';

describe('enable({ replayMissed }) on PostgreSQL with a publish whose transaction straddles it', () => {
  const url = testDatabaseUrl();
  let schema: string;
  let storage: PostgresStorage;
  let webhooks: Webhooks;
  let host: pg.Client;
  let observer: pg.Client;

  beforeEach(async () => {
    schema = randomSchemaName('enable_late');
    storage = createPostgresStorage({ connectionString: url, schema, poolSize: 3 });
    await storage.migrate();
    webhooks = createWebhooks({ storage, meter: false, security: { allowPrivateNetworks: true } });
    host = new pg.Client({ connectionString: url });
    observer = new pg.Client({ connectionString: url });
    await host.connect();
    await observer.connect();
  });

  afterEach(async () => {
    await host.end();
    await observer.end();
    await webhooks.close();
    await dropSchema(url, schema);
  });

  /** Resolves once a transaction waits for a lock on this schema's events table. */
  async function someoneWaitsForTheEvents(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await observer.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'relation' AND NOT granted AND relation = to_regclass($1)`,
        [`"${schema}".events`],
      );
      if ((rows[0] as { n: number }).n > 0) return;
      if (Date.now() > deadline) throw new Error('no transaction waited for the events table');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async function disabledWithAHostTransactionOpen() {
    const sub = await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/erp', eventTypes: ['payment.*'] });
    await webhooks.subscriptions.disable(sub.id);
    const missed = await webhooks.publish('payment.succeeded', samplePayment(1));
    await host.query('BEGIN');
    const late = await webhooks.publish('payment.succeeded', samplePayment(2), { tx: host });
    return { sub, missed, late };
  }

  it('waits for it and queues its event, then enables', async () => {
    const { sub, missed, late } = await disabledWithAHostTransactionOpen();

    const enabling = webhooks.subscriptions.enable(sub.id, { replayMissed: true });
    await someoneWaitsForTheEvents();
    await host.query('COMMIT');

    expect(await enabling).toMatchObject({ status: 'active', replayed: 2 });
    const events = (await webhooks.deliveries.list({ subscriptionId: sub.id })).items.map((delivery) => delivery.eventId);
    expect(events.sort()).toEqual([missed.id, late.id].sort());
  });

  it('fails with STORAGE_BUSY and leaves it disabled while the transaction stays open; once it commits, the same call queues both', async () => {
    const { sub, missed, late } = await disabledWithAHostTransactionOpen();

    const refused = await webhooks.subscriptions.enable(sub.id, { replayMissed: true }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ name: 'StorageError', code: 'STORAGE_BUSY', retryable: true });
    expect(await webhooks.subscriptions.get(sub.id)).toMatchObject({ status: 'disabled' });
    expect((await webhooks.subscriptions.history(sub.id)).items.map((change) => change.action)).toEqual(['created', 'disabled']);
    // The enable gave up its wait: publishes go through.
    await webhooks.publish('payment.succeeded', samplePayment(3));

    await host.query('COMMIT');
    expect(await webhooks.subscriptions.enable(sub.id, { replayMissed: true })).toMatchObject({ status: 'active', resumed: 1 });
    const events = new Set((await webhooks.deliveries.list({ subscriptionId: sub.id })).items.map((delivery) => delivery.eventId));
    expect(events.has(missed.id) && events.has(late.id)).toBe(true);
    expect(events.size).toBe(3);
  });
});
