/**
 * A `pg_dump` / restore round trip of the webhook schema, as an operator restoring a backup
 * does it (README "Runbook": backups): the schema dumped while the instance is stopped, lost,
 * restored with `psql`, and a new instance started on it.
 *
 * What a restore means: the database goes back to the moment of the dump. Deliveries that
 * were pending then are pending again and are sent again — including those delivered after
 * the dump, which reach the receiver a second time with the same `webhook-id` (at-least-once:
 * the consumer dedupes) — while what was delivered before the dump stays delivered, its
 * attempts in the log, and the subscription's secret (sealed with `security.secretsKey`)
 * still signs.
 *
 * pg_dump and psql come from Debian's postgresql-client (on this project's machines and in
 * CI, next to the server, same major). Without them the test fails in CI and skips locally.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhooks, type Webhooks } from '../../src/index.js';
import { createPostgresStorage } from '../../src/storage/postgres/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { dropSchema, randomSchemaName, testDatabaseUrl, withClient } from '../support/postgres.js';
import { samplePayment } from '../support/sample-payment.js';

const hasTools = ['pg_dump', 'psql'].every((tool) => spawnSync(tool, ['--version'], { encoding: 'utf8' }).status === 0);
if (!hasTools && process.env.CI) {
  throw new Error('pg_dump and psql are not installed: CI must run the backup/restore test (on Debian: apt-get install -y postgresql-client)');
}

let url: string;
const schema = randomSchemaName('backup');
const secretsKey = randomBytes(32).toString('base64');
const instances: Webhooks[] = [];
let receiver: LoopbackReceiver;

beforeAll(async () => {
  url = testDatabaseUrl();
  receiver = await LoopbackReceiver.start();
});

afterAll(async () => {
  for (const instance of instances) await instance.close().catch(() => undefined);
  await receiver.close();
  await dropSchema(url, schema);
});

function instance(): Webhooks {
  const webhooks = createWebhooks({
    storage: createPostgresStorage({ connectionString: url, schema, poolSize: 3 }),
    security: { allowPrivateNetworks: true, secretsKey },
  });
  instances.push(webhooks);
  return webhooks;
}

/** Runs a client tool on the test database; its stdout. */
function run(tool: string, args: string[], input?: string): string {
  const result = spawnSync(tool, [...args, url], { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

describe('a pg_dump / restore round trip of the webhook schema', () => {
  it.skipIf(!hasTools)('restores what was delivered as delivered and sends again, with the same webhook-ids, what was pending at the dump', async () => {
    const before = instance();
    await before.start();
    const subscription = await before.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
    const delivered = [];
    for (let n = 0; n < 3; n++) delivered.push(await before.publish('payment.succeeded', samplePayment(n)));
    await before.drain({ timeoutMs: 20_000 });
    await before.stop();
    // Published while stopped: pending at the dump.
    const pending = [];
    for (let n = 3; n < 5; n++) pending.push(await before.publish('payment.succeeded', samplePayment(n)));

    // The backup, taken while no instance runs.
    const dump = run('pg_dump', ['--schema', schema, '--no-owner', '--no-privileges']);
    expect(dump).toContain(`CREATE SCHEMA ${schema}`);

    // After the dump the pending ones are delivered: the restore will not know it.
    await before.start();
    await before.drain({ timeoutMs: 20_000 });
    await before.close();
    expect(receiver.requests.map((request) => request.headers['webhook-id'])).toEqual([...delivered, ...pending].map((event) => event.id));

    // The schema is lost and restored from the dump.
    await dropSchema(url, schema);
    run('psql', ['--quiet', '--no-psqlrc', '--set', 'ON_ERROR_STOP=1', '--file', '-'], dump);

    const after = instance();
    const received = receiver.requests.length;
    await after.start();
    await after.drain({ timeoutMs: 20_000 });
    const again = receiver.requests.slice(received);
    // Only what was pending at the dump is sent again, with its own webhook-id, signed with the restored secret.
    expect(again.map((request) => request.headers['webhook-id']).sort()).toEqual(pending.map((event) => event.id).sort());
    const { secret } = await after.subscriptions.getSecrets(subscription.id);
    for (const request of again) expect(() => verifyWebhook({ body: request.body, headers: request.headers }, { secrets: secret })).not.toThrow();

    // What was delivered before the dump is still delivered, with its attempt.
    for (const event of delivered) {
      const [delivery] = (await after.deliveries.list({ eventId: event.id })).items;
      expect(delivery).toMatchObject({ status: 'delivered', attempts: 1 });
    }
    const stats = await after.metrics({ subscriptionId: subscription.id });
    expect(stats.backlog).toMatchObject({ delivered: 5, pending: 0, dead: 0 });
    // The restored schema is at the version this release migrates to, as the dump took it.
    const restored = await withClient(url, (client) => client.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".migrations`));
    const fresh = randomSchemaName('fresh');
    const migrated = createPostgresStorage({ connectionString: url, schema: fresh, poolSize: 1 });
    try {
      await migrated.migrate();
      const applied = await withClient(url, (client) => client.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${fresh}".migrations`));
      expect(restored.rows[0]!.n).toBe(applied.rows[0]!.n);
    } finally {
      await migrated.close();
      await dropSchema(url, fresh);
    }
  });
});
