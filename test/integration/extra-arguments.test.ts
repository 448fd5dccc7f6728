/**
 * Options split over two positional arguments — `createPostgresStorage({ connectionString },
 * { schema })`, the form another library might use — are refused with a coded error,
 * instead of running with the second object silently ignored, and nothing is created.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { ConfigError, createWebhooks } from '../../src/index.js';
import { createPostgresStorage, getMigrationSql } from '../../src/storage/postgres/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { randomSchemaName, testDatabaseUrl, withClient } from '../support/postgres.js';

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return expect.fail('expected the call to throw');
}

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'webhooks-extra-arguments-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('a second options argument', () => {
  it('createSqliteStorage refuses it with CONFIG_INVALID and opens no file', () => {
    const filename = join(directory, 'webhooks.db');
    const error = thrownBy(() => (createSqliteStorage as (...args: unknown[]) => unknown)({ filename }, { tablePrefix: 'hooks_' }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(existsSync(filename)).toBe(false);
  });

  it('createSqliteStorage refuses it even when it is undefined', () => {
    const filename = join(directory, 'undefined-second.db');
    const error = thrownBy(() => (createSqliteStorage as (...args: unknown[]) => unknown)({ filename }, undefined));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
    expect(existsSync(filename)).toBe(false);
  });

  it('createPostgresStorage refuses it with CONFIG_INVALID, with a connection string or a pool, and creates nothing', async () => {
    const connectionString = testDatabaseUrl();
    const schema = randomSchemaName('extra');
    const pool = new pg.Pool({ connectionString, max: 1 });
    try {
      for (const first of [{ connectionString }, { pool }]) {
        const error = thrownBy(() => (createPostgresStorage as (...args: unknown[]) => unknown)(first, { schema }));
        expect(error).toBeInstanceOf(ConfigError);
        expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
      }
      // Refused before any connection: the pool handed in was never used.
      expect(pool.totalCount).toBe(0);
    } finally {
      await pool.end();
    }
    const found = await withClient(connectionString, (client) =>
      client.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [schema]),
    );
    expect(found.rowCount).toBe(0);
  });

  it('getMigrationSql refuses it with CONFIG_INVALID', () => {
    const error = thrownBy(() => (getMigrationSql as (...args: unknown[]) => unknown)({}, { schema: 'hooks' }));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
  });

  it('createDashboard refuses it with CONFIG_INVALID', async () => {
    const webhooks = createWebhooks({ meter: false });
    try {
      const error = thrownBy(() => (createDashboard as (...args: unknown[]) => unknown)(webhooks, { authorize: () => ({ actor: 'user:1' }) }, { readOnly: true }));
      expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
    } finally {
      await webhooks.close();
    }
  });

  it('createWebhooks refuses it with CONFIG_INVALID', () => {
    const error = thrownBy(() => (createWebhooks as (...args: unknown[]) => unknown)({}, { concurrency: 5 }));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
  });
});
