/**
 * node-postgres as this adapter uses it: the module's shape, and loading it (an optional
 * peer dependency) only when the adapter must create a pool itself.
 */
import type { Client, Pool } from 'pg';
import { peerRequire } from '../../peer-require.js';
import { loadOptionalDriver } from '../shared/optional-driver.js';

/** The node-postgres module, as far as this adapter uses it. */
export interface PgModule {
  Pool: new (config: Record<string, unknown>) => Pool;
  Client: new (config: Record<string, unknown>) => Client;
}

/** Anything with node-postgres's `query(text, values)`: a `pg` client, pool, or an ORM's transaction client. */
export interface PostgresQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount?: number | null }>;
}

/**
 * Loads node-postgres. Internal (not part of the `./postgres` entry); `load` is a
 * seam for tests, which pass a stand-in `require`.
 *
 * @throws ConfigError `CONFIG_INVALID` when pg is not installed or is not node-postgres 8.
 */
export function loadPg(load: (id: string) => unknown = peerRequire()): PgModule {
  return loadOptionalDriver(
    {
      name: 'pg',
      neededBy: 'createPostgresStorage({ connectionString })',
      repair: 'reinstall it with `npm install pg`',
      pick: (loaded) => {
        // An ESM-interop wrapper carries the CJS module as `default`.
        const candidate = ((loaded as { default?: unknown } | null)?.default ?? loaded) as Partial<PgModule> | null;
        return typeof candidate?.Pool === 'function' && typeof candidate.Client === 'function' ? (candidate as PgModule) : null;
      },
      expected: 'install pg 8.x (`npm install pg@8`): it must export Pool and Client',
    },
    load,
  );
}
