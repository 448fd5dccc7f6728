/**
 * `deliveries blocked` and `deliveries skip` as child processes on a real SQLite file that an
 * app instance in this process owns and dispatches from: a dead delivery holds its ordering
 * key, the CLI lists the key and skips the delivery, and the app's dispatcher sends the next
 * one. And `trigger --ordering-key` sends the key in the envelope with webhook-sequence 1.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { bookkeeperEvents, createWebhooks, generateSecret, type Webhooks } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { runCli } from './cli-process.js';

let receiver: LoopbackReceiver;
let app: Webhooks;
let store: string[];
let subscriptionId: string;
let deadId: string;
let waitingId: string;

beforeAll(async () => {
  // The first delivery of each key fails (then dead: one attempt); the rest succeed.
  receiver = await LoopbackReceiver.start((request) => ({ status: request.headers['webhook-sequence'] === '1' ? 500 : 204 }));
  const file = join(mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-cli-ordering-')), 'webhooks.db');
  store = ['--storage', `sqlite:${file}`];
  app = createWebhooks({ events: bookkeeperEvents, storage: createSqliteStorage({ filename: file }), security: { allowPrivateNetworks: true }, retry: { delaysMs: [] }, pollIntervalMs: 50 });
  await app.start();
  subscriptionId = (await app.subscriptions.create({ url: receiver.url, eventTypes: ['payment.*'] })).id;
  const first = await app.publish('payment.succeeded', bookkeeperEvents.examples['payment.succeeded'], { orderingKey: 'acct_9' });
  const second = await app.publish('payment.succeeded', bookkeeperEvents.examples['payment.succeeded'], { orderingKey: 'acct_9' });
  await app.drain({ timeoutMs: 10_000 });
  deadId = (await app.deliveries.list({ eventId: first.id })).items[0]!.id;
  waitingId = (await app.deliveries.list({ eventId: second.id })).items[0]!.id;
});

afterAll(async () => {
  await app.close();
  await receiver.close();
});

describe('ordering from the command line', () => {
  it('blocked lists the key held by the dead delivery; skip lets the next one go; a second skip is refused', async ({ expect }) => {
    const [table, json, waiting] = await Promise.all([
      runCli(['deliveries', 'blocked', '--subscription', subscriptionId, ...store]),
      runCli(['deliveries', 'blocked', '--subscription', subscriptionId, ...store, '--json']),
      runCli(['deliveries', 'show', waitingId, ...store]),
    ]);
    // Pending with no next attempt: the key and number say what it waits behind.
    expect(waiting.stdout).toMatch(/^ {2}status {8}pending\n.*\n.*\n {2}ordering key {2}acct_9 #2\n/m);
    expect(waiting.stdout).toMatch(/^ {2}next attempt {2}-$/m);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^KEY +DELIVERY +EVENT TYPE +SEQ +DEAD SINCE +WAITING\n/);
    expect(table.stdout).toMatch(new RegExp(`^acct_9 +${deadId} +payment\\.succeeded +1 +\\S+ +1$`, 'm'));
    expect(JSON.parse(json.stdout)).toMatchObject([{ orderingKey: 'acct_9', waiting: 1, delivery: { id: deadId, status: 'dead' } }]);

    const skip = await runCli(['deliveries', 'skip', deadId, ...store]);
    expect(skip).toMatchObject({ code: 0, stdout: `${deadId} skipped: the next delivery of acct_9 is due.\n` });
    await app.drain({ timeoutMs: 10_000 });
    expect((await app.deliveries.get(waitingId))!.status).toBe('delivered');

    const [again, none, missing] = await Promise.all([
      runCli(['deliveries', 'skip', deadId, ...store]),
      runCli(['deliveries', 'blocked', '--subscription', subscriptionId, ...store]),
      runCli(['deliveries', 'blocked', ...store]),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('DELIVERY_NOT_BLOCKING');
    expect(none).toMatchObject({ code: 0, stdout: 'No blocked keys.\n' });
    expect(missing.code).toBe(2);
  });

  it('trigger --ordering-key sends the key in the signed envelope and webhook-sequence 1', async ({ expect }) => {
    const target = await LoopbackReceiver.start();
    try {
      const secret = generateSecret();
      const run = await runCli(['trigger', 'payment.succeeded', '--to', target.url, '--secret', secret, '--ordering-key', 'acct_1']);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      const [sent] = target.requests;
      expect(sent!.headers['webhook-sequence']).toBe('1');
      expect(verifyWebhook({ body: sent!.body, headers: sent!.headers }, { secrets: secret })).toMatchObject({ orderingKey: 'acct_1', sequence: 1 });
    } finally {
      await target.close();
    }
  });
});
