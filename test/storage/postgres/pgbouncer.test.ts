/**
 * The PostgreSQL storage behind a real PgBouncer in transaction mode (test/support/pgbouncer.ts
 * starts Debian's package on loopback): with `preparedStatements: false` and a direct
 * `listenConnectionString`, publishes, claims and dispatches go through the pooler and
 * wake-ups arrive; with LISTEN through the pooler, the start-up check warns; with prepared
 * statements on, PgBouncer before 1.21 fails them.
 *
 * Without pgbouncer this file skips locally and fails in CI (`.ci/run` installs Debian's
 * `pgbouncer` when missing).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhooks, type Webhooks } from '../../../src/create-webhooks.js';
import { StorageError } from '../../../src/errors.js';
import { createIo } from '../../../src/cli/cli-io.js';
import { EXIT_OK, runCli } from '../../../src/cli/run-cli.js';
import { createPostgresStorage, type PostgresStorage } from '../../../src/storage/postgres/index.js';
import { LoopbackReceiver } from '../../support/loopback-receiver.js';
import { cleanups, schemaName, url, usePostgresDatabase } from '../../support/postgres-fixtures.js';
import { pgbouncerBinary, pgbouncerVersion, startPgBouncer, type RunningPgBouncer } from '../../support/pgbouncer.js';
import { recordingLogger } from '../../support/recording-logger.js';
import { samplePayment } from '../../support/sample-payment.js';
import { rejectionOf } from '../../support/rejections.js';

const binary = pgbouncerBinary();
if (binary === null && process.env.CI) {
  throw new Error('pgbouncer is not installed: CI must run the PgBouncer test (on Debian: apt-get install -y pgbouncer)');
}

usePostgresDatabase();

/** Far above any bound a test waits for: a delivery before it came from a wake-up, not a poll. */
const pollIntervalMs = 60_000;

let bouncer: RunningPgBouncer;

beforeAll(async () => {
  if (binary !== null) bouncer = await startPgBouncer(binary, url);
});

afterAll(async () => {
  await bouncer?.stop();
});

