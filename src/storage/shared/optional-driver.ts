/**
 * Loading a database driver that is an optional peer dependency (better-sqlite3, pg):
 * only when the adapter must open a connection itself, with a message that says what to
 * install or rebuild when it is missing or broken.
 */
import { ConfigError } from '../../errors.js';

export interface OptionalDriver<T> {
  /** The package name, as `require` takes it. */
  name: string;
  /** What needs it, for the message: e.g. "createSqliteStorage({ filename })". */
  neededBy: string;
  /** What to run when it is installed but does not load. */
  repair: string;
  /** The driver's entry from the loaded module (CJS, or an ESM-interop wrapper), or `null` when it is not the expected one. */
  pick: (module: unknown) => T | null;
  /** What to install when `pick` refuses the module, e.g. "install better-sqlite3 12.x". */
  expected: string;
}

/**
 * @param load a `require`; tests pass a stand-in.
 * @throws ConfigError `CONFIG_INVALID` when the driver is missing, does not load, or is not the expected one.
 */
export function loadOptionalDriver<T>(driver: OptionalDriver<T>, load: (id: string) => unknown): T {
  let loaded: unknown;
  try {
    loaded = load(driver.name);
  } catch (error) {
    const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
    const missing = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
    throw new ConfigError(
      'CONFIG_INVALID',
      missing
        ? `${driver.neededBy} needs the ${driver.name} driver: run \`npm install ${driver.name}\``
        : `${driver.name} is installed but did not load: ${driver.repair}`,
      { cause: error },
    );
  }
  const picked = driver.pick(loaded);
  if (picked === null) throw new ConfigError('CONFIG_INVALID', `${driver.name} did not export what the storage needs; ${driver.expected}`);
  return picked;
}
