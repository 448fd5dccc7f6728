/**
 * The receiver side against a hostile or broken sender: `pullMissed` reading a feed served by a
 * real loopback `node:http` server that answers without end, never answers, or walks its cursor
 * in a circle — every case must end in bounded time and memory with a coded `FeedError`, or with
 * the walk stopped where it can be taken up again; and the SQL inbox, on a real SQLite file and
 * on PostgreSQL, given ids that its database cannot hold as they are.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { generateSecret, signWebhook } from '../../src/index.js';
import { createSqlInbox, pullMissed, type PullMissedOptions, type SqlQuery } from '../../src/receiver/index.js';
import { registerCleanups } from '../support/cleanups.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from '../support/postgres.js';

const cleanups = registerCleanups();
const secret = generateSecret();

/** A feed server on loopback whose answers `respond` writes; resolves to its events URL and the requests it got. */
async function hostileFeed(respond: (req: IncomingMessage, res: ServerResponse, index: number) => void) {
  const requests: URL[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(new URL(req.url ?? '/', 'http://127.0.0.1'));
    respond(req, res, requests.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { feedUrl: `http://127.0.0.1:${port}/webhooks/feed/events`, requests };
}

/** An event of a feed page, signed with the subscription's secret now. */
function signedItem(n: number) {
  const id = `evt_${n}`;
  const body = JSON.stringify({ id, type: 'payment.succeeded', timestamp: new Date().toISOString(), data: { paymentId: `pay_${n}` } });
  const timestamp = Math.floor(Date.now() / 1000);
  return { id, body, headers: { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook({ id, timestamp, body, secrets: secret }) } };
}

const pull = (feedUrl: string, options: Partial<PullMissedOptions> = {}) => pullMissed({ feedUrl, subscriptionId: 'sub_1', secret, onEvent: () => undefined, ...options });

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => 'pulled',
    (error: { name: string; code: string; retryable: boolean }) => ({ name: error.name, code: error.code, retryable: error.retryable }),
  );

describe('pullMissed against a hostile feed on loopback', () => {
  it('stops reading a page that never ends at a bounded size, with FEED_RESPONSE_INVALID', async () => {
    let written = 0;
    const { feedUrl } = await hostileFeed((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data":[');
      const chunk = Buffer.alloc(1024 * 1024, 0x20); // whitespace: valid JSON for ever
      const more = (): void => {
        while (!res.destroyed && written < 512 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
    });
    const started = process.memoryUsage().arrayBuffers;
    expect(await failure(pull(feedUrl))).toEqual({ name: 'FeedError', code: 'FEED_RESPONSE_INVALID', retryable: false });
    // It read up to the cap and let go: far from the 512 MiB the server would have sent.
    expect(written).toBeLessThan(256 * 1024 * 1024);
    expect(process.memoryUsage().arrayBuffers - started).toBeLessThan(200 * 1024 * 1024);
  }, 30_000);

  it('gives up on a feed that never answers, or trickles its answer, after timeoutMs with FEED_UNAVAILABLE', async () => {
    const silent = await hostileFeed(() => {
      // Headers never come.
    });
    const startedAt = Date.now();
    expect(await failure(pull(silent.feedUrl, { timeoutMs: 300 }))).toEqual({
      name: 'FeedError',
      code: 'FEED_UNAVAILABLE',
      retryable: true,
    });
    const trickle = await hostileFeed((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data":[');
      const timer = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(timer));
    });
    expect(await failure(pull(trickle.feedUrl, { timeoutMs: 300 }))).toEqual({
      name: 'FeedError',
      code: 'FEED_UNAVAILABLE',
      retryable: true,
    });
    expect(Date.now() - startedAt).toBeLessThan(10_000);
  }, 20_000);

  it('never follows a redirect (the signed headers would go with it): FEED_REFUSED with the 3xx, the other host untouched', async () => {
    const elsewhere = await hostileFeed((_req, res) => res.end('{}'));
    const { feedUrl } = await hostileFeed((_req, res) => {
      res.writeHead(307, { location: elsewhere.feedUrl });
      res.end();
    });
    const error = await pull(feedUrl).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'FeedError', code: 'FEED_REFUSED', status: 307 });
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('stops a walk whose cursor goes round in a circle, after one turn, keeping the last cursor it got', async () => {
    const item = signedItem(1);
    const { feedUrl, requests } = await hostileFeed((req, res) => {
      const after = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('after');
      // c1 → c2 → c1 → c2 …, always "more", the same event on every page.
      const next = after === 'c1' ? 'c2' : 'c1';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: [item], next, hasMore: true }));
      if (requests.length > 50) res.socket?.destroy();
    });
    const result = await pull(feedUrl);
    expect(result).toMatchObject({ processed: 1, duplicates: 2, next: 'c2' });
    expect(requests.map((url) => url.searchParams.get('after'))).toEqual([null, 'c1', 'c2']);
  });
});

