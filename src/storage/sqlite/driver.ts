/**
 * Loading better-sqlite3, an optional peer dependency: only when the adapter must open
 * a file itself.
 */
import type Database from 'better-sqlite3';
import { peerRequire } from '../../peer-require.js';
import { loadOptionalDriver } from '../shared/optional-driver.js';

/**
 * Loads better-sqlite3's constructor. Internal (not part of the `./sqlite` entry);
 * `load` is a seam for tests, which pass a stand-in `require`.
 *
 * @throws ConfigError `CONFIG_INVALID` when the driver is not installed or does not load.
 */
export function loadBetterSqlite3(load: (id: string) => unknown = peerRequire()): typeof Database {
  return loadOptionalDriver(
    {
      name: 'better-sqlite3',
      neededBy: 'createSqliteStorage({ filename })',
      repair: 'a native build for another Node version? run `npm rebuild better-sqlite3`',
      // A CJS module seen through an ESM-interop wrapper carries it on `default`.
      pick: (loaded) => {
        const constructor = typeof loaded === 'function' ? loaded : (loaded as { default?: unknown } | null)?.default;
        return typeof constructor === 'function' ? (constructor as typeof Database) : null;
      },
      expected: 'it must export a Database constructor: install better-sqlite3 12.x',
    },
    load,
  );
}
