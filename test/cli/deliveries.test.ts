/**
 * `deliveries …` and `send-test` as child processes on a real SQLite file (and one
 * PostgreSQL schema) that an app instance in this process owns and dispatches from, as a
 * running app would: the CLI reads the log and marks deliveries due; the app's dispatcher
 * sends them; `send-test` posts itself and records its request in the test log that
 * `deliveries tests` reads; an attempt that failed at the egress proxy is told apart.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { bookkeeperEvents, createWebhooks, type Webhooks } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { createPostgresStorage } from '../../src/storage/postgres/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from '../support/postgres.js';
import { runCli } from './cli-process.js';
import { CliTerminal } from './terminal.js';

let receiver: LoopbackReceiver;
/** The endpoint answers 500 until a test makes it healthy. */
let healthy = false;
let app: Webhooks;
let file: string;
let store: string[];
let subscription: { id: string; secret: string };
let deadId: string;

beforeAll(async () => {
  receiver = await LoopbackReceiver.start(() => ({ status: healthy ? 204 : 500, body: healthy ? '' : 'down' }));
  file = join(mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-cli-store-')), 'webhooks.db');
  store = ['--storage', `sqlite:${file}`];
  // One attempt, then dead; the dispatcher polls the file often, as the CLI writes to it from another process.
  app = createWebhooks({ events: bookkeeperEvents, storage: createSqliteStorage({ filename: file }), security: { allowPrivateNetworks: true }, retry: { delaysMs: [] }, pollIntervalMs: 50 });
  await app.start();
  subscription = await app.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
  await app.publish('payment.succeeded', bookkeeperEvents.examples['payment.succeeded']);
  await app.drain({ timeoutMs: 10_000 });
  const [dead] = (await app.deliveries.list({ status: 'dead' })).items;
  deadId = dead!.id;
});

afterAll(async () => {
  await app.close();
  await receiver.close();
});

// In order: the reads see the dead delivery, redeliver makes it delivered, replay then finds another one.
describe('deliveries on a SQLite file', () => {
  it('list: the dead delivery, as a table and as JSON', async ({ expect }) => {
    const [table, json, filtered] = await Promise.all([
      runCli(['deliveries', 'list', ...store]),
      runCli(['deliveries', 'list', ...store, '--json']),
      runCli(['deliveries', 'list', ...store, '--status', 'delivered', '--json']),
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID +STATUS +EVENT TYPE +SUBSCRIPTION +ATTEMPTS +LAST +CREATED\n/);
    expect(table.stdout).toMatch(new RegExp(`^${deadId} +dead +payment\\.succeeded +${subscription.id} +1 +500 `, 'm'));
    expect(JSON.parse(json.stdout)).toMatchObject({ items: [{ id: deadId, status: 'dead', attempts: 1, lastStatusCode: 500 }], nextCursor: null });
    expect(JSON.parse(filtered.stdout)).toEqual({ items: [], nextCursor: null });
  });

  it('show and attempts: the record and its one failed attempt; an unknown id exits 1', async ({ expect }) => {
    const [show, attempts, missing, missingAttempts] = await Promise.all([
      runCli(['deliveries', 'show', deadId, ...store]),
      runCli(['deliveries', 'attempts', deadId, ...store, '--json']),
      runCli(['deliveries', 'show', 'dlv_nope', ...store]),
      runCli(['deliveries', 'attempts', 'dlv_nope', ...store]),
    ]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^${deadId}\\n {2}status +dead\\n {2}event +payment\\.succeeded evt_`));
    expect(JSON.parse(attempts.stdout)).toMatchObject([{ attemptNumber: 1, statusCode: 500, outcome: 'dead', responseSnippet: 'down' }]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('DELIVERY_NOT_FOUND');
    expect(missingAttempts.code).toBe(1);
    expect(missingAttempts.stderr).toContain('DELIVERY_NOT_FOUND');
  });

  it('redeliver --wait: the dead delivery is sent again by the app and ends delivered', async ({ expect }) => {
    healthy = true;
    const run = await runCli(['deliveries', 'redeliver', deadId, ...store, '--wait', '--timeout-ms', '20000', '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toMatchObject({ id: deadId, status: 'delivered' });
    expect(await app.deliveries.get(deadId)).toMatchObject({ status: 'delivered' });
    expect(receiver.requests).toHaveLength(2);
    expect(receiver.requests[1]!.headers['webhook-id']).toBe(receiver.requests[0]!.headers['webhook-id']);
    const attempts = await runCli(['deliveries', 'attempts', deadId, ...store]);
    expect(attempts.stdout).toMatch(/^1 +\S+ +\d+ +500 +dead/m);
    expect(attempts.stdout).toMatch(/^2 +\S+ +\d+ +204 +delivered/m);
  });

  it('replay: refused without --yes when stdin is no terminal (naming the count), done with --yes', async ({ expect }) => {
    healthy = false;
    await app.publish('payment.failed', bookkeeperEvents.examples['payment.failed']);
    await app.drain({ timeoutMs: 10_000 });
    const window = ['--subscription', subscription.id, '--since', '1h'];
    const refused = await runCli(['deliveries', 'replay', ...window, ...store]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Expected --yes to replay 1 event(s) without a terminal to confirm on, got no --yes');
    healthy = true;
    const done = await runCli(['deliveries', 'replay', ...window, ...store, '--yes', '--json']);
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toEqual({ count: 1, dryRun: false });
    await app.drain({ timeoutMs: 10_000 });
    expect((await app.deliveries.list({ status: 'dead' })).items).toEqual([]);
    const nothing = await runCli(['deliveries', 'replay', ...window, ...store]);
    expect(nothing).toMatchObject({ code: 0, stdout: 'Nothing to replay: the subscription got every event of the window.\n' });
  });

  it('replay on a terminal asks with the dry-run count: "n" changes nothing, "y" replays', async ({ expect }) => {
    healthy = false;
    await app.publish('payment.succeeded', bookkeeperEvents.examples['payment.succeeded']);
    await app.drain({ timeoutMs: 10_000 });
    const args = ['deliveries', 'replay', '--subscription', subscription.id, '--since', '1h', ...store];
    const declined = new CliTerminal(args, { HOME: tmpdir() });
    try {
      expect(await declined.showing(/\[y\/N\]/)).toContain(`Replay 1 event(s) to ${subscription.id}? [y/N]`);
      declined.type('n');
      expect(await declined.showing(/Nothing replayed\./)).toContain('Nothing replayed.');
    } finally {
      declined.close();
    }
    expect((await app.deliveries.list({ status: 'dead' })).items).toHaveLength(1);
    healthy = true;
    const accepted = new CliTerminal(args, { HOME: tmpdir() });
    try {
      await accepted.showing(/\[y\/N\]/);
      accepted.type('y');
      expect(await accepted.showing(/due again/)).toContain(`1 event(s) due again for ${subscription.id}: the app's dispatcher sends them.`);
    } finally {
      accepted.close();
    }
    await app.drain({ timeoutMs: 10_000 });
    expect((await app.deliveries.list({ status: 'dead' })).items).toEqual([]);
  });

  it('send-test: a signed example to the endpoint now; a loopback endpoint needs --allow-private-networks', async ({ expect }) => {
    healthy = true;
    const before = receiver.requests.length;
    const refused = await runCli(['send-test', subscription.id, ...store, '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, statusCode: null, error: expect.stringMatching(/^ssrf failure/), recorded: true });
    expect(receiver.requests).toHaveLength(before);
    const sent = await runCli(['send-test', subscription.id, ...store, '--type', 'payment.succeeded', '--allow-private-networks', '--json']);
    expect(sent.code).toBe(0);
    const result = JSON.parse(sent.stdout) as { ok: boolean; statusCode: number; webhookId: string };
    expect(result).toMatchObject({ ok: true, statusCode: 204, recorded: true });
    const request = receiver.requests[before]!;
    expect(verifyWebhook({ body: request.body, headers: request.headers }, { secrets: subscription.secret })).toMatchObject({
      id: result.webhookId,
      type: 'payment.succeeded',
      data: bookkeeperEvents.examples['payment.succeeded'],
    });
  });

  it('deliveries tests: the test log send-test wrote, newest first, as a table, as JSON and in pages; an unknown subscription exits 1', async ({ expect }) => {
    const [table, json, firstPage, missing, badLimit] = await Promise.all([
      runCli(['deliveries', 'tests', subscription.id, ...store]),
      runCli(['deliveries', 'tests', subscription.id, ...store, '--json']),
      runCli(['deliveries', 'tests', subscription.id, ...store, '--limit', '1', '--json']),
      runCli(['deliveries', 'tests', 'sub_nope', ...store]),
      runCli(['deliveries', 'tests', subscription.id, ...store, '--limit', '0']),
    ]);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const page = JSON.parse(json.stdout) as { items: Array<{ id: string }>; nextCursor: string | null };
    // The two requests of the send-test case: the one sent with --type, then the one the SSRF guard refused.
    expect(page).toEqual({
      items: [
        expect.objectContaining({ subscriptionId: subscription.id, type: 'payment.succeeded', reason: 'test', actor: null, url: receiver.url, ok: true, statusCode: 204, errorClass: null }),
        expect.objectContaining({ subscriptionId: subscription.id, type: 'webhook.test', reason: 'test', ok: false, statusCode: null, errorClass: 'ssrf', error: expect.stringMatching(/^ssrf failure/) }),
      ],
      nextCursor: null,
    });
    expect(await app.subscriptions.testAttempts(subscription.id)).toEqual(page);
    const [sent, refused] = page.items as [{ id: string }, { id: string }];
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID +STARTED +TYPE +REASON +STATUS +MS +ACTOR +ERROR\n/);
    expect(table.stdout).toMatch(new RegExp(`^${sent.id} +\\S+ +payment\\.succeeded +test +204 +\\d+ +-$`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^${refused.id} +\\S+ +webhook\\.test +test +- +\\d+ +- +ssrf failure`, 'm'));

    const first = JSON.parse(firstPage.stdout) as { items: Array<{ id: string }>; nextCursor: string };
    expect(first.items.map((item) => item.id)).toEqual([sent.id]);
    const second = await runCli(['deliveries', 'tests', subscription.id, ...store, '--limit', '1', '--cursor', first.nextCursor, '--json']);
    expect(JSON.parse(second.stdout)).toEqual({ items: [expect.objectContaining({ id: refused.id })], nextCursor: null });

    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('SUBSCRIPTION_NOT_FOUND');
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('Expected --limit to be a whole number from 1 to 1000, got "0"');
  });

  it('usage mistakes exit 2: no --storage, a missing file, an unknown store, a bad --status', async ({ expect }) => {
    const runs = await Promise.all([
      runCli(['deliveries', 'list']),
      runCli(['deliveries', 'list', '--storage', 'sqlite:./no-such.db']),
      runCli(['deliveries', 'list', '--storage', 'mysql://root:hunter2@db/x']),
      runCli(['deliveries', 'list', ...store, '--status', 'lost']),
      runCli(['deliveries', 'redeliver', ...store]),
    ]);
    expect(runs.map((run) => run.code)).toEqual([2, 2, 2, 2, 2]);
    expect(runs[0]!.stderr).toContain('Expected --storage sqlite:<file> | postgres://… for `deliveries list`, got none');
    expect(runs[1]!.stderr).toContain('Expected --storage sqlite:<file> to name an existing database, got sqlite:./no-such.db (no such file)');
    expect(runs[2]!.stderr).toContain('Expected --storage sqlite:<file> or postgres://…, got "mysql://root:***@db/x"');
    expect(runs[2]!.stderr).not.toContain('hunter2');
    expect(runs[3]!.stderr).toContain('Expected --status to be one of pending, held, delivered, dead, cancelled, got "lost"');
    expect(runs[4]!.stderr).toContain('Expected <delivery-id> after `deliveries redeliver`, got nothing');
  });

  it('a file that is no SQLite database fails with STORAGE_FAILED naming SQLITE_NOTADB, exit 1; sqlite: with no file is a usage error', async ({ expect }) => {
    const notADatabase = join(mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-cli-store-')), 'event.json');
    writeFileSync(notADatabase, JSON.stringify({ type: 'payment.succeeded', data: {} }));
    const [wrongFile, noFile] = await Promise.all([
      runCli(['deliveries', 'list', '--storage', `sqlite:${notADatabase}`]),
      runCli(['deliveries', 'list', '--storage', 'sqlite:']),
    ]);
    expect(wrongFile.code).toBe(1);
    expect(wrongFile.stderr).toContain('STORAGE_FAILED');
    expect(wrongFile.stderr).toContain('SQLITE_NOTADB');
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('Expected --storage sqlite:<file> to name the database file, got none after sqlite:');
  });
});

describe('an attempt that failed at the egress proxy', () => {
  it('attempts: shown as a proxy failure not counted against the endpoint; another class carries no such note', async ({ expect }) => {
    // A proxy that refuses connections: a port just closed.
    const closed = await LoopbackReceiver.start();
    const proxyUrl = `http://${new URL(closed.url).host}`;
    await closed.close();
    const proxyFile = join(mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-cli-proxy-')), 'webhooks.db');
    const proxied = createWebhooks({
      events: bookkeeperEvents,
      storage: createSqliteStorage({ filename: proxyFile }),
      security: { allowPrivateNetworks: true },
      retry: { delaysMs: [] },
      http: { proxy: proxyUrl },
    });
    try {
      await proxied.start();
      await proxied.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] });
      await proxied.publish('payment.succeeded', bookkeeperEvents.examples['payment.succeeded']);
      await proxied.drain({ timeoutMs: 10_000 });
      const [delivery] = (await proxied.deliveries.list({ status: 'dead' })).items;
      const [table, json, other] = await Promise.all([
        runCli(['deliveries', 'attempts', delivery!.id, '--storage', `sqlite:${proxyFile}`]),
        runCli(['deliveries', 'attempts', delivery!.id, '--storage', `sqlite:${proxyFile}`, '--json']),
        runCli(['deliveries', 'attempts', deadId, ...store]),
      ]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(new RegExp(`^1 +\\S+ +\\d+ +- +dead +.*the proxy ${proxyUrl.replaceAll('.', '\\.')} failed.* \\(proxy failure — not counted against the endpoint\\)$`, 'm'));
      expect(JSON.parse(json.stdout)).toMatchObject([{ attemptNumber: 1, errorClass: 'proxy', outcome: 'dead' }]);
      expect(other.stdout).toMatch(/^1 +\S+ +\d+ +500 +dead/m);
      expect(other.stdout).not.toContain('not counted against the endpoint');
    } finally {
      await proxied.close();
    }
  });
});

describe('deliveries on PostgreSQL', () => {
  it('list and redeliver --wait on the app’s PostgreSQL store', async ({ expect }) => {
    const url = testDatabaseUrl();
    const schema = randomSchemaName('cli');
    const pgReceiver = await LoopbackReceiver.start((_request, index) => ({ status: index === 0 ? 503 : 204 }));
    const pgApp = createWebhooks({ events: bookkeeperEvents, storage: createPostgresStorage({ connectionString: url, schema }), security: { allowPrivateNetworks: true }, retry: { delaysMs: [] }, pollIntervalMs: 50 });
    try {
      await pgApp.start();
      await pgApp.subscriptions.create({ url: pgReceiver.url, eventTypes: ['*'] });
      await pgApp.publish('refund.succeeded', bookkeeperEvents.examples['refund.succeeded']);
      await pgApp.drain({ timeoutMs: 10_000 });
      const pgStore = ['--storage', url, '--schema', schema];
      const listed = await runCli(['deliveries', 'list', ...pgStore, '--json']);
      expect(listed.code).toBe(0);
      const [dead] = (JSON.parse(listed.stdout) as { items: Array<{ id: string; status: string }> }).items;
      expect(dead).toMatchObject({ status: 'dead' });
      const redelivered = await runCli(['deliveries', 'redeliver', dead!.id, ...pgStore, '--wait', '--timeout-ms', '20000', '--json']);
      expect(redelivered.code).toBe(0);
      expect(JSON.parse(redelivered.stdout)).toMatchObject({ id: dead!.id, status: 'delivered' });
      expect(pgReceiver.requests).toHaveLength(2);
    } finally {
      await pgApp.close();
      await pgReceiver.close();
      await dropSchema(url, schema);
    }
  });
});