/**
 * Two ids that differ only in a lone surrogate (half of a UTF-16 pair, e.g. from a `webhook-id`
 * in JSON such as a feed page or a queue message): both drivers write U+FFFD in its place, so
 * the second was taken for the first and dropped as a duplicate. Refused like U+0000 instead.
 */
describe('the SQL inbox given an id its database cannot hold as it is', () => {
  const ids = ['evt_\ud800', 'evt_\udbff', 'evt_\udc00x'];

  async function attempts(inbox: ReturnType<typeof createSqlInbox>, tx: Parameters<ReturnType<typeof createSqlInbox>['handle']>[1]) {
    const outcomes: unknown[] = [];
    for (const id of ids) {
      outcomes.push(
        await inbox.handle({ id, type: 'payment.succeeded' }, tx, () => 'booked').then(
          (receipt) => receipt.outcome,
          (error: { code: string; field?: string }) => [error.code, error.field],
        ),
      );
    }
    return outcomes;
  }

  it('refuses a lone surrogate with INPUT_INVALID on a real SQLite file, storing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'attack-receiver-inbox-'));
    const db = new Database(join(dir, 'erp.db'));
    cleanups.push(async () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const query: SqlQuery = (text, values) => {
      const statement = db.prepare(text);
      if (statement.reader) return statement.all(...values);
      statement.run(...values);
      return [];
    };
    const inbox = createSqlInbox({ dialect: 'sqlite', query });
    await inbox.migrate();
    expect(await attempts(inbox, query)).toEqual(ids.map(() => ['INPUT_INVALID', 'event.id']));
    await expect(inbox.handle({ id: 'evt_1', type: 'payment.\udfff' }, query, () => 'booked')).rejects.toMatchObject({ code: 'INPUT_INVALID', field: 'event.type' });
    expect(() => inbox.handleSync({ id: ids[0]! }, query, () => 'booked')).toThrow(expect.objectContaining({ code: 'INPUT_INVALID' }));
    expect(db.prepare('SELECT count(*) AS n FROM webhook_inbox').get()).toEqual({ n: 0 });
    // A well-formed pair is an id like any other.
    expect(await inbox.handle({ id: 'evt_\ud83d\udcb8' }, query, () => 'booked')).toEqual({ outcome: 'processed', result: 'booked' });
  });

  it('refuses a lone surrogate with INPUT_INVALID on PostgreSQL, storing nothing', async () => {
    const url = testDatabaseUrl();
    const schema = randomSchemaName('attack_inbox');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    cleanups.push(async () => {
      await client.end();
      await dropSchema(url, schema);
    });
    await client.query(`CREATE SCHEMA "${schema}"`);
    const inbox = createSqlInbox({ dialect: 'postgres', query: client, table: `${schema}.webhook_inbox` });
    await inbox.migrate();
    expect(await attempts(inbox, client)).toEqual(ids.map(() => ['INPUT_INVALID', 'event.id']));
    expect((await client.query(`SELECT count(*)::int AS n FROM "${schema}".webhook_inbox`)).rows).toEqual([{ n: 0 }]);
    expect(await inbox.handle({ id: 'evt_\ud83d\udcb8' }, client, () => 'booked')).toEqual({ outcome: 'processed', result: 'booked' });
  });
});
