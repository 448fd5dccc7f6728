// The inbox without a database: bad input at every call refused with a code, the table name
// rule (no identifier injection), the SQL it sends, and driver errors mapped to codes.
import { describe, expect, it } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import { toInboxStorageError } from '../../src/receiver/inbox-query-errors.js';
import { createSqlInbox, inboxMigrationSql, type SqlQuery } from '../../src/receiver/index.js';

const codeOf = (error: unknown): string | undefined => (isWebhookError(error) ? error.code : undefined);

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return expect.fail('expected the call to throw');
}

/** A query function that records what it was sent and answers like a client whose insert succeeded. */
function recordingQuery(answer: (text: string, values: unknown[]) => unknown = (_text, values) => [{ id: values[0] }]) {
  const calls: Array<{ text: string; values: unknown[] }> = [];
  const query = ((text: string, values: unknown[]) => {
    calls.push({ text, values });
    return answer(text, values);
  }) as SqlQuery;
  return { query, calls };
}

describe('createSqlInbox options', () => {
  const query: SqlQuery = () => [];

  it.each([
    ['no options', undefined, undefined],
    ['no query', { dialect: 'postgres' }, 'query'],
    ['a query that is a string', { dialect: 'postgres', query: 'SELECT 1' }, 'query'],
    ['no dialect', { query }, 'dialect'],
    ['an unknown dialect', { query, dialect: 'mysql' }, 'dialect'],
    ['a clock without now', { query, dialect: 'sqlite', clock: {} }, 'clock'],
    ['an unknown key', { query, dialect: 'sqlite', tableName: 'x' }, 'tableName'],
  ])('refuses %s with CONFIG_INVALID', (_name, options, field) => {
    const error = thrownBy(() => createSqlInbox(options as never));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
    if (field !== undefined) expect(error).toMatchObject({ field });
  });

  it('suggests the option a misspelt key meant', () => {
    expect((thrownBy(() => createSqlInbox({ query, dialect: 'sqlite', tables: 'x' } as never)) as Error).message).toContain('did you mean `table`?');
  });

  it('refuses a second positional argument with CONFIG_INVALID', () => {
    const error = thrownBy(() => (createSqlInbox as (...args: unknown[]) => unknown)({ query, dialect: 'sqlite' }, { table: 'x' }));
    expect(codeOf(error)).toBe('CONFIG_INVALID');
  });

  it.each([
    'inbox; DROP TABLE ledger; --',
    'inbox"; DROP TABLE ledger; --',
    '"webhook_inbox"',
    'Webhook_Inbox',
    'web hook',
    '1inbox',
    'a.b.c',
    '.inbox',
    'erp.',
    '',
    'x'.repeat(49),
    'inbox\u0000',
    42,
    null,
  ])('refuses the table name %j with CONFIG_INVALID, on both dialects and in inboxMigrationSql', (table) => {
    for (const dialect of ['postgres', 'sqlite'] as const) {
      expect(thrownBy(() => createSqlInbox({ query, dialect, table: table as string }))).toMatchObject({ code: 'CONFIG_INVALID', field: 'table' });
      expect(thrownBy(() => inboxMigrationSql({ dialect, table: table as string }))).toMatchObject({ code: 'CONFIG_INVALID', field: 'table' });
    }
  });

  it('refuses a SQLite table named sqlite_… (reserved there) and accepts it on PostgreSQL', () => {
    expect(thrownBy(() => createSqlInbox({ query, dialect: 'sqlite', table: 'sqlite_inbox' }))).toMatchObject({ code: 'CONFIG_INVALID', field: 'table' });
    expect(createSqlInbox({ query, dialect: 'postgres', table: 'sqlite_inbox' }).table).toBe('sqlite_inbox');
  });

  it('accepts a reserved word, a schema-qualified name and 48 characters a part', () => {
    for (const table of ['order', 'erp.webhook_inbox', `${'s'.repeat(48)}.${'t'.repeat(48)}`, '_inbox_2']) {
      expect(createSqlInbox({ query, dialect: 'postgres', table }).table).toBe(table);
    }
    expect(createSqlInbox({ query, dialect: 'sqlite' }).table).toBe('webhook_inbox');
  });
});

