/**
 * The options for running behind a pooler, on a real PostgreSQL (PgBouncer itself is in
 * pgbouncer.test.ts): how they are checked, that `preparedStatements: false` leaves no
 * statement named on any path, that the LISTEN connection is the `listenConnectionString`'s,
 * and that a dispatcher in a worker thread gets both.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createWebhooks } from '../../../src/create-webhooks.js';
import { createPostgresStorage } from '../../../src/storage/postgres/index.js';
import { LoopbackReceiver } from '../../support/loopback-receiver.js';
import { admin, cleanups, schemaName, url, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { recordingLogger } from '../../support/recording-logger.js';
import { thrownBy } from '../../support/rejections.js';
import { samplePayment } from '../../support/sample-payment.js';

usePostgresDatabase();

/** A pool that records whether each statement it runs, on its own or in a transaction, carries a `name`. */
function recordingPool(): { pool: pg.Pool; names: Array<string | undefined> } {
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  pool.on('error', () => undefined);
  cleanups.push(() => pool.end());
  const names: Array<string | undefined> = [];
  const record = (config: unknown) => {
    if (typeof config === 'object' && config !== null) names.push((config as { name?: string }).name);
    else names.push(undefined);
  };
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    record(args[0]);
    return query(...args);
  }) as typeof pool.query;
  const wrapped = new WeakSet<object>();
  pool.on('connect', (client) => {
    if (wrapped.has(client)) return;
    wrapped.add(client);
    const clientQuery = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      record(args[0]);
      return clientQuery(...args);
    }) as typeof client.query;
  });
  return { pool, names };
}

/** Publishes, dispatches (claims, settles), and walks the log and the registry: every kind of statement path. */
async function exercise(pool: pg.Pool, preparedStatements: boolean): Promise<void> {
  const receiver = await LoopbackReceiver.start();
  cleanups.push(() => receiver.close());
  const storage = createPostgresStorage({ pool, schema: schemaName(), preparedStatements });
  const webhooks = createWebhooks({ storage, security: { allowPrivateNetworks: true } });
  cleanups.push(() => webhooks.close());
  await webhooks.start();
  const subscription = await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
  await webhooks.subscriptions.update(subscription.id, { metadata: { team: 'ledger' } });
  await webhooks.publish('payment.succeeded', samplePayment(1));
  await webhooks.publish('payment.succeeded', samplePayment(2), { orderingKey: 'cus_1' });
  await webhooks.drain({ timeoutMs: 10_000 });
  const { items } = await webhooks.deliveries.list();
  await webhooks.deliveries.attempts(items[0]!.id);
  await webhooks.deliveries.redeliver(items[0]!.id);
  await webhooks.drain({ timeoutMs: 10_000 });
  await webhooks.events.list();
  await webhooks.metrics();
  await webhooks.subscriptions.disable(subscription.id);
  await webhooks.stop();
}

describe('options for poolers', () => {
  it('refuses a malformed listenConnectionString, preparedStatements or readPool with CONFIG_INVALID and the field', () => {
    const cases: Array<[unknown, string]> = [
      [{ connectionString: url, listenConnectionString: '' }, 'listenConnectionString'],
      [{ connectionString: url, listenConnectionString: 5432 }, 'listenConnectionString'],
      [{ connectionString: url, preparedStatements: 'no' }, 'preparedStatements'],
      [{ connectionString: url, preparedStatements: null }, 'preparedStatements'],
      [{ connectionString: url, readPool: '' }, 'readPool'],
      [{ connectionString: url, readPool: {} }, 'readPool'],
      [{ connectionString: url, readpool: url }, 'readpool'],
    ];
    for (const [options, field] of cases) {
      expect(thrownBy(() => createPostgresStorage(options as never))).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', field });
    }
  });

  it('sends no statement under a name with preparedStatements: false, on any path, and names them by default', async () => {
    const unnamed = recordingPool();
    await exercise(unnamed.pool, false);
    expect(unnamed.names.length).toBeGreaterThan(20);
    expect(unnamed.names.filter((name) => name !== undefined)).toEqual([]);
    const named = recordingPool();
    await exercise(named.pool, true);
    expect(named.names.filter((name) => name !== undefined).length).toBeGreaterThan(10);
  });

  it.each([
    ['its own pool', (listenConnectionString: string) => createPostgresStorage({ connectionString: url, schema: schemaName(), listenConnectionString })],
    [
      'a handed-in pool',
      (listenConnectionString: string) => {
        const pool = new pg.Pool({ connectionString: url, max: 2 });
        cleanups.push(() => pool.end());
        return createPostgresStorage({ pool, schema: schemaName(), listenConnectionString });
      },
    ],
  ])('LISTENs on the listenConnectionString, with %s, and checks at start that wake-ups arrive', async (_, create) => {
    const applicationName = `listen_${randomBytes(6).toString('hex')}`;
    const direct = new URL(url);
    direct.searchParams.set('application_name', applicationName);
    const storage = create(direct.toString());
    await storage.migrate();
    const recorded = recordingLogger();
    const webhooks = createWebhooks({ storage, logger: recorded.logger });
    cleanups.push(() => webhooks.close());
    await webhooks.start();
    const { rows } = await admin.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    expect(rows.map((row) => row.query)).toEqual(['LISTEN "bookkeeper_webhooks"']);
    const deadline = Date.now() + 5_000;
    while (!recorded.lines.some((line) => line.level === 'debug' && line.message.includes('LISTEN'))) {
      if (Date.now() > deadline) throw new Error('no debug line about LISTEN within 5000 ms');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(recorded.warnings.filter((line) => line.message.includes('LISTEN'))).toEqual([]);
  });

  it("hands preparedStatements and listenConnectionString to a dispatcher in a worker thread (the recipe), and no read pool", () => {
    const listenConnectionString = 'postgres://webhooks@db-primary.invalid:5432/ledger';
    const storage = createPostgresStorage({ connectionString: url, schema: 'hooks', preparedStatements: false, listenConnectionString, readPool: url });
    cleanups.push(() => storage.close());
    expect(storage.workerRecipe()).toEqual({
      recipe: { kind: 'postgres', schema: 'hooks', notifyChannel: 'bookkeeper_webhooks', preparedStatements: false, listenConnectionString, connection: { connectionString: url, poolSize: 10 } },
    });
  });
});
