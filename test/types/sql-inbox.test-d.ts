// Type tests of the inbox against the clients' own types: a pg PoolClient, a pg Pool and a
// better-sqlite3 wrapper are accepted as they are, and the handler gets back the tx it was given.
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expectTypeOf, it } from 'vitest';
import { createSqlInbox, type InboxReceipt, type SqlQuery, type WebhookEvent } from '../../src/receiver/index.js';

declare const pool: pg.Pool;
declare const client: pg.PoolClient;
declare const event: WebhookEvent<'payment.succeeded', { paymentId: string }>;

describe('inbox types', () => {
  it('takes a pg pool for migrate and purge, and a PoolClient as tx, handed back to the handler as such', async () => {
    const inbox = createSqlInbox({ dialect: 'postgres', query: pool });
    const receipt = await inbox.handle(event, client, (tx) => {
      expectTypeOf(tx).toEqualTypeOf<pg.PoolClient>();
      return tx.query('INSERT INTO ledger (payment_id) VALUES ($1)', [event.data.paymentId]);
    });
    expectTypeOf(receipt).toEqualTypeOf<InboxReceipt<pg.QueryResult>>();
    if (receipt.outcome === 'processed') expectTypeOf(receipt.result.rowCount).toEqualTypeOf<number | null>();
    expectTypeOf(inbox.purge({ olderThan: new Date() })).resolves.toEqualTypeOf<number>();
  });

  it('takes a better-sqlite3 query function, and handleSync returns the receipt itself', () => {
    const db = new Database(':memory:');
    const query: SqlQuery = (text, values) => db.prepare(text).all(...values);
    const inbox = createSqlInbox({ dialect: 'sqlite', query });
    const receipt = db.transaction(() => inbox.handleSync(event, query, () => 42))();
    expectTypeOf(receipt).toEqualTypeOf<InboxReceipt<number>>();
  });

  it('refuses what is not a client', () => {
    const inbox = createSqlInbox({ dialect: 'sqlite', query: () => [] });
    // @ts-expect-error a tx has query(text, values), or is such a function
    void inbox.handle(event, { execute: () => [] }, () => undefined);
    // @ts-expect-error the dialect is postgres or sqlite
    createSqlInbox({ dialect: 'mysql', query: () => [] });
    // @ts-expect-error olderThan is a Date
    void inbox.purge({ olderThan: '2026-01-01' });
  });
});