describe('inboxMigrationSql', () => {
  it('gives PostgreSQL the table and its index, quoted, each statement safe to run again', () => {
    expect(inboxMigrationSql({ dialect: 'postgres', table: 'erp.order' })).toBe(
      'CREATE TABLE IF NOT EXISTS "erp"."order" (\n  id text PRIMARY KEY,\n  event_type text,\n  processed_at timestamptz NOT NULL\n);\n' +
        'CREATE INDEX IF NOT EXISTS "order_processed_at_idx" ON "erp"."order" (processed_at);\n',
    );
  });

  it('gives SQLite the table and its index, the attached database on the index name', () => {
    expect(inboxMigrationSql({ dialect: 'sqlite' })).toBe(
      'CREATE TABLE IF NOT EXISTS "webhook_inbox" (\n  id TEXT PRIMARY KEY NOT NULL,\n  event_type TEXT,\n  processed_at INTEGER NOT NULL\n);\n' +
        'CREATE INDEX IF NOT EXISTS "webhook_inbox_processed_at_idx" ON "webhook_inbox" (processed_at);\n',
    );
    expect(inboxMigrationSql({ dialect: 'sqlite', table: 'erp.inbox' })).toContain('CREATE INDEX IF NOT EXISTS "erp"."inbox_processed_at_idx" ON "inbox" (processed_at)');
  });

  it.each([
    ['no options', undefined],
    ['no dialect', {}],
    ['an unknown dialect', { dialect: 'oracle' }],
    ['an unknown key', { dialect: 'sqlite', schema: 'x' }],
  ])('refuses %s with CONFIG_INVALID', (_name, options) => {
    expect(codeOf(thrownBy(() => inboxMigrationSql(options as never)))).toBe('CONFIG_INVALID');
  });
});

describe('inbox.migrate', () => {
  it('runs one DO block on PostgreSQL, under an advisory lock keyed by the table', async () => {
    const { query, calls } = recordingQuery(() => []);
    await createSqlInbox({ query, dialect: 'postgres', table: 'erp.webhook_inbox' }).migrate();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.values).toEqual([]);
    expect(calls[0]!.text).toMatch(/^DO \$inbox\$\nBEGIN\n {2}PERFORM pg_advisory_xact_lock\(hashtext\('@bookkeeper\/webhooks inbox'\), hashtext\('erp\.webhook_inbox'\)\);\n/);
    expect(calls[0]!.text).toContain('CREATE TABLE IF NOT EXISTS "erp"."webhook_inbox"');
    expect(calls[0]!.text).toMatch(/END\n\$inbox\$$/);
  });

  it('runs the statements one by one on SQLite (one statement a prepare)', async () => {
    const { query, calls } = recordingQuery(() => []);
    await createSqlInbox({ query, dialect: 'sqlite' }).migrate();
    expect(calls.map((call) => call.text)).toEqual(inboxMigrationSql({ dialect: 'sqlite' }).split(';\n').filter(Boolean));
  });

  it('refuses an argument with INPUT_INVALID', async () => {
    const { query } = recordingQuery();
    await expect((createSqlInbox({ query, dialect: 'sqlite' }).migrate as (...args: unknown[]) => Promise<void>)({ force: true })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
    });
  });
});