/** Resolves with `promise`, or rejects once `timeoutMs` has passed. */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not happen within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The warnings about wake-ups (others, such as the one about `secretsKey`, are not this file's). */
function wakeWarnings(recorded: ReturnType<typeof recordingLogger>): ReturnType<typeof recordingLogger>['warnings'] {
  return recorded.warnings.filter((line) => line.message.includes('LISTEN'));
}

/** Resolves once `logger` has a line of `level` about LISTEN (bounded by `timeoutMs`). */
async function loggedLine(lines: ReturnType<typeof recordingLogger>['lines'], level: 'debug' | 'warn', timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!lines.some((line) => line.level === level && line.message.includes('LISTEN'))) {
    if (Date.now() > deadline) throw new Error(`no ${level} line about LISTEN within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function instance(storage: PostgresStorage, logger = recordingLogger().logger): Webhooks {
  const webhooks = createWebhooks({ storage, logger, pollIntervalMs, security: { allowPrivateNetworks: true } });
  cleanups.push(() => webhooks.close());
  return webhooks;
}

/**
 * A fresh schema and a loopback receiver (closed after the test), and a storage on the schema
 * whose statements go through PgBouncer unnamed while it listens straight to PostgreSQL,
 * migrated through the pooler (one transaction under pg_advisory_xact_lock).
 */
async function dispatchingThroughBouncer() {
  const schema = schemaName();
  const receiver = await LoopbackReceiver.start();
  cleanups.push(() => receiver.close());
  const through = { connectionString: bouncer.url, schema, preparedStatements: false, poolSize: 3 } as const;
  const dispatching = createPostgresStorage({ ...through, listenConnectionString: url });
  await dispatching.migrate();
  return { schema, receiver, through, dispatching };
}

/** A fresh schema, migrated straight on PostgreSQL (not through the pooler). */
async function migratedSchema(): Promise<string> {
  const schema = schemaName();
  const migrator = createPostgresStorage({ connectionString: url, schema });
  cleanups.push(() => migrator.close());
  await migrator.migrate();
  return schema;
}

/**
 * A client of `pooler` holding one of its server connections in an open transaction, so that
 * another client's next statement goes to the other one; `commit` lets it go.
 */
async function holdServerConnection(pooler: string): Promise<{ commit: () => Promise<unknown> }> {
  const holder = new pg.Client({ connectionString: pooler });
  holder.on('error', () => undefined);
  await holder.connect();
  cleanups.push(() => holder.end());
  await holder.query('BEGIN');
  await holder.query('SELECT 1');
  return { commit: () => holder.query('COMMIT') };
}

describe.skipIf(binary === null)(`behind ${binary === null ? 'PgBouncer' : pgbouncerVersion(binary)} in transaction mode`, () => {
  it('migrates, publishes, claims and dispatches with preparedStatements: false, and a NOTIFY through it wakes a dispatcher listening directly', async () => {
    // The dispatching instance: every statement through PgBouncer, LISTEN straight to PostgreSQL.
    const { receiver, through, dispatching } = await dispatchingThroughBouncer();
    const recorded = recordingLogger();
    const dispatcher = instance(dispatching, recorded.logger);
    await dispatcher.start();
    await loggedLine(recorded.lines, 'debug', 5_000);
    expect(wakeWarnings(recorded)).toEqual([]);
    // Another instance publishes: only its NOTIFY (sent through PgBouncer) can tell the dispatcher before its next poll.
    const publisher = instance(createPostgresStorage(through));
    const subscription = await publisher.subscriptions.create({ url: receiver.url, eventTypes: ['payment.succeeded'] });
    const event = await publisher.publish('payment.succeeded', samplePayment());
    await within(receiver.waitFor(1), 10_000, 'the delivery');
    expect(receiver.requests[0]!.headers['webhook-id']).toBe(event.id);
    await within(dispatcher.drain({ timeoutMs: 10_000 }), 10_000, 'the settle');
    const { items } = await publisher.deliveries.list({ subscriptionId: subscription.id });
    expect(items.map((delivery) => delivery.status)).toEqual(['delivered']);
    expect(wakeWarnings(recorded)).toEqual([]);
  });

  it('dispatches from a worker thread through PgBouncer with the same settings, woken by a NOTIFY on its direct listen connection', async () => {
    const { receiver, through, dispatching } = await dispatchingThroughBouncer();
    const recorded = recordingLogger();
    const dispatcher = createWebhooks({ storage: dispatching, logger: recorded.logger, pollIntervalMs, dispatcher: { thread: 'worker' }, security: { allowPrivateNetworks: true } });
    cleanups.push(() => dispatcher.close());
    await dispatcher.start();
    // The worker's own check, relayed to the host's logger: its LISTEN is on the direct URL.
    await loggedLine(recorded.lines, 'debug', 10_000);
    const publisher = instance(createPostgresStorage(through));
    await publisher.subscriptions.create({ url: receiver.url, eventTypes: ['payment.succeeded'] });
    // Several, so that the worker's claims and settles use more than one server connection.
    for (let n = 1; n <= 5; n++) await publisher.publish('payment.succeeded', samplePayment(n));
    await within(receiver.waitFor(5), 10_000, 'the deliveries');
    await within(dispatcher.drain({ timeoutMs: 10_000 }), 10_000, 'the settles');
    expect((await publisher.deliveries.list()).items.map((delivery) => delivery.status)).toEqual(Array(5).fill('delivered'));
    expect(wakeWarnings(recorded)).toEqual([]);
    expect(recorded.errors).toEqual([]);
  });

  it("publishes inside the host's transaction on a client through PgBouncer, and its NOTIFY at COMMIT wakes a dispatcher listening directly", async () => {
    const schema = schemaName();
    const receiver = await LoopbackReceiver.start();
    cleanups.push(() => receiver.close());
    const host = new pg.Pool({ connectionString: bouncer.url, max: 2 });
    host.on('error', () => undefined);
    cleanups.push(() => host.end());
    // The host's instance publishes on its own pool (through PgBouncer) and does not dispatch…
    const publisher = instance(createPostgresStorage({ pool: host, schema, preparedStatements: false }));
    // …another one dispatches, listening directly: only the NOTIFY fired by the host's COMMIT can wake it.
    const dispatching = createPostgresStorage({ connectionString: bouncer.url, schema, preparedStatements: false, listenConnectionString: url, poolSize: 2 });
    await dispatching.migrate();
    const recorded = recordingLogger();
    const dispatcher = instance(dispatching, recorded.logger);
    await publisher.subscriptions.create({ url: receiver.url, eventTypes: ['payment.succeeded'] });
    await dispatcher.start();
    await loggedLine(recorded.lines, 'debug', 5_000);
    const client = await host.connect();
    let event;
    try {
      await client.query('BEGIN');
      event = await publisher.publish('payment.succeeded', samplePayment(), { tx: client });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await within(receiver.waitFor(1), 10_000, 'the delivery');
    expect(receiver.requests[0]!.headers['webhook-id']).toBe(event.id);
    expect(wakeWarnings(recorded)).toEqual([]);
  });

  it('warns through the logger at start when LISTEN goes through PgBouncer, and starts anyway', async () => {
    const schema = schemaName();
    const storage = createPostgresStorage({ connectionString: bouncer.url, schema, preparedStatements: false, poolSize: 2 });
    storage.setWakeCheckTimeout(500);
    await storage.migrate();
    const recorded = recordingLogger();
    const webhooks = instance(storage, recorded.logger);
    await webhooks.start();
    await loggedLine(recorded.lines, 'warn', 5_000);
    const [warning, ...more] = wakeWarnings(recorded);
    expect(more).toEqual([]);
    expect(warning!.fields).toEqual({ schema, channel: 'bookkeeper_webhooks', timeoutMs: 500 });
    expect(warning!.message).toMatch(/pollIntervalMs.*listenConnectionString/);
    // Started: it publishes and lists through the pooler all the same.
    await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['payment.succeeded'] });
    expect((await webhooks.metrics()).backlog).toBeDefined();
  });

  it('fails a named statement that meets another client\'s of the same name on one server connection (42P05), with prepared statements on', async () => {
    const schema = await migratedSchema();
    const storage = createPostgresStorage({ connectionString: bouncer.singleServerUrl, schema, poolSize: 2 });
    cleanups.push(() => storage.close());
    // Two pool clients at once on one server connection: the second prepares the name the first left there.
    const results = await Promise.allSettled([storage.stats(0), storage.stats(0)]);
    expect(results.map((result) => result.status).sort()).toEqual(['fulfilled', 'rejected']);
    const error = (results.find((result) => result.status === 'rejected') as PromiseRejectedResult).reason as StorageError;
    expect(error).toBeInstanceOf(StorageError);
    expect(error.code).toBe('STORAGE_FAILED');
    expect((error.cause as { code?: string }).code).toBe('42P05');
  });

  it('fails a named statement sent again on another server connection than the one it was prepared on (26000), with prepared statements on', async () => {
    const schema = await migratedSchema();
    const storage = createPostgresStorage({ connectionString: bouncer.pairServerUrl, schema, poolSize: 1 });
    cleanups.push(() => storage.close());
    // Prepared on the pool's first server connection, which another client then holds in a transaction…
    await storage.stats(0);
    const holder = await holdServerConnection(bouncer.pairServerUrl);
    // …so the same client's next call goes to a second server connection, where the name is unknown.
    const error = await rejectionOf(storage.stats(0));
    await holder.commit();
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe('STORAGE_FAILED');
    expect(((error as StorageError).cause as { code?: string }).code).toBe('26000');
  });

  it('serves the CLI through it: one command after another on one server connection, each with its answer', async () => {
    const schema = await migratedSchema();
    const direct = createWebhooks({ storage: createPostgresStorage({ connectionString: url, schema }), security: { allowPrivateNetworks: true } });
    cleanups.push(() => direct.close());
    const subscription = await direct.subscriptions.create({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['payment.succeeded'] });
    await direct.publish('payment.succeeded', samplePayment());
    /** Runs the CLI in this process against the pooler's single server connection. */
    const cli = async (...argv: string[]) => {
      let stdout = '';
      let stderr = '';
      const io = createIo({
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: (text: string) => (stderr += text) },
        stdin: process.stdin,
        env: {},
        cwd: process.cwd(),
      });
      const code = await runCli([...argv, '--storage', bouncer.singleServerUrl, '--schema', schema, '--json'], io);
      return { code, stdout, stderr };
    };
    // Each command's client leaves the server connection to the next one: named statements of
    // the first met the second's of the same name there (42P05) before the CLI sent them unnamed.
    const runs = [await cli('deliveries', 'list'), await cli('deliveries', 'list'), await cli('deliveries', 'list', '--subscription', subscription.id)];
    expect(runs.map((run) => [run.code, run.stderr])).toEqual([
      [EXIT_OK, ''],
      [EXIT_OK, ''],
      [EXIT_OK, ''],
    ]);
    for (const run of runs) expect((JSON.parse(run.stdout) as { items: Array<{ subscriptionId: string }> }).items.map((item) => item.subscriptionId)).toEqual([subscription.id]);
  });

  it('runs the same two cases with preparedStatements: false', async () => {
    const schema = await migratedSchema();
    const storage = createPostgresStorage({ connectionString: bouncer.singleServerUrl, schema, poolSize: 2, preparedStatements: false });
    cleanups.push(() => storage.close());
    const empty = { pending: 0, leased: 0, waiting: 0, held: 0, dead: 0, delivered: 0, cancelled: 0, oldestPendingCreatedAt: null };
    expect(await Promise.all([storage.stats(0), storage.stats(0)])).toEqual([empty, empty]);
    const pair = createPostgresStorage({ connectionString: bouncer.pairServerUrl, schema, poolSize: 1, preparedStatements: false });
    cleanups.push(() => pair.close());
    await pair.stats(0);
    const holder = await holdServerConnection(bouncer.pairServerUrl);
    expect(await pair.stats(0)).toEqual(empty);
    await holder.commit();
  });
});
