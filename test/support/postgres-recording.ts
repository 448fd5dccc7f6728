/**
 * PostgreSQL storages whose statements are recorded, for tests that count a publish's round
 * trips: on a pool (with hooks before and instead of each publish statement) and on a host
 * transaction's client.
 */
import pg from 'pg';
import { createPostgresStorage, type PostgresStorage } from '../../src/storage/postgres/index.js';
import { postgresStatements } from '../../src/storage/postgres/statements/index.js';
import { cleanups, url } from './postgres-fixtures.js';

/**
 * A storage on a pool that hands every statement to a real one, recording its text; `before`
 * runs before each publish statement (with its 1-based number), `fail` may refuse one.
 */
export async function recordingStorage(
  schema: string,
  hooks: { before?: (round: number) => Promise<void>; fail?: (round: number) => Error | null } = {},
): Promise<{ storage: PostgresStorage; texts: string[]; publishStatements: () => number }> {
  const real = new pg.Pool({ connectionString: url, max: 3 });
  real.on('error', () => undefined);
  cleanups.push(() => real.end());
  const sql = postgresStatements(schema);
  const texts: string[] = [];
  let rounds = 0;
  const pool = {
    query: async (query: string | { text: string }, values?: unknown[]) => {
      const text = typeof query === 'string' ? query : query.text;
      if (text === sql.enqueue) {
        rounds += 1;
        await hooks.before?.(rounds);
        const refusal = hooks.fail?.(rounds) ?? null;
        if (refusal !== null) {
          texts.push(text);
          throw refusal;
        }
      }
      // The NOTIFY sent after a publish commits is not awaited by it: left out of the count.
      if (text !== sql.notify) texts.push(text);
      return real.query(query as never, values);
    },
    connect: () => real.connect(),
    end: async () => undefined,
    on: () => pool,
  };
  const storage = createPostgresStorage({ pool: pool as never, schema });
  cleanups.push(() => storage.close());
  // Its schema check, made before the first call, is not part of what is counted.
  await storage.migrate();
  texts.length = 0;
  return { storage, texts, publishStatements: () => texts.filter((text) => text === sql.enqueue).length };
}

/** A host transaction's client that records every statement it runs. */
export async function recordingHostClient(): Promise<{ client: pg.PoolClient; tx: { query: (text: string, values?: unknown[]) => Promise<pg.QueryResult> }; texts: string[] }> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on('error', () => undefined);
  cleanups.push(() => pool.end());
  const client = await pool.connect();
  cleanups.push(async () => client.release());
  const texts: string[] = [];
  const tx = {
    query: (text: string, values?: unknown[]) => {
      texts.push(text);
      return client.query(text, values);
    },
  };
  return { client, tx, texts };
}