describe('inbox.handle', () => {
  it('inserts the id, type and time with ON CONFLICT (id) DO NOTHING RETURNING id, numbered placeholders on PostgreSQL', async () => {
    const { query, calls } = recordingQuery();
    const inbox = createSqlInbox({ query, dialect: 'postgres', table: 'erp.inbox', clock: { now: () => Date.parse('2026-03-01T10:00:00Z') } });
    expect(await inbox.handle({ id: 'evt_1', type: 'payment.succeeded' }, query, () => 'done')).toEqual({ outcome: 'processed', result: 'done' });
    expect(calls).toEqual([
      {
        text: 'INSERT INTO "erp"."inbox" (id, event_type, processed_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id',
        values: ['evt_1', 'payment.succeeded', '2026-03-01T10:00:00.000Z'],
      },
    ]);
  });

  it('uses ? placeholders and epoch milliseconds on SQLite, and null for an event without a type', async () => {
    const { query, calls } = recordingQuery();
    const inbox = createSqlInbox({ query, dialect: 'sqlite', clock: { now: () => 1_772_359_200_000 } });
    await inbox.handle({ id: 'evt_1' }, query, () => undefined);
    expect(calls).toEqual([
      {
        text: 'INSERT INTO "webhook_inbox" (id, event_type, processed_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id',
        values: ['evt_1', null, 1_772_359_200_000],
      },
    ]);
  });

  it('reads rows from { rows } as well as from an array, calls a client object as a method, and hands the handler the same tx', async () => {
    const client = {
      queries: 0,
      query(this: { queries: number }, _text: string, values: unknown[]) {
        this.queries++;
        return Promise.resolve({ rows: values[0] === 'evt_new' ? [{ id: 'evt_new' }] : [] });
      },
    };
    const inbox = createSqlInbox({ query: client, dialect: 'postgres' });
    let given: unknown;
    expect(await inbox.handle({ id: 'evt_new' }, client, (tx) => ((given = tx), 1))).toEqual({ outcome: 'processed', result: 1 });
    expect(given).toBe(client);
    expect(await inbox.handle({ id: 'evt_old' }, client, () => expect.fail('a duplicate must not run the handler'))).toEqual({ outcome: 'duplicate' });
    expect(client.queries).toBe(2);
  });

  it.each([
    ['an event that is not an object', 'evt_1', 'event'],
    ['an event without id', { type: 'payment.succeeded' }, 'event.id'],
    ['an empty id', { id: '' }, 'event.id'],
    ['an id with U+0000', { id: 'evt\u00001' }, 'event.id'],
    ['a numeric id', { id: 7 }, 'event.id'],
    ['a type that is not a string', { id: 'evt_1', type: 3 }, 'event.type'],
  ])('refuses %s with INPUT_INVALID and sends nothing', async (_name, event, field) => {
    const { query, calls } = recordingQuery();
    const inbox = createSqlInbox({ query, dialect: 'postgres' });
    await expect(inbox.handle(event as never, query, () => undefined)).rejects.toMatchObject({ name: 'ValidationError', code: 'INPUT_INVALID', field });
    expect(() => inbox.handleSync(event as never, query, () => undefined)).toThrow(expect.objectContaining({ code: 'INPUT_INVALID', field }));
    expect(calls).toEqual([]);
  });

  it.each([
    ['no tx', undefined],
    ['a tx without query', { execute: () => [] }],
    ['a string', 'BEGIN'],
    ['a pg Pool (by its counters)', { connect: () => undefined, query: () => [], totalCount: 1, idleCount: 1, waitingCount: 0 }],
  ])('refuses %s as tx with INPUT_INVALID and sends nothing', async (_name, tx) => {
    const { query, calls } = recordingQuery();
    const inbox = createSqlInbox({ query, dialect: 'postgres' });
    await expect(inbox.handle({ id: 'evt_1' }, tx as never, () => undefined)).rejects.toMatchObject({ code: 'INPUT_INVALID', field: 'tx' });
    expect(calls).toEqual([]);
  });

  it('refuses a handler that is not a function, and a fourth argument, with INPUT_INVALID', async () => {
    const { query, calls } = recordingQuery();
    const inbox = createSqlInbox({ query, dialect: 'sqlite' });
    await expect(inbox.handle({ id: 'evt_1' }, query, 'book' as never)).rejects.toMatchObject({ code: 'INPUT_INVALID', field: 'handler' });
    await expect((inbox.handle as (...args: unknown[]) => Promise<unknown>)({ id: 'evt_1' }, query, () => undefined, { retry: true })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
    });
    expect(calls).toEqual([]);
  });

  it.each([
    ['a number', 1],
    ['undefined', undefined],
    ['{ changes } (a run result)', { changes: 1 }],
    ['{ rows } that is not an array', { rows: 'id' }],
  ])('refuses a tx that answers %s with CONFIG_INVALID, the handler not run', async (_name, answer) => {
    const { query } = recordingQuery(() => answer);
    const inbox = createSqlInbox({ query, dialect: 'sqlite' });
    await expect(inbox.handle({ id: 'evt_1' }, query, () => expect.fail('must not run'))).rejects.toMatchObject({ code: 'CONFIG_INVALID', field: 'tx' });
  });

  it('refuses rows that are not the inserted id (two rows, another id) with CONFIG_INVALID rather than guess', async () => {
    for (const rows of [[{ id: 'evt_1' }, { id: 'evt_1' }], [{ id: 'evt_2' }], [{ changes: 1 }]]) {
      const { query } = recordingQuery(() => rows);
      const inbox = createSqlInbox({ query, dialect: 'sqlite' });
      await expect(inbox.handle({ id: 'evt_1' }, query, () => expect.fail('must not run'))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    }
  });

  it('maps what the client throws to a StorageError with the driver error as cause, and passes the handler\'s own error through untouched', async () => {
    const driverError = Object.assign(new Error('relation "webhook_inbox" does not exist'), { code: '42P01' });
    const failing = recordingQuery(() => Promise.reject(driverError));
    const inbox = createSqlInbox({ query: failing.query, dialect: 'postgres' });
    const error = await inbox.handle({ id: 'evt_1' }, failing.query, () => undefined).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'StorageError', code: 'STORAGE_NOT_MIGRATED' });
    expect((error as Error).cause).toBe(driverError);

    const { query } = recordingQuery();
    const mine = new Error('mine');
    await expect(createSqlInbox({ query, dialect: 'postgres' }).handle({ id: 'evt_1' }, query, () => Promise.reject(mine))).rejects.toBe(mine);
  });

  it('maps a client that throws synchronously (better-sqlite3) the same way', async () => {
    const query: SqlQuery = () => {
      throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    };
    const inbox = createSqlInbox({ query, dialect: 'sqlite' });
    await expect(inbox.handle({ id: 'evt_1' }, query, () => undefined)).rejects.toMatchObject({ code: 'STORAGE_BUSY', retryable: true });
    expect(() => inbox.handleSync({ id: 'evt_1' }, query, () => undefined)).toThrow(expect.objectContaining({ code: 'STORAGE_BUSY' }));
  });
});

