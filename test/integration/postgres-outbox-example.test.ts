/**
 * Runs examples/postgres-outbox.ts against the test PostgreSQL, in a schema of its own:
 * the rolled-back ledger write left no event and no delivery; the committed one was
 * stored with its delivery, and delivered.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { dropSchema, randomSchemaName, testDatabaseUrl, withClient } from '../support/postgres.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const schema = randomSchemaName('outbox_example');

afterAll(async () => {
  await dropSchema(testDatabaseUrl(), schema);
});

describe('the PostgreSQL outbox example', () => {
  it('rolls the event back with the ledger write, and delivers the committed one exactly once', async () => {
    const url = testDatabaseUrl();
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(root, 'examples', 'postgres-outbox.ts')], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: url, WEBHOOKS_SCHEMA: schema, LEDGER_TABLE: `"${schema}".ledger_entries` },
      timeout: 60_000,
    });
    expect(stdout).toContain('ledger check failed: rolling back');
    expect(stdout).toContain('ledger rows: pay_ok\n');
    expect(stdout).toContain('deliveries: 1 (payment.succeeded delivered)');
    expect(stdout).toContain('ERP booked: payment.succeeded pay_ok\n');
    // What the database holds: one event (the committed one), one delivery, delivered.
    const { events, deliveries } = await withClient(url, async (client) => {
      const result = await client.query<{ events: string; deliveries: string }>(
        `SELECT (SELECT count(*) FROM "${schema}".events) AS events,
                (SELECT count(*) FROM "${schema}".deliveries WHERE status = 'delivered') AS deliveries`,
      );
      return result.rows[0]!;
    });
    expect({ events: Number(events), deliveries: Number(deliveries) }).toEqual({ events: 1, deliveries: 1 });
  }, 60_000);
});