describe('inbox.handleSync', () => {
  it('returns the receipt without a promise', () => {
    const { query } = recordingQuery();
    expect(createSqlInbox({ query, dialect: 'sqlite' }).handleSync({ id: 'evt_1' }, query, () => 5)).toEqual({ outcome: 'processed', result: 5 });
    const duplicate = recordingQuery(() => []);
    expect(createSqlInbox({ query: duplicate.query, dialect: 'sqlite' }).handleSync({ id: 'evt_1' }, duplicate.query, () => 5)).toEqual({ outcome: 'duplicate' });
  });

  it('refuses an asynchronous client with TX_UNSUPPORTED, the handler not run, its rejection not left unhandled', () => {
    const query: SqlQuery = () => Promise.reject(new Error('async client'));
    const inbox = createSqlInbox({ query, dialect: 'postgres' });
    expect(() => inbox.handleSync({ id: 'evt_1' }, query, () => expect.fail('must not run'))).toThrow(
      expect.objectContaining({ name: 'ConfigError', code: 'TX_UNSUPPORTED', field: 'tx' }),
    );
  });

  it('refuses a handler that returns a promise with TX_UNSUPPORTED', () => {
    const { query } = recordingQuery();
    const inbox = createSqlInbox({ query, dialect: 'sqlite' });
    expect(() => inbox.handleSync({ id: 'evt_1' }, query, () => Promise.reject(new Error('late')))).toThrow(
      expect.objectContaining({ code: 'TX_UNSUPPORTED', field: 'handler' }),
    );
  });
});

describe('inbox.purge', () => {
  it('deletes in batches of 1000 until a batch is short, and counts what it deleted', async () => {
    const batches = [1000, 1000, 3];
    const { query, calls } = recordingQuery(() => Array.from({ length: batches.shift() ?? 0 }, (_, n) => ({ id: `evt_${n}` })));
    const deleted = await createSqlInbox({ query, dialect: 'postgres' }).purge({ olderThan: new Date('2026-01-01T00:00:00Z') });
    expect(deleted).toBe(2_003);
    expect(calls).toHaveLength(3);
    expect(calls[0]).toEqual({
      text: 'DELETE FROM "webhook_inbox" WHERE id IN (SELECT id FROM "webhook_inbox" WHERE processed_at < $1 ORDER BY processed_at LIMIT 1000) RETURNING id',
      values: ['2026-01-01T00:00:00.000Z'],
    });
  });

  it('sends the time as epoch milliseconds on SQLite', async () => {
    const { query, calls } = recordingQuery(() => []);
    await createSqlInbox({ query, dialect: 'sqlite' }).purge({ olderThan: new Date(1_000) });
    expect(calls[0]!.values).toEqual([1_000]);
    expect(calls[0]!.text).toContain('processed_at < ?');
  });

  it.each([
    ['no options', undefined],
    ['no olderThan', {}],
    ['olderThan as a string', { olderThan: '2026-01-01' }],
    ['olderThan as a number', { olderThan: 1_000 }],
    ['an invalid Date', { olderThan: new Date('nope') }],
    ['an unknown key', { olderThan: new Date(), limit: 10 }],
  ])('refuses %s with INPUT_INVALID and deletes nothing', async (_name, options) => {
    const { query, calls } = recordingQuery();
    await expect(createSqlInbox({ query, dialect: 'sqlite' }).purge(options as never)).rejects.toMatchObject({ name: 'ValidationError', code: 'INPUT_INVALID' });
    expect(calls).toEqual([]);
  });
});

describe('toInboxStorageError', () => {
  const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

  it.each([
    ['40001', 'STORAGE_BUSY', true],
    ['40P01', 'STORAGE_BUSY', true],
    ['55P03', 'STORAGE_BUSY', true],
    ['42P01', 'STORAGE_NOT_MIGRATED', false],
    ['3F000', 'STORAGE_NOT_MIGRATED', false],
    ['08006', 'STORAGE_UNAVAILABLE', true],
    ['57P01', 'STORAGE_UNAVAILABLE', true],
    ['ECONNREFUSED', 'STORAGE_UNAVAILABLE', true],
    ['08P01', 'STORAGE_FAILED', false],
    ['25P02', 'STORAGE_FAILED', false],
    ['23502', 'STORAGE_FAILED', false],
  ])('PostgreSQL %s → %s (retryable: %s)', (code, expected, retryable) => {
    const error = pgError(code);
    const mapped = toInboxStorageError(error, 'postgres', 'record webhook evt_1');
    expect(mapped).toMatchObject({ name: 'StorageError', code: expected, retryable });
    expect(mapped.cause).toBe(error);
  });

  it('reads a lost pg connection from its message, and a code wrapped by a query builder from its cause', () => {
    expect(toInboxStorageError(new Error('Connection terminated unexpectedly'), 'postgres', 'x')).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
    const wrapped = new Error('Failed query: INSERT …', { cause: pgError('40001') });
    expect(toInboxStorageError(wrapped, 'postgres', 'x')).toMatchObject({ code: 'STORAGE_BUSY', retryable: true });
  });

  it.each([
    [Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }), 'STORAGE_BUSY', true],
    [Object.assign(new Error('database table is locked'), { code: 'SQLITE_LOCKED_SHAREDCACHE' }), 'STORAGE_BUSY', true],
    [Object.assign(new Error('no such table: webhook_inbox'), { code: 'SQLITE_ERROR' }), 'STORAGE_NOT_MIGRATED', false],
    [Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' }), 'STORAGE_FAILED', false],
    [new TypeError('The database connection is not open'), 'STORAGE_FAILED', false],
  ])('SQLite %s → %s', (error, expected, retryable) => {
    expect(toInboxStorageError(error, 'sqlite', 'x')).toMatchObject({ code: expected, retryable });
  });

  it('passes a coded error through unchanged', () => {
    const { query } = recordingQuery();
    const coded = thrownBy(() => createSqlInbox({ query, dialect: 'db2' as never }));
    expect(toInboxStorageError(coded, 'postgres', 'x')).toBe(coded);
  });
});
